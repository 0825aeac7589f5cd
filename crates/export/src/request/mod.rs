//! One implementation of each export, for the CLI and the pipeline alike.
//!
//! | request | CLI | pipeline step |
//! |---|---|---|
//! | [`ReportRequest`] | `tonghop export report` | `kind = "report"` |
//! | [`TableRequest`] | `tonghop export table` | `kind = "export"` |
//! | [`Dhis2Request`] | `tonghop export dhis2` | `kind = "dhis2"` |
//! | [`PortalRequest`] | `tonghop export portal` | `kind = "portal"` |
//! | [`ReviewRequest`] | `tonghop export review` | `kind = "review"` |
//!
//! A request says what to export and where. A pipeline step is one (its TOML fields are the
//! request's); the CLI builds one from its flags. [`problems`](TableRequest::problems) lists every
//! problem at once, each saying what to change; `run` checks them again, then reads through an
//! [`ExportContext`] (the session, the lake, where relative paths lead), writes each file with its
//! `<file>.versions.json` ([`crate::store_with_record`]) and records each push in `export_log`
//! ([`crate::push()`]). Both callers therefore write the same bytes and the same records.

mod dhis2;
mod portal;
mod report;
mod review;
mod table;

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use tonghop_core::{Catalog, RetryPolicy, UnitRegistry};
use tonghop_engine::Engine;
use tonghop_lake::{Lake, Location};

pub use self::dhis2::Dhis2Request;
pub use self::portal::PortalRequest;
pub use self::report::ReportRequest;
pub use self::review::ReviewRequest;
pub use self::table::TableRequest;
use crate::{Error, ExportLogEntry, ExportRecord, Result};

/// What a request is checked against (see `problems` of each request).
#[derive(Clone, Copy)]
pub struct Checks<'a> {
    /// The tables and models a session reads.
    pub known_tables: &'a [String],
    /// The units, when at hand: a unit that does not exist is then a problem too.
    pub registry: Option<&'a UnitRegistry>,
    /// The folder relative files (a DHIS2 id mapping) start from.
    pub files_root: &'a Path,
    /// Vietnam's date: relative periods are checked as they resolve today.
    pub today: NaiveDate,
}

/// What an export reads and where its relative paths lead.
pub struct ExportContext<'a> {
    /// The read session (latest, or as of a time or recorded versions).
    pub engine: &'a Engine,
    /// The lake (pushes append to its `export_log`).
    pub lake: &'a Lake,
    /// The administrative units.
    pub registry: &'a UnitRegistry,
    /// Indicators and targets, the plans and the documents' frames.
    pub catalog: &'a Catalog,
    /// The folder relative `to` paths start from: the current folder (CLI) or the lake root (pipeline).
    pub base: Location,
    /// Where files go when a request has no `to`: `.` (CLI) or `outbox` (pipeline), relative to `base`.
    pub default_to: String,
    /// The folder relative files a request names (a DHIS2 id mapping) start from: the current
    /// folder (CLI) or the project root (pipeline).
    pub files_root: PathBuf,
    /// Vietnam's date when the export runs: relative periods (`previous_quarter`) and dates on
    /// sheets are taken from it.
    pub today: NaiveDate,
    /// The instant the data stood at (now, or the `--as-of` time).
    pub produced_at: DateTime<Utc>,
    /// The `--as-of` given, if any (a time, or the sidecar file reused).
    pub as_of: Option<String>,
}

impl<'a> ExportContext<'a> {
    /// A pipeline's context: paths below the lake root, files by default in `outbox/`, mapping
    /// files relative to the project, the data as it is now.
    pub fn in_lake(engine: &'a Engine, lake: &'a Lake, registry: &'a UnitRegistry, catalog: &'a Catalog, project_root: &Path, today: NaiveDate) -> Self {
        ExportContext {
            engine,
            lake,
            registry,
            catalog,
            base: lake.root().clone(),
            default_to: "outbox".into(),
            files_root: project_root.to_path_buf(),
            today,
            produced_at: Utc::now(),
            as_of: None,
        }
    }

    /// The record written beside every file and carried by every push of an export.
    pub fn record(&self, export: String) -> ExportRecord {
        ExportRecord { export, produced_at: self.produced_at, as_of: self.as_of.clone(), versions: self.engine.versions().clone() }
    }

