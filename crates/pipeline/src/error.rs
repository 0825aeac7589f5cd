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
    #[error("pipeline specs: {0}")]
    Invalid(tonghop_core::Problems),
    /// Another process runs this pipeline on the same lake now.
    #[error("pipeline {pipeline} is already running on this lake: {source}; not starting a second run")]
    AlreadyRunning {
        /// Pipeline name.
        pipeline: String,
        /// The lease held by the other run.
        source: tonghop_lake::Error,
    },
    /// The lake failed outside a step (taking or giving back the run's lease).
    #[error("pipeline {pipeline}: {source}")]
    Lake {
        /// Pipeline name.
        pipeline: String,
        /// The cause.
        source: tonghop_lake::Error,
    },
    /// A step ran longer than its `timeout_seconds`.
    #[error("pipeline {pipeline}, step {step:?}: timed out after {seconds} s (timeout_seconds)")]
    Timeout {
        /// Pipeline name.
        pipeline: String,
        /// Step name.
        step: String,
        /// The limit.
        seconds: u64,
    },
    /// A step failed on every attempt; the last error.
    #[error("{source} (failed {attempts} attempts)")]
    Attempts {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        source: Box<Error>,
    },
    /// A push step's target did not take the payload (the push is in `export_log`).
    #[error("{line} (export_log export_id {export_id})")]
    PushNotAccepted {
        /// The push's outcome, for people.
        line: String,
        /// Its row in `export_log`.
        export_id: String,
    },
    /// A secret a step needs is not in the environment.
    #[error("{what} is read from the environment variable {variable}, which is not set")]
    MissingSecret {
        /// The variable.
        variable: String,
        /// What it holds.
        what: String,
    },
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
