//! Tests of the demo generator, on one or two small provinces of each epoch.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use chrono::{DateTime, NaiveDate};
use tonghop_core::catalog::ValueType;

use super::*;

fn registry() -> &'static UnitRegistry {
    static R: OnceLock<UnitRegistry> = OnceLock::new();
    R.get_or_init(|| {
        UnitRegistry::load(&Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../reference/admin-units"))
            .unwrap()
    })
}

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| Catalog::load(&Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../catalog")).unwrap())
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Cao Bằng (post-2025, 56 communes) and Hà Giang (pre-2025, 193 communes).
fn small() -> Vec<(Epoch, String)> {
    vec![(Epoch::Post2025, "04".into()), (Epoch::Pre2025, "02".into())]
}

fn config(seed: u64, provinces: Vec<(Epoch, String)>) -> DemoConfig {
    DemoConfig { seed, until: date(2026, 11, 23), provinces: Some(provinces) }
}

fn run(config: &DemoConfig, dir: &Path) -> DemoSummary {
    let reported = std::cell::Cell::new(0u64);
    let summary = generate(registry(), catalog(), config, dir, &|n| reported.set(reported.get() + n)).unwrap();
    assert_eq!(reported.get(), summary.files as u64, "progress must add up to the files written");
    summary
}

/// Every file under `dir`, by relative path: (bytes, mtime).
fn tree(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (Vec<u8>, SystemTime)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
                out.insert(path.strip_prefix(root).unwrap().to_path_buf(), (std::fs::read(&path).unwrap(), mtime));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A minimal CSV field splitter (double quotes only), independent of the generator.
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// One parsed file: (period, commune, province) from the path; rows as (period, org_unit, element, value).
struct File {
    period: String,
    commune: String,
    province: String,
    rows: Vec<[String; 4]>,
    mtime: SystemTime,
}

fn parse(path: &Path, bytes: &[u8], mtime: SystemTime) -> File {
    let parts: Vec<String> = path.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    assert_eq!(parts.len(), 3, "{path:?}");
    let (period, province) = (parts[0].clone(), parts[1].clone());
    let (commune, rest) = parts[2].split_once('_').unwrap();
    assert_eq!(rest, format!("{period}.csv"), "{path:?}");
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(!text.contains('\r'), "{path:?} must use \\n line endings");
    assert!(text.ends_with('\n'));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("period,org_unit,data_element,value"), "{path:?}");
    let rows = lines
        .map(|l| {
            let f = fields(l);
            assert_eq!(f.len(), 4, "{path:?}: {l}");
            [f[0].clone(), f[1].clone(), f[2].clone(), f[3].clone()]
        })
        .collect();
    File { period, commune: commune.to_string(), province, rows, mtime }
}

/// Whether a row is valid, judged only from the catalog and the file's own period and commune.
fn row_is_valid(file: &File, row: &[String; 4]) -> bool {
    let Some(element) = catalog().data_element(&row[2]) else { return false };
    if row[0] != file.period || row[1] != file.commune {
        return false;
    }
    match row[3].parse::<u64>() {
        Ok(v) => element.value_type == ValueType::Count || v <= 1,
        Err(_) => false,
    }
}

#[test]
fn same_seed_gives_identical_bytes_and_mtimes() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = config(42, small());
    let (sa, sb) = (run(&cfg, a.path()), run(&cfg, b.path()));
    assert_eq!(sa, sb);
    let (ta, tb) = (tree(a.path()), tree(b.path()));
    assert_eq!(ta.len(), sa.files);
    assert!(ta == tb, "two runs with the same seed differ");
    // and another seed gives other data
    let c = tempfile::tempdir().unwrap();
    run(&config(43, small()), c.path());
    let tc = tree(c.path());
    let same = ta.iter().filter(|(p, (bytes, _))| tc.get(*p).is_some_and(|(other, _)| other == bytes)).count();
    assert!(same < ta.len() / 100, "{same} of {} files identical across seeds", ta.len());
}

