//! The CSV writer.

use arrow::array::RecordBatch;
use arrow::csv::writer::Terminator;
use arrow::csv::writer::WriterBuilder;

use crate::{check_same_schema, Error, Result};

/// The UTF-8 byte-order mark that starts every CSV file written by [`to_csv`].
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Writes record batches as one CSV file.
///
/// The format:
///
/// - **UTF-8 with a byte-order mark** (`EF BB BF`). Excel on Vietnamese Windows
///   reads a CSV without a BOM in the legacy code page (Windows-1258), which turns
///   "Thành phố Hà Nội" into mojibake; with the BOM it reads UTF-8. Most CSV
///   libraries (Python's `utf-8-sig`, pandas, R's `readr`) skip it; strip it if a
///   consumer does not.
/// - A header row of the **column names** (not the Vietnamese labels: CSV is for
///   machines and portals), then one line per row.
/// - RFC 4180: comma separator, CRLF line ends, fields quoted only when they
///   contain a comma, quote or line break, quotes doubled.
/// - Numbers plainly, with `.` as decimal point and no thousands separator
///   (shortest round-tripping form: `97.5`, `1234`; very large or small floats
///   use exponent notation such as `1e20`; NaN is written `NaN`, infinities `inf`
///   and `-inf`).
/// - Dates as `YYYY-MM-DD`, timestamps as RFC 3339 (`2026-03-31T08:30:00`), booleans
///   `true`/`false`, nulls as empty fields.
///
/// Several batches are concatenated under one header. With no batches at all
/// there is no schema to take a header from, and the result is just the BOM.
///
/// # Errors
///
/// [`Error::UnsupportedType`] for nested columns (List, Struct, Map, ...),
/// [`Error::SchemaMismatch`] if the batches differ, [`Error::Csv`] if the writer
/// fails.
pub fn to_csv(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    check_same_schema(batches)?;
    if let Some(first) = batches.first() {
        for field in first.schema().fields() {
            if field.data_type().is_nested() {
                return Err(Error::UnsupportedType { column: field.name().clone(), data_type: field.data_type().clone(), format: "CSV" });
            }
        }
    }

    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(UTF8_BOM);
    let mut writer = WriterBuilder::new()
        .with_header(true)
        .with_delimiter(b',')
        .with_quote(b'"')
        .with_double_quote(true)
        .with_line_terminator(Terminator::CRLF)
        .with_null(String::new())
        .build(out);
    for batch in batches {
        writer.write(batch).map_err(Error::Csv)?;
    }
    Ok(writer.into_inner())
}
