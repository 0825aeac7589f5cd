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

/// Writes the demo's submissions of `provinces` up to `until` into the inbox `dir/<name>` and
/// ingests them into `lake` (files already ingested are skipped).
fn demo_ingest(dir: &Path, name: &str, lake: &Path, provinces: &str, until: &str) -> std::path::PathBuf {
    let inbox = dir.join(name);
    tonghop(lake, &["demo", "--inbox", inbox.to_str().unwrap(), "--until", until, "--provinces", provinces]);
    tonghop(lake, &["ingest", inbox.to_str().unwrap(), "--keep"]);
    inbox
}

/// Rebuilds `lake` in full and checks that every row of every materialised model equals
/// `incremental` (a [`snapshot`] taken after a refresh).
fn assert_equals_a_full_rebuild(lake: &Path, incremental: &[(String, Vec<Vec<String>>)]) -> String {
    let out = tonghop(lake, &["build", "--full"]);
    let full = snapshot(lake);
    for ((name, a), (_, b)) in incremental.iter().zip(&full) {
        assert_eq!(a.len(), b.len(), "{name}: row counts differ between incremental and full");
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x, y, "{name}: incremental and full differ");
        }
    }
    out
}

#[test]
fn incremental_refresh_equals_a_full_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");

    // January to May 2026 for one province, then a first build (full: there is no state yet).
    demo_ingest(dir.path(), "first", &lake, "post2025:04", "2026-06-15");
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
    tonghop(&lake, &["demo", "--inbox", second.to_str().unwrap(), "--until", "2026-08-15", "--provinces", "post2025:04"]);
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

    let out = assert_equals_a_full_rebuild(&lake, &incremental);
    assert!(out.starts_with("full build") && out.contains("asked for a full build"), "{out}");
}

/// The `remove` actions of the newest commit of a model table: the files a build replaced.
fn removed_by_last_commit(lake: &Path, model: &str) -> Vec<String> {
    let log = lake.join("models").join(model).join("_delta_log");
    let newest = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .max()
        .unwrap_or_else(|| panic!("no commit in {}", log.display()));
    std::fs::read_to_string(&newest)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|a| a.get("remove").and_then(|r| r["path"].as_str()).map(str::to_string))
        .collect()
}

#[test]
fn quality_issues_refresh_recomputes_only_the_epoch_of_the_new_months() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // One province in each epoch's units: January 2024 to June 2025 in old units, from July 2025 in new.
    let provinces = "pre2025:04,post2025:04";
    demo_ingest(dir.path(), "first", &lake, provinces, "2026-06-15");
    tonghop(&lake, &["build"]);
    let old_units = "SELECT * FROM quality_issues WHERE epoch = 'pre2025' ORDER BY check_type, subject, period, org_unit";
    let before = sql_rows(&lake, old_units);
    assert!(!before.is_empty(), "the demo's history before the reform has findings");

    // June and July 2026: months of the new units only.
    demo_ingest(dir.path(), "second", &lake, provinces, "2026-08-15");
    let out = tonghop(&lake, &["build"]);
    assert!(out.starts_with("incremental build"), "{out}");
    let removed = removed_by_last_commit(&lake, "quality_issues");
    assert!(!removed.is_empty() && removed.iter().all(|p| p.starts_with("epoch=post2025/")), "only the new units' findings are replaced: {removed:?}");
    assert_eq!(sql_rows(&lake, old_units), before, "the findings in old units are kept as they were");
    let incremental = sql_rows(&lake, "SELECT * FROM quality_issues ORDER BY check_type, subject, epoch, period, org_unit");

    tonghop(&lake, &["build", "--full"]);
    let full = sql_rows(&lake, "SELECT * FROM quality_issues ORDER BY check_type, subject, epoch, period, org_unit");
    assert_eq!(incremental.len(), full.len(), "row counts differ between incremental and full");
    for (x, y) in incremental.iter().zip(&full) {
        assert_eq!(x, y, "incremental and full differ");
    }
}

