//! Runaway analyst queries against the real binary (issue 15): memory, time, cancellation,
//! concurrency, deep expressions and huge answers are stopped with a clear error, over HTTP and
//! PostgreSQL, while `/health` and a commune's submission keep answering and the process stays
//! within its configured memory.

use std::time::{Duration, Instant};

use crate::helpers::{make_token, pg_user, psql, psql_command, serve, Served};

const PASSWORD: &str = "mật-khẩu-dài";

/// Small limits, so that a test can reach each of them quickly.
const LIMITS: &str = "[queries]\nmemory_mb = 256\nquery_memory_mb = 128\ntimeout_seconds = 4\nmax_concurrent = 2\nqueue_seconds = 1\nthreads = 2\n";

/// Runs forever on the CPU alone (no memory, no rows) unless stopped.
const SPIN: &str = "SELECT count(*) FROM range(100000000000)";

/// Builds a hash table of 13,356² keys: ~10 GB unless stopped.
const HOG: &str =
    "SELECT count(*) FROM (SELECT a.code || b.code AS k FROM units a, units b) x JOIN (SELECT a.code || b.code AS k FROM units a, units b) y ON x.k = y.k";

fn peak_rss_mib(server: &Served) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

async fn running(http: &reqwest::Client, server: &Served) -> i64 {
    let text = http.get(format!("{}/metrics", server.http)).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix("tonghop_sql_running ")).unwrap().trim().parse().unwrap()
}

