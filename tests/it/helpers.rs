//! Runs the real `tonghop` binary against the repository's project folder and a temporary lake.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo_root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs `tonghop` with `--project <repo> --lake <lake>`; panics with stderr unless it succeeds.
pub fn tonghop(lake: &Path, args: &[&str]) -> String {
    let out = tonghop_raw(lake, args);
    assert!(out.status.success(), "tonghop {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `tonghop` (in the lake's parent folder) and returns the raw output, success or not.
pub fn tonghop_raw(lake: &Path, args: &[&str]) -> std::process::Output {
    tonghop_command(lake, args).output().unwrap()
}

/// The `tonghop` command (in the lake's parent folder, `-q`), to run or spawn.
pub fn tonghop_command(lake: &Path, args: &[&str]) -> Command {
    let cwd = lake.parent().unwrap();
    tonghop_at(cwd, lake.to_str().unwrap(), args)
}

/// The `tonghop` command in `cwd` on the lake `lake` (a path or URL), `-q`.
pub fn tonghop_at(cwd: &Path, lake: &str, args: &[&str]) -> Command {
    tonghop_in(&repo_root(), cwd, lake, args)
}

/// The `tonghop` command on another project folder (a copy of the repository's, to edit).
pub fn tonghop_in(project: &Path, cwd: &Path, lake: &str, args: &[&str]) -> Command {
    std::fs::create_dir_all(cwd).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tonghop"));
    command.current_dir(cwd).arg("--project").arg(project).arg("--lake").arg(lake).arg("-q").args(args);
    command
}

/// A copy of the repository's project folder (`catalog/`, `reference/`, `sql/`, `pipelines/`) in
/// `dir`, for a test that edits it.
pub fn copy_project(dir: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy(&path, &target);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    for part in ["catalog", "reference", "sql", "pipelines"] {
        copy(&repo_root().join(part), &dir.join(part));
    }
    dir.to_path_buf()
}

/// A data value read straight from a generated file.
#[derive(Debug, Clone)]
pub struct Row {
    pub period: String,
    pub unit: String,
    pub element: String,
    pub value: f64,
}

pub fn csv_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            csv_files(&p, out)
        } else if p.extension().is_some_and(|x| x == "csv") {
            out.push(p)
        }
    }
}

/// Reads the generated files with plain CSV parsing, keeping rows a careful clerk would keep:
/// a known data element, a finite non-negative number, 0/1 for yes/no elements.
pub fn valid_rows(inbox: &Path) -> (Vec<Row>, usize) {
    let mut elements: HashMap<String, bool> = HashMap::new();
    let mut r = csv::Reader::from_path(repo_root().join("catalog/data_elements.csv")).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        elements.insert(rec[0].to_string(), &rec[4] == "boolean");
    }
    let mut files = Vec::new();
    csv_files(inbox, &mut files);
    let (mut rows, mut invalid) = (Vec::new(), 0);
    for f in files {
        let mut r = csv::Reader::from_path(&f).unwrap();
        for rec in r.records() {
            let rec = rec.unwrap();
            let ok = match (elements.get(&rec[2]), rec[3].parse::<f64>()) {
                (Some(boolean), Ok(v)) => v.is_finite() && v >= 0.0 && (!boolean || v == 0.0 || v == 1.0),
                _ => false,
            };
            if ok {
                rows.push(Row { period: rec[0].into(), unit: rec[1].into(), element: rec[2].into(), value: rec[3].parse().unwrap() });
            } else {
                invalid += 1;
            }
        }
    }
    (rows, invalid)
}

