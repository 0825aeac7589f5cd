//! Delta tables on the lake: open, create, append, overwrite, and crash clean-up.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use arrow::{array::RecordBatch, datatypes::SchemaRef};
use deltalake::delta_datafusion::{DeltaScanConfig, DeltaScanNext};
use deltalake::{
    datafusion::{
        catalog::{Session, TableProvider},
        datasource::MemTable,
        prelude::SessionContext,
    },
    kernel::transaction::{CommitConflictError, CommitProperties, TransactionError},
    kernel::Transaction,
    protocol::SaveMode,
    DeltaTable, DeltaTableError,
};

use crate::{location::Location, tables, Error, Result, TableSpec};

static REGISTER_S3: std::sync::Once = std::sync::Once::new();

/// A DataFusion provider over `table` for `session`, with its partition columns as plain strings.
///
/// delta-rs dictionary-encodes partition columns by default, and a view casting them back hides
/// a filter such as `period IN ('202502', '202503')` from the scan as soon as DataFusion factors
/// the cast out of the filter (it does for two values or more): every file of the table is then
/// read instead of the partitions asked for. Plain strings leave the filter on the column.
pub fn scan_provider(table: &DeltaTable, session: &dyn Session) -> Result<Arc<dyn TableProvider>> {
    table.update_datafusion_session(session).map_err(|e| Error::Query(e.into()))?;
    let snapshot = Arc::new(table.snapshot().map_err(|e| Error::Query(e.into()))?.snapshot().clone());
    let config = DeltaScanConfig::new_from_session(session).with_wrap_partition_values(false);
    Ok(Arc::new(DeltaScanNext::new(snapshot, config)?))
}

/// A lake table read at its latest version at every scan (a Delta provider reads the version it
/// was opened at): for tables written all the time and read now, like `audit`. Columns are the
/// spec's, in the spec's order; an empty table before the first write.
#[derive(Debug)]
pub struct LatestTable {
    lake: Lake,
    spec: &'static TableSpec,
    /// Read with [`crate::SnapshotTable`] (a plan a worker can receive) instead of the Delta scan.
    parquet: bool,
}

impl LatestTable {
    /// The provider of `spec`'s table on `lake`.
    pub fn new(lake: &Lake, spec: &'static TableSpec) -> LatestTable {
        LatestTable { lake: lake.clone(), spec, parquet: false }
    }

    /// Reads with [`crate::SnapshotTable`] when `parquet` (distributed sessions).
    pub fn with_parquet_scan(mut self, parquet: bool) -> LatestTable {
        self.parquet = parquet;
        self
    }
}

#[async_trait::async_trait]
impl TableProvider for LatestTable {
    fn schema(&self) -> SchemaRef {
        self.spec.schema.clone()
    }

    fn table_type(&self) -> deltalake::datafusion::datasource::TableType {
        deltalake::datafusion::datasource::TableType::Base
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[deltalake::datafusion::prelude::Expr],
        limit: Option<usize>,
    ) -> deltalake::datafusion::error::Result<Arc<dyn deltalake::datafusion::physical_plan::ExecutionPlan>> {
        let to_df = |e: Error| deltalake::datafusion::error::DataFusionError::External(Box::new(e));
        let wanted: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..self.spec.schema.fields().len()).collect());
        let Some(table) = self.lake.open_table(self.spec.folder, self.spec.name).await.map_err(to_df)? else {
            return MemTable::try_new(self.spec.schema.clone(), vec![vec![]])?.scan(session, Some(&wanted), filters, limit).await;
        };
        let provider: Arc<dyn TableProvider> = if self.parquet {
            Arc::new(crate::SnapshotTable::try_new(&self.lake, &table).map_err(to_df)?)
        } else {
            scan_provider(&table, session).map_err(to_df)?
        };
        // The Delta provider orders columns its own way (partition columns last): ask it for the
        // spec's columns by name, in the order asked here.
        let theirs = provider.schema();
        let mapped = wanted.iter().map(|&i| theirs.index_of(self.spec.schema.field(i).name())).collect::<std::result::Result<Vec<_>, _>>()?;
        let plan = provider.scan(session, Some(&mapped), filters, limit).await?;
        // It may also read strings as `Utf8View` where the spec (this provider's schema, which the
        // query was planned against) says `Utf8`: the plan above would then compare a view column
        // with a plain literal, which Arrow refuses. Cast back to the spec's types.
        let spec = self.spec.schema.project(&wanted)?;
        let got = plan.schema();
        if got.fields().len() != spec.fields().len() || got.fields().iter().zip(spec.fields()).all(|(a, b)| a.data_type() == b.data_type()) {
            return Ok(plan);
        }
        use deltalake::datafusion::physical_expr::expressions::{cast, Column};
        use deltalake::datafusion::physical_expr::PhysicalExpr;
        let exprs = spec
            .fields()
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(got.field(i).name(), i));
                Ok((cast(column, &got, field.data_type().clone())?, field.name().clone()))
            })
            .collect::<deltalake::datafusion::error::Result<Vec<_>>>()?;
        Ok(Arc::new(deltalake::datafusion::physical_plan::projection::ProjectionExec::try_new(exprs, plan)?))
    }
}

