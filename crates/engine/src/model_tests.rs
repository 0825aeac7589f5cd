//! [`Engine::run_tests`]: the tests declared beside each model, run after every build.

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use futures::StreamExt;

use crate::models::{self, Incremental};
use crate::refresh::{Chunk, Scope};
use crate::{Engine, Error, Model, Result};

/// Model tests to run over one source (the model, or some of its partitions): a unique test, or
/// the row checks counted together in one scan.
struct TestRun<'a> {
    model: &'a Model,
    /// The model's name, or a subquery of some of its rows aliased to it.
    source: String,
    what: Tests,
    /// Where it ran, for the failure message (" (period 2026…)"); empty for a whole model.
    within: String,
}

/// What running some tests gives: how many passed, and a message for each failure.
type Outcome = (usize, Vec<String>);

enum Tests {
    /// A unique test: its screen, then, only if the screen finds a group, the exact query.
    Unique(models::UniqueTest),
    /// Row checks: one scan counts the failing rows of each; a sample is read for those that fail.
    Rows(Vec<models::RowCheck>),
}

impl Tests {
    fn count(&self) -> usize {
        match self {
            Tests::Unique(..) => 1,
            Tests::Rows(checks) => checks.len(),
        }
    }
}

/// The tests of `model` over `source`: each unique test alone when `unique`, the row checks
/// together when `rows`.
fn tests_over<'a>(model: &'a Model, source: String, within: &str, unique: bool, rows: bool) -> Vec<TestRun<'a>> {
    let mut out = Vec::new();
    if unique {
        for test in model.unique_tests_over(&source) {
            out.push(TestRun { model, source: source.clone(), what: Tests::Unique(test), within: within.to_string() });
        }
    }
    let checks = model.row_checks();
    if rows && !checks.is_empty() {
        out.push(TestRun { model, source, what: Tests::Rows(checks), within: within.to_string() });
    }
    out
}

