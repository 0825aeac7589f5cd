//! tonghop JSON submissions: one object
//!
//! ```json
//! {"period": "202603", "org_unit": "00004",
//!  "values": [{"data_element": "DS_TONG", "value": 12000, "disaggregation": "nu", "comment": "..."}]}
//! ```
//!
//! or an array of such objects. `value` may be a number, a string, or `null`/missing (read as `""`
//! so that the validator reports it). A value entry may carry its own `period` and `org_unit`,
//! which win over the object's. Locations are JSON paths: `$.values[3]`, `$[2].values[0]`.

use std::borrow::Cow;

use serde_json::{Map, Value};
use tonghop_core::text::nfc;

use crate::text::{self, problem};
use crate::{Error, Format, Location, Problem, Record, Result, Sink};

/// Reads a JSON submission (one object or an array of them) into `sink`.
///
/// ```
/// use tonghop_formats::{json, Collect};
/// let mut sink = Collect::default();
/// json::read(br#"{"period":"202603","org_unit":"00004","values":[{"data_element":"DS_TONG","value":12000}]}"#,
///            "x.json", &mut sink).unwrap();
/// assert_eq!(sink.records[0].value, "12000");
/// ```
pub fn read(bytes: &[u8], name: &str, sink: &mut dyn Sink) -> Result<()> {
    let doc = parse(bytes, name, Format::Json)?;
    match &doc {
        Value::Object(object) => submission(object, "$", sink),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("$[{i}]");
                match item {
                    Value::Object(object) => submission(object, &path, sink),
                    other => sink.problem(not_an_object(path, other)),
                }
            }
        }
        _ => {
            return Err(Error::Unreadable {
                name: name.to_string(),
                format: Format::Json,
                reason: "expected an object {\"period\", \"org_unit\", \"values\": [...]} or an array of such objects".to_string(),
            })
        }
    }
    Ok(())
}

/// One submission object at `path`.
fn submission(object: &Map<String, Value>, path: &str, sink: &mut dyn Sink) {
    let mut defaults = [("period", Cow::Borrowed("")), ("org_unit", Cow::Borrowed(""))];
    for (key, default) in &mut defaults {
        match scalar(object.get(*key)) {
            Some(v) => *default = v,
            None => {
                sink.problem(wrong_type(Location::Path(path.to_string()), key, object.get(*key)));
                return;
            }
        }
    }
    let [(_, period), (_, org_unit)] = &defaults;
    let values = match object.get("values") {
        Some(Value::Array(values)) => values,
        other => {
            let location = Location::Path(path.to_string());
            sink.problem(problem(
                location,
                "values",
                other.map(|v| text::shorten(&v.to_string())),
                "item_malformed",
                "thiếu mảng \"values\" chứa các giá trị [{\"data_element\": ..., \"value\": ...}]".to_string(),
                "no \"values\" array of values [{\"data_element\": ..., \"value\": ...}]".to_string(),
            ));
            return;
        }
    };
    for (i, item) in values.iter().enumerate() {
        let path = format!("{path}.values[{i}]");
        let Value::Object(entry) = item else {
            sink.problem(not_an_object(path, item));
            continue;
        };
        let location = Location::Path(path);
        let mut fields = [("period", Cow::Borrowed("")), ("org_unit", Cow::Borrowed("")), ("data_element", Cow::Borrowed("")), ("value", Cow::Borrowed(""))];
        let mut ok = true;
        for (key, field) in &mut fields {
            match scalar(entry.get(*key)) {
                Some(v) => *field = v,
                None => {
                    sink.problem(wrong_type(location.clone(), key, entry.get(*key)));
                    ok = false;
                }
            }
        }
        if !ok {
            continue;
        }
        let [(_, own_period), (_, own_org_unit), (_, data_element), (_, value)] = &fields;
        if data_element.is_empty() {
            sink.problem(missing(location, "data_element", "mã chỉ tiêu"));
            continue;
        }
        let disaggregation = free_text(entry.get("disaggregation"));
        let comment = free_text(entry.get("comment"));
        sink.record(&Record {
            period: if own_period.is_empty() { period } else { own_period },
            org_unit: if own_org_unit.is_empty() { org_unit } else { own_org_unit },
            data_element,
            disaggregation: disaggregation.as_deref(),
            value,
            comment: comment.as_deref(),
            stored_by: None,
            deleted: false,
            location,
        });
    }
}

