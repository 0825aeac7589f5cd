//! What a page shows: its query string read and checked against who asks (the unit's epoch and
//! code, the period among those the last build made, the indicator); and what every page shares:
//! the pickers, breadcrumb, tabs and filter line, its audit entries, and its CSV downloads.

use std::collections::BTreeMap;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tonghop_core::{AdminUnit, Epoch, Level, Period, PeriodType};

use super::{format, Dashboard, Viewer};
use crate::auth::{Caller, Role};
use crate::service::Service;

/// The page's query string.
#[derive(Deserialize, Default)]
pub(super) struct Params {
    pub(super) epoch: Option<String>,
    /// The epoch the filter form was showing: when the epoch changes, the unit (whose code may
    /// mean another unit in the other epoch) falls back to the default.
    pub(super) from_epoch: Option<String>,
    pub(super) unit: Option<String>,
    pub(super) period: Option<String>,
    pub(super) indicator: Option<String>,
    pub(super) sort: Option<String>,
    pub(super) view: Option<String>,
    pub(super) part: Option<String>,
}

/// What a page shows, checked against who asks.
pub(super) struct Selection {
    pub(super) epoch: Epoch,
    pub(super) unit: AdminUnit,
    pub(super) period: Period,
    pub(super) periods: Vec<Period>,
    pub(super) indicator: String,
    pub(super) sort: String,
    pub(super) view: String,
    pub(super) data_as_of: Option<chrono::DateTime<chrono::Utc>>,
}

impl Selection {
    /// This page's address with some parameters changed.
    pub(super) fn href(&self, path: &str, changes: &[(&str, &str)]) -> String {
        let mut params: BTreeMap<&str, String> = BTreeMap::from([
            ("epoch", self.epoch.as_str().to_string()),
            ("unit", self.unit.code.clone()),
            ("period", self.period.to_string()),
            ("indicator", self.indicator.clone()),
            ("sort", self.sort.clone()),
            ("view", self.view.clone()),
        ]);
        for (k, v) in changes {
            params.insert(k, v.to_string());
        }
        let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter().filter(|(_, v)| !v.is_empty())).finish();
        format!("{path}?{query}")
    }

    pub(super) fn describe(&self) -> String {
        format!("epoch={} unit={} period={} indicator={}", self.epoch, self.unit.code, self.period, self.indicator)
    }
}

/// Whether `caller` may see `unit`: readers every unit; a unit token its own unit and the units
/// inside it, in its own epoch.
pub(super) fn may_view(caller: &Caller, unit: &AdminUnit) -> bool {
    if caller.role.reads() {
        return true;
    }
    let Some((epoch, code)) = &caller.unit else { return false };
    *epoch == unit.epoch
        && match caller.role {
            Role::Commune => unit.code == *code,
            Role::District => unit.code == *code || unit.district_code.as_deref() == Some(code),
            Role::Province => unit.province_code.as_deref() == Some(code),
            Role::Agency => false,
            Role::Analyst | Role::Admin => true,
        }
}

/// The periods a unit of `epoch` can be shown for: every period of the months the last build
/// covered (in the epoch's units), in progress or ended, newest first; a year to date only up to
/// the last month.
pub(super) fn periods_of(months: &std::collections::BTreeSet<String>, epoch: Epoch) -> Vec<Period> {
    let months: Vec<Period> = months
        .iter()
        .filter_map(|m| Period::month(m.get(..4)?.parse().ok()?, m.get(4..)?.parse().ok()?).into())
        .filter(|m: &Period| epoch.expresses(m))
        .collect();
    let Some(last) = months.iter().max_by_key(|m| m.end()).copied() else { return Vec::new() };
    let mut all: Vec<Period> =
        months.iter().flat_map(|m| m.containing()).filter(|p| epoch.expresses(p) && (p.kind() != PeriodType::YearToDate || p.end() <= last.end())).collect();
    all.sort_by_key(|p| (std::cmp::Reverse(p.year()), kind_order(p.kind()), std::cmp::Reverse(p.end())));
    all.dedup();
    all
}

