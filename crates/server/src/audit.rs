//! The audit trail: who did what through the service, in the lake table `lake.audit` (schema in
//! [`tonghop_lake::tables::AUDIT`]).
//!
//! Requests hand entries to [`Audit::record`], which never waits: a background task appends
//! them to the table every `[audit] flush_seconds` (and at shutdown), in one commit per flush.
//! When the lake cannot be written, entries are kept and written at the next flush (up to
//! [`MAX_PENDING`]; past it the oldest are dropped, logged and counted in
//! `tonghop_audit_dropped_total`). Once a day, days older than `retention_days` are deleted.
//!
//! What is recorded: SQL queries (HTTP and PostgreSQL: caller, query text, rows returned,
//! duration, outcome), runs started (by the API or the scheduler) and how they ended, denied
//! requests and logins (with the client's address), and configuration reloads. Entries name
//! tokens and users by their names; a token or a password is never written.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tonghop_lake::{tables::AUDIT, Appender, Lake};

use crate::config::AuditConfig;

/// Entries kept in memory when the lake cannot be written.
pub const MAX_PENDING: usize = 100_000;

/// The longest query text kept (longer ones are cut, with a note of the full length).
const MAX_DETAIL: usize = 16 * 1024;

/// One thing done through the service.
#[derive(Debug, Clone)]
pub struct Entry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who: `token:<name>`, `pg:<user>`, `scheduler`, `anonymous`, `config`.
    pub actor: String,
    /// The caller's role, when known.
    pub role: Option<String>,
    /// `http`, `postgres` or `service`.
    pub endpoint: String,
    /// `sql`, `run`, `denied`, `config_reload`.
    pub action: String,
    /// The route, pipeline or login concerned.
    pub target: Option<String>,
    /// The query text, the reason of a denial, what a reload changed.
    pub detail: Option<String>,
    /// Rows returned.
    pub rows: Option<i64>,
    /// How long it took.
    pub duration_ms: Option<i64>,
    /// `ok`, `error` or `denied`.
    pub outcome: String,
    /// The error, when it failed.
    pub error: Option<String>,
    /// The client's address.
    pub client: Option<String>,
}

impl Entry {
    /// An entry of `action` by `actor` at `endpoint`, now, with outcome `ok`.
    pub fn new(actor: impl Into<String>, endpoint: &str, action: &str) -> Entry {
        Entry {
            at: Utc::now(),
            actor: actor.into(),
            role: None,
            endpoint: endpoint.into(),
            action: action.into(),
            target: None,
            detail: None,
            rows: None,
            duration_ms: None,
            outcome: "ok".into(),
            error: None,
            client: None,
        }
    }
}

enum Message {
    Entry(Box<Entry>),
    /// Answered with the write's error, if any (as text: every requester gets it).
    Flush(oneshot::Sender<Result<(), String>>),
}

/// The service's audit trail (a no-op when `[audit] enabled = false`).
pub struct Audit {
    tx: Option<mpsc::UnboundedSender<Message>>,
    dropped: Arc<AtomicU64>,
}

