//! Building the models and running pipelines: `tonghop build` and `tonghop run`.

use std::path::PathBuf;

use anyhow::Result;
use tonghop_engine::{session::Mode, Engine};
use tonghop_lake::Lake;
use tonghop_pipeline::{PipelineSpec, Runner};

use crate::Loaded;

/// The flags of `tonghop build`.
#[derive(clap::Args)]
pub(crate) struct BuildArgs {
    /// Rebuild every model and every period.
    #[arg(long)]
    pub(crate) full: bool,
}

/// The flags of `tonghop run`.
#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// The spec file.
    pub(crate) pipeline: PathBuf,
}

/// `tonghop build`.
pub(crate) async fn build(ctx: &Loaded, lake: &str, args: BuildArgs) -> Result<()> {
    let BuildArgs { full } = args;
    let lake = Lake::open(lake)?;
    let started = std::time::Instant::now();
    let mut engine =
        Engine::open_as_of(&ctx.project, &lake, &ctx.registry, &ctx.catalog, Mode::Build, &tonghop_engine::AsOf::Latest, ctx.cluster.as_ref()).await?;
    let bar = crate::progress_bar(None, "building");
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
    Ok(())
}

/// `tonghop run`.
pub(crate) async fn run(ctx: &Loaded, lake: &str, args: RunArgs) -> Result<()> {
    let RunArgs { pipeline } = args;
    let spec = PipelineSpec::load(&pipeline)?;
    let lake = Lake::open(lake)?;
    let runner = Runner::new(ctx.project.clone(), lake.clone(), ctx.registry.clone(), ctx.catalog.clone(), crate::today()).with_cluster(ctx.cluster.clone());
    let bar = crate::progress_bar(None, "files");
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
    let engine = crate::open_read(ctx, &lake).await?;
    let batches = engine
        .query("SELECT epoch AS \"epoch\", period AS \"kỳ\", indicator_name AS \"chỉ tiêu\", round(value, 1) AS \"kết quả %\", target AS \"mục tiêu %\", status AS \"đánh giá\", communes_reporting AS \"xã báo cáo\" FROM national_summary ORDER BY epoch DESC, period, indicator")
        .await?;
    println!("\nNational summary (toàn quốc), latest month and year of each epoch:");
    println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
    Ok(())
}
