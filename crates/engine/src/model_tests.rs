//! [`Engine::run_tests`]: the tests declared beside each model, run by every build (those of a
//! materialised model as soon as it is built, the rest once every model is).

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use futures::StreamExt;

use crate::models::{self, Incremental};
use crate::refresh::{Chunk, Scope};
use crate::{Engine, Error, Model, Result};

/// Model tests to run over one source (the model, or some of its partitions): a unique test, or
/// the row checks counted together in one scan.
pub(crate) struct TestRun<'a> {
    pub(crate) model: &'a Model,
    /// The model's name, or a subquery of some of its rows aliased to it.
    source: String,
    what: Tests,
    /// Where it ran, for the failure message (" (period 2026…)"); empty for a whole model.
    within: String,
}

/// What running some tests gives: how many passed, and a message for each failure.
pub(crate) type Outcome = (usize, Vec<String>);

/// The model tests a build has run so far: how many passed, and each failure with its model's
/// name (failures are listed in the models' order, whenever they ran).
#[derive(Default)]
pub(crate) struct Tested {
    passed: usize,
    failures: Vec<(String, String)>,
}

impl Tested {
    /// Counts the outcome of some tests of `model`.
    pub(crate) fn add(&mut self, model: &Model, (passed, failures): Outcome) {
        self.passed += passed;
        self.failures.extend(failures.into_iter().map(|f| (model.name.clone(), f)));
    }
}

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

/// Model tests run at the same time: one per core, at least two.
pub(crate) fn tests_at_once() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)
}

/// Where tests over `chunk` ran, for a failure message: " (period 2026…)".
fn within(kind: Incremental, chunk: &Chunk) -> String {
    chunk.partitions(kind).first().map(|p| format!(" ({} {p}…)", kind.partition_column())).unwrap_or_default()
}

/// The tests of a materialised model, which read its table and nothing else, so they can run
/// as soon as it is built, beside the models built after it. Those of an incremental model run
/// over the periods of `scope` (the rest was tested when it was built): the row checks (filters)
/// in one pass, the unique tests (a hash table of the grain) a chunk (a year) at a time, which
/// also bounds memory.
pub(crate) fn table_tests<'a>(model: &'a Model, scope: &Scope) -> Vec<TestRun<'a>> {
    let Some(kind) = model.incremental else { return tests_over(model, model.name.clone(), "", true, true) };
    let column = kind.partition_column();
    let mut tests = Vec::new();
    if !scope.is_empty() {
        tests.extend(tests_over(model, for_partitions(&model.name, column, scope.partitions(kind)), "", false, true));
    }
    for chunk in scope.chunks(kind) {
        tests.extend(tests_over(model, for_partitions(&model.name, column, chunk.partitions(kind)), &within(kind, &chunk), true, false));
    }
    tests
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
    pub(crate) async fn run_test(&self, test: &TestRun<'_>) -> Result<Outcome> {
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

    /// Runs the model tests of views and `memory` models (those of the materialised models ran as
    /// each was built: `tested`) and fails listing every failure (model, test, offending rows, a
    /// sample), in the models' order. Tests of views that use refresh macros run chunk by chunk over
    /// the periods of `scope`. The tests of views narrowed per chunk run one after the other (each
    /// chunk re-creates the views); all others, which read the session as it is, run a few at a
    /// time (most are small queries whose planning, on one core, is most of their time).
    #[tracing::instrument(skip_all)]
    pub(crate) async fn run_tests(&self, scope: &Scope, mut tested: Tested) -> Result<usize> {
        let mut independent: Vec<TestRun> = Vec::new();
        for (position, model) in self.models.iter().enumerate() {
            // A table's tests ran when it was built, or when the build found it built
            // (`Engine::build_remaining`); a table it cannot build fails the build.
            if !model.has_tests() || model.is_table() {
                continue;
            }
            let chunked = self.view_reads(model, &models::MACROS);
            // A view narrowed by months only is tested over the dirty months: its other months
            // read nothing that changed since they were last tested.
            let kind = if self.view_reads(model, &models::MACROS[1..3]) { Incremental::Period } else { Incremental::Month };
            let chunks: Vec<Option<Chunk>> = if chunked { scope.chunks(kind).into_iter().map(Some).collect() } else { vec![None] };
            for chunk in &chunks {
                let tests = tests_over(model, model.name.clone(), &chunk.as_ref().map(|c| within(kind, c)).unwrap_or_default(), true, true);
                let Some(c) = chunk else {
                    independent.extend(tests);
                    continue;
                };
                for view in self.models[..=position].iter().filter(|m| m.is_view()) {
                    self.create_view(view, Some(c)).await?;
                }
                for test in tests {
                    tested.add(model, self.run_test(&test).await?);
                }
            }
            if chunked {
                for view in self.models[..=position].iter().filter(|m| m.is_view()) {
                    self.create_view(view, None).await?;
                }
            }
        }
        // In the models' order, whichever finishes first.
        let concurrency = tests_at_once();
        // The futures are made first: a stream mapping them with a closure is not `Send` for
        // every lifetime, which the service's handlers need.
        let runs: Vec<_> = independent.iter().enumerate().map(|(i, test)| async move { (i, self.run_test(test).await) }).collect();
        let mut results: Vec<(usize, Result<Outcome>)> = futures::stream::iter(runs).buffer_unordered(concurrency).collect().await;
        results.sort_by_key(|(i, _)| *i);
        for (i, result) in results {
            tested.add(independent[i].model, result?);
        }
        if tested.failures.is_empty() {
            return Ok(tested.passed);
        }
        // Stable: a model's failures keep the order they were found in.
        tested.failures.sort_by_key(|(model, _)| self.models.iter().position(|m| &m.name == model));
        Err(Error::TestsFailed(tested.failures.into_iter().map(|(_, failure)| failure).collect()))
    }
}
