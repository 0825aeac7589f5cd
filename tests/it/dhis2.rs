//! `tonghop export dhis2`, `export portal` and the `dhis2`, `report` and `portal` pipeline steps on a
//! one-province demo lake: exported values against a computation made here from the monthly values
//! (each element's time aggregation, then the sum over communes); unmapped codes refused by name;
//! pushes to the local DHIS2 and portal server of `tonghop-testkit` over real sockets, a 503 retried,
//! a re-push logged as a repeat, every push in `export_log`.

use std::collections::HashMap;
use std::path::Path;

use tonghop_testkit::{basic, Server};

use crate::helpers::{q1_demo_lake, sql_rows, tonghop, tonghop_command, tonghop_raw};

/// Writes an id mapping: every unit of province 04 (post2025) as `OU<code>`, every data element as
/// `DE_<code>` except those in `leave_out`.
pub(crate) fn write_mapping(lake: &Path, path: &Path, leave_out: &[&str]) {
    let mut text = String::from("kind,dhis2,tonghop\n# test mapping\n");
    for row in sql_rows(lake, "SELECT code FROM units WHERE epoch = 'post2025' AND (code = '04' OR (level = 'commune' AND province_code = '04')) ORDER BY code")
    {
        text.push_str(&format!("org_unit,OU{0},{0}\n", row[0]));
    }
    for row in sql_rows(lake, "SELECT code FROM data_elements ORDER BY code") {
        if !leave_out.contains(&row[0].as_str()) {
            text.push_str(&format!("data_element,DE_{0},{0}\n", row[0]));
        }
    }
    std::fs::write(path, text).unwrap();
}

/// The values of 2026Q1 computed here from `monthly_values`: per commune by the element's time
/// aggregation (sum, last month with a value, average), then summed for the province. Keyed by
/// (DHIS2 org unit, DHIS2 data element).
fn expected_q1(lake: &Path) -> HashMap<(String, String), f64> {
    let aggregation: HashMap<String, String> =
        sql_rows(lake, "SELECT code, time_aggregation FROM data_elements").into_iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    let mut months: HashMap<(String, String), Vec<(String, f64)>> = HashMap::new();
    for r in sql_rows(lake, "SELECT org_unit, data_element, period, value FROM monthly_values WHERE epoch = 'post2025' AND period IN ('202601', '202602', '202603') AND value IS NOT NULL") {
        months.entry((r[0].clone(), r[1].clone())).or_default().push((r[2].clone(), r[3].parse().unwrap()));
    }
    let mut out = HashMap::new();
    for ((commune, element), mut series) in months {
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let values: Vec<f64> = series.iter().map(|(_, v)| *v).collect();
        let value = match aggregation[&element].as_str() {
            "sum" => values.iter().sum(),
            "average" => values.iter().sum::<f64>() / values.len() as f64,
            _ => *values.last().unwrap(),
        };
        out.insert((format!("OU{commune}"), format!("DE_{element}")), value);
        *out.entry(("OU04".to_string(), format!("DE_{element}"))).or_insert(0.0) += value;
    }
    out
}

fn data_values(bytes: &[u8]) -> Vec<serde_json::Value> {
    let set: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    set["dataValues"].as_array().unwrap().clone()
}

