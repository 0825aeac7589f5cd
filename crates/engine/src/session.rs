//! [`Engine`]: one DataFusion session with every table and model registered.

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::execution::config::SessionConfig;
use datafusion::prelude::SessionContext;
use tonghop_core::{Catalog, Project, UnitRegistry};
use tonghop_lake::{tables, Lake};

use crate::as_of::FixedNow;
use crate::models::Materialized;
use crate::refresh::Chunk;
use crate::{models, reference, AsOf, Error, Model, Result};

/// The provider of a lake table: the Delta scan, or the snapshot's files as plain Parquet
/// ([`tonghop_lake::SnapshotTable`]) when `parquet`: with a cluster (the plan a worker can
/// receive), and, in sessions that answer questions, for a model written in a declared order
/// (`-- order_by:`), whose scan then says so and spares the readers a sort.
fn table_provider(
    lake: &Lake,
    table: &tonghop_lake::DeltaTable,
    ctx: &SessionContext,
    parquet: bool,
    mode: Mode,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    Ok(match (parquet, mode) {
        (false, _) => tonghop_lake::scan_provider(table, &ctx.state())?,
        (true, Mode::Read) => Arc::new(tonghop_lake::SnapshotTable::try_new_for_questions(lake, table)?),
        (true, Mode::Build) => Arc::new(tonghop_lake::SnapshotTable::try_new(lake, table)?),
    })
}

/// A model's error, naming the model and its file.
pub(crate) fn model_error(model: &Model, source: Error) -> Error {
    Error::Model { model: model.name.clone(), path: model.path.display().to_string(), source: Box::new(source) }
}

