//! Ingestion end to end through the real binary: every format, every rejection reason, strict mode,
//! the inbox archive and failed folders, corrections and deletions with history, the rejection
//! report for the sender, and a process killed midway.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tonghop_core::{Catalog, UnitRegistry};

use crate::helpers::{repo_root, sql_rows, tonghop, tonghop_raw};

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// Sets a file's modification time (= its arrival time) to `minutes` after 2026-04-01 00:00 UTC.
fn arrived(path: &Path, minutes: u64) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_775_001_600 + minutes * 60);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
}

fn formats_data(rel: &str) -> PathBuf {
    repo_root().join("crates/formats/tests/data").join(rel)
}

fn one(lake: &Path, query: &str) -> String {
    let rows = sql_rows(lake, query);
    assert_eq!(rows.len(), 1, "{query}: {rows:?}");
    rows[0][0].clone()
}

fn registry_and_catalog() -> (UnitRegistry, Catalog) {
    let root = repo_root();
    (UnitRegistry::load(&root.join("reference/admin-units")).unwrap(), Catalog::load(&root.join("catalog")).unwrap())
}

#[test]
fn every_format_ingests_and_files_move_to_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, inbox) = (dir.path().join("lake"), dir.path().join("inbox"));
    for (from, to) in [
        ("tonghop/bao_cao_202603_utf8.csv", "utf8.csv"),
        ("tonghop/bao_cao_202603_unicode.txt", "utf16.txt"),
        ("tonghop/bao_cao_202603_cp1258.csv", "cp1258.csv"),
        ("tonghop/bao_cao_202603.json", "bao_cao.json"),
        ("dhis2/dataValueSetB.csv", "dhis2/values.csv"),
        ("dhis2/dataValueSetCreateDate.json", "dhis2/values.json"),
        ("dhis2/importC.adx.xml", "dhis2/values.adx.xml"),
    ] {
        write(&inbox.join(to), std::fs::read(formats_data(from)).unwrap());
    }
    // The report form, as a commune fills it: the province's template with every count filled.
    let (registry, catalog) = registry_and_catalog();
    let period = "202603".parse().unwrap();
    let form = tonghop_formats::template::write_filled(&registry, &catalog, &period, "04", &|unit, element| {
        let boolean = catalog.data_element(element).unwrap().value_type == tonghop_core::catalog::ValueType::Boolean;
        Some(if boolean { 1.0 } else { 1000.0 + unit.parse::<f64>().unwrap() % 97.0 })
    })
    .unwrap();
    write(&inbox.join("forms/cao_bang_202603.xlsx"), form);
    let communes_04 =
        registry.at_level(tonghop_core::Epoch::Post2025, tonghop_core::Level::Commune).filter(|u| u.province_code.as_deref() == Some("04")).count();

    let mapping = formats_data("dhis2/mapping.csv");
    let out = tonghop(&lake, &["ingest", inbox.to_str().unwrap(), "--mapping", mapping.to_str().unwrap()]);
    assert!(out.contains("8 files seen, 8 ingested"), "{out}");

    let formats = sql_rows(&lake, "SELECT format, status, rows_accepted, rows_rejected FROM submissions ORDER BY source");
    let by_format: Vec<(String, String, String, String)> = formats.into_iter().map(|r| (r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone())).collect();
    // Sources sort as: bao_cao.json, cp1258.csv, dhis2/values.adx.xml, dhis2/values.csv, dhis2/values.json,
    // forms/cao_bang_202603.xlsx, utf16.txt, utf8.csv.
    let formats: Vec<&str> = by_format.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(formats, ["json", "csv", "adx", "dhis2-csv", "dhis2-json", "xlsx-form", "csv", "csv"]);
    // The three encodings of one CSV give the same rows.
    assert_eq!(by_format[1].2, by_format[6].2);
    assert_eq!(by_format[1].2, by_format[7].2);
    // DHIS2 CSV: 12 values of 2012 (pre-2025 units 00004 and 00007); the JSON sample: 1.
    assert_eq!((by_format[3].1.as_str(), by_format[3].2.as_str()), ("accepted", "12"), "{by_format:?}");
    assert_eq!((by_format[4].1.as_str(), by_format[4].2.as_str()), ("accepted", "1"));
    // ADX: monthly groups accepted, quarterly groups refused as not monthly (communes report monthly).
    let adx = sql_rows(&lake, "SELECT reason, count(*) FROM rejections WHERE source LIKE '%adx.xml' GROUP BY reason");
    assert_eq!(adx, [vec!["period_not_monthly".to_string(), "3".to_string()]]);
    assert_eq!(by_format[2].2, "6");
    // The form: every element of every commune of Cao Bằng.
    assert_eq!(by_format[5].2, (communes_04 * catalog.data_elements.len()).to_string());
    assert_eq!(by_format[5].1, "accepted");

    // Vietnamese comments arrive NFC whatever the encoding.
    let comments = sql_rows(&lake, "SELECT DISTINCT comment FROM data_values WHERE comment LIKE 'Tăng do%'");
    assert_eq!(comments, [vec!["Tăng do đợt cúm tháng 3".to_string()]]);
    // Disaggregations from the ADX mapping.
    let dis = sql_rows(
        &lake,
        "SELECT DISTINCT disaggregation FROM data_values WHERE submission_id IN (SELECT submission_id FROM submissions WHERE format = 'adx') ORDER BY 1",
    );
    assert!(dis.iter().any(|d| d[0] == "nu_duoi_5"), "{dis:?}");

    // The inbox is empty; every file is in archive/YYYY/MM/DD/ beside it.
    let mut left = Vec::new();
    for e in walk(&inbox) {
        left.push(e);
    }
    assert!(left.is_empty(), "{left:?}");
    let archived = walk(&dir.path().join("archive"));
    assert_eq!(archived.len(), 8, "{archived:?}");
    assert!(archived.iter().all(|p| p.to_string_lossy().contains("/archive/20")), "{archived:?}");

    // Sending the same bytes again changes nothing.
    write(&inbox.join("again.csv"), std::fs::read(formats_data("tonghop/bao_cao_202603_utf8.csv")).unwrap());
    let values_before = one(&lake, "SELECT count(*) FROM data_values");
    let out = tonghop(&lake, &["ingest", inbox.to_str().unwrap()]);
    assert!(out.contains("1 files seen, 0 ingested, 1 already ingested"), "{out}");
    assert_eq!(one(&lake, "SELECT count(*) FROM data_values"), values_before);
    assert_eq!(walk(&dir.path().join("archive")).len(), 9);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn every_rejection_reason_has_a_file_that_triggers_it() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, inbox) = (dir.path().join("lake"), dir.path().join("inbox"));
    // One row per reason (line numbers in comments; the header is line 1).
    let csv = "\
period,org_unit,data_element,value
2026-03,00004,DS_TONG,1
202603,00004,DS_TONG,12000
2025,00004,DS_TONG,1
2026Q1,00004,DS_TONG,1
209901,00004,DS_TONG,1
202603,00001,DS_TONG,1
202403,11948,DS_TONG,1
202603,00004,DS_TONGG,1
202603,00004,KCB_TONG,
202603,00004,NCC_TONG,n/a
202603,00004,TYT_BS,-1
202603,00004,TYT_HS,2
202603,00004,DS_QLSK,500
202603,00004,DS_QLSK,600
202603,00004,DS_BHYT,13000
202603,00004,DVKT_DM,90
202603,00004,DVKT_DM,90
202603,00004
";
    write(&inbox.join("xa_00004.csv"), csv);
    write(&inbox.join("bad.json"), r#"{"period": "202603", "org_unit": "00008", "values": [17, {"value": 3}]}"#);
    let out = tonghop(&lake, &["ingest", inbox.to_str().unwrap()]);
    assert!(out.contains("2 files seen, 2 ingested"), "{out}");
    // A line that is not UTF-8 when the file is declared UTF-8 cannot be read (undeclared, such a
    // file would be read as Windows-1258).
    let broken =
        write(&dir.path().join("other/broken.csv"), b"period,org_unit,data_element,value\n202603,00008,THON_TONG,5\n202603,00008,THON_NVYT,\xff\xfe\n");
    let out = tonghop(&lake, &["ingest", broken.to_str().unwrap(), "--encoding", "utf-8"]);
    assert!(out.contains("1 accepted, 1 rejected (row_unreadable: 1)"), "{out}");

    let rows = sql_rows(&lake, "SELECT source, row, location, field, value, reason, message_vi, message_en FROM rejections ORDER BY source, row, reason");
    let reasons: BTreeSet<String> = rows.iter().map(|r| r[5].clone()).collect();
    let mut expected: BTreeSet<String> = tonghop_ingest::REASONS.iter().map(|s| s.to_string()).collect();
    expected.extend(["row_unreadable", "row_too_short", "item_malformed"].map(String::from));
    assert_eq!(reasons, expected, "{rows:#?}");
    for r in &rows {
        let (source, row, location, field, reason, vi, en) = (&r[0], &r[1], &r[2], &r[3], &r[5], &r[6], &r[7]);
        assert!(source.starts_with("file://") && (source.contains("/inbox/") || source.contains("/other/")), "{r:?}");
        assert!(!field.is_empty(), "{r:?}");
        if source.ends_with(".csv") {
            assert!(vi.starts_with(&format!("Dòng {row}")) && en.starts_with(&format!("line {row}")), "{r:?}");
            assert_eq!(location, row, "{r:?}");
        } else {
            assert!(vi.starts_with(&format!("Vị trí {location}")) && location.starts_with("$.values["), "{r:?}");
        }
        if field != "*" && reason != "item_malformed" {
            assert!(vi.contains(&format!("cột {field}")) && en.contains(&format!("field {field}")), "{r:?}");
        }
    }
    let find = |reason: &str| rows.iter().find(|r| r[5] == reason).unwrap_or_else(|| panic!("{reason}"));
    // Merged commune: says where it went. New-only unit before the reform: says so.
    assert!(find("unknown_org_unit")[6].contains("00001 (Phường Phúc Xá) đã được sáp nhập vào 00097 Phường Hồng Hà"), "{:?}", find("unknown_org_unit"));
    let bach_long_vi = rows.iter().find(|r| r[4] == "11948").unwrap();
    assert!(bach_long_vi[7].contains("11948 Đặc khu Bạch Long Vĩ exists only from 2025-07-01"), "{bach_long_vi:?}");
    // Conflicting duplicates: both rows refused; the identical repeat once.
    let dup: Vec<&Vec<String>> = rows.iter().filter(|r| r[5] == "duplicate_key").collect();
    assert_eq!(dup.iter().map(|r| r[1].as_str()).collect::<Vec<_>>(), ["14", "15", "18"], "{dup:#?}");
    // Rule DS_BHYT <= DS_TONG broken: both sides refused, DS_TONG included.
    let rule: Vec<&Vec<String>> = rows.iter().filter(|r| r[5] == "rule_violated").collect();
    assert_eq!(rule.iter().map(|r| r[1].as_str()).collect::<Vec<_>>(), ["3", "16"], "{rule:#?}");
    assert!(rule[0][6].contains("R01_BHYT_LE_DS"), "{rule:?}");
    // What is left: the DVKT_DM row once, nothing else of 00004.
    let accepted = sql_rows(&lake, "SELECT data_element, value FROM data_values WHERE org_unit = '00004' ORDER BY 1");
    assert_eq!(accepted, [vec!["DVKT_DM".to_string(), "90.0".to_string()]]);
    assert_eq!(one(&lake, "SELECT status FROM submissions WHERE source LIKE '%xa_00004.csv'"), "partly_accepted");
    assert_eq!(one(&lake, "SELECT status FROM submissions WHERE source LIKE '%bad.json'"), "rejected");
}

