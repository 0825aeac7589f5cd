//! Extracts: any model or table to CSV, Excel, Parquet or JSON, optionally filtered (`tonghop export table`,
//! the pipeline's `export` step; see [`crate::request::TableRequest`]).

use arrow::array::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use tonghop_engine::Engine;

use crate::{to_csv, Error, Result, SheetSpec};

/// The file format of a table export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractFormat {
    /// UTF-8 CSV with a byte-order mark ([`to_csv`]).
    Csv,
    /// One formatted Excel sheet ([`crate::to_xlsx`]), laid out by a [`SheetSpec`].
    Xlsx,
    /// Parquet (zstd), the column types kept.
    Parquet,
    /// A JSON array of objects, one per row (what a portal push sends).
    Json,
}

impl ExtractFormat {
    /// Every format, by name.
    pub const ALL: [ExtractFormat; 4] = [ExtractFormat::Csv, ExtractFormat::Xlsx, ExtractFormat::Parquet, ExtractFormat::Json];

    /// The file extension, which is also the format's name.
    pub fn extension(self) -> &'static str {
        match self {
            ExtractFormat::Csv => "csv",
            ExtractFormat::Xlsx => "xlsx",
            ExtractFormat::Parquet => "parquet",
            ExtractFormat::Json => "json",
        }
    }

    /// Parses a format name (`csv`, `xlsx`, `parquet`, `json`).
    pub fn parse(name: &str) -> Option<ExtractFormat> {
        ExtractFormat::ALL.into_iter().find(|f| f.extension().eq_ignore_ascii_case(name.trim()))
    }

    /// Writes `batches` in this format (`sheet` lays out an Excel sheet; the other formats ignore it).
    ///
    /// # Errors
    ///
    /// The writer's errors.
    pub fn encode(self, batches: &[RecordBatch], sheet: &SheetSpec) -> Result<Vec<u8>> {
        match self {
            ExtractFormat::Csv => to_csv(batches),
            ExtractFormat::Xlsx => crate::to_xlsx(batches, sheet),
            ExtractFormat::Parquet => to_parquet(batches),
            ExtractFormat::Json => to_json(batches),
        }
    }
}

/// Reads `table` (a model, a lake table or a reference table), keeping the rows where `predicate`
/// (SQL, e.g. `period = '2026Q1' AND level = 'province'`) holds, ordered by every column so that the
/// same rows give the same bytes in every format (and the same idempotency key when pushed). With no
/// row, one empty batch still carries the columns (the CSV header, the Parquet schema).
///
/// # Errors
///
/// [`Error::UnknownTable`] naming the closest known name; [`Error::Query`] with DataFusion's
/// message for a bad predicate (the query is read-only: DDL and DML are refused).
#[tracing::instrument(skip(engine))]
pub async fn read_table(engine: &Engine, table: &str, predicate: Option<&str>) -> Result<Vec<RecordBatch>> {
    let known = engine.table_names();
    if !known.iter().any(|k| k == table) {
        return Err(unknown_table(&known, table));
    }
    let sql = match predicate.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => format!("SELECT * FROM {table} WHERE {p}"),
        None => format!("SELECT * FROM {table}"),
    };
    let what = format!("export table {table}");
    // The columns to order by are the table's own (`SELECT *`): read from its provider, not planned.
    let schema = engine.context().table_provider(table).await.map_err(|e| Error::Query { what: what.clone(), source: Box::new(e.into()) })?.schema();
    let columns: Vec<String> = schema.fields().iter().map(|f| format!("\"{}\"", f.name().replace('"', "\"\""))).collect();
    let mut batches =
        engine.query(&format!("{sql} ORDER BY {}", columns.join(", "))).await.map_err(|source| Error::Query { what, source: Box::new(source) })?;
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    tracing::info!(rows = batches.iter().map(|b| b.num_rows()).sum::<usize>(), "read");
    Ok(batches)
}

/// [`Error::UnknownTable`] for `table`, with the closest of the `known` names.
pub(crate) fn unknown_table(known: &[String], table: &str) -> Error {
    Error::UnknownTable {
        table: table.to_string(),
        hint: tonghop_core::text::closest(known, table).map(|c| format!(" (did you mean {c}?)")).unwrap_or_default(),
    }
}

/// Writes record batches as a JSON array of objects (`[]` when there is no row).
///
/// # Errors
///
/// [`Error::Json`] if a column cannot be written as JSON.
pub fn to_json(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Ok(b"[]".to_vec());
    }
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    for batch in batches {
        writer.write(batch).map_err(Error::Json)?;
    }
    writer.finish().map_err(Error::Json)?;
    Ok(writer.into_inner())
}

/// Writes record batches as one Parquet file (zstd), with the schema of the first batch.
///
/// # Errors
///
/// [`Error::SchemaMismatch`] if the batches differ; [`Error::Parquet`] if the writer fails.
pub fn to_parquet(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    crate::check_same_schema(batches)?;
    let Some(first) = batches.first() else { return Err(Error::Parquet("no batch, so no schema to write".into())) };
    let properties = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, first.schema(), Some(properties)).map_err(|e| Error::Parquet(e.to_string()))?;
    for batch in batches {
        writer.write(batch).map_err(|e| Error::Parquet(e.to_string()))?;
    }
    writer.close().map_err(|e| Error::Parquet(e.to_string()))?;
    Ok(out)
}
