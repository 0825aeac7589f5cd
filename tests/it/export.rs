//! `tonghop export report` and `tonghop export table` on a one-province demo lake: the workbook read
//! back with calamine (an independent reader) and compared number by number with `tonghop sql`; the
//! totals row against the children's numerators and denominators; `--as-of` rebuilding an earlier
//! report after a correction; extracts read back with the csv and parquet crates; bad input refused
//! with a message naming it.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

use calamine::{open_workbook_from_rs, Data, Range, Reader, Xlsx};

use crate::helpers::{q1_demo_lake, tonghop, tonghop_raw};

const TITLE: &str = "BÁO CÁO KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU Y TẾ CƠ SỞ THEO CHỈ THỊ SỐ 25-CT/TW";
/// Title, unit, period, date, spacer: the header is the sixth row.
pub(crate) const HEADER_ROW: u32 = 5;
/// The summary sheet starts below the administrative frame (issuing body, national motto, date line).
pub(crate) const SUMMARY_TOP: u32 = 4;
/// The summary's header row.
pub(crate) const SUMMARY_HEADER_ROW: u32 = SUMMARY_TOP + HEADER_ROW;

pub(crate) fn sheets(path: &Path) -> Vec<(String, Range<Data>)> {
    let bytes = std::fs::read(path).unwrap();
    let mut workbook: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).expect("a valid xlsx");
    let names = workbook.sheet_names();
    names.into_iter().map(|n| (n.clone(), workbook.worksheet_range(&n).unwrap())).collect()
}

pub(crate) fn sheet<'a>(all: &'a [(String, Range<Data>)], name: &str) -> &'a Range<Data> {
    &all.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no sheet {name}")).1
}

fn cell(range: &Range<Data>, row: u32, col: u32) -> Data {
    range.get_value((row, col)).cloned().unwrap_or(Data::Empty)
}

pub(crate) fn text(range: &Range<Data>, row: u32, col: u32) -> String {
    match cell(range, row, col) {
        Data::String(s) => s,
        Data::Empty => String::new(),
        other => panic!("({row}, {col}) should be text, is {other:?}"),
    }
}

pub(crate) fn number(range: &Range<Data>, row: u32, col: u32) -> Option<f64> {
    match cell(range, row, col) {
        Data::Float(f) => Some(f),
        Data::Int(i) => Some(i as f64),
        Data::Empty => None,
        other => panic!("({row}, {col}) should be a number, is {other:?}"),
    }
}