pub(super) fn kind_order(kind: PeriodType) -> u8 {
    match kind {
        PeriodType::YearToDate => 0,
        PeriodType::Month => 1,
        PeriodType::Quarter => 2,
        PeriodType::HalfYear => 3,
        PeriodType::NineMonths => 4,
        PeriodType::Year => 5,
    }
}

pub(super) fn kind_label(kind: PeriodType) -> &'static str {
    match kind {
        PeriodType::YearToDate => "Từ đầu năm",
        PeriodType::Month => "Tháng",
        PeriodType::Quarter => "Quý",
        PeriodType::HalfYear => "6 tháng",
        PeriodType::NineMonths => "9 tháng",
        PeriodType::Year => "Năm",
    }
}

/// Reads and checks the page's parameters; the answer to show instead when they are wrong or not allowed.
pub(super) async fn select(d: &Dashboard, viewer: &Viewer, params: &Params, route: &str) -> Result<Selection, Response> {
    let service = &d.service;
    let bad = |text: String| d.message(StatusCode::BAD_REQUEST, Some(viewer), "Yêu cầu không hợp lệ", &text);
    let own = viewer.caller.unit.clone();
    let epoch = match params.epoch.as_deref() {
        Some(e) => match e.parse::<Epoch>() {
            Ok(e) => e,
            Err(_) => return Err(bad(format!("Danh mục đơn vị “{e}” không có (chọn pre2025 hoặc post2025)."))),
        },
        None => own.as_ref().map_or(Epoch::Post2025, |(e, _)| *e),
    };
    let epoch_changed = params.from_epoch.as_deref().is_some_and(|f| f != epoch.as_str());
    let default_unit = match &own {
        Some((e, code)) if *e == epoch => code.clone(),
        _ => tonghop_core::units::NATIONAL_CODE.to_string(),
    };
    let code = params.unit.clone().filter(|u| !u.is_empty() && !epoch_changed).unwrap_or(default_unit);
    let Some(unit) = service.registry.get(epoch, &code).cloned() else {
        return Err(d.message(StatusCode::NOT_FOUND, Some(viewer), "Không tìm thấy đơn vị", &format!("Không có đơn vị mã {code} trong danh mục {epoch}.")));
    };
    if !may_view(&viewer.caller, &unit) {
        service.metrics.denied("forbidden");
        let why = format!("may not view {} {} ({})", epoch, unit.code, unit.full_name);
        service.audit.denied(&viewer.actor, "dashboard", route, &why, viewer.client.as_deref());
        tracing::warn!(token = %viewer.caller.name, unit = %unit.code, "dashboard: denied a unit outside the token's");
        return Err(d.message(
            StatusCode::FORBIDDEN,
            Some(viewer),
            "Không có quyền xem",
            &format!("Tài khoản của bạn không được xem số liệu của {}.", unit.full_name),
        ));
    }
    let state = d.build_state().await.map_err(|e| {
        tracing::error!(error = %e, "dashboard: cannot read the build state");
        d.message(StatusCode::INTERNAL_SERVER_ERROR, Some(viewer), "Lỗi", "Không đọc được trạng thái tổng hợp; chi tiết trong nhật ký của dịch vụ.")
    })?;
    let Some(state) = state else {
        return Err(d.message(
            StatusCode::OK,
            Some(viewer),
            "Chưa có số liệu",
            "Chưa có lần tổng hợp nào: chạy `tonghop build` (hoặc quy trình hằng đêm) rồi tải lại trang.",
        ));
    };
    let periods = periods_of(&state.reporting_months, epoch);
    // A period of the other epoch (say 2026Q1 when switching to the old units) gives way to the default.
    let other_epoch = |p: &str| epoch_changed && p.parse::<Period>().is_ok_and(|p| !periods.contains(&p));
    let asked = params.period.as_deref().filter(|p| !p.is_empty() && !other_epoch(p));
    let period = match asked {
        Some(p) => match p.parse::<Period>() {
            Ok(p) if periods.contains(&p) => p,
            _ => return Err(bad(format!("Kỳ báo cáo “{p}” không có số liệu trong danh mục {epoch}."))),
        },
        None => match periods.iter().find(|p| p.kind() == PeriodType::YearToDate) {
            Some(p) => *p,
            None => return Err(d.message(StatusCode::OK, Some(viewer), "Chưa có số liệu", &format!("Chưa có kỳ báo cáo nào theo danh mục {epoch}."))),
        },
    };
    let indicators = &service.catalog.indicators;
    let indicator = match params.indicator.as_deref().filter(|i| !i.is_empty()) {
        Some(i) if indicators.iter().any(|x| x.code == i) => i.to_string(),
        Some(i) => return Err(bad(format!("Chỉ tiêu “{i}” không có trong danh mục."))),
        None => indicators.first().map(|i| i.code.clone()).unwrap_or_default(),
    };
    let sort = params.sort.clone().filter(|s| ["code", "name", "value", "-value", "gap", "-gap"].contains(&s.as_str())).unwrap_or_else(|| "code".into());
    let view = if params.view.as_deref() == Some("table") { "table" } else { "cards" }.to_string();
    Ok(Selection { epoch, unit, period, periods, indicator, sort, view, data_as_of: Some(state.built_at) })
}

