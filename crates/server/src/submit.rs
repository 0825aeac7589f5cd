//! HTTP submissions: each is read and validated at once (the same reader and validator as
//! `tonghop ingest`), checked against the caller's unit, then committed to the lake together
//! with the submissions that arrived meanwhile (a group commit: one Delta commit per table for a
//! whole group, so hundreds of small submissions a second cost a few commits). The caller's answer
//! comes after the commit, so an answered submission is never lost; an unanswered one is safe to
//! send again (a submission is identified by its content hash and committed once).

use std::collections::{BTreeSet, HashSet};
use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tonghop_core::{Catalog, Epoch, UnitRegistry};
use tonghop_ingest::commit::{commit_files, FileOutcome, ValueColumns};
use tonghop_ingest::submission::{read_submission, Incoming, ReadSettings};
use tonghop_lake::Lake;

use crate::auth::Caller;
use crate::metrics::Metrics;

/// One refused row, as the caller sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RejectionOut {
    /// Row (line or cell row) in the file.
    pub row: i64,
    /// Where exactly (line, cell or JSON path).
    pub location: String,
    /// The field.
    pub field: String,
    /// The value given.
    pub value: Option<String>,
    /// Stable reason code.
    pub reason: String,
    /// Message for the reporting unit (Vietnamese).
    pub message_vi: String,
    /// The same in English.
    pub message_en: String,
}

/// The answer to a submission.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    /// The submission id (first 16 hex digits of the content's SHA-256).
    pub submission_id: String,
    /// `accepted`, `partly_accepted`, `rejected`, `empty` or `failed`.
    pub status: String,
    /// The same content was committed before (nothing new was written).
    pub duplicate: bool,
    /// Values accepted.
    pub accepted: usize,
    /// Rows refused.
    pub rejected: usize,
    /// The refused rows, each with its reason.
    pub rejections: Vec<RejectionOut>,
    /// Why the file could not be read at all.
    pub error: Option<String>,
    /// Where the file is kept on the lake.
    pub stored_at: String,
}

/// A submission read and checked, waiting for its group commit.
pub struct Checked {
    outcome: FileOutcome,
    values: RecordBatch,
    raw: bytes::Bytes,
    stored_path: String,
}

/// Why a submission was not taken.
#[derive(Debug)]
pub enum Refusal {
    /// Values for units outside the caller's own (403).
    Forbidden(Vec<String>),
    /// The commit queue is full or the service is stopping (503).
    Unavailable(String),
    /// The lake failed (500).
    Failed(String),
}

/// Reads and validates one submission and checks the units it gives values for (CPU work: call it
/// on a blocking thread).
#[allow(clippy::too_many_arguments)]
pub fn check(raw: bytes::Bytes, name: &str, lake: &Lake, caller: &Caller, registry: &UnitRegistry, catalog: &Catalog, today: chrono::NaiveDate, now: DateTime<Utc>) -> Result<Checked, Refusal> {
    let content_hash = hex::encode(Sha256::digest(&raw));
    let extension = name.rsplit_once('.').map_or("dat", |(_, e)| e).to_ascii_lowercase();
    let stored_path = format!("received/{}/{}.{extension}", now.format("%Y/%m/%d"), &content_hash[..16]);
    let source = lake.root().join(&stored_path).map(|l| l.url().to_string()).unwrap_or_else(|_| stored_path.clone());
    let incoming = Incoming { source, name: name.to_string(), content_hash, received_at: now, submitted_by: Some(caller.submitted_by()) };
    let mut columns = ValueColumns::new(now);
    let mut reader = Cursor::new(raw.as_ref());
    let outcome = read_submission(&incoming, &mut reader, registry, catalog, today, &ReadSettings::default(), &mut columns, usize::MAX, &mut |_| {});
    let values = columns.finish().map_err(|e| Refusal::Failed(e.to_string()))?;
    let denied = units_outside(&values, caller, registry);
    if !denied.is_empty() {
        return Err(Refusal::Forbidden(denied));
    }
    Ok(Checked { outcome, values, raw, stored_path })
}

fn units_outside(values: &RecordBatch, caller: &Caller, registry: &UnitRegistry) -> Vec<String> {
    let column = |name: &str| values.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
    let (Some(epochs), Some(units)) = (column("epoch"), column("org_unit")) else { return vec!["(no unit column)".into()] };
    let mut denied = BTreeSet::new();
    let mut allowed = HashSet::new();
    for i in 0..values.num_rows() {
        let (e, u) = (epochs.value(i), units.value(i));
        if allowed.contains(&(e, u)) || denied.contains(&format!("{e}:{u}")) {
            continue;
        }
        match e.parse::<Epoch>() {
            Ok(epoch) if caller.may_submit_for(registry, epoch, u) => {
                allowed.insert((e, u));
            }
            _ => {
                denied.insert(format!("{e}:{u}"));
            }
        }
    }
    denied.into_iter().collect()
}

