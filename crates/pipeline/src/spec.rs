//! Pipeline specs.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use tonghop_engine::models::edit_distance;

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
    /// Write a model or table as files.
    Export {
        /// The model or table.
        model: String,
        /// `csv` and/or `xlsx`.
        formats: Vec<String>,
        /// Destination below the lake root, without extension.
        to: String,
        /// Optional SQL filter (`WHERE` clause body).
        #[serde(default, rename = "where")]
        filter: Option<String>,
        /// XLSX sheet name.
        #[serde(default)]
        sheet: Option<String>,
        /// XLSX title row.
        #[serde(default)]
        title: Option<String>,
        /// Column → Vietnamese header label (XLSX).
        #[serde(default)]
        headers: Vec<(String, String)>,
        /// Column → Excel number format (XLSX).
        #[serde(default)]
        number_formats: Vec<(String, String)>,
    },
    /// The Excel report of Directive 25 for a unit and a period, as `tonghop export report`, with its
    /// `<file>.versions.json` beside it.
    Report {
        /// A province code (or a district before the reform) of the period's epoch, `epoch:code`, or `VN`.
        unit: String,
        /// The period code, or a word of [`RELATIVE_PERIODS`] (`previous_quarter`, …).
        period: String,
        /// The folder written to: below the lake root (default `outbox`), or a `file://`/`s3://` URL.
        #[serde(default = "default_outbox")]
        to: String,
    },
    /// Rolled-up data elements as a DHIS2 data value set, as `tonghop export dhis2`: written as
    /// files (`formats`) and/or pushed (`push`).
    Dhis2 {
        /// Period codes (months, quarters, six-months, years), all of one epoch, or words of
        /// [`RELATIVE_PERIODS`] (`previous_month`, `previous_quarter`, `previous_half_year`, `previous_year`).
        periods: Vec<String>,
        /// Units whose subtrees are exported (default: the nation).
        #[serde(default)]
        units: Vec<String>,
        /// Levels exported (default: province).
        #[serde(default)]
        levels: Vec<String>,
        /// The id-scheme mapping file, relative to the project.
        mapping: String,
        /// `json` and/or `csv` files to write (none: push only).
        #[serde(default)]
        formats: Vec<String>,
        /// The folder files are written to: below the lake root (default `outbox`), or a URL.
        #[serde(default = "default_outbox")]
        to: String,
        /// The DHIS2 data set uid written as dataSet.
        #[serde(default)]
        data_set: Option<String>,
        /// Leave out (and count) values without a DHIS2 id instead of failing.
        #[serde(default)]
        skip_unmapped: bool,
        /// The DHIS2 base URL to push to.
        #[serde(default)]
        push: Option<String>,
        /// Basic authentication user (the password is read from `password_env`); without it, a
        /// token in `token_env` is sent as `ApiToken`.
        #[serde(default)]
        user: Option<String>,
        /// The environment variable holding the password (default `TONGHOP_DHIS2_PASSWORD`).
        #[serde(default = "default_dhis2_password_env")]
        password_env: String,
        /// The environment variable holding a personal access token (default `TONGHOP_DHIS2_TOKEN`).
        #[serde(default = "default_dhis2_token_env")]
        token_env: String,
        /// Send even when this payload was accepted before.
        #[serde(default)]
        force: bool,
        /// Requests and waits of the push: `push_retry = { attempts = 5, delay_ms = 1000 }`.
        #[serde(default)]
        push_retry: PushRetry,
    },
    /// A model or table pushed as JSON to a reporting portal, with an idempotency key.
    Portal {
        /// The model or table.
        model: String,
        /// Optional SQL filter (`WHERE` clause body).
        #[serde(default, rename = "where")]
        filter: Option<String>,
        /// The portal's URL.
        url: String,
        /// The environment variable holding a bearer token, if the portal wants one.
        #[serde(default)]
        token_env: Option<String>,
        /// Send even when this payload was accepted before.
        #[serde(default)]
        force: bool,
        /// Requests and waits of the push: `push_retry = { attempts = 5, delay_ms = 1000 }`.
        #[serde(default)]
        push_retry: PushRetry,
    },
}