    /// Checks a request against this session: `f` gets the [`Checks`].
    pub fn check<T>(&self, f: impl FnOnce(&Checks<'_>) -> T) -> T {
        let known = self.engine.table_names();
        f(&Checks { known_tables: &known, registry: Some(self.registry), files_root: &self.files_root, today: self.today })
    }

    /// Where one file goes, from the request's `to` (see [`Bare`]).
    ///
    /// `to` ending in `/`, `.` or naming an existing local folder is a folder, the file named
    /// `default_name`; a last part with a dot is the file's name; otherwise `bare` decides.
    ///
    /// # Errors
    ///
    /// [`Error::Store`]-like errors of an unreadable location.
    pub fn target(&self, to: Option<&str>, default_name: &str, extension: &str, bare: Bare) -> Result<Target> {
        let to = to.unwrap_or(&self.default_to).trim();
        let is_dir = |path: &str| self.base.local_dir().is_some_and(|dir| dir.join(path).is_dir());
        if to.is_empty() || to == "." || to.ends_with('/') || is_dir(to) {
            return Ok(Target { folder: self.folder(to)?, name: default_name.to_string() });
        }
        let (parent, last) = match to.rsplit_once('/') {
            Some(("", last)) => ("/", last),
            Some((parent, last)) => (parent, last),
            None => (".", to),
        };
        match bare {
            _ if last.contains('.') => Ok(Target { folder: self.folder(parent)?, name: last.to_string() }),
            Bare::Folder => Ok(Target { folder: self.folder(to)?, name: default_name.to_string() }),
            Bare::Stem => Ok(Target { folder: self.folder(parent)?, name: format!("{last}.{extension}") }),
        }
    }

    /// A folder: a URL as given; a path relative to `base` (an absolute local path as given).
    fn folder(&self, folder: &str) -> Result<Location> {
        let location = if folder.contains("://") {
            Location::parse(folder)
        } else {
            match self.base.local_dir() {
                Some(dir) => Location::parse(&dir.join(folder).display().to_string()),
                None => self.base.join(folder),
            }
        };
        location.map_err(|source| Error::Lake { what: format!("the export folder {folder:?}"), source: Box::new(source) })
    }
}

/// What a `to` without a slash at the end nor a dot in its last part means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bare {
    /// A folder, the file named by the export (`to = "outbox/reports"` → `outbox/reports/bao_cao_04_2026Q1.xlsx`).
    Folder,
    /// A file name without its extension (`to = "outbox/province_indicators"` → `outbox/province_indicators.csv`).
    Stem,
}

/// Where one file goes.
#[derive(Debug, Clone)]
pub struct Target {
    /// The folder.
    pub folder: Location,
    /// The file's name in it.
    pub name: String,
}

impl Target {
    /// Writes the file and its `<name>.versions.json`; returns the file's URL.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] naming the path and the store.
    pub async fn store(&self, bytes: Vec<u8>, record: &ExportRecord) -> Result<String> {
        crate::store_with_record(&self.folder, &self.name, bytes, record).await
    }
}

/// What an export did.
#[derive(Debug, Clone)]
pub struct ExportOutcome {
    /// Lines for people, in order.
    pub lines: Vec<String>,
    /// URLs of the files written.
    pub files: Vec<String>,
    /// The pushes made, as recorded in `export_log`.
    pub pushes: Vec<ExportLogEntry>,
    /// What the export read (written beside each file, carried by each push).
    pub record: ExportRecord,
}

impl ExportOutcome {
    /// One line for a pipeline run's summary.
    pub fn summary(&self) -> String {
        self.lines.join("; ")
    }
}

/// Requests and waits of a push: `attempts` in all, waiting `delay_ms` before the second and twice
/// as long before each next one (at most a minute); each request limited to a minute. In a pipeline
/// step: `push_retry = { attempts = 5, delay_ms = 1000 }`; on the CLI: `--attempts`, `--retry-delay-ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushRetry {
    /// Requests in all (default 5).
    pub attempts: u32,
    /// Wait before the second request, in milliseconds (default 1000).
    pub delay_ms: u64,
}

impl Default for PushRetry {
    fn default() -> Self {
        PushRetry { attempts: 5, delay_ms: 1000 }
    }
}

impl PushRetry {
    /// As a [`RetryPolicy`].
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy { attempts: self.attempts.max(1), first_delay: std::time::Duration::from_millis(self.delay_ms), ..RetryPolicy::default() }
    }
}

/// The environment variable holding DHIS2's password when a user is given.
pub const DHIS2_PASSWORD_ENV: &str = "TONGHOP_DHIS2_PASSWORD";
/// The environment variable holding a DHIS2 personal access token.
pub const DHIS2_TOKEN_ENV: &str = "TONGHOP_DHIS2_TOKEN";
/// The environment variable holding a portal's bearer token.
pub const PORTAL_TOKEN_ENV: &str = "TONGHOP_PORTAL_TOKEN";

/// A secret from the environment. A variable named by the request must be set; the default one may
/// be missing (then `None`: no authentication).
fn secret(named: Option<&str>, default: &str, what: impl FnOnce() -> String) -> Result<Option<String>> {
    let variable = named.unwrap_or(default);
    match std::env::var(variable).ok().filter(|v| !v.is_empty()) {
        Some(value) => Ok(Some(value)),
        None if named.is_some() => Err(Error::MissingSecret { variable: variable.to_string(), what: what() }),
        None => Ok(None),
    }
}

/// Pushes and fails unless the target took the payload (the push is in `export_log` either way).
async fn push_accepted(lake: &Lake, request: &crate::Push) -> Result<ExportLogEntry> {
    let entry = crate::push(lake, request).await?;
    if !entry.succeeded() {
        return Err(Error::PushNotAccepted { line: entry.one_line(), export_id: entry.export_id.clone() });
    }
    Ok(entry)
}

/// Refuses a request with problems, listing them all.
fn refuse(what: &str, problems: Vec<String>) -> Result<()> {
    tonghop_core::Problems::from(problems).into_result().map_err(|problems| Error::Invalid { what: what.to_string(), problems })
}

/// The problem of a table name no session knows, with the closest known name.
fn unknown_table_problem(known: &[String], table: &str) -> Option<String> {
    (!known.iter().any(|t| t == table)).then(|| crate::extract::unknown_table(known, table).to_string())
}
