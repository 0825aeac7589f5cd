//! DataFusion sessions over the lake.
//!
//! | module | what it owns |
//! |---|---|
//! | [`reference`] | reference and catalog tables as SQL tables: `units`, `unit_mapping`, `unit_ancestors` inputs, `periods`, `period_months`, `holidays`, `data_elements`, `indicators`, `targets` |
//! | [`models`] | the `sql/` project: one model per file, header comments (grain, materialisation), dependency order, tests beside models |
//! | [`session`] | [`Engine`]: registering everything, building (materialising) models, read-only analyst SQL |
//!
//! Lake tables are exposed as views that show only committed submissions (`data_values`,
//! `rejections`, `submissions`); the raw Delta tables stay reachable as `lake.data_values` etc.

#![warn(missing_docs)]

mod error;
pub mod models;
pub mod reference;
pub mod session;

pub use error::{Error, Result};
pub use models::Model;
pub use session::{BuildSummary, Engine};
