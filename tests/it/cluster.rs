//! Distributed execution end to end: `tonghop worker` processes on 127.0.0.1, a coordinator that
//! plans over them with splits of one byte (so every scan is cut into tasks and every stage
//! crosses the network, serialised as protobuf over gRPC), and the same tables as a single-process
//! build, row by row. A worker killed in the middle of a build fails it, and the models it had
//! committed are taken back; the retried run succeeds.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::helpers::{make_token, q1_demo_lake, serve, sql_rows, tonghop, tonghop_command, tonghop_raw};

/// A running `tonghop worker`, killed when dropped.
struct Worker {
    child: std::process::Child,
    /// `127.0.0.1:PORT`.
    address: String,
    log: PathBuf,
}

impl Worker {
    /// Starts a worker on `listen` (port 0: any) and reads the address it prints.
    fn start(lake: &Path, listen: &str, name: &str) -> Worker {
        Worker::start_with(lake, listen, name, &[])
    }

    /// [`Worker::start`] with more global flags (`--cluster FILE` for TLS).
    fn start_with(lake: &Path, listen: &str, name: &str, flags: &[&str]) -> Worker {
        let log = lake.parent().unwrap().join(format!("{name}.log"));
        let mut command = tonghop_command(lake, &[flags, &["worker", "--listen", listen]].concat());
        command.env("RUST_LOG", "warn,tonghop_engine::cluster=debug");
        command.stdout(std::process::Stdio::piped()).stderr(std::fs::File::create(&log).unwrap());
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        // "tonghop worker: listening on http://127.0.0.1:PORT (lake ...)"
        let address = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://").or_else(|| w.strip_prefix("https://")))
            .unwrap_or_else(|| panic!("worker {name} did not start: {line:?}\n{}", std::fs::read_to_string(&log).unwrap_or_default()))
            .to_string();
        Worker { child, address, log }
    }

