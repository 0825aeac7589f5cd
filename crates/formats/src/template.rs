//! The report form for a province and a period: an XLSX workbook with one row per commune and one
//! column per data element, which [`crate::xlsx::read`] reads back as [`crate::Format::XlsxForm`].
//!
//! Sheet [`FORM_SHEET`] (`Báo cáo`), rows and cells as Excel numbers them:
//!
//! | where | what |
//! |---|---|
//! | A1 | the title [`TITLE`] |
//! | A2, B2 | `Tỉnh/Thành phố:` and the province's full name with its code (`Thành phố Hà Nội (mã 01)`) |
//! | A3, B3, C3 | [`PERIOD_LABEL`] (`Kỳ báo cáo:`), the period code as text (`202603`), its Vietnamese name (`Tháng 3 năm 2026`) |
//! | A4 | a one-line reminder of how to fill the form |
//! | row 6 | column labels: `Mã xã`, `Tên xã, phường`, [pre-2025: `Mã huyện`, `Quận, huyện`], then each data element's Vietnamese name |
//! | row 7 | the code row: `org_unit`, `org_unit_name`, [pre-2025: `district`, `district_name`], then each data element's code |
//! | rows 8… | one commune each: code (A) and name (B) [pre-2025: district code (C) and name (D)], then the value cells |
//!
//! Communes are sorted by code (pre-2025: by district, then code). Value cells start in column C
//! (post-2025) or E (pre-2025), one column per catalog data element in catalog order. They are the
//! only unlocked cells: the sheet is protected **without a password** (so a provincial officer can
//! unprotect it in Excel to correct a commune list; protection only prevents accidental edits), and
//! columns and rows may still be resized. Each value column has data validation with a Vietnamese
//! input message: counts accept whole numbers ≥ 0, booleans accept 0 or 1 (a drop-down list).
//! Panes are frozen below the code row and right of the unit columns; the page is A4 landscape, one
//! page wide, with rows 6–7 repeated on every page.
//!
//! Sheet [`GUIDE_SHEET`] (`Hướng dẫn`) explains in Vietnamese how to fill and send the form and
//! lists the data elements with their codes and value types.

use rust_xlsxwriter::{
    Color, DataValidation, DataValidationErrorStyle, DataValidationRule, DocProperties, Format, FormatAlign, FormatBorder, ProtectionOptions, Workbook,
    Worksheet,
};
use tonghop_core::catalog::ValueType;
use tonghop_core::{AdminUnit, Catalog, DataElement, Epoch, Level, Period, PeriodType, UnitRegistry};

use crate::{Error, Result};

/// Title in cell A1.
pub const TITLE: &str = "BIỂU MẪU BÁO CÁO SỐ LIỆU Y TẾ CƠ SỞ";
/// Label in cell A3; the period code is in B3.
pub const PERIOD_LABEL: &str = "Kỳ báo cáo:";
/// Name of the form sheet.
pub const FORM_SHEET: &str = "Báo cáo";
/// Name of the instruction sheet.
pub const GUIDE_SHEET: &str = "Hướng dẫn";
/// 0-based row of the data element names (Excel row 6).
pub const NAMES_ROW: u32 = 5;
/// 0-based row of the codes (Excel row 7).
pub const CODE_ROW: u32 = 6;
/// 0-based row of the first commune (Excel row 8).
pub const FIRST_UNIT_ROW: u32 = 7;

const PROVINCE_ROW: u32 = 1;
const PERIOD_ROW: u32 = 2;
const NOTE_ROW: u32 = 3;

/// A4 in Excel's paper size codes.
pub(crate) const PAPER_A4: u8 = 9;
pub(crate) const HEADER_FILL: u32 = 0xDDEBF7;
pub(crate) const LOCKED_FILL: u32 = 0xF2F2F2;
pub(crate) const INPUT_FILL: u32 = 0xFFF2CC;
pub(crate) const CODE_FONT: u32 = 0x595959;

/// Writes the blank report form (XLSX bytes) for the communes of `province` (a province code of the
/// period's epoch) in `period` (any period type; normally a month).
///
/// `Err` ([`Error::Template`]) when the period straddles the 2025-07-01 reform, when `province` is
/// not a province of the period's epoch, or when the catalog has no data elements.
pub fn write(registry: &UnitRegistry, catalog: &Catalog, period: &Period, province: &str) -> Result<Vec<u8>> {
    write_filled(registry, catalog, period, province, &|_, _| None)
}