#[test]
fn strict_refuses_a_file_and_unreadable_files_go_to_failed_with_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, inbox) = (dir.path().join("lake"), dir.path().join("inbox"));
    write(&inbox.join("a/one_bad_row.csv"), "period,org_unit,data_element,value\n202603,00004,DS_TONG,12000\n202603,00004,KCB_TONG,x\n");
    write(&inbox.join("b/good.csv"), "period,org_unit,data_element,value\n202603,00008,DS_TONG,9000\n");
    write(&inbox.join("c/not_a_report.csv"), "ho_ten,tuoi\nNguyễn Văn A,30\n");
    let out = tonghop(&lake, &["ingest", inbox.to_str().unwrap(), "--strict"]);
    assert!(out.contains("3 files seen, 3 ingested, 0 already ingested, 1 failed, 1 refused; 1 rows accepted, 1 rejected"), "{out}");
    let status = sql_rows(&lake, "SELECT status, rows_accepted, error IS NOT NULL FROM submissions ORDER BY source");
    assert_eq!(status, [["refused", "0", "false"], ["accepted", "1", "false"], ["failed", "0", "true"]].map(|r| r.map(String::from).to_vec()));
    assert_eq!(sql_rows(&lake, "SELECT org_unit FROM data_values"), [vec!["00008".to_string()]]);
    let error = one(&lake, "SELECT error FROM submissions WHERE status = 'failed'");
    assert!(error.contains("not_a_report.csv") && error.contains("period"), "{error}");

    let failed = dir.path().join("failed/c/not_a_report.csv");
    assert!(failed.exists(), "{:?}", walk(dir.path()));
    let report = std::fs::read_to_string(dir.path().join("failed/c/not_a_report.csv.error.txt")).unwrap();
    assert!(report.contains("Không đọc được tệp này") && report.contains(&error), "{report}");
    assert_eq!(walk(&dir.path().join("archive")).len(), 2);
    assert!(walk(&inbox).is_empty());
}

