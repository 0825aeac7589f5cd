//! The review as a sheet of the Excel report (`tonghop export report` adds one per plan covering
//! the unit, for a quarter, half-year, nine months or year): the indicators against the targets,
//! every task with its status (overdue first), the limitations and the directions to fill in — the
//! review's sections II to V, with the same cell conventions as the report's other sheets.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rust_xlsxwriter::{Color, Format, Worksheet};

use super::document::Review;
use crate::xlsx::{finish_sheet, write_table};
use crate::{Error, Result, SheetSpec};

/// `Nhiệm vụ NA_KH_2024`: the sheet of a plan's review (at most 31 characters).
pub fn sheet_name(review: &Review) -> String {
    crate::sanitize_sheet_name(&format!("Nhiệm vụ {}", review.plan_code))
}

fn strings(values: impl IntoIterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from(values.into_iter().collect::<Vec<_>>()))
}

/// Writes `review` on `sheet`.
///
/// # Errors
///
/// [`Error::Xlsx`] if the writer refuses a cell.
pub fn review_sheet(sheet: &mut Worksheet, review: &Review) -> Result<()> {
    let name = sheet_name(review);
    let indicators = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("value", DataType::Float64, true),
            Field::new("target", DataType::Utf8, false),
            Field::new("gap", DataType::Float64, true),
            Field::new("previous_year", DataType::Float64, true),
            Field::new("units_meeting", DataType::Int64, false),
            Field::new("units_with_value", DataType::Int64, false),
            Field::new("assessment", DataType::Utf8, false),
        ])),
        vec![
            strings(review.indicators.iter().map(|i| i.name.clone())),
            Arc::new(Float64Array::from(review.indicators.iter().map(|i| i.value).collect::<Vec<_>>())),
            strings(review.indicators.iter().map(|i| i.target.clone())),
            Arc::new(Float64Array::from(review.indicators.iter().map(|i| i.gap).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(review.indicators.iter().map(|i| i.previous_year).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(review.indicators.iter().map(|i| i.units_meeting).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(review.indicators.iter().map(|i| i.units_with_value).collect::<Vec<_>>())),
            strings(review.indicators.iter().map(|i| i.assessment.clone())),
        ],
    )?;
    let spec = SheetSpec::new(&name)
        .with_title(review.title.to_uppercase())
        .with_subtitle(format!(
            "Đơn vị: {} · Kỳ: {} · Tình hình nhiệm vụ tính đến ngày {}",
            review.unit_name,
            review.period_name,
            review.as_of.format("%d/%m/%Y")
        ))
        .with_line("II. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU")
        .with_headers([
            ("name", "Chỉ tiêu"),
            ("value", "Kết quả (%)"),
            ("target", "Mục tiêu"),
            ("gap", "Chênh lệch (điểm %)"),
            ("previous_year", "Cùng kỳ năm trước (%)"),
            ("units_meeting", "Số đơn vị đạt"),
            ("units_with_value", "Số đơn vị có số liệu"),
            ("assessment", "Đánh giá"),
        ])
        .with_number_format("value", "0.0")
        .with_number_format("gap", "+0.0;-0.0;0.0")
        .with_number_format("previous_year", "0.0");
    let first = write_table(sheet, 0, &[indicators], &spec)?;

    let tasks = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("number", DataType::Utf8, false),
            Field::new("content", DataType::Utf8, false),
            Field::new("lead", DataType::Utf8, false),
            Field::new("deadline", DataType::Utf8, false),
            Field::new("status", DataType::Utf8, false),
            Field::new("note", DataType::Utf8, false),
        ])),
        vec![
            strings(review.tasks.iter().map(|t| t.number.clone())),
            strings(review.tasks.iter().map(|t| t.content.clone())),
            strings(review.tasks.iter().map(|t| t.lead.clone())),
            strings(review.tasks.iter().map(|t| t.deadline.clone())),
            strings(review.tasks.iter().map(|t| t.status.clone())),
            strings(review.tasks.iter().map(|t| t.note.clone())),
        ],
    )?;
    let spec = SheetSpec::new(&name).with_line("III. TIẾN ĐỘ THỰC HIỆN CÁC NHIỆM VỤ").with_headers([
        ("number", "TT"),
        ("content", "Nội dung nhiệm vụ"),
        ("lead", "Cơ quan chủ trì"),
        ("deadline", "Thời hạn"),
        ("status", "Tình trạng"),
        ("note", "Ghi chú"),
    ]);
    let top = first.last_row + 2;
    let second = write_table(sheet, top, &[tasks], &spec)?;
    let at = |what: &str| format!("sheet {name:?}, {what}");
    let overdue = Format::new().set_bold().set_font_color(Color::RGB(0x9C0006)).set_border(rust_xlsxwriter::FormatBorder::Thin);
    for (i, task) in review.tasks.iter().enumerate().filter(|(_, t)| t.overdue) {
        sheet
            .write_string_with_format(second.header_row + 1 + i as u32, 4, &task.status, &overdue)
            .map_err(|source| Error::Xlsx { context: at("overdue status"), source })?;
    }

    let mut row = second.last_row + 2;
    let bold = Format::new().set_bold();
    let highlight = Format::new().set_background_color(Color::RGB(0xFFFF00));
    let mut line = |text: &str, format: Option<&Format>| -> Result<()> {
        match format {
            Some(f) => sheet.write_string_with_format(row, 0, text, f),
            None => sheet.write_string(row, 0, text),
        }
        .map_err(|source| Error::Xlsx { context: at("limitations and directions"), source })?;
        row += 1;
        Ok(())
    };
    line("IV. TỒN TẠI, HẠN CHẾ", Some(&bold))?;
    if review.limitations.is_empty() {
        line("Không có chỉ tiêu nào dưới mục tiêu và không có nhiệm vụ quá hạn.", None)?;
    }
    for l in &review.limitations {
        line(&format!("- {l}"), None)?;
    }
    line("", None)?;
    line("V. PHƯƠNG HƯỚNG, NHIỆM VỤ KỲ TỚI", Some(&bold))?;
    for d in &review.directions {
        line(d, Some(&highlight))?;
    }
    // Widths from both tables: the wider of each column.
    let widths: Vec<usize> = (0..first.widths.len().max(second.widths.len()))
        .map(|i| first.widths.get(i).copied().unwrap_or(0).max(second.widths.get(i).copied().unwrap_or(0)).min(60))
        .collect();
    finish_sheet(sheet, &crate::xlsx::Placed { widths, ..second })?;
    Ok(())
}
