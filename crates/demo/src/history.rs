//! `tonghop demo-history`: a synthetic national history written straight into the lake, for the
//! rollup benchmark (5 years × 12 months × 10,035 communes × 17 data elements × 8 disaggregations ≈
//! 82 million rows) and for trying incremental builds.
//!
//! Ingesting 600,000 files would measure ingestion; this writes what ingestion would have
//! committed. Each month is one `data_values` commit (every commune of the epoch; each value split
//! over the disaggregations, a 0/1 value kept whole in the first) followed by one `submissions`
//! commit with one committed submission per province. A month whose submissions are already in
//! the lake is skipped, so re-running is safe. The batches are built by column name against the
//! lake's own table schemas ([`tonghop_lake::tables`]), so a column added there fails here loudly.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use chrono::{DateTime, Utc};
use tonghop_core::catalog::ValueType;
use tonghop_core::{Catalog, Epoch, Period, UnitRegistry};
use tonghop_lake::{tables, Lake, TableSpec};

use crate::{Error, Result};

/// Disaggregation codes: sex × age group.
pub const DISAGGREGATIONS: [&str; 8] = ["M_0_14", "M_15_59", "M_60_79", "M_80", "F_0_14", "F_15_59", "F_60_79", "F_80"];

/// Months as written on the command line: a month (`202501`), a year (`2025`) or years (`2020-2024`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthSpan(pub Vec<Period>);

impl std::str::FromStr for MonthSpan {
    type Err = String;

    fn from_str(spec: &str) -> std::result::Result<Self, String> {
        let years = |a: &str, b: &str| -> Option<Vec<Period>> {
            let (a, b): (i32, i32) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b).then(|| (a..=b).flat_map(|y| (1..=12).map(move |m| Period::month(y, m))).collect())
        };
        let months = match spec.split_once('-') {
            Some((a, b)) => years(a, b).ok_or_else(|| format!("{spec:?}: write years as 2020-2024"))?,
            None if spec.len() == 4 => years(spec, spec).ok_or_else(|| format!("{spec:?} is not a year"))?,
            None => match spec.parse::<Period>() {
                Ok(p) if p.kind() == tonghop_core::PeriodType::Month => vec![p],
                _ => return Err(format!("{spec:?} is not a month (YYYYMM), a year (2025) or years (2020-2024)")),
            },
        };
        Ok(MonthSpan(months))
    }
}

/// The months of some spans, sorted, each once.
pub fn months(spans: &[MonthSpan]) -> Vec<Period> {
    let mut out: Vec<Period> = spans.iter().flat_map(|s| s.0.iter().copied()).collect();
    out.sort();
    out.dedup();
    out
}

/// What [`write_history`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistorySummary {
    /// Months written.
    pub written: usize,
    /// Months already in the lake (skipped).
    pub skipped: usize,
    /// `data_values` rows written.
    pub rows: usize,
}

