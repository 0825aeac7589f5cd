//! Ingesting the files of an inbox (a folder or an object-store prefix).
//!
//! Four stages overlap: a reader fetches files and hashes them (a local inbox on one blocking
//! thread, an object store 64 files at a time) and hands them on in batches; a blocking thread
//! parses and validates them into Arrow columns; the calling task commits groups
//! of files to the lake; and a task of its own then moves each committed group's files to
//! `archive/YYYY/MM/DD/` (or an unreadable one to `failed/`, with an error report beside it)
//! while the next group is read and committed. Files whose content is already
//! committed are not read again, only moved. A crash at any point leaves each file committed or
//! not; the next run removes uncommitted rows, skips committed files and finishes the moves.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStoreExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tonghop_core::{Catalog, UnitRegistry};
use tonghop_formats::ReadOptions;
use tonghop_lake::{Lake, Location, Move};

use crate::commit::{FileOutcome, SubmissionWriter, ValueColumns};
use crate::submission::{read_submission, Incoming, ReadSettings};
use crate::{Error, IngestOptions, Result};

/// Files fetched at once from an object store.
const READ_CONCURRENCY: usize = 64;
/// Files handed from the fetching stage to the parsing thread at once.
const FETCH_BATCH: usize = 64;
/// Files larger than this are streamed from disk (local inboxes) instead of read into memory.
const STREAM_ABOVE_BYTES: u64 = 32 << 20;

/// What happened to one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    /// Where it was read from.
    pub source: String,
    /// Submission id, to look it up in `submissions` and `rejections`.
    pub submission_id: String,
    /// Format read.
    pub format: String,
    /// `accepted`, `partly_accepted`, `rejected`, `empty`, `refused`, `failed` or `already_ingested`.
    pub status: String,
    /// Values accepted.
    pub accepted: usize,
    /// Rows refused.
    pub rejected: usize,
    /// Refused rows by reason.
    pub by_reason: BTreeMap<String, usize>,
    /// Why the file could not be read at all.
    pub error: Option<String>,
    /// Where the file was moved, if it was.
    pub moved_to: Option<String>,
}

/// What an ingest run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IngestSummary {
    /// Files found in the inbox.
    pub files_seen: usize,
    /// Files committed in this run.
    pub files_ingested: usize,
    /// Files skipped because identical content was committed before (or twice in this inbox).
    pub files_already_ingested: usize,
    /// Files that could not be parsed at all (recorded with status `failed`).
    pub files_failed: usize,
    /// Files refused as a whole by `--strict`.
    pub files_refused: usize,
    /// Values accepted.
    pub rows_accepted: usize,
    /// Rows refused.
    pub rows_rejected: usize,
    /// Refused rows by reason code.
    pub rejected_by_reason: BTreeMap<String, usize>,
    /// Submission ids of interrupted earlier runs whose partial rows were removed.
    pub uncommitted_removed: usize,
    /// One report per file, in inbox order.
    pub files: Vec<FileReport>,
}

impl IngestSummary {
    /// The totals in one line, for logs and the command line.
    pub fn one_line(&self) -> String {
        format!(
            "{} files seen, {} ingested, {} already ingested, {} failed, {} refused; {} rows accepted, {} rejected",
            self.files_seen, self.files_ingested, self.files_already_ingested, self.files_failed, self.files_refused, self.rows_accepted, self.rows_rejected
        )
    }

    fn add(&mut self, f: &FileOutcome) {
        let mut by_reason = BTreeMap::new();
        for r in &f.rejections {
            *by_reason.entry(r.reason.to_string()).or_default() += 1;
            *self.rejected_by_reason.entry(r.reason.to_string()).or_default() += 1;
        }
        self.files_ingested += 1;
        self.files_failed += usize::from(f.error.is_some());
        self.files_refused += usize::from(f.refused);
        self.rows_accepted += if f.refused { 0 } else { f.accepted };
        self.rows_rejected += f.rejected;
        self.files.push(FileReport {
            source: f.source.clone(),
            submission_id: f.submission_id.clone(),
            format: f.format.clone(),
            status: f.status().to_string(),
            accepted: if f.refused { 0 } else { f.accepted },
            rejected: f.rejected,
            by_reason,
            error: f.error.clone(),
            moved_to: None,
        });
    }
}

