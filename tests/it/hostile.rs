//! Hostile and careless input against the real binary (issue 15):
//! - statements that would write a file, change a table or change the shared session, sent over
//!   every SQL entry point — psql (simple protocol), a driver's extended protocol
//!   (tokio-postgres), HTTP `/sql` and `tonghop sql` — each refused, no file appearing, the
//!   reference tables unchanged, another connection seeing nothing of it;
//! - a workbook with a stray cell in the far corner, a receipt re-sent by another token, a file
//!   name of 300 characters, a file of half a million bad rows, stalled uploads, a submission that
//!   cannot be stored, and password or token guessing.
//!
//! Runaway queries are in `limits.rs`.

use std::path::Path;
use std::process::Command;

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
        assert!(
            !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("read-only"),
            "tonghop sql {statement}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
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
    // Without trusted proxies, X-Forwarded-For is the client's word: it does not lift the block.
    let r = http.post(format!("{}/sql", server.http)).bearer_auth(&token).header("x-forwarded-for", "198.51.100.7").body("SELECT 1").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    drop(server);

    // Behind a trusted reverse proxy, each client is throttled on the address the proxy forwards.
    let proxied = config.replace("\n[postgres]", "\n[http]\nlisten = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]\n\n[postgres]");
    let server = serve(&lake, &proxied);
    let sql_from = |token: &str, client: &str| {
        http.post(format!("{}/sql", server.http)).bearer_auth(token).header("x-forwarded-for", format!("1.2.3.4, {client}")).body("SELECT 1").send()
    };
    for _ in 0..3 {
        assert_eq!(sql_from("not-a-token", "203.0.113.9").await.unwrap().status().as_u16(), 401);
    }
    assert_eq!(sql_from(&token, "203.0.113.9").await.unwrap().status().as_u16(), 429, "the guessing client is blocked");
    assert_eq!(sql_from(&token, "198.51.100.7").await.unwrap().status().as_u16(), 200, "another client behind the same proxy is not");
}

/// A 20 MB file of bad rows: the answer stays small (counts and the first refused rows), the lake
/// keeps the first 10,000 with one row counting the rest, every one is pageable, and the service
/// does not hold the whole list (it held ~1.8 GB before). A workbook of half a million bad rows
/// after it stays under the same bound.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_of_half_a_million_bad_rows_gets_a_small_answer_and_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (commune, entry) = make_token(&lake, "xa-ba-dinh", "commune", Some("post2025:00004"));
    let server = serve(&lake, &format!("reload_seconds = 1\n[scheduler]\nenabled = false\npipelines = []\n\n{entry}"));
    let rows = 450_000;
    let mut csv = String::from("period,org_unit,data_element,value\n");
    for i in 0..rows {
        csv.push_str(&format!("202603,00004,KHONG_CO_{i},{i}\n"));
    }
    assert!(csv.len() > 15 << 20 && csv.len() < 20 << 20, "{}", csv.len());
    let http = reqwest::Client::new();
    let r = http.post(format!("{}/api/submissions?filename=xa.csv", server.http)).bearer_auth(&commune).body(csv).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let body = r.bytes().await.unwrap();
    assert!(body.len() < 64 << 10, "the answer has {} bytes", body.len());
    let receipt: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(receipt["rejected"], rows);
    assert_eq!(receipt["rejections"].as_array().unwrap().len(), 50);
    assert_eq!(receipt["rejections_not_listed"], rows - 50);
    let peak_mib = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
        status.lines().find(|l| l.starts_with("VmHWM:")).unwrap().split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
    };
    assert!(peak_mib() < 600, "peak resident memory {} MiB", peak_mib());

    // The same as a workbook (issue 15's 7 MB one of 1.5 M rows peaked at 3.5 GB): 500,000 rows.
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, h) in ["period", "org_unit", "data_element", "value"].iter().enumerate() {
        sheet.write(0, c as u16, *h).unwrap();
    }
    let xlsx_rows = 500_000u32;
    for r in 1..=xlsx_rows {
        sheet.write(r, 0, "202603").unwrap().write(r, 1, "00004").unwrap().write(r, 2, format!("KHONG_CO_{r}")).unwrap().write(r, 3, r).unwrap();
    }
    let xlsx = workbook.save_to_buffer().unwrap();
    let r = http.post(format!("{}/api/submissions?filename=xa.xlsx", server.http)).bearer_auth(&commune).body(xlsx).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let body = r.bytes().await.unwrap();
    assert!(body.len() < 64 << 10, "the answer has {} bytes", body.len());
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["rejected"], xlsx_rows);
    assert!(peak_mib() < 600, "peak resident memory {} MiB after the workbook", peak_mib());
    eprintln!("bad rows: {rows} CSV rows then {xlsx_rows} workbook rows, peak resident memory {} MiB", peak_mib());

    // The last page: rows 9,991 to 10,000 (lines 9,992 to 10,001), then the row counting the rest.
    let id = receipt["submission_id"].as_str().unwrap();
    let url = format!("{}/api/submissions/{id}?offset=9990&limit=20", server.http);
    let start = std::time::Instant::now();
    let page = loop {
        let page: serde_json::Value = http.get(&url).bearer_auth(&commune).send().await.unwrap().json().await.unwrap();
        if page["rejections"].as_array().is_some_and(|a| !a.is_empty()) {
            break page;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "{page}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let listed = page["rejections"].as_array().unwrap();
    assert_eq!(listed.len(), 11, "{page}");
    assert_eq!(listed[0]["row"], 9992);
    assert_eq!(listed[10]["reason"], "more_rejections");
    assert!(listed[10]["message_vi"].as_str().unwrap().contains(&format!("còn {} dòng lỗi khác", rows - 10_000)), "{}", listed[10]);
    assert_eq!(page["rows_rejected"], rows);
}

/// Uploads that stall: at most `max_concurrent_uploads` are held (the next waits, its body unread),
/// and each is dropped after `body_timeout_seconds`; then the waiting submission goes through. A
/// connection that sends its headers slowly is closed after `http.header_timeout_seconds`.
#[tokio::test(flavor = "multi_thread")]
async fn stalled_uploads_are_bounded_and_timed_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (commune, entry) = make_token(&lake, "xa-ba-dinh", "commune", Some("post2025:00004"));
    let server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n\n[http]\nlisten = \"127.0.0.1:0\"\nheader_timeout_seconds = 2\n\n[submissions]\nmax_concurrent_uploads = 2\nbody_timeout_seconds = 2\n\n{entry}"));
    let address = server.http.trim_start_matches("http://").to_string();
    // Headers sent slowly (slowloris): the connection is closed after the header timeout.
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"POST /api/submissions HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head = format!("POST /api/submissions?filename=xa.csv HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {commune}\r\nContent-Length: 10000000\r\n\r\nperiod,org");
        socket.write_all(head.as_bytes()).await.unwrap();
        stalled.push(socket);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let http = reqwest::Client::new();
    let submit = |value: u32| {
        http.post(format!("{}/api/submissions?filename=xa.csv", server.http))
            .bearer_auth(&commune)
            .body(format!("period,org_unit,data_element,value\n202603,00004,DS_TONG,{value}\n"))
            .send()
    };
    let start = std::time::Instant::now();
    let waiting = tokio::spawn(submit(12000));
    for mut socket in stalled {
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), socket.read_to_end(&mut answer)).await.expect("the stalled upload is dropped");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 4"), "{answer}");
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(5), "{:?}", start.elapsed());
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "a connection that never finishes its headers is closed");
    let r = waiting.await.unwrap().unwrap();
    assert_eq!(r.status().as_u16(), 201, "the waiting submission goes through once a slot is free");
    assert!(start.elapsed() > std::time::Duration::from_millis(1500), "it waited for a slot: {:?}", start.elapsed());
}

