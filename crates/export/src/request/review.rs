//! The periodic implementation review of a plan as a Word document.

use serde::Deserialize;

use super::{Bare, Checks, ExportContext, ExportOutcome};
use crate::review::{to_docx, Review, ReviewScope};
use crate::Result;

/// The review (báo cáo sơ kết / tổng kết) of a plan for a period (`tonghop export review`, the
/// pipeline's `kind = "review"`), with its `<file>.versions.json` beside it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// The plan's code in `catalog/plans/plans.csv` (`NA_KH_2024`).
    pub plan: String,
    /// A quarter, half-year, nine months or year (`2026S1`, `2026`), or a word of
    /// [`tonghop_core::period::RELATIVE_PERIODS`] (`previous_half_year`, …).
    pub period: String,
    /// The unit whose figures it gives, `post2025:<code>`; default the plan's unit in today's units.
    #[serde(default)]
    pub unit: Option<String>,
    /// A folder (the file named `so_ket_<plan>_<period>.docx`) or a file ending in `.docx`; default
    /// the context's folder.
    #[serde(default)]
    pub to: Option<String>,
}

impl ReviewRequest {
    /// Every problem of the request, each saying what to change (the plan itself is checked when
    /// the plans are at hand, at run time).
    pub fn problems(&self, checks: &Checks<'_>) -> Vec<String> {
        let mut out = Vec::new();
        match tonghop_core::period::parse_relative(&self.period, checks.today) {
            Ok(p) => out.extend(tonghop_core::plans::review_period(&p.to_string()).err()),
            Err(e) => out.push(e),
        }
        if self.plan.trim().is_empty() {
            out.push("plan: give the code of a plan of catalog/plans/plans.csv".into());
        }
        out
    }

    /// Gathers the review, writes it and its record; one line says what was written.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Invalid`] naming what is wrong with the plan, period or unit; the
    /// queries' and the store's errors.
    #[tracing::instrument(skip_all, fields(plan = %self.plan, period = %self.period))]
    pub async fn run(&self, ctx: &ExportContext<'_>) -> Result<ExportOutcome> {
        let invalid = |problem: String| crate::Error::Invalid { what: "the review".into(), problems: vec![problem].into() };
        let period = tonghop_core::period::parse_relative(&self.period, ctx.today).map_err(invalid)?;
        let scope = ReviewScope::resolve(&ctx.catalog.plans, ctx.registry, &self.plan, &period.to_string(), self.unit.as_deref()).map_err(invalid)?;
        let target = ctx.target(self.to.as_deref(), &scope.file_name(), "docx", Bare::Folder)?;
        let review = Review::gather(ctx.engine, ctx.registry, ctx.catalog, &scope, ctx.today, ctx.produced_at).await?;
        let record = ctx.record(format!("review {} {} post2025:{}", scope.plan.code, scope.period, scope.unit.code));
        let url = target.store(to_docx(&review)?, &record).await?;
        let overdue = review.tasks.iter().filter(|t| t.overdue).count();
        Ok(ExportOutcome {
            lines: vec![format!("review {} {} ({} tasks, {overdue} behind): {url}", scope.plan.code, scope.period.name_vi(), review.tasks.len())],
            files: vec![url],
            pushes: Vec::new(),
            record,
        })
    }
}
