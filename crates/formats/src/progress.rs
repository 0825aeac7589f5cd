//! The progress report form of the implementation plans (`catalog/plans/`): an XLSX workbook an
//! agency (Sở Y tế, Sở Nội vụ, …) fills in to say, for one plan and one reporting period, how far
//! each task it leads or co-operates on has got. This module owns the form's layout, its writer
//! ([`write_form`], [`write_form_filled`]), the cheap test the inbox routes workbooks with
//! ([`is_form`]) and its reader ([`read_form`]), which returns raw, located cells: whether a
//! status, a text or a date is acceptable is `tonghop-ingest`'s business (`progress::check`), the
//! same for the form and for JSON sent over HTTP.
//!
//! Sheet [`FORM_SHEET`] (`Tiến độ`), rows and cells as Excel numbers them:
//!
//! | where | what |
//! |---|---|
//! | A1 | the title [`TITLE`] |
//! | A2, B2, C2 | [`PLAN_LABEL`] (`Kế hoạch:`), the plan code as text (`NA_KH_2024`), the plan's title |
//! | A3, B3, C3 | [`AGENCY_LABEL`] (`Cơ quan báo cáo:`), the agency code (`NA_SYT`), its name (`Sở Y tế`) |
//! | A4, B4, C4 | [`PERIOD_LABEL`] (`Kỳ báo cáo:`), the period code as text (`2026Q1`), its Vietnamese name |
//! | A5 | a one-line reminder of how to fill the form |
//! | row 7 | column labels: `TT`, `Nội dung nhiệm vụ`, `Vai trò`, `Thời hạn`, `Tình trạng`, `Kết quả thực hiện`, `Ngày báo cáo`, `Tài liệu kèm theo` |
//! | row 8 | the code row: `task`, `content`, `role`, `deadline`, `status`, `text`, `reported_on`, `evidence` |
//! | rows 9… | one task each, in the plan's order: the tasks the agency leads (`Chủ trì`) or co-operates on (`Phối hợp`), directly or through a group |
//!
//! Only the status (E), text (F), date (G) and evidence (H) cells are unlocked; the sheet is
//! protected **without a password** (protection only prevents accidental edits). The status has a
//! drop-down list of the four [`ProgressStatus`] labels, the date accepts dates only (shown
//! `dd/mm/yyyy`), the text and the evidence are limited to [`TEXT_MAX_CHARS`] and
//! [`EVIDENCE_MAX_CHARS`] characters; each input column has a Vietnamese input message. Panes are
//! frozen below the code row; the page is A4 landscape, one page wide, rows 7–8 repeated on every
//! page. Sheet [`GUIDE_SHEET`] (`Hướng dẫn`) explains in Vietnamese how to fill and send the form
//! and what each status means.
//!
//! **Reading.** [`read_form`] reads the visible sheet named [`FORM_SHEET`]. The plan, agency and
//! period are the cells right of the cells reading `Kế hoạch`, `Cơ quan báo cáo` and `Kỳ báo cáo`
//! (case, diacritics and a trailing `:` do not matter) above the code row; the code row is the
//! first row of the first [`crate::xlsx::HEADER_SEARCH_ROWS`] holding `task` and `status`, and the
//! columns are found by their codes (so a form with columns moved still reads). Every row below
//! with at least one non-empty input cell is one [`ProgressCells`]; rows whose input cells are all
//! empty are skipped (the agency did not report that task this time). Text is trimmed and NFC;
//! the date is a real date when the cell holds an Excel date, its text otherwise. A formula error
//! (`#N/A`) in a row's cell gives a `cell_error` [`Problem`] and the row is left out. Only `.xlsx`
//! workbooks are read (the form is generated as one).

use std::io::Cursor;

use calamine::{Data, DataRef, Range, Reader, SheetType, SheetVisible, Xlsx};
use chrono::NaiveDate;
use rust_xlsxwriter::{
    Color, DataValidation, DataValidationErrorStyle, DataValidationRule, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet,
};
use tonghop_core::plans::{Agency, Deadline, Plan, Plans, ProgressStatus, Task};
use tonghop_core::text::{fold, nfc};
use tonghop_core::{Period, PeriodType};

use crate::template::{finish_form, period_name_vi, FormStyles, HEADER_FILL, INPUT_FILL, LOCKED_FILL, PAPER_A4};
use crate::xlsx::{bounded_cells, cell_name, cell_text, check_shared_strings, date_text, guarded, number_text, Grid, HEADER_SEARCH_ROWS};
use crate::{Error, Location, Problem, Result};

/// Title in cell A1: what [`is_form`] recognises the form by.
pub const TITLE: &str = "BÁO CÁO TIẾN ĐỘ THỰC HIỆN NHIỆM VỤ";
/// Name of the form sheet.
pub const FORM_SHEET: &str = "Tiến độ";
/// Name of the instruction sheet.
pub const GUIDE_SHEET: &str = "Hướng dẫn";
/// Label in cell A2; the plan code is in B2.
pub const PLAN_LABEL: &str = "Kế hoạch:";
/// Label in cell A3; the agency code is in B3.
pub const AGENCY_LABEL: &str = "Cơ quan báo cáo:";
/// Label in cell A4; the period code is in B4.
pub const PERIOD_LABEL: &str = "Kỳ báo cáo:";
/// 0-based row of the column labels (Excel row 7).
pub const NAMES_ROW: u32 = 6;
/// 0-based row of the column codes (Excel row 8).
pub const CODE_ROW: u32 = 7;
/// 0-based row of the first task (Excel row 9).
pub const FIRST_TASK_ROW: u32 = 8;
/// The most characters the result text (`text`) may have; longer reports go as evidence.
pub const TEXT_MAX_CHARS: usize = 4000;
/// The most characters the evidence reference (`evidence`) may have.
pub const EVIDENCE_MAX_CHARS: usize = 1000;

/// The form's columns, left to right: (code of the code row, Vietnamese label, width).
pub const COLUMNS: [(&str, &str, f64); 8] = [
    ("task", "TT", 17.0),
    ("content", "Nội dung nhiệm vụ", 48.0),
    ("role", "Vai trò", 11.0),
    ("deadline", "Thời hạn", 18.0),
    ("status", "Tình trạng", 20.0),
    ("text", "Kết quả thực hiện", 50.0),
    ("reported_on", "Ngày báo cáo", 14.0),
    ("evidence", "Tài liệu kèm theo", 26.0),
];

