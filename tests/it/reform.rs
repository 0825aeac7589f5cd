//! Reporting across the 2025 reform, end to end: the demo of the merged province 08 Tuyên Quang
//! (old 02 Hà Giang + old 08 Tuyên Quang), January–June 2025 from the old communes and July–December
//! from the new ones, checked against a computation made here from the files and the mapping CSV
//! (not through the SQL); the exactness of province and national sums; a refresh after a late
//! correction and after a change of weights against a full rebuild.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::build::{recomputed, snapshot};
use crate::export::{number, sheet, sheets, text, SUMMARY_HEADER_ROW};
use crate::helpers::{copy_project, repo_root, sql_rows, tonghop, tonghop_in, valid_rows, Row};

/// One edge of the vendored old → new mapping.
struct Edge {
    old: String,
    new: String,
}

/// The mapping edges of old provinces `old_provinces`, read straight from the vendored CSV.
fn edges(old_provinces: &[&str]) -> Vec<Edge> {
    let mut r = csv::Reader::from_path(repo_root().join("reference/admin-units/mapping/old_to_new_ward_2025-07-01.csv")).unwrap();
    let headers = r.headers().unwrap().clone();
    let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (level, old, province, new) = (at("old_level"), at("old_code"), at("old_province_code"), at("new_ward_code"));
    r.records()
        .map(|rec| rec.unwrap())
        .filter(|rec| &rec[level] == "commune" && old_provinces.contains(&&rec[province]))
        .map(|rec| Edge { old: rec[old].to_string(), new: rec[new].to_string() })
        .collect()
}

/// The reported values of one side of the data: (commune, month, element) → value.
type Cells<'a> = HashMap<(&'a str, &'a str, &'a str), f64>;

fn cells<'a>(rows: &'a [Row], months: &[String]) -> Cells<'a> {
    rows.iter().filter(|r| months.contains(&r.period)).map(|r| ((r.unit.as_str(), r.period.as_str(), r.element.as_str()), r.value)).collect()
}

/// A commune's latest month in `cells` with both `num` and `den`, and the two values.
fn latest_pair(cells: &Cells, unit: &str, months: &[String], num: &str, den: &str) -> Option<(f64, f64)> {
    months.iter().rev().find_map(|m| Some((*cells.get(&(unit, m.as_str(), num))?, *cells.get(&(unit, m.as_str(), den))?)))
}

/// Σ over months of both sides, counting a month only when both were reported.
fn paired_sums(cells: &Cells, units: &HashSet<&str>, num: &str, den: &str) -> (f64, f64) {
    let (mut n, mut d) = (0.0, 0.0);
    for ((unit, month, element), a) in cells {
        if *element == num && units.contains(unit) {
            if let Some(b) = cells.get(&(*unit, *month, den)) {
                n += a;
                d += b;
            }
        }
    }
    (n, d)
}

fn months(year: i32, from: u32, to: u32) -> Vec<String> {
    (from..=to).map(|m| format!("{year}{m:02}")).collect()
}

/// The province's value of a straddling period computed here: the new communes' own months from
/// July, the old communes' months before it carried by the mapping (equal shares of a split old
/// commune, as no weight is given), stocks at each new commune's own latest month or else the
/// carried one, a count of stations from the main predecessor (the old commune whose code the new
/// commune kept).
fn province_value(rows: &[Row], edges: &[Edge], new_communes: &HashSet<&str>, last_month: u32, indicator: &str) -> f64 {
    let (before, after) = (months(2025, 1, 6), months(2025, 7, last_month));
    let (old_cells, new_cells) = (cells(rows, &before), cells(rows, &after));
    let old_communes: HashSet<&str> = edges.iter().map(|e| e.old.as_str()).collect();
    let mut targets: HashMap<&str, usize> = HashMap::new();
    for e in edges {
        *targets.entry(e.old.as_str()).or_default() += 1;
    }
    let (mut n, mut d) = (0.0, 0.0);
    match indicator {
        "KCB_BHYT_TY_LE" => {
            // Flows: every paired month of both epochs, whatever the mapping.
            for (cells, units) in [(&old_cells, &old_communes), (&new_cells, new_communes)] {
                let (a, b) = paired_sums(cells, units, "KCB_BHYT", "KCB_TONG");
                n += a;
                d += b;
            }
        }
        "BHYT_BAO_PHU" => {
            for new in new_communes {
                if let Some((a, b)) = latest_pair(&new_cells, new, &after, "DS_BHYT", "DS_TONG") {
                    n += a;
                    d += b;
                    continue;
                }
                for e in edges.iter().filter(|e| e.new == *new) {
                    if let Some((a, b)) = latest_pair(&old_cells, &e.old, &before, "DS_BHYT", "DS_TONG") {
                        let w = 1.0 / targets[e.old.as_str()] as f64;
                        n += w * a;
                        d += w * b;
                    }
                }
            }
        }
        "TYT_CO_BS" => {
            for new in new_communes {
                let own = latest_pair(&new_cells, new, &after, "TYT_BS", "TYT_BS");
                let main = || edges.iter().find(|e| e.new == *new && e.old == *new).and_then(|e| latest_pair(&old_cells, &e.old, &before, "TYT_BS", "TYT_BS"));
                if let Some((doctors, _)) = own.or_else(main) {
                    n += if doctors >= 1.0 { 1.0 } else { 0.0 };
                    d += 1.0;
                }
            }
        }
        other => panic!("no computation for {other}"),
    }
    n / d * 100.0
}

