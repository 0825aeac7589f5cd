//! Reading a review's content: the plan and its tasks from the plans catalog, their status and the
//! agencies' reports from the models `task_status` and `task_reports`, and the indicators of the
//! plan's unit in today's units from the Excel report's views ([`ReportData::gather`]), so the
//! review and the report print the same figures.

use arrow::array::RecordBatch;
use chrono::{DateTime, NaiveDate, Utc};
use tonghop_core::plans::{review_as_of, review_period, Plan, Plans};
use tonghop_core::text::{decimal_vi, lower_first};
use tonghop_core::{AdminUnit, Catalog, Epoch, Level, Period, PeriodType, UnitRegistry};
use tonghop_engine::Engine;

use super::document::{AgencyReport, CompletenessLine, Frame, IndicatorResult, Review, TaskLine, TaskWork, UnitTable};
use crate::{Error, ReportData, ReportScope, Result};

/// Lagging units named per indicator below its target in section IV.
pub const LAGGING_UNITS_NAMED: usize = 5;

/// What a review is about: a plan, a period and the unit (in today's units) whose figures it gives.
#[derive(Debug, Clone)]
pub struct ReviewScope {
    /// The plan.
    pub plan: Plan,
    /// A quarter, half-year, nine months or year.
    pub period: Period,
    /// The unit in post-2025 units (the plan's, or the one asked for).
    pub unit: AdminUnit,
}

impl ReviewScope {
    /// Resolves a plan code, a period code and an optional unit (`post2025:40`; default: the plan's
    /// unit in today's units).
    ///
    /// # Errors
    ///
    /// A message naming what is wrong and what is accepted.
    pub fn resolve(plans: &Plans, registry: &UnitRegistry, plan: &str, period: &str, unit: Option<&str>) -> std::result::Result<ReviewScope, String> {
        let Some(found) = plans.plan(plan) else {
            let known: Vec<&str> = plans.plans.iter().map(|p| p.code.as_str()).collect();
            return Err(format!(
                "plan {plan:?} is not in catalog/plans/plans.csv (plans: {})",
                if known.is_empty() { "none".into() } else { known.join(", ") }
            ));
        };
        let period = review_period(period)?;
        let unit = match unit {
            Some(text) => {
                let (epoch, code) = text
                    .parse::<tonghop_core::units::UnitRef>()
                    .map_err(|e| e.to_string())?
                    .with_epoch()
                    .map_err(|_| format!("--unit {text:?}: write post2025:<code> (the review is in today's units)"))?;
                if epoch != Epoch::Post2025 {
                    return Err(format!("--unit {text}: the review gives its figures in today's (post2025) units"));
                }
                registry.get(epoch, &code).ok_or_else(|| format!("--unit {text}: no unit {code} in the post2025 epoch"))?
            }
            None => plans.unit_today(found, registry).and_then(|(e, code)| registry.get(e, &code)).filter(|u| u.level != Level::Commune).ok_or_else(|| {
                format!("plan {plan} covers {}:{}, which has no single unit today: give --unit post2025:<province>", found.epoch, found.unit_code)
            })?,
        };
        if unit.level == Level::Commune {
            return Err(format!("--unit {}: a review is for a province or the nation, not a commune", unit.code));
        }
        Ok(ReviewScope { plan: found.clone(), period, unit: unit.clone() })
    }

    /// `so_ket_<plan>_<period>.docx` (`tong_ket_…` for a year).
    pub fn file_name(&self) -> String {
        let kind = if self.period.kind() == PeriodType::Year { "tong_ket" } else { "so_ket" };
        format!("{kind}_{}_{}.docx", self.plan.code.to_lowercase(), self.period)
    }
}

/// Runs a query with named parameters, naming the view on failure.
async fn query(engine: &Engine, what: &str, sql: &str, params: &[(&str, &str)]) -> Result<Vec<RecordBatch>> {
    engine.query_with(sql, params).await.map_err(|source| Error::Query { what: what.to_string(), source: Box::new(source) })
}

