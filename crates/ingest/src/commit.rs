//! Turning what ingest learnt into Arrow batches and Delta commits.
//!
//! Accepted values go into [`ValueColumns`] as they are read (no per-row structs, so ten million
//! rows stream through). A group of finished files is committed by [`SubmissionWriter::commit`]: `data_values`
//! first (possibly already in several appends for a huge file), then `rejections`, then
//! `submissions`, the commit marker that makes each file's rows visible. A crash before the marker
//! leaves rows no view shows, removed by the next ingest ([`tonghop_lake::Lake::remove_uncommitted`]).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBufferBuilder, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use chrono::{DateTime, Utc};
use tonghop_core::sql::{literal, literal_list};
use tonghop_lake::{journal::Entry, tables, Appender, Lake};

use tonghop_formats::Location;

use crate::validate::{Checked, Rejection};
use crate::Result;

/// Accepted values of one or more files, in `data_values` column order, with a keep mask so that
/// values refused after the fact (conflicting duplicates, broken rules, `--strict`) drop out.
pub struct ValueColumns {
    epoch: StringBuilder,
    period: StringBuilder,
    org_unit: StringBuilder,
    data_element: StringBuilder,
    disaggregation: StringBuilder,
    value: Float64Builder,
    deleted: BooleanBuilder,
    comment: StringBuilder,
    stored_by: StringBuilder,
    submission_id: StringBuilder,
    source_location: StringBuilder,
    received_at: TimestampMicrosecondBuilder,
    ingested_at: TimestampMicrosecondBuilder,
    keep: BooleanBufferBuilder,
    dropped: usize,
    ingested: i64,
    /// Rows the buffers are sized for.
    capacity: usize,
}

/// Bytes per row reserved for a code column.
const CODE_BYTES: usize = 8;

fn timestamps(capacity: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC")
}

impl ValueColumns {
    /// Empty columns; every row gets `ingested_at`.
    pub fn new(ingested_at: DateTime<Utc>) -> Self {
        Self::with_capacity(ingested_at, 1024)
    }

    /// Empty columns with room for `rows` rows, and after each [`Self::finish`] for as many as the
    /// largest batch so far, so that the parts of a large file are filled without growing their
    /// buffers: growing copies them and touches new pages, which cost the parsing thread of a
    /// 10-million-row file about a sixth of its time.
    pub fn with_capacity(ingested_at: DateTime<Utc>, rows: usize) -> Self {
        Self::empty(ingested_at.timestamp_micros(), rows)
    }

    fn empty(ingested: i64, rows: usize) -> Self {
        // Codes are short (`202603`, `00004`, `DS_TONG`); comments and senders are mostly absent.
        let codes = || StringBuilder::with_capacity(rows, rows * CODE_BYTES);
        ValueColumns {
            epoch: codes(),
            period: codes(),
            org_unit: codes(),
            data_element: codes(),
            disaggregation: codes(),
            value: Float64Builder::with_capacity(rows),
            deleted: BooleanBuilder::with_capacity(rows),
            comment: StringBuilder::with_capacity(rows, 0),
            stored_by: StringBuilder::with_capacity(rows, 0),
            submission_id: StringBuilder::with_capacity(rows, rows * 16),
            source_location: codes(),
            received_at: timestamps(rows),
            ingested_at: timestamps(rows),
            keep: BooleanBufferBuilder::new(rows),
            dropped: 0,
            ingested,
            capacity: rows,
        }
    }

    /// Rows held (dropped ones included).
    pub fn len(&self) -> usize {
        self.keep.len()
    }

    /// True when no row is held.
    pub fn is_empty(&self) -> bool {
        self.keep.is_empty()
    }

