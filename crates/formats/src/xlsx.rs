//! Workbooks (`.xlsx`, and through calamine also `.xls`, `.xlsb`, `.ods`) in one of two layouts.
//!
//! **Long layout** ([`Format::XlsxLong`]): the long CSV on a sheet. The header row is the first
//! non-empty row within the first [`HEADER_SEARCH_ROWS`] rows; it names the columns `period`,
//! `org_unit`, `data_element`, `value` and optionally `disaggregation` and `comment` (any order,
//! case-insensitive, other columns ignored). Every non-empty row below is one record, located at its
//! value cell (`D7`). An empty value cell gives a record with value `""`, as in the CSV.
//!
//! **Report form** ([`Format::XlsxForm`], what [`crate::template`] writes): one row per unit, one
//! column per data element.
//!
//! - The *code row* is a row within the first [`HEADER_SEARCH_ROWS`] rows holding the unit-code
//!   header — a cell reading `org_unit`, `Mã đơn vị`, `Mã xã` or `Mã xã/phường` (case, diacritics
//!   and a trailing `:` do not matter) — and data element codes: every other cell of the row whose
//!   text matches `^[A-Z][A-Z0-9_]*$` heads a value column, except `STT` and `TT` (row-number
//!   columns). Cells that are not codes (unit names, district columns) are ignored. Labels may sit
//!   in rows above; when several rows hold a unit-code header, the one with the most codes wins
//!   (the lower one on a tie). Which codes exist is the validator's business, not the reader's.
//! - The *period* is the text right of (or, when that cell is empty, below) a cell reading
//!   `Kỳ báo cáo` or `period` (same tolerance, `:` optional), searched above the code row; a cell
//!   reading `Kỳ báo cáo: 202603` also works. Without one, the sheet name is the period when it
//!   parses as a period code (`202603`, `2026Q1`, ...). No period at all is an [`Error::Unreadable`].
//! - Every row below the code row with a unit code gives one record per non-empty value cell,
//!   located at that cell. Rows without a unit code are skipped when they are empty or a total row
//!   (a cell starting with `Tổng`, `Cộng` or `Total`); otherwise they give a `unit_missing` problem.
//!
//! **Cells.** Text is trimmed and NFC-normalised; numbers are written without a trailing `.0`
//! (`12000`, `0.5`), rounded to 15 significant digits as Excel shows them; booleans become `1`/`0`.
//! Problems (reason codes): `cell_error` (a formula error such as `#DIV/0!`), `cell_not_numeric`
//! (a date or duration in a value cell), `cell_is_date` (a date in a period, unit or data element
//! cell: Excel turned `03/2026` into a date), `unit_missing` (values in a form row without a unit
//! code).
//!
//! **Sheets.** Hidden sheets, chart sheets and macro sheets are ignored; the first visible sheet
//! that has the layout asked for (or, when not told, either layout, long checked first on each
//! sheet) is read, and the others are ignored (so an instruction sheet does no harm).

use std::io::Cursor;

use calamine::{Data, DataRef, Range, Reader, SheetType, SheetVisible, Sheets};
use tonghop_core::text::{fold, nfc};
use tonghop_core::Period;

use crate::{Error, Format, Location, Problem, Record, Result, Sink};

/// How many rows from the top of a sheet are searched for the header (long layout) or the code
/// row (report form).
pub const HEADER_SEARCH_ROWS: u32 = 30;

/// Texts accepted as the unit-code header of a report form, folded (lower case, no diacritics).
const UNIT_HEADERS: [&str; 5] = ["org_unit", "ma don vi", "ma xa", "ma xa/phuong", "ma xa, phuong"];

/// Texts accepted as the period label of a report form, folded.
const PERIOD_LABELS: [&str; 2] = ["ky bao cao", "period"];

/// Upper-case headers of a code row that are row numbers, not data elements.
const NOT_CODES: [&str; 2] = ["STT", "TT"];

/// The long-layout column names.
const LONG_REQUIRED: [&str; 4] = ["period", "org_unit", "data_element", "value"];

