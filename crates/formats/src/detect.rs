//! Recognising a submission's format from its first bytes and its name.
//!
//! The content decides; the file name's extension only breaks a tie (a text file whose first line
//! names no known column but which is called `.csv` is read as the long CSV, so that the reader
//! can say which columns are missing).

use crate::text;
use crate::{Error, Format, Result};

/// Header names DHIS2 CSV may carry besides [`crate::dhis2::CSV_COLUMNS`], lower case.
const DHIS2_EXTRA_COLUMNS: [&str; 3] = ["timestamp", "created", "deleted"];

/// The format of a file whose first bytes are `head` (at least the first few KiB when the file is
/// that long). XLSX is reported as [`Format::XlsxLong`]; [`crate::xlsx::read`] then tells long from form.
///
/// ```
/// use tonghop_formats::{detect, Format};
/// assert_eq!(detect(b"period,org_unit,data_element,value\n", "x.csv").unwrap(), Format::Csv);
/// assert_eq!(detect(br#"{"dataValues":[]}"#, "x.json").unwrap(), Format::Dhis2Json);
/// ```
pub fn detect(head: &[u8], name: &str) -> Result<Format> {
    let unknown = |reason: String| Error::UnknownFormat { name: name.to_string(), reason };
    if head.starts_with(b"PK\x03\x04") {
        return Ok(Format::XlsxLong);
    }
    if head.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        return Err(unknown("an old Excel 97-2003 (.xls) workbook; save it as .xlsx".to_string()));
    }
    if head.starts_with(b"PK\x05\x06") || head.starts_with(b"PK\x07\x08") {
        return Err(unknown("a ZIP archive that is not a workbook".to_string()));
    }
    let (sniffed, decoded) = text::decode_head(head);
    let content = decoded.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}');
    if content.is_empty() {
        return Err(unknown("the file is empty".to_string()));
    }
    if looks_binary(content) {
        return Err(unknown("binary content, not CSV, XLSX, JSON or XML".to_string()));
    }
    let extension = extension(name);
    match content.as_bytes()[0] {
        b'<' => match root_element(content) {
            Some(root) if root.rsplit(':').next().is_some_and(|local| local.eq_ignore_ascii_case("adx")) => Ok(Format::Adx),
            Some(root) => Err(unknown(format!("XML whose root element is <{root}>, not ADX <adx>"))),
            None if matches!(extension.as_deref(), Some("adx" | "xml")) => Ok(Format::Adx),
            None => Err(unknown("XML without a root element in its first bytes".to_string())),
        },
        b'{' | b'[' => {
            if content.contains("\"dataValues\"") {
                Ok(Format::Dhis2Json)
            } else {
                Ok(Format::Json)
            }
        }
        _ => {
            let line = content.lines().next().unwrap_or("");
            let delimiter = char::from(text::delimiter(line.as_bytes()));
            let fields: Vec<String> = line.split(delimiter).map(|f| f.trim().trim_matches('"').trim().to_ascii_lowercase()).collect();
            let has = |n: &str| fields.iter().any(|f| f == n);
            let has_norm = |n: &str| fields.iter().any(|f| normalise(f) == n);
            if has("dataelement")
                && fields.iter().all(|f| f.is_empty() || crate::dhis2::CSV_COLUMNS.contains(&f.as_str()) || DHIS2_EXTRA_COLUMNS.contains(&f.as_str()))
            {
                return Ok(Format::Dhis2Csv);
            }
            if has_norm("period") && has_norm("orgunit") && has_norm("dataelement") && has_norm("value") {
                return Ok(Format::Csv);
            }
            if has("dataelement") {
                return Ok(Format::Dhis2Csv);
            }
            if fields.len() >= 6 && fields.first().is_some_and(|f| is_dhis2_uid(f)) {
                return Ok(Format::Dhis2Csv);
            }
            match extension.as_deref() {
                Some("csv" | "tsv" | "txt") => Ok(Format::Csv),
                _ => Err(unknown(format!(
                    "{} text whose first line \"{}\" names none of the expected columns (period, org_unit, data_element, value)",
                    sniffed.encoding.name(),
                    text::shorten(line)
                ))),
            }
        }
    }
}

/// Lower case without `_`, `-` and spaces: `Org Unit`, `org_unit` and `orgunit` are one name.
pub(crate) fn normalise(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, '_' | '-' | ' ')).flat_map(char::to_lowercase).collect()
}

