//! `tonghop check`, the lake's part: every Delta table's log readable, every live file present
//! with the size its log records and a Parquet file whole (its magic bytes at both ends; with
//! `deep`, every row decoded), every committed submission's accepted rows present in
//! `data_values` (or `task_progress`), and what is waiting (journal entries, rows of uncommitted submissions, leases).
//! The models' part (build state against the project and the models) is in the engine.

use std::collections::BTreeMap;

use futures::StreamExt;
use object_store::ObjectStoreExt;

use crate::{tables, Lake, Result};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing; nothing is wrong (e.g. journal entries the service will commit).
    Note,
    /// Something is wrong: data missing, unreadable or inconsistent.
    Problem,
}

/// One thing `check` found.
#[derive(Debug, Clone)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// What, naming the table, file or submission, and the fix when there is one.
    pub what: String,
}

impl Finding {
    /// Something wrong.
    pub fn problem(what: String) -> Finding {
        Finding { severity: Severity::Problem, what }
    }
    /// Something worth knowing.
    pub fn note(what: String) -> Finding {
        Finding { severity: Severity::Note, what }
    }
}

/// What the lake check saw.
#[derive(Debug, Default)]
pub struct LakeCheck {
    /// Delta tables found, by `folder/name`, with their version and live file count.
    pub tables: BTreeMap<String, (i64, usize)>,
    /// Everything found.
    pub findings: Vec<Finding>,
}

