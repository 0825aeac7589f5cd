//! The report's workbook: sheets, formats, colours and the charts.
//!
//! Tables go through the same writer as [`crate::to_xlsx`] (titles, header row, typed cells,
//! widths, frozen header, A4 landscape one page wide, header repeated on every page); this module
//! adds what a signed report needs on top: the title block, number formats per column, the target
//! written as `≥ 100%` while staying a number, cells coloured by target status, the totals row,
//! and the charts.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rust_xlsxwriter::{Chart, ChartType, Color, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet};

use super::{numbers, strings, IndicatorRow, ReportData, REPORT_TITLE};
use crate::xlsx::{finish_sheet, header_format, page_setup, save, write_table, Placed};
use crate::{Error, Result, SheetSpec};

/// Sheet names.
pub const SUMMARY_SHEET: &str = "Tổng hợp";
/// The breakdown by sub-unit.
pub const BREAKDOWN_SHEET: &str = "Theo đơn vị";
/// Completeness and timeliness.
pub const COMPLETENESS_SHEET: &str = "Đầy đủ - kịp thời";
/// Data quality.
pub const QUALITY_SHEET: &str = "Chất lượng số liệu";
/// Charts.
pub const CHART_SHEET: &str = "Biểu đồ";
/// Rows the administrative frame takes above the summary's title block (three lines and a gap).
pub const FRAME_ROWS: u32 = 4;

/// Percent values (0–100) with one decimal.
const PERCENT: &str = "0.0";
/// Percentage points with a sign.
const POINTS: &str = "+0.0;-0.0;0.0";
/// Counts.
const COUNT: &str = "#,##0";
/// Rows taken by one chart (360 px at 20 px a row, and a gap); two charts per printed page.
const CHART_ROWS: u32 = 19;
/// The first column of the charts' data, right of the charts (900 px ≈ 14 default columns).
const CHART_DATA_COL: u16 = 16;
/// Width of an indicator column of the breakdown (its header wraps).
const INDICATOR_WIDTH: f64 = 13.0;

/// Fill and font colours of a target status: met green, not met red, no data grey.
fn status_colors(status: &str) -> (u32, u32) {
    match status {
        "met" => (0xC6EFCE, 0x006100),
        "not_met" => (0xFFC7CE, 0x9C0006),
        _ => (0xEDEDED, 0x595959),
    }
}

fn cell_border(format: Format) -> Format {
    format.set_border(FormatBorder::Thin)
}

fn status_format(status: &str, number_format: Option<&str>, bold: bool) -> Format {
    let (fill, font) = status_colors(status);
    let mut format = cell_border(Format::new().set_background_color(Color::RGB(fill)).set_font_color(Color::RGB(font)));
    if let Some(code) = number_format {
        format = format.set_num_format(code);
    }
    if bold {
        format = format.set_bold();
    }
    format
}

/// `> 95%` or `≥ 100%` as a number format, so the target stays the number 95 or 100.
fn target_format(comparison: Option<&str>) -> Format {
    let sign = match comparison {
        Some(">=") => "≥ ",
        Some("<=") => "≤ ",
        Some(">") => "> ",
        Some("<") => "< ",
        Some("=") => "= ",
        _ => "",
    };
    cell_border(Format::new().set_num_format(format!("\"{sign}\"0\"%\"")).set_align(FormatAlign::Right))
}

fn xlsx_err(table: &Placed, what: &str) -> impl Fn(rust_xlsxwriter::XlsxError) -> Error + use<> {
    let context = table.at(what);
    move |source| Error::Xlsx { context: context.clone(), source }
}

/// The title block shared by every sheet: `title`, the unit, the period, the date produced.
fn spec(data: &ReportData, sheet: &str, title: &str) -> SheetSpec {
    SheetSpec::new(sheet)
        .with_title(title)
        .with_subtitle(format!("Đơn vị báo cáo: {}", data.scope.unit_label()))
        .with_line(format!("Kỳ báo cáo: {}", data.scope.period.name_vi()))
        .with_line(format!("Ngày lập báo cáo: {}", data.produced_on.format("%d/%m/%Y")))
}