fn value(lake: &Path, epoch: &str, period: &str, level: &str, unit: &str, indicator: &str) -> Vec<String> {
    let rows = sql_rows(
        lake,
        &format!(
            "SELECT value, numerator, denominator, remapped, estimated FROM indicator_values \
             WHERE epoch = '{epoch}' AND period = '{period}' AND level = '{level}' AND unit_code = '{unit}' AND indicator = '{indicator}'"
        ),
    );
    assert_eq!(rows.len(), 1, "{epoch} {period} {level} {unit} {indicator}: {rows:?}");
    rows[0].clone()
}

/// The demo of old provinces 02 and 08 and new province 08, 2025-01 … 2026-03, with some old
/// communes missing June, some new ones missing December and two new ones silent since the reform
/// (their 2025 stocks come from their old communes); returns its inbox.
fn merged_province_demo(dir: &Path, lake: &Path) -> std::path::PathBuf {
    let inbox = dir.join("inbox");
    tonghop(lake, &["demo", "--inbox", inbox.to_str().unwrap(), "--provinces", "pre2025:02,pre2025:08,post2025:08", "--until", "2026-04-20", "--seed", "11"]);
    let files = |month: &str| -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(inbox.join(month).join("08")).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files
    };
    for (month, count) in [("202506", 7), ("202512", 5)] {
        for f in files(month).iter().take(count) {
            std::fs::remove_file(f).unwrap();
        }
    }
    let silent: Vec<String> = files("202507").iter().rev().take(2).map(|f| f.file_name().unwrap().to_string_lossy()[..5].to_string()).collect();
    for month in months(2025, 7, 12) {
        for f in files(&month).iter().filter(|f| silent.iter().any(|c| f.file_name().unwrap().to_string_lossy().starts_with(c.as_str()))) {
            std::fs::remove_file(f).unwrap();
        }
    }
    // 2024 is not needed here: only 2025 is kept, so the build is quick.
    for entry in std::fs::read_dir(&inbox).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("2024") {
            std::fs::remove_dir_all(path).unwrap();
        }
    }
    inbox
}

