//! Trends (`/xu-huong`): one unit's indicator over every period of the chosen period's type that the
//! last build made (months for a year to date), with the same period a year earlier and the 2030
//! target as lines. The chart is drawn in the browser by the vendored uPlot (`static/trend.js`,
//! from the figures in the page's `data-*` attributes); the same figures are always in a table,
//! and as CSV.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{context, Value};
use serde_json::json;
use tonghop_core::{Period, PeriodType};

use super::data::{self, Filter, Row};
use super::overview::{row_context, status_of};
use super::select::*;
use super::{Dashboard, Viewer};

/// The type of the periods a trend of `period` shows: its own, months for a year to date.
fn series_kind(period: &Period) -> PeriodType {
    match period.kind() {
        PeriodType::YearToDate => PeriodType::Month,
        other => other,
    }
}

/// The unit's rows for the chosen indicator, one per period of the series' type that the build made.
async fn series(d: &Dashboard, s: &Selection) -> crate::Result<Vec<Row>> {
    let kind = series_kind(&s.period);
    let filter = Filter {
        epoch: s.epoch.as_str(),
        level: s.unit.level.as_str(),
        province: s.unit.province_code.as_deref(),
        unit: Some(&s.unit.code),
        indicator: Some(&s.indicator),
        period_type: Some(kind.as_str()),
        ..Filter::default()
    };
    let mut rows = data::rows(&d.service, &filter).await?;
    rows.retain(|r| r.period.parse::<Period>().is_ok_and(|p| s.periods.contains(&p)));
    Ok(rows)
}

pub(super) async fn trends(State(d): State<Arc<Dashboard>>, viewer: Viewer, Query(params): Query<Params>) -> Response {
    let s = match select(&d, &viewer, &params, "GET /xu-huong").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let rows = match series(&d, &s).await {
        Ok(rows) => rows,
        Err(e) => return read_failed(&d, &viewer, &e),
    };
    audit_view(&d, &viewer, &s, "GET /xu-huong", rows.len());
    let periods: Vec<Option<Period>> = rows.iter().map(|r| r.period.parse::<Period>().ok()).collect();
    let labels: Vec<String> = periods.iter().map(|p| p.as_ref().map(super::format::short_period).unwrap_or_default()).collect();
    let values: Vec<Option<f64>> = rows.iter().map(|r| r.value).collect();
    let previous: Vec<Option<f64>> = rows.iter().map(|r| r.previous).collect();
    let target: Vec<Option<f64>> = rows.iter().map(|r| r.target).collect();
    let table: Vec<_> = rows
        .iter()
        .zip(&periods)
        .map(|(r, p)| {
            let mut c = row_context(r);
            c["period"] = p.as_ref().map(Period::name_vi).unwrap_or_else(|| r.period.clone()).into();
            c
        })
        .collect();
    let name = indicator_name(&d.service, &s.indicator);
    let kind = series_kind(&s.period);
    let heading = format!("Xu hướng: {name} — {}", unit_label(&s.unit));
    let context = context! {
        title => heading.clone(),
        heading,
        kind => kind_label(kind),
        chart => json!({
            "labels": serde_json::to_string(&labels).unwrap_or_default(),
            "values": serde_json::to_string(&values).unwrap_or_default(),
            "previous": serde_json::to_string(&previous).unwrap_or_default(),
            "target": serde_json::to_string(&target).unwrap_or_default(),
        }),
        rows => table,
        csv => s.href("/xu-huong/csv", &[]),
        ..Value::from_serialize(common(&d, &viewer, &s, "/xu-huong"))
    };
    d.page(StatusCode::OK, "trends.html", context)
}

pub(super) async fn trends_csv(State(d): State<Arc<Dashboard>>, viewer: Viewer, Query(params): Query<Params>) -> Response {
    let s = match select(&d, &viewer, &params, "GET /xu-huong/csv").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let rows = match series(&d, &s).await {
        Ok(rows) => rows,
        Err(e) => return read_failed(&d, &viewer, &e),
    };
    audit_download(&d, &viewer, &s, "GET /xu-huong/csv", "trend", rows.len());
    let name = format!("tonghop-xu-huong-{}-{}-{}-{}.csv", s.epoch, s.unit.code, s.indicator, series_kind(&s.period).as_str());
    csv_response(&name, csv_of(&rows))
}

/// The series as CSV: the figures unrounded.
fn csv_of(rows: &[Row]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv_writer();
    w.write_record(["Kỳ", "Tên kỳ", "Giá trị (%)", "Cùng kỳ năm trước (%)", "Mục tiêu 2030 (%)", "Xã báo cáo", "Xã phải báo cáo", "Tình trạng"])?;
    for r in rows {
        let name = r.period.parse::<Period>().map(|p| p.name_vi()).unwrap_or_default();
        w.write_record([
            r.period.clone(),
            name,
            csv_number(r.value),
            csv_number(r.previous),
            csv_number(r.target),
            r.reporting.to_string(),
            r.expected.to_string(),
            status_of(r).1.to_string(),
        ])?;
    }
    csv_bytes(w)
}
