//! Writing materialised models: stream batches into a Delta table and replace all of it, or only
//! some of its partitions, in **one** commit.
//!
//! A build computes a model chunk by chunk (a calendar year at a time, say) to bound memory; every
//! chunk's files are written as the chunk streams in, and nothing becomes visible until
//! [`ModelWriter::commit`] adds them and removes the files they replace in a single Delta commit.
//! A crash before the commit leaves only unreferenced files (Delta ignores them; `VACUUM` removes
//! them); readers keep seeing the previous version whole.
//!
//! Rows keep the order they come in within each partition, in row groups of [`ROW_GROUP_ROWS`]
//! rows and pages of at most [`PAGE_ROWS`], so a model written sorted can be read back with most
//! row groups and pages skipped.

use std::collections::BTreeSet;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTable;

use crate::{Error, Lake, Location, Result};

/// Buffered Parquet bytes after which the writer flushes files to storage (memory bound).
const FLUSH_BYTES: usize = 256 * 1024 * 1024;

/// Rows per Parquet row group. Small enough that a model written in a useful order (one
/// province's rows together within each period) lets a filter skip most row groups by their
/// min/max statistics; large enough to keep the footers and the full scans cheap.
const ROW_GROUP_ROWS: usize = 16 * 1024;

/// Rows per data page, at most. The page index (written by default) keeps min/max statistics per
/// page, so a filter also skips the pages of a row group that hold other provinces: one
/// province's indicators for a year decode about half the rows they did with one page per
/// column and row group (259 K of 524 K on the national benchmark lake).
const PAGE_ROWS: usize = 2 * 1024;

/// Which part of a model table a [`ModelWriter`] replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replace {
    /// Every row.
    All,
    /// The rows whose partition column has one of these values (others are kept).
    Partitions(BTreeSet<String>),
}

/// Streams batches into new files of a model table; [`ModelWriter::commit`] publishes them.
pub struct ModelWriter {
    name: String,
    location: Location,
    table: DeltaTable,
    writer: RecordBatchWriter,
    schema: SchemaRef,
    partition_column: Option<String>,
    /// The order the rows come in, tagged on every file ([`crate::parquet_scan::SORTED_BY_TAG`]).
    sorted_by: Option<String>,
    adds: Vec<Add>,
    rows: usize,
}

impl Lake {
    /// Makes the model table `models/<name>` read as it did at `version` again, by a new commit
    /// (Delta RESTORE): how a failed build takes back the models it had committed. Returns the
    /// version read now (nothing is written when it already reads `version`).
    #[tracing::instrument(skip(self), fields(lake = %self.root().url()))]
    pub async fn restore_model(&self, name: &str, version: i64) -> Result<i64> {
        let location = self.root().join(&format!("models/{name}"))?;
        let err = |source| Error::Delta { table: name.to_string(), url: location.url().to_string(), source: Box::new(source) };
        let Some(table) = self.open_table("models", name).await? else { return Ok(-1) };
        let wanted =
            u64::try_from(version).map_err(|_| Error::InvalidLocation { location: format!("models/{name}"), reason: format!("no version {version}") })?;
        if table.version() == Some(wanted) {
            return Ok(version);
        }
        let (restored, _) = table.restore().with_version_to_restore(wanted).await.map_err(err)?;
        Ok(restored.version().map_or(version, |v| v as i64))
    }

    /// Starts writing the model table `models/<name>` with `schema`, partitioned by
    /// `partition_column` if given. A missing table is created empty. When the stored schema or
    /// partitioning differs, the table is first emptied with the new schema if `may_reset`
    /// (a full build); otherwise that is an error naming both schemas.
    #[tracing::instrument(skip(self, schema), fields(lake = %self.root().url()))]
    pub async fn model_writer(&self, name: &str, schema: SchemaRef, partition_column: Option<&str>, may_reset: bool) -> Result<ModelWriter> {
        let location = self.root().join(&format!("models/{name}"))?;
        let err = |source| Error::Delta { table: name.to_string(), url: location.url().to_string(), source: Box::new(source) };
        let partitions: Vec<String> = partition_column.map(str::to_string).into_iter().collect();
        let existing = self.open_table("models", name).await?;
        let matches = |table: &DeltaTable| -> bool {
            let Ok(snapshot) = table.snapshot() else { return false };
            let stored: Schema = snapshot.snapshot().arrow_schema().as_ref().clone();
            same_columns(&stored, &schema) && snapshot.metadata().partition_columns() == partitions
        };
        let table = match existing {
            Some(table) if matches(&table) => table,
            Some(table) if !may_reset => {
                let stored = table.snapshot().map(|s| describe(&s.snapshot().arrow_schema())).unwrap_or_default();
                return Err(Error::SchemaChanged { table: name.to_string(), stored, new: describe(&schema) });
            }
            existing => {
                let table = match existing {
                    Some(t) => t,
                    None => deltalake::DeltaTableBuilder::from_url(location.url().clone()).and_then(|b| b.build()).map_err(err)?,
                };
                table
                    .write(vec![RecordBatch::new_empty(schema.clone())])
                    .with_save_mode(SaveMode::Overwrite)
                    .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
                    .with_partition_columns(partitions.clone())
                    .with_table_name(name)
                    .with_commit_properties(crate::delta::commit_properties("build"))
                    .await
                    .map_err(err)?
            }
        };
        let properties = deltalake::parquet::file::properties::WriterProperties::builder()
            .set_compression(deltalake::parquet::basic::Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_data_page_row_count_limit(PAGE_ROWS)
            .build();
        let writer = RecordBatchWriter::for_table(&table).map_err(err)?.with_writer_properties(properties);
        let schema = writer.arrow_schema();
        Ok(ModelWriter {
            name: name.to_string(),
            location,
            table,
            writer,
            schema,
            partition_column: partition_column.map(str::to_string),
            sorted_by: None,
            adds: Vec::new(),
            rows: 0,
        })
    }
}

impl ModelWriter {
    fn err(&self) -> impl FnOnce(deltalake::DeltaTableError) -> Error + use<> {
        let (table, url) = (self.name.clone(), self.location.url().to_string());
        move |source| Error::Delta { table, url, source: Box::new(source) }
    }