/// The most values tonghop writes into one `IN (…)` list over a Delta table: the Delta scan
/// walks such a list recursively, once per value, and 8,155 values overflowed a 16 MiB stack.
/// Longer lists are looked up in chunks (or, in a build, with a subquery).
pub const MAX_LISTED_IDS: usize = 500;

/// An open lake.
#[derive(Debug, Clone)]
pub struct Lake {
    root: Location,
}

impl Lake {
    /// Opens the lake at `location` (see [`Location::parse`]); nothing is written until a table is.
    pub fn open(location: &str) -> Result<Lake> {
        REGISTER_S3.call_once(|| deltalake::aws::register_handlers(None));
        Ok(Lake { root: Location::parse(location)? })
    }

    /// The root location.
    pub fn root(&self) -> &Location {
        &self.root
    }

    pub(crate) fn table_location(&self, folder: &str, name: &str) -> Result<Location> {
        let loc = self.root.join(&format!("{folder}/{name}"))?;
        if let Ok(dir) = loc.url().to_file_path() {
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
        }
        Ok(loc)
    }

    pub(crate) fn delta_error(name: &str, location: &Location) -> impl FnOnce(DeltaTableError) -> Error + use<> {
        let url = location.url().to_string();
        let name = name.to_string();
        move |source| Error::Delta { table: name, url, source: Box::new(source) }
    }

    /// A handle on a table location that has no table yet (writing to it creates the table).
    fn unloaded(&self, name: &str, loc: &Location) -> Result<DeltaTable> {
        deltalake::DeltaTableBuilder::from_url(loc.url().clone()).and_then(|b| b.build()).map_err(Self::delta_error(name, loc))
    }

    /// Opens a table if it exists (`Ok(None)` if it was never written).
    #[tracing::instrument(level = "debug", skip(self), fields(lake = %self.root.url()))]
    pub async fn open_table(&self, folder: &str, name: &str) -> Result<Option<DeltaTable>> {
        let loc = self.table_location(folder, name)?;
        // Ask the store first: opening a missing table makes deltalake log errors.
        if log_objects(&loc).await?.is_empty() {
            return Ok(None);
        }
        match DeltaTable::try_from_url(loc.url().clone()).await {
            Ok(table) => Ok(table.version().is_some().then_some(table)),
            Err(DeltaTableError::NotATable(_) | DeltaTableError::InvalidTableLocation(_)) => Ok(None),
            Err(DeltaTableError::KernelError(e)) if e.to_string().contains("does not exist") => Ok(None),
            Err(e) => Err(Self::delta_error(name, &loc)(e)),
        }
    }

    /// Opens a table as it was at `version` (Delta time travel); `Ok(None)` when that version can no
    /// longer be read (e.g. its log was cleaned up) or the table does not exist.
    #[tracing::instrument(level = "debug", skip(self), fields(lake = %self.root.url()))]
    pub async fn open_table_at(&self, folder: &str, name: &str, version: i64) -> Result<Option<DeltaTable>> {
        let loc = self.table_location(folder, name)?;
        let builder = deltalake::DeltaTableBuilder::from_url(loc.url().clone()).map_err(Self::delta_error(name, &loc))?;
        match builder.with_version(version.max(0) as u64).load().await {
            Ok(table) => Ok(Some(table)),
            Err(e) => {
                tracing::debug!(error = %e, version, "table version not readable");
                Ok(None)
            }
        }
    }

