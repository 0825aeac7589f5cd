/// Errors of the lake.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A location that is neither a path nor a supported URL.
    #[error("invalid location {location:?}: {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// Why it is refused.
        reason: String,
    },
    /// A Delta Lake operation failed.
    #[error("Delta table {table} ({url}): {source}")]
    Delta {
        /// Table name.
        table: String,
        /// Table URL.
        url: String,
        /// The cause.
        #[source]
        source: deltalake::DeltaTableError,
    },
    /// An object-store operation failed.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// Converting query results failed.
    #[error("reading query results: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A query over a lake table failed.
    #[error("query over the lake failed: {0}")]
    Query(#[from] deltalake::datafusion::error::DataFusionError),
    /// Local file-system error while preparing the lake folder.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
