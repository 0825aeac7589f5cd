//! The overview (`/tong-quan`): one unit's card per indicator, the map of provinces (nationally)
//! and the units one level down (table and ranked bars), and both tables as CSV.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{context, Value};
use serde_json::json;
use tonghop_core::{Epoch, Level};

use super::data::{self, Filter, Row};
use super::select::*;
use super::{format, map, Dashboard, Viewer};
use crate::service::Service;

/// A unit not met but within this many percentage points of its target is "near" (amber).
pub(super) const NEAR_POINTS: f64 = 5.0;

/// The unit's own rows (one per indicator, in the catalog's order) and, for the chosen indicator,
/// its units one level down, sorted as asked.
pub(super) async fn read(service: &Service, s: &Selection) -> crate::Result<(Vec<Row>, Vec<Row>)> {
    let (epoch, period) = (s.epoch.as_str(), s.period.to_string());
    let province = s.unit.province_code.as_deref();
    let year = Some(s.period.year());
    let own = Filter { epoch, period: Some(&period), year, level: s.unit.level.as_str(), province, unit: Some(&s.unit.code), ..Filter::default() };
    let mut cards = data::rows(service, &own).await?;
    let order: BTreeMap<&str, usize> = service.catalog.indicators.iter().enumerate().map(|(i, x)| (x.code.as_str(), i)).collect();
    cards.sort_by_key(|r| order.get(r.indicator.as_str()).copied().unwrap_or(usize::MAX));
    let mut children = match child_level(&s.unit) {
        None => Vec::new(),
        Some(level) => {
            let filter = Filter { epoch, period: Some(&period), year, level: level.as_str(), province, indicator: Some(&s.indicator), ..Filter::default() };
            let mut rows = data::rows(service, &filter).await?;
            if s.unit.level == Level::District {
                rows.retain(|r| service.registry.get(s.epoch, &r.code).and_then(|u| u.district_code.as_deref()) == Some(s.unit.code.as_str()));
            }
            rows
        }
    };
    sort_rows(&mut children, &s.sort);
    Ok((cards, children))
}

pub(super) fn sort_rows(rows: &mut [Row], sort: &str) {
    let missing_last = |v: Option<f64>, descending: bool| match v {
        None => (1, 0.0),
        Some(x) => (0, if descending { -x } else { x }),
    };
    match sort {
        "name" => rows.sort_by_cached_key(|r| name_key(&r.name)),
        "value" | "-value" | "gap" | "-gap" => {
            let descending = sort.starts_with('-');
            let pick = |r: &Row| if sort.ends_with("gap") { r.gap } else { r.value };
            rows.sort_by(|a, b| missing_last(pick(a), descending).partial_cmp(&missing_last(pick(b), descending)).unwrap_or(std::cmp::Ordering::Equal));
        }
        _ => rows.sort_by(|a, b| a.code.cmp(&b.code)),
    }
}

/// A status's colour class and Vietnamese label.
pub(super) fn status_of(row: &Row) -> (&'static str, &'static str) {
    match row.status.as_str() {
        "met" => ("met", "Đạt"),
        "not_met" if row.gap.is_some_and(|g| g <= NEAR_POINTS) => ("near", "Gần đạt"),
        "not_met" => ("far", "Chưa đạt"),
        _ => ("none", "Chưa có số liệu"),
    }
}

pub(super) fn gap_text(row: &Row) -> String {
    match (row.status.as_str(), row.gap) {
        ("met", _) => "Đạt mục tiêu".into(),
        (_, Some(g)) => format!("Còn thiếu {}", format::points(Some(g)).trim_start_matches('+')),
        _ => "—".into(),
    }
}

pub(super) fn row_context(row: &Row) -> serde_json::Value {
    let (class, label) = status_of(row);
    json!({
        "code": row.code,
        "name": row.name,
        "indicator": row.indicator,
        "indicator_name": row.indicator_name,
        "value": format::percent(row.value),
        "target": format::target(&row.comparison, row.target),
        "gap": gap_text(row),
        "previous": format::percent(row.previous),
        "change": format::points(row.change),
        "compared": match row.previous {
            Some(_) => format!("So với cùng kỳ năm trước ({}): {}", format::percent(row.previous), format::points(row.change)),
            None => "Cùng kỳ năm trước: chưa có số liệu".into(),
        },
        "reporting": format!("{}/{}", format::integer(row.reporting), format::integer(row.expected)),
        "class": class,
        "status": label,
    })
}