/// A file fetched from the inbox.
struct Fetched {
    relative: String,
    incoming: Incoming,
    body: Body,
}

enum Body {
    Bytes(bytes::Bytes),
    File(std::path::PathBuf),
    /// Already committed: only to be moved.
    Known,
}

/// Turns what was read of a file into a [`Fetched`]: content committed before, or already seen
/// in this inbox, is only to be moved.
struct Labeller {
    known: HashSet<String>,
    seen_now: HashSet<String>,
    inbox_url: String,
    submitted_by: Option<String>,
}

impl Labeller {
    fn fetched(&mut self, rel: &str, meta: &ObjectMeta, hash: String, body: Body) -> Fetched {
        let body = if self.known.contains(&hash) || !self.seen_now.insert(hash.clone()) { Body::Known } else { body };
        Fetched {
            incoming: Incoming {
                source: format!("{}{rel}", self.inbox_url),
                name: rel.to_string(),
                content_hash: hash,
                received_at: meta.last_modified,
                submitted_by: self.submitted_by.clone(),
            },
            relative: rel.to_string(),
            body,
        }
    }
}

/// Lists the files below a local inbox folder as `object_store`'s local listing does (following
/// symbolic links, leaving out broken ones and its unfinished uploads, `name#123`), with each
/// file's path below the folder. One `statx` per file and none per folder entry: the store's
/// listing made three, and turned every path into a URL and back, 3.6 s of one core for the
/// whole country's 234,068 files. A folder that does not exist lists as empty, as in the store.
fn list_local(dir: &std::path::Path, prefix: &object_store::path::Path) -> std::io::Result<Vec<(String, ObjectMeta)>> {
    let mut files = Vec::new();
    let mut folders = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, rel)) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(std::io::Error::new(e.kind(), format!("{}: {e}", folder.display()))),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: the name is not UTF-8", path.display())));
            };
            let file_type = entry.file_type()?;
            let metadata = if file_type.is_symlink() { std::fs::metadata(&path) } else { entry.metadata() };
            let metadata = match metadata {
                Ok(metadata) => metadata,
                // Broken links, and files gone since the folder was read.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
            };
            let child = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            if metadata.is_dir() {
                // A link to the folder it is in, or to one above it, would list them round and
                // round (the store's listing fails on it): it is left out.
                if file_type.is_symlink() && std::fs::canonicalize(&folder)?.starts_with(std::fs::canonicalize(&path)?) {
                    continue;
                }
                folders.push((path, child));
            } else if metadata.is_file() && !is_unfinished_upload(&name) {
                let location = child.split('/').fold(prefix.clone(), |p, part| p.join(part));
                let last_modified = metadata.modified()?.into();
                files.push((child, ObjectMeta { location, last_modified, size: metadata.len(), e_tag: None, version: None }));
            }
        }
    }
    Ok(files)
}

/// Whether a file name is one of `object_store`'s unfinished uploads to a local folder
/// (`name#123`), which its listing leaves out.
fn is_unfinished_upload(name: &str) -> bool {
    name.split_once('#').is_some_and(|(_, suffix)| !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()))
}

/// The files of a batch up to the first that could not be fetched (included, to report it), and
/// whether there was one: nothing after it is fetched or handed on.
fn up_to_first_error(reads: impl Iterator<Item = Result<Fetched>>) -> (Vec<Result<Fetched>>, bool) {
    let mut batch = Vec::with_capacity(reads.size_hint().0);
    for read in reads {
        let failed = read.is_err();
        batch.push(read);
        if failed {
            return (batch, true);
        }
    }
    (batch, false)
}