/// Builds the whole workbook.
pub(super) fn workbook(data: &ReportData) -> Result<Vec<u8>> {
    let mut workbook = Workbook::new();
    let record = serde_json::to_string(&data.versions).unwrap_or_default();
    let at = data.produced_at;
    let created = ExcelDateTime::from_timestamp(at.timestamp()).map_err(|source| Error::Xlsx { context: "document properties".into(), source })?;
    workbook.set_properties(
        &DocProperties::new()
            .set_title(REPORT_TITLE)
            .set_subject(format!("{} · {}", data.scope.unit_label(), data.scope.period.name_vi()))
            .set_author("tonghop")
            .set_creation_datetime(&created)
            .set_custom_property("tonghop.produced_at", at.to_rfc3339().as_str())
            .set_custom_property("tonghop.versions", record.as_str()),
    );

    summary_sheet(workbook.add_worksheet(), data)?;
    breakdown_sheet(workbook.add_worksheet(), data)?;
    completeness_sheet(workbook.add_worksheet(), data)?;
    let quality_spec = spec(data, QUALITY_SHEET, "CHẤT LƯỢNG SỐ LIỆU: CÁC GIÁ TRỊ CẦN KIỂM TRA LẠI")
        .with_headers([
            ("month", "Tháng"),
            ("org_unit", "Mã xã"),
            ("org_unit_name", "Xã/Phường"),
            ("check_name", "Loại kiểm tra"),
            ("subject", "Quy tắc / chỉ số"),
            ("importance_name", "Mức độ"),
            ("value", "Giá trị"),
            ("compared_with", "So với"),
            ("message_vi", "Nội dung"),
            ("message", "Ghi chú"),
        ])
        .with_number_format("value", "#,##0.##")
        .with_number_format("compared_with", "#,##0.##");
    let sheet = workbook.add_worksheet();
    let quality = non_empty(&data.quality, "Không có phát hiện nào về chất lượng số liệu trong kỳ.");
    let table = write_table(sheet, 0, &quality, &quality_spec)?;
    finish_sheet(sheet, &table)?;
    chart_sheet(workbook.add_worksheet(), data)?;
    for review in &data.reviews {
        crate::review::sheet::review_sheet(workbook.add_worksheet(), review)?;
    }
    save(&mut workbook, SUMMARY_SHEET)
}

/// The batches, or one row with `message` in the first column when there are none (an empty
/// table prints as a bare header otherwise).
fn non_empty(batches: &[RecordBatch], message: &str) -> Vec<RecordBatch> {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    if rows > 0 || batches.is_empty() && message.is_empty() {
        return batches.to_vec();
    }
    let schema = Arc::new(Schema::new(vec![Field::new("message", DataType::Utf8, false)]));
    vec![RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec![message])) as ArrayRef]).expect("one column")]
}

fn indicator_batch(rows: &[IndicatorRow]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("indicator_name", DataType::Utf8, false),
        Field::new("target", DataType::Float64, true),
        Field::new("value", DataType::Float64, true),
        Field::new("value_previous_year", DataType::Float64, true),
        Field::new("change", DataType::Float64, true),
        Field::new("assessment", DataType::Utf8, false),
        Field::new("numerator", DataType::Float64, true),
        Field::new("denominator", DataType::Float64, true),
    ]));
    let f = |get: fn(&IndicatorRow) -> Option<f64>| Arc::new(Float64Array::from(rows.iter().map(get).collect::<Vec<_>>())) as ArrayRef;
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(rows.iter().map(|r| r.indicator_name.as_str()).collect::<Vec<_>>())),
            f(|r| r.target),
            f(|r| r.value),
            f(|r| r.value_previous_year),
            f(|r| r.change),
            Arc::new(StringArray::from(rows.iter().map(|r| r.assessment.as_str()).collect::<Vec<_>>())),
            f(|r| r.numerator),
            f(|r| r.denominator),
        ],
    )
    .expect("columns match the schema")
}

