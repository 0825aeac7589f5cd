//! The review as a Word document in the administrative format of Decree 30/2020/NĐ-CP (Appendix I):
//! A4, margins 20 / 20 / 30 / 15 mm (top, bottom, left, right), Times New Roman, 14 pt justified
//! body text, the two-column heading (issuing body and number line on the left, national name,
//! motto and place-and-date line on the right), the kind and title centred in bold, sections I–V,
//! the "Nơi nhận" list and signature, the page number centred in the top margin from page 2 on, and
//! the two appendices on landscape pages.
//!
//! docx-rs 0.4.22 cannot mark a table row as a header row (repeated on each page) nor set the
//! document title of the core properties; [`package`] adds both to the XML parts docx-rs renders,
//! before they are zipped.

use std::io::Cursor;

use chrono::NaiveDate;
use docx_rs::{
    AlignmentType, BorderType, BuildXML, Docx, Header, HeightRule, LineSpacing, LineSpacingType, PageMargin, PageNum, PageOrientationType, PageSize, Paragraph,
    ParagraphBorder, ParagraphBorderPosition, ParagraphBorders, Run, RunFonts, Section, SpecialIndentType, Table, TableAlignmentType, TableBorder,
    TableBorderPosition, TableCell, TableLayoutType, TableRow, TableRowProperty, VAlignType, WidthType, XMLDocx,
};

use tonghop_core::text::{decimal_vi as decimal, integer_vi as integer};

use super::document::{AgencyReport, CompletenessLine, Frame, IndicatorResult, Review, TaskLine, TaskWork, UnitTable};
use crate::{Error, Result};

/// The font of every run (Decree 30: Times New Roman, Unicode TCVN 6909:2001).
const FONT: &str = "Times New Roman";

/// A4, in twips (1/20 pt).
const A4_WIDTH: u32 = 11906;
/// A4, in twips.
const A4_HEIGHT: u32 = 16838;
/// Margins in twips: 20 mm top and bottom, 30 mm left, 15 mm right.
const MARGIN_TOP: i32 = 1134;
/// 20 mm.
const MARGIN_BOTTOM: i32 = 1134;
/// 30 mm.
const MARGIN_LEFT: i32 = 1701;
/// 15 mm.
const MARGIN_RIGHT: i32 = 850;
/// Distance of the header (the page number) from the top edge: 10 mm.
const HEADER_DISTANCE: i32 = 567;
/// The width of the text on a portrait page.
const PORTRAIT_TEXT: usize = (A4_WIDTH as i32 - MARGIN_LEFT - MARGIN_RIGHT) as usize;
/// The width of the text on a landscape page.
const LANDSCAPE_TEXT: usize = (A4_HEIGHT as i32 - MARGIN_LEFT - MARGIN_RIGHT) as usize;
/// Word's default left and right cell margins together (108 twips each).
const CELL_PADDING: usize = 216;

/// The body text, 14 pt (this and the sizes below are in half-points).
const BODY_SIZE: usize = 28;
/// The heading block (issuing body, number line, motto).
const HEADING_SIZE: usize = 26;
/// The national name, `CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM`.
const NATION_SIZE: usize = 24;
/// Tables of the body.
const TABLE_SIZE: usize = 24;
/// Tables of the appendices.
const APPENDIX_SIZE: usize = 22;
/// Appendix 2 when it has many indicator columns.
const WIDE_APPENDIX_SIZE: usize = 20;
/// `Nơi nhận:`.
const RECIPIENTS_LABEL_SIZE: usize = 24;
/// The recipients.
const RECIPIENTS_SIZE: usize = 22;

/// Body paragraphs: first line indented 1 cm, 6 pt after, 1.2 lines.
const FIRST_LINE_INDENT: i32 = 567;
/// 6 pt, in twips.
const SPACE_AFTER: u32 = 120;
/// 1.2 lines, in 240ths of a line.
const BODY_LINE: i32 = 288;

/// The minimum height of a table header row (5 mm). Header rows are the only rows built with this
/// height and `cantSplit`: [`repeat_header_rows`] finds them by it.
const HEADER_ROW_HEIGHT: f32 = 283.0;

/// The national name.
const NATION: &str = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM";
/// The motto.
const MOTTO: &str = "Độc lập - Tự do - Hạnh phúc";
/// The width of the motto in 13 pt Times New Roman bold (12.2 em), which the line under it spans.
const MOTTO_WIDTH: usize = 3172;
/// What a missing value, gap or target prints as.
const NONE: &str = "–";

/// Writes `review` as a Word document (.docx) in the format of Decree 30/2020/NĐ-CP.
///
/// Text is written byte for byte as given (NFC upstream). Numbers are written the Vietnamese way
/// (`95,3`, `1.234`, `+0,3`), `–` standing for no value.
///
/// # Errors
///
/// [`Error::Docx`] when docx-rs cannot render or zip the document.
pub fn to_docx(review: &Review) -> Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    package(review)?.pack(&mut out).map_err(|e| Error::Docx(e.to_string()))?;
    deflate(&out.into_inner())
}

/// The same archive with every part deflated: docx-rs stores its parts uncompressed, and the
/// review's tables make `document.xml` about a megabyte (some 60 KB deflated), too much to attach
/// to the mail it is sent with.
fn deflate(stored: &[u8]) -> Result<Vec<u8>> {
    use std::io::{Read, Write};
    let fail = |e: &dyn std::fmt::Display| Error::Docx(format!("compressing the document: {e}"));
    let mut archive = zip::ZipArchive::new(Cursor::new(stored)).map_err(|e| fail(&e))?;
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| fail(&e))?;
        let name = entry.name().map_err(|e| fail(&e))?.to_string();
        if entry.is_dir() {
            writer.add_directory(name, options).map_err(|e| fail(&e))?;
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| fail(&e))?;
        writer.start_file(name, options).map_err(|e| fail(&e))?;
        writer.write_all(&bytes).map_err(|e| fail(&e))?;
    }
    Ok(writer.finish().map_err(|e| fail(&e))?.into_inner())
}

