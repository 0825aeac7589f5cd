//! [`Engine::build`]: materialising the models in dependency order (two at a time when they share nothing, a table's tests as soon as it is built), the refresh scope decided first.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use datafusion::config::OptimizerOptions;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tonghop_lake::Replace;
use tracing::Instrument;

use crate::model_tests::{table_tests, tests_at_once, Outcome, TestRun, Tested};
use crate::models::{Incremental, Materialized};
use crate::refresh::{self, BuildState, Chunk, Scope, STATE_PATH};
use crate::session::model_error;
use crate::{Engine, Error, Model, Result};

/// The model whose months are the reporting horizon (see [`crate::refresh`]).
pub(crate) const HORIZON_MODEL: &str = "reporting_months";
/// The model whose `deadline_at` passing makes a month's reports missing (see [`crate::refresh`]).
pub(crate) const DEADLINES_MODEL: &str = "report_deadlines";
/// The model listing the provinces with data (see [`crate::refresh`]).
pub(crate) const COVERAGE_MODEL: &str = "reporting_provinces";

/// What `model`'s query reads by name: its inputs and, through those of `views` that are not
/// `held` in memory for the chunk, what they read (a held view is read as its rows).
fn read_as_views<'a>(model: &'a Model, views: &[&'a Model], held: &dyn Fn(&Model) -> bool) -> HashSet<&'a str> {
    let mut read = HashSet::new();
    let mut next: Vec<&str> = model.depends_on.iter().map(String::as_str).collect();
    while let Some(name) = next.pop() {
        if !read.insert(name) {
            continue;
        }
        if let Some(view) = views.iter().find(|v| v.name == name).filter(|v| !held(v)) {
            next.extend(view.depends_on.iter().map(String::as_str));
        }
    }
    read
}

/// Batches a model's query may compute ahead of its writer.
const WRITE_AHEAD_BATCHES: usize = 4;

/// Materialised models a build computes at the same time (see [`Engine::build`]).
const MODELS_AT_ONCE: usize = 2;

/// One materialised model built: the version registered for the models after it
/// (`models.<name>`) and, unless the stored table was registered as it was, the rows written, the
/// new version and the seconds taken.
struct Built {
    name: String,
    registered: Option<(String, i64)>,
    written: Option<(usize, i64, f64)>,
}

/// Streams a query's rows into a model writer (files written, nothing committed yet).
///
/// The query runs in a task of its own, a few batches ahead of the writer: encoding Parquet is
/// serial, and the last steps of a query (the merge of an ordered model's sorted runs, the final
/// projection) ran in the writer's task, each waiting for the other.
///
/// At trace level (`tonghop -vv build`) the plan is logged once it has run, with each operator's
/// metrics (rows, compute time, memory): the `EXPLAIN ANALYZE` of every model and chunk built. Only
/// then is the plan kept to the end: a plan holds its joins' hash tables (a `CollectLeft` join
/// keeps its built side in the plan), which the stream alone lets go as soon as it is done with
/// them; kept, the whole-country nightly's peak rose by ~700 MiB.
async fn write_all(df: datafusion::dataframe::DataFrame, writer: &mut tonghop_lake::ModelWriter) -> Result<()> {
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await?;
    let stream = datafusion::physical_plan::execute_stream(plan.clone(), task)?;
    let traced = tracing::enabled!(tracing::Level::TRACE).then_some(plan);
    let mut stream = datafusion::physical_plan::common::spawn_buffered(stream, WRITE_AHEAD_BATCHES);
    while let Some(batch) = stream.next().await {
        writer.write(batch?).await?;
    }
    if let Some(plan) = traced {
        let analyzed = datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true).to_string();
        tracing::trace!(plan = %analyzed, "model query run");
    }
    Ok(())
}

