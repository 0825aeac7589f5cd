//! The nightly pipeline end to end on a small demo (two provinces, one per epoch), checked against
//! computations made here straight from the generated files and the Delta log, not through the SQL.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::helpers::{repo_root, sql_rows, tonghop, tonghop_command, valid_rows, Row};

/// Σ numerator / Σ denominator × 100, pairing the two sides month by month per commune (a month
/// counts only when both were reported); stocks then take each commune's latest paired month,
/// flows sum the paired months.
fn ratio(rows: &[Row], months: &[&str], num: &str, den: &str, stock: bool) -> f64 {
    let mut cell: HashMap<(&str, &str, &str), f64> = HashMap::new();
    for r in rows.iter().filter(|r| months.contains(&r.period.as_str())) {
        cell.insert((r.unit.as_str(), r.period.as_str(), r.element.as_str()), r.value);
    }
    let mut per_unit: BTreeMap<&str, Vec<(&str, f64, f64)>> = BTreeMap::new();
    for ((unit, month, element), a) in &cell {
        if *element == num {
            if let Some(b) = cell.get(&(*unit, *month, den)) {
                per_unit.entry(unit).or_default().push((month, *a, *b));
            }
        }
    }
    let (mut n, mut d) = (0.0, 0.0);
    for pairs in per_unit.values() {
        if stock {
            let (_, a, b) = pairs.iter().max_by_key(|(m, _, _)| *m).unwrap();
            n += a;
            d += b;
        } else {
            n += pairs.iter().map(|p| p.1).sum::<f64>();
            d += pairs.iter().map(|p| p.2).sum::<f64>();
        }
    }
    n / d * 100.0
}

fn indicator(lake: &Path, epoch: &str, period: &str, level: &str, unit: &str, code: &str) -> f64 {
    let rows = sql_rows(
        lake,
        &format!("SELECT value FROM indicator_values WHERE epoch = '{epoch}' AND period = '{period}' AND level = '{level}' AND unit_code = '{unit}' AND indicator = '{code}'"),
    );
    assert_eq!(rows.len(), 1, "{epoch} {period} {level} {unit} {code}: {rows:?}");
    rows[0][0].parse().unwrap()
}

