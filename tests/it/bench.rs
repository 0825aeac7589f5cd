//! The benchmarks' harness checks itself: `bench/rollups.py --selftest` runs the SQL translator to
//! DuckDB's dialect over every shipped model, the Delta log reader, the equivalence check, and the
//! rule that gives no tonghop/DuckDB ratio from a DuckDB run that did not build every model. No
//! tonghop binary or lake is involved; Python's `duckdb` package is (`.ci/run` installs it).

use std::process::Command;

use crate::helpers::repo_root;

#[test]
fn the_rollup_benchmark_passes_its_selftest() {
    let script = repo_root().join("bench/rollups.py");
    let out = Command::new("python3").arg(&script).arg("--selftest").output().unwrap_or_else(|e| panic!("python3 {}: {e}", script.display()));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{} --selftest failed (it needs Python's duckdb, which .ci/run installs):\n{stdout}{stderr}", script.display());
    assert!(stdout.contains("selftest: ok"), "no `selftest: ok` in:\n{stdout}");
}
