//! DHIS2 JSON data value sets.

use serde_json::Value;

use crate::json::{self, free_text, scalar};
use crate::text::non_empty;
use crate::{Error, Format, Location, Record, Result, Sink};

use super::{attribute_unsupported, IdMapping, Ids};

/// Reads a DHIS2 JSON data value set:
/// `{"dataValues": [{"dataElement", "period", "orgUnit", "categoryOptionCombo",
/// "attributeOptionCombo", "value", "storedBy", "comment", "deleted", ...}]}`. The set's own
/// `period`, `orgUnit` and `attributeOptionCombo` apply to values that lack them. Locations are
/// `$.dataValues[i]`.
pub fn read_json(bytes: &[u8], name: &str, mapping: Option<&IdMapping>, sink: &mut dyn Sink) -> Result<()> {
    let unreadable = |reason: &str| Error::Unreadable { name: name.to_string(), format: Format::Dhis2Json, reason: reason.to_string() };
    let doc = json::parse(bytes, name, Format::Dhis2Json)?;
    let Value::Object(set) = &doc else {
        return Err(unreadable("expected a data value set object {\"dataValues\": [...]}"));
    };
    let Some(Value::Array(values)) = set.get("dataValues") else {
        return Err(unreadable("the data value set has no \"dataValues\" array"));
    };
    let ids = Ids(mapping);
    let top = |key: &str| scalar(set.get(key)).unwrap_or_default();
    let (set_period, set_org_unit, set_attribute) = (top("period"), top("orgUnit"), top("attributeOptionCombo"));
    for (i, item) in values.iter().enumerate() {
        let path = format!("$.dataValues[{i}]");
        let Value::Object(dv) = item else {
            sink.problem(json::not_an_object(path, item));
            continue;
        };
        let location = Location::Path(path);
        let keys = ["dataElement", "period", "orgUnit", "categoryOptionCombo", "attributeOptionCombo", "value", "storedBy"];
        let mut fields: [std::borrow::Cow<'_, str>; 7] = Default::default();
        let mut ok = true;
        for (key, field) in keys.iter().zip(fields.iter_mut()) {
            match scalar(dv.get(*key)) {
                Some(v) => *field = v,
                None => {
                    sink.problem(json::wrong_type(location.clone(), key, dv.get(*key)));
                    ok = false;
                }
            }
        }
        if !ok {
            continue;
        }
        let [data_element, period, org_unit, combo, attribute, value, stored_by] = &fields;
        if data_element.is_empty() {
            sink.problem(json::missing(location, "dataElement", "mã phần tử dữ liệu"));
            continue;
        }
        let or = |own: &'_ std::borrow::Cow<'_, str>, set: &'_ std::borrow::Cow<'_, str>| -> String {
            if own.is_empty() {
                set.to_string()
            } else {
                own.to_string()
            }
        };
        let (period, org_unit, attribute) = (or(period, &set_period), or(org_unit, &set_org_unit), or(attribute, &set_attribute));
        if !ids.attribute_ok(&attribute) {
            sink.problem(attribute_unsupported(location, &attribute));
            continue;
        }
        let comment = free_text(dv.get("comment"));
        let deleted = match dv.get("deleted") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
            _ => false,
        };
        sink.record(&Record {
            location,
            period: &period,
            org_unit: ids.org_unit(&org_unit),
            data_element: ids.data_element(data_element),
            disaggregation: ids.disaggregation(combo),
            value,
            comment: comment.as_deref(),
            stored_by: non_empty(stored_by),
            deleted,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CSV
