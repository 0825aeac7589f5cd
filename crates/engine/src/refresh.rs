//! Incremental refresh: which periods a build recomputes, and what the last build saw.
//!
//! Visible data changes when `data_values` gains or loses rows, or when a submission whose rows were
//! written earlier commits (rows of uncommitted submissions are never read, see [`tonghop_lake`]).
//! So a build reads, from the Delta log of `data_values`, the partitions (months) of the files
//! added or removed since the version the last successful build read (compactions, which only
//! rewrite rows, do not count), and adds the months of the values that build could not see yet
//! and whose submission has committed since ([`BuildState::pending_values`]): those months are
//! **dirty**. No value is read for it but those of the changed months, to note which are still
//! pending. Four more things make a month dirty:
//!
//! - it enters or leaves the reporting horizon (the `reporting_months` model: months every commune
//!   owes a report for), e.g. the first report of a new month makes the months before it that
//!   nobody reported due;
//! - a reporting deadline of that month (the `report_deadlines` model, `deadline_at`) passed since
//!   the last build, so its unreceived reports turn from pending to missing;
//! - a province of its epoch got its first data (the `reporting_provinces` model): every month of
//!   that epoch's horizon is dirty, since every period gains the province's units (for post-2025
//!   units that includes the months before the reform, which are expressed in them too);
//! - the reform weights (`reference/admin-units/reform_weights.csv`) changed: every month before
//!   2025-07-01 is dirty (its figures in today's units move), and nothing after it.
//!
//! The horizon and the coverage are models (`reporting_months`, `reporting_provinces`), and what they
//! read must be current before the scope is decided. So the materialised models they depend on (the
//! month-incremental `commune_months`) are refreshed first, over the months with changed data only:
//! nothing else changes them.
//!
//! The periods to recompute are every period containing a dirty month (the month, its quarter,
//! half year, nine months, year, and the years to date from that month on) and, when the next year
//! has reports, the same periods a year later (their previous-year comparison changed). Nothing
//! else is recomputed. Incremental models are computed in chunks (two per calendar year for
//! `period`, one per year's months for `month`, see [`Scope::chunks`]) and written in one commit
//! per model ([`tonghop_lake::ModelWriter`]).
//!
//! A build is full when asked (`tonghop build --full`), on the first build, when the project
//! (`sql/`, `catalog/`, `reference/`) or tonghop's version changed since the last build (see
//! [`fingerprint`]), or when the last build's `submissions` version can no longer be read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonghop_core::{Epoch, Period, PeriodType, Project};

use arrow::array::AsArray;

use crate::build::DEADLINES_MODEL;
use crate::models::Incremental;
use crate::{Engine, Error, Result};
use tonghop_lake::tables;

/// Where the build state lives, below the lake root.
pub const STATE_PATH: &str = "models/_build_state.json";

/// What the last successful build read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BuildState {
    /// [`fingerprint`] of the project the models were built with.
    pub fingerprint: String,
    /// Version of the `submissions` table the build read.
    pub submissions_version: i64,
    /// When the build started (deadlines passed after it are caught up by the next build).
    pub built_at: DateTime<Utc>,
    /// The reporting horizon: every month (`YYYYMM`, which also fixes the epoch) of `reporting_months`.
    pub reporting_months: BTreeSet<String>,
    /// The coverage: every `epoch/province_code` of `reporting_provinces`.
    #[serde(default)]
    pub reporting_provinces: BTreeSet<String>,
    /// [`reform_weights_hash`] of the weights the models were built with.
    #[serde(default)]
    pub reform_weights: String,
    /// Version of `data_values` the build read (-1: no table yet); `None` in a state written
    /// before it was kept (the next refresh then finds the new months by reading the values).
    #[serde(default)]
    pub data_values_version: Option<i64>,
    /// The values the build could not see: the ids of submissions with rows in `data_values` but
    /// none in `submissions` yet (being committed, or left by an interrupted ingest), each with the
    /// months of those rows. When such a submission is committed later, its months are refreshed
    /// although its values were written before that build. `None` in a state written before it
    /// was kept.
    #[serde(default)]
    pub pending_values: Option<BTreeMap<String, BTreeSet<String>>>,
}

/// The submissions committed since the last build (`submissions_at_last_build`: the table as it read it).
const NEW_IDS: &str = "SELECT submission_id FROM lake.submissions EXCEPT SELECT submission_id FROM submissions_at_last_build";
/// The submissions the last build read that are gone since.
const GONE_IDS: &str = "SELECT submission_id FROM submissions_at_last_build EXCEPT SELECT submission_id FROM lake.submissions";