/// Reads a file of a local inbox: into memory, or (when larger than [`STREAM_ABOVE_BYTES`]) only
/// hashed, to be streamed from disk when parsed.
fn read_local(path: &std::path::Path, size: u64) -> std::io::Result<(String, Body)> {
    if size > STREAM_ABOVE_BYTES {
        return Ok((hash_file(path)?, Body::File(path.to_path_buf())));
    }
    let bytes = std::fs::read(path)?;
    Ok((hex::encode(Sha256::digest(&bytes)), Body::Bytes(bytes.into())))
}

/// What the parsing thread hands to the committing task.
enum Step {
    /// Files handled (for progress).
    Progress(u64),
    /// Values of a huge file, appended before the file is committed.
    Append(arrow::array::RecordBatch),
    /// Commit these files (their values, if any, are in the batch).
    Commit(Option<arrow::array::RecordBatch>, Vec<(String, FileOutcome)>),
    /// Files already committed, to be moved.
    Known(Vec<(String, Incoming)>),
}

/// Ingests submissions into a lake.
pub struct Ingestor {
    lake: Lake,
    registry: Arc<UnitRegistry>,
    catalog: Arc<Catalog>,
    today: chrono::NaiveDate,
}

impl Ingestor {
    /// An ingestor checking against `registry` and `catalog` (progress forms against its plans);
    /// periods starting after `today` are refused.
    pub fn new(lake: Lake, registry: Arc<UnitRegistry>, catalog: Arc<Catalog>, today: chrono::NaiveDate) -> Self {
        Ingestor { lake, registry, catalog, today }
    }

