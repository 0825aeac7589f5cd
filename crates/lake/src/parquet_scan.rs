//! A Delta table's snapshot read as plain Parquet: the scan distributed execution can ship.
//!
//! The Delta scan of deltalake 1.1 (`DeltaScanNext`) cannot be serialised into a plan fragment
//! for a worker (delta-rs issue 4171). [`SnapshotTable`] reads the *live files* of one snapshot
//! (the `add` actions of the version the table was opened at) with DataFusion's own Parquet scan:
//! a `DataSourceExec` over a `FileScanConfig` whose files carry their Delta partition values. Every
//! part of that plan is serialisable by `datafusion-proto`, so a worker can read its share of the
//! files from the lake's object store itself.
//!
//! It reads only what it understands: a table whose protocol needs a reader feature other than
//! those listed in [`READABLE_FEATURES`] (deletion vectors, column mapping, …) is refused with
//! [`Error::UnreadableProtocol`] rather than read wrong. tonghop never writes such tables.
//!
//! The files are addressed through one object-store URL per lake ([`lake_store_url`]), which
//! every process of a cluster registers for its own copy of the lake configuration
//! ([`register_lake_store`]).
//!
//! Files are skipped at planning by their partition values and by the column statistics of their
//! `add` actions (min, max and null count, as Delta readers do), so a filter on a column that is
//! constant per file (`year` of `indicator_values`) opens only the files that can match. A model
//! written in a declared order tags each file with it ([`SORTED_BY_TAG`]); when every file read
//! carries the same order, the scan declares it, so DataFusion merges the files instead of
//! sorting their rows again.
//!
//! Sessions that answer questions ([`SnapshotTable::try_new_for_questions`]) read the files'
//! strings as `Utf8View` (views of the decoded pages, not copies), cache each file's page index
//! with its footer, and read an ordered table's files as a few ordered runs that decode ahead of
//! the merge; builds read plain `Utf8`, as partition values always are, one ordered file per
//! partition.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::SortOptions;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use deltalake::datafusion::catalog::{Session, TableProvider};
use deltalake::datafusion::common::pruning::PrunableStatistics;
use deltalake::datafusion::common::stats::Precision;
use deltalake::datafusion::common::{ColumnStatistics, DFSchema, ScalarValue, Statistics};
use deltalake::datafusion::datasource::listing::PartitionedFile;
use deltalake::datafusion::datasource::physical_plan::parquet::{CachedParquetFileReaderFactory, ParquetFileReaderFactory};
use deltalake::datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use deltalake::datafusion::datasource::source::DataSourceExec;
use deltalake::datafusion::datasource::TableType;
use deltalake::datafusion::execution::object_store::ObjectStoreUrl;
use deltalake::datafusion::logical_expr::utils::conjunction;
use deltalake::datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use deltalake::datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use deltalake::datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use deltalake::datafusion::physical_plan::buffer::BufferExec;
use deltalake::datafusion::physical_plan::empty::EmptyExec;
use deltalake::datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use deltalake::datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use futures::future::{BoxFuture, FutureExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use sha2::{Digest, Sha256};

use crate::{Error, Lake, Result};

/// Reader features this scan reads correctly: they change the log, not the data files.
pub const READABLE_FEATURES: &[&str] = &["timestampNtz", "v2Checkpoint", "vacuumProtocolCheck"];

/// The `add` action tag naming the order a file's rows were written in: its columns, comma
/// separated, each ascending with nulls last (SQL's default `ORDER BY`).
pub const SORTED_BY_TAG: &str = "tonghop.sortedBy";

/// How far each ordered run of a question's scan reads ahead of the merge, at most (the buffer's
/// memory is also counted in the session's memory pool). A province's year of `indicator_values`
/// is 27 MB in all, 3.4 MB per run.
const READ_AHEAD_BYTES: usize = 16 << 20;

/// The ordered runs a question's scan cuts its files into, at least: more runs than cores overlap
/// the reads of a cold page cache (a province's year of `indicator_values`, 32 files, page cache
/// dropped, 40 processes: median 157 ms and p95 180 ms with one run per file, 150 / 175 with 4
/// runs, 141 / 160 with 8), while the merge of 8 costs no more than of 2 once the files are
/// cached (p95 91 ms for both).
const ORDERED_RUNS: usize = 8;

/// Delta truncates string statistics to their first 32 characters: a shorter value is exact.
const STATS_STRING_PREFIX: usize = 32;

/// The object-store URL under which the lake's files are read by the Parquet scan:
/// `tonghop-lake://<first 16 hex digits of the SHA-256 of the lake's root URL>`. A worker started
/// on another lake registers another URL, and a plan naming this lake then fails there with
/// DataFusion's "no suitable object store" instead of reading other files.
pub fn lake_store_url(lake: &Lake) -> ObjectStoreUrl {
    let digest = Sha256::digest(lake.root().url().as_str().as_bytes());
    let host: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    ObjectStoreUrl::parse(format!("tonghop-lake://{host}")).expect("a valid URL")
}

/// Registers the lake's object store in `ctx`'s runtime under [`lake_store_url`].
pub fn register_lake_store(lake: &Lake, ctx: &SessionContext) {
    let url = lake_store_url(lake);
    ctx.runtime_env().register_object_store(url.as_ref(), lake.root().store());
}

/// One live file of the snapshot.
#[derive(Debug, Clone)]
struct LiveFile {
    /// Its path in the lake's object store (from the store's root).
    path: object_store::path::Path,
    size: u64,
    /// Its partition values, in the order of [`SnapshotTable::partition_fields`].
    partition_values: Vec<ScalarValue>,
    /// Statistics over the table's columns (in [`SnapshotTable::schema`]'s order): the `add`
    /// action's min, max and null counts where exact, the partition values.
    statistics: Arc<Statistics>,
    /// The order its rows were written in ([`SORTED_BY_TAG`]), if it says.
    sorted_by: Option<String>,
}

impl LiveFile {
    /// The file as DataFusion's scan takes it.
    fn into_partitioned(self) -> PartitionedFile {
        PartitionedFile::new(self.path.to_string(), self.size).with_partition_values(self.partition_values)
    }
}

/// A Delta snapshot's live files scanned as Parquet (see the module's docs).
#[derive(Debug)]
pub struct SnapshotTable {
    name: String,
    store_url: ObjectStoreUrl,
    /// The columns stored in the files, in the table's order.
    file_schema: SchemaRef,
    /// The partition columns, in the table's partition order.
    partition_fields: Vec<FieldRef>,
    /// The table's columns in the Delta schema's order (as the Delta scan gives them).
    schema: SchemaRef,
    /// For each column of `schema`, its index in the file scan's order (`file_schema` then
    /// `partition_fields`).
    scan_index: Vec<usize>,
    files: Vec<LiveFile>,
    /// Whether a scan of ordered runs reads ahead of the merge (sessions that answer questions).
    read_ahead: bool,
}

impl SnapshotTable {
    /// The provider over `table` (opened at the version to read), a table of `lake`, its strings
    /// read as plain `Utf8`.
    pub fn try_new(lake: &Lake, table: &DeltaTable) -> Result<SnapshotTable> {
        Self::open(lake, table, false)
    }

    /// The provider over `table` for sessions that answer questions. The files' strings are read
    /// as `Utf8View`: views of the decoded pages instead of copies (a province's year of
    /// `indicator_values`, 214 K rows of 29 columns: 110 ms -> 85 ms). A scan of ordered runs
    /// (see [`SnapshotTable::ordered_groups`]) reads ahead of the merge. Builds keep plain strings:
    /// they gain nothing measured from views, and a view keeps alive the whole page it points
    /// into (the one build with views everywhere peaked at 3,295 MiB, within the 2.8-3.2 GiB
    /// spread of builds without them, so that cost is not shown either).
    pub fn try_new_for_questions(lake: &Lake, table: &DeltaTable) -> Result<SnapshotTable> {
        Self::open(lake, table, true)
    }

    #[tracing::instrument(skip(lake, table), fields(table = %table.table_url()))]
    fn open(lake: &Lake, table: &DeltaTable, for_questions: bool) -> Result<SnapshotTable> {
        let name = table.table_url().path().trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string();
        let delta = |e: deltalake::DeltaTableError| Error::Delta { table: name.clone(), url: table.table_url().to_string(), source: Box::new(e) };
        let snapshot = table.snapshot().map_err(delta)?;
        check_protocol(&name, snapshot.protocol(), snapshot.metadata().configuration())?;

        // The table's folder below the lake's root, to address its files from the store's root.
        let root = lake.root().url().as_str();
        let table_url = table.table_url().as_str().trim_end_matches('/').to_string();
        let folder = table_url
            .strip_prefix(root)
            .ok_or_else(|| Error::InvalidLocation { location: table_url.clone(), reason: format!("the table is not below the lake {root}") })?;

        let partition_columns: Vec<String> = snapshot.metadata().partition_columns().to_vec();
        let arrow_schema = snapshot.snapshot().arrow_schema();
        // The types the columns are read as: dictionary-encoded values as their values, partition
        // values as plain strings (see `scan_provider`), and the files' strings as `Utf8View` when
        // asked, which the Parquet reader fills with views of the decoded pages instead of copying
        // every value into one buffer (then again in each filter and merge).
        let read_as = |f: &Field, partition: bool| -> FieldRef {
            let data_type = match f.data_type() {
                DataType::Dictionary(_, value) => value.as_ref().clone(),
                other => other.clone(),
            };
            let data_type = match data_type {
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 if for_questions && !partition => DataType::Utf8View,
                DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                other => other,
            };
            Arc::new(Field::new(f.name(), data_type, true).with_metadata(f.metadata().clone()))
        };
        let file_fields: Vec<FieldRef> = arrow_schema.fields().iter().filter(|f| !partition_columns.contains(f.name())).map(|f| read_as(f, false)).collect();
        let partition_fields: Vec<FieldRef> = partition_columns
            .iter()
            .map(|c| arrow_schema.field_with_name(c).map(|f| read_as(f, true)).map_err(|e| Error::Query(e.into())))
            .collect::<Result<_>>()?;
        let file_schema = Arc::new(Schema::new(file_fields.clone()));
        let scan_order: Vec<FieldRef> = file_fields.into_iter().chain(partition_fields.iter().cloned()).collect();
        let logical: Vec<FieldRef> = arrow_schema.fields().iter().map(|f| read_as(f, partition_columns.contains(f.name()))).collect();
        let scan_index =
            logical.iter().map(|f| scan_order.iter().position(|g| g.name() == f.name()).expect("every column is a file or partition column")).collect();
        let schema = Arc::new(Schema::new(logical));

        let mut files = Vec::new();
        for file in snapshot.log_data().iter() {
            if file.deletion_vector_descriptor().is_some() {
                return Err(Error::UnreadableProtocol { table: name.clone(), reason: format!("its file {} has a deletion vector", file.path()) });
            }
            let relative = file.path().to_string();
            if relative.contains("://") {
                return Err(Error::UnreadableProtocol { table: name.clone(), reason: format!("its file {relative} lies outside the table's folder") });
            }
            let values = file.partition_values_map();
            let partition_values = partition_fields
                .iter()
                .map(|field| match values.get(field.name()).cloned().flatten() {
                    Some(text) => ScalarValue::try_from_string(text, field.data_type()).map_err(Error::Query),
                    None => ScalarValue::try_from(field.data_type()).map_err(Error::Query),
                })
                .collect::<Result<Vec<_>>>()?;
            // The file's tags are only exposed on its `add` action (which also holds its stats).
            #[allow(deprecated)]
            let add = file.add_action();
            let sorted_by = add.tags.and_then(|t| t.get(SORTED_BY_TAG).cloned().flatten());
            let statistics = Arc::new(file_statistics(&schema, &partition_fields, &partition_values, add.stats.as_deref()));
            files.push(LiveFile { path: lake.root().path(&format!("{folder}/{relative}")), size: file.size() as u64, partition_values, statistics, sorted_by });
        }
        // The log's order is its own; a scan's files in path order give the same plan every time.
        files.sort_by(|a, b| a.path.cmp(&b.path));
        keep_statistics_every_file_has(&mut files);
        Ok(SnapshotTable { name, store_url: lake_store_url(lake), file_schema, partition_fields, schema, scan_index, files, read_ahead: for_questions })
    }

    /// How many live files the snapshot has.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// The files that may hold rows passing `filters`: those whose partition values pass the
    /// filters on partition columns, then those whose statistics do not rule every filter out.
    fn prune(&self, filters: &[Expr], session: &dyn Session) -> deltalake::datafusion::error::Result<Vec<LiveFile>> {
        let files = self.prune_partitions(filters, session)?;
        // Filters on partition columns alone were applied exactly above.
        let filters: Vec<&Expr> = filters.iter().filter(|f| !self.reads_only_partitions(f)).collect();
        if files.is_empty() || filters.is_empty() {
            return Ok(files);
        }
        let df_schema = DFSchema::try_from(self.schema.as_ref().clone())?;
        let statistics = PrunableStatistics::new(files.iter().map(|f| f.statistics.clone()).collect(), self.schema.clone());
        let mut keep = vec![true; files.len()];
        for filter in filters {
            // A filter that cannot be turned into a pruning predicate prunes nothing (it is still
            // applied to the rows above the scan).
            let Ok(physical) = session.create_physical_expr((*filter).clone(), &df_schema) else { continue };
            let Some(predicate) = PruningPredicateBuilder::new().with_file_schema(self.schema.clone()).build(physical) else { continue };
            for (k, may_match) in keep.iter_mut().zip(predicate.prune(&statistics)?) {
                *k &= may_match;
            }
        }
        Ok(files.into_iter().zip(keep).filter(|(_, k)| *k).map(|(f, _)| f).collect())
    }

    /// The files whose partition values pass the filters that read only partition columns
    /// (evaluated on the values, so any expression prunes exactly).
    fn prune_partitions(&self, filters: &[Expr], session: &dyn Session) -> deltalake::datafusion::error::Result<Vec<LiveFile>> {
        let on_partitions: Vec<Expr> = filters.iter().filter(|f| self.reads_only_partitions(f)).cloned().collect();
        let Some(predicate) = conjunction(on_partitions) else { return Ok(self.files.clone()) };
        if self.files.is_empty() {
            return Ok(Vec::new());
        }
        let schema = Arc::new(Schema::new(self.partition_fields.clone()));
        let columns = (0..self.partition_fields.len())
            .map(|i| ScalarValue::iter_to_array(self.files.iter().map(|f| f.partition_values[i].clone())))
            .collect::<deltalake::datafusion::error::Result<Vec<ArrayRef>>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let physical = session.create_physical_expr(predicate, &df_schema)?;
        let mask = physical.evaluate(&batch)?.into_array(batch.num_rows())?;
        let mask = mask.as_any().downcast_ref::<BooleanArray>().cloned().unwrap_or_else(|| BooleanArray::from(vec![true; batch.num_rows()]));
        Ok(self.files.iter().enumerate().filter(|(i, _)| mask.is_null(*i) || mask.value(*i)).map(|(_, f)| f.clone()).collect())
    }

    /// Whether `filter` reads partition columns and nothing else.
    fn reads_only_partitions(&self, filter: &Expr) -> bool {
        let columns = filter.column_refs();
        !columns.is_empty() && columns.iter().all(|c| self.partition_fields.iter().any(|f| f.name() == &c.name))
    }

    /// The order every one of `files` was written in, as sort expressions over the scan's
    /// columns (files then partition columns), when they all declare the same one.
    fn common_ordering(&self, files: &[LiveFile]) -> Option<LexOrdering> {
        let first = files.first()?.sorted_by.as_ref()?;
        if files.iter().any(|f| f.sorted_by.as_ref() != Some(first)) {
            return None;
        }
        let options = SortOptions { descending: false, nulls_first: false };
        let exprs = first
            .split(',')
            .map(|name| {
                let logical = self.schema.index_of(name.trim()).ok()?;
                let column = deltalake::datafusion::physical_expr::expressions::Column::new(name.trim(), self.scan_index[logical]);
                Some(PhysicalSortExpr::new(Arc::new(column), options))
            })
            .collect::<Option<Vec<_>>>()?;
        LexOrdering::new(exprs)
    }

    /// The file groups of a question's scan of `files`, all written in `ordering`, each group
    /// one stream in that order.
    ///
    /// When the order starts with a partition column whose value differs from file to file
    /// (`indicator_values`: one file per period), the files sorted by that value are cut into
    /// `wanted` contiguous runs of about equal size. A run's files do not overlap in the order,
    /// so its stream is in order too, and DataFusion merges `wanted` streams instead of one per
    /// file (a province's year of `indicator_values` is 32 files). DataFusion checks that a
    /// run's files do not overlap by the statistics attached to each file (see
    /// [`SnapshotTable::scan_statistics`]), and keeps the order only if they pass. Otherwise
    /// (two files of one period) each file is its own group.
    fn ordered_groups(&self, files: Vec<LiveFile>, ordering: &LexOrdering, wanted: usize) -> Vec<FileGroup> {
        let file_columns = self.file_schema.fields().len();
        let sort_columns: Vec<usize> =
            ordering.iter().filter_map(|e| e.expr.downcast_ref::<deltalake::datafusion::physical_expr::expressions::Column>().map(|c| c.index())).collect();
        // The partition column the order starts with, if it does.
        let leading = sort_columns.first().filter(|&&i| i >= file_columns && sort_columns.len() == ordering.len()).map(|i| i - file_columns);
        let statistics: Vec<Statistics> = files.iter().map(|f| self.scan_statistics(f)).collect();
        let runs_possible = leading.is_some_and(|p| {
            let mut values: Vec<&ScalarValue> = files.iter().map(|f| &f.partition_values[p]).collect();
            values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            let distinct = values.iter().all(|v| !v.is_null()) && values.windows(2).all(|w| w[0] != w[1]);
            // DataFusion compares whole sort keys: every file needs a min and max of each.
            let bounded = statistics.iter().all(|s| {
                sort_columns.iter().filter(|&&i| i < file_columns).all(|&i| {
                    let c = &s.column_statistics[i];
                    c.min_value.is_exact() == Some(true) && c.max_value.is_exact() == Some(true)
                })
            });
            distinct && bounded
        });
        let mut files: Vec<PartitionedFile> =
            files.into_iter().zip(statistics).map(|(file, statistics)| file.into_partitioned().with_statistics(Arc::new(statistics))).collect();
        let Some(leading) = leading.filter(|_| runs_possible) else {
            return files.into_iter().map(|f| FileGroup::new(vec![f])).collect();
        };
        files.sort_by(|a, b| a.partition_values[leading].partial_cmp(&b.partition_values[leading]).unwrap_or(std::cmp::Ordering::Equal));
        // Contiguous runs of about `total / wanted` bytes each.
        let total: u64 = files.iter().map(|f| f.object_meta.size).sum();
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new()];
        let mut done = 0u64;
        for file in files {
            let size = file.object_meta.size;
            let runs = groups.len();
            if runs < wanted && !groups[runs - 1].is_empty() && u128::from(done) * wanted as u128 >= u128::from(total) * runs as u128 {
                groups.push(Vec::new());
            }
            done += size;
            groups.last_mut().expect("one run").push(file);
        }
        groups.into_iter().map(FileGroup::new).collect()
    }

    /// `file`'s statistics as a scan's file carries them: over the file's columns
    /// ([`SnapshotTable::file_schema`]'s order), without the min and max of floating-point
    /// columns (a NaN is in neither, and DataFusion reads a column whose min equals its max and
    /// has no nulls as that constant, without decoding it).
    fn scan_statistics(&self, file: &LiveFile) -> Statistics {
        let column_statistics = self
            .file_schema
            .fields()
            .iter()
            .map(|field| {
                let mut c = self
                    .schema
                    .index_of(field.name())
                    .ok()
                    .and_then(|i| file.statistics.column_statistics.get(i).cloned())
                    .unwrap_or_else(ColumnStatistics::new_unknown);
                if field.data_type().is_floating() {
                    c.min_value = Precision::Absent;
                    c.max_value = Precision::Absent;
                }
                c
            })
            .collect();
        Statistics { num_rows: file.statistics.num_rows, total_byte_size: Precision::Absent, column_statistics }
    }
}