#[test]
fn corrections_supersede_deletions_remove_and_history_keeps_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, inbox) = (dir.path().join("lake"), dir.path().join("inbox"));
    let first = write(&inbox.join("v1.csv"), "period,org_unit,data_element,value\n202603,00004,DS_TONG,12000\n202603,00004,KCB_TONG,800\n");
    arrived(&first, 0);
    tonghop(&lake, &["ingest", inbox.to_str().unwrap()]);
    let second = write(&inbox.join("v2.csv"), "period,org_unit,data_element,value\n202603,00004,DS_TONG,12500\n");
    arrived(&second, 60);
    let deletion = write(
        &inbox.join("delete.json"),
        r#"{"dataValues": [{"dataElement": "KCB_TONG", "period": "202603", "orgUnit": "00004", "value": "800", "storedBy": "tram_y_te_00004", "deleted": true}]}"#,
    );
    arrived(&deletion, 120);
    tonghop(&lake, &["ingest", inbox.to_str().unwrap()]);

    let current = sql_rows(&lake, "SELECT data_element, value FROM stg_data_values ORDER BY 1");
    assert_eq!(current, [vec!["DS_TONG".to_string(), "12500.0".to_string()]]);
    let history = sql_rows(&lake, "SELECT data_element, version, is_current, value, deleted, stored_by, source FROM data_value_history ORDER BY 1, 2");
    let short: Vec<String> = history.iter().map(|r| format!("{} v{} {} {} {} {}", r[0], r[1], r[2], r[3], r[4], r[5])).collect();
    assert_eq!(
        short,
        ["DS_TONG v1 true 12500.0 false ", "DS_TONG v2 false 12000.0 false ", "KCB_TONG v1 false 800.0 true tram_y_te_00004", "KCB_TONG v2 false 800.0 false "]
    );
    assert!(history[0][6].ends_with("v2.csv") && history[1][6].ends_with("v1.csv"), "{history:?}");

    // A corrected file under a name already archived today: both copies are kept.
    let again = write(&inbox.join("v1.csv"), "period,org_unit,data_element,value\n202603,00004,DS_TONG,12600\n");
    arrived(&again, 180);
    tonghop(&lake, &["ingest", inbox.to_str().unwrap()]);
    let archived: Vec<String> = walk(&dir.path().join("archive")).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(archived.iter().filter(|n| n.starts_with("v1.")).count(), 2, "{archived:?}");
    assert_eq!(one(&lake, "SELECT value FROM stg_data_values WHERE data_element = 'DS_TONG'"), "12600.0");
}

