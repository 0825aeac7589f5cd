use crate::helpers::{sql_rows, tonghop_raw};

#[test]
fn units_have_the_official_counts_per_epoch_and_level() {
    let dir = tempfile::tempdir().unwrap();
    let rows = sql_rows(&dir.path().join("lake"), "SELECT epoch, level, count(*) AS n FROM units GROUP BY 1, 2 ORDER BY 1, 2");
    let got: Vec<(String, String, String)> = rows.into_iter().map(|r| (r[0].clone(), r[1].clone(), r[2].clone())).collect();
    let want = [
        ("post2025", "commune", "3321"),
        ("post2025", "national", "1"),
        ("post2025", "province", "34"),
        ("pre2025", "commune", "10035"),
        ("pre2025", "district", "696"),
        ("pre2025", "national", "1"),
        ("pre2025", "province", "63"),
    ];
    assert_eq!(got, want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())));
}

#[test]
fn reused_codes_are_keyed_by_epoch_and_names_are_nfc_vietnamese() {
    let dir = tempfile::tempdir().unwrap();
    let rows = sql_rows(&dir.path().join("lake"), "SELECT epoch, full_name FROM units WHERE code = '00004' ORDER BY epoch");
    assert_eq!(rows, [["post2025", "Phường Ba Đình"], ["pre2025", "Phường Trúc Bạch"]]);
    let mapped = sql_rows(&dir.path().join("lake"), "SELECT new_code, new_full_name FROM unit_mapping WHERE old_code = '00001'");
    assert_eq!(mapped, [["00097", "Phường Hồng Hà"]]);
}

#[test]
fn straddling_periods_are_in_todays_units_and_analyst_sql_is_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let rows = sql_rows(
        &lake,
        "SELECT period, epoch, straddles_reform FROM periods WHERE year = 2025 AND period_type IN ('year', 'nine_months', 'half_year') ORDER BY period",
    );
    assert_eq!(rows, [["2025", "post2025", "true"], ["2025N9", "post2025", "true"], ["2025S1", "pre2025", "false"], ["2025S2", "post2025", "false"]]);
    // A period before the reform has its months in both epochs' units, a straddling one in today's only.
    let rows = sql_rows(
        &lake,
        "SELECT period, epoch, count(*), sum(CAST(remapped AS INT)) FROM period_months WHERE period IN ('2024Q1', '2025') GROUP BY 1, 2 ORDER BY 1, 2",
    );
    assert_eq!(rows, [["2024Q1", "post2025", "3", "3"], ["2024Q1", "pre2025", "3", "0"], ["2025", "post2025", "12", "6"]]);
    for statement in ["DROP TABLE units", "CREATE TABLE x AS SELECT 1", "INSERT INTO units SELECT * FROM units", "CREATE VIEW v AS SELECT 1"] {
        let out = tonghop_raw(&lake, &["sql", statement]);
        assert!(!out.status.success(), "{statement} should be refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("read-only"), "{statement}: {err}");
    }
}