/// Readers whose files' metadata is fetched (and kept in the session's metadata cache) with the
/// page index, for sessions that answer questions.
///
/// DataFusion's Parquet opener asks for the footer without the page index, then loads the index
/// itself when a filter can use it, and that copy is not cached: a repeated question read and
/// decoded the page indexes of its 32 files again each time (and copied each file's cached
/// footer to add them). Asked for up front, the index is cached with the footer, and the opener
/// finds it there.
#[derive(Debug)]
struct WithPageIndex(CachedParquetFileReaderFactory);

impl ParquetFileReaderFactory for WithPageIndex {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> deltalake::datafusion::error::Result<Box<dyn AsyncFileReader + Send>> {
        Ok(Box::new(ReaderWithPageIndex(self.0.create_reader(partition_index, file, metadata_size_hint, metrics)?)))
    }
}

/// See [`WithPageIndex`].
struct ReaderWithPageIndex(Box<dyn AsyncFileReader + Send>);

impl AsyncFileReader for ReaderWithPageIndex {
    fn get_bytes(&mut self, range: std::ops::Range<u64>) -> BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        self.0.get_bytes(range)
    }

    fn get_byte_ranges(&mut self, ranges: Vec<std::ops::Range<u64>>) -> BoxFuture<'_, parquet::errors::Result<Vec<bytes::Bytes>>> {
        self.0.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(&'a mut self, options: Option<&'a ArrowReaderOptions>) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let options = options.cloned().unwrap_or_default().with_page_index_policy(PageIndexPolicy::Optional);
        async move { self.0.get_metadata(Some(&options)).await }.boxed()
    }
}