fn strings(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn times(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

/// A batch of `spec`'s table from columns given by name, in the table's column order; a column of
/// the table not given, or one given that the table does not have, is an error.
fn batch(spec: &TableSpec, mut columns: HashMap<&str, ArrayRef>) -> Result<RecordBatch> {
    let mut ordered = Vec::with_capacity(columns.len());
    for field in spec.schema.fields() {
        let column = columns.remove(field.name().as_str()).ok_or_else(|| Error::Column { table: spec.name, column: field.name().clone() })?;
        ordered.push(column);
    }
    if let Some(extra) = columns.keys().next() {
        return Err(Error::Column { table: spec.name, column: extra.to_string() });
    }
    Ok(RecordBatch::try_new(spec.schema.clone(), ordered)?)
}

fn short_hash(text: &str) -> String {
    // FNV-1a 64, twice with different offsets: a stable id without a crypto dependency here.
    let fnv = |offset: u64| text.bytes().fold(offset, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{:016x}{:016x}", fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4))
}

/// Writes the history of `months` (each split over `disaggregations`, 1 to 8, of [`DISAGGREGATIONS`]);
/// `progress` is told of each month done.
#[tracing::instrument(skip_all, fields(lake = %lake.root().url(), months = months.len()))]
pub async fn write_history(
    lake: &Lake,
    registry: &UnitRegistry,
    catalog: &Catalog,
    seed: u64,
    months: &[Period],
    disaggregations: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<HistorySummary> {
    if !(1..=DISAGGREGATIONS.len()).contains(&disaggregations) {
        return Err(Error::Disaggregations { given: disaggregations, max: DISAGGREGATIONS.len() });
    }
    let disaggregations: Vec<&str> = if disaggregations == 1 { vec!["default"] } else { DISAGGREGATIONS[..disaggregations].to_vec() };
    let existing = lake.committed_hashes().await?;
    let elements = &catalog.data_elements;
    let mut summary = HistorySummary::default();
    for month in months {
        let epoch = Epoch::for_period(month).map_err(|e| Error::Month { month: *month, reason: e.to_string() })?;
        let submission = |province: &str| short_hash(&format!("demo-history/{seed}/{epoch}/{province}/{month}"));
        if existing.contains(&submission("")) {
            summary.skipped += 1;
            progress(1);
            continue;
        }
        let ingested_at = Utc::now().timestamp_micros();
        let mut org_unit = Vec::new();
        let mut data_element = Vec::new();
        let mut disaggregation = Vec::new();
        let mut value = Vec::new();
        let mut submission_id = Vec::new();
        let mut location = Vec::new();
        let mut received = Vec::new();
        let mut by_province: BTreeMap<String, (usize, DateTime<Utc>)> = BTreeMap::new();
        crate::history(registry, catalog, seed, epoch, std::slice::from_ref(month), &mut |m| {
            let province = m.unit.province_code.clone().unwrap_or_default();
            let id = submission(&province)[..16].to_string();
            let entry = by_province.entry(province).or_insert((0, m.received_at));
            entry.1 = entry.1.max(m.received_at);
            for (i, (element, v)) in elements.iter().zip(&m.values).enumerate() {
                let n = disaggregations.len() as u64;
                for (d, code) in disaggregations.iter().enumerate() {
                    let part = match element.value_type {
                        ValueType::Boolean if d == 0 => *v,
                        ValueType::Boolean => 0,
                        ValueType::Count => v / n + u64::from((d as u64) < v % n),
                    };
                    org_unit.push(m.unit.code.clone());
                    data_element.push(element.code.clone());
                    disaggregation.push(code.to_string());
                    value.push(part as f64);
                    submission_id.push(id.clone());
                    location.push(format!("{}:{}", m.unit.code, i + 1));
                    received.push(m.received_at.timestamp_micros());
                    entry.0 += 1;
                }
            }
        })?;
        let n = org_unit.len();
        let values = batch(
            &tables::DATA_VALUES,
            HashMap::from([
                ("epoch", strings(vec![epoch.as_str().to_string(); n])),
                ("period", strings(vec![month.to_string(); n])),
                ("org_unit", strings(org_unit)),
                ("data_element", strings(data_element)),
                ("disaggregation", strings(disaggregation)),
                ("value", Arc::new(Float64Array::from(value)) as ArrayRef),
                ("deleted", Arc::new(BooleanArray::from(vec![false; n]))),
                ("comment", Arc::new(StringArray::from(vec![None::<&str>; n]))),
                ("stored_by", Arc::new(StringArray::from(vec![Some("demo-history"); n]))),
                ("submission_id", strings(submission_id)),
                ("source_location", strings(location)),
                ("received_at", times(received)),
                ("ingested_at", times(vec![ingested_at; n])),
            ]),
        )?;
        lake.append(&tables::DATA_VALUES, vec![values], "demo-history").await?;
        // One row per province, and a marker row for the month (what a re-run looks for). They commit
        // together; a crash before this commit leaves invisible rows that the next ingest cleans.
        let mut ids = vec![submission("")];
        let mut hashes = vec![submission("")];
        let mut sources = vec![format!("demo-history://{epoch}/{month}")];
        let mut receipts = vec![ingested_at];
        let mut counts = vec![0i64];
        for (province, (count, at)) in &by_province {
            let hash = submission(province);
            ids.push(hash[..16].to_string());
            hashes.push(hash);
            sources.push(format!("demo-history://{epoch}/{month}/{province}"));
            receipts.push(at.timestamp_micros());
            counts.push(*count as i64);
        }
        let k = ids.len();
        let submissions = batch(
            &tables::SUBMISSIONS,
            HashMap::from([
                ("submission_id", strings(ids)),
                ("content_hash", strings(hashes)),
                ("source", strings(sources)),
                ("format", strings(vec!["demo-history".into(); k])),
                ("status", strings(vec!["accepted".into(); k])),
                ("received_at", times(receipts)),
                ("ingested_at", times(vec![ingested_at; k])),
                ("rows_accepted", Arc::new(Int64Array::from(counts)) as ArrayRef),
                ("rows_rejected", Arc::new(Int64Array::from(vec![0i64; k]))),
                ("error", Arc::new(StringArray::from(vec![None::<&str>; k]))),
                ("submitted_by", Arc::new(StringArray::from(vec![Some("demo-history"); k]))),
            ]),
        )?;
        lake.append(&tables::SUBMISSIONS, vec![submissions], "demo-history").await?;
        summary.written += 1;
        summary.rows += n;
        progress(1);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_spans() {
        let span = |s: &str| s.parse::<MonthSpan>().map(|m| m.0.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        assert_eq!(span("202501").unwrap(), vec!["202501"]);
        assert_eq!(span("2025").unwrap().len(), 12);
        assert_eq!(span("2020-2024").unwrap().len(), 60);
        assert!(span("2024-2020").unwrap_err().contains("2020-2024"));
        assert!(span("2025Q1").unwrap_err().contains("not a month"));
        let all = months(&["2025".parse().unwrap(), "202503".parse().unwrap()]);
        assert_eq!(all.len(), 12, "each month once");
    }

    #[test]
    fn batches_follow_the_table_schema_by_name() {
        let spec = &tables::DATA_VALUES;
        let err = batch(spec, HashMap::from([("epoch", strings(vec!["pre2025".into()]))])).unwrap_err();
        assert!(err.to_string().contains("data_values") && err.to_string().contains("period"), "{err}");
    }
}
