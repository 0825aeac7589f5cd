//! The XLSX writer: one formatted sheet per call.

use std::sync::Arc;

use arrow::array::types::{Date32Type, Time64MicrosecondType, TimestampMicrosecondType};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Workbook, Worksheet};

use crate::{check_same_schema, Error, Result};

/// Excel's row limit per sheet.
const MAX_ROWS: u64 = 1_048_576;
/// Excel's column limit per sheet.
const MAX_COLS: u64 = 16_384;
/// Excel's limit on sheet names, in UTF-16 code units.
const MAX_SHEET_NAME: usize = 31;
/// Used when a sheet name is empty after sanitising.
const FALLBACK_SHEET_NAME: &str = "Báo cáo";
/// Column widths (in characters) are clamped to this range.
const MIN_WIDTH: usize = 8;
const MAX_WIDTH: usize = 60;
/// Excel serial number of 1970-01-01 (Excel's 1900 date system).
const UNIX_EPOCH_SERIAL: f64 = 25_569.0;
/// Serial numbers Excel shows correctly as dates: 1900-03-01 ..= 9999-12-31.
/// (Before 1900-03-01 Excel's phantom 29 February 1900 shifts every date.)
const FIRST_SERIAL: f64 = 61.0;
const END_SERIAL: f64 = 2_958_466.0;
const MICROS_PER_DAY: i64 = 86_400_000_000;

const DEFAULT_INTEGER_FORMAT: &str = "#,##0";
const DEFAULT_FLOAT_FORMAT: &str = "#,##0.0";
const DATE_FORMAT: &str = "dd/mm/yyyy";
const TIMESTAMP_FORMAT: &str = "dd/mm/yyyy hh:mm";
const TIME_FORMAT: &str = "hh:mm:ss";
/// Light blue fill of the header row.
const HEADER_FILL: u32 = 0xDDEBF7;
/// A4 in Excel's paper size codes.
const PAPER_A4: u8 = 9;

/// How one table is laid out in a spreadsheet.
///
/// The sheet has, from the top:
///
/// 1. the [`title`](Self::title) in bold 14 pt, if any;
/// 2. the [`subtitle`](Self::subtitle) in italics, if any;
/// 3. the further [`lines`](Self::lines), plain, if any;
/// 4. one empty spacer row, if there was any of the above;
/// 5. the header row (bold, light blue fill, wrapped, thin borders) at
///    [`header_row`](Self::header_row), with an autofilter; panes are frozen below
///    it and it is repeated at the top of every printed page;
/// 6. the data, one row per record.
///
/// The title and subtitle sit in column A and overflow to the right across the
/// empty cells; they do not count towards column widths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SheetSpec {
    /// The sheet (tab) name, e.g. `"Chỉ tiêu tỉnh"`. Excel allows at most 31
    /// characters and none of `[ ] : * ? / \`; [`to_xlsx`] passes it through
    /// [`sanitize_sheet_name`], so any string is accepted.
    pub sheet_name: String,
    /// A bold title row above the header, e.g.
    /// `"BÁO CÁO CHỈ TIÊU Y TẾ CƠ SỞ THEO CHỈ THỊ 25-CT/TW"`.
    pub title: Option<String>,
    /// A second line under the title, e.g.
    /// `"Kỳ báo cáo: Tháng 3 năm 2026 · Lập ngày 23/11/2026"`.
    pub subtitle: Option<String>,
    /// Further lines under the subtitle, e.g. `"Kỳ báo cáo: Quý I năm 2026"`.
    pub lines: Vec<String>,
    /// Column name → header label shown in the header row (e.g.
    /// `("province_name", "Tỉnh/Thành phố")`). Columns not listed show their name.
    /// Entries naming no column of the table are ignored (and logged).
    pub headers: Vec<(String, String)>,
    /// Column name → Excel number format code, e.g. `("value", "0.0")` or
    /// `("numerator", "#,##0")`. Codes are locale-independent: `,` is the thousands
    /// separator and `.` the decimal point in the code, and Excel on Vietnamese
    /// Windows displays them as `1.234,5`. Without an entry, integer columns get
    /// `#,##0`, other numbers `#,##0.0`, dates `dd/mm/yyyy`, timestamps
    /// `dd/mm/yyyy hh:mm` and times `hh:mm:ss`; text and booleans get none.
    pub number_formats: Vec<(String, String)>,
}