/// Sheet 1: one row per indicator.
fn summary_sheet(sheet: &mut Worksheet, data: &ReportData) -> Result<()> {
    let previous = data.scope.period.previous_year().map(|p| p.name_vi()).unwrap_or_default();
    let spec = spec(data, SUMMARY_SHEET, REPORT_TITLE)
        .with_headers([
            ("indicator_name", "Chỉ tiêu".to_string()),
            ("target", "Mục tiêu đến năm 2030".to_string()),
            ("value", format!("Kết quả kỳ báo cáo (%)\n{}", data.scope.period.name_vi())),
            ("value_previous_year", format!("Cùng kỳ năm trước (%)\n{previous}")),
            ("change", "Tăng/giảm so với cùng kỳ (điểm %)".to_string()),
            ("assessment", "Đánh giá".to_string()),
            ("numerator", "Tử số".to_string()),
            ("denominator", "Mẫu số".to_string()),
        ])
        .with_number_format("target", "0")
        .with_number_format("value", PERCENT)
        .with_number_format("value_previous_year", PERCENT)
        .with_number_format("change", POINTS)
        .with_number_format("numerator", COUNT)
        .with_number_format("denominator", COUNT);
    let top = if data.frame.is_some() { FRAME_ROWS } else { 0 };
    if top > 0 {
        sheet.set_name(SUMMARY_SHEET).map_err(|source| Error::Xlsx { context: format!("sheet {SUMMARY_SHEET:?}, name"), source })?;
    }
    let table = write_table(sheet, top, &[indicator_batch(&data.summary)], &spec)?;
    let first = table.header_row + 1;
    let (target_col, assessment_col, value_col) =
        (table.column("target").expect("written"), table.column("assessment").expect("written"), table.column("value").expect("written"));
    for (i, row) in data.summary.iter().enumerate() {
        let r = first + i as u32;
        if let Some(target) = row.target {
            sheet.write_number_with_format(r, target_col, target, &target_format(row.target_comparison.as_deref())).map_err(xlsx_err(&table, "target"))?;
        }
        if let Some(value) = row.value {
            sheet.write_number_with_format(r, value_col, value, &status_format(&row.status, Some(PERCENT), true)).map_err(xlsx_err(&table, "value"))?;
        }
        sheet
            .write_string_with_format(r, assessment_col, &row.assessment, &status_format(&row.status, None, true).set_align(FormatAlign::Center))
            .map_err(xlsx_err(&table, "assessment"))?;
    }
    let mut widths = table.widths.clone();
    widths[target_col as usize] = 12;
    let table = Placed { widths, ..table };
    finish_sheet(sheet, &table)?;
    sheet.set_row_height(table.header_row, 48).map_err(xlsx_err(&table, "header height"))?;
    for col in 1..table.columns.len() as u16 {
        sheet.set_column_width(col, 16).map_err(xlsx_err(&table, "widths"))?;
    }
    // How figures carried across the 2025 reform were obtained, below the table.
    let note = Format::new().set_italic().set_text_wrap().set_align(FormatAlign::Top);
    let last_col = table.columns.len().saturating_sub(1) as u16;
    let footnotes = data.scope.reform_footnote(&data.summary);
    for (i, line) in footnotes.iter().enumerate() {
        let row = table.last_row + 2 + i as u32;
        sheet.merge_range(row, 0, row, last_col, line, &note).map_err(xlsx_err(&table, "reform footnote"))?;
        sheet.set_row_height(row, 32).map_err(xlsx_err(&table, "reform footnote height"))?;
    }
    if let Some(frame) = &data.frame {
        let at = |what: &str| table.at(what);
        write_frame(sheet, frame, data.produced_on, last_col, &at)?;
        write_signatures(sheet, frame, table.last_row + 3 + footnotes.len() as u32, last_col, &at)?;
    }
    Ok(())
}

