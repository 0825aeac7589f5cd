//! The one error type of this crate.

/// Why a whole file (or a mapping or template) could not be handled. Row-level trouble is not an
/// error: it goes to the [`crate::Sink`] as a [`crate::Problem`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be read as the given or detected format.
    #[error("{name}: cannot be read as {format}: {reason}")]
    Unreadable {
        /// File name as given by the caller.
        name: String,
        /// Format tried.
        format: crate::Format,
        /// What the parser said, in English.
        reason: String,
    },
    /// The format could not be recognised from the content or the file name.
    #[error("{name}: unrecognised format ({reason}); name it with --format")]
    UnknownFormat {
        /// File name.
        name: String,
        /// What was seen.
        reason: String,
    },
    /// An id-scheme mapping file is wrong.
    #[error("{path}, line {line}: {message}")]
    Mapping {
        /// Mapping file path.
        path: String,
        /// Line in it.
        line: u64,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Reading the source failed.
    #[error("{name}: {source}")]
    Io {
        /// File name.
        name: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Writing a workbook failed.
    #[error("writing the workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// A template was asked for something the registry or catalog does not know.
    #[error("{0}")]
    Template(String),
    /// A progress report form ([`crate::progress`]) lacks what every such form has: its sheet,
    /// its plan, agency or period, or its code row.
    #[error("{name}: cannot be read as a progress report form: {reason}")]
    ProgressForm {
        /// File name.
        name: String,
        /// What is missing or broken, and how to fix it, in English.
        reason: String,
    },
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