/// The codes a form's code row must hold for [`read_form`].
const REQUIRED_CODES: [&str; 5] = ["task", "status", "text", "reported_on", "evidence"];

const PLAN_ROW: u32 = 1;
const AGENCY_ROW: u32 = 2;
const PERIOD_ROW: u32 = 3;
const NOTE_ROW: u32 = 4;
const COL_STATUS: u16 = 4;
const COL_TEXT: u16 = 5;
const COL_DATE: u16 = 6;
const COL_EVIDENCE: u16 = 7;

/// A date cell as the sender left it: a real Excel date, or text to be read by the validator
/// (`15/03/2026`, `2026-03-15`; a number not formatted as a date also arrives as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellDate {
    /// The cell holds an Excel date.
    Date(NaiveDate),
    /// The cell holds text (trimmed, NFC) or a number, as Excel shows it.
    Text(String),
}

/// Where each field of one reported task sits, so that a message can name the exact cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCells {
    /// The plan code (B2 of the form, shared by every row).
    pub plan: Location,
    /// The period code (B4 of the form, shared by every row).
    pub period: Location,
    /// The task number (column A).
    pub task: Location,
    /// The status (column E).
    pub status: Location,
    /// The result text (column F).
    pub text: Location,
    /// The date (column G).
    pub reported_on: Location,
    /// The evidence reference (column H).
    pub evidence: Location,
}

/// One task row of a filled form, raw: nothing checked yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressCells {
    /// The row's status cell: where the row as a whole is located.
    pub location: Location,
    /// The Excel row number (1-based).
    pub row: u32,
    /// Task number as written (`1`, `2a`); `""` when the cell is empty.
    pub task: String,
    /// Status as written (a label such as `Đang triển khai`, or a code); `""` when empty.
    pub status: String,
    /// What was done; `""` when empty.
    pub text: String,
    /// The date of the report; `None` when the cell is empty.
    pub reported_on: Option<CellDate>,
    /// Document number or link; `""` when empty.
    pub evidence: String,
    /// The cell of each field.
    pub cells: FieldCells,
}

/// A progress form as read: its header and its reported rows, nothing checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressForm {
    /// The plan code (B2).
    pub plan: String,
    /// The agency code (B3): who the form says is reporting. The caller checks the sender may.
    pub agency: String,
    /// The period code (B4).
    pub period: String,
    /// The agency cell, for a message refusing the sender.
    pub agency_cell: Location,
    /// The reported rows, in sheet order (rows with every input cell empty are left out).
    pub rows: Vec<ProgressCells>,
    /// Cells that could not be read at all (formula errors); their rows are not in `rows`.
    pub problems: Vec<Problem>,
}

/// What a pre-filled row holds (see [`write_form_filled`]); written as given, unchecked, so tests
/// can write wrong values too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilledRow {
    /// Written into the status cell (normally one of [`ProgressStatus::labels`]).
    pub status: String,
    /// Written into the result cell.
    pub text: String,
    /// A real date or text written into the date cell; `None` leaves it blank.
    pub reported_on: Option<CellDate>,
    /// Written into the evidence cell.
    pub evidence: String,
}

/// Writes the blank progress form (XLSX bytes) of `agency` for the tasks of `plan` it leads or
/// co-operates on, for the reporting `period` (a month, quarter, half-year, nine months or year).
///
/// `Err` ([`Error::Template`]) when the plan or the agency is unknown, when the agency is a group
/// (groups report through their members), when it has no task in the plan, or when the period is
/// a year-to-date.
pub fn write_form(plans: &Plans, plan: &str, agency: &str, period: &Period) -> Result<Vec<u8>> {
    write_form_filled(plans, plan, agency, period, &|_| None)
}

/// Writes the progress form like [`write_form`], with input cells pre-filled: `fill(task)` gives
/// what to write on a task's row, `None` leaving it blank. Used to hand an agency back its last
/// report to update, and by tests, so that filled forms come from the same code as blank ones.
///
/// # Errors
///
/// As [`write_form`].
pub fn write_form_filled(plans: &Plans, plan: &str, agency: &str, period: &Period, fill: &dyn Fn(&Task) -> Option<FilledRow>) -> Result<Vec<u8>> {
    let plan_row = plans.plan(plan).ok_or_else(|| {
        let known: Vec<&str> = plans.plans.iter().map(|p| p.code.as_str()).collect();
        let known = if known.is_empty() { "there are none: catalog/plans/plans.csv is missing or empty".to_string() } else { known.join(", ") };
        Error::Template(format!("no plan with code \"{plan}\" in catalog/plans/plans.csv (plans: {known})"))
    })?;
    let agency_row = plans.agency(agency).ok_or_else(|| {
        let known: Vec<String> = plans.agencies.iter().filter(|a| !a.is_group()).map(|a| a.code.clone()).collect();
        let hint = tonghop_core::text::closest(&known, agency).map(|k| format!(" (did you mean {k}?)")).unwrap_or_default();
        Error::Template(format!("no agency with code \"{agency}\" in catalog/plans/agencies.csv{hint}"))
    })?;
    if agency_row.is_group() {
        let members: Vec<String> = plans.members(std::iter::once(agency)).iter().map(|a| a.code.clone()).collect();
        return Err(Error::Template(format!(
            "{agency} ({}) is a group of agencies, which report through their members: make one form for each of {}",
            agency_row.name_vi,
            if members.is_empty() { "its members".to_string() } else { members.join(", ") }
        )));
    }
    if period.kind() == PeriodType::YearToDate {
        return Err(Error::Template(format!(
            "progress is reported for a month, a quarter, a half-year, nine months or a year (202603, 2026Q1, 2026S1, 2026N9, 2026), not {period}"
        )));
    }
    let tasks: Vec<(&Task, &'static str)> = plans.tasks_of(plan).filter_map(|t| plans.role_in(agency, t).map(|role| (t, role))).collect();
    if tasks.is_empty() {
        return Err(Error::Template(format!(
            "agency {agency} ({}) neither leads nor co-operates on any of the {} tasks of plan {plan}: there is nothing for it to report",
            agency_row.name_vi,
            plans.tasks_of(plan).count()
        )));
    }

    let form = Form { plan: plan_row, agency: agency_row, period, tasks };
    let mut workbook = Workbook::new();
    workbook.set_properties(
        &DocProperties::new()
            .set_title(format!("{TITLE} – {} – {} – {period}", plan_row.code, agency_row.name_vi))
            .set_author("tonghop")
            .set_comment("Biểu mẫu do tonghop tạo; chỉ nhập vào các ô màu vàng."),
    );
    form.write_form(workbook.add_worksheet(), fill)?;
    form.write_guide(workbook.add_worksheet())?;
    tracing::debug!(plan, agency, %period, tasks = form.tasks.len(), "progress form written");
    Ok(workbook.save_to_buffer()?)
}

/// `Chủ trì` or `Phối hợp`: the role [`Plans::role_in`] returns, as the form shows it.
pub fn role_vi(role: &str) -> &'static str {
    if role == "lead" {
        "Chủ trì"
    } else {
        "Phối hợp"
    }
}

