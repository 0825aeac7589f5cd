//! [`AsOf`]: which state of the lake a session reads, and the fixed `now()` of a look back.

use std::sync::Arc;

use tonghop_lake::Lake;

use crate::{Error, Result};

/// Which state of the lake a session reads: the latest commit of every Delta table, or the state
/// at an earlier time, to rebuild a past export from the data as it stood then.
///
/// Under [`AsOf::Time`] and [`AsOf::Versions`] every Delta table (the lake tables and the
/// materialised models) is opened at the chosen version, a table that did not exist then reads as
/// empty (a model as a view over the tables), and SQL's `now()` returns the chosen instant, so
/// that what depends on the clock (reports still pending or already missing) is what it was.
/// Only [`Mode::Read`] sessions can look back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AsOf {
    /// The latest version of every table; `now()` is the clock.
    #[default]
    Latest,
    /// Each table at the last version committed at or before this instant.
    Time(chrono::DateTime<chrono::Utc>),
    /// Each table at the version recorded in `versions` (as returned by [`Engine::versions`]: table
    /// name, `models.<name>` for models); tables not listed read as absent. `now()` is `at`.
    Versions {
        /// Table → version.
        versions: std::collections::BTreeMap<String, i64>,
        /// The instant `now()` returns (when the versions were recorded).
        at: chrono::DateTime<chrono::Utc>,
    },
}

impl AsOf {
    /// The instant `now()` returns in the session, if fixed.
    pub fn instant(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            AsOf::Latest => None,
            AsOf::Time(at) | AsOf::Versions { at, .. } => Some(*at),
        }
    }

    /// Opens `folder/name` (`key` is its name in the version map) as this option says.
    pub(crate) async fn open(&self, lake: &Lake, folder: &str, name: &str, key: &str) -> Result<Option<tonghop_lake::DeltaTable>> {
        let version = match self {
            AsOf::Latest => return Ok(lake.open_table(folder, name).await?),
            AsOf::Time(at) => lake.version_at(folder, name, *at).await?,
            AsOf::Versions { versions, .. } => versions.get(key).copied(),
        };
        let Some(version) = version else { return Ok(None) };
        match lake.open_table_at(folder, name, version).await? {
            Some(table) => Ok(Some(table)),
            None => Err(Error::VersionGone { table: key.to_string(), version }),
        }
    }
}

/// `now()` (and `current_timestamp`) fixed at one instant, with the built-in's type (nanoseconds,
/// the session's time zone: none by default), folded to a literal at planning like the built-in.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct FixedNow {
    pub(crate) nanos: i64,
    pub(crate) signature: datafusion::logical_expr::Signature,
    pub(crate) aliases: Vec<String>,
}

impl FixedNow {
    fn value(&self) -> datafusion::scalar::ScalarValue {
        datafusion::scalar::ScalarValue::TimestampNanosecond(Some(self.nanos), None)
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for FixedNow {
    fn name(&self) -> &str {
        "now"
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }
    fn return_type(&self, _: &[arrow::datatypes::DataType]) -> datafusion::error::Result<arrow::datatypes::DataType> {
        Ok(self.value().data_type())
    }
    fn return_field_from_args(&self, _: datafusion::logical_expr::ReturnFieldArgs) -> datafusion::error::Result<arrow::datatypes::FieldRef> {
        // Never NULL, like the built-in: the literal it folds to has the same schema.
        Ok(Arc::new(arrow::datatypes::Field::new("now", self.value().data_type(), false)))
    }
    fn invoke_with_args(&self, _: datafusion::logical_expr::ScalarFunctionArgs) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        Ok(datafusion::logical_expr::ColumnarValue::Scalar(self.value()))
    }
    fn simplify(
        &self,
        _: Vec<datafusion::logical_expr::Expr>,
        _: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> datafusion::error::Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        Ok(datafusion::logical_expr::simplify::ExprSimplifyResult::Simplified(datafusion::logical_expr::Expr::Literal(self.value(), None)))
    }
}