/// `(SELECT * FROM name WHERE column IN (…)) AS name`: a model's rows for some periods (or epochs),
/// under its own name (what model tests run on).
fn for_partitions<'a>(name: &str, column: &str, values: impl IntoIterator<Item = &'a String>) -> String {
    format!("(SELECT * FROM {name} WHERE {column} IN ({})) AS {name}", tonghop_core::sql::literal_list(values))
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

    /// Runs some tests: how many passed, and a message for each failure (model, test, where, a sample).
    async fn run_test(&self, test: &TestRun<'_>) -> Result<Outcome> {
        let started = std::time::Instant::now();
        let sample =
            |batches: &[arrow::record_batch::RecordBatch]| arrow::util::pretty::pretty_format_batches(batches).map(|t| t.to_string()).unwrap_or_default();
        let failure =
            |label: &str, sample: String| format!("{} ({}): {label} failed{}, e.g.\n{sample}", test.model.name, test.model.path.display(), test.within);
        let mut failures = Vec::new();
        match &test.what {
            Tests::Unique(test) => {
                let found = |batches: &[arrow::record_batch::RecordBatch]| batches.iter().any(|b| b.num_rows() > 0);
                if found(&self.ctx.sql(&test.screen).await?.limit(0, Some(1))?.collect().await?) {
                    let batches = self.ctx.sql(&test.exact).await?.limit(0, Some(3))?.collect().await?;
                    if found(&batches) {
                        failures.push(failure(&test.label, sample(&batches)));
                    }
                }
            }
            Tests::Rows(checks) => {
                let counts =
                    checks.iter().enumerate().map(|(i, c)| format!("SUM(CASE WHEN {} THEN 1 ELSE 0 END) AS c{i}", c.condition)).collect::<Vec<_>>().join(", ");
                let batches = self.ctx.sql(&format!("SELECT {counts} FROM {}", test.source)).await?.collect().await?;
                // One row of counts (NULL over no rows: nothing failed).
                let failing = |i: usize| {
                    batches.iter().any(|b| b.column(i).as_primitive_opt::<Int64Type>().is_some_and(|counts| counts.iter().any(|n| n.unwrap_or(0) > 0)))
                };
                for (i, check) in checks.iter().enumerate() {
                    if failing(i) {
                        let rows = self
                            .ctx
                            .sql(&format!("SELECT {} FROM {} WHERE {}", check.columns, test.source, check.condition))
                            .await?
                            .limit(0, Some(3))?
                            .collect()
                            .await?;
                        failures.push(failure(&check.label, sample(&rows)));
                    }
                }
            }
        }
        tracing::debug!(model = %test.model.name, tests = test.what.count(), seconds = started.elapsed().as_secs_f64(), "model tests run");
        Ok((test.what.count() - failures.len(), failures))
    }

    /// Runs every model test; fails listing every failure (model, test, offending rows, a sample).
    /// Tests of incremental models, and of views that use refresh macros, run chunk by chunk over
    /// the periods of `scope` (the rest was tested when it was built), which also bounds memory.
    /// The tests of views narrowed per chunk run one after the other (each chunk re-creates the
    /// views); all others, which read the session as it is, run a few at a time (most are small
    /// queries whose planning, on one core, is most of their time).
    #[tracing::instrument(skip_all)]
    pub async fn run_tests(&self, scope: &Scope) -> Result<usize> {
        let mut failures = Vec::new();
        let mut passed = 0;
        let mut independent: Vec<TestRun> = Vec::new();
        for (position, model) in self.models.iter().enumerate() {
            if !model.has_tests() {
                continue;
            }
            let chunked = model.incremental.is_some() || self.view_reads(model, &models::MACROS);
            // A view narrowed by months only is tested over the dirty months: its other months
            // read nothing that changed since they were last tested.
            let kind = model.incremental.unwrap_or(if self.view_reads(model, &models::MACROS[1..3]) { Incremental::Period } else { Incremental::Month });
            let chunks: Vec<Option<Chunk>> = if chunked { scope.chunks(kind).into_iter().map(Some).collect() } else { vec![None] };
            // Tests of an incremental model: the unique ones (a hash table of the grain) a year at
            // a time, the others (filters) in one pass over the refreshed periods.
            let column = kind.partition_column();
            let within = |c: &Chunk| c.partitions(kind).first().map(|p| format!(" ({column} {p}…)")).unwrap_or_default();
            if model.incremental.is_some() {
                if !scope.is_empty() {
                    independent.extend(tests_over(model, for_partitions(&model.name, column, scope.partitions(kind)), "", false, true));
                }
                for chunk in chunks.iter().flatten() {
                    independent.extend(tests_over(model, for_partitions(&model.name, column, chunk.partitions(kind)), &within(chunk), true, false));
                }
                continue;
            }
            for chunk in &chunks {
                let tests = tests_over(model, model.name.clone(), &chunk.as_ref().map(within).unwrap_or_default(), true, true);
                let Some(c) = chunk else {
                    independent.extend(tests);
                    continue;
                };
                for view in self.models[..=position].iter().filter(|m| m.is_view()) {
                    self.create_view(view, Some(c)).await?;
                }
                for test in tests {
                    let (ok, failed) = self.run_test(&test).await?;
                    passed += ok;
                    failures.extend(failed);
                }
            }
            if chunked && model.incremental.is_none() {
                for view in self.models[..=position].iter().filter(|m| m.is_view()) {
                    self.create_view(view, None).await?;
                }
            }
        }
        // In the models' order, whichever finishes first.
        let concurrency = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        // The futures are made first: a stream mapping them with a closure is not `Send` for
        // every lifetime, which the service's handlers need.
        let runs: Vec<_> = independent.iter().enumerate().map(|(i, test)| async move { (i, self.run_test(test).await) }).collect();
        let mut results: Vec<(usize, Result<Outcome>)> = futures::stream::iter(runs).buffer_unordered(concurrency).collect().await;
        results.sort_by_key(|(i, _)| *i);
        for (_, result) in results {
            let (ok, failed) = result?;
            passed += ok;
            failures.extend(failed);
        }
        if failures.is_empty() {
            Ok(passed)
        } else {
            Err(Error::TestsFailed(failures))
        }
    }
}
