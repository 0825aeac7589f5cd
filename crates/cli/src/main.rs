//! The `tonghop` command: demo data, pipeline runs, ingest, analyst SQL.
//!
//! Every subcommand reads the project folder (`--project`, `TONGHOP_PROJECT`, default: the current
//! directory: `catalog/`, `reference/`, `sql/`) and the lake (`--lake`, `TONGHOP_LAKE`, default `./lake`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use tonghop_core::{Catalog, Project, UnitRegistry};
use tonghop_engine::{session::Mode, Engine};
use tonghop_lake::Lake;

mod commands;
mod output;

use commands::Command;

/// mimalloc rather than the C library's allocator: under the service's load (many small
/// allocations freed by other threads than the ones that made them) glibc's per-thread arenas kept
/// freed memory and the resident size grew with every submission. Without transparent huge pages
/// (the `no_thp` feature): zeroing the 2 MiB pages it returned and took again was 13 % of a build.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option, as its C interface numbers it (`mi_option_purge_delay` in
/// mimalloc.h; the Rust bindings name no option constants, see `libmimalloc_sys::mi_option_set`).
/// A test below checks that this number is the option whose default is mimalloc v3's 1,000 ms.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Milliseconds freed memory is kept before it is returned to the system by a command that runs
/// and ends (mimalloc v3 keeps it 1,000 ms; v2 kept it 10). A build frees gigabytes a second: with
/// 1 s, the whole-country nightly run's resident size peaked at 2,807-2,823 MiB, with 10 ms at
/// 1,495-1,601 MiB; with 200 ms at 1,621-1,770 MiB, and it ran about 6 % faster than with 10 ms
/// (fewer pages given back and faulted in again). See the README, "Tenth pass" and "Thirteenth
/// pass (issue 22)".
const PURGE_DELAY_MS: std::ffi::c_long = 200;

/// The same for the long-running processes (`serve`, `worker`): in the soak's 600-second mode,
/// 200 ms kept the service's resident size 17.7 % higher at the end than after warm-up (its limit
/// is 10 %); 10 ms gave 9.4 % and, in a later run, 11.3 %, so the 30-minute mode has to decide.
const SERVICE_PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Sets mimalloc's purge delay to [`PURGE_DELAY_MS`] ([`SERVICE_PURGE_DELAY_MS`] when `serving`),
/// unless `MIMALLOC_PURGE_DELAY` is set: the operator's setting, which mimalloc has read at start,
/// wins.
fn return_freed_memory_sooner(serving: bool) {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: `mi_option_set` stores an integer in mimalloc's option table; it is not thread
        // safe, and this runs in `main` after parsing the arguments, before the runtime or any other thread starts.
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, if serving { SERVICE_PURGE_DELAY_MS } else { PURGE_DELAY_MS })
        };
    }
}

#[derive(Parser)]
#[command(name = "tonghop", version, about = "Consolidate grassroots health reports (Directive 25-CT/TW) from communes up to the nation")]
struct Cli {
    /// The lake: a folder or s3://bucket/prefix.
    #[arg(long, global = true, env = "TONGHOP_LAKE", default_value = "lake")]
    lake: String,
    /// The project folder holding catalog/, reference/, sql/.
    #[arg(long, global = true, env = "TONGHOP_PROJECT", default_value = ".")]
    project: PathBuf,
    /// Workers to distribute SQL and builds over: host:port,... (`tonghop worker`); overrides the
    /// workers of --cluster.
    #[arg(long, global = true, env = "TONGHOP_WORKERS", value_name = "HOST:PORT,...")]
    workers: Option<String>,
    /// A TOML file whose [cluster] table configures the workers (the service's configuration file
    /// works): workers, bytes_per_task, [cluster.tls].
    #[arg(long, global = true, env = "TONGHOP_CLUSTER", value_name = "FILE")]
    cluster: Option<PathBuf>,
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

fn main() -> ExitCode {
    use clap::{parser::ValueSource, CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Parsing the arguments starts no thread; the runtime starts below.
    return_freed_memory_sooner(matches!(cli.command, Command::Serve { .. } | Command::Worker(_)));
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
    // Worker threads with 16 MiB stacks (tokio's default is 2 MiB): the service runs pipeline
    // builds and commits of its journal on them, and DataFusion's planning and Delta's writes
    // recurse deeply, above all in a debug build (a soak test overflowed a 2 MiB worker while a
    // build ran under load, and a restart committing 964 journal entries did too). The memory is
    // only reserved; pages are used as the stack grows.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(16 << 20).build().expect("tokio runtime");
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
    /// The catalog with its plans (`catalog/plans/`) and the documents' frames.
    catalog: Arc<Catalog>,
    /// The workers queries and builds are distributed over (None: this process).
    cluster: Option<tonghop_engine::Cluster>,
}

/// The cluster configuration: --cluster's [cluster] table, its workers replaced by --workers.
fn cluster_config(cli: &Cli) -> Result<tonghop_engine::ClusterConfig> {
    let mut config = match &cli.cluster {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("--cluster {}: {e}", path.display()))?;
            let table: toml::Table = toml::from_str(&text).map_err(|e| anyhow::anyhow!("--cluster {}: {e}", path.display()))?;
            match table.get("cluster") {
                Some(value) => value.clone().try_into().map_err(|e| anyhow::anyhow!("--cluster {}: [cluster]: {e}", path.display()))?,
                None => anyhow::bail!("--cluster {}: the file has no [cluster] table", path.display()),
            }
        }
        None => tonghop_engine::ClusterConfig::default(),
    };
    if let Some(list) = &cli.workers {
        config.workers = tonghop_engine::ClusterConfig::from_list(list).workers;
    }
    Ok(config)
}

