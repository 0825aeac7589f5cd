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
    /// A table built in memory for a sheet was malformed (a bug).
    #[error("building a table for a sheet: {0}")]
    Table(#[from] arrow::error::ArrowError),
    /// The DOCX writer could not assemble the document.
    #[error("writing DOCX: {0}")]
    Docx(String),
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
    /// A period code that is malformed.
    #[error("--period {period}: {source}")]
    Period {
        /// The period as given.
        period: String,
        /// Why it is refused.
        source: tonghop_core::Error,
    },
    /// A reporting unit that does not exist in the period's epoch.
    #[error("unknown unit {unit:?}: {reason}")]
    UnknownUnit {
        /// The unit as given.
        unit: String,
        /// What is wrong, and what would be right.
        reason: String,
    },
    /// `epoch:code` names an epoch the period does not belong to.
    #[error("unit {unit:?} is of another epoch than period {period}, which belongs to the {epoch} epoch (periods belong to one epoch; codes were reused at the 2025-07-01 reform)")]
    EpochMismatch {
        /// The unit as given.
        unit: String,
        /// The period.
        period: String,
        /// The period's epoch.
        epoch: String,
    },
    /// A report for a unit without units under it (a commune).
    #[error("{unit} is a commune: a report breaks a unit down into the units one level below; choose its province (or district before the reform) or VN")]
    NoSubunits {
        /// The unit.
        unit: String,
    },
    /// The models hold nothing for the unit and period.
    #[error("no indicator values for {unit} in period {period}: is the period within the data received, and has `tonghop build` run since?")]
    NoData {
        /// The unit.
        unit: String,
        /// The period.
        period: String,
    },
    /// `export table` names neither a model nor a table.
    #[error("unknown table {table:?}{hint}: `tonghop models` lists the models; lake tables are data_values, submissions, rejections")]
    UnknownTable {
        /// The name given.
        table: String,
        /// ` (did you mean …?)` or empty.
        hint: String,
    },
    /// A query of an export failed (DataFusion's message intact).
    #[error("{what}: {source}")]
    Query {
        /// Which export or view.
        what: String,
        /// The cause.
        source: Box<tonghop_engine::Error>,
    },
    /// A query result lacks a column the layout needs (a changed view in sql/reports/).
    #[error("column {column:?} is missing from a report query: check the views in sql/reports/")]
    MissingColumn {
        /// The column.
        column: String,
    },
    /// The JSON writer failed.
    #[error("writing JSON: {0}")]
    Json(#[source] arrow::error::ArrowError),
    /// The Parquet writer failed.
    #[error("writing Parquet: {0}")]
    Parquet(String),
    /// A versions sidecar could not be read.
    #[error("{path}: not a tonghop versions record: {reason}")]
    Record {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A period DHIS2 has no period type for.
    #[error("period {period} has no DHIS2 period type: DHIS2 takes months (202603), quarters (2026Q1), six-months (2026S1) and years (2026)")]
    Dhis2Period {
        /// The period.
        period: String,
    },
    /// What a DHIS2 export was asked for does not fit together (no period, periods of two epochs,
    /// an unknown level).
    #[error("{0}")]
    Dhis2Scope(String),
    /// Units or data elements of the export have no DHIS2 id in the mapping.
    #[error("{values} value(s) cannot be sent: {mapping} has no DHIS2 id for {}; add lines such as `org_unit,<DHIS2 id>,<code>` or `data_element,<DHIS2 id>,<code>` to it, or leave these values out with --skip-unmapped (skip_unmapped = true in a pipeline step)", unmapped_list(units, elements))]
    Unmapped {
        /// The mapping file.
        mapping: String,
        /// Units without an id, as `level code`.
        units: Vec<String>,
        /// Data elements without an id.
        elements: Vec<String>,
        /// Values concerned.
        values: usize,
    },
    /// The id-scheme mapping file is wrong (every mistake listed).
    #[error(transparent)]
    Mapping(#[from] tonghop_formats::Error),
    /// Writing DHIS2 CSV failed.
    #[error("writing DHIS2 CSV: {0}")]
    Dhis2Csv(String),
    /// A push target that is not an http(s) URL.
    #[error("push target {url:?}: {reason}")]
    PushTarget {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be set up.
    #[error("HTTP client: {0}")]
    Http(String),
    /// Reading or writing a lake table (`export_log`) failed.
    #[error("{what}: {source}")]
    Lake {
        /// What was being done.
        what: String,
        /// The cause.
        source: Box<tonghop_lake::Error>,
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
    /// An export request has problems: every one is listed, each saying what to change.
    #[error("{what}: {problems}")]
    Invalid {
        /// The export (`the report`, `the export of province_indicators`, …).
        what: String,
        /// The problems.
        problems: tonghop_core::Problems,
    },
    /// A secret an export needs is not in the environment; nothing was sent.
    #[error("{what} is read from the environment variable {variable}, which is not set")]
    MissingSecret {
        /// The variable.
        variable: String,
        /// What it holds.
        what: String,
    },
    /// The target of a push did not take the payload (the push is in `export_log`).
    #[error("{line} (export_log export_id {export_id})")]
    PushNotAccepted {
        /// The push's outcome, for people.
        line: String,
        /// Its row in `export_log`.
        export_id: String,
    },
}

/// `units 01, 04 and data elements DS_TONG`, at most 20 of each named.
fn unmapped_list(units: &[String], elements: &[String]) -> String {
    let part = |what: &str, items: &[String]| {
        if items.is_empty() {
            return None;
        }
        let mut text = format!("{what} {}", items.iter().take(20).cloned().collect::<Vec<_>>().join(", "));
        if items.len() > 20 {
            text.push_str(&format!(" and {} more", items.len() - 20));
        }
        Some(text)
    };
    [part("units", units), part("data elements", elements)].into_iter().flatten().collect::<Vec<_>>().join(" and ")
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