impl SheetSpec {
    /// A sheet named `sheet_name`, without title, subtitle, labels or formats.
    pub fn new(sheet_name: impl Into<String>) -> Self {
        Self { sheet_name: sheet_name.into(), ..Self::default() }
    }

    /// Sets the title row.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the subtitle row.
    pub fn with_subtitle(mut self, subtitle: impl Into<String>) -> Self {
        self.subtitle = Some(subtitle.into());
        self
    }

    /// Adds a line under the subtitle.
    pub fn with_line(mut self, line: impl Into<String>) -> Self {
        self.lines.push(line.into());
        self
    }

    /// Labels column `column` with `label` in the header row (replacing an earlier label).
    pub fn with_header(mut self, column: impl Into<String>, label: impl Into<String>) -> Self {
        let column = column.into();
        self.headers.retain(|(c, _)| *c != column);
        self.headers.push((column, label.into()));
        self
    }

    /// Labels several columns at once; see [`with_header`](Self::with_header).
    pub fn with_headers<C, L>(mut self, headers: impl IntoIterator<Item = (C, L)>) -> Self
    where
        C: Into<String>,
        L: Into<String>,
    {
        for (column, label) in headers {
            self = self.with_header(column, label);
        }
        self
    }

    /// Gives column `column` the Excel number format `format` (replacing an earlier one).
    pub fn with_number_format(mut self, column: impl Into<String>, format: impl Into<String>) -> Self {
        let column = column.into();
        self.number_formats.retain(|(c, _)| *c != column);
        self.number_formats.push((column, format.into()));
        self
    }

    /// The 0-based index of the header row: 0 without title, subtitle and lines,
    /// otherwise one more than their count (the spacer): 2 with a title only, 3
    /// with title and subtitle. Data starts on the next row.
    pub fn header_row(&self) -> u32 {
        let above = u32::from(self.title.is_some()) + u32::from(self.subtitle.is_some()) + self.lines.len() as u32;
        if above == 0 {
            0
        } else {
            above + 1
        }
    }

    /// The header label of column `column`.
    pub fn label<'a>(&'a self, column: &'a str) -> &'a str {
        self.headers.iter().rev().find(|(c, _)| c == column).map_or(column, |(_, label)| label.as_str())
    }

    fn number_format(&self, column: &str) -> Option<&str> {
        self.number_formats.iter().rev().find(|(c, _)| c == column).map(|(_, f)| f.as_str())
    }
}

