//! The `tonghop` command: demo data, pipeline runs, ingest, analyst SQL.
//!
//! Every subcommand reads the project folder (`--project`, `TONGHOP_PROJECT`, default: the current
//! directory: `catalog/`, `reference/`, `sql/`) and the lake (`--lake`, `TONGHOP_LAKE`, default `./lake`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arrow::array::RecordBatch;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use tonghop_core::{Catalog, Epoch, Project, UnitRegistry};
use tonghop_engine::{session::Mode, Engine};
use tonghop_lake::Lake;
use tonghop_pipeline::{PipelineSpec, Runner};

#[derive(Parser)]
#[command(name = "tonghop", version, about = "Consolidate grassroots health reports (Directive 25-CT/TW) from communes up to the nation")]
struct Cli {
    /// The lake: a folder or s3://bucket/prefix.
    #[arg(long, global = true, env = "TONGHOP_LAKE", default_value = "lake")]
    lake: String,
    /// The project folder holding catalog/, reference/, sql/.
    #[arg(long, global = true, env = "TONGHOP_PROJECT", default_value = ".")]
    project: PathBuf,
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write realistic synthetic commune submissions (CSV) into an inbox folder.
    Demo {
        /// Where to write the files.
        #[arg(long, default_value = "inbox")]
        inbox: PathBuf,
        /// Random seed: the same seed gives the same files.
        #[arg(long, default_value_t = 25)]
        seed: u64,
        /// Months ending before this date are generated (default: today).
        #[arg(long)]
        until: Option<chrono::NaiveDate>,
        /// Only these provinces, as epoch:code (e.g. post2025:04,pre2025:02).
        #[arg(long, value_delimiter = ',')]
        provinces: Vec<String>,
    },
    /// Run a pipeline spec once (e.g. pipelines/nightly.toml).
    Run {
        /// The spec file.
        pipeline: PathBuf,
    },
    /// Ingest every CSV file of a folder (or object-store prefix) into the lake.
    Ingest {
        /// Folder, file:// or s3:// URL.
        source: String,
    },
    /// Check pipeline specs, the sql/ models and the catalog, reporting every problem at once.
    Validate {
        /// Spec files (default: every pipelines/*.toml).
        pipelines: Vec<PathBuf>,
    },
    /// Run read-only SQL over the lake tables, reference tables and models.
    Sql {
        /// The query.
        query: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (_, 0) => "info",
        (_, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("warn,tonghop={level},tonghop_core={level},tonghop_lake={level},tonghop_ingest={level},tonghop_engine={level},tonghop_pipeline={level},tonghop_demo={level}")));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

struct Loaded {
    project: Project,
    registry: Arc<UnitRegistry>,
    catalog: Arc<Catalog>,
}

fn load_project(path: &std::path::Path) -> Result<Loaded> {
    let project = Project::open(path)?;
    let registry = Arc::new(UnitRegistry::load(&project.reference_dir().join("admin-units"))?);
    let catalog = Arc::new(Catalog::load(&project.catalog_dir())?);
    Ok(Loaded { project, registry, catalog })
}

fn progress_bar(len: Option<u64>, what: &str) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(ProgressStyle::with_template("{msg:>12} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec})").expect("template"));
    bar.set_message(what.to_string());
    bar
}