/// Everything one form needs.
struct Form<'a> {
    plan: &'a Plan,
    agency: &'a Agency,
    period: &'a Period,
    tasks: Vec<(&'a Task, &'static str)>,
}

impl Form<'_> {
    fn write_form(&self, sheet: &mut Worksheet, fill: &dyn Fn(&Task) -> Option<FilledRow>) -> Result<()> {
        sheet.set_name(FORM_SHEET)?;
        let FormStyles { title, bold, key: code_cell, italic, header, code } = FormStyles::new();
        let name = Format::new().set_italic().set_text_wrap().set_align(FormatAlign::VerticalCenter);
        let locked = Format::new().set_background_color(Color::RGB(LOCKED_FILL)).set_border(FormatBorder::Thin).set_text_wrap().set_align(FormatAlign::Top);
        let locked_center = locked.clone().set_align(FormatAlign::Center);
        let input = Format::new().set_unlocked().set_background_color(Color::RGB(INPUT_FILL)).set_border(FormatBorder::Thin).set_align(FormatAlign::Top);
        let input_wrap = input.clone().set_text_wrap();
        let input_date = input.clone().set_num_format("dd/mm/yyyy").set_align(FormatAlign::Center);

        sheet.write_string_with_format(0, 0, TITLE, &title)?;
        let last_col = COLUMNS.len() as u16 - 1;
        for (row, label, value, text) in [
            (PLAN_ROW, PLAN_LABEL, self.plan.code.clone(), format!("{} ({})", self.plan.title_vi, self.plan.document)),
            (AGENCY_ROW, AGENCY_LABEL, self.agency.code.clone(), self.agency.name_vi.clone()),
            (PERIOD_ROW, PERIOD_LABEL, self.period.to_string(), period_name_vi(self.period)),
        ] {
            sheet.write_string_with_format(row, 0, label, &bold)?;
            sheet.write_string_with_format(row, 1, value, &code_cell)?;
            sheet.merge_range(row, 2, row, last_col, &text, &name)?;
            // The merged cells C:H hold about 130 characters a line.
            let lines = text.chars().count().div_ceil(130).max(1);
            if lines > 1 {
                sheet.set_row_height(row, 15.0 * lines as f64)?;
            }
        }
        sheet.write_string_with_format(
            NOTE_ROW,
            0,
            format!(
                "Chọn tình trạng, ghi kết quả thực hiện, ngày báo cáo và tài liệu kèm theo vào các ô màu vàng; \
                 để trống dòng của nhiệm vụ chưa báo cáo kỳ này. Xem cách điền ở trang “{GUIDE_SHEET}”."
            ),
            &italic,
        )?;

        for (col, (code_name, label, width)) in COLUMNS.iter().enumerate() {
            let col = col as u16;
            sheet.write_string_with_format(NAMES_ROW, col, *label, &header)?;
            sheet.write_string_with_format(CODE_ROW, col, *code_name, &code)?;
            sheet.set_column_width(col, *width)?;
        }
        sheet.set_row_height(NAMES_ROW, 32)?;

        for (i, (task, role)) in self.tasks.iter().enumerate() {
            let row = FIRST_TASK_ROW + i as u32;
            let deadline = match task.due_on {
                Some(due) if task.deadline == Deadline::By(due) => format!("{} (đến {})", task.deadline_vi, due.format("%d/%m/%Y")),
                _ => task.deadline_vi.clone(),
            };
            sheet.write_string_with_format(row, 0, &task.number, &locked_center)?;
            sheet.write_string_with_format(row, 1, &task.content_vi, &locked)?;
            sheet.write_string_with_format(row, 2, role_vi(role), &locked_center)?;
            sheet.write_string_with_format(row, 3, deadline, &locked)?;
            let filled = fill(task).unwrap_or_default();
            let text_or_blank = |sheet: &mut Worksheet, col: u16, text: &str, format: &Format| -> Result<()> {
                if text.is_empty() {
                    sheet.write_blank(row, col, format)?;
                } else {
                    sheet.write_string_with_format(row, col, text, format)?;
                }
                Ok(())
            };
            text_or_blank(sheet, COL_STATUS, &filled.status, &input_wrap)?;
            text_or_blank(sheet, COL_TEXT, &filled.text, &input_wrap)?;
            match &filled.reported_on {
                None => text_or_blank(sheet, COL_DATE, "", &input_date)?,
                Some(CellDate::Text(text)) => text_or_blank(sheet, COL_DATE, text, &input_date)?,
                Some(CellDate::Date(date)) => {
                    use chrono::Datelike;
                    let excel = ExcelDateTime::from_ymd(date.year() as u16, date.month() as u8, date.day() as u8)?;
                    sheet.write_datetime_with_format(row, COL_DATE, &excel, &input_date)?;
                }
            }
            text_or_blank(sheet, COL_EVIDENCE, &filled.evidence, &input_wrap)?;
        }

        let last_row = FIRST_TASK_ROW + self.tasks.len() as u32 - 1;
        for (col, validation) in validations()? {
            sheet.add_data_validation(FIRST_TASK_ROW, col, last_row, col, &validation)?;
        }

        finish_form(sheet, (FIRST_TASK_ROW, 0), (NAMES_ROW, CODE_ROW))
    }

    fn write_guide(&self, sheet: &mut Worksheet) -> Result<()> {
        sheet.set_name(GUIDE_SHEET)?;
        let title = Format::new().set_bold().set_font_size(14);
        let bold = Format::new().set_bold();
        let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
        let header = Format::new().set_bold().set_background_color(Color::RGB(HEADER_FILL)).set_border(FormatBorder::Thin);
        let cell = Format::new().set_text_wrap().set_border(FormatBorder::Thin).set_align(FormatAlign::Top);
        let letter = |col: u16| cell_name(0, u32::from(col)).trim_end_matches('1').to_string();

        let lines = [
            format!(
                "Biểu mẫu để {} (mã {}) báo cáo tiến độ thực hiện {} – {} (mã {}), kỳ báo cáo {} ({}).",
                self.agency.name_vi,
                self.agency.code,
                self.plan.document,
                self.plan.title_vi,
                self.plan.code,
                self.period,
                period_name_vi(self.period)
            ),
            format!(
                "1. Trang “{FORM_SHEET}” có một dòng cho mỗi nhiệm vụ của kế hoạch mà cơ quan chủ trì hoặc phối hợp thực hiện. \
                 Chỉ nhập vào các ô màu vàng (cột {} đến {}), từ dòng {} trở xuống.",
                letter(COL_STATUS),
                letter(COL_EVIDENCE),
                FIRST_TASK_ROW + 1
            ),
            format!("2. Tình trạng (cột {}): chọn một trong bốn tình trạng ở bảng dưới đây từ danh sách thả xuống.", letter(COL_STATUS)),
            format!(
                "3. Kết quả thực hiện (cột {}): ghi ngắn gọn những việc đã làm và kết quả đạt được; nếu chưa triển khai, ghi lý do. \
                 Tối đa {} ký tự; báo cáo dài hơn hãy gửi kèm làm tài liệu.",
                letter(COL_TEXT),
                thousands(TEXT_MAX_CHARS)
            ),
            format!("4. Ngày báo cáo (cột {}): nhập ngày theo dạng ngày/tháng/năm, ví dụ 15/03/2026; không ghi ngày sau ngày gửi báo cáo.", letter(COL_DATE)),
            format!(
                "5. Tài liệu kèm theo (cột {}): số, ký hiệu văn bản (ví dụ 123/BC-SYT) hoặc đường dẫn tới tài liệu chứng minh; để trống nếu không có.",
                letter(COL_EVIDENCE)
            ),
            "6. Để trống cả dòng nếu kỳ này chưa báo cáo nhiệm vụ đó. Mỗi nhiệm vụ chỉ báo cáo một lần trong một tệp.".to_string(),
            format!(
                "7. Không sửa mã kế hoạch (ô B{}), mã cơ quan (ô B{}), kỳ báo cáo (ô B{}), số thứ tự nhiệm vụ (cột A) và dòng mã (dòng {}); \
                 không xoá, chèn hay đổi thứ tự dòng, cột, không đổi tên trang. Các ô này đã được khoá để tránh sửa nhầm.",
                PLAN_ROW + 1,
                AGENCY_ROW + 1,
                PERIOD_ROW + 1,
                CODE_ROW + 1
            ),
            "8. Lưu tệp dưới dạng Excel (.xlsx), giữ nguyên tên trang, rồi gửi cho cơ quan tổng hợp (thường là Sở Y tế) theo kênh đã được \
             hướng dẫn. Có thể gửi lại tệp đã sửa: báo cáo nhận sau cùng của mỗi nhiệm vụ được dùng."
                .to_string(),
            format!(
                "9. Mỗi ô sai sẽ được báo lại kèm vị trí (ví dụ “Ô {}{} (trang {FORM_SHEET})”) và lý do bằng tiếng Việt; các dòng đúng vẫn được nhận.",
                letter(COL_STATUS),
                FIRST_TASK_ROW + 2
            ),
        ];
        sheet.write_string_with_format(0, 0, "HƯỚNG DẪN ĐIỀN BÁO CÁO TIẾN ĐỘ THỰC HIỆN NHIỆM VỤ", &title)?;
        let mut row = 2;
        for line in &lines {
            sheet.merge_range(row, 0, row, 2, line, &wrap)?;
            sheet.set_row_height(row, 32)?;
            row += 1;
        }
        row += 1;
        sheet.write_string_with_format(row, 0, "Tình trạng", &bold)?;
        row += 1;
        for (col, label) in ["Tình trạng", "Khi nào chọn", "Mã"].iter().enumerate() {
            sheet.write_string_with_format(row, col as u16, *label, &header)?;
        }
        for status in ProgressStatus::ALL {
            row += 1;
            sheet.write_string_with_format(row, 0, status.label_vi(), &cell)?;
            sheet.write_string_with_format(row, 1, status_meaning_vi(status), &cell)?;
            sheet.write_string_with_format(row, 2, status.code(), &cell)?;
        }
        sheet.set_column_width(0, 22)?;
        sheet.set_column_width(1, 80)?;
        sheet.set_column_width(2, 22)?;
        sheet.set_paper_size(PAPER_A4).set_landscape().set_print_fit_to_pages(1, 0);
        sheet.protect();
        Ok(())
    }
}