/// The level one down from `unit`, in its epoch, and the filter that finds its units.
pub(super) fn child_level(unit: &AdminUnit) -> Option<Level> {
    match (unit.level, unit.epoch) {
        (Level::National, _) => Some(Level::Province),
        (Level::Province, Epoch::Pre2025) => Some(Level::District),
        (Level::Province, Epoch::Post2025) | (Level::District, _) => Some(Level::Commune),
        (Level::Commune, _) => None,
    }
}

/// A key that sorts Vietnamese names as readers expect (`Đ` with `D`, accents after the letter).
pub(super) fn name_key(name: &str) -> (String, String) {
    use unicode_normalization::UnicodeNormalization;
    let base: String =
        name.nfd().filter(|c| !('\u{300}'..='\u{36f}').contains(c)).map(|c| if c == 'đ' || c == 'Đ' { 'd' } else { c }).flat_map(char::to_lowercase).collect();
    (base, name.to_string())
}

/// The chain from the nation down to the unit, each with its link.
pub(super) fn breadcrumb(service: &Service, s: &Selection, page: &str) -> Vec<serde_json::Value> {
    let mut chain = vec![s.unit.clone()];
    while let Some(parent) = chain.last().and_then(|u| u.parent_code()).and_then(|c| service.registry.get(s.epoch, c)) {
        chain.push(parent.clone());
    }
    chain.reverse();
    chain.iter().map(|u| json!({ "name": unit_label(u), "href": s.href(page, &[("unit", &u.code)]) })).collect()
}

pub(super) fn unit_label(u: &AdminUnit) -> String {
    if u.level == Level::National {
        "Toàn quốc".into()
    } else {
        u.full_name.clone()
    }
}

pub(super) fn epoch_label(epoch: Epoch) -> &'static str {
    match epoch {
        Epoch::Pre2025 => "Đơn vị trước 01/07/2025 (63 tỉnh)",
        Epoch::Post2025 => "Đơn vị hiện nay (34 tỉnh, từ 01/07/2025)",
    }
}

/// The indicator's Vietnamese name.
pub(super) fn indicator_name(service: &Service, code: &str) -> String {
    service.catalog.indicators.iter().find(|i| i.code == code).map(|i| i.name_vi.clone()).unwrap_or_default()
}

