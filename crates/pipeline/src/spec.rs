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
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_nightly_pipeline_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/nightly.toml");
        let spec = PipelineSpec::load(&path).unwrap();
        assert_eq!(spec.name, "nightly");
        assert_eq!(spec.timezone, "Asia/Ho_Chi_Minh");
        let known = vec!["province_indicators".to_string()];
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        assert!(spec.problems(&path, &known, &root).is_empty(), "{:?}", spec.problems(&path, &known, &root));
        assert!(matches!(&spec.steps[0].kind, StepKind::Ingest(i) if i.source == "inbox" && !i.keep));
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
        assert!(problems.iter().any(|p| p.contains(r#"p.toml: step "a" exports model "province_indicator", which does not exist (did you mean "province_indicators"?)"#)));
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
    fn unknown_step_kinds_are_refused_with_the_line() {
        let err = toml::from_str::<PipelineSpec>("name = \"x\"\n[[steps]]\nname = \"a\"\nkind = \"email\"\n").unwrap_err().to_string();
        assert!(err.contains("email"), "{err}");
    }
}
