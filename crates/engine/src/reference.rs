//! Reference data and the catalog as in-memory SQL tables.
//!
//! | table | from | what |
//! |---|---|---|
//! | `units`, `unit_mapping` | `reference/admin-units/` | units of both epochs, the 2025 mapping with each edge's weight (`reform_weights.csv`) and main predecessor |
//! | `periods`, `period_months` | generated for [`PERIOD_YEARS`] | every period of every type (year to date included), and its months in the units of each epoch that can express it |
//! | `calendar` | generated for [`PERIOD_YEARS`] and the year after | every day with its month and weekday |
//! | `holidays` | `reference/holidays/` | Vietnamese public holidays |
//! | `data_elements`, `indicators`, `targets` | `catalog/` | the indicator catalog |
//! | `validation_rules`, `validation_rule_elements` | `catalog/validation_rules.csv` | rules between data elements, and each side's elements one per row |
//! | `reporting_deadlines` | `catalog/reporting_deadlines.csv` | working days after the month ends, per level |
//! | `quality_settings` | `catalog/quality_settings.csv` | thresholds of the outlier and jump checks, by default or per data element |
//! | `plans`, `plan_tasks`, `plan_task_agencies`, `plan_agencies`, `plan_targets` | `catalog/plans/` | implementation plans, their tasks with parsed deadlines, the agencies each task expects a report from (groups expanded), agencies and the plans' targets |

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema};
use chrono::Datelike;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use serde::Deserialize;
use tonghop_core::plans::Plans;
use tonghop_core::{Catalog, Epoch, Period, PeriodType, UnitRegistry};

use crate::{Error, Result};

/// Years for which `periods` and `period_months` are generated.
pub const PERIOD_YEARS: std::ops::RangeInclusive<i32> = 2020..=2030;

fn s<I: IntoIterator<Item = Option<String>>>(it: I) -> ArrayRef {
    Arc::new(StringArray::from_iter(it))
}

fn req<'a, I: IntoIterator<Item = &'a str>>(it: I) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(it))
}

fn table(ctx: &SessionContext, name: &str, columns: Vec<(&str, ArrayRef)>) -> Result<()> {
    let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect())?;
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?;
    Ok(())
}