/// Reads a workbook into `sink`; `format` forces long ([`Format::XlsxLong`]) or form
/// ([`Format::XlsxForm`]), `None` (or any non-workbook format) tells them apart. Returns which one
/// it read.
///
/// `Err` ([`Error::Unreadable`]) when the bytes are not a workbook (the parser's message is kept),
/// when no visible sheet has the layout, or when a report form has no period.
pub fn read(bytes: &[u8], name: &str, format: Option<Format>, sink: &mut dyn Sink) -> Result<Format> {
    let wanted = format.filter(|f| matches!(f, Format::XlsxLong | Format::XlsxForm));
    let reported = wanted.unwrap_or(Format::XlsxLong);
    let unreadable = |format: Format, reason: String| Error::Unreadable { name: name.to_string(), format, reason };

    let mut workbook = guarded(|| open(bytes)).and_then(|r| r).map_err(|reason| unreadable(reported, reason))?;
    let sheets: Vec<String> =
        workbook.sheets_metadata().iter().filter(|s| s.typ == SheetType::WorkSheet && s.visible == SheetVisible::Visible).map(|s| s.name.clone()).collect();

    // Seen on the way, for a helpful message when nothing matches what was asked for.
    let mut other_layout: Option<(String, Format)> = None;
    for sheet in &sheets {
        let range = guarded(|| sheet_range(&mut workbook, sheet))
            .and_then(|r| r)
            .map_err(|e| unreadable(reported, format!("sheet \"{sheet}\" cannot be read: {e}")))?;
        let grid = Grid { sheet, range: &range };
        if wanted != Some(Format::XlsxForm) {
            if let Some(header) = grid.long_header() {
                tracing::debug!(name, sheet = sheet.as_str(), header_row = header.row + 1, "reading the long layout");
                grid.read_long(&header, sink);
                return Ok(Format::XlsxLong);
            }
        }
        if wanted != Some(Format::XlsxLong) {
            if let Some(header) = grid.form_header() {
                let period = grid.form_period(header.row).ok_or_else(|| {
                    unreadable(
                        Format::XlsxForm,
                        format!(
                            "sheet \"{sheet}\" has the report-form layout (unit-code column headed \"{}\" in {}, {} data element columns) \
                             but no period: put the period code (e.g. 202603) in the cell right of a cell reading \"Kỳ báo cáo:\" \
                             above the code row, or name the sheet with the period code",
                            header.unit_label,
                            cell_name(header.row, header.unit_col),
                            header.elements.len()
                        ),
                    )
                })?;
                tracing::debug!(name, sheet = sheet.as_str(), code_row = header.row + 1, period = period.as_str(), "reading the report form");
                grid.read_form(&header, &period, sink);
                return Ok(Format::XlsxForm);
            }
        }
        if other_layout.is_none() {
            other_layout = match wanted {
                Some(Format::XlsxLong) => grid.form_header().map(|_| (sheet.clone(), Format::XlsxForm)),
                Some(_) => grid.long_header().map(|_| (sheet.clone(), Format::XlsxLong)),
                None => None,
            };
        }
    }

    let long_needs = "the long layout needs a header row (the first non-empty row of the sheet) naming the columns \
                      period, org_unit, data_element and value";
    let form_needs = "the report form needs a row with a unit-code header (org_unit, \"Mã đơn vị\" or \"Mã xã\") \
                      and data element codes (such as DS_TONG) in other cells of that row";
    let seen = match &other_layout {
        Some((sheet, found)) => format!("; sheet \"{sheet}\" has the {found} layout, so read it with --format {found}"),
        None => String::new(),
    };
    let visible = if sheets.is_empty() {
        "the workbook has no visible worksheet".to_string()
    } else {
        format!("no visible sheet ({}) has that layout", sheets.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", "))
    };
    let reason = match wanted {
        Some(Format::XlsxLong) => format!("{visible}: {long_needs}{seen}"),
        Some(_) => format!("{visible}: {form_needs}{seen}"),
        None => format!("no visible sheet has either workbook layout: {long_needs}; {form_needs}"),
    };
    Err(unreadable(wanted.unwrap_or(Format::XlsxLong), if sheets.is_empty() { visible } else { reason }))
}