/// Runs a query and parses the CSV output into rows of strings.
pub fn sql_rows(lake: &Path, query: &str) -> Vec<Vec<String>> {
    let text = tonghop(lake, &["sql", query, "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect()
}

/// Checks that every answered submission, `(submission id, its one value)` as sent with the
/// token `quan-tri`, is committed once with its value, and that no other submission of that token is.
pub fn assert_committed_once(lake: &Path, answered: &[(String, u64)], what: &str) {
    let committed: std::collections::HashMap<String, String> = sql_rows(
        lake,
        "SELECT s.submission_id, CAST(v.value AS BIGINT) FROM submissions s JOIN data_values v ON v.submission_id = s.submission_id WHERE s.submitted_by = 'token:quan-tri'",
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone()))
    .collect();
    assert_eq!(committed.len(), answered.len(), "every answered submission committed once, no other ({what})");
    let lost: Vec<_> = answered.iter().filter(|(id, n)| committed.get(id) != Some(&n.to_string())).collect();
    assert!(lost.is_empty(), "answered submissions lost ({what}): {lost:?}");
}

/// A running `tonghop serve` (started on port 0), stopped with SIGTERM when dropped.
pub struct Served {
    child: Option<std::process::Child>,
    /// `http://127.0.0.1:port` (`https://` when it serves TLS).
    pub http: String,
    /// The PostgreSQL port, when enabled.
    pub pg_port: Option<u16>,
    /// The server's log (stderr).
    pub log: PathBuf,
}

/// Writes `config` (TOML; ports 0 are added unless it sets them, after its top-level keys) beside
/// the lake and starts `tonghop serve` with it; waits for its "listening" line.
pub fn serve(lake: &Path, config: &str) -> Served {
    let dir = lake.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let path = config_path(lake);
    let tables = config.find("\n[").map_or(config.len(), |i| i + 1);
    let (top, config) = if config.starts_with('[') { ("", config) } else { config.split_at(tables) };
    let mut text = top.to_string();
    if !config.contains("[http]") {
        text.push_str("[http]\nlisten = \"127.0.0.1:0\"\n");
    }
    if !config.contains("[postgres]") {
        text.push_str("[postgres]\nlisten = \"127.0.0.1:0\"\n");
    }
    text.push_str(config);
    std::fs::write(&path, text).unwrap();
    let mut command = tonghop_command(lake, &["serve", "--config", path.to_str().unwrap()]);
    command.env("RUST_LOG", "warn,tonghop_server=info");
    Served::start(command, dir)
}

/// The configuration file [`serve`] writes for `lake` (beside it).
pub fn config_path(lake: &Path) -> PathBuf {
    lake.parent().unwrap().join(format!("tonghop-{}.toml", std::process::id()))
}

impl Served {
    /// Starts `tonghop serve` as `command` sets it up (its log goes to a file in `dir`) and reads
    /// the addresses it prints.
    pub fn start(command: std::process::Command, dir: &Path) -> Served {
        Served::try_start(command, dir).unwrap_or_else(|log| panic!("tonghop serve did not start:\n{log}"))
    }

    /// As [`Served::start`], or the log of a service that exited instead of starting.
    pub fn try_start(mut command: std::process::Command, dir: &Path) -> Result<Served, String> {
        use std::io::BufRead;
        let log = dir.join(format!("serve-{}.log", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()));
        command.stdout(std::process::Stdio::piped()).stderr(std::fs::File::create(&log).unwrap());
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        if line.is_empty() {
            let _ = child.wait();
            return Err(std::fs::read_to_string(&log).unwrap_or_default());
        }
        // "tonghop serve: http://127.0.0.1:PORT postgres://127.0.0.1:PORT (lake ...)"
        let http = line.split_whitespace().find(|w| w.starts_with("http://") || w.starts_with("https://")).unwrap().to_string();
        let pg_port = line.split_whitespace().find_map(|w| w.strip_prefix("postgres://")).map(|a| a.rsplit(':').next().unwrap().parse().unwrap());
        Ok(Served { child: Some(child), http, pg_port, log })
    }

    /// Sends SIGTERM and waits (at most 60 s) for the process to exit; returns whether it exited
    /// cleanly.
    pub fn stop(&mut self) -> bool {
        self.stop_within(std::time::Duration::from_secs(60))
    }

    /// [`Served::stop`], waiting at most `wait` for the process to end.
    pub fn stop_within(&mut self, wait: std::time::Duration) -> bool {
        let Some(mut child) = self.child.take() else { return true };
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `[[postgres.users]]` entry for `user` with `password`, made by `tonghop passwd`.
pub fn pg_user(lake: &Path, user: &str, password: &str) -> String {
    let out = tonghop_command(lake, &["passwd", user]).env("TONGHOP_PG_PASSWORD", password).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// psql (Debian's client) set up to run `command` against the service's PostgreSQL endpoint.
pub fn psql_command(port: u16, user: &str, password: &str, command: &str) -> Command {
    let mut psql = Command::new("psql");
    psql.env("PGPASSWORD", password).env("PGCONNECT_TIMEOUT", "20").args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        user,
        "-d",
        "tonghop",
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        command,
    ]);
    psql
}

/// Runs `command` with psql and returns what it did.
pub fn psql(port: u16, user: &str, password: &str, command: &str) -> std::process::Output {
    psql_command(port, user, password, command).output().expect("psql (Debian's postgresql-client) must be installed: .ci/run installs it")
}

/// A token and its `[[tokens]]` entry, made by `tonghop token`.
pub fn make_token(lake: &Path, name: &str, role: &str, unit: Option<&str>) -> (String, String) {
    let mut args = vec!["token", "--name", name, "--role", role];
    if let Some(u) = unit {
        args.extend(["--unit", u]);
    }
    let out = tonghop_raw(lake, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let entry = stderr[stderr.find("[[tokens]]").unwrap()..].to_string();
    (token, entry)
}

/// A lake at `<dir>/lake` with the demo of province 04 (post2025) for January–March 2026 ingested
/// (the files kept in `<dir>/inbox`) and the models built.
/// July 2025 to March 2026 of post-2025 province 04 Cao Bằng, ingested and built.
pub fn q1_demo_lake(dir: &Path) -> PathBuf {
    let lake = dir.join("lake");
    let inbox = dir.join("inbox");
    tonghop(&lake, &["demo", "--inbox", inbox.to_str().unwrap(), "--until", "2026-04-15", "--provinces", "post2025:04"]);
    tonghop(&lake, &["ingest", inbox.to_str().unwrap(), "--keep"]);
    tonghop(&lake, &["build"]);
    lake
}

/// A self-signed certificate and its key (PEM; the key PKCS#8) in `dir`, made by openssl, for the
/// common name `cn` and, when given, the subject alternative name `san` (e.g. `IP:127.0.0.1`).
pub fn self_signed(dir: &Path, cn: &str, san: Option<&str>) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let mut openssl = Command::new("openssl");
    openssl.args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", &format!("/CN={cn}")]);
    if let Some(san) = san {
        openssl.args(["-addext", &format!("subjectAltName={san}")]);
    }
    let out = openssl.arg("-keyout").arg(&key).arg("-out").arg(&cert).output().expect("openssl must be installed (.ci/run installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// A headless Chromium driven through chromedriver (Debian's `chromium` and `chromium-driver`,
/// installed by `.ci/run`), each with its own empty profile; both processes end with it.
pub struct Browser {
    /// The WebDriver session.
    pub client: fantoccini::Client,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a browser window of 1280×1600.
    pub async fn start() -> Browser {
        use std::io::BufRead;
        let mut driver = Command::new("chromedriver")
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; .ci/run installs it)");
        let stdout = driver.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .filter(|l| l.contains("started successfully"))
            .find_map(|l| l.split("on port ").nth(1).and_then(|p| p.trim_end_matches('.').trim().parse::<u16>().ok()))
            .expect("chromedriver says its port");
        // Whatever it writes later is read (and dropped), so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let profile = tempfile::tempdir().unwrap();
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists()).unwrap_or("/usr/bin/chromium");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": binary,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1280,1600", "--lang=vi-VN", format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let connector = hyper_util_client::client::legacy::connect::HttpConnector::new();
        let client = fantoccini::ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session through chromedriver");
        Browser { client, driver, _profile: profile }
    }
}

impl Browser {
    /// Ends the session (Chromium quits), then chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Runs a Python `script` (`python3 -c`) with `args` and parses the JSON it prints; `what` names
/// the packages it needs (which .ci/run installs) in the failure message.
pub fn python_json(script: &str, args: &[&std::ffi::OsStr], what: &str) -> serde_json::Value {
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().unwrap_or_else(|e| panic!("python3 ({what}): {e}"));
    assert!(out.status.success(), "{what} could not read the lake: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
