//! Synthetic data: `tonghop demo` (submission files in an inbox) and `tonghop demo-history` (a national history written straight into the lake, for benchmarks).

use std::path::PathBuf;

use anyhow::{Context, Result};
use tonghop_lake::Lake;

use crate::Loaded;

/// The flags of `tonghop demo`.
#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    /// Where to write the files.
    #[arg(long, default_value = "inbox")]
    pub(crate) inbox: PathBuf,
    /// Random seed: the same seed gives the same files.
    #[arg(long, default_value_t = 25)]
    pub(crate) seed: u64,
    /// Months ending before this date are generated (default: today).
    #[arg(long)]
    pub(crate) until: Option<chrono::NaiveDate>,
    /// Only these provinces, as epoch:code (e.g. post2025:04,pre2025:02).
    #[arg(long, value_delimiter = ',')]
    pub(crate) provinces: Vec<tonghop_core::units::UnitRef>,
}

/// The flags of `tonghop demo-history`.
#[derive(clap::Args)]
pub(crate) struct DemoHistoryArgs {
    /// Months and years: 2020-2024, 2025, 202501 (each month must lie in one epoch).
    #[arg(long, value_delimiter = ',', required = true)]
    pub(crate) months: Vec<tonghop_demo::MonthSpan>,
    /// Disaggregations per value (1 to 8).
    #[arg(long, default_value_t = 8)]
    pub(crate) disaggregations: usize,
    /// Random seed.
    #[arg(long, default_value_t = 25)]
    pub(crate) seed: u64,
}

/// `tonghop demo`.
pub(crate) fn demo(ctx: &Loaded, args: DemoArgs) -> Result<()> {
    let DemoArgs { inbox, seed, until, provinces } = args;
    let provinces =
        if provinces.is_empty() { None } else { Some(provinces.into_iter().map(|p| p.with_epoch()).collect::<Result<Vec<_>, _>>().context("--provinces")?) };
    let config = tonghop_demo::DemoConfig { seed, until: until.unwrap_or_else(crate::today), provinces };
    let bar = crate::progress_bar(None, "demo files");
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
    Ok(())
}

/// `tonghop demo-history`.
pub(crate) async fn demo_history(ctx: &Loaded, lake: &str, args: DemoHistoryArgs) -> Result<()> {
    let DemoHistoryArgs { months, disaggregations, seed } = args;
    let months = tonghop_demo::months(&months);
    let lake = Lake::open(lake)?;
    let bar = crate::progress_bar(Some(months.len() as u64), "months");
    let started = std::time::Instant::now();
    let summary = tonghop_demo::write_history(&lake, &ctx.registry, &ctx.catalog, seed, &months, disaggregations, &|n| bar.inc(n)).await?;
    bar.finish_and_clear();
    let tonghop_demo::HistorySummary { written, skipped, rows } = summary;
    println!("demo-history: {written} month(s) written ({rows} rows), {skipped} already there, in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
