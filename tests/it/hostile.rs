//! Hostile and careless input against the real binary (issue 15): statements that would write a
//! file, change a table or change the shared session, sent over every SQL entry point — psql
//! (simple protocol), a driver's extended protocol (tokio-postgres), HTTP `/sql` and `tonghop sql`.
//! Each is refused, no file appears, the reference tables are unchanged, and another connection
//! sees nothing of it.

use std::path::Path;

use crate::helpers::{make_token, serve, tonghop_raw};

/// Statements that must be refused, with `{dir}` standing for a folder the service can write.
const HOSTILE: [&str; 12] = [
    "COPY (SELECT 1 AS a) TO '{dir}/copied.csv'",
    "EXPLAIN ANALYZE COPY (SELECT 'x' AS crontab) TO '{dir}/explained.csv'",
    "EXPLAIN ANALYZE COPY (SELECT 1 AS a) TO '{dir}/log.json'",
    "EXPLAIN ANALYZE INSERT INTO units SELECT * FROM units",
    "INSERT INTO units SELECT * FROM units",
    "SELECT 1 AS a INTO t",
    "CREATE TABLE x AS SELECT 1 AS a",
    "DROP VIEW units",
    "SET datafusion.sql_parser.dialect = 'mysql'",
    "SET \"datafusion\".\"sql_parser\".\"dialect\" = 'mysql'",
    "SET \"datafusion\".\"runtime\".\"memory_limit\" = '1K'",
    "SET search_path = elsewhere",
];

fn statements(dir: &Path) -> Vec<String> {
    HOSTILE.iter().map(|s| s.replace("{dir}", dir.to_str().unwrap())).collect()
}

fn psql(port: u16, command: &str) -> std::process::Output {
    crate::helpers::psql(port, "analyst", "mật-khẩu-dài", command)
}

const COMMUNES: &str = "SELECT count(*) FROM units WHERE epoch = 'post2025' AND level = 'commune'";

#[tokio::test(flavor = "multi_thread")]
async fn no_sql_entry_point_writes_a_file_changes_a_table_or_another_users_session() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let target = dir.path().join("target");
    std::fs::create_dir_all(&target).unwrap();
    let out = crate::helpers::tonghop_command(&lake, &["passwd", "analyst"]).env("TONGHOP_PG_PASSWORD", "mật-khẩu-dài").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let user = String::from_utf8(out.stdout).unwrap();
    let (token, entry) = make_token(&lake, "phan-tich", "analyst", None);
    let server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n\n{entry}\n[postgres]\nlisten = \"127.0.0.1:0\"\n\n{user}"));
    let port = server.pg_port.unwrap();

    // A second connection, open the whole time: what the first one tries must not reach it.
    let config = format!("host=127.0.0.1 port={port} user=analyst password='mật-khẩu-dài' dbname=tonghop connect_timeout=20");
    let (bystander, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.expect("login");
    tokio::spawn(connection);
    let communes = |rows: Vec<tokio_postgres::Row>| rows[0].get::<_, i64>(0);
    assert_eq!(communes(bystander.query(COMMUNES, &[]).await.unwrap()), 3321);

    let (driver, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.expect("login");
    tokio::spawn(connection);
    let http = reqwest::Client::new();
    for statement in statements(&target) {
        // psql: the simple query protocol.
        let out = psql(port, &statement);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("read-only"), "psql {statement}: {stderr}");
        // A driver: the simple protocol (batch_execute), then the extended one (prepare, execute).
        let e = driver.batch_execute(&statement).await.expect_err(&statement);
        assert!(format!("{e:?}").contains("read-only"), "simple {statement}: {e:?}");
        let e = driver.query(&statement, &[]).await.expect_err(&statement);
        assert!(format!("{e:?}").contains("read-only"), "extended {statement}: {e:?}");
        // HTTP /sql.
        let r = http.post(format!("{}/sql", server.http)).bearer_auth(&token).body(statement.clone()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403, "HTTP {statement}: {}", r.text().await.unwrap());
        // tonghop sql.
        let out = tonghop_raw(&lake, &["sql", &statement]);
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("read-only"), "tonghop sql {statement}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let written: Vec<_> = std::fs::read_dir(&target).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(written.is_empty(), "no statement wrote a file: {written:?}");

    // The settings a driver sends are accepted, and change nothing for anyone else.
    driver.batch_execute("SET application_name = 'DBeaver'; SET extra_float_digits = 3; SET search_path = public").await.expect("client settings");
    assert_eq!(communes(driver.query(COMMUNES, &[]).await.unwrap()), 3321);
    assert_eq!(communes(bystander.query(COMMUNES, &[]).await.unwrap()), 3321, "the reference table is unchanged for another connection");
    // A double-quoted identifier still means a column (it would be a string in MySQL's dialect).
    let row = bystander.query_one("SELECT \"code\" FROM units WHERE epoch = 'post2025' AND level = 'province' AND code = '01'", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "01");
    let out = psql(port, COMMUNES);
    assert!(String::from_utf8_lossy(&out.stdout).contains("3321"), "{}", String::from_utf8_lossy(&out.stdout));
}

/// A report form with one stray cell at `XFD1048576` (13 KB), which once made the reader allocate
/// 550 GB and abort the process.
fn sparse_cell_form() -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet().set_name("202603").unwrap();
    sheet.write(0, 0, "Kỳ báo cáo:").unwrap().write(0, 1, "202603").unwrap();
    sheet.write(1, 0, "Mã xã").unwrap().write(1, 1, "DS_TONG").unwrap();
    sheet.write(2, 0, "00004").unwrap().write(2, 1, 12000).unwrap();
    sheet.write(1_048_575, 16_383, 1).unwrap();
    workbook.save_to_buffer().unwrap()
}