    /// Ingests every file below `inbox` (hidden files and Office lock files `~$*` aside). Files whose
    /// content was already committed are skipped, so running twice over the same inbox changes
    /// nothing. `progress` is called with the number of files just handled.
    #[tracing::instrument(skip(self, options, progress), fields(inbox = %inbox.url()))]
    pub async fn ingest(&self, inbox: &Location, options: &IngestOptions, progress: &(dyn Fn(u64) + Sync)) -> Result<IngestSummary> {
        let mut summary = IngestSummary { uncommitted_removed: self.lake.remove_uncommitted().await?, ..Default::default() };
        let known = self.lake.committed_hashes().await?;
        let inbox_name = inbox.url().to_string();
        let inbox_error = |source| Error::Inbox { location: inbox_name.clone(), source };
        let store = inbox.store();
        // Each file's path below the inbox, with its size and time.
        let mut objects: Vec<(String, ObjectMeta)> = match inbox.local_dir() {
            Some(dir) => {
                let prefix = inbox.prefix().clone();
                tokio::task::spawn_blocking(move || list_local(&dir, &prefix))
                    .await
                    .map_err(|e| Error::Internal(format!("listing the inbox stopped: {e}")))?
                    .map_err(|source| inbox_error(object_store::Error::Generic { store: "local", source: Box::new(source) }))?
            }
            None => {
                let relative = |p: &object_store::path::Path| -> String {
                    p.as_ref().strip_prefix(inbox.prefix().as_ref()).unwrap_or(p.as_ref()).trim_start_matches('/').to_string()
                };
                let listed: Vec<ObjectMeta> = store.list(Some(inbox.prefix())).try_collect().await.map_err(inbox_error)?;
                listed.into_iter().map(|o| (relative(&o.location), o)).collect()
            }
        };
        objects.retain(|(rel, _)| {
            let name = rel.rsplit('/').next().unwrap_or_default();
            !name.starts_with('.') && !name.starts_with("~$") && options.only.as_ref().is_none_or(|only| only.contains(rel))
        });
        objects.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        summary.files_seen = objects.len();
        tracing::info!(files = objects.len(), known = known.len(), "inbox listed");
        let ingested_at = Utc::now();

        // Stage 1: fetch and hash, handing files on a batch at a time.
        let (fetched_tx, fetched_rx) = mpsc::channel::<Vec<Result<Fetched>>>(4);
        let inbox_url = inbox.url().to_string();
        let mut label = Labeller { known, seen_now: HashSet::new(), inbox_url: inbox_url.clone(), submitted_by: options.submitted_by.clone() };
        let fetcher = match inbox.local_dir() {
            // A local inbox is read on one blocking thread: its files are mostly small, and
            // reading one costs less than handing it between threads.
            Some(dir) => tokio::task::spawn_blocking(move || {
                for chunk in objects.chunks(FETCH_BATCH) {
                    let (batch, failed) = up_to_first_error(chunk.iter().map(|(rel, meta)| {
                        let read = read_local(&dir.join(rel), meta.size).map_err(|source| Error::Inbox {
                            location: inbox_url.clone(),
                            source: object_store::Error::Generic { store: "local", source: Box::new(source) },
                        });
                        read.map(|(hash, body)| label.fetched(rel, meta, hash, body))
                    }));
                    if fetched_tx.blocking_send(batch).is_err() || failed {
                        break;
                    }
                }
            }),
            None => tokio::spawn(async move {
                let mut reads = futures::stream::iter(objects)
                    .map(|(rel, meta)| {
                        let store = store.clone();
                        async move {
                            let bytes = store.get(&meta.location).await?.bytes().await?;
                            let hash = hex::encode(Sha256::digest(&bytes));
                            Ok::<_, object_store::Error>((rel, meta, hash, Body::Bytes(bytes)))
                        }
                    })
                    .buffered(READ_CONCURRENCY)
                    .ready_chunks(FETCH_BATCH);
                while let Some(reads) = reads.next().await {
                    let (batch, failed) = up_to_first_error(reads.into_iter().map(|read| {
                        read.map_err(|source| Error::Inbox { location: inbox_url.clone(), source })
                            .map(|(rel, meta, hash, body)| label.fetched(&rel, &meta, hash, body))
                    }));
                    if fetched_tx.send(batch).await.is_err() || failed {
                        break;
                    }
                }
            }),
        };

        // Stage 2: parse and validate on a blocking thread.
        let (step_tx, mut step_rx) = mpsc::channel::<Result<Step>>(4);
        let parser = {
            let (registry, catalog, today, options) = (self.registry.clone(), self.catalog.clone(), self.today, options.clone());
            tokio::task::spawn_blocking(move || parse_all(fetched_rx, step_tx, &registry, &catalog, today, &options, ingested_at))
        };

        // Stage 3: commit, then move (the moves on a task of their own, beside the next commit).
        let mut mover = Mover {
            inbox: inbox.clone(),
            archive: options.archive.clone(),
            failed: options.failed.clone(),
            day: self.today.format("%Y/%m/%d").to_string(),
            in_flight: None,
        };
        let mut result = Ok(());
        let mut writer = SubmissionWriter::new(&self.lake);
        // Handled files still in the inbox, with their line in `summary.files`.
        let mut to_move: Vec<(usize, Handled)> = Vec::new();
        while let Some(step) = step_rx.recv().await {
            let step = match step {
                Ok(step) => step,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            match step {
                Step::Progress(files) => progress(files),
                Step::Append(batch) => {
                    if let Err(e) = writer.append_values(batch).await {
                        result = Err(e);
                        break;
                    }
                }
                Step::Commit(values, files) => {
                    let outcomes: Vec<FileOutcome> = files.iter().map(|(_, f)| f.clone()).collect();
                    if let Err(e) = writer.commit(values, &outcomes, ingested_at).await {
                        result = Err(e);
                        break;
                    }
                    for (rel, outcome) in files {
                        summary.add(&outcome);
                        let error = outcome.error.clone();
                        to_move.push((summary.files.len() - 1, Handled { rel, submission_id: outcome.submission_id, error }));
                    }
                    // Committed files leave the inbox now, while the next files are parsed: a crash
                    // after this re-reads none of them.
                    mover.start(std::mem::take(&mut to_move), &mut summary).await?;
                }
                Step::Known(files) => {
                    for (rel, incoming) in files {
                        summary.files_already_ingested += 1;
                        to_move.push((summary.files.len(), Handled { rel, submission_id: incoming.submission_id().to_string(), error: None }));
                        summary.files.push(FileReport {
                            source: incoming.source.clone(),
                            submission_id: incoming.submission_id().to_string(),
                            format: String::new(),
                            status: "already_ingested".into(),
                            accepted: 0,
                            rejected: 0,
                            by_reason: BTreeMap::new(),
                            error: None,
                            moved_to: None,
                        });
                    }
                    // Files committed before are moved a thousand at a time.
                    if to_move.len() >= 1000 {
                        mover.start(std::mem::take(&mut to_move), &mut summary).await?;
                    }
                }
            }
        }
        if result.is_ok() {
            mover.start(to_move, &mut summary).await?;
        }
        // The last move is waited for even after a failed commit: its files were committed.
        let moved = mover.finish(&mut summary).await;
        drop(step_rx);
        fetcher.abort();
        let parsed = parser.await.map_err(|e| Error::Internal(format!("the parsing thread stopped: {e}")))?;
        result?;
        parsed?;
        moved?;
        tracing::info!(files = summary.files_ingested, accepted = summary.rows_accepted, rejected = summary.rows_rejected, "ingest committed");
        Ok(summary)
    }
}

/// Moves handled files out of the inbox (if the options say where), one group at a time on a
/// task of its own, so that moving the files of one commit overlaps reading and committing the
/// next (renaming the whole country's 234,068 files took about half of a local ingest's time
/// when it held up the next commit). Groups move in the order they were committed, each after
/// the one before it, so a name taken by an earlier group is seen by a later one.
struct Mover {
    inbox: Location,
    archive: Option<Location>,
    failed: Option<Location>,
    /// The archive's day folder, `YYYY/MM/DD`.
    day: String,
    /// The group being moved.
    in_flight: Option<tokio::task::JoinHandle<Result<Placed>>>,
}

/// Where the files of a group went: each one's line in the summary, and its new URL.
type Placed = Vec<(usize, String)>;

impl Mover {
    /// Waits for the group being moved (noting where its files went in `summary`), then starts
    /// moving `files`.
    async fn start(&mut self, files: Vec<(usize, Handled)>, summary: &mut IngestSummary) -> Result<()> {
        self.finish(summary).await?;
        if !files.is_empty() {
            let (inbox, archive, failed, day) = (self.inbox.clone(), self.archive.clone(), self.failed.clone(), self.day.clone());
            self.in_flight = Some(tokio::spawn(move_handled(inbox, archive, failed, files, day)));
        }
        Ok(())
    }

