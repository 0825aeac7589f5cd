//! Soak: `tonghop serve` under mixed load — communes submitting, analysts querying, a run (build,
//! then lake maintenance) started over the API every few minutes — with its memory and latencies sampled. CI runs it for
//! 45 s and checks that nothing is lost; the long mode (`TONGHOP_SOAK_SECONDS=1800`, at least 600)
//! also checks that memory stays flat (≤ 10 % growth over the end of the warm-up) and that p99
//! latencies stay within 2× of the first five minutes'. The figures are printed; the README has the
//! last long run's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{assert_committed_once, make_token, q1_demo_lake, serve, sql_rows};

/// The service's resident memory, from /proc.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0.0);
    kb / 1024.0
}

fn p99(samples: &mut [f64]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[((samples.len() as f64 * 0.99).ceil() as usize).clamp(1, samples.len()) - 1]
}

/// Latencies (ms) by kind, with when they were taken (s since the start).
type Latencies = Arc<Mutex<Vec<(&'static str, f64, f64)>>>;

#[tokio::test(flavor = "multi_thread")]
async fn the_service_under_mixed_load_loses_nothing_and_keeps_its_memory_and_latencies() {
    let seconds: u64 = std::env::var("TONGHOP_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(45);
    let long = seconds >= 600;
    let dir = tempfile::tempdir().unwrap();
    let lake = q1_demo_lake(dir.path());
    let (admin, admin_entry) = make_token(&lake, "quan-tri", "admin", None);
    let (analyst, analyst_entry) = make_token(&lake, "phan-tich", "analyst", None);
    let pipeline = dir.path().join("build.toml");
    // What the nightly run does to the lake: build, then maintain (compaction, checkpoints).
    std::fs::write(
        &pipeline,
        "name = \"build\"\n\n[[steps]]\nname = \"build_models\"\nkind = \"build\"\n\n[[steps]]\nname = \"maintain_lake\"\nkind = \"maintain\"\n",
    )
    .unwrap();
    // A build still running at the end is abandoned after 20 s (its commits are atomic), so that
    // the SIGTERM's wait is bounded.
    let config = format!(
        "shutdown_grace_seconds = 20\n[scheduler]\nenabled = false\npipelines = [\"{}\"]\n[postgres]\nenabled = false\n\n{admin_entry}\n{analyst_entry}",
        pipeline.display()
    );
    let mut server = serve(&lake, &config);
    let pid = server.pid();
    let (stop, latencies): (Arc<AtomicBool>, Latencies) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())));
    let started = Instant::now();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();

    let mut tasks = Vec::new();
    let submitters: Vec<_> = (0..4u64)
        .map(|c| {
            let (http, token, stop, latencies, client) = (server.http.clone(), admin.clone(), stop.clone(), latencies.clone(), client.clone());
            tokio::spawn(async move {
                let mut answered = Vec::new();
                for n in (c * 10_000_000).. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let body = format!("period,org_unit,data_element,value\n202602,{},DS_TONG,{n}\n", ["00004", "00008", "00025", "00070"][c as usize]);
                    let t = Instant::now();
                    let r = match client.post(format!("{http}/api/submissions?filename=s{n}.csv")).bearer_auth(&token).body(body).send().await {
                        Ok(r) => r,
                        Err(e) => return Err(format!("submission {n}: {e:?}")),
                    };
                    assert_eq!(r.status().as_u16(), 201);
                    let id = r.json::<Value>().await.unwrap()["submission_id"].as_str().unwrap().to_string();
                    latencies.lock().unwrap().push(("submission", t.elapsed().as_secs_f64() * 1000.0, started.elapsed().as_secs_f64()));
                    answered.push((id, n));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(answered)
            })
        })
        .collect();
    for q in 0..2 {
        let (http, token, stop, latencies, client) = (server.http.clone(), analyst.clone(), stop.clone(), latencies.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let query = [
                "SELECT level, indicator, period, value FROM indicator_values WHERE epoch = 'post2025' AND province_code = '04' AND period_type = 'quarter' ORDER BY 1, 2, 3",
                "SELECT org_unit, count(*) AS n, sum(value) AS total FROM data_values WHERE period = '202602' GROUP BY org_unit ORDER BY org_unit",
            ][q];
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let Ok(r) = client.post(format!("{http}/sql")).bearer_auth(&token).body(query).send().await else {
                    // Reported by the main loop, which watches the process.
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    continue;
                };
                assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap_or_default());
                let _ = r.bytes().await.unwrap();
                latencies.lock().unwrap().push(("query", t.elapsed().as_secs_f64() * 1000.0, started.elapsed().as_secs_f64()));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    // A build every few minutes (every 20 s in the short mode), and the memory every 5 s.
    let every = if long { Duration::from_secs(180) } else { Duration::from_secs(20) };
    let (mut memory, mut runs, mut last_run) = (Vec::new(), 0, Instant::now());
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        memory.push((started.elapsed().as_secs_f64(), rss_mib(pid)));
        if last_run.elapsed() >= every {
            let r = match client.post(format!("{}/api/runs/build", server.http)).bearer_auth(&admin).send().await {
                Ok(r) => r,
                Err(e) => panic!("{e}; the service's log:\n{}", server.log_text()),
            };
            assert!(r.status().is_success() || r.status().as_u16() == 409, "{}", r.status());
            runs += usize::from(r.status().is_success());
            last_run = Instant::now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut answered = Vec::new();
    for s in submitters {
        match s.await.unwrap() {
            Ok(a) => answered.extend(a),
            Err(e) => panic!("{e}\nthe service's log:\n{}", server.log_text()),
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(server.stop(), "{}", server.log_text());

    // Nothing lost, nothing twice.
    assert_committed_once(&lake, &answered, "soak");

    // The figures: memory after the warm-up and at the end; p99 of the first five minutes (the
    // first fifth in the short mode) and the last.
    let builds: Vec<String> = sql_rows(
        &lake,
        "SELECT CAST(CAST(date_part('epoch', finished_at - started_at) AS BIGINT) AS VARCHAR) || ' s ' || status FROM runs WHERE pipeline = 'build' ORDER BY started_at",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    eprintln!("soak: the builds took {}", builds.join(", "));
    let window = if long { 300.0 } else { seconds as f64 / 5.0 };
    let end = started.elapsed().as_secs_f64();
    // Memory like for like: the highest RSS of the window after the warm-up (the first run done)
    // against the highest of the last window, each window holding at least one run (a build's peak)
    // and the same load; the lowest of each is printed too.
    let warm_from = (seconds as f64 / 10.0).max(every.as_secs_f64() + 60.0).min(end - 2.0 * window);
    let in_window = |from: f64, to: f64| memory.iter().filter(move |(t, _)| *t >= from && *t < to).map(|m| m.1);
    let (warm, warm_low) = (in_window(warm_from, warm_from + window).fold(0.0, f64::max), in_window(warm_from, warm_from + window).fold(f64::MAX, f64::min));
    let (late, late_low) = (in_window(end - window, end + 1.0).fold(0.0, f64::max), in_window(end - window, end + 1.0).fold(f64::MAX, f64::min));
    let by_minute: Vec<String> = (0..=(end as usize / 60))
        .filter_map(|m| {
            let minute: Vec<f64> = in_window(m as f64 * 60.0, (m + 1) as f64 * 60.0).collect();
            (!minute.is_empty())
                .then(|| format!("{m}: {:.0}–{:.0}", minute.iter().copied().fold(f64::MAX, f64::min), minute.iter().copied().fold(0.0, f64::max)))
        })
        .collect();
    eprintln!("soak: RSS by minute (lowest–highest MiB): {}", by_minute.join(", "));
    let latencies = latencies.lock().unwrap().clone();
    let p = |kind: &str, from: f64, to: f64| p99(&mut latencies.iter().filter(|l| l.0 == kind && l.2 >= from && l.2 < to).map(|l| l.1).collect::<Vec<_>>());
    let (sub_first, sub_last) = (p("submission", 0.0, window), p("submission", end - window, end));
    let (query_first, query_last) = (p("query", 0.0, window), p("query", end - window, end));
    let queries = latencies.iter().filter(|l| l.0 == "query").count();
    eprintln!(
        "soak {seconds} s: {} submissions answered (all committed once), {queries} analyst queries, {runs} runs; RSS highest {warm:.0} MiB in the window after warm-up ({warm_from:.0} s on), {late:.0} MiB in the last ({:+.1} %; lowest {warm_low:.0} → {late_low:.0} MiB); p99 submission {sub_first:.1} ms first → {sub_last:.1} ms last; p99 query {query_first:.1} ms → {query_last:.1} ms",
        answered.len(),
        (late / warm - 1.0) * 100.0
    );
    assert!(runs >= 1, "a run (build, maintenance) ran during the soak");
    if long {
        assert!(late <= warm * 1.10, "memory grew {warm:.0} → {late:.0} MiB (highest of the first and last windows)");
        assert!(sub_last <= sub_first * 2.0 && query_last <= query_first * 2.0, "p99 drifted");
    }
}