    /// Appends one value.
    pub fn push(&mut self, v: &Checked<'_>, submission_id: &str, location: &Location, received_at: i64) {
        self.epoch.append_value(v.epoch.as_str());
        self.period.append_value(v.period);
        self.org_unit.append_value(v.org_unit);
        self.data_element.append_value(v.data_element);
        self.disaggregation.append_value(&v.disaggregation);
        self.value.append_option(v.value);
        self.deleted.append_value(v.deleted);
        self.comment.append_option(v.comment.as_deref());
        self.stored_by.append_option(v.stored_by);
        self.submission_id.append_value(submission_id);
        match location {
            // A line number for every row of a CSV file: no formatting machinery.
            Location::Line(n) => self.source_location.append_value(itoa::Buffer::new().format(*n)),
            other => {
                use std::fmt::Write;
                let _ = write!(self.source_location, "{other}");
                self.source_location.append_value("");
            }
        }
        self.received_at.append_value(received_at);
        self.ingested_at.append_value(self.ingested);
        self.keep.append(true);
    }

    /// Drops the row at `index` (it stays out of the batch).
    pub fn drop_row(&mut self, index: usize) {
        if self.keep.get_bit(index) {
            self.keep.set_bit(index, false);
            self.dropped += 1;
        }
    }

    /// Drops every row from `index` on (a file taken back as a whole).
    pub fn drop_from(&mut self, index: usize) {
        for i in index..self.len() {
            self.drop_row(i);
        }
    }

    /// The kept rows as a `data_values` batch; the columns are left empty.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        // The next batch is sized like the largest so far (a large file's parts are all alike).
        let capacity = self.capacity.max(self.len());
        let mut full = std::mem::replace(self, Self::empty(self.ingested, capacity));
        full.finish_in_place()
    }

    fn finish_in_place(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.epoch.finish()),
            Arc::new(self.period.finish()),
            Arc::new(self.org_unit.finish()),
            Arc::new(self.data_element.finish()),
            Arc::new(self.disaggregation.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.deleted.finish()),
            Arc::new(self.comment.finish()),
            Arc::new(self.stored_by.finish()),
            Arc::new(self.submission_id.finish()),
            Arc::new(self.source_location.finish()),
            Arc::new(self.received_at.finish()),
            Arc::new(self.ingested_at.finish()),
        ];
        let batch = RecordBatch::try_new(tables::DATA_VALUES.schema.clone(), columns)?;
        let keep = arrow::array::BooleanArray::new(self.keep.finish(), None);
        let dropped = std::mem::take(&mut self.dropped);
        Ok(if dropped == 0 { batch } else { arrow::compute::filter_record_batch(&batch, &keep)? })
    }
}

/// Everything ingest learnt about one file, but its accepted values (those are in [`ValueColumns`]).
#[derive(Debug, Clone)]
pub struct FileOutcome {
    /// Submission id (first 16 hex digits of the content hash).
    pub submission_id: String,
    /// SHA-256 of the bytes, hex.
    pub content_hash: String,
    /// Where the file was read from.
    pub source: String,
    /// The format read (`csv`, `xlsx-form`, `dhis2-json`, ...), or `unknown`.
    pub format: String,
    /// When the file arrived.
    pub received_at: DateTime<Utc>,
    /// Who sent it, when known (an API token's unit).
    pub submitted_by: Option<String>,
    /// Values accepted.
    pub accepted: usize,
    /// Rows refused, all counted.
    pub rejected: usize,
    /// Refused rows with their reasons: the first [`crate::submission::MAX_REJECTIONS_KEPT`], then
    /// one row counting the rest when there were more.
    pub rejections: Vec<Rejection>,
    /// Why the file could not be read at all.
    pub error: Option<String>,
    /// Refused as a whole (`--strict` and at least one rejection).
    pub refused: bool,
    /// Source locations of values already appended to `data_values` (a huge file is appended in
    /// parts) that must be deleted before the file is committed.
    pub delete_locations: Vec<String>,
    /// Delete every value already appended for this submission (a huge file refused by `--strict`).
    pub delete_all: bool,
    /// The accepted reports of a progress submission (`task_progress` rows), committed with it.
    pub progress: Option<RecordBatch>,
}

