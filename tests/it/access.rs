//! Who may use a running service, changed without a restart (tokens revoked, users removed,
//! expiry), and the audit trail of what they did (`lake.audit`), through real sockets: reqwest,
//! Debian's `psql`, SIGHUP.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{config_path, make_token, pg_user, psql, serve, sql_rows, tonghop_raw, Served};

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap()
}

async fn sql(server: &Served, token: &str, query: &str) -> (u16, Value) {
    let r = client().post(format!("{}/sql", server.http)).bearer_auth(token).body(query.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls `check` every 100 ms for up to `limit`; returns how long it took to become true.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn psql_ok(port: u16, user: &str, password: &str) -> bool {
    psql(port, user, password, "SELECT 1").status.success()
}

const PROVINCES: &str = "SELECT code FROM units WHERE epoch = 'post2025' AND level = 'province'";

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_and_a_removed_user_are_refused_within_seconds_and_an_expired_token_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (analyst, analyst_entry) = make_token(&lake, "phan-tich", "analyst", None);
    let (admin, admin_entry) = make_token(&lake, "quan-tri", "admin", None);
    let out = tonghop_raw(&lake, &["token", "--name", "cu", "--role", "analyst", "--expires", "2026-01-31"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expired = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let expired_entry = &stderr[stderr.find("[[tokens]]").unwrap()..];
    assert!(expired_entry.contains("expires = 2026-01-31"), "{expired_entry}");
    let user = pg_user(&lake, "bi", "mật-khẩu-dài");
    let config = format!("[scheduler]\nenabled = false\npipelines = []\n\n{analyst_entry}\n{admin_entry}\n{expired_entry}\n{user}");
    let server = serve(&lake, &config);
    let path = config_path(&lake);

    assert_eq!(sql(&server, &analyst, "SELECT 1").await.0, 200);
    let (status, answer) = sql(&server, &expired, "SELECT 1").await;
    assert_eq!(status, 401, "an expired token is refused at once: {answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("expired at 2026-01-31T17:00:00")), "{answer}");
    assert!(answer["message_vi"].as_str().is_some_and(|m| m.contains("hết hạn")), "{answer}");
    assert!(psql_ok(server.pg_port.unwrap(), "bi", "mật-khẩu-dài"));

    let out = tonghop_raw(&lake, &["token", "list", "--config", path.to_str().unwrap()]);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(listed.contains("phan-tich") && listed.contains("expired 2026-02-01 00:00") && listed.contains("bi"), "{listed}");

    // Revoked with the command (comments and layout of the file kept); refused within 5 s.
    std::fs::write(&path, format!("# kept\n{}", std::fs::read_to_string(&path).unwrap())).unwrap();
    let out = tonghop_raw(&lake, &["token", "revoke", "phan-tich", "--config", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# kept\n") && !text.contains("phan-tich") && text.contains("quan-tri"), "{text}");
    let took = within(Duration::from_secs(5), async || sql(&server, &analyst, "SELECT 1").await.0 == 401).await;
    let took = took.expect("the revoked token is refused within 5 s");
    eprintln!("revoked token refused after {took:?}");
    assert_eq!(sql(&server, &admin, "SELECT 1").await.0, 200, "the other tokens stay valid");

    // A PostgreSQL user removed from the file cannot open a new connection within 5 s.
    let without_user = text.replace(user.trim(), "");
    assert_ne!(without_user, text);
    std::fs::write(&path, &without_user).unwrap();
    let port = server.pg_port.unwrap();
    let took = within(Duration::from_secs(5), async || !psql_ok(port, "bi", "mật-khẩu-dài")).await;
    eprintln!("removed user refused after {took:?}");
    assert!(took.is_some(), "the removed user cannot log in within 5 s");

    // A broken file changes nothing: the credentials in use stay, and the log says why.
    std::fs::write(&path, format!("{without_user}\n[[tokens]]\nname = \"x\"\n")).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sql(&server, &admin, "SELECT 1").await.0, 200);
    assert!(server.log_text().contains("configuration not reloaded"), "{}", server.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (admin, admin_entry) = make_token(&lake, "quan-tri", "admin", None);
    let (added, added_entry) = make_token(&lake, "moi", "analyst", None);
    let server =
        serve(&lake, &format!("access_poll_seconds = 3600\n[scheduler]\nenabled = false\npipelines = []\n[postgres]\nenabled = false\n\n{admin_entry}"));
    let path = config_path(&lake);
    std::fs::write(&path, format!("{}\n{added_entry}", std::fs::read_to_string(&path).unwrap())).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sql(&server, &added, "SELECT 1").await.0, 401, "not polled: not yet known");
    assert!(std::process::Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap().success());
    let took = within(Duration::from_secs(5), async || sql(&server, &added, "SELECT 1").await.0 == 200).await;
    assert!(took.is_some(), "SIGHUP loads the new token:\n{}", server.log_text());
    assert_eq!(sql(&server, &admin, "SELECT 1").await.0, 200);
    assert!(server.log_text().contains("tokens added: moi"), "{}", server.log_text());
}

/// The rows of `query` over the audit trail, read through HTTP as the admin.
async fn audit_rows(server: &Served, admin: &str, query: &str) -> Vec<Value> {
    let (status, answer) = sql(server, admin, query).await;
    assert_eq!(status, 200, "{answer}");
    answer.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_runs_and_denials_are_audited_and_only_admins_read_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (analyst, analyst_entry) = make_token(&lake, "phan-tich", "analyst", None);
    let (admin, admin_entry) = make_token(&lake, "quan-tri", "admin", None);
    let (commune, commune_entry) = make_token(&lake, "xa", "commune", Some("post2025:00004"));
    let user = pg_user(&lake, "bi", "mật-khẩu-dài");
    let pipeline = dir.path().join("build.toml");
    std::fs::write(&pipeline, "name = \"build\"\n\n[[steps]]\nname = \"build_models\"\nkind = \"build\"\n").unwrap();
    let config = format!(
        "[scheduler]\nenabled = false\npipelines = [\"{}\"]\n[audit]\nflush_seconds = 1\n\n{analyst_entry}\n{admin_entry}\n{commune_entry}\n{user}",
        pipeline.display()
    );
    let mut server = serve(&lake, &config);
    let port = server.pg_port.unwrap();

    let (status, answer) = sql(&server, &analyst, PROVINCES).await;
    assert_eq!((status, answer.as_array().map(Vec::len)), (200, Some(34)));
    let out = psql(port, "bi", "mật-khẩu-dài", PROVINCES);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sql(&server, "th_not-a-token", "SELECT 1").await.0, 401);
    assert_eq!(sql(&server, &commune, "SELECT 1").await.0, 403);
    let r = client().post(format!("{}/api/runs/build?wait=true", server.http)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());

    // Only admins read the audit trail: not an analyst over HTTP, not a PostgreSQL user (who are
    // analysts), however the query is written.
    for query in ["SELECT * FROM lake.audit", "SELECT count(*) FROM (SELECT actor FROM datafusion.lake.audit)", "EXPLAIN ANALYZE SELECT * FROM lake.audit"] {
        let (status, answer) = sql(&server, &analyst, query).await;
        assert_eq!(status, 403, "{query}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| e.contains("admin")), "{answer}");
        let out = psql(port, "bi", "mật-khẩu-dài", query);
        assert!(!out.status.success(), "{query} over PostgreSQL");
        assert!(String::from_utf8_lossy(&out.stderr).contains("admin tokens only"), "{}", String::from_utf8_lossy(&out.stderr));
    }

    let query = "SELECT actor, role, endpoint, action, target, detail, rows, outcome, error, client FROM lake.audit ORDER BY at";
    let mut rows = Vec::new();
    let seen = within(Duration::from_secs(10), async || {
        rows = audit_rows(&server, &admin, query).await;
        // Everything above, the last of it being the three refused audit reads over PostgreSQL:
        // the trail is flushed every second, so a read may come between two flushes.
        let refused_pg = rows.iter().filter(|r| r["actor"] == "pg:bi" && r["outcome"] == "error").count();
        rows.iter().filter(|r| r["action"] == "sql" && r["rows"] == 34).count() >= 2 && rows.iter().any(|r| r["action"] == "run") && refused_pg >= 3
    })
    .await;
    assert!(seen.is_some(), "{rows:#?}");
    let find = |what: &dyn Fn(&Value) -> bool| rows.iter().find(|r| what(r)).cloned();
    let http_query = find(&|r| r["actor"] == "token:phan-tich" && r["endpoint"] == "http" && r["rows"] == 34).expect("the analyst's HTTP query");
    assert_eq!(
        (&http_query["detail"], &http_query["outcome"], &http_query["client"]),
        (&Value::from(PROVINCES), &Value::from("ok"), &Value::from("127.0.0.1"))
    );
    assert_eq!(http_query["role"], "analyst");
    let pg_query = find(&|r| r["actor"] == "pg:bi" && r["endpoint"] == "postgres" && r["detail"] == PROVINCES).expect("the PostgreSQL query");
    assert_eq!(pg_query["rows"], 34, "{pg_query}");
    assert!(
        find(&|r| r["action"] == "denied" && r["actor"] == "anonymous" && r["client"] == "127.0.0.1" && r["error"] == "unknown token").is_some(),
        "{rows:#?}"
    );
    assert!(find(&|r| r["action"] == "denied" && r["actor"] == "token:xa" && r["target"] == "POST /sql").is_some(), "{rows:#?}");
    assert!(find(&|r| r["action"] == "sql" && r["actor"] == "token:phan-tich" && r["outcome"] == "denied").is_some(), "the refused audit read: {rows:#?}");
    assert!(find(&|r| r["actor"] == "pg:bi" && r["outcome"] == "error" && r["error"].as_str().is_some_and(|e| e.contains("admin"))).is_some(), "{rows:#?}");
    let run = find(&|r| r["action"] == "run").unwrap();
    assert_eq!((&run["actor"], &run["target"], &run["outcome"]), (&Value::from("token:quan-tri"), &Value::from("build"), &Value::from("ok")));

    // What the service wrote before stopping is there too, and nothing in it is a secret.
    assert_eq!(sql(&server, &admin, "SELECT 'last query before the stop'").await.0, 200);
    assert!(server.stop());
    let everything = sql_rows(&lake, "SELECT * FROM lake.audit");
    assert!(everything.iter().any(|r| r.iter().any(|c| c.contains("last query before the stop"))), "flushed at shutdown");
    let text = format!("{everything:?}");
    for secret in [analyst.as_str(), admin.as_str(), commune.as_str(), "mật-khẩu-dài"] {
        assert!(!text.contains(secret), "the audit holds a secret");
    }
    assert!(everything.len() >= 10, "{}", everything.len());
}