    /// Says that the rows will be written in the order `order_by` (an SQL `ORDER BY` list):
    /// every file is tagged with it, so readers need not sort them again. Only plain column
    /// names, ascending (nulls last), are declared; any other list tags nothing.
    pub fn sorted_by(mut self, order_by: Option<&str>) -> ModelWriter {
        let plain = |term: &str| !term.is_empty() && term.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && self.schema.index_of(term).is_ok();
        self.sorted_by = order_by
            .map(|o| o.split(',').map(|t| t.trim().to_string()).collect::<Vec<_>>())
            .filter(|terms| terms.iter().all(|t| plain(t)))
            .map(|terms| terms.join(","));
        self
    }

    /// Buffers one batch (cast to the table's column types), flushing files when the buffer is large.
    pub async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let columns = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c.clone()) } else { arrow::compute::cast(c, f.data_type()) })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.rows += batch.num_rows();
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        self.writer.write(batch).await.map_err(self.err())?;
        if self.writer.buffer_len() >= FLUSH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes the buffered rows to files (not yet visible).
    pub async fn flush(&mut self) -> Result<()> {
        let mut adds = self.writer.flush().await.map_err(self.err())?;
        if let Some(order) = &self.sorted_by {
            for add in &mut adds {
                add.tags.get_or_insert_with(Default::default).insert(crate::parquet_scan::SORTED_BY_TAG.to_string(), Some(order.clone()));
            }
        }
        self.adds.extend(adds);
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Publishes the written files and removes the replaced ones, in one commit. Returns the new
    /// table version.
    #[tracing::instrument(skip_all, fields(table = %self.name, rows = self.rows))]
    pub async fn commit(mut self, replace: &Replace) -> Result<i64> {
        self.flush().await?;
        let snapshot = self.table.snapshot().map_err(self.err())?;
        let mut actions: Vec<Action> = Vec::new();
        for file in snapshot.log_data().iter() {
            let replaced = match (replace, &self.partition_column) {
                (Replace::All, _) => true,
                (Replace::Partitions(values), Some(column)) => file.partition_values_map().get(column).cloned().flatten().is_some_and(|v| values.contains(&v)),
                (Replace::Partitions(_), None) => {
                    return Err(Error::Delta {
                        table: self.name.clone(),
                        url: self.location.url().to_string(),
                        source: Box::new(deltalake::DeltaTableError::Generic("partitions can only be replaced in a partitioned table".into())),
                    })
                }
            };
            if replaced {
                actions.push(Action::Remove(file.remove_action(true)));
            }
        }
        let removed = actions.len();
        actions.extend(self.adds.drain(..).map(Action::Add));
        let predicate = match (replace, &self.partition_column) {
            (Replace::Partitions(values), Some(column)) => Some(format!("{column} IN ({})", tonghop_core::sql::literal_list(values))),
            _ => None,
        };
        let operation = DeltaOperation::Write { mode: SaveMode::Overwrite, partition_by: self.partition_column.clone().map(|c| vec![c]), predicate };
        let properties = crate::delta::commit_properties("build");
        let err = self.err();
        let commit = CommitBuilder::from(properties).with_actions(actions).build(Some(snapshot), self.table.log_store(), operation).await.map_err(err)?;
        tracing::debug!(removed, version = commit.version(), "model committed");
        Ok(commit.version() as i64)
    }
}

/// Same column names and types, in order (nullability aside).
fn same_columns(a: &Schema, b: &Schema) -> bool {
    a.fields().len() == b.fields().len() && a.fields().iter().zip(b.fields()).all(|(x, y)| x.name() == y.name() && comparable(x.data_type(), y.data_type()))
}

/// Types equal up to string and dictionary representation (Delta stores all strings alike).
fn comparable(a: &arrow::datatypes::DataType, b: &arrow::datatypes::DataType) -> bool {
    use arrow::datatypes::DataType::*;
    let plain = |t: &arrow::datatypes::DataType| match t {
        Utf8View | LargeUtf8 | Utf8 => Utf8,
        Dictionary(_, v) if matches!(v.as_ref(), Utf8 | Utf8View | LargeUtf8) => Utf8,
        other => other.clone(),
    };
    plain(a) == plain(b)
}

fn describe(schema: &Schema) -> String {
    schema.fields().iter().map(|f| format!("{} {}", f.name(), f.data_type())).collect::<Vec<_>>().join(", ")
}
