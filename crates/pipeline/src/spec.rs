//! Pipeline specs.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// A pipeline: a named list of steps run in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Name (unique per lake).
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Cron expression for the scheduler.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Time zone of the schedule.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// The steps, run in order.
    pub steps: Vec<Step>,
}

fn default_timezone() -> String {
    "Asia/Ho_Chi_Minh".into()
}

/// One step.
#[derive(Debug, Clone, Deserialize)]
pub struct Step {
    /// Name, unique within the pipeline.
    pub name: String,
    /// Abandon an attempt that runs longer than this (`timeout_seconds`; none by default).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Attempts after a failed or timed-out one (`retries`, default 0). Steps are safe to repeat:
    /// ingest skips files already committed, a build recomputes what is not yet built.
    #[serde(default)]
    pub retries: u32,
    /// Wait before the first retry, doubled before each next one (`retry_delay_seconds`, default 30).
    #[serde(default = "default_retry_delay")]
    pub retry_delay_seconds: u64,
    /// What it does.
    #[serde(flatten)]
    pub kind: StepKind,
}

impl Step {
    /// The retry policy of a step: `retries` after the first attempt, waiting `retry_delay_seconds`
    /// then twice as long each time, each attempt limited to `timeout_seconds`.
    pub fn retry_policy(&self) -> tonghop_core::RetryPolicy {
        tonghop_core::RetryPolicy::with_retries(
            self.retries,
            std::time::Duration::from_secs(self.retry_delay_seconds),
            self.timeout_seconds.map(std::time::Duration::from_secs),
        )
    }
}

fn default_retry_delay() -> u64 {
    30
}

/// The kinds of step.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepKind {
    /// Ingest every file of a folder or object-store prefix (see [`tonghop_ingest::InboxConfig`]
    /// for `source`, `archive`, `failed`, `keep`, `mapping`, `format`, `encoding`, `strict`).
    Ingest(tonghop_ingest::InboxConfig),
    /// Build the models of `sql/` and run the model tests: an incremental refresh of what changed
    /// since the last build, or everything with `full = true`.
    Build {
        /// Rebuild every model and period.
        #[serde(default)]
        full: bool,
    },
    /// Maintain the lake: compaction, checkpoints, log clean-up and VACUUM, as `tonghop maintain`
    /// (`retention_days`, `compact`, `vacuum`; see [`tonghop_lake::maintain`]).
    Maintain(tonghop_lake::maintain::MaintainOptions),
    /// A model or table as files (`csv`, `xlsx`, `parquet`, `json`), as `tonghop export table`, each
    /// with its `<file>.versions.json`.
    Export(tonghop_export::TableRequest),
    /// The Excel report of Directive 25 for a unit and a period, as `tonghop export report`.
    Report(tonghop_export::ReportRequest),
    /// Rolled-up data elements as a DHIS2 data value set, as `tonghop export dhis2`: written as
    /// files (`formats`) and/or pushed (`push`).
    Dhis2(tonghop_export::Dhis2Request),
    /// A model or table pushed as JSON to a reporting portal with an idempotency key, as
    /// `tonghop export portal`.
    Portal(tonghop_export::PortalRequest),
    /// The periodic implementation review of a plan as a Word document, as `tonghop export review`.
    Review(tonghop_export::ReviewRequest),
}

impl StepKind {
    /// Runs the request of an export step (table, report, DHIS2, portal) with `ctx`: the one path
    /// the CLI's `tonghop export` takes too. None for ingest, build and maintain steps.
    pub async fn run_export(&self, ctx: &tonghop_export::ExportContext<'_>) -> Option<tonghop_export::Result<tonghop_export::ExportOutcome>> {
        Some(match self {
            StepKind::Export(request) => request.run(ctx).await,
            StepKind::Report(request) => request.run(ctx).await,
            StepKind::Dhis2(request) => request.run(ctx).await,
            StepKind::Portal(request) => request.run(ctx).await,
            StepKind::Review(request) => request.run(ctx).await,
            StepKind::Ingest(_) | StepKind::Build { .. } | StepKind::Maintain(_) => return None,
        })
    }
}