/// A DataFusion session over one lake and one project.
///
/// Its work lives one concern per file: opening and registering (here), [`crate::as_of`] (reading
/// the lake as it stood), [`Engine::build`] (`build.rs`), the refresh scope ([`crate::refresh`]) and
/// the model tests (`model_tests.rs`).
pub struct Engine {
    pub(crate) ctx: SessionContext,
    pub(crate) lake: Lake,
    pub(crate) project: Project,
    pub(crate) models: Vec<Model>,
    /// Versions of the lake tables this session reads.
    pub(crate) versions: std::collections::BTreeMap<String, i64>,
    /// Which state of the lake it reads.
    pub(crate) as_of: AsOf,
    /// The workers queries are distributed over; None: this process runs them.
    pub(crate) cluster: Option<crate::Cluster>,
    /// Whether it answers questions or builds (the Parquet scan reads strings as views to answer).
    pub(crate) mode: Mode,
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
        Self::open_as_of(project, lake, registry, catalog, mode, &AsOf::Latest, None).await
    }

    /// [`Engine::open`] on the lake as it stood at `as_of` (see [`AsOf`]; [`Engine::versions`]
    /// then lists the versions read), with its queries distributed over `cluster` when given
    /// (lake tables are then read by [`tonghop_lake::SnapshotTable`], which workers can receive).
    #[tracing::instrument(skip_all, fields(lake = %lake.root().url(), as_of = ?as_of.instant(), distributed = cluster.is_some()))]
    pub async fn open_as_of(
        project: &Project,
        lake: &Lake,
        registry: &UnitRegistry,
        catalog: &Catalog,
        mode: Mode,
        as_of: &AsOf,
        cluster: Option<&crate::Cluster>,
    ) -> Result<Engine> {
        if mode == Mode::Build && *as_of != AsOf::Latest {
            return Err(Error::AsOfBuild);
        }
        if let Some(at) = as_of.instant() {
            if let Some(history) = lake.history().await? {
                if at < history.kept_since {
                    return Err(Error::HistoryNotKept { at, kept_since: history.kept_since, retention_days: history.retention_days });
                }
            }
        }
        // DataFusion settings can be tuned with DATAFUSION_* environment variables (for example
        // DATAFUSION_EXECUTION_TARGET_PARTITIONS=4), as in datafusion-cli.
        let config = SessionConfig::from_env()?.with_information_schema(true).with_default_catalog_and_schema("datafusion", "public");
        let ctx = match cluster {
            Some(cluster) => SessionContext::new_with_state(cluster.session_state(config)?),
            None => SessionContext::new_with_config(config),
        };
        // The Parquet scan's files (distributed sessions, models written in a declared order).
        tonghop_lake::parquet_scan::register_lake_store(lake, &ctx);
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
        reference::register_plans(&ctx, &catalog.plans, registry)?;

        // Raw Delta tables under `lake.`, committed views under their plain names.
        let raw = Arc::new(MemorySchemaProvider::new());
        ctx.catalog("datafusion").expect("default catalog").register_schema("models", Arc::new(MemorySchemaProvider::new()))?;
        let mut versions = std::collections::BTreeMap::new();
        ctx.catalog("datafusion").expect("default catalog").register_schema("lake", raw.clone())?;
        for spec in tables::lake_tables() {
            let provider: Arc<dyn datafusion::catalog::TableProvider> = match as_of.open(lake, spec.folder, spec.name, spec.name).await? {
                Some(table) => {
                    versions.insert(spec.name.to_string(), table.version().unwrap_or_default() as i64);
                    table_provider(lake, &table, &ctx, cluster.is_some(), mode)?
                }
                None => Arc::new(MemTable::try_new(spec.schema.clone(), vec![vec![]])?),
            };
            datafusion::catalog::SchemaProvider::register_table(raw.as_ref(), spec.name.to_string(), provider)?;
        }
        // The service's audit trail, always at its latest version (`as_of` does not apply).
        datafusion::catalog::SchemaProvider::register_table(
            raw.as_ref(),
            tables::AUDIT.name.to_string(),
            Arc::new(tonghop_lake::LatestTable::new(lake, &tables::AUDIT).with_parquet_scan(cluster.is_some())),
        )?;
        let models = models::load(&project.sql_dir())?;
        let mut engine = Engine { ctx, lake: lake.clone(), project: project.clone(), models, versions, as_of: as_of.clone(), cluster: cluster.cloned(), mode };
        // The declared sources (`sql/sources/`): the lake tables as views, in every mode.
        let mut problems = Vec::new();
        for model in engine.models.iter().filter(|m| m.is_source()) {
            engine.create_view(model, None).await?;
            if let Some(spec) = tables::lake_tables().into_iter().find(|s| s.name == model.name) {
                let has: Vec<String> = engine.ctx.table(model.name.as_str()).await?.schema().fields().iter().map(|f| f.name().clone()).collect();
                let wants: Vec<String> = spec.schema.fields().iter().map(|f| f.name().clone()).collect();
                if has != wants {
                    problems.push(format!(
                        "{}: the source {} must list the columns of lake.{}, in order: {} (it lists {})",
                        model.path.display(),
                        model.name,
                        spec.name,
                        wants.join(", "),
                        has.join(", ")
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::InvalidModels(problems.into()));
        }
        if mode == Mode::Read {
            for i in 0..engine.models.len() {
                let model = engine.models[i].clone();
                if model.is_source() {
                    continue;
                }
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
    pub(crate) async fn register_stored(&mut self, model: &Model) -> Result<bool> {
        let Some((key, version)) = self.register_stored_table(model).await? else { return Ok(false) };
        self.versions.insert(key, version);
        Ok(true)
    }

    /// [`Engine::register_stored`] for a build, which registers models while others are being
    /// built: the version read is returned (`models.<name>` and the version), not recorded.
    pub(crate) async fn register_stored_table(&self, model: &Model) -> Result<Option<(String, i64)>> {
        let key = format!("models.{}", model.name);
        let Some(table) = self.as_of.open(&self.lake, "models", &model.name, &key).await? else { return Ok(None) };
        let version = table.version().unwrap_or_default() as i64;
        // A build reads a model written in order without that order: its only readers in a build
        // are the model tests, and a `unique` test over rows said to be ordered by period is
        // planned as an aggregate that keeps the order (partial groups repartitioned in order),
        // 4x slower than a hash aggregate (`indicator_values`, 9.9 M rows: 8.5 s against 2.2 s).
        let ordered = model.order_by.is_some() && self.mode == Mode::Read;
        let provider = table_provider(&self.lake, &table, &self.ctx, self.cluster.is_some() || ordered, self.mode)?;
        let schema = self.ctx.catalog("datafusion").and_then(|c| c.schema("models")).expect("registered at open");
        schema.deregister_table(&model.name)?;
        schema.register_table(model.name.clone(), provider)?;
        self.ctx.sql(&format!("CREATE OR REPLACE VIEW {0} AS SELECT * FROM models.{0}", model.name)).await?;
        Ok(Some((key, version)))
    }

    /// (Re)creates a model as a view, with its refresh macros expanded for `chunk` (or to `TRUE`).
    pub(crate) async fn create_view(&self, model: &Model, chunk: Option<&Chunk>) -> Result<()> {
        let sql = self.model_sql(model, chunk)?;
        if model.materialized == Materialized::Chunk {
            // It may be held in memory from the last chunk: a view replaces only a view.
            self.ctx.deregister_table(model.name.as_str())?;
        }
        self.ctx.sql(&format!("CREATE OR REPLACE VIEW {} AS {sql}", model.name)).await.map_err(|e| model_error(model, e.into()))?;
        Ok(())
    }

    /// Computes a `materialized: chunk` view for one chunk and holds its rows in memory under
    /// the view's name (in DataFusion's partitions, so the models reading it stay parallel),
    /// planned with the options of the build of `reader`, the model that reads it.
    #[tracing::instrument(skip_all, fields(model = %model.name, periods = chunk.periods.len()))]
    pub(crate) async fn compute_for_chunk(&self, model: &Model, chunk: &Chunk, reader: &Model) -> Result<()> {
        let df = self.query_for(reader, &self.model_sql(model, Some(chunk))?).await.map_err(|e| model_error(model, e))?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let partitions = df.collect_partitioned().await.map_err(|e| model_error(model, e.into()))?;
        let rows: usize = partitions.iter().flatten().map(|b| b.num_rows()).sum();
        self.ctx.deregister_table(model.name.as_str())?;
        self.ctx.register_table(model.name.as_str(), Arc::new(MemTable::try_new(schema, partitions)?))?;
        tracing::debug!(rows, "chunk held in memory");
        Ok(())
    }

    pub(crate) fn model_sql(&self, model: &Model, chunk: Option<&Chunk>) -> Result<String> {
        let lists = chunk.map(Chunk::macro_lists);
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
        // What tonghop itself reads must be declared: a build and the exports read these views.
        for spec in tables::lake_tables() {
            if !self.models.iter().any(|m| m.is_source() && m.name == spec.name) {
                out.push(format!("sql/sources/{0}.sql is missing: tonghop reads {0}, the committed rows of lake.{0}, through this declared source", spec.name));
            }
        }
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

    /// The first column of a query, as strings.
    pub(crate) async fn strings(&self, sql: &str) -> Result<Vec<String>> {
        let batches = self.ctx.sql(sql).await?.collect().await?;
        Ok(tonghop_lake::first_column_strings(&batches)?)
    }
    /// Runs analyst SQL: queries only; anything that writes or changes the session is refused
    /// by the read-only gate ([`crate::read_only::check_plan`]) before it runs.
    #[tracing::instrument(skip(self))]
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.query_with(sql, &[]).await
    }

    /// [`Engine::query`] with the values of the named parameters in `sql` (`$unit` in the text,
    /// `("unit", "04")` in `params`: see [`tonghop_lake::params`]).
    #[tracing::instrument(skip(self))]
    pub async fn query_with(&self, sql: &str, params: &[(&str, &str)]) -> Result<Vec<RecordBatch>> {
        let plan = crate::read_only::plan_query(&self.ctx, sql).await?.with_param_values(tonghop_lake::params(params))?;
        Ok(self.ctx.execute_logical_plan(plan).await?.collect().await?)
    }
}
