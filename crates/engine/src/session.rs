//! [`Engine`]: one DataFusion session with every table and model registered.

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::execution::config::SessionConfig;
use datafusion::prelude::SessionContext;
use tonghop_core::{Catalog, Project, UnitRegistry};
use tonghop_lake::{tables, Lake};

use std::collections::{BTreeSet, HashSet};

use arrow::array::AsArray;
use futures::StreamExt;
use tonghop_lake::Replace;

use crate::models::{Incremental, Materialized};
use crate::refresh::{self, BuildState, Chunk, Scope, STATE_PATH};
use crate::{models, reference, Error, Model, Result};

/// The model whose months are the reporting horizon (see [`crate::refresh`]).
const HORIZON_MODEL: &str = "reporting_months";
/// The model whose `deadline_at` passing makes a month's reports missing (see [`crate::refresh`]).
const DEADLINES_MODEL: &str = "report_deadlines";
/// The model listing the provinces with data (see [`crate::refresh`]).
const COVERAGE_MODEL: &str = "reporting_provinces";

/// `(SELECT * FROM name WHERE period IN (…)) AS name`: a model's rows for some periods, under its
/// own name (what chunks are computed from and model tests run on).
fn for_periods<'a>(name: &str, periods: impl IntoIterator<Item = &'a String>) -> String {
    format!("(SELECT * FROM {name} WHERE period IN ({})) AS {name}", tonghop_core::sql::literal_list(periods))
}

/// Streams a query's rows into a model writer (files written, nothing committed yet).
async fn write_all(df: datafusion::dataframe::DataFrame, writer: &mut tonghop_lake::ModelWriter) -> Result<()> {
    let mut stream = df.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        writer.write(batch?).await?;
    }
    Ok(())
}

/// The ` ORDER BY …` a materialised model's rows are written in (its `order_by:` header), or nothing.
fn order_by(model: &Model) -> String {
    model.order_by.as_ref().map(|o| format!(" ORDER BY {o}")).unwrap_or_default()
}

fn model_error(model: &Model, source: Error) -> Error {
    Error::Model { model: model.name.clone(), path: model.path.display().to_string(), source: Box::new(source) }
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

/// A DataFusion session over one lake and one project.
pub struct Engine {
    ctx: SessionContext,
    lake: Lake,
    project: Project,
    models: Vec<Model>,
    /// Versions of the lake tables this session reads.
    versions: std::collections::BTreeMap<String, i64>,
    /// Which state of the lake it reads.
    as_of: AsOf,
}

/// Which state of the lake a session reads: the latest commit of every Delta table, or the state
/// at an earlier time, to rebuild a past export from the data as it stood then.
///
/// Under [`AsOf::Time`] and [`AsOf::Versions`] every Delta table (the lake tables and the
/// materialised models) is opened at the chosen version, a table that did not exist then reads as
/// empty (a model as a view over the tables), and SQL's `now()` returns the chosen instant, so
/// that what depends on the clock (reports still pending or already missing) is what it was.
/// Only [`Mode::Read`] sessions can look back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AsOf {
    /// The latest version of every table; `now()` is the clock.
    #[default]
    Latest,
    /// Each table at the last version committed at or before this instant.
    Time(chrono::DateTime<chrono::Utc>),
    /// Each table at the version recorded in `versions` (as returned by [`Engine::versions`]: table
    /// name, `models.<name>` for models); tables not listed read as absent. `now()` is `at`.
    Versions {
        /// Table → version.
        versions: std::collections::BTreeMap<String, i64>,
        /// The instant `now()` returns (when the versions were recorded).
        at: chrono::DateTime<chrono::Utc>,
    },
}