fn days(d: chrono::NaiveDate) -> i32 {
    (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// Registers the plans of `catalog/plans/` (see [`tonghop_core::plans`]): `plans` (with the unit in
/// today's units), `plan_tasks` (deadline kind and due date), `plan_task_agencies` (every agency,
/// groups expanded, with its role `lead` or `cooperating`), `plan_agencies` and `plan_targets`.
pub fn register_plans(ctx: &SessionContext, plans: &Plans, registry: &UnitRegistry) -> Result<()> {
    let p = &plans.plans;
    let today: Vec<Option<(Epoch, String)>> = p.iter().map(|p| plans.unit_today(p, registry)).collect();
    table(
        ctx,
        "plans",
        vec![
            ("code", req(p.iter().map(|p| p.code.as_str()))),
            ("title_vi", req(p.iter().map(|p| p.title_vi.as_str()))),
            ("document", req(p.iter().map(|p| p.document.as_str()))),
            ("issuing_body_vi", req(p.iter().map(|p| p.issuing_body_vi.as_str()))),
            ("issued_on", Arc::new(Date32Array::from_iter(p.iter().map(|p| p.issued_on().map(days))))),
            ("epoch", req(p.iter().map(|p| p.epoch.as_str()))),
            ("unit_code", req(p.iter().map(|p| p.unit_code.as_str()))),
            ("today_epoch", s(today.iter().map(|t| t.as_ref().map(|t| t.0.as_str().to_string())))),
            ("today_unit_code", s(today.iter().map(|t| t.as_ref().map(|t| t.1.clone())))),
        ],
    )?;
    let t = &plans.tasks;
    table(
        ctx,
        "plan_tasks",
        vec![
            ("plan", req(t.iter().map(|t| t.plan.as_str()))),
            ("task", req(t.iter().map(|t| t.number.as_str()))),
            ("task_order", Arc::new(Int32Array::from_iter_values((0..t.len()).map(|i| i as i32)))),
            ("content_vi", req(t.iter().map(|t| t.content_vi.as_str()))),
            ("lead_vi", req(t.iter().map(|t| t.lead_vi.as_str()))),
            ("cooperating_vi", s(t.iter().map(|t| t.cooperating_vi.clone()))),
            ("deadline_vi", req(t.iter().map(|t| t.deadline_vi.as_str()))),
            ("deadline_kind", req(t.iter().map(|t| t.deadline.kind()))),
            ("due_date", Arc::new(Date32Array::from_iter(t.iter().map(|t| t.deadline.due().map(days))))),
        ],
    )?;
    let mut rows: Vec<(&str, &str, &str, &str)> = Vec::new();
    for task in t {
        let leads = plans.members(task.lead_codes());
        for a in &leads {
            rows.push((&task.plan, &task.number, &a.code, "lead"));
        }
        for a in plans.members(task.cooperating_codes()).into_iter().filter(|a| !leads.iter().any(|l| l.code == a.code)) {
            rows.push((&task.plan, &task.number, &a.code, "cooperating"));
        }
    }
    table(
        ctx,
        "plan_task_agencies",
        vec![
            ("plan", req(rows.iter().map(|r| r.0))),
            ("task", req(rows.iter().map(|r| r.1))),
            ("agency", req(rows.iter().map(|r| r.2))),
            ("role", req(rows.iter().map(|r| r.3))),
        ],
    )?;
    let a = &plans.agencies;
    table(
        ctx,
        "plan_agencies",
        vec![
            ("code", req(a.iter().map(|a| a.code.as_str()))),
            ("name_vi", req(a.iter().map(|a| a.name_vi.as_str()))),
            ("kind", req(a.iter().map(|a| a.kind.as_str()))),
            ("epoch", req(a.iter().map(|a| a.epoch.as_str()))),
            ("unit_code", req(a.iter().map(|a| a.unit_code.as_str()))),
        ],
    )?;
    let g = &plans.targets;
    table(
        ctx,
        "plan_targets",
        vec![
            ("plan", req(g.iter().map(|t| t.plan.as_str()))),
            ("number", req(g.iter().map(|t| t.number.as_str()))),
            ("text_vi", req(g.iter().map(|t| t.text_vi.as_str()))),
            ("indicator", s(g.iter().map(|t| t.indicator.clone()))),
            ("comparison", s(g.iter().map(|t| t.comparison.clone()))),
            ("target_value", Arc::new(Float64Array::from_iter(g.iter().map(|t| t.target_value)))),
            ("target_year", Arc::new(Int32Array::from_iter_values(g.iter().map(|t| t.target_year)))),
        ],
    )
}

/// Registers `units` and `unit_mapping`.
pub fn register_units(ctx: &SessionContext, r: &UnitRegistry) -> Result<()> {
    let u = r.units();
    table(
        ctx,
        "units",
        vec![
            ("epoch", req(u.iter().map(|u| u.epoch.as_str()))),
            ("level", req(u.iter().map(|u| u.level.as_str()))),
            ("code", req(u.iter().map(|u| u.code.as_str()))),
            ("name", req(u.iter().map(|u| u.name.as_str()))),
            ("full_name", req(u.iter().map(|u| u.full_name.as_str()))),
            ("name_en", req(u.iter().map(|u| u.name_en.as_str()))),
            ("full_name_en", req(u.iter().map(|u| u.full_name_en.as_str()))),
            ("unit_type", req(u.iter().map(|u| u.unit_type.as_str()))),
            ("parent_code", s(u.iter().map(|u| u.parent_code().map(str::to_string)))),
            ("province_code", s(u.iter().map(|u| u.province_code.clone()))),
            ("district_code", s(u.iter().map(|u| u.district_code.clone()))),
        ],
    )?;
    let m = r.mapping();
    table(
        ctx,
        "unit_mapping",
        vec![
            ("old_epoch", req(m.iter().map(|_| Epoch::Pre2025.as_str()))),
            ("old_level", req(m.iter().map(|e| e.old_level.as_str()))),
            ("old_code", req(m.iter().map(|e| e.old_code.as_str()))),
            ("old_full_name", req(m.iter().map(|e| e.old_full_name.as_str()))),
            ("old_province_code", req(m.iter().map(|e| e.old_province_code.as_str()))),
            ("new_epoch", req(m.iter().map(|_| Epoch::Post2025.as_str()))),
            ("new_code", req(m.iter().map(|e| e.new_code.as_str()))),
            ("new_full_name", req(m.iter().map(|e| e.new_full_name.as_str()))),
            ("new_province_code", req(m.iter().map(|e| e.new_province_code.as_str()))),
            ("merge_type", req(m.iter().map(|e| e.merge_type.as_str()))),
            ("weight", Arc::new(Float64Array::from_iter_values(m.iter().map(|e| e.weight)))),
            ("weight_source", req(m.iter().map(|e| e.weight_source.as_str()))),
            ("estimated", Arc::new(BooleanArray::from_iter(m.iter().map(|e| Some(e.estimated))))),
            ("main_predecessor", Arc::new(BooleanArray::from_iter(m.iter().map(|e| Some(e.main_predecessor))))),
        ],
    )
}

/// Registers `periods` (every period of every type in [`PERIOD_YEARS`], one row each) and
/// `period_months` (which months make up each period, in the units of each epoch that can express it).
///
/// `periods.epoch` is the epoch whose units the period is expressed in by default
/// ([`Epoch::of_units_for`]): post-2025 for a period that straddles 2025-07-01 (`straddles_reform`).
///
/// `period_months` has one row per (period, month, epoch): `epoch` is the units the period's
/// figures are expressed in, `month_epoch` the units the month was reported in (the epoch in force
/// that month), and `remapped` says they differ (the month's figures are carried across the reform,
/// see `tonghop_core::reform`). A period that ends before the reform has its months twice, once in
/// each epoch; a straddling period only in post-2025 units (its months before July 2025 remapped).
pub fn register_periods(ctx: &SessionContext) -> Result<()> {
    let mut periods: Vec<Period> = Vec::new();
    for year in PERIOD_YEARS {
        for kind in PeriodType::ALL {
            periods.extend(Period::all_in_year(kind, year));
        }
    }
    table(
        ctx,
        "periods",
        vec![
            ("period", s(periods.iter().map(|p| Some(p.to_string())))),
            ("period_type", req(periods.iter().map(|p| p.kind().as_str()))),
            ("year", Arc::new(Int32Array::from_iter_values(periods.iter().map(|p| p.year())))),
            ("start_date", Arc::new(Date32Array::from_iter_values(periods.iter().map(|p| days(p.start()))))),
            ("end_date", Arc::new(Date32Array::from_iter_values(periods.iter().map(|p| days(p.end()))))),
            ("epoch", req(periods.iter().map(|p| Epoch::of_units_for(p).as_str()))),
            ("straddles_reform", Arc::new(BooleanArray::from_iter(periods.iter().map(|p| Some(Epoch::straddles(p)))))),
            ("months", Arc::new(Int32Array::from_iter_values(periods.iter().map(|p| p.months().count() as i32)))),
            ("last_month", s(periods.iter().map(|p| p.months().last().map(|m| m.to_string())))),
            ("previous_year_period", s(periods.iter().map(|p| p.previous_year().map(|q| q.to_string())))),
        ],
    )?;
    // (period, month, epoch of the units, epoch of the month)
    let rows: Vec<(&Period, Period, Epoch, Epoch)> = periods
        .iter()
        .flat_map(|p| Epoch::ALL.into_iter().filter(|e| e.expresses(p)).flat_map(move |e| p.months().map(move |m| (p, m, e, Epoch::on(m.start())))))
        .collect();
    table(
        ctx,
        "period_months",
        vec![
            ("period", s(rows.iter().map(|r| Some(r.0.to_string())))),
            ("period_type", req(rows.iter().map(|r| r.0.kind().as_str()))),
            ("month", s(rows.iter().map(|r| Some(r.1.to_string())))),
            ("epoch", req(rows.iter().map(|r| r.2.as_str()))),
            ("month_epoch", req(rows.iter().map(|r| r.3.as_str()))),
            ("remapped", Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.2 != r.3))))),
        ],
    )
}