/// Runs a parser call, turning a panic inside it into an error: calamine can panic on some damaged
/// files (an arithmetic overflow on an absurd cell reference, found by `tests/fuzz_xlsx.rs`), and a
/// damaged upload must not stop an ingest run. (This relies on unwinding, the default panic
/// strategy.)
pub(crate) fn guarded<T>(parse: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).map_err(|panic| {
        let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
        tracing::warn!(panic = what.as_deref().unwrap_or("?"), "the workbook parser panicked on a damaged file");
        format!("the workbook is damaged (the parser failed: {})", what.as_deref().unwrap_or("unknown error"))
    })
}

/// The most cells a sheet's used area may span (rows × columns from its first to its last
/// non-empty cell). A report form covers a few thousand; a long layout of a whole province's month
/// (3,321 communes × 17 data elements × 8 groups × 6 columns) about 2.7 M. Ten million cells take
/// ~320 MB as the reader holds them; one stray cell at `XFD1048576` would ask for 550 GB.
pub const MAX_SHEET_CELLS: u64 = 10_000_000;

/// The most distinct shared strings a workbook may declare: the reader reserves room for all of
/// them when it opens the file. Codes, names and comments of a province's month are far fewer.
pub const MAX_SHARED_STRINGS: u64 = 5_000_000;

/// A sheet's non-empty cells as a range. An `.xlsx` or `.xlsb` sheet is read cell by cell and
/// refused, before anything is allocated for it, once its used area passes [`MAX_SHEET_CELLS`];
/// `.xls` goes through calamine's range (it cannot pass 65,536 rows × 256 columns), and `.ods`
/// too, after [`check_ods_extent`] measured its used area when the workbook was opened.
fn sheet_range(workbook: &mut Sheets<Cursor<&[u8]>>, sheet: &str) -> std::result::Result<Range<Data>, String> {
    match workbook {
        Sheets::Xlsx(xlsx) => {
            let mut reader = xlsx.worksheet_cells_reader(sheet).map_err(|e| e.to_string())?;
            bounded_cells(|| reader.next_cell().map_err(|e| e.to_string()))
        }
        Sheets::Xlsb(xlsb) => {
            let mut reader = xlsb.worksheet_cells_reader(sheet).map_err(|e| e.to_string())?;
            bounded_cells(|| reader.next_cell().map_err(|e| e.to_string()))
        }
        other => other.worksheet_range(sheet).map_err(|e| e.to_string()),
    }
}

/// Collects the non-empty cells `next` yields, refusing the sheet as soon as their used area
/// passes [`MAX_SHEET_CELLS`].
pub(crate) fn bounded_cells<'a>(
    mut next: impl FnMut() -> std::result::Result<Option<calamine::Cell<DataRef<'a>>>, String>,
) -> std::result::Result<Range<Data>, String> {
    let mut cells = Vec::new();
    let (mut first, mut last) = ((u32::MAX, u32::MAX), (0, 0));
    while let Some(cell) = next()? {
        if matches!(cell.get_value(), DataRef::Empty) {
            continue;
        }
        let (row, col) = cell.get_position();
        first = (first.0.min(row), first.1.min(col));
        last = (last.0.max(row), last.1.max(col));
        let (rows, cols) = (u64::from(last.0 - first.0) + 1, u64::from(last.1 - first.1) + 1);
        if rows * cols > MAX_SHEET_CELLS {
            return Err(too_wide(first, last, Some((row, col))));
        }
        cells.push(calamine::Cell::new((row, col), Data::from(cell.get_value().clone())));
    }
    Ok(Range::from_sparse(cells))
}

/// The refusal of a sheet whose used area spans `first` to `last` (`at`: the cell that crossed the limit).
fn too_wide(first: (u32, u32), last: (u32, u32), at: Option<(u32, u32)>) -> String {
    let (rows, cols) = (u64::from(last.0 - first.0) + 1, u64::from(last.1 - first.1) + 1);
    let at = at.map(|(row, col)| format!(", the last at {}", cell_name(row, col))).unwrap_or_default();
    format!(
        "its cells span {}:{} ({rows} rows × {cols} columns{at}), more than the {MAX_SHEET_CELLS} cells a submitted sheet may cover; \
         delete the stray cells far from the data, or split the file",
        cell_name(first.0, first.1),
        cell_name(last.0, last.1),
    )
}

