//! [`Engine::run_tests`]: the tests declared beside each model, run after every build.

use crate::models::{self, Incremental};
use crate::refresh::{Chunk, Scope};
use crate::{Engine, Error, Model, Result};

/// `(SELECT * FROM name WHERE period IN (…)) AS name`: a model's rows for some periods, under its
/// own name (what chunks are computed from and model tests run on).
fn for_periods<'a>(name: &str, periods: impl IntoIterator<Item = &'a String>) -> String {
    format!("(SELECT * FROM {name} WHERE period IN ({})) AS {name}", tonghop_core::sql::literal_list(periods))
}

impl Engine {
    /// True for a view whose SQL, or the SQL of a view it reads, uses one of `macros` (names of
    /// [`models::MACROS`]). A view reading any of them is computed over all of history when read
    /// whole, so its tests run chunk by chunk; one reading only `refresh_months` is keyed by month.
    fn view_reads(&self, model: &Model, macros: &[&str]) -> bool {
        if !model.is_view() {
            return false;
        }
        macros.iter().any(|m| model.sql.contains(m))
            || model.depends_on.iter().any(|d| self.models.iter().find(|m| &m.name == d).is_some_and(|m| self.view_reads(m, macros)))
    }

    /// Runs every model test; fails listing every failure (model, test, offending rows, a sample).
    /// Tests of incremental models, and of views that use refresh macros, run chunk by chunk over
    /// the periods of `scope` (the rest was tested when it was built), which also bounds memory.
    #[tracing::instrument(skip_all)]
    pub async fn run_tests(&self, scope: &Scope) -> Result<usize> {
        let mut failures = Vec::new();
        let mut passed = 0;
        for (position, model) in self.models.iter().enumerate() {
            if model.test_queries().is_empty() {
                continue;
            }
            let chunked = model.incremental.is_some() || self.view_reads(model, &models::MACROS);
            // A view narrowed by months only is tested over the dirty months: its other months
            // read nothing that changed since they were last tested.
            let kind = model.incremental.unwrap_or(if self.view_reads(model, &models::MACROS[1..]) { Incremental::Period } else { Incremental::Month });
            let chunks: Vec<Option<Chunk>> = if chunked { scope.chunks(kind).into_iter().map(Some).collect() } else { vec![None] };
            // Tests of an incremental model: the unique ones (a hash table of the grain) a year at
            // a time, the others (filters) in one pass over the refreshed periods.
            let all_periods = for_periods(&model.name, &scope.periods);
            #[allow(clippy::type_complexity)]
            let mut runs: Vec<(Option<&Chunk>, Vec<(String, String)>)> = Vec::new();
            if model.incremental.is_some() {
                if !scope.is_empty() {
                    runs.push((None, model.test_queries_over(&all_periods).into_iter().filter(|(l, _)| !l.starts_with("unique(")).collect()));
                }
                for chunk in &chunks {
                    let c = chunk.as_ref().expect("incremental models are chunked");
                    let source = for_periods(&model.name, &c.periods);
                    runs.push((Some(c), model.test_queries_over(&source).into_iter().filter(|(l, _)| l.starts_with("unique(")).collect()));
                }
            } else {
                for chunk in &chunks {
                    runs.push((chunk.as_ref(), model.test_queries()));
                }
            }
            for (chunk, tests) in runs {
                if let Some(c) = chunk.filter(|_| model.incremental.is_none()) {
                    for view in self.models[..=position].iter().filter(|m| m.is_view()) {
                        self.create_view(view, Some(c)).await?;
                    }
                }
                for (label, sql) in tests {
                    let started = std::time::Instant::now();
                    let batches = self.ctx.sql(&sql).await?.limit(0, Some(3))?.collect().await?;
                    tracing::debug!(model = %model.name, test = %label, seconds = started.elapsed().as_secs_f64(), "model test run");
                    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                    if rows == 0 {
                        passed += 1;
                    } else {
                        let sample = arrow::util::pretty::pretty_format_batches(&batches).map(|t| t.to_string()).unwrap_or_default();
                        let within = chunk.map(|c| format!(" (periods {}…)", c.periods[0])).unwrap_or_default();
                        failures.push(format!("{} ({}): {label} failed{within}, e.g.\n{sample}", model.name, model.path.display()));
                    }
                }
            }
            if chunked && model.incremental.is_none() {
                for view in self.models[..=position].iter().filter(|m| m.is_view()) {
                    self.create_view(view, None).await?;
                }
            }
        }
        if failures.is_empty() {
            Ok(passed)
        } else {
            Err(Error::TestsFailed(failures))
        }
    }
}
