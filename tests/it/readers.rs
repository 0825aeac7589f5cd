//! Other engines on tonghop's tables: Polars (`pl.read_delta`, on Python's `deltalake`) reads every
//! model table and the committed rows of `tables/data_values` with the same row counts and the
//! same sums of every numeric column as `tonghop sql`, and one province's indicators for a year in
//! the same rows and order as tonghop gives them unsorted (the files' declared order).

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

    // One province's indicators for a year, every level, in order: tonghop reads them in the
    // order the files were written in (tagged on each file) and merges the files without sorting
    // the rows; Polars filters and sorts them itself.
    let picked = sql_rows(&lake, "SELECT epoch, province_code, CAST(year AS VARCHAR) FROM indicator_values WHERE level = 'commune' GROUP BY 1, 2, 3 ORDER BY count(*) DESC, 1, 2, 3 LIMIT 1");
    let [epoch, province, year] = [&picked[0][0], &picked[0][1], &picked[0][2]];
    let query = format!(
        "SELECT period, level, unit_code, indicator, CAST(value AS VARCHAR) FROM indicator_values \
         WHERE epoch = '{epoch}' AND province_code = '{province}' AND year = {year} ORDER BY period, level, unit_code, indicator"
    );
    let plan: String = sql_rows(&lake, &format!("EXPLAIN {query}")).into_iter().map(|r| r.join(" ")).collect::<Vec<_>>().join("\n");
    assert!(!plan.contains("SortExec"), "the files' order makes the sort needless:\n{plan}");
    let ours = sql_rows(&lake, &query);
    let script = r#"
import json, sys
import polars as pl
root, epoch, province, year = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
df = pl.read_delta(f"{root}/models/indicator_values").filter(
    (pl.col("epoch") == epoch) & (pl.col("province_code") == province) & (pl.col("year") == year)
).sort(["period", "level", "unit_code", "indicator"])
rows = [[p, l, u, i, "" if v is None else repr(v)] for p, l, u, i, v in df.select(["period", "level", "unit_code", "indicator", "value"]).iter_rows()]
print(json.dumps(rows))
"#;
    let args: Vec<&std::ffi::OsStr> = [lake.as_os_str(), epoch.as_ref(), province.as_ref(), year.as_ref()].into();
    let theirs: Vec<Vec<String>> = serde_json::from_value(python_json(script, &args, "Polars (with deltalake)")).unwrap();
    assert!(theirs.len() > 100, "{epoch} {province} {year}: {} rows", theirs.len());
    let number = |v: &str| if v.is_empty() { None } else { Some(v.parse::<f64>().unwrap()) };
    assert_eq!(ours.len(), theirs.len(), "{epoch} {province} {year}: rows");
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a[..4], b[..4], "row {i} of {epoch} {province} {year}: tonghop's order differs from Polars' sort");
        let close = match (number(&a[4]), number(&b[4])) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
            (x, y) => x == y,
        };
        assert!(close, "row {i} ({:?}): value {} against {}", &a[..4], a[4], b[4]);
    }
}
