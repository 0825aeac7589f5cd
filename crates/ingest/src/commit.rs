//! Accumulating file outcomes into Arrow batches and committing them to the lake.
//!
//! One [`Batch`] holds several files; [`Batch::commit`] appends `data_values`, then `rejections`,
//! then `submissions` (the commit marker), so each file is either wholly visible or not at all.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use chrono::{DateTime, Utc};
use tonghop_lake::{tables, Lake};

use crate::{Rejection, Result, Value};

/// Everything ingest learnt about one file.
#[derive(Debug)]
pub struct FileOutcome {
    /// Submission id (first 16 hex digits of the content hash).
    pub submission_id: String,
    /// SHA-256 of the bytes, hex.
    pub content_hash: String,
    /// Where the file was read from.
    pub source: String,
    /// `csv`.
    pub format: &'static str,
    /// When the file arrived (the object's last-modified time).
    pub received_at: DateTime<Utc>,
    /// Accepted values.
    pub values: Vec<Value>,
    /// Refused rows.
    pub rejections: Vec<Rejection>,
    /// Why the file could not be read at all.
    pub error: Option<String>,
}

impl FileOutcome {
    /// `accepted`, `partly_accepted`, `rejected` or `failed`.
    pub fn status(&self) -> &'static str {
        match (self.error.is_some(), self.values.is_empty(), self.rejections.is_empty()) {
            (true, _, _) => "failed",
            (false, false, true) => "accepted",
            (false, false, false) => "partly_accepted",
            (false, true, _) => "rejected",
        }
    }
}

/// Files waiting to be committed together.
#[derive(Debug, Default)]
pub struct Batch {
    files: Vec<FileOutcome>,
    rows: usize,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl Batch {
    /// Adds a file.
    pub fn push(&mut self, file: FileOutcome) {
        self.rows += file.values.len() + file.rejections.len();
        self.files.push(file);
    }

    /// Rows (values + rejections) held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Files held.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file is held.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Commits every held file: data values, then rejections, then the submission rows.
    #[tracing::instrument(skip_all, fields(files = self.files.len(), rows = self.rows))]
    pub async fn commit(self, lake: &Lake, ingested_at: DateTime<Utc>) -> Result<()> {
        let ts = || TimestampMicrosecondBuilder::new().with_timezone("UTC");
        let now = micros(ingested_at);

        // data_values
        let n: usize = self.files.iter().map(|f| f.values.len()).sum();
        let (mut epoch, mut period, mut unit, mut element, mut dis) =
            (StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
        let (mut value, mut comment, mut sub, mut row) =
            (Float64Builder::with_capacity(n), StringBuilder::new(), StringBuilder::new(), Int64Builder::with_capacity(n));
        let (mut received, mut ingested) = (ts(), ts());
        for f in &self.files {
            for v in &f.values {
                epoch.append_value(v.epoch.as_str());
                period.append_value(&v.period);
                unit.append_value(&v.org_unit);
                element.append_value(&v.data_element);
                dis.append_value(&v.disaggregation);
                value.append_value(v.value);
                comment.append_option(v.comment.as_deref());
                sub.append_value(&f.submission_id);
                row.append_value(v.row);
                received.append_value(micros(f.received_at));
                ingested.append_value(now);
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(epoch.finish()), Arc::new(period.finish()), Arc::new(unit.finish()), Arc::new(element.finish()),
            Arc::new(dis.finish()), Arc::new(value.finish()), Arc::new(comment.finish()), Arc::new(sub.finish()),
            Arc::new(row.finish()), Arc::new(received.finish()), Arc::new(ingested.finish()),
        ];
        let values = RecordBatch::try_new(tables::DATA_VALUES.schema.clone(), columns)?;

        // rejections
        let (mut sub, mut source, mut row, mut field, mut val, mut reason, mut vi, mut en, mut ingested) = (
            StringBuilder::new(), StringBuilder::new(), Int64Builder::new(), StringBuilder::new(), StringBuilder::new(),
            StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), ts(),
        );
        for f in &self.files {
            for r in &f.rejections {
                sub.append_value(&f.submission_id);
                source.append_value(&f.source);
                row.append_value(r.row);
                field.append_value(&r.field);
                val.append_option(r.value.as_deref());
                reason.append_value(r.reason);
                vi.append_value(&r.message_vi);
                en.append_value(&r.message_en);
                ingested.append_value(now);
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(sub.finish()), Arc::new(source.finish()), Arc::new(row.finish()), Arc::new(field.finish()),
            Arc::new(val.finish()), Arc::new(reason.finish()), Arc::new(vi.finish()), Arc::new(en.finish()),
            Arc::new(ingested.finish()),
        ];
        let rejections = RecordBatch::try_new(tables::REJECTIONS.schema.clone(), columns)?;

        // submissions
        let (mut id, mut hash, mut source, mut format, mut status) =
            (StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
        let (mut received, mut ingested, mut accepted, mut rejected, mut error) =
            (ts(), ts(), Int64Builder::new(), Int64Builder::new(), StringBuilder::new());
        for f in &self.files {
            id.append_value(&f.submission_id);
            hash.append_value(&f.content_hash);
            source.append_value(&f.source);
            format.append_value(f.format);
            status.append_value(f.status());
            received.append_value(micros(f.received_at));
            ingested.append_value(now);
            accepted.append_value(f.values.len() as i64);
            rejected.append_value(f.rejections.len() as i64);
            error.append_option(f.error.as_deref());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(id.finish()), Arc::new(hash.finish()), Arc::new(source.finish()), Arc::new(format.finish()),
            Arc::new(status.finish()), Arc::new(received.finish()), Arc::new(ingested.finish()),
            Arc::new(accepted.finish()), Arc::new(rejected.finish()), Arc::new(error.finish()),
        ];
        let submissions = RecordBatch::try_new(tables::SUBMISSIONS.schema.clone(), columns)?;

        if values.num_rows() > 0 {
            lake.append(&tables::DATA_VALUES, vec![values], "ingest").await?;
        }
        if rejections.num_rows() > 0 {
            lake.append(&tables::REJECTIONS, vec![rejections], "ingest").await?;
        }
        // Last: this commit makes the files above visible.
        lake.append(&tables::SUBMISSIONS, vec![submissions], "ingest").await?;
        Ok(())
    }
}