/// The rendered XML parts of the document, with the header rows marked and the title set.
fn package(review: &Review) -> Result<XMLDocx> {
    let mut parts = document(review).build();
    parts.document = repeat_header_rows(parts.document)?;
    parts.doc_props.core = with_title(parts.doc_props.core, &review.title)?;
    Ok(parts)
}

/// The document: a portrait section with the report, then the landscape section of the appendices.
fn document(review: &Review) -> Docx {
    let date = review.frame.date.format("%Y-%m-%dT00:00:00Z").to_string();
    let mut report = Section::new().page_size(PageSize::new().size(A4_WIDTH, A4_HEIGHT)).page_margin(margins()).title_pg().header(page_number_header());
    for block in report_blocks(review) {
        report = match block {
            Block::Paragraph(p) => report.add_paragraph(*p),
            Block::Table(t) => report.add_table(*t),
        };
    }
    let mut docx = Docx::new()
        .default_fonts(RunFonts::new().ascii(FONT).hi_ansi(FONT).east_asia(FONT).cs(FONT))
        .default_size(BODY_SIZE)
        .default_line_spacing(LineSpacing::new().before(0).after(0).line(240).line_rule(LineSpacingType::Auto))
        .created_at(&date)
        .updated_at(&date)
        .add_section(report)
        .page_size(A4_HEIGHT, A4_WIDTH)
        .page_orient(PageOrientationType::Landscape)
        .page_margin(margins())
        .header(page_number_header());
    for block in appendix_blocks(review) {
        docx = match block {
            Block::Paragraph(p) => docx.add_paragraph(*p),
            Block::Table(t) => docx.add_table(*t),
        };
    }
    docx
}

/// One paragraph or table of the body.
enum Block {
    /// A paragraph (boxed, as docx-rs's sections box them: about 2.4 kB).
    Paragraph(Box<Paragraph>),
    /// A table (boxed: about 600 bytes).
    Table(Box<Table>),
}

impl From<Paragraph> for Block {
    fn from(p: Paragraph) -> Self {
        Block::Paragraph(Box::new(p))
    }
}

impl From<Table> for Block {
    fn from(t: Table) -> Self {
        Block::Table(Box::new(t))
    }
}

/// The page margins of both sections.
fn margins() -> PageMargin {
    PageMargin::new().top(MARGIN_TOP).bottom(MARGIN_BOTTOM).left(MARGIN_LEFT).right(MARGIN_RIGHT).header(HEADER_DISTANCE).footer(HEADER_DISTANCE).gutter(0)
}

/// The page number, centred in the top margin (the report section leaves it off its first page).
fn page_number_header() -> Header {
    Header::new().add_paragraph(Paragraph::new().align(AlignmentType::Center).add_page_num(PageNum::new()))
}

/// The report, from the heading block to the signatures.
fn report_blocks(review: &Review) -> Vec<Block> {
    let mut blocks = vec![heading_block(&review.frame).into()];
    blocks.push(centred(vec![run(&review.kind).bold()]).line_spacing(spacing(360, 0)).into());
    blocks.push(centred(vec![run(&review.title).bold()]).into());
    let title_width = text_width(&review.title, BODY_SIZE, 0.47).min(PORTRAIT_TEXT);
    blocks.push(short_line(title_width * 2 / 5, PORTRAIT_TEXT).line_spacing(spacing(0, 240)).into());
    blocks.push(body(vec![run(&review.opening)]).into());

    blocks.push(section_heading("I. CÔNG TÁC LÃNH ĐẠO, CHỈ ĐẠO, TUYÊN TRUYỀN, PHỔ BIẾN").into());
    blocks.extend(work_paragraphs(&review.work).into_iter().map(Block::from));

    blocks.push(section_heading("II. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU").into());
    blocks.push(if review.indicators.is_empty() {
        body(vec![run("Trong kỳ chưa có số liệu chỉ tiêu.")]).into()
    } else {
        indicator_table(&review.indicators).into()
    });

    blocks.push(section_heading("III. TIẾN ĐỘ THỰC HIỆN CÁC NHIỆM VỤ").into());
    blocks.push(if review.tasks.is_empty() { body(vec![run("Kế hoạch chưa có nhiệm vụ nào.")]).into() } else { task_table(&review.tasks).into() });

    blocks.push(section_heading("IV. TỒN TẠI, HẠN CHẾ").into());
    if review.limitations.is_empty() {
        blocks.push(body(vec![run("Không có chỉ tiêu nào dưới mục tiêu và không có nhiệm vụ quá hạn.")]).into());
    }
    blocks.extend(review.limitations.iter().map(|l| body(vec![run(&format!("- {l}"))]).into()));

    blocks.push(section_heading("V. PHƯƠNG HƯỚNG, NHIỆM VỤ KỲ TỚI").into());
    let placeholder = ["[Nêu phương hướng, nhiệm vụ kỳ tới.]".to_string()];
    let directions = if review.directions.is_empty() { &placeholder[..] } else { &review.directions[..] };
    blocks.extend(directions.iter().map(|d| body(vec![run(d).highlight("yellow")]).into()));

    blocks.push(Paragraph::new().into());
    blocks.push(signature_block(&review.frame).into());
    blocks
}

