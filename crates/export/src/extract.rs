//! Extracts: any model or table to CSV, Parquet or JSON, optionally filtered (`tonghop export table`).

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use tonghop_engine::Engine;

use crate::{to_csv, Error, Result};

/// The file format of an extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractFormat {
    /// UTF-8 CSV with a byte-order mark ([`to_csv`]).
    Csv,
    /// Parquet (zstd), the column types kept.
    Parquet,
    /// A JSON array of objects, one per row, ordered by every column (the same bytes for the same
    /// rows: what a portal push sends).
    Json,
}

impl ExtractFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExtractFormat::Csv => "csv",
            ExtractFormat::Parquet => "parquet",
            ExtractFormat::Json => "json",
        }
    }
}

/// Every table and view a session can read, as SQL names (`lake.data_values`, `models.x` for the
/// schemas other than the default one).
pub fn table_names(engine: &Engine) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(catalog) = engine.context().catalog("datafusion") {
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

/// Reads `table` (a model, a lake table or a reference table), keeping the rows where `predicate`
/// (SQL, e.g. `period = '2026Q1' AND level = 'province'`) holds, and writes them as `format`.
/// Returns the file's bytes and the number of rows.
///
/// # Errors
///
/// [`Error::UnknownTable`] naming the closest known name; [`Error::Query`] with DataFusion's
/// message for a bad predicate (the query is read-only: DDL and DML are refused);
/// [`Error::Parquet`] or the CSV writer's errors.
#[tracing::instrument(skip(engine))]
pub async fn extract(engine: &Engine, table: &str, predicate: Option<&str>, format: ExtractFormat) -> Result<(Vec<u8>, usize)> {
    let known = table_names(engine);
    if !known.iter().any(|k| k == table) {
        let closest =
            known.iter().min_by_key(|k| tonghop_engine::models::edit_distance(k, table)).filter(|k| tonghop_engine::models::edit_distance(k, table) <= 3);
        return Err(Error::UnknownTable { table: table.to_string(), hint: closest.map(|c| format!(" (did you mean {c}?)")).unwrap_or_default() });
    }
    let mut sql = match predicate.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => format!("SELECT * FROM {table} WHERE {p}"),
        None => format!("SELECT * FROM {table}"),
    };
    let what = format!("export table {table}");
    if format == ExtractFormat::Json {
        // A stable order, so that the same rows give the same bytes (and the same idempotency key).
        let df = engine.context().sql(&sql).await.map_err(|e| Error::Query { what: what.clone(), source: Box::new(e.into()) })?;
        let columns: Vec<String> = df.schema().fields().iter().map(|f| format!("\"{}\"", f.name().replace('"', "\"\""))).collect();
        sql = format!("{sql} ORDER BY {}", columns.join(", "));
    }
    let mut batches = engine.query(&sql).await.map_err(|source| Error::Query { what: what.clone(), source: Box::new(source) })?;
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    if batches.is_empty() {
        // No rows: still write the columns (the CSV header, the Parquet schema).
        let df = engine.context().sql(&sql).await.map_err(|e| Error::Query { what, source: Box::new(e.into()) })?;
        batches.push(RecordBatch::new_empty(Arc::new(df.schema().as_arrow().clone())));
    }
    let bytes = match format {
        ExtractFormat::Csv => to_csv(&batches)?,
        ExtractFormat::Parquet => to_parquet(&batches)?,
        ExtractFormat::Json => to_json(&batches)?,
    };
    tracing::info!(rows, bytes = bytes.len(), "extracted");
    Ok((bytes, rows))
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