    /// Waits for the group being moved, if any, and notes where its files went in `summary`.
    async fn finish(&mut self, summary: &mut IngestSummary) -> Result<()> {
        let Some(moving) = self.in_flight.take() else { return Ok(()) };
        let placed = moving.await.map_err(|e| Error::Internal(format!("moving files out of the inbox stopped: {e}")))??;
        for (line, moved_to) in placed {
            if let Some(report) = summary.files.get_mut(line) {
                report.moved_to = Some(moved_to);
            }
        }
        Ok(())
    }
}

/// Moves handled files out of `inbox`: committed ones to `archive` (`<day>/<path>`), unreadable
/// ones to `failed` with an error report beside each; a target not given keeps its files where
/// they are. A file of the same name moved there before (e.g. a correction sent the same day) is
/// kept, and the later one gets its submission id in its name. Returns each moved file's line in
/// the summary (given with it) and the URL it went to.
async fn move_handled(inbox: Location, archive: Option<Location>, failed: Option<Location>, files: Vec<(usize, Handled)>, day: String) -> Result<Placed> {
    let mut placed_all = Vec::with_capacity(files.len());
    for (target, unreadable) in [(&archive, false), (&failed, true)] {
        let Some(target) = target else { continue };
        let these: Vec<&(usize, Handled)> = files.iter().filter(|(_, f)| f.error.is_some() == unreadable).collect();
        if these.is_empty() {
            continue;
        }
        let moves: Vec<Move> = these
            .iter()
            .map(|(_, f)| {
                let to = if unreadable { f.rel.clone() } else { format!("{day}/{}", f.rel) };
                let (stem, ext) = to.rsplit_once('.').filter(|(s, _)| !s.ends_with('/')).unwrap_or((&to, ""));
                let dot = if ext.is_empty() { "" } else { "." };
                let if_taken = format!("{stem}.{}{dot}{ext}", f.submission_id);
                Move { from: f.rel.clone(), to, if_taken }
            })
            .collect();
        let placed = inbox.move_many(&moves, target).await?;
        for ((line, f), target_rel) in these.into_iter().zip(placed) {
            if let Some(error) = &f.error {
                let rel = &f.rel;
                let report = format!(
                    "Tệp: {rel}\nKhông đọc được tệp này, không có số liệu nào được nhận. Lý do (tiếng Anh): {error}\nHãy sửa tệp theo mẫu rồi gửi lại.\n\n\
                     File: {rel}\nThis file could not be read; none of its figures were accepted. Reason: {error}\nFix the file and send it again.\n"
                );
                target.put(&format!("{target_rel}.error.txt"), report.into_bytes()).await?;
            }
            placed_all.push((*line, format!("{}{}", target.url(), target_rel)));
        }
    }
    Ok(placed_all)
}

/// A file handled by an ingest, to move out of the inbox.
struct Handled {
    /// Its path below the inbox.
    rel: String,
    submission_id: String,
    /// Why it could not be read, if it could not.
    error: Option<String>,
}

fn hash_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Stage 2: parses every fetched file, sending appends, commits and progress to stage 3.
fn parse_all(
    mut fetched: mpsc::Receiver<Vec<Result<Fetched>>>,
    steps: mpsc::Sender<Result<Step>>,
    registry: &UnitRegistry,
    catalog: &Catalog,
    today: chrono::NaiveDate,
    options: &IngestOptions,
    ingested_at: DateTime<Utc>,
) -> Result<()> {
    let settings =
        ReadSettings { read: ReadOptions { format: options.format, encoding: options.encoding, mapping: options.mapping.as_deref() }, strict: options.strict };
    // Sized for the first part of a large file; later batches are sized like the largest so far.
    let mut values = ValueColumns::with_capacity(ingested_at, options.commit_rows.clamp(1024, 1 << 16));
    let mut pending: Vec<(String, FileOutcome)> = Vec::new();
    let mut pending_rows = 0usize;
    // Files handled and not yet reported as progress.
    let mut unreported = 0u64;
    let send = |step: Result<Step>| steps.blocking_send(step).map_err(|_| Error::Internal("the committing task stopped".into()));
    while let Some(batch) = fetched.blocking_recv() {
        let handled = batch.len() as u64;
        let mut known = Vec::new();
        for item in batch {
            let file = match item {
                Ok(file) => file,
                Err(e) => {
                    send(Err(e))?;
                    return Ok(());
                }
            };
            let mut append_failed = false;
            let outcome = {
                let mut flush = |columns: &mut ValueColumns| {
                    let sent = columns.finish().map(|batch| send(Ok(Step::Append(batch))));
                    append_failed |= !matches!(sent, Ok(Ok(())));
                };
                match file.body {
                    Body::Known => {
                        known.push((file.relative, file.incoming));
                        continue;
                    }
                    Body::Bytes(bytes) => {
                        let mut reader: &[u8] = &bytes;
                        read_submission(&file.incoming, &mut reader, registry, catalog, today, &settings, &mut values, options.commit_rows, &mut flush)
                    }
                    Body::File(path) => match std::fs::File::open(&path) {
                        Ok(f) => {
                            let mut reader = std::io::BufReader::with_capacity(1 << 20, f);
                            read_submission(&file.incoming, &mut reader, registry, catalog, today, &settings, &mut values, options.commit_rows, &mut flush)
                        }
                        Err(e) => {
                            send(Err(Error::Internal(format!("{}: {e}", path.display()))))?;
                            return Ok(());
                        }
                    },
                }
            };
            if append_failed {
                return Err(Error::Internal("appending a part of a large file failed".into()));
            }
            pending_rows += outcome.rejections.len() + 1;
            pending.push((file.relative, outcome));
            if values.len() + pending_rows >= options.commit_rows {
                let batch = values.finish()?;
                send(Ok(Step::Commit(Some(batch), std::mem::take(&mut pending))))?;
                pending_rows = 0;
            }
        }
        if !known.is_empty() {
            send(Ok(Step::Known(known)))?;
        }
        // Progress never waits for a slot: counted here until one is free, so that the channel's
        // few slots hold work and parsing goes on while a commit is written.
        unreported += handled;
        match steps.try_send(Ok(Step::Progress(unreported))) {
            Ok(()) => unreported = 0,
            Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(Error::Internal("the committing task stopped".into())),
        }
    }
    if unreported > 0 {
        send(Ok(Step::Progress(unreported)))?;
    }
    if !pending.is_empty() {
        let batch = values.finish()?;
        send(Ok(Step::Commit(Some(batch), pending)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_inbox_lists_like_the_object_store() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        for (rel, body) in [("a.csv", "1"), ("b/x 1%.csv", "22"), ("b/c/d.json", "333"), (".hidden.csv", "4"), ("up.csv#17", "5"), ("up#x.csv", "6")] {
            let path = inbox.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(inbox.join("a.csv"), inbox.join("b/link.csv")).unwrap();
            std::os::unix::fs::symlink(inbox.join("gone.csv"), inbox.join("broken.csv")).unwrap();
            // A link to a folder above it is not followed; one to a folder elsewhere is.
            std::os::unix::fs::symlink(&inbox, inbox.join("b/c/up")).unwrap();
            std::fs::create_dir_all(dir.path().join("elsewhere")).unwrap();
            std::fs::write(dir.path().join("elsewhere/e.csv"), "55555").unwrap();
            std::os::unix::fs::symlink(dir.path().join("elsewhere"), inbox.join("b/there")).unwrap();
        }
        let location = Location::parse(inbox.to_str().unwrap()).unwrap();
        let ours = list_local(&inbox, location.prefix()).unwrap();
        let names: BTreeMap<String, u64> = ours.iter().map(|(rel, meta)| (rel.clone(), meta.size)).collect();
        let mut expected: Vec<(&str, u64)> = vec![("a.csv", 1), ("b/x 1%.csv", 2), ("b/c/d.json", 3), (".hidden.csv", 1), ("up#x.csv", 1)];
        if cfg!(unix) {
            expected.extend([("b/link.csv", 1), ("b/there/e.csv", 5)]);
        }
        let expected: BTreeMap<String, u64> = expected.into_iter().map(|(rel, size)| (rel.to_string(), size)).collect();
        assert_eq!(names, expected);
        let (_, meta) = ours.iter().find(|(rel, _)| rel == "b/c/d.json").unwrap();
        assert_eq!(meta.location, location.path("b/c/d.json"));
        let modified: DateTime<Utc> = std::fs::metadata(inbox.join("b/c/d.json")).unwrap().modified().unwrap().into();
        assert_eq!(meta.last_modified, modified);
        assert!(list_local(&dir.path().join("nowhere"), location.prefix()).unwrap().is_empty(), "a missing folder lists as empty");
    }
}