/// The appendices (the landscape section, which starts on a new page).
fn appendix_blocks(review: &Review) -> Vec<Block> {
    let context = format!("({}, {})", review.unit_name, review.period_name);
    let mut blocks = vec![
        centred(vec![run("PHỤ LỤC 1. TÌNH HÌNH BÁO CÁO SỐ LIỆU").bold()]).into(),
        centred(vec![run(&context).italic()]).line_spacing(spacing(0, 240)).into(),
    ];
    blocks.push(if review.completeness.is_empty() {
        body(vec![run("Không có số liệu.")]).into()
    } else {
        completeness_table(&review.completeness).into()
    });
    blocks.push(centred(vec![run("PHỤ LỤC 2. CHỈ TIÊU THEO ĐƠN VỊ").bold()]).page_break_before(true).into());
    blocks.push(centred(vec![run(&context).italic()]).line_spacing(spacing(0, 240)).into());
    blocks.push(if review.unit_table.rows.is_empty() { body(vec![run("Không có số liệu.")]).into() } else { unit_table(&review.unit_table).into() });
    blocks
}

/// The heading block: issuing body and number line on the left, national name, motto and the
/// place-and-date line on the right, without borders.
fn heading_block(frame: &Frame) -> Table {
    let (left, right) = (3855, PORTRAIT_TEXT - 3855);
    let mut issuer = Vec::new();
    if !frame.parent_body.is_empty() {
        issuer.push(centred(vec![run(&frame.parent_body).size(HEADING_SIZE)]));
    }
    issuer.push(centred(vec![run(&frame.issuing_body).size(HEADING_SIZE).bold()]));
    issuer.push(short_line(text_width(&frame.issuing_body, HEADING_SIZE, 0.68).min(left - CELL_PADDING) / 2, left));
    issuer.push(centred(vec![run(&frame.number_line).size(HEADING_SIZE)]).line_spacing(spacing(120, 0)));
    let nation = vec![
        centred(vec![run(NATION).size(NATION_SIZE).bold()]),
        centred(vec![run(MOTTO).size(HEADING_SIZE).bold()]),
        short_line(MOTTO_WIDTH, right),
        centred(vec![run(&date_line(&frame.place, frame.date)).italic()]).line_spacing(spacing(120, 0)),
    ];
    borderless(vec![TableRow::new(vec![cell(issuer, left), cell(nation, right)])], &[left, right])
}

/// Section I: per task, its number and content, then each agency's report.
fn work_paragraphs(work: &[TaskWork]) -> Vec<Paragraph> {
    if work.is_empty() {
        return vec![body(vec![run("Trong kỳ chưa có cơ quan, đơn vị nào báo cáo tiến độ.")])];
    }
    let mut paragraphs = Vec::new();
    for task in work {
        paragraphs.push(body(vec![run(&format!("{}. ", task.number)).bold(), run(&task.content)]));
        paragraphs.extend(task.reports.iter().map(|r| body(vec![run(&agency_line(r))])));
    }
    paragraphs
}

/// `- Sở Y tế (Đang triển khai, ngày 05/12/2026): … Tài liệu: 123/SYT.`
fn agency_line(report: &AgencyReport) -> String {
    let mut line = format!("- {} ({}, ngày {}): {}", report.agency, report.status, report.date.format("%d/%m/%Y"), report.text);
    if !report.evidence.is_empty() {
        line.push_str(&format!(" Tài liệu: {}.", report.evidence));
    }
    line
}

/// Section II: the indicators against their targets.
fn indicator_table(indicators: &[IndicatorResult]) -> Table {
    let header = ["TT", "Chỉ tiêu", "Kết quả (%)", "Mục tiêu", "Chênh lệch", "Cùng kỳ năm trước", "Số đơn vị đạt", "Đánh giá"];
    let rows = indicators
        .iter()
        .enumerate()
        .map(|(i, r)| {
            vec![
                Cell::centred((i + 1).to_string()),
                Cell::left(&r.name),
                Cell::centred(decimal_or_none(r.value)),
                Cell::centred(if r.target.is_empty() { NONE } else { &r.target }),
                Cell::centred(signed_or_none(r.gap)),
                Cell::centred(decimal_or_none(r.previous_year)),
                Cell::centred(format!("{}/{}", integer(r.units_meeting), integer(r.units_with_value))),
                Cell::centred(&r.assessment),
            ]
        })
        .collect();
    grid(&header, rows, &[550, 2405, 850, 900, 950, 1000, 1200, 1500], TABLE_SIZE)
}

/// Section III: every task in the given order, the status of an overdue one in bold.
fn task_table(tasks: &[TaskLine]) -> Table {
    let header = ["TT", "Nội dung nhiệm vụ", "Cơ quan chủ trì", "Thời hạn", "Tình trạng", "Ghi chú"];
    let rows = tasks
        .iter()
        .map(|t| {
            vec![
                Cell::centred(&t.number),
                Cell::left(&t.content),
                Cell::left(&t.lead),
                Cell::centred(&t.deadline),
                Cell { bold: t.overdue, ..Cell::centred(&t.status) },
                Cell::left(&t.note),
            ]
        })
        .collect();
    grid(&header, rows, &[550, 2855, 1500, 1000, 1300, 2150], TABLE_SIZE)
}

/// Appendix 1: reports expected, received and on time; the first line (the unit itself) in bold.
fn completeness_table(lines: &[CompletenessLine]) -> Table {
    let header = ["TT", "Đơn vị", "Số báo cáo phải gửi", "Đã nhận", "Đúng hạn", "Tỷ lệ đầy đủ (%)", "Tỷ lệ đúng hạn (%)"];
    let rows = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let row = vec![
                Cell::centred((i + 1).to_string()),
                Cell::left(&l.unit),
                Cell::centred(integer(l.expected)),
                Cell::centred(integer(l.received)),
                Cell::centred(integer(l.on_time)),
                Cell::centred(decimal(l.completeness_pct)),
                Cell::centred(decimal(l.timeliness_pct)),
            ];
            row.into_iter().map(|c| Cell { bold: i == 0, ..c }).collect()
        })
        .collect();
    let rest = (LANDSCAPE_TEXT - 600 - 4087) / 5;
    grid(&header, rows, &[600, 4087, rest, rest, rest, rest, rest], APPENDIX_SIZE)
}

