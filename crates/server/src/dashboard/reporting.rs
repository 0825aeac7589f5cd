//! Reporting (`/bao-cao`): for a unit and period, the completeness and timeliness of the commune
//! reports (on time by the working-day deadline of the unit's level, `completeness`), the same for
//! each unit one level down, the communes under it that missed a report whose deadline passed, and
//! the open data-quality findings of its communes in the period's months (`quality_issues`).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{context, Value};
use serde_json::json;
use tonghop_core::Period;

use super::data::{self, Completeness, Issue, Scope};
use super::select::*;
use super::{format, Dashboard, Viewer};

/// Rows shown on the page in each list (the CSV has them all).
const SHOWN: usize = 500;

struct Reporting {
    own: Option<Completeness>,
    children: Vec<Completeness>,
    missing: Vec<Completeness>,
    issues: Vec<Issue>,
}

async fn read(d: &Dashboard, s: &Selection) -> crate::Result<Reporting> {
    let (epoch, period, level, code) = (s.epoch.as_str(), s.period.to_string(), s.unit.level.as_str(), s.unit.code.as_str());
    let service = &d.service;
    let own = data::completeness(service, epoch, &period, Scope::Unit { level, code }).await?.into_iter().next();
    let children =
        if child_level(&s.unit).is_some() { data::completeness(service, epoch, &period, Scope::Children { parent: code }).await? } else { Vec::new() };
    let missing = data::completeness(service, epoch, &period, Scope::MissingUnder { level, code }).await?;
    let months: Vec<String> = s.period.months().map(|m: Period| m.to_string()).collect();
    let issues = data::issues(service, epoch, &months, level, code).await?;
    Ok(Reporting { own, children, missing, issues })
}

/// The colour of a unit's reporting: by the share received of the reports already due (reports
/// not yet due do not count against it): 95 % or more green, 80 % or more amber, else red.
fn reporting_class(c: &Completeness) -> &'static str {
    let due = c.expected - c.pending;
    if due <= 0 {
        return "none";
    }
    match 100.0 * (due - c.missing) as f64 / due as f64 {
        x if x >= 95.0 => "met",
        x if x >= 80.0 => "near",
        _ => "far",
    }
}

fn completeness_context(c: &Completeness) -> serde_json::Value {
    let class = reporting_class(c);
    json!({
        "code": c.code,
        "name": c.name,
        "deadline": format!("{} ngày làm việc", c.deadline_days),
        "expected": format::integer(c.expected),
        "received": format::integer(c.received),
        "on_time": format::integer(c.on_time),
        "late": format::integer(c.late),
        "missing": format::integer(c.missing),
        "pending": format::integer(c.pending),
        "completeness": format::percent(c.completeness),
        "timeliness": format::percent(c.timeliness),
        "class": class,
    })
}

fn importance_label(importance: &str) -> &'static str {
    match importance {
        "high" => "Cao",
        "medium" => "Trung bình",
        _ => "Thấp",
    }
}

fn check_label(check: &str) -> &'static str {
    match check {
        "rule" => "Sai quy tắc kiểm tra",
        "outlier" => "Giá trị bất thường",
        "stock_jump" => "Thay đổi đột ngột",
        _ => "Khác",
    }
}

pub(super) async fn reporting(State(d): State<Arc<Dashboard>>, viewer: Viewer, Query(params): Query<Params>) -> Response {
    let s = match select(&d, &viewer, &params, "GET /bao-cao").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let r = match read(&d, &s).await {
        Ok(r) => r,
        Err(e) => return read_failed(&d, &viewer, &e),
    };
    audit_view(&d, &viewer, &s, "GET /bao-cao", r.children.len() + r.missing.len() + r.issues.len());
    let children: Vec<_> = r
        .children
        .iter()
        .map(|c| {
            let mut x = completeness_context(c);
            x["href"] = s.href("/bao-cao", &[("unit", &c.code)]).into();
            x
        })
        .collect();
    let missing: Vec<_> = r.missing.iter().take(SHOWN).map(completeness_context).collect();
    let issues: Vec<_> = r
        .issues
        .iter()
        .take(SHOWN)
        .map(|i| {
            let month = i.period.parse::<Period>().map(|p| p.name_vi()).unwrap_or_else(|_| i.period.clone());
            json!({ "code": i.code, "name": i.name, "period": month, "check": check_label(&i.check_type), "importance": importance_label(&i.importance), "importance_class": i.importance, "message": i.message })
        })
        .collect();
    let mut by_kind: std::collections::BTreeMap<(&str, &str), usize> = std::collections::BTreeMap::new();
    for i in &r.issues {
        *by_kind.entry((check_label(&i.check_type), importance_label(&i.importance))).or_default() += 1;
    }
    let issue_counts: Vec<_> =
        by_kind.iter().map(|((check, importance), n)| json!({ "check": check, "importance": importance, "count": format::integer(*n as i64) })).collect();
    let heading = format!("Tình hình báo cáo: {} — {}", unit_label(&s.unit), s.period.name_vi());
    let context = context! {
        title => heading.clone(),
        heading,
        own => r.own.as_ref().map(completeness_context),
        children,
        has_children => child_level(&s.unit).is_some(),
        missing,
        missing_total => format::integer(r.missing.len() as i64),
        missing_cut => r.missing.len() > SHOWN,
        issues,
        issue_counts,
        issues_total => format::integer(r.issues.len() as i64),
        issues_cut => r.issues.len() > SHOWN,
        shown => SHOWN,
        links => json!({
            "csv_units": s.href("/bao-cao/csv", &[("part", "units")]),
            "csv_missing": s.href("/bao-cao/csv", &[("part", "missing")]),
            "csv_issues": s.href("/bao-cao/csv", &[("part", "issues")]),
        }),
        ..Value::from_serialize(common(&d, &viewer, &s, "/bao-cao"))
    };
    d.page(StatusCode::OK, "reporting.html", context)
}