/// Writes the report form like [`write()`], with the value cells pre-filled: `values(unit, element)`
/// gives the number for a commune code and a data element code, `None` leaving the cell blank.
/// Used by tests and demo generators, so that filled forms come from the same code as blank ones.
pub fn write_filled(
    registry: &UnitRegistry,
    catalog: &Catalog,
    period: &Period,
    province: &str,
    values: &dyn Fn(&str, &str) -> Option<f64>,
) -> Result<Vec<u8>> {
    let epoch = Epoch::for_period(period)
        .map_err(|e| Error::Template(format!("{e}; make one form for the months before 2025-07-01 and one for the months from it")))?;
    let province_unit = registry.get(epoch, province).filter(|u| u.level == Level::Province).ok_or_else(|| {
        let count = registry.at_level(epoch, Level::Province).count();
        Error::Template(format!(
            "no province with code \"{province}\" in the {epoch} epoch of period {period} ({count} provinces, codes such as 01 for Hà Nội); \
             province codes changed on 2025-07-01"
        ))
    })?;
    let mut communes: Vec<&AdminUnit> = registry.at_level(epoch, Level::Commune).filter(|u| u.province_code.as_deref() == Some(province)).collect();
    communes.sort_by(|a, b| (&a.district_code, &a.code).cmp(&(&b.district_code, &b.code)));
    if communes.is_empty() {
        return Err(Error::Template(format!("province {province} ({}) has no communes in the {epoch} epoch", province_unit.full_name)));
    }
    if catalog.data_elements.is_empty() {
        return Err(Error::Template("the catalog has no data elements: nothing to put in the form".into()));
    }

    let form = Form { registry, epoch, period, province: province_unit, communes, elements: &catalog.data_elements };
    let mut workbook = Workbook::new();
    workbook.set_properties(
        &DocProperties::new()
            .set_title(format!("{TITLE} – {} – {}", province_unit.full_name, period))
            .set_author("tonghop")
            .set_comment("Biểu mẫu do tonghop tạo; chỉ nhập số liệu vào các ô màu vàng."),
    );
    form.write_form(workbook.add_worksheet(), values)?;
    form.write_guide(workbook.add_worksheet())?;
    tracing::debug!(province, %period, communes = form.communes.len(), elements = form.elements.len(), "report form written");
    Ok(workbook.save_to_buffer()?)
}

/// The Vietnamese name of a period: `Tháng 3 năm 2026`, `Quý I năm 2026`, `6 tháng đầu năm 2026`,
/// `6 tháng cuối năm 2026`, `9 tháng năm 2026`, `Năm 2026`, `Lũy kế từ đầu năm đến hết tháng 3 năm 2026`.
pub fn period_name_vi(period: &Period) -> String {
    let code = period.to_string();
    let year = period.year();
    let tail = code.get(4..).unwrap_or_default();
    match period.kind() {
        PeriodType::Month => format!("Tháng {} năm {year}", tail.trim_start_matches('0')),
        PeriodType::Quarter => {
            let roman = match tail {
                "Q1" => "I",
                "Q2" => "II",
                "Q3" => "III",
                _ => "IV",
            };
            format!("Quý {roman} năm {year}")
        }
        PeriodType::HalfYear if tail == "S1" => format!("6 tháng đầu năm {year}"),
        PeriodType::HalfYear => format!("6 tháng cuối năm {year}"),
        PeriodType::NineMonths => format!("9 tháng năm {year}"),
        PeriodType::Year => format!("Năm {year}"),
        PeriodType::YearToDate => format!("Lũy kế từ đầu năm đến hết tháng {} năm {year}", tail.trim_start_matches("YTD").trim_start_matches('0')),
    }
}

/// Everything one form needs.
struct Form<'a> {
    registry: &'a UnitRegistry,
    epoch: Epoch,
    period: &'a Period,
    province: &'a AdminUnit,
    communes: Vec<&'a AdminUnit>,
    elements: &'a [DataElement],
}

