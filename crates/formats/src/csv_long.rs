//! The canonical long CSV: one value per row.
//!
//! ```text
//! period,org_unit,data_element,value,disaggregation,comment
//! 202603,00004,DS_TONG,12000,,
//! ```
//!
//! Columns are found by their header names, in any order, case-insensitive (`Org Unit`, `org_unit`
//! and `ORGUNIT` are the same column); `period`, `org_unit`, `data_element` and `value` are
//! required, `disaggregation` and `comment` optional, other columns ignored. Fields are separated
//! by `,`, `;` or tab (chosen from the header line). The text may be UTF-8 (with or without a BOM),
//! UTF-16 with a BOM (Excel's "Unicode text") or Windows-1258 (the Vietnamese code page, chosen
//! when the bytes are not UTF-8); free text comes out in NFC. The file is streamed: memory does
//! not grow with its length.

use std::io::BufRead;

use tonghop_core::text::nfc;

use crate::detect::normalise;
use crate::text::{self, non_empty, problem};
use crate::{Error, Format, Location, Record, Result, Sink};

/// Required columns, as written in messages.
const REQUIRED: [&str; 4] = ["period", "org_unit", "data_element", "value"];

/// Streams a long CSV into `sink`. `encoding` forces the text encoding (a byte order mark still
/// wins); without it the encoding is chosen from the first bytes.
///
/// ```
/// use tonghop_formats::{csv_long, Collect};
/// let mut sink = Collect::default();
/// let csv = "data_element;period;org_unit;value\nDS_TONG;202603;00004;12000\n";
/// csv_long::read(&mut csv.as_bytes(), "x.csv", None, &mut sink).unwrap();
/// assert_eq!(sink.records[0].org_unit, "00004");
/// ```
pub fn read(source: &mut dyn BufRead, name: &str, encoding: Option<&'static encoding_rs::Encoding>, sink: &mut dyn Sink) -> Result<()> {
    let unreadable = |reason: String| Error::Unreadable { name: name.to_string(), format: Format::Csv, reason };
    let mut rows = text::open(source, name, encoding, None)?;
    let Some((_, header)) = rows.next(sink)? else {
        return Err(unreadable("the file is empty".to_string()));
    };
    let columns = Columns::from_header(header).map_err(unreadable)?;
    let mut count = 0u64;
    while let Some((line, row)) = rows.next(sink)? {
        columns.row(line, row, sink);
        count += 1;
    }
    tracing::debug!(name, rows = count, "long CSV read");
    Ok(())
}

/// Where each column sits.
#[derive(Debug, Clone, Copy)]
struct Columns {
    period: usize,
    org_unit: usize,
    data_element: usize,
    value: usize,
    disaggregation: Option<usize>,
    comment: Option<usize>,
    /// Fields a row needs to reach every required column.
    needed: usize,
}

impl Columns {
    fn from_header(header: &csv::StringRecord) -> std::result::Result<Columns, String> {
        let names: Vec<String> = header.iter().map(|h| normalise(h.trim().trim_start_matches('\u{FEFF}'))).collect();
        let mut duplicates = Vec::new();
        let mut find = |wanted: &str| {
            let key = normalise(wanted);
            let mut hits = names.iter().enumerate().filter(|(_, n)| **n == key).map(|(i, _)| i);
            let first = hits.next();
            if hits.next().is_some() {
                duplicates.push(wanted.to_string());
            }
            first
        };
        let required = REQUIRED.map(&mut find);
        let disaggregation = find("disaggregation");
        let comment = find("comment");
        let missing: Vec<&str> = REQUIRED.iter().zip(required).filter(|(_, i)| i.is_none()).map(|(n, _)| *n).collect();
        let found = || header.iter().map(|h| format!("\"{}\"", h.trim())).collect::<Vec<_>>().join(", ");
        if !missing.is_empty() {
            return Err(format!(
                "missing column{} {}; the header line has {}; a long CSV needs the columns period, org_unit, data_element, value (and may have disaggregation, comment)",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
                found()
            ));
        }
        if !duplicates.is_empty() {
            return Err(format!("column {} appears more than once in the header line {}", duplicates.join(", "), found()));
        }
        let [Some(period), Some(org_unit), Some(data_element), Some(value)] = required else {
            return Err(format!("the header line {} lacks a required column", found()));
        };
        let needed = [period, org_unit, data_element, value].into_iter().max().unwrap_or(0) + 1;
        Ok(Columns { period, org_unit, data_element, value, disaggregation, comment, needed })
    }