/// A column of every batch as strings, in order (the report's [`crate::report::strings`]).
fn strings(batches: &[RecordBatch], column: &str) -> Result<Vec<Option<String>>> {
    batches.iter().map(|b| crate::report::strings(b, column)).collect::<Result<Vec<_>>>().map(|v| v.concat())
}

/// A column of every batch as numbers, in order.
fn numbers(batches: &[RecordBatch], column: &str) -> Result<Vec<Option<f64>>> {
    batches.iter().map(|b| crate::report::numbers(b, column)).collect::<Result<Vec<_>>>().map(|v| v.concat())
}

impl Review {
    /// Gathers the review of `scope` as of `today` (Vietnam), dated `today`.
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when a model fails (the plans models need a session opened on a project
    /// with `catalog/plans/`).
    pub async fn gather(
        engine: &Engine,
        registry: &UnitRegistry,
        catalog: &Catalog,
        scope: &ReviewScope,
        today: NaiveDate,
        produced_at: DateTime<Utc>,
    ) -> Result<Review> {
        // The figures, as the Excel report of the same unit and period prints them.
        let report_scope = ReportScope::resolve(registry, &format!("post2025:{}", scope.unit.code), &scope.period.to_string())?;
        let figures = match ReportData::gather(engine, catalog, report_scope, produced_at).await {
            Ok(data) => Some(data),
            Err(Error::NoData { .. }) => None,
            Err(e) => return Err(e),
        };
        Review::with_figures(engine, catalog, scope, figures.as_ref(), today).await
    }

    /// The review of `scope` with the figures of the Excel report already read (`None`: no
    /// indicator yet for the unit and period): what the report's plan sheet uses, so the figures
    /// are read once.
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when a plans model fails.
    #[tracing::instrument(skip_all, fields(plan = %scope.plan.code, period = %scope.period, unit = %scope.unit.code))]
    pub async fn with_figures(engine: &Engine, catalog: &Catalog, scope: &ReviewScope, figures: Option<&ReportData>, today: NaiveDate) -> Result<Review> {
        let period = scope.period.to_string();
        let params = [("plan", scope.plan.code.as_str()), ("period", period.as_str())];

        let tasks = query(
            engine,
            "task_status",
            "SELECT task, content_vi, lead_vi, deadline_vi, status, status_vi, behind, agencies_behind FROM task_status \
             WHERE plan = $plan AND period = $period ORDER BY CASE status WHEN 'overdue' THEN 0 WHEN 'not_reported' THEN 1 ELSE 2 END, task_order",
            &params,
        )
        .await?;
        let (numbers_, contents, leads, deadlines, statuses, labels, behind, agencies_behind) = (
            strings(&tasks, "task")?,
            strings(&tasks, "content_vi")?,
            strings(&tasks, "lead_vi")?,
            strings(&tasks, "deadline_vi")?,
            strings(&tasks, "status")?,
            strings(&tasks, "status_vi")?,
            strings(&tasks, "behind")?,
            strings(&tasks, "agencies_behind")?,
        );
        let mut task_lines = Vec::new();
        let mut limitations = Vec::new();
        let mut task_limits = Vec::new();
        for i in 0..numbers_.len() {
            let get = |v: &Vec<Option<String>>| v[i].clone().unwrap_or_default();
            let late = get(&behind) == "true";
            let who = get(&agencies_behind);
            let note = match get(&statuses).as_str() {
                "done_on_time" | "done_late" | "done" | "reported" | "pending" | "awaiting_condition" => String::new(),
                "not_reported" if !who.is_empty() => format!("Chưa báo cáo: {who}"),
                _ if !who.is_empty() => format!("Chưa hoàn thành: {who}"),
                _ => String::new(),
            };
            let line = TaskLine {
                number: get(&numbers_),
                content: get(&contents),
                lead: get(&leads),
                deadline: get(&deadlines),
                status: get(&labels),
                overdue: late,
                note,
            };
            if late {
                let short = short_task(&line.content);
                task_limits.push(match get(&statuses).as_str() {
                    "not_reported" => format!(
                        "Nhiệm vụ thường xuyên số {} ({short}) chưa được báo cáo kết quả trong kỳ{}.",
                        line.number,
                        if who.is_empty() { String::new() } else { format!("; cơ quan chưa báo cáo: {who}") }
                    ),
                    _ => format!(
                        "Nhiệm vụ số {} ({short}) đã quá thời hạn \"{}\" nhưng chưa hoàn thành{}.",
                        line.number,
                        line.deadline,
                        if who.is_empty() { String::new() } else { format!("; cơ quan chủ trì chưa hoàn thành: {who}") }
                    ),
                });
            }
            task_lines.push(line);
        }

        let reports = query(
            engine,
            "task_reports",
            "SELECT task, content_vi, agency_name, status, text, reported_on, evidence FROM ( \
                SELECT r.task, t.task_order, t.content_vi, a.name_vi AS agency_name, r.status, r.text, r.reported_on, r.evidence, \
                    ROW_NUMBER() OVER (PARTITION BY r.task, r.agency ORDER BY r.report_end DESC, r.received_at DESC) AS n \
                FROM task_reports AS r \
                JOIN plan_tasks AS t ON t.plan = r.plan AND t.task = r.task \
                JOIN plan_agencies AS a ON a.code = r.agency \
                JOIN periods AS p ON p.period = $period \
                WHERE r.plan = $plan AND r.report_start <= p.end_date AND r.report_end >= p.start_date \
             ) AS x WHERE n = 1 ORDER BY task_order, agency_name",
            &params,
        )
        .await?;
        let (r_task, r_content, r_agency, r_status, r_text, r_date, r_evidence) = (
            strings(&reports, "task")?,
            strings(&reports, "content_vi")?,
            strings(&reports, "agency_name")?,
            strings(&reports, "status")?,
            strings(&reports, "text")?,
            strings(&reports, "reported_on")?,
            strings(&reports, "evidence")?,
        );
        let mut work: Vec<TaskWork> = Vec::new();
        for i in 0..r_task.len() {
            let number = r_task[i].clone().unwrap_or_default();
            if work.last().is_none_or(|w| w.number != number) {
                work.push(TaskWork { number: number.clone(), content: r_content[i].clone().unwrap_or_default(), reports: Vec::new() });
            }
            let status = r_status[i].as_deref().and_then(tonghop_core::plans::ProgressStatus::parse).map(|s| s.label_vi().to_string()).unwrap_or_default();
            let date = r_date[i].as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).unwrap_or(today);
            work.last_mut().expect("pushed above").reports.push(AgencyReport {
                agency: r_agency[i].clone().unwrap_or_default(),
                status,
                text: r_text[i].clone().unwrap_or_default(),
                date,
                evidence: r_evidence[i].clone().unwrap_or_default(),
            });
        }

        let (indicators, unit_table, completeness, indicator_limits) = match figures {
            Some(data) => indicator_sections(data)?,
            None => (
                Vec::new(),
                UnitTable::default(),
                Vec::new(),
                vec![format!(
                    "Chưa có số liệu chỉ tiêu của {} trong {} (chưa tổng hợp hoặc chưa có báo cáo).",
                    scope.unit.full_name,
                    scope.period.name_vi().to_lowercase()
                )],
            ),
        };
        limitations.extend(indicator_limits);
        limitations.extend(task_limits);

        let unit_frame = catalog.frames.for_unit(&scope.unit);
        let frame = Frame {
            parent_body: unit_frame.parent_body,
            issuing_body: unit_frame.issuing_body.clone(),
            number_line: unit_frame.number_line,
            place: unit_frame.place,
            date: today,
            signer_title: unit_frame.signer_title,
            signer_name: unit_frame.signer_name,
            preparer_title: unit_frame.preparer_title,
            preparer_name: unit_frame.preparer_name,
            recipients: unit_frame.recipients,
        };
        let name = scope.period.name_vi();
        let lower_name = lower_first(&name);
        let issuer = &scope.plan.issuing_body_vi;
        let title = match scope.period.kind() {
            PeriodType::Year => format!("Tổng kết năm {} thực hiện {} của {issuer}", scope.period.year(), scope.plan.document),
            _ => format!("Sơ kết {lower_name} thực hiện {} của {issuer}", scope.plan.document),
        };
        let as_of = review_as_of(&scope.period, today);
        let opening = format!(
            "Thực hiện {} của {} về {}, {} báo cáo kết quả thực hiện {lower_name} trên địa bàn {} (tình hình các nhiệm vụ tính đến {}) như sau:",
            scope.plan.document,
            scope.plan.issuing_body_vi,
            about(&scope.plan.title_vi),
            sentence_case(&unit_frame.issuing_body),
            lower_first(&scope.unit.full_name),
            tonghop_core::plans::date_line(as_of),
        );
        Ok(Review {
            frame,
            kind: "BÁO CÁO".into(),
            title,
            plan_code: scope.plan.code.clone(),
            period,
            period_name: name,
            as_of,
            unit_name: scope.unit.full_name.clone(),
            opening,
            work,
            indicators,
            tasks: task_lines,
            limitations,
            directions: DIRECTIONS.iter().map(|d| d.to_string()).collect(),
            completeness,
            unit_table,
        })
    }
}

