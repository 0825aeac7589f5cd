//! Pipelines: the TOML specs under `pipelines/` and the runner that executes their steps.
//!
//! | module | what it owns |
//! |---|---|
//! | [`spec`] | parsing a spec and checking it, reporting every problem at once (file, step, fix) |
//! | [`runner`] | running the steps in order: `ingest` → `build` → `export`, with a tracing span per step, under the pipeline's lease (two runs never overlap) |
//! | [`ledger`] | the `runs` table: a row when a run starts and one when it ends; runs left by a dead process marked failed by the next run |
//! | [`schedule`] | cron schedules in a time zone, and the catch-up rule after downtime (the loop that sleeps on them is `tonghop serve`'s) |
//! | `exports` | the steps `report` (the Excel report), `dhis2` (a DHIS2 data value set written and/or pushed) and `portal` (JSON pushed to a portal), each push recorded in `export_log` |
//!
//! ```toml
//! name = "nightly"
//! schedule = "0 2 * * *"          # read by `tonghop serve`; 6 fields for seconds
//! timezone = "Asia/Ho_Chi_Minh"
//!
//! [[steps]]
//! name = "ingest_inbox"
//! kind = "ingest"
//! source = "inbox"                 # a path, file:// or s3:// URL
//!
//! [[steps]]
//! name = "build_models"
//! kind = "build"
//!
//! [[steps]]
//! name = "export_province_indicators"
//! kind = "export"
//! model = "province_indicators"
//! formats = ["csv", "xlsx"]
//! to = "outbox/province_indicators"   # below the lake root; the extension is added
//! ```

#![warn(missing_docs)]

mod error;
mod exports;
pub mod ledger;
pub mod runner;
pub mod schedule;
pub mod spec;

pub use error::{Error, Result};
pub use ledger::RunRecord;
pub use runner::{RunReport, Runner, StepReport};
pub use spec::{PipelineSpec, PushRetry, Step, StepKind};
