//! `tonghop serve` through real sockets: the HTTP API with reqwest, the PostgreSQL endpoint with
//! Debian's `psql`, the scheduler and SIGTERM.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::helpers::{make_token, psql, serve, sql_rows, Served};

/// A pipeline that only builds the models (fast on a small lake), optionally scheduled.
fn build_pipeline(dir: &Path, name: &str, schedule: Option<&str>) -> String {
    let path = dir.join(format!("{name}.toml"));
    let schedule = schedule.map(|s| format!("schedule = \"{s}\"\n")).unwrap_or_default();
    std::fs::write(&path, format!("name = \"{name}\"\n{schedule}\n[[steps]]\nname = \"build_models\"\nkind = \"build\"\n")).unwrap();
    path.display().to_string()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(600)).build().unwrap()
}

async fn post_csv(server: &Served, token: &str, csv: &str) -> (u16, Value) {
    let r = client().post(format!("{}/api/submissions?filename=bao_cao.csv", server.http)).bearer_auth(token).body(csv.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn sql_json(server: &Server, token: &str, query: &str) -> (u16, Value) {
    let r = client().post(format!("{}/sql", server.http)).bearer_auth(token).body(query.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

type Server = Served;

#[tokio::test(flavor = "multi_thread")]
async fn a_commune_submits_over_http_and_after_the_run_its_values_are_in_sql() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (ba_dinh, ba_dinh_entry) = make_token(&lake, "xa-ba-dinh", "commune", Some("post2025:00004"));
    let (ngoc_ha, ngoc_ha_entry) = make_token(&lake, "xa-ngoc-ha", "commune", Some("post2025:00008"));
    let (analyst, analyst_entry) = make_token(&lake, "phan-tich", "analyst", None);
    let (admin, admin_entry) = make_token(&lake, "quan-tri", "admin", None);
    let pipeline = build_pipeline(dir.path(), "build_only", None);
    let config = format!("[scheduler]\nenabled = false\npipelines = [\"{pipeline}\"]\n\n{ba_dinh_entry}\n{ngoc_ha_entry}\n{analyst_entry}\n{admin_entry}");
    let mut server = serve(&lake, &config);

    // No token, an unknown token: 401.
    let r = client().post(format!("{}/api/submissions", server.http)).body("x").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (status, _) = post_csv(&server, "th_not_a_token", "period,org_unit,data_element,value\n").await;
    assert_eq!(status, 401);

    // Ba Đình submits its own figures: one good row, one negative value refused with a reason.
    let csv = "period,org_unit,data_element,value\n202609,00004,DS_TONG,23500\n202609,00004,DS_BHYT,-5\n202609,00004,DS_BHYT,22100\n";
    let (status, receipt) = post_csv(&server, &ba_dinh, csv).await;
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["status"], "partly_accepted", "{receipt}");
    assert_eq!(receipt["accepted"], 2);
    assert_eq!(receipt["rejected"], 1);
    assert_eq!(receipt["rejections"][0]["reason"], "value_negative", "{receipt}");
    assert_eq!(receipt["rejections"][0]["field"], "value");
    assert!(!receipt["rejections"][0]["message_vi"].as_str().unwrap().is_ascii(), "a Vietnamese message: {receipt}");
    let id = receipt["submission_id"].as_str().unwrap().to_string();

    // The same file again: answered as a duplicate, nothing written twice.
    let (status, again) = post_csv(&server, &ba_dinh, csv).await;
    assert_eq!((status, &again["duplicate"], &again["submission_id"]), (200, &Value::Bool(true), &Value::String(id.clone())));

    // Ba Đình may not submit for Ngọc Hà: 403, with the unit named, and nothing of the file kept.
    let (status, denied) = post_csv(&server, &ba_dinh, "period,org_unit,data_element,value\n202609,00004,KCB_TONG,10\n202609,00008,DS_TONG,18000\n").await;
    assert_eq!(status, 403, "{denied}");
    assert!(denied["error"].as_str().unwrap().contains("post2025:00008"), "{denied}");
    assert!(denied["message_vi"].as_str().unwrap().contains("không được gửi"), "{denied}");
    assert!(server.log_text().contains("denied"), "denials are logged");

    // Ngọc Hà submits its own.
    let (status, _) = post_csv(&server, &ngoc_ha, "period,org_unit,data_element,value\n202609,00008,DS_TONG,18000\n").await;
    assert_eq!(status, 201);

    // The receipt: to its sender and to readers, not to another commune.
    let get = |token: &str| client().get(format!("{}/api/submissions/{id}", server.http)).bearer_auth(token.to_string()).send();
    assert_eq!(get(&ba_dinh).await.unwrap().status().as_u16(), 200);
    assert_eq!(get(&analyst).await.unwrap().status().as_u16(), 200);
    assert_eq!(get(&ngoc_ha).await.unwrap().status().as_u16(), 403);

    // Roles: a commune cannot query, an analyst cannot start a run or submit.
    assert_eq!(sql_json(&server, &ba_dinh, "SELECT 1").await.0, 403);
    assert_eq!(client().post(format!("{}/api/runs/build_only", server.http)).bearer_auth(&analyst).send().await.unwrap().status().as_u16(), 403);
    assert_eq!(post_csv(&server, &analyst, "period,org_unit,data_element,value\n").await.0, 403);

    // The admin runs the pipeline and waits; then the values are in SQL.
    let r = client().post(format!("{}/api/runs/build_only?wait=true", server.http)).bearer_auth(&admin).send().await.unwrap();
    let status = r.status().as_u16();
    let run: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{run}");
    let (status, rows) =
        sql_json(&server, &analyst, "SELECT org_unit, data_element, value FROM stg_data_values WHERE period = '202609' ORDER BY org_unit, data_element").await;
    assert_eq!(status, 200, "{rows}");
    let got: Vec<(String, String, f64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["org_unit"].as_str().unwrap().into(), r["data_element"].as_str().unwrap().into(), r["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![("00004".into(), "DS_BHYT".into(), 22100.0), ("00004".into(), "DS_TONG".into(), 23500.0), ("00008".into(), "DS_TONG".into(), 18000.0)]
    );

    // CSV and Arrow IPC answers.
    let csv = client()
        .post(format!("{}/sql?format=csv", server.http))
        .bearer_auth(&analyst)
        .body("SELECT count(*) AS n FROM submissions")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.trim(), "n\n2");
    let arrow_bytes = client()
        .post(format!("{}/sql", server.http))
        .bearer_auth(&analyst)
        .header("accept", "application/vnd.apache.arrow.stream")
        .body("SELECT org_unit FROM submissions_by_unit_dummy")
        .send()
        .await
        .unwrap();
    assert_eq!(arrow_bytes.status().as_u16(), 400, "an unknown table is a 400 with DataFusion's message");
    let bytes = client()
        .post(format!("{}/sql?format=arrow", server.http))
        .bearer_auth(&analyst)
        .body("SELECT submission_id FROM submissions ORDER BY submission_id")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes.to_vec()), None).unwrap();
    let n: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(n, 2);

    // Read-only: DDL and DML are refused.
    let (status, e) = sql_json(&server, &analyst, "CREATE TABLE x AS SELECT 1").await;
    assert_eq!(status, 403, "{e}");

    // Runs and metrics.
    let runs: Value = client().get(format!("{}/api/runs", server.http)).bearer_auth(&analyst).send().await.unwrap().json().await.unwrap();
    assert_eq!(runs[0]["trigger"], "api:quan-tri", "{runs}");
    assert_eq!(runs[0]["status"], "succeeded", "{runs}");
    // The pipeline filter is a bound parameter: a name with a quote is just a name that ran nothing.
    let runs_of = |name: &'static str| {
        let url = format!("{}/api/runs", server.http);
        let token = analyst.clone();
        async move { client().get(url).query(&[("pipeline", name)]).bearer_auth(token).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let filtered = runs_of("build_only").await;
    assert!(!filtered.as_array().unwrap().is_empty() && filtered.as_array().unwrap().iter().all(|r| r["pipeline"] == "build_only"), "{filtered}");
    assert_eq!(runs_of("build_only' OR '1'='1").await, serde_json::json!([]));
    let metrics = client().get(format!("{}/metrics", server.http)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("tonghop_submissions_total{status=\"partly_accepted\"} 1"), "{metrics}");
    assert!(metrics.contains("tonghop_submissions_total{status=\"duplicate\"} 1"), "{metrics}");
    assert!(metrics.contains("tonghop_denied_requests_total{reason=\"forbidden\"}"), "{metrics}");
    assert!(metrics.contains("tonghop_pipeline_run_duration_seconds"), "{metrics}");
    assert!(server.stop(), "SIGTERM ends the service cleanly");

    // Independent check from another process reading the lake: the submissions are committed.
    let rows = sql_rows(&lake, "SELECT submitted_by, status, rows_accepted FROM submissions ORDER BY submitted_by");
    assert_eq!(rows, vec![vec!["token:xa-ba-dinh", "partly_accepted", "2"], vec!["token:xa-ngoc-ha", "accepted", "1"]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_concurrent_submissions_are_all_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (admin, admin_entry) = make_token(&lake, "tinh", "admin", None);
    let server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n\n{admin_entry}"));
    let wards = std::fs::read_to_string(crate::helpers::repo_root().join("reference/admin-units/post2025/wards_3321_2025-07-01.csv")).unwrap();
    let codes: Vec<String> = wards.lines().skip(1).take(200).map(|l| l.split(',').next().unwrap().to_string()).collect();
    // Every 10th file has a refused row; every 40th cannot be read at all.
    let files: Vec<(String, String)> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let body = if i % 40 == 39 {
                format!("this is not a report {i}\u{0}\u{1}")
            } else if i % 10 == 9 {
                format!("period,org_unit,data_element,value\n202610,{code},DS_TONG,{}\n202610,{code},DS_BHYT,abc\n", 1000 + i)
            } else {
                format!("period,org_unit,data_element,value\n202610,{code},DS_TONG,{}\n202610,{code},DS_BHYT,{}\n", 1000 + i, 900 + i)
            };
            (code.clone(), body)
        })
        .collect();
    let client = client();
    let tasks: Vec<_> = files
        .iter()
        .map(|(code, body)| {
            let (client, url, token, body, code) =
                (client.clone(), format!("{}/api/submissions?filename={code}.csv", server.http), admin.clone(), body.clone(), code.clone());
            tokio::spawn(async move {
                let r = client.post(url).bearer_auth(token).body(body).send().await.unwrap();
                let status = r.status().as_u16();
                (code, status, r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let (mut accepted_values, mut rejected_rows) = (0, 0);
    let mut ids = std::collections::HashSet::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let (code, status, receipt) = t.await.unwrap();
        let expected = if i % 40 == 39 {
            (422, "failed")
        } else if i % 10 == 9 {
            (201, "partly_accepted")
        } else {
            (201, "accepted")
        };
        assert_eq!((status, receipt["status"].as_str().unwrap()), expected, "{code}: {receipt}");
        if expected.1 == "partly_accepted" {
            assert_eq!(receipt["rejections"][0]["reason"], "value_not_numeric", "{receipt}");
        }
        accepted_values += receipt["accepted"].as_u64().unwrap();
        rejected_rows += receipt["rejected"].as_u64().unwrap();
        ids.insert(receipt["submission_id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 200);
    drop(server);
    // From another process: 200 submissions, every accepted value, every rejection.
    let rows = sql_rows(
        &lake,
        "SELECT (SELECT count(DISTINCT submission_id) FROM submissions) AS s, (SELECT count(*) FROM data_values) AS v, (SELECT count(*) FROM rejections) AS r",
    );
    assert_eq!(rows, vec![vec!["200".to_string(), accepted_values.to_string(), rejected_rows.to_string()]]);
    // 180 good files of two values, 15 with one of two, 5 unreadable.
    assert_eq!((accepted_values, rejected_rows), (375, 15));
}

#[test]
fn psql_logs_in_lists_tables_queries_and_is_refused_ddl_and_a_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = crate::helpers::tonghop_command(&lake, &["passwd", "analyst"]).env("TONGHOP_PG_PASSWORD", "mật-khẩu-dài").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let user = String::from_utf8(out.stdout).unwrap();
    assert!(!user.contains("mật-khẩu-dài"), "only StoredKey and ServerKey are stored");
    let mut server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n\n[postgres]\nlisten = \"127.0.0.1:0\"\n\n{user}"));
    let port = server.pg_port.unwrap();

    let out = psql(port, "analyst", "mật-khẩu-dài", "\\dt");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{}", text, String::from_utf8_lossy(&out.stderr));
    for table in ["units", "data_values", "submissions"] {
        assert!(text.contains(table), "\\dt lists {table}:\n{text}");
    }

    let out = psql(port, "analyst", "mật-khẩu-dài", "SELECT name FROM units WHERE epoch = 'post2025' AND level = 'province' AND code = '01'");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Hà Nội"), "{}", String::from_utf8_lossy(&out.stdout));

    for ddl in ["CREATE TABLE x (a INT)", "INSERT INTO submissions SELECT * FROM submissions", "DROP VIEW units"] {
        let out = psql(port, "analyst", "mật-khẩu-dài", ddl);
        assert!(!out.status.success(), "{ddl} must be refused");
        assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"), "{ddl}: {}", String::from_utf8_lossy(&out.stderr));
    }

    let out = psql(port, "analyst", "wrong password", "SELECT 1");
    assert!(!out.status.success());
    let wrong_password = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(wrong_password.to_lowercase().contains("password authentication failed"), "{wrong_password}");
    // An unknown name gets the same answer (named differently), so names cannot be probed.
    let out = psql(port, "nobody", "mật-khẩu-dài", "SELECT 1");
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr).replace("nobody", "analyst"), wrong_password);
    assert!(server.stop());
    assert!(server.log_text().contains("wrong password"), "failed logins are logged:\n{}", server.log_text());
}

/// What DBeaver, Metabase and other JDBC tools do, through a real driver (tokio-postgres): SCRAM
/// login, prepared statements with parameters over the extended query protocol, typed results, and
/// the catalog queries of a database browser.
#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_driver_prepares_binds_and_browses_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = crate::helpers::tonghop_command(&lake, &["passwd", "metabase"]).env("TONGHOP_PG_PASSWORD", "mật-khẩu-dài").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let user = String::from_utf8(out.stdout).unwrap();
    let server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n\n[postgres]\nlisten = \"127.0.0.1:0\"\n\n{user}"));
    let connect = |password: &str| {
        let config = format!("host=127.0.0.1 port={} user=metabase password='{password}' dbname=tonghop connect_timeout=20", server.pg_port.unwrap());
        async move { tokio_postgres::connect(&config, tokio_postgres::NoTls).await }
    };
    let (client, connection) = connect("mật-khẩu-dài").await.expect("SCRAM login");
    tokio::spawn(connection);

    // A prepared statement, executed twice with different parameters.
    let statement = client.prepare("SELECT code, name FROM units WHERE epoch = $1 AND level = $2 AND code = $3").await.expect("prepare");
    let row = client.query_one(&statement, &[&"post2025", &"province", &"01"]).await.expect("bind and execute");
    assert_eq!((row.get::<_, String>(0), row.get::<_, String>(1)), ("01".to_string(), "Hà Nội".to_string()));
    let row = client.query_one(&statement, &[&"pre2025", &"province", &"01"]).await.expect("execute again");
    assert_eq!(row.get::<_, String>(1), "Hà Nội");
    let rows = client.query("SELECT count(*) AS n FROM units WHERE epoch = $1 AND level = 'commune'", &[&"post2025"]).await.expect("count");
    assert_eq!(rows[0].get::<_, i64>(0), 3321);

    // A browser's view of the database: schemas, tables, columns.
    let schemas: Vec<String> =
        client.query("SELECT nspname FROM pg_catalog.pg_namespace ORDER BY nspname", &[]).await.expect("pg_namespace").iter().map(|r| r.get(0)).collect();
    assert!(schemas.contains(&"public".to_string()), "{schemas:?}");
    let tables: Vec<String> = client
        .query("SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY c.relname", &[])
        .await
        .expect("pg_class")
        .iter()
        .map(|r| r.get(0))
        .collect();
    for table in ["units", "data_values", "submissions"] {
        assert!(tables.contains(&table.to_string()), "{table} is listed: {tables:?}");
    }
    let columns: Vec<String> = client
        .query("SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position", &[&"units"])
        .await
        .expect("information_schema.columns")
        .iter()
        .map(|r| r.get(0))
        .collect();
    for column in ["epoch", "level", "code", "name"] {
        assert!(columns.contains(&column.to_string()), "units.{column} is listed: {columns:?}");
    }

    // Read-only through the driver too, and a wrong password is refused.
    let e = client.batch_execute("CREATE TABLE x (a INT)").await.expect_err("DDL refused");
    assert!(format!("{e:?}").contains("read-only"), "{e:?}");
    let e = connect("sai mật khẩu").await.err().expect("wrong password refused");
    assert!(format!("{e:?}").to_lowercase().contains("password"), "{e:?}");
}