fn load_project(path: &std::path::Path) -> Result<Loaded> {
    let project = Project::open(path)?;
    let registry = Arc::new(UnitRegistry::load(&project.reference_dir().join("admin-units"))?);
    let catalog = Arc::new(Catalog::load_with_plans(&project.catalog_dir(), &registry)?);
    Ok(Loaded { project, registry, catalog, cluster: None })
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
    if let Some(list) = &cli.workers {
        config.cluster.workers = tonghop_engine::ClusterConfig::from_list(list).workers;
    }
    let running = tonghop_server::start(config).await?;
    // Before the address is printed: whoever reads it may send SIGTERM at once.
    running.stop_on_signals();
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let pg = running.postgres.map(|a| format!(" postgres://{a}")).unwrap_or_default();
        let scheme = if running.https { "https" } else { "http" };
        writeln!(out, "tonghop serve: {scheme}://{}{pg} (lake {})", running.http, running.service.lake.root().url())?;
        out.flush()?;
    }
    running.wait().await?;
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    // The service reads its project from its configuration (`project =`), which --project or
    // TONGHOP_PROJECT only override: the CLI's own default (the current folder) is not loaded.
    if let Command::Serve { config } = &cli.command {
        return serve(&cli, config.as_deref()).await;
    }
    let cluster = cluster_config(&cli)?;
    if let Command::Worker(args) = &cli.command {
        return commands::lake::worker(&cli.lake, &cluster, args).await;
    }
    let mut ctx = load_project(&cli.project)?;
    ctx.cluster = tonghop_engine::Cluster::start(&cluster).await?;
    match cli.command {
        Command::Demo(args) => commands::demo::demo(&ctx, args)?,
        Command::DemoHistory(args) => commands::demo::demo_history(&ctx, &cli.lake, args).await?,
        Command::Build(args) => commands::build::build(&ctx, &cli.lake, args).await?,
        Command::Run(args) => commands::build::run(&ctx, &cli.lake, args).await?,
        Command::Ingest(args) => commands::ingest::run(&ctx, &cli.lake, args).await?,
        Command::Template(args) => commands::query::template(&ctx, args)?,
        Command::Validate(args) => commands::check::validate(&ctx, &cli.lake, args).await?,
        Command::Serve { .. } | Command::Worker(_) => unreachable!("run above"),
        Command::Token(args) => commands::access::token(&ctx, args)?,
        Command::Passwd(args) => commands::access::passwd(args)?,
        Command::Models => commands::check::models(&ctx, &cli.lake).await?,
        Command::Export { what } => commands::export::run(&ctx, &cli.lake, what).await?,
        Command::Sql(args) => commands::query::sql(&ctx, &cli.lake, args).await?,
        Command::Check(args) => commands::lake::check(&ctx, &cli.lake, args).await?,
        Command::Maintain(args) => commands::lake::maintain(&cli.lake, args).await?,
        Command::Backup(args) => commands::lake::backup(&cli.lake, args).await?,
        Command::Restore(args) => commands::lake::restore(&cli.lake, args).await?,
    }
    Ok(())
}

async fn open_read(loaded: &Loaded, lake: &Lake) -> Result<Engine> {
    Ok(Engine::open_as_of(&loaded.project, lake, &loaded.registry, &loaded.catalog, Mode::Read, &tonghop_engine::AsOf::Latest, loaded.cluster.as_ref()).await?)
}

#[cfg(test)]
mod tests {
    /// The number [`super::return_freed_memory_sooner`] sets is mimalloc's purge delay: in this
    /// process nothing set it, so it holds the environment's setting or v3's default, 1,000 ms (no
    /// other option defaults to 1,000).
    #[test]
    fn the_option_set_at_start_is_mimallocs_purge_delay() {
        let expected = std::env::var("MIMALLOC_PURGE_DELAY").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
        // SAFETY: reads an integer from mimalloc's option table, which nothing in this process writes.
        #[allow(unsafe_code)]
        let value = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(value, expected);
    }
}