/// The top of a document sent upward (Decree 30/2020/NĐ-CP): the issuing body and its superior
/// on the left, the national motto on the right, the number and the place-and-date line under
/// them. Written on rows `0..FRAME_ROWS` of a sheet whose table starts below.
pub(crate) fn write_frame(
    sheet: &mut Worksheet,
    frame: &tonghop_core::frames::UnitFrame,
    date: chrono::NaiveDate,
    last_col: u16,
    at: &dyn Fn(&str) -> String,
) -> Result<()> {
    let err = |what: &'static str| move |source| Error::Xlsx { context: at(what), source };
    let centred = Format::new().set_align(FormatAlign::Center).set_font_name("Times New Roman").set_font_size(12);
    let bold = centred.clone().set_bold();
    let italic = centred.clone().set_italic();
    let (left_end, right_start) = (1.min(last_col), 3.min(last_col));
    let lines: [(&str, &Format, &str, &Format); 3] = [
        (frame.parent_body.as_str(), &centred, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", &bold),
        (frame.issuing_body.as_str(), &bold, "Độc lập - Tự do - Hạnh phúc", &bold),
        (frame.number_line.as_str(), &centred, "", &italic),
    ];
    let date_line = format!("{}, {}", frame.place, tonghop_core::plans::date_line(date));
    for (row, (left, left_format, right, right_format)) in lines.into_iter().enumerate() {
        let row = row as u32;
        let right = if row == 2 { date_line.as_str() } else { right };
        sheet.merge_range(row, 0, row, left_end, left, left_format).map_err(err("frame, issuing body"))?;
        sheet.merge_range(row, right_start, row, last_col.max(right_start), right, right_format).map_err(err("frame, national motto"))?;
    }
    Ok(())
}

/// The signatures under the figures: the preparer on the left, the head of the unit on the right,
/// with room to sign and the names (blank lines when none is configured).
pub(crate) fn write_signatures(
    sheet: &mut Worksheet,
    frame: &tonghop_core::frames::UnitFrame,
    row: u32,
    last_col: u16,
    at: &dyn Fn(&str) -> String,
) -> Result<()> {
    let err = |what: &'static str| move |source| Error::Xlsx { context: at(what), source };
    let bold = Format::new().set_align(FormatAlign::Center).set_bold().set_font_name("Times New Roman").set_font_size(12);
    let italic = Format::new().set_align(FormatAlign::Center).set_italic().set_font_name("Times New Roman").set_font_size(11);
    let right_start = 3.min(last_col);
    let right_end = last_col.max(right_start);
    if !frame.preparer_title.is_empty() {
        sheet.merge_range(row, 0, row, 1.min(last_col), &frame.preparer_title, &bold).map_err(err("signatures, preparer"))?;
        sheet.merge_range(row + 4, 0, row + 4, 1.min(last_col), &frame.preparer_name, &bold).map_err(err("signatures, preparer's name"))?;
    }
    sheet.merge_range(row, right_start, row, right_end, &frame.signer_title, &bold).map_err(err("signatures, signer"))?;
    sheet.merge_range(row + 1, right_start, row + 1, right_end, "(Ký, ghi rõ họ tên, đóng dấu)", &italic).map_err(err("signatures, note"))?;
    sheet.merge_range(row + 4, right_start, row + 4, right_end, &frame.signer_name, &bold).map_err(err("signatures, signer's name"))?;
    Ok(())
}

/// The breakdown as a table: code, name, then one column per indicator; the sub-units, then the
/// unit itself as the totals row. Returns the statuses in the same layout (for the colours).
fn breakdown_table(data: &ReportData) -> (RecordBatch, Vec<Vec<String>>) {
    let mut units: Vec<(String, String)> = Vec::new();
    for row in &data.breakdown {
        if units.last().is_none_or(|(code, _)| *code != row.unit_code) {
            units.push((row.unit_code.clone(), row.unit_name.clone()));
        }
    }
    units.push((data.scope.unit.code.clone(), data.scope.totals_label()));
    let find = |unit: &str, indicator: &str, totals: bool| -> Option<&IndicatorRow> {
        if totals {
            data.summary.iter().find(|r| r.indicator == indicator)
        } else {
            data.breakdown.iter().find(|r| r.unit_code == unit && r.indicator == indicator)
        }
    };
    let last = units.len() - 1;
    let mut fields = vec![Field::new("unit_code", DataType::Utf8, false), Field::new("unit_name", DataType::Utf8, false)];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(units.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>())),
        Arc::new(StringArray::from(units.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>())),
    ];
    let mut statuses = vec![Vec::new(); units.len()];
    for (code, _) in &data.indicators {
        fields.push(Field::new(code, DataType::Float64, true));
        let mut values = Vec::new();
        for (i, (unit, _)) in units.iter().enumerate() {
            let row = find(unit, code, i == last);
            values.push(row.and_then(|r| r.value));
            statuses[i].push(row.map_or("no_data".to_string(), |r| r.status.clone()));
        }
        columns.push(Arc::new(Float64Array::from(values)));
    }
    (RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match the schema"), statuses)
}