/// For each of `models` (in dependency order), the longest chain of materialised models that read
/// it, directly or not.
fn chains_after(models: &[Model]) -> HashMap<&str, usize> {
    let mut chain: HashMap<&str, usize> = HashMap::new();
    for model in models.iter().rev() {
        let after = models
            .iter()
            .filter(|m| m.depends_on.contains(&model.name))
            .map(|m| chain.get(m.name.as_str()).copied().unwrap_or(0) + usize::from(m.is_table()))
            .max()
            .unwrap_or(0);
        chain.insert(model.name.as_str(), after);
    }
    chain
}

/// The views computing `model` touches: those it reads, directly or through other views (a table
/// or memory model in between is read as stored), and itself when it is one.
fn views_touched<'a>(models: &'a [Model], model: &'a Model) -> HashSet<&'a str> {
    let mut touched = HashSet::new();
    if model.is_view() {
        touched.insert(model.name.as_str());
    }
    let mut next: Vec<&str> = model.depends_on.iter().map(String::as_str).collect();
    while let Some(name) = next.pop() {
        if let Some(view) = models.iter().find(|m| m.name == name && m.is_view()) {
            if touched.insert(view.name.as_str()) {
                next.extend(view.depends_on.iter().map(String::as_str));
            }
        }
    }
    touched
}

/// The ` ORDER BY …` a materialised model's rows are written in (its `order_by:` header), or nothing.
fn order_by(model: &Model) -> String {
    model.order_by.as_ref().map(|o| format!(" ORDER BY {o}")).unwrap_or_default()
}

/// What a build did.
#[derive(Debug, Clone, Default)]
pub struct BuildSummary {
    /// True for a full rebuild, false for an incremental refresh.
    pub full: bool,
    /// Why the build was full, or what the refresh found changed.
    pub reason: String,
    /// Periods recomputed (every period of the horizon in a full build).
    pub periods: usize,
    /// Models computed for this build only (views in read sessions).
    pub views: usize,
    /// Models materialised, with their row counts (rows written by this build) and Delta versions.
    pub materialized: Vec<(String, usize, i64)>,
    /// Seconds spent on each model computed.
    pub seconds: Vec<(String, f64)>,
    /// Model tests run (all passed, or the build failed).
    pub tests_passed: usize,
}

impl BuildSummary {
    /// Counts a materialised model built; returns the version registered for it.
    fn record(&mut self, built: Built) -> Option<(String, i64)> {
        if let Some((rows, version, seconds)) = built.written {
            self.materialized.push((built.name.clone(), rows, version));
            self.seconds.push((built.name, seconds));
        }
        built.registered
    }

    /// Puts the models in the order of `models` (dependency order), however their builds overlapped.
    fn in_models_order(&mut self, models: &[Model]) {
        let position = |name: &str| models.iter().position(|m| m.name == name).unwrap_or(usize::MAX);
        self.materialized.sort_by_key(|(name, ..)| position(name));
        self.seconds.sort_by_key(|(name, _)| position(name));
    }
}

impl Engine {
    /// Builds the models, in dependency order, and runs every model test: a materialised model's
    /// as soon as it is built (beside the models after it), the rest once every model is.
    ///
    /// - `materialized: table` models are written to `models/<name>` on the lake, one commit per
    ///   model. Incremental ones (`incremental: month|period`) recompute only the periods of the
    ///   refresh [`Scope`] (see [`crate::refresh`]), chunk by chunk, and replace just those
    ///   partitions; `full` (or a first build, or a changed project) recomputes everything.
    /// - `materialized: memory` models are computed once and kept in memory for the models after them.
    /// - Views are created as views (re-created per chunk with the chunk's refresh macros).
    /// - Two materialised models that read nothing of each other and share no view are built at
    ///   the same time (see `build_remaining`); the summary lists them in dependency order.
    ///
    /// Only valid on an engine opened in [`Mode::Build`].
    ///
    /// A build that fails with an error other than failed model tests (a query error, a worker
    /// lost, a write refused) takes back the model tables it had committed: each is restored to the
    /// version it read before (a new Delta commit), so the models stay those of the last complete
    /// build. A model built for the first time stays as written. Failed model tests leave the
    /// models built (the error lists the tests, in the models' order, once every model is built).
    #[tracing::instrument(skip(self))]
    pub async fn build(&mut self, full: bool) -> Result<BuildSummary> {
        let mut before = Vec::new();
        for model in self.models.iter().filter(|m| m.is_table()) {
            if let Some(table) = self.lake.open_table("models", &model.name).await? {
                before.push((model.name.clone(), table.version().unwrap_or_default() as i64));
            }
        }
        match self.build_models(full).await {
            Err(e) if !matches!(e, Error::TestsFailed(_)) => {
                for (name, version) in &before {
                    match self.lake.restore_model(name, *version).await {
                        Ok(now) if now != *version => tracing::info!(model = %name, version, now, "model taken back to its last complete build"),
                        Ok(_) => {}
                        Err(restore) => tracing::error!(model = %name, version, error = %restore, "model not taken back; the next full build rewrites it"),
                    }
                }
                Err(e)
            }
            result => result,
        }
    }