    /// Plan fragments this worker has executed so far (its debug log counts them).
    fn fragments(&self) -> usize {
        std::fs::read_to_string(&self.log).unwrap_or_default().matches("plan fragment received").count()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `--cluster` file for `workers`, every scan split into one task per byte's worth (as many
/// tasks as workers allow).
fn cluster_file(dir: &Path, workers: &[&Worker]) -> PathBuf {
    let path = dir.join("cluster.toml");
    let list: Vec<String> = workers.iter().map(|w| format!("{:?}", w.address)).collect();
    std::fs::write(&path, format!("[cluster]\nworkers = [{}]\nbytes_per_task = 1\n", list.join(", "))).unwrap();
    path
}

/// `tonghop sql --format csv` distributed over the cluster of `cluster`.
fn sql_rows_on(lake: &Path, cluster: &Path, query: &str) -> Vec<Vec<String>> {
    let text = tonghop(lake, &["--cluster", cluster.to_str().unwrap(), "sql", query, "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect()
}

/// Every lake table (`lake.*`) and model table (`models.*`) of the session.
fn stored_tables(lake: &Path) -> Vec<String> {
    sql_rows(
        lake,
        "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema IN ('lake', 'models') AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

/// The Delta version of every model table, as `tonghop check` reports it.
fn model_versions(lake: &Path) -> BTreeMap<String, u64> {
    tonghop(lake, &["check"])
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("ok   models/")?;
            let (table, rest) = rest.split_once(": version ")?;
            Some((table.to_string(), rest.split(',').next()?.trim().parse().ok()?))
        })
        .collect()
}

#[test]
fn a_distributed_build_equals_a_single_process_build() {
    let dir = tempfile::tempdir().unwrap();
    let lake = q1_demo_lake(dir.path());
    let single = crate::build::snapshot(&lake);
    assert!(single.iter().filter(|(_, rows)| rows.is_empty()).count() <= 1, "the demo fills the models (rule_breaks may be empty)");
    let tables = stored_tables(&lake);
    assert!(tables.len() >= 12, "lake and model tables: {tables:?}");

    let (w1, w2) = (Worker::start(&lake, "127.0.0.1:0", "worker-1"), Worker::start(&lake, "127.0.0.1:0", "worker-2"));
    let cluster = cluster_file(dir.path(), &[&w1, &w2]);

    // 1. Every stored table reads the same through the Parquet scan of the snapshot, distributed,
    //    as through the Delta scan in one process (rows compared as sorted text).
    for table in &tables {
        let query = format!("SELECT * FROM {table}");
        let (mut local, mut distributed) = (sql_rows(&lake, &query), sql_rows_on(&lake, &cluster, &query));
        local.sort();
        distributed.sort();
        assert_eq!(local.len(), distributed.len(), "{table}: row count, Delta scan vs distributed Parquet scan");
        assert!(local == distributed, "{table}: rows differ between the Delta scan and the distributed Parquet scan");
    }

    // 2. The plan really crosses the network: stages, shuffles and a coordinator.
    let plan = tonghop(
        &lake,
        &[
            "--cluster",
            cluster.to_str().unwrap(),
            "sql",
            "EXPLAIN ANALYZE SELECT level, indicator, count(*), sum(value) FROM indicator_values GROUP BY level, indicator",
        ],
    );
    for node in ["DistributedExec", "Stage 1", "NetworkShuffleExec", "DistributedLeafExec"] {
        assert!(plan.contains(node), "the distributed plan has no {node}:\n{plan}");
    }

    // 3. A full build over the workers writes exactly the single-process build's tables.
    let before = (w1.fragments(), w2.fragments());
    let out = tonghop(&lake, &["--cluster", cluster.to_str().unwrap(), "build", "--full"]);
    assert!(out.contains("model tests passed"), "{out}");
    assert!(
        w1.fragments() > before.0 + 10 && w2.fragments() > before.1 + 10,
        "both workers executed the build's fragments: {before:?} → {:?}",
        (w1.fragments(), w2.fragments())
    );
    let distributed = crate::build::snapshot(&lake);
    for ((table, a), (_, b)) in single.iter().zip(&distributed) {
        assert_eq!(a.len(), b.len(), "{table}: rows, single-process vs distributed build");
        let differing = a.iter().zip(b).position(|(x, y)| x != y);
        assert!(
            differing.is_none(),
            "{table}: row {} differs:\n single      {:?}\n distributed {:?}",
            differing.unwrap(),
            a[differing.unwrap()],
            b[differing.unwrap()]
        );
    }

    // 4. Analyst SQL over the workers answers as in one process, from the CLI and from the
    //    service configured with [cluster].
    let query =
        "SELECT level, indicator, count(*) AS n, round(sum(value), 6) AS total FROM indicator_values GROUP BY level, indicator ORDER BY level, indicator";
    let local = sql_rows(&lake, query);
    assert_eq!(sql_rows_on(&lake, &cluster, query), local);
    let (token, entry) = make_token(&lake, "phan-tich", "analyst", None);
    let before = (w1.fragments(), w2.fragments());
    let server = serve(&lake, &format!("{entry}\n[cluster]\nworkers = [{:?}, {:?}]\nbytes_per_task = 1\n", w1.address, w2.address));
    let csv = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = reqwest::Client::new().post(format!("{}/sql?format=csv", server.http)).bearer_auth(&token).body(query).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.text().await.unwrap()
    });
    let served: Vec<Vec<String>> = csv::Reader::from_reader(csv.as_bytes()).records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    assert_eq!(served, local, "the service's /sql over the workers");
    assert!(w1.fragments() > before.0 && w2.fragments() > before.1, "the service sent the query to the workers");
}

#[test]
fn killing_a_worker_fails_the_build_and_the_retry_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let lake = q1_demo_lake(dir.path());
    let single = crate::build::snapshot(&lake);
    let versions = model_versions(&lake);
    assert!(versions.len() >= 8, "{versions:?}");

    let (mut w1, w2) = (Worker::start(&lake, "127.0.0.1:0", "worker-1"), Worker::start(&lake, "127.0.0.1:0", "worker-2"));
    let cluster = cluster_file(dir.path(), &[&w1, &w2]);
    let mut build = tonghop_command(&lake, &["--cluster", cluster.to_str().unwrap(), "build", "--full"]);
    let build = build.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Kill worker 1 (SIGKILL) once the build has committed its first model table (commune_months)
    // and goes on with the others over the workers.
    let log = lake.join("models/commune_months/_delta_log");
    let commits = || std::fs::read_dir(&log).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json")).count();
    let first = commits();
    let deadline = Instant::now() + Duration::from_secs(300);
    while commits() == first {
        assert!(Instant::now() < deadline, "the build committed no model");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(w1.fragments() > 0, "worker 1 received no work");
    w1.kill();
    let out = build.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the build went on without a worker:\n{}", String::from_utf8_lossy(&out.stdout));
    // "error: model X (./sql/…): …" names the model it was computing.
    assert!(stderr.contains("error: model "), "no model named in: {stderr}");
    // No model table changed: those committed before the failure were taken back (restored to the
    // version before the build), so every model reads as after the last complete build.
    assert_eq!(crate::build::snapshot(&lake), single, "the failed build changed the models");
    let after = model_versions(&lake);
    assert!(after["commune_months"] >= versions["commune_months"] + 2, "commune_months was committed, then restored: {versions:?} → {after:?}");
    // The lake is sound: nothing half-written is visible.
    tonghop(&lake, &["check"]);

    // The retried run, with worker 1 back on its address, succeeds and equals one process's build.
    let _w1 = Worker::start(&lake, &w1.address, "worker-1b");
    let out = tonghop_raw(&lake, &["--cluster", cluster.to_str().unwrap(), "build", "--full"]);
    assert!(out.status.success(), "retry: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(crate::build::snapshot(&lake), single, "the retried distributed build equals the single-process build");
}

/// A CA, and a certificate it signed for the name `tonghop-worker` with its key (PEM), by openssl.
fn worker_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl").current_dir(dir).args(args).output().expect("openssl (.ci/run installs it)");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=tonghop test CA", "-keyout", "ca.key", "-out", "ca.crt"]);
    run(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=tonghop-worker", "-keyout", "worker.key", "-out", "worker.csr"]);
    std::fs::write(dir.join("worker.ext"), "subjectAltName=DNS:tonghop-worker\nbasicConstraints=CA:FALSE\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "worker.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "worker.ext",
        "-out",
        "worker.crt",
    ]);
    (dir.join("ca.crt"), dir.join("worker.crt"), dir.join("worker.key"))
}