/// A query's rows as JSON objects (`tonghop sql --format json`).
fn json_rows(lake: &Path, query: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let out = tonghop(lake, &["sql", query, "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    value.as_array().unwrap().iter().map(|v| v.as_object().unwrap().clone()).collect()
}

fn get_f64(row: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<f64> {
    row.get(key).and_then(|v| v.as_f64())
}

fn get_str(row: &serde_json::Map<String, serde_json::Value>, key: &str) -> String {
    row.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string()
}

fn close(a: Option<f64>, b: Option<f64>, what: &str) {
    match (a, b) {
        (None, None) => {}
        (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-9 * x.abs().max(1.0), "{what}: {x} != {y}"),
        _ => panic!("{what}: {a:?} != {b:?}"),
    }
}

fn data_rows(range: &Range<Data>) -> u32 {
    data_rows_below(range, HEADER_ROW)
}

fn data_rows_below(range: &Range<Data>, header_row: u32) -> u32 {
    let mut n = 0;
    while !matches!(cell(range, header_row + 1 + n, 0), Data::Empty) {
        n += 1;
    }
    n
}

/// Every cell of every sheet, as text, for comparing two workbooks.
pub(crate) fn all_cells(path: &Path) -> Vec<(String, u32, u32, String)> {
    let mut out = Vec::new();
    for (name, range) in sheets(path) {
        for (r, c, v) in range.used_cells() {
            out.push((name.clone(), r as u32, c as u32, format!("{v:?}")));
        }
    }
    out
}

#[test]
fn report_extracts_and_as_of() {
    let dir = tempfile::tempdir().unwrap();
    // July 2025 to March 2026 for one province of the post-2025 epoch.
    let lake = q1_demo_lake(dir.path());

    let first = dir.path().join("first.xlsx");
    let out = tonghop(&lake, &["export", "report", "--unit", "04", "--period", "2026Q1", "--out", first.to_str().unwrap()]);
    assert!(out.contains("Quý I năm 2026") && out.contains("data_values@"), "{out}");
    let sidecar = dir.path().join("first.xlsx.versions.json");
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&sidecar).unwrap()).unwrap();
    assert!(record["versions"]["data_values"].as_i64().is_some() && record["versions"]["models.indicator_values"].as_i64().is_some(), "{record}");

    let book = sheets(&first);
    let names: Vec<&str> = book.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Tổng hợp", "Theo đơn vị", "Đầy đủ - kịp thời", "Chất lượng số liệu", "Biểu đồ"]);

    // Sheet 1: the title block in Vietnamese, every number equal to indicator_values.
    let summary = sheet(&book, "Tổng hợp");
    let province = &json_rows(&lake, "SELECT full_name FROM units WHERE epoch = 'post2025' AND level = 'province' AND code = '04'")[0];
    // The administrative frame (Decree 30/2020/NĐ-CP) above the title, from catalog/report_frames.csv.
    assert_eq!(text(summary, 0, 0), "UBND TỈNH CAO BẰNG");
    assert_eq!(text(summary, 1, 0), "SỞ Y TẾ");
    assert_eq!(text(summary, 2, 0), "Số:        /BC-SYT");
    assert_eq!(text(summary, 0, 3), "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM");
    assert_eq!(text(summary, 1, 3), "Độc lập - Tự do - Hạnh phúc");
    assert!(text(summary, 2, 3).starts_with("Cao Bằng, ngày "), "{}", text(summary, 2, 3));
    assert_eq!(text(summary, SUMMARY_TOP, 0), TITLE);
    assert_eq!(text(summary, SUMMARY_TOP + 1, 0), format!("Đơn vị báo cáo: {}", get_str(province, "full_name")));
    assert_eq!(text(summary, SUMMARY_TOP + 2, 0), "Kỳ báo cáo: Quý I năm 2026");
    assert!(text(summary, SUMMARY_TOP + 3, 0).starts_with("Ngày lập báo cáo: "), "{}", text(summary, SUMMARY_TOP + 3, 0));
    assert_eq!(text(summary, SUMMARY_HEADER_ROW, 0), "Chỉ tiêu");
    // The signatures under the figures: the preparer and the head of the unit.
    let below: Vec<String> = (SUMMARY_HEADER_ROW + 13..SUMMARY_HEADER_ROW + 25).flat_map(|r| [text(summary, r, 0), text(summary, r, 3)]).collect();
    assert!(below.iter().any(|t| t == "NGƯỜI LẬP BIỂU") && below.iter().any(|t| t == "GIÁM ĐỐC"), "{below:?}");
    let expected = json_rows(
        &lake,
        "SELECT indicator, indicator_name, target, value, value_previous_year, change_from_previous_year, status, numerator, denominator \
         FROM indicator_values WHERE epoch = 'post2025' AND period = '2026Q1' AND level = 'province' AND unit_code = '04'",
    );
    assert_eq!(expected.len(), 12);
    assert_eq!(data_rows_below(summary, SUMMARY_HEADER_ROW), 12);
    let mut by_name: HashMap<String, &serde_json::Map<String, serde_json::Value>> = HashMap::new();
    for row in &expected {
        by_name.insert(get_str(row, "indicator_name"), row);
    }
    let mut met = 0;
    for r in SUMMARY_HEADER_ROW + 1..SUMMARY_HEADER_ROW + 13 {
        let name = text(summary, r, 0);
        let want = by_name.get(&name).unwrap_or_else(|| panic!("unexpected indicator {name:?}"));
        close(number(summary, r, 1), get_f64(want, "target"), &format!("{name}: target"));
        close(number(summary, r, 2), get_f64(want, "value"), &format!("{name}: value"));
        close(number(summary, r, 3), get_f64(want, "value_previous_year"), &format!("{name}: previous year"));
        close(number(summary, r, 4), get_f64(want, "change_from_previous_year"), &format!("{name}: change"));
        let assessment = match get_str(want, "status").as_str() {
            "met" => "Đạt",
            "not_met" => "Chưa đạt",
            _ => "Không có số liệu",
        };
        met += usize::from(assessment == "Đạt");
        assert_eq!(text(summary, r, 5), assessment, "{name}");
        close(number(summary, r, 6), get_f64(want, "numerator"), &format!("{name}: numerator"));
        close(number(summary, r, 7), get_f64(want, "denominator"), &format!("{name}: denominator"));
    }
    assert!(met < 12, "the demo has indicators below target");

    // Sheet 2: one row per commune of the province, then the province as totals row.
    let breakdown = sheet(&book, "Theo đơn vị");
    let codes: HashMap<String, String> = expected.iter().map(|r| (get_str(r, "indicator_name"), get_str(r, "indicator"))).collect();
    let columns: Vec<(u32, String)> = (2..14).map(|c| (c, codes[&text(breakdown, HEADER_ROW, c)].clone())).collect();
    let children = json_rows(
        &lake,
        "SELECT v.unit_code, v.indicator, v.value, v.numerator, v.denominator FROM indicator_values AS v \
         JOIN units AS u ON u.epoch = v.epoch AND u.level = 'commune' AND u.code = v.unit_code \
         WHERE v.epoch = 'post2025' AND v.period = '2026Q1' AND v.level = 'commune' AND u.province_code = '04'",
    );
    let communes = json_rows(&lake, "SELECT code FROM units WHERE epoch = 'post2025' AND level = 'commune' AND province_code = '04' ORDER BY code");
    let rows = data_rows(breakdown);
    assert_eq!(rows as usize, communes.len() + 1, "one row per commune and the totals row");
    let child: HashMap<(String, String), &serde_json::Map<String, serde_json::Value>> =
        children.iter().map(|r| ((get_str(r, "unit_code"), get_str(r, "indicator")), r)).collect();
    for (i, commune) in communes.iter().enumerate() {
        let r = HEADER_ROW + 1 + i as u32;
        let code = get_str(commune, "code");
        assert_eq!(text(breakdown, r, 0), code);
        for (c, indicator) in &columns {
            let want = child.get(&(code.clone(), indicator.clone())).and_then(|row| get_f64(row, "value"));
            close(number(breakdown, r, *c), want, &format!("{code} {indicator}"));
        }
    }
    let totals = HEADER_ROW + rows;
    assert_eq!(text(breakdown, totals, 0), "04");
    assert!(text(breakdown, totals, 1).starts_with("Toàn "), "{}", text(breakdown, totals, 1));
    for (c, indicator) in &columns {
        let parent = expected.iter().find(|r| get_str(r, "indicator") == *indicator).unwrap();
        close(number(breakdown, totals, *c), get_f64(parent, "value"), &format!("totals {indicator}"));
        // The parent's value is Σ numerator / Σ denominator of its children, not an average of percentages.
        let (mut num, mut den) = (0.0, 0.0);
        for row in children.iter().filter(|r| get_str(r, "indicator") == *indicator) {
            num += get_f64(row, "numerator").unwrap_or(0.0);
            den += get_f64(row, "denominator").unwrap_or(0.0);
        }
        if den > 0.0 {
            close(number(breakdown, totals, *c), Some(100.0 * num / den), &format!("Σnum/Σden {indicator}"));
        }
    }

    // Sheet 3 (title block, table, then the list's title, spacer and header): the totals row is the province's completeness; the list has every missing report.
    let completeness = sheet(&book, "Đầy đủ - kịp thời");
    let want = &json_rows(&lake, "SELECT reports_expected, reports_received, reports_missing FROM completeness WHERE epoch = 'post2025' AND period = '2026Q1' AND level = 'province' AND unit_code = '04'")[0];
    let rows = data_rows(completeness);
    let last = HEADER_ROW + rows;
    close(number(completeness, last, 2), get_f64(want, "reports_expected"), "reports expected");
    close(number(completeness, last, 3), get_f64(want, "reports_received"), "reports received");
    close(number(completeness, last, 6), get_f64(want, "reports_missing"), "reports missing");
    let missing = json_rows(
        &lake,
        "SELECT count(*) AS n FROM missing_reports WHERE epoch = 'post2025' AND period IN ('202601', '202602', '202603') AND province_code = '04'",
    );
    let listed = completeness.used_cells().filter(|(r, c, _)| *r as u32 >= last + 6 && *c == 0).count();
    let n = get_f64(&missing[0], "n").unwrap() as usize;
    assert_eq!(listed, n.max(1), "missing reports listed (or one line saying none is missing)");

    // Sheet 4: one row per finding.
    let quality = sheet(&book, "Chất lượng số liệu");
    let findings = json_rows(
        &lake,
        "SELECT count(*) AS n FROM quality_issues WHERE epoch = 'post2025' AND period IN ('202601', '202602', '202603') AND province_code = '04'",
    );
    assert_eq!(data_rows(quality) as usize, (get_f64(&findings[0], "n").unwrap() as usize).max(1));

    // A correction arrives and is built: the latest report changes, the as-of ones do not.
    let commune = get_str(&communes[0], "code");
    let corrections = dir.path().join("corrections");
    std::fs::create_dir_all(&corrections).unwrap();
    std::fs::write(corrections.join("sua.csv"), format!("period,org_unit,data_element,value\n202603,{commune},DS_BHYT,10\n")).unwrap();
    tonghop(&lake, &["ingest", corrections.to_str().unwrap(), "--keep"]);
    tonghop(&lake, &["build"]);
    let latest = dir.path().join("latest.xlsx");
    tonghop(&lake, &["export", "report", "--unit", "post2025:04", "--period", "2026Q1", "--out", latest.to_str().unwrap()]);
    let bhyt = |path: &Path| {
        let book = sheets(path);
        let s = sheet(&book, "Tổng hợp");
        (SUMMARY_HEADER_ROW + 1..SUMMARY_HEADER_ROW + 13).find(|r| text(s, *r, 0) == "Tỷ lệ dân số tham gia BHYT").and_then(|r| number(s, r, 2))
    };
    assert_ne!(bhyt(&latest), bhyt(&first), "the correction changed the coverage");

    let by_versions = dir.path().join("by_versions.xlsx");
    tonghop(
        &lake,
        &["export", "report", "--unit", "04", "--period", "2026Q1", "--out", by_versions.to_str().unwrap(), "--as-of-versions", sidecar.to_str().unwrap()],
    );
    let at = record["produced_at"].as_str().unwrap();
    let by_time = dir.path().join("by_time.xlsx");
    let out = tonghop(&lake, &["export", "report", "--unit", "04", "--period", "2026Q1", "--out", by_time.to_str().unwrap(), "--as-of", at]);
    let cells = all_cells(&first);
    assert!(cells.len() > 500, "{} cells", cells.len());
    assert_eq!(all_cells(&by_versions), cells, "--as-of-versions rebuilds the first report");
    assert_eq!(all_cells(&by_time), cells, "--as-of <time> rebuilds the first report");
    let rebuilt: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("by_time.xlsx.versions.json")).unwrap()).unwrap();
    assert_eq!(rebuilt["versions"], record["versions"], "{out}");
    assert_eq!(std::fs::read(&by_versions).unwrap(), std::fs::read(&first).unwrap(), "even the bytes are the same");

    // Extracts with a filter, read back by independent readers.
    let predicate = "level = 'commune' AND period = '2026Q1'";
    let count = get_f64(&json_rows(&lake, &format!("SELECT count(*) AS n FROM indicator_values WHERE {predicate}"))[0], "n").unwrap() as usize;
    assert!(count > 100);
    let csv_path = dir.path().join("extracts/iv.csv");
    let out = tonghop(&lake, &["export", "table", "indicator_values", "--where", predicate, "--out", csv_path.to_str().unwrap()]);
    assert!(out.starts_with(&format!("{count} row(s)")), "{out}");
    let bytes = std::fs::read(&csv_path).unwrap();
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    assert!(reader.headers().unwrap().iter().any(|h| h == "numerator"));
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), count);
    assert!(dir.path().join("extracts/iv.csv.versions.json").exists());

    let folder = dir.path().join("outbox");
    std::fs::create_dir_all(&folder).unwrap();
    tonghop(&lake, &["export", "table", "indicator_values", "--format", "parquet", "--where", predicate, "--out", &format!("{}/", folder.display())]);
    let file = std::fs::File::open(folder.join("indicator_values.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, count);

    // Bad input: each message names what was wrong.
    let fails = |args: &[&str], expected: &str| {
        let out = tonghop_raw(&lake, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(expected), "{args:?}: {stderr}");
    };
    fails(&["export", "table", "indicator_value"], "unknown table \"indicator_value\" (did you mean indicator_values?)");
    fails(&["export", "table", "indicator_values", "--where", "no_such_column = 1"], "no_such_column");
    fails(&["export", "report", "--unit", "99", "--period", "2026Q1"], "unknown unit \"99\"");
    fails(&["export", "report", "--unit", "pre2025:04", "--period", "2025"], "another epoch");
    fails(&["export", "report", "--unit", "04", "--period", "2026Q5"], "invalid period code");
    fails(&["export", "report", "--unit", "pre2025:01", "--period", "2026Q1"], "another epoch");
    fails(&["export", "report", "--unit", commune.as_str(), "--period", "2026Q1"], "is a commune");
    fails(&["export", "report", "--unit", "99999", "--period", "2024Q1"], "no unit has code 99999 in the pre2025 epoch");
    fails(&["export", "report", "--unit", "04", "--period", "2026Q3"], "no indicator values");
    fails(&["export", "report", "--unit", "04", "--period", "2026Q1", "--as-of", "yesterday"], "RFC 3339");

    // Maintenance that keeps one day of history: a look back past it is refused, naming the date;
    // the first report's instant is still within it and rebuilds the same bytes.
    let out = tonghop(&lake, &["maintain", "--retention-days", "1"]);
    assert!(out.contains("history kept from") && out.contains("(1 days)"), "{out}");
    let two_days_ago = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    fails(&["export", "report", "--unit", "04", "--period", "2026Q1", "--as-of", &two_days_ago], "the lake keeps its history from");
    let again = dir.path().join("again.xlsx");
    tonghop(
        &lake,
        &["export", "report", "--unit", "04", "--period", "2026Q1", "--out", again.to_str().unwrap(), "--as-of-versions", sidecar.to_str().unwrap()],
    );
    assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&first).unwrap(), "after maintenance, --as-of-versions still rebuilds the first report");
}