/// Rows in the Parquet files that the Delta log says make up the table, read with the `parquet`
/// crate (independent of deltalake).
fn delta_rows_by_parquet(table: &Path) -> (usize, usize) {
    let mut live: HashSet<String> = HashSet::new();
    let mut logs: Vec<PathBuf> =
        std::fs::read_dir(table.join("_delta_log")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    logs.sort();
    for log in &logs {
        for line in std::fs::read_to_string(log).unwrap().lines() {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(path) = action.pointer("/add/path").and_then(|p| p.as_str()) {
                live.insert(path.to_string());
            }
            if let Some(path) = action.pointer("/remove/path").and_then(|p| p.as_str()) {
                live.remove(path);
            }
        }
    }
    let mut rows = 0;
    for path in &live {
        let decoded = path.replace("%3D", "=").replace("%2F", "/");
        let file = std::fs::File::open(table.join(&decoded)).unwrap_or_else(|e| panic!("{decoded}: {e}"));
        let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        rows += parquet::file::reader::FileReader::metadata(&reader).file_metadata().num_rows() as usize;
    }
    (rows, logs.len())
}

#[test]
fn nightly_pipeline_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let inbox = dir.path().join("inbox");
    let nightly = repo_root().join("pipelines/nightly.toml");
    let nightly = nightly.to_str().unwrap();

    let demo = tonghop(&lake, &["demo", "--provinces", "post2025:04,pre2025:02", "--until", "2026-11-23", "--seed", "7"]);
    let (rows, invalid) = valid_rows(&inbox);
    assert!(demo.contains(&format!("{invalid} invalid rows")), "{demo} vs {invalid} invalid rows found here");
    assert!(invalid > 0, "the demo must contain a few invalid rows");

    let first = tonghop(&lake, &["run", nightly]);
    assert!(first.contains("National summary"), "{first}");
    assert!(first.contains("Tỷ lệ dân số tham gia BHYT"), "{first}");

    // Every valid row accepted exactly once, every invalid row kept aside with a reason.
    let count = |q: &str| sql_rows(&lake, q)[0][0].parse::<usize>().unwrap();
    assert_eq!(count("SELECT count(*) FROM data_values"), rows.len());
    assert_eq!(count("SELECT count(*) FROM rejections"), invalid);
    assert_eq!(count("SELECT count(*) FROM rejections WHERE reason = '' OR message_vi = '' OR field = ''"), 0);
    assert_eq!(count("SELECT sum(rows_accepted) FROM submissions"), rows.len());

    // An independent reader over the Delta log and Parquet files sees the same rows.
    let (parquet_rows, versions) = delta_rows_by_parquet(&lake.join("tables/data_values"));
    assert_eq!(parquet_rows, rows.len());

    // Second run over the same inbox: nothing new, no new Delta version of the data.
    let second = tonghop(&lake, &["run", nightly]);
    assert!(second.contains("0 ingested"), "{second}");
    assert_eq!(count("SELECT count(*) FROM data_values"), rows.len());
    assert_eq!(delta_rows_by_parquet(&lake.join("tables/data_values")), (parquet_rows, versions));
    assert_eq!(count("SELECT count(*) FROM (SELECT content_hash FROM submissions GROUP BY 1 HAVING count(*) > 1)"), 0);

    // Province values equal the independent computation from the files.
    let q1: Vec<String> = (1..=3).map(|m| format!("20260{m}")).collect();
    let q1: Vec<&str> = q1.iter().map(String::as_str).collect();
    let year2024: Vec<String> = (1..=12).map(|m| format!("2024{m:02}")).collect();
    let year2024: Vec<&str> = year2024.iter().map(String::as_str).collect();
    let close = |a: f64, b: f64, what: &str| assert!((a - b).abs() < 1e-9, "{what}: SQL {a} vs independent {b}");
    close(indicator(&lake, "post2025", "202603", "province", "04", "BHYT_BAO_PHU"), ratio(&rows, &["202603"], "DS_BHYT", "DS_TONG", true), "BHYT 202603");
    close(indicator(&lake, "post2025", "2026Q1", "province", "04", "BHYT_BAO_PHU"), ratio(&rows, &q1, "DS_BHYT", "DS_TONG", true), "BHYT 2026Q1");
    close(indicator(&lake, "post2025", "2026Q1", "province", "04", "KCB_BHYT_TY_LE"), ratio(&rows, &q1, "KCB_BHYT", "KCB_TONG", false), "KCB 2026Q1");
    close(indicator(&lake, "pre2025", "2024", "province", "02", "QLSK_BAO_PHU"), ratio(&rows, &year2024, "DS_QLSK", "DS_TONG", true), "QLSK 2024");
    close(indicator(&lake, "pre2025", "2024", "province", "02", "KCB_BHYT_TY_LE"), ratio(&rows, &year2024, "KCB_BHYT", "KCB_TONG", false), "KCB 2024");
    // With one province per epoch in the data, the nation is that province.
    close(
        indicator(&lake, "pre2025", "2024", "national", "VN", "BHYT_BAO_PHU"),
        indicator(&lake, "pre2025", "2024", "province", "02", "BHYT_BAO_PHU"),
        "national",
    );

    // Completeness: every commune-month with at least one valid row in the files is received.
    let received: HashSet<(&str, &str)> = rows.iter().filter(|r| q1.contains(&r.period.as_str())).map(|r| (r.unit.as_str(), r.period.as_str())).collect();
    let communes = count("SELECT count(*) FROM units WHERE epoch = 'post2025' AND level = 'commune' AND province_code = '04'");
    let completeness = sql_rows(&lake, "SELECT reports_expected, reports_received, reports_on_time + reports_late, reports_missing + reports_pending FROM completeness WHERE epoch = 'post2025' AND period = '2026Q1' AND level = 'province' AND unit_code = '04'");
    assert_eq!(completeness[0], [3 * communes, received.len(), received.len(), 3 * communes - received.len()].map(|n| n.to_string()));
    assert!(
        count("SELECT count(*) FROM missing_reports WHERE epoch = 'post2025' AND province_code = '04' AND period IN ('202601', '202602', '202603')")
            <= 3 * communes - received.len()
    );

    // Districts exist only in the old epoch, and their numerators add up to the province's.
    let sums = sql_rows(&lake, "SELECT level, sum(numerator), sum(denominator) FROM indicator_values WHERE epoch = 'pre2025' AND period = '202406' AND indicator = 'TYT_CO_BS' AND level IN ('district', 'province') GROUP BY level ORDER BY level");
    assert_eq!(sums.len(), 2);
    assert_eq!((&sums[0][1], &sums[0][2]), (&sums[1][1], &sums[1][2]));
    assert_eq!(count("SELECT count(*) FROM indicator_values WHERE epoch = 'post2025' AND level = 'district'"), 0);

    // Exports: the CSV and the XLSX (read with calamine) carry the same province rows in Vietnamese.
    let csv_rows = csv::Reader::from_path(lake.join("outbox/province_indicators.csv")).unwrap().records().count();
    assert_eq!(csv_rows, count("SELECT count(*) FROM province_indicators"));
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(lake.join("outbox/province_indicators.xlsx")).unwrap();
    let sheet = book.worksheet_range("Chỉ tiêu cấp tỉnh").unwrap();
    let header = sheet.rows().position(|r| r.iter().any(|c| *c == "Tỉnh/Thành phố")).expect("Vietnamese header row");
    assert_eq!(sheet.rows().skip(header + 1).count(), csv_rows);
    assert!(sheet.rows().any(|r| r.iter().any(|c| *c == "Tỉnh Cao Bằng")));
    let value_col = sheet.rows().nth(header).unwrap().iter().position(|c| *c == "Kết quả (%)").unwrap();
    assert!(sheet.rows().skip(header + 1).all(|r| matches!(r[value_col], calamine::Data::Float(_) | calamine::Data::Empty)), "values are numbers");
}

