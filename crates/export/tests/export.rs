//! Writes real files and reads them back with independent readers: calamine for
//! XLSX, arrow's CSV reader (and exact bytes) for CSV, the file system for stores; pushes to a
//! local DHIS2 and portal server over real sockets (`push`).

#[path = "export/push.rs"]
mod push;

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, DictionaryArray, Float64Array, Int32Array, Int64Array, LargeStringArray, ListArray, RecordBatch, StringArray,
    StringViewArray, TimestampMillisecondArray, TimestampSecondArray, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
use calamine::{open_workbook_from_rs, Data, Range, Reader, Xlsx};
use tonghop_export::{to_csv, to_xlsx, write_object, Error, SheetSpec};

const HA_NOI: &str = "Thành phố Hà Nội";
const CAO_BANG: &str = "Tỉnh Cao Bằng";
const DIEN_BIEN: &str = "Tỉnh Điện Biên";

/// Days since 1970-01-01 of 2026-03-01 and 2026-03-31.
const MARCH_1: i32 = 20_513;
const MARCH_31: i32 = 20_543;
/// Their Excel serial numbers.
const MARCH_1_SERIAL: f64 = 46_082.0;
const MARCH_31_SERIAL: f64 = 46_112.0;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("province_code", DataType::Utf8, false),
        Field::new("province_name", DataType::Utf8, false),
        Field::new("numerator", DataType::Int64, true),
        Field::new("value", DataType::Float64, true),
        Field::new("period_start", DataType::Date32, true),
        Field::new("complete", DataType::Boolean, true),
    ]))
}

/// Two batches (to check that rows continue across batches).
fn batches() -> Vec<RecordBatch> {
    let first = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(vec!["01", "04"])) as ArrayRef,
            Arc::new(StringArray::from(vec![HA_NOI, CAO_BANG])),
            Arc::new(Int64Array::from(vec![Some(1_234_567), None])),
            Arc::new(Float64Array::from(vec![Some(97.5), None])),
            Arc::new(Date32Array::from(vec![Some(MARCH_1), Some(MARCH_31)])),
            Arc::new(BooleanArray::from(vec![Some(true), None])),
        ],
    )
    .unwrap();
    let second = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(vec!["11"])) as ArrayRef,
            Arc::new(StringArray::from(vec![DIEN_BIEN])),
            Arc::new(Int64Array::from(vec![Some(-42)])),
            Arc::new(Float64Array::from(vec![Some(0.125)])),
            Arc::new(Date32Array::from(vec![None])),
            Arc::new(BooleanArray::from(vec![Some(false)])),
        ],
    )
    .unwrap();
    vec![first, second]
}

fn spec() -> SheetSpec {
    SheetSpec::new("Chỉ tiêu tỉnh")
        .with_title("BÁO CÁO CHỈ TIÊU Y TẾ CƠ SỞ THEO CHỈ THỊ 25-CT/TW")
        .with_subtitle("Kỳ báo cáo: Tháng 3 năm 2026 · Lập ngày 23/11/2026")
        .with_headers([
            ("province_code", "Mã tỉnh"),
            ("province_name", "Tỉnh/Thành phố"),
            ("numerator", "Tử số"),
            ("value", "Giá trị (%)"),
            ("period_start", "Ngày bắt đầu kỳ"),
        ])
        .with_number_format("value", "0.000")
}

fn read_xlsx(bytes: Vec<u8>) -> (Vec<String>, Range<Data>) {
    let mut workbook: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).expect("a valid xlsx");
    let names = workbook.sheet_names();
    let range = workbook.worksheet_range(&names[0]).expect("the first sheet");
    (names, range)
}

/// The cell at absolute (row, col); cells outside the used range are empty.
fn cell(range: &Range<Data>, row: u32, col: u32) -> Data {
    range.get_value((row, col)).cloned().unwrap_or(Data::Empty)
}

