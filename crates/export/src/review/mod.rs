//! The periodic implementation review of a plan (báo cáo sơ kết / tổng kết, `tonghop export
//! review`): gathered from the plans catalog, the agencies' progress reports and the indicator
//! models ([`document::Review`]), then written as a Word document in the administrative format of
//! Decree 30/2020/NĐ-CP ([`docx::to_docx`]).

pub mod document;
pub mod docx;
pub mod gather;
pub mod sheet;

pub use document::{AgencyReport, CompletenessLine, Frame, IndicatorResult, Review, TaskLine, TaskWork, UnitTable};
pub use docx::to_docx;
pub use gather::ReviewScope;