/// Sheet 2: the sub-units' values coloured by target status, the unit's value as totals row.
fn breakdown_sheet(sheet: &mut Worksheet, data: &ReportData) -> Result<()> {
    let (batch, statuses) = breakdown_table(data);
    let mut spec = spec(data, BREAKDOWN_SHEET, &format!("KẾT QUẢ CÁC CHỈ TIÊU THEO {} (%)", data.scope.sub_level_label().to_uppercase()))
        .with_header("unit_code", "Mã")
        .with_header("unit_name", data.scope.sub_level_label());
    for (code, name) in &data.indicators {
        spec = spec.with_header(code, name).with_number_format(code, PERCENT);
    }
    let table = write_table(sheet, 0, std::slice::from_ref(&batch), &spec)?;
    let first = table.header_row + 1;
    let last = batch.num_rows() - 1;
    for (i, unit_statuses) in statuses.iter().enumerate() {
        let r = first + i as u32;
        let totals = i == last;
        for (j, status) in unit_statuses.iter().enumerate() {
            let col = 2 + j as u16;
            let values = numbers(&batch, &data.indicators[j].0)?;
            let format = status_format(status, Some(PERCENT), totals);
            match values[i] {
                Some(v) => sheet.write_number_with_format(r, col, v, &format),
                None => sheet.write_blank(r, col, &format),
            }
            .map_err(xlsx_err(&table, "value"))?;
        }
        if totals {
            let bold = cell_border(Format::new().set_bold());
            let names = strings(&batch, "unit_name")?;
            sheet.write_string_with_format(r, 0, &data.scope.unit.code, &bold).map_err(xlsx_err(&table, "totals"))?;
            sheet.write_string_with_format(r, 1, names[i].as_deref().unwrap_or_default(), &bold).map_err(xlsx_err(&table, "totals"))?;
        }
    }
    // A legend under the table.
    let legend = table.last_row + 2;
    for (k, (status, text)) in [("met", "Đạt mục tiêu 2030"), ("not_met", "Chưa đạt mục tiêu 2030"), ("no_data", "Không có số liệu")].iter().enumerate()
    {
        sheet.write_string_with_format(legend + k as u32, 1, *text, &status_format(status, None, false)).map_err(xlsx_err(&table, "legend"))?;
    }
    finish_sheet(sheet, &table)?;
    for j in 0..data.indicators.len() {
        sheet.set_column_width(2 + j as u16, INDICATOR_WIDTH).map_err(xlsx_err(&table, "widths"))?;
    }
    sheet.set_column_width(0, 8).map_err(xlsx_err(&table, "widths"))?;
    sheet.set_row_height(table.header_row, 105).map_err(xlsx_err(&table, "header height"))?;
    sheet.set_freeze_panes(table.header_row + 1, 2).map_err(xlsx_err(&table, "freeze panes"))?;
    Ok(())
}