/// The ranked bars of the units one level down (highest first), with the target as a line.
pub(super) fn bars_svg(rows: &[Row]) -> String {
    let mut ranked: Vec<&Row> = rows.iter().filter(|r| r.value.is_some()).collect();
    ranked.sort_by(|a, b| b.value.partial_cmp(&a.value).unwrap_or(std::cmp::Ordering::Equal));
    let (label_w, bar_w, row_h) = (170.0, 300.0, 18.0);
    let scale = ranked.iter().filter_map(|r| r.value).chain(ranked.iter().filter_map(|r| r.target)).fold(100.0_f64, f64::max);
    let height = row_h * ranked.len() as f64 + 20.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="bars" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {height}" width="{w}" height="{height}" role="img" aria-label="Xếp hạng">"#,
        w = label_w + bar_w + 70.0
    );
    for (i, r) in ranked.iter().enumerate() {
        let y = i as f64 * row_h;
        let value = r.value.unwrap_or_default();
        let (class, _) = status_of(r);
        let _ = write!(
            out,
            r#"<g><title>{name}: {text}</title><text x="{lx}" y="{ty}" class="bar-label">{name}</text><rect x="{label_w}" y="{by}" width="{bw:.1}" height="{bh}" class="{class}"/><text x="{vx:.1}" y="{ty}" class="bar-value">{text}</text></g>"#,
            name = format::xml(&r.name),
            text = format::percent(r.value),
            lx = label_w - 6.0,
            ty = y + 13.0,
            by = y + 3.0,
            bw = bar_w * value / scale,
            bh = row_h - 5.0,
            vx = label_w + bar_w * value / scale + 4.0,
        );
    }
    if let Some(target) = ranked.iter().find_map(|r| r.target) {
        let x = label_w + bar_w * target / scale;
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" y1="0" x2="{x:.1}" y2="{y2}" class="target-line"><title>Mục tiêu 2030: {t}</title></line><text x="{x:.1}" y="{ty}" class="target-label">Mục tiêu {t}</text>"#,
            y2 = height - 16.0,
            ty = height - 4.0,
            t = format::percent(Some(target)),
        );
    }
    out.push_str("</svg>");
    out
}

pub(super) async fn overview(State(d): State<Arc<Dashboard>>, viewer: Viewer, Query(params): Query<Params>) -> Response {
    let s = match select(&d, &viewer, &params, "GET /tong-quan").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let service = &d.service;
    let (cards, children) = match read(service, &s).await {
        Ok(x) => x,
        Err(e) => return read_failed(&d, &viewer, &e),
    };
    audit_view(&d, &viewer, &s, "GET /tong-quan", cards.len() + children.len());
    let indicator_name = indicator_name(service, &s.indicator);

    let child_level = child_level(&s.unit);
    let child_heading = match child_level {
        Some(Level::Province) => "Các tỉnh, thành phố",
        Some(Level::District) => "Các huyện, quận, thị xã, thành phố thuộc tỉnh",
        Some(Level::Commune) => "Các xã, phường, đặc khu",
        _ => "",
    };
    let child_rows: Vec<_> = children
        .iter()
        .map(|r| {
            let mut c = row_context(r);
            c["href"] = s.href("/tong-quan", &[("unit", &r.code)]).into();
            c
        })
        .collect();
    let map = (s.unit.level == Level::National && s.epoch == Epoch::Post2025).then(|| {
        let by_code: BTreeMap<&str, &Row> = children.iter().map(|r| (r.code.as_str(), r)).collect();
        let title = format!("Bản đồ các tỉnh, thành phố: {indicator_name}");
        let tile = |code: &str| {
            let unit = service.registry.get(s.epoch, code)?;
            let row = by_code.get(code);
            Some(map::Tile {
                name: unit.name.clone(),
                value: format::percent(row.and_then(|r| r.value)),
                class: row.map_or("none", |r| status_of(r).0),
                href: s.href("/tong-quan", &[("unit", code)]),
            })
        };
        Value::from_safe_string(match &d.boundaries {
            Some(b) => b.svg(&title, tile),
            None => map::svg(&title, tile),
        })
    });
    let bars = (!children.is_empty()).then(|| Value::from_safe_string(bars_svg(&children)));
    let sort_link = |key: &str| {
        let next = if s.sort == key && !key.starts_with('-') && key != "code" && key != "name" { format!("-{key}") } else { key.to_string() };
        s.href("/tong-quan", &[("sort", &next)])
    };
    let context = context! {
        title => format!("{} — {}", unit_label(&s.unit), s.period.name_vi()),
        heading => format!("{} — {}", unit_label(&s.unit), s.period.name_vi()),
        cards => cards.iter().map(row_context).collect::<Vec<_>>(),
        child_heading,
        children => child_rows,
        has_children => child_level.is_some(),
        map, bars,
        links => json!({
            "cards": s.href("/tong-quan", &[("view", "cards")]),
            "table": s.href("/tong-quan", &[("view", "table")]),
            "csv_cards": s.href("/tong-quan/csv", &[("part", "cards")]),
            "csv_units": s.href("/tong-quan/csv", &[("part", "units")]),
            "sort_name": sort_link("name"),
            "sort_value": sort_link("value"),
            "sort_gap": sort_link("gap"),
        }),
        ..Value::from_serialize(common(&d, &viewer, &s, "/tong-quan"))
    };
    d.page(StatusCode::OK, "overview.html", context)
}