/// Parses a whole JSON document: a UTF-8 BOM is skipped, UTF-16 (by BOM) decoded.
pub(crate) fn parse(bytes: &[u8], name: &str, format: Format) -> Result<Value> {
    let bytes = utf8(bytes);
    serde_json::from_slice(&bytes).map_err(|e| Error::Unreadable { name: name.to_string(), format, reason: format!("invalid JSON: {e}") })
}

/// The bytes as UTF-8: a UTF-8 BOM skipped, UTF-16 by its BOM decoded.
pub(crate) fn utf8(bytes: &[u8]) -> Cow<'_, [u8]> {
    let sniffed = text::sniff(&bytes[..bytes.len().min(8)], Some(encoding_rs::UTF_8));
    let body = &bytes[sniffed.bom..];
    if sniffed.encoding == encoding_rs::UTF_8 {
        Cow::Borrowed(body)
    } else {
        match sniffed.encoding.decode_without_bom_handling(body).0 {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        }
    }
}

/// A scalar as text, trimmed: `""` for null or missing, numbers as written by serde_json,
/// booleans as `true`/`false`. `None` for an array or object.
pub(crate) fn scalar(value: Option<&Value>) -> Option<Cow<'_, str>> {
    match value {
        None | Some(Value::Null) => Some(Cow::Borrowed("")),
        Some(Value::String(s)) => Some(Cow::Borrowed(s.trim())),
        Some(Value::Number(n)) => Some(Cow::Owned(n.to_string())),
        Some(Value::Bool(b)) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Some(Value::Array(_) | Value::Object(_)) => None,
    }
}

/// A free-text field (comment, disaggregation): trimmed, NFC, `None` when empty, null or not a scalar.
pub(crate) fn free_text(value: Option<&Value>) -> Option<Cow<'_, str>> {
    match scalar(value)? {
        Cow::Borrowed(s) => text::non_empty(s).map(nfc),
        Cow::Owned(s) => text::non_empty(&s).map(|s| Cow::Owned(nfc(s).into_owned())),
    }
}

/// `item_malformed`: the item at `path` is not an object.
pub(crate) fn not_an_object(path: String, item: &Value) -> Problem {
    problem(
        Location::Path(path),
        "*",
        Some(text::shorten(&item.to_string())),
        "item_malformed",
        "mục này không phải một đối tượng JSON {...}".to_string(),
        "the item is not a JSON object {...}".to_string(),
    )
}

/// `item_malformed`: `field` is missing or empty.
pub(crate) fn missing(location: Location, field: &str, vi_name: &str) -> Problem {
    problem(location, field, None, "item_malformed", format!("thiếu \"{field}\" ({vi_name})"), format!("\"{field}\" is missing"))
}

