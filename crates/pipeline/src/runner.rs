//! Running a pipeline's steps in order.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use tonghop_core::{Catalog, Project, UnitRegistry};
use tonghop_engine::{session::Mode, BuildSummary, Engine};
use tonghop_export::{ExportContext, ExportOutcome};
use tonghop_ingest::{IngestSummary, Ingestor};
use tonghop_lake::Lake;

use crate::{Error, PipelineSpec, Result, RunRecord, Step, StepKind};

/// What one step did.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Step name.
    pub name: String,
    /// One line for people.
    pub summary: String,
    /// Wall time.
    pub seconds: f64,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Pipeline name.
    pub pipeline: String,
    /// The run's id in the `runs` table.
    pub run_id: String,
    /// One report per step, in order.
    pub steps: Vec<StepReport>,
    /// Totals of the ingest steps.
    pub ingest: IngestSummary,
    /// The last build.
    pub build: Option<BuildSummary>,
    /// URLs of the files exported.
    pub exports: Vec<String>,
}

/// Runs pipelines against one project and lake.
pub struct Runner {
    project: Project,
    lake: Lake,
    registry: Arc<UnitRegistry>,
    catalog: Arc<Catalog>,
    today: chrono::NaiveDate,
    trigger: String,
    /// The workers its builds and exports are distributed over (None: this process).
    cluster: Option<tonghop_engine::Cluster>,
}

/// How long a run's lease lasts unless renewed (it is renewed every quarter of that while the run
/// works, so only a crashed runner lets it lapse).
const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Who runs: host and process id, as the other runner's message shows it.
fn holder() -> String {
    format!("{} pid {}", tonghop_lake::lease::this_host(), std::process::id())
}

fn step_error(pipeline: &str, step: &str) -> impl Fn(Box<dyn std::error::Error + Send + Sync>) -> Error {
    let (pipeline, step) = (pipeline.to_string(), step.to_string());
    move |source| Error::Step { pipeline: pipeline.clone(), step: step.clone(), source }
}

impl Runner {
    /// A runner; `today` is the date ingest compares periods with.
    pub fn new(project: Project, lake: Lake, registry: Arc<UnitRegistry>, catalog: Arc<Catalog>, today: chrono::NaiveDate) -> Self {
        Runner { project, lake, registry, catalog, today, trigger: "cli".into(), cluster: None }
    }

    /// What starts this runner's runs, as the `runs` table records it (`cli` unless set:
    /// `schedule`, `api`).
    pub fn with_trigger(mut self, trigger: &str) -> Self {
        self.trigger = trigger.to_string();
        self
    }

    /// Distributes its builds and exports over `cluster` (see [`tonghop_engine::cluster`]).
    pub fn with_cluster(mut self, cluster: Option<tonghop_engine::Cluster>) -> Self {
        self.cluster = cluster;
        self
    }

    async fn engine(&self, mode: Mode) -> Result<Engine, tonghop_engine::Error> {
        Engine::open_as_of(&self.project, &self.lake, &self.registry, &self.catalog, mode, &tonghop_engine::AsOf::Latest, self.cluster.as_ref()).await
    }

    /// The names an export step may read: every model and table.
    pub async fn known_tables(&self) -> Result<Vec<String>, tonghop_engine::Error> {
        Ok(self.engine(Mode::Read).await?.table_names())
    }