impl AsOf {
    /// The instant `now()` returns in the session, if fixed.
    pub fn instant(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            AsOf::Latest => None,
            AsOf::Time(at) | AsOf::Versions { at, .. } => Some(*at),
        }
    }

    /// Opens `folder/name` (`key` is its name in the version map) as this option says.
    async fn open(&self, lake: &Lake, folder: &str, name: &str, key: &str) -> Result<Option<tonghop_lake::DeltaTable>> {
        let version = match self {
            AsOf::Latest => return Ok(lake.open_table(folder, name).await?),
            AsOf::Time(at) => lake.version_at(folder, name, *at).await?,
            AsOf::Versions { versions, .. } => versions.get(key).copied(),
        };
        let Some(version) = version else { return Ok(None) };
        match lake.open_table_at(folder, name, version).await? {
            Some(table) => Ok(Some(table)),
            None => Err(Error::VersionGone { table: key.to_string(), version }),
        }
    }
}

/// `now()` (and `current_timestamp`) fixed at one instant, with the built-in's type (nanoseconds,
/// the session's time zone: none by default), folded to a literal at planning like the built-in.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FixedNow {
    nanos: i64,
    signature: datafusion::logical_expr::Signature,
    aliases: Vec<String>,
}

impl FixedNow {
    fn value(&self) -> datafusion::scalar::ScalarValue {
        datafusion::scalar::ScalarValue::TimestampNanosecond(Some(self.nanos), None)
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for FixedNow {
    fn name(&self) -> &str {
        "now"
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }
    fn return_type(&self, _: &[arrow::datatypes::DataType]) -> datafusion::error::Result<arrow::datatypes::DataType> {
        Ok(self.value().data_type())
    }
    fn return_field_from_args(&self, _: datafusion::logical_expr::ReturnFieldArgs) -> datafusion::error::Result<arrow::datatypes::FieldRef> {
        // Never NULL, like the built-in: the literal it folds to has the same schema.
        Ok(Arc::new(arrow::datatypes::Field::new("now", self.value().data_type(), false)))
    }
    fn invoke_with_args(&self, _: datafusion::logical_expr::ScalarFunctionArgs) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        Ok(datafusion::logical_expr::ColumnarValue::Scalar(self.value()))
    }
    fn simplify(
        &self,
        _: Vec<datafusion::logical_expr::Expr>,
        _: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> datafusion::error::Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        Ok(datafusion::logical_expr::simplify::ExprSimplifyResult::Simplified(datafusion::logical_expr::Expr::Literal(self.value(), None)))
    }
}

/// How models are registered when the engine opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Materialised models read from their last build; the rest are views.
    Read,
    /// Nothing registered yet: [`Engine::build`] creates every model.
    Build,
}

impl Engine {
    /// Opens a session: reference tables, catalog, lake tables, and (in [`Mode::Read`]) the models.
    pub async fn open(project: &Project, lake: &Lake, registry: &UnitRegistry, catalog: &Catalog, mode: Mode) -> Result<Engine> {
        Self::open_as_of(project, lake, registry, catalog, mode, &AsOf::Latest).await
    }

    /// [`Engine::open`] on the lake as it stood at `as_of` (see [`AsOf`]); [`Engine::versions`]
    /// then lists the versions read.
    #[tracing::instrument(skip_all, fields(lake = %lake.root().url(), as_of = ?as_of.instant()))]
    pub async fn open_as_of(project: &Project, lake: &Lake, registry: &UnitRegistry, catalog: &Catalog, mode: Mode, as_of: &AsOf) -> Result<Engine> {
        if mode == Mode::Build && *as_of != AsOf::Latest {
            return Err(Error::AsOfBuild);
        }
        // DataFusion settings can be tuned with DATAFUSION_* environment variables (for example
        // DATAFUSION_EXECUTION_TARGET_PARTITIONS=4), as in datafusion-cli.
        let config = SessionConfig::from_env()?.with_information_schema(true).with_default_catalog_and_schema("datafusion", "public");
        let ctx = SessionContext::new_with_config(config);
        if let Some(at) = as_of.instant() {
            let nanos = at.timestamp_nanos_opt().ok_or(Error::AsOfOutOfRange { at })?;
            let signature = datafusion::logical_expr::Signature::nullary(datafusion::logical_expr::Volatility::Stable);
            ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(FixedNow { nanos, signature, aliases: vec!["current_timestamp".to_string()] }));
        }
        crate::functions::register(&ctx);
        reference::register_units(&ctx, registry)?;
        reference::register_periods(&ctx)?;
        reference::register_calendar(&ctx)?;
        reference::register_holidays(&ctx, &project.reference_dir())?;
        reference::register_catalog(&ctx, catalog)?;
        reference::register_catalog_settings(&ctx, &project.catalog_dir(), catalog)?;