/// Makes `name` a valid Excel sheet name.
///
/// - each of `[ ] : * ? / \` and control characters becomes `-`
///   (`"Tháng 3/2026"` → `"Tháng 3-2026"`);
/// - surrounding spaces and apostrophes are removed (Excel forbids a leading or
///   trailing `'`);
/// - the name is cut to 31 characters (UTF-16 code units, as Excel counts), never
///   between a letter and a combining mark that follows it;
/// - an empty result becomes `"Báo cáo"`, and `"History"` (reserved by Excel)
///   becomes `"History-"`.
///
/// Text is not otherwise changed; pass NFC text so that a Vietnamese letter
/// counts as one character.
pub fn sanitize_sheet_name(name: &str) -> String {
    let replaced: Vec<char> = name.chars().map(|c| if matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') || c.is_control() { '-' } else { c }).collect();
    let trimmed = trim_name(&replaced);

    let mut cut = 0;
    let mut units = 0;
    while cut < trimmed.len() && units + trimmed[cut].len_utf16() <= MAX_SHEET_NAME {
        units += trimmed[cut].len_utf16();
        cut += 1;
    }
    // Do not separate a base letter from its combining marks: drop them together.
    while cut > 0 && cut < trimmed.len() && is_combining(trimmed[cut]) {
        cut -= 1;
    }
    let name: String = trim_name(&trimmed[..cut]).iter().collect();

    if name.is_empty() {
        FALLBACK_SHEET_NAME.to_string()
    } else if name.eq_ignore_ascii_case("History") {
        format!("{name}-")
    } else {
        name
    }
}

fn trim_name(chars: &[char]) -> &[char] {
    let strip = |c: &char| c.is_whitespace() || *c == '\'';
    let start = chars.iter().position(|c| !strip(c)).unwrap_or(chars.len());
    let end = chars.iter().rposition(|c| !strip(c)).map_or(start, |i| i + 1);
    &chars[start..end.max(start)]
}

fn is_combining(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// How the values of a column become cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Number cells; `integer` picks the default format.
    Number { integer: bool },
    /// String cells.
    Text,
    /// Boolean cells.
    Bool,
    /// Date serial numbers.
    Date,
    /// Date-time serial numbers.
    Timestamp,
    /// Time-of-day fractions.
    Time,
    /// Always empty.
    Null,
}

fn kind_of(data_type: &DataType) -> Option<Kind> {
    use DataType::*;
    Some(match data_type {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Kind::Number { integer: true },
        Float16 | Float32 | Float64 => Kind::Number { integer: false },
        Decimal32(_, scale) | Decimal64(_, scale) | Decimal128(_, scale) | Decimal256(_, scale) => Kind::Number { integer: *scale <= 0 },
        Utf8 | LargeUtf8 | Utf8View => Kind::Text,
        Boolean => Kind::Bool,
        Date32 | Date64 => Kind::Date,
        Timestamp(_, _) => Kind::Timestamp,
        Time32(_) | Time64(_) => Kind::Time,
        Null => Kind::Null,
        Dictionary(_, values) => kind_of(values)?,
        _ => return None,
    })
}

/// One column of the table: what it is and how its cells look.
struct Column {
    name: String,
    /// The header label.
    label: String,
    data_type: DataType,
    kind: Kind,
    format: Option<Format>,
    /// Decimal places shown by the format, for width estimates of numbers.
    decimals: usize,
    /// The widest content seen so far, in characters.
    width: usize,
}

/// A date, timestamp or time value: a serial number, or text when Excel cannot
/// show the date (before 1900-03-01 or after 9999-12-31).
enum Temporal {
    Serial(f64),
    Text(String),
}

/// The cells of one column of one batch.
enum Cells {
    Number(arrow::array::Float64Array),
    Text(arrow::array::StringArray),
    Bool(arrow::array::BooleanArray),
    Temporal(Vec<Option<Temporal>>),
    Null,
}

/// Writes record batches as an XLSX workbook with one sheet laid out by `spec`.
///
/// Cells keep their types, so that sums, filters and charts work in Excel:
///
/// | Arrow type | cell | default format |
/// |---|---|---|
/// | Int*, UInt*, Decimal with scale ≤ 0 | number | `#,##0` |
/// | Float*, Decimal with scale > 0 | number | `#,##0.0` |
/// | Utf8, LargeUtf8, Utf8View | string (never parsed: `"00123"` stays text) | — |
/// | Boolean | boolean | — |
/// | Date32, Date64 | date | `dd/mm/yyyy` |
/// | Timestamp (any unit) | date-time; with a time zone, the wall-clock time there | `dd/mm/yyyy hh:mm` |
/// | Time32, Time64 | time | `hh:mm:ss` |
/// | Null | empty | — |
/// | Dictionary of any of these | as its values | |
///
/// A format from [`SheetSpec::number_formats`] replaces the default. Nulls are
/// empty cells, and so are NaN and ±infinity (Excel has no such numbers).
/// Integers beyond ±2^53 lose precision (Excel numbers are `f64`). Dates Excel
/// cannot show (before 1900-03-01 or after 9999-12-31) are written as text
/// `dd/mm/yyyy` so that nothing is lost.
///
/// Column widths follow the content (the longest of header label and values,
/// in characters, plus 2, clamped to 8–60). The page is A4 landscape, one page
/// wide, with the header row repeated on every printed page.
///
/// Any number of batches is accepted (all with the same columns); with none,
/// the sheet holds only the title and subtitle.
///
/// # Errors
///
/// [`Error::UnsupportedType`] naming the first column of another type (List,
/// Struct, Binary, Duration, ...); [`Error::SchemaMismatch`] if the batches
/// differ; [`Error::TooLarge`] beyond Excel's 1,048,576 rows or 16,384 columns;
/// [`Error::Convert`] for a timestamp time zone that cannot be resolved;
/// [`Error::Xlsx`] if the writer refuses a cell (e.g. text over 32,767
/// characters) or a number format.
pub fn to_xlsx(batches: &[RecordBatch], spec: &SheetSpec) -> Result<Vec<u8>> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let table = write_table(sheet, 0, batches, spec)?;
    finish_sheet(sheet, &table)?;
    save(&mut workbook, &table.sheet_name)
}