/// Appendix 2: the units one level down × the indicators.
fn unit_table(table: &UnitTable) -> Table {
    let mut header = vec!["TT", "Đơn vị"];
    header.extend(table.indicators.iter().map(String::as_str));
    let n = table.indicators.len();
    let rows = table
        .rows
        .iter()
        .enumerate()
        .map(|(i, (unit, values))| {
            let mut row = vec![Cell::centred((i + 1).to_string()), Cell::left(unit)];
            // One cell per indicator, whatever the length of `values`.
            row.extend(values.iter().copied().chain(std::iter::repeat(None)).take(n).map(|v| Cell::centred(decimal_or_none(v))));
            row
        })
        .collect();
    let mut widths = vec![600];
    match (LANDSCAPE_TEXT - 600 - 3000).checked_div(n) {
        Some(each) => widths.extend(std::iter::once(3000).chain(std::iter::repeat_n(each, n))),
        None => widths.push(LANDSCAPE_TEXT - 600),
    }
    grid(&header, rows, &widths, if n > 8 { WIDE_APPENDIX_SIZE } else { APPENDIX_SIZE })
}

/// The signature block: "Nơi nhận" and the signer, then (when there is a preparer) the preparer
/// under "Nơi nhận".
fn signature_block(frame: &Frame) -> Table {
    let (left, right) = (4400, PORTRAIT_TEXT - 4400);
    let mut recipients = vec![plain(vec![run("Nơi nhận:").bold().italic().size(RECIPIENTS_LABEL_SIZE)])];
    recipients.extend(frame.recipients.iter().map(|r| plain(vec![run(r).size(RECIPIENTS_SIZE)])));
    let mut rows = vec![TableRow::new(vec![cell(recipients, left), cell(signer(&frame.signer_title, &frame.signer_name), right)]).cant_split()];
    if !frame.preparer_title.is_empty() {
        let preparer = signer(&frame.preparer_title, &frame.preparer_name);
        rows.push(TableRow::new(vec![cell(preparer, left), cell(vec![Paragraph::new()], right)]).cant_split());
    }
    borderless(rows, &[left, right])
}

/// A title in bold upper case (one line per line of `title`: `KT. GIÁM ĐỐC\nPHÓ GIÁM ĐỐC`),
/// room for the signature, and the name in bold (empty lines when there is none).
fn signer(title: &str, name: &str) -> Vec<Paragraph> {
    let mut paragraphs: Vec<Paragraph> = title.lines().map(|line| centred(vec![run(line).bold()])).collect();
    paragraphs.extend((0..4).map(|_| Paragraph::new()));
    paragraphs.push(if name.is_empty() { Paragraph::new() } else { centred(vec![run(name).bold()]) });
    paragraphs
}

/// A cell of a data table: its text, alignment and weight.
struct Cell {
    /// The text.
    text: String,
    /// Centred or left-aligned.
    align: AlignmentType,
    /// Bold.
    bold: bool,
}

impl Cell {
    /// Left-aligned text.
    fn left(text: impl Into<String>) -> Self {
        Cell { text: text.into(), align: AlignmentType::Left, bold: false }
    }

    /// Centred text.
    fn centred(text: impl Into<String>) -> Self {
        Cell { text: text.into(), align: AlignmentType::Center, bold: false }
    }
}

/// A data table: borders on every cell, a bold header row repeated on each page, rows that do
/// not split across pages, fixed widths.
fn grid(header: &[&str], rows: Vec<Vec<Cell>>, widths: &[usize], size: usize) -> Table {
    let header_cells = header.iter().zip(widths).map(|(h, w)| grid_cell(Cell { bold: true, ..Cell::centred(*h) }, *w, size)).collect();
    let mut header_row = TableRow::new(header_cells);
    header_row.property = header_row_property();
    let mut table_rows = vec![header_row];
    table_rows.extend(rows.into_iter().map(|row| TableRow::new(row.into_iter().zip(widths).map(|(c, w)| grid_cell(c, *w, size)).collect()).cant_split()));
    let border = |position| TableBorder::new(position).border_type(BorderType::Single).size(4).color("000000");
    let mut table = Table::new(table_rows)
        .set_grid(widths.to_vec())
        .width(widths.iter().sum(), WidthType::Dxa)
        .layout(TableLayoutType::Fixed)
        .align(TableAlignmentType::Center);
    for position in [
        TableBorderPosition::Top,
        TableBorderPosition::Left,
        TableBorderPosition::Bottom,
        TableBorderPosition::Right,
        TableBorderPosition::InsideH,
        TableBorderPosition::InsideV,
    ] {
        table = table.set_border(border(position));
    }
    table
}

/// One cell of a data table.
fn grid_cell(c: Cell, width: usize, size: usize) -> TableCell {
    let mut r = run(&c.text).size(size);
    if c.bold {
        r = r.bold();
    }
    let p = Paragraph::new().align(c.align).line_spacing(spacing(40, 40)).add_run(r);
    TableCell::new().width(width, WidthType::Dxa).vertical_align(VAlignType::Center).add_paragraph(p)
}

/// The properties of a table's header row: it does not split across pages, has a minimum height,
/// and is marked to repeat on each page by [`repeat_header_rows`].
fn header_row_property() -> TableRowProperty {
    TableRowProperty::new().cant_split().row_height(HEADER_ROW_HEIGHT).height_rule(HeightRule::AtLeast)
}

