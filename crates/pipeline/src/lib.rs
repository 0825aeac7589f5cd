//! Pipelines: the TOML specs under `pipelines/` and the runner that executes their steps.
//!
//! | module | what it owns |
//! |---|---|
//! | [`spec`] | parsing a spec and checking it, reporting every problem at once (file, step, fix); the export steps `export`, `report`, `dhis2` and `portal` are the request types of [`tonghop_export::request`], so they run exactly as `tonghop export …` does |
//! | [`runner`] | running the steps in order: `ingest` → `build` → `export`, with a tracing span per step, under the pipeline's lease (two runs never overlap) |
//! | [`ledger`] | the `runs` table: a row when a run starts and one when it ends; runs left by a dead process marked failed by the next run |
//! | [`schedule`] | cron schedules in a time zone, and the catch-up rule after downtime (the loop that sleeps on them is `tonghop serve`'s) |
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
pub mod ledger;
pub mod runner;
pub mod schedule;
pub mod spec;

pub use error::{Error, Result};
pub use ledger::RunRecord;
pub use runner::{RunReport, Runner, StepReport};
pub use spec::{PipelineSpec, Step, StepKind};
