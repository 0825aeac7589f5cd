//! A flaky object store: a fault-injecting TCP proxy between tonghop and SeaweedFS that, on a
//! share of connections, drops them at once, stalls them and then drops them, answers
//! `503 Service Unavailable` without forwarding, or cuts the request midway. Through it, a
//! pipeline run (ingest commits, lease renewals, model writes) and the service under HTTP
//! submissions (journal writes and flushes); then, with the faults off, the next start and run
//! complete, nothing answered is lost and nothing is committed twice.
//!
//! A response lost after the store applied the request (the conditional put of a Delta commit that
//! succeeded, its answer cut, the client's retry told "already exists") is not injected here at
//! random: `tonghop_lake`'s test `an_append_applied_by_the_store_whose_answer_was_lost_is_not_committed_again`
//! forces it on an append (`Appender`, which every ingest and HTTP submission commit goes through).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::Served;
use crate::s3::SeaweedFs;

/// Faults injected, by kind.
#[derive(Default)]
struct Counts {
    forwarded: AtomicU64,
    dropped: AtomicU64,
    stalled: AtomicU64,
    unavailable: AtomicU64,
    cut: AtomicU64,
}

impl Counts {
    fn faults(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
            + self.stalled.load(Ordering::Relaxed)
            + self.unavailable.load(Ordering::Relaxed)
            + self.cut.load(Ordering::Relaxed)
    }

    fn line(&self) -> String {
        format!(
            "{} connections forwarded; faults: {} dropped, {} stalled then dropped, {} answered 503, {} cut mid-request",
            self.forwarded.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
            self.stalled.load(Ordering::Relaxed),
            self.unavailable.load(Ordering::Relaxed),
            self.cut.load(Ordering::Relaxed)
        )
    }
}

/// The proxy: listens on 127.0.0.1, forwards to `target`; while `on`, one connection in four
/// gets a fault and the others are closed after 0.1–1 s (whatever they carry then).
struct FaultProxy {
    port: u16,
    on: Arc<AtomicBool>,
    counts: Arc<Counts>,
}

impl FaultProxy {
    async fn start(target: u16, seed: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (on, counts) = (Arc::new(AtomicBool::new(true)), Arc::new(Counts::default()));
        let (flag, tally) = (on.clone(), counts.clone());
        tokio::spawn(async move {
            let mut rng = crate::chaos::Rng(seed | 1);
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let draw = rng.next();
                let fault = if flag.load(Ordering::Relaxed) { draw % 16 } else { 99 };
                tokio::spawn(connection(client, target, fault, draw, tally.clone()));
            }
        });
        FaultProxy { port, on, counts }
    }
}

async fn connection(mut client: TcpStream, target: u16, fault: u64, draw: u64, counts: Arc<Counts>) {
    match fault {
        0 => {
            counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
        1 => {
            counts.stalled.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(500 + draw % 2000)).await;
        }
        2 => {
            counts.unavailable.fetch_add(1, Ordering::Relaxed);
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match client.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = client.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
        }
        3 => {
            // Forward at most this many bytes of the request, then close both ends.
            counts.cut.fetch_add(1, Ordering::Relaxed);
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)).await else { return };
            let limit = (draw % 2048) as usize + 1;
            let mut buf = vec![0u8; limit];
            if let Ok(n) = client.read(&mut buf).await {
                let _ = server.write_all(&buf[..n]).await;
            }
        }
        _ => {
            counts.forwarded.fetch_add(1, Ordering::Relaxed);
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)).await else { return };
            if fault == 99 {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            } else {
                // While faults are on, a connection lives 0.1–1 s (closed whatever it carries then),
                // so the client keeps opening new ones and meets the faults above.
                let life = Duration::from_millis(100 + draw % 900);
                let _ = tokio::time::timeout(life, tokio::io::copy_bidirectional(&mut client, &mut server)).await;
            }
        }
    }
}

