//! Reference data and the catalog as in-memory SQL tables.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
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

/// Registers `units` and `unit_mapping`.
pub fn register_units(ctx: &SessionContext, r: &UnitRegistry) -> Result<()> {
    let u = r.units();
    table(ctx, "units", vec![
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
    ])?;
    let m = r.mapping();
    table(ctx, "unit_mapping", vec![
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
    ])
}

/// Registers `periods` (every period of every type in [`PERIOD_YEARS`] that lies in one epoch) and
/// `period_months` (which months make up each period). Periods straddling 2025-07-01 are left out.
pub fn register_periods(ctx: &SessionContext) -> Result<()> {
    let mut periods: Vec<(Period, Epoch)> = Vec::new();
    for year in PERIOD_YEARS {
        for kind in PeriodType::ALL {
            for p in Period::all_in_year(kind, year) {
                if let Ok(epoch) = Epoch::for_period(&p) {
                    periods.push((p, epoch));
                }
            }
        }
    }
    table(ctx, "periods", vec![
        ("period", s(periods.iter().map(|(p, _)| Some(p.to_string())))),
        ("period_type", req(periods.iter().map(|(p, _)| p.kind().as_str()))),
        ("year", Arc::new(Int32Array::from_iter_values(periods.iter().map(|(p, _)| p.year())))),
        ("start_date", Arc::new(Date32Array::from_iter_values(periods.iter().map(|(p, _)| days(p.start()))))),
        ("end_date", Arc::new(Date32Array::from_iter_values(periods.iter().map(|(p, _)| days(p.end()))))),
        ("epoch", req(periods.iter().map(|(_, e)| e.as_str()))),
        ("months", Arc::new(Int32Array::from_iter_values(periods.iter().map(|(p, _)| p.months().count() as i32)))),
    ])?;
    let pairs: Vec<(&Period, Period, Epoch)> = periods.iter().flat_map(|(p, e)| p.months().map(move |m| (p, m, *e))).collect();
    table(ctx, "period_months", vec![
        ("period", s(pairs.iter().map(|(p, _, _)| Some(p.to_string())))),
        ("period_type", req(pairs.iter().map(|(p, _, _)| p.kind().as_str()))),
        ("month", s(pairs.iter().map(|(_, m, _)| Some(m.to_string())))),
        ("epoch", req(pairs.iter().map(|(_, _, e)| e.as_str()))),
    ])
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
    table(ctx, "holidays", vec![
        ("date", Arc::new(Date32Array::from(dates))),
        ("name_en", req(names.iter().map(String::as_str))),
    ])
}

/// Registers `data_elements`, `indicators` and `targets` from the catalog.
pub fn register_catalog(ctx: &SessionContext, c: &Catalog) -> Result<()> {
    let lower = |d: &dyn std::fmt::Debug| format!("{d:?}").to_lowercase();
    let e = &c.data_elements;
    table(ctx, "data_elements", vec![
        ("code", req(e.iter().map(|e| e.code.as_str()))),
        ("name_vi", req(e.iter().map(|e| e.name_vi.as_str()))),
        ("name_en", req(e.iter().map(|e| e.name_en.as_str()))),
        ("kind", s(e.iter().map(|e| Some(lower(&e.kind))))),
        ("value_type", s(e.iter().map(|e| Some(lower(&e.value_type))))),
        ("time_aggregation", s(e.iter().map(|e| Some(lower(&e.time_aggregation))))),
    ])?;
    let i = &c.indicators;
    table(ctx, "indicators", vec![
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
    ])?;
    let t = &c.targets;
    table(ctx, "targets", vec![
        ("indicator", req(t.iter().map(|t| t.indicator.as_str()))),
        ("epoch", s(t.iter().map(|t| t.epoch.clone()))),
        ("unit_code", s(t.iter().map(|t| t.unit_code.clone()))),
        ("target_year", Arc::new(Int32Array::from_iter_values(t.iter().map(|t| t.target_year)))),
        ("comparison", req(t.iter().map(|t| t.comparison.as_str()))),
        ("target_value", Arc::new(Float64Array::from_iter_values(t.iter().map(|t| t.target_value)))),
        ("source", req(t.iter().map(|t| t.source.as_str()))),
    ])
}