    /// The last version of a table committed at or before `at`: the highest `NNNN.json` commit
    /// file of its `_delta_log/` whose time in the store is not after `at` (the times deltalake's
    /// own time travel uses). `Ok(None)` when the table does not exist or had no commit by then;
    /// [`Error::HistoryGone`] when the commits before `at` were cleaned up by maintenance.
    #[tracing::instrument(level = "debug", skip(self), fields(lake = %self.root.url()))]
    pub async fn version_at(&self, folder: &str, name: &str, at: chrono::DateTime<chrono::Utc>) -> Result<Option<i64>> {
        let loc = self.table_location(folder, name)?;
        let commits: Vec<(i64, chrono::DateTime<chrono::Utc>)> = log_objects(&loc)
            .await?
            .iter()
            .filter_map(|o| Some((o.location.filename()?.strip_suffix(".json")?.parse::<i64>().ok()?, o.last_modified)))
            .collect();
        let version = commits.iter().filter(|(_, time)| *time <= at).map(|(v, _)| *v).max();
        // No commit by then: the table did not exist yet, unless its first commits were cleaned
        // up (the earliest left is not version 0), and then nobody can tell what it held.
        if version.is_none() {
            if let Some(&(earliest, kept_from)) = commits.iter().min_by_key(|(v, _)| *v) {
                if earliest > 0 {
                    return Err(Error::HistoryGone { table: format!("{folder}/{name}"), at, kept_from });
                }
            }
        }
        tracing::debug!(?version, "version at");
        Ok(version)
    }

    /// The values of the partition column `column` whose data changed in the commits after version
    /// `after` up to `upto` (both in the table's log): the partitions of every file added or removed
    /// with `dataChange` set, so a compaction, which only rewrites rows, changes none. Read from
    /// the commits themselves (a few small JSON files), not from the data. `Ok(None)` when a commit
    /// of the range can no longer be read (cleaned up) or a file's partition cannot be told.
    #[tracing::instrument(level = "debug", skip(self), fields(lake = %self.root.url()))]
    pub async fn changed_partitions(&self, folder: &str, name: &str, column: &str, after: i64, upto: i64) -> Result<Option<BTreeSet<String>>> {
        use deltalake::kernel::Action;
        use futures::{StreamExt, TryStreamExt};
        let loc = self.table_location(folder, name)?;
        let versions: Vec<i64> = ((after + 1).max(0)..=upto).collect();
        let reads = versions.iter().map(|v| {
            let (loc, path) = (loc.clone(), format!("_delta_log/{v:020}.json"));
            async move { loc.get(&path).await }
        });
        let commits: Vec<Option<Vec<u8>>> = futures::stream::iter(reads.collect::<Vec<_>>()).buffered(16).try_collect().await?;
        // A removed file's partition values may be left out of its `remove` action: its path says them.
        let from_path = |path: &str| {
            let prefix = format!("{column}=");
            path.split('/').find_map(|segment| segment.strip_prefix(prefix.as_str())).map(|v| v.to_string())
        };
        let mut changed = BTreeSet::new();
        for (version, bytes) in versions.iter().zip(commits) {
            let Some(bytes) = bytes else { return Ok(None) };
            let actions = deltalake::logstore::get_actions(*version as u64, &bytes.into()).map_err(Self::delta_error(name, &loc))?;
            for action in actions {
                let value = match action {
                    Action::Add(add) if add.data_change => add.partition_values.get(column).cloned().flatten().or_else(|| from_path(&add.path)),
                    Action::Remove(remove) if remove.data_change => {
                        remove.partition_values.and_then(|p| p.get(column).cloned().flatten()).or_else(|| from_path(&remove.path))
                    }
                    _ => continue,
                };
                match value {
                    Some(value) => changed.insert(value),
                    None => return Ok(None),
                };
            }
        }
        tracing::debug!(commits = versions.len(), partitions = changed.len(), "changed partitions");
        Ok(Some(changed))
    }

    /// Opens a table, creating it empty with the spec's schema if it does not exist.
    #[tracing::instrument(level = "debug", skip(self, spec), fields(table = spec.name, lake = %self.root.url()))]
    pub async fn ensure_table(&self, spec: &TableSpec) -> Result<DeltaTable> {
        if let Some(table) = self.open_table(spec.folder, spec.name).await? {
            return Ok(table);
        }
        let loc = self.table_location(spec.folder, spec.name)?;
        let created = self
            .unloaded(spec.name, &loc)?
            .write(vec![RecordBatch::new_empty(spec.schema.clone())])
            .with_save_mode(SaveMode::Append)
            .with_partition_columns(spec.partition_columns.iter().map(|c| c.to_string()))
            .with_table_name(spec.name)
            .await;
        match created {
            Ok(table) => Ok(table),
            // Another process created it first: use theirs.
            Err(_) => self.open_table(spec.folder, spec.name).await?.ok_or_else(|| Error::Delta {
                table: spec.name.into(),
                url: loc.url().to_string(),
                source: Box::new(DeltaTableError::Generic("table could not be created".into())),
            }),
        }
    }