#[test]
fn the_year_2025_of_a_merged_province_matches_a_computation_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let inbox = merged_province_demo(dir.path(), &lake);
    let (rows, _) = valid_rows(&inbox);
    tonghop(&lake, &["ingest", inbox.to_str().unwrap(), "--keep"]);
    let out = tonghop(&lake, &["build"]);
    assert!(out.starts_with("full build"), "{out}");

    let edges = edges(&["02", "08"]);
    let new_communes: HashSet<&str> = edges.iter().map(|e| e.new.as_str()).collect();
    assert!(new_communes.len() > 100, "new province 08 has {} communes", new_communes.len());
    // Some old communes missed June and some new ones December: the stocks of 2025 mix both epochs.
    let june: HashSet<&str> = rows.iter().filter(|r| r.period == "202506").map(|r| r.unit.as_str()).collect();
    assert!(edges.iter().any(|e| !june.contains(e.old.as_str())), "some old commune misses June");
    for (period, last_month) in [("2025", 12), ("2025N9", 9)] {
        for indicator in ["BHYT_BAO_PHU", "KCB_BHYT_TY_LE", "TYT_CO_BS"] {
            let expected = province_value(&rows, &edges, &new_communes, last_month, indicator);
            let got = value(&lake, "post2025", period, "province", "08", indicator);
            let v: f64 = got[0].parse().unwrap();
            assert!((v - expected).abs() < 1e-9, "{period} {indicator}: tonghop {v}, computed here {expected}");
            assert_eq!(got[3], "true", "{period} {indicator} is remapped");
        }
    }
    // The straddling year is in today's units only.
    assert!(sql_rows(&lake, "SELECT 1 FROM indicator_values WHERE epoch = 'pre2025' AND period = '2025'").is_empty());

    // 2026Q1 against 2025Q1 in today's units, carried across the reform.
    let q1 = sql_rows(&lake, "SELECT value, value_previous_year, previous_year_remapped FROM indicator_values WHERE epoch = 'post2025' AND period = '2026Q1' AND level = 'province' AND unit_code = '08' AND indicator = 'BHYT_BAO_PHU'");
    let q1_2025 = value(&lake, "post2025", "2025Q1", "province", "08", "BHYT_BAO_PHU");
    assert_eq!((q1[0][1].as_str(), q1[0][2].as_str()), (q1_2025[0].as_str(), "true"), "{q1:?}");

    // The Excel report of the year 2025 and of 2026Q1, in today's units, with the footnote.
    for (period, previous) in [("2025", None), ("2026Q1", Some(&q1[0][1]))] {
        let path = dir.path().join(format!("bao_cao_08_{period}.xlsx"));
        tonghop(&lake, &["export", "report", "--unit", "08", "--period", period, "--out", path.to_str().unwrap()]);
        let book = sheets(&path);
        let summary = sheet(&book, "Tổng hợp");
        let row = (SUMMARY_HEADER_ROW + 1..SUMMARY_HEADER_ROW + 13).find(|r| text(summary, *r, 0) == "Tỷ lệ dân số tham gia BHYT").expect("the BHYT row");
        let expected: f64 = value(&lake, "post2025", period, "province", "08", "BHYT_BAO_PHU")[0].parse().unwrap();
        assert!((number(summary, row, 2).unwrap() - expected).abs() < 1e-9);
        if let Some(previous) = previous {
            assert!((number(summary, row, 3).unwrap() - previous.parse::<f64>().unwrap()).abs() < 1e-9, "Cùng kỳ năm trước is filled");
        }
        let note = (SUMMARY_HEADER_ROW + 13..SUMMARY_HEADER_ROW + 20).map(|r| text(summary, r, 0)).collect::<Vec<_>>().join(" ");
        let months = if period == "2025" { "Số liệu 6 tháng đầu năm 2025" } else { "Số liệu cùng kỳ năm trước (Quý I năm 2025)" };
        assert!(note.contains("Ghi chú: ") && note.contains(months) && note.contains("được quy đổi từ đơn vị hành chính cũ"), "{period}: {note}");
    }

    // Exactness: for every month before the reform, today's province 08 and the nation have the
    // sums of the old provinces 02 and 08, whatever the (default) weights of the split old communes.
    let split = "('BHYT_BAO_PHU', 'QLSK_BAO_PHU', 'KCB_BHYT_TY_LE', 'NCC_DUOC_KSK', 'THON_CO_NVYT')";
    let sums = |epoch: &str, units: &str| -> BTreeMap<(String, String, String), (f64, f64)> {
        sql_rows(
            &lake,
            &format!(
                "SELECT period, level, indicator, SUM(numerator), SUM(denominator) FROM indicator_values \
                 WHERE epoch = '{epoch}' AND period_type = 'month' AND period < '202507' AND indicator IN {split} \
                   AND ((level = 'province' AND unit_code IN {units}) OR level = 'national') GROUP BY period, level, indicator"
            ),
        )
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone(), r[2].clone()), (r[3].parse().unwrap(), r[4].parse().unwrap())))
        .collect()
    };
    let (old, new) = (sums("pre2025", "('02', '08')"), sums("post2025", "('08')"));
    assert_eq!(old.len(), 6 * 2 * 5, "6 months × (province, nation) × 5 indicators: {old:?}");
    assert_eq!(old.keys().collect::<Vec<_>>(), new.keys().collect::<Vec<_>>());
    for (key, (n, d)) in &old {
        let (n2, d2) = new[key];
        assert!((n - n2).abs() <= 1e-9 * n.abs().max(1.0) && (d - d2).abs() <= 1e-9 * d.abs().max(1.0), "{key:?}: old units {n}/{d}, today's {n2}/{d2}");
    }
    // Province figures are exact (never estimated); commune figures of split old communes are.
    let flags =
        sql_rows(&lake, "SELECT level, bool_or(estimated) FROM indicator_values WHERE epoch = 'post2025' AND period = '2025Q1' GROUP BY level ORDER BY level");
    assert_eq!(flags, [["commune", "true"], ["national", "false"], ["province", "false"]]);
}