#[test]
fn the_sender_gets_the_refused_rows_as_a_workbook() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let file = write(
        &dir.path().join("xa_00004_202603.csv"),
        "period,org_unit,data_element,value\n202603,00004,DS_TONG,12000\n202603,00004,KCB_TONG,mười\n202603,00004,TYT_HS,3\n",
    );
    let report = dir.path().join("tu_choi.xlsx");
    let out = tonghop(&lake, &["ingest", file.to_str().unwrap(), "--rejections", report.to_str().unwrap()]);
    assert!(out.contains("partly_accepted: 1 accepted, 2 rejected (value_not_boolean: 1, value_not_numeric: 1)"), "{out}");
    assert!(out.contains("2 refused row(s) written"), "{out}");
    assert!(file.exists(), "a single file stays where it is");

    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&report).unwrap();
    let sheet = book.worksheet_range("Dòng bị từ chối").unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    let header = rows.iter().position(|r| r.first().is_some_and(|c| c == "Tệp")).expect("header row");
    let data = &rows[header + 1..];
    assert_eq!(data.len(), 2, "{rows:#?}");
    assert!(data[0][5].starts_with("Dòng 3, cột value: giá trị \"mười\" không phải là số"), "{:?}", data[0]);
    assert_eq!(data[1][4], "value_not_boolean");
}