    /// Appends batches to a table in one atomic commit, creating the table first if needed.
    /// Returns the new table version. (A writer that appends again and again keeps an [`Appender`].)
    pub async fn append(&self, spec: &'static TableSpec, batches: Vec<RecordBatch>, operation: &str) -> Result<i64> {
        // Without an application id (one per call would stay in the table's state for good): a
        // commit whose answer was lost is committed again at the next version, adding the same
        // file, which Delta readers count once (adds are reconciled by path).
        Appender { app_id: None, ..Appender::new(self, spec) }.append(batches, operation).await
    }

    /// Replaces the content of a table (created if missing) in one atomic commit, with the schema of
    /// the batches. Used for materialised models. Returns the new version.
    #[tracing::instrument(skip(self, schema, batches), fields(rows))]
    pub async fn overwrite(&self, folder: &str, name: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<i64> {
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        tracing::Span::current().record("rows", rows);
        let loc = self.table_location(folder, name)?;
        let table = match self.open_table(folder, name).await? {
            Some(table) => table,
            None => self.unloaded(name, &loc)?,
        };
        let batches = if batches.is_empty() { vec![RecordBatch::new_empty(schema)] } else { batches };
        let table = table
            .write(batches)
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
            .with_table_name(name)
            .with_commit_properties(commit_properties("build"))
            .await
            .map_err(Self::delta_error(name, &loc))?;
        Ok(table.version().unwrap_or_default() as i64)
    }

    /// Deletes the rows matching a SQL `predicate` from a table, in one commit (no-op when the table
    /// does not exist).
    #[tracing::instrument(skip(self, spec), fields(table = spec.name))]
    pub async fn delete(&self, spec: &TableSpec, predicate: &str) -> Result<()> {
        let Some(table) = self.open_table(spec.folder, spec.name).await? else { return Ok(()) };
        let loc = self.table_location(spec.folder, spec.name)?;
        table.delete().with_predicate(predicate).with_commit_properties(commit_properties("delete")).await.map_err(Self::delta_error(spec.name, &loc))?;
        Ok(())
    }

    /// A table's provider for a private session: the Delta table, or an empty table with the
    /// spec's schema when it was never written.
    pub(crate) async fn provider(&self, spec: &TableSpec) -> Result<Arc<dyn TableProvider>> {
        Ok(match self.open_table(spec.folder, spec.name).await? {
            Some(table) => table.table_provider().await?,
            None => Arc::new(MemTable::try_new(spec.schema.clone(), vec![vec![]])?),
        })
    }

    /// Deletes from `data_values` and `rejections` the rows of submissions that never reached
    /// `submissions` (left by a crash between the commits of one ingest). Returns how many
    /// submission ids were cleaned.
    ///
    /// Rows of submissions in the service's [`journal`](crate::journal) are being committed right
    /// now and are left alone. When the search finds orphans, the journal is read and the search
    /// made again: a submission found both times and not in the journal in between is an orphan.
    /// One whose commit ended meanwhile is not: either its entry was still in the journal, or its
    /// `submissions` row was committed before the second search (an entry is deleted only after
    /// that row is committed).
    #[tracing::instrument(skip(self))]
    pub async fn remove_uncommitted(&self) -> Result<usize> {
        let mut orphans = self.orphan_submission_ids().await?;
        if orphans.is_empty() {
            return Ok(0);
        }
        let in_journal = self.journal_submission_ids().await?;
        let again = self.orphan_submission_ids().await?;
        orphans.retain(|id| again.contains(id) && !in_journal.contains(id));
        if orphans.is_empty() {
            return Ok(0);
        }
        tracing::warn!(count = orphans.len(), "removing rows of uncommitted submissions left by an interrupted ingest");
        self.remove_submissions_rows(&orphans).await?;
        Ok(orphans.len())
    }

    /// Submission ids with rows in `data_values`, `rejections` or `task_progress` but none in `submissions` (rows
    /// of an ingest or a service commit cut short between its tables, or being committed now).
    pub async fn orphan_submission_ids(&self) -> Result<BTreeSet<String>> {
        let ctx = SessionContext::new();
        ctx.register_table("submissions", self.provider(&tables::SUBMISSIONS).await?)?;
        let mut orphans = BTreeSet::new();
        for spec in [&*tables::DATA_VALUES, &*tables::REJECTIONS, &*tables::TASK_PROGRESS] {
            ctx.register_table(spec.name, self.provider(spec).await?)?;
            let sql = format!("SELECT DISTINCT submission_id FROM {0} WHERE submission_id NOT IN (SELECT submission_id FROM submissions)", spec.name);
            orphans.extend(first_column_strings(&ctx.sql(&sql).await?.collect().await?)?);
        }
        Ok(orphans)
    }

    /// Deletes the `data_values`, `rejections` and `task_progress` rows of these submissions (ones that are not
    /// committed: their `submissions` rows make them visible).
    #[tracing::instrument(skip_all, fields(submissions = ids.len()))]
    pub async fn remove_submissions_rows(&self, ids: &BTreeSet<String>) -> Result<()> {
        for chunk in ids.iter().collect::<Vec<_>>().chunks(MAX_LISTED_IDS) {
            let list = tonghop_core::sql::literal_list(chunk.iter().copied());
            let predicate = format!("submission_id IN ({list})");
            for spec in [&*tables::DATA_VALUES, &*tables::REJECTIONS, &*tables::TASK_PROGRESS] {
                self.delete(spec, &predicate).await?;
            }
        }
        Ok(())
    }

    /// Which of `ids` have a row in `submissions` (committed), looked up [`MAX_LISTED_IDS`] at a time.
    #[tracing::instrument(skip_all, fields(submissions = ids.len()))]
    pub async fn committed_among(&self, ids: &BTreeSet<String>) -> Result<HashSet<String>> {
        let mut committed = HashSet::new();
        for chunk in ids.iter().collect::<Vec<_>>().chunks(MAX_LISTED_IDS) {
            let list = tonghop_core::sql::literal_list(chunk.iter().copied());
            let sql = format!("SELECT submission_id FROM submissions WHERE submission_id IN ({list})");
            committed.extend(first_column_strings(&self.query_table(&tables::SUBMISSIONS, &sql, &[]).await?)?);
        }
        Ok(committed)
    }

    /// Runs `sql` over one lake table, registered under its name in a private session (an empty
    /// table with the spec's schema when it was never written), e.g. the earlier pushes of a payload
    /// in `export_log`. `params` are the values of the named parameters in `sql` (see [`params`]).
    #[tracing::instrument(skip(self, spec), fields(table = spec.name))]
    pub async fn query_table(&self, spec: &TableSpec, sql: &str, params: &[(&str, &str)]) -> Result<Vec<RecordBatch>> {
        let ctx = SessionContext::new();
        ctx.register_table(spec.name, self.provider(spec).await?)?;
        Ok(ctx.sql(sql).await?.with_param_values(crate::params(params))?.collect().await?)
    }

    /// The content hashes of every committed submission.
    #[tracing::instrument(skip(self))]
    pub async fn committed_hashes(&self) -> Result<HashSet<String>> {
        let batches = self.query_table(&tables::SUBMISSIONS, "SELECT content_hash FROM submissions", &[]).await?;
        Ok(first_column_strings(&batches)?.into_iter().collect())
    }
}

/// Appends to one table and keeps it open between commits, for long-lived writers (the service's
/// group committer, an inbox ingest): each commit then costs its own files and the log entries since
/// the last one, not a new replay of the table's log. Appends of other writers in between are fine
/// (Delta retries a blind append on the next version); after a failed commit the table is opened
/// afresh.
///
/// Each commit carries this appender's own application id (a Delta `txn` action). When the store
/// applies a commit but its answer is lost, the store client's retry finds the version taken and
/// Delta would commit the same actions again at the next one (the same file added twice, which
/// readers count once, since adds are reconciled by path: a commit nobody meant); with the id,
/// Delta sees that the "other" commit is this appender's own and refuses
/// ([`Error::CommitAnswerLost`]), so the caller checks what is committed instead of committing again.
#[derive(Debug)]
pub struct Appender {
    lake: Lake,
    spec: &'static TableSpec,
    table: Option<DeltaTable>,
    /// `tonghop.append.<uuid>`: one per appender (one per ingest run or service start and table;
    /// each stays in the table's state).
    app_id: Option<String>,
    /// Commits attempted so far (the `txn` version of the last one).
    commits: i64,
}

impl Appender {
    /// An appender for `spec`'s table on `lake` (opened, or created, at the first append).
    pub fn new(lake: &Lake, spec: &'static TableSpec) -> Appender {
        Appender { lake: lake.clone(), spec, table: None, app_id: Some(format!("tonghop.append.{}", uuid::Uuid::new_v4())), commits: 0 }
    }

