//! DHIS2 CSV data value sets: columns by position, as DHIS2 reads them.

use std::io::BufRead;

use tonghop_core::text::nfc;

use crate::text::{self, non_empty};
use crate::{Error, Format, Location, Record, Result, Sink};

use super::{attribute_unsupported, IdMapping, Ids};

/// DHIS2 CSV columns, by position.
const DATA_ELEMENT: usize = 0;
const PERIOD: usize = 1;
const ORG_UNIT: usize = 2;
const COMBO: usize = 3;
const ATTRIBUTE: usize = 4;
const VALUE: usize = 5;
const STORED_BY: usize = 6;
const COMMENT: usize = 8;
const DELETED: usize = 10;

/// The header of a DHIS2 CSV data value set, in DHIS2's column order: what DHIS2 writes, what
/// [`read_csv`] reads by position and what tonghop's DHIS2 export writes.
pub const CSV_COLUMNS: [&str; 10] =
    ["dataelement", "period", "orgunit", "categoryoptioncombo", "attributeoptioncombo", "value", "storedby", "lastupdated", "comment", "followup"];

/// Streams a DHIS2 CSV data value set. Columns are read by position, as DHIS2 does:
/// dataelement, period, orgunit, categoryoptioncombo, attributeoptioncombo, value, storedby,
/// lastupdated, comment, followup[, deleted]; the first line is skipped when its first field is
/// `dataelement`. Encodings and delimiters as for [`crate::csv_long`].
pub fn read_csv(
    source: &mut dyn BufRead,
    name: &str,
    encoding: Option<&'static encoding_rs::Encoding>,
    mapping: Option<&IdMapping>,
    sink: &mut dyn Sink,
) -> Result<()> {
    let ids = Ids(mapping);
    let mut rows = text::open(source, name, encoding, None)?;
    let mut first = true;
    while let Some((line, row)) = rows.next(sink)? {
        if std::mem::take(&mut first) {
            let head = row.get(0).unwrap_or("").trim().trim_start_matches('\u{FEFF}');
            if head.eq_ignore_ascii_case("dataelement") {
                continue;
            }
        }
        if row.len() <= VALUE {
            sink.problem(crate::csv_long::too_short(line, row, VALUE + 1));
            continue;
        }
        let field = |i: usize| row.get(i).unwrap_or("").trim();
        let location = Location::Line(line);
        let attribute = field(ATTRIBUTE);
        if !ids.attribute_ok(attribute) {
            sink.problem(attribute_unsupported(location, attribute));
            continue;
        }
        let comment = non_empty(field(COMMENT)).map(nfc);
        sink.record(&Record {
            location,
            period: field(PERIOD),
            org_unit: ids.org_unit(field(ORG_UNIT)),
            data_element: ids.data_element(field(DATA_ELEMENT)),
            disaggregation: ids.disaggregation(field(COMBO)),
            value: field(VALUE),
            comment: comment.as_deref(),
            stored_by: non_empty(field(STORED_BY)),
            deleted: field(DELETED).eq_ignore_ascii_case("true"),
        });
    }
    if first {
        return Err(Error::Unreadable { name: name.to_string(), format: Format::Dhis2Csv, reason: "the file is empty".to_string() });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ADX
