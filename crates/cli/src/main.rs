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
use tonghop_core::{Catalog, Problems, Project, UnitRegistry};
use tonghop_engine::{session::Mode, Engine};
use tonghop_lake::Lake;
use tonghop_pipeline::{PipelineSpec, Runner};

mod commands;
mod history;

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
    /// Whether --lake and --project were given on the command line (they then override the
    /// service configuration).
    #[arg(skip)]
    explicit: (bool, bool),
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
        provinces: Vec<tonghop_core::units::UnitRef>,
    },
    /// Write a synthetic national history straight into the lake (benchmarks; skips ingestion).
    ///
    /// Every commune of the epoch of each month, every catalog data element, each value split over
    /// `--disaggregations` sex × age groups. Months already written are skipped.
    DemoHistory {
        /// Months and years: 2020-2024, 2025, 202501 (each month must lie in one epoch).
        #[arg(long, value_delimiter = ',', required = true)]
        months: Vec<String>,
        /// Disaggregations per value (1 to 8).
        #[arg(long, default_value_t = 8)]
        disaggregations: usize,
        /// Random seed.
        #[arg(long, default_value_t = 25)]
        seed: u64,
    },
    /// Build the sql/ models: recompute what changed since the last build, or everything.
    Build {
        /// Rebuild every model and every period.
        #[arg(long)]
        full: bool,
    },
    /// Run a pipeline spec once (e.g. pipelines/nightly.toml).
    Run {
        /// The spec file.
        pipeline: PathBuf,
    },
    /// Ingest submissions (CSV, XLSX, JSON, DHIS2) from files or a folder (or object-store prefix).
    ///
    /// A folder is an inbox: committed files move to `archive/YYYY/MM/DD/` beside it and unreadable
    /// ones to `failed/` (unless --keep). Single files stay where they are.
    Ingest {
        /// Files, or one folder / file:// / s3:// URL.
        #[arg(required = true)]
        sources: Vec<String>,
        /// Force a format: csv, xlsx-long, xlsx-form, json, dhis2-json, dhis2-csv, adx.
        #[arg(long)]
        format: Option<String>,
        /// Force a text encoding (utf-8, utf-16le, windows-1258, ...).
        #[arg(long)]
        encoding: Option<String>,
        /// DHIS2 id-scheme mapping file (CSV kind,dhis2,tonghop).
        #[arg(long)]
        mapping: Option<String>,
        /// Refuse a whole file when any of its rows is refused.
        #[arg(long)]
        strict: bool,
        /// Where committed files of a folder go (default: archive/ beside it).
        #[arg(long)]
        archive: Option<String>,
        /// Where unreadable files of a folder go (default: failed/ beside it).
        #[arg(long)]
        failed: Option<String>,
        /// Leave the files where they are.
        #[arg(long)]
        keep: bool,
        /// Write the refused rows of the ingested files to this file (.csv or .xlsx), for the sender.
        #[arg(long)]
        rejections: Option<PathBuf>,
        /// Rows per commit (memory bound; smaller commits are slower).
        #[arg(long, default_value_t = 500_000, hide = true)]
        commit_rows: usize,
    },
    /// Write the XLSX report form for the communes of a province and a period.
    Template {
        /// Province code in the period's epoch (e.g. 01 for Hà Nội).
        #[arg(long)]
        province: String,
        /// Period code (e.g. 202603).
        #[arg(long)]
        period: String,
        /// Output file (default: bieu_mau_<province>_<period>.xlsx).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check pipeline specs, the sql/ models and the catalog (and with --config the service
    /// configuration), reporting every problem at once.
    Validate {
        /// Spec files (default: every pipelines/*.toml).
        pipelines: Vec<PathBuf>,
        /// Also check this service configuration (see tonghop.example.toml).
        #[arg(long, env = "TONGHOP_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run the service: the pipeline scheduler, the HTTP API (submissions, runs, SQL) and the
    /// PostgreSQL endpoint for analysts, until SIGTERM or Ctrl-C.
    ///
    /// Settings come from --config (see tonghop.example.toml), then TONGHOP_* environment
    /// variables, then --lake/--project when given on the command line.
    Serve {
        /// The configuration file.
        #[arg(long, env = "TONGHOP_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Make an API token: prints the token (once; only its hash is stored) and the [[tokens]]
    /// entry to add to the service configuration.
    Token {
        /// A name for logs and submissions.submitted_by (e.g. xa-phuc-xa).
        #[arg(long)]
        name: String,
        /// What the token may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The unit of a commune, district or province token, epoch:code (e.g. post2025:00004).
        #[arg(long)]
        unit: Option<String>,
    },
    /// Make a [[postgres.users]] entry (SCRAM-SHA-256) for the service configuration. The
    /// password is read from TONGHOP_PG_PASSWORD or, when unset, from the first line of stdin.
    Passwd {
        /// The login name.
        user: String,
    },
    /// List the sql/ models in build order: grain, materialisation and the models each reads.
    ///
    /// A model that reads a table which is neither a model nor a registered table is reported with
    /// its file and the missing name, and the command fails.
    Models,
    /// Export a report or a table: the Excel report of Directive 25, or any model or table to CSV, Parquet or JSON.
    ///
    /// Every export writes `<file>.versions.json` beside the file: the Delta table versions it read
    /// and the instant its data stood at. `--as-of <time>` or `--as-of-versions <that file>` rebuilds
    /// an export from the data as it stood then.
    Export {
        #[command(subcommand)]
        what: commands::export::ExportCommand,
    },
    /// Run read-only SQL over the lake tables, reference tables and models.
    Sql {
        /// The query.
        query: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Run the query this many more times in the same session and print the timings
        /// (min, median, p95, max) on stderr (benchmarks).
        #[arg(long)]
        repeat: Option<usize>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Commune,
    District,
    Province,
    Analyst,
    Admin,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

fn main() -> ExitCode {
    use clap::{parser::ValueSource, CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    cli.explicit = (matches.value_source("lake") == Some(ValueSource::CommandLine), matches.value_source("project") == Some(ValueSource::CommandLine));
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (_, 0) => "info",
        (_, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("warn,tonghop={level},tonghop_core={level},tonghop_lake={level},tonghop_ingest={level},tonghop_formats={level},tonghop_engine={level},tonghop_pipeline={level},tonghop_demo={level},tonghop_export={level},tonghop_server={level}")));
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
    tonghop_core::period::today_in_vietnam()
}

/// `tonghop serve`: the configuration file, then TONGHOP_* variables, then --lake/--project given
/// on the command line.
async fn serve(cli: &Cli, config: Option<&std::path::Path>) -> Result<()> {
    let mut config = tonghop_server::ServerConfig::load(config)?;
    if cli.explicit.0 {
        config.lake = cli.lake.clone();
    }
    if cli.explicit.1 {
        config.project = cli.project.clone();
    }
    let running = tonghop_server::start(config).await?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let pg = running.postgres.map(|a| format!(" postgres://{a}")).unwrap_or_default();
        writeln!(out, "tonghop serve: http://{}{pg} (lake {})", running.http, running.service.lake.root().url())?;
        out.flush()?;
    }
    running.run_until_signal().await?;
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    // The service reads its project from its configuration (`project =`), which --project or
    // TONGHOP_PROJECT only override: the CLI's own default (the current folder) is not loaded.
    if let Command::Serve { config } = &cli.command {
        return serve(&cli, config.as_deref()).await;
    }
    let ctx = load_project(&cli.project)?;
    match cli.command {
        Command::Demo { inbox, seed, until, provinces } => {
            let provinces = if provinces.is_empty() {
                None
            } else {
                Some(provinces.into_iter().map(|p| p.with_epoch()).collect::<Result<Vec<_>, _>>().context("--provinces")?)
            };
            let config = tonghop_demo::DemoConfig { seed, until: until.unwrap_or_else(today), provinces };
            let bar = progress_bar(None, "demo files");
            let summary = tonghop_demo::generate(&ctx.registry, &ctx.catalog, &config, &inbox, &|n| bar.inc(n))?;
            bar.finish_and_clear();
            println!(
                "demo: {} files ({} rows) for {} communes over {} months in {}; {} invalid rows, {} late files, {} reports missing",
                summary.files,
                summary.rows,
                summary.communes,
                summary.months,
                inbox.display(),
                summary.invalid_rows,
                summary.late_files,
                summary.missing_reports
            );
        }
        Command::DemoHistory { months, disaggregations, seed } => {
            let months = history::parse_months(&months)?;
            let lake = Lake::open(&cli.lake)?;
            let bar = progress_bar(Some(months.len() as u64), "months");
            let started = std::time::Instant::now();
            let (written, skipped, rows) = history::write(&lake, &ctx.registry, &ctx.catalog, seed, &months, disaggregations, &bar).await?;
            bar.finish_and_clear();
            println!("demo-history: {written} month(s) written ({rows} rows), {skipped} already there, in {:.1} s", started.elapsed().as_secs_f64());
        }
        Command::Build { full } => {
            let lake = Lake::open(&cli.lake)?;
            let started = std::time::Instant::now();
            let mut engine = Engine::open(&ctx.project, &lake, &ctx.registry, &ctx.catalog, Mode::Build).await?;
            let bar = progress_bar(None, "building");
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            let summary = engine.build(full).await;
            bar.finish_and_clear();
            let summary = summary?;
            println!(
                "{} build in {:.1} s: {} ({} periods recomputed)",
                if summary.full { "full" } else { "incremental" },
                started.elapsed().as_secs_f64(),
                summary.reason,
                summary.periods
            );
            for (name, seconds) in &summary.seconds {
                let written = summary.materialized.iter().find(|(n, _, _)| n == name);
                match written {
                    Some((_, rows, version)) => println!("  {name:<24} {seconds:>7.1} s  {rows} rows written, version {version}"),
                    None => println!("  {name:<24} {seconds:>7.1} s  (in memory)"),
                }
            }
            println!("  {} model tests passed", summary.tests_passed);
        }
        Command::Run { pipeline } => {
            let spec = PipelineSpec::load(&pipeline)?;
            let lake = Lake::open(&cli.lake)?;
            let runner = Runner::new(ctx.project.clone(), lake.clone(), ctx.registry.clone(), ctx.catalog.clone(), today());
            let bar = progress_bar(None, "files");
            let started = std::time::Instant::now();
            let report = runner.run(&spec, &pipeline, &|_, n| bar.inc(n)).await?;
            bar.finish_and_clear();
            println!("pipeline {} finished in {:.1} s (run {} in the runs table)", report.pipeline, started.elapsed().as_secs_f64(), report.run_id);
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
        Command::Ingest { sources, format, encoding, mapping, strict, archive, failed, keep, rejections, commit_rows } => {
            let lake = Lake::open(&cli.lake)?;
            let ingestor = tonghop_ingest::Ingestor::new(lake.clone(), ctx.registry.clone(), ctx.catalog.clone(), today());
            // On the command line, a mapping path is relative to the working directory.
            let mapping = mapping.map(|m| std::path::absolute(&m).map(|p| p.display().to_string())).transpose()?;
            let files: Vec<&String> = sources.iter().filter(|s| !s.contains("://") && std::path::Path::new(s).is_file()).collect();
            let config = |source: String, keep: bool| tonghop_ingest::InboxConfig {
                source,
                archive: archive.clone(),
                failed: failed.clone(),
                keep,
                mapping: mapping.clone(),
                format: format.clone(),
                encoding: encoding.clone(),
                strict,
            };
            // Single files: ingest each from its folder, leaving it there unless --archive/--failed say.
            let mut runs = Vec::new();
            if files.len() == sources.len() {
                let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<String>> = Default::default();
                for f in &files {
                    let path = std::path::absolute(f)?;
                    let dir = path.parent().context("a file has a folder")?.to_path_buf();
                    by_dir.entry(dir).or_default().push(path.file_name().context("file name")?.to_string_lossy().into_owned());
                }
                for (dir, names) in by_dir {
                    let keep = keep || (archive.is_none() && failed.is_none());
                    let (inbox, mut options) = config(dir.display().to_string(), keep).resolve(ctx.project.root())?;
                    options.only = Some(names);
                    runs.push((inbox, options));
                }
            } else if sources.len() == 1 {
                runs.push(config(sources[0].clone(), keep).resolve(ctx.project.root())?);
            } else {
                bail!("give either files, or one folder / URL");
            }
            let mut ids = Vec::new();
            for (inbox, mut options) in runs {
                options.commit_rows = commit_rows;
                let bar = progress_bar(None, "files");
                let s = ingestor.ingest(&inbox, &options, &|n| bar.inc(n)).await?;
                bar.finish_and_clear();
                print_ingest_summary(&s);
                ids.extend(s.files.iter().map(|f| f.submission_id.clone()));
            }
            if let Some(path) = rejections {
                let engine = open_read(&ctx, &lake).await?;
                let list = tonghop_core::sql::literal_list(&ids);
                let batches = engine
                    .query(&format!(
                        "SELECT source, location, field, value, reason, message_vi, message_en FROM rejections \
                         WHERE submission_id IN ({}) ORDER BY source, row, location",
                        if list.is_empty() { "''".to_string() } else { list }
                    ))
                    .await?;
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                let bytes = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx")) {
                    let spec = tonghop_export::SheetSpec::new("Dòng bị từ chối")
                        .with_title("DANH SÁCH SỐ LIỆU BỊ TỪ CHỐI")
                        .with_subtitle(format!("Lập ngày {} · hãy sửa các dòng dưới đây và gửi lại", today().format("%d/%m/%Y")))
                        .with_headers([
                            ("source", "Tệp"),
                            ("location", "Vị trí"),
                            ("field", "Cột"),
                            ("value", "Giá trị"),
                            ("reason", "Mã lỗi"),
                            ("message_vi", "Lý do"),
                            ("message_en", "Reason (English)"),
                        ]);
                    tonghop_export::to_xlsx(&batches, &spec)?
                } else {
                    tonghop_export::to_csv(&batches)?
                };
                std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
                println!("{rows} refused row(s) written to {}", path.display());
            }
        }
        Command::Template { province, period, output } => {
            let parsed: tonghop_core::Period = period.parse().map_err(|e| anyhow::anyhow!("--period {period}: {e}"))?;
            let bytes = tonghop_formats::template::write(&ctx.registry, &ctx.catalog, &parsed, &province)?;
            let output = output.unwrap_or_else(|| PathBuf::from(format!("bieu_mau_{province}_{period}.xlsx")));
            std::fs::write(&output, bytes).with_context(|| format!("writing {}", output.display()))?;
            println!("report form for province {province}, period {period}: {}", output.display());
        }
        Command::Validate { pipelines, config } => {
            if let Some(path) = &config {
                let config = tonghop_server::ServerConfig::load(Some(path))?;
                let problems = Problems::from(tonghop_server::auth::Tokens::unknown_units(&config.tokens, &ctx.registry));
                problems.into_result().with_context(|| path.display().to_string())?;
                println!("ok: {} ({} token(s), {} postgres user(s))", path.display(), config.tokens.len(), config.postgres.users.len());
            }
            let lake = Lake::open(&cli.lake)?;
            let given_weights = ctx.registry.given_weights();
            let runner = Runner::new(ctx.project.clone(), lake, ctx.registry.clone(), ctx.catalog, today());
            let known = runner.known_tables().await?;
            let root = ctx.project.root().to_path_buf();
            let files = if pipelines.is_empty() { ctx.project.pipeline_files() } else { pipelines };
            let mut problems = Problems::default();
            for file in &files {
                match PipelineSpec::load(file) {
                    Ok(spec) => problems.extend(spec.problems(file, &known, Some(&ctx.registry), &root)),
                    Err(e) => problems.push(e.to_string()),
                }
            }
            problems.into_result().context("pipeline specs")?;
            println!(
                "ok: catalog, reference units and reform weights ({} edge(s) with a weight given, the other split old communes in equal shares), sql/ models and {} tables and views, {} pipeline spec(s)",
                given_weights,
                known.len(),
                files.len()
            );
        }
        Command::Serve { .. } => unreachable!("served above"),
        Command::Token { name, role, unit } => {
            use tonghop_server::auth::Role;
            let role = match role {
                RoleArg::Commune => Role::Commune,
                RoleArg::District => Role::District,
                RoleArg::Province => Role::Province,
                RoleArg::Analyst => Role::Analyst,
                RoleArg::Admin => Role::Admin,
            };
            let (token, entry) = tonghop_server::auth::new_token(&name, role, unit);
            let mut problems = Problems::from(entry.problems());
            problems.extend(tonghop_server::auth::Tokens::unknown_units(std::slice::from_ref(&entry), &ctx.registry));
            problems.into_result().context("the token")?;
            eprintln!("token (give it to its holder now; it is not stored and cannot be shown again):");
            println!("{token}");
            eprintln!("\nadd to the service configuration:\n\n[[tokens]]\n{}", toml::to_string(&entry)?);
        }
        Command::Passwd { user } => {
            let password = match std::env::var("TONGHOP_PG_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            if password.len() < 8 {
                bail!("the password is shorter than 8 characters; choose a longer one");
            }
            let entry = tonghop_server::auth::PgUser::new(&user, &password);
            println!("[[postgres.users]]\n{}", toml::to_string(&entry)?);
        }
        Command::Models => {
            let lake = Lake::open(&cli.lake)?;
            let engine = Engine::open(&ctx.project, &lake, &ctx.registry, &ctx.catalog, Mode::Build).await?;
            let root = ctx.project.root();
            for (i, m) in engine.models().iter().enumerate() {
                let file = m.path.strip_prefix(root).unwrap_or(&m.path).display().to_string();
                use tonghop_engine::models::{Incremental, Materialized};
                let kind = match (m.materialized, m.incremental) {
                    (Materialized::Table, Some(Incremental::Month)) => "table, incremental by month",
                    (Materialized::Table, Some(Incremental::Period)) => "table, incremental by period",
                    (Materialized::Table, None) => "table",
                    (Materialized::Memory, _) => "memory",
                    (Materialized::Chunk, _) => "view, held in memory per chunk while a table is built",
                    (Materialized::View, _) => "view",
                };
                println!("{:>2}. {} [{kind}] {file}", i + 1, m.name);
                println!("    grain: {}", m.grain);
                if !m.depends_on.is_empty() {
                    println!("    reads models: {}", m.depends_on.join(", "));
                }
                let tables: Vec<&str> = m.references.iter().map(String::as_str).filter(|r| !m.depends_on.iter().any(|d| d == r)).collect();
                if !tables.is_empty() {
                    println!("    reads tables: {}", tables.join(", "));
                }
            }
            Problems::from(engine.unresolved_references()).into_result().context("sql/")?;
            println!("{} models, every reference resolved", engine.models().len());
        }
        Command::Export { what } => commands::export::run(&ctx, &cli.lake, what).await?,
        Command::Sql { query, format, repeat } => {
            let lake = Lake::open(&cli.lake)?;
            let engine = open_read(&ctx, &lake).await?;
            let batches = engine.query(&query).await?;
            print_batches(&batches, format)?;
            if let Some(n) = repeat.filter(|n| *n > 0) {
                let mut ms = Vec::with_capacity(n);
                for _ in 0..n {
                    let started = std::time::Instant::now();
                    engine.query(&query).await?;
                    ms.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                ms.sort_by(f64::total_cmp);
                let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
                eprintln!("timing over {n} runs: min: {:.1} ms, median: {:.1} ms, p95: {:.1} ms, max: {:.1} ms", ms[0], at(0.5), at(0.95), ms[n - 1]);
            }
        }
    }
    Ok(())
}

fn print_ingest_summary(s: &tonghop_ingest::IngestSummary) {
    println!("{}", s.one_line());
    if s.files.len() <= 30 {
        for f in &s.files {
            let reasons: Vec<String> = f.by_reason.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            let mut line = format!("  {} [{}] {}: {} accepted, {} rejected", f.source, f.format, f.status, f.accepted, f.rejected);
            if !reasons.is_empty() {
                line.push_str(&format!(" ({})", reasons.join(", ")));
            }
            if let Some(e) = &f.error {
                line.push_str(&format!("; error: {e}"));
            }
            if let Some(to) = &f.moved_to {
                line.push_str(&format!("; moved to {to}"));
            }
            println!("{line}");
        }
    }
    for (reason, n) in &s.rejected_by_reason {
        println!("  {reason}: {n}");
    }
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
