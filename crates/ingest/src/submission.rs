//! Reading and validating one submission (synchronous: it runs on a blocking thread so that parsing
//! one file overlaps with writing the previous ones).

use std::io::BufRead;

use chrono::{DateTime, Utc};
use tonghop_core::plans::Plans;
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
    // An `.xlsx` file is read whole (as every workbook is); a progress form
    // (`tonghop_formats::progress::is_form`) is judged against the catalog's plans.
    let mut whole = Vec::new();
    let source: &mut dyn BufRead = if incoming.name.to_ascii_lowercase().ends_with(".xlsx") {
        if let Err(e) = source.read_to_end(&mut whole) {
            let mut outcome = empty_outcome(incoming, "xlsx");
            outcome.error = Some(format!("reading {}: {e}", incoming.source));
            return outcome;
        }
        if tonghop_formats::progress::is_form(&whole) {
            let mut outcome = read_progress(incoming, ProgressBody::Form(&whole), &catalog.plans, None, today, chrono::Utc::now()).outcome;
            // `--strict`: a form with a refused report is refused whole, as any file.
            outcome.refused = settings.strict && !outcome.rejections.is_empty();
            return outcome;
        }
        &mut whole.as_slice()
    } else {
        source
    };
    let result = tonghop_formats::read(source, &incoming.name, &settings.read, &mut sink);
    let mut outcome = empty_outcome(incoming, "unknown");
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

/// An outcome with nothing read yet.
fn empty_outcome(incoming: &Incoming, format: &str) -> FileOutcome {
    FileOutcome {
        submission_id: incoming.submission_id().to_string(),
        content_hash: incoming.content_hash.clone(),
        source: incoming.source.clone(),
        format: format.to_string(),
        received_at: incoming.received_at,
        submitted_by: incoming.submitted_by.clone(),
        accepted: 0,
        rejected: 0,
        rejections: Vec::new(),
        error: None,
        refused: false,
        delete_locations: Vec::new(),
        delete_all: false,
        progress: None,
    }
}

/// A progress submission's body: the agency's XLSX form, or JSON (`{"plan", "period", "reports":
/// [{"task", "status", "text", "date", "evidence"}]}`).
#[derive(Debug, Clone, Copy)]
pub enum ProgressBody<'a> {
    /// The XLSX progress form (`tonghop template --plan … --agency …`).
    Form(&'a [u8]),
    /// JSON.
    Json(&'a [u8]),
}

/// A progress submission read and checked.
#[derive(Debug, Clone)]
pub struct ProgressRead {
    /// The outcome, its accepted reports in [`FileOutcome::progress`].
    pub outcome: FileOutcome,
    /// The plan the submission names.
    pub plan: String,
    /// The form's agency, when it is not the agency reporting (the sender may not use it).
    pub other_agency: Option<String>,
    /// Tasks of the plan the agency neither leads nor co-operates on (the sender may not report them).
    pub not_assigned: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonProgress {
    plan: String,
    period: String,
    reports: Vec<JsonReport>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonReport {
    #[serde(deserialize_with = "text_or_number")]
    task: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    evidence: Option<String>,
}

/// A task number written as `"5"` or `5`.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("task must be a number or text, not {other}"))),
    }
}

use serde::Deserialize as _;

/// Reads a progress submission of `agency` (`None`: the agency the form names, for files put in the
/// inbox by the province) and checks each report (see [`crate::progress::check`]); the accepted
/// ones become the outcome's `task_progress` rows.
pub fn read_progress(
    incoming: &Incoming,
    body: ProgressBody<'_>,
    plans: &Plans,
    agency: Option<&str>,
    today: chrono::NaiveDate,
    ingested_at: DateTime<Utc>,
) -> ProgressRead {
    let _span = tracing::debug_span!("progress submission", source = %incoming.source).entered();
    let (format, read) = match body {
        ProgressBody::Form(bytes) => (
            "xlsx-progress",
            tonghop_formats::progress::read_form(bytes, &incoming.name)
                .map(|form| (crate::progress::read_form_inputs(&form), form.problems.clone(), Some(form.agency), form.plan))
                .map_err(|e| e.to_string()),
        ),
        ProgressBody::Json(bytes) => (
            "json-progress",
            serde_json::from_slice::<JsonProgress>(bytes)
                .map(|body| {
                    let inputs = body
                        .reports
                        .into_iter()
                        .enumerate()
                        .map(|(i, r)| crate::progress::ProgressInput {
                            location: tonghop_formats::Location::Path(format!("$.reports[{i}]")),
                            cells: None,
                            plan: body.plan.clone(),
                            task: r.task,
                            period: body.period.clone(),
                            status: r.status,
                            text: r.text,
                            reported_on: r.date.map(tonghop_formats::progress::CellDate::Text),
                            evidence: r.evidence,
                        })
                        .collect();
                    (inputs, Vec::new(), None, body.plan)
                })
                .map_err(|e| format!("the JSON body cannot be read: {e}; send {{\"plan\", \"period\", \"reports\": [{{\"task\", \"status\", \"text\", \"date\", \"evidence\"}}]}}")),
        ),
    };
    let mut outcome = empty_outcome(incoming, format);
    let (inputs, problems, form_agency, plan) = match read {
        Ok(r) => r,
        Err(e) => {
            outcome.error = Some(e);
            return ProgressRead { outcome, plan: String::new(), other_agency: None, not_assigned: Vec::new() };
        }
    };
    let reporting = agency.map(str::to_string).or(form_agency.clone()).unwrap_or_default();
    let other_agency = form_agency.filter(|f| agency.is_some_and(|a| a != f));
    let mut not_assigned: Vec<String> = inputs
        .iter()
        .filter_map(|i| plans.task(i.plan.trim(), i.task.trim()))
        .filter(|t| plans.role_in(&reporting, t).is_none())
        .map(|t| t.number.clone())
        .collect();
    not_assigned.sort();
    not_assigned.dedup();
    let (entries, mut rejections) = crate::progress::check(&inputs, plans, &reporting, today);
    // Refused rows, not rejections: a row with several bad fields has a rejection for each.
    let refused_rows = inputs.len() - entries.len() + problems.iter().map(|p| p.location.row()).collect::<std::collections::HashSet<_>>().len();
    rejections.extend(problems);
    rejections.sort_by_key(|r| r.location.row());
    let mut columns = crate::progress::ProgressColumns::new(ingested_at);
    for e in &entries {
        columns.push(e, incoming.submission_id(), &e.location, incoming.submitted_by.as_deref(), incoming.received_at);
    }
    match columns.finish() {
        Ok(batch) => outcome.progress = Some(batch),
        Err(e) => outcome.error = Some(e.to_string()),
    }
    outcome.accepted = entries.len();
    outcome.rejected = refused_rows;
    outcome.rejections = rejections;
    ProgressRead { outcome, plan, other_agency, not_assigned }
}