struct Pending {
    checked: Checked,
    reply: oneshot::Sender<Result<Receipt, Refusal>>,
}

/// The group committer: a task that owns the commits of HTTP submissions.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Pending>,
}

impl Committer {
    /// Starts the committer task; it ends when every [`Committer`] clone is dropped, after
    /// committing what was queued.
    pub async fn start(lake: Lake, max_group: usize, queue: usize, metrics: Arc<Metrics>) -> crate::Result<(Committer, tokio::task::JoinHandle<()>)> {
        let committed = lake.committed_hashes().await?;
        let (tx, rx) = mpsc::channel(queue);
        let task = tokio::spawn(run(lake, rx, committed, max_group, metrics));
        Ok((Committer { tx }, task))
    }

    /// Queues a checked submission and waits for its commit.
    pub async fn commit(&self, checked: Checked) -> Result<Receipt, Refusal> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(Pending { checked, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Refusal::Unavailable("too many submissions waiting; send again in a few seconds".into()),
            mpsc::error::TrySendError::Closed(_) => Refusal::Unavailable("the service is stopping".into()),
        })?;
        answer.await.map_err(|_| Refusal::Failed("the committer stopped before answering".into()))?
    }
}

fn receipt(outcome: &FileOutcome, duplicate: bool, stored_at: &str) -> Receipt {
    Receipt {
        submission_id: outcome.submission_id.clone(),
        status: outcome.status().to_string(),
        duplicate,
        accepted: outcome.accepted,
        rejected: outcome.rejections.len(),
        rejections: outcome
            .rejections
            .iter()
            .map(|r| RejectionOut {
                row: r.location.row(),
                location: r.location.to_string(),
                field: r.field.clone(),
                value: r.value.clone(),
                reason: r.reason.to_string(),
                message_vi: r.message_vi.clone(),
                message_en: r.message_en.clone(),
            })
            .collect(),
        error: outcome.error.clone(),
        stored_at: stored_at.to_string(),
    }
}

async fn run(lake: Lake, mut rx: mpsc::Receiver<Pending>, mut committed: HashSet<String>, max_group: usize, metrics: Arc<Metrics>) {
    let mut group = Vec::with_capacity(max_group);
    while rx.recv_many(&mut group, max_group).await > 0 {
        commit_group(&lake, std::mem::take(&mut group), &mut committed, &metrics).await;
    }
}

#[tracing::instrument(skip_all, fields(submissions = group.len()))]
async fn commit_group(lake: &Lake, group: Vec<Pending>, committed: &mut HashSet<String>, metrics: &Metrics) {
    // Duplicates (committed before, or twice in this group) are answered without writing.
    let mut fresh = Vec::with_capacity(group.len());
    let mut in_group = HashSet::new();
    for p in group {
        let hash = &p.checked.outcome.content_hash;
        if committed.contains(hash) || !in_group.insert(hash.clone()) {
            let r = receipt(&p.checked.outcome, true, &p.checked.stored_path);
            metrics.submission(&r);
            let _ = p.reply.send(Ok(r));
        } else {
            fresh.push(p);
        }
    }
    if fresh.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let result = write_group(lake, &fresh).await;
    tracing::debug!(submissions = fresh.len(), ms = started.elapsed().as_millis() as u64, ok = result.is_ok(), "group commit");
    for p in fresh {
        let answer = match &result {
            Ok(()) => {
                committed.insert(p.checked.outcome.content_hash.clone());
                let r = receipt(&p.checked.outcome, false, &p.checked.stored_path);
                metrics.submission(&r);
                Ok(r)
            }
            Err(e) => Err(Refusal::Failed(e.clone())),
        };
        let _ = p.reply.send(answer);
    }
}

async fn write_group(lake: &Lake, group: &[Pending]) -> Result<(), String> {
    // The raw files first (each put is atomic), then the values, rejections and submissions.
    let puts = group.iter().map(|p| lake.root().put(&p.checked.stored_path, p.checked.raw.to_vec()));
    for r in futures::future::join_all(puts).await {
        r.map_err(|e| format!("storing a submitted file: {e}"))?;
    }
    let batches: Vec<&RecordBatch> = group.iter().map(|p| &p.checked.values).filter(|b| b.num_rows() > 0).collect();
    let values = match batches.first() {
        Some(first) => Some(arrow::compute::concat_batches(&first.schema(), batches.iter().copied()).map_err(|e| e.to_string())?),
        None => None,
    };
    let outcomes: Vec<FileOutcome> = group.iter().map(|p| p.checked.outcome.clone()).collect();
    commit_files(lake, values, &outcomes, Utc::now()).await.map_err(|e| format!("committing to the lake: {e}"))
}
