//! Lake maintenance (`tonghop maintain`, the pipeline step `kind = "maintain"`): what keeps a lake
//! fed by small submissions every day fast and bounded.
//!
//! For every Delta table, in this order:
//! 1. **compaction** (Delta OPTIMIZE) of the tables under `tables/`: the small files of each
//!    partition are rewritten as few large ones, in one commit that removes the small ones (readers
//!    of an older version still see those). Models are not compacted: a build writes each of their
//!    partitions whole;
//! 2. a **checkpoint** at the latest version, so that opening the table reads one Parquet file
//!    and the few commits after it instead of its whole log;
//! 3. **log clean-up**: commits older than the retention are deleted, down to the checkpoint that
//!    still reads every version within it;
//! 4. **VACUUM** (full mode): data files no version within the retention reads are deleted — files
//!    removed by compaction, by builds and by deletes more than the retention ago, and files a
//!    crashed writer left uncommitted that long.
//!
//! 5. when configured (`archive`, `archive_days`), the day folders of an inbox archive older than
//!    that many days are deleted.
//!
//! The retention is how far back `--as-of` can look: [`DEFAULT_RETENTION_DAYS`] (400 days, so that
//! every report of the past year, the annual one included, can be rebuilt as it was sent). Before
//! anything is deleted, `maintenance.json` at the lake root records from when the history is kept
//! ([`Lake::history`]); the engine refuses an `--as-of` older than that, naming the date.
//!
//! Writers keep writing meanwhile. Appends (ingest, the service's submission commits) never conflict
//! with a compaction; a delete of rows (crash clean-up) that removes a file the compaction rewrote
//! makes one of the two commits fail, and the compaction is then tried again on the new version.
//! Nothing written by others is lost either way: a commit that fails changes nothing.

use std::time::Instant;

use chrono::{DateTime, Utc};
use deltalake::{
    checkpoints::{cleanup_expired_logs_for, create_checkpoint},
    kernel::transaction::TransactionError,
    operations::vacuum::{Clock, VacuumMode},
    DeltaTable, DeltaTableError,
};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::{delta::commit_properties, Error, Lake, Result};

/// How long history is kept by default, in days: `--as-of` can look back this far.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;

/// The shortest retention accepted: files younger than a day may belong to a commit being written.
pub const MIN_RETENTION_DAYS: u32 = 1;

/// Where the lake records from when its history is kept.
const STATE: &str = "maintenance.json";

/// Times a compaction is tried when a concurrent delete made its commit conflict, or writers kept
/// taking the next version before it ([`COMMIT_RETRIES`] times).
const COMPACTION_ATTEMPTS: usize = 3;

/// Versions a compaction's commit steps over before giving up: a compaction takes a while, and
/// writers committing back to back (the service under load, an ingest) take the next version
/// again while it checks the ones before (delta-rs's default is 15).
const COMMIT_RETRIES: usize = 200;

/// What to do: the flags of `tonghop maintain`, and the settings of a `maintain` pipeline step
/// (`retention_days`, `compact`, `vacuum`; each optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaintainOptions {
    /// Days of history kept (at least [`MIN_RETENTION_DAYS`]).
    pub retention_days: u32,
    /// Compact the small files of the tables under `tables/`.
    pub compact: bool,
    /// Delete old commits and unreferenced files (log clean-up and VACUUM).
    pub vacuum: bool,
    /// An inbox archive (`<archive>/YYYY/MM/DD/…`, where ingest moves committed files: a folder,
    /// `file://` or `s3://` URL) whose day folders older than `archive_days` are deleted.
    pub archive: Option<String>,
    /// Days an archived file is kept (with `archive`); the received files of the service are kept.
    pub archive_days: Option<u32>,
    /// The clock (`None`: now). Tests move it forward to see what a later run deletes.
    #[serde(skip)]
    pub now: Option<DateTime<Utc>>,
}

