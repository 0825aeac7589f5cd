/// Errors of ingestion. Problems with the *content* of a submission are not errors: they are
/// rejections (rows) or failed submissions, recorded in the lake.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing to the lake failed.
    #[error(transparent)]
    Lake(#[from] tonghop_lake::Error),
    /// Listing or reading the inbox failed.
    #[error("inbox {location}: {source}")]
    Inbox {
        /// The inbox or file.
        location: String,
        /// The cause.
        source: object_store::Error,
    },
    /// The inbox configuration is wrong.
    #[error("{0}")]
    Config(String),
    /// A stage of the ingest stopped unexpectedly.
    #[error("ingest stopped: {0}")]
    Internal(String),
    /// Building Arrow batches failed (a bug: the schemas are fixed).
    #[error("building batches: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
