//! HTTP submissions: each is read and validated at once (the same reader and validator as
//! `tonghop ingest`) and checked against the caller's unit. Submissions that arrive together are
//! then written as one entry of the lake's journal ([`tonghop_lake::journal`]: one object put, with
//! the raw files kept under `received/`), and answered. A second task moves the journal into the
//! Delta tables, as many entries per commit as have arrived meanwhile, and deletes them; the
//! values appear in SQL a moment after the answer. So an answered submission is never lost (it is
//! on the lake before its answer, and a service killed before the Delta commit makes it at its
//! next start), and an unanswered one is safe to send again (a submission is identified by its
//! content hash and committed once).

use std::collections::{BTreeSet, HashSet};
use std::io::Cursor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tonghop_core::{Catalog, Epoch, UnitRegistry};
use tonghop_ingest::commit::{journal_entry, FileOutcome, SubmissionWriter, ValueColumns};
use tonghop_ingest::submission::{read_submission, Incoming, ReadSettings};
use tonghop_lake::journal::{Entry, Pending};
use tonghop_lake::Lake;

use crate::auth::Caller;
use crate::metrics::Metrics;

/// Refused rows listed in an answer (and in the receipts kept in memory): the answer to a file of
/// half a million bad rows stays a few kilobytes.
pub const RECEIPT_REJECTIONS: usize = 50;

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
    /// The first refused rows ([`RECEIPT_REJECTIONS`] at most), each with its reason.
    pub rejections: Vec<RejectionOut>,
    /// Refused rows not in `rejections`: page through all of them with
    /// `GET /api/submissions/{id}?offset=…&limit=…` (a file keeps at most
    /// `tonghop_ingest::submission::MAX_REJECTIONS_KEPT` of them, then one row counting the rest).
    pub rejections_not_listed: usize,
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
    /// A plan's progress form sent as data (400): it goes to `POST /api/plans/progress`.
    ProgressForm,
}

/// Reads and validates one submission and checks the units it gives values for (CPU work: call it
/// on a blocking thread).
#[allow(clippy::too_many_arguments)]
pub fn check(
    raw: bytes::Bytes,
    name: &str,
    lake: &Lake,
    caller: &Caller,
    registry: &UnitRegistry,
    catalog: &Catalog,
    today: chrono::NaiveDate,
    now: DateTime<Utc>,
) -> Result<Checked, Refusal> {
    if raw.starts_with(b"PK") && tonghop_formats::progress::is_form(&raw) {
        return Err(Refusal::ProgressForm);
    }
    let content_hash = hex::encode(Sha256::digest(&raw));
    let extension = stored_extension(name);
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

/// The extension of the file kept under `received/`: the sent name's, when it is a plain one (1 to
/// 8 ASCII letters and digits), else `dat`. The name itself is kept as data (`submissions.source`
/// and the receipt), never in a path: a name of 300 characters, or one with `/` or `..` in it,
/// must not fail the write of a whole group of submissions.
fn stored_extension(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((_, e)) if (1..=8).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric()) => e.to_ascii_lowercase(),
        _ => "dat".to_string(),
    }
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

struct Waiting {
    checked: Checked,
    reply: oneshot::Sender<Result<Receipt, Refusal>>,
}

enum ToFlusher {
    /// A journaled group to commit to Delta.
    Entry(Pending),
    /// Answer once everything sent before is in Delta (or say why it is not).
    Flush(oneshot::Sender<Result<(), String>>),
}

/// The submission committer: a task that journals groups of HTTP submissions (then answers them)
/// and a task that moves the journal into the Delta tables.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Waiting>,
    flusher: mpsc::Sender<ToFlusher>,
}

impl Committer {
    /// Starts the committer. First it commits what the journal holds from a service that stopped
    /// or was killed before committing it. The returned task ends when every [`Committer`] clone
    /// is dropped, after committing what was queued; `lake_changed` is set after each commit to
    /// Delta.
    pub async fn start(
        lake: Lake,
        max_group: usize,
        queue: usize,
        metrics: Arc<Metrics>,
        lake_changed: Arc<AtomicBool>,
    ) -> crate::Result<(Committer, tokio::task::JoinHandle<()>)> {
        let mut committed = lake.committed_hashes().await?;
        // The flusher sorts out which of these made it to Delta before the stop (see `commit_waiting`).
        let replay = lake.journal_pending().await?;
        committed.extend(replay.iter().flat_map(|p| p.entry.content_hashes()));
        if !replay.is_empty() {
            tracing::info!(entries = replay.len(), "committing the journal left by an earlier run of the service");
        }
        let (flush_tx, flush_rx) = mpsc::channel(queue);
        let (tx, rx) = mpsc::channel(queue);
        let flusher = tokio::spawn(flush_loop(lake.clone(), flush_rx, replay, metrics.clone(), lake_changed));
        let journaler = tokio::spawn(journal_loop(lake, rx, flush_tx.clone(), committed, max_group, metrics));
        let task = tokio::spawn(async move {
            let _ = journaler.await;
            let _ = flusher.await;
        });
        Ok((Committer { tx, flusher: flush_tx }, task))
    }

