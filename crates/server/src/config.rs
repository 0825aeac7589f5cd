//! The service configuration: one TOML file (see `tonghop.example.toml` at the repository root),
//! then environment overrides, then checks that report every problem at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::{PgUser, TokenEntry};
use crate::{Error, Result};

/// Everything `tonghop serve` needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The lake: a folder or `s3://bucket/prefix` (`TONGHOP_LAKE`).
    #[serde(default = "default_lake")]
    pub lake: String,
    /// The project folder holding `catalog/`, `reference/`, `sql/` (`TONGHOP_PROJECT`).
    #[serde(default = "default_project")]
    pub project: PathBuf,
    /// The HTTP API.
    #[serde(default)]
    pub http: HttpConfig,
    /// The PostgreSQL wire endpoint.
    #[serde(default)]
    pub postgres: PostgresConfig,
    /// The scheduler.
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// How HTTP submissions are committed.
    #[serde(default)]
    pub submissions: SubmissionConfig,
    /// Limits of analyst SQL (HTTP `/sql` and PostgreSQL); see [`crate::limits`].
    #[serde(default)]
    pub queries: QueryLimits,
    /// Throttling of failed logins (unknown HTTP tokens, wrong PostgreSQL passwords); see [`crate::throttle`].
    #[serde(default)]
    pub logins: LoginLimits,
    /// API tokens (stored as SHA-256 hashes; `tonghop token` makes new ones).
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    /// Seconds a SIGTERM waits for the current pipeline step before abandoning it (default 60).
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
    /// Seconds between reloads of the SQL session when the lake changed (default 30).
    #[serde(default = "default_reload")]
    pub reload_seconds: u64,
    /// Seconds between looks at the configuration file: when its content changed, its tokens and
    /// PostgreSQL users replace the ones in use (default 2; SIGHUP reloads at once). Other
    /// settings take effect at the next start.
    #[serde(default = "default_access_poll")]
    pub access_poll_seconds: u64,
    /// The audit trail (`lake.audit`).
    #[serde(default)]
    pub audit: AuditConfig,
    /// The dashboard's pages.
    #[serde(default)]
    pub dashboard: DashboardConfig,
    /// The workers SQL and builds are distributed over (`tonghop worker`); none: this process.
    #[serde(default)]
    pub cluster: tonghop_engine::ClusterConfig,
    /// The file this configuration was read from (none: the defaults).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// The dashboard (see [`crate::dashboard`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// Serve its pages (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Hours a sign-in lasts (default 12).
    #[serde(default = "default_session_hours")]
    pub session_hours: u64,
    /// A GeoJSON file of today's 34 provinces (relative to the project), drawn instead of the
    /// tile grid; checked at start (see [`crate::dashboard`]).
    #[serde(default)]
    pub boundaries: Option<PathBuf>,
    /// The feature property holding a province's official code (default `code`).
    #[serde(default = "default_code_property")]
    pub boundary_code_property: String,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig { enabled: true, session_hours: default_session_hours(), boundaries: None, boundary_code_property: default_code_property() }
    }
}

fn default_code_property() -> String {
    "code".into()
}

fn default_session_hours() -> u64 {
    12
}

/// The audit trail: a Delta table of who did what (see [`crate::audit`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Keep one (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Days of entries kept; older days are deleted once a day (default 400: the year's reports
    /// and a month of margin).
    #[serde(default = "default_audit_days")]
    pub retention_days: u32,
    /// Seconds between writes of new entries to the lake (default 5).
    #[serde(default = "default_audit_flush")]
    pub flush_seconds: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { enabled: true, retention_days: default_audit_days(), flush_seconds: default_audit_flush() }
    }
}

fn default_audit_days() -> u32 {
    400
}
fn default_audit_flush() -> u64 {
    5
}
fn default_access_poll() -> u64 {
    2
}

/// The HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on (`TONGHOP_HTTP_LISTEN`; port 0 picks a free port).
    #[serde(default = "default_http_listen")]
    pub listen: String,
    /// Largest submission accepted, in bytes (default 20 MiB).
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
    /// Largest result of `POST /sql`, in rows (default 1,000,000).
    #[serde(default = "default_sql_rows")]
    pub max_sql_rows: usize,
    /// Longest time to receive a request's headers, in seconds (default 30); a connection that
    /// sends them slower is closed.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_seconds: u64,
    /// Reverse proxies in front of the service (addresses or networks: `"127.0.0.1"`,
    /// `"10.0.0.0/8"`). A request from one of them is counted (throttling, logs) against the client
    /// address its `X-Forwarded-For` names: the right-most one that is not itself a trusted proxy.
    /// Empty (the default): `X-Forwarded-For` is ignored, as anyone can send it.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// PEM certificate chain for HTTPS (optional; with `tls_key`; relative to the project folder).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM PKCS#8 private key for HTTPS.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