/// Two runs of one pipeline started together on one lake: exactly one runs, the other says why
/// (the lease `leases/pipeline-nightly.json`, taken with a conditional put); afterwards the lease is
/// given back and the next run starts.
#[test]
fn two_runs_of_one_pipeline_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let nightly = repo_root().join("pipelines/nightly.toml");
    let nightly = nightly.to_str().unwrap();
    tonghop(&lake, &["demo", "--provinces", "post2025:04", "--until", "2026-04-01", "--seed", "3"]);
    let runs: Vec<_> = (0..2).map(|_| tonghop_command(&lake, &["run", nightly]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()).collect();
    let outputs: Vec<_> = runs.into_iter().map(|r| r.wait_with_output().unwrap()).collect();
    let ok: Vec<_> = outputs.iter().filter(|o| o.status.success()).collect();
    let refused: Vec<_> = outputs.iter().filter(|o| !o.status.success()).collect();
    assert_eq!((ok.len(), refused.len()), (1, 1), "{:?}", outputs.iter().map(|o| String::from_utf8_lossy(&o.stderr).to_string()).collect::<Vec<_>>());
    let why = String::from_utf8_lossy(&refused[0].stderr);
    assert!(why.contains("pipeline nightly is already running on this lake") && why.contains("lease pipeline-nightly is held by"), "{why}");
    assert!(String::from_utf8_lossy(&ok[0].stdout).contains("National summary"));
    assert!(!lake.join("leases/pipeline-nightly.json").exists(), "the lease is given back after the run");
    let again = tonghop(&lake, &["run", nightly]);
    assert!(again.contains("0 ingested"), "{again}");
    // The ledger: both runs that ran, each with its steps; the refused one never started a run.
    let runs = sql_rows(
        &lake,
        "SELECT pipeline, trigger, status, finished_at >= started_at, steps LIKE '%\"step\":\"ingest_inbox\"%', error IS NULL FROM runs ORDER BY started_at",
    );
    let expected = vec!["nightly", "cli", "succeeded", "true", "true", "true"];
    assert_eq!(runs, vec![expected.clone(), expected], "{runs:?}");
    assert_eq!(sql_rows(&lake, "SELECT count(*) FROM lake.runs")[0][0], "4", "a start row and an end row per run");
}