    async fn build_models(&mut self, full: bool) -> Result<BuildSummary> {
        let unresolved = self.unresolved_references();
        if !unresolved.is_empty() {
            return Err(Error::InvalidModels(unresolved.into()));
        }
        let built_at = chrono::Utc::now();
        let fingerprint = refresh::fingerprint(&self.project)?;
        let reform_weights = refresh::reform_weights_hash(&self.project)?;
        let mut summary = BuildSummary::default();
        let models = self.models.clone();
        let mut done: HashSet<String> = HashSet::new();

        let state = self.load_state().await?;
        let mut missing_tables = Vec::new();
        for model in models.iter().filter(|m| m.is_table()) {
            if self.lake.open_table("models", &model.name).await?.is_none() {
                missing_tables.push(model.name.clone());
            }
        }
        let full_reason = match &state {
            _ if full => Some("asked for a full build".to_string()),
            None => Some("first build (no build state)".to_string()),
            Some(s) if s.fingerprint != fingerprint => Some("sql/, catalog/, reference/ or tonghop changed since the last build".to_string()),
            Some(_) if !missing_tables.is_empty() => Some(format!("model table(s) missing: {}", missing_tables.join(", "))),
            Some(_) => None,
        };
        // The months holding values of the submissions committed since the last build; None when
        // the build is full.
        let new_data = match (&full_reason, &state) {
            (None, Some(state)) => {
                let found = self.new_data_months(state).await?;
                if found.is_none() {
                    summary.reason = format!("the submissions table at version {} can no longer be read", state.submissions_version);
                }
                found
            }
            _ => {
                summary.reason = full_reason.clone().unwrap_or_default();
                None
            }
        };
        summary.full = new_data.is_none();

        // The tables the horizon and coverage models read are refreshed first, over the periods
        // of the months with new data (of every month with data, in a full build): nothing else
        // changes them.
        let data_scope = match (&new_data, &state) {
            (Some(new), Some(state)) => Scope::from_dirty_months(&new.months, &state.reporting_months.union(&new.months).cloned().collect()),
            _ => Scope::full(&self.strings("SELECT DISTINCT CAST(period AS VARCHAR) FROM lake.data_values").await?.into_iter().collect()),
        };
        for model in self.scope_inputs() {
            let built = self.build_materialized(&model, &data_scope, summary.full).await?;
            if let Some((key, version)) = summary.record(built) {
                self.versions.insert(key, version);
            }
            done.insert(model.name.clone());
        }

        // The horizon and the deadlines decide what to refresh: compute them first.
        for name in [HORIZON_MODEL, DEADLINES_MODEL, COVERAGE_MODEL] {
            if let Some(model) = models.iter().find(|m| m.name == name && !m.is_table()) {
                self.compute_in_memory(model, &mut summary).await?;
                done.insert(model.name.clone());
            }
        }
        let horizon: BTreeSet<String> = if done.contains(HORIZON_MODEL) {
            self.strings(&format!("SELECT DISTINCT CAST(month AS VARCHAR) FROM {HORIZON_MODEL}")).await?.into_iter().collect()
        } else {
            self.strings("SELECT DISTINCT CAST(period AS VARCHAR) FROM data_values WHERE NOT deleted").await?.into_iter().collect()
        };

        let coverage: BTreeSet<String> = if done.contains(COVERAGE_MODEL) {
            self.strings(&format!("SELECT CAST(epoch AS VARCHAR) || '/' || CAST(province_code AS VARCHAR) FROM {COVERAGE_MODEL}")).await?.into_iter().collect()
        } else {
            BTreeSet::new()
        };
        let scope = match (&new_data, &state) {
            (Some(new_data), Some(state)) => {
                let (dirty, reason) = self.dirty_months(state, new_data, &horizon, &coverage, &reform_weights, built_at).await?;
                summary.reason = reason;
                Scope::from_dirty_months(&dirty, &horizon)
            }
            _ => Scope::full(&horizon),
        };
        summary.periods = scope.periods.len();
        tracing::info!(full = summary.full, reason = %summary.reason, periods = scope.periods.len(), "build scope");

        let (registered, tested) = self.build_remaining(&done, &scope, summary.full, &mut summary).await?;
        self.versions.extend(registered);
        summary.tests_passed = self.run_tests(&scope, tested).await?;
        let submissions_version = self.versions.get("submissions").copied().unwrap_or(-1);
        let data_values_version = Some(self.versions.get("data_values").copied().unwrap_or(-1));
        // What this build could not see, for the next refresh (a full build reads every value's id).
        let pending_values = Some(match new_data {
            Some(new_data) => new_data.pending,
            None => self.pending_values(None).await?,
        });
        let state = BuildState {
            fingerprint,
            submissions_version,
            built_at,
            reporting_months: horizon,
            reporting_provinces: coverage,
            reform_weights,
            data_values_version,
            pending_values,
        };
        let json = serde_json::to_vec_pretty(&state).map_err(|e| Error::Io { path: STATE_PATH.into(), source: e.into() })?;
        self.lake.root().put(STATE_PATH, json).await?;
        Ok(summary)
    }

