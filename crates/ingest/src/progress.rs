//! Progress reports on the tasks of the implementation plans (`catalog/plans/`): the one validator
//! for both ways they arrive (JSON over HTTP and the XLSX progress form of
//! [`tonghop_formats::progress`]), and the Arrow batch of the `task_progress` lake table.
//!
//! Each report is a [`ProgressInput`] (raw, as sent). [`check`] judges every one on its own — a
//! refused report never stops the good ones — and gives the accepted [`ProgressEntry`]s and a
//! [`Rejection`] per problem, with a stable reason code and a message in Vietnamese (for the
//! agency's officer) and English, each starting with the place (`Ô E9 (trang Tiến độ)`, or the
//! JSON path), naming the field and the offending value and saying how to fix it. Reason codes
//! ([`REASONS`]):
//!
//! | reason | when |
//! |---|---|
//! | `plan_unknown` | the plan code is not a plan of `catalog/plans/plans.csv` |
//! | `task_unknown` | the plan has no task with that number (or none is given) |
//! | `task_not_assigned` | the reporting agency neither leads nor co-operates on the task, directly or through a group (or is not a reporting agency at all) |
//! | `period_invalid` | the period is not a month, quarter, half-year, nine-months or year code (`202603`, `2026Q1`, `2026S1`, `2026N9`, `2026`) |
//! | `period_in_future` | the period starts after today |
//! | `status_invalid` | the status is empty or not one of the four labels or codes of [`ProgressStatus`] |
//! | `text_missing` | the result text is empty |
//! | `text_too_long` | the result text passes [`TEXT_MAX_CHARS`] characters, or the evidence [`EVIDENCE_MAX_CHARS`] |
//! | `date_invalid` | the date is missing, unreadable (accepted: a real Excel date, `15/03/2026`, `5/3/2026`, `2026-03-15`; `-` or `.` may separate day, month and year) or after today |
//! | `task_duplicate` | the same task of the same plan and period is reported twice in one submission: every copy is refused, since it is unclear which is right |
//!
//! A report that names no plan, task, agency or period the plans know stops at the first such
//! problem; the other fields (status, text, date, evidence) are all checked, each refusal located
//! at its own cell, so an officer can fix a row at once. A refused report may therefore give
//! several rejections: the refused reports are those not among the entries. These codes are not in
//! [`crate::REASONS`], which lists the data validator's.
//!
//! Accepted entries go into [`ProgressColumns`], which builds a batch of
//! [`tonghop_lake::tables::TASK_PROGRESS`].

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::Date32Type;
use chrono::{DateTime, NaiveDate, Utc};
use tonghop_core::plans::{Plans, ProgressStatus, Task};
use tonghop_core::text::{closest, nfc};
use tonghop_core::{Period, PeriodType};
pub use tonghop_formats::progress::{CellDate, FieldCells, EVIDENCE_MAX_CHARS, TEXT_MAX_CHARS};
use tonghop_formats::progress::{ProgressCells, ProgressForm};
use tonghop_formats::Location;
use tonghop_lake::tables;

use crate::validate::Rejection;
use crate::Result;

/// Every reason code [`check`] can give, for documentation and tests.
pub const REASONS: [&str; 10] = [
    "plan_unknown",
    "task_unknown",
    "task_not_assigned",
    "period_invalid",
    "period_in_future",
    "status_invalid",
    "text_missing",
    "text_too_long",
    "date_invalid",
    "task_duplicate",
];

/// One progress report as sent, nothing checked: an item of the JSON body, or a row of the form
/// ([`read_form_inputs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressInput {
    /// Where the report sits: the form row's status cell, or the JSON path of the item.
    pub location: Location,
    /// The cell of each field (the form); `None` places every field at `location` (JSON).
    pub cells: Option<FieldCells>,
    /// Plan code as sent.
    pub plan: String,
    /// Task number as sent.
    pub task: String,
    /// Period code as sent.
    pub period: String,
    /// Status as sent: a label (`Đang triển khai`) or a code (`dang_trien_khai`).
    pub status: String,
    /// What was done, as sent.
    pub text: String,
    /// The date of the report: a real date (an Excel date cell) or text; `None` when not given.
    pub reported_on: Option<CellDate>,
    /// Document number or link, as sent.
    pub evidence: Option<String>,
}

/// One accepted report: checked, normalised and owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressEntry {
    /// Where it sat in the submission.
    pub location: Location,
    /// Plan code.
    pub plan: String,
    /// Task number within the plan.
    pub task: String,
    /// The reporting agency's code.
    pub agency: String,
    /// The period code, canonical (`2026Q1`).
    pub period: String,
    /// The status.
    pub status: ProgressStatus,
    /// What was done: trimmed, NFC, not empty, at most [`TEXT_MAX_CHARS`] characters.
    pub text: String,
    /// The date of the report, not after the day it was checked.
    pub reported_on: NaiveDate,
    /// Document number or link: trimmed, NFC; `None` when not given.
    pub evidence: Option<String>,
}