    /// Queues a checked submission and waits until it is journaled.
    pub async fn commit(&self, checked: Checked) -> Result<Receipt, Refusal> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(Waiting { checked, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Refusal::Unavailable("too many submissions waiting; send again in a few seconds".into()),
            mpsc::error::TrySendError::Closed(_) => Refusal::Unavailable("the service is stopping".into()),
        })?;
        answer.await.map_err(|_| Refusal::Failed("the committer stopped before answering".into()))?
    }

    /// Waits until every submission answered so far is in the Delta tables; an error says why
    /// some are not yet (they stay in the journal and are committed later).
    pub async fn flush(&self) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.flusher.send(ToFlusher::Flush(reply)).await.map_err(|_| "the committer has stopped".to_string())?;
        answer.await.map_err(|_| "the committer stopped before committing".to_string())?
    }
}

pub(crate) fn receipt(outcome: &FileOutcome, duplicate: bool, stored_at: &str) -> Receipt {
    Receipt {
        submission_id: outcome.submission_id.clone(),
        status: outcome.status().to_string(),
        duplicate,
        accepted: outcome.accepted,
        rejected: outcome.rejected,
        rejections_not_listed: outcome.rejected.saturating_sub(RECEIPT_REJECTIONS),
        rejections: outcome
            .rejections
            .iter()
            .take(RECEIPT_REJECTIONS)
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

async fn journal_loop(
    lake: Lake,
    mut rx: mpsc::Receiver<Waiting>,
    flusher: mpsc::Sender<ToFlusher>,
    mut committed: HashSet<String>,
    max_group: usize,
    metrics: Arc<Metrics>,
) {
    let mut group = Vec::with_capacity(max_group);
    while rx.recv_many(&mut group, max_group).await > 0 {
        journal_group(&lake, &flusher, std::mem::take(&mut group), &mut committed, &metrics).await;
    }
}

#[tracing::instrument(skip_all, fields(submissions = group.len()))]
async fn journal_group(lake: &Lake, flusher: &mpsc::Sender<ToFlusher>, group: Vec<Waiting>, committed: &mut HashSet<String>, metrics: &Metrics) {
    // Duplicates (committed before, or twice in this group) are answered without writing.
    let mut fresh = Vec::with_capacity(group.len());
    let mut in_group = HashSet::new();
    for w in group {
        let hash = &w.checked.outcome.content_hash;
        if committed.contains(hash) || !in_group.insert(hash.clone()) {
            let r = receipt(&w.checked.outcome, true, &w.checked.stored_path);
            metrics.submission(&r.status, r.duplicate, r.accepted, r.rejected);
            let _ = w.reply.send(Ok(r));
        } else {
            fresh.push(w);
        }
    }
    if fresh.is_empty() {
        return;
    }
    // Each raw file is stored on its own: one that cannot be stored fails alone.
    let stored = futures::future::join_all(fresh.iter().map(|w| lake.root().put(&w.checked.stored_path, w.checked.raw.to_vec()))).await;
    let mut kept = Vec::with_capacity(fresh.len());
    for (w, put) in fresh.into_iter().zip(stored) {
        match put {
            Ok(()) => kept.push(w),
            Err(e) => {
                let _ = w.reply.send(Err(Refusal::Failed(format!("storing a submitted file: {e}"))));
            }
        }
    }
    let fresh = kept;
    if fresh.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let result = match write_group(lake, &fresh).await {
        // Queued for Delta before anyone is answered, so that a flush after the answers covers them.
        Ok(pending) => flusher.send(ToFlusher::Entry(pending)).await.map_err(|_| "the committer has stopped".to_string()),
        Err(e) => Err(e),
    };
    tracing::debug!(submissions = fresh.len(), ms = started.elapsed().as_millis() as u64, ok = result.is_ok(), "group journaled");
    for w in fresh {
        let answer = match &result {
            Ok(()) => {
                committed.insert(w.checked.outcome.content_hash.clone());
                let r = receipt(&w.checked.outcome, false, &w.checked.stored_path);
                metrics.submission(&r.status, r.duplicate, r.accepted, r.rejected);
                Ok(r)
            }
            Err(e) => Err(Refusal::Failed(e.clone())),
        };
        let _ = w.reply.send(answer);
    }
}

/// Journals the group (one put; its raw files are stored already): after this, it is durable.
async fn write_group(lake: &Lake, group: &[Waiting]) -> Result<Pending, String> {
    let batches: Vec<&RecordBatch> = group.iter().map(|w| &w.checked.values).filter(|b| b.num_rows() > 0).collect();
    let values = match batches.first() {
        Some(first) => Some(arrow::compute::concat_batches(&first.schema(), batches.iter().copied()).map_err(|e| e.to_string())?),
        None => None,
    };
    let outcomes: Vec<FileOutcome> = group.iter().map(|w| w.checked.outcome.clone()).collect();
    let entry = journal_entry(values, &outcomes, Utc::now()).map_err(|e| e.to_string())?;
    let path = lake.journal_write(&entry).await.map_err(|e| format!("writing the submission journal: {e}"))?;
    Ok(Pending { path, entry })
}

/// Journal entries committed to Delta at once. After a run of crashes the journal can hold tens of
/// thousands; a service killed again before one commit of all of them finished made no progress,
/// and each start had more to read.
const ENTRIES_PER_COMMIT: usize = 256;

/// Moves journaled groups into the Delta tables, as many at a time as have arrived (at most
/// [`ENTRIES_PER_COMMIT`] per commit).
async fn flush_loop(lake: Lake, mut rx: mpsc::Receiver<ToFlusher>, mut waiting: Vec<Pending>, metrics: Arc<Metrics>, lake_changed: Arc<AtomicBool>) {
    let mut writer = SubmissionWriter::new(&lake);
    // Entries at the front of `waiting` that may be partly in Delta: replayed ones (from a commit
    // cut short between its tables), and after a failed commit, all.
    let mut unsure = waiting.len();
    // Of those, the submissions with rows in `data_values` or `rejections` but none in
    // `submissions` (a commit cut between its tables): found by one scan when needed, not by a
    // Delta delete over the tables for every commit of a long journal.
    let mut partial: Option<BTreeSet<String>> = None;
    let (mut messages, mut flushes) = (Vec::new(), Vec::new());
    let mut open = true;
    loop {
        if open && waiting.is_empty() && flushes.is_empty() {
            open = rx.recv_many(&mut messages, 4096).await > 0;
        } else if open {
            while let Ok(m) = rx.try_recv() {
                messages.push(m);
            }
        }
        for m in messages.drain(..) {
            match m {
                ToFlusher::Entry(p) => waiting.push(p),
                ToFlusher::Flush(reply) => flushes.push(reply),
            }
        }
        let mut outcome = Ok(());
        if !waiting.is_empty() {
            let started = std::time::Instant::now();
            let cleanup = if unsure > 0 { partly_written(&lake, &mut partial).await.map(Some) } else { Ok(None) };
            let committed = match cleanup {
                Ok(cleanup) => commit_waiting(&lake, &mut writer, &mut waiting, cleanup).await,
                Err(e) => Err(e),
            };
            match committed {
                Ok(done) => {
                    tracing::debug!(ms = started.elapsed().as_millis() as u64, entries = done, left = waiting.len(), "journal committed");
                    metrics.journal_commit("ok");
                    unsure = unsure.saturating_sub(done);
                    lake_changed.store(true, Ordering::Release);
                }
                Err(e) => {
                    tracing::error!(error = %e, entries = waiting.len(), "journaled submissions not committed to the Delta tables; trying again in a second");
                    metrics.journal_commit("failed");
                    unsure = waiting.len();
                    partial = None;
                    writer = SubmissionWriter::new(&lake);
                    outcome = Err(e);
                }
            }
        }
        // A flush is answered once everything before it is in Delta, or with the failure.
        if waiting.is_empty() || outcome.is_err() {
            for reply in flushes.drain(..) {
                let _ = reply.send(outcome.clone());
            }
        }
        if outcome.is_err() {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            if !open {
                tracing::error!(entries = waiting.len(), "stopping with journaled submissions not in the Delta tables; the next start commits them");
                return;
            }
        } else if !open && waiting.is_empty() {
            return;
        }
    }
}

/// The submissions partly written by a cut commit (see `flush_loop`), found once per episode of
/// doubt (a start with a journal, a failed commit) and kept in `partial` as they are cleaned.
async fn partly_written<'a>(lake: &Lake, partial: &'a mut Option<BTreeSet<String>>) -> Result<&'a mut BTreeSet<String>, String> {
    if partial.is_none() {
        let found = lake.orphan_submission_ids().await.map_err(|e| format!("looking for submissions cut short between the Delta tables: {e}"))?;
        tracing::debug!(submissions = found.len(), "submissions partly written by a cut commit");
        *partial = Some(found);
    }
    Ok(partial.get_or_insert_with(BTreeSet::new))
}