impl HttpConfig {
    /// The trusted proxies as networks, and a problem for each entry that is not an address or a network.
    pub fn proxies(&self) -> (Vec<ipnet::IpNet>, Vec<String>) {
        let mut problems = Vec::new();
        let nets = self
            .trusted_proxies
            .iter()
            .filter_map(|p| {
                let parsed = p.parse::<ipnet::IpNet>().or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
                parsed
                    .map_err(|_| problems.push(format!("http.trusted_proxies: {p:?} is not an address or a network (write \"10.0.0.5\" or \"10.0.0.0/8\")")))
                    .ok()
            })
            .collect();
        (nets, problems)
    }
}

fn default_header_timeout() -> u64 {
    30
}

/// The PostgreSQL wire endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Serve it at all (`TONGHOP_PG_ENABLED`).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Address to listen on (`TONGHOP_PG_LISTEN`; port 0 picks a free port).
    #[serde(default = "default_pg_listen")]
    pub listen: String,
    /// PEM certificate chain for TLS (optional; with `tls_key`).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM PKCS#8 private key for TLS.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Users allowed to log in (SCRAM-SHA-256; `tonghop passwd` makes an entry).
    #[serde(default)]
    pub users: Vec<PgUser>,
    /// Most connections open at once, logged in or not (default 64); one more is refused at once
    /// as PostgreSQL refuses it (`FATAL 53300`), so idle or half-open connections cannot pile up.
    #[serde(default = "default_pg_connections")]
    pub max_connections: usize,
}

fn default_pg_connections() -> usize {
    64
}

/// The scheduler.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Run pipelines on their schedules (`TONGHOP_SCHEDULER_ENABLED`).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Pipeline specs, relative to the project folder (default: every `pipelines/*.toml`).
    #[serde(default)]
    pub pipelines: Vec<PathBuf>,
}

/// How HTTP submissions are committed to the lake.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionConfig {
    /// At most this many submissions share one journal entry (default 256).
    #[serde(default = "default_group")]
    pub max_group: usize,
    /// Submissions waiting to be journaled (and journal entries waiting for Delta) before new
    /// submissions get 503 (default 4096).
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Uploads read and checked at once (default 16); the next wait, their body not yet read, up to
    /// `body_timeout_seconds`, then get 503: stalled uploads cannot hold more than this many bodies.
    #[serde(default = "default_uploads")]
    pub max_concurrent_uploads: usize,
    /// Longest time to receive a request's body, in seconds (default 300: 20 MiB at ~0.6 Mbit/s).
    #[serde(default = "default_body_timeout")]
    pub body_timeout_seconds: u64,
}

fn default_uploads() -> usize {
    16
}
fn default_body_timeout() -> u64 {
    300
}

/// Limits of analyst SQL (HTTP `/sql` and PostgreSQL). The defaults suit a 2-core, 4 GiB service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryLimits {
    /// Memory of all analyst queries together, in MiB (default 1536).
    #[serde(default = "default_queries_memory")]
    pub memory_mb: usize,
    /// Memory of one query, in MiB (default 512); sorts, aggregates and joins spill past it.
    #[serde(default = "default_query_memory")]
    pub query_memory_mb: usize,
    /// Temporary files of spilling queries, all together, in MiB (default 4096).
    #[serde(default = "default_spill")]
    pub spill_mb: usize,
    /// A statement's longest run, rows sent to the client included, in seconds (default 120).
    #[serde(default = "default_query_timeout")]
    pub timeout_seconds: u64,
    /// Analyst queries running at once (default 4); the next ones wait.
    #[serde(default = "default_concurrent")]
    pub max_concurrent: usize,
    /// How long a query waits for a free slot before it is refused as busy, in seconds (default 10).
    #[serde(default = "default_queue_seconds")]
    pub queue_seconds: u64,
    /// Threads of the analyst thread pool, apart from the HTTP server and the scheduler (default 2).
    #[serde(default = "default_query_threads")]
    pub threads: usize,
}

/// Throttling of failed logins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginLimits {
    /// Failures allowed per client address, and per PostgreSQL user name, within the window (default 10).
    #[serde(default = "default_login_failures")]
    pub max_failures: usize,
    /// The window, in seconds (default 600).
    #[serde(default = "default_login_window")]
    pub window_seconds: u64,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits { max_failures: default_login_failures(), window_seconds: default_login_window() }
    }
}

fn default_login_failures() -> usize {
    10
}
fn default_login_window() -> u64 {
    600
}