    /// Appends batches in one atomic commit; returns the new table version.
    #[tracing::instrument(skip(self, batches, operation), fields(table = self.spec.name, rows))]
    pub async fn append(&mut self, batches: Vec<RecordBatch>, operation: &str) -> Result<i64> {
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        tracing::Span::current().record("rows", rows);
        let table = match self.table.take() {
            Some(table) => table,
            None => self.lake.ensure_table(self.spec).await?,
        };
        let loc = self.lake.table_location(self.spec.folder, self.spec.name)?;
        self.commits += 1;
        let mut properties = commit_properties(operation);
        if let Some(app_id) = &self.app_id {
            properties = properties.with_application_transaction(Transaction::new(app_id, self.commits));
        }
        let table = table
            .write(batches)
            .with_save_mode(SaveMode::Append)
            .with_writer_properties(append_writer_properties())
            .with_commit_properties(properties)
            .await
            .map_err(|e| match e {
                DeltaTableError::Transaction { source: TransactionError::CommitConflict(CommitConflictError::ConcurrentTransaction) } => {
                    Error::CommitAnswerLost { table: self.spec.name.to_string(), url: loc.url().to_string() }
                }
                e => Lake::delta_error(self.spec.name, &loc)(e),
            })?;
        let version = table.version().unwrap_or_default() as i64;
        self.table = Some(table);
        tracing::debug!(version, rows, "appended");
        Ok(version)
    }
}

/// How appended files are written: delta-rs's defaults (Snappy, dictionaries), but no dictionary
/// for `source_location`, which differs on every row (`12`, `13`, …): interning ten million
/// distinct strings only to give up on the dictionary was a third of the Parquet encoding time.
fn append_writer_properties() -> deltalake::parquet::file::properties::WriterProperties {
    deltalake::parquet::file::properties::WriterProperties::builder()
        .set_compression(deltalake::parquet::basic::Compression::SNAPPY)
        .set_column_dictionary_enabled(deltalake::parquet::schema::types::ColumnPath::from("source_location"), false)
        .build()
}

/// The first column of query results as strings (any string-like or castable type; NULLs skipped).
pub fn first_column_strings(batches: &[RecordBatch]) -> Result<Vec<String>, arrow::error::ArrowError> {
    let mut out = Vec::new();
    for batch in batches {
        let column = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
        out.extend(arrow::array::AsArray::as_string::<i32>(&column).iter().flatten().map(str::to_string));
    }
    Ok(out)
}

/// An array as optional strings (any type Arrow casts to text).
pub fn array_strings(array: &dyn arrow::array::Array) -> Result<Vec<Option<String>>, arrow::error::ArrowError> {
    let text = arrow::compute::cast(array, &arrow::datatypes::DataType::Utf8)?;
    Ok(arrow::array::AsArray::as_string::<i32>(&text).iter().map(|v| v.map(str::to_string)).collect())
}

/// An array as optional numbers (any type Arrow casts to `Float64`).
pub fn array_numbers(array: &dyn arrow::array::Array) -> Result<Vec<Option<f64>>, arrow::error::ArrowError> {
    let values = arrow::compute::cast(array, &arrow::datatypes::DataType::Float64)?;
    Ok(arrow::array::AsArray::as_primitive::<arrow::datatypes::Float64Type>(&values).iter().collect())
}

/// The objects directly in the `_delta_log/` of the table at `loc` (none: no table is there).
pub(crate) async fn log_objects(loc: &Location) -> Result<Vec<object_store::ObjectMeta>> {
    Ok(loc.store().list_with_delimiter(Some(&loc.path("_delta_log"))).await?.objects)
}

/// The properties of every tonghop commit: what it was (`tonghop.operation`) and which tonghop
/// wrote it. The log is cleaned by `tonghop maintain` with the lake's retention, never by a commit:
/// delta-rs would otherwise list the whole log at every commit and delete what is older than 30
/// days, after which an `--as-of` 31 days back read a table as if it had not existed.
pub(crate) fn commit_properties(operation: &str) -> CommitProperties {
    CommitProperties::default()
        .with_metadata([
            ("tonghop.operation".to_string(), serde_json::Value::from(operation)),
            ("tonghop.version".to_string(), serde_json::Value::from(env!("CARGO_PKG_VERSION"))),
        ])
        .with_cleanup_expired_logs(Some(false))
}

#[cfg(test)]
pub(crate) mod tests {
    use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};

