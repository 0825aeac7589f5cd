//! The subcommands: their flags (`Command`, parsed by clap) and, for those that have outgrown
//! `main.rs`, their code, one file each.

use std::path::PathBuf;

use clap::Subcommand;

pub(crate) mod access;
pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod demo;
pub(crate) mod export;
pub(crate) mod ingest;
pub(crate) mod lake;
pub(crate) mod query;

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Write realistic synthetic commune submissions (CSV) into an inbox folder.
    Demo(demo::DemoArgs),
    /// Write a synthetic national history straight into the lake (benchmarks; skips ingestion).
    ///
    /// Every commune of the epoch of each month, every catalog data element, each value split over
    /// `--disaggregations` sex × age groups. Months already written are skipped.
    DemoHistory(demo::DemoHistoryArgs),
    /// Build the sql/ models: recompute what changed since the last build, or everything.
    Build(build::BuildArgs),
    /// Run a pipeline spec once (e.g. pipelines/nightly.toml).
    Run(build::RunArgs),
    /// Ingest submissions (CSV, XLSX, JSON, DHIS2) from files or a folder (or object-store prefix).
    ///
    /// A folder is an inbox: committed files move to `archive/YYYY/MM/DD/` beside it and unreadable
    /// ones to `failed/` (unless --keep). Single files stay where they are.
    Ingest(ingest::IngestArgs),
    /// Write the XLSX report form for the communes of a province and a period.
    Template(query::TemplateArgs),
    /// Check pipeline specs, the sql/ models and the catalog (and with --config the service
    /// configuration), reporting every problem at once.
    Validate(check::ValidateArgs),
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
    Token(access::TokenArgs),
    /// Make a [[postgres.users]] entry (SCRAM-SHA-256) for the service configuration. The
    /// password is read from TONGHOP_PG_PASSWORD or, when unset, from the first line of stdin.
    Passwd(access::PasswdArgs),
    /// List the sql/ models in build order: grain, materialisation and the models each reads.
    ///
    /// A model that reads a table which is neither a model nor a registered table is reported with
    /// its file and the missing name, and the command fails.
    Models,
    /// Export a report or a table: the Excel report of Directive 25, or any model or table to CSV, Excel, Parquet or JSON.
    ///
    /// Every export writes `<file>.versions.json` beside the file: the Delta table versions it read
    /// and the instant its data stood at. `--as-of <time>` or `--as-of-versions <that file>` rebuilds
    /// an export from the data as it stood then.
    Export {
        #[command(subcommand)]
        what: export::ExportCommand,
    },
    /// Run read-only SQL over the lake tables, reference tables and models.
    Sql(query::SqlArgs),
    /// Check the lake: every table's live files present and whole (with --deep every row read),
    /// every committed submission's rows present, the build state consistent with the models;
    /// prints what waits (journal, leases) and fails on any problem.
    Check(lake::CheckArgs),
    /// Run a worker of a cluster: execute the parts of queries and builds a coordinator sends
    /// (`[cluster] workers`, --workers), reading the lake (--lake, same as the coordinator's) until
    /// SIGTERM or Ctrl-C. Prints `tonghop worker: listening on ADDR` once it accepts.
    Worker(lake::WorkerArgs),
    /// Maintain the lake: compact small files, checkpoint every Delta log, delete commits and
    /// unreferenced files older than the retention (VACUUM). Safe while ingest and the service write.
    ///
    /// The retention is how far back `--as-of` can look afterwards; an older `--as-of` is refused.
    Maintain(lake::MaintainArgs),
    /// Copy the whole lake (Delta tables, journal, leases, received files) to a folder or
    /// s3://bucket/prefix; consistent while the service and pipelines write.
    Backup(lake::BackupArgs),
    /// Copy a backup made by `tonghop backup` into the lake, which must be empty.
    Restore(lake::RestoreArgs),
}