fn yes() -> bool {
    true
}
fn default_lake() -> String {
    "lake".into()
}
fn default_project() -> PathBuf {
    ".".into()
}
fn default_http_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_pg_listen() -> String {
    "127.0.0.1:5433".into()
}
fn default_body_limit() -> usize {
    20 << 20
}
fn default_sql_rows() -> usize {
    1_000_000
}
fn default_queries_memory() -> usize {
    1536
}
fn default_query_memory() -> usize {
    512
}
fn default_spill() -> usize {
    4096
}
fn default_query_timeout() -> u64 {
    120
}
fn default_concurrent() -> usize {
    4
}
fn default_queue_seconds() -> u64 {
    10
}
fn default_query_threads() -> usize {
    2
}
fn default_group() -> usize {
    256
}
fn default_queue() -> usize {
    4096
}
fn default_grace() -> u64 {
    60
}
fn default_reload() -> u64 {
    30
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_http_listen(),
            max_body_bytes: default_body_limit(),
            max_sql_rows: default_sql_rows(),
            header_timeout_seconds: default_header_timeout(),
            trusted_proxies: Vec::new(),
            tls_cert: None,
            tls_key: None,
        }
    }
}
impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            enabled: true,
            listen: default_pg_listen(),
            tls_cert: None,
            tls_key: None,
            users: Vec::new(),
            max_connections: default_pg_connections(),
        }
    }
}
impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig { enabled: true, pipelines: Vec::new() }
    }
}
impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            memory_mb: default_queries_memory(),
            query_memory_mb: default_query_memory(),
            spill_mb: default_spill(),
            timeout_seconds: default_query_timeout(),
            max_concurrent: default_concurrent(),
            queue_seconds: default_queue_seconds(),
            threads: default_query_threads(),
        }
    }
}
impl Default for SubmissionConfig {
    fn default() -> Self {
        SubmissionConfig {
            max_group: default_group(),
            queue: default_queue(),
            max_concurrent_uploads: default_uploads(),
            body_timeout_seconds: default_body_timeout(),
        }
    }
}

/// The environment variables that override the file, and what they set.
pub const ENV_OVERRIDES: [(&str, &str); 6] = [
    ("TONGHOP_LAKE", "lake"),
    ("TONGHOP_PROJECT", "project"),
    ("TONGHOP_HTTP_LISTEN", "http.listen"),
    ("TONGHOP_PG_LISTEN", "postgres.listen"),
    ("TONGHOP_PG_ENABLED", "postgres.enabled"),
    ("TONGHOP_SCHEDULER_ENABLED", "scheduler.enabled"),
];

