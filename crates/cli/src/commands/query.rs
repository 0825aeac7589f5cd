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
    /// Province code in the period's epoch (e.g. 01 for Hà Nội).
    #[arg(long)]
    pub(crate) province: String,
    /// Period code (e.g. 202603).
    #[arg(long)]
    pub(crate) period: tonghop_core::Period,
    /// Output file (default: bieu_mau_<province>_<period>.xlsx).
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
}

/// `tonghop sql`.
pub(crate) async fn sql(ctx: &Loaded, lake: &str, args: SqlArgs) -> Result<()> {
    let SqlArgs { query, format, repeat } = args;
    let lake = Lake::open(lake)?;
    let engine = crate::open_read(ctx, &lake).await?;
    let batches = engine.query(&query).await?;
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
        eprintln!("timing over {n} runs: min: {:.1} ms, median: {:.1} ms, p95: {:.1} ms, max: {:.1} ms", ms[0], at(0.5), at(0.95), ms[n - 1]);
    }
    Ok(())
}

/// `tonghop template`.
pub(crate) fn template(ctx: &Loaded, args: TemplateArgs) -> Result<()> {
    let TemplateArgs { province, period, output } = args;
    let bytes = tonghop_formats::template::write(&ctx.registry, &ctx.catalog, &period, &province)?;
    let output = output.unwrap_or_else(|| PathBuf::from(format!("bieu_mau_{province}_{period}.xlsx")));
    std::fs::write(&output, bytes).with_context(|| format!("writing {}", output.display()))?;
    println!("report form for province {province}, period {period}: {}", output.display());
    Ok(())
}