#[test]
fn worker_links_can_use_tls() {
    let dir = tempfile::tempdir().unwrap();
    let lake = q1_demo_lake(dir.path());
    let (ca, cert, key) = worker_certificate(dir.path());
    // One file for workers and coordinator: workers present cert and key, and every side checks
    // the others' certificates against it (workers also call each other).
    let tls = |workers: &str| {
        format!(
            "[cluster]\nworkers = [{workers}]\nbytes_per_task = 1\n[cluster.tls]\nca = {:?}\ndomain = \"tonghop-worker\"\ncert = {:?}\nkey = {:?}\n",
            ca.to_str().unwrap(),
            cert.to_str().unwrap(),
            key.to_str().unwrap()
        )
    };
    let serving = dir.path().join("worker-tls.toml");
    std::fs::write(&serving, tls("")).unwrap();
    let flags = ["--cluster", serving.to_str().unwrap()];
    let (w1, w2) = (Worker::start_with(&lake, "127.0.0.1:0", "tls-1", &flags), Worker::start_with(&lake, "127.0.0.1:0", "tls-2", &flags));
    let cluster = dir.path().join("cluster-tls.toml");
    std::fs::write(&cluster, tls(&format!("{:?}, {:?}", w1.address, w2.address))).unwrap();

    let query =
        "SELECT level, indicator, count(*) AS n, round(sum(value), 6) AS total FROM indicator_values GROUP BY level, indicator ORDER BY level, indicator";
    assert_eq!(sql_rows_on(&lake, &cluster, query), sql_rows(&lake, query), "over TLS links");
    let plan = tonghop(&lake, &["--cluster", cluster.to_str().unwrap(), "sql", &format!("EXPLAIN ANALYZE {query}")]);
    assert!(plan.contains("NetworkShuffleExec") && w1.fragments() > 0 && w2.fragments() > 0, "the query crossed the TLS links:\n{plan}");

    // Without TLS, the coordinator cannot talk to the TLS workers: the query fails, it does not
    // fall back to plain text.
    let plain = dir.path().join("cluster-plain.toml");
    std::fs::write(&plain, format!("[cluster]\nworkers = [{:?}, {:?}]\nbytes_per_task = 1\n", w1.address, w2.address)).unwrap();
    let out = tonghop_raw(&lake, &["--cluster", plain.to_str().unwrap(), "sql", query]);
    assert!(!out.status.success(), "a plain-text coordinator was answered by TLS workers");
}
