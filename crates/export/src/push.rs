//! Pushing an export to another system over HTTP(S), and the `export_log` row each push leaves.
//!
//! Two kinds of target:
//!
//! | kind | request | success |
//! |---|---|---|
//! | [`PushKind::Dhis2`] | `POST {base}/api/dataValueSets`, a DHIS2 JSON data value set, basic auth or `Authorization: ApiToken …` | the [`ImportSummary`] DHIS2 answers (2.36+ wraps it in `{"httpStatus", "status", "response": {…}}` and answers `409 Conflict` when there are conflicts; older versions return it at the top level with `200`) |
//! | [`PushKind::Portal`] | `POST {url}`, any JSON, optionally `Authorization: Bearer …` | any `2xx` |
//!
//! Every request carries an `Idempotency-Key` derived from the payload alone
//! ([`idempotency_key`]): the same on every retry and every re-run, so a portal that honours it
//! applies a payload once. Connection errors, timeouts, `429` and `5xx` are retried with exponential
//! backoff ([`RetryPolicy`]); any other answer is final.
//!
//! Before sending, [`push`] looks in `export_log` for an earlier push of the same payload (same
//! SHA-256) to the same target that was accepted. If there is one, nothing is sent and the row says
//! `repeat` with `repeat_of` = that push (DHIS2 would upsert the same values anyway); `force` sends
//! again. Every push, repeat or not, appends one row to `export_log` (see
//! [`tonghop_lake::tables::EXPORT_LOG`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tonghop_lake::tables::EXPORT_LOG;
use tonghop_lake::Lake;

use crate::{Error, Result};

/// Where a push goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushKind {
    /// A DHIS2 instance: the payload is a data value set, the answer an import summary.
    Dhis2,
    /// A reporting portal taking JSON.
    Portal,
}

impl PushKind {
    /// `dhis2` or `portal`, as in `export_log.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::Dhis2 => "dhis2",
            PushKind::Portal => "portal",
        }
    }
}

/// How a push authenticates.
#[derive(Clone, Default)]
pub enum Auth {
    /// No `Authorization` header.
    #[default]
    None,
    /// HTTP basic authentication.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// A DHIS2 personal access token: `Authorization: ApiToken <token>`.
    ApiToken(String),
    /// A bearer token: `Authorization: Bearer <token>`.
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        match self {
            Auth::None => write!(f, "None"),
            Auth::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
            Auth::ApiToken(_) => write!(f, "ApiToken(***)"),
            Auth::Bearer(_) => write!(f, "Bearer(***)"),
        }
    }
}

pub use tonghop_core::retry::RetryPolicy;

/// One push to make.
#[derive(Debug, Clone)]
pub struct Push {
    /// DHIS2 or portal.
    pub kind: PushKind,
    /// What is pushed, for people (`dhis2 post2025 2026Q1 province of VN`, `table province_indicators`).
    pub export: String,
    /// A DHIS2 base URL (the request goes to `{base}/api/dataValueSets`) or the portal's URL.
    pub target: String,
    /// The JSON body.
    pub payload: Vec<u8>,
    /// How many values or rows the payload holds.
    pub values: Option<i64>,
    /// Authentication.
    pub auth: Auth,
    /// Retries.
    pub retry: RetryPolicy,
    /// Send even when the same payload was accepted by this target before.
    pub force: bool,
    /// The Delta versions the payload was computed from.
    pub versions: BTreeMap<String, i64>,
    /// The instant the data stood at.
    pub data_as_of: Option<DateTime<Utc>>,
}

/// What DHIS2 said about an import (`ImportSummary`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportSummary {
    /// `SUCCESS`, `WARNING` or `ERROR`.
    pub status: Option<String>,
    /// Values created.
    pub imported: Option<i64>,
    /// Values changed.
    pub updated: Option<i64>,
    /// Values left out.
    pub ignored: Option<i64>,
    /// Values deleted.
    pub deleted: Option<i64>,
    /// The conflicts as DHIS2 wrote them (`{object, value}`, or from 2.36 `{objects, value,
    /// errorCode, property, indexes}`).
    pub conflicts: Vec<serde_json::Value>,
    /// DHIS2's description or message.
    pub description: Option<String>,
}