#[test]
fn counts_match_the_files_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let summary = run(&config(42, small()), dir.path());
    let registry = registry();
    let communes = |e: Epoch, p: &str| registry.at_level(e, Level::Commune).filter(|u| u.province_code.as_deref() == Some(p)).count();
    let (old, new) = (communes(Epoch::Pre2025, "02"), communes(Epoch::Post2025, "04"));
    assert_eq!((old, new), (193, 56));
    assert_eq!(summary.communes, old + new);
    assert_eq!(summary.months, 18 + 16, "2024-01 … 2025-06 for the old communes, 2025-07 … 2026-10 for the new");
    assert_eq!(summary.files + summary.missing_reports, old * 18 + new * 16);
    let expected = (old * 18 + new * 16) as f64;
    assert!((summary.missing_reports as f64) < expected * 0.03 && summary.missing_reports > 0, "{summary:?}");

    let files = tree(dir.path());
    assert_eq!(files.len(), summary.files);
    let mut rows = 0;
    let mut per_period: HashMap<String, usize> = HashMap::new();
    for (path, (bytes, mtime)) in &files {
        let f = parse(path, bytes, *mtime);
        assert_eq!(f.rows.len(), 17, "{path:?}");
        assert!(f.province == "02" || f.province == "04", "{path:?}");
        let epoch = Epoch::for_period(&f.period.parse().unwrap()).unwrap();
        let unit = registry.get(epoch, &f.commune).unwrap_or_else(|| panic!("{path:?}: no such commune"));
        assert_eq!(unit.province_code.as_deref(), Some(f.province.as_str()), "{path:?}");
        let codes: Vec<&str> = f.rows.iter().map(|r| r[2].as_str()).collect();
        let catalog_codes: Vec<&str> = catalog().data_elements.iter().map(|e| e.code.as_str()).collect();
        let differing = codes.iter().zip(&catalog_codes).filter(|(a, b)| a != b).count();
        assert!(differing <= 1, "{path:?}: rows must follow catalog order");
        rows += f.rows.len();
        *per_period.entry(f.period).or_default() += 1;
    }
    assert_eq!(rows, summary.rows);
    assert_eq!(per_period.len(), 34);
    assert!(!per_period.contains_key("202611"), "November 2026 has not ended by 2026-11-23");
    assert!(per_period.contains_key("202506") && per_period.contains_key("202507"), "2025 is generated on both sides of the reform");
}

#[test]
fn values_are_plausible_and_invalid_rows_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    // Hà Nội (pre-2025, 579 communes) as well, for a sample with invalid rows of every kind.
    let mut provinces = small();
    provinces.push((Epoch::Pre2025, "01".into()));
    let summary = run(&config(7, provinces), dir.path());
    let mut invalid = 0;
    let mut invalid_kinds = std::collections::BTreeSet::new();
    let mut populations: BTreeMap<(Epoch, String, Period), u64> = BTreeMap::new();
    for (path, (bytes, mtime)) in tree(dir.path()) {
        let f = parse(&path, &bytes, mtime);
        let mut values: HashMap<&str, u64> = HashMap::new();
        let mut bad_here = 0;
        for row in &f.rows {
            if row_is_valid(&f, row) {
                values.insert(row[2].as_str(), row[3].parse().unwrap());
            } else {
                bad_here += 1;
                let kind = if catalog().data_element(&row[2]).is_none() {
                    "unknown element"
                } else if row[3].starts_with('-') {
                    "negative"
                } else if row[3] == "2" {
                    "boolean 2"
                } else {
                    "not a number"
                };
                invalid_kinds.insert(kind);
            }
        }
        assert!(bad_here <= 1, "{path:?} has {bad_here} invalid rows");
        invalid += bad_here;
        let le = |a: &str, b: &str| match (values.get(a), values.get(b)) {
            (Some(x), Some(y)) => assert!(x <= y, "{path:?}: {a} {x} > {b} {y}"),
            _ => assert_eq!(bad_here, 1, "{path:?}: {a} or {b} missing from a valid file"),
        };
        le("DS_BHYT", "DS_TONG");
        le("DS_QLSK", "DS_TONG");
        le("KCB_BHYT", "KCB_TONG");
        le("NCC_KSK", "NCC_TONG");
        le("THON_NVYT", "THON_TONG");
        le("DVKT_TH", "DVKT_DM");
        if let Some(&pop) = values.get("DS_TONG") {
            // 60,000 × 1.6 at most for a new ward, then 0.05 % a month for 16 months
            assert!((2_000..=97_000).contains(&pop), "{path:?}: population {pop}");
            let period: Period = f.period.parse().unwrap();
            populations.insert((Epoch::for_period(&period).unwrap(), f.commune.clone(), period), pop);
        }
        if let (Some(&kcb), Some(&pop)) = (values.get("KCB_TONG"), values.get("DS_TONG")) {
            let rate = kcb as f64 / pop as f64;
            assert!((0.015..0.05).contains(&rate), "{path:?}: {rate} visits per inhabitant");
        }
        if let Some(&bs) = values.get("TYT_BS") {
            assert!(bs <= 3, "{path:?}");
        }
        if let Some(&dm) = values.get("DVKT_DM") {
            assert!((60..=120).contains(&dm), "{path:?}");
        }
    }
    assert_eq!(invalid, summary.invalid_rows);
    assert!(invalid > 0, "{summary:?}");
    assert_eq!(invalid_kinds.len(), 4, "{invalid_kinds:?}");
    // smooth stocks: the population of a commune moves by well under 1 % a month, across the new
    // year too (the previous report may be a month or two back when one is missing)
    let mut previous: Option<(&(Epoch, String, Period), u64)> = None;
    let mut across_new_year = 0;
    for (key, &pop) in &populations {
        if let Some((pk, pp)) = previous {
            if (pk.0, &pk.1) == (key.0, &key.1) {
                assert!(pop.abs_diff(pp) * 100 <= pp, "{key:?}: {pp} → {pop}");
                across_new_year += usize::from(pk.2.year() < key.2.year());
            }
        }
        previous = Some((key, pop));
    }
    assert!(across_new_year > 500, "{across_new_year} pairs across the new year");
}