        // Raw Delta tables under `lake.`, committed views under their plain names.
        let raw = Arc::new(MemorySchemaProvider::new());
        ctx.catalog("datafusion").expect("default catalog").register_schema("models", Arc::new(MemorySchemaProvider::new()))?;
        let mut versions = std::collections::BTreeMap::new();
        ctx.catalog("datafusion").expect("default catalog").register_schema("lake", raw.clone())?;
        for spec in tables::lake_tables() {
            let provider: Arc<dyn datafusion::catalog::TableProvider> = match as_of.open(lake, spec.folder, spec.name, spec.name).await? {
                Some(table) => {
                    versions.insert(spec.name.to_string(), table.version().unwrap_or_default() as i64);
                    tonghop_lake::scan_provider(&table, &ctx.state())?
                }
                None => Arc::new(MemTable::try_new(spec.schema.clone(), vec![vec![]])?),
            };
            datafusion::catalog::SchemaProvider::register_table(raw.as_ref(), spec.name.to_string(), provider)?;
        }
        // The views list the spec's columns (partition columns are plain strings, see
        // `tonghop_lake::scan_provider`, so `period IN (…)` prunes partitions).
        let columns =
            |spec: &tonghop_lake::TableSpec, alias: &str| spec.schema.fields().iter().map(|f| format!("{alias}{}", f.name())).collect::<Vec<_>>().join(", ");
        ctx.sql(&format!("CREATE VIEW submissions AS SELECT {} FROM lake.submissions", columns(&tables::SUBMISSIONS, ""))).await?;
        // Each run's latest row: its end if it ended, else its start.
        ctx.sql(&format!(
            "CREATE VIEW runs AS SELECT {} FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY finished_at DESC NULLS LAST) AS n \
             FROM lake.runs) AS r WHERE n = 1",
            columns(&tables::RUNS, "")
        ))
        .await?;
        ctx.sql(&format!("CREATE VIEW export_log AS SELECT {} FROM lake.export_log", columns(&tables::EXPORT_LOG, ""))).await?;
        // Committed rows only: a join with the (small) submissions table on the left, so that its
        // hash table is the one built whether or not the session reorders joins.
        for spec in [&*tables::DATA_VALUES, &*tables::REJECTIONS] {
            ctx.sql(&format!(
                "CREATE VIEW {0} AS SELECT {1} FROM (SELECT DISTINCT submission_id FROM lake.submissions) AS s \
                 JOIN lake.{0} AS d ON d.submission_id = s.submission_id",
                spec.name,
                columns(spec, "d.")
            ))
            .await?;
        }

