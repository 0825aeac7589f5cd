//! The run ledger: the lake table `runs`, one row when a run starts and one when it ends.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use chrono::{DateTime, Utc};
use tonghop_lake::{tables::RUNS, Lake};

use crate::runner::StepReport;

/// One run, as the ledger records it.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// A fresh id per run.
    pub run_id: String,
    /// Pipeline name.
    pub pipeline: String,
    /// What started it: `cli`, `schedule`, `api`.
    pub trigger: String,
    /// Host and process that ran it.
    pub holder: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

impl RunRecord {
    /// Appends the row saying the run started.
    #[tracing::instrument(skip_all, fields(run_id = %self.run_id, pipeline = %self.pipeline))]
    pub async fn started(&self, lake: &Lake) -> tonghop_lake::Result<()> {
        lake.append(&RUNS, vec![self.row("running", None, None, None)?], "run started").await.map(|_| ())
    }

    /// Appends the row saying how the run ended: its steps (name, seconds, summary) and the error.
    #[tracing::instrument(skip_all, fields(run_id = %self.run_id, pipeline = %self.pipeline))]
    pub async fn finished(&self, lake: &Lake, steps: &[StepReport], error: Option<String>) -> tonghop_lake::Result<()> {
        let steps = serde_json::Value::Array(
            steps.iter().map(|s| serde_json::json!({ "step": s.name, "seconds": (s.seconds * 1000.0).round() / 1000.0, "summary": s.summary })).collect(),
        )
        .to_string();
        let status = if error.is_none() { "succeeded" } else { "failed" };
        lake.append(&RUNS, vec![self.row(status, Some(Utc::now()), Some(steps), error)?], "run finished").await.map(|_| ())
    }

    fn row(&self, status: &str, finished_at: Option<DateTime<Utc>>, steps: Option<String>, error: Option<String>) -> tonghop_lake::Result<RecordBatch> {
        let text = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
        let time = |t: Option<DateTime<Utc>>| Arc::new(TimestampMicrosecondArray::from(vec![t.map(|t| t.timestamp_micros())]).with_timezone("UTC")) as ArrayRef;
        Ok(RecordBatch::try_new(
            RUNS.schema.clone(),
            vec![
                text(&self.run_id),
                text(&self.pipeline),
                text(&self.trigger),
                text(&self.holder),
                text(status),
                time(Some(self.started_at)),
                time(finished_at),
                Arc::new(StringArray::from(vec![steps])),
                Arc::new(StringArray::from(vec![error])),
            ],
        )?)
    }
}