/// A submission whose raw file cannot be stored fails alone: the others of its group are
/// answered 201, and the failure's answer names no server path.
#[tokio::test(flavor = "multi_thread")]
async fn a_submission_that_cannot_be_stored_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (admin, entry) = make_token(&lake, "quan-tri", "admin", None);
    let csv = |value: u32| format!("period,org_unit,data_element,value\n202603,00004,DS_TONG,{value}\n");
    // A folder where the one file would be stored.
    let blocked = csv(55555);
    let mut sha = Command::new("sha256sum").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(sha.stdin.as_mut().unwrap(), blocked.as_bytes()).unwrap();
    let hash = String::from_utf8(sha.wait_with_output().unwrap().stdout).unwrap()[..16].to_string();
    let server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n\n{entry}"));
    std::fs::create_dir_all(lake.join(format!("received/{}/{hash}.csv/in-the-way", chrono::Utc::now().format("%Y/%m/%d")))).unwrap();
    let http = reqwest::Client::new();
    let mut sends = Vec::new();
    for value in std::iter::once(55555).chain(12000..12019) {
        let request = http.post(format!("{}/api/submissions?filename=xa.csv", server.http)).bearer_auth(&admin).body(csv(value));
        sends.push(tokio::spawn(async move {
            let r = request.send().await.unwrap();
            (value, r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    for send in sends {
        let (value, status, body) = send.await.unwrap();
        if value == 55555 {
            assert_eq!(status, 500, "{body}");
            assert!(body.contains("incident") && !body.contains(lake.to_str().unwrap()), "{body}");
        } else {
            assert_eq!(status, 201, "{value}: {body}");
        }
    }
}

/// Logs in over SCRAM-SHA-256 with a hand-made client that proves knowledge of `salted` (the
/// SaltedPassword); true when the server accepts the proof.
async fn scram_login(port: u16, user: &str, salted: &[u8]) -> bool {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use ring::{digest, hmac};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hmac = |key: &[u8], message: &[u8]| hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message).as_ref().to_vec();
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut startup = 196608i32.to_be_bytes().to_vec();
    for part in ["user", user, "database", "tonghop"] {
        startup.extend_from_slice(part.as_bytes());
        startup.push(0);
    }
    startup.push(0);
    socket.write_all(&[&((startup.len() + 4) as i32).to_be_bytes()[..], &startup].concat()).await.unwrap();
    // Reads one message: (type, body).
    async fn read(socket: &mut tokio::net::TcpStream) -> (u8, Vec<u8>) {
        let kind = socket.read_u8().await.unwrap();
        let length = socket.read_i32().await.unwrap() as usize;
        let mut body = vec![0; length - 4];
        socket.read_exact(&mut body).await.unwrap();
        (kind, body)
    }
    let (kind, body) = read(&mut socket).await;
    assert_eq!((kind, &body[..4]), (b'R', &10i32.to_be_bytes()[..]), "AuthenticationSASL");
    let bare = "n=,r=tonghop-test-nonce";
    let first = format!("n,,{bare}");
    let mut message = b"SCRAM-SHA-256\0".to_vec();
    message.extend_from_slice(&(first.len() as i32).to_be_bytes());
    message.extend_from_slice(first.as_bytes());
    socket.write_all(&[&[b'p'][..], &((message.len() + 4) as i32).to_be_bytes(), &message].concat()).await.unwrap();
    let (kind, body) = read(&mut socket).await;
    assert_eq!((kind, &body[..4]), (b'R', &11i32.to_be_bytes()[..]), "AuthenticationSASLContinue");
    let server_first = String::from_utf8(body[4..].to_vec()).unwrap();
    let nonce = server_first.split(',').find_map(|a| a.strip_prefix("r=")).unwrap();
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let client_key = hmac(salted, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, &client_key);
    let signature = hmac(stored_key.as_ref(), auth_message.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
    let last = format!("{without_proof},p={}", STANDARD.encode(proof));
    socket.write_all(&[&[b'p'][..], &((last.len() + 4) as i32).to_be_bytes(), last.as_bytes()].concat()).await.unwrap();
    let (kind, body) = read(&mut socket).await;
    kind == b'R' && body[..4] == 12i32.to_be_bytes()
}

/// The configuration's `scram` line cannot be replayed: a client holding it, using any key in it
/// as the salted password, is refused; the same client with the password logs in.
#[tokio::test(flavor = "multi_thread")]
async fn a_configured_scram_line_cannot_be_replayed_to_log_in() {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let user = crate::helpers::pg_user(&lake, "analyst", "mật-khẩu-dài");
    let server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n\n[postgres]\nlisten = \"127.0.0.1:0\"\n\n{user}"));
    let port = server.pg_port.unwrap();
    let line = user.split('"').nth(3).unwrap().to_string();
    let parts: Vec<&str> = line.trim_start_matches("SCRAM-SHA-256$").split(['$', ':']).collect();
    let (iterations, salt): (u32, Vec<u8>) = (parts[0].parse().unwrap(), STANDARD.decode(parts[1]).unwrap());
    let mut salted = [0u8; 32];
    ring::pbkdf2::derive(ring::pbkdf2::PBKDF2_HMAC_SHA256, std::num::NonZeroU32::new(iterations).unwrap(), &salt, "mật-khẩu-dài".as_bytes(), &mut salted);
    assert!(scram_login(port, "analyst", &salted).await, "the hand-made client logs in with the password");
    for key in &parts[2..] {
        assert!(!scram_login(port, "analyst", &STANDARD.decode(key).unwrap()).await, "a key of the line logged in");
    }
}

/// Connections beyond `postgres.max_connections` are refused at once with PostgreSQL's own answer
/// (psql and a driver both show it), and a slot is free again when its connection ends.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_connections_beyond_the_cap_are_refused_and_slots_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let user = crate::helpers::pg_user(&lake, "analyst", "mật-khẩu-dài");
    let server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n[postgres]\nlisten = \"127.0.0.1:0\"\nmax_connections = 2\n\n{user}"));
    let port = server.pg_port.unwrap();
    let config = format!("host=127.0.0.1 port={port} user=analyst password='mật-khẩu-dài' dbname=tonghop connect_timeout=20");
    let mut open = Vec::new();
    for _ in 0..2 {
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.expect("login");
        open.push((client, tokio::spawn(connection)));
    }
    let e = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.err().expect("a third connection is refused");
    assert_eq!(e.code().map(|c| c.code()), Some("53300"), "{e:?}");
    // psql first asks for TLS (sslmode=prefer): the answer to that request is the refusal.
    let out = tokio::task::spawn_blocking(move || psql(port, "SELECT 1")).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("too many connections") && stderr.contains("max_connections = 2"), "{stderr}");

    // One connection ends: its slot serves the next one.
    let (client, connection) = open.pop().unwrap();
    drop(client);
    connection.await.unwrap().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = tokio::task::spawn_blocking(move || psql(port, "SELECT 41 + 1")).await.unwrap();
        if out.status.success() {
            assert!(String::from_utf8_lossy(&out.stdout).contains("42"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no slot came back: {}", String::from_utf8_lossy(&out.stderr));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (first, _) = &open[0];
    assert_eq!(first.query_one("SELECT 1 + 1", &[]).await.unwrap().get::<_, i64>(0), 2, "the connections within the cap keep working");
}
