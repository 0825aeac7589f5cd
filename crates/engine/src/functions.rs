//! SQL functions tonghop adds to every session.
//!
//! | function | what |
//! |---|---|
//! | `across_reform(aggregation, own, own_months, carried, carried_months)` | a figure over a period from a unit's own part and the part carried across the 2025 reform |
//! | `key_hash(a, …)` | a 64-bit hash of its arguments, equal for rows whose arguments are equal (NULLs equal to NULLs): what a model's `unique` test groups by first (see `KeyHash`) |
//!
//! `across_reform` is the one rule of a period that straddles 2025-07-01 (`2025`, `2025N9`,
//! `2025YTD07`–`12`) in today's units, used by `sql/intermediate/commune_terms.sql` (indicator
//! terms) and `sql/reports/dhis2_data_values.sql` (data element values). `own` is what the new
//! commune reported itself (the months from July), `carried` what its old communes reported before
//! the reform, already weighted (see `tonghop_core::reform`); either may be NULL (no such part). By
//! the time aggregation of the data element (`catalog/data_elements.csv`):
//!
//! - `sum` (flows): own + carried;
//! - `last` (stocks): own when the commune reported after the reform, else carried (the stock at
//!   the latest month with data);
//! - `average`: the two parts' averages weighted by their months, (own × own_months + carried ×
//!   carried_months) / (own_months + carried_months).
//!
//! With one part only, that part. `across_reform_uses_carried(aggregation, own, carried)` says
//! whether the result depends on the carried part (the figure is `remapped`).

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, UInt64Array};
use arrow::datatypes::{DataType, Float64Type};
use datafusion::common::hash_utils::{create_hashes, QualityRandomState};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::prelude::SessionContext;

/// The value of a period from its own and carried parts (see the module docs).
pub fn across_reform(aggregation: &str, own: Option<f64>, own_months: Option<f64>, carried: Option<f64>, carried_months: Option<f64>) -> Option<f64> {
    match (own, carried) {
        (own, None) => own,
        (None, carried) => carried,
        (Some(own), Some(carried)) => match aggregation {
            "sum" => Some(own + carried),
            "last" => Some(own),
            _ => {
                let (a, b) = (own_months.unwrap_or(0.0), carried_months.unwrap_or(0.0));
                (a + b > 0.0).then(|| (own * a + carried * b) / (a + b))
            }
        },
    }
}

/// Whether [`across_reform`] takes the carried part into its result.
pub fn uses_carried(aggregation: &str, own: Option<f64>, carried: Option<f64>) -> bool {
    carried.is_some() && (aggregation != "last" || own.is_none())
}

/// Registers `across_reform` and `across_reform_uses_carried`.
pub fn register(ctx: &SessionContext) {
    for function in all() {
        ctx.register_udf(function.as_ref().clone());
    }
}

/// tonghop's SQL functions, for sessions built another way (a worker's, see [`crate::cluster`]).
pub fn all() -> Vec<std::sync::Arc<ScalarUDF>> {
    vec![
        std::sync::Arc::new(ScalarUDF::new_from_impl(AcrossReform::new("across_reform", 5))),
        std::sync::Arc::new(ScalarUDF::new_from_impl(AcrossReform::new("across_reform_uses_carried", 3))),
        std::sync::Arc::new(ScalarUDF::new_from_impl(KeyHash { signature: Signature::variadic_any(Volatility::Immutable) })),
    ]
}

/// What `key_hash` takes a NULL's hash to be (DataFusion's hashing leaves a NULL's slot untouched).
const NULL_HASH: u64 = 0x6e75_6c6c_6b65_7921;

/// `key_hash(a, …)`: DataFusion's own hash of each argument (the one its joins and aggregates use,
/// fixed seed), folded in turn into one 64-bit key, so rows whose arguments are equal, NULLs equal
/// to NULLs, hash alike. Rows that hash alike may still differ. A `unique` test groups these
/// hashes first, in about half the time of grouping the key's strings, and groups the key itself
/// only when two hashes are equal (see `model_tests.rs`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct KeyHash {
    signature: Signature,
}

