//! ADX (XML) data value sets: groups of a period and an org unit, their data values.

use quick_xml::events::{BytesStart, Event};
use tonghop_core::text::nfc;

use crate::json::{self};
use crate::text::{self, non_empty, problem};
use crate::{Error, Format, Location, Record, Result, Sink};

use super::{attribute_unsupported, IdMapping, Ids};

/// Converts an ADX period (an ISO 8601 interval `start/duration`) to a period code:
/// `2020-01-01/P1M` → `202001`, `2021-04-01/P3M` → `2021Q2`, `2021-07-01/P6M` → `2021S2`,
/// `2021-01-01/P9M` → `2021N9` (tonghop's nine months), `2021-01-01/P1Y` → `2021`.
/// `None` for anything else (other starts, weeks, days, financial years).
pub fn adx_period(interval: &str) -> Option<String> {
    let (start, duration) = interval.trim().split_once('/')?;
    let b = start.trim().as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |s: &[u8]| -> Option<u32> {
        if s.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(s).ok()?.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (number(&b[..4])?, number(&b[5..7])?, number(&b[8..10])?);
    if !(1..=12).contains(&month) || day != 1 {
        return None;
    }
    match duration.trim().to_ascii_uppercase().as_str() {
        "P1M" => Some(format!("{year:04}{month:02}")),
        "P3M" if month % 3 == 1 => Some(format!("{year:04}Q{}", month / 3 + 1)),
        "P6M" if month == 1 || month == 7 => Some(format!("{year:04}S{}", month / 6 + 1)),
        "P9M" if month == 1 => Some(format!("{year:04}N9")),
        "P1Y" | "P12M" if month == 1 => Some(format!("{year:04}")),
        _ => None,
    }
}

/// What a `<group>` says about all its values.
#[derive(Debug)]
struct Group {
    index: usize,
    /// The period code, or the interval as written when it cannot be converted.
    period: std::result::Result<String, Option<String>>,
    org_unit: String,
    /// Attribute option combos (or `name=value` attribute categories) that are not supported.
    unsupported_attribute: Option<String>,
    values: usize,
}

/// A `<dataValue>` being read.
#[derive(Debug, Default)]
struct DataValue {
    path: String,
    data_element: Option<String>,
    value: Option<String>,
    combo: Option<String>,
    options: Vec<(String, String)>,
    annotation: Option<String>,
}

/// Reads an ADX document (namespace `urn:ihe:qrph:adx:2015`):
/// `<adx><group dataSet period="2020-01-01/P1M" orgUnit><dataValue dataElement value
/// [categoryOptionCombo] [category=option ...]><annotation>...</annotation></dataValue></group></adx>`.
///
/// Periods are converted with [`adx_period`]. Category options given as attributes of a
/// `dataValue` form the key `name=value;name=value` (sorted by name), mapped through the
/// `category_option_combo` table; extra attributes of a `group` are attribute categories, checked
/// like an `attributeOptionCombo`. `annotation` becomes the comment. Locations are
/// `/adx/group[2]/dataValue[1]`.
pub fn read_adx(bytes: &[u8], name: &str, mapping: Option<&IdMapping>, sink: &mut dyn Sink) -> Result<()> {
    let ids = Ids(mapping);
    let xml = json::utf8(bytes);
    let mut reader = quick_xml::Reader::from_reader(&xml[..]);
    let unreadable = |reason: String| Error::Unreadable { name: name.to_string(), format: Format::Adx, reason };
    let at = |pos: u64, what: &dyn std::fmt::Display| {
        let (line, column) = text::line_column(&xml, usize::try_from(pos).unwrap_or(usize::MAX));
        unreadable(format!("invalid XML at line {line}, column {column}: {what}"))
    };
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut groups = 0usize;
    let mut group: Option<Group> = None;
    let mut value: Option<DataValue> = None;
    let mut in_annotation = false;
    let mut stray = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| at(reader.error_position(), &e))?;
        let position = reader.buffer_position();
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                let local = String::from_utf8_lossy(local.as_ref()).into_owned();
                if depth == 0 {
                    if seen_root {
                        return Err(at(position, &"a second root element"));
                    }
                    seen_root = true;
                    if !local.eq_ignore_ascii_case("adx") {
                        return Err(unreadable(format!("the root element is <{local}>, not <adx>")));
                    }
                } else if depth == 1 && local.eq_ignore_ascii_case("group") {
                    groups += 1;
                    let g = read_group(e, groups, &ids).map_err(|what| at(position, &what))?;
                    if empty {
                        tracing::debug!(name, group = groups, "empty ADX group");
                    } else {
                        group = Some(g);
                    }
                } else if depth == 2 && local.eq_ignore_ascii_case("dataValue") {
                    if let Some(g) = group.as_mut() {
                        g.values += 1;
                        let path = format!("/adx/group[{}]/dataValue[{}]", g.index, g.values);
                        let dv = read_data_value(e, path).map_err(|what| at(position, &what))?;
                        if empty {
                            emit(g, &dv, &ids, sink);
                        } else {
                            value = Some(dv);
                        }
                    }
                } else if depth == 3 && value.is_some() && local.eq_ignore_ascii_case("annotation") {
                    in_annotation = !empty;
                } else if depth == 1 {
                    stray += 1;
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                match depth {
                    1 => group = None,
                    2 => {
                        if let (Some(g), Some(dv)) = (group.as_ref(), value.take()) {
                            emit(g, &dv, &ids, sink);
                        }
                    }
                    3 => in_annotation = false,
                    _ => {}
                }
            }
            Event::Text(ref t) if in_annotation => {
                let t = t.xml_content().map_err(|e| at(position, &e))?;
                push_annotation(&mut value, &t);
            }
            Event::CData(ref t) if in_annotation => {
                let t = t.decode().map_err(|e| at(position, &e))?;
                push_annotation(&mut value, &t);
            }
            Event::GeneralRef(ref r) if in_annotation => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let entity = r.decode().map_err(|e| at(position, &e))?;
                        match quick_xml::escape::resolve_predefined_entity(&entity) {
                            Some(s) => s.to_string(),
                            None => return Err(at(position, &format!("unknown entity &{entity};"))),
                        }
                    }
                    Err(e) => return Err(at(position, &e)),
                };
                push_annotation(&mut value, &resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(unreadable("no <adx> element".to_string()));
    }
    if depth > 0 {
        return Err(unreadable("the document ends before </adx>: the file is cut short".to_string()));
    }
    if stray > 0 {
        tracing::debug!(name, elements = stray, "ignored ADX elements other than group");
    }
    Ok(())
}