impl ImportSummary {
    /// Reads an import summary from a response body: either wrapped (`{"httpStatus", "status",
    /// "message", "response": {ImportSummary}}`, DHIS2 2.36+) or at the top level (older versions).
    /// `None` when the body is no import summary.
    pub fn parse(body: &str) -> Option<ImportSummary> {
        let root: serde_json::Value = serde_json::from_str(body).ok()?;
        let wrapped = root.get("response").filter(|r| r.get("importCount").is_some() || r.get("responseType").is_some());
        let summary = wrapped.or_else(|| root.get("importCount").map(|_| &root))?;
        let count = |name: &str| summary.get("importCount").and_then(|c| c.get(name)).and_then(serde_json::Value::as_i64);
        let text = |v: &serde_json::Value, name: &str| v.get(name).and_then(serde_json::Value::as_str).map(str::to_string);
        Some(ImportSummary {
            status: text(summary, "status").or_else(|| text(&root, "status")),
            imported: count("imported"),
            updated: count("updated"),
            ignored: count("ignored"),
            deleted: count("deleted"),
            conflicts: summary.get("conflicts").and_then(serde_json::Value::as_array).cloned().unwrap_or_default(),
            description: text(summary, "description").or_else(|| text(&root, "message")),
        })
    }
}

/// One row of `export_log`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportLogEntry {
    /// A fresh id.
    pub export_id: String,
    /// `dhis2` or `portal`.
    pub kind: String,
    /// What was pushed.
    pub export: String,
    /// The URL the request went to.
    pub target: String,
    /// SHA-256 of the payload, hex.
    pub payload_sha256: String,
    /// The `Idempotency-Key` sent.
    pub idempotency_key: String,
    /// Payload size.
    pub payload_bytes: i64,
    /// Values or rows in the payload.
    pub values: Option<i64>,
    /// Requests made (0 for a repeat).
    pub attempts: i64,
    /// The last HTTP status received.
    pub http_status: Option<i64>,
    /// `imported`, `conflicts`, `accepted`, `rejected`, `failed` or `repeat`.
    pub status: String,
    /// DHIS2 import counts.
    pub imported: Option<i64>,
    /// DHIS2 import counts.
    pub updated: Option<i64>,
    /// DHIS2 import counts.
    pub ignored: Option<i64>,
    /// DHIS2 import counts.
    pub deleted: Option<i64>,
    /// DHIS2 conflicts, as a JSON array.
    pub conflicts: Option<String>,
    /// DHIS2's description, the start of a portal's answer, or the last error.
    pub message: Option<String>,
    /// For a repeat: the earlier accepted push of the same payload.
    pub repeat_of: Option<String>,
    /// When the push started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// The instant the data stood at.
    pub data_as_of: Option<DateTime<Utc>>,
    /// The Delta versions read, as JSON.
    pub versions: String,
}

impl ExportLogEntry {
    /// Whether the target took the payload (`imported`, `conflicts`, `accepted`, or a `repeat` of one).
    pub fn succeeded(&self) -> bool {
        ACCEPTED.contains(&self.status.as_str()) || self.status == "repeat"
    }

    /// One line for people.
    pub fn one_line(&self) -> String {
        let mut line = format!("{} push to {}: {} ({} attempt(s)", self.kind, self.target, self.status, self.attempts);
        if let Some(s) = self.http_status {
            line.push_str(&format!(", HTTP {s}"));
        }
        line.push(')');
        if self.imported.is_some() || self.updated.is_some() {
            let n = |v: Option<i64>| v.unwrap_or(0);
            line.push_str(&format!("; imported {}, updated {}, ignored {}, deleted {}", n(self.imported), n(self.updated), n(self.ignored), n(self.deleted)));
        }
        if let Some(c) = self.conflicts.as_deref().filter(|c| *c != "[]") {
            line.push_str(&format!("; conflicts {c}"));
        }
        if let Some(r) = &self.repeat_of {
            line.push_str(&format!("; the same payload was accepted by push {r}: not sent again (force to resend)"));
        }
        if let Some(m) = self.message.as_deref().filter(|m| !m.is_empty()) {
            line.push_str(&format!("; {m}"));
        }
        line
    }