/// The reports of a filled progress form as inputs: plan and period from the form's header, one
/// input per reported row, every field located at its cell. The form's agency
/// ([`ProgressForm::agency`]) is the reporting agency to give [`check`]; whether the sender may
/// report as that agency is the caller's business, and so are the form's own problems
/// ([`ProgressForm::problems`], rejections already).
pub fn read_form_inputs(form: &ProgressForm) -> Vec<ProgressInput> {
    form.rows
        .iter()
        .map(|row: &ProgressCells| ProgressInput {
            location: row.location.clone(),
            cells: Some(row.cells.clone()),
            plan: form.plan.clone(),
            task: row.task.clone(),
            period: form.period.clone(),
            status: row.status.clone(),
            text: row.text.clone(),
            reported_on: row.reported_on.clone(),
            evidence: Some(row.evidence.clone()).filter(|e| !e.trim().is_empty()),
        })
        .collect()
}

/// The fields of a report, for locating and naming them in messages.
#[derive(Debug, Clone, Copy)]
enum Field {
    Plan,
    Task,
    Period,
    Status,
    Text,
    ReportedOn,
    Evidence,
}

impl Field {
    fn code(self) -> &'static str {
        match self {
            Field::Plan => "plan",
            Field::Task => "task",
            Field::Period => "period",
            Field::Status => "status",
            Field::Text => "text",
            Field::ReportedOn => "reported_on",
            Field::Evidence => "evidence",
        }
    }

    fn label_vi(self) -> &'static str {
        match self {
            Field::Plan => "Kế hoạch",
            Field::Task => "TT nhiệm vụ",
            Field::Period => "Kỳ báo cáo",
            Field::Status => "Tình trạng",
            Field::Text => "Kết quả thực hiện",
            Field::ReportedOn => "Ngày báo cáo",
            Field::Evidence => "Tài liệu kèm theo",
        }
    }
}

impl ProgressInput {
    /// Where `field` sits.
    fn at(&self, field: Field) -> &Location {
        let Some(cells) = &self.cells else { return &self.location };
        match field {
            Field::Plan => &cells.plan,
            Field::Task => &cells.task,
            Field::Period => &cells.period,
            Field::Status => &cells.status,
            Field::Text => &cells.text,
            Field::ReportedOn => &cells.reported_on,
            Field::Evidence => &cells.evidence,
        }
    }

    /// A rejection of `field` of this report: the messages start with the field's place and name.
    fn reject(&self, field: Field, value: &str, reason: &'static str, vi: String, en: String) -> Rejection {
        let location = self.at(field).clone();
        Rejection {
            message_vi: format!("{}, mục {}: {vi}", location.vi(), field.label_vi()),
            message_en: format!("{}, field {}: {en}", location.en(), field.code()),
            location,
            field: field.code().to_string(),
            value: Some(shown(value)),
            reason,
        }
    }
}

/// A value as a rejection keeps it: at most 200 characters.
fn shown(value: &str) -> String {
    const MAX: usize = 200;
    if value.chars().count() <= MAX {
        value.to_string()
    } else {
        value.chars().take(MAX).chain(std::iter::once('…')).collect()
    }
}

/// `4.000`: a count as Vietnamese writes it.
fn thousands(n: usize) -> String {
    tonghop_core::text::integer_vi(n as i64)
}

/// At most `max` items joined by `, `, then `…`.
fn list(items: impl Iterator<Item = String>, max: usize) -> String {
    let items: Vec<String> = items.collect();
    let mut out = items.iter().take(max).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > max {
        out.push_str(", …");
    }
    out
}