impl Lake {
    /// The Delta tables of the lake, as `(folder, name)`: folders below `tables/` and `models/`
    /// that hold a `_delta_log`.
    pub async fn delta_tables(&self) -> Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        for folder in ["tables", "models"] {
            let listing = self.root().store().list_with_delimiter(Some(&self.root().path(folder))).await?;
            for dir in listing.common_prefixes {
                let Some(name) = dir.filename().map(str::to_string) else { continue };
                if !crate::delta::log_objects(&self.table_location(folder, &name)?).await?.is_empty() {
                    found.push((folder.to_string(), name));
                }
            }
        }
        Ok(found)
    }

    /// Checks the lake (see the module's documentation).
    #[tracing::instrument(skip(self))]
    pub async fn check(&self, deep: bool) -> Result<LakeCheck> {
        let mut check = LakeCheck::default();
        // Tables with a problem (`folder/name`): what reads them is not checked further.
        let mut broken = std::collections::HashSet::new();
        for (folder, name) in self.delta_tables().await? {
            let key = format!("{folder}/{name}");
            let table = match self.open_table(&folder, &name).await {
                Ok(Some(t)) => t,
                Ok(None) => continue,
                Err(e) => {
                    check.findings.push(Finding::problem(format!("{key}: its Delta log cannot be read: {e}")));
                    broken.insert(key);
                    continue;
                }
            };
            let version = table.version().unwrap_or_default() as i64;
            let snapshot = match table.snapshot() {
                Ok(s) => s,
                Err(e) => {
                    check.findings.push(Finding::problem(format!("{key}: its snapshot cannot be read: {e}")));
                    broken.insert(key);
                    continue;
                }
            };
            let files: Vec<(object_store::path::Path, i64)> = snapshot.log_data().iter().map(|f| (f.object_store_path(), f.size())).collect();
            check.tables.insert(key.clone(), (version, files.len()));
            let store = table.object_store();
            let checks = futures::stream::iter(files.into_iter().map(|(path, size)| {
                let store = store.clone();
                async move { (path.clone(), file_problem(store.as_ref(), &path, size).await) }
            }))
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
            for (path, problem) in checks {
                if let Some(problem) = problem {
                    check.findings.push(Finding::problem(format!("{key} (version {version}): live file {path}: {problem}")));
                    broken.insert(key.clone());
                }
            }
            if deep && !broken.contains(&key) {
                if let Err(e) = self.read_every_row(&table).await {
                    check.findings.push(Finding::problem(format!("{key} (version {version}): its rows cannot all be read: {e}")));
                    broken.insert(key.clone());
                }
            }
        }
        let unreadable = ["tables/submissions", "tables/data_values", "tables/rejections"].iter().any(|t| broken.contains(*t));
        if unreadable {
            check.findings.push(Finding::note("committed submissions' rows not counted: mend the files above first".into()));
        } else {
            match self.check_submissions().await {
                Ok(found) => check.findings.extend(found),
                Err(e) => check.findings.push(Finding::problem(format!("committed submissions' rows cannot be counted: {e}"))),
            }
        }
        match self.check_waiting(!unreadable).await {
            Ok(found) => check.findings.extend(found),
            Err(e) => check.findings.push(Finding::problem(format!("the journal, uncommitted rows and leases cannot be read: {e}"))),
        }
        Ok(check)
    }

    /// Decodes every row of a table (the `deep` check).
    async fn read_every_row(&self, table: &deltalake::DeltaTable) -> Result<()> {
        let ctx = deltalake::datafusion::prelude::SessionContext::new();
        ctx.register_table("t", crate::scan_provider(table, &ctx.state())?)?;
        let mut stream = ctx.sql("SELECT * FROM t").await?.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            batch?;
        }
        Ok(())
    }

    /// Every committed submission has its accepted rows in `data_values` (or, for an agency's
    /// progress report, in `task_progress`).
    async fn check_submissions(&self) -> Result<Vec<Finding>> {
        if self.open_table("tables", "submissions").await?.is_none() {
            return Ok(Vec::new());
        }
        let ctx = deltalake::datafusion::prelude::SessionContext::new();
        for spec in [&*tables::SUBMISSIONS, &*tables::DATA_VALUES, &*tables::TASK_PROGRESS] {
            ctx.register_table(spec.name, self.provider(spec).await?)?;
        }
        let sql = "WITH found AS (SELECT submission_id, count(*) AS n FROM \
                       (SELECT submission_id FROM data_values UNION ALL SELECT submission_id FROM task_progress) AS r GROUP BY submission_id) \
                   SELECT s.submission_id, s.source, s.rows_accepted, coalesce(f.n, 0) AS found \
                   FROM submissions s LEFT JOIN found f ON f.submission_id = s.submission_id \
                   WHERE s.rows_accepted <> coalesce(f.n, 0) ORDER BY s.submission_id LIMIT 1000";
        let batches = ctx.sql(sql).await?.collect().await?;
        let mut findings = Vec::new();
        for batch in &batches {
            let cast = |i: usize| arrow::compute::cast(batch.column(i), &arrow::datatypes::DataType::Utf8);
            let (id, source, accepted, found) = (cast(0)?, cast(1)?, cast(2)?, cast(3)?);
            let text = |a: &arrow::array::ArrayRef, row: usize| arrow::array::AsArray::as_string::<i32>(a.as_ref()).value(row).to_string();
            for row in 0..batch.num_rows() {
                findings.push(Finding::problem(format!(
                    "submission {} ({}): {} rows accepted, {} in data_values and task_progress",
                    text(&id, row),
                    text(&source, row),
                    text(&accepted, row),
                    text(&found, row)
                )));
            }
        }
        Ok(findings)
    }

    /// Journal entries, rows of uncommitted submissions (when the tables can be read) and leases:
    /// notes, not problems.
    async fn check_waiting(&self, tables_readable: bool) -> Result<Vec<Finding>> {
        let mut findings = Vec::new();
        let journal = self.journal_paths().await?;
        if !journal.is_empty() {
            findings.push(Finding::note(format!(
                "{} journal entr{} of answered submissions not yet in the Delta tables: `tonghop serve` commits them when it starts",
                journal.len(),
                if journal.len() == 1 { "y" } else { "ies" }
            )));
        }
        let orphans = if tables_readable { self.orphan_submission_ids().await? } else { Default::default() };
        if !orphans.is_empty() {
            findings.push(Finding::note(format!(
                "rows of {} uncommitted submission(s) (an ingest was interrupted); they are invisible, and the next ingest removes them",
                orphans.len()
            )));
        }
        let leases = self.root().store().list(Some(&self.root().path("leases"))).collect::<Vec<_>>().await;
        for meta in leases {
            let meta = meta?;
            let Some(bytes) = self.root().store().get(&meta.location).await.ok() else { continue };
            let bytes = bytes.bytes().await?;
            match serde_json::from_slice::<crate::LeaseInfo>(&bytes) {
                Ok(info) if info.expires_at < chrono::Utc::now() => findings
                    .push(Finding::note(format!("lease {} of {} expired at {}: the next run takes it over", meta.location, info.holder, info.expires_at))),
                Ok(info) => findings.push(Finding::note(format!("lease {} is held by {} until {}", meta.location, info.holder, info.expires_at))),
                Err(e) => findings.push(Finding::problem(format!("lease {} cannot be read: {e}", meta.location))),
            }
        }
        Ok(findings)
    }
}

/// What is wrong with a live file: missing, of another size than its log says, or not a whole
/// Parquet file (`PAR1` at both ends).
async fn file_problem(store: &dyn object_store::ObjectStore, path: &object_store::path::Path, size: i64) -> Option<String> {
    let meta = match store.head(path).await {
        Ok(m) => m,
        Err(object_store::Error::NotFound { .. }) => return Some("missing".into()),
        Err(e) => return Some(format!("cannot be read: {e}")),
    };
    if meta.size as i64 != size {
        return Some(format!("{} bytes, its log says {size}", meta.size));
    }
    if size < 12 {
        return Some("too short to be a Parquet file".into());
    }
    let size = size as u64;
    let ends = async {
        let head = store.get_range(path, 0..4).await?;
        let tail = store.get_range(path, size - 4..size).await?;
        Ok::<_, object_store::Error>((head, tail))
    };
    match ends.await {
        Ok((head, tail)) if head.as_ref() == b"PAR1" && tail.as_ref() == b"PAR1" => None,
        Ok(_) => Some("not a whole Parquet file (no PAR1 magic at its ends)".into()),
        Err(e) => Some(format!("cannot be read: {e}")),
    }
}
