//! Checking the project: `tonghop validate` (every problem at once) and `tonghop models` (the build order).

use std::path::PathBuf;

use anyhow::{Context, Result};
use tonghop_core::Problems;
use tonghop_engine::{session::Mode, Engine};
use tonghop_lake::Lake;
use tonghop_pipeline::{PipelineSpec, Runner};

use crate::Loaded;

/// The flags of `tonghop validate`.
#[derive(clap::Args)]
pub(crate) struct ValidateArgs {
    /// Spec files (default: every pipelines/*.toml).
    pub(crate) pipelines: Vec<PathBuf>,
    /// Also check this service configuration (see tonghop.example.toml).
    #[arg(long, env = "TONGHOP_CONFIG")]
    pub(crate) config: Option<PathBuf>,
}

/// `tonghop validate`.
pub(crate) async fn validate(ctx: &Loaded, lake: &str, args: ValidateArgs) -> Result<()> {
    let ValidateArgs { pipelines, config } = args;
    if let Some(path) = &config {
        let config = tonghop_server::ServerConfig::load(Some(path))?;
        let mut problems = Problems::from(tonghop_server::auth::Tokens::unknown_units(&config.tokens, &ctx.registry));
        problems.extend(tonghop_server::auth::Tokens::unknown_agencies(&config.tokens, &ctx.catalog.plans));
        problems.extend(tonghop_server::dashboard::boundary_problems(&config.dashboard, ctx.project.root(), &ctx.registry));
        problems.into_result().with_context(|| path.display().to_string())?;
        println!("ok: {} ({} token(s), {} postgres user(s))", path.display(), config.tokens.len(), config.postgres.users.len());
    }
    let lake = Lake::open(lake)?;
    let given_weights = ctx.registry.given_weights();
    let runner = Runner::new(ctx.project.clone(), lake, ctx.registry.clone(), ctx.catalog.clone(), crate::today());
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
        "ok: catalog, reference units and reform weights ({} edge(s) with a weight given, the other split old communes in equal shares), {} plan(s) with {} task(s) and {} agenc(ies), sql/ models and {} tables and views, {} pipeline spec(s)",
        given_weights,
        ctx.catalog.plans.plans.len(),
        ctx.catalog.plans.tasks.len(),
        ctx.catalog.plans.agencies.len(),
        known.len(),
        files.len()
    );
    Ok(())
}

/// `tonghop models`.
pub(crate) async fn models(ctx: &Loaded, lake: &str) -> Result<()> {
    let lake = Lake::open(lake)?;
    let engine = Engine::open(&ctx.project, &lake, &ctx.registry, &ctx.catalog, Mode::Build).await?;
    let root = ctx.project.root();
    for (i, m) in engine.models().iter().enumerate() {
        let file = m.path.strip_prefix(root).unwrap_or(&m.path).display().to_string();
        use tonghop_engine::models::{Incremental, Materialized};
        let kind = match (m.materialized, m.incremental) {
            (Materialized::Table, Some(Incremental::Month)) => "table, incremental by month",
            (Materialized::Table, Some(Incremental::Period)) => "table, incremental by period",
            (Materialized::Table, Some(Incremental::Epoch)) => "table, incremental by epoch",
            (Materialized::Table, None) => "table",
            (Materialized::Memory, _) => "memory",
            (Materialized::Chunk, _) => "view, held in memory per chunk while a table is built",
            (Materialized::View, _) => "view",
            (Materialized::Source, _) => "source, a view over the lake tables",
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
    Ok(())
}