/// A step that runs past its `timeout_seconds` is abandoned, retried `retries` times, and the run
/// fails naming the step and the attempts; the runs table records the failure and the steps done.
#[test]
fn a_step_past_its_timeout_is_retried_then_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    tonghop(&lake, &["demo", "--provinces", "post2025:04", "--until", "2026-04-01", "--seed", "3"]);
    let spec = dir.path().join("slow.toml");
    std::fs::write(
        &spec,
        "name = \"slow\"\n[[steps]]\nname = \"ingest_inbox\"\nkind = \"ingest\"\nsource = \"inbox\"\nkeep = true\n\
         [[steps]]\nname = \"build_models\"\nkind = \"build\"\ntimeout_seconds = 1\nretries = 1\nretry_delay_seconds = 0\n",
    )
    .unwrap();
    let out = crate::helpers::tonghop_raw(&lake, &["run", spec.to_str().unwrap()]);
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(why.contains(r#"pipeline slow, step "build_models": timed out after 1 s (timeout_seconds) (failed 2 attempts)"#), "{why}");
    let runs = sql_rows(&lake, "SELECT status, steps LIKE '%ingest_inbox%', steps LIKE '%build_models%', error LIKE '%timed out after 1 s%' FROM runs");
    assert_eq!(runs, vec![vec!["failed", "true", "false", "true"]]);
    assert!(!lake.join("leases/pipeline-slow.json").exists(), "a failed run gives its lease back too");
}

/// A run killed midway (SIGKILL: no chance to give its lease back) is safe to run again at once:
/// the next run sees that the lease's holder is a dead process of this host, takes the lease over,
/// and finishes the work without losing or doubling a file.
#[test]
fn a_run_killed_midway_is_safe_to_run_again_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let nightly = repo_root().join("pipelines/nightly.toml");
    let nightly = nightly.to_str().unwrap();
    let demo = tonghop(&lake, &["demo", "--provinces", "post2025:04", "--until", "2026-04-01", "--seed", "9"]);
    let files: usize = demo.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut child = tonghop_command(&lake, &["run", nightly]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Kill it once it holds the lease and has committed something.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !(lake.join("leases/pipeline-nightly.json").exists() && lake.join("tables/submissions/_delta_log").exists()) {
        assert!(std::time::Instant::now() < deadline, "the run never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(lake.join("leases/pipeline-nightly.json").exists(), "a killed run leaves its lease behind");
    let started = std::time::Instant::now();
    let out = tonghop(&lake, &["run", nightly]);
    assert!(out.contains("National summary"), "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(300));
    let rows = sql_rows(&lake, "SELECT count(*), count(DISTINCT submission_id) FROM submissions");
    assert_eq!(rows, vec![vec![files.to_string(), files.to_string()]], "every file committed once");
    let runs = sql_rows(&lake, "SELECT status, coalesce(error, '') FROM runs ORDER BY started_at");
    let statuses: Vec<&str> = runs.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(statuses, vec!["failed", "succeeded"], "the next run marked the killed one failed: {runs:?}");
    assert!(runs[0][1].contains("stopped before the run ended"), "{runs:?}");
}
