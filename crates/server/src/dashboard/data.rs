//! What the dashboard reads: rows of the `indicator_values` mart, for one unit (its cards) or for
//! the units one level down (the drill-down table and the map), through the service's SQL session.

use arrow::array::RecordBatch;

use crate::service::Service;
use crate::Result;

/// One row of `indicator_values`, as the dashboard shows it.
#[derive(Debug, Clone)]
pub struct Row {
    /// The period's code.
    pub period: String,
    /// The unit's code.
    pub code: String,
    /// The unit's name.
    pub name: String,
    /// The indicator's code.
    pub indicator: String,
    /// Its Vietnamese name.
    pub indicator_name: String,
    /// The value (percent).
    pub value: Option<f64>,
    /// The 2030 target.
    pub target: Option<f64>,
    /// How the value is compared with it (`>`, `>=`).
    pub comparison: String,
    /// `met`, `not_met` or `no_data`.
    pub status: String,
    /// target − value.
    pub gap: Option<f64>,
    /// The same period a year earlier.
    pub previous: Option<f64>,
    /// value − previous.
    pub change: Option<f64>,
    /// Communes that reported.
    pub reporting: i64,
    /// Communes expected.
    pub expected: i64,
}

/// Which rows: one epoch, at one level, optionally one period's (or every period of one type), one
/// province's, one unit's or one indicator's.
#[derive(Default)]
pub struct Filter<'a> {
    /// `pre2025` or `post2025`.
    pub epoch: &'a str,
    /// The period's code.
    pub period: Option<&'a str>,
    /// Its year (the mart is sorted by period and province: it lets the scan skip row groups).
    pub year: Option<i32>,
    /// Every period of this type (`month`, `quarter`, …).
    pub period_type: Option<&'a str>,
    /// `national`, `province`, `district` or `commune`.
    pub level: &'a str,
    /// Only units in this province.
    pub province: Option<&'a str>,
    /// Only this unit.
    pub unit: Option<&'a str>,
    /// Only this indicator.
    pub indicator: Option<&'a str>,
}

/// The rows of `filter`, in the order of (unit code, indicator).
#[tracing::instrument(skip_all, fields(epoch = filter.epoch, period = ?filter.period, level = filter.level, province = ?filter.province, unit = ?filter.unit))]
pub async fn rows(service: &Service, filter: &Filter<'_>) -> Result<Vec<Row>> {
    let mut sql = String::from(
        "SELECT unit_code, unit_name, indicator, indicator_name, value, target, target_comparison, status, gap_to_target, \
         value_previous_year, change_from_previous_year, communes_reporting, communes_expected, period \
         FROM indicator_values WHERE epoch = $epoch AND level = $level",
    );
    let year = filter.year.map(|y| y.to_string());
    let mut params = vec![("epoch", filter.epoch), ("level", filter.level)];
    if let Some(p) = filter.period {
        sql.push_str(" AND period = $period");
        params.push(("period", p));
    }
    if let Some(y) = year.as_deref() {
        sql.push_str(" AND year = CAST($year AS INT)");
        params.push(("year", y));
    }
    if let Some(t) = filter.period_type {
        sql.push_str(" AND period_type = $period_type");
        params.push(("period_type", t));
    }
    if let Some(p) = filter.province {
        sql.push_str(" AND province_code = $province");
        params.push(("province", p));
    }
    if let Some(u) = filter.unit {
        sql.push_str(" AND unit_code = $unit");
        params.push(("unit", u));
    }
    if let Some(i) = filter.indicator {
        sql.push_str(" AND indicator = $indicator");
        params.push(("indicator", i));
    }
    sql.push_str(" ORDER BY unit_code, indicator, period");
    let batches = service.query(&sql, &params).await?;
    let mut out = Vec::new();
    for b in &batches {
        read(b, &mut out)?;
    }
    Ok(out)
}