/// A location's Vietnamese name in the middle of a sentence (`ô E12 (trang Tiến độ)`).
fn vi_inline(location: &Location) -> String {
    let vi = location.vi();
    let mut chars = vi.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// Reads a date as officers write it: `15/03/2026`, `5/3/2026` (or with `-` or `.`), `2026-03-15`;
/// a time after a space or `T` is ignored.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let head = text.trim().split([' ', 'T']).next().unwrap_or_default();
    let parts: Vec<&str> = head.split(['/', '-', '.']).collect();
    let [a, b, c] = parts.as_slice() else { return None };
    let digits = |s: &str, lengths: std::ops::RangeInclusive<usize>| lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let (y, m, d) = if digits(a, 4..=4) && digits(b, 1..=2) && digits(c, 1..=2) && head.contains('-') {
        (a, b, c)
    } else if digits(a, 1..=2) && digits(b, 1..=2) && digits(c, 4..=4) {
        (c, b, a)
    } else {
        return None;
    };
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// The four statuses as messages list them.
fn statuses_vi() -> String {
    ProgressStatus::labels().join(", ")
}

fn statuses_en() -> String {
    ProgressStatus::ALL.iter().map(|s| format!("{} ({})", s.label_vi(), s.code())).collect::<Vec<_>>().join(", ")
}

/// A report that passed the identity checks (plan, task, agency, period), with what its fields gave.
struct Judged {
    entry: Option<ProgressEntry>,
    rejections: Vec<Rejection>,
    /// `(plan, task, period)` once the identity checks passed: the key of the duplicate check.
    key: Option<(String, String, String)>,
}

/// Checks the reports of one submission by `agency` (an agency code of `catalog/plans/agencies.csv`);
/// `today` (in Vietnam) decides which periods and dates are in the future. Returns the accepted
/// entries, in input order, and the rejections (see the module docs for the reasons), in input
/// order too.
pub fn check(input: &[ProgressInput], plans: &Plans, agency: &str, today: NaiveDate) -> (Vec<ProgressEntry>, Vec<Rejection>) {
    let mut judged: Vec<Judged> = input.iter().map(|i| judge(i, plans, agency, today)).collect();

    // The same task twice for the same plan and period: every copy is refused.
    let mut copies: HashMap<&(String, String, String), Vec<usize>> = HashMap::new();
    for (i, j) in judged.iter().enumerate() {
        if let Some(key) = &j.key {
            copies.entry(key).or_default().push(i);
        }
    }
    let mut duplicates: Vec<(usize, Rejection)> = Vec::new();
    for (key, rows) in copies.iter().filter(|(_, rows)| rows.len() > 1) {
        let (plan, task, period) = key;
        for &i in rows {
            let this = &input[i];
            let others: Vec<String> = rows.iter().filter(|&&o| o != i).map(|&o| input[o].at(Field::Task).clone()).map(|l| vi_inline(&l)).collect();
            let others_en: Vec<String> = rows.iter().filter(|&&o| o != i).map(|&o| input[o].at(Field::Task).en()).collect();
            // `Location::en` of a path already reads "at $…".
            let others_en: Vec<String> = others_en.into_iter().map(|o| o.strip_prefix("at ").map(str::to_string).unwrap_or(o)).collect();
            duplicates.push((
                i,
                this.reject(
                    Field::Task,
                    &this.task,
                    "task_duplicate",
                    format!(
                        "nhiệm vụ {task} của kế hoạch {plan}, kỳ {period} được báo cáo {} lần trong cùng một lần gửi (ở đây và ở {}); \
                         không biết báo cáo nào đúng nên đều không được nhận: hãy gửi lại một báo cáo cho nhiệm vụ này",
                        rows.len(),
                        others.join(", ")
                    ),
                    format!(
                        "task {task} of plan {plan} for {period} is reported {} times in one submission (here and at {}); \
                         as it is unclear which is right, none is accepted: send one report for this task",
                        rows.len(),
                        others_en.join(", ")
                    ),
                ),
            ));
        }
    }
    for (i, rejection) in duplicates {
        judged[i].entry = None;
        judged[i].rejections.push(rejection);
    }

    let mut entries = Vec::new();
    let mut rejections = Vec::new();
    for j in judged {
        entries.extend(j.entry);
        rejections.extend(j.rejections);
    }
    tracing::debug!(agency, reports = input.len(), accepted = entries.len(), rejections = rejections.len(), "progress reports checked");
    (entries, rejections)
}

/// Judges one report on its own.
fn judge(input: &ProgressInput, plans: &Plans, agency: &str, today: NaiveDate) -> Judged {
    let refused = |rejection: Rejection| Judged { entry: None, rejections: vec![rejection], key: None };
    match identify(input, plans, agency, today) {
        Err(rejection) => refused(*rejection),
        Ok((task, period)) => {
            let (entry, rejections) = fields(input, task, &period, agency, today);
            Judged { entry, rejections, key: Some((task.plan.clone(), task.number.clone(), period.to_string())) }
        }
    }
}

/// The plan's task and the period a report is about, once the agency's part in the task is known.
fn identify<'p>(input: &ProgressInput, plans: &'p Plans, agency: &str, today: NaiveDate) -> std::result::Result<(&'p Task, Period), Box<Rejection>> {
    let plan_code = input.plan.trim();
    let Some(plan) = plans.plan(plan_code) else {
        let known: Vec<String> = plans.plans.iter().map(|p| p.code.clone()).collect();
        let hint = closest(&known, plan_code);
        let (hint_vi, hint_en) = hint.map(|k| (format!(" (có phải {k}?)"), format!(" (did you mean {k}?)"))).unwrap_or_default();
        let known_list = if known.is_empty() { "none".to_string() } else { list(known.iter().cloned(), 10) };
        let (vi, en) = if plan_code.is_empty() {
            (format!("thiếu mã kế hoạch; ghi mã kế hoạch (các kế hoạch: {known_list})"), format!("the plan code is missing; give one of: {known_list}"))
        } else {
            (
                format!(
                    "không có kế hoạch mã \"{plan_code}\"{hint_vi} (các kế hoạch: {known_list}); hãy dùng biểu mẫu do hệ thống tạo hoặc ghi đúng mã kế hoạch"
                ),
                format!("there is no plan \"{plan_code}\"{hint_en} (plans: {known_list}); use the form tonghop generates or give a plan code of catalog/plans/plans.csv"),
            )
        };
        return Err(Box::new(input.reject(Field::Plan, plan_code, "plan_unknown", vi, en)));
    };

    let number = input.task.trim();
    let Some(task) = plans.task(&plan.code, number) else {
        let numbers = list(plans.tasks_of(&plan.code).map(|t| t.number.clone()), 30);
        let (vi, en) = if number.is_empty() {
            (
                format!("thiếu số thứ tự nhiệm vụ; ghi số thứ tự nhiệm vụ như trong kế hoạch {} (các nhiệm vụ: {numbers})", plan.code),
                format!("the task number is missing; give the task's number as plan {} writes it (tasks: {numbers})", plan.code),
            )
        } else {
            (
                format!("kế hoạch {} không có nhiệm vụ số \"{number}\" (các nhiệm vụ: {numbers}); ghi đúng số thứ tự nhiệm vụ như trong kế hoạch", plan.code),
                format!("plan {} has no task \"{number}\" (tasks: {numbers}); give the task's number as the plan writes it", plan.code),
            )
        };
        return Err(Box::new(input.reject(Field::Task, number, "task_unknown", vi, en)));
    };

    match plans.agency(agency) {
        None => {
            return Err(Box::new(input.reject(
                Field::Task,
                number,
                "task_not_assigned",
                format!("không có cơ quan mã \"{agency}\" trong danh sách cơ quan báo cáo; hãy dùng biểu mẫu do hệ thống tạo cho cơ quan mình"),
                format!("there is no reporting agency \"{agency}\" in catalog/plans/agencies.csv; use the form tonghop generates for the agency"),
            )))
        }
        Some(a) if a.is_group() => {
            return Err(Box::new(input.reject(
                Field::Task,
                number,
                "task_not_assigned",
                format!("{} ({agency}) là nhóm cơ quan; mỗi cơ quan thành viên tự báo cáo nhiệm vụ {} bằng mã của mình", a.name_vi, task.number),
                format!("{agency} ({}) is a group of agencies; each member reports on task {} under its own code", a.name_vi, task.number),
            )))
        }
        Some(a) if plans.role_in(agency, task).is_none() => {
            let cooperating = task.cooperating_vi.as_deref().filter(|c| !c.trim().is_empty()).unwrap_or("không có");
            let cooperating_en = task.cooperating_vi.as_deref().filter(|c| !c.trim().is_empty()).unwrap_or("none");
            return Err(Box::new(input.reject(
                Field::Task,
                number,
                "task_not_assigned",
                format!(
                    "Cơ quan {} ({agency}) không chủ trì hay phối hợp nhiệm vụ {} của kế hoạch {} (chủ trì: {}; phối hợp: {cooperating}); \
                     chỉ báo cáo các nhiệm vụ được giao, hoặc báo với cơ quan tổng hợp nếu kế hoạch có giao nhiệm vụ này",
                    a.name_vi, task.number, plan.code, task.lead_vi
                ),
                format!(
                    "agency {agency} ({}) neither leads nor co-operates on task {} of plan {} (lead: {}; co-operating: {cooperating_en}); \
                     report only on the tasks assigned to it, or tell the coordinating office if the plan does assign this one",
                    a.name_vi, task.number, plan.code, task.lead_vi
                ),
            )));
        }
        Some(_) => {}
    }

    let code = input.period.trim();
    let period = match code.parse::<Period>() {
        Ok(p) if p.kind() != PeriodType::YearToDate => p,
        _ => {
            let what = if code.is_empty() { "thiếu kỳ báo cáo".to_string() } else { format!("kỳ báo cáo \"{code}\" không đúng") };
            let what_en = if code.is_empty() { "the period is missing".to_string() } else { format!("period \"{code}\" cannot be used") };
            return Err(Box::new(input.reject(
                Field::Period,
                code,
                "period_invalid",
                format!("{what} (nhiệm vụ {}); ghi tháng (202603), quý (2026Q1), 6 tháng (2026S1), 9 tháng (2026N9) hoặc năm (2026)", task.number),
                format!("{what_en} (task {}); give a month (202603), quarter (2026Q1), half year (2026S1), nine months (2026N9) or year (2026)", task.number),
            )));
        }
    };
    if period.start() > today {
        return Err(Box::new(input.reject(
            Field::Period,
            code,
            "period_in_future",
            format!(
                "kỳ {period} ({}) chưa bắt đầu (bắt đầu từ ngày {}; nhiệm vụ {}); chỉ báo cáo kỳ đã bắt đầu",
                period.name_vi(),
                period.start().format("%d/%m/%Y"),
                task.number
            ),
            format!("period {period} has not started (it starts on {}; task {}); report only periods that have begun", period.start(), task.number),
        )));
    }
    Ok((task, period))
}

