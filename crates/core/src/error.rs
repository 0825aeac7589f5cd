use std::path::PathBuf;

/// Errors of the domain layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A period code that is not one of the supported forms.
    #[error("invalid period code {code:?}: expected YYYYMM, YYYYQn, YYYYSn, YYYYN9 or YYYY")]
    InvalidPeriod {
        /// The code as given.
        code: String,
    },
    /// A period that starts before and ends after the 2025-07-01 reform.
    #[error(
        "period {period} ({start} to {end}) straddles the administrative reform of 2025-07-01; \
         a submission reports months, in the units of their epoch; figures for this period are computed in post-2025 units"
    )]
    StraddlesReform {
        /// The period code.
        period: String,
        /// First day of the period.
        start: chrono::NaiveDate,
        /// Last day of the period.
        end: chrono::NaiveDate,
    },
    /// An epoch name that is not known.
    #[error("{0:?} is not an epoch: expected \"pre2025\" or \"post2025\"")]
    UnknownEpoch(String),
    /// A unit written without its epoch where one is needed.
    #[error("unit {0:?} needs its epoch: write pre2025:{0} or post2025:{0} (codes were reused at the 2025-07-01 reform)")]
    UnitWithoutEpoch(String),
    /// A reference or catalog file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A reference or catalog file could not be parsed.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause, with the line.
        source: csv::Error,
    },
    /// The catalog has problems; all of them are listed, one per line.
    #[error("the catalog: {0}")]
    InvalidCatalog(crate::Problems),
    /// The reference data is inconsistent (e.g. a commune names a province that does not exist).
    #[error("reference data {path}: {message}")]
    InvalidReference {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `reference/admin-units/reform_weights.csv` has problems; all of them are listed, one per line.
    #[error("{path}: {problems}")]
    InvalidReformWeights {
        /// The file.
        path: PathBuf,
        /// Every problem, each naming the old and new commune.
        problems: crate::Problems,
    },
    /// `catalog/plans/` has problems; all of them are listed, one per line.
    #[error("the plans in {path}: {problems}")]
    InvalidPlans {
        /// The folder.
        path: PathBuf,
        /// Every problem, each naming the file and row.
        problems: crate::Problems,
    },
    /// The project folder lacks a part tonghop needs.
    #[error("{path} does not exist: run tonghop from the repository root or point --project (TONGHOP_PROJECT) at it")]
    MissingProjectPart {
        /// The missing path.
        path: PathBuf,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