/// Refuses a ZIP workbook whose shared-string table declares more than [`MAX_SHARED_STRINGS`]
/// entries (read from the start of each `sharedStrings.xml` part before the workbook is opened).
pub(crate) fn check_shared_strings(bytes: &[u8]) -> std::result::Result<(), String> {
    use std::io::Read;
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(bytes)) else { return Ok(()) };
    for i in 0..archive.len() {
        let Ok(entry) = archive.by_index(i) else { continue };
        if !entry.name().is_ok_and(|n| n.to_ascii_lowercase().ends_with("sharedstrings.xml")) {
            continue;
        }
        let mut head = Vec::new();
        if entry.take(4096).read_to_end(&mut head).is_err() {
            continue;
        }
        let head = String::from_utf8_lossy(&head);
        let Some(at) = head.find("uniqueCount=") else { continue };
        let digits: String = head[at + "uniqueCount=".len()..].chars().skip(1).take_while(char::is_ascii_digit).collect();
        match digits.parse::<u64>() {
            Ok(n) if n <= MAX_SHARED_STRINGS => {}
            _ => {
                let declared = if digits.is_empty() { "an unreadable number of" } else { digits.as_str() };
                return Err(format!(
                    "the workbook declares {declared} distinct shared strings (sharedStrings.xml uniqueCount), \
                     more than the {MAX_SHARED_STRINGS} a submission may have"
                ));
            }
        }
    }
    Ok(())
}

/// Refuses an `.ods` workbook (a ZIP with `content.xml`) whose sheets' used area passes
/// [`MAX_SHEET_CELLS`], measured from the repeat counts of its rows and cells
/// (`table:number-rows-repeated`, `table:number-columns-repeated`) before calamine expands them:
/// a few bytes can declare a row of values repeated a million times. A cell counts as used when it
/// has a value type or any content. Not an `.ods` file: `Ok`.
fn check_ods_extent(bytes: &[u8]) -> std::result::Result<(), String> {
    use quick_xml::events::{BytesStart, Event};
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(bytes)) else { return Ok(()) };
    let Ok(content) = archive.by_name("content.xml") else { return Ok(()) };
    let mut reader = quick_xml::Reader::from_reader(std::io::BufReader::new(content));
    let repeats = |e: &BytesStart<'_>, name: &str| -> u64 {
        e.try_get_attribute(name).ok().flatten().and_then(|a| std::str::from_utf8(&a.value).ok()?.trim().parse().ok()).unwrap_or(1).max(1)
    };
    let (mut sheet, mut row, mut col, mut row_repeats) = (String::new(), 0u64, 0u64, 1u64);
    let mut used: Option<((u64, u64), (u64, u64))> = None;
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| format!("not a readable .ods workbook: content.xml: {e}"))?;
        let (e, has_content) = match &event {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(e) if e.name().as_ref() == b"table:table-row" => {
                row = row.saturating_add(row_repeats);
                buf.clear();
                continue;
            }
            Event::Eof => return Ok(()),
            _ => {
                buf.clear();
                continue;
            }
        };
        match e.name().as_ref() {
            b"table:table" => {
                sheet = e.try_get_attribute("table:name").ok().flatten().map(|a| String::from_utf8_lossy(&a.value).into_owned()).unwrap_or_default();
                (row, used) = (0, None);
            }
            b"table:table-row" => {
                (col, row_repeats) = (0, repeats(e, "table:number-rows-repeated"));
                if !has_content {
                    row = row.saturating_add(row_repeats);
                }
            }
            b"table:table-cell" | b"table:covered-table-cell" => {
                let cols = repeats(e, "table:number-columns-repeated");
                if has_content || e.try_get_attribute("office:value-type").ok().flatten().is_some() {
                    let (last_row, last_col) = (row.saturating_add(row_repeats - 1), col.saturating_add(cols - 1));
                    let ((r0, c0), (r1, c1)) = used.unwrap_or(((row, col), (last_row, last_col)));
                    let area = ((r0.min(row), c0.min(col)), (r1.max(last_row), c1.max(last_col)));
                    used = Some(area);
                    let ((r0, c0), (r1, c1)) = area;
                    if (r1 - r0 + 1).saturating_mul(c1 - c0 + 1) > MAX_SHEET_CELLS {
                        let at = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
                        return Err(format!("sheet {sheet:?}: {}", too_wide((at(r0), at(c0)), (at(r1), at(c1)), None)));
                    }
                }
                col = col.saturating_add(cols);
            }
            _ => {}
        }
        buf.clear();
    }
}