/// Registers `calendar`: every day of [`PERIOD_YEARS`] and the year after (deadlines of December
/// fall in January), with its month code (`YYYYMM`), ISO weekday (1 = Monday … 7 = Sunday) and
/// whether it is a Saturday or Sunday. Public holidays are in `holidays`.
pub fn register_calendar(ctx: &SessionContext) -> Result<()> {
    let first = chrono::NaiveDate::from_ymd_opt(*PERIOD_YEARS.start(), 1, 1).expect("valid date");
    let last = chrono::NaiveDate::from_ymd_opt(*PERIOD_YEARS.end() + 1, 12, 31).expect("valid date");
    let dates: Vec<chrono::NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    table(
        ctx,
        "calendar",
        vec![
            ("date", Arc::new(Date32Array::from_iter_values(dates.iter().map(|d| days(*d))))),
            ("month", s(dates.iter().map(|d| Some(format!("{}{:02}", d.year(), d.month()))))),
            ("weekday", Arc::new(Int32Array::from_iter_values(dates.iter().map(|d| d.weekday().number_from_monday() as i32)))),
            ("is_weekend", Arc::new(BooleanArray::from_iter(dates.iter().map(|d| Some(d.weekday().number_from_monday() >= 6))))),
        ],
    )
}

/// Registers `holidays` from `reference/holidays/vn_public_holidays_2020-2030.csv`.
pub fn register_holidays(ctx: &SessionContext, reference_dir: &Path) -> Result<()> {
    let path = reference_dir.join("holidays/vn_public_holidays_2020-2030.csv");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
    let mut dates = Vec::new();
    let mut names = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let (date, name) = line.split_once(',').unwrap_or((line, ""));
        let date = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad date {date:?}: {e}")),
        })?;
        dates.push(days(date));
        names.push(name.trim().trim_matches('"').to_string());
    }
    table(ctx, "holidays", vec![("date", Arc::new(Date32Array::from(dates))), ("name_en", req(names.iter().map(String::as_str)))])
}

