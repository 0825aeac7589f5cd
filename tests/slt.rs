//! sqllogictest over the `sql/` models, fed through the real path.
//!
//! 1. The seed files in `tests/slt/seed/` (long CSV `period,org_unit,data_element,value`, and one
//!    DHIS2 JSON deletion) are copied into a temporary inbox, each with the modification time
//!    `tests/slt/seed/received_at.csv` gives it (the ingestor records the file's mtime as
//!    `received_at`, so lateness is deterministic).
//! 2. They are ingested with [`tonghop_ingest::Ingestor`] into a temporary lake, against a small
//!    country (`tests/slt/units/`: real units of both epochs, a subset) and a small catalog
//!    (`tests/slt/catalog/`; files it lacks, such as `reporting_deadlines.csv`, come from the
//!    project's `catalog/`).
//! 3. The project's `sql/` models are built with [`Engine::build`] (model tests included).
//! 4. Every `tests/slt/*.slt` file runs against the engine's session.
//!
//! `TONGHOP_SLT_COMPLETE=1 cargo test -p tonghop-engine --test slt` rewrites the expected results
//! from what the models return (sqllogictest's `--complete`): check every changed line by hand
//! before committing it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use sqllogictest::{DBOutput, DefaultColumnType};
use tonghop_core::{Catalog, Project, UnitRegistry};
use tonghop_engine::session::Mode;
use tonghop_engine::Engine;
use tonghop_lake::{Lake, Location};

fn here() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../tests/slt")
}

fn repo_root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The session the `.slt` files query.
struct Db {
    ctx: SessionContext,
}

/// Arrow values as sqllogictest text: NULL, (empty) for an empty string, floats rounded to 4
/// decimals with trailing zeros dropped (so hand-worked values read naturally).
fn cell(array: &dyn Array, row: usize) -> String {
    if array.is_null(row) {
        return "NULL".into();
    }
    match array.data_type() {
        DataType::Float64 => {
            let v = array.as_primitive::<Float64Type>().value(row);
            let text = format!("{v:.4}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            if text == "-0" {
                "0".into()
            } else {
                text.to_string()
            }
        }
        _ => {
            let options = FormatOptions::default();
            let text = ArrayFormatter::try_new(array, &options).unwrap().value(row).to_string();
            if text.is_empty() {
                "(empty)".into()
            } else {
                text
            }
        }
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    match t {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            DefaultColumnType::Integer
        }
        DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) => DefaultColumnType::FloatingPoint,
        _ => DefaultColumnType::Text,
    }
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for Db {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let df = self.ctx.sql(sql).await?;
        let schema = df.schema().as_arrow().clone();
        let batches: Vec<RecordBatch> = df.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema.fields().iter().map(|f| column_type(f.data_type())).collect();
        let mut rows = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                rows.push(batch.columns().iter().map(|c| cell(c.as_ref(), row)).collect());
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "tonghop"
    }
}