fn number(range: &Range<Data>, row: u32, col: u32) -> f64 {
    match cell(range, row, col) {
        Data::Float(f) => f,
        Data::Int(i) => i as f64,
        other => panic!("cell ({row}, {col}) should be a number, is {other:?}"),
    }
}

fn date_serial(range: &Range<Data>, row: u32, col: u32) -> f64 {
    match cell(range, row, col) {
        Data::DateTime(dt) => {
            assert!(dt.is_datetime(), "({row}, {col}) is a date-time, not a duration");
            dt.as_f64()
        }
        other => panic!("cell ({row}, {col}) should be a date, is {other:?}"),
    }
}

#[test]
fn xlsx_round_trips_through_calamine() {
    let spec = spec();
    let bytes = to_xlsx(&batches(), &spec).unwrap();
    let (names, range) = read_xlsx(bytes);

    assert_eq!(names, vec!["Chỉ tiêu tỉnh".to_string()]);
    assert_eq!(cell(&range, 0, 0), Data::String("BÁO CÁO CHỈ TIÊU Y TẾ CƠ SỞ THEO CHỈ THỊ 25-CT/TW".into()));
    assert_eq!(cell(&range, 1, 0), Data::String("Kỳ báo cáo: Tháng 3 năm 2026 · Lập ngày 23/11/2026".into()));
    assert_eq!(cell(&range, 2, 0), Data::Empty, "spacer row");

    let header = spec.header_row();
    assert_eq!(header, 3);
    let labels: Vec<Data> = (0..6).map(|c| cell(&range, header, c)).collect();
    assert_eq!(labels, ["Mã tỉnh", "Tỉnh/Thành phố", "Tử số", "Giá trị (%)", "Ngày bắt đầu kỳ", "complete"].map(|s| Data::String(s.into())));

    let first = header + 1;
    // Text: byte-identical, codes stay text.
    assert_eq!(cell(&range, first, 0), Data::String("01".into()));
    for (offset, name) in [HA_NOI, CAO_BANG, DIEN_BIEN].into_iter().enumerate() {
        match cell(&range, first + offset as u32, 1) {
            Data::String(s) => assert_eq!(s.as_bytes(), name.as_bytes()),
            other => panic!("expected {name:?}, got {other:?}"),
        }
    }
    // Integers, with a null in the middle and a second batch after it.
    assert_eq!(number(&range, first, 2), 1_234_567.0);
    assert_eq!(cell(&range, first + 1, 2), Data::Empty);
    assert_eq!(number(&range, first + 2, 2), -42.0);
    // Floats.
    assert_eq!(number(&range, first, 3), 97.5);
    assert_eq!(cell(&range, first + 1, 3), Data::Empty);
    assert_eq!(number(&range, first + 2, 3), 0.125);
    // Dates are real Excel dates.
    assert_eq!(date_serial(&range, first, 4), MARCH_1_SERIAL);
    assert_eq!(date_serial(&range, first + 1, 4), MARCH_31_SERIAL);
    assert_eq!(cell(&range, first + 2, 4), Data::Empty);
    // Booleans.
    assert_eq!(cell(&range, first, 5), Data::Bool(true));
    assert_eq!(cell(&range, first + 1, 5), Data::Empty);
    assert_eq!(cell(&range, first + 2, 5), Data::Bool(false));
    // Nothing below the data.
    assert_eq!(range.end().unwrap().0, first + 2);
}

#[test]
fn xlsx_without_titles_starts_with_the_header() {
    let bytes = to_xlsx(&batches(), &SheetSpec::new("Tháng 3/2026")).unwrap();
    let (names, range) = read_xlsx(bytes);
    assert_eq!(names, vec!["Tháng 3-2026".to_string()]);
    assert_eq!(cell(&range, 0, 0), Data::String("province_code".into()));
    assert_eq!(cell(&range, 1, 1), Data::String(HA_NOI.into()));
    assert_eq!(number(&range, 1, 2), 1_234_567.0);
}