#[test]
fn an_ingest_killed_midway_finishes_on_the_next_run_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, inbox) = (dir.path().join("lake"), dir.path().join("inbox"));
    tonghop(&lake, &["demo", "--provinces", "pre2025:04", "--until", "2026-01-01", "--seed", "3"]);
    let files = walk(&inbox).len();
    assert!(files > 1000, "{files}");
    // The reference: the same files ingested in one go into another lake.
    let reference_lake = dir.path().join("reference/lake");
    tonghop(&reference_lake, &["ingest", inbox.to_str().unwrap(), "--keep"]);

    // Small commits so that there are many points to be killed at.
    let bin = env!("CARGO_BIN_EXE_tonghop");
    let mut killed_after_commits = 0;
    for wait_for in [2usize, 6] {
        let mut child = std::process::Command::new(bin)
            .current_dir(dir.path())
            .args(["--project", repo_root().to_str().unwrap(), "--lake", lake.to_str().unwrap(), "-q", "ingest", "inbox", "--commit-rows", "1000"])
            .spawn()
            .unwrap();
        let log = lake.join("tables/data_values/_delta_log");
        let started = std::time::Instant::now();
        loop {
            let commits = std::fs::read_dir(&log).map(|d| d.count()).unwrap_or(0);
            if commits >= wait_for || started.elapsed() > Duration::from_secs(120) {
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed_after_commits += 1;
        }
        child.wait().unwrap();
    }
    assert!(killed_after_commits > 0, "the ingest finished before it could be killed; make the demo bigger");
    let out = tonghop(&lake, &["ingest", "inbox"]);
    assert!(out.contains(" ingested,"), "{out}");
    assert!(walk(&inbox).is_empty(), "every file is archived after the re-run");

    let totals = "SELECT count(*), sum(value), count(DISTINCT submission_id || ':' || source_location) FROM data_values";
    let (got, want) = (sql_rows(&lake, totals), sql_rows(&reference_lake, totals));
    assert_eq!(got[0][0], got[0][2], "no value twice");
    assert_eq!(got, want, "same values as an uninterrupted ingest");
    let subs = "SELECT count(*), count(DISTINCT content_hash), sum(rows_accepted), sum(rows_rejected) FROM submissions";
    assert_eq!(sql_rows(&lake, subs), sql_rows(&reference_lake, subs));
    let rej = "SELECT count(*), count(DISTINCT submission_id || ':' || location) FROM rejections";
    assert_eq!(sql_rows(&lake, rej), sql_rows(&reference_lake, rej));
    // Nothing uncommitted is left in the raw tables either.
    let raw = tonghop_raw(
        &lake,
        &["sql", "SELECT count(*) FROM lake.data_values WHERE submission_id NOT IN (SELECT submission_id FROM lake.submissions)", "--format", "csv"],
    );
    assert!(String::from_utf8_lossy(&raw.stdout).lines().nth(1) == Some("0"), "{raw:?}");
}

