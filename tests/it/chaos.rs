//! Faults at random: pipeline runs, full builds and the service under HTTP submissions killed with
//! SIGKILL at random moments, then the invariants checked: nothing answered lost, nothing
//! committed twice, the lake equal to an uninterrupted run's, no uncommitted row visible, leases
//! taken over, no run left `running`, `tonghop check` sound.
//!
//! CI runs 20 kills of runs and builds and 10 of the service. The long mode sets
//! `TONGHOP_CHAOS_KILLS` (kills of runs and builds; the service gets half as many) and
//! `TONGHOP_CHAOS_SEED` to replay a sequence; the figures are printed, and the README has the
//! last long run's.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{make_token, serve, sql_rows, tonghop, tonghop_command, tonghop_raw};

/// xorshift64*: enough randomness to pick moments, and replayable from its seed (the faults test
/// draws its faults with it too).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = std::env::var("TONGHOP_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
        eprintln!("chaos seed {seed} (TONGHOP_CHAOS_SEED={seed} replays it)");
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A duration in `[0, max)`.
    fn below(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.next() % (max.as_micros().max(1) as u64))
    }
}

fn kills(default: usize) -> usize {
    std::env::var("TONGHOP_CHAOS_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Kills `child` with SIGKILL after `after` unless it ended first; returns how long it ran when
/// it ended by itself (`None`: killed).
fn kill_after(mut child: Child, after: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let ran = child.try_wait().unwrap().map(|_| started.elapsed());
    let _ = child.kill();
    let _ = child.wait();
    ran
}

/// A pipeline of ingest then build (the faults test runs it too).
pub(crate) const PIPELINE: &str = "name = \"chaos\"\n\n[[steps]]\nname = \"ingest_inbox\"\nkind = \"ingest\"\nsource = \"inbox\"\narchive = \"archive\"\nfailed = \"failed\"\n\n[[steps]]\nname = \"build_models\"\nkind = \"build\"\n";

/// What must be equal between the interrupted lake and the uninterrupted one.
const FIGURES: [&str; 3] = [
    "SELECT count(*), count(DISTINCT submission_id), sum(rows_accepted) FROM submissions",
    "SELECT count(*), round(sum(value), 4) FROM data_values",
    "SELECT period_type, count(*), round(sum(value), 4) FROM indicator_values GROUP BY period_type ORDER BY period_type",
];

#[test]
fn runs_and_builds_killed_at_random_moments_end_as_an_uninterrupted_run() {
    let mut rng = Rng::from_env();
    let dir = tempfile::tempdir().unwrap();
    let demo = ["demo", "--provinces", "post2025:04", "--until", "2026-01-01", "--seed", "31"];
    // The uninterrupted run.
    let reference = dir.path().join("reference/lake");
    tonghop(&reference, &demo);
    std::fs::write(dir.path().join("reference/chaos.toml"), PIPELINE).unwrap();
    let started = Instant::now();
    tonghop(&reference, &["run", "chaos.toml"]);
    let span = started.elapsed();
    let expected: Vec<_> = FIGURES.iter().map(|q| sql_rows(&reference, q)).collect();

    // The same files, the same pipeline, killed again and again.
    let lake = dir.path().join("chaos/lake");
    tonghop(&lake, &demo);
    std::fs::write(dir.path().join("chaos/chaos.toml"), PIPELINE).unwrap();
    let (wanted, mut killed, mut finished, mut full_builds) = (kills(20), 0, 0, 0);
    let started = Instant::now();
    // How long each kind of process last took when it ran to its end: kills are drawn within it
    // (a run has less to do once the inbox is ingested).
    let mut spans = [span, span];
    while killed < wanted {
        // Runs (ingest then an incremental build, under the pipeline's lease) and full builds.
        let full = rng.next().is_multiple_of(3);
        let args: &[&str] = if full { &["build", "--full"] } else { &["run", "chaos.toml"] };
        full_builds += usize::from(full);
        let child = tonghop_command(&lake, args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        match kill_after(child, rng.below(spans[usize::from(full)].mul_f32(1.1))) {
            None => killed += 1,
            Some(ran) => {
                finished += 1;
                spans[usize::from(full)] = ran.max(Duration::from_millis(300));
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60 * 60), "the chaos loop takes too long");
    }
    eprintln!("pipeline chaos: {killed} kills, {finished} processes finished before their kill ({full_builds} full builds), {:?}", started.elapsed());

    let out = tonghop(&lake, &["run", "chaos.toml"]);
    assert!(!out.is_empty());
    for (query, expected) in FIGURES.iter().zip(&expected) {
        assert_eq!(&sql_rows(&lake, query), expected, "{query}");
    }
    let running = sql_rows(&lake, "SELECT count(*) FROM runs WHERE status = 'running'");
    assert_eq!(running[0][0], "0", "every killed run is marked failed by a later one");
    assert!(!lake.join("leases/pipeline-chaos.json").exists(), "the last run gave its lease back");
    let check = tonghop_raw(&lake, &["check"]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_killed_at_random_moments_loses_no_answered_submission() {
    let mut rng = Rng::from_env();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (admin, entry) = make_token(&lake, "quan-tri", "admin", None);
    let config = format!("[scheduler]\nenabled = false\npipelines = []\n[postgres]\nenabled = false\n\n{entry}");
    let communes = ["00004", "00008", "00025", "00070"];
    let (wanted, mut killed, mut sent) = (kills(20).div_ceil(2), 0, 0usize);
    let mut answered: Vec<(String, u64)> = Vec::new();
    let started = Instant::now();
    while killed < wanted {
        let server = serve(&lake, &config);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let senders: Vec<_> = (0..4)
            .map(|client| {
                let (http, token, stop) = (server.http.clone(), admin.clone(), stop.clone());
                let first = (killed * 4 + client) as u64 * 1_000_000;
                tokio::spawn(async move {
                    let http_client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
                    let (mut answered, mut sent) = (Vec::new(), 0usize);
                    for n in first.. {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let body = format!("period,org_unit,data_element,value\n202601,{},DS_TONG,{n}\n", communes[client]);
                        sent += 1;
                        let Ok(r) = http_client.post(format!("{http}/api/submissions?filename=c{n}.csv")).bearer_auth(&token).body(body).send().await else {
                            break;
                        };
                        if r.status().as_u16() != 201 {
                            break;
                        }
                        let Ok(receipt) = r.json::<Value>().await else { break };
                        answered.push((receipt["submission_id"].as_str().unwrap().to_string(), n));
                    }
                    (answered, sent)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100) + rng.below(Duration::from_millis(1500))).await;
        std::process::Command::new("kill").args(["-9", &server.pid().to_string()]).status().unwrap();
        killed += 1;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for s in senders {
            let (a, n) = s.await.unwrap();
            answered.extend(a);
            sent += n;
        }
        drop(server);
    }
    // A last start commits what the journal holds (all of it before it ends); SIGTERM ends it
    // cleanly. After hundreds of kills the journal can hold tens of thousands of submissions.
    let mut server = serve(&lake, &config);
    let stopping = Instant::now();
    assert!(server.stop_within(Duration::from_secs(600)), "the last start did not stop cleanly within 600 s:\n{}", server.log_text());
    let journal = server.log_text().lines().find(|l| l.contains("committing the journal")).map(str::to_string).unwrap_or_default();
    eprintln!(
        "service chaos: {killed} kills, {sent} submissions sent, {} answered, {:?}; the last start committed the journal and stopped {:.1} s after SIGTERM ({journal})",
        answered.len(),
        started.elapsed(),
        stopping.elapsed().as_secs_f64()
    );
    assert!(answered.len() > killed, "submissions were answered between the kills");

    let rows = sql_rows(&lake, "SELECT submission_id, count(*) FROM submissions GROUP BY submission_id HAVING count(*) > 1");
    assert!(rows.is_empty(), "committed twice: {rows:?}");
    let committed: std::collections::HashMap<String, String> =
        sql_rows(&lake, "SELECT s.submission_id, CAST(v.value AS BIGINT) FROM submissions s JOIN data_values v ON v.submission_id = s.submission_id")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect();
    let lost: Vec<_> = answered.iter().filter(|(id, n)| committed.get(id) != Some(&n.to_string())).collect();
    assert!(lost.is_empty(), "{} answered submissions lost or changed, e.g. {:?}", lost.len(), &lost[..lost.len().min(5)]);
    let visible = sql_rows(&lake, "SELECT (SELECT count(*) FROM data_values) = (SELECT sum(rows_accepted) FROM submissions)");
    assert_eq!(visible[0][0], "true", "no row of an uncommitted submission is visible");
    let check = tonghop_raw(&lake, &["check"]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}