#[test]
fn xlsx_handles_every_string_layout_and_more_numbers() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("utf8", DataType::Utf8, true),
        Field::new("large", DataType::LargeUtf8, true),
        Field::new("view", DataType::Utf8View, true),
        Field::new("dict", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), true),
        Field::new("small", DataType::Int32, true),
        Field::new("unsigned", DataType::UInt32, true),
        Field::new("reported_at", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("reported_at_local", DataType::Timestamp(TimeUnit::Second, Some("+07:00".into())), true),
        Field::new("nothing", DataType::Null, true),
    ]));
    let dict: DictionaryArray<Int32Type> = vec![Some(CAO_BANG), None].into_iter().collect();
    // 2026-03-31T01:30:00Z = 08:30 in Vietnam (+07:00).
    let instant = 1_774_920_600_i64;
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec![Some(HA_NOI), None])) as ArrayRef,
            Arc::new(LargeStringArray::from(vec![None, Some(CAO_BANG)])),
            Arc::new(StringViewArray::from(vec![Some(DIEN_BIEN), Some("")])),
            Arc::new(dict),
            Arc::new(Int32Array::from(vec![Some(7), None])),
            Arc::new(UInt32Array::from(vec![Some(4_000_000_000), Some(0)])),
            Arc::new(TimestampMillisecondArray::from(vec![Some(instant * 1000), None])),
            Arc::new(TimestampSecondArray::from(vec![Some(instant), None]).with_timezone("+07:00")),
            Arc::new(arrow::array::NullArray::new(2)),
        ],
    )
    .unwrap();
    let (_, range) = read_xlsx(to_xlsx(&[batch], &SheetSpec::new("x")).unwrap());

    assert_eq!(cell(&range, 1, 0), Data::String(HA_NOI.into()));
    assert_eq!(cell(&range, 2, 0), Data::Empty);
    assert_eq!(cell(&range, 2, 1), Data::String(CAO_BANG.into()));
    assert_eq!(cell(&range, 1, 2), Data::String(DIEN_BIEN.into()));
    assert_eq!(cell(&range, 1, 3), Data::String(CAO_BANG.into()));
    assert_eq!(cell(&range, 2, 3), Data::Empty);
    assert_eq!(number(&range, 1, 4), 7.0);
    assert_eq!(number(&range, 1, 5), 4_000_000_000.0);
    assert_eq!(number(&range, 2, 5), 0.0);
    let utc = MARCH_31_SERIAL + 1.5 / 24.0;
    let local = MARCH_31_SERIAL + 8.5 / 24.0;
    assert!((date_serial(&range, 1, 6) - utc).abs() < 1e-9);
    assert!((date_serial(&range, 1, 7) - local).abs() < 1e-9);
    assert_eq!(cell(&range, 1, 8), Data::Empty);
}

#[test]
fn xlsx_writes_dates_excel_cannot_show_as_text() {
    let schema = Arc::new(Schema::new(vec![Field::new("d", DataType::Date32, true)]));
    // 1899-12-31
    let batch = RecordBatch::try_new(schema, vec![Arc::new(Date32Array::from(vec![Some(-25_568), Some(MARCH_1)])) as ArrayRef]).unwrap();
    let (_, range) = read_xlsx(to_xlsx(&[batch], &SheetSpec::new("x")).unwrap());
    assert_eq!(cell(&range, 1, 0), Data::String("31/12/1899".into()));
    assert_eq!(date_serial(&range, 2, 0), MARCH_1_SERIAL);
}

#[test]
fn xlsx_with_no_batches_has_only_the_titles() {
    let (names, range) = read_xlsx(to_xlsx(&[], &spec()).unwrap());
    assert_eq!(names, vec!["Chỉ tiêu tỉnh".to_string()]);
    assert_eq!(range.end().unwrap().0, 1);
}

fn list_batch() -> RecordBatch {
    let tags = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)])]);
    let schema = Arc::new(Schema::new(vec![Field::new("name", DataType::Utf8, false), Field::new("tags", tags.data_type().clone(), true)]));
    RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec![HA_NOI])) as ArrayRef, Arc::new(tags)]).unwrap()
}