/// Registers `data_elements`, `indicators` and `targets` from the catalog.
pub fn register_catalog(ctx: &SessionContext, c: &Catalog) -> Result<()> {
    let lower = |d: &dyn std::fmt::Debug| format!("{d:?}").to_lowercase();
    let e = &c.data_elements;
    table(
        ctx,
        "data_elements",
        vec![
            ("code", req(e.iter().map(|e| e.code.as_str()))),
            ("name_vi", req(e.iter().map(|e| e.name_vi.as_str()))),
            ("name_en", req(e.iter().map(|e| e.name_en.as_str()))),
            ("kind", s(e.iter().map(|e| Some(lower(&e.kind))))),
            ("value_type", s(e.iter().map(|e| Some(lower(&e.value_type))))),
            ("time_aggregation", s(e.iter().map(|e| Some(lower(&e.time_aggregation))))),
            ("reform_remap", req(e.iter().map(|e| e.reform_remap.as_str()))),
        ],
    )?;
    let i = &c.indicators;
    table(
        ctx,
        "indicators",
        vec![
            ("code", req(i.iter().map(|i| i.code.as_str()))),
            ("name_vi", req(i.iter().map(|i| i.name_vi.as_str()))),
            ("name_en", req(i.iter().map(|i| i.name_en.as_str()))),
            ("num_element", req(i.iter().map(|i| i.num_element.as_str()))),
            ("num_per", s(i.iter().map(|i| i.num_per.clone()))),
            ("num_test", s(i.iter().map(|i| i.num_test.clone()))),
            ("num_threshold", Arc::new(Float64Array::from_iter(i.iter().map(|i| i.num_threshold)))),
            ("den_element", req(i.iter().map(|i| i.den_element.as_str()))),
            ("den_test", s(i.iter().map(|i| i.den_test.clone()))),
            ("factor", Arc::new(Float64Array::from_iter_values(i.iter().map(|i| i.factor)))),
            ("counts_stations", Arc::new(BooleanArray::from_iter(i.iter().map(|i| Some(i.counts_stations()))))),
        ],
    )?;
    let r = &c.validation_rules;
    table(
        ctx,
        "validation_rules",
        vec![
            ("code", req(r.iter().map(|r| r.code.as_str()))),
            ("name_vi", req(r.iter().map(|r| r.name_vi.as_str()))),
            ("name_en", req(r.iter().map(|r| r.name_en.as_str()))),
            ("left", req(r.iter().map(|r| r.left.as_str()))),
            ("operator", req(r.iter().map(|r| r.operator.as_str()))),
            ("right", req(r.iter().map(|r| r.right.as_str()))),
            ("importance", s(r.iter().map(|r| Some(lower(&r.importance))))),
            ("on_ingest", Arc::new(BooleanArray::from_iter(r.iter().map(|r| Some(r.on_ingest))))),
        ],
    )?;
    let sides: Vec<(&str, &str, &str)> = r
        .iter()
        .flat_map(|r| r.left_elements().map(move |e| (r.code.as_str(), "left", e)).chain(r.right_elements().map(move |e| (r.code.as_str(), "right", e))))
        .collect();
    table(
        ctx,
        "validation_rule_elements",
        vec![("rule", req(sides.iter().map(|x| x.0))), ("side", req(sides.iter().map(|x| x.1))), ("data_element", req(sides.iter().map(|x| x.2)))],
    )?;
    let t = &c.targets;
    table(
        ctx,
        "targets",
        vec![
            ("indicator", req(t.iter().map(|t| t.indicator.as_str()))),
            ("epoch", s(t.iter().map(|t| t.epoch.clone()))),
            ("unit_code", s(t.iter().map(|t| t.unit_code.clone()))),
            ("target_year", Arc::new(Int32Array::from_iter_values(t.iter().map(|t| t.target_year)))),
            ("comparison", req(t.iter().map(|t| t.comparison.as_str()))),
            ("target_value", Arc::new(Float64Array::from_iter_values(t.iter().map(|t| t.target_value)))),
            ("source", req(t.iter().map(|t| t.source.as_str()))),
        ],
    )
}