/// Opens a workbook from its bytes, choosing the parser by the file signature.
fn open(bytes: &[u8]) -> std::result::Result<Sheets<Cursor<&[u8]>>, String> {
    const ZIP: &[u8] = b"PK\x03\x04";
    const OLE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    let cursor = Cursor::new(bytes);
    if bytes.starts_with(OLE) {
        return calamine::open_workbook_from_rs(cursor).map(Sheets::Xls).map_err(|e| format!("not a readable .xls workbook: {e}"));
    }
    if !bytes.starts_with(ZIP) {
        return Err("not a workbook: neither a ZIP-based .xlsx/.ods file nor an Excel 97-2003 .xls file".to_string());
    }
    check_shared_strings(bytes)?;
    // .xlsx is by far the most common; .xlsb and .ods are ZIP files too.
    let xlsx_error = match calamine::open_workbook_from_rs(cursor.clone()) {
        Ok(workbook) => return Ok(Sheets::Xlsx(workbook)),
        Err(e) => e,
    };
    if let Ok(workbook) = calamine::open_workbook_from_rs(cursor.clone()) {
        return Ok(Sheets::Xlsb(workbook));
    }
    // calamine reads every sheet of an .ods file when it opens it: its used area is checked first.
    check_ods_extent(bytes)?;
    if let Ok(workbook) = calamine::open_workbook_from_rs(cursor) {
        return Ok(Sheets::Ods(workbook));
    }
    Err(format!("not a readable .xlsx workbook: {xlsx_error}"))
}

/// The long-layout header: its row and the column of each field.
#[derive(Debug, Clone, Copy)]
struct LongHeader {
    row: u32,
    period: u32,
    org_unit: u32,
    data_element: u32,
    value: u32,
    disaggregation: Option<u32>,
    comment: Option<u32>,
}

/// The report-form code row: its row, the unit-code column and the data element columns.
#[derive(Debug, Clone)]
struct FormHeader {
    row: u32,
    unit_col: u32,
    unit_label: String,
    elements: Vec<(u32, String)>,
}

/// One sheet's cells, addressed by absolute 0-based (row, column) (the progress form's reader
/// adds its own methods in `crate::progress`).
pub(crate) struct Grid<'a> {
    pub(crate) sheet: &'a str,
    pub(crate) range: &'a Range<Data>,
}