fn read(batch: &RecordBatch, out: &mut Vec<Row>) -> Result<()> {
    let text = |i| strings(batch, i);
    let float = |i| floats(batch, i);
    let int = |i| integers(batch, i);
    let (code, name, indicator, indicator_name) = (text(0)?, text(1)?, text(2)?, text(3)?);
    let (value, target, comparison, status, gap) = (float(4)?, float(5)?, text(6)?, text(7)?, float(8)?);
    let (previous, change, reporting, expected, period) = (float(9)?, float(10)?, int(11)?, int(12)?, text(13)?);
    for r in 0..batch.num_rows() {
        out.push(Row {
            period: period[r].clone().unwrap_or_default(),
            code: code[r].clone().unwrap_or_default(),
            name: name[r].clone().unwrap_or_default(),
            indicator: indicator[r].clone().unwrap_or_default(),
            indicator_name: indicator_name[r].clone().unwrap_or_default(),
            value: value[r],
            target: target[r],
            comparison: comparison[r].clone().unwrap_or_default(),
            status: status[r].clone().unwrap_or_default(),
            gap: gap[r],
            previous: previous[r],
            change: change[r],
            reporting: reporting[r],
            expected: expected[r],
        });
    }
    Ok(())
}

/// One row of the `completeness` mart.
#[derive(Debug, Clone)]
pub struct Completeness {
    /// The unit's code.
    pub code: String,
    /// The unit's name.
    pub name: String,
    /// Working days after the month within which a report is on time at this level.
    pub deadline_days: i64,
    /// Reports expected (communes × months).
    pub expected: i64,
    /// Received.
    pub received: i64,
    /// Received on time.
    pub on_time: i64,
    /// Received late.
    pub late: i64,
    /// Not received, deadline passed.
    pub missing: i64,
    /// Not received, deadline not passed.
    pub pending: i64,
    /// 100 × received ÷ expected.
    pub completeness: Option<f64>,
    /// 100 × on time ÷ expected.
    pub timeliness: Option<f64>,
}

/// Which units' reporting: the unit itself, the units one level down, or the communes under it
/// with reports missing.
#[derive(Debug)]
pub enum Scope<'a> {
    /// The unit `code` at `level`.
    Unit { level: &'a str, code: &'a str },
    /// The units whose parent is `parent`.
    Children { parent: &'a str },
    /// The communes under the unit (`level`, `code`) that missed a report.
    MissingUnder { level: &'a str, code: &'a str },
}

/// Rows of `completeness` for one period of one epoch.
#[tracing::instrument(skip(service))]
pub async fn completeness(service: &Service, epoch: &str, period: &str, scope: Scope<'_>) -> Result<Vec<Completeness>> {
    let select = "SELECT c.unit_code, c.unit_name, c.deadline_working_days, c.reports_expected, c.reports_received, c.reports_on_time, \
                  c.reports_late, c.reports_missing, c.reports_pending, c.completeness_pct, c.timeliness_pct \
                  FROM completeness AS c";
    let mut params = vec![("epoch", epoch), ("period", period)];
    let sql = match scope {
        Scope::Unit { level, code } => {
            params.extend([("level", level), ("code", code)]);
            format!("{select} WHERE c.epoch = $epoch AND c.period = $period AND c.level = $level AND c.unit_code = $code")
        }
        Scope::Children { parent } => {
            params.push(("parent", parent));
            format!(
                "{select} JOIN units AS u ON u.epoch = c.epoch AND u.level = c.level AND u.code = c.unit_code \
                 WHERE c.epoch = $epoch AND c.period = $period AND u.parent_code = $parent ORDER BY c.unit_code"
            )
        }
        Scope::MissingUnder { level, code } => {
            let under = under(level);
            if level != "national" {
                params.push(("code", code));
            }
            format!(
                "{select} JOIN units AS u ON u.epoch = c.epoch AND u.level = c.level AND u.code = c.unit_code \
                 WHERE c.epoch = $epoch AND c.period = $period AND c.level = 'commune' AND c.reports_missing > 0 AND {under} \
                 ORDER BY c.reports_missing DESC, c.unit_code"
            )
        }
    };
    let batches = service.query(&sql, &params).await?;
    let mut out = Vec::new();
    for b in &batches {
        let text = strings(b, 0)?;
        let name = strings(b, 1)?;
        let ints: Vec<Vec<i64>> = (2..9).map(|i| integers(b, i)).collect::<Result<_>>()?;
        let (completeness, timeliness) = (floats(b, 9)?, floats(b, 10)?);
        for r in 0..b.num_rows() {
            out.push(Completeness {
                code: text[r].clone().unwrap_or_default(),
                name: name[r].clone().unwrap_or_default(),
                deadline_days: ints[0][r],
                expected: ints[1][r],
                received: ints[2][r],
                on_time: ints[3][r],
                late: ints[4][r],
                missing: ints[5][r],
                pending: ints[6][r],
                completeness: completeness[r],
                timeliness: timeliness[r],
            });
        }
    }
    Ok(out)
}

