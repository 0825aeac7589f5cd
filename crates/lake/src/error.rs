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
    /// The store applied an append whose answer was lost (its retry found the version taken by
    /// this very commit); nothing was appended twice, and the caller must look at what is
    /// committed before writing again.
    #[error("Delta table {table} ({url}): the object store applied a commit but its answer was lost; it was not repeated (look at what is committed before writing again)")]
    CommitAnswerLost {
        /// Table name.
        table: String,
        /// Table URL.
        url: String,
    },
    /// A Delta table the Parquet scan of distributed execution cannot read correctly.
    #[error("Delta table {table} cannot be read as plain Parquet: {reason} (tonghop writes no such table; read it without [cluster] workers)")]
    UnreadableProtocol {
        /// Table name.
        table: String,
        /// What it uses.
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
        source: Box<deltalake::DeltaTableError>,
    },
    /// A model's columns changed but the build was asked to refresh only some of its periods.
    #[error("model table {table} has columns [{stored}] but the model now gives [{new}]: run a full build (tonghop build --full)")]
    SchemaChanged {
        /// The model.
        table: String,
        /// Columns stored.
        stored: String,
        /// Columns the model gives now.
        new: String,
    },
    /// Someone else holds a lease (a pipeline already running).
    #[error("lease {name} is held by {holder} since {acquired_at} (it expires at {expires_at} unless renewed)")]
    LeaseHeld {
        /// The lease.
        name: String,
        /// Its holder.
        holder: String,
        /// When the holder took it.
        acquired_at: chrono::DateTime<chrono::Utc>,
        /// When it lapses unless renewed.
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// Maintenance cannot run as asked.
    #[error("lake maintenance: {0}")]
    Maintenance(String),
    /// A table's log no longer reaches back to an instant asked for.
    #[error(
        "table {table} keeps no history before {kept_from} (its older commits were cleaned up by `tonghop maintain`): its state at {at} can no longer be read"
    )]
    HistoryGone {
        /// The table.
        table: String,
        /// The instant asked for.
        at: chrono::DateTime<chrono::Utc>,
        /// When its earliest kept commit was written.
        kept_from: chrono::DateTime<chrono::Utc>,
    },
    /// A journal entry cannot be read.
    #[error("journal entry {path} cannot be read: {reason}")]
    Journal {
        /// The entry.
        path: String,
        /// What is wrong.
        reason: String,
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