/// Where [`write_table`] put a table, for what is laid out around it.
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    /// The sanitised sheet name (for error contexts).
    pub sheet_name: String,
    /// The header row (0-based).
    pub header_row: u32,
    /// The last row written (the header row when there is no data).
    pub last_row: u32,
    /// The column names, in order.
    pub columns: Vec<String>,
    /// The widest content of each column, in characters.
    pub widths: Vec<usize>,
}

impl Placed {
    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<u16> {
        self.columns.iter().position(|c| c == name).map(|i| i as u16)
    }

    /// The error context `sheet "…", what`.
    pub fn at(&self, what: &str) -> String {
        format!("sheet {:?}, {what}", self.sheet_name)
    }
}

/// Names `sheet` after `spec` and writes the table laid out by `spec` from row
/// `top` down (titles, header with autofilter, cells with the conventions of
/// [`to_xlsx`]). Widths, frozen panes and print setup are left to
/// [`finish_sheet`], so that more can go on the sheet first.
pub(crate) fn write_table(sheet: &mut Worksheet, top: u32, batches: &[RecordBatch], spec: &SheetSpec) -> Result<Placed> {
    check_same_schema(batches)?;
    let sheet_name = sanitize_sheet_name(&spec.sheet_name);
    let header_row = top + spec.header_row();
    let at = |what: &str| format!("sheet {sheet_name:?}, {what}");
    if top == 0 {
        sheet.set_name(&sheet_name).map_err(|source| Error::Xlsx { context: at("sheet name"), source })?;
    }

    write_titles(sheet, top, spec, &at)?;
    let mut placed = Placed { sheet_name: sheet_name.clone(), header_row, last_row: header_row, columns: Vec::new(), widths: Vec::new() };

    if let Some(first) = batches.first() {
        let schema = first.schema();
        let mut columns = plan_columns(schema.fields(), spec)?;
        let data_rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        check_size(u64::from(header_row) + 1 + data_rows, columns.len() as u64)?;

        write_header(sheet, header_row, &mut columns, &at)?;

        let mut row = header_row + 1;
        for batch in batches {
            for (index, column) in columns.iter_mut().enumerate() {
                let cells = prepare(batch.column(index), column)?;
                write_cells(sheet, row, index as u16, column, &cells, &at)?;
            }
            row += batch.num_rows() as u32;
        }

        let last_col = (columns.len() as u16).saturating_sub(1);
        let last_row = row - 1;
        if !columns.is_empty() && top == 0 {
            sheet.autofilter(header_row, 0, last_row, last_col).map_err(|source| Error::Xlsx { context: at("autofilter"), source })?;
        }
        placed.last_row = last_row;
        placed.columns = columns.iter().map(|c| c.name.clone()).collect();
        placed.widths = columns.iter().map(|c| c.width).collect();
    }
    Ok(placed)
}

/// Sets column widths from `table.widths` (content + 2, clamped to 8–60), freezes
/// the panes below the header row and repeats it on every printed page, and sets
/// the page up: A4 landscape, one page wide.
pub(crate) fn finish_sheet(sheet: &mut Worksheet, table: &Placed) -> Result<()> {
    for (index, width) in table.widths.iter().enumerate() {
        let width = (width + 2).clamp(MIN_WIDTH, MAX_WIDTH);
        sheet.set_column_width(index as u16, width as f64).map_err(|source| Error::Xlsx { context: table.at(&format!("width of column {index}")), source })?;
    }
    if !table.columns.is_empty() {
        sheet.set_freeze_panes(table.header_row + 1, 0).map_err(|source| Error::Xlsx { context: table.at("freeze panes"), source })?;
        sheet.set_repeat_rows(table.header_row, table.header_row).map_err(|source| Error::Xlsx { context: table.at("print titles"), source })?;
    }
    page_setup(sheet);
    Ok(())
}

/// A4 landscape, one page wide, as tall as needed.
pub(crate) fn page_setup(sheet: &mut Worksheet) {
    sheet.set_paper_size(PAPER_A4).set_landscape().set_print_fit_to_pages(1, 0);
}

/// Assembles the workbook.
pub(crate) fn save(workbook: &mut Workbook, sheet_name: &str) -> Result<Vec<u8>> {
    workbook.save_to_buffer().map_err(|source| Error::Xlsx { context: format!("sheet {sheet_name:?}, assembling the file"), source })
}