/// Where an export step writes: below the lake root, or a `file://`/`s3://` URL.
fn folder_problem(to: Option<&str>) -> Option<String> {
    let to = to?;
    let url = to.contains("://");
    (to.trim().is_empty() || to.contains("..") || (!url && to.starts_with('/')))
        .then(|| format!("writes to {to:?}; `to` must be a path below the lake root (such as \"outbox\") or a file:// or s3:// URL"))
}

impl PipelineSpec {
    /// Reads a spec file; syntax errors name the file and the line.
    pub fn load(path: &Path) -> Result<PipelineSpec> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        toml::from_str(&text).map_err(|e| Error::Invalid(vec![format!("{}: {e}", path.display())].into()))
    }

    /// Checks the spec against the known models and tables; returns every problem, each naming the
    /// file, the step and what to change.
    ///
    /// With `registry`, units named by report and DHIS2 steps are checked too.
    pub fn problems(&self, file: &Path, known_tables: &[String], registry: Option<&tonghop_core::UnitRegistry>, project_root: &Path) -> Vec<String> {
        let at = |step: &str| format!("{}: step {step:?}", file.display());
        let mut out = Vec::new();
        if self.steps.is_empty() {
            out.push(format!("{}: the pipeline has no [[steps]]", file.display()));
        }
        if let Some(expression) = &self.schedule {
            if let Err(e) = crate::schedule::Schedule::parse(expression, &self.timezone) {
                out.push(format!("{}: {e}", file.display()));
            }
        }
        let mut names = HashSet::new();
        for step in &self.steps {
            if !names.insert(step.name.as_str()) {
                out.push(format!("{} appears twice; step names must be unique", at(&step.name)));
            }
            if step.timeout_seconds == Some(0) {
                out.push(format!("{} has timeout_seconds = 0; give the step time to run, or remove the line for no limit", at(&step.name)));
            }
            if step.retries > 10 {
                out.push(format!("{} has retries = {}; use at most 10 (each waits twice as long as the one before)", at(&step.name), step.retries));
            }
            if let StepKind::Ingest(inbox) = &step.kind {
                out.extend(inbox.problems(project_root).into_iter().map(|p| format!("{}: {p}", at(&step.name))));
            }
            let checks = tonghop_export::Checks { known_tables, registry, files_root: project_root, today: tonghop_core::period::today_in_vietnam() };
            let (problems, to) = match &step.kind {
                StepKind::Ingest(_) | StepKind::Build { .. } => (Vec::new(), None),
                StepKind::Maintain(options) => (options.problem().into_iter().collect(), None),
                StepKind::Export(request) => (request.problems(&checks), request.to.as_deref()),
                StepKind::Report(request) => (request.problems(&checks), request.to.as_deref()),
                StepKind::Dhis2(request) => (request.problems(&checks), request.to.as_deref()),
                StepKind::Portal(request) => (request.problems(&checks), None),
                StepKind::Review(request) => (request.problems(&checks), request.to.as_deref()),
            };
            out.extend(problems.into_iter().chain(folder_problem(to)).map(|p| format!("{}: {p}", at(&step.name))));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonghop_export::PushRetry;

    #[test]
    fn the_shipped_nightly_pipeline_parses() {
        let path = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../pipelines/nightly.toml");
        let spec = PipelineSpec::load(&path).unwrap();
        assert_eq!(spec.name, "nightly");
        assert_eq!(spec.timezone, "Asia/Ho_Chi_Minh");
        let known = vec!["province_indicators".to_string()];
        let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../..");
        assert!(spec.problems(&path, &known, None, &root).is_empty(), "{:?}", spec.problems(&path, &known, None, &root));
        assert!(matches!(&spec.steps[0].kind, StepKind::Ingest(i) if i.source == "inbox" && !i.keep));
    }

    #[test]
    fn relative_periods_resolve_on_the_day_the_step_runs() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 4, 15).unwrap();
        let resolve = tonghop_core::period::resolve_relative;
        assert_eq!(resolve("previous_month", today), "202603");
        assert_eq!(resolve("previous_quarter", today), "2026Q1");
        assert_eq!(resolve("previous_year_to_date", today), "2026YTD03");
        assert_eq!(resolve("2025Q4", today), "2025Q4");
        let spec: PipelineSpec =
            toml::from_str("name = \"x\"\n[[steps]]\nname = \"a\"\nkind = \"report\"\nunit = \"VN\"\nperiod = \"previous_quater\"\n").unwrap();
        let problems = spec.problems(Path::new("p.toml"), &[], None, Path::new("."));
        assert!(problems.len() == 1 && problems[0].contains("previous_quarter"), "{problems:#?}");
    }

    #[test]
    fn the_shipped_exports_example_is_valid() {
        let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../..");
        let path = root.join("pipelines/exports.toml");
        let spec = PipelineSpec::load(&path).unwrap();
        assert!(spec.schedule.is_none(), "the example needs a network: it must not be scheduled");
        let known = vec!["province_indicators".to_string()];
        assert!(spec.problems(&path, &known, None, &root).is_empty(), "{:?}", spec.problems(&path, &known, None, &root));
        let kinds: Vec<&str> = spec
            .steps
            .iter()
            .map(|s| match s.kind {
                StepKind::Report(_) => "report",
                StepKind::Dhis2(_) => "dhis2",
                StepKind::Portal(_) => "portal",
                StepKind::Review(_) => "review",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["report", "review", "dhis2", "portal"]);
        assert!(matches!(&spec.steps[2].kind, StepKind::Dhis2(r) if r.push_retry == PushRetry { attempts: 5, delay_ms: 2000 }));
    }

    #[test]
    fn every_problem_is_reported_with_step_and_fix() {
        let spec: PipelineSpec = toml::from_str(
            r#"name = "x"
            [[steps]]
            name = "a"
            kind = "export"
            model = "province_indicator"
            formats = ["pdf"]
            to = "/etc/x"
            [[steps]]
            name = "a"
            kind = "build"
            [[steps]]
            name = "in"
            kind = "ingest"
            source = "inbox"
            format = "xls"
            mapping = "no/such/mapping.csv""#,
        )
        .unwrap();
        let problems = spec.problems(Path::new("p.toml"), &["province_indicators".into()], None, Path::new("."));
        assert_eq!(problems.len(), 6, "{problems:#?}");
        assert!(problems.iter().any(|p| p.starts_with(r#"p.toml: step "in": unknown format "xls"; expected one of csv, "#)), "{problems:#?}");
        assert!(problems.iter().any(|p| p.starts_with(r#"p.toml: step "in": mapping: "#) && p.contains("no/such/mapping.csv")), "{problems:#?}");
        assert!(
            problems.iter().any(|p| p.contains(r#"p.toml: step "a": unknown table "province_indicator" (did you mean province_indicators?)"#)),
            "{problems:#?}"
        );
        assert!(problems.iter().any(|p| p.contains(r#"p.toml: step "a": format "pdf" is not one of csv, xlsx, parquet, json"#)), "{problems:#?}");
    }

    #[test]
    fn a_build_step_is_incremental_unless_it_says_full() {
        let spec: PipelineSpec =
            toml::from_str("name = \"x\"\n[[steps]]\nname = \"a\"\nkind = \"build\"\n[[steps]]\nname = \"b\"\nkind = \"build\"\nfull = true\n").unwrap();
        assert!(matches!(spec.steps[0].kind, StepKind::Build { full: false }));
        assert!(matches!(spec.steps[1].kind, StepKind::Build { full: true }));
        let err = toml::from_str::<PipelineSpec>("name = \"x\"\n[[steps]]\nname = \"a\"\nkind = \"build\"\nful = true\n").unwrap_err().to_string();
        assert!(err.contains("ful"), "{err}");
    }

    #[test]
    fn timeouts_and_retries_are_read_and_checked() {
        let spec: PipelineSpec = toml::from_str(
            "name = \"x\"\n[[steps]]\nname = \"a\"\nkind = \"build\"\ntimeout_seconds = 600\nretries = 2\n[[steps]]\nname = \"b\"\nkind = \"build\"\ntimeout_seconds = 0\nretries = 11\n",
        )
        .unwrap();
        let a = &spec.steps[0];
        assert_eq!((a.timeout_seconds, a.retries, a.retry_delay_seconds), (Some(600), 2, 30));
        assert!(matches!(a.kind, StepKind::Build { full: false }));
        let problems = spec.problems(Path::new("p.toml"), &[], None, Path::new("."));
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems[0].starts_with(r#"p.toml: step "b" has timeout_seconds = 0"#), "{problems:#?}");
        assert!(problems[1].starts_with(r#"p.toml: step "b" has retries = 11; use at most 10"#), "{problems:#?}");
    }

    #[test]
    fn unknown_ingest_options_are_refused() {
        let err = toml::from_str::<PipelineSpec>("name = \"x\"\n[[steps]]\nname = \"a\"\nkind = \"ingest\"\nsource = \"inbox\"\narchiv = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("archiv"), "{err}");
    }

    #[test]
    fn export_steps_are_read_and_every_problem_named() {
        let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../..");
        let spec: PipelineSpec = toml::from_str(
            r#"name = "x"
            [[steps]]
            name = "report"
            kind = "report"
            unit = "04"
            period = "2026Q5"
            to = "../elsewhere"
            [[steps]]
            name = "dhis2"
            kind = "dhis2"
            periods = ["2026N9", "202403"]
            levels = ["ward"]
            mapping = "no/such/mapping.csv"
            formats = ["xml"]
            push = "ftp://dhis2"
            [[steps]]
            name = "dhis2_nothing"
            kind = "dhis2"
            periods = ["202603"]
            mapping = "crates/formats/tests/data/dhis2/mapping.csv"
            [[steps]]
            name = "portal"
            kind = "portal"
            model = "province_indicator"
            url = "not a url"
            [[steps]]
            name = "fine"
            kind = "dhis2"
            periods = ["2026Q1", "202603"]
            mapping = "crates/formats/tests/data/dhis2/mapping.csv"
            formats = ["json", "csv"]
            push = "https://dhis2.example.org"
            user = "admin""#,
        )
        .unwrap();
        let problems = spec.problems(Path::new("p.toml"), &["province_indicators".into()], None, &root);
        let expected = [
            r#"p.toml: step "report": period "2026Q5""#,
            r#"p.toml: step "report": writes to "../elsewhere""#,
            r#"p.toml: step "dhis2": period 2026N9 has no DHIS2 period type"#,
            r#"p.toml: step "dhis2": periods of both epochs"#,
            r#"p.toml: step "dhis2": level "ward""#,
            r#"p.toml: step "dhis2": mapping: "#,
            r#"p.toml: step "dhis2": format "xml""#,
            r#"p.toml: step "dhis2": push target "ftp://dhis2""#,
            r#"p.toml: step "dhis2_nothing": writes nothing"#,
            r#"p.toml: step "portal": unknown table "province_indicator" (did you mean province_indicators?)"#,
            r#"p.toml: step "portal": push target "not a url""#,
        ];
        for e in expected {
            assert!(problems.iter().any(|p| p.starts_with(e)), "{e}\n{problems:#?}");
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
        assert!(matches!(&spec.steps[4].kind, StepKind::Dhis2(r) if r.to.is_none() && r.password_env.is_none() && r.push_retry == PushRetry::default()));
    }

    #[test]
    fn unknown_step_kinds_are_refused_with_the_line() {
        let err = toml::from_str::<PipelineSpec>("name = \"x\"\n[[steps]]\nname = \"a\"\nkind = \"email\"\n").unwrap_err().to_string();
        assert!(err.contains("email"), "{err}");
    }
}