#[test]
fn unsupported_types_are_errors_naming_the_column() {
    let err = to_xlsx(&[list_batch()], &SheetSpec::new("x")).unwrap_err();
    assert!(matches!(&err, Error::UnsupportedType { column, format: "XLSX", .. } if column == "tags"), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("\"tags\"") && message.contains("List"), "{message}");

    let err = to_csv(&[list_batch()]).unwrap_err();
    assert!(matches!(&err, Error::UnsupportedType { column, format: "CSV", .. } if column == "tags"), "{err:?}");
}

#[test]
fn batches_with_different_columns_are_rejected() {
    let other = list_batch();
    let err = to_xlsx(&[batches().remove(0), other.clone()], &spec()).unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { batch: 1, .. }), "{err:?}");
    let err = to_csv(&[batches().remove(0), other]).unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { batch: 1, .. }), "{err:?}");
}

#[test]
fn csv_has_a_bom_and_exact_rfc4180_text() {
    let bytes = to_csv(&batches()).unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    assert_eq!(
        text,
        "province_code,province_name,numerator,value,period_start,complete\r\n\
         01,Thành phố Hà Nội,1234567,97.5,2026-03-01,true\r\n\
         04,Tỉnh Cao Bằng,,,2026-03-31,\r\n\
         11,Tỉnh Điện Biên,-42,0.125,,false\r\n"
    );

    // Quoting.
    let schema = Arc::new(Schema::new(vec![Field::new("note", DataType::Utf8, true)]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec![Some("Xã \"A\", huyện B"), Some("hai\ndòng"), None])) as ArrayRef]).unwrap();
    let bytes = to_csv(&[batch]).unwrap();
    assert_eq!(std::str::from_utf8(&bytes[3..]).unwrap(), "note\r\n\"Xã \"\"A\"\", huyện B\"\r\n\"hai\ndòng\"\r\n\"\"\r\n");
}

#[test]
fn csv_parses_back_to_the_same_batches() {
    let input = batches();
    let bytes = to_csv(&input).unwrap();
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").expect("a BOM");
    let reader = arrow::csv::ReaderBuilder::new(schema()).with_header(true).build(Cursor::new(body.to_vec())).unwrap();
    let read: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    let expected = arrow::compute::concat_batches(&schema(), &input).unwrap();
    let actual = arrow::compute::concat_batches(&schema(), &read).unwrap();
    assert_eq!(actual, expected);
}

#[test]
fn csv_of_no_batches_is_just_the_bom() {
    assert_eq!(to_csv(&[]).unwrap(), b"\xEF\xBB\xBF");
}

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("tonghop-export-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn write_object_stores_the_bytes() {
    use object_store::ObjectStoreExt;

    let dir = TempDir::new("store");
    let store = object_store::local::LocalFileSystem::new_with_prefix(&dir.0).unwrap();
    let path = object_store::path::Path::from("exports/2026-03/chi_tieu_tinh.xlsx");
    let bytes = to_xlsx(&batches(), &spec()).unwrap();

    write_object(&store, &path, bytes.clone()).await.unwrap();
    let on_disk = std::fs::read(dir.0.join("exports/2026-03/chi_tieu_tinh.xlsx")).unwrap();
    assert_eq!(on_disk, bytes);
    let (names, _) = read_xlsx(on_disk);
    assert_eq!(names, vec!["Chỉ tiêu tỉnh".to_string()]);

    // Replacing an existing object.
    let csv = to_csv(&batches()).unwrap();
    write_object(&store, &path, csv.clone()).await.unwrap();
    let back = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(back.as_ref(), csv.as_slice());

    // No staging files are left behind.
    let left: Vec<_> = std::fs::read_dir(dir.0.join("exports/2026-03")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("chi_tieu_tinh.xlsx")]);
}

#[test]
fn write_object_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let store = object_store::memory::InMemory::new();
    let path = object_store::path::Path::from("a.csv");
    let future = write_object(&store, &path, Vec::new());
    assert_send(&future);
}