#[test]
fn late_files_are_received_more_than_a_week_after_month_end() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(3, vec![(Epoch::Pre2025, "01".into()), (Epoch::Post2025, "01".into())]);
    let summary = run(&cfg, dir.path());
    let mut late = 0;
    for (path, (bytes, mtime)) in tree(dir.path()) {
        let f = parse(&path, &bytes, mtime);
        let period: Period = f.period.parse().unwrap();
        let secs = f.mtime.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64 + 7 * 3600;
        let local = DateTime::from_timestamp(secs, 0).unwrap().naive_utc();
        let days = (local.date() - period.end()).num_days();
        let hour = chrono::Timelike::hour(&local);
        assert!((7..17).contains(&hour), "{path:?} received at {local} local time");
        assert!(local.date() < cfg.until, "{path:?} received {local}, after until");
        if days > 7 {
            assert!((10..=40).contains(&days), "{path:?}: {days} days");
            late += 1;
        } else {
            assert!((1..=7).contains(&days), "{path:?}: {days} days");
        }
    }
    assert_eq!(late, summary.late_files);
    let share = late as f64 / summary.files as f64;
    assert!((0.015..0.045).contains(&share), "{late} late of {}", summary.files);
}

#[test]
fn filtering_provinces_does_not_change_kept_files() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run(&config(11, small()), a.path());
    let mut more = small();
    more.extend([(Epoch::Post2025, "12".into()), (Epoch::Pre2025, "48".into())]);
    run(&config(11, more), b.path());
    let (ta, tb) = (tree(a.path()), tree(b.path()));
    assert!(tb.len() > ta.len());
    for (path, file) in &ta {
        assert!(tb.get(path) == Some(file), "{path:?} differs when more provinces are generated");
    }
    assert!(ta.keys().any(|p| p.starts_with("202603/04")) && ta.keys().any(|p| p.starts_with("202503/02")));
}

#[test]
fn until_decides_the_months_without_changing_values() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let only_new = vec![(Epoch::Post2025, "04".into())];
    let early = DemoConfig { seed: 5, until: date(2025, 8, 10), provinces: Some(only_new.clone()) };
    let s = run(&early, a.path());
    assert_eq!((s.communes, s.months), (56, 1), "only July 2025 has ended by 2025-08-10");
    assert_eq!(s.late_files, 0, "late July reports have not arrived by 2025-08-10");
    run(&config(5, only_new), b.path());
    let (ta, tb) = (tree(a.path()), tree(b.path()));
    // July reports received by 2025-08-09 exist in both runs and are identical.
    assert!(!ta.is_empty());
    for (path, file) in &ta {
        assert!(path.starts_with("202507"));
        assert_eq!(tb.get(path), Some(file), "{path:?}");
    }
    let none = DemoConfig { seed: 5, until: date(2025, 7, 31), provinces: Some(vec![(Epoch::Post2025, "04".into())]) };
    let c = tempfile::tempdir().unwrap();
    assert_eq!(run(&none, c.path()).files, 0);

    // Both epochs, until a day of 2025: the old communes up to the month before, the new ones from
    // July on; every file is also in the run until 2026-11-23, byte for byte (the month index and the
    // events of the model do not depend on `until`).
    let (d, e) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s = run(&DemoConfig { seed: 5, until: date(2025, 3, 10), provinces: Some(small()) }, d.path());
    assert_eq!((s.communes, s.months, s.files + s.missing_reports), (249, 14, 193 * 14), "2024-01 … 2025-02, old communes only");
    let s = run(&DemoConfig { seed: 5, until: date(2025, 9, 15), provinces: Some(small()) }, e.path());
    assert_eq!((s.months, s.files + s.missing_reports), (18 + 2, 193 * 18 + 56 * 2), "2024-01 … 2025-06 and 2025-07 … 2025-08");
    let full = tempfile::tempdir().unwrap();
    run(&config(5, small()), full.path());
    let tf = tree(full.path());
    for dir in [&d, &e] {
        for (path, file) in tree(dir.path()) {
            assert_eq!(tf.get(&path), Some(&file), "{path:?}");
        }
    }
}

