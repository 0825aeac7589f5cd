//! `tonghop export report|table|dhis2|portal`: the flags become the export crate's requests
//! ([`tonghop_export::request`]), which the pipeline steps run too.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use tonghop_engine::{session::Mode, AsOf, Engine};
use tonghop_export::ExtractFormat;
use tonghop_export::{Dhis2Request, ExportContext, ExportOutcome, PortalRequest, PushRetry, ReportRequest, ReviewRequest, TableRequest};
use tonghop_lake::{Lake, Location};

use crate::Loaded;

/// Which state of the lake an export reads.
#[derive(clap::Args, Clone)]
pub(crate) struct AsOfArgs {
    /// Read every Delta table (lake tables and models) as it stood at this time (RFC 3339, e.g.
    /// 2026-04-20T10:00:00+07:00): the last version committed at or before it.
    #[arg(long, conflicts_with = "as_of_versions")]
    as_of: Option<String>,
    /// Read exactly the versions recorded in an earlier export's `<file>.versions.json`.
    #[arg(long)]
    as_of_versions: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum ExportCommand {
    /// The Excel report of Directive 25-CT/TW for a unit and a period (Vietnamese).
    ///
    /// Sheets: summary against the 2030 targets and the same period last year; the units one level
    /// down coloured by target status with the unit as totals row; completeness and timeliness with
    /// the communes that did not report; data-quality findings; charts.
    Report {
        /// The unit: a province code (or a district before the reform) of the period's epoch,
        /// epoch:code (e.g. post2025:04), or VN for the nation.
        #[arg(long)]
        unit: String,
        /// The period code: 202603, 2026Q1, 2026S1, 2026N9, 2026, 2026YTD05.
        #[arg(long)]
        period: String,
        /// A file, a folder (ending in /) or an s3:// prefix (default: bao_cao_<unit>_<period>.xlsx here).
        #[arg(long, short)]
        out: Option<String>,
        #[command(flatten)]
        as_of: AsOfArgs,
    },
    /// The periodic review of a plan (báo cáo sơ kết / tổng kết) as a Word document: leadership
    /// work from the agencies' reports, the indicators against their targets, every task's status
    /// (overdue first), limitations, directions to fill in, completeness and per-unit appendices.
    Review {
        /// A plan of catalog/plans/plans.csv (e.g. NA_KH_2024).
        #[arg(long)]
        plan: String,
        /// A quarter, half-year, nine months or year: 2026Q2, 2026S1, 2026N9, 2026.
        #[arg(long)]
        period: String,
        /// The unit whose figures it gives, post2025:<code> (default: the plan's unit today).
        #[arg(long)]
        unit: Option<String>,
        /// A file, a folder (ending in /) or an s3:// prefix (default: so_ket_<plan>_<period>.docx here).
        #[arg(long, short)]
        out: Option<String>,
        #[command(flatten)]
        as_of: AsOfArgs,
    },
    /// Any model or table to CSV, Excel, Parquet or JSON, optionally filtered.
    Table {
        /// A model (`tonghop models`), a lake table (data_values, submissions, rejections) or a reference table.
        table: String,
        /// Output format (rows ordered by every column; json: an array of objects).
        #[arg(long, value_enum, default_value_t = ExtractFormatArg::Csv)]
        format: ExtractFormatArg,
        /// A SQL predicate on the table's columns, e.g. "period = '2026Q1' AND level = 'province'".
        #[arg(long = "where")]
        predicate: Option<String>,
        /// A file, a folder (ending in /) or an s3:// prefix (default: <table>.<format> here).
        #[arg(long, short)]
        out: Option<String>,
        #[command(flatten)]
        as_of: AsOfArgs,
    },
    /// Rolled-up data elements as a DHIS2 data value set (JSON or CSV), written and/or pushed to DHIS2.
    ///
    /// Values are the view dhis2_data_values (each commune's value over the period by the element's
    /// time aggregation, summed over the communes under each unit); tonghop codes become DHIS2 ids
    /// through the id-scheme mapping file ingest reads (kind,dhis2,tonghop). `--push <base URL>`
    /// posts the JSON to `<base>/api/dataValueSets` with retries, reads DHIS2's import summary and
    /// records the push in the lake's export_log; a payload DHIS2 already accepted is not sent again
    /// (logged as `repeat`) unless --force.
    Dhis2 {
        /// Period codes (months, quarters, six-months, years), all of one epoch.
        #[arg(long, required = true, value_delimiter = ',')]
        period: Vec<String>,
        /// Units whose values and whose sub-units' values are exported (epoch:code, a code, or VN; default VN).
        #[arg(long, value_delimiter = ',')]
        unit: Vec<String>,
        /// Levels exported: commune, district (before the reform), province, national (default province).
        #[arg(long, value_delimiter = ',')]
        level: Vec<String>,
        /// File format of --to.
        #[arg(long, value_enum, default_value_t = Dhis2FormatArg::Json)]
        format: Dhis2FormatArg,
        /// The id-scheme mapping file (CSV kind,dhis2,tonghop), as for ingest.
        #[arg(long)]
        mapping: PathBuf,
        /// A file, a folder (ending in /) or an s3:// prefix (default: dhis2_<unit>_<period>.<format> here, unless --push).
        #[arg(long)]
        to: Option<String>,
        /// The DHIS2 data set uid written as dataSet.
        #[arg(long)]
        data_set: Option<String>,
        /// Leave out values whose unit or data element has no DHIS2 id (counted), instead of failing.
        #[arg(long)]
        skip_unmapped: bool,
        #[command(flatten)]
        push: PushArgs,
        /// DHIS2 user for basic authentication; the password is read from TONGHOP_DHIS2_PASSWORD.
        /// Without --user, a personal access token in TONGHOP_DHIS2_TOKEN is sent as `ApiToken`.
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        as_of: AsOfArgs,
    },
    /// Push a model or table as JSON to a reporting portal (`{"table", "where", "rows": [...]}`).
    ///
    /// The request carries an Idempotency-Key derived from the payload (the same on every retry and
    /// re-run); a bearer token is read from TONGHOP_PORTAL_TOKEN when set. Each push is recorded in
    /// export_log; a payload the portal already accepted is not sent again unless --force.
    Portal {
        /// A model, lake table or reference table.
        table: String,
        /// A SQL predicate on the table's columns.
        #[arg(long = "where")]
        predicate: Option<String>,
        #[command(flatten)]
        push: PushArgs,
        #[command(flatten)]
        as_of: AsOfArgs,
    },
}

/// Where and how a push goes.
#[derive(clap::Args, Clone)]
pub(crate) struct PushArgs {
    /// DHIS2: the base URL of the instance (https://dhis2.example.org); portal: the URL posted to.
    #[arg(long)]
    push: Option<String>,
    /// Send even if the same payload was accepted by the same target before.
    #[arg(long)]
    force: bool,
    /// Tries in all (connection errors, timeouts, 429 and 5xx are retried).
    #[arg(long, default_value_t = 5)]
    attempts: u32,
    /// Wait before the second try, in milliseconds (doubled before each next one, at most 60 s).
    #[arg(long, default_value_t = 1000)]
    retry_delay_ms: u64,
}

impl PushArgs {
    fn retry(&self) -> PushRetry {
        PushRetry { attempts: self.attempts, delay_ms: self.retry_delay_ms }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Dhis2FormatArg {
    Json,
    Csv,
}

impl Dhis2FormatArg {
    fn name(self) -> &'static str {
        match self {
            Dhis2FormatArg::Json => "json",
            Dhis2FormatArg::Csv => "csv",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ExtractFormatArg {
    Csv,
    Xlsx,
    Parquet,
    Json,
}

impl From<ExtractFormatArg> for ExtractFormat {
    fn from(arg: ExtractFormatArg) -> ExtractFormat {
        match arg {
            ExtractFormatArg::Csv => ExtractFormat::Csv,
            ExtractFormatArg::Xlsx => ExtractFormat::Xlsx,
            ExtractFormatArg::Parquet => ExtractFormat::Parquet,
            ExtractFormatArg::Json => ExtractFormat::Json,
        }
    }
}

impl ExportCommand {
    fn as_of(&self) -> &AsOfArgs {
        match self {
            ExportCommand::Report { as_of, .. }
            | ExportCommand::Review { as_of, .. }
            | ExportCommand::Table { as_of, .. }
            | ExportCommand::Dhis2 { as_of, .. }
            | ExportCommand::Portal { as_of, .. } => as_of,
        }
    }
}

/// Resolves `--as-of` / `--as-of-versions`.
fn resolve_as_of(args: &AsOfArgs) -> Result<(AsOf, Option<String>)> {
    if let Some(at) = &args.as_of {
        let parsed = chrono::DateTime::parse_from_rfc3339(at.trim())
            .with_context(|| format!("--as-of {at:?}: write an RFC 3339 time such as 2026-04-20T10:00:00+07:00 or 2026-04-20T03:00:00Z"))?;
        return Ok((AsOf::Time(parsed.with_timezone(&chrono::Utc)), Some(at.clone())));
    }
    if let Some(path) = &args.as_of_versions {
        let bytes = std::fs::read(path).with_context(|| format!("--as-of-versions: reading {}", path.display()))?;
        let record = tonghop_export::ExportRecord::from_json(&bytes, &path.display().to_string())?;
        return Ok((AsOf::Versions { versions: record.versions, at: record.produced_at }, Some(path.display().to_string())));
    }
    Ok((AsOf::Latest, None))
}

/// Runs an export: relative paths from the current folder, files by default in it.
pub(crate) async fn run(ctx: &Loaded, lake: &str, what: ExportCommand) -> Result<()> {
    let lake = Lake::open(lake)?;
    let (as_of, given) = resolve_as_of(what.as_of())?;
    let engine = Engine::open_as_of(&ctx.project, &lake, &ctx.registry, &ctx.catalog, Mode::Read, &as_of, ctx.cluster.as_ref()).await?;
    let export = ExportContext {
        engine: &engine,
        lake: &lake,
        registry: &ctx.registry,
        catalog: &ctx.catalog,
        base: Location::parse(".")?,
        default_to: ".".into(),
        files_root: PathBuf::from("."),
        today: crate::today(),
        produced_at: as_of.instant().unwrap_or_else(chrono::Utc::now),
        as_of: given,
    };
    let outcome = match what {
        ExportCommand::Report { unit, period, out, .. } => ReportRequest { unit, period, to: out }.run(&export).await?,
        ExportCommand::Review { plan, period, unit, out, .. } => ReviewRequest { plan, period, unit, to: out }.run(&export).await?,
        ExportCommand::Table { table, format, predicate, out, .. } => TableRequest::new(table, predicate, format.into(), out).run(&export).await?,
        ExportCommand::Dhis2 { period, unit, level, format, mapping, to, data_set, skip_unmapped, push, user, .. } => {
            let request = Dhis2Request {
                periods: period,
                units: unit,
                levels: level,
                mapping: mapping.display().to_string(),
                // A file unless only pushing.
                formats: if to.is_some() || push.push.is_none() { vec![format.name().to_string()] } else { Vec::new() },
                to,
                data_set,
                skip_unmapped,
                push: push.push.clone(),
                user,
                password_env: None,
                token_env: None,
                force: push.force,
                push_retry: push.retry(),
            };
            request.run(&export).await?
        }
        ExportCommand::Portal { table, predicate, push, .. } => {
            let Some(url) = push.push.clone() else { bail!("give the portal's URL with --push <url>") };
            PortalRequest { table, predicate, url, token_env: None, force: push.force, push_retry: push.retry() }.run(&export).await?
        }
    };
    print(&outcome);
    Ok(())
}

/// Prints what an export did: its lines, the versions its files read, each push's `export_log` row.
fn print(outcome: &ExportOutcome) {
    for (i, line) in outcome.lines.iter().enumerate() {
        println!("{}{line}", if i == 0 { "" } else { "  " });
    }
    if !outcome.files.is_empty() {
        let versions: Vec<String> = outcome.record.versions.iter().map(|(t, v)| format!("{t}@{v}")).collect();
        println!("  data as of {}: {}", outcome.record.produced_at.to_rfc3339(), versions.join(", "));
    }
    for entry in &outcome.pushes {
        println!("  export_log: export_id {}, payload sha256 {}, idempotency key {}", entry.export_id, entry.payload_sha256, entry.idempotency_key);
    }
}