/// Checks the status, text, date and evidence of an identified report: every problem, each at its cell.
fn fields(input: &ProgressInput, task: &Task, period: &Period, agency: &str, today: NaiveDate) -> (Option<ProgressEntry>, Vec<Rejection>) {
    let mut rejections = Vec::new();
    let n = &task.number;

    let status_text = nfc(input.status.trim()).into_owned();
    let status = ProgressStatus::parse(&status_text);
    if status.is_none() {
        let (vi, en) = if status_text.is_empty() {
            (
                format!("chưa chọn tình trạng của nhiệm vụ {n}; chọn một trong: {}", statuses_vi()),
                format!("no status for task {n}; choose one of: {}", statuses_en()),
            )
        } else {
            (
                format!("tình trạng \"{status_text}\" không hợp lệ; chọn một trong: {}", statuses_vi()),
                format!("status \"{status_text}\" is not one of the four: {}", statuses_en()),
            )
        };
        rejections.push(input.reject(Field::Status, &status_text, "status_invalid", vi, en));
    }

    let text = nfc(input.text.trim()).into_owned();
    let length = text.chars().count();
    if text.is_empty() {
        rejections.push(input.reject(
            Field::Text,
            "",
            "text_missing",
            format!("chưa ghi kết quả thực hiện nhiệm vụ {n}; ghi ngắn gọn những việc đã làm và kết quả đạt được (nếu chưa triển khai, ghi lý do)"),
            format!("no result text for task {n}; write briefly what was done and achieved (or why it has not started)"),
        ));
    } else if length > TEXT_MAX_CHARS {
        rejections.push(input.reject(
            Field::Text,
            &text,
            "text_too_long",
            format!(
                "kết quả thực hiện nhiệm vụ {n} dài {} ký tự, quá giới hạn {} ký tự; hãy viết ngắn gọn và gửi văn bản đầy đủ làm tài liệu kèm theo",
                thousands(length),
                thousands(TEXT_MAX_CHARS)
            ),
            format!("the result text of task {n} has {length} characters, more than {TEXT_MAX_CHARS}; shorten it and send the full report as evidence"),
        ));
    }

    let reported_on = match &input.reported_on {
        Some(CellDate::Date(d)) => Ok(*d),
        Some(CellDate::Text(t)) if !t.trim().is_empty() => parse_date(t).ok_or_else(|| {
            let t = t.trim();
            (
                t.to_string(),
                format!("ngày báo cáo \"{t}\" không đọc được; ghi theo dạng ngày/tháng/năm, ví dụ 15/03/2026"),
                format!("date \"{t}\" cannot be read; write it day/month/year (15/03/2026) or 2026-03-15"),
            )
        }),
        _ => Err((
            String::new(),
            format!("thiếu ngày báo cáo của nhiệm vụ {n}; ghi ngày theo dạng ngày/tháng/năm, ví dụ 15/03/2026"),
            format!("no date for task {n}; write it day/month/year (15/03/2026) or 2026-03-15"),
        )),
    };
    let reported_on = match reported_on {
        Ok(d) if d > today => Err((
            d.format("%d/%m/%Y").to_string(),
            format!("ngày báo cáo {} sau ngày hôm nay ({}); ghi ngày lập báo cáo", d.format("%d/%m/%Y"), today.format("%d/%m/%Y")),
            format!("date {d} is after today ({today}); give the day the report was made"),
        )),
        other => other,
    };
    let reported_on = match reported_on {
        Ok(d) => Some(d),
        Err((value, vi, en)) => {
            rejections.push(input.reject(Field::ReportedOn, &value, "date_invalid", vi, en));
            None
        }
    };

    let evidence = input.evidence.as_deref().map(|e| nfc(e.trim()).into_owned()).filter(|e| !e.is_empty());
    if let Some(e) = &evidence {
        let length = e.chars().count();
        if length > EVIDENCE_MAX_CHARS {
            rejections.push(input.reject(
                Field::Evidence,
                e,
                "text_too_long",
                format!(
                    "tài liệu kèm theo dài {} ký tự, quá giới hạn {} ký tự; chỉ ghi số, ký hiệu văn bản hoặc đường dẫn tới tài liệu",
                    thousands(length),
                    thousands(EVIDENCE_MAX_CHARS)
                ),
                format!("the evidence has {length} characters, more than {EVIDENCE_MAX_CHARS}; give only a document number or a link"),
            ));
        }
    }

    let entry = match (status, reported_on) {
        (Some(status), Some(reported_on)) if rejections.is_empty() => Some(ProgressEntry {
            location: input.location.clone(),
            plan: task.plan.clone(),
            task: task.number.clone(),
            agency: agency.to_string(),
            period: period.to_string(),
            status,
            text,
            reported_on,
            evidence,
        }),
        _ => None,
    };
    (entry, rejections)
}