impl FileOutcome {
    /// `accepted`, `partly_accepted`, `rejected` (no value accepted), `empty` (nothing in it, e.g. a
    /// blank form), `refused` (`--strict`) or `failed`.
    pub fn status(&self) -> &'static str {
        match (self.error.is_some(), self.refused, self.accepted == 0, self.rejections.is_empty()) {
            (true, ..) => "failed",
            (false, true, ..) => "refused",
            (false, false, false, true) => "accepted",
            (false, false, false, false) => "partly_accepted",
            (false, false, true, true) => "empty",
            (false, false, true, false) => "rejected",
        }
    }
}

/// Writes ingested files to the lake, keeping its three tables open between commits (see
/// [`Appender`]): one per ingest run or, in the service, one for the life of the process.
#[derive(Debug)]
pub struct SubmissionWriter {
    lake: Lake,
    data_values: Appender,
    rejections: Appender,
    task_progress: Appender,
    submissions: Appender,
}

impl SubmissionWriter {
    /// A writer on `lake` (tables are opened, or created, at the first commit).
    pub fn new(lake: &Lake) -> SubmissionWriter {
        SubmissionWriter {
            lake: lake.clone(),
            data_values: Appender::new(lake, &tables::DATA_VALUES),
            rejections: Appender::new(lake, &tables::REJECTIONS),
            task_progress: Appender::new(lake, &tables::TASK_PROGRESS),
            submissions: Appender::new(lake, &tables::SUBMISSIONS),
        }
    }

    /// Appends values of a file still being read (a huge file is appended in parts, committed
    /// later by [`SubmissionWriter::commit`]).
    pub async fn append_values(&mut self, values: RecordBatch) -> Result<()> {
        self.data_values.append(vec![values], "ingest").await?;
        Ok(())
    }

    /// Commits a group of finished files whose values are in `values` (kept rows) or were appended
    /// before: data values and rejections (two commits made concurrently), deletions of values
    /// taken back, then the submissions marker.
    #[tracing::instrument(skip_all, fields(files = files.len(), values = values.as_ref().map_or(0, |v| v.num_rows())))]
    pub async fn commit(&mut self, values: Option<RecordBatch>, files: &[FileOutcome], ingested_at: DateTime<Utc>) -> Result<()> {
        let entry = journal_entry(values, files, ingested_at)?;
        self.append_values_and_rejections(&entry).await?;
        self.append_progress(files).await?;
        for f in files.iter().filter(|f| f.delete_all || !f.delete_locations.is_empty()) {
            let id = literal(&f.submission_id);
            if f.delete_all {
                self.lake.delete(&tables::DATA_VALUES, &format!("submission_id = {id}")).await?;
            } else {
                for chunk in f.delete_locations.chunks(1000) {
                    let list = literal_list(chunk);
                    self.lake.delete(&tables::DATA_VALUES, &format!("submission_id = {id} AND source_location IN ({list})")).await?;
                }
            }
        }
        // Last: this commit makes the files above visible.
        self.submissions.append(vec![entry.submissions], "ingest").await?;
        Ok(())
    }

    /// Commits what a journal entry holds (see [`tonghop_lake::journal`]).
    #[tracing::instrument(skip_all, fields(submissions = entry.submissions.num_rows(), values = entry.values.num_rows()))]
    pub async fn commit_entry(&mut self, entry: Entry) -> Result<()> {
        self.append_values_and_rejections(&entry).await?;
        self.submissions.append(vec![entry.submissions], "ingest").await?;
        Ok(())
    }

    /// Appends the progress reports of the files (task_progress), before their submissions rows.
    async fn append_progress(&mut self, files: &[FileOutcome]) -> Result<()> {
        let batches: Vec<RecordBatch> = files.iter().filter(|f| !f.refused).filter_map(|f| f.progress.clone()).filter(|b| b.num_rows() > 0).collect();
        if !batches.is_empty() {
            self.task_progress.append(batches, "ingest").await?;
        }
        Ok(())
    }