/// Keeps a column's min and max only where every file has both: DataFusion's pruning turns a
/// missing value into an untyped null, which cannot share an array with the others (it then
/// warns and prunes nothing by that column anyway).
fn keep_statistics_every_file_has(files: &mut [LiveFile]) {
    let Some(columns) = files.first().map(|f| f.statistics.column_statistics.len()) else { return };
    for i in 0..columns {
        let complete =
            |f: &LiveFile| f.statistics.column_statistics.get(i).is_some_and(|c| c.min_value.is_exact() == Some(true) && c.max_value.is_exact() == Some(true));
        if files.iter().all(complete) {
            continue;
        }
        for f in files.iter_mut() {
            let stats = Arc::make_mut(&mut f.statistics);
            if let Some(c) = stats.column_statistics.get_mut(i) {
                c.min_value = Precision::Absent;
                c.max_value = Precision::Absent;
            }
        }
    }
}

/// A file's statistics over `schema` (the table's columns) from its `add` action's `stats` JSON
/// (`numRecords`, `minValues`, `maxValues`, `nullCount`) and its partition values. Only what is
/// exact is kept: numbers, and strings shorter than Delta's 32-character truncation.
fn file_statistics(schema: &Schema, partition_fields: &[FieldRef], partition_values: &[ScalarValue], stats: Option<&str>) -> Statistics {
    let json: serde_json::Value = stats.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    let rows = json.get("numRecords").and_then(|n| n.as_u64()).map(|n| n as usize);
    let value = |side: &str, field: &Field| -> Precision<ScalarValue> {
        let Some(v) = json.get(side).and_then(|m| m.get(field.name())) else { return Precision::Absent };
        let text = match (field.data_type(), v) {
            (DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Float32 | DataType::Float64, serde_json::Value::Number(n)) => {
                n.to_string()
            }
            (DataType::Utf8 | DataType::Utf8View, serde_json::Value::String(s)) if s.chars().count() < STATS_STRING_PREFIX => s.clone(),
            _ => return Precision::Absent,
        };
        ScalarValue::try_from_string(text, field.data_type()).map(Precision::Exact).unwrap_or(Precision::Absent)
    };
    let column_statistics = schema
        .fields()
        .iter()
        .map(|field| {
            if let Some(i) = partition_fields.iter().position(|p| p.name() == field.name()) {
                let v = &partition_values[i];
                return if v.is_null() {
                    ColumnStatistics { null_count: rows.map_or(Precision::Absent, Precision::Exact), ..ColumnStatistics::new_unknown() }
                } else {
                    ColumnStatistics {
                        null_count: Precision::Exact(0),
                        min_value: Precision::Exact(v.clone()),
                        max_value: Precision::Exact(v.clone()),
                        ..ColumnStatistics::new_unknown()
                    }
                };
            }
            let null_count =
                json.get("nullCount").and_then(|m| m.get(field.name())).and_then(|n| n.as_u64()).map_or(Precision::Absent, |n| Precision::Exact(n as usize));
            ColumnStatistics { null_count, min_value: value("minValues", field), max_value: value("maxValues", field), ..ColumnStatistics::new_unknown() }
        })
        .collect();
    Statistics { num_rows: rows.map_or(Precision::Absent, Precision::Exact), total_byte_size: Precision::Absent, column_statistics }
}

