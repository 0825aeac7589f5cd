//! DataFusion sessions over the lake.
//!
//! | module | what it owns |
//! |---|---|
//! | [`reference`] | reference and catalog tables as SQL tables: `units`, `unit_mapping`, `periods`, `period_months`, `calendar`, `holidays`, `data_elements`, `indicators`, `targets`, `validation_rules`, `validation_rule_elements`, `reporting_deadlines`, `quality_settings` |
//! | [`functions`] | SQL functions tonghop adds: `across_reform` (a straddling period's figure from its own and carried parts), `key_hash` (what `unique` tests group first) |
//! | [`models`] | the `sql/` project: one model per file, header comments (grain, materialisation), dependencies from the SQL parser, tests beside models |
//! | [`read_only`] | the one read-only gate of analyst SQL (CLI, HTTP, PostgreSQL): judged on the logical plan, `EXPLAIN ANALYZE` included; the client settings a PostgreSQL driver may `SET` |
//! | [`refresh`] | incremental refresh: what changed since the last build, which periods to recompute, in which chunks |
//! | [`session`] | [`Engine`]: opening a session and registering every table and model; read-only analyst SQL |
//! | [`cluster`] | distributed execution: the workers a coordinator plans over ([`Cluster`]), and a worker ([`cluster::serve_worker`]) |
//! | [`as_of`] | [`AsOf`]: a session over the lake as it stood at an earlier time (`--as-of`), with `now()` fixed |
//! | `build.rs` | [`Engine::build`]: materialising the models in dependency order ([`BuildSummary`]) |
//! | `model_tests.rs` | the tests declared beside each model, run by every build (a materialised model's as soon as it is built; row checks counted in one scan; `unique` screened by a key hash) |
//!
//! Lake tables are exposed as views that show only committed submissions (`data_values`,
//! `rejections`, `submissions`); the raw Delta tables stay reachable as `lake.data_values` etc.
//!
//! The models are tested twice: the tests declared beside each model run in every build, and
//! `tests/slt/*.slt` (sqllogictest) check hand-worked results over seed data ingested through the
//! real ingestor (`tests/slt.rs`).

#![warn(missing_docs)]

pub mod as_of;
mod build;
pub mod cluster;
mod error;
pub mod functions;
mod model_tests;
pub mod models;
pub mod read_only;
pub mod reference;
pub mod refresh;
pub mod session;

pub use as_of::AsOf;
pub use build::BuildSummary;
pub use cluster::{Cluster, ClusterConfig};
pub use error::{Error, Result};
pub use models::Model;
pub use session::{Engine, Mode};
