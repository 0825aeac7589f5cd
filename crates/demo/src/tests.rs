//! Tests of the demo generator, on one or two small provinces of each epoch.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use chrono::{DateTime, NaiveDate};
use tonghop_core::catalog::ValueType;

use super::*;

fn registry() -> &'static UnitRegistry {
    static R: OnceLock<UnitRegistry> = OnceLock::new();
    R.get_or_init(|| UnitRegistry::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference/admin-units")).unwrap())
}

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog")).unwrap())
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
    assert_eq!(summary.months, 12 + 10, "all of 2024, January–October 2026");
    assert_eq!(summary.files + summary.missing_reports, old * 12 + new * 10);
    let expected = (old * 12 + new * 10) as f64;
    assert!((summary.missing_reports as f64) < expected * 0.03 && summary.missing_reports > 0, "{summary:?}");

    let files = tree(dir.path());
    assert_eq!(files.len(), summary.files);
    let mut rows = 0;
    let mut per_period: HashMap<String, usize> = HashMap::new();
    for (path, (bytes, mtime)) in &files {
        let f = parse(path, bytes, *mtime);
        assert_eq!(f.rows.len(), 17, "{path:?}");
        assert!(f.province == "02" || f.province == "04", "{path:?}");
        let epoch = if f.period.starts_with("2024") { Epoch::Pre2025 } else { Epoch::Post2025 };
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
    assert_eq!(per_period.len(), 22);
    assert!(!per_period.contains_key("202611"), "November 2026 has not ended by 2026-11-23");
    assert!(!per_period.keys().any(|p| p.starts_with("2025")), "nothing for 2025");
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
    let mut populations: BTreeMap<(String, String), u64> = BTreeMap::new();
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
            assert!((2_000..=96_000).contains(&pop), "{path:?}: population {pop}");
            populations.insert((f.commune.clone(), f.period.clone()), pop);
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
    // smooth stocks: the population of a commune moves by well under 1 % a month
    let mut previous: Option<(&(String, String), u64)> = None;
    for (key, &pop) in &populations {
        if let Some((pk, pp)) = previous {
            if pk.0 == key.0 && pk.1[..4] == key.1[..4] {
                assert!(pop.abs_diff(pp) * 100 <= pp, "{key:?}: {pp} → {pop}");
            }
        }
        previous = Some((key, pop));
    }
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
    assert!(ta.keys().any(|p| p.starts_with("202603/04")) && ta.keys().any(|p| p.starts_with("202403/02")));
}

#[test]
fn until_decides_the_months_without_changing_values() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let only_new = vec![(Epoch::Post2025, "04".into())];
    let early = DemoConfig { seed: 5, until: date(2026, 2, 10), provinces: Some(only_new.clone()) };
    let s = run(&early, a.path());
    assert_eq!((s.communes, s.months), (56, 1), "only January 2026 has ended by 2026-02-10");
    assert_eq!(s.late_files, 0, "late January reports have not arrived by 2026-02-10");
    run(&config(5, only_new), b.path());
    let (ta, tb) = (tree(a.path()), tree(b.path()));
    // January reports received by 2026-02-09 exist in both runs and are identical.
    assert!(!ta.is_empty());
    for (path, file) in &ta {
        assert!(path.starts_with("202601"));
        assert_eq!(tb.get(path), Some(file), "{path:?}");
    }
    let none = DemoConfig { seed: 5, until: date(2026, 1, 31), provinces: Some(vec![(Epoch::Post2025, "04".into())]) };
    let c = tempfile::tempdir().unwrap();
    assert_eq!(run(&none, c.path()).files, 0);
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
    assert_eq!(summary.files + summary.missing_reports, 10_035 * 12 + 3_321 * 10);
}