fn push_annotation(value: &mut Option<DataValue>, text: &str) {
    if let Some(dv) = value.as_mut() {
        dv.annotation.get_or_insert_with(String::new).push_str(text);
    }
}

/// The attributes of an element that carry data: no `xmlns`, no prefixed (`xsi:`) attributes.
fn attributes(e: &BytesStart<'_>) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for attribute in e.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        if attribute.key.prefix().is_some() || attribute.key.as_ref() == b"xmlns" {
            continue;
        }
        let key = String::from_utf8_lossy(attribute.key.local_name().as_ref()).into_owned();
        let value = attribute.unescape_value().map_err(|e| e.to_string())?;
        out.push((key, value.trim().to_string()));
    }
    Ok(out)
}

/// `name=value;name=value`, sorted by name.
fn canonical_key(mut pairs: Vec<(String, String)>) -> String {
    pairs.sort();
    pairs.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(";")
}

fn read_group(e: &BytesStart<'_>, index: usize, ids: &Ids<'_>) -> std::result::Result<Group, String> {
    let mut period = None;
    let mut org_unit = String::new();
    let mut attribute_combo = None;
    let mut categories = Vec::new();
    for (key, value) in attributes(e)? {
        match key.as_str() {
            k if k.eq_ignore_ascii_case("period") => period = Some(value),
            k if k.eq_ignore_ascii_case("orgUnit") => org_unit = ids.org_unit(&value).to_string(),
            k if k.eq_ignore_ascii_case("attributeOptionCombo") => attribute_combo = Some(value),
            k if k.eq_ignore_ascii_case("dataSet") || k.eq_ignore_ascii_case("completeDate") => {}
            _ => categories.push((key, value)),
        }
    }
    let mut unsupported = Vec::new();
    if let Some(combo) = attribute_combo.filter(|c| !ids.attribute_ok(c)) {
        unsupported.push(combo);
    }
    if !categories.is_empty() {
        let each_ok = categories.iter().all(|(n, v)| ids.attribute_ok(&format!("{n}={v}")));
        let key = canonical_key(categories);
        if !each_ok && !ids.attribute_ok(&key) {
            unsupported.push(key);
        }
    }
    Ok(Group {
        index,
        period: period.as_deref().and_then(adx_period).ok_or(period),
        org_unit,
        unsupported_attribute: (!unsupported.is_empty()).then(|| unsupported.join(";")),
        values: 0,
    })
}