#[test]
fn a_late_correction_and_new_weights_refresh_exactly_like_a_full_build() {
    let dir = tempfile::tempdir().unwrap();
    let project = copy_project(&dir.path().join("project"));
    let lake = dir.path().join("lake");
    let inbox = merged_province_demo(dir.path(), &lake);
    let run = |args: &[&str]| -> String {
        let out = tonghop_in(&project, dir.path(), lake.to_str().unwrap(), args).output().unwrap();
        assert!(out.status.success(), "tonghop {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["ingest", inbox.to_str().unwrap(), "--keep"]);
    run(&["build"]);

    // A late correction to an old commune's March 2025.
    let edges = edges(&["02", "08"]);
    let old = &edges[0].old;
    let correction = dir.path().join("late");
    std::fs::create_dir_all(&correction).unwrap();
    std::fs::write(correction.join("dinh_chinh.csv"), format!("period,org_unit,data_element,value\n202503,{old},KCB_TONG,999\n")).unwrap();
    run(&["ingest", correction.to_str().unwrap(), "--keep"]);
    let out = run(&["build"]);
    assert!(out.starts_with("incremental build"), "{out}");
    // 202503's periods (the month, 2025Q1, S1, N9, the year, YTD03–12: 15) and the same periods of
    // 2026, whose comparisons with them changed: 30.
    assert_eq!(recomputed(&out), 30, "{out}");
    let after_correction = snapshot(&lake);

    // New weights for a split old commune: the months before the reform are refreshed, not a full build.
    let mut counts: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in &edges {
        counts.entry(e.old.as_str()).or_default().push(e.new.as_str());
    }
    let (split, targets) = counts.iter().find(|(_, t)| t.len() == 2).expect("a split old commune");
    let weights = project.join("reference/admin-units/reform_weights.csv");
    let mut text = std::fs::read_to_string(&weights).unwrap();
    text.push_str(&format!("{split},{},0.8,test\n{split},{},0.2,test\n", targets[0], targets[1]));
    std::fs::write(&weights, text).unwrap();
    let out = run(&["build"]);
    assert!(out.starts_with("incremental build") && out.contains("reform weights changed"), "{out}");
    let refreshed = snapshot(&lake);
    assert_ne!(refreshed, after_correction, "the weights moved commune figures");
    let edge = run(&[
        "sql",
        &format!("SELECT new_code, weight, estimated, weight_source FROM unit_mapping WHERE old_code = '{split}' ORDER BY new_code"),
        "--format",
        "csv",
    ]);
    assert!(edge.contains(&format!("{},0.8,false,test", targets[0])) && edge.contains(&format!("{},0.2,false,test", targets[1])), "{edge}");

    run(&["build", "--full"]);
    let full = snapshot(&lake);
    for ((name, a), (_, b)) in refreshed.iter().zip(&full) {
        assert_eq!(a.len(), b.len(), "{name}: row counts differ between the refresh and a full build");
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x, y, "{name}: the refresh and a full build differ");
        }
    }

    // A broken weights file is refused naming every problem.
    std::fs::write(&weights, format!("old_code,new_code,weight,source\n{split},{},0.7,test\n{split},99999,0.2,\n", targets[0])).unwrap();
    let out = tonghop_in(&project, dir.path(), lake.to_str().unwrap(), &["validate"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    for expected in [
        "reform_weights.csv",
        "not an edge of the 2025 mapping",
        "source is empty",
        &format!("weights are given for {}, 99999 but not for {}", targets[0], targets[1]),
    ] {
        assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
    }
}
