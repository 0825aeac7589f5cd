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

/// Ends the runs of `pipeline` that were started and never ended, because the process running
/// them died (killed, out of memory, a file that crashed a reader): appends a `failed` row for
/// each, naming the process and the run that found it. Call it while holding the pipeline's
/// lease: no run of the pipeline can then still be going. Returns the run ids it ended.
#[tracing::instrument(skip(lake))]
pub async fn close_abandoned(lake: &Lake, pipeline: &str, found_by: &str) -> tonghop_lake::Result<Vec<String>> {
    let sql = "SELECT run_id, max(trigger), max(holder), CAST(min(started_at) AS BIGINT) FROM runs WHERE pipeline = $pipeline \
               GROUP BY run_id HAVING bool_and(status = 'running') ORDER BY run_id";
    let batches = lake.query_table(&RUNS, sql, &[("pipeline", pipeline)]).await?;
    let mut ended = Vec::new();
    for batch in &batches {
        let text = |i: usize| arrow::compute::cast(batch.column(i), &arrow::datatypes::DataType::Utf8);
        let (ids, triggers, holders) = (text(0)?, text(1)?, text(2)?);
        let started = arrow::compute::cast(batch.column(3), &arrow::datatypes::DataType::Int64)?;
        let started = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(&started);
        for row in 0..batch.num_rows() {
            let get = |a: &ArrayRef| arrow::array::AsArray::as_string::<i32>(a).value(row).to_string();
            let record = RunRecord {
                run_id: get(&ids),
                pipeline: pipeline.to_string(),
                trigger: get(&triggers),
                holder: get(&holders),
                started_at: DateTime::from_timestamp_micros(started.value(row)).unwrap_or_default(),
            };
            let error = format!("the process running it ({}) stopped before the run ended; found when run {found_by} started", record.holder);
            tracing::warn!(run_id = %record.run_id, holder = %record.holder, "a run left unfinished by a process that died is marked failed");
            record.finished(lake, &[], Some(error)).await?;
            ended.push(record.run_id);
        }
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(run_id: &str, pipeline: &str) -> RunRecord {
        RunRecord { run_id: run_id.into(), pipeline: pipeline.into(), trigger: "schedule".into(), holder: "host pid 7".into(), started_at: Utc::now() }
    }

    #[tokio::test]
    async fn a_run_whose_process_died_is_marked_failed_once_and_finished_runs_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        record("dead", "nightly").started(&lake).await.unwrap();
        let done = record("done", "nightly");
        done.started(&lake).await.unwrap();
        done.finished(&lake, &[], None).await.unwrap();
        record("other", "weekly").started(&lake).await.unwrap();

        assert_eq!(close_abandoned(&lake, "nightly", "next").await.unwrap(), vec!["dead".to_string()]);
        assert!(close_abandoned(&lake, "nightly", "again").await.unwrap().is_empty(), "ended once");
        let rows = lake
            .query_table(&RUNS, "SELECT concat_ws(' | ', run_id, status, error) FROM runs WHERE finished_at IS NOT NULL ORDER BY run_id", &[])
            .await
            .unwrap();
        let rows = tonghop_lake::first_column_strings(&rows).unwrap().join("\n");
        assert!(rows.contains("dead") && rows.contains("failed") && rows.contains("host pid 7") && rows.contains("found when run next started"), "{rows}");
        assert!(!rows.contains("other"), "another pipeline's run is not touched: {rows}");
    }
}