impl MaintainOptions {
    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.retention_days < MIN_RETENTION_DAYS {
            return Some(format!(
                "retention_days = {} is too short: files younger than {MIN_RETENTION_DAYS} day may belong to a commit being written (the default, {DEFAULT_RETENTION_DAYS}, lets --as-of rebuild any report of the past year)",
                self.retention_days
            ));
        }
        match (&self.archive, self.archive_days) {
            (Some(_), None) => Some("archive is set without archive_days: say how many days archived files are kept".into()),
            (None, Some(_)) => Some("archive_days is set without archive: name the inbox archive to clean (e.g. \"archive\")".into()),
            (_, Some(0)) => Some("archive_days = 0 would delete what was archived today: keep files at least a day".into()),
            _ => None,
        }
    }
}

impl Default for MaintainOptions {
    fn default() -> Self {
        MaintainOptions { retention_days: DEFAULT_RETENTION_DAYS, compact: true, vacuum: true, archive: None, archive_days: None, now: None }
    }
}

/// What maintenance did to one table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableMaintained {
    /// `folder/name`.
    pub table: String,
    /// Live data files before and after.
    pub files_before: usize,
    /// Live data files after.
    pub files_after: usize,
    /// Small files the compaction rewrote, and the files it wrote.
    pub compacted: (u64, u64),
    /// The version checkpointed.
    pub checkpoint: Option<i64>,
    /// Commit files deleted from the log.
    pub log_files_removed: usize,
    /// Data files deleted by VACUUM.
    pub files_vacuumed: usize,
    /// How long it took, in milliseconds.
    pub millis: u128,
}

/// What maintenance did to the lake.
#[derive(Debug, Clone, Serialize)]
pub struct Maintained {
    /// Per table, in the order done.
    pub tables: Vec<TableMaintained>,
    /// Files deleted from the inbox archive (day folders older than `archive_days`).
    pub archived_files_deleted: usize,
    /// From when the history is kept (`None` while nothing was ever deleted).
    pub history: Option<History>,
}

impl Maintained {
    /// One line for logs and run summaries.
    pub fn one_line(&self) -> String {
        let sum = |f: fn(&TableMaintained) -> usize| self.tables.iter().map(f).sum::<usize>();
        format!(
            "{} tables maintained: live files {} → {} ({} small files compacted), {} commits and {} unreferenced files deleted; {}{}",
            self.tables.len(),
            sum(|t| t.files_before),
            sum(|t| t.files_after),
            self.tables.iter().map(|t| t.compacted.0).sum::<u64>(),
            sum(|t| t.log_files_removed),
            sum(|t| t.files_vacuumed),
            match &self.history {
                Some(h) => format!("history kept from {} ({} days)", h.kept_since.format("%Y-%m-%d %H:%M UTC"), h.retention_days),
                None => "all history kept".to_string(),
            },
            if self.archived_files_deleted > 0 { format!("; {} archived inbox files deleted", self.archived_files_deleted) } else { String::new() },
        )
    }
}

/// From when a lake's history is kept (`maintenance.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Versions committed before this instant may be gone: `--as-of` must not ask for them.
    pub kept_since: DateTime<Utc>,
    /// The retention of the last maintenance that deleted history.
    pub retention_days: u32,
    /// When that maintenance ran.
    pub maintained_at: DateTime<Utc>,
}

#[derive(Debug)]
struct FixedClock(i64);

impl Clock for FixedClock {
    fn current_timestamp_millis(&self) -> i64 {
        self.0
    }
}