impl Grid<'_> {
    pub(crate) fn get(&self, row: u32, col: u32) -> &Data {
        self.range.get_value((row, col)).unwrap_or(&Data::Empty)
    }

    /// First and last (row, column) of the used area, or `None` for an empty sheet.
    fn bounds(&self) -> Option<((u32, u32), (u32, u32))> {
        Some((self.range.start()?, self.range.end()?))
    }

    pub(crate) fn location(&self, row: u32, col: u32) -> Location {
        Location::Cell { sheet: self.sheet.to_string(), cell: cell_name(row, col) }
    }

    /// The trimmed text of a cell, or `None` when it is empty or not text.
    pub(crate) fn text(&self, row: u32, col: u32) -> Option<String> {
        match self.get(row, col) {
            Data::String(s) if !s.trim().is_empty() => Some(nfc(s.trim()).into_owned()),
            _ => None,
        }
    }

    fn row_is_empty(&self, row: u32, first_col: u32, last_col: u32) -> bool {
        (first_col..=last_col).all(|c| is_blank(self.get(row, c)))
    }

    /// The long header: the first non-empty row within the search window, if it names the four
    /// required columns.
    fn long_header(&self) -> Option<LongHeader> {
        let ((first_row, first_col), (last_row, last_col)) = self.bounds()?;
        if first_row >= HEADER_SEARCH_ROWS {
            return None;
        }
        let row = (first_row..=last_row.min(HEADER_SEARCH_ROWS - 1)).find(|&r| !self.row_is_empty(r, first_col, last_col))?;
        let column = |wanted: &str| {
            (first_col..=last_col).find(|&c| self.text(row, c).is_some_and(|t| t.trim_start_matches('\u{feff}').trim().eq_ignore_ascii_case(wanted)))
        };
        let [period, org_unit, data_element, value] = LONG_REQUIRED.map(column);
        Some(LongHeader {
            row,
            period: period?,
            org_unit: org_unit?,
            data_element: data_element?,
            value: value?,
            disaggregation: column("disaggregation"),
            comment: column("comment"),
        })
    }

    /// The report-form code row (see the module docs).
    fn form_header(&self) -> Option<FormHeader> {
        let ((first_row, first_col), (last_row, last_col)) = self.bounds()?;
        let mut best: Option<FormHeader> = None;
        for row in first_row..=last_row.min(HEADER_SEARCH_ROWS.saturating_sub(1)) {
            let Some(unit_col) = (first_col..=last_col).find(|&c| self.text(row, c).is_some_and(|t| is_unit_header(&t))) else {
                continue;
            };
            let elements: Vec<(u32, String)> =
                (first_col..=last_col).filter(|&c| c != unit_col).filter_map(|c| self.text(row, c).filter(|t| is_code(t)).map(|t| (c, t))).collect();
            if elements.is_empty() || best.as_ref().is_some_and(|b| b.elements.len() > elements.len()) {
                continue;
            }
            let unit_label = self.text(row, unit_col).unwrap_or_default();
            best = Some(FormHeader { row, unit_col, unit_label, elements });
        }
        best
    }

    /// The period of a report form whose code row is `code_row`: a labelled cell above it, else
    /// the sheet name.
    fn form_period(&self, code_row: u32) -> Option<String> {
        if let Some(((first_row, first_col), (_, last_col))) = self.bounds() {
            for row in first_row..code_row {
                for col in first_col..=last_col {
                    let Some(text) = self.text(row, col) else { continue };
                    if let Some(inline) = labelled_value(&text) {
                        if !inline.is_empty() {
                            return Some(inline);
                        }
                        let right = cell_text(self.get(row, col + 1));
                        let below = cell_text(self.get(row + 1, col));
                        if let Some(value) = right.or(below) {
                            return Some(value);
                        }
                    }
                }
            }
        }
        let sheet = self.sheet.trim();
        sheet.parse::<Period>().is_ok().then(|| sheet.to_string())
    }

    /// Reads the long layout below `header` into `sink`.
    fn read_long(&self, header: &LongHeader, sink: &mut dyn Sink) {
        let Some(((_, first_col), (last_row, last_col))) = self.bounds() else { return };
        for row in header.row + 1..=last_row {
            if self.row_is_empty(row, first_col, last_col) {
                continue;
            }
            let mut problem = false;
            let mut key = |col: u32, field: &'static str, sink: &mut dyn Sink| -> String {
                match self.key_text(row, col, field) {
                    Ok(text) => text,
                    Err(p) => {
                        problem = true;
                        sink.problem(*p);
                        String::new()
                    }
                }
            };
            let period = key(header.period, "period", sink);
            let org_unit = key(header.org_unit, "org_unit", sink);
            let data_element = key(header.data_element, "data_element", sink);
            let disaggregation = header.disaggregation.map(|c| key(c, "disaggregation", sink)).filter(|t| !t.is_empty());
            let comment = header.comment.map(|c| key(c, "comment", sink)).filter(|t| !t.is_empty());
            let value = match self.value_text(row, header.value) {
                Ok(v) => v.unwrap_or_default(),
                Err(p) => {
                    sink.problem(*p);
                    continue;
                }
            };
            if problem {
                continue;
            }
            sink.record(&Record {
                location: self.location(row, header.value),
                period: &period,
                org_unit: &org_unit,
                data_element: &data_element,
                disaggregation: disaggregation.as_deref(),
                value: &value,
                comment: comment.as_deref(),
                stored_by: None,
                deleted: false,
            });
        }
    }

    /// Reads the report form below `header` into `sink`.
    fn read_form(&self, header: &FormHeader, period: &str, sink: &mut dyn Sink) {
        let Some(((_, first_col), (last_row, last_col))) = self.bounds() else { return };
        for row in header.row + 1..=last_row {
            let org_unit = match self.key_text(row, header.unit_col, "org_unit") {
                Ok(text) => text,
                Err(p) => {
                    sink.problem(*p);
                    continue;
                }
            };
            if org_unit.is_empty() {
                let has_values = header.elements.iter().any(|(c, _)| !is_blank(self.get(row, *c)));
                let is_total = (first_col..=last_col).any(|c| {
                    self.text(row, c).is_some_and(|t| {
                        let t = fold(&t);
                        t.starts_with("tong") || t.starts_with("cong") || t.starts_with("total")
                    })
                });
                if has_values && !is_total {
                    let location = self.location(row, header.unit_col);
                    sink.problem(Problem {
                        message_vi: format!("{}: dòng có số liệu nhưng không có mã đơn vị; hãy nhập mã xã", location.vi()),
                        message_en: format!("{}: the row has values but no unit code; fill in the unit code", location.en()),
                        location,
                        field: "org_unit".into(),
                        value: None,
                        reason: "unit_missing",
                    });
                }
                continue;
            }
            for (col, element) in &header.elements {
                match self.value_text(row, *col) {
                    Ok(None) => {}
                    Ok(Some(value)) => sink.record(&Record {
                        location: self.location(row, *col),
                        period,
                        org_unit: &org_unit,
                        data_element: element,
                        disaggregation: None,
                        value: &value,
                        comment: None,
                        stored_by: None,
                        deleted: false,
                    }),
                    Err(p) => sink.problem(*p),
                }
            }
        }
    }

    /// A text field (period, unit, element, disaggregation, comment): `""` when empty.
    fn key_text(&self, row: u32, col: u32, field: &'static str) -> std::result::Result<String, Box<Problem>> {
        match self.get(row, col) {
            Data::Error(e) => Err(Box::new(self.cell_error(row, col, field, &e.to_string()))),
            d @ (Data::DateTime(_) | Data::DateTimeIso(_) | Data::DurationIso(_)) => {
                let location = self.location(row, col);
                let shown = date_text(d);
                Err(Box::new(Problem {
                    message_vi: format!(
                        "{}: ô chứa ngày tháng ({shown}) thay vì mã; hãy định dạng ô là Văn bản (Text) rồi nhập lại, ví dụ 202603",
                        location.vi()
                    ),
                    message_en: format!(
                        "{}: the cell holds a date ({shown}) instead of a code; format the cell as Text and type it again, e.g. 202603",
                        location.en()
                    ),
                    location,
                    field: field.into(),
                    value: Some(shown),
                    reason: "cell_is_date",
                }))
            }
            other => Ok(cell_text(other).unwrap_or_default()),
        }
    }

    /// A value cell: `None` when empty.
    fn value_text(&self, row: u32, col: u32) -> std::result::Result<Option<String>, Box<Problem>> {
        match self.get(row, col) {
            Data::Error(e) => Err(Box::new(self.cell_error(row, col, "value", &e.to_string()))),
            d @ (Data::DateTime(_) | Data::DateTimeIso(_) | Data::DurationIso(_)) => {
                let location = self.location(row, col);
                let shown = date_text(d);
                Err(Box::new(Problem {
                    message_vi: format!("{}: ô chứa ngày tháng ({shown}), không phải số; hãy định dạng ô là Số (Number) rồi nhập lại giá trị", location.vi()),
                    message_en: format!("{}: the cell holds a date ({shown}), not a number; format the cell as Number and type the value again", location.en()),
                    location,
                    field: "value".into(),
                    value: Some(shown),
                    reason: "cell_not_numeric",
                }))
            }
            other => Ok(cell_text(other)),
        }
    }

    pub(crate) fn cell_error(&self, row: u32, col: u32, field: &str, shown: &str) -> Problem {
        let location = self.location(row, col);
        Problem {
            message_vi: format!("{}: ô bị lỗi công thức ({shown}); hãy sửa công thức hoặc nhập trực tiếp giá trị", location.vi()),
            message_en: format!("{}: the cell holds a formula error ({shown}); fix the formula or type the value", location.en()),
            location,
            field: field.into(),
            value: Some(shown.to_string()),
            reason: "cell_error",
        }
    }
}