/// Section V: what the officer writes, marked for replacement.
pub const DIRECTIONS: [&str; 4] = [
    "1. [Về công tác lãnh đạo, chỉ đạo, tuyên truyền trong kỳ tới: cán bộ tổng hợp ghi nội dung]",
    "2. [Về giải pháp đối với các chỉ tiêu chưa đạt nêu tại mục IV: cán bộ tổng hợp ghi nội dung]",
    "3. [Về các nhiệm vụ quá hạn, chậm tiến độ: cán bộ tổng hợp ghi nội dung]",
    "4. [Kiến nghị, đề xuất: cán bộ tổng hợp ghi nội dung]",
];

/// Sections II, appendix 1 and 2 and the indicator sentences of IV, from the report's data.
#[allow(clippy::type_complexity)]
fn indicator_sections(data: &ReportData) -> Result<(Vec<IndicatorResult>, UnitTable, Vec<CompletenessLine>, Vec<String>)> {
    let mut indicators = Vec::new();
    let mut limits = Vec::new();
    for row in &data.summary {
        let subs: Vec<_> = data.breakdown.iter().filter(|b| b.indicator == row.indicator).collect();
        let with_value = subs.iter().filter(|b| b.value.is_some()).count() as i64;
        let meeting = subs.iter().filter(|b| b.status == "met").count() as i64;
        let target = match (&row.target_comparison, row.target) {
            (Some(c), Some(t)) => format!("{} {}", if c == ">=" { "≥" } else { c.as_str() }, decimal_vi(t).trim_end_matches(",0")),
            _ => String::new(),
        };
        let gap = row.value.zip(row.target).map(|(v, t)| v - t);
        if row.status == "not_met" {
            let mut lagging: Vec<_> = subs.iter().filter(|b| b.value.is_some() && b.status == "not_met").collect();
            lagging.sort_by(|a, b| a.value.partial_cmp(&b.value).unwrap_or(std::cmp::Ordering::Equal).then(a.unit_code.cmp(&b.unit_code)));
            let named: Vec<String> =
                lagging.iter().take(LAGGING_UNITS_NAMED).map(|b| format!("{} ({}%)", b.unit_name, decimal_vi(b.value.unwrap_or_default()))).collect();
            let mut sentence = format!(
                "{} đạt {}%, chưa đạt mục tiêu {}%{}",
                row.indicator_name,
                row.value.map(decimal_vi).unwrap_or_default(),
                target,
                gap.map(|g| format!(" (còn thiếu {} điểm phần trăm)", decimal_vi(-g))).unwrap_or_default()
            );
            if !named.is_empty() {
                sentence.push_str(&format!("; {meeting}/{with_value} đơn vị đạt; các đơn vị thấp nhất: {}", named.join(", ")));
            }
            sentence.push('.');
            limits.push(sentence);
        }
        indicators.push(IndicatorResult {
            name: row.indicator_name.clone(),
            value: row.value,
            target,
            gap,
            previous_year: row.value_previous_year,
            units_meeting: meeting,
            units_with_value: with_value,
            assessment: row.assessment.clone(),
        });
    }

    let mut table = UnitTable { indicators: data.summary.iter().map(|r| r.indicator_name.clone()).collect(), rows: Vec::new() };
    for b in &data.breakdown {
        if table.rows.last().is_none_or(|(name, _)| *name != b.unit_name) {
            table.rows.push((b.unit_name.clone(), vec![None; data.summary.len()]));
        }
        if let Some(i) = data.summary.iter().position(|r| r.indicator == b.indicator) {
            table.rows.last_mut().expect("pushed above").1[i] = b.value;
        }
    }

    let c = &data.completeness;
    let (codes, names, expected, received, on_time, completeness_pct, timeliness_pct) = (
        strings(c, "unit_code")?,
        strings(c, "unit_name")?,
        numbers(c, "reports_expected")?,
        numbers(c, "reports_received")?,
        numbers(c, "reports_on_time")?,
        numbers(c, "completeness_pct")?,
        numbers(c, "timeliness_pct")?,
    );
    let mut lines: Vec<(bool, CompletenessLine)> = (0..codes.len())
        .map(|i| {
            let own = codes[i].as_deref() == Some(data.scope.unit.code.as_str());
            let line = CompletenessLine {
                unit: if own { data.scope.unit_label() } else { names[i].clone().unwrap_or_default() },
                expected: expected[i].unwrap_or_default() as i64,
                received: received[i].unwrap_or_default() as i64,
                on_time: on_time[i].unwrap_or_default() as i64,
                completeness_pct: completeness_pct[i].unwrap_or_default(),
                timeliness_pct: timeliness_pct[i].unwrap_or_default(),
            };
            (own, line)
        })
        .collect();
    lines.sort_by_key(|(own, _)| !own);
    Ok((indicators, table, lines.into_iter().map(|(_, l)| l).collect(), limits))
}

