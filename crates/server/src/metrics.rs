//! Prometheus metrics (`GET /metrics`, text format): submissions, rows, refusals, SQL queries,
//! pipeline runs and commits of the submission journal. A leaf: it depends on no other module of the
//! server, which report to it with plain values.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    submissions: Family<Labels, Counter>,
    rows: Family<Labels, Counter>,
    denied: Family<Labels, Counter>,
    queries: Family<Labels, Counter>,
    runs: Family<Labels, Counter>,
    run_seconds: Family<Labels, Histogram>,
    journal: Family<Labels, Counter>,
    analyst_running: Gauge,
    analyst_memory: Gauge,
    reloads: Family<Labels, Counter>,
    audit_dropped: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tonghop");
        let submissions = Family::<Labels, Counter>::default();
        let rows = Family::<Labels, Counter>::default();
        let denied = Family::<Labels, Counter>::default();
        let queries = Family::<Labels, Counter>::default();
        let runs = Family::<Labels, Counter>::default();
        let run_seconds = Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(1.0, 2.0, 16)) as Histogram);
        registry.register("submissions", "Submissions answered over HTTP, by status (duplicates included)", submissions.clone());
        registry.register("submission_rows", "Rows of HTTP submissions, accepted or rejected", rows.clone());
        registry.register("denied_requests", "Requests refused for a missing, unknown or insufficient token", denied.clone());
        registry.register("sql_queries", "Analyst queries, by endpoint and outcome", queries.clone());
        registry.register("pipeline_runs", "Pipeline runs, by pipeline, trigger and status", runs.clone());
        registry.register("pipeline_run_duration_seconds", "Pipeline run durations", run_seconds.clone());
        let journal = Family::<Labels, Counter>::default();
        registry.register("journal_commits", "Commits of journaled submissions into the Delta tables, by outcome", journal.clone());
        let (analyst_running, analyst_memory) = (Gauge::default(), Gauge::default());
        registry.register("sql_running", "Analyst queries running now (HTTP and PostgreSQL)", analyst_running.clone());
        registry.register("sql_memory_bytes", "Memory reserved now by analyst queries", analyst_memory.clone());
        let reloads = Family::<Labels, Counter>::default();
        registry.register("config_reloads", "Reloads of the tokens and postgres users from the configuration file, by outcome", reloads.clone());
        let audit_dropped = Gauge::default();
        registry.register("audit_dropped", "Audit entries dropped because the lake could not be written for too long", audit_dropped.clone());
        Metrics { registry, submissions, rows, denied, queries, runs, run_seconds, journal, analyst_running, analyst_memory, reloads, audit_dropped }
    }
}

impl Metrics {
    /// Counts an answered submission: its status (`accepted`, `partly_accepted`, …), whether it
    /// repeated content already committed (counted as `duplicate`, its rows not again), and its rows.
    pub fn submission(&self, status: &str, duplicate: bool, accepted: usize, rejected: usize) {
        let status = if duplicate { "duplicate" } else { status };
        self.submissions.get_or_create(&vec![("status", status.to_string())]).inc();
        if !duplicate {
            self.rows.get_or_create(&vec![("kind", "accepted".into())]).inc_by(accepted as u64);
            self.rows.get_or_create(&vec![("kind", "rejected".into())]).inc_by(rejected as u64);
        }
    }

    /// Counts a refused request (`reason`: `no_token`, `unknown_token`, `forbidden`).
    pub fn denied(&self, reason: &str) {
        self.denied.get_or_create(&vec![("reason", reason.to_string())]).inc();
    }

    /// Counts an analyst query.
    pub fn query(&self, endpoint: &str, ok: bool) {
        self.queries.get_or_create(&vec![("endpoint", endpoint.to_string()), ("outcome", if ok { "ok" } else { "error" }.to_string())]).inc();
    }

    /// Records a finished run.
    pub fn run(&self, pipeline: &str, trigger: &str, status: &str, seconds: f64) {
        self.runs.get_or_create(&vec![("pipeline", pipeline.to_string()), ("trigger", trigger.to_string()), ("status", status.to_string())]).inc();
        self.run_seconds.get_or_create(&vec![("pipeline", pipeline.to_string())]).observe(seconds);
    }

    /// Counts a commit of journaled submissions into the Delta tables (`ok` or `failed`).
    pub fn journal_commit(&self, outcome: &str) {
        self.journal.get_or_create(&vec![("outcome", outcome.to_string())]).inc();
    }

    /// Counts a reload of the credentials (`ok` or refused).
    pub fn reload(&self, ok: bool) {
        self.reloads.get_or_create(&vec![("outcome", if ok { "ok" } else { "refused" }.to_string())]).inc();
    }

    /// Sets the count of dropped audit entries (read from [`crate::audit::Audit`] when metrics are rendered).
    pub fn audit_dropped(&self, dropped: u64) {
        self.audit_dropped.set(dropped as i64);
    }

    /// Sets the analyst gauges (read from [`crate::limits::Limits`] when metrics are rendered).
    pub fn analyst(&self, running: usize, memory_bytes: usize) {
        self.analyst_running.set(running as i64);
        self.analyst_memory.set(memory_bytes as i64);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
