//! Any model or table as files: CSV, Excel, Parquet, JSON.

use serde::Deserialize;

use super::{refuse, unknown_table_problem, Bare, Checks, ExportContext, ExportOutcome};
use crate::{ExtractFormat, Result, SheetSpec};

/// A model or table, optionally filtered, written in one or more formats (`tonghop export table`,
/// the pipeline's `kind = "export"`), each file with its `<file>.versions.json`. The rows are
/// ordered by every column, so the same rows give the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRequest {
    /// The model or table (`model` in a pipeline step).
    #[serde(rename = "model", alias = "table")]
    pub table: String,
    /// A SQL predicate on its columns (`where` in a pipeline step).
    #[serde(default, rename = "where")]
    pub predicate: Option<String>,
    /// `csv`, `xlsx`, `parquet` and/or `json`.
    pub formats: Vec<String>,
    /// A folder (files named `<table>.<format>`), a file name without extension
    /// (`outbox/province_indicators` → `outbox/province_indicators.csv`, `….xlsx`), or with one
    /// format a file name with its extension; default the context's folder.
    #[serde(default)]
    pub to: Option<String>,
    /// The Excel sheet's name (default: the table's).
    #[serde(default)]
    pub sheet: Option<String>,
    /// The Excel title row.
    #[serde(default)]
    pub title: Option<String>,
    /// Column → Vietnamese header label (Excel).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Column → Excel number format.
    #[serde(default)]
    pub number_formats: Vec<(String, String)>,
}

impl TableRequest {
    /// A request for one format, as the CLI makes it.
    pub fn new(table: impl Into<String>, predicate: Option<String>, format: ExtractFormat, to: Option<String>) -> TableRequest {
        TableRequest {
            table: table.into(),
            predicate,
            formats: vec![format.extension().to_string()],
            to,
            sheet: None,
            title: None,
            headers: Vec::new(),
            number_formats: Vec::new(),
        }
    }

    /// The formats, those that parse.
    fn parsed_formats(&self) -> Vec<ExtractFormat> {
        self.formats.iter().filter_map(|f| ExtractFormat::parse(f)).collect()
    }

    /// Every problem of the request, each saying what to change.
    pub fn problems(&self, checks: &Checks<'_>) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(unknown_table_problem(checks.known_tables, &self.table));
        let names: Vec<&str> = ExtractFormat::ALL.iter().map(|f| f.extension()).collect();
        for f in &self.formats {
            if ExtractFormat::parse(f).is_none() {
                out.push(format!("format {f:?} is not one of {}", names.join(", ")));
            }
        }
        if self.formats.is_empty() {
            out.push("no formats; add formats = [\"csv\", \"xlsx\"]".to_string());
        }
        if self.formats.len() > 1 && self.to.as_deref().and_then(|t| t.rsplit('/').next()).is_some_and(|last| last.contains('.')) {
            out.push(format!("to = {:?} names one file for {} formats; leave out the extension", self.to.as_deref().unwrap_or_default(), self.formats.len()));
        }
        out
    }

    /// The Excel layout: the sheet name, title and labels given, dated today.
    fn sheet_spec(&self, ctx: &ExportContext<'_>) -> SheetSpec {
        let mut spec = SheetSpec::new(self.sheet.clone().unwrap_or_else(|| self.table.clone()));
        spec.title = self.title.clone();
        spec.subtitle = Some(format!("Lập ngày {} · tonghop", ctx.today.format("%d/%m/%Y")));
        spec.headers = self.headers.clone();
        spec.number_formats = self.number_formats.clone();
        spec
    }

    /// Reads the rows once and writes every format; one line says how many rows went where.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Invalid`] listing the problems; the query's, writers' and store's errors.
    #[tracing::instrument(skip_all, fields(table = %self.table))]
    pub async fn run(&self, ctx: &ExportContext<'_>) -> Result<ExportOutcome> {
        refuse(&format!("the export of {}", self.table), ctx.check(|c| self.problems(c)))?;
        let batches = crate::extract::read_table(ctx.engine, &self.table, self.predicate.as_deref()).await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let predicate = self.predicate.as_deref().map(str::trim).filter(|p| !p.is_empty());
        let record = ctx.record(match predicate {
            Some(p) => format!("table {} where {p}", self.table),
            None => format!("table {}", self.table),
        });
        let sheet = self.sheet_spec(ctx);
        let mut files = Vec::new();
        for format in self.parsed_formats() {
            let default_name = format!("{}.{}", self.table.replace('.', "_"), format.extension());
            let target = ctx.target(self.to.as_deref(), &default_name, format.extension(), Bare::Stem)?;
            files.push(target.store(format.encode(&batches, &sheet)?, &record).await?);
        }
        Ok(ExportOutcome { lines: vec![format!("{rows} row(s) of {}: {}", self.table, files.join(", "))], files, pushes: Vec::new(), record })
    }
}