/// What every page shows around its figures: the pickers (the epochs and units the viewer may see,
/// the periods with data, the indicators), the breadcrumb and tabs (links to `page` and the other
/// pages for the same selection), and the filter line printed above the figures.
pub(super) fn common(d: &Dashboard, viewer: &Viewer, s: &Selection, page: &str) -> serde_json::Value {
    let service = &d.service;
    let epochs: Vec<_> = [Epoch::Post2025, Epoch::Pre2025]
        .into_iter()
        .filter(|e| viewer.caller.role.reads() || viewer.caller.unit.as_ref().is_some_and(|(own, _)| own == e))
        .map(|e| json!({ "value": e.as_str(), "label": epoch_label(e), "selected": e == s.epoch }))
        .collect();
    let mut units = Vec::new();
    if viewer.caller.role.reads() {
        units.push(json!({ "value": tonghop_core::units::NATIONAL_CODE, "label": "Toàn quốc", "selected": s.unit.level == Level::National }));
        let mut provinces: Vec<&AdminUnit> = service.registry.at_level(s.epoch, Level::Province).collect();
        provinces.sort_by_cached_key(|u| name_key(&u.name));
        units.extend(provinces.into_iter().map(|u| {
            json!({ "value": u.code, "label": u.full_name, "selected": s.unit.level != Level::National && s.unit.province_code.as_deref() == Some(u.code.as_str()) })
        }));
    } else if let Some(own) = viewer.caller.unit.as_ref().and_then(|(_, code)| service.registry.get(s.epoch, code)) {
        units.push(json!({ "value": own.code, "label": own.full_name, "selected": true }));
    }
    let mut groups: Vec<(PeriodType, Vec<serde_json::Value>)> = Vec::new();
    for p in &s.periods {
        let option = json!({ "value": p.to_string(), "label": p.name_vi(), "selected": *p == s.period });
        match groups.iter_mut().find(|(k, _)| *k == p.kind()) {
            Some((_, options)) => options.push(option),
            None => groups.push((p.kind(), vec![option])),
        }
    }
    groups.sort_by_key(|(k, _)| kind_order(*k));
    let period_groups: Vec<_> = groups.into_iter().map(|(k, options)| json!({ "label": kind_label(k), "options": options })).collect();
    let indicators: Vec<_> =
        service.catalog.indicators.iter().map(|i| json!({ "value": i.code, "label": i.name_vi, "selected": i.code == s.indicator })).collect();
    let tabs: Vec<_> = [("/tong-quan", "Tổng quan", "overview"), ("/xu-huong", "Xu hướng", "trends"), ("/bao-cao", "Tình hình báo cáo", "reporting")]
        .into_iter()
        .map(|(path, label, id)| json!({ "href": s.href(path, &[]), "label": label, "current": path == page, "id": id }))
        .collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "user": super::user_context(viewer),
        "page": page,
        "epoch": s.epoch.as_str(),
        "epochs": epochs,
        "units": units,
        "period_groups": period_groups,
        "indicators": indicators,
        "tabs": tabs,
        "breadcrumb": breadcrumb(service, s, page),
        "unit_name": unit_label(&s.unit),
        "period_name": s.period.name_vi(),
        "epoch_name": epoch_label(s.epoch),
        "indicator_name": indicator_name(service, &s.indicator),
        "data_as_of": s.data_as_of.map(format::instant),
        "printed_at": format::instant(chrono::Utc::now()),
        "sort": s.sort,
        "view": s.view,
    })
}

/// Records a page view in the audit trail: who, which selection, how many rows it showed.
pub(super) fn audit_view(d: &Dashboard, viewer: &Viewer, s: &Selection, route: &str, rows: usize) {
    let mut entry = crate::audit::Entry::new(viewer.actor.clone(), "dashboard", "view");
    entry.target = Some(route.into());
    entry.detail = Some(s.describe());
    entry.rows = Some(rows as i64);
    entry.client = viewer.client.clone();
    d.service.audit.record(entry);
}

/// Records a CSV download in the audit trail.
pub(super) fn audit_download(d: &Dashboard, viewer: &Viewer, s: &Selection, route: &str, part: &str, rows: usize) {
    let mut entry = crate::audit::Entry::new(viewer.actor.clone(), "dashboard", "download");
    entry.target = Some(route.into());
    entry.detail = Some(format!("{} part={part}", s.describe()));
    entry.rows = Some(rows as i64);
    entry.client = viewer.client.clone();
    d.service.audit.record(entry);
}

/// The page shown when the lake could not be read (the cause goes to the log).
pub(super) fn read_failed(d: &Dashboard, viewer: &Viewer, error: &crate::Error) -> Response {
    tracing::error!(error = %error, "dashboard: reading the models failed");
    d.message(StatusCode::INTERNAL_SERVER_ERROR, Some(viewer), "Lỗi", "Không đọc được số liệu; chi tiết trong nhật ký của dịch vụ.")
}