/// Commits the first [`ENTRIES_PER_COMMIT`] entries of `waiting` and removes them (from `waiting`
/// and the journal); returns how many. When they may be partly in Delta (`partial`: the
/// submissions found with rows but no `submissions` row), those whose `submissions` rows made it
/// are only removed, and the rows of the others that are partly written are removed before the
/// commit.
async fn commit_waiting(
    lake: &Lake,
    writer: &mut SubmissionWriter,
    waiting: &mut Vec<Pending>,
    partial: Option<&mut BTreeSet<String>>,
) -> Result<usize, String> {
    let failed = |e: tonghop_lake::Error| format!("committing journaled submissions: {e}");
    let mut chunk: Vec<Pending> = waiting.drain(..waiting.len().min(ENTRIES_PER_COMMIT)).collect();
    let taken = chunk.len();
    let result = async {
        if let Some(partial) = partial {
            let ids: BTreeSet<String> = chunk.iter().flat_map(|p| p.entry.submission_ids()).collect();
            let committed = lake.committed_among(&ids).await.map_err(failed)?;
            let (done, rest): (Vec<Pending>, Vec<Pending>) = chunk.drain(..).partition(|p| p.entry.submission_ids().iter().all(|id| committed.contains(id)));
            chunk = rest;
            lake.journal_remove(&done.iter().map(|p| p.path.clone()).collect::<Vec<_>>()).await.map_err(failed)?;
            let cut: BTreeSet<String> = ids.into_iter().filter(|id| !committed.contains(id) && partial.contains(id)).collect();
            if !cut.is_empty() {
                lake.remove_submissions_rows(&cut).await.map_err(failed)?;
                partial.retain(|id| !cut.contains(id));
            }
            if chunk.is_empty() {
                return Ok(());
            }
        }
        let entry = Entry::concat(&chunk.iter().map(|p| p.entry.clone()).collect::<Vec<_>>()).map_err(failed)?;
        writer.commit_entry(entry).await.map_err(|e| format!("committing journaled submissions: {e}"))?;
        // Committed: a failure to delete the entries only leaves work the next start skips.
        let paths: Vec<String> = chunk.drain(..).map(|p| p.path).collect();
        if let Err(e) = lake.journal_remove(&paths).await {
            tracing::warn!(error = %e, "journal entries committed but not deleted; the next start skips them");
        }
        Ok(())
    }
    .await;
    // What is left of the chunk goes back to the front.
    waiting.splice(0..0, chunk);
    result.map(|()| taken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use std::path::Path;

    #[test]
    fn only_plain_extensions_reach_the_stored_path() {
        assert_eq!(stored_extension("bao_cao.XLSX"), "xlsx");
        assert_eq!(stored_extension("xa 00004.csv"), "csv");
        assert_eq!(stored_extension(&format!("x.{}", "a".repeat(300))), "dat");
        assert_eq!(stored_extension("x./../../etc/passwd"), "dat");
        assert_eq!(stored_extension("bảng.xlsx\u{0}"), "dat");
        assert_eq!(stored_extension("no_extension"), "dat");
        assert_eq!(stored_extension("x."), "dat");
    }

    fn checked(lake: &Lake, registry: &UnitRegistry, catalog: &Catalog, commune: &str, value: u32) -> Checked {
        let caller = Caller { name: "quan-tri".into(), role: Role::Admin, unit: None, agency: None, expires: None };
        let body = format!("period,org_unit,data_element,value\n202610,{commune},DS_TONG,{value}\n202610,{commune},DS_BHYT,abc\n");
        let now = Utc::now();
        check(body.into(), &format!("{commune}.csv"), lake, &caller, registry, catalog, now.date_naive(), now).unwrap_or_else(|_| panic!("{commune} refused"))
    }

    /// An empty lake in a temporary folder, with the repository's units and catalog.
    fn empty_lake() -> (tempfile::TempDir, Lake, UnitRegistry, Catalog) {
        let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../..");
        let registry = UnitRegistry::load(&root.join("reference/admin-units")).unwrap();
        let catalog = Catalog::load(&root.join("catalog")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
        (dir, lake, registry, catalog)
    }

    async fn count(lake: &Lake, spec: &'static tonghop_lake::TableSpec) -> String {
        let sql = format!("SELECT count(*) FROM {}", spec.name);
        tonghop_lake::first_column_strings(&lake.query_table(spec, &sql, &[]).await.unwrap()).unwrap().remove(0)
    }

    /// A service killed after answering leaves its journal: one entry already committed (killed
    /// before deleting it), one cut short after its values (no `submissions` rows). The next start
    /// commits each submission exactly once.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_journal_of_a_killed_service_is_committed_once_at_the_next_start() {
        let (_dir, lake, registry, catalog) = empty_lake();

        let first = vec![checked(&lake, &registry, &catalog, "00004", 100), checked(&lake, &registry, &catalog, "00008", 200)];
        let second = vec![checked(&lake, &registry, &catalog, "00025", 300)];
        let waiting = |c: Vec<Checked>| c.into_iter().map(|checked| Waiting { checked, reply: oneshot::channel().0 }).collect::<Vec<_>>();
        let (first, second) = (write_group(&lake, &waiting(first)).await.unwrap(), write_group(&lake, &waiting(second)).await.unwrap());
        assert_eq!(lake.journal_paths().await.unwrap().len(), 2);
        let mut writer = SubmissionWriter::new(&lake);
        writer.commit_entry(first.entry.clone()).await.unwrap();
        lake.append(&tonghop_lake::tables::DATA_VALUES, vec![second.entry.values.clone()], "ingest").await.unwrap();
        assert_eq!(count(&lake, &tonghop_lake::tables::DATA_VALUES).await, "3", "two committed values and one of a cut commit");

        let changed = Arc::new(AtomicBool::new(false));
        let (committer, task) = Committer::start(lake.clone(), 16, 16, Arc::new(Metrics::default()), changed.clone()).await.unwrap();
        committer.flush().await.unwrap();
        assert!(changed.load(Ordering::Acquire), "the SQL session is told to reload");
        assert!(lake.journal_paths().await.unwrap().is_empty(), "the journal is emptied");
        assert_eq!(count(&lake, &tonghop_lake::tables::SUBMISSIONS).await, "3");
        assert_eq!(count(&lake, &tonghop_lake::tables::DATA_VALUES).await, "3", "each accepted value once");
        assert_eq!(count(&lake, &tonghop_lake::tables::REJECTIONS).await, "3", "each refused row once");

        // Sent again after the restart: a duplicate, nothing written.
        let again = committer.commit(checked(&lake, &registry, &catalog, "00025", 300)).await.unwrap_or_else(|_| panic!("refused"));
        assert!(again.duplicate);
        drop(committer);
        task.await.unwrap();
        assert_eq!(count(&lake, &tonghop_lake::tables::SUBMISSIONS).await, "3");
    }

    /// A journal grown by a run of crashes is committed a bounded number of entries at a time (each
    /// commit is progress a next crash keeps), and a flush waits for all of them.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_long_journal_is_committed_in_bounded_commits() {
        let (_dir, lake, registry, catalog) = empty_lake();
        let entries = 2 * ENTRIES_PER_COMMIT + 10;
        for n in 0..entries {
            let group = vec![Waiting { checked: checked(&lake, &registry, &catalog, "00004", n as u32), reply: oneshot::channel().0 }];
            write_group(&lake, &group).await.unwrap();
        }
        assert_eq!(lake.journal_paths().await.unwrap().len(), entries);

        let (committer, task) = Committer::start(lake.clone(), 16, 16, Arc::new(Metrics::default()), Arc::new(AtomicBool::new(false))).await.unwrap();
        committer.flush().await.unwrap();
        assert!(lake.journal_paths().await.unwrap().is_empty(), "the flush answered once the whole journal was in Delta");
        assert_eq!(count(&lake, &tonghop_lake::tables::SUBMISSIONS).await, entries.to_string());
        assert_eq!(count(&lake, &tonghop_lake::tables::DATA_VALUES).await, entries.to_string());
        let table = lake.open_table("tables", "submissions").await.unwrap().unwrap();
        assert_eq!(table.version(), Some(3), "created, then three commits of at most {ENTRIES_PER_COMMIT} entries");
        drop(committer);
        task.await.unwrap();
    }
}
