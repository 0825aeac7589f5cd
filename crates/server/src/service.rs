//! The state one `tonghop serve` process shares between its HTTP API, PostgreSQL endpoint and
//! scheduler: the project, the lake, the SQL session (reloaded when the lake changes) and the
//! pipeline runs it started.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arrow::array::RecordBatch;
use tokio_util::sync::CancellationToken;
use tonghop_core::{Catalog, Project, UnitRegistry};
use tonghop_engine::{session::Mode, Cluster, Engine};
use tonghop_lake::Lake;
use tonghop_pipeline::{PipelineSpec, RunReport, Runner};

use crate::audit::Audit;
use crate::auth::{Access, Tokens};
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::submit::{Committer, Receipt};
use crate::{Error, Result};

/// How many receipts of recent submissions are kept in memory for `GET /api/submissions/{id}`
/// (each lists at most [`crate::submit::RECEIPT_REJECTIONS`] refused rows: ~200 MB at worst).
const RECENT_RECEIPTS: usize = 10_000;

/// Receipts by submission id (with every sender that was answered with it, the first one
/// first), and their order of arrival.
type Recent = (HashMap<String, (Vec<String>, Receipt)>, VecDeque<String>);

/// Everything the service's parts share.
pub struct Service {
    /// The configuration as loaded.
    pub config: ServerConfig,
    /// The project folder.
    pub project: Project,
    /// Administrative units.
    pub registry: Arc<UnitRegistry>,
    /// Data elements, indicators, targets, the plans and the documents' frames (read at start).
    pub catalog: Arc<Catalog>,
    /// The lake.
    pub lake: Lake,
    /// The workers queries and builds are distributed over (`[cluster]`; None: this process).
    pub cluster: Option<Cluster>,
    /// The audit trail.
    pub audit: Audit,
    /// The configuration file (its tokens and users are reloaded when it changes).
    pub config_file: Option<crate::reload::ConfigFile>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The group committer of HTTP submissions.
    pub committer: Committer,
    /// Pipelines by name, with their spec files.
    pub pipelines: HashMap<String, (PathBuf, PipelineSpec)>,
    /// Cancelled on SIGTERM.
    pub shutdown: CancellationToken,
    /// Limits of analyst SQL, and the thread pool it runs on.
    pub limits: Arc<crate::limits::Limits>,
    /// Recent failed logins.
    pub throttle: crate::throttle::Throttle,
    /// `http.trusted_proxies`, parsed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    engine: RwLock<Arc<Engine>>,
    /// The tokens and PostgreSQL users in use (replaced whole by a reload).
    pub(crate) access: RwLock<Arc<Access>>,
    lake_changed: Arc<AtomicBool>,
    recent: Mutex<Recent>,
    running: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
}

/// The answer to a non-admin reading the audit trail.
pub const AUDIT_ADMINS_ONLY: &str = "lake.audit (the audit trail) is for admin tokens only";

/// Today in Vietnam (periods in the future are refused against this date).
pub use tonghop_core::period::today_in_vietnam as today;

/// Opens a read session with the PostgreSQL catalog tables (`pg_catalog`) that `psql \dt`,
/// DBeaver and other tools introspect.
async fn open_engine(project: &Project, lake: &Lake, registry: &UnitRegistry, catalog: &Catalog, cluster: Option<&Cluster>) -> Result<Engine> {
    let engine = Engine::open_as_of(project, lake, registry, catalog, Mode::Read, &tonghop_engine::AsOf::Latest, cluster).await?;
    if let Err(e) = crate::pg_catalog::register(engine.context()) {
        tracing::warn!(error = %e, "pg_catalog could not be set up; PostgreSQL clients will not list tables");
    }
    Ok(engine)
}