/// The demo crosses the reform: old communes report 2024-01 … 2025-06, new ones 2025-07 on, and the
/// stocks of a commune run on smoothly across the new year within its epoch.
#[test]
fn the_demo_crosses_the_reform_with_smooth_stocks() {
    let dir = tempfile::tempdir().unwrap();
    run(&config(42, small()), dir.path());
    let months = |from: Period, n: usize| -> BTreeSet<String> {
        std::iter::successors(Some(from), |p| Some(Period::month_of(p.end() + chrono::Days::new(1)))).take(n).map(|p| p.to_string()).collect()
    };
    let mut periods: HashMap<Epoch, BTreeSet<String>> = HashMap::new();
    // (epoch, commune) → period → values of the valid rows
    let mut series: BTreeMap<(Epoch, String), BTreeMap<String, HashMap<String, u64>>> = BTreeMap::new();
    for (path, (bytes, mtime)) in tree(dir.path()) {
        let f = parse(&path, &bytes, mtime);
        let epoch = Epoch::for_period(&f.period.parse().unwrap()).unwrap();
        let unit = registry().get(epoch, &f.commune).unwrap_or_else(|| panic!("{path:?}: no such commune in {epoch}"));
        assert_eq!(unit.province_code.as_deref(), Some(f.province.as_str()));
        periods.entry(epoch).or_default().insert(f.period.clone());
        let values = f.rows.iter().filter(|r| row_is_valid(&f, r)).map(|r| (r[2].clone(), r[3].parse().unwrap())).collect();
        series.entry((epoch, f.commune.clone())).or_default().insert(f.period.clone(), values);
    }
    assert_eq!(periods[&Epoch::Pre2025], months(Period::month(2024, 1), 18), "pre-2025 files for 202401 … 202506 only");
    assert_eq!(periods[&Epoch::Post2025], months(Period::month(2025, 7), 16), "post-2025 files for 202507 … 202610 only");

    // DS_TONG moves by less than 1 % from December to January: 202412 → 202501 for the old communes,
    // 202512 → 202601 for the new ones.
    let mut pairs: HashMap<Epoch, usize> = HashMap::new();
    for ((epoch, commune), by_period) in &series {
        let (december, january) = match epoch {
            Epoch::Pre2025 => ("202412", "202501"),
            Epoch::Post2025 => ("202512", "202601"),
        };
        let get = |p: &str| by_period.get(p).and_then(|v| v.get("DS_TONG")).copied();
        if let (Some(a), Some(b)) = (get(december), get(january)) {
            let change = (b as f64 - a as f64).abs() / a as f64;
            assert!(change < 0.01, "{epoch} {commune}: DS_TONG {a} → {b}");
            assert!(b >= a, "{epoch} {commune}: the population grows, {a} → {b}");
            *pairs.entry(*epoch).or_default() += 1;
        }
    }
    assert!(pairs[&Epoch::Pre2025] > 180 && pairs[&Epoch::Post2025] > 50, "{pairs:?}");

    // Events happen in the second calendar year of an epoch too (a 0/1 fact gained, a doctor arriving
    // or leaving), and a gained fact is never lost.
    let flags = ["TYT_HS", "TYT_DUOC", "TYT_YHCT", "XA_BTC", "TTB_DU"];
    let mut events_by_year: BTreeMap<(Epoch, String), usize> = BTreeMap::new();
    for ((epoch, commune), by_period) in &series {
        for ((_, before), (period, after)) in by_period.iter().zip(by_period.iter().skip(1)) {
            for element in flags.iter().chain(&["TYT_BS"]) {
                if let (Some(a), Some(b)) = (before.get(*element), after.get(*element)) {
                    if a != b {
                        assert!(*element == "TYT_BS" || a < b, "{epoch} {commune} {period}: {element} {a} → {b}");
                        *events_by_year.entry((*epoch, period[..4].to_string())).or_default() += 1;
                    }
                }
            }
        }
    }
    for year in [(Epoch::Pre2025, "2025"), (Epoch::Post2025, "2026")] {
        assert!(events_by_year.get(&(year.0, year.1.to_string())).is_some_and(|n| *n > 0), "no event in {year:?}: {events_by_year:?}");
    }
}