#[test]
fn the_scheduler_runs_on_its_slots_and_catches_up_once_after_downtime() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let pipeline = build_pipeline(dir.path(), "every_5s", Some("*/5 * * * * *"));
    let config = format!("[scheduler]\npipelines = [\"{pipeline}\"]\n[postgres]\nenabled = false\n");
    let mut server = serve(&lake, &config);
    let runs = |lake: &Path| {
        sql_rows(lake, "SELECT count(*) FROM runs WHERE pipeline = 'every_5s' AND trigger = 'schedule' AND status = 'succeeded'")[0][0]
            .parse::<usize>()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while runs(&lake) < 1 {
        assert!(std::time::Instant::now() < deadline, "no scheduled run within 120 s:\n{}", server.log_text());
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(server.stop(), "SIGTERM ends the service cleanly:\n{}", server.log_text());
    let before = runs(&lake);
    // Down for more than two slots; on restart the missed slots run once.
    std::thread::sleep(std::time::Duration::from_secs(11));
    let mut server = serve(&lake, &config);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !server.log_text().contains("missed") {
        assert!(std::time::Instant::now() < deadline, "no catch-up:\n{}", server.log_text());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(server.log_text().matches("was missed").count(), 1, "{}", server.log_text());
    while runs(&lake) <= before {
        assert!(std::time::Instant::now() < deadline, "the catch-up run did not finish:\n{}", server.log_text());
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(server.stop());
    // Runs of one pipeline never overlap: each run's start comes after the previous one's end.
    let rows = sql_rows(&lake, "SELECT started_at, finished_at FROM runs WHERE pipeline = 'every_5s' ORDER BY started_at");
    for pair in rows.windows(2) {
        assert!(pair[1][0] >= pair[0][1], "overlapping runs: {pair:?}");
    }
}

#[test]
fn psql_connects_over_tls_when_a_certificate_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (cert, key) = crate::helpers::self_signed(dir.path(), "localhost", None);
    let out = crate::helpers::tonghop_command(&lake, &["passwd", "analyst"]).env("TONGHOP_PG_PASSWORD", "another-long-one").output().unwrap();
    let user = String::from_utf8(out.stdout).unwrap();
    let config = format!(
        "[scheduler]\nenabled = false\npipelines = []\n\n[postgres]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\n{user}",
        cert.display(),
        key.display()
    );
    let server = serve(&lake, &config);
    let port = server.pg_port.unwrap().to_string();
    let out = Command::new("psql")
        .env("PGPASSWORD", "another-long-one")
        .args(["-X", "-c", "\\conninfo", "-c", "SELECT 1 AS one"])
        .arg(format!("host=127.0.0.1 port={port} user=analyst dbname=tonghop sslmode=require"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("SSL connection"), "{text}");

    // Over TLS the login binds the channel (SCRAM-SHA-256-PLUS) when the client requires it; a wrong
    // password still fails; without TLS the login is plain SCRAM-SHA-256, and a client requiring a
    // bound channel there refuses to go on.
    let psql = |password: &str, options: &str| {
        Command::new("psql")
            .env("PGPASSWORD", password)
            .args(["-X", "-tA", "-c", "SELECT 40 + 2"])
            .arg(format!("host=127.0.0.1 port={port} user=analyst dbname=tonghop {options}"))
            .output()
            .unwrap()
    };
    let out = psql("another-long-one", "sslmode=require channel_binding=require");
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "42", "{}", String::from_utf8_lossy(&out.stderr));
    let out = psql("wrong-one", "sslmode=require channel_binding=require");
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).to_lowercase().contains("password authentication failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = psql("another-long-one", "sslmode=disable");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = psql("another-long-one", "sslmode=disable channel_binding=require");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("channel binding"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// With `http.tls_cert` and `http.tls_key` the API speaks only HTTPS: curl (its own TLS stack)
/// verifies the certificate for 127.0.0.1 and gets the answer; plain HTTP to the port gets none.
#[test]
fn the_api_speaks_https_when_a_certificate_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (cert, key) = crate::helpers::self_signed(dir.path(), "127.0.0.1", Some("IP:127.0.0.1"));
    let config = format!(
        "[scheduler]\nenabled = false\npipelines = []\n\n[http]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\n[postgres]\nenabled = false\n",
        cert.display(),
        key.display()
    );
    let server = serve(&lake, &config);
    assert!(server.http.starts_with("https://127.0.0.1:"), "{}", server.http);
    let curl =
        |url: String| Command::new("curl").args(["-sS", "-i", "--max-time", "20", "--cacert"]).arg(&cert).arg(url).output().expect("curl must be installed");
    let out = curl(format!("{}/health", server.http));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("HTTP/1.1 200") && text.contains("\"status\":\"ok\"") && text.to_lowercase().contains("x-frame-options: deny"), "{text}");
    let out = curl(server.http.replace("https://", "http://") + "/health");
    assert!(!out.status.success() || !String::from_utf8_lossy(&out.stdout).contains("200"), "plain HTTP must not be answered");
}

/// `project =` in the configuration file is the project the service reads: started from a folder
/// that holds no project, with neither --project nor TONGHOP_PROJECT.
#[tokio::test(flavor = "multi_thread")]
async fn the_configuration_file_names_the_project() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let config = dir.path().join("tonghop.toml");
    let project = crate::helpers::repo_root();
    let lake = dir.path().join("lake");
    std::fs::write(
        &config,
        format!(
            "project = \"{}\"\nlake = \"{}\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n[scheduler]\nenabled = false\npipelines = []\n",
            project.display(),
            lake.display()
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tonghop"));
    command.current_dir(&elsewhere).env_remove("TONGHOP_PROJECT").env_remove("TONGHOP_LAKE").args(["-q", "serve", "--config", config.to_str().unwrap()]);
    let mut server = Served::start(command, dir.path());
    let health = client().get(format!("{}/health", server.http)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200, "{}", server.log_text());
    assert!(server.stop());
}

/// A run that fails, started over HTTP with `?wait=true`, is answered like every 500: what failed
/// and an incident id, no lake path; the error itself is in the run's row (GET /api/runs).
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_is_answered_with_an_incident_id_and_its_error_is_in_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // The export's folder cannot be made: a file stands in its way.
    std::fs::create_dir_all(&lake).unwrap();
    std::fs::write(lake.join("blocker"), "not a folder").unwrap();
    let pipeline = dir.path().join("blocked.toml");
    std::fs::write(
        &pipeline,
        "name = \"blocked\"\n\n[[steps]]\nname = \"export_units\"\nkind = \"export\"\nmodel = \"units\"\nformats = [\"csv\"]\nto = \"blocker/units\"\n",
    )
    .unwrap();
    let (admin, entry) = make_token(&lake, "quan-tri", "admin", None);
    let server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = [\"{}\"]\n[postgres]\nenabled = false\n\n{entry}", pipeline.display()));
    let r = client().post(format!("{}/api/runs/blocked?wait=true", server.http)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let body = r.text().await.unwrap();
    assert!(body.contains("running pipeline blocked") && body.contains("incident"), "{body}");
    assert!(!body.contains(dir.path().to_str().unwrap()), "a server path in the answer: {body}");
    let runs: Value = client().get(format!("{}/api/runs?pipeline=blocked", server.http)).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(runs[0]["status"], "failed", "{runs}");
    assert!(runs[0]["error"].as_str().is_some_and(|e| e.contains("export_units")), "{runs}");
}

/// Every answer carries the safe headers (errors and unknown routes too), and `/health` tells an
/// anonymous caller its status and version but not where the lake is; an analyst sees that, and an
/// unknown token is refused there as anywhere.
#[tokio::test(flavor = "multi_thread")]
async fn answers_carry_security_headers_and_health_hides_the_lake_from_anonymous_callers() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (analyst, entry) = make_token(&lake, "phan-tich", "analyst", None);
    let server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n[postgres]\nenabled = false\n\n{entry}"));
    let http = client();
    let answers = [
        http.get(format!("{}/health", server.http)).send().await.unwrap(),
        http.post(format!("{}/sql", server.http)).bearer_auth(&analyst).body("SELECT 1").send().await.unwrap(),
        http.post(format!("{}/sql", server.http)).body("SELECT 1").send().await.unwrap(),
        http.get(format!("{}/no/such/route", server.http)).send().await.unwrap(),
    ];
    for (answer, status) in answers.into_iter().zip([200, 200, 401, 404]) {
        assert_eq!(answer.status().as_u16(), status);
        let headers = answer.headers();
        for (name, value) in
            [("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer"), ("x-frame-options", "DENY"), ("cache-control", "no-store")]
        {
            assert_eq!(headers.get(name).and_then(|v| v.to_str().ok()), Some(value), "{name} on a {status} answer");
        }
    }
    let anonymous: Value = http.get(format!("{}/health", server.http)).send().await.unwrap().json().await.unwrap();
    assert_eq!(anonymous["status"], "ok");
    assert!(anonymous.get("lake").is_none() && !anonymous.to_string().contains(dir.path().to_str().unwrap()), "{anonymous}");
    let analyst_view: Value = http.get(format!("{}/health", server.http)).bearer_auth(&analyst).send().await.unwrap().json().await.unwrap();
    assert!(analyst_view["lake"].as_str().is_some_and(|l| l.contains(lake.to_str().unwrap())), "{analyst_view}");
    assert_eq!(http.get(format!("{}/health", server.http)).bearer_auth("not-a-token").send().await.unwrap().status().as_u16(), 401);
}