pub(super) async fn overview_csv(State(d): State<Arc<Dashboard>>, viewer: Viewer, Query(params): Query<Params>) -> Response {
    let s = match select(&d, &viewer, &params, "GET /tong-quan/csv").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let units = match params.part.as_deref() {
        Some("units") => true,
        Some("cards") | None => false,
        Some(other) => {
            return d.message(StatusCode::BAD_REQUEST, Some(&viewer), "Yêu cầu không hợp lệ", &format!("Bảng “{other}” không có (chọn cards hoặc units)."))
        }
    };
    let (cards, children) = match read(&d.service, &s).await {
        Ok(x) => x,
        Err(e) => return read_failed(&d, &viewer, &e),
    };
    let rows = if units { &children } else { &cards };
    audit_download(&d, &viewer, &s, "GET /tong-quan/csv", if units { "units" } else { "cards" }, rows.len());
    let name = format!("tonghop-{}-{}-{}-{}.csv", s.epoch, s.unit.code, s.period, if units { &s.indicator } else { "chi-tieu" });
    csv_response(&name, csv_of(rows, units))
}

/// The rows of a page's table as CSV (UTF-8 with a byte-order mark, for Excel): the figures
/// unrounded, the columns as the page shows them.
pub(super) fn csv_of(rows: &[Row], units: bool) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv_writer();
    let first = if units { ["Mã đơn vị", "Đơn vị"] } else { ["Mã chỉ tiêu", "Chỉ tiêu"] };
    w.write_record(first.iter().chain(&[
        "Giá trị (%)",
        "So sánh",
        "Mục tiêu 2030 (%)",
        "Còn thiếu (điểm %)",
        "Cùng kỳ năm trước (%)",
        "Thay đổi (điểm %)",
        "Xã báo cáo",
        "Xã phải báo cáo",
        "Tình trạng",
    ]))?;
    for r in rows {
        let (id, name) = if units { (&r.code, &r.name) } else { (&r.indicator, &r.indicator_name) };
        w.write_record([
            id.clone(),
            name.clone(),
            csv_number(r.value),
            r.comparison.clone(),
            csv_number(r.target),
            csv_number(r.gap),
            csv_number(r.previous),
            csv_number(r.change),
            r.reporting.to_string(),
            r.expected.to_string(),
            status_of(r).1.to_string(),
        ])?;
    }
    csv_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_holds_the_unrounded_figures_with_a_bom() {
        let row = Row {
            period: "2026Q1".into(),
            code: "04".into(),
            name: "Cao Bằng".into(),
            indicator: "BHYT_BAO_PHU".into(),
            indicator_name: "Tỷ lệ dân số tham gia BHYT".into(),
            value: Some(93.123456),
            target: Some(95.0),
            comparison: ">".into(),
            status: "not_met".into(),
            gap: Some(1.876544),
            previous: None,
            change: None,
            reporting: 56,
            expected: 56,
        };
        let bytes = csv_of(std::slice::from_ref(&row), true).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with('\u{feff}'));
        assert!(text.contains("04,Cao Bằng,93.123456,>,95,1.876544,,,56,56,Gần đạt"), "{text}");
    }
}