/// `item_malformed`: `field` is an array or object where text or a number belongs.
pub(crate) fn wrong_type(location: Location, field: &str, value: Option<&Value>) -> Problem {
    problem(
        location,
        field,
        value.map(|v| text::shorten(&v.to_string())),
        "item_malformed",
        format!("\"{field}\" phải là chuỗi hoặc số, không phải mảng hay đối tượng"),
        format!("\"{field}\" must be a string or a number, not an array or object"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Collect;

    fn read_str(s: &str) -> Collect {
        let mut sink = Collect::default();
        if let Err(e) = read(s.as_bytes(), "t.json", &mut sink) {
            panic!("{e}");
        }
        sink
    }

    #[test]
    fn one_object() {
        let sink = read_str(
            r#"{"period": "202603", "org_unit": "00004", "values": [
                {"data_element": "DS_TONG", "value": 12000},
                {"data_element": " KCB_TONG ", "value": "350", "comment": "Tra\u0323m y te\u0302\u0301 ", "disaggregation": ""},
                {"data_element": "KCB_BHYT", "value": null, "period": "202602", "org_unit": "00007"},
                {"data_element": "TYT_BS", "value": 1.5e1},
                {"data_element": "TYT_HS"}
            ]}"#,
        );
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        let r = &sink.records;
        assert_eq!(r.len(), 5);
        assert_eq!((r[0].period.as_str(), r[0].org_unit.as_str(), r[0].value.as_str()), ("202603", "00004", "12000"));
        assert_eq!(r[0].location, Location::Path("$.values[0]".to_string()));
        assert_eq!(r[1].data_element, "KCB_TONG");
        assert_eq!(r[1].comment.as_deref(), Some("Trạm y tế"));
        assert_eq!(r[1].disaggregation, None);
        assert_eq!((r[2].period.as_str(), r[2].org_unit.as_str(), r[2].value.as_str()), ("202602", "00007", ""));
        assert_eq!(r[3].value, "15.0");
        assert_eq!(r[4].value, "");
    }

    #[test]
    fn array_and_malformed_items() {
        let sink = read_str(
            r#"[{"period": 202603, "org_unit": "00004", "values": [{"data_element": "DS_TONG", "value": 1}]},
                 42,
                 {"period": "202603", "org_unit": "00007", "values": [
                    "DS_TONG=5",
                    {"value": 3},
                    {"data_element": "DS_TONG", "value": [1, 2]},
                    {"data_element": "KCB_TONG", "value": 7, "disaggregation": "nu"}
                 ]},
                 {"period": "202603", "org_unit": "00008"},
                 {"period": {"y": 2026}, "org_unit": "00009", "values": []}]"#,
        );
        assert_eq!(sink.records.len(), 2);
        assert_eq!(sink.records[0].period, "202603");
        assert_eq!(sink.records[1].location, Location::Path("$[2].values[3]".to_string()));
        assert_eq!(sink.records[1].disaggregation.as_deref(), Some("nu"));
        let p: Vec<(String, &str, &str)> = sink.problems.iter().map(|p| (p.location.to_string(), p.field.as_str(), p.reason)).collect();
        assert_eq!(
            p,
            vec![
                ("$[1]".to_string(), "*", "item_malformed"),
                ("$[2].values[0]".to_string(), "*", "item_malformed"),
                ("$[2].values[1]".to_string(), "data_element", "item_malformed"),
                ("$[2].values[2]".to_string(), "value", "item_malformed"),
                ("$[3]".to_string(), "values", "item_malformed"),
                ("$[4]".to_string(), "period", "item_malformed"),
            ]
        );
        assert_eq!(sink.problems[2].message_vi, "Vị trí $[2].values[1]: thiếu \"data_element\" (mã chỉ tiêu)");
        assert_eq!(sink.problems[2].message_en, "at $[2].values[1]: \"data_element\" is missing");
    }

    #[test]
    fn invalid_json_is_unreadable_with_position() {
        let mut sink = Collect::default();
        match read(b"{\"period\": \"202603\",\n \"values\": [1,}", "bad.json", &mut sink) {
            Err(Error::Unreadable { reason, format: Format::Json, .. }) => {
                assert!(reason.contains("line 2"), "{reason}");
                assert!(reason.contains("column"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(read(b"\"just a string\"", "s.json", &mut sink), Err(Error::Unreadable { .. })));
    }

    #[test]
    fn bom_and_utf16() {
        let mut sink = Collect::default();
        let doc = r#"{"period":"202603","org_unit":"00004","values":[{"data_element":"DS_TONG","value":"1","comment":"Trạm"}]}"#;
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(doc.as_bytes());
        read(&bom, "a.json", &mut sink).unwrap_or_else(|e| panic!("{e}"));
        let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain(doc.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        read(&utf16, "b.json", &mut sink).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sink.records.len(), 2);
        assert_eq!(sink.records[1].comment.as_deref(), Some("Trạm"));
    }
}