/// When an agency chooses each status, as the guide sheet says.
fn status_meaning_vi(status: ProgressStatus) -> &'static str {
    match status {
        ProgressStatus::NotStarted => "Chưa bắt đầu thực hiện nhiệm vụ (ghi lý do ở cột Kết quả thực hiện).",
        ProgressStatus::InProgress => "Đã bắt đầu thực hiện, chưa hoàn thành.",
        ProgressStatus::Done => "Đã hoàn thành trong thời hạn của kế hoạch.",
        ProgressStatus::DoneLate => "Đã hoàn thành nhưng sau thời hạn của kế hoạch.",
    }
}

/// `4.000`: a count as Vietnamese writes it.
fn thousands(n: usize) -> String {
    tonghop_core::text::integer_vi(n as i64)
}

/// The data validation of each input column, with Vietnamese input and error messages.
fn validations() -> Result<Vec<(u16, DataValidation)>> {
    let labels = ProgressStatus::labels();
    let status = DataValidation::new()
        .allow_list_strings(&labels)?
        .set_input_title("Tình trạng")?
        .set_input_message(format!("Chọn một trong: {}.", labels.join("; ")))?
        .set_error_title("Tình trạng không hợp lệ")?
        .set_error_message(format!("Chỉ chọn một trong: {}.", labels.join("; ")))?
        .set_error_style(DataValidationErrorStyle::Stop);
    let text = DataValidation::new()
        .allow_text_length(DataValidationRule::LessThanOrEqualTo(TEXT_MAX_CHARS as u32))
        .set_input_title("Kết quả thực hiện")?
        .set_input_message(format!(
            "Ghi ngắn gọn những việc đã làm và kết quả đạt được (nếu chưa triển khai, ghi lý do); tối đa {} ký tự.",
            thousands(TEXT_MAX_CHARS)
        ))?
        .set_error_title("Quá dài")?
        .set_error_message(format!("Tối đa {} ký tự; báo cáo dài hơn hãy gửi kèm làm tài liệu.", thousands(TEXT_MAX_CHARS)))?
        .set_error_style(DataValidationErrorStyle::Stop);
    let date = DataValidation::new()
        .allow_date(DataValidationRule::Between(ExcelDateTime::from_ymd(2000, 1, 1)?, ExcelDateTime::from_ymd(2100, 12, 31)?))
        .set_input_title("Ngày báo cáo")?
        .set_input_message("Nhập ngày theo dạng ngày/tháng/năm, ví dụ 15/03/2026.")?
        .set_error_title("Ngày không hợp lệ")?
        .set_error_message("Chỉ nhập ngày, theo dạng ngày/tháng/năm, ví dụ 15/03/2026.")?
        .set_error_style(DataValidationErrorStyle::Stop);
    let evidence = DataValidation::new()
        .allow_text_length(DataValidationRule::LessThanOrEqualTo(EVIDENCE_MAX_CHARS as u32))
        .set_input_title("Tài liệu kèm theo")?
        .set_input_message("Số, ký hiệu văn bản (ví dụ 123/BC-SYT) hoặc đường dẫn tới tài liệu; để trống nếu không có.")?
        .set_error_title("Quá dài")?
        .set_error_message(format!("Tối đa {} ký tự.", thousands(EVIDENCE_MAX_CHARS)))?
        .set_error_style(DataValidationErrorStyle::Stop);
    Ok(vec![(COL_STATUS, status), (COL_TEXT, text), (COL_DATE, date), (COL_EVIDENCE, evidence)])
}

