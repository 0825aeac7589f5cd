//! [`Engine`]: one DataFusion session with every table and model registered.

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::execution::config::SessionConfig;
use datafusion::prelude::{SQLOptions, SessionContext};
use tonghop_core::{Catalog, Project, UnitRegistry};
use tonghop_lake::{tables, Lake};

use crate::{models, reference, Error, Model, Result};

/// What a build did.
#[derive(Debug, Clone, Default)]
pub struct BuildSummary {
    /// Models computed for this build only (views in read sessions).
    pub views: usize,
    /// Models materialised, with their row counts and Delta versions.
    pub materialized: Vec<(String, usize, i64)>,
    /// Model tests run (all passed, or the build failed).
    pub tests_passed: usize,
}

/// A DataFusion session over one lake and one project.
pub struct Engine {
    ctx: SessionContext,
    lake: Lake,
    models: Vec<Model>,
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
    #[tracing::instrument(skip_all, fields(lake = %lake.root().url()))]
    pub async fn open(project: &Project, lake: &Lake, registry: &UnitRegistry, catalog: &Catalog, mode: Mode) -> Result<Engine> {
        let config = SessionConfig::new().with_information_schema(true).with_default_catalog_and_schema("datafusion", "public");
        let ctx = SessionContext::new_with_config(config);
        reference::register_units(&ctx, registry)?;
        reference::register_periods(&ctx)?;
        reference::register_calendar(&ctx)?;
        reference::register_holidays(&ctx, &project.reference_dir())?;
        reference::register_catalog(&ctx, catalog)?;
        reference::register_catalog_settings(&ctx, &project.catalog_dir(), catalog)?;

        // Raw Delta tables under `lake.`, committed views under their plain names.
        let raw = Arc::new(MemorySchemaProvider::new());
        ctx.catalog("datafusion").expect("default catalog").register_schema("lake", raw.clone())?;
        for spec in tables::ingest_tables() {
            let provider: Arc<dyn datafusion::catalog::TableProvider> = match lake.open_table(spec.folder, spec.name).await? {
                Some(table) => {
                    table.update_datafusion_session(&ctx.state()).map_err(|e| Error::DataFusion(e.into()))?;
                    table.table_provider().await?
                }
                None => Arc::new(MemTable::try_new(spec.schema.clone(), vec![vec![]])?),
            };
            datafusion::catalog::SchemaProvider::register_table(raw.as_ref(), spec.name.to_string(), provider)?;
        }
        // Delta partition columns come back dictionary-encoded; the views cast them to plain strings
        // (large joins and aggregations over dictionary keys can overflow their 16-bit index).
        let committed = "submission_id IN (SELECT submission_id FROM lake.submissions)";
        let columns = |spec: &tonghop_lake::TableSpec| {
            spec.schema
                .fields()
                .iter()
                .map(|f| if spec.partition_columns.contains(&f.name().as_str()) { format!("CAST({0} AS VARCHAR) AS {0}", f.name()) } else { f.name().clone() })
                .collect::<Vec<_>>()
                .join(", ")
        };
        ctx.sql(&format!("CREATE VIEW submissions AS SELECT {} FROM lake.submissions", columns(&tables::SUBMISSIONS))).await?;
        for spec in [&*tables::DATA_VALUES, &*tables::REJECTIONS] {
            ctx.sql(&format!("CREATE VIEW {0} AS SELECT {1} FROM lake.{0} WHERE {committed}", spec.name, columns(spec))).await?;
        }

        let models = models::load(&project.sql_dir())?;
        let engine = Engine { ctx, lake: lake.clone(), models };
        if mode == Mode::Read {
            for model in &engine.models {
                let stored = if model.materialized { lake.open_table("models", &model.name).await? } else { None };
                match stored {
                    Some(table) => {
                        table.update_datafusion_session(&engine.ctx.state()).map_err(|e| Error::DataFusion(e.into()))?;
                        engine.ctx.register_table(model.name.as_str(), table.table_provider().await?)?;
                    }
                    None => engine.create_view(model).await?,
                }
            }
        }
        Ok(engine)
    }

    async fn create_view(&self, model: &Model) -> Result<()> {
        let wrap = |e: datafusion::error::DataFusionError| Error::Model {
            model: model.name.clone(),
            path: model.path.display().to_string(),
            source: Box::new(Error::DataFusion(e)),
        };
        self.ctx.sql(&format!("CREATE VIEW {} AS {}", model.name, model.sql)).await.map_err(wrap)?;
        Ok(())
    }