/// A CSV writer for a download: UTF-8 with a byte-order mark, so that Excel reads it as UTF-8.
pub(super) fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec())
}

/// The bytes written by [`csv_writer`].
pub(super) fn csv_bytes(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, csv::Error> {
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// A figure in a CSV: unrounded, empty when there is none.
pub(super) fn csv_number(x: Option<f64>) -> String {
    x.map(|x| x.to_string()).unwrap_or_default()
}

/// A CSV download named `name`.
pub(super) fn csv_response(name: &str, bytes: Result<Vec<u8>, csv::Error>) -> Response {
    match bytes {
        Ok(bytes) => {
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))], bytes)
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "dashboard: writing a CSV failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_offered_follow_the_build_and_the_epoch() {
        let months = ["202505", "202506", "202507", "202601", "202602", "202603"].map(String::from).into_iter().collect();
        let post: Vec<String> = periods_of(&months, Epoch::Post2025).iter().map(|p| p.to_string()).collect();
        assert_eq!(post[0], "2026YTD03", "newest first, the year to date first");
        assert!(post.contains(&"2026Q1".into()) && post.contains(&"2025S2".into()) && post.contains(&"2025".into()));
        assert!(!post.contains(&"2026YTD04".into()), "no year to date past the last month");
        let pre: Vec<String> = periods_of(&months, Epoch::Pre2025).iter().map(|p| p.to_string()).collect();
        assert!(pre.contains(&"2025S1".into()) && pre.contains(&"202506".into()));
        assert!(!pre.iter().any(|p| p.starts_with("2026") || p == "2025Q3" || p == "2025"), "{pre:?}");
    }

    #[test]
    fn a_unit_token_sees_its_unit_and_what_lies_inside_it_in_its_own_epoch() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let registry = tonghop_core::UnitRegistry::load(&root.join("reference/admin-units")).unwrap();
        let unit = |epoch: Epoch, code: &str| registry.get(epoch, code).unwrap_or_else(|| panic!("{epoch} {code}")).clone();
        let caller = |role: Role, unit: Option<(Epoch, &str)>| Caller {
            name: "t".into(),
            role,
            unit: unit.map(|(e, c)| (e, c.to_string())),
            agency: None,
            expires: None,
        };
        let (post, pre) = (Epoch::Post2025, Epoch::Pre2025);
        // Post-2025 Hà Nội (01) and its ward Ba Đình (00004); Cao Bằng (04) and one of its communes.
        let province = caller(Role::Province, Some((post, "01")));
        assert!(may_view(&province, &unit(post, "01")) && may_view(&province, &unit(post, "00004")));
        assert!(!may_view(&province, &unit(post, "04")) && !may_view(&province, &unit(post, "01273")));
        assert!(!may_view(&province, &unit(post, "VN")), "not the nation");
        assert!(!may_view(&province, &unit(pre, "01")), "code 01 of the old epoch is another unit");
        let commune = caller(Role::Commune, Some((post, "00004")));
        assert!(may_view(&commune, &unit(post, "00004")));
        assert!(!may_view(&commune, &unit(post, "00008")) && !may_view(&commune, &unit(post, "01")));
        // Pre-2025 district Ba Đình (001) of Hà Nội and its ward Phúc Xá (00001).
        let district = caller(Role::District, Some((pre, "001")));
        assert!(may_view(&district, &unit(pre, "001")) && may_view(&district, &unit(pre, "00001")));
        assert!(!may_view(&district, &unit(pre, "002")) && !may_view(&district, &unit(pre, "01")));
        for reader in [Role::Analyst, Role::Admin] {
            let c = caller(reader, None);
            assert!(may_view(&c, &unit(post, "VN")) && may_view(&c, &unit(pre, "00001")));
        }
    }

    #[test]
    fn names_sort_as_vietnamese_readers_expect() {
        let mut names = vec!["Đông Anh", "Ba Vì", "Dương Nội", "Ân Thi", "Anh Sơn"];
        names.sort_by_cached_key(|n| name_key(n));
        assert_eq!(names, ["Ân Thi", "Anh Sơn", "Ba Vì", "Đông Anh", "Dương Nội"]);
    }
}