/// Polls `/health` until `stop` and returns the slowest answer.
fn watch_health(url: String, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> tokio::task::JoinHandle<Duration> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut slowest = Duration::ZERO;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let start = Instant::now();
            let status = http.get(&url).timeout(Duration::from_secs(10)).send().await.map(|r| r.status().as_u16()).unwrap_or(0);
            assert_eq!(status, 200, "/health must answer while analyst queries run");
            slowest = slowest.max(start.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        slowest
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn runaway_queries_are_stopped_while_health_and_submissions_keep_answering() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let user = pg_user(&lake, "analyst", PASSWORD);
    let (analyst, analyst_entry) = make_token(&lake, "phan-tich", "analyst", None);
    let (commune, commune_entry) = make_token(&lake, "xa-ba-dinh", "commune", Some("post2025:00004"));
    let server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n\n{LIMITS}\n[http]\nlisten = \"127.0.0.1:0\"\nmax_sql_rows = 1000\n\n{analyst_entry}\n{commune_entry}\n[postgres]\nlisten = \"127.0.0.1:0\"\n\n{user}"));
    let port = server.pg_port.unwrap();
    let http = reqwest::Client::new();
    let sql = |query: &str| http.post(format!("{}/sql", server.http)).bearer_auth(&analyst).body(query.to_string()).send();
    let submit = |value: u32| {
        let csv = format!("period,org_unit,data_element,value\n202603,00004,DS_TONG,{value}\n");
        http.post(format!("{}/api/submissions?filename=xa_00004.csv", server.http)).bearer_auth(&commune).body(csv).send()
    };
    let start = Instant::now();
    assert_eq!(submit(12000).await.unwrap().status().as_u16(), 201);
    let usual = start.elapsed();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let health = watch_health(format!("{}/health", server.http), stop.clone());

    // Memory: the hash join stops at its 128 MiB pool, with a message saying so.
    let start = Instant::now();
    let r = sql(HOG).await.unwrap();
    let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("more memory than an analyst query may use") && body.contains("query_memory_mb = 128"), "{body}");
    assert!(start.elapsed() < Duration::from_secs(30), "refused in {:?}", start.elapsed());

    // Time, over HTTP and psql, while a commune submits as usual.
    let spinning = tokio::spawn(sql(SPIN));
    let psql_spin = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        (psql(port, "analyst", PASSWORD, SPIN), start.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    assert_eq!(submit(12001).await.unwrap().status().as_u16(), 201);
    let busy = start.elapsed();
    assert!(busy < usual * 5 + Duration::from_secs(2), "a submission took {busy:?} during the runaway queries, {usual:?} before");
    let r = spinning.await.unwrap().unwrap();
    let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("statement timeout"), "{body}");
    let (out, took) = psql_spin.await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("canceling statement due to statement timeout"), "{stderr}");
    assert!(took < Duration::from_secs(15), "psql waited {took:?} for a 4 s timeout");

    // psql's Ctrl-C sends a CancelRequest: the query stops at once.
    let child = psql_command(port, "analyst", PASSWORD, SPIN).stderr(std::process::Stdio::piped()).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let start = Instant::now();
    assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("canceling statement due to user request"), "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(2), "psql's cancel took {:?}", start.elapsed());

    // psql killed mid-query (no CancelRequest, the socket just closes): the query stops too.
    let child = psql_command(port, "analyst", PASSWORD, SPIN).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(running(&http, &server).await, 1, "the query of the psql about to be killed runs");
    assert!(std::process::Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap().success());
    let start = Instant::now();
    while running(&http, &server).await > 0 {
        assert!(start.elapsed() < Duration::from_secs(1), "the query of a killed psql still runs (the statement timeout is 4 s)");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap();

    // A driver's cancel (extended protocol), through tokio-postgres' CancelToken.
    let config = format!("host=127.0.0.1 port={port} user=analyst password='{PASSWORD}' dbname=tonghop connect_timeout=20");
    let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.expect("login");
    tokio::spawn(connection);
    let cancel = client.cancel_token();
    let query = tokio::spawn(async move { client.query(SPIN, &[]).await });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let e = query.await.unwrap().expect_err("cancelled");
    assert_eq!(e.code().map(|c| c.code()), Some("57014"), "{e:?}");

    // The HTTP client goes away: its query stops.
    let gone = http.post(format!("{}/sql", server.http)).bearer_auth(&analyst).body(SPIN).timeout(Duration::from_millis(800)).send().await;
    assert!(gone.is_err());
    let start = Instant::now();
    while running(&http, &server).await > 0 {
        assert!(start.elapsed() < Duration::from_secs(3), "the query of a client that left still runs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Concurrency: two queries hold both slots; a third waits 1 s and is refused as busy.
    let holders: Vec<_> = (0..2).map(|_| tokio::spawn(sql(SPIN))).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = sql("SELECT 1").await.unwrap();
    let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("busy") && body.contains("max_concurrent"), "{body}");
    for h in holders {
        h.await.unwrap().unwrap();
    }

    // A huge answer is cut as soon as it passes http.max_sql_rows, not after collecting it all.
    let start = Instant::now();
    let r = sql("SELECT * FROM range(100000000)").await.unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());

    // Deep expressions are an error, not a crash, on every path (a chain of 300,000 `+` overflowed
    // a 16 MiB stack in the PostgreSQL library's parser); pg_roles answers (it recursed forever).
    let deep = format!("SELECT {}", vec!["1"; 300_000].join("+"));
    let r = sql(&deep).await.unwrap();
    let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("levels deep"), "{body}");
    let deep_file = dir.path().join("deep.sql");
    std::fs::write(&deep_file, &deep).unwrap();
    let out = psql(port, "analyst", PASSWORD, &format!("\\i {}", deep_file.display()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("levels deep"), "{}", String::from_utf8_lossy(&out.stderr));
    let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.expect("login");
    tokio::spawn(connection);
    let e = client.query(deep.as_str(), &[]).await.expect_err("too deep");
    assert_eq!(e.code().map(|c| c.code()), Some("54001"), "{e:?}");
    let fine = format!("SELECT {} AS n", vec!["1"; 250].join("+"));
    let out = psql(port, "analyst", PASSWORD, &fine);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("250"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = psql(port, "analyst", PASSWORD, "SELECT count(*) FROM pg_catalog.pg_roles");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let slowest = health.await.unwrap();
    assert!(slowest < Duration::from_secs(1), "/health took {slowest:?} at worst while queries ran");
    // The pools (256 MiB) bound what analyst queries hold; the rest is the service itself.
    let peak = peak_rss_mib(&server);
    assert!(peak < 256 + 512, "peak resident memory {peak} MiB");
    eprintln!("limits: submission {usual:?} before, {busy:?} during runaway queries; /health at worst {slowest:?}; peak RSS {peak} MiB");
}

/// SIGTERM while a CPU-only query runs: the query is stopped and the process exits promptly.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_a_running_query_and_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (analyst, entry) = make_token(&lake, "phan-tich", "analyst", None);
    let mut server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n\n[queries]\ntimeout_seconds = 600\n\n{entry}"));
    let request = reqwest::Client::new().post(format!("{}/sql", server.http)).bearer_auth(&analyst).body(SPIN).send();
    let query = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let start = Instant::now();
    assert!(tokio::task::spawn_blocking(move || server.stop()).await.unwrap(), "the service exits cleanly");
    assert!(start.elapsed() < Duration::from_secs(10), "SIGTERM took {:?}", start.elapsed());
    let r = query.await.unwrap().unwrap();
    let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("shutting down"), "{body}");
}
