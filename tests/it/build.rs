//! `tonghop build`: an incremental refresh after new months, a correction and a deletion gives
//! exactly the tables a full rebuild gives, and recomputes only the periods touched.

use std::path::Path;

use crate::helpers::{sql_rows, tonghop};

/// Every row of every materialised model, in a fixed order.
pub(crate) fn snapshot(lake: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    let tables = [
        ("stg_data_values", "epoch, period, org_unit, data_element, disaggregation"),
        ("indicator_rollups", "epoch, period, level, unit_code, indicator"),
        ("indicator_values", "epoch, period, level, unit_code, indicator"),
        ("completeness", "epoch, period, level, unit_code"),
        ("monthly_values", "epoch, period, org_unit, data_element"),
        ("monthly_terms", "epoch, period, org_unit, indicator"),
        ("commune_months", "epoch, period, org_unit"),
        ("rule_breaks", "rule, epoch, period, org_unit"),
        ("quality_issues", "check_type, subject, epoch, period, org_unit"),
    ];
    tables.iter().map(|(t, order)| (t.to_string(), sql_rows(lake, &format!("SELECT * FROM {t} ORDER BY {order}")))).collect()
}

pub(crate) fn recomputed(output: &str) -> usize {
    let line = output.lines().find(|l| l.contains("periods recomputed")).unwrap_or_else(|| panic!("no summary line in:\n{output}"));
    let count = line.rsplit('(').next().unwrap().split_whitespace().next().unwrap();
    count.parse().unwrap_or_else(|_| panic!("count in {line}"))
}

#[test]
fn incremental_refresh_equals_a_full_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let province = ["--provinces", "post2025:04"];

    // January to May 2026 for one province, then a first build (full: there is no state yet).
    let first = dir.path().join("first");
    tonghop(&lake, &[&["demo", "--inbox", first.to_str().unwrap(), "--until", "2026-06-15"][..], &province].concat());
    tonghop(&lake, &["ingest", first.to_str().unwrap(), "--keep"]);
    let out = tonghop(&lake, &["build"]);
    assert!(out.starts_with("full build") && out.contains("first build"), "{out}");

    // Nothing new: nothing recomputed, and the tables stay as they are.
    let before = snapshot(&lake);
    let out = tonghop(&lake, &["build"]);
    assert!(out.starts_with("incremental build"), "{out}");
    assert_eq!(recomputed(&out), 0, "{out}");
    assert_eq!(snapshot(&lake), before);

    // June and July arrive, a commune corrects March, and another deletes one value of April.
    let second = dir.path().join("second");
    tonghop(&lake, &[&["demo", "--inbox", second.to_str().unwrap(), "--until", "2026-08-15"][..], &province].concat());
    let commune = &sql_rows(&lake, "SELECT org_unit FROM stg_data_values WHERE period = '202603' ORDER BY org_unit LIMIT 1")[0][0];
    let other = &sql_rows(&lake, "SELECT org_unit FROM stg_data_values WHERE period = '202604' ORDER BY org_unit DESC LIMIT 1")[0][0];
    std::fs::write(second.join("correction.csv"), format!("period,org_unit,data_element,value\n202603,{commune},DS_BHYT,10\n")).unwrap();
    std::fs::write(
        second.join("deletion.json"),
        format!(r#"{{"dataValues": [{{"period": "202604", "orgUnit": "{other}", "dataElement": "NCC_TONG", "value": "0", "deleted": true}}]}}"#),
    )
    .unwrap();
    tonghop(&lake, &["ingest", second.to_str().unwrap(), "--keep"]);

    let out = tonghop(&lake, &["build"]);
    assert!(out.starts_with("incremental build"), "{out}");
    // 202603 → the month, 2026Q1, 2026S1, 2026N9, 2026, 2026YTD03–12 (15); 202604 → 202604, Q2
    // (YTD04 on are already in); 202606 → 202606; 202607 → 202607, Q3, S2: 21 periods, not 2026's 32.
    assert_eq!(recomputed(&out), 21, "{out}");
    let incremental = snapshot(&lake);
    let corrected =
        sql_rows(&lake, &format!("SELECT value FROM stg_data_values WHERE period = '202603' AND org_unit = '{commune}' AND data_element = 'DS_BHYT'"));
    assert_eq!(corrected, vec![vec!["10.0".to_string()]], "the correction is current");
    let deleted = sql_rows(&lake, &format!("SELECT * FROM stg_data_values WHERE period = '202604' AND org_unit = '{other}' AND data_element = 'NCC_TONG'"));
    assert!(deleted.is_empty(), "the deleted value is gone");
    assert!(!sql_rows(&lake, "SELECT 1 FROM indicator_values WHERE period = '202607' LIMIT 1").is_empty(), "July is built");

    let out = tonghop(&lake, &["build", "--full"]);
    assert!(out.starts_with("full build") && out.contains("asked for a full build"), "{out}");
    let full = snapshot(&lake);
    for ((name, a), (_, b)) in incremental.iter().zip(&full) {
        assert_eq!(a.len(), b.len(), "{name}: row counts differ between incremental and full");
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x, y, "{name}: incremental and full differ");
        }
    }
}