impl ScalarUDFImpl for KeyHash {
    fn name(&self) -> &str {
        "key_hash"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let state = QualityRandomState::with_seed(0);
        let mut keys = vec![0; args.number_rows];
        let mut column = vec![0; args.number_rows];
        // Column by column, each folded into the key in turn: hashing them together, DataFusion
        // leaves a row's hash as it was at a NULL, so (NULL, 'a') and ('a', NULL) would hash alike.
        for array in ColumnarValue::values_to_arrays(&args.args)? {
            column.fill(NULL_HASH);
            create_hashes([&array], &state, &mut column)?;
            keys.iter_mut().zip(&column).for_each(|(key, value)| *key = state.hash_one((*key, *value)));
        }
        Ok(ColumnarValue::Array(Arc::new(UInt64Array::from(keys))))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct AcrossReform {
    name: &'static str,
    arity: usize,
    signature: Signature,
}

impl AcrossReform {
    fn new(name: &'static str, arity: usize) -> AcrossReform {
        AcrossReform { name, arity, signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for AcrossReform {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != self.arity {
            return exec_err!("{} takes {} arguments (aggregation, then numbers), not {}", self.name, self.arity, arg_types.len());
        }
        Ok(std::iter::once(DataType::Utf8).chain(std::iter::repeat_n(DataType::Float64, self.arity - 1)).collect())
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.arity == 5 { DataType::Float64 } else { DataType::Boolean })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows)).collect::<Result<_>>()?;
        let aggregation = arrays[0].as_string::<i32>();
        let numbers: Vec<&Float64Array> = arrays[1..].iter().map(|a| a.as_primitive::<Float64Type>()).collect();
        let at = |array: &Float64Array, i: usize| array.is_valid(i).then(|| array.value(i));
        let kind = |i: usize| if aggregation.is_valid(i) { aggregation.value(i) } else { "" };
        let out: ArrayRef = if self.arity == 5 {
            Arc::new(Float64Array::from_iter(
                (0..rows).map(|i| across_reform(kind(i), at(numbers[0], i), at(numbers[1], i), at(numbers[2], i), at(numbers[3], i))),
            ))
        } else {
            Arc::new(BooleanArray::from_iter((0..rows).map(|i| Some(uses_carried(kind(i), at(numbers[0], i), at(numbers[1], i))))))
        };
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_aggregation_combines_the_two_parts() {
        assert_eq!(across_reform("sum", Some(10.0), Some(6.0), Some(5.0), Some(6.0)), Some(15.0));
        assert_eq!(across_reform("last", Some(10.0), Some(6.0), Some(5.0), Some(6.0)), Some(10.0));
        assert_eq!(across_reform("average", Some(10.0), Some(3.0), Some(4.0), Some(6.0)), Some(6.0));
        for kind in ["sum", "last", "average"] {
            assert_eq!(across_reform(kind, None, None, Some(5.0), Some(6.0)), Some(5.0), "{kind}: carried only");
            assert_eq!(across_reform(kind, Some(7.0), Some(2.0), None, None), Some(7.0), "{kind}: own only");
            assert_eq!(across_reform(kind, None, None, None, None), None);
        }
        assert!(uses_carried("last", None, Some(1.0)) && !uses_carried("last", Some(2.0), Some(1.0)) && uses_carried("sum", Some(2.0), Some(1.0)));
        assert!(!uses_carried("sum", Some(2.0), None));
    }

    #[tokio::test]
    async fn the_sql_functions_follow_the_rule() {
        let ctx = SessionContext::new();
        register(&ctx);
        let batches = ctx
            .sql(
                "SELECT across_reform(k, o, om, c, cm) AS v, across_reform_uses_carried(k, o, c) AS u FROM (VALUES \
                 ('sum', 10.0, 6, 5.0, 6), ('last', 10.0, 6, 5.0, 6), ('last', NULL, NULL, 5.0, 6), ('average', 10.0, 3, 4.0, 6)) AS t(k, o, om, c, cm)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let v = batches[0].column(0).as_primitive::<Float64Type>();
        let u = batches[0].column(1).as_boolean();
        assert_eq!(v.values().to_vec(), vec![15.0, 10.0, 5.0, 6.0]);
        assert_eq!((0..4).map(|i| u.value(i)).collect::<Vec<_>>(), vec![true, false, true, true]);
    }
}