fn timestamps() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

/// Accepted progress reports of one or more submissions, in `task_progress` column order.
pub struct ProgressColumns {
    plan: StringBuilder,
    task: StringBuilder,
    agency: StringBuilder,
    period: StringBuilder,
    status: StringBuilder,
    text: StringBuilder,
    reported_on: Date32Builder,
    evidence: StringBuilder,
    submission_id: StringBuilder,
    source_location: StringBuilder,
    submitted_by: StringBuilder,
    received_at: TimestampMicrosecondBuilder,
    ingested_at: TimestampMicrosecondBuilder,
    rows: usize,
    ingested: i64,
}

impl ProgressColumns {
    /// Empty columns; every row gets `ingested_at`.
    pub fn new(ingested_at: DateTime<Utc>) -> Self {
        ProgressColumns {
            plan: StringBuilder::new(),
            task: StringBuilder::new(),
            agency: StringBuilder::new(),
            period: StringBuilder::new(),
            status: StringBuilder::new(),
            text: StringBuilder::new(),
            reported_on: Date32Builder::new(),
            evidence: StringBuilder::new(),
            submission_id: StringBuilder::new(),
            source_location: StringBuilder::new(),
            submitted_by: StringBuilder::new(),
            received_at: timestamps(),
            ingested_at: timestamps(),
            rows: 0,
            ingested: ingested_at.timestamp_micros(),
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row is held.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one accepted report of submission `submission_id`, found at `source_location`
    /// (normally `entry.location`; stored in its compact form, `Tiến độ!E9`), sent by
    /// `submitted_by` (an API token's holder, when known) and received at `received_at`.
    pub fn push(&mut self, entry: &ProgressEntry, submission_id: &str, source_location: &dyn Display, submitted_by: Option<&str>, received_at: DateTime<Utc>) {
        self.plan.append_value(&entry.plan);
        self.task.append_value(&entry.task);
        self.agency.append_value(&entry.agency);
        self.period.append_value(&entry.period);
        self.status.append_value(entry.status.code());
        self.text.append_value(&entry.text);
        self.reported_on.append_value(Date32Type::from_naive_date(entry.reported_on));
        self.evidence.append_option(entry.evidence.as_deref());
        self.submission_id.append_value(submission_id);
        self.source_location.append_value(source_location.to_string());
        self.submitted_by.append_option(submitted_by);
        self.received_at.append_value(received_at.timestamp_micros());
        self.ingested_at.append_value(self.ingested);
        self.rows += 1;
    }

    /// The rows as a `task_progress` batch; the columns are left empty.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Arrow`] only on a bug (the schema is fixed).
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.plan.finish()),
            Arc::new(self.task.finish()),
            Arc::new(self.agency.finish()),
            Arc::new(self.period.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.reported_on.finish()),
            Arc::new(self.evidence.finish()),
            Arc::new(self.submission_id.finish()),
            Arc::new(self.source_location.finish()),
            Arc::new(self.submitted_by.finish()),
            Arc::new(self.received_at.finish()),
            Arc::new(self.ingested_at.finish()),
        ];
        self.rows = 0;
        Ok(RecordBatch::try_new(tables::TASK_PROGRESS.schema.clone(), columns)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Date32Array, StringArray, TimestampMicrosecondArray};
    use tonghop_formats::progress::{read_form, write_form_filled, FilledRow};