    fn to_batch(&self) -> Result<RecordBatch> {
        let text = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
        let maybe = |v: &Option<String>| Arc::new(StringArray::from(vec![v.clone()])) as ArrayRef;
        let int = |v: Option<i64>| Arc::new(Int64Array::from(vec![v])) as ArrayRef;
        let time = |t: Option<DateTime<Utc>>| Arc::new(TimestampMicrosecondArray::from(vec![t.map(|t| t.timestamp_micros())]).with_timezone("UTC")) as ArrayRef;
        RecordBatch::try_new(
            EXPORT_LOG.schema.clone(),
            vec![
                text(&self.export_id),
                text(&self.kind),
                text(&self.export),
                text(&self.target),
                text(&self.payload_sha256),
                text(&self.idempotency_key),
                int(Some(self.payload_bytes)),
                int(self.values),
                int(Some(self.attempts)),
                int(self.http_status),
                text(&self.status),
                int(self.imported),
                int(self.updated),
                int(self.ignored),
                int(self.deleted),
                maybe(&self.conflicts),
                maybe(&self.message),
                maybe(&self.repeat_of),
                time(Some(self.started_at)),
                time(Some(self.finished_at)),
                time(self.data_as_of),
                text(&self.versions),
            ],
        )
        .map_err(|source| Error::Convert { column: "export_log".into(), data_type: arrow::datatypes::DataType::Utf8, source })
    }
}

/// The statuses of a push the target took.
const ACCEPTED: [&str; 3] = ["imported", "conflicts", "accepted"];

/// SHA-256 of a payload, hex.
pub fn payload_sha256(payload: &[u8]) -> String {
    hex::encode(Sha256::digest(payload))
}

/// The `Idempotency-Key` of a payload: `tonghop-<kind>-<first 32 hex digits of its SHA-256>`, the same
/// on every retry and re-run of the same payload.
pub fn idempotency_key(kind: PushKind, payload: &[u8]) -> String {
    format!("tonghop-{}-{}", kind.as_str(), &payload_sha256(payload)[..32])
}

/// The URL a push posts to: `{base}/api/dataValueSets` for DHIS2, the URL itself for a portal.
///
/// # Errors
///
/// [`Error::PushTarget`] unless it is an `http://` or `https://` URL.
pub fn request_url(kind: PushKind, target: &str) -> Result<String> {
    let parsed = reqwest::Url::parse(target.trim()).map_err(|e| Error::PushTarget { url: target.to_string(), reason: e.to_string() })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::PushTarget { url: target.to_string(), reason: "use an http:// or https:// URL".into() });
    }
    Ok(match kind {
        PushKind::Dhis2 => format!("{}/api/dataValueSets", target.trim().trim_end_matches('/')),
        PushKind::Portal => target.trim().to_string(),
    })
}

/// The limit of one request when the policy sets none.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The last answer (or error) of the attempts.
struct Answer {
    attempts: u32,
    status: Option<u16>,
    body: String,
    error: Option<String>,
}