/// Sheet 3: completeness per sub-unit and in total, then the communes that did not report.
fn completeness_sheet(sheet: &mut Worksheet, data: &ReportData) -> Result<()> {
    let counts = ["reports_expected", "reports_received", "reports_on_time", "reports_late", "reports_missing", "reports_pending"];
    let mut spec = spec(data, COMPLETENESS_SHEET, "TÍNH ĐẦY ĐỦ VÀ KỊP THỜI CỦA BÁO CÁO").with_headers([
        ("unit_code", "Mã"),
        ("unit_name", data.scope.sub_level_label()),
        ("reports_expected", "Số báo cáo phải nộp"),
        ("reports_received", "Đã nhận"),
        ("reports_on_time", "Đúng hạn"),
        ("reports_late", "Muộn"),
        ("reports_missing", "Không nộp (quá hạn)"),
        ("reports_pending", "Chưa đến hạn"),
        ("completeness_pct", "Tỷ lệ đầy đủ (%)"),
        ("timeliness_pct", "Tỷ lệ đúng hạn (%)"),
    ]);
    for c in counts {
        spec = spec.with_number_format(c, COUNT);
    }
    spec = spec.with_number_format("completeness_pct", PERCENT).with_number_format("timeliness_pct", PERCENT);
    let table = write_table(sheet, 0, &data.completeness, &spec)?;
    // The last row is the unit itself: label and bold it as the totals row.
    let rows: usize = data.completeness.iter().map(|b| b.num_rows()).sum();
    if rows > 0 {
        let r = table.last_row;
        let bold = Format::new().set_bold();
        sheet.write_string_with_format(r, 1, data.scope.totals_label(), &bold).map_err(xlsx_err(&table, "totals"))?;
        for batch in data.completeness.iter().rev().take(1) {
            let last = batch.num_rows() - 1;
            for (j, name) in table.columns.iter().enumerate().skip(2) {
                if let Some(v) = numbers(batch, name)?[last] {
                    let code = if name.ends_with("_pct") { PERCENT } else { COUNT };
                    sheet.write_number_with_format(r, j as u16, v, &bold.clone().set_num_format(code)).map_err(xlsx_err(&table, "totals"))?;
                }
            }
        }
    }

    let missing_top = table.last_row + 3;
    let missing_spec = SheetSpec::new(COMPLETENESS_SHEET).with_title("DANH SÁCH XÃ CHƯA BÁO CÁO (ĐÃ QUÁ HẠN)").with_headers([
        ("month", "Tháng"),
        ("province_name", "Tỉnh/Thành phố"),
        ("district_name", "Huyện/Quận"),
        ("commune_code", "Mã xã"),
        ("commune_name", "Xã/Phường"),
        ("deadline_date", "Hạn nộp"),
        ("message", "Ghi chú"),
    ]);
    let missing = non_empty(&data.missing, "Tất cả các xã đã gửi báo cáo.");
    let list = write_table(sheet, missing_top, &missing, &missing_spec)?;
    let widths = (0..table.widths.len().max(list.widths.len()))
        .map(|i| table.widths.get(i).copied().unwrap_or(0).max(list.widths.get(i).copied().unwrap_or(0)))
        .collect();
    let table = Placed { widths, ..table };
    finish_sheet(sheet, &table)?;
    sheet.set_row_height(table.header_row, 32).map_err(xlsx_err(&table, "header height"))?;
    Ok(())
}