#[test]
fn failing_model_tests_are_each_named_and_the_others_pass() {
    let dir = tempfile::tempdir().unwrap();
    let project = crate::helpers::copy_project(&dir.path().join("project"));
    // Tests that the demo's data must fail: on an incremental table (numerators above 1, counted
    // with the other row checks in one scan) and on a view (its statuses).
    let edit = |file: &str, from: &str, to: &str| {
        let path = project.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} holds {from}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    };
    edit("sql/intermediate/monthly_terms.toml", "numerator = { min = 0 }", "numerator = { min = 0, max = 1 }");
    // A grain without the unit: every indicator of a period is there once per commune.
    edit(
        "sql/intermediate/monthly_terms.toml",
        r#"unique = [["epoch", "period", "org_unit", "indicator"]]"#,
        r#"unique = [["epoch", "period", "org_unit", "indicator"], ["epoch", "period", "indicator"]]"#,
    );
    edit("sql/intermediate/commune_reports.toml", r#"status = ["on_time", "late", "missing", "pending"]"#, r#"status = ["on_time"]"#);
    let lake = dir.path().join("lake");
    let inbox = dir.path().join("inbox");
    let run = |args: &[&str]| crate::helpers::tonghop_in(&project, dir.path(), lake.to_str().unwrap(), args).output().unwrap();
    assert!(run(&["demo", "--inbox", inbox.to_str().unwrap(), "--until", "2026-03-15", "--provinces", "post2025:04"]).status.success());
    assert!(run(&["ingest", inbox.to_str().unwrap(), "--keep"]).status.success());
    let out = run(&["build"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the build fails its tests:\n{stderr}");
    assert!(stderr.contains("monthly_terms (") && stderr.contains("accepted_range(numerator) failed, e.g."), "{stderr}");
    assert!(stderr.contains("unique(epoch, period, indicator) failed (period "), "{stderr}");
    // A view narrowed by refresh macros is tested chunk by chunk: once per year here.
    assert!(stderr.contains("commune_reports (") && stderr.contains("accepted_values(status) failed (period 2026"), "{stderr}");
    for passing in ["not_null(numerator)", "accepted_range(denominator)", "unique(epoch, period, org_unit, indicator)", "not_null(status)"] {
        assert!(!stderr.contains(&format!("{passing} failed")), "{passing} passes:\n{stderr}");
    }
    // The failing rows are shown: numerators above 1, statuses other than on_time.
    assert!(stderr.contains("| numerator") && stderr.contains("| status"), "{stderr}");
    // The table's tests ran as soon as it was built, the view's at the end; the failures are
    // listed in the models' order all the same.
    let models = String::from_utf8_lossy(&run(&["models"]).stdout).to_string();
    let listed = |name: &str| models.find(&format!(". {name} [")).unwrap_or_else(|| panic!("{name} listed:\n{models}"));
    let reported = |name: &str| stderr.find(&format!("{name} (")).unwrap();
    assert_eq!(
        listed("monthly_terms") < listed("commune_reports"),
        reported("monthly_terms") < reported("commune_reports"),
        "failures in the models' order:\n{models}\n{stderr}"
    );
}

/// The commit files of `submissions` after `version`, moved out of its log (as if those commits
/// had not happened yet) into `aside`; [`restore_commits`] puts them back.
fn hide_commits_after(lake: &Path, table: &str, version: u64, aside: &Path) -> usize {
    let log = lake.join("tables").join(table).join("_delta_log");
    std::fs::create_dir_all(aside).unwrap();
    let mut hidden = 0;
    for entry in std::fs::read_dir(&log).unwrap() {
        let path = entry.unwrap().path();
        let number = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")).and_then(|n| n.parse::<u64>().ok());
        if number.is_some_and(|n| n > version) {
            std::fs::rename(&path, aside.join(path.file_name().unwrap())).unwrap();
            hidden += 1;
        }
    }
    hidden
}

fn restore_commits(lake: &Path, table: &str, aside: &Path) {
    let log = lake.join("tables").join(table).join("_delta_log");
    for entry in std::fs::read_dir(aside).unwrap() {
        let path = entry.unwrap().path();
        std::fs::rename(&path, log.join(path.file_name().unwrap())).unwrap();
    }
}

/// The last version of a lake table (the highest commit of its log).
fn table_version(lake: &Path, table: &str) -> u64 {
    let log = lake.join("tables").join(table).join("_delta_log");
    std::fs::read_dir(&log)
        .unwrap()
        .filter_map(|e| e.unwrap().path().file_name()?.to_str()?.strip_suffix(".json")?.parse::<u64>().ok())
        .max()
        .unwrap_or_else(|| panic!("no commit in {}", log.display()))
}

/// A refresh finds the months to recompute from the Delta log of `data_values` (the files added
/// since the last build), not from the values. A build that ran after a submission's values were
/// written but before its `submissions` row was committed (ingest commits that row last) could not
/// see them: when the row arrives later, the next refresh must still recompute their months,
/// although `data_values` has not changed since.
#[test]
fn values_committed_after_a_build_that_saw_them_pending_are_refreshed() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    demo_ingest(dir.path(), "first", &lake, "post2025:04", "2026-06-15");
    tonghop(&lake, &["build"]);
    let committed = table_version(&lake, "submissions");

    // June and July are ingested, but the build runs as if their `submissions` rows were not
    // committed yet: their values are in the lake and invisible.
    demo_ingest(dir.path(), "second", &lake, "post2025:04", "2026-08-15");
    let aside = dir.path().join("aside");
    assert!(hide_commits_after(&lake, "submissions", committed, &aside) > 0);
    let out = tonghop(&lake, &["build"]);
    assert!(out.starts_with("incremental build"), "{out}");
    assert!(sql_rows(&lake, "SELECT 1 FROM indicator_values WHERE period = '202607' LIMIT 1").is_empty(), "July's values are not visible yet");

    // The rows arrive: `data_values` is as it was at the last build, yet July must be built.
    restore_commits(&lake, "submissions", &aside);
    let out = tonghop(&lake, &["build"]);
    assert!(out.starts_with("incremental build"), "{out}");
    assert!(recomputed(&out) > 0, "the pending months are recomputed: {out}");
    assert!(!sql_rows(&lake, "SELECT 1 FROM indicator_values WHERE period = '202607' LIMIT 1").is_empty(), "July is built");
    assert_equals_a_full_rebuild(&lake, &snapshot(&lake));
}

/// A build state written by a tonghop from before the log was read (no `data_values_version`, no
/// `pending_values`): the refresh finds the new months from the new submissions' values instead,
/// equals a full rebuild, and writes a state the next refresh can read the log with.
#[test]
fn a_state_from_an_older_tonghop_refreshes_from_the_values() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    demo_ingest(dir.path(), "first", &lake, "post2025:04", "2026-06-15");
    tonghop(&lake, &["build"]);
    let path = lake.join("models/_build_state.json");
    let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let fields = state.as_object_mut().unwrap();
    assert!(fields.remove("data_values_version").is_some() && fields.remove("pending_values").is_some(), "{state}");
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();

    demo_ingest(dir.path(), "second", &lake, "post2025:04", "2026-08-15");
    let out = tonghop(&lake, &["build"]);
    assert!(out.starts_with("incremental build") && out.contains("values changed in 2 month(s)"), "June and July: {out}");
    assert!(!sql_rows(&lake, "SELECT 1 FROM indicator_values WHERE period = '202607' LIMIT 1").is_empty(), "July is built");
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(state["data_values_version"].is_i64() && state["pending_values"].is_object(), "{state}");
    assert_equals_a_full_rebuild(&lake, &snapshot(&lake));
}