pub(super) async fn reporting_csv(State(d): State<Arc<Dashboard>>, viewer: Viewer, Query(params): Query<Params>) -> Response {
    let s = match select(&d, &viewer, &params, "GET /bao-cao/csv").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let part = params.part.clone().unwrap_or_else(|| "units".into());
    if !["units", "missing", "issues"].contains(&part.as_str()) {
        return d.message(
            StatusCode::BAD_REQUEST,
            Some(&viewer),
            "Yêu cầu không hợp lệ",
            &format!("Bảng “{part}” không có (chọn units, missing hoặc issues)."),
        );
    }
    let r = match read(&d, &s).await {
        Ok(r) => r,
        Err(e) => return read_failed(&d, &viewer, &e),
    };
    let (bytes, rows) = match part.as_str() {
        "issues" => (issues_csv(&r.issues), r.issues.len()),
        "missing" => (completeness_csv(&r.missing), r.missing.len()),
        _ => (completeness_csv(&r.children), r.children.len()),
    };
    audit_download(&d, &viewer, &s, "GET /bao-cao/csv", &part, rows);
    csv_response(&format!("tonghop-bao-cao-{}-{}-{}-{part}.csv", s.epoch, s.unit.code, s.period), bytes)
}

fn completeness_csv(rows: &[Completeness]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv_writer();
    w.write_record([
        "Mã đơn vị",
        "Đơn vị",
        "Hạn (ngày làm việc)",
        "Báo cáo phải nộp",
        "Đã nhận",
        "Đúng hạn",
        "Muộn",
        "Thiếu (quá hạn)",
        "Chưa đến hạn",
        "Tính đầy đủ (%)",
        "Tính kịp thời (%)",
    ])?;
    for c in rows {
        w.write_record([
            c.code.clone(),
            c.name.clone(),
            c.deadline_days.to_string(),
            c.expected.to_string(),
            c.received.to_string(),
            c.on_time.to_string(),
            c.late.to_string(),
            c.missing.to_string(),
            c.pending.to_string(),
            csv_number(c.completeness),
            csv_number(c.timeliness),
        ])?;
    }
    csv_bytes(w)
}

fn issues_csv(rows: &[Issue]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv_writer();
    w.write_record(["Mã xã", "Xã", "Tháng", "Loại", "Mức độ", "Nội dung"])?;
    for i in rows {
        w.write_record([&i.code, &i.name, &i.period, check_label(&i.check_type), importance_label(&i.importance), &i.message])?;
    }
    csv_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(expected: i64, received: i64, missing: i64, pending: i64) -> Completeness {
        Completeness {
            code: "40".into(),
            name: "Tỉnh Nghệ An".into(),
            deadline_days: 25,
            expected,
            received,
            on_time: received,
            late: 0,
            missing,
            pending,
            completeness: Some(100.0 * received as f64 / expected as f64),
            timeliness: None,
        }
    }

    #[test]
    fn reports_not_yet_due_do_not_count_against_a_unit() {
        assert_eq!(reporting_class(&unit(260, 194, 0, 66)), "met", "nothing overdue");
        assert_eq!(reporting_class(&unit(100, 90, 10, 0)), "near");
        assert_eq!(reporting_class(&unit(100, 50, 10, 40)), "near", "10 of 60 due are missing");
        assert_eq!(reporting_class(&unit(100, 30, 30, 40)), "far", "30 of 60 due are missing");
        assert_eq!(reporting_class(&unit(10, 0, 0, 10)), "none", "nothing due yet");
    }
}
