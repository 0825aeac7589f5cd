//! DHIS2 data value sets (JSON, CSV, ADX) and the id-scheme mapping to tonghop codes.
//!
//! DHIS2 names org units, data elements and category option combos by uid (`DiszpKrYNg8`), code
//! or name; tonghop by its own codes (`00004`, `DS_TONG`). An [`IdMapping`] file translates them:
//!
//! ```text
//! kind,dhis2,tonghop
//! org_unit,DiszpKrYNg8,00004
//! data_element,f7n9E0hX8qk,DS_TONG
//! category_option_combo,ageeeeeeeee=Under 5;sexxxxxxxxx=Female,nu_duoi5
//! attribute_option_combo,mechanismmm=PEPFAR mechanism,default
//! ```
//!
//! An identifier the mapping does not know passes through unchanged, so the validator rejects it
//! as an unknown unit or data element: the clearest message for the sender.
//!
//! Category option combos become the record's disaggregation: the DHIS2 default combo
//! (`HllvX50cXC0`, `default` or empty) and anything mapped to `default` mean none. tonghop has no
//! attribute dimension: values whose attribute option combo is not the default (and not mapped to
//! `default`) are reported as `attribute_option_combo_unsupported` and not read.
//!
//! | file | reads |
//! |---|---|
//! | `json.rs` | DHIS2 JSON data value sets |
//! | `csv.rs` | DHIS2 CSV (columns by position) |
//! | `adx.rs` | ADX XML |

mod adx;
mod csv;
mod json;

use std::collections::HashMap;
use std::path::Path;

use tonghop_core::text::nfc;

use crate::text::{self, problem};
use crate::{Error, Location, Problem, Result};

pub use self::adx::{adx_period, read_adx};
pub use self::csv::{read_csv, CSV_COLUMNS};
pub use self::json::read_json;

/// The uid of DHIS2's default category option combo.
pub const DEFAULT_COMBO_UID: &str = "HllvX50cXC0";

/// What a line of a mapping file maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// An organisation unit → a tonghop unit code.
    OrgUnit,
    /// A data element → a tonghop data element code.
    DataElement,
    /// A category option combo (uid, code, or ADX `name=value;name=value`) → a disaggregation, or `default`.
    CategoryOptionCombo,
    /// An attribute option combo (uid, code, or ADX `name=value`) → `default` (the only target tonghop accepts).
    AttributeOptionCombo,
}

impl IdKind {
    /// Every kind.
    pub const ALL: [IdKind; 4] = [IdKind::OrgUnit, IdKind::DataElement, IdKind::CategoryOptionCombo, IdKind::AttributeOptionCombo];

    /// The name in the `kind` column of a mapping file.
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::OrgUnit => "org_unit",
            IdKind::DataElement => "data_element",
            IdKind::CategoryOptionCombo => "category_option_combo",
            IdKind::AttributeOptionCombo => "attribute_option_combo",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Maps DHIS2 uids/codes to tonghop codes, one table per [`IdKind`], and back (for exports: the
/// first line that maps to a tonghop code gives its DHIS2 id, see [`IdMapping::to_dhis2`]).
#[derive(Debug, Clone, Default)]
pub struct IdMapping {
    maps: [HashMap<String, String>; 4],
    reverse: [HashMap<String, String>; 4],
}

impl IdMapping {
    /// An empty mapping: every identifier passes through.
    pub fn new() -> IdMapping {
        IdMapping::default()
    }

    /// Loads a mapping file (CSV with the header `kind,dhis2,tonghop`; see [`IdMapping::from_csv_bytes`]).
    pub fn load(path: &Path) -> Result<IdMapping> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| Error::Io { name: shown.clone(), source })?;
        IdMapping::from_csv_bytes(&bytes, &shown)
    }