/// The charts: per indicator, the sub-units' values as columns and the target as a line, one
/// under the other on the left (the print area); their data sits in a table to the right
/// (sub-unit, then value and target per indicator).
fn chart_sheet(sheet: &mut Worksheet, data: &ReportData) -> Result<()> {
    let name = crate::sanitize_sheet_name(CHART_SHEET);
    let fail = |what: &str| {
        let context = format!("sheet {name:?}, {what}");
        move |source| Error::Xlsx { context: context.clone(), source }
    };
    sheet.set_name(&name).map_err(fail("sheet name"))?;
    let (batch, _) = breakdown_table(data);
    let units = batch.num_rows().saturating_sub(1); // without the totals row
    let names = strings(&batch, "unit_name")?;
    let header = header_format();
    sheet.write_string_with_format(0, CHART_DATA_COL, "Đơn vị", &header).map_err(fail("header"))?;
    for (i, n) in names.iter().take(units).enumerate() {
        sheet.write_string(1 + i as u32, CHART_DATA_COL, n.as_deref().unwrap_or_default()).map_err(fail("names"))?;
    }
    sheet.set_column_width(CHART_DATA_COL, 28).map_err(fail("widths"))?;
    let percent = Format::new().set_num_format(PERCENT);
    let name_col = CHART_DATA_COL;
    for (k, (code, indicator_name)) in data.indicators.iter().enumerate() {
        let (value_col, target_col) = (CHART_DATA_COL + 1 + 2 * k as u16, CHART_DATA_COL + 2 + 2 * k as u16);
        sheet.write_string_with_format(0, value_col, format!("{code} (%)"), &header).map_err(fail("header"))?;
        sheet.write_string_with_format(0, target_col, format!("{code}: mục tiêu"), &header).map_err(fail("header"))?;
        let values = numbers(&batch, code)?;
        let target = data.summary.iter().find(|r| &r.indicator == code).and_then(|r| r.target);
        for (i, value) in values.iter().take(units).enumerate() {
            if let Some(v) = *value {
                sheet.write_number_with_format(1 + i as u32, value_col, v, &percent).map_err(fail("values"))?;
            }
            if let Some(t) = target {
                sheet.write_number_with_format(1 + i as u32, target_col, t, &percent).map_err(fail("targets"))?;
            }
        }
        if units == 0 {
            continue;
        }
        let last = units as u32;
        let mut chart = Chart::new(ChartType::Column);
        chart.title().set_name(indicator_name);
        chart
            .add_series()
            .set_name(format!("Kết quả {}", data.scope.period.name_vi()).as_str())
            .set_categories((name.as_str(), 1, name_col, last, name_col))
            .set_values((name.as_str(), 1, value_col, last, value_col));
        chart.y_axis().set_name("%").set_min(0);
        let mut line = Chart::new(ChartType::Line);
        line.add_series()
            .set_name("Mục tiêu 2030")
            .set_categories((name.as_str(), 1, name_col, last, name_col))
            .set_values((name.as_str(), 1, target_col, last, target_col))
            .set_format(rust_xlsxwriter::ChartLine::new().set_color(Color::RGB(0xC00000)).set_width(2.0));
        chart.combine(&line);
        chart.set_width(900).set_height(360);
        chart.legend().set_position(rust_xlsxwriter::ChartLegendPosition::Bottom);
        sheet.insert_chart(k as u32 * CHART_ROWS, 0, &chart).map_err(fail("chart"))?;
    }
    page_setup(sheet);
    let charts = data.indicators.len().max(1) as u32;
    let breaks: Vec<u32> = (1..charts.div_ceil(2)).map(|page| page * 2 * CHART_ROWS).collect();
    sheet.set_page_breaks(&breaks).map_err(fail("page breaks"))?;
    sheet.set_print_area(0, 0, charts * CHART_ROWS - 1, CHART_DATA_COL - 2).map_err(fail("print area"))?;
    Ok(())
}