fn output(out: std::process::Output) -> (bool, String) {
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_answered_is_lost_and_nothing_committed_twice_through_a_flaky_object_store() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = SeaweedFs::start(dir.path());
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("fault proxy seed {seed}");
    let proxy = FaultProxy::start(s3.port(), seed).await;
    let cwd = dir.path();
    let pipeline = cwd.join("chaos.toml");
    std::fs::write(&pipeline, crate::chaos::PIPELINE).unwrap();
    let (ok, text) = output(s3.tonghop(cwd, &["demo", "--provinces", "post2025:04", "--until", "2025-10-01", "--seed", "7"]).output().unwrap());
    assert!(ok, "{text}");
    let files: usize = text.split_whitespace().nth(1).unwrap().parse().unwrap();

    // A run through the faults: it completes (the store's client retries) or fails saying why.
    let (run_ok, run_text) = output(s3.tonghop_through(proxy.port, cwd, &["run", "chaos.toml"]).output().unwrap());
    assert!(run_ok || run_text.contains("error"), "a failure is reported: {run_text}");
    let reason = run_text.lines().find(|l| l.contains("error")).unwrap_or_default().to_string();
    eprintln!("run through faults: {}", if run_ok { "succeeded".to_string() } else { format!("failed, reported: {reason}") });

    // The service through the faults, 4 clients sending: each submission is answered 201 (on the
    // lake) or an error (not stored), never silently.
    let (token, entry) = {
        let out = s3.tonghop(cwd, &["token", "--name", "quan-tri", "--role", "admin"]).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        (String::from_utf8(out.stdout).unwrap().trim().to_string(), stderr[stderr.find("[[tokens]]").unwrap()..].to_string())
    };
    let config = cwd.join("serve.toml");
    std::fs::write(&config, format!("[scheduler]\nenabled = false\npipelines = []\n[http]\nlisten = \"127.0.0.1:0\"\n[postgres]\nenabled = false\n\n{entry}"))
        .unwrap();
    // Started as a supervisor (compose's `restart: unless-stopped`) would: a start that fails on
    // the store exits with the error, and is tried again.
    let failed_starts = std::cell::Cell::new(0);
    let serve = |port: u16| {
        for _ in 0..10 {
            let mut c = s3.tonghop_through(port, cwd, &["serve", "--config", config.to_str().unwrap()]);
            c.env("RUST_LOG", "warn,tonghop_server=info");
            match Served::try_start(c, cwd) {
                Ok(server) => return server,
                Err(log) => {
                    assert!(log.contains("error"), "a failed start says why: {log}");
                    failed_starts.set(failed_starts.get() + 1);
                }
            }
        }
        panic!("tonghop serve did not start in 10 tries");
    };
    let mut server = serve(proxy.port);
    let senders: Vec<_> = (0..4u64)
        .map(|client| {
            let (http, token) = (server.http.clone(), token.clone());
            tokio::spawn(async move {
                let http_client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
                let (mut answered, mut failed) = (Vec::new(), 0);
                for i in 0..25u64 {
                    let n = client * 1000 + i;
                    let body = format!("period,org_unit,data_element,value\n202509,{},DS_TONG,{n}\n", ["00004", "00008", "00025", "00070"][client as usize]);
                    let r = http_client.post(format!("{http}/api/submissions?filename=f{n}.csv")).bearer_auth(&token).body(body).send().await.unwrap();
                    if r.status().as_u16() == 201 {
                        answered.push((r.json::<Value>().await.unwrap()["submission_id"].as_str().unwrap().to_string(), n));
                    } else {
                        assert!(r.status().is_server_error(), "{}", r.status());
                        failed += 1;
                    }
                }
                (answered, failed)
            })
        })
        .collect();
    let (mut answered, mut failed) = (Vec::new(), 0);
    for s in senders {
        let (a, f) = s.await.unwrap();
        answered.extend(a);
        failed += f;
    }
    let stopped = server.stop();
    eprintln!(
        "service through faults: {} start(s) failed and were retried; {} answered 201, {failed} answered an error; SIGTERM exit clean: {stopped}",
        failed_starts.get(),
        answered.len()
    );
    eprintln!("fault proxy: {}", proxy.counts.line());
    assert!(proxy.counts.faults() > 0, "faults were injected");

    // The faults end: the next start commits what the journal holds, the next run completes.
    proxy.on.store(false, Ordering::Relaxed);
    let mut server = serve(proxy.port);
    assert!(server.stop(), "{}", server.log_text());
    let (ok, text) = output(s3.tonghop(cwd, &["run", "chaos.toml"]).output().unwrap());
    assert!(ok, "the run after the faults completes: {text}");

    let sql = |q: &str| {
        let (ok, text) = output(s3.tonghop(cwd, &["sql", q, "--format", "csv"]).output().unwrap());
        assert!(ok, "{text}");
        text.lines().skip(1).map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(
        sql("SELECT count(*) FROM (SELECT submission_id FROM submissions GROUP BY submission_id HAVING count(*) > 1)"),
        ["0"],
        "nothing committed twice"
    );
    assert_eq!(sql("SELECT count(*) FROM (SELECT content_hash FROM submissions GROUP BY content_hash HAVING count(*) > 1)"), ["0"], "no content twice");
    let inbox_files = sql("SELECT count(*) FROM submissions WHERE submitted_by IS NULL");
    assert_eq!(inbox_files, [files.to_string()], "every inbox file committed once");
    let committed: std::collections::HashMap<String, String> = sql("SELECT s.submission_id, CAST(v.value AS BIGINT) FROM submissions s JOIN data_values v ON v.submission_id = s.submission_id WHERE s.submitted_by = 'token:quan-tri'")
        .into_iter()
        .filter_map(|l| l.split_once(',').map(|(a, b)| (a.to_string(), b.to_string())))
        .collect();
    let lost: Vec<_> = answered.iter().filter(|(id, n)| committed.get(id) != Some(&n.to_string())).collect();
    assert!(lost.is_empty(), "answered submissions lost: {lost:?}");
    assert_eq!(sql("SELECT (SELECT count(*) FROM data_values) = (SELECT sum(rows_accepted) FROM submissions)"), ["true"]);
    let (ok, text) = output(s3.tonghop(cwd, &["check"]).output().unwrap());
    assert!(ok, "{text}");
}
