//! Answers for people: `tonghop sql` (read-only SQL) and `tonghop template` (the report form communes fill in).

use std::path::PathBuf;

use anyhow::{Context, Result};
use tonghop_lake::Lake;

use crate::output::Format;
use crate::Loaded;

/// The flags of `tonghop sql`.
#[derive(clap::Args)]
pub(crate) struct SqlArgs {
    /// The query.
    pub(crate) query: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Run the query this many more times in the same session and print the timings
    /// (min, median, p95, max) on stderr (benchmarks).
    #[arg(long)]
    pub(crate) repeat: Option<usize>,
}

/// The flags of `tonghop template`.
#[derive(clap::Args)]
pub(crate) struct TemplateArgs {
    /// Province code in the period's epoch (e.g. 01 for Hà Nội): the data report form of its communes.
    #[arg(long, required_unless_present = "plan", conflicts_with = "plan")]
    pub(crate) province: Option<String>,
    /// A plan of catalog/plans/plans.csv: the progress form of --agency on the plan's tasks.
    #[arg(long, requires = "agency")]
    pub(crate) plan: Option<String>,
    /// The agency (catalog/plans/agencies.csv) whose progress form is written.
    #[arg(long, requires = "plan")]
    pub(crate) agency: Option<String>,
    /// Period code (e.g. 202603; for a progress form the reporting period, e.g. 2026S1).
    #[arg(long)]
    pub(crate) period: tonghop_core::Period,
    /// Output file (default: bieu_mau_<province>_<period>.xlsx, or tien_do_<plan>_<agency>_<period>.xlsx).
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
}

/// `tonghop sql`.
pub(crate) async fn sql(ctx: &Loaded, lake: &str, args: SqlArgs) -> Result<()> {
    let SqlArgs { query, format, repeat } = args;
    let lake = Lake::open(lake)?;
    let engine = crate::open_read(ctx, &lake).await?;
    let started = std::time::Instant::now();
    let batches = engine.query(&query).await?;
    let first_ms = started.elapsed().as_secs_f64() * 1000.0;
    crate::output::print_batches(&batches, format)?;
    if let Some(n) = repeat.filter(|n| *n > 0) {
        let mut ms = Vec::with_capacity(n);
        for _ in 0..n {
            let started = std::time::Instant::now();
            engine.query(&query).await?;
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
        // The first run (printed) also reads what the process has not read yet: with the page
        // cache dropped before the process starts, it is the cold figure.
        eprintln!(
            "timing over {n} runs: min: {:.1} ms, median: {:.1} ms, p95: {:.1} ms, max: {:.1} ms; first run (printed): {first_ms:.1} ms",
            ms[0],
            at(0.5),
            at(0.95),
            ms[n - 1]
        );
    }
    Ok(())
}

/// `tonghop template`.
pub(crate) fn template(ctx: &Loaded, args: TemplateArgs) -> Result<()> {
    let TemplateArgs { province, plan, agency, period, output } = args;
    if let (Some(plan), Some(agency)) = (plan, agency) {
        let bytes = tonghop_formats::progress::write_form(&ctx.catalog.plans, &plan, &agency, &period)?;
        let output = output.unwrap_or_else(|| PathBuf::from(format!("tien_do_{}_{}_{period}.xlsx", plan.to_lowercase(), agency.to_lowercase())));
        std::fs::write(&output, bytes).with_context(|| format!("writing {}", output.display()))?;
        println!("progress form of {agency} on plan {plan}, period {period}: {}", output.display());
        return Ok(());
    }
    let province = province.context("give --province, or --plan and --agency")?;
    let bytes = tonghop_formats::template::write(&ctx.registry, &ctx.catalog, &period, &province)?;
    let output = output.unwrap_or_else(|| PathBuf::from(format!("bieu_mau_{province}_{period}.xlsx")));
    std::fs::write(&output, bytes).with_context(|| format!("writing {}", output.display()))?;
    println!("report form for province {province}, period {period}: {}", output.display());
    Ok(())
}
