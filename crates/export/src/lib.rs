//! Exports: the files people and portals open, and the record of what each one read.
//!
//! This crate owns the writers that turn Arrow [`RecordBatch`]es (the results of
//! tonghop's queries) into bytes, the one function that stores those bytes, and the
//! exports built on them:
//!
//! | item | what |
//! |---|---|
//! | [`to_csv`] | UTF-8 CSV with a byte-order mark, for portals, scripts and Excel |
//! | [`to_xlsx`] | one formatted Excel sheet laid out by a [`SheetSpec`] (title, subtitle, Vietnamese column labels, number formats, print setup) |
//! | [`to_parquet`] | Parquet (zstd), column types kept |
//! | [`write_object`] | a single atomic put into any [`object_store::ObjectStore`] (a local folder or S3) |
//! | [`report`] | the Vietnamese Excel report of Directive 25-CT/TW for a province, district or the nation and a period (`tonghop export report`): summary, breakdown by sub-unit coloured by target status, completeness with the communes that did not report, data quality, charts |
//! | [`review`] | the periodic implementation review of a plan (báo cáo sơ kết / tổng kết, `tonghop export review`): gathered from the plans, the agencies' progress and the indicators, written as a Word document in the format of Decree 30/2020/NĐ-CP and as a sheet of the Excel report |
//! | [`extract`] | any model or table, filtered by a SQL predicate, to CSV, Excel, Parquet or JSON (`tonghop export table`) |
//! | [`dhis2`] | rolled-up data elements as a DHIS2 data value set (JSON or CSV), codes translated through the id-scheme mapping (`tonghop export dhis2`) |
//! | [`push`] | pushing JSON to DHIS2 (`/api/dataValueSets`, import summary read) or a reporting portal, with an idempotency key and retries, each push recorded in the lake's `export_log` |
//! | [`request`] | the one implementation of each export, used by the CLI and the pipeline steps alike: [`ReportRequest`], [`TableRequest`], [`Dhis2Request`], [`PortalRequest`], [`ReviewRequest`], each checking itself (every problem at once) and running itself in an [`ExportContext`] |
//! | [`record`] | the sidecar `<file>.versions.json`: the Delta versions an export read and the instant its data stood at, reusable to rebuild it ([`tonghop_engine::AsOf`]) |
//!
//! The report's queries are the views of `sql/reports/` (`report_indicators`,
//! `report_completeness`, `report_quality_issues`, `missing_reports`), so analysts can read and
//! query the figures the report prints; [`report`] only selects one unit's rows and lays them out
//! with the same cell conventions as [`to_xlsx`].
//!
//! Text is written byte-for-byte as given: normalise it to NFC upstream (the
//! lake and the catalog already hold NFC text), and the files carry exactly
//! those bytes.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Float64Array, RecordBatch, StringArray};
//! use arrow::datatypes::{DataType, Field, Schema};
//! use tonghop_export::{to_csv, to_xlsx, SheetSpec};
//!
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("province_name", DataType::Utf8, false),
//!     Field::new("value", DataType::Float64, true),
//! ]));
//! let batch = RecordBatch::try_new(
//!     schema,
//!     vec![
//!         Arc::new(StringArray::from(vec!["Thành phố Hà Nội", "Tỉnh Cao Bằng"])),
//!         Arc::new(Float64Array::from(vec![Some(97.5), None])),
//!     ],
//! )?;
//!
//! let spec = SheetSpec::new("Chỉ tiêu tỉnh")
//!     .with_title("BÁO CÁO CHỈ TIÊU Y TẾ CƠ SỞ")
//!     .with_subtitle("Kỳ báo cáo: Tháng 3 năm 2026")
//!     .with_header("province_name", "Tỉnh/Thành phố")
//!     .with_header("value", "Giá trị (%)")
//!     .with_number_format("value", "0.0");
//! let xlsx: Vec<u8> = to_xlsx(&[batch.clone()], &spec)?;
//! let csv: Vec<u8> = to_csv(&[batch])?;
//! assert!(csv.starts_with(b"\xEF\xBB\xBF"));
//! assert!(xlsx.starts_with(b"PK")); // an .xlsx file is a zip archive
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Storing the bytes (`store` is any `object_store::ObjectStore`):
//!
//! ```no_run
//! # async fn demo(store: &dyn object_store::ObjectStore, bytes: Vec<u8>) -> tonghop_export::Result<()> {
//! let path = object_store::path::Path::from("exports/2026-03/chi_tieu_tinh.xlsx");
//! tonghop_export::write_object(store, &path, bytes).await?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod csv;
pub mod dhis2;
mod error;
pub mod extract;
pub mod push;
pub mod record;
pub mod report;
pub mod request;
pub mod review;
mod store;
mod xlsx;

pub use arrow::array::RecordBatch;

pub use crate::csv::{to_csv, UTF8_BOM};
pub use crate::dhis2::{DataValue, DataValueSet, Dhis2Export, Dhis2Format, Dhis2Scope};
pub use crate::error::{Error, Result};
pub use crate::extract::{to_json, to_parquet, ExtractFormat};
pub use crate::push::{push, Auth, ExportLogEntry, ImportSummary, Push, PushKind, RetryPolicy};
pub use crate::record::ExportRecord;
pub use crate::report::{ReportData, ReportScope};
pub use crate::request::{Checks, Dhis2Request, ExportContext, ExportOutcome, PortalRequest, PushRetry, ReportRequest, ReviewRequest, TableRequest};
pub use crate::store::{store_with_record, write_object};
pub use crate::xlsx::{sanitize_sheet_name, to_xlsx, SheetSpec};

/// Checks that every batch has the schema of the first (same column names and
/// types, in the same order; metadata and nullability are ignored).
fn check_same_schema(batches: &[RecordBatch]) -> Result<()> {
    let Some(first) = batches.first() else {
        return Ok(());
    };
    let expected = first.schema();
    for (index, batch) in batches.iter().enumerate().skip(1) {
        let found = batch.schema();
        let same = expected.fields().len() == found.fields().len()
            && expected.fields().iter().zip(found.fields().iter()).all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same {
            return Err(Error::SchemaMismatch { batch: index, expected: describe_schema(&expected), found: describe_schema(&found) });
        }
    }
    Ok(())
}

fn describe_schema(schema: &arrow::datatypes::Schema) -> String {
    let columns: Vec<String> = schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect();
    format!("({})", columns.join(", "))
}