impl Lake {
    /// From when this lake's history is kept; `None` while no maintenance has deleted any.
    pub async fn history(&self) -> Result<Option<History>> {
        let Some(bytes) = self.root().get(STATE).await? else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::Maintenance(format!("{STATE} is not the maintenance state tonghop writes: {e}")))
    }

    /// Maintains every Delta table of the lake (see the module's documentation). `progress` is
    /// told each table as it starts.
    #[tracing::instrument(skip(self, options, progress), fields(lake = %self.root().url(), retention_days = options.retention_days))]
    pub async fn maintain(&self, options: &MaintainOptions, progress: &(dyn Fn(&str) + Sync)) -> Result<Maintained> {
        if let Some(problem) = options.problem() {
            return Err(Error::Maintenance(problem));
        }
        let now = options.now.unwrap_or_else(Utc::now);
        let cutoff = now - chrono::Duration::days(i64::from(options.retention_days));
        // Recorded before anything is deleted: a look back is refused from now on, not after. A
        // shorter retention before left less: that stays.
        let history = match self.history().await? {
            Some(old) if !options.vacuum || old.kept_since >= cutoff => Some(old),
            None if !options.vacuum => None,
            _ => {
                let history = History { kept_since: cutoff, retention_days: options.retention_days, maintained_at: now };
                self.root().put(STATE, serde_json::to_vec_pretty(&history).expect("plain struct")).await?;
                Some(history)
            }
        };
        let mut tables = Vec::new();
        for (folder, name) in self.delta_tables().await? {
            progress(&format!("{folder}/{name}"));
            tables.push(self.maintain_table(&folder, &name, options, now, cutoff).await?);
        }
        let archived_files_deleted = match (&options.archive, options.archive_days) {
            (Some(archive), Some(days)) => clean_archive(&crate::Location::parse(archive)?, days, now).await?,
            _ => 0,
        };
        let maintained = Maintained { tables, history, archived_files_deleted };
        tracing::info!(summary = %maintained.one_line(), "lake maintained");
        Ok(maintained)
    }

    #[tracing::instrument(skip(self, options), fields(table = %format!("{folder}/{name}")))]
    async fn maintain_table(&self, folder: &str, name: &str, options: &MaintainOptions, now: DateTime<Utc>, cutoff: DateTime<Utc>) -> Result<TableMaintained> {
        let started = Instant::now();
        let loc = self.root().join(&format!("{folder}/{name}"))?;
        let err = || Lake::delta_error(name, &loc);
        let Some(mut table) = self.open_table(folder, name).await? else {
            return Ok(TableMaintained { table: format!("{folder}/{name}"), ..Default::default() });
        };
        let mut done = TableMaintained { table: format!("{folder}/{name}"), files_before: live_files(&table)?, ..Default::default() };
        if options.compact && folder == "tables" {
            for attempt in 1..=COMPACTION_ATTEMPTS {
                match table.clone().optimize().with_commit_properties(commit_properties("maintain").with_max_retries(COMMIT_RETRIES)).await {
                    Ok((compacted, metrics)) => {
                        done.compacted = (metrics.num_files_removed, metrics.num_files_added);
                        table = compacted;
                        break;
                    }
                    Err(DeltaTableError::Transaction { source: conflict @ (TransactionError::CommitConflict(_) | TransactionError::MaxCommitAttempts(_)) })
                        if attempt < COMPACTION_ATTEMPTS =>
                    {
                        tracing::info!(%conflict, attempt, "concurrent commits kept the compaction from committing; trying again on the new version");
                        table = self.open_table(folder, name).await?.ok_or_else(|| Error::Maintenance(format!("{folder}/{name} disappeared")))?;
                    }
                    Err(e) => return Err(err()(e)),
                }
            }
        }
        let version = table.version().unwrap_or_default();
        if version > 0 {
            create_checkpoint(&table, None).await.map_err(err())?;
            done.checkpoint = Some(version as i64);
        }
        if options.vacuum {
            done.log_files_removed = cleanup_expired_logs_for(version, table.log_store().as_ref(), cutoff.timestamp_millis(), None).await.map_err(err())?;
            let retention = now - cutoff;
            let (vacuumed, metrics) = table
                .vacuum()
                .with_retention_period(retention)
                .with_enforce_retention_duration(false)
                .with_mode(VacuumMode::Full)
                .with_clock(std::sync::Arc::new(FixedClock(now.timestamp_millis())))
                .with_commit_properties(commit_properties("maintain"))
                .await
                .map_err(err())?;
            done.files_vacuumed = metrics.files_deleted.len();
            table = vacuumed;
        }
        done.files_after = live_files(&table)?;
        done.millis = started.elapsed().as_millis();
        tracing::debug!(?done, "table maintained");
        Ok(done)
    }
}