/// A project folder: the test catalog (with the project's files it lacks), the project's
/// reference/ and sql/.
fn project(dir: &Path) -> Project {
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    for source in [repo_root().join("catalog"), here().join("catalog")] {
        for entry in std::fs::read_dir(source).unwrap() {
            let path = entry.unwrap().path();
            let target = catalog.join(path.file_name().unwrap());
            // Not catalog/plans/: its plans name units the test's unit list does not have.
            if path.is_file() {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    std::os::unix::fs::symlink(repo_root().join("reference"), dir.join("reference")).unwrap();
    std::os::unix::fs::symlink(repo_root().join("sql"), dir.join("sql")).unwrap();
    Project::open(dir).unwrap()
}

/// Copies the seed files into `inbox`, each with its received_at as modification time.
fn write_inbox(inbox: &Path) -> usize {
    let manifest = std::fs::read_to_string(here().join("seed/received_at.csv")).unwrap();
    let mut n = 0;
    for line in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let (name, received) = line.split_once(',').unwrap();
        let received: chrono::DateTime<chrono::Utc> = received.parse().unwrap_or_else(|e| panic!("{name}: {received}: {e}"));
        let target = inbox.join(name);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(here().join("seed").join(name), &target).unwrap();
        let file = std::fs::File::options().write(true).open(&target).unwrap();
        file.set_modified(received.into()).unwrap();
        n += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_files_over_seed_data() {
    run_slt_files(false).await;
}

/// The same files with the models built and queried over two workers (`tonghop worker`'s server,
/// on 127.0.0.1 ports: every fragment crosses gRPC as protobuf), scans split into one task per
/// byte's worth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_files_over_seed_data_distributed() {
    run_slt_files(true).await;
}

async fn run_slt_files(distributed: bool) {
    let dir = tempfile::tempdir().unwrap();
    let project = project(&dir.path().join("project"));
    let registry = Arc::new(UnitRegistry::load(&here().join("units")).unwrap());
    let catalog = Arc::new(Catalog::load(&project.catalog_dir()).unwrap());
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();

    let inbox = dir.path().join("inbox");
    let files = write_inbox(&inbox);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let ingestor = tonghop_ingest::Ingestor::new(lake.clone(), registry.clone(), catalog.clone(), today);
    let options = tonghop_ingest::IngestOptions { archive: None, failed: None, ..Default::default() };
    let summary = ingestor.ingest(&Location::parse(inbox.to_str().unwrap()).unwrap(), &options, &|_| {}).await.unwrap();
    assert_eq!(summary.files_ingested, files, "{}", summary.one_line());

    let mut workers = Vec::new();
    let cluster = if distributed {
        let mut config = tonghop_engine::ClusterConfig { bytes_per_task: Some(1), ..Default::default() };
        for _ in 0..2 {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            config.workers.push(listener.local_addr().unwrap().to_string());
            let (lake, none) = (lake.clone(), tonghop_engine::ClusterConfig::default());
            workers.push(tokio::spawn(async move { tonghop_engine::cluster::serve_worker(listener, &lake, &none, std::future::pending()).await }));
        }
        Some(tonghop_engine::Cluster::start(&config).await.unwrap().expect("two workers"))
    } else {
        None
    };
    let mut engine = Engine::open_as_of(&project, &lake, &registry, &catalog, Mode::Build, &tonghop_engine::AsOf::Latest, cluster.as_ref()).await.unwrap();
    engine.build(true).await.unwrap_or_else(|e| panic!("build: {e}"));
    if distributed {
        // The session really plans over the workers.
        let plan = engine.context().sql("SELECT epoch, count(*) FROM lake.data_values GROUP BY epoch").await.unwrap().create_physical_plan().await.unwrap();
        let text = datafusion_distributed::display_plan_ascii(plan.as_ref(), false);
        assert!(text.contains("NetworkShuffleExec") || text.contains("NetworkCoalesceExec"), "no network boundary in:\n{text}");
    }

    let mut slt: Vec<PathBuf> = std::fs::read_dir(here()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "slt")).collect();
    slt.sort();
    assert!(!slt.is_empty(), "no .slt files in {}", here().display());
    let complete = std::env::var("TONGHOP_SLT_COMPLETE").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for path in &slt {
        let ctx = engine.context().clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let ctx = ctx.clone();
            async move { Ok(Db { ctx }) }
        });
        if complete && !distributed {
            runner
                .update_test_file(path, " ", sqllogictest::default_validator, sqllogictest::default_normalizer, sqllogictest::default_column_validator)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        } else if let Err(e) = runner.run_file_async(path).await {
            failures.push(format!("{}", e.display(false)));
        }
    }
    for worker in workers {
        worker.abort();
    }
    assert!(failures.is_empty(), "{} .slt failure(s){}:\n{}", failures.len(), if distributed { " (distributed)" } else { "" }, failures.join("\n\n"));
}
