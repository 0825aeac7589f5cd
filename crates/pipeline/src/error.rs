/// Errors of pipelines.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The spec file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The spec is wrong: every problem is listed, each naming the file, the step and the fix.
    #[error("{} problem(s) in pipeline specs:\n  - {}", .0.len(), .0.join("\n  - "))]
    Invalid(Vec<String>),
    /// A step failed.
    #[error("pipeline {pipeline}, step {step:?}: {source}")]
    Step {
        /// Pipeline name.
        pipeline: String,
        /// Step name.
        step: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