    /// Reads a mapping from CSV text: the header `kind,dhis2,tonghop`, then one line per
    /// identifier, `kind` being `org_unit`, `data_element`, `category_option_combo` or
    /// `attribute_option_combo`. Blank lines and lines starting with `#` are ignored. Every
    /// mistake (unknown kind, empty field, wrong number of fields, one identifier mapped to two
    /// different targets) is reported at once in one [`Error::Mapping`], whose `line` is the first
    /// bad line. `path` is only used in messages.
    pub fn from_csv_bytes(bytes: &[u8], path: &str) -> Result<IdMapping> {
        let mut source = bytes;
        let mut unreadable = crate::Collect::default();
        let mut rows =
            text::open(&mut source, path, None, Some(b'#')).map_err(|e| Error::Mapping { path: path.to_string(), line: 1, message: e.to_string() })?;
        let mut mapping = IdMapping::new();
        let mut mistakes: Vec<(u64, String)> = Vec::new();
        let mut first_seen: HashMap<(IdKind, String), u64> = HashMap::new();
        let mut header_seen = false;
        let mut last_line = 0;
        loop {
            let (line, record) = match rows.next(&mut unreadable) {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(e) => {
                    mistakes.push((last_line + 1, format!("cannot be read: {e}")));
                    break;
                }
            };
            last_line = line;
            let fields: Vec<std::borrow::Cow<'_, str>> = record.iter().map(|f| nfc(f.trim())).collect();
            if !header_seen {
                header_seen = true;
                let header: Vec<String> = fields.iter().map(|f| f.to_ascii_lowercase()).collect();
                if header != ["kind", "dhis2", "tonghop"] {
                    mistakes.push((line, format!("the first line must be the header \"kind,dhis2,tonghop\", not \"{}\"", fields.join(","))));
                }
                continue;
            }
            if fields.len() != 3 {
                mistakes.push((line, format!("expected 3 fields (kind,dhis2,tonghop), found {}", fields.len())));
                continue;
            }
            let (kind, from, to) = (&*fields[0], &*fields[1], &*fields[2]);
            let Some(kind) = IdKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(kind)) else {
                mistakes.push((line, format!("unknown kind \"{kind}\" (expected one of {})", IdKind::ALL.map(IdKind::as_str).join(", "))));
                continue;
            };
            if from.is_empty() || to.is_empty() {
                let empty = if from.is_empty() { "dhis2" } else { "tonghop" };
                mistakes.push((line, format!("the {empty} field is empty")));
                continue;
            }
            match mapping.maps[kind.index()].get(from) {
                Some(existing) if existing != to => {
                    let first = first_seen.get(&(kind, from.to_string())).copied().unwrap_or(0);
                    mistakes.push((line, format!("{} \"{from}\" is mapped to \"{to}\" here but to \"{existing}\" on line {first}; keep one", kind.as_str())));
                }
                Some(_) => {}
                None => {
                    first_seen.insert((kind, from.to_string()), line);
                    mapping.insert(kind, from, to);
                }
            }
        }
        for p in unreadable.problems {
            mistakes.push((p.location.row().max(0) as u64, "not valid text; save the mapping file as CSV UTF-8".to_string()));
        }
        mistakes.sort_by_key(|(line, _)| *line);
        if !header_seen && mistakes.is_empty() {
            mistakes.push((1, "the file is empty; it needs the header \"kind,dhis2,tonghop\"".to_string()));
        }
        if let Some((line, first)) = mistakes.first() {
            let mut message = first.clone();
            if mistakes.len() > 1 {
                message.push_str(&format!(" ({} mistakes in all)", mistakes.len()));
                for (line, m) in &mistakes[1..] {
                    message.push_str(&format!("; line {line}: {m}"));
                }
            }
            return Err(Error::Mapping { path: path.to_string(), line: *line, message });
        }
        Ok(mapping)
    }

    /// Adds (or replaces) one mapping; returns the target it replaced.
    pub fn insert(&mut self, kind: IdKind, dhis2: &str, tonghop: &str) -> Option<String> {
        self.reverse[kind.index()].entry(tonghop.to_string()).or_insert_with(|| dhis2.to_string());
        self.maps[kind.index()].insert(dhis2.to_string(), tonghop.to_string())
    }

    /// The DHIS2 id of a tonghop code (exports): the `dhis2` field of the first line of the file
    /// that maps to `tonghop`, when several do (a uid and a code for one unit, say).
    pub fn to_dhis2(&self, kind: IdKind, tonghop: &str) -> Option<&str> {
        self.reverse[kind.index()].get(tonghop).map(String::as_str)
    }

    /// The target of `id` in the table of `kind`.
    pub fn get(&self, kind: IdKind, id: &str) -> Option<&str> {
        self.maps[kind.index()].get(id).map(String::as_str)
    }

    /// The tonghop unit code of a DHIS2 org unit.
    pub fn org_unit(&self, id: &str) -> Option<&str> {
        self.get(IdKind::OrgUnit, id)
    }

    /// The tonghop data element code of a DHIS2 data element.
    pub fn data_element(&self, id: &str) -> Option<&str> {
        self.get(IdKind::DataElement, id)
    }

    /// The disaggregation (or `default`) of a DHIS2 category option combo.
    pub fn category_option_combo(&self, id: &str) -> Option<&str> {
        self.get(IdKind::CategoryOptionCombo, id)
    }

    /// The target (normally `default`) of a DHIS2 attribute option combo.
    pub fn attribute_option_combo(&self, id: &str) -> Option<&str> {
        self.get(IdKind::AttributeOptionCombo, id)
    }

    /// Number of identifiers mapped, all kinds together.
    pub fn len(&self) -> usize {
        self.maps.iter().map(HashMap::len).sum()
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Empty, `default` or the default combo's uid: no disaggregation / no attribute.
fn is_default(id: &str) -> bool {
    let id = id.trim();
    id.is_empty() || id.eq_ignore_ascii_case("default") || id == DEFAULT_COMBO_UID
}

/// Applies an optional mapping.
#[derive(Debug, Clone, Copy)]
struct Ids<'m>(Option<&'m IdMapping>);

