//! The scheduler: one tokio task per scheduled pipeline, sleeping until the next slot of its cron
//! expression (in its time zone, by default Asia/Ho_Chi_Minh). After downtime, a missed slot runs
//! once at start-up, however many slots were missed. Runs of one pipeline never overlap: this
//! process runs one at a time, and the run's lease on the lake keeps other processes out.

use std::sync::Arc;

use arrow::array::Array;
use chrono::{DateTime, Utc};
use tonghop_pipeline::schedule::{Next, Schedule};

use crate::service::Service;

/// Starts one task per pipeline with a schedule; they stop when the service shuts down.
pub fn start(service: Arc<Service>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for name in service.pipeline_names() {
        let (_, spec) = &service.pipelines[&name];
        let Some(expression) = spec.schedule.clone() else { continue };
        match Schedule::parse(&expression, &spec.timezone) {
            Ok(schedule) => {
                tracing::info!(pipeline = %name, schedule = %expression, timezone = %spec.timezone, "scheduled");
                tasks.push(tokio::spawn(run(service.clone(), name, schedule)));
            }
            Err(e) => tracing::error!(pipeline = %name, error = %e, "not scheduled"),
        }
    }
    tasks
}

async fn last_scheduled_run(service: &Service, pipeline: &str) -> Option<DateTime<Utc>> {
    let sql = "SELECT CAST(max(started_at) AS BIGINT) FROM runs WHERE pipeline = $pipeline AND trigger = 'schedule'";
    let batches = service.query(sql, &[("pipeline", pipeline)]).await.map_err(|e| tracing::warn!(error = %e, "cannot read the runs table")).ok()?;
    let column = batches.first()?.column(0).as_any().downcast_ref::<arrow::array::Int64Array>()?.clone();
    if column.is_empty() || column.is_null(0) {
        return None;
    }
    // Timestamps are stored in microseconds.
    DateTime::from_timestamp_micros(column.value(0))
}

async fn run(service: Arc<Service>, name: String, schedule: Schedule) {
    let mut last = last_scheduled_run(&service, &name).await;
    loop {
        let now = Utc::now();
        match schedule.decide(last, now) {
            None => {
                tracing::warn!(pipeline = %name, "the schedule has no next slot; scheduler stops for this pipeline");
                return;
            }
            Some(Next::CatchUp) => {
                tracing::info!(pipeline = %name, last_run = ?last, "a scheduled slot was missed while the service was down: running once now")
            }
            Some(Next::At(at)) => {
                let wait = (at - now).to_std().unwrap_or_default();
                tokio::select! {
                    _ = service.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
        if service.shutdown.is_cancelled() {
            return;
        }
        last = Some(Utc::now());
        if !service.spawn_run(&name, "schedule") {
            tracing::warn!(pipeline = %name, "the previous run is still going: this slot is skipped");
        }
    }
}