    async fn append_values_and_rejections(&mut self, entry: &Entry) -> Result<()> {
        let (values, rejections) = (entry.values.clone(), entry.rejections.clone());
        let append_values = async {
            match values.num_rows() {
                0 => Ok(()),
                _ => self.data_values.append(vec![values], "ingest").await.map(|_| ()),
            }
        };
        let append_rejections = async {
            match rejections.num_rows() {
                0 => Ok(()),
                _ => self.rejections.append(vec![rejections], "ingest").await.map(|_| ()),
            }
        };
        tokio::try_join!(append_values, append_rejections)?;
        Ok(())
    }
}

/// The rows a group of finished files adds to the lake: `values` (their kept values, if not
/// appended before), their rejections, and their `submissions` rows.
pub fn journal_entry(values: Option<RecordBatch>, files: &[FileOutcome], ingested_at: DateTime<Utc>) -> Result<Entry> {
    let now = ingested_at.timestamp_micros();
    Ok(Entry {
        values: values.unwrap_or_else(|| RecordBatch::new_empty(tables::DATA_VALUES.schema.clone())),
        rejections: rejections_batch(files, now)?,
        submissions: submissions_batch(files, now)?,
    })
}

fn rejections_batch(files: &[FileOutcome], now: i64) -> Result<RecordBatch> {
    let (mut sub, mut source, mut row, mut location, mut field, mut val, mut reason, mut vi, mut en, mut ingested) = (
        StringBuilder::new(),
        StringBuilder::new(),
        Int64Builder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        timestamps(0),
    );
    for f in files {
        for r in &f.rejections {
            sub.append_value(&f.submission_id);
            source.append_value(&f.source);
            row.append_value(r.location.row());
            location.append_value(r.location.to_string());
            field.append_value(&r.field);
            val.append_option(r.value.as_deref());
            reason.append_value(r.reason);
            vi.append_value(&r.message_vi);
            en.append_value(&r.message_en);
            ingested.append_value(now);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(sub.finish()),
        Arc::new(source.finish()),
        Arc::new(row.finish()),
        Arc::new(location.finish()),
        Arc::new(field.finish()),
        Arc::new(val.finish()),
        Arc::new(reason.finish()),
        Arc::new(vi.finish()),
        Arc::new(en.finish()),
        Arc::new(ingested.finish()),
    ];
    Ok(RecordBatch::try_new(tables::REJECTIONS.schema.clone(), columns)?)
}

fn submissions_batch(files: &[FileOutcome], now: i64) -> Result<RecordBatch> {
    let (mut id, mut hash, mut source, mut format, mut status) =
        (StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let (mut received, mut ingested, mut accepted, mut rejected, mut error, mut by) =
        (timestamps(0), timestamps(0), Int64Builder::new(), Int64Builder::new(), StringBuilder::new(), StringBuilder::new());
    for f in files {
        id.append_value(&f.submission_id);
        hash.append_value(&f.content_hash);
        source.append_value(&f.source);
        format.append_value(&f.format);
        status.append_value(f.status());
        received.append_value(f.received_at.timestamp_micros());
        ingested.append_value(now);
        accepted.append_value(if f.refused { 0 } else { f.accepted as i64 });
        rejected.append_value(f.rejected as i64);
        error.append_option(f.error.as_deref());
        by.append_option(f.submitted_by.as_deref());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(hash.finish()),
        Arc::new(source.finish()),
        Arc::new(format.finish()),
        Arc::new(status.finish()),
        Arc::new(received.finish()),
        Arc::new(ingested.finish()),
        Arc::new(accepted.finish()),
        Arc::new(rejected.finish()),
        Arc::new(error.finish()),
        Arc::new(by.finish()),
    ];
    Ok(RecordBatch::try_new(tables::SUBMISSIONS.schema.clone(), columns)?)
}
