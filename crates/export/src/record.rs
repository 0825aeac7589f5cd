//! What an export read: the sidecar `<file>.versions.json` written beside every export.
//!
//! ```json
//! {
//!   "export": "report post2025:04 2026Q1",
//!   "produced_at": "2026-04-20T03:12:45.123456Z",
//!   "as_of": null,
//!   "versions": { "data_values": 4, "models.indicator_values": 2, "submissions": 4, ... }
//! }
//! ```
//!
//! `versions` are the Delta versions of every table the export's session read (lake tables by
//! name, materialised models as `models.<name>`); `produced_at` is the instant the data stood at
//! (the export time, or the `--as-of` time) and is the date printed on a report. Passing the file
//! back (`--as-of-versions <file>`) opens exactly those versions with `now()` at `produced_at`, and
//! gives the same content.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The versions an export read, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// What was exported, e.g. `report post2025:04 2026Q1` or `table indicator_values`.
    pub export: String,
    /// The instant the data stood at.
    pub produced_at: DateTime<Utc>,
    /// The `--as-of` given, if any (a time, or the sidecar file reused).
    pub as_of: Option<String>,
    /// Delta table → version read.
    pub versions: BTreeMap<String, i64>,
}

impl ExportRecord {
    /// The sidecar's name beside `file`: `<file>.versions.json`.
    pub fn sidecar_name(file: &str) -> String {
        format!("{file}.versions.json")
    }

    /// The record as pretty JSON (with a final newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a record serialises");
        out.push(b'\n');
        out
    }

    /// Parses a sidecar.
    ///
    /// # Errors
    ///
    /// [`Error::Record`] naming `source` (the file) and what is wrong.
    pub fn from_json(bytes: &[u8], source: &str) -> Result<ExportRecord> {
        serde_json::from_slice(bytes).map_err(|e| Error::Record { path: source.to_string(), reason: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let record = ExportRecord {
            export: "report post2025:04 2026Q1".into(),
            produced_at: "2026-04-20T03:12:45.123456Z".parse().unwrap(),
            as_of: None,
            versions: BTreeMap::from([("data_values".to_string(), 4), ("models.indicator_values".to_string(), 2)]),
        };
        assert_eq!(ExportRecord::from_json(&record.to_json(), "x").unwrap(), record);
        let err = ExportRecord::from_json(b"{\"versions\": 3}", "a.versions.json").unwrap_err().to_string();
        assert!(err.contains("a.versions.json"), "{err}");
    }
}