impl ServerConfig {
    /// Reads a config file (or the defaults when `path` is `None`), applies the environment
    /// overrides of [`ENV_OVERRIDES`] and checks the result, reporting every problem at once.
    pub fn load(path: Option<&Path>) -> Result<ServerConfig> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| Error::Io { path: p.display().to_string(), source })?,
            None => String::new(),
        };
        ServerConfig::from_text(path, &text)
    }

    /// As [`ServerConfig::load`], on the text of the file at `path` already read.
    pub fn from_text(path: Option<&Path>, text: &str) -> Result<ServerConfig> {
        let name = path.map_or_else(|| "(defaults)".to_string(), |p| p.display().to_string());
        let mut config: ServerConfig = toml::from_str(text).map_err(|e| Error::Config(vec![format!("{name}: {e}")].into()))?;
        config.source = path.map(Path::to_path_buf);
        let mut problems = config.apply_env(|k| std::env::var(k).ok());
        problems.extend(config.problems().into_iter().map(|p| format!("{name}: {p}")));
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(Error::Config(problems.into()))
        }
    }

    /// Applies environment overrides read through `var`; returns the problems found.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Vec<String> {
        let mut problems = Vec::new();
        let flag = |key: &str, value: String, problems: &mut Vec<String>| match value.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" => Some(false),
            _ => {
                problems.push(format!("environment {key}={value:?}: write true or false"));
                None
            }
        };
        for (key, _) in ENV_OVERRIDES {
            let Some(value) = var(key) else { continue };
            match key {
                "TONGHOP_LAKE" => self.lake = value,
                "TONGHOP_PROJECT" => self.project = value.into(),
                "TONGHOP_HTTP_LISTEN" => self.http.listen = value,
                "TONGHOP_PG_LISTEN" => self.postgres.listen = value,
                "TONGHOP_PG_ENABLED" => self.postgres.enabled = flag(key, value, &mut problems).unwrap_or(self.postgres.enabled),
                _ => self.scheduler.enabled = flag(key, value, &mut problems).unwrap_or(self.scheduler.enabled),
            }
        }
        problems
    }

    /// Every problem of the configuration, each naming the setting and the fix.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.cluster.problems();
        if self.http.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!("http.listen = {:?} is not an address: write host:port, e.g. \"127.0.0.1:8080\"", self.http.listen));
        }
        if self.postgres.enabled && self.postgres.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!("postgres.listen = {:?} is not an address: write host:port, e.g. \"127.0.0.1:5433\"", self.postgres.listen));
        }
        if self.http.tls_cert.is_some() != self.http.tls_key.is_some() {
            problems.push("http: set both tls_cert and tls_key, or neither".into());
        }
        if self.postgres.tls_cert.is_some() != self.postgres.tls_key.is_some() {
            problems.push("postgres: set both tls_cert and tls_key, or neither".into());
        }
        if self.postgres.max_connections == 0 {
            problems.push("postgres.max_connections must be at least 1 (set postgres.enabled = false to serve no PostgreSQL endpoint)".into());
        }
        problems.extend(self.http.proxies().1);
        if self.http.header_timeout_seconds == 0 {
            problems.push("http.header_timeout_seconds must be at least 1".into());
        }
        let sub = &self.submissions;
        if sub.max_group == 0 || sub.queue == 0 || sub.max_concurrent_uploads == 0 || sub.body_timeout_seconds == 0 {
            problems.push("submissions: max_group, queue, max_concurrent_uploads and body_timeout_seconds must be at least 1".into());
        }
        let q = &self.queries;
        if q.memory_mb == 0 || q.query_memory_mb == 0 || q.timeout_seconds == 0 || q.max_concurrent == 0 || q.threads == 0 {
            problems.push("queries: memory_mb, query_memory_mb, timeout_seconds, max_concurrent and threads must be at least 1".into());
        }
        if self.access_poll_seconds == 0 {
            problems.push("access_poll_seconds must be at least 1".into());
        }
        if self.audit.retention_days == 0 || self.audit.flush_seconds == 0 {
            problems.push("audit: retention_days and flush_seconds must be at least 1 (set audit.enabled = false to keep no audit trail)".into());
        }
        if self.logins.max_failures == 0 {
            problems.push("logins.max_failures must be at least 1".into());
        }
        if q.query_memory_mb > q.memory_mb {
            problems.push(format!(
                "queries.query_memory_mb = {} is more than queries.memory_mb = {} (all queries together); lower it or raise memory_mb",
                q.query_memory_mb, q.memory_mb
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.tokens.iter().enumerate() {
            if !names.insert(t.name.as_str()) {
                problems.push(format!("tokens[{i}]: the name {:?} is used twice; give each token its own name", t.name));
            }
            problems.extend(t.problems().into_iter().map(|p| format!("tokens[{i}] ({}): {p}", t.name)));
        }
        for (i, u) in self.postgres.users.iter().enumerate() {
            problems.extend(u.problems().into_iter().map(|p| format!("postgres.users[{i}] ({}): {p}", u.name)));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
            [http]
            listen = "localhost"
            [postgres]
            tls_cert = "cert.pem"
            [queries]
            memory_mb = 100
            query_memory_mb = 200
            [[tokens]]
            name = "a"
            role = "commune"
            sha256 = "00"
            [[tokens]]
            name = "a"
            role = "analyst"
            sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
        "#;
        let config: ServerConfig = toml::from_str(text).unwrap();
        let problems = config.problems();
        assert!(problems.iter().any(|p| p.contains("http.listen")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("tls_key")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("used twice")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("tokens[0]") && p.contains("unit")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("tokens[0]") && p.contains("sha256")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("query_memory_mb = 200") && p.contains("memory_mb = 100")), "{problems:?}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut config: ServerConfig = toml::from_str("lake = \"a\"").unwrap();
        let problems = config.apply_env(|k| match k {
            "TONGHOP_LAKE" => Some("s3://bucket/lake".into()),
            "TONGHOP_HTTP_LISTEN" => Some("0.0.0.0:9000".into()),
            "TONGHOP_SCHEDULER_ENABLED" => Some("maybe".into()),
            _ => None,
        });
        assert_eq!(config.lake, "s3://bucket/lake");
        assert_eq!(config.http.listen, "0.0.0.0:9000");
        assert!(config.scheduler.enabled);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("TONGHOP_SCHEDULER_ENABLED"));
    }
}

#[cfg(test)]
mod example {
    use super::*;

    #[test]
    fn the_annotated_example_is_valid() {
        let path = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../tonghop.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let config: ServerConfig = toml::from_str(&text).unwrap();
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert_eq!(config.http.listen, "127.0.0.1:8080");
        assert_eq!(config.scheduler.pipelines, vec![PathBuf::from("pipelines/nightly.toml")]);
    }
}