fn default_outbox() -> String {
    "outbox".into()
}

fn default_dhis2_password_env() -> String {
    "TONGHOP_DHIS2_PASSWORD".into()
}

fn default_dhis2_token_env() -> String {
    "TONGHOP_DHIS2_TOKEN".into()
}

/// The requests a push step makes: `attempts` in all, waiting `delay_ms` before the second and twice
/// as long before each next one (at most a minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushRetry {
    /// Requests in all (default 5).
    pub attempts: u32,
    /// Wait before the second request, in milliseconds (default 1000).
    pub delay_ms: u64,
}

impl Default for PushRetry {
    fn default() -> Self {
        PushRetry { attempts: 5, delay_ms: 1000 }
    }
}

impl PushRetry {
    /// As the export crate's retry policy.
    pub fn policy(&self) -> tonghop_export::RetryPolicy {
        tonghop_export::RetryPolicy { attempts: self.attempts.max(1), first_delay: std::time::Duration::from_millis(self.delay_ms), ..Default::default() }
    }
}

/// The period words an export step may use instead of a code, resolved on the day the step runs
/// (Vietnam's date) to the latest period of that type that has ended (see
/// [`tonghop_core::Period::latest_ended`]): on 2026-04-15 `previous_month` is `202603` and
/// `previous_quarter` is `2026Q1`.
pub const RELATIVE_PERIODS: [(&str, tonghop_core::PeriodType); 6] = [
    ("previous_month", tonghop_core::PeriodType::Month),
    ("previous_quarter", tonghop_core::PeriodType::Quarter),
    ("previous_half_year", tonghop_core::PeriodType::HalfYear),
    ("previous_nine_months", tonghop_core::PeriodType::NineMonths),
    ("previous_year", tonghop_core::PeriodType::Year),
    ("previous_year_to_date", tonghop_core::PeriodType::YearToDate),
];

/// A step's period: a word of [`RELATIVE_PERIODS`] resolved for `today`, or the code as written.
pub fn resolve_period(period: &str, today: chrono::NaiveDate) -> String {
    match RELATIVE_PERIODS.iter().find(|(word, _)| *word == period.trim()) {
        Some((_, kind)) => tonghop_core::Period::latest_ended(*kind, today).to_string(),
        None => period.to_string(),
    }
}

/// Where an export step writes: a folder below the lake root, or a `file://`/`s3://` URL.
fn folder_problem(to: &str) -> Option<String> {
    let url = to.contains("://");
    (to.trim().is_empty() || to.contains("..") || (!url && to.starts_with('/')))
        .then(|| format!("writes to {to:?}; `to` must be a folder below the lake root (such as \"outbox\") or a file:// or s3:// URL"))
}

const FORMATS: [&str; 2] = ["csv", "xlsx"];

impl PipelineSpec {
    /// Reads a spec file; syntax errors name the file and the line.
    pub fn load(path: &Path) -> Result<PipelineSpec> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        toml::from_str(&text).map_err(|e| Error::Invalid(vec![format!("{}: {e}", path.display())]))
    }

    /// Checks the spec against the known models and tables; returns every problem, each naming the
    /// file, the step and what to change.
    pub fn problems(&self, file: &Path, known_tables: &[String], project_root: &Path) -> Vec<String> {
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
            if let StepKind::Export { model, formats, to, .. } = &step.kind {
                if !known_tables.iter().any(|t| t == model) {
                    let hint = known_tables.iter().min_by_key(|t| edit_distance(t, model)).map(|t| format!(" (did you mean {t:?}?)")).unwrap_or_default();
                    out.push(format!("{} exports model {model:?}, which does not exist{hint}", at(&step.name)));
                }
                for f in formats {
                    if !FORMATS.contains(&f.as_str()) {
                        out.push(format!("{} has format {f:?}; use one of {FORMATS:?}", at(&step.name)));
                    }
                }
                if formats.is_empty() {
                    out.push(format!("{} has no formats; add formats = [\"csv\", \"xlsx\"]", at(&step.name)));
                }
                if to.is_empty() || to.starts_with('/') || to.contains("..") || to.contains("://") {
                    out.push(format!("{} writes to {to:?}; `to` must be a relative path below the lake root", at(&step.name)));
                }
            }
            out.extend(export_problems(&step.kind, known_tables, project_root).into_iter().map(|p| format!("{} {p}", at(&step.name))));
        }
        out
    }
}