/// Checks sheet 2 of a report against `indicator_values`: one row per child unit (in code order),
/// each value equal to the child's, then the totals row equal to the parent's value.
fn check_breakdown(lake: &Path, book: &[(String, Range<Data>)], epoch: &str, period: &str, parent: (&str, &str), children: (&str, &str)) {
    let breakdown = sheet(book, "Theo đơn vị");
    let (parent_level, parent_code) = parent;
    let (child_level, child_filter) = children;
    let names = json_rows(lake, "SELECT DISTINCT indicator, indicator_name FROM indicator_values");
    let code_of: HashMap<String, String> = names.iter().map(|r| (get_str(r, "indicator_name"), get_str(r, "indicator"))).collect();
    let columns: Vec<(u32, String)> = (2..14).map(|c| (c, code_of[&text(breakdown, HEADER_ROW, c)].clone())).collect();
    // Units with figures for the period (the rollups hold no row for a province without any).
    let units = json_rows(
        lake,
        &format!(
            "SELECT code FROM units WHERE epoch = '{epoch}' AND level = '{child_level}' AND {child_filter} \
             AND code IN (SELECT unit_code FROM indicator_values WHERE epoch = '{epoch}' AND period = '{period}' AND level = '{child_level}') ORDER BY code"
        ),
    );
    assert!(!units.is_empty());
    assert_eq!(data_rows(breakdown) as usize, units.len() + 1, "one row per {child_level} and the totals row");
    let values = json_rows(
        lake,
        &format!("SELECT unit_code, indicator, value FROM indicator_values WHERE epoch = '{epoch}' AND period = '{period}' AND level = '{child_level}'"),
    );
    let value: HashMap<(String, String), Option<f64>> =
        values.iter().map(|r| ((get_str(r, "unit_code"), get_str(r, "indicator")), get_f64(r, "value"))).collect();
    for (i, unit) in units.iter().enumerate() {
        let r = HEADER_ROW + 1 + i as u32;
        let code = get_str(unit, "code");
        assert_eq!(text(breakdown, r, 0), code);
        for (c, indicator) in &columns {
            close(number(breakdown, r, *c), value.get(&(code.clone(), indicator.clone())).copied().flatten(), &format!("{code} {indicator}"));
        }
    }
    let totals = HEADER_ROW + units.len() as u32 + 1;
    assert_eq!(text(breakdown, totals, 0), parent_code);
    let parent_values = json_rows(
        lake,
        &format!("SELECT indicator, value FROM indicator_values WHERE epoch = '{epoch}' AND period = '{period}' AND level = '{parent_level}' AND unit_code = '{parent_code}'"),
    );
    assert_eq!(parent_values.len(), 12);
    for (c, indicator) in &columns {
        let want = parent_values.iter().find(|r| get_str(r, "indicator") == *indicator).unwrap();
        close(number(breakdown, totals, *c), get_f64(want, "value"), &format!("totals {indicator}"));
    }
}

