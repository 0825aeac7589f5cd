//! The tonghop lake: where data lives, and the Delta tables ingest writes.
//!
//! A lake is a root URL: a local folder (the default `./lake`) or `s3://bucket/prefix` (credentials and
//! endpoint from the standard `AWS_*` environment variables). Under it:
//!
//! ```text
//! tables/data_values/   Delta: every accepted value (long format), partitioned by epoch and period
//! tables/submissions/   Delta: one row per received file (the commit marker of an ingest)
//! tables/rejections/    Delta: one row per refused value, with the reason
//! tables/runs/          Delta: the pipeline run ledger
//! tables/export_log/    Delta: one row per push of an export (DHIS2, portals) and its outcome
//! tables/audit/         Delta: who did what through the service (queries, runs, denials, reloads)
//! models/<name>/        Delta: materialised SQL models (written by the build step)
//! outbox/               exports (CSV, XLSX)
//! leases/<name>.json    who runs a pipeline now (one holder at a time, with an expiry)
//! journal/              submissions the service answered that are not yet in the Delta tables
//! maintenance.json      from when history is kept (written by `tonghop maintain`)
//! received/             the files the service received, as sent
//! ```
//!
//! | module | what it owns |
//! |---|---|
//! | [`location`] | parsing a lake or inbox location into an object store and a URL |
//! | [`tables`] | the schemas of the lake tables |
//! | [`delta`] | opening, creating, appending to and overwriting Delta tables |
//! | [`model_table`] | writing materialised models: streamed, whole or some partitions, in one commit |
//! | [`lease`] | leases taken with a conditional put, so two runs of one pipeline never overlap |
//! | [`journal`] | the service's journal of answered submissions not yet committed to Delta |
//! | [`check`] | the lake's integrity: live files present and whole, committed rows present, what waits |
//! | [`backup`] | copying a whole lake elsewhere and back, consistent while it is written |
//! | [`parquet_scan`] | a snapshot's live files scanned as plain Parquet, for plans shipped to workers |
//! | [`maintain`] | compaction, checkpoints, log clean-up and VACUUM with the lake's retention |
//!
//! **Atomicity.** Delta commits are atomic per table. An ingest appends to `data_values` and
//! `rejections` first and to `submissions` last: a submission is *committed* once its row is in
//! `submissions`. Readers (the engine's `data_values` view) only see rows of committed submissions,
//! and the next ingest deletes rows left behind by a crash between the commits
//! ([`Lake::remove_uncommitted`]).

#![warn(missing_docs)]

pub mod backup;
pub mod check;
pub mod delta;
mod error;
pub mod journal;
pub mod lease;
pub mod location;
pub mod maintain;
pub mod model_table;
pub mod parquet_scan;
pub mod tables;

pub use delta::{array_numbers, array_strings, first_column_strings, scan_provider, Appender, Lake, LatestTable, MAX_LISTED_IDS};
pub use deltalake::DeltaTable;
pub use error::{Error, Result};
pub use lease::{Lease, LeaseInfo};
pub use location::{Location, Move};
pub use model_table::{ModelWriter, Replace};
pub use parquet_scan::SnapshotTable;
pub use tables::TableSpec;

use deltalake::datafusion::{common::ParamValues, scalar::ScalarValue};

/// The values of a query's named parameters: `("pipeline", "nightly")` for `$pipeline` in its text.
/// Values given this way are bound to the query's plan, never pasted into its SQL, so no value can
/// change what the query means (tonghop's own queries over codes, ids and names use them).
pub fn params(params: &[(&str, &str)]) -> ParamValues {
    params.iter().map(|(name, value)| (*name, ScalarValue::from(*value))).collect::<Vec<_>>().into()
}
