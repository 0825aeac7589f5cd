//! Runs the real `tonghop` binary against the repository's project folder and a temporary lake.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs `tonghop` with `--project <repo> --lake <lake>`; panics with stderr unless it succeeds.
pub fn tonghop(lake: &Path, args: &[&str]) -> String {
    let out = tonghop_raw(lake, args);
    assert!(out.status.success(), "tonghop {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `tonghop` (in the lake's parent folder) and returns the raw output, success or not.
pub fn tonghop_raw(lake: &Path, args: &[&str]) -> std::process::Output {
    tonghop_command(lake, args).output().unwrap()
}

/// The `tonghop` command (in the lake's parent folder, `-q`), to run or spawn.
pub fn tonghop_command(lake: &Path, args: &[&str]) -> Command {
    let cwd = lake.parent().unwrap();
    std::fs::create_dir_all(cwd).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tonghop"));
    command.current_dir(cwd).arg("--project").arg(repo_root()).arg("--lake").arg(lake).arg("-q").args(args);
    command
}

/// Runs a query and parses the CSV output into rows of strings.
pub fn sql_rows(lake: &Path, query: &str) -> Vec<Vec<String>> {
    let text = tonghop(lake, &["sql", query, "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect()
}

/// A lake at `<dir>/lake` with the demo of province 04 (post2025) for January–March 2026 ingested
/// (the files kept in `<dir>/inbox`) and the models built.
pub fn q1_demo_lake(dir: &Path) -> PathBuf {
    let lake = dir.join("lake");
    let inbox = dir.join("inbox");
    tonghop(&lake, &["demo", "--inbox", inbox.to_str().unwrap(), "--until", "2026-04-15", "--provinces", "post2025:04"]);
    tonghop(&lake, &["ingest", inbox.to_str().unwrap(), "--keep"]);
    tonghop(&lake, &["build"]);
    lake
}