impl Form<'_> {
    fn with_districts(&self) -> bool {
        self.epoch == Epoch::Pre2025
    }

    /// The unit columns: (label row 6, code row 7, width).
    fn unit_columns(&self) -> Vec<(&'static str, &'static str, f64)> {
        let mut columns = vec![("Mã xã", "org_unit", 16.0), ("Tên xã, phường", "org_unit_name", 30.0)];
        if self.with_districts() {
            columns.push(("Mã huyện", "district", 10.0));
            columns.push(("Quận, huyện", "district_name", 24.0));
        }
        columns
    }

    fn write_form(&self, sheet: &mut Worksheet, values: &dyn Fn(&str, &str) -> Option<f64>) -> Result<()> {
        sheet.set_name(FORM_SHEET)?;
        let FormStyles { title, bold, key: period_cell, italic, header, code } = FormStyles::new();
        let unit = Format::new().set_background_color(Color::RGB(LOCKED_FILL)).set_border(FormatBorder::Thin);
        let input = |num_format: &str| {
            Format::new().set_unlocked().set_background_color(Color::RGB(INPUT_FILL)).set_border(FormatBorder::Thin).set_num_format(num_format)
        };
        let count_input = input("#,##0");
        let boolean_input = input("0").set_align(FormatAlign::Center);

        sheet.write_string_with_format(0, 0, TITLE, &title)?;
        sheet.write_string_with_format(PROVINCE_ROW, 0, "Tỉnh/Thành phố:", &bold)?;
        sheet.write_string_with_format(PROVINCE_ROW, 1, format!("{} (mã {})", self.province.full_name, self.province.code), &bold)?;
        sheet.write_string_with_format(PERIOD_ROW, 0, PERIOD_LABEL, &bold)?;
        sheet.write_string_with_format(PERIOD_ROW, 1, self.period.to_string(), &period_cell)?;
        sheet.write_string_with_format(PERIOD_ROW, 2, period_name_vi(self.period), &italic)?;
        sheet.write_string_with_format(
            NOTE_ROW,
            0,
            format!("Nhập số liệu vào các ô màu vàng; để trống ô chưa có số liệu. Xem cách điền ở trang “{GUIDE_SHEET}”."),
            &italic,
        )?;

        let unit_columns = self.unit_columns();
        let first_value_col = unit_columns.len() as u16;
        for (col, (label, code_name, width)) in unit_columns.iter().enumerate() {
            let col = col as u16;
            sheet.write_string_with_format(NAMES_ROW, col, *label, &header)?;
            sheet.write_string_with_format(CODE_ROW, col, *code_name, &code)?;
            sheet.set_column_width(col, *width)?;
        }
        for (i, element) in self.elements.iter().enumerate() {
            let col = first_value_col + i as u16;
            sheet.write_string_with_format(NAMES_ROW, col, &element.name_vi, &header)?;
            sheet.write_string_with_format(CODE_ROW, col, &element.code, &code)?;
            sheet.set_column_width(col, 15)?;
        }
        sheet.set_row_height(NAMES_ROW, 75)?;

        for (i, commune) in self.communes.iter().enumerate() {
            let row = FIRST_UNIT_ROW + i as u32;
            sheet.write_string_with_format(row, 0, &commune.code, &unit)?;
            sheet.write_string_with_format(row, 1, &commune.full_name, &unit)?;
            if self.with_districts() {
                let district_code = commune.district_code.as_deref().unwrap_or_default();
                let district_name = self.registry.get(self.epoch, district_code).map(|d| d.full_name.as_str()).unwrap_or_default();
                sheet.write_string_with_format(row, 2, district_code, &unit)?;
                sheet.write_string_with_format(row, 3, district_name, &unit)?;
            }
            for (j, element) in self.elements.iter().enumerate() {
                let col = first_value_col + j as u16;
                let format = if element.value_type == ValueType::Boolean { &boolean_input } else { &count_input };
                match values(&commune.code, &element.code) {
                    Some(v) => sheet.write_number_with_format(row, col, v, format)?,
                    None => sheet.write_blank(row, col, format)?,
                };
            }
        }

        let last_row = FIRST_UNIT_ROW + self.communes.len() as u32 - 1;
        for (j, element) in self.elements.iter().enumerate() {
            let col = first_value_col + j as u16;
            sheet.add_data_validation(FIRST_UNIT_ROW, col, last_row, col, &validation(element)?)?;
        }

        finish_form(sheet, (FIRST_UNIT_ROW, first_value_col), (NAMES_ROW, CODE_ROW))
    }

    fn write_guide(&self, sheet: &mut Worksheet) -> Result<()> {
        sheet.set_name(GUIDE_SHEET)?;
        let title = Format::new().set_bold().set_font_size(14);
        let bold = Format::new().set_bold();
        let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
        let header = Format::new().set_bold().set_background_color(Color::RGB(HEADER_FILL)).set_border(FormatBorder::Thin);
        let cell = Format::new().set_text_wrap().set_border(FormatBorder::Thin);

        let first_value_letter = if self.with_districts() { "E" } else { "C" };
        let lines = [
            format!("Biểu mẫu của {} (mã {}), kỳ báo cáo {} ({}).", self.province.full_name, self.province.code, self.period, period_name_vi(self.period)),
            format!(
                "1. Trang “{FORM_SHEET}” có một dòng cho mỗi xã, phường (trạm y tế) và một cột cho mỗi chỉ tiêu. \
                 Chỉ nhập số liệu vào các ô màu vàng, từ cột {first_value_letter}, dòng {} trở xuống.",
                FIRST_UNIT_ROW + 1
            ),
            "2. Chỉ tiêu đếm (số người, số lượt, số thôn…): nhập số nguyên từ 0 trở lên, không kèm đơn vị, chữ hay ghi chú.".to_string(),
            "3. Chỉ tiêu có/không (kiểu “0/1” trong bảng dưới đây): nhập 1 nếu có (đạt), 0 nếu không có (không đạt).".to_string(),
            "4. Để trống ô chưa có số liệu. Số 0 nghĩa là “không có”, không phải “chưa biết”.".to_string(),
            format!(
                "5. Không sửa mã xã (cột A), mã chỉ tiêu (dòng {}) và kỳ báo cáo (ô B{}); không xoá, chèn hay đổi thứ tự dòng, cột, \
                 không đổi tên trang. Các ô này đã được khoá để tránh sửa nhầm.",
                CODE_ROW + 1,
                PERIOD_ROW + 1
            ),
            "6. Không dán công thức hay giá trị có lỗi (#DIV/0!, #N/A…); không nhập ngày tháng vào ô số liệu.".to_string(),
            "7. Lưu tệp dưới dạng Excel (.xlsx), giữ nguyên tên trang, rồi gửi cho đơn vị tổng hợp số liệu (Trung tâm Y tế, Sở Y tế) \
             theo kênh đã được hướng dẫn. Có thể gửi lại tệp đã sửa: số liệu nhận sau cùng được dùng."
                .to_string(),
            "8. Mỗi ô sai sẽ được báo lại kèm vị trí (ví dụ “Ô E12 (trang Báo cáo)”) và lý do bằng tiếng Việt; các ô đúng vẫn được nhận.".to_string(),
        ];
        sheet.write_string_with_format(0, 0, "HƯỚNG DẪN ĐIỀN BIỂU MẪU", &title)?;
        let mut row = 2;
        for line in &lines {
            sheet.write_string_with_format(row, 0, line, &wrap)?;
            sheet.set_row_height(row, 32)?;
            row += 1;
        }
        row += 1;
        sheet.write_string_with_format(row, 0, "Danh sách chỉ tiêu", &bold)?;
        row += 1;
        for (col, label) in ["Tên chỉ tiêu", "Mã chỉ tiêu", "Kiểu giá trị"].iter().enumerate() {
            sheet.write_string_with_format(row, col as u16, *label, &header)?;
        }
        for element in self.elements {
            row += 1;
            let kind = match element.value_type {
                ValueType::Boolean => "0/1 (1 = có, 0 = không)",
                ValueType::Count => "số nguyên ≥ 0",
            };
            sheet.write_string_with_format(row, 0, &element.name_vi, &cell)?;
            sheet.write_string_with_format(row, 1, &element.code, &cell)?;
            sheet.write_string_with_format(row, 2, kind, &cell)?;
        }
        sheet.set_column_width(0, 100)?;
        sheet.set_column_width(1, 14)?;
        sheet.set_column_width(2, 26)?;
        sheet.set_paper_size(PAPER_A4).set_landscape().set_print_fit_to_pages(1, 0);
        sheet.protect();
        Ok(())
    }
}