/// True when `bytes` is a workbook with a visible sheet named [`FORM_SHEET`] whose A1 is
/// [`TITLE`]: the cheap test the inbox routes an `.xlsx` file with (it reads the sheet's first
/// cell only). Never fails: a damaged file is not a form.
pub fn is_form(bytes: &[u8]) -> bool {
    let check = || -> std::result::Result<bool, String> {
        let mut workbook = open(bytes)?;
        let Some(sheet) = form_sheet(&workbook) else { return Ok(false) };
        let mut reader = workbook.worksheet_cells_reader(&sheet).map_err(|e| e.to_string())?;
        while let Some(cell) = reader.next_cell().map_err(|e| e.to_string())? {
            match cell.get_value() {
                DataRef::Empty => continue,
                DataRef::String(s) if cell.get_position() == (0, 0) => return Ok(nfc(s.trim()) == TITLE),
                DataRef::SharedString(s) if cell.get_position() == (0, 0) => return Ok(nfc(s.trim()) == TITLE),
                _ => return Ok(false),
            }
        }
        Ok(false)
    };
    matches!(guarded(check), Ok(Ok(true)))
}

/// Reads a filled progress form (`name` is only for messages). See the module docs for what is
/// read and how.
///
/// # Errors
///
/// [`Error::ProgressForm`] when the bytes are not an `.xlsx` workbook, when it has no visible
/// sheet [`FORM_SHEET`], or when the plan, the agency, the period or the code row (or one of its
/// codes `task`, `status`, `text`, `reported_on`, `evidence`) is missing; the reason names what
/// is missing and where it should be.
pub fn read_form(bytes: &[u8], name: &str) -> Result<ProgressForm> {
    let unreadable = |reason: String| Error::ProgressForm { name: name.to_string(), reason };
    let (sheet, range) = guarded(|| -> std::result::Result<(String, Range<Data>), String> {
        let mut workbook = open(bytes)?;
        let sheet = form_sheet(&workbook).ok_or_else(|| {
            let visible: Vec<String> = workbook
                .sheets_metadata()
                .iter()
                .filter(|s| s.typ == SheetType::WorkSheet && s.visible == SheetVisible::Visible)
                .map(|s| format!("\"{}\"", s.name))
                .collect();
            format!(
                "the workbook has no visible sheet named \"{FORM_SHEET}\" (its visible sheets: {}); send the form tonghop generated, \
                 without renaming its sheets",
                if visible.is_empty() { "none".to_string() } else { visible.join(", ") }
            )
        })?;
        let mut reader = workbook.worksheet_cells_reader(&sheet).map_err(|e| format!("sheet \"{sheet}\" cannot be read: {e}"))?;
        let range = bounded_cells(|| reader.next_cell().map_err(|e| e.to_string())).map_err(|e| format!("sheet \"{sheet}\": {e}"))?;
        Ok((sheet, range))
    })
    .and_then(|r| r)
    .map_err(unreadable)?;
    let grid = Grid { sheet: &sheet, range: &range };
    let form = grid.read().map_err(unreadable)?;
    tracing::debug!(
        name,
        plan = form.plan.as_str(),
        agency = form.agency.as_str(),
        period = form.period.as_str(),
        rows = form.rows.len(),
        "progress form read"
    );
    Ok(form)
}

