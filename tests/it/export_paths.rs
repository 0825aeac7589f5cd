//! The CLI and the pipeline run one implementation of each export: the same request, run both ways
//! on one lake, writes the same bytes (Excel compared cell by cell, since a workbook records when it
//! was written), the same versions record beside each file, and the same `export_log` row apart
//! from ids and times.

use std::path::Path;

use tonghop_testkit::Server;

use crate::dhis2::write_mapping;
use crate::export::all_cells;
use crate::helpers::{q1_demo_lake, sql_rows, tonghop};

/// A versions record without the instant it was written, nor the versions of `runs` and
/// `export_log`: the pipeline's run and the CLI's push create those tables between the two exports.
fn record(path: &Path) -> serde_json::Value {
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap();
    let object = value.as_object_mut().unwrap();
    object.remove("produced_at");
    let versions = object.get_mut("versions").and_then(|v| v.as_object_mut()).unwrap();
    versions.remove("runs");
    versions.remove("export_log");
    assert!(versions.contains_key("models.indicator_values"), "{}: {versions:?}", path.display());
    value
}

#[test]
fn cli_and_pipeline_exports_are_one_code_path() {
    let dir = tempfile::tempdir().unwrap();
    let lake = q1_demo_lake(dir.path());
    let mapping = dir.path().join("mapping.csv");
    write_mapping(&lake, &mapping, &[]);
    let server = Server::start();
    let cli = dir.path().join("cli");
    std::fs::create_dir_all(&cli).unwrap();
    let at = |name: &str| cli.join(name).to_str().unwrap().to_string();
    let predicate = "period = '2026Q1'";

    // The CLI.
    for format in ["csv", "json", "xlsx"] {
        tonghop(&lake, &["export", "table", "province_indicators", "--where", predicate, "--format", format, "--out", &at(&format!("pi.{format}"))]);
    }
    tonghop(&lake, &["export", "report", "--unit", "04", "--period", "2026Q1", "--out", &format!("{}/", cli.display())]);
    let mapping_arg = mapping.to_str().unwrap();
    tonghop(
        &lake,
        &[
            "export",
            "dhis2",
            "--period",
            "2026Q1",
            "--unit",
            "04",
            "--level",
            "commune,province",
            "--mapping",
            mapping_arg,
            "--to",
            &format!("{}/", cli.display()),
        ],
    );
    tonghop(&lake, &["export", "portal", "province_indicators", "--where", predicate, "--push", &server.portal_url(), "--force"]);

    // The same requests as pipeline steps.
    let spec = dir.path().join("same.toml");
    std::fs::write(
        &spec,
        format!(
            r#"name = "same"
[[steps]]
name = "table"
kind = "export"
model = "province_indicators"
where = "{predicate}"
formats = ["csv", "json", "xlsx"]
to = "outbox/same/pi"

[[steps]]
name = "report"
kind = "report"
unit = "04"
period = "2026Q1"
to = "outbox/same"

[[steps]]
name = "dhis2"
kind = "dhis2"
periods = ["2026Q1"]
units = ["04"]
levels = ["commune", "province"]
mapping = "{mapping}"
formats = ["json"]
to = "outbox/same"

[[steps]]
name = "portal"
kind = "portal"
model = "province_indicators"
where = "{predicate}"
url = "{portal}"
force = true
"#,
            mapping = mapping.display(),
            portal = server.portal_url()
        ),
    )
    .unwrap();
    let out = tonghop(&lake, &["run", spec.to_str().unwrap()]);
    assert!(out.contains("accepted"), "{out}");
    let pipe = lake.join("outbox/same");

    for name in ["pi.csv", "pi.json", "dhis2_04_2026Q1.json"] {
        let (a, b) = (std::fs::read(cli.join(name)).unwrap(), std::fs::read(pipe.join(name)).unwrap());
        assert!(!a.is_empty() && a == b, "{name}: the CLI and the pipeline wrote different bytes");
    }
    for name in ["pi.xlsx", "bao_cao_04_2026Q1.xlsx"] {
        let cells = all_cells(&cli.join(name));
        assert!(cells.len() > 20, "{name}: {cells:?}");
        assert_eq!(cells, all_cells(&pipe.join(name)), "{name}: the CLI and the pipeline wrote different cells");
    }
    for name in ["pi.csv", "pi.json", "pi.xlsx", "bao_cao_04_2026Q1.xlsx", "dhis2_04_2026Q1.json"] {
        let sidecar = format!("{name}.versions.json");
        assert_eq!(record(&cli.join(&sidecar)), record(&pipe.join(&sidecar)), "{sidecar}");
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(pipe.join("pi.json")).unwrap()).unwrap();
    assert!(json.as_array().is_some_and(|rows| !rows.is_empty() && rows.iter().all(|r| r["period"] == "2026Q1")), "{json}");

    // Two pushes of one payload, each accepted, logged alike. (The portal answers the second with
    // 200 "duplicate" rather than 201, by its idempotency key: the answer differs, not the request.)
    let log = sql_rows(
        &lake,
        "SELECT kind, export, target, idempotency_key, payload_bytes, value_count, attempts, status, repeat_of, versions FROM export_log ORDER BY started_at",
    );
    assert_eq!(log.len(), 2, "{log:?}");
    let versions = |row: &[String]| {
        let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&row[9]).unwrap();
        v.remove("runs");
        v.remove("export_log");
        v
    };
    assert_eq!(log[0][..9], log[1][..9], "the CLI's and the pipeline's export_log rows differ");
    assert_eq!(versions(&log[0]), versions(&log[1]));
    assert_eq!((log[0][0].as_str(), log[0][7].as_str()), ("portal", "accepted"));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, requests[1].body, "the same payload");
}