/// In the inbox, the poisoned workbook fails alone (moved to `failed/` with its report) and the
/// good file beside it is ingested; over HTTP it is answered `failed` and the service keeps
/// answering.
#[tokio::test(flavor = "multi_thread")]
async fn a_workbook_with_a_stray_cell_in_the_far_corner_fails_alone_and_nothing_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, inbox) = (dir.path().join("lake"), dir.path().join("inbox"));
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("poison.xlsx"), sparse_cell_form()).unwrap();
    std::fs::write(inbox.join("good.csv"), "period,org_unit,data_element,value\n202603,00008,DS_TONG,9000\n").unwrap();
    let out = tonghop_raw(&lake, &["ingest", inbox.to_str().unwrap()]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.code().is_some(), "the process was not killed: {text}");
    assert!(text.contains("1 failed"), "{text}");
    assert!(dir.path().join("failed/poison.xlsx").exists(), "moved to failed/: {text}");
    let report = std::fs::read_to_string(dir.path().join("failed/poison.xlsx.error.txt")).unwrap();
    assert!(report.contains("XFD1048576"), "{report}");
    assert_eq!(crate::helpers::sql_rows(&lake, "SELECT org_unit FROM data_values"), [vec!["00008".to_string()]]);

    let (token, entry) = make_token(&lake, "xa-ba-dinh", "commune", Some("post2025:00004"));
    let server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n\n{entry}"));
    let http = reqwest::Client::new();
    let r = http.post(format!("{}/api/submissions?filename=bao_cao.xlsx", server.http)).bearer_auth(&token).body(sparse_cell_form()).send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert!(body.contains("failed") && body.contains("XFD1048576"), "{status}: {body}");
    let health = http.get(format!("{}/health", server.http)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200, "the service is alive");
}