impl Audit {
    /// Starts the writer task on `lake`.
    pub fn start(lake: Lake, config: &AuditConfig) -> (Audit, Option<tokio::task::JoinHandle<()>>) {
        let dropped = Arc::new(AtomicU64::new(0));
        if !config.enabled {
            return (Audit { tx: None, dropped }, None);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer {
            appender: Appender::new(&lake, &AUDIT),
            lake,
            pending: std::collections::VecDeque::new(),
            dropped: dropped.clone(),
            retention_days: config.retention_days,
            last_trim: None,
        };
        let task = tokio::spawn(writer.run(rx, Duration::from_secs(config.flush_seconds)));
        (Audit { tx: Some(tx), dropped }, Some(task))
    }

    /// Records an entry (never waits; written at the next flush).
    pub fn record(&self, mut entry: Entry) {
        let Some(tx) = &self.tx else { return };
        if let Some(detail) = &mut entry.detail {
            if detail.len() > MAX_DETAIL {
                let full = detail.len();
                let mut cut = MAX_DETAIL;
                while !detail.is_char_boundary(cut) {
                    cut -= 1;
                }
                detail.truncate(cut);
                detail.push_str(&format!(" … (cut; {full} bytes in all)"));
            }
        }
        if tx.send(Message::Entry(Box::new(entry))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records a denied request or login.
    pub fn denied(&self, actor: &str, endpoint: &str, target: &str, why: &str, client: Option<&str>) {
        let mut entry = Entry::new(actor, endpoint, "denied");
        entry.target = Some(target.into());
        entry.outcome = "denied".into();
        entry.error = Some(why.into());
        entry.client = client.map(str::to_string);
        self.record(entry);
    }

    /// Writes every entry recorded so far to the lake, and waits for it.
    pub async fn flush(&self) -> Result<(), String> {
        let Some(tx) = &self.tx else { return Ok(()) };
        let (done, answer) = oneshot::channel();
        if tx.send(Message::Flush(done)).is_err() {
            return Ok(());
        }
        answer.await.unwrap_or(Ok(()))
    }

    /// Entries dropped since start (the lake could not be written for too long).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

struct Writer {
    lake: Lake,
    /// Kept open between flushes; its commits carry its own Delta application id (see [`Appender`]).
    appender: Appender,
    pending: std::collections::VecDeque<Entry>,
    dropped: Arc<AtomicU64>,
    retention_days: u32,
    last_trim: Option<std::time::Instant>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Message>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = rx.recv() => match message {
                    Some(Message::Entry(entry)) => self.keep(*entry),
                    Some(Message::Flush(done)) => {
                        // Everything sent before a flush request is in the channel ahead of it;
                        // flush requests that arrived meanwhile are answered by the same write.
                        let mut waiting = vec![done];
                        while let Ok(message) = rx.try_recv() {
                            match message {
                                Message::Entry(entry) => self.keep(*entry),
                                Message::Flush(done) => waiting.push(done),
                            }
                        }
                        let written = self.write().await.map_err(|e| e.to_string());
                        for done in waiting {
                            let _ = done.send(written.clone());
                        }
                    }
                    None => {
                        let _ = self.write().await;
                        return;
                    }
                },
                _ = tick.tick() => {
                    if let Err(e) = self.write().await {
                        tracing::warn!(error = %e, pending = self.pending.len(), "audit entries not written yet; trying again at the next flush");
                    }
                    self.trim().await;
                }
            }
        }
    }

    fn keep(&mut self, entry: Entry) {
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::error!(dropped, "audit entries dropped: the lake could not be written for too long");
            }
        }
        self.pending.push_back(entry);
    }

    #[tracing::instrument(skip(self), fields(entries = self.pending.len()))]
    async fn write(&mut self) -> tonghop_lake::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = to_batch(self.pending.make_contiguous())?;
        match self.appender.append(vec![batch], "audit").await {
            // The store applied the commit but its answer was lost: the entries are in, once.
            Ok(_) | Err(tonghop_lake::Error::CommitAnswerLost { .. }) => {
                self.pending.clear();
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes days older than the retention, at start and then once a day.
    async fn trim(&mut self) {
        if self.last_trim.is_some_and(|t| t.elapsed() < Duration::from_secs(24 * 3600)) {
            return;
        }
        self.last_trim = Some(std::time::Instant::now());
        let cutoff = (Utc::now() - chrono::Duration::days(i64::from(self.retention_days)))
            .with_timezone(&tonghop_core::period::vietnam_offset())
            .format("%Y-%m-%d")
            .to_string();
        match self.lake.delete(&AUDIT, &format!("day < '{cutoff}'")).await {
            Ok(()) => tracing::debug!(cutoff, "audit entries of days before the cutoff deleted"),
            Err(e) => tracing::warn!(error = %e, "old audit entries not deleted; trying again tomorrow"),
        }
    }
}

/// The entries as a batch of the audit table.
fn to_batch(entries: &[Entry]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let text = |f: &dyn Fn(&Entry) -> Option<&str>| Arc::new(entries.iter().map(f).collect::<StringArray>()) as ArrayRef;
    let number = |f: &dyn Fn(&Entry) -> Option<i64>| Arc::new(entries.iter().map(f).collect::<Int64Array>()) as ArrayRef;
    let at = TimestampMicrosecondArray::from(entries.iter().map(|e| e.at.timestamp_micros()).collect::<Vec<_>>()).with_timezone("UTC");
    let days: Vec<String> = entries.iter().map(|e| e.at.with_timezone(&tonghop_core::period::vietnam_offset()).format("%Y-%m-%d").to_string()).collect();
    RecordBatch::try_new(
        AUDIT.schema.clone(),
        vec![
            Arc::new(at),
            text(&|e| Some(&e.actor)),
            text(&|e| e.role.as_deref()),
            text(&|e| Some(&e.endpoint)),
            text(&|e| Some(&e.action)),
            text(&|e| e.target.as_deref()),
            text(&|e| e.detail.as_deref()),
            number(&|e| e.rows),
            number(&|e| e.duration_ms),
            text(&|e| Some(&e.outcome)),
            text(&|e| e.error.as_deref()),
            text(&|e| e.client.as_deref()),
            Arc::new(days.iter().map(|d| Some(d.as_str())).collect::<StringArray>()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_reach_the_table_and_old_days_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let (audit, task) = Audit::start(lake.clone(), &AuditConfig { enabled: true, retention_days: 365, flush_seconds: 3600 });
        let mut old = Entry::new("token:old", "http", "sql");
        old.at = Utc::now() - chrono::Duration::days(31);
        audit.record(old);
        let mut long = Entry::new("token:phan-tich", "http", "sql");
        long.detail = Some(format!("SELECT '{}'", "ư".repeat(MAX_DETAIL)));
        long.rows = Some(3);
        audit.record(long);
        audit.flush().await.unwrap();
        let count = |sql: &'static str| {
            let lake = lake.clone();
            async move { lake.query_table(&AUDIT, sql, &[]).await.unwrap().iter().map(|b| b.num_rows()).sum::<usize>() }
        };
        assert_eq!(count("SELECT * FROM audit").await, 2);
        assert_eq!(count("SELECT * FROM audit WHERE rows = 3 AND detail LIKE '% bytes in all)' AND length(detail) < 17000").await, 1);
        // A new writer trims at its first tick.
        drop(audit);
        task.unwrap().await.unwrap();
        let (audit, _) = Audit::start(lake.clone(), &AuditConfig { enabled: true, retention_days: 30, flush_seconds: 1 });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(count("SELECT * FROM audit WHERE actor = 'token:old'").await, 0);
        assert_eq!(count("SELECT * FROM audit").await, 1);
        drop(audit);
    }
}
