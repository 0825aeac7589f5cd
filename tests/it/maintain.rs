//! Lake maintenance end to end: a lake fed by thousands of small HTTP submissions is compacted by
//! `tonghop maintain` (at least 20× fewer live files, the same answers, every table still read by
//! an independent Delta reader: Python's `deltalake`), and submissions that keep arriving while
//! maintenance runs are all committed, once.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{assert_committed_once, make_token, python_json, q1_demo_lake, serve, sql_rows, tonghop};

/// Live data files per Delta table, as `tonghop check` counts them.
fn live_files(lake: &Path) -> BTreeMap<String, usize> {
    tonghop(lake, &["check"])
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("ok   ")?;
            let (table, rest) = rest.split_once(": version ")?;
            let files = rest.split_once(", ")?.1.split_whitespace().next()?.parse().ok()?;
            Some((table.to_string(), files))
        })
        .collect()
}

/// `count` submissions over HTTP from 4 clients at once, each one value of its own; returns the
/// answered submission ids with their values.
async fn submit(http: &str, token: &str, first: u64, count: u64) -> Vec<(String, u64)> {
    let client = reqwest::Client::new();
    let clients: Vec<_> = (0..4u64)
        .map(|c| {
            let (client, http, token) = (client.clone(), http.to_string(), token.to_string());
            tokio::spawn(async move {
                let mut answered = Vec::new();
                for n in (first + c..first + count).step_by(4) {
                    // Reports of the nine months of the epoch (late ones, corrections), so that a
                    // group commit writes to several partitions, as communes' reports do.
                    let unit = ["00004", "00008", "00025", "00070"][c as usize];
                    let period = ["202507", "202508", "202509", "202510", "202511", "202512", "202601", "202602", "202603"][(n / 4 % 9) as usize];
                    let body = format!("period,org_unit,data_element,value\n{period},{unit},DS_TONG,{n}\n");
                    let r = client.post(format!("{http}/api/submissions?filename=m{n}.csv")).bearer_auth(&token).body(body).send().await.unwrap();
                    assert_eq!(r.status().as_u16(), 201);
                    answered.push((r.json::<Value>().await.unwrap()["submission_id"].as_str().unwrap().to_string(), n));
                }
                answered
            })
        })
        .collect();
    let mut answered = Vec::new();
    for c in clients {
        answered.extend(c.await.unwrap());
    }
    answered
}

/// Row counts of every table, and the sum of `data_values.value`, read by Python's `deltalake`.
fn read_by_python(lake: &Path, tables: &[String]) -> BTreeMap<String, String> {
    let script = r#"
import json, sys
from deltalake import DeltaTable, QueryBuilder
root, tables = sys.argv[1], sys.argv[2:]
out = {}
for t in tables:
    q = QueryBuilder().register("t", DeltaTable(f"{root}/{t}"))
    out[t] = str(q.execute("SELECT count(*) FROM t").read_all()[0][0].as_py())
q = QueryBuilder().register("t", DeltaTable(f"{root}/tables/data_values"))
out["sum(data_values.value)"] = str(round(q.execute("SELECT sum(value) FROM t").read_all()[0][0].as_py()))
print(json.dumps(out))
"#;
    let args: Vec<&std::ffi::OsStr> = std::iter::once(lake.as_os_str()).chain(tables.iter().map(|t| std::ffi::OsStr::new(t.as_str()))).collect();
    serde_json::from_value(python_json(script, &args, "Python's deltalake")).unwrap()
}

/// The same figures read by tonghop.
fn read_by_tonghop(lake: &Path, tables: &[String]) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = tables
        .iter()
        .map(|t| {
            let (folder, name) = t.split_once('/').unwrap();
            let schema = if folder == "tables" { "lake" } else { "models" };
            (t.clone(), sql_rows(lake, &format!("SELECT count(*) FROM {schema}.{name}"))[0][0].clone())
        })
        .collect();
    out.insert("sum(data_values.value)".into(), sql_rows(lake, "SELECT CAST(round(sum(value)) AS BIGINT) FROM lake.data_values")[0][0].clone());
    out
}

/// Median wall time of a province query by `tonghop sql`, in milliseconds.
fn province_query_ms(lake: &Path) -> f64 {
    let query =
        "SELECT org_unit, period, count(*), sum(value) FROM data_values WHERE epoch = 'post2025' AND period IN ('202601', '202602', '202603') GROUP BY 1, 2";
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            sql_rows(lake, query);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[2]
}

#[tokio::test(flavor = "multi_thread")]
async fn small_submissions_are_compacted_and_none_is_lost_while_maintenance_runs() {
    let count: u64 = std::env::var("TONGHOP_MAINTAIN_SUBMISSIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(5000);
    let dir = tempfile::tempdir().unwrap();
    let lake = q1_demo_lake(dir.path());
    let (admin, entry) = make_token(&lake, "quan-tri", "admin", None);
    let mut server = serve(&lake, &format!("[scheduler]\nenabled = false\n[postgres]\nenabled = false\n\n{entry}"));

    // Thousands of small submissions, then maintenance: far fewer files, the same answers.
    let started = Instant::now();
    let mut answered = submit(&server.http, &admin, 0, count).await;
    let feeding = started.elapsed();
    assert!(server.stop(), "{}", server.log_text());
    let before = live_files(&lake);
    let tables: Vec<String> = before.keys().cloned().collect();
    let answers = read_by_tonghop(&lake, &tables);
    let slow = province_query_ms(&lake);
    let out = tonghop(&lake, &["maintain"]);
    let after = live_files(&lake);
    let fast = province_query_ms(&lake);
    // The tables the submissions feed (models are written whole by builds and not compacted).
    let fed = |files: &BTreeMap<String, usize>| ["tables/data_values", "tables/submissions", "tables/rejections"].iter().map(|t| files[*t]).sum::<usize>();
    let (files_before, files_after) = (fed(&before), fed(&after));
    eprintln!(
        "maintain: {count} submissions in {:.1} s; live files of data_values, submissions and rejections {files_before} → {files_after} (data_values {} → {}; all tables {} → {}); province query {slow:.0} → {fast:.0} ms (median of 5, `tonghop sql` wall time)\n{out}",
        feeding.as_secs_f64(),
        before["tables/data_values"],
        after["tables/data_values"],
        before.values().sum::<usize>(),
        after.values().sum::<usize>()
    );
    assert!(files_after * 20 <= files_before, "at least 20× fewer files: {before:?} → {after:?}");
    assert_eq!(read_by_tonghop(&lake, &tables), answers, "the same answers after compaction");
    assert_eq!(read_by_python(&lake, &tables), answers, "an independent Delta reader reads every table, with the same answers");

    // Submissions keep arriving while maintenance runs, again and again: none is lost, none doubled.
    let mut server = serve(&lake, &format!("[scheduler]\nenabled = false\n[postgres]\nenabled = false\n\n{entry}"));
    let load = {
        let (http, admin) = (server.http.clone(), admin.clone());
        tokio::spawn(async move { submit(&http, &admin, count, count / 2).await })
    };
    let mut passes = 0;
    while !load.is_finished() || passes < 2 {
        let lake = lake.clone();
        let out = tokio::task::spawn_blocking(move || tonghop(&lake, &["maintain"])).await.unwrap();
        assert!(out.contains("tables maintained"), "{out}");
        passes += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    answered.extend(load.await.unwrap());
    assert!(server.stop(), "{}", server.log_text());
    assert_committed_once(&lake, &answered, &format!("{passes} maintenance passes during the load"));
    assert!(tonghop(&lake, &["check"]).contains("is sound"));
}