fn read_rows<T: serde::de::DeserializeOwned>(path: &Path, problems: &mut Vec<String>) -> Vec<T> {
    let mut reader = match csv::Reader::from_path(path) {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!("{}: {e}", path.display()));
            return Vec::new();
        }
    };
    let mut rows = Vec::new();
    for (i, row) in reader.deserialize().enumerate() {
        match row {
            Ok(row) => rows.push(row),
            Err(e) => problems.push(format!("{} row {}: {e}", path.display(), i + 2)),
        }
    }
    rows
}

#[derive(Deserialize)]
struct DeadlineRow {
    level: String,
    working_days: i32,
    name_vi: String,
    name_en: String,
}

#[derive(Deserialize)]
struct SettingRow {
    setting: String,
    data_element: Option<String>,
    value: f64,
    name_vi: String,
    name_en: String,
}

/// The settings `quality_settings.csv` knows, each needing a default row (empty data_element).
pub const QUALITY_SETTINGS: [&str; 4] = ["outlier_min_z", "outlier_min_months", "stock_jump_max_ratio", "stock_jump_min_change"];

/// Registers `reporting_deadlines` (`catalog/reporting_deadlines.csv`: level, working_days) and
/// `quality_settings` (`catalog/quality_settings.csv`: setting, data_element, value), checking both
/// and reporting every problem at once.
pub fn register_catalog_settings(ctx: &SessionContext, catalog_dir: &Path, c: &Catalog) -> Result<()> {
    let mut problems = Vec::new();
    let path = catalog_dir.join("reporting_deadlines.csv");
    let deadlines: Vec<DeadlineRow> = read_rows(&path, &mut problems);
    for level in ["commune", "district", "province", "national"] {
        match deadlines.iter().filter(|d| d.level == level).count() {
            1 => {}
            0 => problems.push(format!("{}: no row for level {level}; add `{level},<working days>,...`", path.display())),
            _ => problems.push(format!("{}: level {level} appears more than once", path.display())),
        }
    }
    for d in &deadlines {
        if !["commune", "district", "province", "national"].contains(&d.level.as_str()) {
            problems.push(format!("{}: level {:?} must be commune, district, province or national", path.display(), d.level));
        }
        if !(1..=60).contains(&d.working_days) {
            problems.push(format!("{}: level {}: working_days {} must be between 1 and 60", path.display(), d.level, d.working_days));
        }
    }
    let settings_path = catalog_dir.join("quality_settings.csv");
    let settings: Vec<SettingRow> = read_rows(&settings_path, &mut problems);
    for name in QUALITY_SETTINGS {
        if !settings.iter().any(|r| r.setting == name && r.data_element.is_none()) {
            problems.push(format!("{}: no default row for {name}; add `{name},,<value>,...`", settings_path.display()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for r in &settings {
        let at = format!("{}: {} {}", settings_path.display(), r.setting, r.data_element.as_deref().unwrap_or("(default)"));
        if !QUALITY_SETTINGS.contains(&r.setting.as_str()) {
            problems.push(format!("{at}: unknown setting; use one of {QUALITY_SETTINGS:?}"));
        }
        if let Some(e) = &r.data_element {
            if c.data_element(e).is_none() {
                problems.push(format!("{at}: data element {e} is not in data_elements.csv"));
            }
        }
        if !(r.value.is_finite() && r.value >= 0.0) {
            problems.push(format!("{at}: value must be a number ≥ 0"));
        }
        if !seen.insert((r.setting.clone(), r.data_element.clone())) {
            problems.push(format!("{at}: appears more than once"));
        }
    }
    if !problems.is_empty() {
        return Err(Error::InvalidCatalog(problems.into()));
    }
    table(
        ctx,
        "reporting_deadlines",
        vec![
            ("level", req(deadlines.iter().map(|d| d.level.as_str()))),
            ("working_days", Arc::new(Int32Array::from_iter_values(deadlines.iter().map(|d| d.working_days)))),
            ("name_vi", s(deadlines.iter().map(|d| Some(tonghop_core::text::nfc(&d.name_vi).into_owned())))),
            ("name_en", req(deadlines.iter().map(|d| d.name_en.as_str()))),
        ],
    )?;
    table(
        ctx,
        "quality_settings",
        vec![
            ("setting", req(settings.iter().map(|r| r.setting.as_str()))),
            ("data_element", s(settings.iter().map(|r| r.data_element.clone()))),
            ("value", Arc::new(Float64Array::from_iter_values(settings.iter().map(|r| r.value)))),
            ("name_vi", s(settings.iter().map(|r| Some(tonghop_core::text::nfc(&r.name_vi).into_owned())))),
            ("name_en", req(settings.iter().map(|r| r.name_en.as_str()))),
        ],
    )
}