/// The task's first clause, for sentences (`Xây dựng Đề án Phát triển nguồn nhân lực y tế…`).
fn short_task(content: &str) -> String {
    let first = content.split(['.', ';']).next().unwrap_or(content).trim();
    let words: Vec<&str> = first.split_whitespace().collect();
    if words.len() > 16 {
        format!("{}…", words[..16].join(" "))
    } else {
        first.to_string()
    }
}

/// A plan's title after "về": lower-case first, without its own leading "Về việc" / "Về".
fn about(title: &str) -> String {
    let lower = lower_first(title.trim());
    lower.strip_prefix("về việc ").or_else(|| lower.strip_prefix("về ")).map(str::to_string).unwrap_or(lower)
}

/// `SỞ Y TẾ` → `Sở Y tế` is not derivable in general; the issuing body as the frame writes it,
/// in sentence case (`Sở y tế`) would be wrong: keep a known body's usual spelling.
fn sentence_case(body: &str) -> String {
    match body {
        "SỞ Y TẾ" => "Sở Y tế".into(),
        "BỘ Y TẾ" => "Bộ Y tế".into(),
        other => {
            let lower = other.to_lowercase();
            let mut chars = lower.chars();
            chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_task_is_shortened_at_its_first_clause() {
        assert_eq!(
            short_task("Xây dựng Đề án Phát triển nguồn nhân lực y tế đến năm 2030. Tiếp theo"),
            "Xây dựng Đề án Phát triển nguồn nhân lực y tế đến năm 2030"
        );
        let long = "một hai ba bốn năm sáu bảy tám chín mười mười một mười hai mười ba mười bốn mười lăm mười sáu mười bảy";
        assert!(short_task(long).ends_with('…'));
        assert_eq!(lower_first("Kế hoạch"), "kế hoạch");
        assert_eq!(sentence_case("SỞ Y TẾ"), "Sở Y tế");
        assert_eq!(about("Về việc tiếp tục thực hiện"), "tiếp tục thực hiện");
        assert_eq!(about("Triển khai thực hiện"), "triển khai thực hiện");
    }
}