/// The same file sent again by the province keeps the commune's receipt the commune's: both may
/// read it; another commune may not.
#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_stays_readable_by_its_first_sender_after_a_duplicate_resend() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (commune, commune_entry) = make_token(&lake, "xa-ba-dinh", "commune", Some("post2025:00004"));
    let (province, province_entry) = make_token(&lake, "so-y-te-ha-noi", "province", Some("post2025:01"));
    let (other, other_entry) = make_token(&lake, "xa-ngoc-ha", "commune", Some("post2025:00008"));
    let server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n\n{commune_entry}\n{province_entry}\n{other_entry}"));
    let http = reqwest::Client::new();
    let csv = "period,org_unit,data_element,value\n202603,00004,DS_TONG,12000\n";
    let mut ids = Vec::new();
    for token in [&commune, &province] {
        let r = http.post(format!("{}/api/submissions?filename=xa_00004.csv", server.http)).bearer_auth(token).body(csv).send().await.unwrap();
        let receipt: serde_json::Value = r.json().await.unwrap();
        ids.push(receipt["submission_id"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(ids[0], ids[1], "the re-send is answered with the first receipt");
    let read = |token: String| {
        let (http, url) = (http.clone(), format!("{}/api/submissions/{}", server.http, ids[0]));
        async move { http.get(url).bearer_auth(token).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(read(commune.clone()).await, 200, "the commune still reads its own receipt");
    assert_eq!(read(province.clone()).await, 200, "the province, answered with it, reads it too");
    assert_eq!(read(other.clone()).await, 403, "another commune does not");
}

/// A file name of 300 characters after its dot, sent among ordinary submissions, is accepted like
/// them (stored as `<id>.dat`, the name kept as data) and fails none of the others.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_name_of_three_hundred_characters_fails_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (admin, entry) = make_token(&lake, "quan-tri", "admin", None);
    let server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n\n{entry}"));
    let http = reqwest::Client::new();
    let long = format!("x.{}", "a".repeat(300));
    let mut sends = Vec::new();
    for (i, name) in std::iter::once(long.as_str()).chain(["xa.csv"; 20]).enumerate() {
        let csv = format!("period,org_unit,data_element,value\n202603,00004,DS_TONG,{}\n", 12000 + i);
        let request = http.post(format!("{}/api/submissions", server.http)).query(&[("filename", name)]).bearer_auth(&admin).body(csv);
        sends.push(tokio::spawn(async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    for send in sends {
        let (status, body) = send.await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert!(!body.contains(lake.to_str().unwrap()), "no server path in an answer: {body}");
    }
}

/// Failed logins are throttled per client address (and per PostgreSQL user name): past
/// `logins.max_failures`, even the right password or token is refused until the window passes.
#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_are_throttled_on_both_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let user = crate::helpers::pg_user(&lake, "analyst", "mật-khẩu-dài");
    let (token, entry) = make_token(&lake, "phan-tich", "analyst", None);
    let config = format!("[scheduler]\nenabled = false\npipelines = []\n\n[logins]\nmax_failures = 3\nwindow_seconds = 60\n\n{entry}\n[postgres]\nlisten = \"127.0.0.1:0\"\n\n{user}");

    let server = serve(&lake, &config);
    let port = server.pg_port.unwrap();
    assert!(psql(port, "SELECT 1").status.success());
    for _ in 0..3 {
        let out = crate::helpers::psql(port, "analyst", "sai mật khẩu", "SELECT 1");
        assert!(String::from_utf8_lossy(&out.stderr).to_lowercase().contains("password authentication failed"), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for (name, password) in [("analyst", "mật-khẩu-dài"), ("nobody", "mật-khẩu-dài")] {
        let out = crate::helpers::psql(port, name, password, "SELECT 1");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("too many failed logins"), "{name}: {stderr}");
    }
    drop(server);

    let server = serve(&lake, &config);
    let http = reqwest::Client::new();
    let sql = |token: &str| http.post(format!("{}/sql", server.http)).bearer_auth(token).body("SELECT 1").send();
    assert_eq!(sql(&token).await.unwrap().status().as_u16(), 200);
    for _ in 0..3 {
        assert_eq!(sql("not-a-token").await.unwrap().status().as_u16(), 401);
    }
    for t in ["not-a-token", token.as_str()] {
        let r = sql(t).await.unwrap();
        assert_eq!(r.status().as_u16(), 429);
        let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
    }
    assert_eq!(http.get(format!("{}/health", server.http)).send().await.unwrap().status().as_u16(), 200, "anonymous routes still answer");
}