fn today() -> chrono::NaiveDate {
    // Reports are dated in Vietnam's time zone (UTC+7).
    (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive()
}

async fn run(cli: Cli) -> Result<()> {
    let ctx = load_project(&cli.project)?;
    match cli.command {
        Command::Demo { inbox, seed, until, provinces } => {
            let provinces = if provinces.is_empty() {
                None
            } else {
                Some(
                    provinces
                        .iter()
                        .map(|p| {
                            let (e, c) = p.split_once(':').with_context(|| format!("--provinces {p:?}: write epoch:code, e.g. post2025:04"))?;
                            Ok((e.parse::<Epoch>()?, c.to_string()))
                        })
                        .collect::<Result<Vec<_>>>()?,
                )
            };
            let config = tonghop_demo::DemoConfig { seed, until: until.unwrap_or_else(today), provinces };
            let bar = progress_bar(None, "demo files");
            let summary = tonghop_demo::generate(&ctx.registry, &ctx.catalog, &config, &inbox, &|n| bar.inc(n))?;
            bar.finish_and_clear();
            println!(
                "demo: {} files ({} rows) for {} communes over {} months in {}; {} invalid rows, {} late files, {} reports missing",
                summary.files, summary.rows, summary.communes, summary.months, inbox.display(), summary.invalid_rows, summary.late_files, summary.missing_reports
            );
        }
        Command::Run { pipeline } => {
            let spec = PipelineSpec::load(&pipeline)?;
            let lake = Lake::open(&cli.lake)?;
            let runner = Runner::new(ctx.project.clone(), lake.clone(), ctx.registry.clone(), ctx.catalog.clone(), today());
            let bar = progress_bar(None, "files");
            let started = std::time::Instant::now();
            let report = runner.run(&spec, &pipeline, &|_, n| bar.inc(n)).await?;
            bar.finish_and_clear();
            println!("pipeline {} finished in {:.1} s", report.pipeline, started.elapsed().as_secs_f64());
            for step in &report.steps {
                println!("  {:<28} {:>6.1} s  {}", step.name, step.seconds, step.summary);
            }
            if !report.ingest.rejected_by_reason.is_empty() {
                let reasons: Vec<String> = report.ingest.rejected_by_reason.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                println!("  rejected rows by reason: {}", reasons.join(", "));
            }
            let engine = open_read(&ctx, &lake).await?;
            let batches = engine
                .query("SELECT epoch AS \"epoch\", period AS \"kỳ\", indicator_name AS \"chỉ tiêu\", round(value, 1) AS \"kết quả %\", target AS \"mục tiêu %\", status AS \"đánh giá\", communes_reporting AS \"xã báo cáo\" FROM national_summary ORDER BY epoch DESC, period, indicator")
                .await?;
            println!("\nNational summary (toàn quốc), latest month and year of each epoch:");
            println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
        }
        Command::Ingest { source } => {
            let lake = Lake::open(&cli.lake)?;
            let inbox = tonghop_lake::Location::parse(&source)?;
            let ingestor = tonghop_ingest::Ingestor::new(lake, ctx.registry, ctx.catalog, today());
            let bar = progress_bar(None, "files");
            let s = ingestor.ingest(&inbox, &|n| bar.inc(n)).await?;
            bar.finish_and_clear();
            println!(
                "{} files seen, {} ingested, {} already ingested, {} failed; {} rows accepted, {} rejected",
                s.files_seen, s.files_ingested, s.files_already_ingested, s.files_failed, s.rows_accepted, s.rows_rejected
            );
            for (reason, n) in &s.rejected_by_reason {
                println!("  {reason}: {n}");
            }
        }
        Command::Validate { pipelines } => {
            let lake = Lake::open(&cli.lake)?;
            let runner = Runner::new(ctx.project.clone(), lake, ctx.registry, ctx.catalog, today());
            let known = runner.known_tables().await?;
            let files = if pipelines.is_empty() {
                let mut v: Vec<PathBuf> = std::fs::read_dir(ctx.project.root().join("pipelines"))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                    .collect();
                v.sort();
                v
            } else {
                pipelines
            };
            let mut problems = Vec::new();
            for file in &files {
                match PipelineSpec::load(file) {
                    Ok(spec) => problems.extend(spec.problems(file, &known)),
                    Err(e) => problems.push(e.to_string()),
                }
            }
            if !problems.is_empty() {
                bail!("{} problem(s):\n  - {}", problems.len(), problems.join("\n  - "));
            }
            println!("ok: catalog, sql/ models and {} tables and views, {} pipeline spec(s)", known.len(), files.len());
        }
        Command::Sql { query, format } => {
            let lake = Lake::open(&cli.lake)?;
            let engine = open_read(&ctx, &lake).await?;
            let batches = engine.query(&query).await?;
            print_batches(&batches, format)?;
        }
    }
    Ok(())
}

async fn open_read(loaded: &Loaded, lake: &Lake) -> Result<Engine> {
    Ok(Engine::open(&loaded.project, lake, &loaded.registry, &loaded.catalog, Mode::Read).await?)
}

fn print_batches(batches: &[RecordBatch], format: Format) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(batches)?)?,
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            writeln!(out)?;
        }
    }
    Ok(())
}