impl<'m> Ids<'m> {
    fn lookup<'a>(&self, kind: IdKind, id: &'a str) -> &'a str
    where
        'm: 'a,
    {
        self.0.and_then(|m| m.get(kind, id)).unwrap_or(id)
    }

    fn org_unit<'a>(&self, id: &'a str) -> &'a str
    where
        'm: 'a,
    {
        self.lookup(IdKind::OrgUnit, id)
    }

    fn data_element<'a>(&self, id: &'a str) -> &'a str
    where
        'm: 'a,
    {
        self.lookup(IdKind::DataElement, id)
    }

    /// The disaggregation of a category option combo: `None` for the default.
    fn disaggregation<'a>(&self, combo: &'a str) -> Option<&'a str>
    where
        'm: 'a,
    {
        if is_default(combo) {
            return None;
        }
        let target = self.lookup(IdKind::CategoryOptionCombo, combo);
        (!is_default(target)).then_some(target)
    }

    /// Whether an attribute option combo is acceptable: the default, or mapped to `default`.
    fn attribute_ok(&self, combo: &str) -> bool {
        is_default(combo) || is_default(self.lookup(IdKind::AttributeOptionCombo, combo))
    }
}

/// `attribute_option_combo_unsupported` for `combo`.
fn attribute_unsupported(location: Location, combo: &str) -> Problem {
    let line = format!("attribute_option_combo,{},default", csv_field(combo));
    problem(
        location,
        "attributeOptionCombo",
        Some(combo.to_string()),
        "attribute_option_combo_unsupported",
        format!(
            "tổ hợp thuộc tính (attributeOptionCombo) \"{combo}\" không được hỗ trợ: tonghop không có chiều thuộc tính. \
             Nếu giá trị này thuộc tổ hợp mặc định, hãy thêm dòng \"{line}\" vào tệp ánh xạ"
        ),
        format!(
            "attribute option combo \"{combo}\" is not supported: tonghop has no attribute dimension. \
             If these values belong to the default combo, add the line \"{line}\" to the mapping file"
        ),
    )
}

