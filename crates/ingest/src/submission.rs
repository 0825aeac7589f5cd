//! Reading and validating one submission (synchronous: it runs on a blocking thread so that parsing
//! one file overlaps with writing the previous ones).

use std::io::BufRead;

use chrono::{DateTime, Utc};
use tonghop_core::{Catalog, UnitRegistry};
use tonghop_formats::{Problem, ReadOptions, Record, Sink};

use crate::commit::{FileOutcome, ValueColumns};
use crate::validate::{Rejection, Validator};

/// How to read and judge submissions.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadSettings<'a> {
    /// Format, encoding and DHIS2 mapping.
    pub read: ReadOptions<'a>,
    /// Refuse a whole file when any of its rows is refused.
    pub strict: bool,
}

/// A file to ingest.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Where it came from (URL), for messages and the `submissions.source` column.
    pub source: String,
    /// File name for format detection.
    pub name: String,
    /// SHA-256, hex.
    pub content_hash: String,
    /// Arrival time.
    pub received_at: DateTime<Utc>,
    /// Who sent it, when known.
    pub submitted_by: Option<String>,
}

impl Incoming {
    /// The submission id: the first 16 hex digits of the content hash.
    pub fn submission_id(&self) -> &str {
        &self.content_hash[..16.min(self.content_hash.len())]
    }
}

/// Refused rows kept, with their reasons, per file: a file of half a million bad rows must not
/// hold (or answer) half a million messages. The rest are counted ([`FileOutcome::rejected`]) and
/// one more row, reason [`MORE_REJECTIONS`], says how many were left out.
pub const MAX_REJECTIONS_KEPT: usize = 10_000;

/// The reason code of the row that counts the rejections left out of a file's list.
pub const MORE_REJECTIONS: &str = "more_rejections";

/// Reads one file into `values` (its accepted values, appended) and returns what else was learnt.
/// When `values` reaches `flush_rows` in the middle of the file, `flush` is called with the
/// columns to append them to the lake (only for line-based formats: other formats are read
/// whole anyway).
#[allow(clippy::too_many_arguments)]
pub fn read_submission(
    incoming: &Incoming,
    source: &mut dyn BufRead,
    registry: &UnitRegistry,
    catalog: &Catalog,
    today: chrono::NaiveDate,
    settings: &ReadSettings<'_>,
    values: &mut ValueColumns,
    flush_rows: usize,
    flush: &mut dyn FnMut(&mut ValueColumns),
) -> FileOutcome {
    let _span = tracing::debug_span!("submission", source = %incoming.source).entered();
    let mut sink = SubmissionSink {
        validator: Validator::new(registry, catalog, today),
        values,
        start: 0,
        flushed: 0,
        seq: 0,
        rejections: Vec::new(),
        omitted: 0,
        submission_id: incoming.submission_id(),
        received_at: incoming.received_at.timestamp_micros(),
        flush_rows,
        flush,
    };
    sink.start = sink.values.len();
    let result = tonghop_formats::read(source, &incoming.name, &settings.read, &mut sink);
    let mut outcome = FileOutcome {
        submission_id: incoming.submission_id().to_string(),
        content_hash: incoming.content_hash.clone(),
        source: incoming.source.clone(),
        format: "unknown".into(),
        received_at: incoming.received_at,
        submitted_by: incoming.submitted_by.clone(),
        accepted: 0,
        rejected: 0,
        rejections: Vec::new(),
        error: None,
        refused: false,
        delete_locations: Vec::new(),
        delete_all: false,
    };
    match result {
        Ok(format) => outcome.format = format.as_str().to_string(),
        Err(e) => {
            tracing::warn!(file = %incoming.source, error = %e, "file cannot be read");
            // Nothing of a failed file is kept.
            sink.values.drop_from(sink.start);
            outcome.error = Some(e.to_string());
            if let Some(f) = settings.read.format {
                outcome.format = f.as_str().to_string();
            }
            outcome.delete_all = sink.flushed > 0;
            return outcome;
        }
    }
    let accepted_total = sink.seq as usize;
    let SubmissionSink { validator, mut rejections, mut omitted, start, flushed, values, .. } = sink;
    let taken_back = validator.finish();
    let mut delete_locations = Vec::new();
    for (seq, rejection) in taken_back.iter() {
        let seq = *seq as usize;
        if seq >= flushed {
            values.drop_row(start + seq - flushed);
        } else {
            // Already appended to the lake: delete it there before the file is committed.
            delete_locations.push(rejection.location.to_string());
        }
    }
    let accepted = accepted_total - taken_back.len();
    for (_, r) in taken_back {
        if rejections.len() < MAX_REJECTIONS_KEPT {
            rejections.push(r);
        } else {
            omitted += 1;
        }
    }
    rejections.sort_by_key(|r| r.location.row());
    outcome.rejected = rejections.len() + omitted;
    if omitted > 0 {
        let last = rejections.last().map(|r| r.location.clone()).unwrap_or(tonghop_formats::Location::Line(0));
        rejections.push(Rejection {
            field: "*".into(),
            value: None,
            reason: MORE_REJECTIONS,
            message_vi: format!("Sau {}: còn {omitted} dòng lỗi khác không được liệt kê (chỉ giữ {MAX_REJECTIONS_KEPT} dòng đầu). Hãy sửa các lỗi trên rồi gửi lại tệp.", last.vi()),
            message_en: format!("after {}: {omitted} more refused rows are not listed (only the first {MAX_REJECTIONS_KEPT} are kept); fix the ones above and send the file again", last.en()),
            location: last,
        });
    }
    outcome.accepted = accepted;
    if settings.strict && !rejections.is_empty() {
        outcome.refused = true;
        outcome.delete_all = flushed > 0;
        values.drop_from(start);
    } else {
        outcome.delete_locations = delete_locations;
    }
    outcome.rejections = rejections;
    outcome
}

struct SubmissionSink<'s, 'v, 'f> {
    validator: Validator<'v>,
    values: &'s mut ValueColumns,
    /// Index in `values` of this file's first row still held.
    start: usize,
    /// Values of this file already flushed (their seqs are `0..flushed`).
    flushed: usize,
    /// Accepted values so far (the next seq).
    seq: u32,
    rejections: Vec<Rejection>,
    /// Rejections past [`MAX_REJECTIONS_KEPT`], counted only.
    omitted: usize,
    submission_id: &'s str,
    received_at: i64,
    flush_rows: usize,
    flush: &'f mut dyn FnMut(&mut ValueColumns),
}

impl SubmissionSink<'_, '_, '_> {
    fn reject(&mut self, rejection: Rejection) {
        if self.rejections.len() < MAX_REJECTIONS_KEPT {
            self.rejections.push(rejection);
        } else {
            self.omitted += 1;
        }
    }
}

impl Sink for SubmissionSink<'_, '_, '_> {
    fn record(&mut self, record: &Record<'_>) {
        match self.validator.check(record, self.seq) {
            Ok(checked) => {
                self.values.push(&checked, self.submission_id, &record.location, self.received_at);
                self.seq += 1;
                if self.values.len() >= self.flush_rows && matches!(record.location, tonghop_formats::Location::Line(_)) {
                    (self.flush)(self.values);
                    self.flushed = self.seq as usize;
                    self.start = 0;
                }
            }
            Err(rejection) => self.reject(rejection),
        }
    }

    fn problem(&mut self, problem: Problem) {
        self.reject(problem);
    }
}