/// Opens an `.xlsx` workbook, refusing one whose shared-string table declares more entries than a
/// form can have (calamine reserves room for all of them when it opens the file).
fn open(bytes: &[u8]) -> std::result::Result<Xlsx<Cursor<&[u8]>>, String> {
    if !bytes.starts_with(b"PK\x03\x04") {
        return Err("not an .xlsx workbook (the progress form is an Excel .xlsx file)".to_string());
    }
    check_shared_strings(bytes)?;
    calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(|e| format!("not a readable .xlsx workbook: {e}"))
}

/// The visible worksheet named [`FORM_SHEET`] (NFC-compared).
fn form_sheet(workbook: &Xlsx<Cursor<&[u8]>>) -> Option<String> {
    workbook
        .sheets_metadata()
        .iter()
        .find(|s| s.typ == SheetType::WorkSheet && s.visible == SheetVisible::Visible && nfc(s.name.trim()) == FORM_SHEET)
        .map(|s| s.name.clone())
}

/// The columns found on the code row.
struct Columns {
    row: u32,
    task: u32,
    status: u32,
    text: u32,
    reported_on: u32,
    evidence: u32,
}

/// The form sheet's reading, on the readers' cell grid ([`crate::xlsx::Grid`]).
impl Grid<'_> {
    fn read(&self) -> std::result::Result<ProgressForm, String> {
        let (Some((first_row, first_col)), Some((last_row, last_col))) = (self.range.start(), self.range.end()) else {
            return Err(format!("sheet \"{}\" is empty", self.sheet));
        };
        let columns = self.columns(first_row, first_col, last_row, last_col)?;
        let header = |label: &str, shown: &str| -> std::result::Result<(String, Location), String> {
            for row in first_row..columns.row {
                for col in first_col..=last_col {
                    if self.text(row, col).is_some_and(|t| fold(&t) == label) {
                        let location = self.location(row, col + 1);
                        return match cell_text(self.get(row, col + 1)) {
                            Some(value) => Ok((value, location)),
                            None => Err(format!("the cell right of \"{shown}\" ({location}) is empty: it must hold the code tonghop wrote there")),
                        };
                    }
                }
            }
            Err(format!(
                "no cell reads \"{shown}\" above the code row (row {}): the form's header (rows 2 to 4) is missing; send the form tonghop generated",
                columns.row + 1
            ))
        };
        let (plan, plan_cell) = header("ke hoach", PLAN_LABEL)?;
        let (agency, agency_cell) = header("co quan bao cao", AGENCY_LABEL)?;
        let (period, period_cell) = header("ky bao cao", PERIOD_LABEL)?;

        let mut rows = Vec::new();
        let mut problems = Vec::new();
        for row in columns.row + 1..=last_row {
            let inputs = [columns.status, columns.text, columns.reported_on, columns.evidence];
            if inputs.iter().all(|&c| is_blank(self.get(row, c))) {
                continue;
            }
            let fields = [
                (columns.task, "task"),
                (columns.status, "status"),
                (columns.text, "text"),
                (columns.reported_on, "reported_on"),
                (columns.evidence, "evidence"),
            ];
            let before = problems.len();
            for (col, field) in fields {
                if let Data::Error(e) = self.get(row, col) {
                    problems.push(self.cell_error(row, col, field, &e.to_string()));
                }
            }
            if problems.len() > before {
                continue;
            }
            let text = |col: u32| cell_text(self.get(row, col)).unwrap_or_default();
            let reported_on = match self.get(row, columns.reported_on) {
                Data::DateTime(dt) if dt.is_datetime() => {
                    let (y, m, d, ..) = dt.to_ymd_hms_milli();
                    Some(
                        NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d))
                            .map_or_else(|| CellDate::Text(date_text(&Data::DateTime(*dt))), CellDate::Date),
                    )
                }
                Data::DateTime(dt) => Some(CellDate::Text(number_text(dt.as_f64()))),
                other => cell_text(other).map(CellDate::Text),
            };
            rows.push(ProgressCells {
                location: self.location(row, columns.status),
                row: row + 1,
                task: text(columns.task),
                status: text(columns.status),
                text: text(columns.text),
                reported_on,
                evidence: text(columns.evidence),
                cells: FieldCells {
                    plan: plan_cell.clone(),
                    period: period_cell.clone(),
                    task: self.location(row, columns.task),
                    status: self.location(row, columns.status),
                    text: self.location(row, columns.text),
                    reported_on: self.location(row, columns.reported_on),
                    evidence: self.location(row, columns.evidence),
                },
            });
        }
        Ok(ProgressForm { plan, agency, period, agency_cell, rows, problems })
    }

    /// The code row: the first row (within [`HEADER_SEARCH_ROWS`]) holding `task` and `status`.
    fn columns(&self, first_row: u32, first_col: u32, last_row: u32, last_col: u32) -> std::result::Result<Columns, String> {
        let find = |row: u32, code: &str| (first_col..=last_col).find(|&c| self.text(row, c).is_some_and(|t| t.eq_ignore_ascii_case(code)));
        let last = last_row.min(HEADER_SEARCH_ROWS - 1);
        let Some(row) = (first_row..=last).find(|&r| find(r, "task").is_some() && find(r, "status").is_some()) else {
            return Err(format!(
                "no code row (a row reading task, content, role, deadline, status, text, reported_on, evidence) in the first {HEADER_SEARCH_ROWS} rows \
                 of sheet \"{}\"; send the form tonghop generated, without deleting its rows",
                self.sheet
            ));
        };
        let missing: Vec<&str> = REQUIRED_CODES.iter().copied().filter(|c| find(row, c).is_none()).collect();
        if !missing.is_empty() {
            return Err(format!(
                "the code row (row {}) lacks the column(s) {}; send the form tonghop generated, without deleting its columns",
                row + 1,
                missing.join(", ")
            ));
        }
        let col = |code: &str| find(row, code).unwrap_or_default();
        Ok(Columns { row, task: col("task"), status: col("status"), text: col("text"), reported_on: col("reported_on"), evidence: col("evidence") })
    }
}