/// Refuses a protocol this scan cannot read (see [`READABLE_FEATURES`]).
fn check_protocol(table: &str, protocol: &deltalake::kernel::Protocol, configuration: &HashMap<String, String>) -> Result<()> {
    let json = serde_json::to_value(protocol).map_err(|e| Error::UnreadableProtocol { table: table.to_string(), reason: e.to_string() })?;
    let reader_version = json.get("minReaderVersion").and_then(|v| v.as_i64()).unwrap_or(1);
    let features: Vec<String> =
        json.get("readerFeatures").and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect()).unwrap_or_default();
    let unknown: Vec<&String> = features.iter().filter(|f| !READABLE_FEATURES.contains(&f.as_str())).collect();
    if !unknown.is_empty() {
        let list: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        return Err(Error::UnreadableProtocol { table: table.to_string(), reason: format!("its protocol needs the reader features {}", list.join(", ")) });
    }
    if let Some(mode) = configuration.get("delta.columnMapping.mode").filter(|m| m.as_str() != "none") {
        return Err(Error::UnreadableProtocol { table: table.to_string(), reason: format!("it uses column mapping (mode {mode})") });
    }
    if reader_version > 3 {
        return Err(Error::UnreadableProtocol { table: table.to_string(), reason: format!("its protocol needs reader version {reader_version}") });
    }
    Ok(())
}