    fn row(&self, line: u64, row: &csv::StringRecord, sink: &mut dyn Sink) {
        if row.len() < self.needed {
            sink.problem(too_short(line, row, self.needed));
            return;
        }
        let field = |i: usize| row.get(i).unwrap_or("").trim();
        let optional = |i: Option<usize>| i.and_then(|i| row.get(i)).and_then(non_empty).map(nfc);
        let disaggregation = optional(self.disaggregation);
        let comment = optional(self.comment);
        sink.record(&Record {
            location: Location::Line(line),
            period: field(self.period),
            org_unit: field(self.org_unit),
            data_element: field(self.data_element),
            disaggregation: disaggregation.as_deref(),
            value: field(self.value),
            comment: comment.as_deref(),
            stored_by: None,
            deleted: false,
        });
    }
}

/// `row_too_short`: the row ends before the last required column.
pub(crate) fn too_short(line: u64, row: &csv::StringRecord, needed: usize) -> crate::Problem {
    let has = row.len();
    problem(
        Location::Line(line),
        "*",
        Some(text::shorten(&row.iter().collect::<Vec<_>>().join(","))),
        "row_too_short",
        format!("thiếu cột (có {has} cột, cần {needed})"),
        format!("too few columns (has {has}, needs {needed})"),
    )
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use super::*;
    use crate::{Collect, Problem};

    fn read_bytes(bytes: &[u8], encoding: Option<&'static encoding_rs::Encoding>) -> Result<Collect> {
        let mut sink = Collect::default();
        read(&mut &bytes[..], "t.csv", encoding, &mut sink)?;
        Ok(sink)
    }

    fn ok(bytes: &[u8]) -> Collect {
        read_bytes(bytes, None).unwrap_or_else(|e| panic!("{e}"))
    }

    fn reasons(problems: &[Problem]) -> Vec<(u64, &str)> {
        problems.iter().map(|p| (p.location.row() as u64, p.reason)).collect()
    }

    #[test]
    fn comma_any_order_optional_columns() {
        let sink = ok(b"Value, Data_Element ,ORG UNIT,period,extra,comment,disaggregation\n\
            12000,DS_TONG,00004,202603,x,,\n\
            \n\
            ,,,,,,\n\
            \" 350 \",KCB_TONG,00004,202603,x,  ghi ch\xC3\xBA ,nam\n");
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        let r = &sink.records;
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].location, Location::Line(2));
        assert_eq!((r[0].period.as_str(), r[0].org_unit.as_str(), r[0].data_element.as_str(), r[0].value.as_str()), ("202603", "00004", "DS_TONG", "12000"));
        assert_eq!((r[0].comment.as_deref(), r[0].disaggregation.as_deref()), (None, None));
        assert_eq!(r[1].location, Location::Line(5));
        assert_eq!(r[1].value, "350");
        assert_eq!(r[1].comment.as_deref(), Some("ghi chú"));
        assert_eq!(r[1].disaggregation.as_deref(), Some("nam"));
    }

    #[test]
    fn semicolon_and_crlf() {
        let sink = ok("\u{FEFF}period;org_unit;data_element;value;comment\r\n202603;00004;DS_TONG;12,5;Trạm y tế\r\n".as_bytes());
        assert_eq!(sink.records.len(), 1);
        assert_eq!(sink.records[0].value, "12,5");
        assert_eq!(sink.records[0].comment.as_deref(), Some("Trạm y tế"));
    }

    #[test]
    fn utf16le_tab_separated() {
        // What Excel writes as "Unicode text": UTF-16LE with a BOM, tab-separated, CRLF.
        let text = "period\torg_unit\tdata_element\tvalue\tcomment\r\n202603\t00004\tDS_TONG\t12000\tTrạm y tế xã\r\n202603\t00007\tKCB_TONG\t5\t\r\n";
        let bytes: Vec<u8> = [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        let sink = ok(&bytes);
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_eq!(sink.records.len(), 2);
        assert_eq!(sink.records[0].comment.as_deref(), Some("Trạm y tế xã"));
        assert_eq!(sink.records[1].location, Location::Line(3));
        let be: Vec<u8> = [0xFE, 0xFF].into_iter().chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect();
        assert_eq!(ok(&be).records, sink.records);
    }

    /// "Trạm y tế" in Windows-1258: the dot below and the acute are combining marks (0xF2, 0xEC).
    const TRAM_Y_TE_1258: &[u8] = b"Tra\xF2m y t\xEA\xEC";

    #[test]
    fn windows_1258_comes_out_nfc() {
        let mut bytes = b"period,org_unit,data_element,value,disaggregation,comment\n202603,00004,DS_TONG,1,,".to_vec();
        bytes.extend_from_slice(TRAM_Y_TE_1258);
        bytes.extend_from_slice(b"\n202603,00004,KCB_TONG,2,n\xFD\xDE,Ho\xE0 Bi\xCCnh\n");
        let sink = ok(&bytes);
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        assert_eq!(sink.records[0].comment.as_deref(), Some("Trạm y tế"));
        // "nữ" is u-horn (0xFD) + combining tilde (0xDE); "Hoà Bình" has a precomposed "à" and an
        // "i" + combining grave (0xCC).
        assert_eq!(sink.records[1].disaggregation.as_deref(), Some("nữ"));
        assert_eq!(sink.records[1].comment.as_deref(), Some("Hoà Bình"));
        // Forced, even though the head is plain ASCII.
        let mut late = b"period,org_unit,data_element,value,comment\n202603,00004,DS_TONG,1,x\n202603,00004,DS_TONG,1,".to_vec();
        late.extend_from_slice(TRAM_Y_TE_1258);
        let forced = read_bytes(&late, Some(encoding_rs::WINDOWS_1258)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(forced.records[1].comment.as_deref(), Some("Trạm y tế"));
        // Not forced, and the head (the first 32 bytes here) is valid UTF-8: the late
        // Windows-1258 line is unreadable.
        let mut sniffed = Collect::default();
        read(&mut BufReader::with_capacity(32, &late[..]), "t.csv", None, &mut sniffed).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reasons(&sniffed.problems), vec![(3, "row_unreadable")]);
        assert_eq!(sniffed.records.len(), 1);
        assert!(sniffed.problems[0].message_vi.starts_with("Dòng 3: không đọc được dòng này"));
        assert!(sniffed.problems[0].message_en.starts_with("line 3: the row cannot be read"));
    }

    #[test]
    fn utf8_char_cut_at_the_end_of_the_head() {
        // A reader whose buffer ends inside "ạ": the head is still taken as UTF-8.
        let text = "period,org_unit,data_element,value,comment\n202603,00004,DS_TONG,1,Trạm y tế\n";
        let cut = text.find('ạ').unwrap_or(0) + 1;
        for capacity in [cut, cut + 1, 7, 64] {
            let mut reader = BufReader::with_capacity(capacity, text.as_bytes());
            let mut sink = Collect::default();
            read(&mut reader, "t.csv", None, &mut sink).unwrap_or_else(|e| panic!("{e}"));
            assert!(sink.problems.is_empty(), "{capacity}: {:?}", sink.problems);
            assert_eq!(sink.records[0].comment.as_deref(), Some("Trạm y tế"), "capacity {capacity}");
        }
    }

    #[test]
    fn short_rows_and_messages() {
        let sink = ok(b"period,org_unit,data_element,value,comment\n202603,00004,DS_TONG,1\n202603,00004\n202603,00004,DS_TONG,,c\n");
        assert_eq!(sink.records.len(), 2);
        assert_eq!(sink.records[0].comment, None);
        assert_eq!(sink.records[1].value, "");
        assert_eq!(reasons(&sink.problems), vec![(3, "row_too_short")]);
        assert_eq!(sink.problems[0].message_vi, "Dòng 3: thiếu cột (có 2 cột, cần 4)");
        assert_eq!(sink.problems[0].message_en, "line 3: too few columns (has 2, needs 4)");
        assert_eq!(sink.problems[0].value.as_deref(), Some("202603,00004"));
    }

    #[test]
    fn quoted_newline_keeps_line_numbers() {
        let sink = ok(b"period,org_unit,data_element,value,comment\n202603,00004,DS_TONG,1,\"two\nlines\"\n202603,00004,KCB_TONG,2,\n");
        assert_eq!(sink.records[0].comment.as_deref(), Some("two\nlines"));
        assert_eq!(sink.records[1].location, Location::Line(4));
    }

    #[test]
    fn file_level_errors() {
        let reason = |bytes: &[u8]| match read_bytes(bytes, None) {
            Err(Error::Unreadable { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(b""), "the file is empty");
        assert_eq!(reason(b"\xEF\xBB\xBF\n\n"), "the file is empty");
        let r = reason(b"ky,org_unit,data_element,gia_tri\n202603,00004,DS_TONG,1\n");
        assert!(r.starts_with("missing columns period, value; the header line has \"ky\", \"org_unit\""), "{r}");
        let r = reason(b"period,org_unit,data_element,value,Period\n");
        assert!(r.contains("period appears more than once"), "{r}");
    }
}