/// Deletes the day folders (`YYYY/MM/DD/`) of an inbox archive more than `days` days before
/// `now`'s day in Vietnam (the day ingest named them by); anything else in it is left alone.
/// Returns how many files were deleted.
#[tracing::instrument(skip_all, fields(archive = %archive.url(), days))]
pub async fn clean_archive(archive: &crate::Location, days: u32, now: DateTime<Utc>) -> Result<usize> {
    let today = now.with_timezone(&tonghop_core::period::vietnam_offset()).date_naive();
    let oldest_kept = today - chrono::Duration::days(i64::from(days));
    let store = archive.store();
    let subfolders = |prefix: object_store::path::Path, digits: usize| {
        let store = store.clone();
        async move {
            let listed = store.list_with_delimiter(Some(&prefix)).await?;
            Ok::<_, Error>(
                listed
                    .common_prefixes
                    .into_iter()
                    .filter_map(|p| {
                        let name = p.filename()?;
                        let number = name.parse::<u32>().ok().filter(|_| name.len() == digits && name.bytes().all(|b| b.is_ascii_digit()))?;
                        Some((number, p))
                    })
                    .collect::<Vec<_>>(),
            )
        }
    };
    let mut old_days = Vec::new();
    for (year, y) in subfolders(archive.prefix().clone(), 4).await? {
        for (month, m) in subfolders(y, 2).await? {
            for (day, d) in subfolders(m, 2).await? {
                if chrono::NaiveDate::from_ymd_opt(year as i32, month, day).is_some_and(|date| date < oldest_kept) {
                    old_days.push(d);
                }
            }
        }
    }
    let mut deleted = 0;
    for day in old_days {
        let files: Vec<object_store::path::Path> = store.list(Some(&day)).map_ok(|m| m.location).try_collect().await?;
        deleted += files.len();
        store.delete_stream(futures::stream::iter(files.into_iter().map(Ok)).boxed()).try_collect::<Vec<_>>().await?;
        // A local folder keeps its emptied directories otherwise.
        if let Some(dir) = archive.local_dir() {
            let _ = std::fs::remove_dir_all(dir.join(day.as_ref().strip_prefix(archive.prefix().as_ref()).unwrap_or(day.as_ref()).trim_start_matches('/')));
        }
    }
    tracing::info!(deleted, %oldest_kept, "inbox archive cleaned");
    Ok(deleted)
}

