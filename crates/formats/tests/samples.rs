//! Realistic files of every text format, read through `tonghop_formats::read` with format
//! detection: the long CSV in three encodings, tonghop JSON, and three real DHIS2 samples
//! (`tests/data/dhis2/`, BSD-3-Clause, see the LICENSE there) with their id-scheme mapping.

use std::path::Path;

use tonghop_formats::{read, Collect, Format, IdMapping, Location, OwnedRecord, ReadOptions};

const UTF8_CSV: &[u8] = include_bytes!("data/tonghop/bao_cao_202603_utf8.csv");
const UNICODE_TXT: &[u8] = include_bytes!("data/tonghop/bao_cao_202603_unicode.txt");
const CP1258_CSV: &[u8] = include_bytes!("data/tonghop/bao_cao_202603_cp1258.csv");
const TONGHOP_JSON: &[u8] = include_bytes!("data/tonghop/bao_cao_202603.json");
const DHIS2_CSV: &[u8] = include_bytes!("data/dhis2/dataValueSetB.csv");
const DHIS2_JSON: &[u8] = include_bytes!("data/dhis2/dataValueSetCreateDate.json");
const DHIS2_ADX: &[u8] = include_bytes!("data/dhis2/importC.adx.xml");

fn mapping() -> IdMapping {
    let path = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("tests/data/dhis2/mapping.csv");
    IdMapping::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn read_file(bytes: &[u8], name: &str, mapping: Option<&IdMapping>) -> (Format, Collect) {
    let mut sink = Collect::default();
    let options = ReadOptions { mapping, ..ReadOptions::default() };
    let format = read(&mut &bytes[..], name, &options, &mut sink).unwrap_or_else(|e| panic!("{e}"));
    (format, sink)
}

/// (period, org_unit, data_element, disaggregation, value, comment)
type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, &'a str, Option<&'a str>);

fn rows(records: &[OwnedRecord]) -> Vec<Row<'_>> {
    records
        .iter()
        .map(|r| (r.period.as_str(), r.org_unit.as_str(), r.data_element.as_str(), r.disaggregation.as_deref(), r.value.as_str(), r.comment.as_deref()))
        .collect()
}

const LONG_ROWS: [Row<'static>; 6] = [
    ("202603", "00004", "DS_TONG", None, "12000", Some("Trạm y tế xã Hòa Bình")),
    ("202603", "00004", "DS_BHYT", None, "10850", None),
    ("202603", "00004", "KCB_TONG", None, "1350", Some("Tăng do đợt cúm tháng 3")),
    ("202603", "00004", "KCB_BHYT", Some("nữ"), "1012", Some("Số liệu của bà Nguyễn Thị Hường, y sĩ")),
    ("202603", "00007", "DS_TONG", None, "8500", None),
    ("202603", "00007", "KCB_TONG", None, "640", Some("Đã đối chiếu sổ khám bệnh")),
];

#[test]
fn long_csv_in_three_encodings_comes_out_the_same_and_nfc() {
    for (bytes, name) in [(UTF8_CSV, "bao_cao_202603_utf8.csv"), (UNICODE_TXT, "bao_cao_202603_unicode.txt"), (CP1258_CSV, "bao_cao_202603_cp1258.csv")] {
        let (format, sink) = read_file(bytes, name, None);
        assert_eq!(format, Format::Csv, "{name}");
        assert!(sink.problems.is_empty(), "{name}: {:?}", sink.problems);
        assert_eq!(rows(&sink.records), LONG_ROWS, "{name}");
        let lines: Vec<Location> = sink.records.iter().map(|r| r.location.clone()).collect();
        assert_eq!(lines, (2..=7).map(Location::Line).collect::<Vec<_>>(), "{name}");
        for r in &sink.records {
            if let Some(c) = &r.comment {
                assert_eq!(tonghop_core::text::nfc(c), c.as_str(), "{name}: not NFC: {c:?}");
            }
        }
    }
    // The Windows-1258 file really stores tones as combining marks ("Trạm" = "Tra" + 0xF2 + "m").
    assert!(CP1258_CSV.windows(5).any(|w| w == b"Tra\xF2m"));
}

