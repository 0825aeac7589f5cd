//! Other engines on tonghop's tables: Polars (`pl.read_delta`, on Python's `deltalake`) reads every
//! model table and the committed rows of `tables/data_values` with the same row counts and the
//! same sums of every numeric column as `tonghop sql`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::helpers::{python_json, q1_demo_lake, sql_rows};

/// Per table (`models/<name>`, and `committed data_values`), `count` and `sum(<column>)` of every
/// numeric column, rounded to 6 decimals, as Polars reads them.
fn read_by_polars(lake: &Path, tables: &[String]) -> BTreeMap<String, BTreeMap<String, String>> {
    let script = r#"
import json, sys
import polars as pl
root, tables = sys.argv[1], sys.argv[2:]
def figures(df):
    out = {"count": str(df.height)}
    for name, dtype in df.schema.items():
        if dtype.is_numeric():
            total = df[name].sum()
            out[name] = "NULL" if total is None or df[name].null_count() == df.height else f"{round(float(total), 6):.6f}"
    return out
result = {}
for t in tables:
    result[f"models/{t}"] = figures(pl.read_delta(f"{root}/models/{t}"))
# The documented join: a value counts once its submission is committed.
values = pl.read_delta(f"{root}/tables/data_values")
submissions = pl.read_delta(f"{root}/tables/submissions").select("submission_id")
result["committed data_values"] = figures(values.join(submissions, on="submission_id", how="semi").select("value"))
print(json.dumps(result))
"#;
    let args: Vec<&std::ffi::OsStr> = std::iter::once(lake.as_os_str()).chain(tables.iter().map(|t| std::ffi::OsStr::new(t.as_str()))).collect();
    serde_json::from_value(python_json(script, &args, "Polars (with deltalake)")).unwrap()
}

/// The same figures from `tonghop sql`.
fn read_by_tonghop(lake: &Path, sql_name: &str) -> BTreeMap<String, String> {
    let (schema, name) = sql_name.split_once('.').unwrap_or(("public", sql_name));
    let numeric: Vec<String> = sql_rows(
        lake,
        &format!(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = '{schema}' AND table_name = '{name}' \
             AND (data_type LIKE 'Int%' OR data_type LIKE 'UInt%' OR data_type LIKE 'Float%' OR data_type LIKE 'Decimal%') ORDER BY ordinal_position"
        ),
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let sums: Vec<String> = numeric.iter().map(|c| format!(", CAST(round(CAST(sum(\"{c}\") AS DOUBLE), 6) AS VARCHAR)")).collect();
    let row = &sql_rows(lake, &format!("SELECT CAST(count(*) AS VARCHAR){} FROM {sql_name}", sums.join("")))[0];
    let mut out = BTreeMap::from([("count".to_string(), row[0].clone())]);
    for (c, v) in numeric.iter().zip(&row[1..]) {
        let v = if v.is_empty() { "NULL".to_string() } else { format!("{:.6}", v.parse::<f64>().unwrap()) };
        out.insert(c.clone(), v);
    }
    out
}

#[test]
fn polars_reads_the_models_and_the_committed_values_as_tonghop_does() {
    let dir = tempfile::tempdir().unwrap();
    let lake = q1_demo_lake(dir.path());
    let models: Vec<String> = sql_rows(&lake, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'models' ORDER BY 1")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert!(models.len() >= 8, "model tables: {models:?}");
    let polars = read_by_polars(&lake, &models);
    for model in &models {
        let ours = read_by_tonghop(&lake, &format!("models.{model}"));
        assert_eq!(polars[&format!("models/{model}")], ours, "models/{model}: Polars vs tonghop sql (count and sum of every numeric column)");
    }
    let ours = read_by_tonghop(&lake, "data_values");
    let committed = &polars["committed data_values"];
    assert_eq!(committed["count"], ours["count"], "committed data_values: row count");
    assert_eq!(committed["value"], ours["value"], "committed data_values: sum(value)");
    assert!(ours["count"].parse::<u64>().unwrap() > 1000, "the demo lake holds values: {ours:?}");
}