/// The problems of a `report`, `dhis2` or `portal` step, each saying what to change.
fn export_problems(kind: &StepKind, known_tables: &[String], project_root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    // Relative periods are checked as they resolve today (Vietnam's date).
    let today = (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive();
    let period_problem = |period: &str| -> Option<String> {
        // Every period parses to one epoch's units (a straddling one to today's units).
        match resolve_period(period, today).parse::<tonghop_core::Period>() {
            Ok(_) => None,
            Err(e) => {
                let words = RELATIVE_PERIODS.map(|(w, _)| w).join(", ");
                Some(format!("has period {period:?}: {e}; or use one of {words}"))
            }
        }
    };
    let url_problem = |kind: tonghop_export::PushKind, url: &str| tonghop_export::push::request_url(kind, url).err().map(|e| format!("has {e}"));
    match kind {
        StepKind::Report { period, to, .. } => {
            out.extend(period_problem(period));
            out.extend(folder_problem(to));
        }
        StepKind::Dhis2 { periods, levels, mapping, formats, to, push, .. } => {
            if periods.is_empty() {
                out.push("has no periods; add periods = [\"2026Q1\"]".to_string());
            }
            let mut epochs = std::collections::BTreeSet::new();
            for period in periods {
                match period_problem(period) {
                    Some(p) => out.push(p),
                    None => {
                        let Ok(parsed) = resolve_period(period, today).parse::<tonghop_core::Period>() else { continue };
                        epochs.insert(tonghop_core::Epoch::of_units_for(&parsed));
                        if let Err(e) = tonghop_export::dhis2::check_dhis2_period(&parsed) {
                            out.push(format!("has {e}"));
                        }
                    }
                }
            }
            if epochs.len() > 1 {
                out.push("has periods of both epochs; use one step per epoch".to_string());
            }
            for level in levels {
                if tonghop_export::dhis2::parse_level(level).is_none() {
                    out.push(format!("has level {level:?}; use commune, district, province or national"));
                }
            }
            if let Err(e) = tonghop_formats::IdMapping::load(&project_root.join(mapping)) {
                out.push(format!("mapping: {e}"));
            }
            for f in formats {
                if tonghop_export::Dhis2Format::parse(f).is_none() {
                    out.push(format!("has format {f:?}; use \"json\" or \"csv\""));
                }
            }
            if formats.is_empty() && push.is_none() {
                out.push("writes nothing; add formats = [\"json\"] and/or push = \"https://<dhis2 server>\"".to_string());
            }
            out.extend(folder_problem(to));
            out.extend(push.as_deref().and_then(|p| url_problem(tonghop_export::PushKind::Dhis2, p)));
        }
        StepKind::Portal { model, url, .. } => {
            if !known_tables.iter().any(|t| t == model) {
                let hint = known_tables.iter().min_by_key(|t| edit_distance(t, model)).map(|t| format!(" (did you mean {t:?}?)")).unwrap_or_default();
                out.push(format!("pushes model {model:?}, which does not exist{hint}"));
            }
            out.extend(url_problem(tonghop_export::PushKind::Portal, url));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_nightly_pipeline_parses() {
        let path = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../pipelines/nightly.toml");
        let spec = PipelineSpec::load(&path).unwrap();
        assert_eq!(spec.name, "nightly");
        assert_eq!(spec.timezone, "Asia/Ho_Chi_Minh");
        let known = vec!["province_indicators".to_string()];
        let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../..");
        assert!(spec.problems(&path, &known, &root).is_empty(), "{:?}", spec.problems(&path, &known, &root));
        assert!(matches!(&spec.steps[0].kind, StepKind::Ingest(i) if i.source == "inbox" && !i.keep));
    }

    #[test]
    fn relative_periods_resolve_on_the_day_the_step_runs() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 4, 15).unwrap();
        assert_eq!(resolve_period("previous_month", today), "202603");
        assert_eq!(resolve_period("previous_quarter", today), "2026Q1");
        assert_eq!(resolve_period("previous_year_to_date", today), "2026YTD03");
        assert_eq!(resolve_period("2025Q4", today), "2025Q4");
        let spec: PipelineSpec =
            toml::from_str("name = \"x\"\n[[steps]]\nname = \"a\"\nkind = \"report\"\nunit = \"VN\"\nperiod = \"previous_quater\"\n").unwrap();
        let problems = spec.problems(Path::new("p.toml"), &[], Path::new("."));
        assert!(problems.len() == 1 && problems[0].contains("previous_quarter"), "{problems:#?}");
    }

    #[test]
    fn the_shipped_exports_example_is_valid() {
        let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../..");
        let path = root.join("pipelines/exports.toml");
        let spec = PipelineSpec::load(&path).unwrap();
        assert!(spec.schedule.is_none(), "the example needs a network: it must not be scheduled");
        let known = vec!["province_indicators".to_string()];
        assert!(spec.problems(&path, &known, &root).is_empty(), "{:?}", spec.problems(&path, &known, &root));
        let kinds: Vec<&str> = spec
            .steps
            .iter()
            .map(|s| match s.kind {
                StepKind::Report { .. } => "report",
                StepKind::Dhis2 { .. } => "dhis2",
                StepKind::Portal { .. } => "portal",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["report", "dhis2", "portal"]);
        assert!(matches!(&spec.steps[1].kind, StepKind::Dhis2 { push_retry: PushRetry { attempts: 5, delay_ms: 2000 }, .. }));
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
        let problems = spec.problems(Path::new("p.toml"), &["province_indicators".into()], Path::new("."));
        assert_eq!(problems.len(), 6, "{problems:#?}");
        assert!(problems.iter().any(|p| p.starts_with(r#"p.toml: step "in": unknown format "xls"; expected one of csv, "#)), "{problems:#?}");
        assert!(problems.iter().any(|p| p.starts_with(r#"p.toml: step "in": mapping: "#) && p.contains("no/such/mapping.csv")), "{problems:#?}");
        assert!(problems
            .iter()
            .any(|p| p.contains(r#"p.toml: step "a" exports model "province_indicator", which does not exist (did you mean "province_indicators"?)"#)));
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
        let problems = spec.problems(Path::new("p.toml"), &[], Path::new("."));
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
        let problems = spec.problems(Path::new("p.toml"), &["province_indicators".into()], &root);
        let expected = [
            r#"p.toml: step "report" has period "2026Q5""#,
            r#"p.toml: step "report" writes to "../elsewhere""#,
            r#"p.toml: step "dhis2" has period 2026N9 has no DHIS2 period type"#,
            r#"p.toml: step "dhis2" has periods of both epochs"#,
            r#"p.toml: step "dhis2" has level "ward""#,
            r#"p.toml: step "dhis2" mapping: "#,
            r#"p.toml: step "dhis2" has format "xml""#,
            r#"p.toml: step "dhis2" has push target "ftp://dhis2""#,
            r#"p.toml: step "dhis2_nothing" writes nothing"#,
            r#"p.toml: step "portal" pushes model "province_indicator", which does not exist (did you mean "province_indicators"?)"#,
            r#"p.toml: step "portal" has push target "not a url""#,
        ];
        for e in expected {
            assert!(problems.iter().any(|p| p.starts_with(e)), "{e}\n{problems:#?}");
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
        assert!(
            matches!(&spec.steps[4].kind, StepKind::Dhis2 { to, password_env, push_retry: PushRetry { attempts: 5, delay_ms: 1000 }, .. } if to == "outbox" && password_env == "TONGHOP_DHIS2_PASSWORD")
        );
    }

    #[test]
    fn unknown_step_kinds_are_refused_with_the_line() {
        let err = toml::from_str::<PipelineSpec>("name = \"x\"\n[[steps]]\nname = \"a\"\nkind = \"email\"\n").unwrap_err().to_string();
        assert!(err.contains("email"), "{err}");
    }
}