#[async_trait::async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> deltalake::datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        // Partition filters prune files here; every filter is still applied above the scan (and
        // pushed into the Parquet reader to skip row groups by DataFusion's filter pushdown).
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> deltalake::datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let files = self.prune(filters, session)?;
        tracing::debug!(table = %self.name, files = files.len(), of = self.files.len(), "parquet scan of the snapshot");
        if files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let ordering = self.common_ordering(&files);
        let groups_wanted = session.config().target_partitions().max(1).min(files.len());
        let groups: Vec<FileGroup> = if let Some(ordering) = &ordering {
            if self.read_ahead {
                let runs = groups_wanted.max(ORDERED_RUNS).min(files.len());
                self.ordered_groups(files, ordering, runs)
            } else {
                // Builds read each file as its own partition, as before ordered runs: the runs'
                // read-ahead buffers would count against a build's memory.
                files.into_iter().map(|file| FileGroup::new(vec![file.into_partitioned()])).collect()
            }
        } else {
            // Files spread over the session's partitions by size; DataFusion splits big files further.
            let mut groups: Vec<(u64, Vec<PartitionedFile>)> = (0..groups_wanted).map(|_| (0, Vec::new())).collect();
            let mut by_size = files;
            by_size.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
            for file in by_size {
                let smallest = groups.iter_mut().min_by_key(|(bytes, _)| *bytes).expect("at least one group");
                smallest.0 += file.size;
                smallest.1.push(file.into_partitioned());
            }
            groups.into_iter().map(|(_, files)| FileGroup::new(files)).collect()
        };
        let table_schema = deltalake::datafusion::datasource::table_schema::TableSchema::builder(self.file_schema.clone())
            .with_table_partition_cols(self.partition_fields.clone())
            .build();
        // Filters are evaluated while decoding (the other columns of rows that fail them are never
        // decoded or copied), and the files' footers and page indexes are kept in the session's
        // metadata cache: a repeated question (a dashboard, an analyst) does not parse them again.
        let mut options = session.table_options().parquet.clone();
        options.global.pushdown_filters = true;
        options.global.reorder_filters = true;
        let store = session.runtime_env().object_store(&self.store_url)?;
        let metadata_cache = session.runtime_env().cache_manager.get_file_metadata_cache();
        let cached = CachedParquetFileReaderFactory::new(store, metadata_cache);
        let factory: Arc<dyn ParquetFileReaderFactory> = if self.read_ahead { Arc::new(WithPageIndex(cached)) } else { Arc::new(cached) };
        let source = Arc::new(ParquetSource::new(table_schema).with_table_parquet_options(options).with_parquet_file_reader_factory(factory));
        let config = FileScanConfigBuilder::new(self.store_url.clone(), source)
            .with_file_groups(groups)
            .with_output_ordering(ordering.into_iter().collect())
            .with_projection_indices(Some(match projection {
                Some(p) => p.iter().map(|&i| self.scan_index[i]).collect(),
                None => self.scan_index.clone(),
            }))?
            .with_limit(limit)
            .build();
        let scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
        // The merge of ordered runs takes all of the first run before the second (their periods
        // do not overlap) and asks each for one batch at a time: without a buffer the runs would
        // be decoded one after the other. DataFusion puts the same `BufferExec` under a merge
        // when it drops a sort for the files' order (`sort_pushdown_buffer_capacity`).
        let runs = scan.output_partitioning().partition_count();
        if self.read_ahead && runs > 1 && scan.output_ordering().is_some_and(|o| !o.is_empty()) {
            let capacity = session.config().options().execution.sort_pushdown_buffer_capacity.min(READ_AHEAD_BYTES);
            return Ok(Arc::new(BufferExec::new(scan, capacity)));
        }
        Ok(scan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protocol(json: serde_json::Value) -> deltalake::kernel::Protocol {
        serde_json::from_value(json).expect("a protocol action")
    }

    #[test]
    fn file_statistics_keep_only_what_is_exact() {
        let schema = Schema::new(vec![
            Field::new("year", DataType::Int64, true),
            // The files' strings are read as views, partition values as plain strings.
            Field::new("province_code", DataType::Utf8View, true),
            Field::new("unit_name", DataType::Utf8View, true),
            Field::new("period", DataType::Utf8, true),
        ]);
        let partitions = vec![Arc::new(Field::new("period", DataType::Utf8, true))];
        let long = "Tỉnh Thừa Thiên Huế, thành phố Huế, phường";
        let stats = serde_json::json!({
            "numRecords": 10,
            "minValues": {"year": 2024, "province_code": "01", "unit_name": long},
            "maxValues": {"year": 2024, "province_code": "96", "unit_name": long},
            "nullCount": {"year": 0, "province_code": 2, "unit_name": 0}
        })
        .to_string();
        let s = file_statistics(&schema, &partitions, &[ScalarValue::Utf8(Some("202401".into()))], Some(&stats));
        assert_eq!(s.num_rows, Precision::Exact(10));
        let c = &s.column_statistics;
        assert_eq!((&c[0].min_value, &c[0].max_value), (&Precision::Exact(ScalarValue::Int64(Some(2024))), &Precision::Exact(ScalarValue::Int64(Some(2024)))));
        assert_eq!(c[1].max_value, Precision::Exact(ScalarValue::Utf8View(Some("96".into()))));
        assert_eq!(c[1].null_count, Precision::Exact(2));
        // Delta truncates long strings: such a bound is not exact and is not kept.
        assert_eq!((&c[2].min_value, &c[2].max_value), (&Precision::Absent, &Precision::Absent));
        assert_eq!(c[3].min_value, Precision::Exact(ScalarValue::Utf8(Some("202401".into()))));
        // No statistics at all: nothing is claimed but the partition value.
        let none = file_statistics(&schema, &partitions, &[ScalarValue::Utf8(Some("202401".into()))], None);
        assert_eq!(none.num_rows, Precision::Absent);
        assert_eq!(none.column_statistics[0].min_value, Precision::Absent);
    }

    #[test]
    fn the_protocols_it_cannot_read_are_refused_by_name() {
        let none = HashMap::new();
        let plain = protocol(serde_json::json!({"minReaderVersion": 1, "minWriterVersion": 2}));
        assert!(check_protocol("t", &plain, &none).is_ok());
        let ntz =
            protocol(serde_json::json!({"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["timestampNtz"], "writerFeatures": ["timestampNtz"]}));
        assert!(check_protocol("t", &ntz, &none).is_ok());

        let dv = protocol(
            serde_json::json!({"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["deletionVectors"], "writerFeatures": ["deletionVectors"]}),
        );
        let e = check_protocol("data_values", &dv, &none).unwrap_err().to_string();
        assert!(e.contains("data_values") && e.contains("deletionVectors"), "{e}");

        let mapping = HashMap::from([("delta.columnMapping.mode".to_string(), "name".to_string())]);
        let e = check_protocol("runs", &plain, &mapping).unwrap_err().to_string();
        assert!(e.contains("runs") && e.contains("column mapping (mode name)"), "{e}");
        let off = HashMap::from([("delta.columnMapping.mode".to_string(), "none".to_string())]);
        assert!(check_protocol("runs", &plain, &off).is_ok());
    }
}

#[cfg(test)]
mod ordered_runs {
    use std::collections::BTreeSet;

    use arrow::array::{Int64Array, StringArray};
    use arrow::util::pretty::pretty_format_batches;
    use deltalake::datafusion::physical_plan::displayable;
    use deltalake::datafusion::prelude::SessionConfig;

    use super::*;
    use crate::Replace;

    /// Writes `rows` (period, k, v) to the model table `models/t`, partitioned by period and
    /// tagged as written in `period, k` order; `replace` says which rows the commit replaces.
    async fn write(lake: &Lake, rows: &[(&str, &str, i64)], replace: &Replace) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("period", DataType::Utf8, true),
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
        ]));
        let mut writer = lake.model_writer("t", schema.clone(), Some("period"), true).await.unwrap().sorted_by(Some("period, k"));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap();
        writer.write(batch).await.unwrap();
        writer.commit(replace).await.unwrap();
    }

    /// The physical plan and the rows of `sql` over `provider` registered as `t`, in a session of
    /// two partitions.
    async fn run(lake: &Lake, provider: SnapshotTable, sql: &str) -> (String, Vec<String>) {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        register_lake_store(lake, &ctx);
        ctx.register_table("t", Arc::new(provider)).unwrap();
        let df = ctx.sql(sql).await.unwrap();
        let plan = df.clone().create_physical_plan().await.unwrap();
        let plan = displayable(plan.as_ref()).indent(true).to_string();
        let batches = df.collect().await.unwrap();
        let text = pretty_format_batches(&batches).unwrap().to_string();
        (plan, text.lines().filter(|l| l.starts_with("| ")).skip(1).map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect())
    }

    /// 12 periods of 3 keys, each period's keys written out of order across two batches' worth.
    fn rows() -> Vec<(String, String, i64)> {
        let mut rows = Vec::new();
        for month in 1..=12 {
            for k in ["c", "a", "b"] {
                rows.push((format!("2024{month:02}"), k.to_string(), month * 10 + i64::from(k.as_bytes()[0] - b'a')));
            }
        }
        rows.sort();
        rows
    }

    fn expected(rows: &[(String, String, i64)]) -> Vec<String> {
        let mut sorted = rows.to_vec();
        sorted.sort();
        sorted.iter().map(|(p, k, v)| format!("| {p} | {k} | {v} |")).collect()
    }

    #[tokio::test]
    async fn a_question_reads_the_periods_as_ordered_runs_merged_without_a_sort() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
        let rows = rows();
        let borrowed: Vec<(&str, &str, i64)> = rows.iter().map(|(p, k, v)| (p.as_str(), k.as_str(), *v)).collect();
        write(&lake, &borrowed, &Replace::All).await;
        let table = lake.open_table("models", "t").await.unwrap().unwrap();
        let sql = "SELECT period, k, v FROM t ORDER BY period, k";

        // 12 files (one per period) in 8 runs: 4 runs of 2 files and 4 of one, each read ahead.
        let (plan, got) = run(&lake, SnapshotTable::try_new_for_questions(&lake, &table).unwrap(), sql).await;
        assert_eq!(got, expected(&rows), "{plan}");
        assert!(!plan.contains("SortExec"), "the runs are in order, no sort:\n{plan}");
        assert!(plan.contains("SortPreservingMergeExec") && plan.contains("BufferExec"), "runs merged, read ahead:\n{plan}");
        assert!(plan.contains("file_groups={8 groups"), "8 runs of the 12 files:\n{plan}");

        // A build reads one file per partition, without a read-ahead buffer.
        let (plan, got) = run(&lake, SnapshotTable::try_new(&lake, &table).unwrap(), sql).await;
        assert_eq!(got, expected(&rows), "{plan}");
        assert!(!plan.contains("SortExec") && !plan.contains("BufferExec"), "{plan}");
        assert!(plan.contains("file_groups={12 groups"), "one file per partition:\n{plan}");

        // A second file in one period: the runs could overlap, so each file is its own group,
        // and the answer is still in order.
        let more = [("202403", "aa", 1000), ("202403", "d", 1001)];
        write(&lake, &more, &Replace::Partitions(BTreeSet::new())).await;
        let table = lake.open_table("models", "t").await.unwrap().unwrap();
        let (plan, got) = run(&lake, SnapshotTable::try_new_for_questions(&lake, &table).unwrap(), sql).await;
        let mut all = rows.clone();
        all.extend(more.iter().map(|(p, k, v)| (p.to_string(), k.to_string(), *v)));
        assert_eq!(got, expected(&all), "{plan}");
        assert!(plan.contains("file_groups={13 groups"), "one file per group:\n{plan}");
        assert!(!plan.contains("SortExec"), "{plan}");
    }
}
