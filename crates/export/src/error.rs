//! The errors of the export crate.

use arrow::datatypes::DataType;

/// Errors while turning record batches into files or storing them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A column has an Arrow type that the target format cannot hold
    /// (e.g. a `List` or `Struct` column, or binary data in a spreadsheet).
    #[error("column {column:?} has type {data_type}, which cannot be written to {format}")]
    UnsupportedType {
        /// The column name.
        column: String,
        /// Its Arrow type.
        data_type: DataType,
        /// The target format: `"CSV"` or `"XLSX"`.
        format: &'static str,
    },
    /// The batches do not all have the same columns (names and types, in order).
    #[error("batch {batch} has columns {found}, but the first batch has {expected}")]
    SchemaMismatch {
        /// Index (from 0) of the first batch that differs.
        batch: usize,
        /// The columns of the first batch, as `(name: type, ...)`.
        expected: String,
        /// The columns of the differing batch.
        found: String,
    },
    /// The table does not fit in one Excel sheet (1,048,576 rows × 16,384 columns,
    /// title and header rows included).
    #[error("{what}: {count} does not fit in an Excel sheet (at most {limit})")]
    TooLarge {
        /// What is too large, e.g. `"rows (title, header and data)"`.
        what: &'static str,
        /// How many there are.
        count: u64,
        /// Excel's limit.
        limit: u64,
    },
    /// A column could not be converted to the values written in a cell, e.g. a
    /// timestamp column with a time zone this build cannot resolve.
    #[error("converting column {column:?} ({data_type}): {source}")]
    Convert {
        /// The column name.
        column: String,
        /// Its Arrow type.
        data_type: DataType,
        /// The cause.
        source: arrow::error::ArrowError,
    },
    /// The CSV writer failed.
    #[error("writing CSV: {0}")]
    Csv(#[source] arrow::error::ArrowError),
    /// The XLSX writer refused a cell or setting, or could not assemble the file;
    /// `context` says where (sheet, column, row).
    #[error("writing XLSX ({context}): {source}")]
    Xlsx {
        /// Where it happened, e.g. `sheet "Chỉ tiêu tỉnh", column "ghi_chu", row 12`.
        context: String,
        /// The cause.
        source: rust_xlsxwriter::XlsxError,
    },
    /// Storing the file failed.
    #[error("storing {path} in {store}: {source}")]
    Store {
        /// The object path.
        path: String,
        /// The store (its `Display`, e.g. `LocalFileSystem(file:///data/)`).
        store: String,
        /// The cause.
        source: object_store::Error,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