    /// Builds the models not yet `done`, each once the models it reads are (sources aside):
    /// views and `memory` models in place, materialised ones up to [`MODELS_AT_ONCE`] at a time.
    /// Returns the versions of the tables registered, for [`Engine::versions`], and the model tests
    /// run meanwhile.
    ///
    /// Two models are built at the same time only when neither touches a view the other reads:
    /// an incremental model re-creates the views it reads for each chunk (a view keeps the tables
    /// it was made over), so no other model may plan over them meanwhile. Each model's query is
    /// planned with its own options ([`Engine::query_for`]). Of the models ready, those with the
    /// longest chain of materialised models after them start first; the rest keep the models'
    /// order. Built one after another, the whole-country models before `indicator_rollups` kept
    /// 1.3–1.7 of 2 cores busy (their serial parts: merging sorted runs, Parquet encoding,
    /// collecting a join's build side); two at a time, 1.7–2.1.
    ///
    /// The tests of a materialised model read only its table ([`table_tests`]): they run
    /// once it is built, in the places no model is ready to take (up to one query per core in
    /// all). Left to the end of the build they waited for `indicator_values`, the last model, which
    /// is built alone and keeps about 1.6 of 2 cores busy; their failures are still reported at the
    /// end, with the rest.
    async fn build_remaining(&self, done: &HashSet<String>, scope: &Scope, full: bool, summary: &mut BuildSummary) -> Result<(Vec<(String, i64)>, Tested)> {
        /// What a model build or a test run gives back.
        enum Finished<'a> {
            Model(&'a Model, Result<Built>),
            Tests(&'a Model, Result<Outcome>),
        }
        let chain = chains_after(&self.models);
        let mut pending: Vec<&Model> = self.models.iter().filter(|m| !done.contains(&m.name) && !m.is_source()).collect();
        let touched: HashMap<&str, HashSet<&str>> = pending.iter().map(|m| (m.name.as_str(), views_touched(&self.models, m))).collect();
        pending.sort_by_key(|m| std::cmp::Reverse(chain.get(m.name.as_str()).copied().unwrap_or(0)));
        let mut running: FuturesUnordered<BoxFuture<'_, Finished<'_>>> = FuturesUnordered::new();
        // The models being built, with the views each touches.
        let mut busy: Vec<(&str, &HashSet<&str>)> = Vec::new();
        let mut registered = Vec::new();
        let mut tested = Tested::default();
        // The tests of the tables built before (those the refresh scope is decided from) go first.
        let mut tests: VecDeque<TestRun> = VecDeque::new();
        for model in self.models.iter().filter(|m| m.is_table() && done.contains(&m.name)) {
            tests.extend(table_tests(model, scope));
        }
        let at_once = tests_at_once();
        loop {
            let mut i = 0;
            while i < pending.len() {
                let model = pending[i];
                let waiting = |name: &String| pending.iter().any(|p| &p.name == name) || busy.iter().any(|(b, _)| b == name);
                let touched = &touched[model.name.as_str()];
                if model.depends_on.iter().any(waiting) || busy.iter().any(|(_, views)| !views.is_disjoint(touched)) {
                    i += 1;
                    continue;
                }
                if model.is_table() {
                    if busy.len() >= MODELS_AT_ONCE || running.len() >= at_once {
                        i += 1;
                        continue;
                    }
                    busy.push((model.name.as_str(), touched));
                    running.push(async move { Finished::Model(model, self.build_materialized(model, scope, full).await) }.boxed());
                } else if model.materialized == Materialized::Memory {
                    self.compute_in_memory(model, summary).await?;
                } else {
                    self.create_view(model, None).await?;
                    summary.views += 1;
                }
                pending.remove(i);
                // What it finished may let a model before it in `pending` start.
                i = 0;
            }
            while running.len() < at_once {
                let Some(test) = tests.pop_front() else { break };
                running.push(async move { Finished::Tests(test.model, self.run_test(&test).await) }.boxed());
            }
            match running.next().await {
                None => break,
                Some(Finished::Model(model, built)) => {
                    busy.retain(|(name, _)| *name != model.name);
                    registered.extend(summary.record(built?));
                    tests.extend(table_tests(model, scope));
                }
                Some(Finished::Tests(model, outcome)) => tested.add(model, outcome?),
            }
        }
        if let Some(stuck) = pending.first() {
            return Err(Error::InvalidModels(vec![format!("{}: could not be built (what it reads was not)", stuck.name)].into()));
        }
        summary.in_models_order(&self.models);
        Ok((registered, tested))
    }

    /// `sql` planned with the optimizer options of `model`'s build: on a copy of the session's
    /// state when they differ (`join_order: as_written`), so that a model built at the same time
    /// keeps its own.
    pub(crate) async fn query_for(&self, model: &Model, sql: &str) -> Result<DataFrame> {
        if !model.join_order_as_written {
            return Ok(self.ctx.sql(sql).await?);
        }
        let mut state = self.ctx.state();
        joins_as_written(&mut state.config_mut().options_mut().optimizer);
        let plan = state.create_logical_plan(sql).await?;
        Ok(DataFrame::new(state, plan))
    }

    /// Materialises one model over `scope` and registers the new table; with nothing to refresh
    /// (an incremental build with an empty scope) the stored table is registered as it is.
    async fn build_materialized(&self, model: &Model, scope: &Scope, full: bool) -> Result<Built> {
        let span = tracing::info_span!("model", name = %model.name, materialized = true);
        async {
            let name = model.name.clone();
            if !full && scope.is_empty() {
                if let Some(registered) = self.register_stored_table(model).await? {
                    return Ok(Built { name, registered: Some(registered), written: None });
                }
            }
            let started = std::time::Instant::now();
            let (rows, version) = self.materialize(model, scope, full).await.map_err(|e| model_error(model, e))?;
            let registered = self.register_stored_table(model).await?;
            let seconds = started.elapsed().as_secs_f64();
            tracing::info!(seconds, rows, "model built");
            Ok(Built { name, registered, written: Some((rows, version, seconds)) })
        }
        .instrument(span)
        .await
    }

    /// The materialised models the horizon and coverage models read, directly or through views,
    /// in dependency order: a build refreshes them before it decides its scope.
    fn scope_inputs(&self) -> Vec<Model> {
        let mut wanted: HashSet<&str> = HashSet::new();
        let mut stack: Vec<&str> = vec![HORIZON_MODEL, COVERAGE_MODEL];
        while let Some(name) = stack.pop() {
            if let Some(model) = self.models.iter().find(|m| m.name == name) {
                for dep in &model.depends_on {
                    if wanted.insert(dep.as_str()) {
                        stack.push(dep.as_str());
                    }
                }
            }
        }
        self.models.iter().filter(|m| m.is_table() && wanted.contains(m.name.as_str())).cloned().collect()
    }

    async fn compute_in_memory(&self, model: &Model, summary: &mut BuildSummary) -> Result<()> {
        let started = std::time::Instant::now();
        let df = self.ctx.sql(&self.model_sql(model, None)?).await.map_err(|e| model_error(model, e.into()))?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(|e| model_error(model, e.into()))?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        self.ctx.register_table(model.name.as_str(), Arc::new(MemTable::try_new(schema, vec![batches])?))?;
        summary.views += 1;
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(model = %model.name, rows, seconds, "model computed in memory");
        summary.seconds.push((model.name.clone(), seconds));
        Ok(())
    }

    /// Releases the rows held for this chunk of the `materialized: chunk` views that `model`'s
    /// query no longer reads, because every view between the model and them is held too: each
    /// becomes a view again (computed only if read). `indicator_terms` (2.2 M rows a chunk of the
    /// whole country) is read only by `commune_terms`, so once that is held, `indicator_rollups`'
    /// query runs without it in memory. The plain views made after a released one are made again,
    /// since a view keeps the table it was made over.
    async fn release_chunk_views_read_only_when_held(&self, model: &Model, views: &[&Model], chunk: &Chunk) -> Result<()> {
        // `views` are the views the model reads: the chunk ones among them are held.
        let held = |m: &Model| m.materialized == Materialized::Chunk;
        let read = read_as_views(model, views, &held);
        let Some(first) = views.iter().position(|v| held(v) && !read.contains(v.name.as_str())) else { return Ok(()) };
        for view in &views[first..] {
            if !held(view) || !read.contains(view.name.as_str()) {
                if held(view) {
                    tracing::debug!(view = %view.name, "chunk released: only views held in memory read it");
                }
                self.create_view(view, Some(chunk)).await?;
            }
        }
        Ok(())
    }

    /// Computes a materialised model (whole, or chunk by chunk over `scope` when incremental) and
    /// commits it. Returns the rows written and the new version.
    async fn materialize(&self, model: &Model, scope: &Scope, full: bool) -> Result<(usize, i64)> {
        // The views it reads, directly or through other views, in dependency order: the only ones
        // it re-creates for its chunks (a model built at the same time reads none of them).
        let touched = views_touched(&self.models, model);
        let views: Vec<&Model> = self.models.iter().filter(|m| m.is_view() && touched.contains(m.name.as_str())).collect();
        let Some(kind) = model.incremental else {
            let df = self.query_for(model, &format!("SELECT * FROM ({}) AS model{}", self.model_sql(model, None)?, order_by(model))).await?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let mut writer = self.lake.model_writer(&model.name, schema, None, true).await?.sorted_by(model.order_by.as_deref());
            write_all(df, &mut writer).await?;
            let rows = writer.rows();
            return Ok((rows, writer.commit(&Replace::All).await?));
        };
        let chunks = scope.chunks(kind);
        let mut writer = None;
        let column = kind.partition_column();
        for chunk in &chunks {
            // Views the model reads see this chunk's months and periods; those marked
            // `materialized: chunk` that it reads are computed once for the chunk (in dependency
            // order, so a view reading one sees the rows held in memory). An epoch is recomputed
            // whole: its views see every month. The rows held for the last chunk are let go first.
            for view in views.iter().filter(|v| v.materialized == Materialized::Chunk) {
                self.ctx.deregister_table(view.name.as_str())?;
            }
            for view in &views {
                if kind == Incremental::Epoch {
                    self.create_view(view, None).await?;
                } else if view.materialized == Materialized::Chunk {
                    self.compute_for_chunk(view, chunk, model).await?;
                } else {
                    self.create_view(view, Some(chunk)).await?;
                }
            }
            if kind != Incremental::Epoch {
                self.release_chunk_views_read_only_when_held(model, &views, chunk).await?;
            }
            let sql = format!(
                "SELECT * FROM ({}) AS chunk WHERE {column} IN ({}){}",
                self.model_sql(model, Some(chunk))?,
                tonghop_core::sql::literal_list(chunk.partitions(kind)),
                order_by(model)
            );
            let df = self.query_for(model, &sql).await?;
            if writer.is_none() {
                let schema = Arc::new(df.schema().as_arrow().clone());
                writer = Some(self.lake.model_writer(&model.name, schema, Some(column), full).await?.sorted_by(model.order_by.as_deref()));
            }
            let w = writer.as_mut().expect("just created");
            write_all(df, w).await?;
            w.flush().await?;
            tracing::debug!(periods = chunk.periods.len(), months = chunk.months.len(), epochs = chunk.epochs.len(), rows = w.rows(), "chunk written");
        }
        for view in &views {
            self.create_view(view, None).await?;
        }
        let mut writer = match writer {
            Some(w) => w,
            None => {
                // Nothing in scope: an empty computation still fixes the schema.
                let df = self.ctx.sql(&format!("SELECT * FROM ({}) AS chunk WHERE FALSE", self.model_sql(model, None)?)).await?;
                self.lake.model_writer(&model.name, Arc::new(df.schema().as_arrow().clone()), Some(column), full).await?
            }
        };
        writer.flush().await?;
        let rows = writer.rows();
        let replace = if full { Replace::All } else { Replace::Partitions(chunks.iter().flat_map(|c| c.partitions(kind).iter().cloned()).collect()) };
        Ok((rows, writer.commit(&replace).await?))
    }
}

/// The optimizer options of a `join_order: as_written` model's build: every hash join is built from
/// its left input as written (no reordering by estimated sizes), whole, into one table that each
/// partition of the right input probes as it streams (DataFusion's `CollectLeft`). Partitioned, a
/// join hash-repartitions both inputs, copying every row of the right one, which in these models is
/// the wide one: for a year of `indicator_values`, 1.7 GB of rows with their names per join.
fn joins_as_written(optimizer: &mut OptimizerOptions) {
    optimizer.join_reordering = false;
    optimizer.hash_join_single_partition_threshold = usize::MAX;
    optimizer.hash_join_single_partition_threshold_rows = usize::MAX;
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::models::load;

    /// A `join_order: as_written` build plans a join from its left input, built whole, and leaves the
    /// right input where it is; by default two large inputs are both repartitioned by hash.
    #[tokio::test]
    async fn joins_as_written_build_the_left_input_whole_and_probe_the_right_in_place() {
        use datafusion::arrow::array::{Int64Array, StringArray};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::arrow::record_batch::RecordBatch;
        use datafusion::prelude::{SessionConfig, SessionContext};

        let table = |rows: i64| {
            let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false), Field::new("name", DataType::Utf8, false)]));
            let keys = Arc::new(Int64Array::from_iter_values(0..rows));
            let names = Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("unit {i}"))));
            let batch = RecordBatch::try_new(schema.clone(), vec![keys, names]).unwrap();
            Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
        };
        let plan = |as_written: bool| {
            let mut config = SessionConfig::new().with_target_partitions(2);
            if as_written {
                joins_as_written(&mut config.options_mut().optimizer);
            }
            let ctx = SessionContext::new_with_config(config);
            ctx.register_table("sums", table(200_000)).unwrap();
            ctx.register_table("grid", table(300_000)).unwrap();
            async move {
                let df = ctx.sql("SELECT g.k, g.name, s.name AS sums_name FROM sums AS s RIGHT JOIN grid AS g ON s.k = g.k").await.unwrap();
                let physical = df.create_physical_plan().await.unwrap();
                let text = datafusion::physical_plan::displayable(physical.as_ref()).indent(true).to_string();
                text
            }
        };
        let default = plan(false).await;
        assert!(default.contains("mode=Partitioned") && default.contains("Hash([k@"), "{default}");
        let as_written = plan(true).await;
        assert!(as_written.contains("HashJoinExec: mode=CollectLeft, join_type=Right"), "{as_written}");
        assert!(!as_written.contains("Hash([k@"), "{as_written}");
    }

    /// The project's models: the chain to `indicator_values` starts first, and the models built
    /// beside it touch none of its views.
    #[test]
    fn the_longest_chain_starts_first_and_models_built_together_share_no_view() {
        let models = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sql")).unwrap();
        let chain = chains_after(&models);
        assert_eq!(chain["indicator_values"], 0);
        assert_eq!(chain["indicator_rollups"], 1);
        assert_eq!(chain["monthly_terms"], 2, "indicator_rollups, then indicator_values");
        assert!(chain["monthly_values"] > chain["monthly_terms"]);
        assert!(chain["monthly_terms"] > chain["rule_breaks"] && chain["rule_breaks"] > chain["completeness"], "{chain:?}");
        let model = |name: &str| models.iter().find(|m| m.name == name).unwrap();
        let rollups = views_touched(&models, model("indicator_rollups"));
        assert!(rollups.contains("commune_terms") && rollups.contains("indicator_terms"), "{rollups:?}");
        assert!(!rollups.contains("monthly_terms"), "a table is read as stored: {rollups:?}");
        for other in ["completeness", "rule_breaks", "quality_issues"] {
            assert!(views_touched(&models, model(other)).is_disjoint(&rollups), "{other}");
        }
        // A view touches itself: it is not re-created while a model that reads it is being built.
        let terms = views_touched(&models, model("commune_terms"));
        assert!(terms.contains("commune_terms") && terms.contains("indicator_terms"), "{terms:?}");
        assert!(!terms.is_disjoint(&rollups));
    }

    /// `indicator_rollups` reads `commune_terms`, which alone reads `indicator_terms`: once both
    /// are held, the model's query needs only `commune_terms`' rows. A plain view over
    /// `indicator_terms` read by the model keeps it.
    #[test]
    fn a_chunk_view_read_only_by_held_views_is_not_read_by_the_query() {
        let models = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sql")).unwrap();
        let model = models.iter().find(|m| m.name == "indicator_rollups").unwrap();
        let views: Vec<&Model> = models.iter().take_while(|m| m.name != model.name).filter(|m| m.is_view()).collect();
        let held = |m: &Model| m.materialized == Materialized::Chunk;
        let read = read_as_views(model, &views, &held);
        assert!(read.contains("commune_terms") && read.contains("unit_ancestors"), "{read:?}");
        assert!(!read.contains("indicator_terms"), "{read:?}");
        // Not held, commune_terms is read as a view, and so is what it reads, as far as the rows held.
        let read = read_as_views(model, &views, &|m: &Model| m.name == "indicator_terms");
        assert!(read.contains("indicator_terms") && !read.contains("monthly_terms"), "{read:?}");

        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, sql: &str| std::fs::write(dir.path().join(format!("{name}.sql")), sql).unwrap();
        write("a", "-- grain: x\n-- materialized: chunk\nSELECT 1 AS p WHERE {{ refresh_periods(1) }}");
        write("b", "-- grain: x\n-- materialized: chunk\nSELECT p FROM a WHERE {{ refresh_periods(p) }}");
        write("v", "-- grain: x\nSELECT p FROM a");
        write("m", "-- grain: x\n-- materialized: table\nSELECT b.p FROM b JOIN v ON b.p = v.p");
        let models = load(dir.path()).unwrap();
        let model = models.iter().find(|m| m.name == "m").unwrap();
        let views: Vec<&Model> = models.iter().filter(|m| m.is_view()).collect();
        assert!(read_as_views(model, &views, &held).contains("a"), "read through the plain view v");
    }
}