/// A CSV field, quoted when needed.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Collect, Format};

    #[test]
    fn periods() {
        assert_eq!(adx_period("2020-01-01/P1M").as_deref(), Some("202001"));
        assert_eq!(adx_period(" 2020-12-01/p1m ").as_deref(), Some("202012"));
        assert_eq!(adx_period("2021-01-01/P3M").as_deref(), Some("2021Q1"));
        assert_eq!(adx_period("2021-10-01/P3M").as_deref(), Some("2021Q4"));
        assert_eq!(adx_period("2021-01-01/P6M").as_deref(), Some("2021S1"));
        assert_eq!(adx_period("2021-07-01/P6M").as_deref(), Some("2021S2"));
        assert_eq!(adx_period("2021-01-01/P9M").as_deref(), Some("2021N9"));
        assert_eq!(adx_period("2021-01-01/P1Y").as_deref(), Some("2021"));
        assert_eq!(adx_period("2021-01-01/P12M").as_deref(), Some("2021"));
        for bad in [
            "2021-02-01/P3M",
            "2021-04-01/P6M",
            "2021-04-01/P9M",
            "2021-07-01/P1Y",
            "2021-01-02/P1M",
            "2021-13-01/P1M",
            "2021-01-01/P1W",
            "2021-01-01",
            "202101",
            "2021-1-01/P1M",
            "",
            "２０２１-01-01/P1M",
        ] {
            assert_eq!(adx_period(bad), None, "{bad}");
        }
    }

    fn mapping(text: &str) -> IdMapping {
        IdMapping::from_csv_bytes(text.as_bytes(), "m.csv").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn mapping_file_read_backwards_gives_the_first_id_of_a_code() {
        let m = mapping("kind,dhis2,tonghop\norg_unit,DiszpKrYNg8,00004\norg_unit,Provincial Hospital,00004\ndata_element,f7n9E0hX8qk,DS_TONG\n");
        assert_eq!(m.to_dhis2(IdKind::OrgUnit, "00004"), Some("DiszpKrYNg8"));
        assert_eq!(m.to_dhis2(IdKind::DataElement, "DS_TONG"), Some("f7n9E0hX8qk"));
        assert_eq!(m.to_dhis2(IdKind::DataElement, "KCB_TONG"), None);
        assert_eq!(m.to_dhis2(IdKind::OrgUnit, "DS_TONG"), None, "kinds are separate");
    }

    #[test]
    fn mapping_file() {
        let m = mapping(
            "\u{FEFF}Kind, DHIS2 ,tonghop\n# a comment\n\norg_unit,DiszpKrYNg8,00004\ndata_element,f7n9E0hX8qk,DS_TONG\n\
             category_option_combo,\"age=Under 5;sex=Female\",nu_duoi5\nattribute_option_combo,coc_X,default\n\
             org_unit,DiszpKrYNg8,00004\n",
        );
        assert_eq!(m.len(), 4);
        assert_eq!(m.org_unit("DiszpKrYNg8"), Some("00004"));
        assert_eq!(m.data_element("f7n9E0hX8qk"), Some("DS_TONG"));
        assert_eq!(m.category_option_combo("age=Under 5;sex=Female"), Some("nu_duoi5"));
        assert_eq!(m.attribute_option_combo("coc_X"), Some("default"));
        assert_eq!(m.org_unit("nope"), None);
    }

    #[test]
    fn mapping_mistakes_all_at_once() {
        let text = "kind,dhis2,tonghop\norgunit,A,1\norg_unit,,2\norg_unit,B,1\norg_unit,B,3\ndata_element,X\n";
        match IdMapping::from_csv_bytes(text.as_bytes(), "m.csv") {
            Err(e @ Error::Mapping { line: 2, .. }) => {
                let shown = e.to_string();
                assert!(shown.starts_with("m.csv, line 2: unknown kind \"orgunit\" (expected one of org_unit, data_element, category_option_combo, attribute_option_combo) (4 mistakes in all)"), "{shown}");
                assert!(shown.contains("line 3: the dhis2 field is empty"), "{shown}");
                assert!(shown.contains("line 5: org_unit \"B\" is mapped to \"3\" here but to \"1\" on line 4; keep one"), "{shown}");
                assert!(shown.contains("line 6: expected 3 fields (kind,dhis2,tonghop), found 2"), "{shown}");
            }
            other => panic!("{other:?}"),
        }
        // Windows line ends, comments and blank lines do not shift the line numbers.
        let crlf = "kind,dhis2,tonghop\r\n# comment, with \"a quote\r\n\r\norg_unit,A,1\r\norg_unit,A,2\r\n";
        match IdMapping::from_csv_bytes(crlf.as_bytes(), "m.csv") {
            Err(Error::Mapping { line: 5, message, .. }) => assert!(message.contains("on line 4"), "{message}"),
            other => panic!("{other:?}"),
        }
        // UTF-16 (Excel's "Unicode text"), tab-separated, with Vietnamese names.
        let utf16: Vec<u8> =
            [0xFF, 0xFE].into_iter().chain("kind\tdhis2\ttonghop\r\norg_unit\tTrạm Y tế xã A\t00004\r\n".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        let m = IdMapping::from_csv_bytes(&utf16, "m.txt").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.org_unit("Trạm Y tế xã A"), Some("00004"));
        assert!(matches!(IdMapping::from_csv_bytes(b"a,b,c\n", "m.csv"), Err(Error::Mapping { line: 1, .. })));
        assert!(matches!(IdMapping::from_csv_bytes(b"", "m.csv"), Err(Error::Mapping { line: 1, .. })));
        assert!(matches!(IdMapping::from_csv_bytes(b"kind,dhis2,tonghop\norg_unit,A\n\xFF\xFE", "m.csv"), Err(Error::Mapping { line: 2, .. })));
        assert!(matches!(IdMapping::load(Path::new("/nonexistent/mapping.csv")), Err(Error::Io { .. })));
    }

    #[test]
    fn json_defaults_deleted_and_attribute_combos() {
        let m = mapping("kind,dhis2,tonghop\norg_unit,OU1,00004\ndata_element,DE1,DS_TONG\ncategory_option_combo,COC1,nam\ncategory_option_combo,COC0,default\nattribute_option_combo,AOC1,default\n");
        let doc = r#"{"dataSet": "DS", "completeDate": "2026-04-05", "period": "202603", "orgUnit": "OU1",
            "dataValues": [
              {"dataElement": "DE1", "value": 12000, "storedBy": "admin", "comment": null},
              {"dataElement": "DE1", "categoryOptionCombo": "COC1", "value": "5", "period": "202602", "orgUnit": "OU2", "comment": "Tra\u0323m"},
              {"dataElement": "DE1", "categoryOptionCombo": "COC0", "attributeOptionCombo": "AOC1", "value": "1", "deleted": true},
              {"dataElement": "DE1", "categoryOptionCombo": "HllvX50cXC0", "attributeOptionCombo": "HllvX50cXC0", "value": "2", "deleted": "true"},
              {"dataElement": "DE2", "categoryOptionCombo": "default", "attributeOptionCombo": "AOC2", "value": "3"},
              {"value": "4"},
              "x",
              {"dataElement": "DE1", "value": {"v": 1}}
            ]}"#;
        let mut sink = Collect::default();
        read_json(doc.as_bytes(), "d.json", Some(&m), &mut sink).unwrap_or_else(|e| panic!("{e}"));
        let r = &sink.records;
        assert_eq!(r.len(), 4);
        assert_eq!((r[0].period.as_str(), r[0].org_unit.as_str(), r[0].data_element.as_str(), r[0].value.as_str()), ("202603", "00004", "DS_TONG", "12000"));
        assert_eq!((r[0].stored_by.as_deref(), r[0].comment.as_deref(), r[0].disaggregation.as_deref()), (Some("admin"), None, None));
        assert_eq!((r[1].period.as_str(), r[1].org_unit.as_str(), r[1].disaggregation.as_deref()), ("202602", "OU2", Some("nam")));
        assert_eq!(r[1].comment.as_deref(), Some("Trạm"));
        assert!(r[2].deleted && r[3].deleted && !r[0].deleted);
        assert_eq!((r[2].disaggregation.as_deref(), r[3].disaggregation.as_deref()), (None, None));
        assert_eq!(r[3].location, Location::Path("$.dataValues[3]".to_string()));
        let p: Vec<(String, &str)> = sink.problems.iter().map(|p| (p.location.to_string(), p.reason)).collect();
        assert_eq!(
            p,
            vec![
                ("$.dataValues[4]".to_string(), "attribute_option_combo_unsupported"),
                ("$.dataValues[5]".to_string(), "item_malformed"),
                ("$.dataValues[6]".to_string(), "item_malformed"),
                ("$.dataValues[7]".to_string(), "item_malformed"),
            ]
        );
        assert_eq!(
            sink.problems[0].message_en,
            "at $.dataValues[4]: attribute option combo \"AOC2\" is not supported: tonghop has no attribute dimension. \
             If these values belong to the default combo, add the line \"attribute_option_combo,AOC2,default\" to the mapping file"
        );
        assert!(sink.problems[0].message_vi.starts_with("Vị trí $.dataValues[4]: tổ hợp thuộc tính (attributeOptionCombo) \"AOC2\" không được hỗ trợ"));
        // A set-level attribute option combo applies to every value.
        let mut sink = Collect::default();
        read_json(
            br#"{"attributeOptionCombo": "AOC9", "dataValues": [{"dataElement": "DE1", "period": "202603", "orgUnit": "OU1", "value": "1"}]}"#,
            "d.json",
            Some(&m),
            &mut sink,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((sink.records.len(), sink.problems.len()), (0, 1));
    }

    #[test]
    fn json_file_level_errors() {
        let mut sink = Collect::default();
        for bad in [&b"[1]"[..], b"{\"dataValues\": 3}", b"{\"dataValues\": [", b""] {
            assert!(matches!(read_json(bad, "d.json", None, &mut sink), Err(Error::Unreadable { format: Format::Dhis2Json, .. })));
        }
    }

    #[test]
    fn csv_without_header_semicolons_deleted_and_short_rows() {
        let m = mapping("kind,dhis2,tonghop\norg_unit,OU1,00004\ndata_element,DE1,DS_TONG\nattribute_option_combo,AOC1,default\n");
        let text = "DE1;202603;OU1;;;12;admin;2026-04-01;Tra\u{0323}m y te\u{0302}\u{0301};false\n\
                    DE1;202603;OU1;COC1;AOC1;13;;;;;true\n\
                    DE1;202603;OU1\n\
                    DE1;202603;OU1;;AOC2;14\n";
        let mut sink = Collect::default();
        read_csv(&mut text.as_bytes(), "d.csv", None, Some(&m), &mut sink).unwrap_or_else(|e| panic!("{e}"));
        let r = &sink.records;
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].data_element.as_str(), r[0].org_unit.as_str(), r[0].value.as_str()), ("DS_TONG", "00004", "12"));
        assert_eq!((r[0].stored_by.as_deref(), r[0].comment.as_deref(), r[0].deleted), (Some("admin"), Some("Trạm y tế"), false));
        assert_eq!(r[0].location, Location::Line(1));
        assert_eq!((r[1].disaggregation.as_deref(), r[1].stored_by.as_deref(), r[1].deleted), (Some("COC1"), None, true));
        let p: Vec<(u64, &str)> = sink.problems.iter().map(|p| (p.location.row() as u64, p.reason)).collect();
        assert_eq!(p, vec![(3, "row_too_short"), (4, "attribute_option_combo_unsupported")]);
        assert_eq!(sink.problems[0].message_vi, "Dòng 3: thiếu cột (có 3 cột, cần 6)");
        assert!(matches!(read_csv(&mut &b""[..], "d.csv", None, None, &mut sink), Err(Error::Unreadable { .. })));
    }

    #[test]
    fn adx_options_annotations_and_problems() {
        let m = mapping(
            "kind,dhis2,tonghop\norg_unit,OU1,00004\ndata_element,DE1,KCB_TONG\ncategory_option_combo,age=<5;sex=F,nu_duoi5\n\
             attribute_option_combo,fund=A,default\nattribute_option_combo,coc_A,default\n",
        );
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<adx xmlns="urn:ihe:qrph:adx:2015" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" exported="2026-04-01">
  <!-- comment -->
  <group dataSet="DS" period="2026-01-01/P9M" orgUnit="OU1" fund="A" completeDate="2026-10-05">
    <dataValue dataElement="DE1" sex="F" age="&lt;5" value="7"><annotation>Tra&#x323;m y te&#770;&#769; &amp; <![CDATA[x<y]]></annotation></dataValue>
    <dataValue dataElement="DE1" categoryOptionCombo="HllvX50cXC0" value="8"/>
    <dataValue dataElement="DE1" sex="M" value="9" xsi:type="t"/>
    <dataValue value="10"/>
  </group>
  <group dataSet="DS" period="2026-02-01/P3M" orgUnit="OU1">
    <dataValue dataElement="DE1" value="1"/>
    <dataValue dataElement="DE1" value="2"/>
  </group>
  <group dataSet="DS" period="2026-01-01/P1M" orgUnit="OU1" attributeOptionCombo="coc_B">
    <dataValue dataElement="DE1" value="3"/>
  </group>
  <group dataSet="DS" period="2026-01-01/P1Y" orgUnit="OU2" fund="B" attributeOptionCombo="coc_A"/>
  <group dataSet="DS" orgUnit="OU1"><dataValue dataElement="DE1" value="4"/></group>
</adx>"#;
        let mut sink = Collect::default();
        read_adx(xml.as_bytes(), "a.xml", Some(&m), &mut sink).unwrap_or_else(|e| panic!("{e}"));
        let r = &sink.records;
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].location, Location::Path("/adx/group[1]/dataValue[1]".to_string()));
        assert_eq!((r[0].period.as_str(), r[0].org_unit.as_str(), r[0].data_element.as_str(), r[0].value.as_str()), ("2026N9", "00004", "KCB_TONG", "7"));
        assert_eq!(r[0].disaggregation.as_deref(), Some("nu_duoi5"));
        assert_eq!(r[0].comment.as_deref(), Some("Trạm y tế & x<y"));
        assert_eq!(r[1].disaggregation, None);
        assert_eq!(r[2].disaggregation.as_deref(), Some("sex=M"));
        let p: Vec<(String, &str)> = sink.problems.iter().map(|p| (p.location.to_string(), p.reason)).collect();
        assert_eq!(
            p,
            vec![
                ("/adx/group[1]/dataValue[4]".to_string(), "item_malformed"),
                ("/adx/group[2]/dataValue[1]".to_string(), "period_malformed"),
                ("/adx/group[2]/dataValue[2]".to_string(), "period_malformed"),
                ("/adx/group[3]/dataValue[1]".to_string(), "attribute_option_combo_unsupported"),
                ("/adx/group[5]/dataValue[1]".to_string(), "period_malformed"),
            ]
        );
        assert!(sink.problems[1].message_vi.starts_with("Vị trí /adx/group[2]/dataValue[1]: kỳ báo cáo ADX \"2026-02-01/P3M\" không chuyển được"));
        assert!(sink.problems[4].message_en.contains("(missing)"));
    }

    #[test]
    fn adx_unreadable() {
        let mut sink = Collect::default();
        let reason = |xml: &str, sink: &mut Collect| match read_adx(xml.as_bytes(), "a.xml", None, sink) {
            Err(Error::Unreadable { reason, format: Format::Adx, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(reason("<adx>\n<group period=\"2026-01-01/P1M\">\n</grp></adx>", &mut sink).starts_with("invalid XML at line 3"));
        assert!(reason("<adx><group period=\"2026-01-01/P1M\" orgUnit=\"A\">", &mut sink).contains("cut short"));
        assert!(reason("<html/>", &mut sink).contains("<html>"));
        assert!(reason("", &mut sink).contains("no <adx>"));
        assert!(reason("<adx><group a=\"1\" a=\"2\"/></adx>", &mut sink).starts_with("invalid XML at line 1"));
    }
}
