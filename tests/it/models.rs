use std::process::Command;

use crate::helpers::{copy_project, repo_root, tonghop};

#[test]
fn models_are_listed_in_build_order_with_grain_and_dependencies() {
    let dir = tempfile::tempdir().unwrap();
    let out = tonghop(&dir.path().join("lake"), &["models"]);
    let line = |name: &str| out.lines().position(|l| l.contains(&format!(". {name} ["))).unwrap_or_else(|| panic!("{name} not listed:\n{out}"));
    assert!(line("stg_data_values") < line("indicator_terms") && line("indicator_terms") < line("indicator_values"), "{out}");
    assert!(line("commune_reports") < line("completeness") && line("commune_reports") < line("missing_reports"), "{out}");
    for expected in [
        "indicator_values [table, incremental by period] sql/marts/indicator_values.sql",
        "completeness [table, incremental by period] sql/marts/completeness.sql",
        "monthly_values [table, incremental by month] sql/intermediate/monthly_values.sql",
        "quality_issues [table, incremental by epoch] sql/marts/quality_issues.sql",
        "reporting_months [memory] sql/intermediate/reporting_months.sql",
        "missing_reports [view] sql/reports/missing_reports.sql",
        "grain: one row per (epoch, period, level, unit_code, indicator)",
        "reads models: commune_reports, report_deadlines, unit_ancestors",
        "every reference resolved",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
}

#[test]
fn a_model_reading_a_missing_model_is_reported_with_file_and_name() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("sql/reports")).unwrap();
    for part in ["catalog", "reference"] {
        std::os::unix::fs::symlink(repo_root().join(part), project.join(part)).unwrap();
    }
    std::fs::write(
        project.join("sql/reports/top.sql"),
        "-- grain: one row per indicator\nSELECT indicator, max(value) AS best FROM indicator_value GROUP BY indicator\n",
    )
    .unwrap();
    std::fs::write(project.join("sql/indicator_values.sql"), "-- grain: one row per indicator\nSELECT code AS indicator, 1.0 AS value FROM indicators\n")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tonghop"))
        .current_dir(dir.path())
        .args(["-q", "--project"])
        .arg(&project)
        .arg("--lake")
        .arg(dir.path().join("lake"))
        .arg("models")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sql/reports/top.sql: model top reads indicator_value, which is neither a model in sql/ nor a table (did you mean indicator_values?)"),
        "{err}"
    );
}

#[test]
fn sources_are_listed_and_must_declare_their_lake_table_columns() {
    let dir = tempfile::tempdir().unwrap();
    let out = tonghop(&dir.path().join("lake"), &["models"]);
    assert!(out.contains("data_values [source, a view over the lake tables] sql/sources/data_values.sql"), "{out}");
    assert!(out.contains("reads tables: lake.data_values, lake.submissions"), "{out}");

    let project = copy_project(&dir.path().join("project"));
    let submissions = project.join("sql/sources/submissions.sql");
    let sql = std::fs::read_to_string(&submissions).unwrap().replace("error, ", "");
    std::fs::write(&submissions, sql).unwrap();
    std::fs::remove_file(project.join("sql/sources/export_log.sql")).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tonghop"))
            .current_dir(dir.path())
            .args(["-q", "--project"])
            .arg(&project)
            .arg("--lake")
            .arg(dir.path().join("lake2"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["models"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sql/sources/submissions.sql: the source submissions must list the columns of lake.submissions, in order"), "{err}");
    std::fs::write(&submissions, std::fs::read_to_string(repo_root().join("sql/sources/submissions.sql")).unwrap()).unwrap();
    let out = run(&["models"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sql/sources/export_log.sql is missing"), "{err}");
}