/// A layout table without borders (heading and signature blocks).
fn borderless(rows: Vec<TableRow>, widths: &[usize]) -> Table {
    Table::without_borders(rows).clear_all_border().set_grid(widths.to_vec()).width(widths.iter().sum(), WidthType::Dxa).layout(TableLayoutType::Fixed)
}

/// A cell of a layout table holding `paragraphs`, aligned at the top.
fn cell(paragraphs: Vec<Paragraph>, width: usize) -> TableCell {
    paragraphs.into_iter().fold(TableCell::new().width(width, WidthType::Dxa).vertical_align(VAlignType::Top), TableCell::add_paragraph)
}

/// A run of text.
fn run(text: &str) -> Run {
    Run::new().add_text(text)
}

/// Spacing before and after (twips) at single line spacing.
fn spacing(before: u32, after: u32) -> LineSpacing {
    LineSpacing::new().before(before).after(after).line(240).line_rule(LineSpacingType::Auto)
}

/// A body paragraph: justified, first line indented 1 cm, 6 pt after, 1.2 lines.
fn body(runs: Vec<Run>) -> Paragraph {
    runs.into_iter().fold(
        Paragraph::new()
            .align(AlignmentType::Both)
            .indent(None, Some(SpecialIndentType::FirstLine(FIRST_LINE_INDENT)), None, None)
            .line_spacing(LineSpacing::new().before(0).after(SPACE_AFTER).line(BODY_LINE).line_rule(LineSpacingType::Auto)),
        Paragraph::add_run,
    )
}

/// A section heading: a bold body paragraph kept with the next.
fn section_heading(text: &str) -> Paragraph {
    body(vec![run(text).bold()])
        .line_spacing(LineSpacing::new().before(SPACE_AFTER).after(SPACE_AFTER).line(BODY_LINE).line_rule(LineSpacingType::Auto))
        .keep_next(true)
}

/// A centred paragraph, single-spaced.
fn centred(runs: Vec<Run>) -> Paragraph {
    runs.into_iter().fold(Paragraph::new().align(AlignmentType::Center), Paragraph::add_run)
}

/// A left-aligned paragraph, single-spaced.
fn plain(runs: Vec<Run>) -> Paragraph {
    runs.into_iter().fold(Paragraph::new().align(AlignmentType::Left), Paragraph::add_run)
}

/// A short centred horizontal line (`width` twips long, in a column `available` twips wide): the
/// top border of an empty 2 pt paragraph 4 pt under the text above it.
fn short_line(width: usize, available: usize) -> Paragraph {
    let text = available.saturating_sub(CELL_PADDING);
    let width = width.clamp(850, text);
    let indent = ((text - width) / 2) as i32;
    let mut p = Paragraph::new()
        .size(4)
        .indent(Some(indent), None, Some(indent), None)
        .line_spacing(LineSpacing::new().before(80).after(0).line(40).line_rule(LineSpacingType::Exact));
    let line = ParagraphBorder::new(ParagraphBorderPosition::Top).val(BorderType::Single).size(6).space(0).color("000000");
    // Only the top border: `set_border` would start from docx-rs's default of all four.
    p.property = p.property.set_borders(ParagraphBorders::with_empty().set(line));
    p
}

/// An estimate of the width of `text` in twips at `size` half-points, `em` being the average
/// advance of a character in ems (Times New Roman: about 0.47 for bold mixed case, 0.68 for bold
/// capitals).
fn text_width(text: &str, size: usize, em: f64) -> usize {
    (text.chars().count() as f64 * em * size as f64 * 10.0).round() as usize
}

/// The place-and-date line of Decree 30: `Nghệ An, ngày 05 tháng 01 năm 2027`.
fn date_line(place: &str, date: NaiveDate) -> String {
    format!("{place}, {}", tonghop_core::plans::date_line(date))
}

/// [`decimal`], or `–` for none.
fn decimal_or_none(x: Option<f64>) -> String {
    x.map_or_else(|| NONE.to_string(), decimal)
}

/// A difference with its sign: `0.34` → `+0,3`, `-2.06` → `-2,1`, `0.01` → `0,0`; `–` for none.
fn signed_or_none(x: Option<f64>) -> String {
    match x {
        Some(x) if (x * 10.0).round() > 0.0 => format!("+{}", decimal(x)),
        other => decimal_or_none(other),
    }
}

/// Marks the header rows of the data tables (built with [`header_row_property`], which no other
/// row has) as repeated on each page: docx-rs 0.4.22 has no `w:tblHeader`.
fn repeat_header_rows(document: Vec<u8>) -> Result<Vec<u8>> {
    let xml = String::from_utf8(document).map_err(|e| Error::Docx(format!("document.xml is not UTF-8: {e}")))?;
    let marker = String::from_utf8(header_row_property().build()).map_err(|e| Error::Docx(e.to_string()))?;
    let Some(open) = marker.strip_suffix("</w:trPr>") else {
        return Err(Error::Docx(format!("unexpected table row properties {marker}")));
    };
    Ok(xml.replace(&marker, &format!("{open}<w:tblHeader /></w:trPr>")).into_bytes())
}

