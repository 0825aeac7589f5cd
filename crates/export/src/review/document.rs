//! What the periodic implementation review (báo cáo sơ kết / tổng kết) says, gathered before it is
//! written: plain data, no query and no file format. [`super::docx`] writes it as a Word document
//! and [`super::sheet`] as the report workbook's extra sheet.

use chrono::NaiveDate;

/// The administrative frame of a document sent upward (Decree 30/2020/NĐ-CP): who issues it, the
/// number line, the place and date line and the signature blocks. Configured per province in
/// `catalog/report_frames.csv` (see `tonghop_core::frames`).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The issuing body's superior, upper case (`UBND TỈNH NGHỆ AN`); empty when there is none.
    pub parent_body: String,
    /// The issuing body, upper case (`SỞ Y TẾ`).
    pub issuing_body: String,
    /// The number and symbol line as written before the number is given (`Số:      /BC-SYT`).
    pub number_line: String,
    /// The place of the date line (`Nghệ An`).
    pub place: String,
    /// The date of the date line.
    pub date: NaiveDate,
    /// The signer's title (`GIÁM ĐỐC`), upper case.
    pub signer_title: String,
    /// The signer's name; empty leaves the line for a hand-written name.
    pub signer_name: String,
    /// The title of the person who prepared the figures (`NGƯỜI LẬP BIỂU`).
    pub preparer_title: String,
    /// Their name; may be empty.
    pub preparer_name: String,
    /// "Nơi nhận" lines (`- Tỉnh ủy Nghệ An;`).
    pub recipients: Vec<String>,
}

/// The whole review.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// The frame (issuer, number line, date line, signatures).
    pub frame: Frame,
    /// The document kind line, upper case: `BÁO CÁO`.
    pub kind: String,
    /// The title under it: `Sơ kết 6 tháng đầu năm 2026 thực hiện Kế hoạch số …/KH-UBND …`.
    pub title: String,
    /// The plan's code (`NA_KH_2024`).
    pub plan_code: String,
    /// The period code (`2026S1`, `2026`).
    pub period: String,
    /// Its Vietnamese name (`6 tháng đầu năm 2026`).
    pub period_name: String,
    /// The date the task statuses are computed at (the period's last day, or today when the period
    /// has not ended).
    pub as_of: NaiveDate,
    /// The unit the figures are for, in today's units (`Tỉnh Nghệ An`).
    pub unit_name: String,
    /// An opening paragraph (what the report is based on).
    pub opening: String,
    /// Section I: the leadership and dissemination work, per task, from the agencies' reports.
    pub work: Vec<TaskWork>,
    /// Section II: results against the targets.
    pub indicators: Vec<IndicatorResult>,
    /// Section III: every task, overdue ones first.
    pub tasks: Vec<TaskLine>,
    /// Section IV: one sentence per indicator below target and per overdue task.
    pub limitations: Vec<String>,
    /// Section V: placeholders the officer replaces (shown highlighted).
    pub directions: Vec<String>,
    /// Appendix 1: reporting completeness of the unit and the units one level down.
    pub completeness: Vec<CompletenessLine>,
    /// Appendix 2: the indicators of the units one level down.
    pub unit_table: UnitTable,
}

/// What the agencies reported doing on one task in the period.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskWork {
    /// The task's number in the plan (`5`).
    pub number: String,
    /// The task as written in the plan.
    pub content: String,
    /// Each agency's latest report in the period.
    pub reports: Vec<AgencyReport>,
}

/// One agency's report on a task.
#[derive(Debug, Clone, PartialEq)]
pub struct AgencyReport {
    /// The agency's name (`Sở Y tế`).
    pub agency: String,
    /// The reported status in Vietnamese (`Đang triển khai`).
    pub status: String,
    /// What was done, as the agency wrote it.
    pub text: String,
    /// The date the agency gave.
    pub date: NaiveDate,
    /// An evidence reference (a document number, a link); may be empty.
    pub evidence: String,
}

/// One indicator of section II.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorResult {
    /// Vietnamese name.
    pub name: String,
    /// The value in the period; `None` without data.
    pub value: Option<f64>,
    /// The target as printed (`> 95`), empty when there is none.
    pub target: String,
    /// Value minus target (negative: short of it); `None` without a value or a target.
    pub gap: Option<f64>,
    /// The same period a year earlier.
    pub previous_year: Option<f64>,
    /// Units one level down meeting the target.
    pub units_meeting: i64,
    /// Units one level down with a value.
    pub units_with_value: i64,
    /// `Đạt`, `Chưa đạt` or `Không có số liệu`.
    pub assessment: String,
}

/// One task of section III.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskLine {
    /// The task's number.
    pub number: String,
    /// The task as written.
    pub content: String,
    /// The lead agencies as written in the plan.
    pub lead: String,
    /// The deadline as written in the plan (`Quý 3/2024`).
    pub deadline: String,
    /// The computed status in Vietnamese (`Quá hạn`, `Hoàn thành đúng hạn`, …).
    pub status: String,
    /// Whether the task is overdue (drawn in bold).
    pub overdue: bool,
    /// A note: the lead agencies that have not reported it done, or `""`.
    pub note: String,
}

/// One line of appendix 1.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletenessLine {
    /// The unit's name (the first line is the unit itself).
    pub unit: String,
    /// Reports expected.
    pub expected: i64,
    /// Reports received.
    pub received: i64,
    /// Received on time.
    pub on_time: i64,
    /// 100 × received / expected.
    pub completeness_pct: f64,
    /// 100 × on time / expected.
    pub timeliness_pct: f64,
}

/// Appendix 2: units (rows) × indicators (columns).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UnitTable {
    /// Column headings: the indicators' Vietnamese names.
    pub indicators: Vec<String>,
    /// One row per unit: its name and a value per indicator.
    pub rows: Vec<(String, Vec<Option<f64>>)>,
}