/// The history for benchmarks runs on over several years from the first month given, with the
/// seasonal pattern of the calendar month.
#[test]
fn history_runs_on_across_years() {
    let ds_tong = catalog().data_elements.iter().position(|e| e.code == "DS_TONG").unwrap();
    let kcb_tong = catalog().data_elements.iter().position(|e| e.code == "KCB_TONG").unwrap();
    let collect = |epoch: Epoch, months: &[Period]| {
        let mut out: HashMap<(String, Period), Vec<u64>> = HashMap::new();
        history(registry(), catalog(), 9, epoch, months, &mut |m| {
            assert_eq!(Epoch::for_period(&m.period).unwrap(), epoch);
            assert!(m.received_at.date_naive() > m.period.end());
            out.insert((m.unit.code.clone(), m.period), m.values);
        })
        .unwrap();
        out
    };

    // Pre-2025, 2020-01 … 2025-06 (only a few of the months, for speed): 65 months of growth.
    let (m2001, m2312, m2401, m2506) = (Period::month(2020, 1), Period::month(2023, 12), Period::month(2024, 1), Period::month(2025, 6));
    let old = collect(Epoch::Pre2025, &[m2001, m2312, m2401, m2506]);
    let mut checked = 0;
    for u in registry().at_level(Epoch::Pre2025, Level::Commune) {
        let get = |p: Period| old.get(&(u.code.clone(), p)).map(|v| v[ds_tong] as f64);
        if let (Some(first), Some(last)) = (get(m2001), get(m2506)) {
            let growth = last / first;
            assert!((1.031..1.034).contains(&growth), "{}: {first} → {last}", u.code);
            checked += 1;
        }
        if let (Some(a), Some(b)) = (get(m2312), get(m2401)) {
            assert!((b - a).abs() / a < 0.01, "{}: {a} → {b}", u.code);
        }
    }
    assert!(checked > 9_000, "{checked}");

    // Post-2025 from the reform: the months in between do not change a month's values, and
    // visits dip in February (Tết) whatever the first month given.
    let all: Vec<Period> = (7..=12).map(|m| Period::month(2025, m)).chain((1..=12).map(|m| Period::month(2026, m))).collect();
    let new = collect(Epoch::Post2025, &all);
    let ends = collect(Epoch::Post2025, &[all[0], all[17]]);
    assert!(!ends.is_empty());
    for (key, values) in &ends {
        assert_eq!(new.get(key), Some(values), "{key:?}");
    }
    let visits_per_inhabitant = |p: Period| {
        let (kcb, ds) = new.iter().filter(|((_, q), _)| *q == p).fold((0.0, 0.0), |(k, d), (_, v)| (k + v[kcb_tong] as f64, d + v[ds_tong] as f64));
        kcb / ds
    };
    let (january, february) = (visits_per_inhabitant(Period::month(2026, 1)), visits_per_inhabitant(Period::month(2026, 2)));
    assert!(february < january * 0.9, "January {january}, February {february}");
}

#[test]
fn unknown_provinces_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(1, vec![(Epoch::Post2025, "02".into())]); // Hà Giang merged into Tuyên Quang
    let err = generate(registry(), catalog(), &cfg, dir.path(), &|_| {}).unwrap_err();
    assert!(matches!(err, Error::UnknownProvince { .. }), "{err}");
    assert!(err.to_string().contains("\"02\""), "{err}");
}

#[test]
fn unwritable_output_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("inbox");
    std::fs::write(&blocker, "not a folder").unwrap();
    let err = generate(registry(), catalog(), &config(1, small()), &blocker, &|_| {}).unwrap_err();
    assert!(err.to_string().contains(&*blocker.to_string_lossy()), "{err}");
}

/// The full country, timed: `cargo test -p tonghop-demo -- --ignored --nocapture full_generation`.
#[test]
#[ignore]
fn full_generation_timing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = DemoConfig { seed: 42, until: date(2026, 11, 23), provinces: None };
    let start = std::time::Instant::now();
    let summary = run(&cfg, dir.path());
    eprintln!("full generation: {summary:?} in {:.1?}", start.elapsed());
    assert_eq!(summary.communes, 10_035 + 3_321);
    assert_eq!(summary.months, 18 + 16);
    assert_eq!(summary.files + summary.missing_reports, 10_035 * 18 + 3_321 * 16);
    assert_eq!(summary.rows, summary.files * catalog().data_elements.len());
}