        let models = models::load(&project.sql_dir())?;
        let mut engine = Engine { ctx, lake: lake.clone(), project: project.clone(), models, versions, as_of: as_of.clone() };
        if mode == Mode::Read {
            for i in 0..engine.models.len() {
                let model = engine.models[i].clone();
                if !(model.is_table() && engine.register_stored(&model).await?) {
                    engine.create_view(&model, None).await?;
                }
            }
        }
        Ok(engine)
    }

    /// Registers a materialised model's Delta table under the model's name; false when it was
    /// never built.
    ///
    /// The Delta table is `models.<name>` (its partition column `period` a plain string, see
    /// `tonghop_lake::scan_provider`); the model's name is a view over it.
    async fn register_stored(&mut self, model: &Model) -> Result<bool> {
        let key = format!("models.{}", model.name);
        let Some(table) = self.as_of.open(&self.lake, "models", &model.name, &key).await? else { return Ok(false) };
        self.versions.insert(key, table.version().unwrap_or_default() as i64);
        let provider = tonghop_lake::scan_provider(&table, &self.ctx.state())?;
        let schema = self.ctx.catalog("datafusion").and_then(|c| c.schema("models")).expect("registered at open");
        schema.deregister_table(&model.name)?;
        schema.register_table(model.name.clone(), provider)?;
        self.ctx.sql(&format!("CREATE OR REPLACE VIEW {0} AS SELECT * FROM models.{0}", model.name)).await?;
        Ok(true)
    }

    /// (Re)creates a model as a view, with its refresh macros expanded for `chunk` (or to `TRUE`).
    async fn create_view(&self, model: &Model, chunk: Option<&Chunk>) -> Result<()> {
        let sql = self.model_sql(model, chunk)?;
        if model.materialized == Materialized::Chunk {
            // It may be held in memory from the last chunk: a view replaces only a view.
            self.ctx.deregister_table(model.name.as_str())?;
        }
        self.ctx.sql(&format!("CREATE OR REPLACE VIEW {} AS {sql}", model.name)).await.map_err(|e| model_error(model, e.into()))?;
        Ok(())
    }

    /// Computes a `materialized: chunk` view for one chunk and holds its rows in memory under
    /// the view's name (in DataFusion's partitions, so the models reading it stay parallel).
    #[tracing::instrument(skip_all, fields(model = %model.name, periods = chunk.periods.len()))]
    async fn compute_for_chunk(&self, model: &Model, chunk: &Chunk) -> Result<()> {
        let df = self.ctx.sql(&self.model_sql(model, Some(chunk))?).await.map_err(|e| model_error(model, e.into()))?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let partitions = df.collect_partitioned().await.map_err(|e| model_error(model, e.into()))?;
        let rows: usize = partitions.iter().flatten().map(|b| b.num_rows()).sum();
        self.ctx.deregister_table(model.name.as_str())?;
        self.ctx.register_table(model.name.as_str(), Arc::new(MemTable::try_new(schema, partitions)?))?;
        tracing::debug!(rows, "chunk held in memory");
        Ok(())
    }

    /// Whether computing `model` reads the model `name`, directly or through views (a table or
    /// memory model in between is read as stored, not recomputed).
    fn reads(&self, model: &Model, name: &str) -> bool {
        model.depends_on.iter().any(|d| d == name || self.models.iter().find(|m| &m.name == d).is_some_and(|m| m.is_view() && self.reads(m, name)))
    }

    fn model_sql(&self, model: &Model, chunk: Option<&Chunk>) -> Result<String> {
        let lists = chunk.map(|c| [c.months.as_slice(), c.periods.as_slice(), c.previous.as_slice()]);
        models::expand(&model.sql, lists).map_err(|e| Error::InvalidModels(vec![format!("{}: {e}", model.path.display())].into()))
    }

    /// Versions of the lake tables (and, in read sessions, of the materialised models as
    /// `models.<name>`) this session reads.
    pub fn versions(&self) -> &std::collections::BTreeMap<String, i64> {
        &self.versions
    }

    /// The models, in dependency order.
    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// Every table and view this session reads, as SQL names, sorted: lake tables, reference tables
    /// and models by name, those of other schemas than the default one as `schema.table`
    /// (`models.indicator_values`); `information_schema` left out.
    pub fn table_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if let Some(catalog) = self.ctx.catalog("datafusion") {
            for schema in catalog.schema_names() {
                if schema == "information_schema" {
                    continue;
                }
                if let Some(provider) = catalog.schema(&schema) {
                    for table in provider.table_names() {
                        names.push(if schema == "public" { table } else { format!("{schema}.{table}") });
                    }
                }
            }
        }
        names.sort();
        names
    }

    /// Tables a model reads that are neither models nor registered tables, one message per
    /// reference naming the file, the model and the missing name (with the closest known name).
    pub fn unresolved_references(&self) -> Vec<String> {
        let mut known: Vec<String> = self.models.iter().map(|m| m.name.clone()).collect();
        known.extend(self.table_names());
        let mut out = Vec::new();
        for model in &self.models {
            for reference in &model.references {
                if known.iter().any(|k| k == reference) {
                    continue;
                }
                let closest = tonghop_core::text::closest(&known, reference);
                let hint = closest.map(|k| format!(" (did you mean {k}?)")).unwrap_or_default();
                out.push(format!("{}: model {} reads {reference}, which is neither a model in sql/ nor a table{hint}", model.path.display(), model.name));
            }
        }
        out
    }

    /// The DataFusion session (for callers that need DataFrames).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Builds the models, in dependency order, then runs every model test.
    ///
    /// - `materialized: table` models are written to `models/<name>` on the lake, one commit per
    ///   model. Incremental ones (`incremental: month|period`) recompute only the periods of the
    ///   refresh [`Scope`] (see [`crate::refresh`]), chunk by chunk, and replace just those
    ///   partitions; `full` (or a first build, or a changed project) recomputes everything.
    /// - `materialized: memory` models are computed once and kept in memory for the models after them.
    /// - Views are created as views (re-created per chunk with the chunk's refresh macros).
    ///
    /// Only valid on an engine opened in [`Mode::Build`].
    #[tracing::instrument(skip(self))]
    pub async fn build(&mut self, full: bool) -> Result<BuildSummary> {
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
            (Some((months, _)), Some(state)) => Scope::from_dirty_months(months, &state.reporting_months.union(months).cloned().collect()),
            _ => Scope::full(&self.strings("SELECT DISTINCT CAST(period AS VARCHAR) FROM lake.data_values").await?.into_iter().collect()),
        };
        for model in self.scope_inputs() {
            self.build_materialized(&model, &data_scope, summary.full, &mut summary).await?;
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
        let scope = match (new_data, &state) {
            (Some(new_data), Some(state)) => {
                let (dirty, reason) = self.dirty_months(state, new_data, &horizon, &coverage, &reform_weights, built_at).await?;
                summary.reason = reason;
                Scope::from_dirty_months(&dirty, &horizon)
            }
            _ => Scope::full(&horizon),
        };
        summary.periods = scope.periods.len();
        tracing::info!(full = summary.full, reason = %summary.reason, periods = scope.periods.len(), "build scope");

        for model in &models {
            if done.contains(&model.name) {
                continue;
            }
            if model.is_table() {
                self.build_materialized(model, &scope, summary.full, &mut summary).await?;
            } else if model.materialized == Materialized::Memory {
                self.compute_in_memory(model, &mut summary).await?;
            } else {
                self.create_view(model, None).await?;
                summary.views += 1;
            }
        }
        summary.tests_passed = self.run_tests(&scope).await?;
        let submissions_version = self.versions.get("submissions").copied().unwrap_or(-1);
        let state = BuildState { fingerprint, submissions_version, built_at, reporting_months: horizon, reporting_provinces: coverage, reform_weights };
        let json = serde_json::to_vec_pretty(&state).map_err(|e| Error::Io { path: STATE_PATH.into(), source: e.into() })?;
        self.lake.root().put(STATE_PATH, json).await?;
        Ok(summary)
    }

    /// Materialises one model over `scope` and registers the new table; with nothing to refresh
    /// (an incremental build with an empty scope) the stored table is registered as it is.
    async fn build_materialized(&mut self, model: &Model, scope: &Scope, full: bool, summary: &mut BuildSummary) -> Result<()> {
        let span = tracing::info_span!("model", name = %model.name, materialized = true);
        let _enter = span.enter();
        if !full && scope.is_empty() && self.register_stored(model).await? {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let reordering = self.ctx.state().config().options().optimizer.join_reordering;
        if model.join_order_as_written {
            self.set_join_reordering(false);
        }
        let result = self.materialize(model, scope, full).await;
        self.set_join_reordering(reordering);
        let (rows, version) = result.map_err(|e| model_error(model, e))?;
        self.register_stored(model).await?;
        summary.materialized.push((model.name.clone(), rows, version));
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(seconds, rows, "model built");
        summary.seconds.push((model.name.clone(), seconds));
        Ok(())
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

    /// Whether DataFusion may swap a join's inputs by their estimated sizes (see the model header
    /// `join_order: as_written`).
    fn set_join_reordering(&self, on: bool) {
        self.ctx.state_ref().write().config_mut().options_mut().optimizer.join_reordering = on;
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

    /// Computes a materialised model (whole, or chunk by chunk over `scope` when incremental) and
    /// commits it. Returns the rows written and the new version.
    async fn materialize(&self, model: &Model, scope: &Scope, full: bool) -> Result<(usize, i64)> {
        // The views built before this model (the ones it can read), in order.
        let position = self.models.iter().position(|m| m.name == model.name).unwrap_or(0);
        let views: Vec<&Model> = self.models[..position].iter().filter(|m| m.is_view()).collect();
        let Some(kind) = model.incremental else {
            let df = self.ctx.sql(&format!("SELECT * FROM ({}) AS model{}", self.model_sql(model, None)?, order_by(model))).await?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let mut writer = self.lake.model_writer(&model.name, schema, None, true).await?;
            write_all(df, &mut writer).await?;
            let rows = writer.rows();
            return Ok((rows, writer.commit(&Replace::All).await?));
        };
        let chunks = scope.chunks(kind);
        let mut writer = None;
        for chunk in &chunks {
            // Views the model reads see this chunk's months and periods; those marked
            // `materialized: chunk` that it reads are computed once for the chunk (in dependency
            // order, so a view reading one sees the rows held in memory).
            for view in &views {
                if view.materialized == Materialized::Chunk && self.reads(model, &view.name) {
                    self.compute_for_chunk(view, chunk).await?;
                } else {
                    self.create_view(view, Some(chunk)).await?;
                }
            }
            let sql = format!(
                "SELECT * FROM ({}) AS chunk WHERE period IN ({}){}",
                self.model_sql(model, Some(chunk))?,
                tonghop_core::sql::literal_list(&chunk.periods),
                order_by(model)
            );
            let df = self.ctx.sql(&sql).await?;
            if writer.is_none() {
                let schema = Arc::new(df.schema().as_arrow().clone());
                writer = Some(self.lake.model_writer(&model.name, schema, Some("period"), full).await?);
            }
            let w = writer.as_mut().expect("just created");
            write_all(df, w).await?;
            w.flush().await?;
            tracing::debug!(periods = chunk.periods.len(), months = chunk.months.len(), rows = w.rows(), "chunk written");
        }
        for view in &views {
            self.create_view(view, None).await?;
        }
        let mut writer = match writer {
            Some(w) => w,
            None => {
                // Nothing in scope: an empty computation still fixes the schema.
                let df = self.ctx.sql(&format!("SELECT * FROM ({}) AS chunk WHERE FALSE", self.model_sql(model, None)?)).await?;
                self.lake.model_writer(&model.name, Arc::new(df.schema().as_arrow().clone()), Some("period"), full).await?
            }
        };
        writer.flush().await?;
        let rows = writer.rows();
        let replace = if full { Replace::All } else { Replace::Partitions(chunks.iter().flat_map(|c| c.periods.iter().cloned()).collect()) };
        Ok((rows, writer.commit(&replace).await?))
    }

    /// The months holding values (or deletions) of the submissions committed since `state`, and
    /// how many submissions that is; `None` when the submissions version the last build read can
    /// no longer be read (the caller builds in full).
    async fn new_data_months(&self, state: &BuildState) -> Result<Option<(BTreeSet<String>, usize)>> {
        let Some(before) = self.lake.open_table_at("tables", "submissions", state.submissions_version).await? else { return Ok(None) };
        let ctx = &self.ctx;
        ctx.register_table("submissions_at_last_build", before.table_provider().await?)?;
        let new_ids = "SELECT submission_id FROM lake.submissions EXCEPT SELECT submission_id FROM submissions_at_last_build";
        let ids = self.strings(new_ids).await?;
        // A short list of ids is written out, so the scan skips the files and row groups whose
        // submission_id statistics exclude them all (a subquery would read every row).
        let filter = if ids.len() <= 10_000 { tonghop_core::sql::literal_list(&ids) } else { new_ids.to_string() };
        let months: BTreeSet<String> = if ids.is_empty() {
            BTreeSet::new()
        } else {
            self.strings(&format!("SELECT DISTINCT CAST(period AS VARCHAR) FROM lake.data_values WHERE submission_id IN ({filter})"))
                .await?
                .into_iter()
                .collect()
        };
        ctx.deregister_table("submissions_at_last_build")?;
        Ok(Some((months, ids.len())))
    }

    /// The months to refresh since `state`, and a one-line account of why: the months with new
    /// data (`new_data`, from [`Self::new_data_months`]), and the months that entered or left the
    /// horizon, whose deadline passed, or whose epoch gained or lost a province.
    async fn dirty_months(
        &self,
        state: &BuildState,
        new_data: (BTreeSet<String>, usize),
        horizon: &BTreeSet<String>,
        coverage: &BTreeSet<String>,
        reform_weights: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(BTreeSet<String>, String)> {
        let (mut dirty, new_submissions) = new_data;
        let data_months = dirty.len();
        let horizon_changes: BTreeSet<String> = horizon.symmetric_difference(&state.reporting_months).cloned().collect();
        dirty.extend(horizon_changes.iter().cloned());
        let mut due = BTreeSet::new();
        if self.ctx.table_exist(DEADLINES_MODEL)? {
            let batches = self.ctx.sql(&format!("SELECT CAST(month AS VARCHAR), deadline_at FROM {DEADLINES_MODEL}")).await?.collect().await?;
            for batch in &batches {
                let months = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
                let months = months.as_string::<i32>();
                let at = arrow::compute::cast(batch.column(1), &arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None))?;
                let at = at.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
                for i in 0..batch.num_rows() {
                    let passed = at.value(i);
                    if passed > state.built_at.timestamp_micros() && passed <= now.timestamp_micros() && horizon.contains(months.value(i)) {
                        due.insert(months.value(i).to_string());
                    }
                }
            }
        }
        dirty.extend(due.iter().cloned());
        // A province joining (or leaving) an epoch changes every period expressed in its units:
        // in post-2025 units, the months before the reform too.
        let epoch_of = |key: &String| key.split('/').next().unwrap_or_default().to_string();
        let changed_epochs: BTreeSet<String> = coverage.symmetric_difference(&state.reporting_provinces).map(epoch_of).collect();
        let before_reform = |month: &String| month.parse::<tonghop_core::Period>().is_ok_and(|p| tonghop_core::Epoch::Pre2025.expresses(&p));
        for month in horizon {
            if changed_epochs.contains(tonghop_core::Epoch::Post2025.as_str())
                || (changed_epochs.contains(tonghop_core::Epoch::Pre2025.as_str()) && before_reform(month))
            {
                dirty.insert(month.clone());
            }
        }
        // New reform weights move every figure before the reform in today's units.
        let weights_changed = state.reform_weights != reform_weights;
        if weights_changed {
            dirty.extend(horizon.iter().filter(|m| before_reform(m)).cloned());
        }
        let reason = format!(
            "{new_submissions} new submission(s) with values in {data_months} month(s); {} month(s) entered or left the reporting horizon; deadlines passed for {} month(s); provinces joined {} epoch(s){}",
            horizon_changes.len(),
            due.len(),
            changed_epochs.len(),
            if weights_changed { "; the reform weights changed" } else { "" }
        );
        Ok((dirty, reason))
    }

    async fn load_state(&self) -> Result<Option<BuildState>> {
        let Some(bytes) = self.lake.root().get(STATE_PATH).await? else { return Ok(None) };
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// The first column of a query, as strings.
    async fn strings(&self, sql: &str) -> Result<Vec<String>> {
        let batches = self.ctx.sql(sql).await?.collect().await?;
        Ok(tonghop_lake::first_column_strings(&batches)?)
    }

    /// True for a view whose SQL, or the SQL of a view it reads, uses one of `macros` (names of
    /// [`models::MACROS`]). A view reading any of them is computed over all of history when read
    /// whole, so its tests run chunk by chunk; one reading only `refresh_months` is keyed by month.
    fn view_reads(&self, model: &Model, macros: &[&str]) -> bool {
        if !model.is_view() {
            return false;
        }
        macros.iter().any(|m| model.sql.contains(m))
            || model.depends_on.iter().any(|d| self.models.iter().find(|m| &m.name == d).is_some_and(|m| self.view_reads(m, macros)))
    }

    /// Runs every model test; fails listing every failure (model, test, offending rows, a sample).
    /// Tests of incremental models, and of views that use refresh macros, run chunk by chunk over
    /// the periods of `scope` (the rest was tested when it was built), which also bounds memory.
    #[tracing::instrument(skip_all)]
    pub async fn run_tests(&self, scope: &Scope) -> Result<usize> {
        let mut failures = Vec::new();
        let mut passed = 0;
        for (position, model) in self.models.iter().enumerate() {
            if model.test_queries().is_empty() {
                continue;
            }
            let chunked = model.incremental.is_some() || self.view_reads(model, &models::MACROS);
            // A view narrowed by months only is tested over the dirty months: its other months
            // read nothing that changed since they were last tested.
            let kind = model.incremental.unwrap_or(if self.view_reads(model, &models::MACROS[1..]) { Incremental::Period } else { Incremental::Month });
            let chunks: Vec<Option<Chunk>> = if chunked { scope.chunks(kind).into_iter().map(Some).collect() } else { vec![None] };
            // Tests of an incremental model: the unique ones (a hash table of the grain) a year at
            // a time, the others (filters) in one pass over the refreshed periods.
            let all_periods = for_periods(&model.name, &scope.periods);
            #[allow(clippy::type_complexity)]
            let mut runs: Vec<(Option<&Chunk>, Vec<(String, String)>)> = Vec::new();
            if model.incremental.is_some() {
                if !scope.is_empty() {
                    runs.push((None, model.test_queries_over(&all_periods).into_iter().filter(|(l, _)| !l.starts_with("unique(")).collect()));
                }
                for chunk in &chunks {
                    let c = chunk.as_ref().expect("incremental models are chunked");
                    let source = for_periods(&model.name, &c.periods);
                    runs.push((Some(c), model.test_queries_over(&source).into_iter().filter(|(l, _)| l.starts_with("unique(")).collect()));
                }
            } else {
                for chunk in &chunks {
                    runs.push((chunk.as_ref(), model.test_queries()));
                }
            }
            for (chunk, tests) in runs {
                if let Some(c) = chunk.filter(|_| model.incremental.is_none()) {
                    for view in self.models[..=position].iter().filter(|m| m.is_view()) {
                        self.create_view(view, Some(c)).await?;
                    }
                }
                for (label, sql) in tests {
                    let started = std::time::Instant::now();
                    let batches = self.ctx.sql(&sql).await?.limit(0, Some(3))?.collect().await?;
                    tracing::debug!(model = %model.name, test = %label, seconds = started.elapsed().as_secs_f64(), "model test run");
                    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                    if rows == 0 {
                        passed += 1;
                    } else {
                        let sample = arrow::util::pretty::pretty_format_batches(&batches).map(|t| t.to_string()).unwrap_or_default();
                        let within = chunk.map(|c| format!(" (periods {}…)", c.periods[0])).unwrap_or_default();
                        failures.push(format!("{} ({}): {label} failed{within}, e.g.\n{sample}", model.name, model.path.display()));
                    }
                }
            }
            if chunked && model.incremental.is_none() {
                for view in self.models[..=position].iter().filter(|m| m.is_view()) {
                    self.create_view(view, None).await?;
                }
            }
        }
        if failures.is_empty() {
            Ok(passed)
        } else {
            Err(Error::TestsFailed(failures))
        }
    }

    /// Runs analyst SQL: queries only; anything that writes or changes the session is refused
    /// by the read-only gate ([`crate::read_only::check_plan`]) before it runs.
    #[tracing::instrument(skip(self))]
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let plan = crate::read_only::plan_query(&self.ctx, sql).await?;
        Ok(self.ctx.execute_logical_plan(plan).await?.collect().await?)
    }
}