#[test]
fn values_taken_back_after_a_large_file_was_partly_written_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // 40 communes' populations first, then one commune's insured count above its population: the
    // population row went to the lake in an early part (commits of 10 rows) and must come out.
    let mut text = String::from("period,org_unit,data_element,value\n");
    let units: Vec<String> =
        registry_and_catalog().0.at_level(tonghop_core::Epoch::Post2025, tonghop_core::Level::Commune).take(40).map(|u| u.code.clone()).collect();
    for u in &units {
        text.push_str(&format!("202603,{u},DS_TONG,1000\n"));
    }
    text.push_str(&format!("202603,{},DS_BHYT,1001\n", units[0]));
    text.push_str(&format!("202603,{},DS_BHYT,900\n", units[1]));
    let file = write(&dir.path().join("big.csv"), &text);
    let out = tonghop(&lake, &["ingest", file.to_str().unwrap(), "--commit-rows", "10"]);
    assert!(out.contains("partly_accepted: 40 accepted, 2 rejected (rule_violated: 2)"), "{out}");
    assert_eq!(one(&lake, "SELECT count(*) FROM data_values"), "40");
    assert_eq!(one(&lake, &format!("SELECT count(*) FROM data_values WHERE org_unit = '{}'", units[0])), "0");
    assert_eq!(one(&lake, "SELECT count(*) FROM lake.data_values"), "40", "deleted from the table, not only hidden");

    // The same with --strict: the parts already written are deleted too.
    let strict_lake = dir.path().join("strict/lake");
    let out = tonghop(&strict_lake, &["ingest", file.to_str().unwrap(), "--commit-rows", "10", "--strict"]);
    assert!(out.contains("refused: 0 accepted, 2 rejected"), "{out}");
    assert_eq!(one(&strict_lake, "SELECT count(*) FROM lake.data_values"), "0");
}

#[test]
fn the_template_command_writes_the_form_ingest_reads() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let form = dir.path().join("bieu_mau.xlsx");
    let out = tonghop(&lake, &["template", "--province", "04", "--period", "202603", "-o", form.to_str().unwrap()]);
    assert!(out.contains("bieu_mau.xlsx"), "{out}");
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&form).unwrap();
    assert_eq!(book.sheet_names(), ["Báo cáo", "Hướng dẫn"]);
    let sheet = book.worksheet_range("Báo cáo").unwrap();
    assert_eq!(sheet.get_value((0, 0)).unwrap().to_string(), "BIỂU MẪU BÁO CÁO SỐ LIỆU Y TẾ CƠ SỞ");
    // A blank form holds no figures: ingest reads it and accepts nothing, refusing nothing.
    let out = tonghop(&lake, &["ingest", form.to_str().unwrap()]);
    assert!(out.contains("[xlsx-form] empty: 0 accepted, 0 rejected"), "{out}");
    let bad = tonghop_raw(&lake, &["template", "--province", "99", "--period", "202603"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("99"), "{bad:?}");
}
