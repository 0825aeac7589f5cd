//! Every format a submission arrives in, read into raw [`Record`]s; and the blank XLSX report form
//! communes fill in. No validation and no storage here: `tonghop-ingest` checks the records and
//! commits them.
//!
//! | module | format |
//! |---|---|
//! | [`csv_long`] | the canonical long CSV (`period,org_unit,data_element,value[,disaggregation,comment]`), UTF-8 (BOM or not), UTF-16, Windows-1258; `,` `;` or tab |
//! | [`json`] | `{"period","org_unit","values":[{"data_element","value"}]}`, or an array of those |
//! | [`dhis2`] | DHIS2 data value sets as JSON, CSV and ADX XML, through an [`IdMapping`] |
//! | [`xlsx`] | workbooks: the long layout on a sheet, or the report form (one row per unit, one column per data element) |
//! | [`template`] | writes the report form for a province and a period |
//! | [`progress`] | the progress report form of the implementation plans: writes it for an agency, a plan and a period, recognises it and reads it back into raw, located cells |
//!
//! Readers stream into a [`Sink`]: a ten-million-row CSV is never held in memory.

pub mod csv_long;
mod detect;
pub mod dhis2;
mod error;
pub mod json;
pub mod progress;
mod record;
pub mod template;
mod text;
pub mod xlsx;

use std::io::BufRead;

pub use detect::detect;
pub use dhis2::{IdKind, IdMapping};
pub use error::{Error, Result};
pub use record::{Collect, Location, OwnedRecord, Problem, Record, Sink};

/// A submission format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Long CSV.
    Csv,
    /// Workbook, long layout.
    XlsxLong,
    /// Workbook, report form.
    XlsxForm,
    /// tonghop JSON.
    Json,
    /// DHIS2 data value set, JSON.
    Dhis2Json,
    /// DHIS2 data value set, CSV.
    Dhis2Csv,
    /// DHIS2 ADX XML.
    Adx,
}

impl Format {
    /// Every format, in the order `--format` lists them.
    pub const ALL: [Format; 7] = [Format::Csv, Format::XlsxLong, Format::XlsxForm, Format::Json, Format::Dhis2Json, Format::Dhis2Csv, Format::Adx];

    /// The name used on the command line and in the `submissions.format` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::XlsxLong => "xlsx-long",
            Format::XlsxForm => "xlsx-form",
            Format::Json => "json",
            Format::Dhis2Json => "dhis2-json",
            Format::Dhis2Csv => "dhis2-csv",
            Format::Adx => "adx",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown format \"{s}\"; expected one of {}", Format::ALL.map(Format::as_str).join(", ")))
    }
}

/// How to read one file.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions<'a> {
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// Force a text encoding (CSV formats) instead of detecting it.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// DHIS2 uid/code → tonghop code mapping. Without it, DHIS2 identifiers pass through unchanged.
    pub mapping: Option<&'a IdMapping>,
}

/// Reads one submission from `source` (a file's bytes, streamed), detecting its format from the
/// content and `name` unless `options.format` says, and hands every record and problem to `sink`.
/// Returns the format read. `Err` means the file as a whole cannot be read.
pub fn read(source: &mut dyn BufRead, name: &str, options: &ReadOptions<'_>, sink: &mut dyn Sink) -> Result<Format> {
    let format = match options.format {
        Some(f) => f,
        None => {
            let head = source.fill_buf().map_err(|source| Error::Io { name: name.to_string(), source })?;
            detect(head, name)?
        }
    };
    let _span = tracing::debug_span!("read", name, %format).entered();
    let read_all = |source: &mut dyn BufRead| {
        let mut bytes = Vec::new();
        source.read_to_end(&mut bytes).map(|_| bytes).map_err(|source| Error::Io { name: name.to_string(), source })
    };
    match format {
        Format::Csv => csv_long::read(source, name, options.encoding, sink).map(|()| format),
        Format::Dhis2Csv => dhis2::read_csv(source, name, options.encoding, options.mapping, sink).map(|()| format),
        Format::Json => json::read(&read_all(source)?, name, sink).map(|()| format),
        Format::Dhis2Json => dhis2::read_json(&read_all(source)?, name, options.mapping, sink).map(|()| format),
        Format::Adx => dhis2::read_adx(&read_all(source)?, name, options.mapping, sink).map(|()| format),
        Format::XlsxLong | Format::XlsxForm => xlsx::read(&read_all(source)?, name, options.format, sink),
    }
}