    use super::*;

    fn strings(v: &[&str]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    fn times(n: usize) -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(vec![1_700_000_000_000_000; n]).with_timezone("UTC"))
    }

    fn values(submission: &str) -> RecordBatch {
        values_of(submission, "202603")
    }

    /// Two values of `submission` for `period`.
    pub(crate) fn values_of(submission: &str, period: &str) -> RecordBatch {
        let s = |v: &str| strings(&[v, v]);
        RecordBatch::try_new(
            tables::DATA_VALUES.schema.clone(),
            vec![
                s("post2025"),
                s(period),
                strings(&["00004", "00008"]),
                s("DS_TONG"),
                s("default"),
                Arc::new(Float64Array::from(vec![1.0, 2.0])),
                Arc::new(BooleanArray::from(vec![false, false])),
                Arc::new(StringArray::from(vec![None::<&str>, None])),
                Arc::new(StringArray::from(vec![None::<&str>, None])),
                s(submission),
                strings(&["2", "3"]),
                times(2),
                times(2),
            ],
        )
        .unwrap()
    }

    fn submission(id: &str) -> RecordBatch {
        RecordBatch::try_new(
            tables::SUBMISSIONS.schema.clone(),
            vec![
                strings(&[id]),
                strings(&[id]),
                strings(&["file:///x.csv"]),
                strings(&["csv"]),
                strings(&["accepted"]),
                times(1),
                times(1),
                Arc::new(Int64Array::from(vec![2])),
                Arc::new(Int64Array::from(vec![0])),
                Arc::new(StringArray::from(vec![None::<&str>])),
                Arc::new(StringArray::from(vec![None::<&str>])),
            ],
        )
        .unwrap()
    }

    async fn submission_ids(lake: &Lake) -> Vec<String> {
        let ctx = SessionContext::new();
        let table = lake.open_table("tables", "data_values").await.unwrap().unwrap();
        ctx.register_table("dv", table.table_provider().await.unwrap()).unwrap();
        let batches = ctx.sql("SELECT DISTINCT submission_id FROM dv ORDER BY 1").await.unwrap().collect().await.unwrap();
        first_column_strings(&batches).unwrap()
    }

    /// A store that applies the first conditional put of a Delta commit, then answers what the
    /// store client's retry of it gets after the first answer was lost: "already exists".
    #[derive(Debug)]
    struct LosesCommitAnswer {
        inner: Arc<dyn object_store::ObjectStore>,
        lost: std::sync::atomic::AtomicUsize,
    }

    impl std::fmt::Display for LosesCommitAnswer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "LosesCommitAnswer({})", self.inner)
        }
    }

    #[async_trait::async_trait]
    impl object_store::ObjectStore for LosesCommitAnswer {
        async fn put_opts(
            &self,
            location: &object_store::path::Path,
            payload: object_store::PutPayload,
            opts: object_store::PutOptions,
        ) -> object_store::Result<object_store::PutResult> {
            let commit =
                matches!(opts.mode, object_store::PutMode::Create) && location.as_ref().contains("_delta_log/") && location.as_ref().ends_with(".json");
            let put = self.inner.put_opts(location, payload, opts).await?;
            if commit && self.lost.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                return Err(object_store::Error::AlreadyExists {
                    path: location.to_string(),
                    source: "the retry of an applied put whose answer was lost".into(),
                });
            }
            Ok(put)
        }
        async fn put_multipart_opts(
            &self,
            location: &object_store::path::Path,
            opts: object_store::PutMultipartOptions,
        ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
            self.inner.put_multipart_opts(location, opts).await
        }
        async fn get_opts(&self, location: &object_store::path::Path, options: object_store::GetOptions) -> object_store::Result<object_store::GetResult> {
            self.inner.get_opts(location, options).await
        }
        fn delete_stream(
            &self,
            locations: futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>> {
            self.inner.delete_stream(locations)
        }
        fn list(&self, prefix: Option<&object_store::path::Path>) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(&self, prefix: Option<&object_store::path::Path>) -> object_store::Result<object_store::ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy_opts(
            &self,
            from: &object_store::path::Path,
            to: &object_store::path::Path,
            options: object_store::CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    #[tokio::test]
    async fn an_append_applied_by_the_store_whose_answer_was_lost_is_not_committed_again() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
        lake.ensure_table(&tables::SUBMISSIONS).await.unwrap();
        let url = lake.table_location("tables", "submissions").unwrap().url().clone();
        let store = Arc::new(LosesCommitAnswer { inner: Arc::new(object_store::local::LocalFileSystem::new()), lost: Default::default() });
        let table = deltalake::DeltaTableBuilder::from_url(url.clone()).unwrap().with_storage_backend(store.clone(), url).load().await.unwrap();
        let mut appender = Appender::new(&lake, &tables::SUBMISSIONS);
        appender.table = Some(table);

        let error =
            appender.append(vec![submission("s1")], "ingest").await.expect_err("without its own id, Delta commits the same file again at the next version");
        assert!(matches!(error, Error::CommitAnswerLost { .. }), "{error}");
        assert_eq!(store.lost.load(std::sync::atomic::Ordering::SeqCst), 1, "the commit went through the lossy store once");
        let committed = lake.query_table(&tables::SUBMISSIONS, "SELECT submission_id FROM submissions", &[]).await.unwrap();
        assert_eq!(first_column_strings(&committed).unwrap(), ["s1"], "applied once, not appended again at the next version");
        // The next append (the table opened afresh) goes through.
        appender.append(vec![submission("s2")], "ingest").await.unwrap();
        let committed = lake.query_table(&tables::SUBMISSIONS, "SELECT submission_id FROM submissions ORDER BY 1", &[]).await.unwrap();
        assert_eq!(first_column_strings(&committed).unwrap(), ["s1", "s2"]);
    }

    #[tokio::test]
    async fn the_latest_table_answers_filters_on_its_strings() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
        let n = |v: Option<i64>| Arc::new(Int64Array::from(vec![v, v])) as ArrayRef;
        let none = || Arc::new(StringArray::from(vec![None::<&str>, None])) as ArrayRef;
        let batch = RecordBatch::try_new(
            tables::AUDIT.schema.clone(),
            vec![
                times(2),
                strings(&["token:a", "token:b"]),
                none(),
                strings(&["http", "dashboard"]),
                strings(&["sql", "view"]),
                none(),
                none(),
                n(None),
                n(None),
                strings(&["ok", "denied"]),
                none(),
                none(),
                strings(&["2026-12-05", "2026-12-05"]),
            ],
        )
        .unwrap();
        lake.append(&tables::AUDIT, vec![batch], "test").await.unwrap();
        let ctx = SessionContext::new();
        ctx.register_table("audit", Arc::new(LatestTable::new(&lake, &tables::AUDIT))).unwrap();
        // Planned against the spec's Utf8 columns, read as whatever the Delta scan gives.
        let query = "SELECT actor, day FROM audit WHERE endpoint = 'dashboard' AND outcome = 'denied' AND actor LIKE 'token:%' ORDER BY actor";
        let batches = ctx.sql(query).await.unwrap().collect().await.unwrap();
        assert_eq!(first_column_strings(&batches).unwrap(), ["token:b"]);
        assert_eq!(batches[0].schema().field(1).data_type(), &arrow::datatypes::DataType::Utf8);
    }

    #[tokio::test]
    async fn a_filter_on_several_partitions_reads_only_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
        for period in ["202601", "202602", "202603"] {
            lake.append(&tables::DATA_VALUES, vec![values_of(period, period)], "ingest").await.unwrap();
        }
        let table = lake.open_table("tables", "data_values").await.unwrap().unwrap();
        let ctx = SessionContext::new();
        let provider = scan_provider(&table, &ctx.state()).unwrap();
        let period = provider.schema().field_with_name("period").unwrap().data_type().clone();
        assert!(matches!(period, arrow::datatypes::DataType::Utf8 | arrow::datatypes::DataType::Utf8View), "partition values as plain strings, not {period}");
        ctx.register_table("dv", provider).unwrap();
        // Through a view with a projection, as the engine's views read it: a cast here used to be
        // factored out of the filter, and every file was read.
        ctx.sql("CREATE VIEW v AS SELECT epoch, period, org_unit, value FROM dv").await.unwrap();
        let sql = "EXPLAIN ANALYZE SELECT COUNT(*), SUM(value) FROM v WHERE period IN ('202601', '202603')";
        let plan = arrow::util::pretty::pretty_format_batches(&ctx.sql(sql).await.unwrap().collect().await.unwrap()).unwrap().to_string();
        assert!(plan.contains("count_files_scanned=2"), "two of the three files read:\n{plan}");
        let batches = ctx.sql("SELECT COUNT(*) FROM v WHERE period IN ('202601', '202603')").await.unwrap().collect().await.unwrap();
        assert_eq!(batches[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0), 4);
    }

    #[tokio::test]
    async fn rows_of_a_submission_without_its_commit_marker_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
        assert!(lake.open_table("tables", "data_values").await.unwrap().is_none());
        // A complete ingest: values, then the submission row.
        lake.append(&tables::DATA_VALUES, vec![values("committed")], "ingest").await.unwrap();
        lake.append(&tables::SUBMISSIONS, vec![submission("committed")], "ingest").await.unwrap();
        // A crash after the values commit, before the submission commit.
        lake.append(&tables::DATA_VALUES, vec![values("crashed")], "ingest").await.unwrap();
        assert_eq!(submission_ids(&lake).await, ["committed", "crashed"]);

        assert_eq!(lake.remove_uncommitted().await.unwrap(), 1);
        assert_eq!(submission_ids(&lake).await, ["committed"]);
        assert_eq!(lake.remove_uncommitted().await.unwrap(), 0, "clean-up is idempotent");
        assert_eq!(lake.committed_hashes().await.unwrap().into_iter().collect::<Vec<_>>(), ["committed"]);
    }
}
