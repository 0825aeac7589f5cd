//! Ingestion: reading commune submissions in any format, validating every row, committing to the
//! lake, and moving each file to the archive (or to `failed/`).
//!
//! | module | what it owns |
//! |---|---|
//! | [`validate`] | row-level checks against the unit registry and the catalog (and the whole-submission checks: conflicting duplicates, cross-field rules), with stable reason codes and Vietnamese/English messages |
//! | [`submission`] | reading one file with `tonghop-formats` and validating it into Arrow columns |
//! | [`commit`] | Arrow batches and the Delta commits of a group of files, submissions last |
//! | [`options`] | how to ingest, and the inbox configuration of a pipeline step or the command line |
//! | [`progress`] | progress reports on the tasks of the implementation plans (JSON or the XLSX progress form): the one validator, with its own reason codes, and the `task_progress` batch |
//! | [`inbox`] | ingesting every file of a folder or object-store prefix: fetch, parse and commit overlap; files already committed (by content hash) are skipped; committed files are archived |
//!
//! Bad rows never disappear: each becomes a row of `rejections` naming the file, the place (line,
//! cell or JSON path), the field, the value and the reason, while the good rows of the same file
//! are accepted (or, with `strict`, the whole file is refused). A file that cannot be parsed at all
//! is recorded in `submissions` with status `failed` and the parser's reason.

#![warn(missing_docs)]

pub mod commit;
mod error;
pub mod inbox;
pub mod options;
pub mod progress;
pub mod submission;
pub mod validate;

pub use error::{Error, Result};
pub use inbox::{FileReport, IngestSummary, Ingestor};
pub use options::{InboxConfig, IngestOptions};
pub use validate::{Checked, Rejection, REASONS};
