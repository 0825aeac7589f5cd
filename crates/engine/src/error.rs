/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// DataFusion refused or failed a query; the message is DataFusion's, intact.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow error while building reference tables.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// The cluster's configuration or a worker link failed.
    #[error("cluster: {0}")]
    Cluster(String),
    /// The lake failed.
    #[error(transparent)]
    Lake(#[from] tonghop_lake::Error),
    /// Analyst SQL tried to change something.
    #[error("read-only: {statement} is not allowed; analyst SQL only runs queries (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN). Data changes go through ingest, models through the files in sql/")]
    ReadOnly {
        /// The kind of statement refused.
        statement: String,
    },
    /// Analyst SQL nests expressions deeper than the engine can plan safely.
    #[error("the statement nests expressions more than {limit} levels deep (e.g. a chain of {limit} `+` or `OR`, or nested parentheses); split it, or use IN (…) for long lists")]
    TooDeep {
        /// [`crate::read_only::MAX_EXPRESSION_DEPTH`].
        limit: usize,
    },
    /// Analyst SQL lists more values in one `IN (…)` than the engine can scan safely.
    #[error("an IN (…) list of {items} values is longer than {limit}: put the values in a table, or split the query")]
    TooLongList {
        /// Values listed.
        items: usize,
        /// [`crate::read_only::MAX_IN_LIST`].
        limit: usize,
    },
    /// A model file is wrong: every problem is listed.
    #[error("the sql/ project: {0}")]
    InvalidModels(tonghop_core::Problems),
    /// A catalog settings file (`reporting_deadlines.csv`, `quality_settings.csv`) is wrong: every
    /// problem is listed.
    #[error("the catalog: {0}")]
    InvalidCatalog(tonghop_core::Problems),
    /// The reference data or the plans (`catalog/plans/`) could not be loaded.
    #[error(transparent)]
    Core(#[from] tonghop_core::Error),
    /// A model failed to build.
    #[error("model {model} ({path}): {source}")]
    Model {
        /// Model name.
        model: String,
        /// Its file.
        path: String,
        /// The cause.
        #[source]
        source: Box<Error>,
    },
    /// Model tests failed after a build: each failure is listed.
    #[error("{} model test(s) failed:\n  - {}", .0.len(), .0.join("\n  - "))]
    TestsFailed(Vec<String>),
    /// An `--as-of` older than the history maintenance keeps.
    #[error("--as-of {at}: the lake keeps its history from {kept_since} on (`tonghop maintain` deletes what is older than its retention, {retention_days} days); ask for a later time, or read a backup made before then")]
    HistoryNotKept {
        /// The instant asked for.
        at: chrono::DateTime<chrono::Utc>,
        /// From when history is kept.
        kept_since: chrono::DateTime<chrono::Utc>,
        /// The retention of the maintenance that deleted the rest.
        retention_days: u32,
    },
    /// An as-of session asked for a table version that can no longer be read (its log was cleaned
    /// up, or the version map names a version the table never had).
    #[error("table {table} at version {version} cannot be read (cleaned up, or never written): the data as it stood then is no longer in the lake")]
    VersionGone {
        /// The table (`models.<name>` for a model).
        table: String,
        /// The version asked for.
        version: i64,
    },
    /// Only read sessions can look back in time.
    #[error("an as-of session can only read; builds always start from the latest data")]
    AsOfBuild,
    /// The as-of instant cannot be represented (SQL timestamps span 1677–2262).
    #[error("as-of time {at} is out of range (1677–2262)")]
    AsOfOutOfRange {
        /// The instant asked for.
        at: chrono::DateTime<chrono::Utc>,
    },
    /// A file of the project could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