fn is_blank(data: &Data) -> bool {
    match data {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plans() -> Plans {
        Plans::example()
    }

    fn period(code: &str) -> Period {
        code.parse().unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn cell(location: &Location) -> &str {
        match location {
            Location::Cell { sheet, cell } => {
                assert_eq!(sheet, FORM_SHEET);
                cell
            }
            other => panic!("not a cell: {other:?}"),
        }
    }

    fn sheet_of(bytes: &[u8], name: &str) -> Range<Data> {
        let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
        workbook.worksheet_range(name).unwrap()
    }

    #[test]
    fn the_blank_form_lists_the_agencys_tasks_with_its_role() {
        let bytes = write_form(&plans(), "T_KH_2024", "T_SYT", &period("2026Q1")).unwrap();
        assert!(is_form(&bytes));
        let range = sheet_of(&bytes, FORM_SHEET);
        let text = |cell: (u32, u32)| range.get_value(cell).map(|d| d.to_string()).unwrap_or_default();
        assert_eq!(text((0, 0)), TITLE);
        assert_eq!([text((1, 0)), text((1, 1))], [PLAN_LABEL, "T_KH_2024"]);
        assert!(text((1, 2)).contains("Chỉ thị số 25-CT/TW"));
        assert_eq!([text((2, 0)), text((2, 1)), text((2, 2))], [AGENCY_LABEL, "T_SYT", "Sở Y tế"]);
        assert_eq!([text((3, 0)), text((3, 1)), text((3, 2))], [PERIOD_LABEL, "2026Q1", "Quý I năm 2026"]);
        let codes: Vec<String> = (0..8).map(|c| text((CODE_ROW, c))).collect();
        assert_eq!(codes, COLUMNS.map(|c| c.0));
        let labels: Vec<String> = (0..8).map(|c| text((NAMES_ROW, c))).collect();
        assert_eq!(labels, COLUMNS.map(|c| c.1));
        // Tasks 1 and 3 (lead), 2 (co-operating through the group T_SO); not 4.
        let tasks: Vec<[String; 4]> = (FIRST_TASK_ROW..FIRST_TASK_ROW + 4).map(|r| [0, 2, 3, 4].map(|c| text((r, c)))).collect();
        assert_eq!(
            tasks,
            [
                ["1", "Chủ trì", "Quý 3/2024", ""].map(String::from),
                ["2", "Phối hợp", "Nhiệm vụ thường xuyên", ""].map(String::from),
                ["3", "Chủ trì", "Năm 2025", ""].map(String::from),
                ["", "", "", ""].map(String::from),
            ]
        );
        // The guide explains the four statuses.
        let guide = sheet_of(&bytes, GUIDE_SHEET);
        let all: String = guide.used_cells().map(|(_, _, d)| d.to_string()).collect::<Vec<_>>().join("\n");
        for status in ProgressStatus::ALL {
            assert!(all.contains(status.label_vi()) && all.contains(status.code()), "{status:?}");
        }
        // A blank form has nothing to report.
        let form = read_form(&bytes, "blank.xlsx").unwrap();
        assert_eq!((form.plan.as_str(), form.agency.as_str(), form.period.as_str()), ("T_KH_2024", "T_SYT", "2026Q1"));
        assert!(form.rows.is_empty() && form.problems.is_empty(), "{form:?}");
        assert_eq!(cell(&form.agency_cell), "B3");
    }

    #[test]
    fn the_form_is_protected_with_unlocked_inputs_and_validation() {
        let bytes = write_form(&plans(), "T_KH_2024", "T_SYT", &period("202603")).unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes.as_slice())).unwrap();
        let mut xml = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("xl/worksheets/sheet1.xml").unwrap(), &mut xml).unwrap();
        assert!(xml.contains("<sheetProtection") && !xml.contains("password"), "protected without a password");
        assert!(xml.contains(r#"<pane ySplit="8" topLeftCell="A9""#), "frozen under the code row");
        assert!(xml.contains(r#"paperSize="9""#) && xml.contains(r#"orientation="landscape""#) && xml.contains(r#"fitToHeight="0""#));
        assert!(xml.contains(r#"type="list""#) && xml.contains("Chưa triển khai,Đang triển khai,Hoàn thành,Hoàn thành quá hạn"));
        assert!(xml.contains(r#"type="date""#) && xml.contains(r#"sqref="G9:G11""#));
        assert!(xml.contains(r#"type="textLength""#));
        let mut workbook = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("xl/workbook.xml").unwrap(), &mut workbook).unwrap();
        assert!(workbook.contains("_xlnm.Print_Titles") && workbook.contains("$7:$8"), "header rows repeat");
        let mut styles = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("xl/styles.xml").unwrap(), &mut styles).unwrap();
        assert!(styles.contains(r#"<protection locked="0""#) && styles.contains("dd/mm/yyyy"));
    }

    #[test]
    fn writing_refuses_what_the_plans_do_not_know() {
        let p = plans();
        let message = |plan: &str, agency: &str, code: &str| match write_form(&p, plan, agency, &period(code)) {
            Err(Error::Template(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(message("NOPE", "T_SYT", "2026Q1").contains("no plan with code \"NOPE\""));
        assert!(message("T_KH_2024", "T_SYX", "2026Q1").contains("did you mean T_SYT?"));
        assert!(message("T_KH_2024", "T_SO", "2026Q1").contains("group of agencies"));
        assert!(message("T_KH_2024", "T_STC", "2026Q1").contains("neither leads nor co-operates"));
        assert!(message("T_KH_2024", "T_SYT", "2026YTD03").contains("not 2026YTD03"));
    }

    #[test]
    fn a_filled_form_reads_back_with_every_cell_located() {
        let fill = |task: &Task| match task.number.as_str() {
            "1" => Some(FilledRow {
                status: "Hoàn thành".into(),
                text: "  Đã ban hành quyết định\u{0301} ".into(), // decomposed accent: read back NFC
                reported_on: Some(CellDate::Date(date(2026, 3, 15))),
                evidence: "123/QĐ-SYT".into(),
            }),
            "3" => Some(FilledRow { status: "dang_trien_khai".into(), reported_on: Some(CellDate::Text("15/3/2026".into())), ..FilledRow::default() }),
            _ => None,
        };
        let bytes = write_form_filled(&plans(), "T_KH_2024", "T_SYT", &period("2026Q1"), &fill).unwrap();
        let form = read_form(&bytes, "filled.xlsx").unwrap();
        assert!(form.problems.is_empty());
        assert_eq!(form.rows.len(), 2, "task 2 left blank is skipped");
        let first = &form.rows[0];
        assert_eq!((first.task.as_str(), first.status.as_str(), first.evidence.as_str(), first.row), ("1", "Hoàn thành", "123/QĐ-SYT", 9));
        assert_eq!(first.text, nfc("Đã ban hành quyết định\u{0301}"));
        assert_eq!(first.reported_on, Some(CellDate::Date(date(2026, 3, 15))));
        assert_eq!(cell(&first.location), "E9");
        let c = &first.cells;
        assert_eq!([&c.plan, &c.period, &c.task, &c.status, &c.text, &c.reported_on, &c.evidence].map(cell), ["B2", "B4", "A9", "E9", "F9", "G9", "H9"]);
        let third = &form.rows[1];
        assert_eq!((third.task.as_str(), third.status.as_str(), third.text.as_str(), third.row), ("3", "dang_trien_khai", "", 11));
        assert_eq!(third.reported_on, Some(CellDate::Text("15/3/2026".into())));
    }

    /// A workbook laid out like the form by hand, for what the writer never writes.
    fn hand_made(rows: &[(u32, u16, &str)], numbers: &[(u32, u16, f64)], errors: bool) -> Vec<u8> {
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet().set_name(FORM_SHEET).unwrap();
        for &(row, col, text) in rows {
            sheet.write_string(row, col, text).unwrap();
        }
        for &(row, col, n) in numbers {
            sheet.write_number(row, col, n).unwrap();
        }
        if errors {
            sheet.write_formula(9, 5, rust_xlsxwriter::Formula::new("=1/0").set_result("#DIV/0!")).unwrap();
        }
        workbook.save_to_buffer().unwrap()
    }

    fn standard_header() -> Vec<(u32, u16, &'static str)> {
        let mut rows = vec![(0, 0, TITLE), (1, 0, "Kế hoạch"), (1, 1, "T_KH_2024"), (2, 0, "CƠ QUAN BÁO CÁO:"), (2, 1, "T_SYT"), (3, 0, "Kỳ báo cáo:")];
        rows.extend(COLUMNS.iter().enumerate().map(|(c, (code, _, _))| (CODE_ROW, c as u16, *code)));
        rows
    }

    #[test]
    fn cells_are_read_raw_and_errors_become_problems() {
        let mut rows = standard_header();
        rows.extend([(8, 0, "1"), (8, 4, "Xong"), (9, 0, "3"), (9, 4, "Hoàn thành"), (10, 7, "   ")]);
        // Period as a number, task 2 number as a number, a plain number in a date cell.
        let bytes = hand_made(&rows, &[(3, 1, 2026.0), (8, 6, 46096.0), (11, 0, 2.0), (11, 4, 1.0)], true);
        assert!(is_form(&bytes));
        let form = read_form(&bytes, "hand.xlsx").unwrap();
        assert_eq!(form.period, "2026");
        assert_eq!(form.rows.len(), 2, "{form:#?}");
        assert_eq!((form.rows[0].status.as_str(), form.rows[0].reported_on.clone()), ("Xong", Some(CellDate::Text("46096".into()))));
        assert_eq!((form.rows[1].task.as_str(), form.rows[1].status.as_str()), ("2", "1"));
        assert_eq!(form.problems.len(), 1);
        let p = &form.problems[0];
        assert_eq!((p.reason, p.field.as_str(), cell(&p.location)), ("cell_error", "text", "F10"));
        assert!(p.message_vi.starts_with("Ô F10 (trang Tiến độ): ") && p.message_en.starts_with("cell F10 of sheet Tiến độ: "), "{p:?}");
    }

    #[test]
    fn a_form_without_its_header_or_code_row_is_unreadable() {
        let reason = |bytes: &[u8]| match read_form(bytes, "x.xlsx") {
            Err(Error::ProgressForm { name, reason }) => {
                assert_eq!(name, "x.xlsx");
                reason
            }
            other => panic!("{other:?}"),
        };
        let mut rows = standard_header();
        rows.retain(|r| r.1 != 0 || r.0 != 1);
        assert!(reason(&hand_made(&rows, &[(3, 1, 2026.0)], false)).contains("no cell reads \"Kế hoạch:\""));
        let rows = standard_header();
        assert!(reason(&hand_made(&rows, &[], false)).contains("right of \"Kỳ báo cáo:\" (Tiến độ!B4) is empty"));
        let mut rows = standard_header();
        rows.retain(|r| r.0 != CODE_ROW);
        assert!(reason(&hand_made(&rows, &[(3, 1, 2026.0)], false)).contains("no code row"));
        let mut rows = standard_header();
        rows.retain(|r| r.0 != CODE_ROW || r.1 < 6);
        assert!(reason(&hand_made(&rows, &[(3, 1, 2026.0)], false)).contains("lacks the column(s) reported_on, evidence"));
        assert!(reason(b"period,org_unit\n").contains("not an .xlsx workbook"));
        let mut workbook = Workbook::new();
        workbook.add_worksheet().set_name("Sheet1").unwrap().write_string(0, 0, TITLE).unwrap();
        let other = workbook.save_to_buffer().unwrap();
        assert!(reason(&other).contains("no visible sheet named \"Tiến độ\" (its visible sheets: \"Sheet1\")"));
        assert!(!is_form(&other));
    }

    #[test]
    fn the_data_report_form_and_other_files_are_not_progress_forms() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let registry = tonghop_core::UnitRegistry::load(&root.join("reference/admin-units")).unwrap();
        let catalog = tonghop_core::Catalog::load(&root.join("catalog")).unwrap();
        let data_form = crate::template::write(&registry, &catalog, &period("202603"), "04").unwrap();
        assert!(!is_form(&data_form));
        assert!(!is_form(b""));
        assert!(!is_form(b"PK\x03\x04 damaged"));
        // The right sheet with another title.
        let mut rows = standard_header();
        rows[0] = (0, 0, "BÁO CÁO KHÁC");
        assert!(!is_form(&hand_made(&rows, &[], false)));
    }

    #[test]
    fn counts_are_written_the_vietnamese_way() {
        assert_eq!(thousands(4000), "4.000");
        assert_eq!(thousands(1_234_567), "1.234.567");
        assert_eq!(thousands(999), "999");
    }
}
