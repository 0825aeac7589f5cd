//! The lake as a whole: `tonghop check` (is it sound?), `tonghop maintain`, `tonghop backup`,
//! `tonghop restore`, and `tonghop worker` (a cluster's worker reading it).

use anyhow::{bail, Context, Result};
use tonghop_lake::check::Severity;
use tonghop_lake::{Lake, Location};

use crate::Loaded;

/// The flags of `tonghop check`.
#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    /// Also decode every row of every table (reads the whole lake), not only each file's ends.
    #[arg(long)]
    pub(crate) deep: bool,
}

/// The flags of `tonghop worker`.
#[derive(clap::Args)]
pub(crate) struct WorkerArgs {
    /// The address to listen on (port 0: any free port, printed).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub(crate) listen: String,
}

/// `tonghop worker`: serves until SIGTERM or Ctrl-C (see `tonghop_engine::cluster`).
pub(crate) async fn worker(lake: &str, cluster: &tonghop_engine::ClusterConfig, args: &WorkerArgs) -> Result<()> {
    let problems = cluster.problems();
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    let lake = Lake::open(lake)?;
    let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("--listen {}", args.listen))?;
    let address = listener.local_addr()?;
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let shutdown = async move {
        #[cfg(unix)]
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping the worker"),
            _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: stopping the worker"),
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let scheme = if cluster.tls.is_some() { "https" } else { "http" };
        writeln!(out, "tonghop worker: listening on {scheme}://{address} (lake {})", lake.root().url())?;
        out.flush()?;
    }
    tonghop_engine::cluster::serve_worker(listener, &lake, cluster, shutdown).await?;
    Ok(())
}

/// The flags of `tonghop maintain`.
#[derive(clap::Args)]
pub(crate) struct MaintainArgs {
    /// Days of history kept: `--as-of` can look back this far afterwards (at least 1).
    #[arg(long, default_value_t = tonghop_lake::maintain::DEFAULT_RETENTION_DAYS)]
    pub(crate) retention_days: u32,
    /// Do not compact small files.
    #[arg(long)]
    pub(crate) no_compact: bool,
    /// Delete nothing: no log clean-up, no VACUUM (compaction and checkpoints only).
    #[arg(long)]
    pub(crate) no_vacuum: bool,
    /// An inbox archive (folder or URL, as ingest fills it: `YYYY/MM/DD/…`) to clean by age.
    #[arg(long, requires = "archive_days")]
    pub(crate) archive: Option<String>,
    /// Days archived inbox files are kept (with --archive).
    #[arg(long, requires = "archive")]
    pub(crate) archive_days: Option<u32>,
}

/// The flags of `tonghop backup`.
#[derive(clap::Args)]
pub(crate) struct BackupArgs {
    /// Where the copy goes: a folder or s3://bucket/prefix (objects already there with the same
    /// size are kept, so an interrupted backup can be run again).
    pub(crate) to: String,
}

/// The flags of `tonghop restore`.
#[derive(clap::Args)]
pub(crate) struct RestoreArgs {
    /// The backup: a folder or s3://bucket/prefix made by `tonghop backup`.
    pub(crate) from: String,
}

/// `tonghop check`: prints every finding; fails when one is a problem.
pub(crate) async fn check(ctx: &Loaded, lake: &str, args: CheckArgs) -> Result<()> {
    let lake = Lake::open(lake)?;
    let spinner = crate::progress_bar(None, "checking the lake");
    let mut report = lake.check(args.deep).await?;
    let engine = tonghop_engine::Engine::open(&ctx.project, &lake, &ctx.registry, &ctx.catalog, tonghop_engine::session::Mode::Read).await;
    match engine {
        Ok(engine) => report.findings.extend(engine.check_models(&ctx.project).await?),
        Err(e) => report.findings.push(tonghop_lake::check::Finding::problem(format!("the SQL session cannot be opened over this lake: {e}"))),
    }
    spinner.finish_and_clear();
    for (table, (version, files)) in &report.tables {
        println!("ok   {table}: version {version}, {files} live file(s)");
    }
    let problems = report.findings.iter().filter(|f| f.severity == Severity::Problem).count();
    for finding in &report.findings {
        let tag = if finding.severity == Severity::Problem { "PROBLEM" } else { "note" };
        println!("{tag:<4} {}", finding.what);
    }
    if problems > 0 {
        bail!("{problems} problem(s) in the lake {}", lake.root().url());
    }
    println!("the lake {} is sound ({} tables{})", lake.root().url(), report.tables.len(), if args.deep { ", every row read" } else { "" });
    Ok(())
}

/// `tonghop maintain`: one line per table, then the summary.
pub(crate) async fn maintain(lake: &str, args: MaintainArgs) -> Result<()> {
    let lake = Lake::open(lake)?;
    let options = tonghop_lake::maintain::MaintainOptions {
        retention_days: args.retention_days,
        compact: !args.no_compact,
        vacuum: !args.no_vacuum,
        archive: args.archive,
        archive_days: args.archive_days,
        now: None,
    };
    if let Some(problem) = options.problem() {
        bail!("{problem}");
    }
    let bar = crate::progress_bar(None, "maintaining");
    let maintained = lake.maintain(&options, &|table| bar.set_message(format!("maintaining {table}"))).await?;
    bar.finish_and_clear();
    for t in &maintained.tables {
        println!(
            "{:<30} files {:>6} → {:<6} compacted {:>5} into {:<3} checkpoint {:<8} commits deleted {:>5}  files deleted {:>5}  {:.1} s",
            t.table,
            t.files_before,
            t.files_after,
            t.compacted.0,
            t.compacted.1,
            t.checkpoint.map_or("-".to_string(), |v| format!("v{v}")),
            t.log_files_removed,
            t.files_vacuumed,
            t.millis as f64 / 1000.0
        );
    }
    println!("{}", maintained.one_line());
    Ok(())
}

/// `tonghop backup`.
pub(crate) async fn backup(lake: &str, args: BackupArgs) -> Result<()> {
    let from = Location::parse(lake)?;
    let to = Location::parse(&args.to).with_context(|| format!("the backup location {}", args.to))?;
    copy(&from, &to, "backing up").await
}

/// `tonghop restore`: only into an empty lake.
pub(crate) async fn restore(lake: &str, args: RestoreArgs) -> Result<()> {
    let from = Location::parse(&args.from).with_context(|| format!("the backup location {}", args.from))?;
    let to = Location::parse(lake)?;
    if tonghop_lake::backup::is_empty(&from).await? {
        bail!("{} holds nothing: is it a backup made by `tonghop backup`?", from.url());
    }
    if !tonghop_lake::backup::is_empty(&to).await? {
        bail!("the lake {} is not empty: restore into an empty location (move the old lake away first)", to.url());
    }
    copy(&from, &to, "restoring").await?;
    eprintln!("now run `tonghop check` on {}", to.url());
    Ok(())
}

async fn copy(from: &Location, to: &Location, what: &str) -> Result<()> {
    let bar = crate::progress_bar(None, what);
    let copied = tonghop_lake::backup::copy_lake(from, to, &|bytes| bar.inc(bytes)).await?;
    bar.finish_and_clear();
    println!("{} → {}: {} object(s), {:.1} MB copied; {} already there", from.url(), to.url(), copied.objects, copied.bytes as f64 / 1e6, copied.skipped);
    Ok(())
}