/// The data validation of one value column, with its Vietnamese input and error messages.
fn validation(element: &DataElement) -> Result<DataValidation> {
    let (base, rule_vi, error_vi) = match element.value_type {
        ValueType::Count => (
            DataValidation::new().allow_whole_number(DataValidationRule::GreaterThanOrEqualTo(0)),
            "Nhập số nguyên từ 0 trở lên.",
            "Chỉ nhập số nguyên từ 0 trở lên (0, 1, 2, …), không nhập chữ hay số thập phân.",
        ),
        ValueType::Boolean => {
            (DataValidation::new().allow_list_strings(&["0", "1"])?, "Nhập 1 = có (đạt), 0 = không (không đạt).", "Chỉ nhập 1 (có) hoặc 0 (không).")
        }
    };
    let message = format!("{}\n{rule_vi} Để trống nếu chưa có số liệu.", element.name_vi);
    Ok(base
        .set_input_title(truncate_utf16(&element.code, 32))?
        .set_input_message(truncate_utf16(&message, 255))?
        .set_error_title("Giá trị không hợp lệ")?
        .set_error_message(error_vi)?
        .set_error_style(DataValidationErrorStyle::Stop))
}

/// `text` cut to at most `max` UTF-16 code units (Excel's unit for these limits), on a char boundary.
fn truncate_utf16(text: &str, max: usize) -> String {
    let mut units = 0;
    text.chars()
        .take_while(|c| {
            units += c.len_utf16();
            units <= max
        })
        .collect()
}