/// Sends `payload` with retries; returns the final answer (a final HTTP status, or the last error
/// once every attempt failed).
async fn send(client: &reqwest::Client, url: &str, push: &Push, key: &str) -> Answer {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut request = client
            .post(url)
            .timeout(push.retry.timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .header("Idempotency-Key", key)
            .body(push.payload.clone());
        request = match &push.auth {
            Auth::None => request,
            Auth::Basic { user, password } => request.basic_auth(user, Some(password)),
            Auth::ApiToken(token) => request.header(reqwest::header::AUTHORIZATION, format!("ApiToken {token}")),
            Auth::Bearer(token) => request.bearer_auth(token),
        };
        let (status, body, error) = match request.send().await {
            Ok(response) => {
                let status = response.status();
                match response.text().await {
                    Ok(body) => (Some(status.as_u16()), body, None),
                    Err(e) => (Some(status.as_u16()), String::new(), Some(format!("reading the answer: {e}"))),
                }
            }
            Err(e) => (None, String::new(), Some(describe(&e))),
        };
        let retry = match status {
            None => true,
            Some(s) => s == 429 || (500..600).contains(&s) || error.is_some(),
        };
        if !retry || !push.retry.retries_after(attempt) {
            return Answer { attempts: attempt, status, body, error };
        }
        let delay = push.retry.delay(attempt);
        tracing::warn!(attempt, status = ?status, error = ?error, delay_ms = delay.as_millis() as u64, "push failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

/// A reqwest error with its causes (the connection error behind "error sending request").
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// The start of a body, for the log (at most 500 characters).
fn excerpt(body: &str) -> String {
    let trimmed = body.trim();
    match trimmed.char_indices().nth(500) {
        Some((i, _)) => format!("{}…", &trimmed[..i]),
        None => trimmed.to_string(),
    }
}

/// The earlier accepted push of a payload to a target, if any.
async fn earlier_success(lake: &Lake, target: &str, sha: &str) -> Result<Option<String>> {
    let accepted = tonghop_core::sql::literal_list(ACCEPTED);
    let sql =
        format!("SELECT export_id FROM export_log WHERE target = $target AND payload_sha256 = $sha AND status IN ({accepted}) ORDER BY finished_at LIMIT 1");
    let batches = lake
        .query_table(&EXPORT_LOG, &sql, &[("target", target), ("sha", sha)])
        .await
        .map_err(|source| Error::Lake { what: "reading export_log".into(), source: Box::new(source) })?;
    Ok(tonghop_lake::first_column_strings(&batches)
        .map_err(|source| Error::Convert { column: "export_id".into(), data_type: arrow::datatypes::DataType::Utf8, source })?
        .into_iter()
        .next())
}

/// Pushes (or recognises a repeat), appends the row to `export_log` and returns it.
///
/// A push the target refused or that never got an answer is not an `Err`: its row says `rejected` or
/// `failed` (see [`ExportLogEntry::succeeded`]).
///
/// # Errors
///
/// [`Error::PushTarget`] for a URL that is not http(s); [`Error::Http`] when the HTTP client cannot
/// be built; [`Error::Lake`] when `export_log` cannot be read or appended to.
#[tracing::instrument(skip_all, fields(kind = push.kind.as_str(), target = %push.target, bytes = push.payload.len()))]
pub async fn push(lake: &Lake, push: &Push) -> Result<ExportLogEntry> {
    let url = request_url(push.kind, &push.target)?;
    let started_at = Utc::now();
    let sha = payload_sha256(&push.payload);
    let key = idempotency_key(push.kind, &push.payload);
    let earlier = if push.force { None } else { earlier_success(lake, &url, &sha).await? };
    let mut entry = ExportLogEntry {
        export_id: uuid::Uuid::new_v4().to_string(),
        kind: push.kind.as_str().into(),
        export: push.export.clone(),
        target: url.clone(),
        payload_sha256: sha,
        idempotency_key: key.clone(),
        payload_bytes: push.payload.len() as i64,
        values: push.values,
        attempts: 0,
        http_status: None,
        status: "repeat".into(),
        imported: None,
        updated: None,
        ignored: None,
        deleted: None,
        conflicts: None,
        message: None,
        repeat_of: earlier.clone(),
        started_at,
        finished_at: started_at,
        data_as_of: push.data_as_of,
        versions: serde_json::to_string(&push.versions).expect("versions serialise"),
    };
    if earlier.is_none() {
        let client = reqwest::Client::builder().user_agent(concat!("tonghop/", env!("CARGO_PKG_VERSION"))).build().map_err(|e| Error::Http(describe(&e)))?;
        let answer = send(&client, &url, push, &key).await;
        entry.attempts = i64::from(answer.attempts);
        entry.http_status = answer.status.map(i64::from);
        let summary = (push.kind == PushKind::Dhis2).then(|| ImportSummary::parse(&answer.body)).flatten();
        entry.status = classify(push.kind, answer.status, summary.as_ref()).into();
        entry.message = match (&answer.error, &summary) {
            (Some(e), _) => Some(e.clone()),
            (None, Some(s)) => s.description.clone(),
            (None, None) => Some(excerpt(&answer.body)).filter(|b| !b.is_empty()),
        };
        if let Some(s) = summary {
            entry.imported = s.imported;
            entry.updated = s.updated;
            entry.ignored = s.ignored;
            entry.deleted = s.deleted;
            entry.conflicts = Some(serde_json::Value::Array(s.conflicts).to_string());
        }
        entry.finished_at = Utc::now();
    }
    lake.append(&EXPORT_LOG, vec![entry.to_batch()?], "export push")
        .await
        .map_err(|source| Error::Lake { what: "appending to export_log".into(), source: Box::new(source) })?;
    tracing::info!(status = %entry.status, attempts = entry.attempts, http_status = ?entry.http_status, "pushed");
    Ok(entry)
}

/// The body of a portal push of a table: `{"table": …, "where": …, "rows": [{…}, …]}`, the rows
/// ordered by every column so that the same rows give the same bytes (and idempotency key).
/// Returns the bytes and the number of rows.
///
/// # Errors
///
/// As [`crate::extract::read_table`].
pub async fn portal_payload(engine: &tonghop_engine::Engine, table: &str, predicate: Option<&str>) -> Result<(Vec<u8>, usize)> {
    let batches = crate::extract::read_table(engine, table, predicate).await?;
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    let rows_json = crate::extract::to_json(&batches)?;
    let head = serde_json::json!({ "table": table, "where": predicate.map(str::trim).filter(|p| !p.is_empty()) }).to_string();
    let mut out = head.into_bytes();
    out.pop(); // the closing brace
    out.extend_from_slice(b",\"rows\":");
    out.extend_from_slice(&rows_json);
    out.push(b'}');
    Ok((out, rows))
}

/// The `export_log` status of a final answer.
fn classify(kind: PushKind, status: Option<u16>, summary: Option<&ImportSummary>) -> &'static str {
    let Some(status) = status else { return "failed" };
    match (kind, summary) {
        // DHIS2 2.38+ answers 409 when the summary has conflicts or says ERROR: the summary decides.
        (PushKind::Dhis2, Some(s)) if (200..300).contains(&status) || status == 409 => match s.status.as_deref() {
            Some("ERROR") if s.imported.unwrap_or(0) + s.updated.unwrap_or(0) == 0 => "rejected",
            _ if !s.conflicts.is_empty() || s.status.as_deref() == Some("WARNING") || s.status.as_deref() == Some("ERROR") => "conflicts",
            _ => "imported",
        },
        _ if status == 429 || (500..600).contains(&status) => "failed",
        (PushKind::Portal, _) if (200..300).contains(&status) => "accepted",
        // A 2xx from "DHIS2" without an import summary: not DHIS2's contract.
        _ => "rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_summaries_of_old_and_new_dhis2_versions() {
        let old = r#"{"responseType":"ImportSummary","status":"SUCCESS","description":"Import process completed successfully",
            "importCount":{"imported":2,"updated":1,"ignored":0,"deleted":0},"conflicts":[{"object":"x","value":"y"}]}"#;
        let s = ImportSummary::parse(old).unwrap();
        assert_eq!((s.imported, s.updated, s.ignored, s.deleted), (Some(2), Some(1), Some(0), Some(0)));
        assert_eq!(s.conflicts.len(), 1);
        let new = r#"{"httpStatus":"Conflict","httpStatusCode":409,"status":"WARNING","message":"One more conflicts encountered, please check import summary.",
            "response":{"responseType":"ImportSummary","status":"WARNING","importCount":{"imported":1,"updated":0,"ignored":1,"deleted":0},
            "conflicts":[{"object":"abc","objects":{"dataElement":"abc"},"value":"Data element not found","errorCode":"E7610","property":"dataElement","indexes":[1]}]}}"#;
        let s = ImportSummary::parse(new).unwrap();
        assert_eq!((s.status.as_deref(), s.imported, s.ignored), (Some("WARNING"), Some(1), Some(1)));
        assert_eq!(s.conflicts[0]["errorCode"], "E7610");
        assert_eq!(classify(PushKind::Dhis2, Some(409), Some(&s)), "conflicts");
        assert_eq!(ImportSummary::parse("<html>gateway</html>"), None);
        assert_eq!(ImportSummary::parse(r#"{"status":"OK"}"#), None);
    }

    #[test]
    fn statuses_retries_and_keys() {
        let ok = ImportSummary { status: Some("SUCCESS".into()), imported: Some(3), ..Default::default() };
        assert_eq!(classify(PushKind::Dhis2, Some(200), Some(&ok)), "imported");
        let error = ImportSummary { status: Some("ERROR".into()), imported: Some(0), ..Default::default() };
        assert_eq!(classify(PushKind::Dhis2, Some(409), Some(&error)), "rejected");
        assert_eq!(classify(PushKind::Dhis2, Some(200), None), "rejected");
        assert_eq!(classify(PushKind::Dhis2, Some(401), None), "rejected");
        assert_eq!(classify(PushKind::Dhis2, Some(503), None), "failed");
        assert_eq!(classify(PushKind::Portal, Some(201), None), "accepted");
        assert_eq!(classify(PushKind::Portal, None, None), "failed");
        assert_eq!(idempotency_key(PushKind::Portal, b"{}"), idempotency_key(PushKind::Portal, b"{}"));
        assert_ne!(idempotency_key(PushKind::Portal, b"{}"), idempotency_key(PushKind::Portal, b"[]"));
        assert_eq!(request_url(PushKind::Dhis2, "https://dhis2.example.org/").unwrap(), "https://dhis2.example.org/api/dataValueSets");
        assert!(request_url(PushKind::Portal, "ftp://x").unwrap_err().to_string().contains("http"));
        assert!(format!("{:?}", Auth::Basic { user: "u".into(), password: "secret".into() }).contains("***"));
    }
}