#[test]
fn tonghop_json() {
    let (format, sink) = read_file(TONGHOP_JSON, "bao_cao_202603.json", None);
    assert_eq!(format, Format::Json);
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    assert_eq!(
        rows(&sink.records),
        vec![
            ("202603", "00004", "DS_TONG", None, "12000", Some("Trạm y tế xã Hòa Bình")),
            ("202603", "00004", "DS_BHYT", None, "10850", None),
            ("202603", "00004", "KCB_TONG", None, "1350", None),
            ("202603", "00004", "KCB_BHYT", Some("nữ"), "1012", None),
            ("202603", "00004", "TYT_BS", None, "", Some("Chưa có bác sĩ cơ hữu")),
            ("202603", "00007", "DS_TONG", None, "8500", None),
            ("202602", "00007", "KCB_TONG", None, "640", Some("Số liệu tháng trước gửi bổ sung")),
        ]
    );
    assert_eq!(sink.records[6].location, Location::Path("$[1].values[1]".to_string()));
}

#[test]
fn dhis2_csv_sample_all_twelve_values_mapped() {
    let mapping = mapping();
    let (format, sink) = read_file(DHIS2_CSV, "dataValueSetB.csv", Some(&mapping));
    assert_eq!(format, Format::Dhis2Csv);
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    assert_eq!(sink.records.len(), 12);
    let mut expected = Vec::new();
    let mut value = 10001;
    for element in ["DS_TONG", "KCB_TONG", "NCC_TONG"] {
        for period in ["201201", "201202"] {
            for unit in ["00004", "00007"] {
                expected.push((period, unit, element, None, value.to_string(), Some("comment")));
                value += 1;
            }
        }
    }
    let got: Vec<_> = rows(&sink.records).into_iter().map(|(p, u, e, d, v, c)| (p, u, e, d, v.to_string(), c)).collect();
    assert_eq!(got, expected);
    for (i, r) in sink.records.iter().enumerate() {
        assert_eq!(r.location, Location::Line(i as u64 + 2));
        assert_eq!(r.stored_by.as_deref(), Some("john"));
        assert!(!r.deleted);
    }
    // Without a mapping, DHIS2 uids pass through for the validator to reject.
    let (_, raw) = read_file(DHIS2_CSV, "dataValueSetB.csv", None);
    assert_eq!((raw.records[0].org_unit.as_str(), raw.records[0].data_element.as_str()), ("DiszpKrYNg8", "f7n9E0hX8qk"));
}

#[test]
fn dhis2_json_sample() {
    let mapping = mapping();
    let (format, sink) = read_file(DHIS2_JSON, "dataValueSetCreateDate.json", Some(&mapping));
    assert_eq!(format, Format::Dhis2Json);
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    assert_eq!(rows(&sink.records), vec![("201201", "00004", "DS_TONG", None, "20", None)]);
    let r = &sink.records[0];
    assert_eq!((r.stored_by.as_deref(), r.deleted), (Some("system"), false));
    assert_eq!(r.location, Location::Path("$.dataValues[0]".to_string()));
}

#[test]
fn adx_sample_all_values_mapped() {
    let mapping = mapping();
    let (format, sink) = read_file(DHIS2_ADX, "importC.adx.xml", Some(&mapping));
    assert_eq!(format, Format::Adx);
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    assert_eq!(
        rows(&sink.records),
        vec![
            ("202001", "00004", "KCB_TONG", Some("nu_duoi_5"), "1", None),
            ("202001", "00004", "KCB_TONG", Some("nam_duoi_5"), "2", None),
            ("202001", "00004", "KCB_TONG", Some("nu_tren_5"), "3", None),
            ("202001", "00004", "KCB_TONG", Some("nam_tren_5"), "4", None),
            ("202001", "00004", "KCB_BHYT", None, "0", Some("Text data value")),
            ("202002", "00007", "KCB_TONG", Some("nu_duoi_5"), "6", None),
            ("2021Q1", "00007", "KCB_TONG", Some("nu_duoi_5"), "10", None),
            ("2021Q1", "00007", "KCB_TONG", Some("nu_tren_5"), "20", None),
            ("2021Q1", "00007", "KCB_TONG", Some("nam_duoi_5"), "30", None),
        ]
    );
    let paths: Vec<String> = sink.records.iter().map(|r| r.location.to_string()).collect();
    assert_eq!(paths[4], "/adx/group[1]/dataValue[5]");
    assert_eq!(paths[8], "/adx/group[5]/dataValue[1]");
}

