/// Errors of the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration is wrong: every problem is listed, each naming the setting and the fix.
    #[error("the service configuration: {0}")]
    Config(tonghop_core::Problems),
    /// A listener could not be bound.
    #[error("cannot listen on {address} ({what}): {source}")]
    Bind {
        /// The address.
        address: String,
        /// `http` or `postgres`.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// The project (catalog, reference data) could not be loaded.
    #[error(transparent)]
    Core(#[from] tonghop_core::Error),
    /// The lake failed.
    #[error(transparent)]
    Lake(#[from] tonghop_lake::Error),
    /// Ingest failed.
    #[error(transparent)]
    Ingest(#[from] tonghop_ingest::Error),
    /// The SQL engine failed.
    #[error(transparent)]
    Engine(#[from] tonghop_engine::Error),
    /// A pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] tonghop_pipeline::Error),
    /// An analyst query was stopped or refused by a limit of `[queries]` (or `http.max_sql_rows`).
    #[error("{message}")]
    Limit {
        /// Which limit.
        limit: crate::limits::Limit,
        /// What happened and what to do, for the analyst.
        message: String,
    },
    /// The caller may not read what the query reads (`lake.audit` is for admins).
    #[error("{0}")]
    Forbidden(String),
    /// Arrow failed (encoding results).
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