    fn plans() -> Plans {
        Plans::example()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const TODAY: (i32, u32, u32) = (2026, 4, 10);

    fn today() -> NaiveDate {
        date(TODAY.0, TODAY.1, TODAY.2)
    }

    /// A good JSON report on task `task`, item `i`.
    fn json(i: usize, task: &str) -> ProgressInput {
        ProgressInput {
            location: Location::Path(format!("$.reports[{i}]")),
            cells: None,
            plan: "T_KH_2024".into(),
            task: task.into(),
            period: "2026Q1".into(),
            status: "Đang triển khai".into(),
            text: "Đã rà soát 412 trạm y tế".into(),
            reported_on: Some(CellDate::Text("15/03/2026".into())),
            evidence: Some("123/BC-SYT".into()),
        }
    }

    #[test]
    fn good_reports_are_accepted_and_normalised() {
        let mut inputs = vec![json(0, "1"), json(1, "2"), json(2, "3")];
        inputs[0].status = "hoan_thanh".into();
        inputs[0].text = "  Đã ban hành quyết định\u{0301}  ".into();
        inputs[0].reported_on = Some(CellDate::Date(date(2026, 4, 10)));
        inputs[0].evidence = Some("   ".into());
        inputs[1].reported_on = Some(CellDate::Text("5/3/2026".into()));
        inputs[1].period = " 202603 ".into();
        inputs[2].reported_on = Some(CellDate::Text("2026-03-05".into()));
        inputs[2].status = "HOÀN THÀNH QUÁ HẠN".into();
        let (entries, rejections) = check(&inputs, &plans(), "T_SYT", today());
        assert!(rejections.is_empty(), "{rejections:#?}");
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0],
            ProgressEntry {
                location: Location::Path("$.reports[0]".into()),
                plan: "T_KH_2024".into(),
                task: "1".into(),
                agency: "T_SYT".into(),
                period: "2026Q1".into(),
                status: ProgressStatus::Done,
                text: nfc("Đã ban hành quyết định\u{0301}").into_owned(),
                reported_on: date(2026, 4, 10),
                evidence: None,
            }
        );
        assert_eq!((entries[1].period.as_str(), entries[1].reported_on, entries[1].status), ("202603", date(2026, 3, 5), ProgressStatus::InProgress));
        assert_eq!(
            (entries[2].reported_on, entries[2].status, entries[2].evidence.as_deref()),
            (date(2026, 3, 5), ProgressStatus::DoneLate, Some("123/BC-SYT"))
        );
    }

    #[test]
    fn dates_are_read_as_officers_write_them() {
        for (text, want) in [
            ("15/03/2026", Some(date(2026, 3, 15))),
            ("5/3/2026", Some(date(2026, 3, 5))),
            ("05-03-2026", Some(date(2026, 3, 5))),
            ("5.3.2026", Some(date(2026, 3, 5))),
            ("2026-03-15", Some(date(2026, 3, 15))),
            ("2026-03-15T00:00:00", Some(date(2026, 3, 15))),
            (" 15/03/2026 08:30 ", Some(date(2026, 3, 15))),
            ("31/02/2026", None),
            ("2026/03/15", None),
            ("15/03/26", None),
            ("46096", None),
            ("tháng 3", None),
            ("", None),
        ] {
            assert_eq!(parse_date(text), want, "{text}");
        }
    }

    /// Checks one JSON report changed by `change` and returns its only rejection.
    fn refusal(task: &str, change: impl Fn(&mut ProgressInput)) -> Rejection {
        refusal_as("T_SYT", task, change)
    }

    fn refusal_as(agency: &str, task: &str, change: impl Fn(&mut ProgressInput)) -> Rejection {
        let mut input = json(7, task);
        change(&mut input);
        let (entries, mut rejections) = check(&[input], &plans(), agency, today());
        assert!(entries.is_empty());
        assert_eq!(rejections.len(), 1, "{rejections:#?}");
        let r = rejections.remove(0);
        assert!(r.message_vi.starts_with("Vị trí $.reports[7], mục ") && r.message_en.starts_with("at $.reports[7], field "), "{r:#?}");
        r
    }

    #[test]
    fn every_reason_names_the_field_and_the_value() {
        let long = "x".repeat(TEXT_MAX_CHARS + 1);
        let y200 = "y".repeat(200);
        let cases: Vec<(&str, Rejection, &str, &str, &[&str])> = vec![
            ("plan_unknown", refusal("1", |i| i.plan = "T_KH_2042".into()), "plan", "T_KH_2042", &["\"T_KH_2042\"", "có phải T_KH_2024?"]),
            ("plan_unknown", refusal("1", |i| i.plan = " ".into()), "plan", "", &["thiếu mã kế hoạch"]),
            ("task_unknown", refusal("9", |_| {}), "task", "9", &["không có nhiệm vụ số \"9\"", "1, 2, 3, 4"]),
            ("task_unknown", refusal("", |_| {}), "task", "", &["thiếu số thứ tự nhiệm vụ"]),
            ("task_not_assigned", refusal("4", |_| {}), "task", "4", &["Cơ quan Sở Y tế (T_SYT) không chủ trì hay phối hợp nhiệm vụ 4", "chủ trì: T_SNV"]),
            ("task_not_assigned", refusal_as("T_SO", "2", |_| {}), "task", "2", &["là nhóm cơ quan"]),
            ("task_not_assigned", refusal_as("T_XYZ", "2", |_| {}), "task", "2", &["không có cơ quan mã \"T_XYZ\""]),
            ("period_invalid", refusal("1", |i| i.period = "2026Q5".into()), "period", "2026Q5", &["kỳ báo cáo \"2026Q5\" không đúng", "2026Q1"]),
            ("period_invalid", refusal("1", |i| i.period = "2026YTD03".into()), "period", "2026YTD03", &["\"2026YTD03\""]),
            (
                "period_in_future",
                refusal("1", |i| i.period = "2026Q3".into()),
                "period",
                "2026Q3",
                &["kỳ 2026Q3 (Quý III năm 2026) chưa bắt đầu", "01/07/2026"],
            ),
            (
                "status_invalid",
                refusal("1", |i| i.status = "Xong".into()),
                "status",
                "Xong",
                &["\"Xong\"", "Chưa triển khai, Đang triển khai, Hoàn thành, Hoàn thành quá hạn"],
            ),
            ("status_invalid", refusal("1", |i| i.status = "".into()), "status", "", &["chưa chọn tình trạng"]),
            ("text_missing", refusal("1", |i| i.text = " \n ".into()), "text", "", &["chưa ghi kết quả thực hiện nhiệm vụ 1"]),
            ("text_too_long", refusal("1", |i| i.text = long.clone()), "text", &long[..200], &["dài 4.001 ký tự", "4.000"]),
            ("text_too_long", refusal("1", |i| i.evidence = Some("y".repeat(EVIDENCE_MAX_CHARS + 5))), "evidence", &y200, &["1.005 ký tự"]),
            (
                "date_invalid",
                refusal("1", |i| i.reported_on = Some(CellDate::Text("32/3/2026".into()))),
                "reported_on",
                "32/3/2026",
                &["\"32/3/2026\" không đọc được", "15/03/2026"],
            ),
            ("date_invalid", refusal("1", |i| i.reported_on = None), "reported_on", "", &["thiếu ngày báo cáo"]),
            (
                "date_invalid",
                refusal("1", |i| i.reported_on = Some(CellDate::Date(date(2026, 4, 11)))),
                "reported_on",
                "11/04/2026",
                &["sau ngày hôm nay (10/04/2026)"],
            ),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (reason, r, field, value, vi_parts) in cases {
            assert_eq!((r.reason, r.field.as_str()), (reason, field), "{r:#?}");
            let kept = r.value.as_deref().unwrap_or_default();
            assert_eq!(kept.trim_end_matches('…'), value, "{r:#?}");
            for part in vi_parts {
                assert!(r.message_vi.contains(part), "{part:?} not in {}", r.message_vi);
            }
            assert!(r.message_en.starts_with(&format!("at $.reports[7], field {field}: ")), "{r:#?}");
            seen.insert(reason);
        }
        seen.insert("task_duplicate"); // tested below
        assert_eq!(seen, REASONS.into_iter().collect(), "every reason is tested");
    }

    #[test]
    fn every_bad_field_of_a_row_is_reported_and_good_rows_beside_bad_ones_are_kept() {
        let mut bad = json(1, "3");
        bad.status = "xong".into();
        bad.text = String::new();
        bad.reported_on = Some(CellDate::Text("hôm qua".into()));
        let inputs = vec![json(0, "1"), bad, json(2, "2")];
        let (entries, rejections) = check(&inputs, &plans(), "T_SYT", today());
        assert_eq!(entries.iter().map(|e| e.task.as_str()).collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(rejections.iter().map(|r| r.reason).collect::<Vec<_>>(), ["status_invalid", "text_missing", "date_invalid"]);
    }

    #[test]
    fn a_task_reported_twice_is_refused_both_times() {
        let mut other_period = json(3, "1");
        other_period.period = "202602".into();
        let inputs = vec![json(0, "1"), json(1, "3"), json(2, "1"), other_period];
        let (entries, rejections) = check(&inputs, &plans(), "T_SYT", today());
        assert_eq!(entries.iter().map(|e| (e.task.as_str(), e.period.as_str())).collect::<Vec<_>>(), [("3", "2026Q1"), ("1", "202602")]);
        assert_eq!(rejections.len(), 2);
        assert!(rejections.iter().all(|r| r.reason == "task_duplicate" && r.field == "task"));
        assert!(rejections[0].message_vi.starts_with("Vị trí $.reports[0], mục TT nhiệm vụ: nhiệm vụ 1 của kế hoạch T_KH_2024, kỳ 2026Q1 được báo cáo 2 lần"));
        assert!(rejections[0].message_vi.contains("ở đây và ở vị trí $.reports[2]"), "{}", rejections[0].message_vi);
        assert!(rejections[1].message_en.contains("(here and at $.reports[0])"), "{}", rejections[1].message_en);
    }

    #[test]
    fn a_form_is_checked_cell_by_cell() {
        let fill = |task: &Task| match task.number.as_str() {
            "1" => Some(FilledRow {
                status: "Hoàn thành".into(),
                text: "Đã ban hành quyết định".into(),
                reported_on: Some(CellDate::Date(date(2026, 3, 15))),
                evidence: "123/QĐ-SYT".into(),
            }),
            "2" => Some(FilledRow {
                status: "Xong".into(),
                text: "Đang làm".into(),
                reported_on: Some(CellDate::Text("15/3/2026".into())),
                ..FilledRow::default()
            }),
            "3" => Some(FilledRow {
                status: "Đang triển khai".into(),
                text: String::new(),
                reported_on: Some(CellDate::Date(date(2026, 5, 1))),
                ..FilledRow::default()
            }),
            _ => None,
        };
        let period: Period = "2026Q1".parse().unwrap();
        let bytes = write_form_filled(&plans(), "T_KH_2024", "T_SYT", &period, &fill).unwrap();
        let form = read_form(&bytes, "form.xlsx").unwrap();
        let inputs = read_form_inputs(&form);
        assert_eq!(inputs.len(), 3);
        assert_eq!((inputs[0].evidence.as_deref(), inputs[1].evidence.as_deref()), (Some("123/QĐ-SYT"), None));
        let (entries, rejections) = check(&inputs, &plans(), &form.agency, today());
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].task.as_str(), entries[0].status, entries[0].reported_on), ("1", ProgressStatus::Done, date(2026, 3, 15)));
        assert_eq!(entries[0].location.to_string(), "Tiến độ!E9");
        let got: Vec<(String, &str)> = rejections.iter().map(|r| (r.location.to_string(), r.reason)).collect();
        assert_eq!(
            got,
            [("Tiến độ!E10".to_string(), "status_invalid"), ("Tiến độ!F11".to_string(), "text_missing"), ("Tiến độ!G11".to_string(), "date_invalid")]
        );
        assert!(
            rejections[0].message_vi.starts_with("Ô E10 (trang Tiến độ), mục Tình trạng: tình trạng \"Xong\" không hợp lệ"),
            "{}",
            rejections[0].message_vi
        );
        assert!(rejections[0].message_en.starts_with("cell E10 of sheet Tiến độ, field status: status \"Xong\""), "{}", rejections[0].message_en);
        assert!(rejections[2].message_vi.starts_with("Ô G11 (trang Tiến độ), mục Ngày báo cáo: ngày báo cáo 01/05/2026 sau ngày hôm nay"));

        // A wrong period in the header is refused at its cell, B4, for every row.
        let later: Period = "2026Q3".parse().unwrap();
        let bytes = write_form_filled(&plans(), "T_KH_2024", "T_SYT", &later, &fill).unwrap();
        let inputs = read_form_inputs(&read_form(&bytes, "form.xlsx").unwrap());
        let (entries, rejections) = check(&inputs, &plans(), "T_SYT", today());
        assert!(entries.is_empty());
        assert!(rejections.iter().all(|r| r.reason == "period_in_future" && r.location.to_string() == "Tiến độ!B4"), "{rejections:#?}");
        assert_eq!(rejections.len(), 3);
    }

    #[test]
    fn columns_build_a_task_progress_batch() {
        let (entries, _) = check(&[json(0, "1"), json(1, "3")], &plans(), "T_SYT", today());
        let mut entries = entries;
        entries[1].evidence = None;
        let received = DateTime::parse_from_rfc3339("2026-04-10T03:00:00Z").unwrap().with_timezone(&Utc);
        let ingested = DateTime::parse_from_rfc3339("2026-04-10T03:00:05Z").unwrap().with_timezone(&Utc);
        let mut columns = ProgressColumns::new(ingested);
        assert!(columns.is_empty());
        for e in &entries {
            columns.push(e, "abcd1234abcd1234", &e.location, Some("T_SYT"), received);
        }
        columns.push(&entries[0], "ffff", &"Tiến độ!E9", None, received);
        assert_eq!(columns.len(), 3);
        let batch = columns.finish().unwrap();
        assert_eq!(batch.schema(), tables::TASK_PROGRESS.schema);
        assert_eq!(batch.num_rows(), 3);
        let text = |name: &str| batch.column_by_name(name).unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
        assert_eq!(text("status").value(0), "dang_trien_khai");
        assert_eq!(text("period").value(1), "2026Q1");
        assert_eq!(text("source_location").value(0), "$.reports[0]");
        assert_eq!(text("source_location").value(2), "Tiến độ!E9");
        assert_eq!((text("evidence").value(0), text("evidence").is_null(1)), ("123/BC-SYT", true));
        assert_eq!((text("submitted_by").value(0), text("submitted_by").is_null(2)), ("T_SYT", true));
        let dates = batch.column_by_name("reported_on").unwrap().as_any().downcast_ref::<Date32Array>().unwrap();
        assert_eq!(dates.value_as_date(0), Some(date(2026, 3, 15)));
        let at = |name: &str| batch.column_by_name(name).unwrap().as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap().value(0);
        assert_eq!((at("received_at"), at("ingested_at")), (received.timestamp_micros(), ingested.timestamp_micros()));
        assert!(columns.is_empty(), "finish empties the columns");
    }
}
