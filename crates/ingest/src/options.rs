//! How to ingest: [`IngestOptions`], and [`InboxConfig`], the form a pipeline step or the command
//! line gives them in (paths and names, resolved against the project).

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use tonghop_formats::IdMapping;
use tonghop_lake::Location;

use crate::{Error, Result};

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Force a format instead of detecting it per file.
    pub format: Option<tonghop_formats::Format>,
    /// Force a text encoding (CSV formats).
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// DHIS2 id-scheme mapping.
    pub mapping: Option<Arc<IdMapping>>,
    /// Refuse a whole file when any of its rows is refused.
    pub strict: bool,
    /// Where committed files go (`<archive>/YYYY/MM/DD/<path in the inbox>`); `None` leaves them.
    pub archive: Option<Location>,
    /// Where unreadable files go, with `<name>.error.txt` beside; `None` leaves them.
    pub failed: Option<Location>,
    /// Only these paths (relative to the inbox); `None` for every file.
    pub only: Option<Vec<String>>,
    /// Rows (values + rejections) per commit: bounds memory.
    pub commit_rows: usize,
    /// Who sent the files, when known (recorded in `submissions.submitted_by`).
    pub submitted_by: Option<String>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            format: None,
            encoding: None,
            mapping: None,
            strict: false,
            archive: None,
            failed: None,
            only: None,
            commit_rows: 500_000,
            submitted_by: None,
        }
    }
}

/// An inbox as configured: where files come from, where they go, how they are read.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InboxConfig {
    /// A folder, `file://` or `s3://` URL.
    pub source: String,
    /// Where committed files go; default: the folder `archive` beside the inbox.
    #[serde(default)]
    pub archive: Option<String>,
    /// Where unreadable files go; default: the folder `failed` beside the inbox.
    #[serde(default)]
    pub failed: Option<String>,
    /// Leave files in the inbox (content hashes still prevent double ingestion).
    #[serde(default)]
    pub keep: bool,
    /// DHIS2 id-scheme mapping file (CSV `kind,dhis2,tonghop`), relative to the project.
    #[serde(default)]
    pub mapping: Option<String>,
    /// Force a format (`csv`, `xlsx-long`, `xlsx-form`, `json`, `dhis2-json`, `dhis2-csv`, `adx`).
    #[serde(default)]
    pub format: Option<String>,
    /// Force a text encoding (`utf-8`, `utf-16le`, `windows-1258`, ...).
    #[serde(default)]
    pub encoding: Option<String>,
    /// Refuse a whole file when any of its rows is refused.
    #[serde(default)]
    pub strict: bool,
}

impl InboxConfig {
    /// Every problem of the configuration at once (for `tonghop validate`), each saying the fix.
    pub fn problems(&self, project_root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(f) = &self.format {
            if let Err(e) = f.parse::<tonghop_formats::Format>() {
                out.push(e);
            }
        }
        if let Some(e) = &self.encoding {
            if encoding_rs::Encoding::for_label(e.as_bytes()).is_none() {
                out.push(format!("unknown encoding {e:?}; use e.g. utf-8, utf-16le or windows-1258"));
            }
        }
        if let Some(m) = &self.mapping {
            if let Err(e) = IdMapping::load(&project_root.join(m)) {
                out.push(format!("mapping: {e}"));
            }
        }
        out
    }

    /// The inbox location and the options to ingest it with.
    pub fn resolve(&self, project_root: &Path) -> Result<(Location, IngestOptions)> {
        let invalid = |message: String| Error::Config(message);
        let inbox = Location::parse(&self.source)?;
        let place = |given: &Option<String>, beside: &str| -> Result<Option<Location>> {
            if self.keep {
                return Ok(None);
            }
            Ok(Some(match given {
                Some(p) => Location::parse(p)?,
                None => inbox.sibling(beside)?,
            }))
        };
        let format = self.format.as_deref().map(str::parse).transpose().map_err(invalid)?;
        let encoding = match &self.encoding {
            Some(e) => Some(
                encoding_rs::Encoding::for_label(e.as_bytes())
                    .ok_or_else(|| invalid(format!("unknown encoding {e:?}; use e.g. utf-8, utf-16le or windows-1258")))?,
            ),
            None => None,
        };
        let mapping = match &self.mapping {
            Some(m) => Some(Arc::new(IdMapping::load(&project_root.join(m)).map_err(|e| invalid(format!("mapping: {e}")))?)),
            None => None,
        };
        let options = IngestOptions {
            format,
            encoding,
            mapping,
            strict: self.strict,
            archive: place(&self.archive, "archive")?,
            failed: place(&self.failed, "failed")?,
            ..IngestOptions::default()
        };
        Ok((inbox, options))
    }
}
