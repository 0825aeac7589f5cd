//! The Excel report of Directive 25 for a unit and a period.

use serde::Deserialize;

use super::{Bare, Checks, ExportContext, ExportOutcome};
use crate::review::{Review, ReviewScope};
use crate::{ReportData, ReportScope, Result};

/// The reviews of the catalog's plans whose unit today is the report's unit, when the period is
/// one a review covers (a quarter, half-year, nine months or year) and the figures are in today's
/// units; they reuse the report's figures.
async fn reviews(ctx: &ExportContext<'_>, data: &ReportData) -> Result<Vec<Review>> {
    let scope = &data.scope;
    if scope.epoch != tonghop_core::Epoch::Post2025 || tonghop_core::plans::review_period(&scope.period.to_string()).is_err() {
        return Ok(Vec::new());
    }
    let plans = &ctx.catalog.plans;
    let mut out = Vec::new();
    for plan in plans.plans.iter().filter(|p| plans.unit_today(p, ctx.registry).is_some_and(|(_, code)| code == scope.unit.code)) {
        let review_scope = ReviewScope { plan: plan.clone(), period: scope.period, unit: scope.unit.clone() };
        out.push(Review::with_figures(ctx.engine, ctx.catalog, &review_scope, Some(data), ctx.today).await?);
    }
    Ok(out)
}

/// The Excel report of Directive 25-CT/TW for a unit and a period (`tonghop export report`, the
/// pipeline's `kind = "report"`), with its `<file>.versions.json` beside it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// A province code (or a district before the reform) of the period's epoch, `epoch:code`, or `VN`.
    pub unit: String,
    /// The period code (`202603`, `2026Q1`, `2026S1`, `2026N9`, `2026`, `2026YTD05`) or a word of
    /// [`tonghop_core::period::RELATIVE_PERIODS`] (`previous_quarter`, …).
    pub period: String,
    /// A folder (the file named `bao_cao_<unit>_<period>.xlsx`) or a file ending in `.xlsx`; default
    /// the context's folder.
    #[serde(default)]
    pub to: Option<String>,
}

impl ReportRequest {
    /// Every problem of the request, each saying what to change.
    pub fn problems(&self, checks: &Checks<'_>) -> Vec<String> {
        match checks.registry {
            Some(registry) => self.scope(registry, checks.today).err().into_iter().collect(),
            None => tonghop_core::period::parse_relative(&self.period, checks.today).err().into_iter().collect(),
        }
    }

    /// The unit and period the request names, resolved on `today` (relative periods) in `registry`.
    fn scope(&self, registry: &tonghop_core::UnitRegistry, today: chrono::NaiveDate) -> std::result::Result<ReportScope, String> {
        let period = tonghop_core::period::parse_relative(&self.period, today)?;
        ReportScope::resolve(registry, &self.unit, &period.to_string()).map_err(|e| e.to_string())
    }

    /// Gathers the report, writes it and its record; one line says what was written.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Invalid`] listing the problems; the report's and the store's errors.
    #[tracing::instrument(skip_all, fields(unit = %self.unit, period = %self.period))]
    pub async fn run(&self, ctx: &ExportContext<'_>) -> Result<ExportOutcome> {
        let scope =
            self.scope(ctx.registry, ctx.today).map_err(|problem| crate::Error::Invalid { what: "the report".into(), problems: vec![problem].into() })?;
        let label = format!("{} {}", scope.unit_label(), scope.period.name_vi());
        let target = ctx.target(self.to.as_deref(), &scope.file_name(), "xlsx", Bare::Folder)?;
        let mut data = ReportData::gather(ctx.engine, ctx.catalog, scope, ctx.produced_at).await?;
        data.frame = Some(ctx.catalog.frames.for_unit(&data.scope.unit));
        data.reviews = reviews(ctx, &data).await?;
        let record = ctx.record(format!("report {}:{} {}", data.scope.epoch, data.scope.unit.code, data.scope.period));
        let url = target.store(data.to_xlsx()?, &record).await?;
        Ok(ExportOutcome { lines: vec![format!("report {label}: {url}")], files: vec![url], pushes: Vec::new(), record })
    }
}