#[test]
fn dhis2_exports_pushes_and_pipeline_steps() {
    let dir = tempfile::tempdir().unwrap();
    let lake = q1_demo_lake(dir.path());

    // A mapping without KCB_TONG: refused, naming the element and the way out.
    let partial = dir.path().join("partial.csv");
    write_mapping(&lake, &partial, &["KCB_TONG"]);
    let args = |mapping: &Path, extra: &[&str]| {
        let mut a: Vec<String> =
            ["export", "dhis2", "--period", "2026Q1", "--unit", "04", "--level", "commune,province", "--mapping"].iter().map(|s| s.to_string()).collect();
        a.push(mapping.to_str().unwrap().to_string());
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: &[String]| tonghop_raw(&lake, &a.iter().map(String::as_str).collect::<Vec<_>>());
    let out = run(&args(&partial, &["--to", dir.path().join("x.json").to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("data elements KCB_TONG") && stderr.contains("--skip-unmapped") && stderr.contains("partial.csv"), "{stderr}");
    let out = run(&args(&partial, &["--to", dir.path().join("skipped.json").to_str().unwrap(), "--skip-unmapped"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("left out without a DHIS2 id") && stdout.contains("KCB_TONG"), "{stdout}");
    // A mapping with the elements but no unit: with --skip-unmapped nothing would be left to send,
    // and the answer names the missing ids (not "no indicator values").
    let no_units = dir.path().join("no_units.csv");
    let text: String = std::fs::read_to_string(&partial).unwrap().lines().filter(|l| !l.starts_with("org_unit,")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&no_units, text).unwrap();
    let out = run(&args(&no_units, &["--to", dir.path().join("none.json").to_str().unwrap(), "--skip-unmapped"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("no DHIS2 id for units") && stderr.contains("no_units.csv"), "{stderr}");
    assert!(!stderr.contains("no indicator values"), "{stderr}");
    assert!(!dir.path().join("none.json").exists());

    // The full mapping: every value equal to the computation made here.
    let mapping = dir.path().join("mapping.csv");
    write_mapping(&lake, &mapping, &[]);
    let json_path = dir.path().join("q1.json");
    tonghop(&lake, &args(&mapping, &["--to", json_path.to_str().unwrap(), "--data-set", "BfMAe6Itzgt"]).iter().map(String::as_str).collect::<Vec<_>>());
    let bytes = std::fs::read(&json_path).unwrap();
    let set: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(set["dataSet"], "BfMAe6Itzgt");
    let values = data_values(&bytes);
    let expected = expected_q1(&lake);
    assert_eq!(values.len(), expected.len(), "one value per unit and data element with data");
    for v in &values {
        let key = (v["orgUnit"].as_str().unwrap().to_string(), v["dataElement"].as_str().unwrap().to_string());
        let got: f64 = v["value"].as_str().unwrap().parse().unwrap();
        let want = expected.get(&key).unwrap_or_else(|| panic!("unexpected value {v}"));
        assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "{key:?}: exported {got}, computed {want}");
        assert_eq!(
            (v["period"].as_str(), v["categoryOptionCombo"].as_str(), v["attributeOptionCombo"].as_str()),
            (Some("2026Q1"), Some("HllvX50cXC0"), Some("HllvX50cXC0"))
        );
    }
    let skipped = data_values(&std::fs::read(dir.path().join("skipped.json")).unwrap());
    assert_eq!(skipped.len(), values.len() - values.iter().filter(|v| v["dataElement"] == "DE_KCB_TONG").count());
    let sidecar: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("q1.json.versions.json")).unwrap()).unwrap();
    assert!(sidecar["versions"]["models.monthly_values"].as_i64().is_some(), "{sidecar}");

    // Rebuilt from the recorded versions: the same bytes.
    let again = dir.path().join("again.json");
    let sidecar_path = dir.path().join("q1.json.versions.json");
    tonghop(
        &lake,
        &args(&mapping, &["--to", again.to_str().unwrap(), "--data-set", "BfMAe6Itzgt", "--as-of-versions", sidecar_path.to_str().unwrap()])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(std::fs::read(&again).unwrap(), bytes, "--as-of-versions rebuilds the same payload");

    // March's commune values, read back by ingest's own DHIS2 reader through the same mapping into a
    // second lake, are the monthly values they came from.
    let march = dir.path().join("march.json");
    tonghop(
        &lake,
        &[
            "export",
            "dhis2",
            "--period",
            "202603",
            "--unit",
            "04",
            "--level",
            "commune",
            "--mapping",
            mapping.to_str().unwrap(),
            "--to",
            march.to_str().unwrap(),
        ],
    );
    let other = dir.path().join("other/lake");
    let out = tonghop(&other, &["ingest", march.to_str().unwrap(), "--mapping", mapping.to_str().unwrap()]);
    assert!(out.contains("accepted") && !out.contains("rejected ("), "{out}");
    let query = |table: &str| format!("SELECT org_unit, data_element, value FROM {table} WHERE epoch = 'post2025' AND period = '202603' ORDER BY 1, 2");
    let back = sql_rows(&other, &query("data_values"));
    assert!(!back.is_empty());
    assert_eq!(back, sql_rows(&lake, &query("monthly_values")));

    // The same as DHIS2 CSV.
    let csv_path = dir.path().join("q1.csv");
    tonghop(&lake, &args(&mapping, &["--format", "csv", "--to", csv_path.to_str().unwrap()]).iter().map(String::as_str).collect::<Vec<_>>());
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["dataelement", "period", "orgunit", "categoryoptioncombo", "attributeoptioncombo", "value", "storedby", "lastupdated", "comment", "followup"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), values.len());
    assert_eq!(
        (&rows[0][0], &rows[0][2], &rows[0][5]),
        (values[0]["dataElement"].as_str().unwrap(), values[0]["orgUnit"].as_str().unwrap(), values[0]["value"].as_str().unwrap())
    );

    // Push to DHIS2 with basic auth; the first answer is a 503.
    let server = Server::start();
    server.require_authorization(Some(&basic("admin", "district")));
    server.fail_next(1);
    let push = |extra: &[&str]| {
        let mut a = vec![
            "export",
            "dhis2",
            "--period",
            "2026Q1",
            "--unit",
            "04",
            "--mapping",
            mapping.to_str().unwrap(),
            "--push",
            server.url(),
            "--user",
            "admin",
            "--retry-delay-ms",
            "50",
        ];
        a.extend_from_slice(extra);
        tonghop_command(&lake, &a).env("TONGHOP_DHIS2_PASSWORD", "district").output().unwrap()
    };
    let out = push(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("imported (2 attempt(s), HTTP 200)"), "{stdout}");
    let province_values = values.iter().filter(|v| v["orgUnit"] == "OU04").count();
    assert_eq!(server.values().len(), province_values, "the province level by default");
    assert_eq!(server.requests().len(), 2);
    let out = push(&[]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("repeat"), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(server.requests().len(), 2, "a repeat is not sent");
    // No password in the environment: said so, nothing sent.
    let out = tonghop_raw(
        &lake,
        &["export", "dhis2", "--period", "2026Q1", "--unit", "04", "--mapping", mapping.to_str().unwrap(), "--push", server.url(), "--user", "admin"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("TONGHOP_DHIS2_PASSWORD"), "{}", String::from_utf8_lossy(&out.stderr));

    let log = sql_rows(&lake, "SELECT kind, status, attempts, http_status, imported, versions, repeat_of IS NOT NULL FROM export_log ORDER BY started_at");
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!((log[0][0].as_str(), log[0][1].as_str(), log[0][2].as_str(), log[0][3].as_str()), ("dhis2", "imported", "2", "200"));
    assert_eq!(log[0][4], province_values.to_string());
    assert!(log[0][5].contains("models.monthly_values"), "{}", log[0][5]);
    assert_eq!((log[1][1].as_str(), log[1][2].as_str(), log[1][6].as_str()), ("repeat", "0", "true"));

    // Pipeline steps: a DHIS2 file and a report in the outbox, a portal push retried after a 503.
    server.require_authorization(None);
    let spec = dir.path().join("exports.toml");
    std::fs::write(
        &spec,
        format!(
            r#"name = "exports"
[[steps]]
name = "dhis2_file"
kind = "dhis2"
periods = ["202603"]
units = ["04"]
levels = ["commune", "province"]
mapping = "{mapping}"
formats = ["json", "csv"]
to = "outbox/dhis2"

[[steps]]
name = "report"
kind = "report"
unit = "04"
period = "2026Q1"
to = "outbox/reports"

[[steps]]
name = "portal"
kind = "portal"
model = "province_indicators"
where = "period = '2026Q1'"
url = "{portal}"
push_retry = {{ delay_ms = 50 }}
"#,
            mapping = mapping.display(),
            portal = server.portal_url()
        ),
    )
    .unwrap();
    let out = tonghop(&lake, &["validate", spec.to_str().unwrap()]);
    assert!(out.contains("ok:"), "{out}");
    let before = server.requests().len();
    server.fail_next(1);
    let out = tonghop(&lake, &["run", spec.to_str().unwrap()]);
    assert!(out.contains("dhis2_file") && out.contains("accepted (2 attempt(s), HTTP 201)"), "{out}");
    let month = data_values(&std::fs::read(lake.join("outbox/dhis2/dhis2_04_202603.json")).unwrap());
    assert!(month.iter().any(|v| v["orgUnit"] == "OU04") && month.iter().all(|v| v["period"] == "202603"));
    assert!(lake.join("outbox/dhis2/dhis2_04_202603.csv").is_file() && lake.join("outbox/dhis2/dhis2_04_202603.json.versions.json").is_file());
    assert!(lake.join("outbox/reports/bao_cao_04_2026Q1.xlsx").is_file() && lake.join("outbox/reports/bao_cao_04_2026Q1.xlsx.versions.json").is_file());
    let requests = &server.requests()[before..];
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].idempotency_key, requests[1].idempotency_key, "the retry carries the same key");
    let payload: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
    let rows = payload["rows"].as_array().unwrap();
    assert_eq!(payload["table"], "province_indicators");
    assert!(!rows.is_empty() && rows.iter().all(|r| r["period"] == "2026Q1" && r["province_code"] == "04"), "{payload}");
    let portal = sql_rows(&lake, "SELECT status, attempts, http_status, value_count, idempotency_key FROM export_log WHERE kind = 'portal'");
    assert_eq!((portal[0][0].as_str(), portal[0][1].as_str(), portal[0][2].as_str()), ("accepted", "2", "201"));
    assert_eq!(portal[0][3], rows.len().to_string());
    assert_eq!(Some(portal[0][4].as_str()), requests[0].idempotency_key.as_deref());
}