/// The header cells' format: bold, light blue fill, wrapped, thin borders, centred.
pub(crate) fn header_format() -> Format {
    Format::new()
        .set_bold()
        .set_background_color(Color::RGB(HEADER_FILL))
        .set_text_wrap()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
}

fn write_titles(sheet: &mut Worksheet, top: u32, spec: &SheetSpec, at: &dyn Fn(&str) -> String) -> Result<()> {
    let bold = Format::new().set_bold().set_font_size(14);
    let italic = Format::new().set_italic();
    let plain = Format::new();
    let lines = spec
        .title
        .iter()
        .map(|t| (t, &bold, "title"))
        .chain(spec.subtitle.iter().map(|t| (t, &italic, "subtitle")))
        .chain(spec.lines.iter().map(|t| (t, &plain, "line")));
    for (row, (text, format, what)) in (top..).zip(lines) {
        sheet.write_string_with_format(row, 0, text, format).map_err(|source| Error::Xlsx { context: at(what), source })?;
    }
    Ok(())
}

fn check_size(rows: u64, cols: u64) -> Result<()> {
    if rows > MAX_ROWS {
        return Err(Error::TooLarge { what: "rows (title, header and data)", count: rows, limit: MAX_ROWS });
    }
    if cols > MAX_COLS {
        return Err(Error::TooLarge { what: "columns", count: cols, limit: MAX_COLS });
    }
    Ok(())
}

fn plan_columns(fields: &arrow::datatypes::Fields, spec: &SheetSpec) -> Result<Vec<Column>> {
    for (column, _) in spec.headers.iter().chain(&spec.number_formats) {
        if !fields.iter().any(|f| f.name() == column) {
            tracing::warn!(column, sheet = %spec.sheet_name, "the sheet spec names a column the table does not have");
        }
    }
    fields
        .iter()
        .map(|field: &Arc<Field>| {
            let kind = kind_of(field.data_type()).ok_or_else(|| Error::UnsupportedType {
                column: field.name().clone(),
                data_type: field.data_type().clone(),
                format: "XLSX",
            })?;
            let code = spec.number_format(field.name()).or(match kind {
                Kind::Number { integer: true } => Some(DEFAULT_INTEGER_FORMAT),
                Kind::Number { integer: false } => Some(DEFAULT_FLOAT_FORMAT),
                Kind::Date => Some(DATE_FORMAT),
                Kind::Timestamp => Some(TIMESTAMP_FORMAT),
                Kind::Time => Some(TIME_FORMAT),
                Kind::Text | Kind::Bool | Kind::Null => None,
            });
            Ok(Column {
                name: field.name().clone(),
                label: spec.label(field.name()).to_string(),
                data_type: field.data_type().clone(),
                kind,
                format: code.map(|code| Format::new().set_num_format(code)),
                decimals: code.map_or(0, decimals_of),
                width: 0,
            })
        })
        .collect()
}

/// Decimal places a number format shows: the `0`/`#` after the first `.`.
fn decimals_of(code: &str) -> usize {
    code.split_once('.').map_or(0, |(_, after)| after.chars().take_while(|c| matches!(c, '0' | '#')).count())
}

fn write_header(sheet: &mut Worksheet, row: u32, columns: &mut [Column], at: &dyn Fn(&str) -> String) -> Result<()> {
    let format = header_format();
    for (index, column) in columns.iter_mut().enumerate() {
        let label = column.label.clone();
        column.width = column.width.max(text_width(&label));
        sheet
            .write_string_with_format(row, index as u16, label, &format)
            .map_err(|source| Error::Xlsx { context: at(&format!("header of column {:?}", column.name)), source })?;
    }
    Ok(())
}

/// Characters of the longest line of `text`.
fn text_width(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// Approximate characters of a number shown with thousands separators and
/// `decimals` decimal places.
fn number_width(value: f64, decimals: usize) -> usize {
    let digits = if value.abs() < 1.0 { 1 } else { (value.abs().log10().floor() as usize).saturating_add(1).min(309) };
    let separators = (digits - 1) / 3;
    let sign = usize::from(value < 0.0);
    let fraction = if decimals > 0 { decimals + 1 } else { 0 };
    sign + digits + separators + fraction
}

fn convert_error(column: &Column) -> impl Fn(arrow::error::ArrowError) -> Error + '_ {
    move |source| Error::Convert { column: column.name.clone(), data_type: column.data_type.clone(), source }
}