/// The cell formats the forms share (this report form and the plans' progress form).
pub(crate) struct FormStyles {
    /// The title in A1.
    pub title: Format,
    /// Labels.
    pub bold: Format,
    /// A key value of the form's head (the period code, the plan's code), boxed.
    pub key: Format,
    /// Notes and names.
    pub italic: Format,
    /// Column labels.
    pub header: Format,
    /// The code row the reader finds its columns by.
    pub code: Format,
}

impl FormStyles {
    pub(crate) fn new() -> FormStyles {
        FormStyles {
            title: Format::new().set_bold().set_font_size(14),
            bold: Format::new().set_bold(),
            key: Format::new().set_bold().set_font_size(12).set_background_color(Color::RGB(HEADER_FILL)).set_border(FormatBorder::Thin),
            italic: Format::new().set_italic(),
            header: Format::new()
                .set_bold()
                .set_text_wrap()
                .set_background_color(Color::RGB(HEADER_FILL))
                .set_border(FormatBorder::Thin)
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter),
            code: Format::new()
                .set_font_size(9)
                .set_font_color(Color::RGB(CODE_FONT))
                .set_background_color(Color::RGB(HEADER_FILL))
                .set_border(FormatBorder::Thin)
                .set_align(FormatAlign::Center),
        }
    }
}

/// What every form sheet ends with: panes frozen at `freeze` (row, column), the label and code
/// rows `repeat` printed on every page, A4 landscape one page wide with page numbers, and the
/// protection without a password that leaves only the unlocked cells editable (columns and rows may
/// still be resized).
pub(crate) fn finish_form(sheet: &mut Worksheet, freeze: (u32, u16), repeat: (u32, u32)) -> Result<()> {
    sheet.set_freeze_panes(freeze.0, freeze.1)?;
    sheet.set_repeat_rows(repeat.0, repeat.1)?;
    sheet.set_paper_size(PAPER_A4).set_landscape().set_print_fit_to_pages(1, 0);
    sheet.set_footer("&C&P / &N");
    sheet.protect_with_options(&ProtectionOptions { format_columns: true, format_rows: true, ..ProtectionOptions::default() });
    sheet.set_active(true);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_names() {
        let name = |code: &str| period_name_vi(&code.parse().unwrap());
        assert_eq!(name("202603"), "Tháng 3 năm 2026");
        assert_eq!(name("202612"), "Tháng 12 năm 2026");
        assert_eq!(name("2026Q1"), "Quý I năm 2026");
        assert_eq!(name("2026Q4"), "Quý IV năm 2026");
        assert_eq!(name("2026S1"), "6 tháng đầu năm 2026");
        assert_eq!(name("2026S2"), "6 tháng cuối năm 2026");
        assert_eq!(name("2026N9"), "9 tháng năm 2026");
        assert_eq!(name("2026"), "Năm 2026");
    }

    #[test]
    fn utf16_truncation() {
        assert_eq!(truncate_utf16("Dân số", 3), "Dân");
        assert_eq!(truncate_utf16("ab", 32), "ab");
    }
}