/// One open data-quality finding (`quality_issues`).
#[derive(Debug, Clone)]
pub struct Issue {
    /// `rule`, `outlier` or `stock_jump`.
    pub check_type: String,
    /// `high`, `medium` or `low`.
    pub importance: String,
    /// The month.
    pub period: String,
    /// The commune's code.
    pub code: String,
    /// The commune's name.
    pub name: String,
    /// What is wrong, in Vietnamese.
    pub message: String,
}

/// The findings of `quality_issues` in the months of a period, for the communes under a unit
/// (`level`, `code`), most important first.
#[tracing::instrument(skip(service, months))]
pub async fn issues(service: &Service, epoch: &str, months: &[String], level: &str, code: &str) -> Result<Vec<Issue>> {
    // The months are `YYYYMM` made by tonghop, never text from the request.
    let list = months.iter().filter(|m| m.bytes().all(|b| b.is_ascii_digit())).map(|m| format!("'{m}'")).collect::<Vec<_>>().join(", ");
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let under = under(level);
    let sql = format!(
        "SELECT q.check_type, q.importance, q.period, q.org_unit, q.org_unit_name, q.message_vi \
         FROM quality_issues AS q JOIN units AS u ON u.epoch = q.epoch AND u.level = 'commune' AND u.code = q.org_unit \
         WHERE q.epoch = $epoch AND q.period IN ({list}) AND {under} \
         ORDER BY CASE q.importance WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, q.period DESC, q.org_unit, q.check_type, q.subject"
    );
    let mut params = vec![("epoch", epoch)];
    if level != "national" {
        params.push(("code", code));
    }
    let batches = service.query(&sql, &params).await?;
    let mut out = Vec::new();
    for b in &batches {
        let columns: Vec<Vec<Option<String>>> = (0..6).map(|i| strings(b, i)).collect::<Result<_>>()?;
        let at = |i: usize, r: usize| columns[i][r].clone().unwrap_or_default();
        for r in 0..b.num_rows() {
            out.push(Issue { check_type: at(0, r), importance: at(1, r), period: at(2, r), code: at(3, r), name: at(4, r), message: at(5, r) });
        }
    }
    Ok(out)
}

/// The condition on the joined `units AS u` that keeps the communes under the unit `$code` of
/// `level` (all of them under the nation).
fn under(level: &str) -> &'static str {
    match level {
        "national" => "TRUE",
        "province" => "u.province_code = $code",
        "district" => "u.district_code = $code",
        _ => "u.code = $code",
    }
}

fn strings(batch: &RecordBatch, i: usize) -> Result<Vec<Option<String>>> {
    Ok(tonghop_lake::array_strings(batch.column(i))?)
}

fn floats(batch: &RecordBatch, i: usize) -> Result<Vec<Option<f64>>> {
    Ok(tonghop_lake::array_numbers(batch.column(i))?)
}

/// Counts (exact as numbers up to 2^53); NULL as 0.
fn integers(batch: &RecordBatch, i: usize) -> Result<Vec<i64>> {
    Ok(floats(batch, i)?.into_iter().map(|v| v.unwrap_or_default() as i64).collect())
}