impl Service {
    /// Loads the project, opens the lake and the SQL session, reads the pipeline specs and starts
    /// the submission committer (returned so that shutdown can wait for it).
    pub async fn open(config: ServerConfig, shutdown: CancellationToken) -> Result<(Arc<Service>, tokio::task::JoinHandle<()>)> {
        let project = Project::open(&config.project)?;
        let registry = Arc::new(UnitRegistry::load(&project.reference_dir().join("admin-units"))?);
        let catalog = Arc::new(Catalog::load_with_plans(&project.catalog_dir(), &registry)?);
        let mut problems = Tokens::unknown_units(&config.tokens, &registry);
        problems.extend(Tokens::unknown_agencies(&config.tokens, &catalog.plans));
        let mut pipelines: HashMap<String, (PathBuf, PipelineSpec)> = HashMap::new();
        let files = if config.scheduler.pipelines.is_empty() {
            project.pipeline_files()
        } else {
            config.scheduler.pipelines.iter().map(|p| project.root().join(p)).collect()
        };
        for file in files {
            match PipelineSpec::load(&file) {
                Ok(spec) => {
                    if let Some((other, _)) = pipelines.get(&spec.name) {
                        problems.push(format!("{}: pipeline name {:?} is also used by {}; names must be unique", file.display(), spec.name, other.display()));
                    } else {
                        pipelines.insert(spec.name.clone(), (file, spec));
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        if !problems.is_empty() {
            return Err(Error::Config(problems.into()));
        }
        let lake = Lake::open(&config.lake)?;
        let metrics = Arc::new(Metrics::default());
        let lake_changed = Arc::new(AtomicBool::new(false));
        let (committer, committer_task) =
            Committer::start(lake.clone(), config.submissions.max_group, config.submissions.queue, metrics.clone(), lake_changed.clone()).await?;
        let cluster = Cluster::start(&config.cluster).await?;
        let engine = open_engine(&project, &lake, &registry, &catalog, cluster.as_ref()).await?;
        let access = Access::new(&config.tokens, &config.postgres.users);
        let (audit, _) = Audit::start(lake.clone(), &config.audit);
        let config_file = crate::reload::ConfigFile::of(&config);
        let limits = Arc::new(crate::limits::Limits::new(&config.queries, shutdown.clone())?);
        let throttle = crate::throttle::Throttle::new(config.logins.max_failures, std::time::Duration::from_secs(config.logins.window_seconds));
        let trusted_proxies = config.http.proxies().0;
        let service = Service {
            trusted_proxies,
            config,
            project,
            registry,
            catalog,
            lake,
            cluster,
            audit,
            config_file,
            metrics,
            committer,
            pipelines,
            shutdown,
            limits,
            throttle,
            engine: RwLock::new(Arc::new(engine)),
            access: RwLock::new(Arc::new(access)),
            lake_changed,
            recent: Mutex::new((HashMap::new(), VecDeque::new())),
            running: Mutex::new(HashMap::new()),
        };
        Ok((Arc::new(service), committer_task))
    }

    /// The tokens and PostgreSQL users in use now.
    pub fn access(&self) -> Arc<Access> {
        self.access.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The current SQL session.
    pub fn engine(&self) -> Arc<Engine> {
        self.engine.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs the service's own SQL (receipts, runs) on the current session, without the analyst limits.
    /// `params`: the values of the named parameters in `sql` (see [`tonghop_lake::params`]).
    pub async fn query(&self, sql: &str, params: &[(&str, &str)]) -> Result<Vec<RecordBatch>> {
        Ok(self.engine().query_with(sql, params).await?)
    }

    /// Runs an analyst's SQL (queries only) under the limits of `[queries]`, on the analyst thread
    /// pool, collecting at most `max_rows` rows: more is [`Limit::Rows`](crate::limits::Limit::Rows),
    /// found as soon as the row after the last allowed one arrives. Dropping the returned future
    /// (the HTTP client went away) stops the query.
    /// Only `admin` callers may read `lake.audit`.
    pub async fn analyst_query(&self, sql: &str, max_rows: usize, admin: bool) -> Result<Vec<RecordBatch>> {
        use futures::StreamExt;
        let ctx = self.limits.session(self.engine().context(), crate::limits::Cancel::default());
        let (sql, config) = (sql.to_string(), self.limits.config().clone());
        let limited = move |e: datafusion::error::DataFusionError| match crate::limits::limit_of(&e, &config) {
            Some((limit, message)) => Error::Limit { limit, message },
            None => Error::Engine(e.into()),
        };
        let task = self.limits.handle().spawn(async move {
            let plan = tonghop_engine::read_only::plan_query(&ctx, &sql).await.map_err(|e| match e {
                tonghop_engine::Error::DataFusion(e) => limited(e),
                other => Error::Engine(other),
            })?;
            if !admin && tonghop_engine::read_only::reads_lake_table(&plan, tonghop_lake::tables::AUDIT.name) {
                return Err(Error::Forbidden(AUDIT_ADMINS_ONLY.into()));
            }
            let mut stream = ctx.execute_logical_plan(plan).await.map_err(&limited)?.execute_stream().await.map_err(&limited)?;
            let (mut batches, mut rows) = (Vec::new(), 0usize);
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(&limited)?;
                rows += batch.num_rows();
                if rows > max_rows {
                    let message = format!(
                        "the result has more than {max_rows} rows (http.max_sql_rows); add filters or LIMIT, or use the PostgreSQL endpoint, which streams"
                    );
                    return Err(Error::Limit { limit: crate::limits::Limit::Rows, message });
                }
                batches.push(batch);
            }
            Ok(batches)
        });
        let task = tokio_util::task::AbortOnDropHandle::new(task);
        task.await.map_err(|e| Error::Limit { limit: crate::limits::Limit::Cancelled, message: format!("the query ended abnormally: {e}") })?
    }

    /// Notes that the lake changed; the next reload tick opens a fresh session.
    pub fn mark_changed(&self) {
        self.lake_changed.store(true, Ordering::Release);
    }

    /// Opens a fresh session if the lake changed since the last one.
    pub async fn reload_if_changed(&self) -> Result<bool> {
        if !self.lake_changed.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        match open_engine(&self.project, &self.lake, &self.registry, &self.catalog, self.cluster.as_ref()).await {
            Ok(engine) => {
                *self.engine.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(engine);
                tracing::info!("SQL session reloaded");
                Ok(true)
            }
            Err(e) => {
                self.lake_changed.store(true, Ordering::Release);
                Err(e)
            }
        }
    }

    /// Remembers a submission's receipt (and who sent it) for `GET /api/submissions/{id}`. The
    /// same file sent again (by its sender, or by a province for its commune) is answered with the
    /// first receipt: the first sender keeps it, and each later sender may read it too.
    pub fn remember(&self, submitted_by: &str, receipt: &Receipt) {
        let mut guard = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        match map.entry(receipt.submission_id.clone()) {
            std::collections::hash_map::Entry::Occupied(mut known) => {
                let senders = &mut known.get_mut().0;
                if !senders.iter().any(|s| s == submitted_by) {
                    senders.push(submitted_by.to_string());
                }
            }
            std::collections::hash_map::Entry::Vacant(new) => {
                new.insert((vec![submitted_by.to_string()], receipt.clone()));
                order.push_back(receipt.submission_id.clone());
            }
        }
        while order.len() > RECENT_RECEIPTS {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// A receipt answered by this process, with who sent it (the first sender first).
    pub fn recent(&self, submission_id: &str) -> Option<(Vec<String>, Receipt)> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner()).0.get(submission_id).cloned()
    }

    /// Runs a pipeline now and waits for it; `trigger` is recorded in the runs table (`schedule`,
    /// `api:<token name>`). Fails with [`tonghop_pipeline::Error::AlreadyRunning`] when another run
    /// of it holds the lease.
    #[tracing::instrument(skip(self))]
    pub async fn run_pipeline(&self, name: &str, trigger: &str) -> Result<RunReport> {
        let (path, spec) = self
            .pipelines
            .get(name)
            .ok_or_else(|| Error::Config(vec![format!("no pipeline named {name:?}; known: {}", self.pipeline_names().join(", "))].into()))?;
        // The run reads what was answered before it started.
        if let Err(e) = self.committer.flush().await {
            tracing::warn!(error = %e, "the run starts without some journaled submissions");
        }
        let runner = Runner::new(self.project.clone(), self.lake.clone(), self.registry.clone(), self.catalog.clone(), today())
            .with_trigger(trigger)
            .with_cluster(self.cluster.clone());
        let started = std::time::Instant::now();
        let result = runner.run(spec, path, &|_, _| {}).await;
        let status = match &result {
            Ok(_) => "succeeded",
            Err(tonghop_pipeline::Error::AlreadyRunning { .. }) => "already_running",
            Err(_) => "failed",
        };
        self.metrics.run(name, trigger.split(':').next().unwrap_or(trigger), status, started.elapsed().as_secs_f64());
        if status != "already_running" {
            self.mark_changed();
            if let Err(e) = self.reload_if_changed().await {
                tracing::warn!(error = %e, "SQL session not reloaded after the run");
            }
        }
        let actor = trigger.strip_prefix("api:").map_or_else(|| "scheduler".to_string(), |token| format!("token:{token}"));
        let mut entry = crate::audit::Entry::new(actor, if trigger.starts_with("api:") { "http" } else { "service" }, "run");
        entry.target = Some(name.to_string());
        entry.duration_ms = Some(started.elapsed().as_millis() as i64);
        entry.outcome = if status == "succeeded" { "ok" } else { "error" }.into();
        match &result {
            Ok(r) => entry.detail = Some(format!("run {}", r.run_id)),
            Err(e) => entry.error = Some(e.to_string()),
        }
        self.audit.record(entry);
        match &result {
            Ok(r) => tracing::info!(pipeline = name, run_id = %r.run_id, seconds = started.elapsed().as_secs_f64(), "run finished"),
            Err(e) => tracing::warn!(pipeline = name, error = %e, "run did not finish"),
        }
        Ok(result?)
    }

    /// Starts a run in the background (the HTTP trigger without waiting); false when this process
    /// already runs that pipeline.
    pub fn spawn_run(self: &Arc<Self>, name: &str, trigger: &str) -> bool {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|_, h| !h.is_finished());
        if running.contains_key(name) {
            return false;
        }
        let (service, pipeline, trigger) = (self.clone(), name.to_string(), trigger.to_string());
        running.insert(
            name.to_string(),
            tokio::spawn(async move {
                let _ = service.run_pipeline(&pipeline, &trigger).await;
            }),
        );
        true
    }

    /// Names of the pipelines this service knows.
    pub fn pipeline_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pipelines.keys().cloned().collect();
        names.sort();
        names
    }

    /// Waits up to `grace` for background runs, then abandons them (a run's commits are atomic and
    /// its lease expires, so the next run redoes what was left).
    pub async fn wait_for_runs(&self, grace: std::time::Duration) {
        let handles: Vec<_> = self.running.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, h)| h).collect();
        for h in handles {
            let abort = h.abort_handle();
            if tokio::time::timeout(grace, h).await.is_err() {
                tracing::warn!(
                    grace_seconds = grace.as_secs(),
                    "a run did not finish in time and was abandoned; its lease expires and the next run redoes its work"
                );
                abort.abort();
            }
        }
    }
}