/// Turns one column of one batch into cell values.
fn prepare(array: &ArrayRef, column: &Column) -> Result<Cells> {
    let err = convert_error(column);
    // Dictionaries are written as their values.
    let array: ArrayRef = match array.data_type() {
        DataType::Dictionary(_, values) => cast(array, values).map_err(&err)?,
        _ => Arc::clone(array),
    };
    Ok(match column.kind {
        Kind::Null => Cells::Null,
        Kind::Number { .. } => {
            let numbers = cast(&array, &DataType::Float64).map_err(&err)?;
            Cells::Number(numbers.as_primitive().clone())
        }
        Kind::Text => {
            let text = cast(&array, &DataType::Utf8).map_err(&err)?;
            Cells::Text(text.as_string::<i32>().clone())
        }
        Kind::Bool => Cells::Bool(array.as_boolean().clone()),
        Kind::Date => {
            let days = cast(&array, &DataType::Date32).map_err(&err)?;
            let days = days.as_primitive::<Date32Type>();
            let serials = days.iter().map(|d| d.map(|d| f64::from(d) + UNIX_EPOCH_SERIAL)).collect();
            Cells::Temporal(with_text_fallback(&array, serials, &err)?)
        }
        Kind::Timestamp => {
            let DataType::Timestamp(_, tz) = array.data_type() else { unreachable!("kind_of gives Timestamp only for timestamps") };
            let tz = tz.clone();
            let micros = cast(&array, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone())).map_err(&err)?;
            let micros = micros.as_primitive::<TimestampMicrosecondType>();
            let wall: Vec<Option<i64>> = match &tz {
                None => micros.iter().collect(),
                Some(tz) => {
                    let tz: arrow::array::timezone::Tz = tz.parse().map_err(&err)?;
                    micros
                        .iter()
                        .map(|v| {
                            v.and_then(|v| {
                                arrow::array::temporal_conversions::as_datetime_with_timezone::<TimestampMicrosecondType>(v, tz)
                                    .map(|t| t.naive_local().and_utc().timestamp_micros())
                            })
                        })
                        .collect()
                }
            };
            let serials = wall
                .into_iter()
                .map(|v| v.map(|v| v.div_euclid(MICROS_PER_DAY) as f64 + UNIX_EPOCH_SERIAL + v.rem_euclid(MICROS_PER_DAY) as f64 / MICROS_PER_DAY as f64))
                .collect();
            Cells::Temporal(with_text_fallback(&array, serials, &err)?)
        }
        Kind::Time => {
            let micros = cast(&array, &DataType::Time64(TimeUnit::Microsecond)).map_err(&err)?;
            let micros = micros.as_primitive::<Time64MicrosecondType>();
            Cells::Temporal(micros.iter().map(|v| v.map(|v| Temporal::Serial(v as f64 / MICROS_PER_DAY as f64))).collect())
        }
    })
}

/// Keeps serial numbers Excel shows as dates; formats the others as text.
fn with_text_fallback(array: &ArrayRef, serials: Vec<Option<f64>>, err: &dyn Fn(arrow::error::ArrowError) -> Error) -> Result<Vec<Option<Temporal>>> {
    let options = FormatOptions::new()
        .with_date_format(Some("%d/%m/%Y"))
        .with_datetime_format(Some("%d/%m/%Y %H:%M"))
        .with_timestamp_format(Some("%d/%m/%Y %H:%M"))
        .with_timestamp_tz_format(Some("%d/%m/%Y %H:%M %:z"));
    let mut formatter = None;
    serials
        .into_iter()
        .enumerate()
        .map(|(i, serial)| {
            Ok(match serial {
                None => None,
                Some(s) if (FIRST_SERIAL..END_SERIAL).contains(&s) => Some(Temporal::Serial(s)),
                Some(_) => {
                    if formatter.is_none() {
                        formatter = Some(ArrayFormatter::try_new(array.as_ref(), &options).map_err(err)?);
                    }
                    let text = formatter.as_ref().expect("set above").value(i).try_to_string().map_err(err)?;
                    Some(Temporal::Text(text))
                }
            })
        })
        .collect()
}