/// The text of a cell as a record carries it; `None` when empty. Dates and errors are handled by
/// the callers; here they show as Excel would.
pub(crate) fn cell_text(data: &Data) -> Option<String> {
    match data {
        Data::Empty => None,
        Data::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| nfc(t).into_owned())
        }
        Data::Int(i) => Some(i.to_string()),
        Data::Float(f) => Some(number_text(*f)),
        Data::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        d @ (Data::DateTime(_) | Data::DateTimeIso(_) | Data::DurationIso(_)) => Some(date_text(d)),
        Data::Error(e) => Some(e.to_string()),
    }
}

fn is_blank(data: &Data) -> bool {
    match data {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// A number as Excel shows it in General format: rounded to 15 significant digits, no trailing
/// `.0`, no exponent (`12000`, `0.5`, `0.3` for 0.1 + 0.2).
pub(crate) fn number_text(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let rounded: f64 = format!("{value:.14e}").parse().unwrap_or(value);
    if rounded.fract() == 0.0 && rounded.abs() < 1e15 {
        format!("{}", rounded as i64)
    } else {
        format!("{rounded}")
    }
}

/// A date or duration cell shown as `2026-03-01` (or `2026-03-01 08:30:00` with a time).
pub(crate) fn date_text(data: &Data) -> String {
    match data {
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            if (h, mi, s) == (0, 0, 0) {
                format!("{y:04}-{mo:02}-{d:02}")
            } else {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
            }
        }
        Data::DateTime(dt) => number_text(dt.as_f64()),
        other => other.to_string(),
    }
}

/// `A1`-style name of a 0-based (row, column).
pub(crate) fn cell_name(row: u32, col: u32) -> String {
    let mut letters = Vec::new();
    let mut n = col as u64 + 1;
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(char::from(b'A' + rem));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect::<String>() + &(row as u64 + 1).to_string()
}

fn is_unit_header(text: &str) -> bool {
    UNIT_HEADERS.contains(&fold(text).as_str())
}

/// `^[A-Z][A-Z0-9_]*$`, except row-number headers.
fn is_code(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_uppercase())
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !NOT_CODES.contains(&text)
}