#[test]
fn adx_sample_without_mapping_reports_the_mechanisms() {
    let (_, sink) = read_file(DHIS2_ADX, "importC.adx.xml", None);
    assert_eq!(sink.records.len(), 6);
    assert_eq!(sink.records[0].org_unit, "Provincial Hospital");
    assert_eq!(sink.records[0].disaggregation.as_deref(), Some("ageeeeeeeee=Under 5;sexxxxxxxxx=Female"));
    assert_eq!(sink.records[2].disaggregation.as_deref(), Some("F_Over5"));
    let problems: Vec<(&str, Option<&str>)> = sink.problems.iter().map(|p| (p.reason, p.value.as_deref())).collect();
    assert_eq!(
        problems,
        vec![
            ("attribute_option_combo_unsupported", Some("mechanismmm=PEPFAR mechanism")),
            ("attribute_option_combo_unsupported", Some("mechanismmm=McDonalds mechanism")),
            ("attribute_option_combo_unsupported", Some("coc_McDonalds")),
        ]
    );
    assert!(sink.problems[2].message_en.contains("add the line \"attribute_option_combo,coc_McDonalds,default\" to the mapping file"));
}

/// Throughput of the long CSV reader on generated rows, streamed (never held in memory).
/// Run with `cargo test --release -p tonghop-formats --test samples -- --ignored --nocapture`;
/// `THROUGHPUT_ROWS` sets the number of rows (10 million by default).
#[test]
#[ignore = "a benchmark; run in release"]
fn long_csv_throughput() {
    use std::io::Read;

    struct Rows {
        next: u64,
        total: u64,
        line: Vec<u8>,
        pos: usize,
    }
    impl Read for Rows {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let mut n = 0;
            while n < buf.len() {
                if self.pos == self.line.len() {
                    if self.next == self.total {
                        break;
                    }
                    self.line.clear();
                    if self.next == 0 {
                        self.line.extend_from_slice(b"period,org_unit,data_element,value,disaggregation,comment\n");
                    }
                    let unit = self.next % 10_000;
                    self.line.extend_from_slice(format!("202603,{unit:05},KCB_TONG,{},,\n", self.next % 977).as_bytes());
                    self.next += 1;
                    self.pos = 0;
                }
                let k = (self.line.len() - self.pos).min(buf.len() - n);
                buf[n..n + k].copy_from_slice(&self.line[self.pos..self.pos + k]);
                self.pos += k;
                n += k;
            }
            Ok(n)
        }
    }
    struct Count(u64, u64);
    impl tonghop_formats::Sink for Count {
        fn record(&mut self, r: &tonghop_formats::Record<'_>) {
            self.0 += 1;
            self.1 += r.value.len() as u64;
        }
        fn problem(&mut self, _: tonghop_formats::Problem) {
            panic!("unexpected problem");
        }
    }
    let total = std::env::var("THROUGHPUT_ROWS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000_000);
    for encoding in [None, Some(encoding_rs::WINDOWS_1258)] {
        let mut source = std::io::BufReader::with_capacity(64 * 1024, Rows { next: 0, total, line: Vec::new(), pos: 0 });
        let mut sink = Count(0, 0);
        let start = std::time::Instant::now();
        let options = ReadOptions { encoding, ..ReadOptions::default() };
        let format = read(&mut source, "big.csv", &options, &mut sink).unwrap_or_else(|e| panic!("{e}"));
        let seconds = start.elapsed().as_secs_f64();
        assert_eq!((format, sink.0), (Format::Csv, total));
        let name = encoding.map_or("UTF-8", encoding_rs::Encoding::name);
        println!("{name}: {total} rows in {seconds:.2} s: {:.2} million rows/s", total as f64 / seconds / 1e6);
    }
}
