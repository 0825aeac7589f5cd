//! `tonghop demo-history`: a synthetic national history written straight into the lake, for the
//! rollup benchmark (issue 4: 5 years × 12 months × 10,035 communes × 17 data elements × 8
//! disaggregations ≈ 82 million rows) and for trying incremental builds.
//!
//! Ingesting 600,000 files would measure ingestion; this writes what ingestion would have
//! committed. Each month is one `data_values` commit (every commune of the epoch; each value split
//! over the disaggregations, a 0/1 value kept whole in the first) followed by one `submissions`
//! commit with one committed submission per province. A month whose submissions are already in
//! the lake is skipped, so re-running is safe.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use tonghop_core::catalog::ValueType;
use tonghop_core::{Catalog, Epoch, Period, UnitRegistry};
use tonghop_lake::{tables, Lake};

/// Disaggregation codes: sex × age group.
const DISAGGREGATIONS: [&str; 8] = ["M_0_14", "M_15_59", "M_60_79", "M_80", "F_0_14", "F_15_59", "F_60_79", "F_80"];

/// Months as `YYYYMM` from a list of months and year ranges (`2020-2024`, `2025`, `202501`).
pub fn parse_months(specs: &[String]) -> Result<Vec<Period>> {
    let mut out = Vec::new();
    for spec in specs {
        let years = |a: &str, b: &str| -> Result<Vec<Period>> {
            let (a, b): (i32, i32) = (a.parse()?, b.parse()?);
            Ok((a..=b).flat_map(|y| (1..=12).map(move |m| Period::month(y, m))).collect())
        };
        match spec.split_once('-') {
            Some((a, b)) => out.extend(years(a, b).with_context(|| format!("{spec:?}: write years as 2020-2024"))?),
            None if spec.len() == 4 => out.extend(years(spec, spec)?),
            None => out.push(spec.parse().with_context(|| format!("{spec:?} is not a month (YYYYMM) or a year"))?),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn strings(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn times(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

fn short_hash(text: &str) -> String {
    // FNV-1a 64, twice with different offsets: a stable id without a crypto dependency here.
    let fnv = |offset: u64| text.bytes().fold(offset, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{:016x}{:016x}", fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4))
}

/// Writes the history; returns (months written, months skipped, rows written).
pub async fn write(
    lake: &Lake,
    registry: &UnitRegistry,
    catalog: &Catalog,
    seed: u64,
    months: &[Period],
    disaggregations: usize,
    bar: &ProgressBar,
) -> Result<(usize, usize, usize)> {
    if !(1..=DISAGGREGATIONS.len()).contains(&disaggregations) {
        bail!("--disaggregations must be 1 to {}", DISAGGREGATIONS.len());
    }
    let disaggregations: Vec<&str> = if disaggregations == 1 { vec!["default"] } else { DISAGGREGATIONS[..disaggregations].to_vec() };
    let existing = lake.committed_hashes().await?;
    let elements = &catalog.data_elements;
    let (mut written, mut skipped, mut rows) = (0, 0, 0);
    for month in months {
        let epoch = Epoch::for_period(month).with_context(|| format!("month {month}"))?;
        let submission = |province: &str| short_hash(&format!("demo-history/{seed}/{epoch}/{province}/{month}"));
        if existing.contains(&submission("")) {
            skipped += 1;
            bar.inc(1);
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
        let mut by_province: std::collections::BTreeMap<String, (usize, DateTime<Utc>)> = Default::default();
        tonghop_demo::history(registry, catalog, seed, epoch, std::slice::from_ref(month), &mut |m| {
            let province = m.unit.province_code.clone().unwrap_or_default();
            let id = submission(&province)[..16].to_string();
            let entry = by_province.entry(province).or_insert((0, m.received_at));
            entry.1 = entry.1.max(m.received_at);
            for (i, (element, v)) in elements.iter().zip(&m.values).enumerate() {
                let n = disaggregations.len() as u64;
                for (d, code) in disaggregations.iter().enumerate() {
                    let part = match element.value_type {
                        ValueType::Boolean => {
                            if d == 0 {
                                *v
                            } else {
                                0
                            }
                        }
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
        let batch = RecordBatch::try_new(
            tables::DATA_VALUES.schema.clone(),
            vec![
                strings(vec![epoch.as_str().to_string(); n]),
                strings(vec![month.to_string(); n]),
                strings(org_unit),
                strings(data_element),
                strings(disaggregation),
                Arc::new(Float64Array::from(value)),
                Arc::new(BooleanArray::from(vec![false; n])),
                Arc::new(StringArray::from(vec![None::<&str>; n])),
                Arc::new(StringArray::from(vec![Some("demo-history"); n])),
                strings(submission_id),
                strings(location),
                times(received),
                times(vec![ingested_at; n]),
            ],
        )?;
        lake.append(&tables::DATA_VALUES, vec![batch], "demo-history").await?;
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
        let submissions = RecordBatch::try_new(
            tables::SUBMISSIONS.schema.clone(),
            vec![
                strings(ids),
                strings(hashes),
                strings(sources),
                strings(vec!["demo-history".into(); k]),
                strings(vec!["accepted".into(); k]),
                times(receipts),
                times(vec![ingested_at; k]),
                Arc::new(Int64Array::from(counts)),
                Arc::new(Int64Array::from(vec![0i64; k])),
                Arc::new(StringArray::from(vec![None::<&str>; k])),
                Arc::new(StringArray::from(vec![Some("demo-history"); k])),
            ],
        )?;
        lake.append(&tables::SUBMISSIONS, vec![submissions], "demo-history").await?;
        written += 1;
        rows += n;
        bar.inc(1);
    }
    Ok((written, skipped, rows))
}
