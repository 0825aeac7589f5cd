//! The canonical long CSV layout: `period,org_unit,data_element,value` plus optional
//! `disaggregation` and `comment` columns, in any order, UTF-8 with or without BOM, separated by
//! comma, semicolon or tab (detected from the header line).

use crate::validate::{RawRow, Rejection, Validator, Value};

/// What one file gave: its accepted values and its rejections.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Accepted values.
    pub values: Vec<Value>,
    /// Refused rows.
    pub rejections: Vec<Rejection>,
}

const REQUIRED: [&str; 4] = ["period", "org_unit", "data_element", "value"];

/// Parses and validates a whole file. `Err` carries the reason the file cannot be read at all.
pub fn parse(bytes: &[u8], validator: &mut Validator<'_>) -> Result<Parsed, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("the file is empty".into());
    }
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let delimiter = [b',', b';', b'\t'].into_iter().max_by_key(|d| first_line.iter().filter(|b| *b == d).count()).unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(bytes);
    let header = reader.headers().map_err(|e| format!("cannot read the header line: {e}"))?.clone();
    let position = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let missing: Vec<&str> = REQUIRED.into_iter().filter(|c| position(c).is_none()).collect();
    if !missing.is_empty() {
        return Err(format!(
            "the header line lacks the column(s) {}; expected {} (found: {})",
            missing.join(", "),
            REQUIRED.join(","),
            header.iter().collect::<Vec<_>>().join(",")
        ));
    }
    let [p, o, d, v] = REQUIRED.map(|c| position(c).expect("checked above"));
    let (dis, com) = (position("disaggregation"), position("comment"));
    let mut out = Parsed::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() as i64;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A broken line (e.g. invalid UTF-8): refuse that line, keep going.
                let line = e.position().map(|p| p.line() as i64).unwrap_or(line);
                out.rejections.push(Rejection {
                    row: line,
                    field: "*".into(),
                    value: None,
                    reason: "row_unreadable",
                    message_vi: format!("Dòng {line}: không đọc được dòng này ({e})"),
                    message_en: format!("line {line}: cannot read this line ({e})"),
                });
                continue;
            }
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let row = record.position().map(|p| p.line() as i64).unwrap_or(line);
        let field = |i: usize| record.get(i).unwrap_or("");
        if record.len() < header.len() && [p, o, d, v].iter().any(|&i| i >= record.len()) {
            out.rejections.push(Rejection {
                row,
                field: "*".into(),
                value: Some(record.iter().collect::<Vec<_>>().join(&(delimiter as char).to_string())),
                reason: "row_too_short",
                message_vi: format!("Dòng {row}: thiếu cột (có {} cột, cần {})", record.len(), header.len()),
                message_en: format!("line {row}: too few fields ({} of {})", record.len(), header.len()),
            });
            continue;
        }
        let raw = RawRow {
            row,
            period: field(p),
            org_unit: field(o),
            data_element: field(d),
            value: field(v),
            disaggregation: dis.map(field),
            comment: com.map(field),
        };
        match validator.check(&raw) {
            Ok(value) => out.values.push(value),
            Err(rejection) => out.rejections.push(rejection),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use tonghop_core::{Catalog, UnitRegistry};

    fn fixtures() -> (UnitRegistry, Catalog) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        (UnitRegistry::load(&root.join("reference/admin-units")).unwrap(), Catalog::load(&root.join("catalog")).unwrap())
    }

    fn run(text: &str) -> Result<Parsed, String> {
        let (r, c) = fixtures();
        let mut v = Validator::new(&r, &c, chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
        parse(text.as_bytes(), &mut v)
    }

    #[test]
    fn good_rows_are_kept_and_each_bad_row_has_a_reason() {
        let text = "\u{feff}period;org_unit;data_element;value\n\
            202603;00004;DS_TONG;12000\n\
            202603;00004;DS_BHYT;n/a\n\
            202603;00004;TYT_HS;2\n\
            202603;00004;DS_TONGG;1\n\
            202603;00001;DS_TONG;5\n\
            202403;11948;DS_TONG;5\n\
            202703;00004;DS_TONG;5\n\
            2025;00004;DS_TONG;5\n\
            202603;00004;DS_QLSK;-3\n\
            202603;00004;DS_TONG;12001\n";
        let parsed = run(text).unwrap();
        assert_eq!(parsed.values.len(), 1);
        assert_eq!(parsed.values[0].value, 12000.0);
        let reasons: Vec<_> = parsed.rejections.iter().map(|r| (r.row, r.reason, r.field.as_str())).collect();
        assert_eq!(reasons, [
            (3, "value_not_numeric", "value"),
            (4, "value_not_boolean", "value"),
            (5, "unknown_data_element", "data_element"),
            (6, "unknown_org_unit", "org_unit"),
            (7, "unknown_org_unit", "org_unit"),
            (8, "period_in_future", "period"),
            (9, "period_straddles_reform", "period"),
            (10, "value_negative", "value"),
            (11, "duplicate_key", "data_element"),
        ]);
        let merged = &parsed.rejections[3];
        assert!(merged.message_en.contains("it is Phường Phúc Xá in the pre2025 unit list"), "{}", merged.message_en);
        assert!(parsed.rejections[4].message_vi.contains("Đặc khu Bạch Long Vĩ"), "{}", parsed.rejections[4].message_vi);
        assert!(parsed.rejections[0].message_vi.starts_with("Dòng 3, cột value"));
    }

    #[test]
    fn unreadable_files_say_why() {
        assert!(run("").unwrap_err().contains("empty"));
        let err = run("ky,don_vi,gia_tri\n202603,00004,1\n").unwrap_err();
        assert!(err.contains("lacks the column(s) period, org_unit, data_element, value"), "{err}");
    }
}