fn write_cells(sheet: &mut Worksheet, first_row: u32, col: u16, column: &mut Column, cells: &Cells, at: &dyn Fn(&str) -> String) -> Result<()> {
    let plain = Format::new();
    let format = column.format.as_ref().unwrap_or(&plain);
    let fail = |offset: usize, source| Error::Xlsx { context: at(&format!("column {:?}, row {}", column.name, first_row as usize + offset + 1)), source };
    match cells {
        Cells::Null => {}
        Cells::Number(values) => {
            for (i, value) in values.iter().enumerate() {
                let Some(value) = value.filter(|v| v.is_finite()) else {
                    continue;
                };
                sheet.write_number_with_format(first_row + i as u32, col, value, format).map_err(|e| fail(i, e))?;
                column.width = column.width.max(number_width(value, column.decimals));
            }
        }
        Cells::Text(values) => {
            for (i, value) in values.iter().enumerate() {
                let Some(value) = value else { continue };
                let row = first_row + i as u32;
                match &column.format {
                    Some(format) => sheet.write_string_with_format(row, col, value, format),
                    None => sheet.write_string(row, col, value),
                }
                .map_err(|e| fail(i, e))?;
                column.width = column.width.max(text_width(value));
            }
        }
        Cells::Bool(values) => {
            for (i, value) in values.iter().enumerate() {
                let Some(value) = value else { continue };
                let row = first_row + i as u32;
                match &column.format {
                    Some(format) => sheet.write_boolean_with_format(row, col, value, format),
                    None => sheet.write_boolean(row, col, value),
                }
                .map_err(|e| fail(i, e))?;
                column.width = column.width.max(5);
            }
        }
        Cells::Temporal(values) => {
            let shown = match column.kind {
                Kind::Date => DATE_FORMAT.len(),
                Kind::Timestamp => TIMESTAMP_FORMAT.len(),
                _ => TIME_FORMAT.len(),
            };
            for (i, value) in values.iter().enumerate() {
                let row = first_row + i as u32;
                match value {
                    None => continue,
                    Some(Temporal::Serial(serial)) => {
                        sheet.write_number_with_format(row, col, *serial, format).map_err(|e| fail(i, e))?;
                        column.width = column.width.max(shown);
                    }
                    Some(Temporal::Text(text)) => {
                        sheet.write_string(row, col, text).map_err(|e| fail(i, e))?;
                        column.width = column.width.max(text_width(text));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_sanitised() {
        assert_eq!(sanitize_sheet_name("Chỉ tiêu tỉnh"), "Chỉ tiêu tỉnh");
        assert_eq!(sanitize_sheet_name("Tháng 3/2026"), "Tháng 3-2026");
        assert_eq!(sanitize_sheet_name("[a]:b*c?d\\e"), "-a--b-c-d-e");
        assert_eq!(sanitize_sheet_name("  'Quý 1' "), "Quý 1");
        assert_eq!(sanitize_sheet_name(""), "Báo cáo");
        assert_eq!(sanitize_sheet_name("''"), "Báo cáo");
        assert_eq!(sanitize_sheet_name("history"), "history-");
        let long = "Báo cáo chỉ tiêu y tế cơ sở theo tỉnh thành phố";
        let cut = sanitize_sheet_name(long);
        assert_eq!(cut.chars().count(), 31);
        assert!(long.starts_with(&cut));
        for name in [long, "Tháng 3/2026", "", "a'", "x".repeat(40).as_str()] {
            rust_xlsxwriter::utility::check_sheet_name(&sanitize_sheet_name(name)).unwrap();
        }
    }

    #[test]
    fn truncation_keeps_combining_marks_with_their_letter() {
        // 30 × 'a', then 'e' + combining acute (NFD): cutting at 31 would strip the accent.
        let name = format!("{}e\u{301}x", "a".repeat(30));
        assert_eq!(sanitize_sheet_name(&name), "a".repeat(30));
    }

    #[test]
    fn header_row_follows_titles() {
        assert_eq!(SheetSpec::new("s").header_row(), 0);
        assert_eq!(SheetSpec::new("s").with_title("t").header_row(), 2);
        assert_eq!(SheetSpec::new("s").with_subtitle("t").header_row(), 2);
        assert_eq!(SheetSpec::new("s").with_title("t").with_subtitle("u").header_row(), 3);
    }

    #[test]
    fn widths_are_estimated() {
        assert_eq!(number_width(1234567.0, 0), 9); // 1,234,567
        assert_eq!(number_width(-12.5, 1), 5); // -12.5
        assert_eq!(number_width(0.25, 2), 4); // 0.25
        assert_eq!(decimals_of("#,##0.00"), 2);
        assert_eq!(decimals_of("0"), 0);
    }
}