fn live_files(table: &DeltaTable) -> Result<usize> {
    Ok(table.snapshot().map_err(|e| Error::Query(e.into()))?.log_data().iter().count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{delta::tests::values_of, tables, Appender};
    use std::collections::BTreeSet;

    fn lake(dir: &std::path::Path) -> Lake {
        Lake::open(dir.join("lake").to_str().unwrap()).unwrap()
    }

    /// `n` commits of two values each, submissions `<prefix>0`…, over `periods` in turn.
    async fn append_many(appender: &mut Appender, prefix: &str, n: usize, periods: &[&str]) {
        for i in 0..n {
            appender.append(vec![values_of(&format!("{prefix}{i}"), periods[i % periods.len()])], "ingest").await.unwrap();
        }
    }

    async fn count_and_sum(lake: &Lake) -> (i64, f64) {
        let batches = lake.query_table(&tables::DATA_VALUES, "SELECT count(*), sum(value) FROM data_values", &[]).await.unwrap();
        let b = &batches[0];
        let n = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(b.column(0)).value(0);
        let s = arrow::array::AsArray::as_primitive::<arrow::datatypes::Float64Type>(b.column(1)).value(0);
        (n, s)
    }

    fn data_files(lake: &Lake) -> usize {
        let dir = lake.root().local_dir().unwrap().join("tables/data_values");
        walk(&dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "parquet") && !p.to_string_lossy().contains("_delta_log")).count()
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir).unwrap().flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
    }

    #[tokio::test]
    async fn small_files_are_compacted_and_old_versions_stay_readable_until_the_retention_passes() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path());
        append_many(&mut Appender::new(&lake, &tables::DATA_VALUES), "s", 30, &["202601", "202602"]).await;
        let before = count_and_sum(&lake).await;
        let old = lake.open_table("tables", "data_values").await.unwrap().unwrap().version().unwrap() as i64;
        let old_time = Utc::now();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;

        let done = lake.maintain(&MaintainOptions::default(), &|_| ()).await.unwrap();
        let table = done.tables.iter().find(|t| t.table == "tables/data_values").unwrap();
        assert_eq!((table.files_before, table.files_after), (30, 2), "one file per partition");
        assert_eq!(table.compacted, (30, 2));
        assert_eq!(table.files_vacuumed, 0, "nothing is older than the retention");
        assert_eq!(count_and_sum(&lake).await, before);
        // The version before the compaction still reads (its files are kept for the retention).
        let at_old = lake.open_table_at("tables", "data_values", old).await.unwrap().unwrap();
        let ctx = deltalake::datafusion::prelude::SessionContext::new();
        ctx.register_table("dv", at_old.table_provider().await.unwrap()).unwrap();
        assert_eq!(ctx.sql("SELECT * FROM dv").await.unwrap().count().await.unwrap(), 60);
        assert_eq!(lake.version_at("tables", "data_values", old_time).await.unwrap(), Some(old));
        let history = lake.history().await.unwrap().unwrap();
        assert_eq!(history.retention_days, DEFAULT_RETENTION_DAYS);

        // 401 days later the small files, and the commits that named them, are gone; the data stays.
        let later = Utc::now() + chrono::Duration::days(401);
        let done = lake.maintain(&MaintainOptions { now: Some(later), ..MaintainOptions::default() }, &|_| ()).await.unwrap();
        let table = done.tables.iter().find(|t| t.table == "tables/data_values").unwrap();
        assert_eq!(table.files_vacuumed, 30, "{table:?}");
        assert!(table.log_files_removed >= 30, "{table:?}");
        assert_eq!(data_files(&lake), 2, "{:?}", walk(&lake.root().local_dir().unwrap().join("tables/data_values")));
        assert_eq!(count_and_sum(&lake).await, before);
        assert!(lake.history().await.unwrap().unwrap().kept_since > Utc::now(), "history is kept from 400 days before the maintenance's clock");
        let gone = lake.version_at("tables", "data_values", old_time).await.unwrap_err();
        assert!(matches!(gone, Error::HistoryGone { .. }), "{gone}");
        assert!(gone.to_string().contains("keeps no history before"), "{gone}");
    }

    #[tokio::test]
    async fn changed_partitions_name_the_appends_and_deletes_but_not_a_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path());
        let version = |lake: Lake| async move { lake.open_table("tables", "data_values").await.unwrap().unwrap().version().unwrap() as i64 };
        let changed = |after: i64, upto: i64| {
            let lake = lake.clone();
            async move { lake.changed_partitions("tables", "data_values", "period", after, upto).await.unwrap() }
        };
        let set = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>());
        append_many(&mut Appender::new(&lake, &tables::DATA_VALUES), "s", 6, &["202601", "202602"]).await;
        let first = version(lake.clone()).await;
        assert_eq!(changed(-1, first).await, set(&["202601", "202602"]), "from the table's creation");
        assert_eq!(changed(first, first).await, set(&[]), "nothing after the last version");

        lake.maintain(&MaintainOptions::default(), &|_| ()).await.unwrap();
        let compacted = version(lake.clone()).await;
        assert!(compacted > first, "the compaction committed");
        assert_eq!(changed(first, compacted).await, set(&[]), "a compaction rewrites rows, it changes none");

        append_many(&mut Appender::new(&lake, &tables::DATA_VALUES), "t", 1, &["202603"]).await;
        lake.delete(&tables::DATA_VALUES, "submission_id = 's1'").await.unwrap();
        let now = version(lake.clone()).await;
        assert_eq!(changed(first, now).await, set(&["202602", "202603"]), "an append, and a delete in 202602");

        // A commit cleaned out of the log: the range cannot be told.
        std::fs::remove_file(dir.path().join(format!("lake/tables/data_values/_delta_log/{:020}.json", first + 1))).unwrap();
        assert_eq!(changed(first, now).await, None);
    }

    #[tokio::test]
    async fn appends_during_maintenance_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path());
        append_many(&mut Appender::new(&lake, &tables::DATA_VALUES), "a", 20, &["202601"]).await;
        let writer = {
            let lake = lake.clone();
            tokio::spawn(async move {
                append_many(&mut Appender::new(&lake, &tables::DATA_VALUES), "b", 60, &["202601"]).await;
            })
        };
        // Passes a little apart (back to back, each commits every few milliseconds and a writer
        // can lose every one of its 15 attempts to them).
        let mut compacted = 0;
        while !writer.is_finished() {
            let done = lake.maintain(&MaintainOptions::default(), &|_| ()).await.unwrap();
            compacted += done.tables.iter().map(|t| t.compacted.0).sum::<u64>();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        writer.await.unwrap();
        assert!(compacted > 20, "the compactions ran while the appends did ({compacted} files compacted)");
        let ids = crate::first_column_strings(
            &lake.query_table(&tables::DATA_VALUES, "SELECT submission_id FROM data_values GROUP BY submission_id HAVING count(*) = 2", &[]).await.unwrap(),
        )
        .unwrap();
        assert_eq!(ids.len(), 80, "every appended submission once, with both its rows");
        assert_eq!(count_and_sum(&lake).await, (160, 240.0));
    }

    #[tokio::test]
    async fn commits_never_clean_the_log_so_a_look_back_past_30_days_reads() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path());
        let mut appender = Appender::new(&lake, &tables::DATA_VALUES);
        append_many(&mut appender, "s", 3, &["202601"]).await;
        // A checkpoint of version 3 (as delta-rs makes every 100 commits), then the log aged:
        // versions 0–2 written 40 days ago, version 3 and its checkpoint 33 days ago.
        let options = MaintainOptions { compact: false, vacuum: false, ..MaintainOptions::default() };
        lake.maintain(&options, &|_| ()).await.unwrap();
        let days_ago = |d: u64| std::time::SystemTime::now() - std::time::Duration::from_secs(d * 86_400);
        for file in walk(&lake.root().local_dir().unwrap().join("tables/data_values/_delta_log")) {
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            let age = if name.starts_with("00000000000000000003") || name == "_last_checkpoint" { 33 } else { 40 };
            std::fs::File::options().write(true).open(&file).unwrap().set_modified(days_ago(age)).unwrap();
        }
        // The next commit would delete versions 0–2 by delta-rs's default (older than 30 days,
        // before a checkpoint).
        appender.append(vec![values_of("s3", "202601")], "ingest").await.unwrap();
        let at = Utc::now() - chrono::Duration::days(35);
        assert_eq!(lake.version_at("tables", "data_values", at).await.unwrap(), Some(2), "the version of 35 days ago is still there");
        assert!(lake.history().await.unwrap().is_none(), "no maintenance deleted any history");
    }

    #[tokio::test]
    async fn archived_inbox_files_are_deleted_by_the_day_they_were_archived() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let now = Utc::now();
        let day = |days_ago: i64| {
            (now.with_timezone(&tonghop_core::period::vietnam_offset()).date_naive() - chrono::Duration::days(days_ago)).format("%Y/%m/%d").to_string()
        };
        for (folder, file) in
            [(day(0), "xa-00004.csv"), (day(30), "xa-00008.csv"), (day(31), "xa-00025.csv"), (day(400), "tinh/xa-00070.xlsx"), ("notes".into(), "readme.txt")]
        {
            std::fs::create_dir_all(archive.join(&folder).join(file).parent().unwrap()).unwrap();
            std::fs::write(archive.join(&folder).join(file), "x").unwrap();
        }
        let options = MaintainOptions { archive: Some(archive.to_str().unwrap().into()), archive_days: Some(30), now: Some(now), ..MaintainOptions::default() };
        let done = lake(dir.path()).maintain(&options, &|_| ()).await.unwrap();
        assert_eq!(done.archived_files_deleted, 2);
        let left: Vec<String> = walk(&archive).iter().map(|p| p.strip_prefix(&archive).unwrap().to_string_lossy().to_string()).collect();
        let mut left = left;
        left.sort();
        let mut kept = vec![format!("{}/xa-00004.csv", day(0)), format!("{}/xa-00008.csv", day(30)), "notes/readme.txt".to_string()];
        kept.sort();
        assert_eq!(left, kept, "the days within 30 days and what is not a day folder are kept");
        assert!(!archive.join(day(31)).exists(), "the emptied day folder is gone");
        let wrong = MaintainOptions { archive_days: Some(30), ..MaintainOptions::default() };
        assert!(wrong.problem().unwrap().contains("archive_days is set without archive"));
    }

    #[tokio::test]
    async fn a_retention_under_a_day_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = lake(dir.path()).maintain(&MaintainOptions { retention_days: 0, ..MaintainOptions::default() }, &|_| ()).await.unwrap_err();
        assert!(err.to_string().contains("retention_days = 0 is too short"), "{err}");
    }
}
