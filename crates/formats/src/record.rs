//! What every reader produces: [`Record`]s (one raw value each, not yet validated) and
//! [`Problem`]s (a row or cell that could not even be read), handed to a [`Sink`] as they are read
//! so that a large file is never held in memory.

use std::fmt;

/// Where in a submission a record or problem sits, for messages back to the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A line of a text file, 1-based, the header being line 1.
    Line(u64),
    /// A cell of a workbook, e.g. sheet `Bao_cao`, cell `D7`.
    Cell {
        /// Sheet name.
        sheet: String,
        /// A1-style cell address.
        cell: String,
    },
    /// A JSON path (`$[2].values[0]`) or XML path (`/adx/group[1]/dataValue[3]`).
    Path(String),
}

impl Location {
    /// The spreadsheet-style row number: the line, the cell's row, or 0 for a path.
    pub fn row(&self) -> i64 {
        match self {
            Location::Line(n) => *n as i64,
            Location::Cell { cell, .. } => cell.trim_start_matches(|c: char| c.is_ascii_alphabetic()).parse().unwrap_or(0),
            Location::Path(_) => 0,
        }
    }

    /// In Vietnamese, capitalised, for messages: `Dòng 12`, `Ô D7 (trang Bao_cao)`, `Vị trí $[2]`.
    pub fn vi(&self) -> String {
        match self {
            Location::Line(n) => format!("Dòng {n}"),
            Location::Cell { sheet, cell } => format!("Ô {cell} (trang {sheet})"),
            Location::Path(p) => format!("Vị trí {p}"),
        }
    }

    /// In English, for messages: `line 12`, `cell D7 of sheet Bao_cao`, `at $[2]`.
    pub fn en(&self) -> String {
        match self {
            Location::Line(n) => format!("line {n}"),
            Location::Cell { sheet, cell } => format!("cell {cell} of sheet {sheet}"),
            Location::Path(p) => format!("at {p}"),
        }
    }
}

impl fmt::Display for Location {
    /// The compact form stored in the lake: `12`, `Bao_cao!D7`, `$[2].values[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "{n}"),
            Location::Cell { sheet, cell } => write!(f, "{sheet}!{cell}"),
            Location::Path(p) => f.write_str(p),
        }
    }
}

/// One raw value as the sender wrote it, after id-scheme mapping, before validation.
/// Text fields are trimmed; the validator decides whether they are acceptable.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// Where it came from.
    pub location: Location,
    /// Period code as written (`202603`, `2026Q1`, ... or converted from an ADX interval).
    pub period: &'a str,
    /// Unit code (after mapping a DHIS2 uid, when a mapping is given).
    pub org_unit: &'a str,
    /// Data element code (after mapping).
    pub data_element: &'a str,
    /// Disaggregation; `None` means the default (no disaggregation).
    pub disaggregation: Option<&'a str>,
    /// The value as text (`""` for a deletion without a value).
    pub value: &'a str,
    /// Free-text comment.
    pub comment: Option<&'a str>,
    /// Who entered it, when the format says (DHIS2 `storedBy`).
    pub stored_by: Option<&'a str>,
    /// An explicit deletion (DHIS2 `deleted: true`).
    pub deleted: bool,
}

/// A row, cell or object that could not be read into a [`Record`] at all.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Where.
    pub location: Location,
    /// The field at fault, `*` for the whole row.
    pub field: String,
    /// The offending text, if any.
    pub value: Option<String>,
    /// Stable reason code, e.g. `row_unreadable`, `row_too_short`, `cell_not_numeric`.
    pub reason: &'static str,
    /// Full message in Vietnamese, starting with the location (`Dòng 12: ...`).
    pub message_vi: String,
    /// Full message in English, starting with the location (`line 12: ...`).
    pub message_en: String,
}

/// Receives what a reader reads, in file order.
pub trait Sink {
    /// One raw value.
    fn record(&mut self, record: &Record<'_>);
    /// One unreadable row or cell.
    fn problem(&mut self, problem: Problem);
}

/// A [`Sink`] that keeps everything, with owned strings: for tests and small files.
#[derive(Debug, Default)]
pub struct Collect {
    /// Records, owned.
    pub records: Vec<OwnedRecord>,
    /// Problems.
    pub problems: Vec<Problem>,
}

/// An owned [`Record`].
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedRecord {
    /// See [`Record::location`].
    pub location: Location,
    /// See [`Record::period`].
    pub period: String,
    /// See [`Record::org_unit`].
    pub org_unit: String,
    /// See [`Record::data_element`].
    pub data_element: String,
    /// See [`Record::disaggregation`].
    pub disaggregation: Option<String>,
    /// See [`Record::value`].
    pub value: String,
    /// See [`Record::comment`].
    pub comment: Option<String>,
    /// See [`Record::stored_by`].
    pub stored_by: Option<String>,
    /// See [`Record::deleted`].
    pub deleted: bool,
}

impl Sink for Collect {
    fn record(&mut self, r: &Record<'_>) {
        self.records.push(OwnedRecord {
            location: r.location.clone(),
            period: r.period.to_string(),
            org_unit: r.org_unit.to_string(),
            data_element: r.data_element.to_string(),
            disaggregation: r.disaggregation.map(str::to_string),
            value: r.value.to_string(),
            comment: r.comment.map(str::to_string),
            stored_by: r.stored_by.map(str::to_string),
            deleted: r.deleted,
        });
    }

    fn problem(&mut self, problem: Problem) {
        self.problems.push(problem);
    }
}