    /// The models, in dependency order.
    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// Tables a model reads that are neither models nor registered tables, one message per
    /// reference naming the file, the model and the missing name (with the closest known name).
    pub fn unresolved_references(&self) -> Vec<String> {
        let mut known: Vec<String> = self.models.iter().map(|m| m.name.clone()).collect();
        if let Some(catalog) = self.ctx.catalog("datafusion") {
            for schema in catalog.schema_names() {
                if let Some(provider) = catalog.schema(&schema) {
                    for table in provider.table_names() {
                        known.push(if schema == "public" { table } else { format!("{schema}.{table}") });
                    }
                }
            }
        }
        let mut out = Vec::new();
        for model in &self.models {
            for reference in &model.references {
                if known.iter().any(|k| k == reference) {
                    continue;
                }
                let closest = known.iter().min_by_key(|k| models::edit_distance(k, reference)).filter(|k| models::edit_distance(k, reference) <= 3);
                let hint = closest.map(|k| format!(" (did you mean {k}?)")).unwrap_or_default();
                out.push(format!(
                    "{}: model {} reads {reference}, which is neither a model in sql/ nor a table{hint}",
                    model.path.display(),
                    model.name
                ));
            }
        }
        out
    }

    /// The DataFusion session (for callers that need DataFrames).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Computes every model once, in dependency order: `materialized: table` models are written to
    /// `models/<name>` on the lake (one atomic overwrite each), the others that a later model reads
    /// are kept in memory for the rest of the build so that downstream models and tests do not
    /// recompute them, and the rest (leaves such as reports) become plain views. Then runs every
    /// model test. Only valid on an engine opened in [`Mode::Build`].
    #[tracing::instrument(skip(self))]
    pub async fn build(&self) -> Result<BuildSummary> {
        let unresolved = self.unresolved_references();
        if !unresolved.is_empty() {
            return Err(Error::InvalidModels(unresolved));
        }
        let mut summary = BuildSummary::default();
        let used: std::collections::HashSet<&str> = self.models.iter().flat_map(|m| m.depends_on.iter().map(String::as_str)).collect();
        for model in &self.models {
            let span = tracing::info_span!("model", name = %model.name, materialized = model.materialized);
            let _enter = span.enter();
            let started = std::time::Instant::now();
            let wrap = |e: Error| Error::Model { model: model.name.clone(), path: model.path.display().to_string(), source: Box::new(e) };
            if !model.materialized && !used.contains(model.name.as_str()) {
                // Nothing downstream reads it: a view, computed when queried.
                self.create_view(model).await?;
                summary.views += 1;
                continue;
            }
            let df = self.ctx.sql(&model.sql).await.map_err(|e| wrap(e.into()))?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await.map_err(|e| wrap(e.into()))?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            if model.materialized {
                let version = self.lake.overwrite("models", &model.name, schema, batches).await.map_err(|e| wrap(e.into()))?;
                let table = self.lake.open_table("models", &model.name).await?.expect("just written");
                table.update_datafusion_session(&self.ctx.state()).map_err(|e| Error::DataFusion(e.into()))?;
                self.ctx.register_table(model.name.as_str(), table.table_provider().await?)?;
                summary.materialized.push((model.name.clone(), rows, version));
            } else {
                self.ctx.register_table(model.name.as_str(), Arc::new(MemTable::try_new(schema, vec![batches])?))?;
                summary.views += 1;
            }
            tracing::info!(rows, seconds = started.elapsed().as_secs_f64(), "model built");
        }
        summary.tests_passed = self.run_tests().await?;
        Ok(summary)
    }

    /// Runs every model test; fails listing every failure (model, test, offending rows, a sample).
    #[tracing::instrument(skip(self))]
    pub async fn run_tests(&self) -> Result<usize> {
        let mut failures = Vec::new();
        let mut passed = 0;
        for model in &self.models {
            for (label, sql) in model.test_queries() {
                let batches = self.ctx.sql(&sql).await?.limit(0, Some(3))?.collect().await?;
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                if rows == 0 {
                    passed += 1;
                } else {
                    let sample = arrow::util::pretty::pretty_format_batches(&batches).map(|t| t.to_string()).unwrap_or_default();
                    failures.push(format!("{} ({}): {label} failed, e.g.\n{sample}", model.name, model.path.display()));
                }
            }
        }
        if failures.is_empty() { Ok(passed) } else { Err(Error::TestsFailed(failures)) }
    }

    /// Runs analyst SQL: queries only. DDL, DML and session statements are refused.
    #[tracing::instrument(skip(self))]
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let df = self.ctx.sql_with_options(sql, options).await.map_err(|e| {
            let message = e.to_string();
            for kind in ["DDL", "DML", "Statement"] {
                if message.contains(&format!("{kind} not supported")) {
                    return Error::ReadOnly { statement: message.split(':').next_back().unwrap_or(kind).trim().to_string() };
                }
            }
            Error::DataFusion(e)
        })?;
        Ok(df.collect().await?)
    }
}