/// Reports one level up and down the other epoch: a pre-2025 province broken down by its districts,
/// and the nation broken down by province, each checked number by number against the SQL.
#[test]
fn reports_for_a_pre2025_province_by_district_and_for_the_nation() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let inbox = dir.path().join("inbox");
    tonghop(&lake, &["demo", "--inbox", inbox.to_str().unwrap(), "--until", "2026-02-15", "--provinces", "pre2025:02"]);
    tonghop(&lake, &["ingest", inbox.to_str().unwrap(), "--keep"]);
    tonghop(&lake, &["build"]);

    let by_district = dir.path().join("ha_giang.xlsx");
    let out = tonghop(&lake, &["export", "report", "--unit", "pre2025:02", "--period", "2024S1", "--out", by_district.to_str().unwrap()]);
    assert!(out.contains("6 tháng đầu năm 2024"), "{out}");
    let book = sheets(&by_district);
    assert_eq!(text(sheet(&book, "Tổng hợp"), SUMMARY_TOP + 2, 0), "Kỳ báo cáo: 6 tháng đầu năm 2024");
    check_breakdown(&lake, &book, "pre2025", "2024S1", ("province", "02"), ("district", "province_code = '02'"));

    let national = dir.path().join("toan_quoc.xlsx");
    let out = tonghop(&lake, &["export", "report", "--unit", "VN", "--period", "2024N9", "--out", national.to_str().unwrap()]);
    assert!(out.contains("9 tháng năm 2024"), "{out}");
    let book = sheets(&national);
    assert!(text(sheet(&book, "Tổng hợp"), SUMMARY_TOP + 1, 0).contains("Toàn quốc"), "{}", text(sheet(&book, "Tổng hợp"), SUMMARY_TOP + 1, 0));
    check_breakdown(&lake, &book, "pre2025", "2024N9", ("national", "VN"), ("province", "TRUE"));
    assert_eq!(text(sheet(&book, "Theo đơn vị"), HEADER_ROW + 1, 0), "02", "the one province with figures");
}