/// Sets the document title of the core properties (`dc:title`), which docx-rs 0.4.22 cannot set.
fn with_title(core: Vec<u8>, title: &str) -> Result<Vec<u8>> {
    const END: &str = "</cp:coreProperties>";
    let xml = String::from_utf8(core).map_err(|e| Error::Docx(format!("core.xml is not UTF-8: {e}")))?;
    if !xml.contains(END) || xml.contains("<dc:title>") {
        return Err(Error::Docx("unexpected core properties: cannot set the title".into()));
    }
    let title = title.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    Ok(xml.replacen(END, &format!("<dc:title>{title}</dc:title>{END}"), 1).into_bytes())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;
    use crate::review::document::{AgencyReport, CompletenessLine, Frame, IndicatorResult, Review, TaskLine, TaskWork, UnitTable};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A small review of Nghệ An: 2 indicators, 3 tasks (the overdue one first), 2 agency reports,
    /// 2 completeness lines, 2 units × 2 indicators.
    fn sample() -> Review {
        Review {
            frame: Frame {
                parent_body: "UBND TỈNH NGHỆ AN".into(),
                issuing_body: "SỞ Y TẾ".into(),
                number_line: "Số:      /BC-SYT".into(),
                place: "Nghệ An".into(),
                date: date(2027, 1, 5),
                signer_title: "GIÁM ĐỐC".into(),
                signer_name: "Nguyễn Văn Hùng".into(),
                preparer_title: "NGƯỜI LẬP BIỂU".into(),
                preparer_name: "Trần Thị Thủy".into(),
                recipients: vec!["- Bộ Y tế;".into(), "- UBND tỉnh Nghệ An;".into(), "- Lưu: VT, KHTC.".into()],
            },
            kind: "BÁO CÁO".into(),
            title: "Tổng kết năm 2026 thực hiện Kế hoạch số 125/KH-UBND về nâng cao chất lượng y tế cơ sở".into(),
            plan_code: "NA_KH_2024".into(),
            period: "2026".into(),
            period_name: "năm 2026".into(),
            as_of: date(2026, 12, 31),
            unit_name: "Tỉnh Nghệ An".into(),
            opening: "Thực hiện Kế hoạch số 125/KH-UBND ngày 15/3/2024 của Ủy ban nhân dân tỉnh, Sở Y tế báo cáo kết quả thực hiện năm 2026 như sau:".into(),
            work: vec![TaskWork {
                number: "5".into(),
                content: "Kiện toàn mạng lưới y tế thôn, bản; bồi dưỡng nhân viên y tế thôn bản".into(),
                reports: vec![
                    AgencyReport {
                        agency: "Sở Y tế".into(),
                        status: "Đang triển khai".into(),
                        text: "Đã tổ chức 12 lớp tập huấn cho 480 nhân viên y tế thôn, bản.".into(),
                        date: date(2026, 12, 5),
                        evidence: "Công văn 1234/SYT-TCCB".into(),
                    },
                    AgencyReport {
                        agency: "Sở Nội vụ".into(),
                        status: "Chưa triển khai".into(),
                        text: "Đang rà soát định mức phụ cấp.".into(),
                        date: date(2026, 11, 20),
                        evidence: String::new(),
                    },
                ],
            }],
            indicators: vec![
                IndicatorResult {
                    name: "Tỷ lệ trẻ em dưới 1 tuổi được tiêm chủng đầy đủ".into(),
                    value: Some(95.34),
                    target: "> 95".into(),
                    gap: Some(0.34),
                    previous_year: Some(93.04),
                    units_meeting: 17,
                    units_with_value: 21,
                    assessment: "Đạt".into(),
                },
                IndicatorResult {
                    name: "Tỷ lệ phụ nữ đẻ được khám thai ít nhất 4 lần".into(),
                    value: Some(80.0),
                    target: "≥ 90".into(),
                    gap: Some(-9.96),
                    previous_year: None,
                    units_meeting: 3,
                    units_with_value: 20,
                    assessment: "Chưa đạt".into(),
                },
            ],
            tasks: vec![
                TaskLine {
                    number: "5".into(),
                    content: "Kiện toàn mạng lưới y tế thôn, bản".into(),
                    lead: "Sở Y tế; Sở Nội vụ".into(),
                    deadline: "Quý 3/2026".into(),
                    status: "Quá hạn".into(),
                    overdue: true,
                    note: "Sở Nội vụ chưa báo cáo hoàn thành".into(),
                },
                TaskLine {
                    number: "1".into(),
                    content: "Ban hành kế hoạch triển khai".into(),
                    lead: "Sở Y tế".into(),
                    deadline: "Quý 2/2024".into(),
                    status: "Hoàn thành đúng hạn".into(),
                    overdue: false,
                    note: String::new(),
                },
                TaskLine {
                    number: "7".into(),
                    content: "Ứng dụng công nghệ thông tin trong quản lý hồ sơ sức khỏe".into(),
                    lead: "Sở Thông tin và Truyền thông".into(),
                    deadline: "Năm 2027".into(),
                    status: "Đang thực hiện".into(),
                    overdue: false,
                    note: String::new(),
                },
            ],
            limitations: vec![
                "Tỷ lệ phụ nữ đẻ được khám thai ít nhất 4 lần đạt 80,0%, thấp hơn mục tiêu 10,0 điểm phần trăm.".into(),
                "Nhiệm vụ 5 (Kiện toàn mạng lưới y tế thôn, bản) quá hạn.".into(),
            ],
            directions: vec!["[Nêu các giải pháp nâng cao tỷ lệ khám thai đủ 4 lần.]".into(), "[Nêu kế hoạch hoàn thành nhiệm vụ 5.]".into()],
            completeness: vec![
                CompletenessLine {
                    unit: "Tỉnh Nghệ An".into(), expected: 5460, received: 5301, on_time: 4987, completeness_pct: 97.09, timeliness_pct: 91.34
                },
                CompletenessLine {
                    unit: "Huyện Quỳnh Lưu".into(), expected: 396, received: 396, on_time: 380, completeness_pct: 100.0, timeliness_pct: 95.96
                },
            ],
            unit_table: UnitTable {
                indicators: vec!["Tiêm chủng đầy đủ (%)".into(), "Khám thai ≥ 4 lần (%)".into()],
                rows: vec![("Huyện Quỳnh Lưu".into(), vec![Some(97.5), Some(84.25)]), ("Huyện Kỳ Sơn".into(), vec![Some(88.0), None])],
            },
        }
    }

    #[test]
    fn numbers_and_dates_are_written_the_vietnamese_way() {
        assert_eq!([integer(0), integer(999), integer(12345), integer(-1234567)], ["0", "999", "12.345", "-1.234.567"]);
        assert_eq!([decimal(95.34), decimal(100.0), decimal(1234.56), decimal(-0.04)], ["95,3", "100,0", "1.234,6", "0,0"]);
        assert_eq!([signed_or_none(Some(0.34)), signed_or_none(Some(-2.06)), signed_or_none(Some(0.01)), signed_or_none(None)], ["+0,3", "-2,1", "0,0", "–"]);
        assert_eq!(decimal_or_none(None), "–");
        assert_eq!(date_line("Nghệ An", date(2027, 1, 5)), "Nghệ An, ngày 05 tháng 01 năm 2027");
        assert_eq!(date_line("Nghệ An", date(2026, 6, 30)), "Nghệ An, ngày 30 tháng 6 năm 2026");
        assert_eq!(date_line("Hà Nội", date(2026, 12, 9)), "Hà Nội, ngày 09 tháng 12 năm 2026");
        assert_eq!(date_line("Hà Nội", date(2026, 2, 28)), "Hà Nội, ngày 28 tháng 02 năm 2026");
    }

    #[test]
    fn the_docx_holds_the_review() {
        let review = sample();
        let bytes = to_docx(&review).unwrap();
        assert!(bytes.starts_with(b"PK"), "a .docx is a zip archive");
        docx_rs::read_docx(&bytes).expect("docx-rs reads the document back");

        let parts = package(&review).unwrap();
        let document = String::from_utf8(parts.document).unwrap();
        for text in [
            NATION,
            MOTTO,
            "UBND TỈNH NGHỆ AN",
            "Số:      /BC-SYT",
            "Nghệ An, ngày 05 tháng 01 năm 2027",
            "BÁO CÁO",
            "Kiện toàn mạng lưới y tế thôn, bản",
            "- Sở Y tế (Đang triển khai, ngày 05/12/2026): Đã tổ chức 12 lớp tập huấn cho 480 nhân viên y tế thôn, bản. Tài liệu: Công văn 1234/SYT-TCCB.",
            "- Sở Nội vụ (Chưa triển khai, ngày 20/11/2026): Đang rà soát định mức phụ cấp.<",
            "Ứng dụng công nghệ thông tin trong quản lý hồ sơ sức khỏe",
            ">95,3<",
            ">+0,3<",
            ">-10,0<",
            ">93,0<",
            ">17/21<",
            ">5.460<",
            ">84,3<",
            ">–<",
            "Nơi nhận:",
            "NGƯỜI LẬP BIỂU",
            "PHỤ LỤC 2. CHỈ TIÊU THEO ĐƠN VỊ",
        ] {
            assert!(document.contains(text), "document.xml lacks {text:?}");
        }
        // The four data tables repeat their header row; the report section leaves the page
        // number off its first page; the appendices are landscape; section V is highlighted.
        assert_eq!(document.matches("<w:tblHeader />").count(), 4);
        assert_eq!(document.matches("<w:titlePg />").count(), 1);
        assert!(document.contains(r#"w:orient="landscape""#));
        assert_eq!(document.matches(r#"<w:highlight w:val="yellow" />"#).count(), 2);
        let styles = String::from_utf8(parts.styles).unwrap();
        assert!(styles.contains(r#"w:ascii="Times New Roman""#) && styles.contains(r#"w:eastAsia="Times New Roman""#), "{styles}");
        let core = String::from_utf8(parts.doc_props.core).unwrap();
        assert!(core.contains(&format!("<dc:title>{}</dc:title>", review.title)), "{core}");
    }

    #[test]
    fn an_empty_review_still_says_something_in_each_section() {
        let mut review = sample();
        review.work.clear();
        review.limitations.clear();
        review.frame.parent_body.clear();
        review.frame.preparer_title.clear();
        let document = String::from_utf8(package(&review).unwrap().document).unwrap();
        assert!(document.contains("Trong kỳ chưa có cơ quan, đơn vị nào báo cáo tiến độ."));
        assert!(document.contains("Không có chỉ tiêu nào dưới mục tiêu và không có nhiệm vụ quá hạn."));
        assert!(!document.contains("UBND TỈNH") && !document.contains("NGƯỜI LẬP BIỂU"));
    }

    /// Reads the document with python-docx (an independent reader) through
    /// `tests/it/review_docx_check.py` and checks the page setup, fonts and tables it sees.
    #[test]
    fn python_docx_reads_the_layout() {
        let importable = Command::new("python3").args(["-c", "import docx"]).output().is_ok_and(|o| o.status.success());
        assert!(importable, "this test reads the document with python-docx, which python3 cannot import: pip install python-docx");
        let dir = tempfile::tempdir().unwrap();
        let (docx, expectations) = (dir.path().join("review.docx"), dir.path().join("expectations.json"));
        std::fs::write(&docx, to_docx(&sample()).unwrap()).unwrap();
        let expected = serde_json::json!({ "paragraphs": [NATION, "II. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU", "Quá hạn"], "fonts": [FONT] });
        std::fs::write(&expectations, expected.to_string()).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/it/review_docx_check.py");
        let out = Command::new("python3").arg(&script).arg(&docx).arg(&expectations).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {stdout}\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
        let dump: serde_json::Value = serde_json::from_str(&stdout).unwrap();

        let close = |v: &serde_json::Value, mm: f64| (v.as_f64().unwrap() - mm).abs() < 0.5;
        let sections = dump["sections"].as_array().unwrap();
        assert_eq!(sections.len(), 2, "{stdout}");
        let (report, appendices) = (&sections[0], &sections[1]);
        assert!(close(&report["page_width_mm"], 210.0) && close(&report["page_height_mm"], 297.0), "{report}");
        assert!(close(&report["left_margin_mm"], 30.0) && close(&report["right_margin_mm"], 15.0), "{report}");
        assert!(close(&report["top_margin_mm"], 20.0) && close(&report["bottom_margin_mm"], 20.0), "{report}");
        assert_eq!(report["different_first_page"], true);
        assert_eq!(report["header"], serde_json::json!(["1"]), "the page number field");
        assert_eq!(appendices["orientation"], "landscape");
        assert!(close(&appendices["page_width_mm"], 297.0) && close(&appendices["page_height_mm"], 210.0), "{appendices}");
        assert!(dump["fonts"].as_array().unwrap().contains(&FONT.into()), "{}", dump["fonts"]);
        assert_eq!(dump["unmet"], serde_json::json!([]));
        assert_eq!(dump["title"], sample().title);
        assert_eq!(dump["highlighted"].as_array().unwrap().len(), 2);

        let rows = |first: &str| -> Vec<Vec<String>> {
            let table =
                dump["tables"].as_array().unwrap().iter().find(|t| t["rows"][0][1] == first).unwrap_or_else(|| panic!("no table headed {first:?}: {stdout}"));
            assert_eq!(table["header_rows"], 1, "{table}");
            serde_json::from_value(table["rows"].clone()).unwrap()
        };
        let indicators = rows("Chỉ tiêu");
        assert_eq!(indicators[0], ["TT", "Chỉ tiêu", "Kết quả (%)", "Mục tiêu", "Chênh lệch", "Cùng kỳ năm trước", "Số đơn vị đạt", "Đánh giá"]);
        assert_eq!(indicators[1], ["1", "Tỷ lệ trẻ em dưới 1 tuổi được tiêm chủng đầy đủ", "95,3", "> 95", "+0,3", "93,0", "17/21", "Đạt"]);
        assert_eq!(indicators[2], ["2", "Tỷ lệ phụ nữ đẻ được khám thai ít nhất 4 lần", "80,0", "≥ 90", "-10,0", "–", "3/20", "Chưa đạt"]);
        let tasks = rows("Nội dung nhiệm vụ");
        assert_eq!(tasks.len(), 4);
        assert_eq!(tasks[1], ["5", "Kiện toàn mạng lưới y tế thôn, bản", "Sở Y tế; Sở Nội vụ", "Quý 3/2026", "Quá hạn", "Sở Nội vụ chưa báo cáo hoàn thành"]);
        let completeness = rows("Đơn vị");
        assert_eq!(completeness[1], ["1", "Tỉnh Nghệ An", "5.460", "5.301", "4.987", "97,1", "91,3"]);
        let paragraphs: Vec<String> = serde_json::from_value(dump["paragraphs"].clone()).unwrap();
        assert!(paragraphs.iter().any(|p| p == "5. Kiện toàn mạng lưới y tế thôn, bản; bồi dưỡng nhân viên y tế thôn bản"), "{paragraphs:?}");
    }

    /// The sample grown to a province's size: 12 indicators, 24 tasks, 21 districts, a long
    /// issuing body; its tables run over several pages.
    fn large_sample() -> Review {
        let mut review = sample();
        review.frame.issuing_body = "TRUNG TÂM KIỂM SOÁT BỆNH TẬT TỈNH NGHỆ AN".into();
        review.frame.signer_title = "KT. GIÁM ĐỐC\nPHÓ GIÁM ĐỐC".into();
        review.frame.signer_name.clear();
        let indicator = review.indicators[1].clone();
        review.indicators = (1..=12).map(|i| IndicatorResult { name: format!("Chỉ tiêu số {i} về chăm sóc sức khỏe ban đầu"), ..indicator.clone() }).collect();
        let task = review.tasks[2].clone();
        review.tasks = (1..=24).map(|i| TaskLine { number: i.to_string(), ..task.clone() }).collect();
        review.unit_table.indicators = (1..=12).map(|i| format!("Chỉ tiêu {i} (%)")).collect();
        review.unit_table.rows =
            (1..=21).map(|i| (format!("Huyện số {i}"), (0..12).map(|j| (j != i % 12).then_some(80.0 + (i * j) as f64 / 7.0)).collect())).collect();
        review.completeness = (0..22).map(|i| CompletenessLine { unit: format!("Đơn vị {i}"), ..review.completeness[0].clone() }).collect();
        review
    }

    /// Writes the sample review to `$TONGHOP_REVIEW_DOCX` (default: `review-sample.docx` in the
    /// temporary directory) and the large one next to it (`…-large.docx`), to look at them:
    /// `scripts/render-review.sh <file> <dir>`.
    #[test]
    #[ignore = "writes files to look at"]
    fn write_sample() {
        let path: std::path::PathBuf = std::env::var_os("TONGHOP_REVIEW_DOCX").map_or_else(|| std::env::temp_dir().join("review-sample.docx"), Into::into);
        let large = path.with_file_name(format!("{}-large.docx", path.file_stem().unwrap().to_string_lossy()));
        std::fs::write(&path, to_docx(&sample()).unwrap()).unwrap();
        std::fs::write(&large, to_docx(&large_sample()).unwrap()).unwrap();
        println!("{}\n{}", path.display(), large.display());
    }
}