/// A DHIS2 uid: 11 ASCII letters and digits, starting with a letter.
fn is_dhis2_uid(s: &str) -> bool {
    s.len() == 11 && s.starts_with(|c: char| c.is_ascii_alphabetic()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The file name's extension, lower case.
fn extension(name: &str) -> Option<String> {
    let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
    file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())
}

/// Control characters other than tab, CR, LF and form feed, or many replacement characters: not text.
fn looks_binary(text: &str) -> bool {
    let mut total = 0usize;
    let mut odd = 0usize;
    for c in text.chars() {
        total += 1;
        if c == '\0' {
            return true;
        }
        if (c.is_control() && !matches!(c, '\t' | '\r' | '\n' | '\x0C')) || c == '\u{FFFD}' {
            odd += 1;
        }
    }
    odd * 20 > total
}

/// The name of the first element of an XML text, skipping the declaration, comments,
/// processing instructions and the doctype. `None` when the head ends first.
fn root_element(xml: &str) -> Option<&str> {
    let mut rest = xml;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = &after[after.find("-->")? + 3..];
        } else if let Some(after) = rest.strip_prefix("<?") {
            rest = &after[after.find("?>")? + 2..];
        } else if let Some(after) = rest.strip_prefix("<!") {
            rest = &after[after.find('>')? + 1..];
        } else if let Some(after) = rest.strip_prefix('<') {
            let end = after.find(|c: char| c.is_whitespace() || c == '>' || c == '/').unwrap_or(after.len());
            let name = &after[..end];
            return (!name.is_empty()).then_some(name);
        } else {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(head: &[u8], name: &str) -> Format {
        match detect(head, name) {
            Ok(f) => f,
            Err(e) => panic!("{name}: {e}"),
        }
    }

    fn reason(head: &[u8], name: &str) -> String {
        match detect(head, name) {
            Err(Error::UnknownFormat { reason, .. }) => reason,
            other => panic!("{name}: expected UnknownFormat, got {other:?}"),
        }
    }

    #[test]
    fn by_content() {
        assert_eq!(ok(b"PK\x03\x04rest", "a.csv"), Format::XlsxLong);
        assert_eq!(ok(b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- c --><adx xmlns=\"urn:ihe:qrph:adx:2015\">", "a"), Format::Adx);
        assert_eq!(ok(b"  <adx:adx xmlns:adx=\"urn:ihe:qrph:adx:2015\">", "a"), Format::Adx);
        assert_eq!(ok(b"{\"period\":\"202603\",\"values\":[]}", "a.txt"), Format::Json);
        assert_eq!(ok(b"[{\"period\":\"202603\"", "a"), Format::Json);
        assert_eq!(ok(b"\n {\"dataValues\": [", "a.json"), Format::Dhis2Json);
        assert_eq!(ok(b"period,org_unit,data_element,value\n202603,00004,DS_TONG,1", "a.bin"), Format::Csv);
        assert_eq!(ok(b"Data_Element;Org Unit;PERIOD;Value;comment\n", "a"), Format::Csv);
        assert_eq!(ok(b"\"dataelement\",\"period\",\"orgunit\",\"categoryoptioncombo\"\n", "a"), Format::Dhis2Csv);
        assert_eq!(ok(b"DataElement,Period,OrgUnit,CategoryOptionCombo,AttributeOptionCombo,Value\n", "a"), Format::Dhis2Csv);
        assert_eq!(ok(b"f7n9E0hX8qk,201201,DiszpKrYNg8,,,10001,john,2012-01-01,comment,false\n", "a"), Format::Dhis2Csv);
        assert_eq!(ok(b"\"f7n9E0hX8qk\",\"201201\",\"DiszpKrYNg8\",\"\",\"\",\"10001\"", "a"), Format::Dhis2Csv);
    }

    #[test]
    fn utf16_and_windows_1258_heads() {
        let utf16: Vec<u8> = b"\xFF\xFE".iter().copied().chain("period\torg_unit\tdata_element\tvalue\r\n".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(ok(&utf16, "a.txt"), Format::Csv);
        // Cut in the middle of a UTF-16 code unit.
        assert_eq!(ok(&utf16[..utf16.len() - 1], "a.txt"), Format::Csv);
        let be: Vec<u8> = b"\xFE\xFF".iter().copied().chain("[{}]".encode_utf16().flat_map(u16::to_be_bytes)).collect();
        assert_eq!(ok(&be, "a"), Format::Json);
        assert_eq!(ok(b"period;org_unit;data_element;value;comment\n202603;00004;DS_TONG;1;Tr\xD2m", "a"), Format::Csv);
        // "Trạm" cut inside "ạ".
        let head = "period,org_unit,data_element,value,comment\n202603,00004,DS_TONG,1,Trạm".as_bytes();
        assert_eq!(ok(&head[..head.len() - 2], "a"), Format::Csv);
    }

    #[test]
    fn name_breaks_ties() {
        assert_eq!(ok(b"ky,don_vi,chi_tieu,gia_tri\n", "bao_cao.csv"), Format::Csv);
        assert!(reason(b"ky,don_vi,chi_tieu,gia_tri\n", "bao_cao.dat").contains("names none of the expected columns"));
        assert_eq!(ok(b"<?xml version=\"1.0\"?>", "a.adx.xml"), Format::Adx);
    }

    #[test]
    fn unknown() {
        assert_eq!(reason(b"", "a.csv"), "the file is empty");
        assert_eq!(reason(b" \r\n\t ", "a.csv"), "the file is empty");
        assert_eq!(reason(b"\xEF\xBB\xBF", "a.csv"), "the file is empty");
        assert!(reason(b"\x00\x01\x02\x03garbage\x00", "a.csv").contains("binary"));
        assert!(reason(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a.csv").contains("binary"));
        assert!(reason(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", "a.xls").contains(".xls"));
        assert!(reason(b"<html><body>", "a.xml").contains("<html>"));
        assert!(reason(b"<?xml version=\"1.0\"?>", "a").contains("root element"));
    }
}