    /// Takes the pipeline's lease on the lake (fails with [`Error::AlreadyRunning`] when another
    /// process runs it), runs it with the lease renewed in the background, then gives it back.
    #[tracing::instrument(skip(self, spec, progress), fields(pipeline = %spec.name))]
    pub async fn run(&self, spec: &PipelineSpec, spec_path: &Path, progress: &(dyn Fn(&str, u64) + Sync)) -> Result<RunReport> {
        let lease_name = format!("pipeline-{}", spec.name);
        let lease = self.lake.acquire_lease(&lease_name, &holder(), LEASE_TTL).await.map_err(|source| match source {
            held @ tonghop_lake::Error::LeaseHeld { .. } => Error::AlreadyRunning { pipeline: spec.name.clone(), source: held },
            other => Error::Lake { pipeline: spec.name.clone(), source: other },
        })?;
        let lease = Arc::new(tokio::sync::Mutex::new(Some(lease)));
        let renewer = {
            let lease = lease.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(LEASE_TTL / 4).await;
                    if let Some(l) = lease.lock().await.as_mut() {
                        if let Err(e) = l.renew(LEASE_TTL).await {
                            tracing::warn!(error = %e, "could not renew the pipeline lease");
                        }
                    }
                }
            })
        };
        let lake_error = |source| Error::Lake { pipeline: spec.name.clone(), source };
        let record = RunRecord {
            run_id: uuid::Uuid::new_v4().to_string(),
            pipeline: spec.name.clone(),
            trigger: self.trigger.clone(),
            holder: lease.lock().await.as_ref().map(|l| l.info().holder.clone()).unwrap_or_default(),
            started_at: chrono::Utc::now(),
        };
        // Holding the lease, no other run of this pipeline is going: a run still `running` in the
        // ledger was left by a process that died.
        if let Err(e) = crate::ledger::close_abandoned(&self.lake, &spec.name, &record.run_id).await {
            tracing::warn!(error = %e, "could not read the run ledger for runs left unfinished");
        }
        let mut report = RunReport { pipeline: spec.name.clone(), run_id: record.run_id.clone(), ..Default::default() };
        let result = match record.started(&self.lake).await {
            Ok(()) => {
                let result = self.run_steps(spec, spec_path, progress, &mut report).await;
                let error = result.as_ref().err().map(|e| e.to_string());
                record.finished(&self.lake, &report.steps, error).await.map_err(lake_error).and(result)
            }
            Err(e) => Err(lake_error(e)),
        };
        renewer.abort();
        if let Some(l) = lease.lock().await.take() {
            l.release().await.map_err(lake_error)?;
        }
        result.map(|()| report)
    }

    /// Checks a spec (every problem at once), then runs its steps in order into `report`; stops at
    /// the first failed step.
    async fn run_steps(&self, spec: &PipelineSpec, spec_path: &Path, progress: &(dyn Fn(&str, u64) + Sync), report: &mut RunReport) -> Result<()> {
        let known = self.known_tables().await.map_err(|e| step_error(&spec.name, "validate")(e.into()))?;
        let problems = spec.problems(spec_path, &known, Some(&self.registry), self.project.root());
        if !problems.is_empty() {
            return Err(Error::Invalid(problems.into()));
        }
        let mut built: Option<Engine> = None;
        for step in &spec.steps {
            let span = tracing::info_span!("step", name = %step.name);
            let started = Instant::now();
            let policy = step.retry_policy();
            let mut attempt = 1;
            let summary = loop {
                let run = self.run_step(spec, step, progress, report, &mut built).instrument(span.clone());
                let outcome = match policy.timeout {
                    Some(limit) => tokio::time::timeout(limit, run)
                        .await
                        .unwrap_or_else(|_| Err(Error::Timeout { pipeline: spec.name.clone(), step: step.name.clone(), seconds: limit.as_secs() })),
                    None => run.await,
                };
                match outcome {
                    Ok(summary) => break summary,
                    Err(e) if policy.retries_after(attempt) => {
                        let delay = policy.delay(attempt);
                        tracing::warn!(step = %step.name, attempt, error = %e, delay_s = delay.as_secs(), "step failed; retrying");
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                    Err(e) if attempt > 1 => return Err(Error::Attempts { attempts: attempt, source: Box::new(e) }),
                    Err(e) => return Err(e),
                }
            };
            let seconds = started.elapsed().as_secs_f64();
            span.in_scope(|| tracing::info!(seconds, "{summary}"));
            report.steps.push(StepReport { name: step.name.clone(), summary, seconds });
        }
        Ok(())
    }

    /// Runs one step (one attempt) and returns its one-line summary.
    async fn run_step(
        &self,
        spec: &PipelineSpec,
        step: &Step,
        progress: &(dyn Fn(&str, u64) + Sync),
        report: &mut RunReport,
        built: &mut Option<Engine>,
    ) -> Result<String> {
        let fail = step_error(&spec.name, &step.name);
        Ok(match &step.kind {
            StepKind::Ingest(config) => {
                let (inbox, options) = config.resolve(self.project.root()).map_err(|e| fail(e.into()))?;
                let ingestor = Ingestor::new(self.lake.clone(), self.registry.clone(), self.catalog.clone(), self.today);
                let s = ingestor.ingest(&inbox, &options, &|n| progress(&step.name, n)).await.map_err(|e| fail(e.into()))?;
                let line = s.one_line();
                let t = &mut report.ingest;
                t.files_seen += s.files_seen;
                t.files_ingested += s.files_ingested;
                t.files_already_ingested += s.files_already_ingested;
                t.files_failed += s.files_failed;
                t.files_refused += s.files_refused;
                t.rows_accepted += s.rows_accepted;
                t.rows_rejected += s.rows_rejected;
                t.uncommitted_removed += s.uncommitted_removed;
                for (k, v) in s.rejected_by_reason {
                    *t.rejected_by_reason.entry(k).or_default() += v;
                }
                line
            }
            StepKind::Build { full } => {
                let mut engine = self.engine(Mode::Build).await.map_err(|e| fail(e.into()))?;
                let s = engine.build(*full).await.map_err(|e| fail(e.into()))?;
                let periods = engine
                    .query("SELECT COUNT(DISTINCT epoch || period) FROM indicator_values")
                    .await
                    .ok()
                    .and_then(|b| b.first().map(|b| arrow::util::display::array_value_to_string(b.column(0), 0).unwrap_or_default()))
                    .unwrap_or_else(|| "?".into());
                let tables = if s.materialized.is_empty() {
                    "no table needed writing".to_string()
                } else {
                    let written = s.materialized.iter().map(|(n, rows, v)| format!("{n} {rows} rows v{v}")).collect::<Vec<_>>();
                    format!("tables written: {}", written.join(", "))
                };
                let line = format!(
                    "{} build ({}): {} periods recomputed; {} models computed, {tables}; {periods} periods in indicator_values, {} model tests passed",
                    if s.full { "full" } else { "incremental" },
                    s.reason,
                    s.periods,
                    s.views + s.materialized.len(),
                    s.tests_passed
                );
                report.build = Some(s);
                *built = Some(engine);
                line
            }
            StepKind::Maintain(options) => {
                let tables = std::sync::atomic::AtomicU64::new(0);
                let count = |_: &str| progress(&step.name, tables.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
                let maintained = self.lake.maintain(options, &count).await.map_err(|e| fail(e.into()))?;
                maintained.one_line()
            }
            kind => {
                // A table export reads the session of the build just made, if any (its files show
                // what it wrote); the others read a session of their own: the versions recorded are
                // those of the stored models.
                let table = matches!(kind, StepKind::Export(_));
                let reused = if table { built.take() } else { None };
                let engine = match reused {
                    Some(e) => e,
                    None => self.engine(Mode::Read).await.map_err(|e| fail(e.into()))?,
                };
                let outcome = kind.run_export(&self.export_context(&engine)).await.expect("ingest and build steps are matched above");
                if table {
                    *built = Some(engine);
                }
                exported(outcome.map_err(|e| fail(e.into()))?, report)
            }
        })
    }

    /// Where a step's exports read and write: the lake root, `outbox/` by default, mapping files
    /// relative to the project.
    fn export_context<'a>(&'a self, engine: &'a Engine) -> ExportContext<'a> {
        ExportContext::in_lake(engine, &self.lake, &self.registry, &self.catalog, self.project.root(), self.today)
    }
}

/// Adds an export's files to the run's report; returns its summary line.
fn exported(outcome: ExportOutcome, report: &mut RunReport) -> String {
    report.exports.extend(outcome.files.iter().cloned());
    outcome.summary()
}