fn read_data_value(e: &BytesStart<'_>, path: String) -> std::result::Result<DataValue, String> {
    let mut dv = DataValue { path, ..DataValue::default() };
    for (key, value) in attributes(e)? {
        match key.as_str() {
            k if k.eq_ignore_ascii_case("dataElement") => dv.data_element = Some(value),
            k if k.eq_ignore_ascii_case("value") => dv.value = Some(value),
            k if k.eq_ignore_ascii_case("categoryOptionCombo") => dv.combo = Some(value),
            _ => dv.options.push((key, value)),
        }
    }
    Ok(dv)
}

fn emit(group: &Group, dv: &DataValue, ids: &Ids<'_>, sink: &mut dyn Sink) {
    let location = Location::Path(dv.path.clone());
    let period = match &group.period {
        Ok(period) => period,
        Err(written) => {
            sink.problem(problem(
                location,
                "period",
                written.clone(),
                "period_malformed",
                format!(
                    "kỳ báo cáo ADX {} không chuyển được sang mã kỳ báo cáo; cần dạng ngày bắt đầu/độ dài, ví dụ 2026-03-01/P1M (tháng), \
                     2026-01-01/P3M (quý), 2026-07-01/P6M (6 tháng), 2026-01-01/P9M (9 tháng) hoặc 2026-01-01/P1Y (năm)",
                    written.as_deref().map_or("(trống)".to_string(), |w| format!("\"{w}\""))
                ),
                format!(
                    "ADX period {} cannot be converted to a period code: expected start/duration such as 2026-03-01/P1M (month), \
                     2026-01-01/P3M (quarter), 2026-07-01/P6M (half year), 2026-01-01/P9M (nine months) or 2026-01-01/P1Y (year)",
                    written.as_deref().map_or("(missing)".to_string(), |w| format!("\"{w}\""))
                ),
            ));
            return;
        }
    };
    if let Some(combo) = &group.unsupported_attribute {
        sink.problem(attribute_unsupported(location, combo));
        return;
    }
    let Some(data_element) = dv.data_element.as_deref().and_then(non_empty) else {
        sink.problem(json::missing(location, "dataElement", "mã phần tử dữ liệu"));
        return;
    };
    let key;
    let combo = match (&dv.combo, dv.options.is_empty()) {
        (Some(combo), _) => combo.as_str(),
        (None, false) => {
            key = canonical_key(dv.options.clone());
            key.as_str()
        }
        (None, true) => "",
    };
    let comment = dv.annotation.as_deref().and_then(non_empty).map(nfc);
    sink.record(&Record {
        location,
        period,
        org_unit: &group.org_unit,
        data_element: ids.data_element(data_element),
        disaggregation: ids.disaggregation(combo),
        value: dv.value.as_deref().unwrap_or(""),
        comment: comment.as_deref(),
        stored_by: None,
        deleted: false,
    });
}