/// What changed in the lake's data since the last build ([`Engine::new_data_months`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct NewData {
    /// The months whose visible values may have changed.
    pub months: BTreeSet<String>,
    /// How many submissions were committed since.
    pub submissions: usize,
    /// [`BuildState::pending_values`] as of this build.
    pub pending: BTreeMap<String, BTreeSet<String>>,
}

/// SHA-256 over tonghop's version and every file of `sql/`, `catalog/` and `reference/` (paths and
/// contents) but the reform weights: a change to any of them makes the next build full. A change of
/// the reform weights ([`reform_weights_hash`]) refreshes only the months before the reform. The
/// plans (`catalog/plans/`) and the documents' frames (`catalog/report_frames.csv`) are left out:
/// no stored model reads them (the plans' models are views, the frames are read by exports), so
/// adding a task or changing a signer must not rebuild every table.
pub fn fingerprint(project: &Project) -> Result<String> {
    let weights = reform_weights_path(project);
    let not_built_from = [tonghop_core::plans::plans_dir(&project.catalog_dir()), project.catalog_dir().join("report_frames.csv")];
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    for dir in [project.sql_dir(), project.catalog_dir(), project.reference_dir()] {
        let mut files = Vec::new();
        walk(&dir, &mut files)?;
        files.sort();
        for file in files.into_iter().filter(|f| *f != weights && !not_built_from.iter().any(|n| f.starts_with(n))) {
            let bytes = std::fs::read(&file).map_err(|source| Error::Io { path: file.display().to_string(), source })?;
            hasher.update(file.strip_prefix(project.root()).unwrap_or(&file).to_string_lossy().as_bytes());
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// `reference/admin-units/reform_weights.csv` of a project.
fn reform_weights_path(project: &Project) -> std::path::PathBuf {
    tonghop_core::reform::weights_path(&project.reference_dir().join("admin-units"))
}

/// SHA-256 of the reform weights file (empty when there is none). When it changes, the months before
/// 2025-07-01 are dirty: their figures in post-2025 units, the straddling periods and the periods a
/// year later (their comparisons) are recomputed, and nothing else.
pub fn reform_weights_hash(project: &Project) -> Result<String> {
    let path = reform_weights_path(project);
    if !path.exists() {
        return Ok(String::new());
    }
    let bytes = std::fs::read(&path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
    for entry in entries {
        let path = entry.map_err(|source| Error::Io { path: dir.display().to_string(), source })?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The periods a build recomputes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Every period to recompute (all types), by code.
    pub periods: BTreeSet<String>,
    /// The epochs of the dirty months (every epoch, in a full build): what an
    /// [`Incremental::Epoch`] model recomputes.
    pub epochs: BTreeSet<String>,
}

/// The epochs of `months` (codes YYYYMM; others are ignored).
fn epochs_of<'a>(months: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    months.into_iter().filter_map(|m| parse(m)).filter_map(|m| Epoch::for_period(&m).ok()).map(|e| e.as_str().to_string()).collect()
}

/// One piece of an incremental model's computation: the periods it writes, the months they are
/// made of, and the same periods a year earlier (what the refresh macros expand to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Periods written (the partitions replaced).
    pub periods: Vec<String>,
    /// Months of those periods.
    pub months: Vec<String>,
    /// The same periods a year earlier.
    pub previous: Vec<String>,
    /// Epochs recomputed whole (an [`Incremental::Epoch`] model's only chunk; empty otherwise).
    pub epochs: Vec<String>,
}

impl Chunk {
    /// The values of the partitions it writes in a model refreshed by `kind`.
    pub fn partitions(&self, kind: Incremental) -> &[String] {
        match kind {
            Incremental::Month | Incremental::Period => &self.periods,
            Incremental::Epoch => &self.epochs,
        }
    }

    /// What the refresh macros expand to over this chunk, in the order of [`crate::models::MACROS`].
    pub fn macro_lists(&self) -> [&[String]; 4] {
        [&self.months, &self.periods, &self.previous, &self.epochs]
    }
}

fn parse(code: &str) -> Option<Period> {
    code.parse().ok()
}

/// Every period of every type of `year` (a period that straddles the reform is computed in
/// post-2025 units, see `period_months`).
fn periods_of_year(year: i32) -> impl Iterator<Item = Period> {
    PeriodType::ALL.into_iter().flat_map(move |kind| Period::all_in_year(kind, year))
}

impl Scope {
    /// Everything: every period of every year that has a month in the reporting horizon.
    pub fn full(horizon: &BTreeSet<String>) -> Scope {
        let years: BTreeSet<i32> = horizon.iter().filter_map(|m| parse(m)).map(|m| m.year()).collect();
        Scope {
            periods: years.into_iter().flat_map(periods_of_year).map(|p| p.to_string()).collect(),
            epochs: Epoch::ALL.iter().map(|e| e.as_str().to_string()).collect(),
        }
    }

    /// The periods containing a dirty month, and the same periods a year later when that year has
    /// months in the reporting horizon.
    pub fn from_dirty_months<'a>(dirty: impl IntoIterator<Item = &'a String>, horizon: &BTreeSet<String>) -> Scope {
        let horizon_years: BTreeSet<i32> = horizon.iter().filter_map(|m| parse(m)).map(|m| m.year()).collect();
        let dirty: Vec<&String> = dirty.into_iter().collect();
        let mut periods = BTreeSet::new();
        for month in dirty.iter().filter_map(|m| parse(m)).filter(|m| m.kind() == PeriodType::Month) {
            for p in month.containing() {
                periods.insert(p.to_string());
                if let Some(next) = p.next_year().filter(|n| horizon_years.contains(&n.year())) {
                    periods.insert(next.to_string());
                }
            }
        }
        Scope { periods, epochs: epochs_of(dirty) }
    }

    /// The values of the partitions a model refreshed by `kind` replaces over the whole scope.
    pub fn partitions(&self, kind: Incremental) -> &BTreeSet<String> {
        match kind {
            Incremental::Month | Incremental::Period => &self.periods,
            Incremental::Epoch => &self.epochs,
        }
    }

    /// True when nothing is to be recomputed.
    pub fn is_empty(&self) -> bool {
        self.periods.is_empty()
    }

    /// The chunks an incremental model of `kind` is computed in. Periods never cross a year, so a
    /// year's periods need only that year's months: an [`Incremental::Period`] model is computed in
    /// two chunks per calendar year of the scope, its months, quarters and half years, then its
    /// nine months, year and years to date (each chunk reads the months it needs; halving a chunk
    /// halves the rows its aggregations hold at once, which grew when every period also came to be
    /// expressed in today's units). For [`Incremental::Month`] a chunk is the scope's months of one
    /// year, not its other periods.
    pub fn chunks(&self, kind: Incremental) -> Vec<Chunk> {
        let periods: Vec<Period> = self.periods.iter().filter_map(|p| parse(p)).collect();
        if kind == Incremental::Epoch {
            // The epochs of the dirty months, recomputed whole in one chunk.
            if self.epochs.is_empty() {
                return vec![];
            }
            return vec![Chunk { periods: vec![], months: vec![], previous: vec![], epochs: self.epochs.iter().cloned().collect() }];
        }
        let mut groups: BTreeMap<String, Vec<Period>> = BTreeMap::new();
        for p in periods {
            match kind {
                Incremental::Month if p.kind() != PeriodType::Month => {}
                Incremental::Month => groups.entry(p.year().to_string()).or_default().push(p),
                Incremental::Epoch => unreachable!("handled above"),
                Incremental::Period => {
                    let part = matches!(p.kind(), PeriodType::NineMonths | PeriodType::Year | PeriodType::YearToDate);
                    groups.entry(format!("{}/{}", p.year(), u8::from(part))).or_default().push(p)
                }
            }
        }
        groups
            .into_values()
            .map(|ps| {
                let months: BTreeSet<String> = ps.iter().flat_map(|p| p.months().map(|m| m.to_string()).collect::<Vec<_>>()).collect();
                Chunk {
                    periods: ps.iter().map(|p| p.to_string()).collect(),
                    months: months.into_iter().collect(),
                    previous: ps.iter().filter_map(|p| p.previous_year()).map(|p| p.to_string()).collect(),
                    epochs: vec![],
                }
            })
            .collect()
    }
}

impl Engine {
    /// The months whose visible values changed since `state`, how many submissions were committed
    /// since, and the values still waiting for their submission; `None` when the submissions
    /// version the last build read can no longer be read (the caller builds in full).
    ///
    /// A value is visible once its submission's row is committed (`sql/sources/data_values.sql`),
    /// so a month changed when `data_values` gained or lost rows in it (the partitions of the files
    /// the commits since the last build added or removed, read from the Delta log: no data is
    /// read), or when a submission whose values were written before the last build, and so were
    /// pending then ([`BuildState::pending_values`]), has been committed since. When the state does
    /// not say what was pending (written by an older tonghop) or the log since cannot be read, the
    /// months are those of the new submissions' values, read from `data_values`.
    pub(crate) async fn new_data_months(&self, state: &BuildState) -> Result<Option<NewData>> {
        let Some(before) = self.lake.open_table_at("tables", "submissions", state.submissions_version).await? else { return Ok(None) };
        let ctx = &self.ctx;
        ctx.register_table("submissions_at_last_build", before.table_provider().await?)?;
        let new_ids: BTreeSet<String> = self.strings(NEW_IDS).await?.into_iter().collect();
        // Rows of `submissions` are only ever appended; one gone (a restored lake) hides values
        // whose months only the values can tell.
        let gone = self.strings(GONE_IDS).await?;
        let found = self.changed_months(state, &new_ids, gone.is_empty()).await;
        let found = match found {
            Ok(Some(found)) => Ok(found),
            Ok(None) => self.months_of_submissions(new_ids.iter().chain(&gone).cloned().collect()).await.map(|months| (months, None)),
            Err(e) => Err(e),
        };
        ctx.deregister_table("submissions_at_last_build")?;
        let (months, pending) = found?;
        let pending = match pending {
            Some(pending) => pending,
            None => self.pending_values(None).await?,
        };
        Ok(Some(NewData { months, submissions: new_ids.len(), pending }))
    }

    /// The months with changed data read from the Delta log of `data_values` since the version
    /// `state` read, with the months of the values pending then whose submission is among
    /// `new_ids`, and the values pending now; `None` when the state does not say what was pending,
    /// the log since cannot be read, or `submissions` lost rows (`appended_only` false).
    async fn changed_months(
        &self,
        state: &BuildState,
        new_ids: &BTreeSet<String>,
        appended_only: bool,
    ) -> Result<Option<(BTreeSet<String>, Option<BTreeMap<String, BTreeSet<String>>>)>> {
        let (Some(values_then), Some(pending), true) = (state.data_values_version, &state.pending_values, appended_only) else { return Ok(None) };
        let values_now = self.versions.get(tables::DATA_VALUES.name).copied().unwrap_or(-1);
        let changed = if values_now > values_then {
            self.lake.changed_partitions(tables::DATA_VALUES.folder, tables::DATA_VALUES.name, "period", values_then, values_now).await?
        } else {
            Some(BTreeSet::new())
        };
        let Some(changed) = changed else {
            tracing::debug!(values_then, values_now, "the data_values log since the last build cannot be read: new months found from the values");
            return Ok(None);
        };
        let mut months = changed.clone();
        let mut still_pending = BTreeMap::new();
        for (id, its_months) in pending {
            if new_ids.contains(id) {
                months.extend(its_months.iter().cloned());
            } else {
                still_pending.insert(id.clone(), its_months.clone());
            }
        }
        for (id, its_months) in self.pending_values(Some(&changed)).await? {
            still_pending.entry(id).or_default().extend(its_months);
        }
        Ok(Some((months, Some(still_pending))))
    }

    /// The months holding values of the submissions `ids` (those committed or gone since the last
    /// build, while `submissions_at_last_build` is registered). A short list of ids is written
    /// out, so the scan skips the files and row groups whose submission_id statistics exclude them
    /// all (a subquery would read every row); not a long one (see `tonghop_lake::MAX_LISTED_IDS`).
    async fn months_of_submissions(&self, ids: Vec<String>) -> Result<BTreeSet<String>> {
        if ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let filter = if ids.len() <= tonghop_lake::MAX_LISTED_IDS {
            tonghop_core::sql::literal_list(&ids)
        } else {
            format!("SELECT submission_id FROM ({NEW_IDS}) AS n UNION ALL SELECT submission_id FROM ({GONE_IDS}) AS g")
        };
        Ok(self
            .strings(&format!("SELECT DISTINCT CAST(period AS VARCHAR) FROM lake.data_values WHERE submission_id IN ({filter})"))
            .await?
            .into_iter()
            .collect())
    }

    /// The submissions with rows in `data_values` but none in `submissions`, with the months of
    /// those rows: in the months `only_months`, or in every month.
    pub(crate) async fn pending_values(&self, only_months: Option<&BTreeSet<String>>) -> Result<BTreeMap<String, BTreeSet<String>>> {
        let months = match only_months {
            Some(m) if m.is_empty() => return Ok(BTreeMap::new()),
            Some(m) => format!("period IN ({}) AND", tonghop_core::sql::literal_list(m)),
            None => String::new(),
        };
        let sql = format!(
            "SELECT DISTINCT submission_id, CAST(period AS VARCHAR) FROM lake.data_values WHERE {months} submission_id NOT IN (SELECT submission_id FROM lake.submissions)"
        );
        let mut pending: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for batch in self.ctx.sql(&sql).await?.collect().await? {
            let ids = tonghop_lake::array_strings(batch.column(0))?;
            let months = tonghop_lake::array_strings(batch.column(1))?;
            for (id, month) in ids.into_iter().zip(months) {
                if let (Some(id), Some(month)) = (id, month) {
                    pending.entry(id).or_default().insert(month);
                }
            }
        }
        Ok(pending)
    }

    /// The months to refresh since `state`, and a one-line account of why: the months with new
    /// data (`new_data`, from [`Self::new_data_months`]), and the months that entered or left the
    /// horizon, whose deadline passed, or whose epoch gained or lost a province.
    pub(crate) async fn dirty_months(
        &self,
        state: &BuildState,
        new_data: &NewData,
        horizon: &BTreeSet<String>,
        coverage: &BTreeSet<String>,
        reform_weights: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(BTreeSet<String>, String)> {
        let mut dirty = new_data.months.clone();
        let (new_submissions, data_months) = (new_data.submissions, dirty.len());
        let horizon_changes: BTreeSet<String> = horizon.symmetric_difference(&state.reporting_months).cloned().collect();
        dirty.extend(horizon_changes.iter().cloned());
        let mut due = BTreeSet::new();
        if self.ctx.table_exist(DEADLINES_MODEL)? {
            let batches = self.ctx.sql(&format!("SELECT CAST(month AS VARCHAR), deadline_at FROM {DEADLINES_MODEL}")).await?.collect().await?;
            for batch in &batches {
                let months = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
                let months = months.as_string::<i32>();
                let at = arrow::compute::cast(batch.column(1), &arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None))?;
                let at = at.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
                for i in 0..batch.num_rows() {
                    let passed = at.value(i);
                    if passed > state.built_at.timestamp_micros() && passed <= now.timestamp_micros() && horizon.contains(months.value(i)) {
                        due.insert(months.value(i).to_string());
                    }
                }
            }
        }
        dirty.extend(due.iter().cloned());
        // A province joining (or leaving) an epoch changes every period expressed in its units:
        // in post-2025 units, the months before the reform too.
        let epoch_of = |key: &String| key.split('/').next().unwrap_or_default().to_string();
        let changed_epochs: BTreeSet<String> = coverage.symmetric_difference(&state.reporting_provinces).map(epoch_of).collect();
        let before_reform = |month: &String| month.parse::<tonghop_core::Period>().is_ok_and(|p| tonghop_core::Epoch::Pre2025.expresses(&p));
        for month in horizon {
            if changed_epochs.contains(tonghop_core::Epoch::Post2025.as_str())
                || (changed_epochs.contains(tonghop_core::Epoch::Pre2025.as_str()) && before_reform(month))
            {
                dirty.insert(month.clone());
            }
        }
        // New reform weights move every figure before the reform in today's units.
        let weights_changed = state.reform_weights != reform_weights;
        if weights_changed {
            dirty.extend(horizon.iter().filter(|m| before_reform(m)).cloned());
        }
        let reason = format!(
            "{new_submissions} new submission(s), values changed in {data_months} month(s); {} month(s) entered or left the reporting horizon; deadlines passed for {} month(s); provinces joined {} epoch(s){}",
            horizon_changes.len(),
            due.len(),
            changed_epochs.len(),
            if weights_changed { "; the reform weights changed" } else { "" }
        );
        Ok((dirty, reason))
    }

    /// What the last successful build read (none before the first build).
    pub async fn load_state(&self) -> Result<Option<BuildState>> {
        let Some(bytes) = self.lake.root().get(STATE_PATH).await? else { return Ok(None) };
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// `tonghop check`, the models' part: the build state against the project, the lake's
    /// `submissions` table and the model tables. Problems name the fix.
    pub async fn check_models(&self, project: &Project) -> Result<Vec<tonghop_lake::check::Finding>> {
        use tonghop_lake::check::Finding;
        let mut findings = Vec::new();
        let materialised: Vec<&str> = self.models.iter().filter(|m| m.is_table()).map(|m| m.name.as_str()).collect();
        let state = match self.lake.root().get(STATE_PATH).await? {
            None => {
                findings.push(Finding::note("no build yet (models/_build_state.json is missing): `tonghop build` makes the models".into()));
                return Ok(findings);
            }
            Some(bytes) => match serde_json::from_slice::<BuildState>(&bytes) {
                Ok(s) => s,
                Err(e) => {
                    findings.push(Finding::problem(format!("{STATE_PATH} cannot be read ({e}): run `tonghop build --full`")));
                    return Ok(findings);
                }
            },
        };
        if state.fingerprint != fingerprint(project)? {
            findings.push(Finding::note("sql/, catalog/ or reference/ changed since the last build: the next build is full".into()));
        }
        let current = self.lake.open_table("tables", "submissions").await?.map(|t| t.version().unwrap_or_default() as i64).unwrap_or(-1);
        if state.submissions_version > current {
            findings.push(Finding::problem(format!(
                "the last build read submissions version {}, but the table is at version {current}: the models hold data the lake does not (restored from an older copy?); run `tonghop build --full`",
                state.submissions_version
            )));
        }
        for name in materialised {
            if self.lake.open_table("models", name).await?.is_none() {
                findings.push(Finding::problem(format!("model {name} is materialised but models/{name} is missing: run `tonghop build --full`")));
            }
        }
        Ok(findings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_and_frames_do_not_change_the_fingerprint_but_the_catalog_does() {
        let dir = tempfile::tempdir().unwrap();
        for part in ["sql", "catalog/plans", "reference"] {
            std::fs::create_dir_all(dir.path().join(part)).unwrap();
        }
        let write = |path: &str, text: &str| std::fs::write(dir.path().join(path), text).unwrap();
        write("catalog/indicators.csv", "code\nA\n");
        let project = Project::open(dir.path()).unwrap();
        let before = fingerprint(&project).unwrap();
        write("catalog/plans/tasks.csv", "plan,number\nP,1\n");
        write("catalog/report_frames.csv", "epoch,unit_code\n");
        assert_eq!(fingerprint(&project).unwrap(), before);
        write("catalog/indicators.csv", "code\nA\nB\n");
        assert_ne!(fingerprint(&project).unwrap(), before);
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn months(from: &str, to: &str) -> BTreeSet<String> {
        let (a, b): (Period, Period) = (from.parse().unwrap(), to.parse().unwrap());
        (a.year()..=b.year())
            .flat_map(|y| (1..=12).map(move |m| Period::month(y, m)))
            .filter(|m| m.to_string() >= a.to_string() && m.to_string() <= b.to_string())
            .map(|m| m.to_string())
            .collect()
    }

    #[test]
    fn a_correction_to_march_recomputes_its_periods_and_nothing_else() {
        let horizon = months("202507", "202611");
        let scope = Scope::from_dirty_months(&set(&["202603"]), &horizon);
        let mut expected = set(&["202603", "2026Q1", "2026S1", "2026N9", "2026"]);
        expected.extend((3..=12).map(|m| format!("2026YTD{m:02}")));
        assert_eq!(scope.periods, expected);
    }

    #[test]
    fn a_correction_also_recomputes_the_next_year_when_it_has_reports() {
        let horizon = months("202507", "202703");
        let scope = Scope::from_dirty_months(&set(&["202611"]), &horizon);
        for p in ["202611", "2026Q4", "2026S2", "2026", "2026YTD11", "2026YTD12", "202711", "2027Q4", "2027S2", "2027", "2027YTD11", "2027YTD12"] {
            assert!(scope.periods.contains(p), "{p} missing from {:?}", scope.periods);
        }
        assert!(!scope.periods.contains("2026N9"), "November is not in the nine months");
        assert_eq!(scope.periods.len(), 12);
    }

    #[test]
    fn straddling_periods_are_refreshed_from_either_side_of_the_reform() {
        let horizon = months("202401", "202612");
        let after = Scope::from_dirty_months(&set(&["202508"]), &horizon);
        for p in ["202508", "2025Q3", "2025S2", "2025", "2025N9", "2025YTD08", "2025YTD12", "2026", "2026N9"] {
            assert!(after.periods.contains(p), "{p} missing from {:?}", after.periods);
        }
        assert!(!after.periods.contains("2025YTD07"), "July to date does not contain August");
        // A late correction to an old commune's March 2025 refreshes the straddling periods too, and
        // 2026's comparisons with them.
        let before = Scope::from_dirty_months(&set(&["202503"]), &horizon);
        for p in ["202503", "2025Q1", "2025S1", "2025N9", "2025", "2025YTD03", "2025YTD06", "2025YTD07", "2025YTD12", "2026Q1", "2026"] {
            assert!(before.periods.contains(p), "{p} missing from {:?}", before.periods);
        }
        assert!(!before.periods.contains("2025Q3") && !before.periods.contains("202507"));
    }

    #[test]
    fn chunks_are_months_or_years() {
        let horizon = months("202401", "202612");
        let scope = Scope::from_dirty_months(&set(&["202603", "202402"]), &horizon);
        let by_month = scope.chunks(Incremental::Month);
        assert_eq!(by_month.iter().map(|c| c.periods.join(",")).collect::<Vec<_>>(), vec!["202402", "202502", "202603"]);
        assert_eq!(by_month[2].months, vec!["202603"], "only the dirty month, not the months of its year");
        assert_eq!(by_month[2].previous, vec!["202503"]);
        let by_year = scope.chunks(Incremental::Period);
        assert_eq!(by_year.len(), 6, "2024, 2025 (a year after 2024) and 2026, two chunks each");
        let y2026 = by_year.iter().find(|c| c.periods.contains(&"2026".to_string())).unwrap();
        assert_eq!(y2026.months.len(), 12, "the year 2026 needs all its months");
        assert!(!y2026.periods.contains(&"2026Q1".to_string()), "quarters are in the other chunk");
        let q2026 = by_year.iter().find(|c| c.periods.contains(&"2026Q1".to_string())).unwrap();
        assert_eq!(q2026.months.len(), 6, "202603's month, quarter and half year need January to June");
        assert!(q2026.previous.contains(&"2025Q1".to_string()));
    }

    #[test]
    fn an_epoch_chunk_holds_the_epochs_of_the_dirty_months_only() {
        let horizon = months("202401", "202612");
        let epochs = |scope: &Scope| scope.chunks(Incremental::Epoch).into_iter().map(|c| c.epochs.join(",")).collect::<Vec<_>>();
        assert_eq!(epochs(&Scope::from_dirty_months(&set(&["202608"]), &horizon)), vec!["post2025"]);
        // 202503 also dirties 2026's periods (a year later), but the series of 2026 are unchanged.
        let before = Scope::from_dirty_months(&set(&["202503"]), &horizon);
        assert!(before.periods.contains("202603"));
        assert_eq!(epochs(&before), vec!["pre2025"]);
        assert_eq!(epochs(&Scope::from_dirty_months(&set(&["202506", "202507"]), &horizon)), vec!["post2025,pre2025"]);
        assert_eq!(epochs(&Scope::full(&months("202601", "202602"))), vec!["post2025,pre2025"], "a full build recomputes every epoch");
        assert!(Scope::from_dirty_months(&set(&[]), &horizon).chunks(Incremental::Epoch).is_empty());
        let chunk = &Scope::from_dirty_months(&set(&["202608"]), &horizon).chunks(Incremental::Epoch)[0];
        assert_eq!(chunk.partitions(Incremental::Epoch), ["post2025".to_string()]);
        assert!(chunk.periods.is_empty() && chunk.months.is_empty(), "an epoch is recomputed whole: no month or period list");
    }

    #[test]
    fn a_full_scope_covers_every_period_of_the_horizon_years() {
        let scope = Scope::full(&months("202601", "202602"));
        assert!(scope.periods.contains("202612") && scope.periods.contains("2026YTD12") && scope.periods.contains("2026N9"));
        assert!(!scope.periods.iter().any(|p| p.starts_with("2025")));
        let across = Scope::full(&months("202501", "202512"));
        assert!(across.periods.contains("2025") && across.periods.contains("2025N9") && across.periods.contains("2025YTD09"));
        assert_eq!(across.periods.len(), 12 + 4 + 2 + 1 + 1 + 12);
    }
}
