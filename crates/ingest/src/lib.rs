//! Ingestion: reading commune submissions, validating every row, committing to the lake.
//!
//! | module | what it owns |
//! |---|---|
//! | [`csv_long`] | the canonical long CSV layout `period,org_unit,data_element,value[,disaggregation,comment]` |
//! | [`validate`] | row-level checks against the unit registry and the catalog, with stable reason codes and Vietnamese/English messages |
//! | [`commit`] | turning accepted values, rejections and submission records into Arrow batches and Delta commits |
//! | [`inbox`] | ingesting every file of a folder or object-store prefix, skipping files already committed (by content hash) |
//!
//! Bad rows never disappear: each becomes a row of `rejections` naming the file, the line, the field,
//! the value and the reason, while the good rows of the same file are accepted. A file that cannot be
//! parsed at all is recorded in `submissions` with status `failed` and the parser's reason.

#![warn(missing_docs)]

pub mod commit;
pub mod csv_long;
mod error;
pub mod inbox;
pub mod validate;

pub use error::{Error, Result};
pub use inbox::{IngestSummary, Ingestor};
pub use validate::{Rejection, Value};