/// When `text` is a period label, the text after it in the same cell (`""` for a bare label).
fn labelled_value(text: &str) -> Option<String> {
    let folded = fold(text);
    if PERIOD_LABELS.contains(&folded.as_str()) {
        return Some(String::new());
    }
    // `Kỳ báo cáo: 202603` in one cell: the label, a colon, the value.
    let (label, value) = text.split_once(':')?;
    PERIOD_LABELS.contains(&fold(label).as_str()).then(|| value.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_names() {
        assert_eq!(cell_name(0, 0), "A1");
        assert_eq!(cell_name(6, 3), "D7");
        assert_eq!(cell_name(9, 25), "Z10");
        assert_eq!(cell_name(0, 26), "AA1");
        assert_eq!(cell_name(0, 16_383), "XFD1");
    }

    #[test]
    fn numbers_as_excel_shows_them() {
        assert_eq!(number_text(12000.0), "12000");
        assert_eq!(number_text(0.5), "0.5");
        assert_eq!(number_text(0.1 + 0.2), "0.3");
        assert_eq!(number_text(-0.0), "0");
        assert_eq!(number_text(-3.0), "-3");
        assert_eq!(number_text(1e20), "100000000000000000000");
    }

    #[test]
    fn labels_are_folded() {
        assert!(is_unit_header("Mã xã"));
        assert!(is_unit_header(" MÃ ĐƠN VỊ: "));
        assert!(is_unit_header("org_unit"));
        assert!(is_unit_header("Ma\u{0303} xa\u{0303}")); // decomposed
        assert!(!is_unit_header("Mã huyện"));
        assert_eq!(labelled_value("Kỳ báo cáo:").as_deref(), Some(""));
        assert_eq!(labelled_value("KY BAO CAO").as_deref(), Some(""));
        assert_eq!(labelled_value("Period").as_deref(), Some(""));
        assert_eq!(labelled_value("Kỳ báo cáo: 202603").as_deref(), Some("202603"));
        assert_eq!(labelled_value("Kỳ họp"), None);
    }

    #[test]
    fn codes() {
        for code in ["DS_TONG", "X", "TYT_BS", "A1"] {
            assert!(is_code(code), "{code}");
        }
        for text in ["STT", "TT", "ds_tong", "1A", "_A", "Dân số", "DS TONG", ""] {
            assert!(!is_code(text), "{text}");
        }
    }
}
