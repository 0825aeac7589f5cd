//! Domain types of tonghop, with no DataFusion or storage dependency so they compile in seconds.
//!
//! This crate owns the vocabulary every other crate speaks:
//!
//! | module | what it owns |
//! |---|---|
//! | [`epoch`] | the two administrative epochs (before / from 2025-07-01) and which one a period belongs to |
//! | [`frames`] | the administrative frame of documents sent upward (issuing body, number symbol, place, signer, recipients), per unit from `catalog/report_frames.csv` |
//! | [`period`] | DHIS2-style period codes (`202603`, `2026Q1`, `2026S1`, `2026N9`, `2026`) and their months |
//! | [`units`] | the administrative-unit registry, keyed by (epoch, code), and the 2025 old → new mapping |
//! | [`reform`] | carrying figures across the 2025 reform: weights of split old communes (`reform_weights.csv`), main predecessors |
//! | [`catalog`] | data elements, indicators and targets, loaded from the editable files in `catalog/` |
//! | [`plans`] | implementation plans, their tasks (deadlines parsed), targets and agencies, from `catalog/plans/`; progress statuses |
//! | [`project`] | where a tonghop project keeps its editable files (`catalog/`, `reference/`, `sql/`) |
//! | [`retry`] | the one retry policy of pushes and pipeline steps: tries, doubling waits, a time limit per try |
//! | [`text`] | NFC normalisation of Vietnamese text |
//! | [`sql`] | SQL string literals for queries built in code |
//!
//! ```
//! use tonghop_core::{Epoch, Period};
//! let p: Period = "2026Q1".parse().unwrap();
//! assert_eq!(Epoch::for_period(&p).unwrap(), Epoch::Post2025);
//! assert!(Epoch::for_period(&"2025".parse().unwrap()).is_err()); // straddles the reform
//! ```

pub mod catalog;
pub mod epoch;
mod error;
pub mod frames;
pub mod period;
pub mod plans;
mod problems;
pub mod project;
pub mod reform;
pub mod retry;
pub mod sql;
pub mod text;
pub mod units;

pub use catalog::{Catalog, DataElement, Indicator, ReformRemap, Target, ValidationRule};
pub use epoch::Epoch;
pub use error::{Error, Result};
pub use period::{Period, PeriodType};
pub use problems::Problems;
pub use project::Project;
pub use retry::RetryPolicy;
pub use units::{AdminUnit, Level, UnitMappingEdge, UnitRegistry};
