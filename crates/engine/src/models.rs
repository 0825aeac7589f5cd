//! The `sql/` project: one model per `.sql` file (the file name is the view name), a header of
//! `-- key: value` comments, and an optional `<name>.toml` beside it with column docs and tests.
//!
//! ```sql
//! -- grain: one row per (epoch, period, level, unit_code, indicator)
//! -- materialized: table
//! -- incremental: period
//! SELECT ...
//! ```
//!
//! **Layers.** The folder a model lives in is its [`Layer`]: `sources/` (the lake tables declared as
//! views, committed rows only; the only models that read `lake.*`), `staging/` (one source renamed
//! and cast, nothing more), `intermediate/`, `marts/` (the figures people read), `reports/` (marts
//! shaped for one report or export) and `audit/` (views for audits, reading any layer). A model reads
//! its own layer and those before it; [`load`] reports every break of these rules at once.
//!
//! `materialized` is `view` (the default: computed when read), `memory` (computed once per build and
//! held in memory for the models after it: small intermediates only), `chunk` (a view with refresh
//! macros that an incremental model reads more than once: while such a model is built, it is
//! computed once per chunk and held in memory for that chunk; DataFusion would otherwise compute it
//! again at every reference) or `table` (a Delta table
//! under `models/<name>` on the lake). A table may be `incremental: month` (one row set per month
//! in its `period` column) or `incremental: period` (rows of every period type in `period`): a build
//! then recomputes only the periods touched since the last build (only the months for `month`), a
//! calendar year at a time, see [`crate::refresh`]. Such models narrow what they read with the refresh
//! macros, which expand per chunk of the refresh and to `TRUE` everywhere else:
//!
//! - `{{ refresh_months(expr) }}`: `expr IN (…)` the months of the periods being refreshed;
//! - `{{ refresh_periods(expr) }}`: `expr IN (…)` the periods being refreshed;
//! - `{{ refresh_previous_periods(expr) }}`: `expr IN (…)` the same periods a year earlier.
//!
//! A table may also say `-- order_by: col, col…`: its rows are written in that order (within each
//! period for an incremental one), in small row groups, so that a filter on the leading columns
//! skips most of the file (an `ORDER BY` inside the model's SQL would be dropped by the optimiser,
//! as in any subquery). When the list is plain column names, each file is tagged with it and the
//! table is read by the Parquet scan that declares that order, so queries ordered the same way (or
//! by its columns after ones a filter fixes) are not sorted again.
//!
//! `-- join_order: as_written` builds every hash join of a materialised model from its left input,
//! as written. DataFusion otherwise swaps inputs by their estimated sizes, and it can misjudge an
//! aggregate: `monthly_values` read a year of `data_values` (1.8 GB) into a hash table where the
//! 120k commune-months were the small side. Each such join is built whole, one table that every
//! partition of the right input probes, so the right input is not repartitioned by hash first.
//!
//! Dependencies are the tables the SQL reads (found by DataFusion's SQL parser, common table
//! expressions aside) that are other models; models are created in dependency order and a cycle is
//! an error. A table that is neither a model nor a registered table is reported with the file and
//! the name by [`crate::Engine::unresolved_references`] (and fails the build before anything runs).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

/// Tests declared beside a model, run by every build (a materialised model's as soon as it is built).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelTests {
    /// Column sets that must be unique (the grain).
    #[serde(default)]
    pub unique: Vec<Vec<String>>,
    /// Columns that must never be NULL.
    #[serde(default)]
    pub not_null: Vec<String>,
    /// Columns whose values must be in a list.
    #[serde(default)]
    pub accepted_values: BTreeMap<String, Vec<String>>,
    /// Columns whose values must lie in [min, max] (NULLs pass).
    #[serde(default)]
    pub accepted_range: BTreeMap<String, Range>,
}

/// An inclusive numeric range.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Lower bound.
    pub min: Option<f64>,
    /// Upper bound.
    pub max: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelDoc {
    #[serde(default)]
    description: String,
    #[serde(default)]
    columns: BTreeMap<String, String>,
    #[serde(default)]
    tests: ModelTests,
}

/// The layer of a model: the folder of `sql/` it lives in. A model reads models of its own layer
/// and of the layers before it (sources → staging → intermediate → marts → reports); audit views read
/// any layer. Only sources read the raw lake tables (`lake.*`), and staging only renames and casts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// `sql/sources/`: the lake tables as declared views (committed rows only).
    Sources,
    /// `sql/staging/`: one source renamed and cast, nothing more (no joins, filters or aggregates).
    Staging,
    /// `sql/intermediate/`: the steps between the sources and the marts.
    Intermediate,
    /// `sql/marts/`: the figures people read (indicator values, completeness, quality).
    Marts,
    /// `sql/reports/`: the marts shaped for one report or export.
    Reports,
    /// `sql/audit/`: views for audits and corrections, reading any layer.
    Audit,
    /// Anywhere else (the top of `sql/`, another folder): no layer rule.
    Other,
}

impl Layer {
    /// The layer of a model file below `dir`, from its first folder.
    fn of(dir: &Path, path: &Path) -> Layer {
        let folder = path.strip_prefix(dir).ok().and_then(|p| p.components().next()).filter(|_| path.parent() != Some(dir));
        match folder.and_then(|c| c.as_os_str().to_str()) {
            Some("sources") => Layer::Sources,
            Some("staging") => Layer::Staging,
            Some("intermediate") => Layer::Intermediate,
            Some("marts") => Layer::Marts,
            Some("reports") => Layer::Reports,
            Some("audit") => Layer::Audit,
            _ => Layer::Other,
        }
    }

    /// The folder name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Layer::Sources => "sources",
            Layer::Staging => "staging",
            Layer::Intermediate => "intermediate",
            Layer::Marts => "marts",
            Layer::Reports => "reports",
            Layer::Audit => "audit",
            Layer::Other => "other",
        }
    }

    /// Whether a model of this layer may read a model of `other`.
    fn may_read(self, other: Layer) -> bool {
        match (self, other) {
            (Layer::Audit | Layer::Other, _) | (_, Layer::Other) => true,
            (_, Layer::Audit) => false,
            (Layer::Staging, l) => l == Layer::Sources,
            (me, l) => l <= me,
        }
    }
}

/// How a model is computed and kept: the `materialized:` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Materialized {
    /// A model of `sql/sources/`: a view over the raw lake tables, created when a session opens,
    /// before any model (no header: the folder says it).
    Source,
    /// `view` (the default): computed when read.
    View,
    /// `chunk`: a view everywhere, except while an incremental table reading it is built, when
    /// each chunk computes it once and holds its rows in memory.
    Chunk,
    /// `memory`: computed once per build and held in memory for the models after it.
    Memory,
    /// `table`: a Delta table under `models/<name>` on the lake.
    Table,
}

/// One SQL model.
#[derive(Debug, Clone)]
pub struct Model {
    /// View name (the file stem).
    pub name: String,
    /// The `.sql` file.
    pub path: PathBuf,
    /// Its layer (the folder of `sql/` it is in).
    pub layer: Layer,
    /// The query.
    pub sql: String,
    /// The `grain:` header.
    pub grain: String,
    /// How it is computed and kept (`materialized:` header).
    pub materialized: Materialized,
    /// How a materialised model is refreshed (`incremental:` header); None: rebuilt whole.
    pub incremental: Option<Incremental>,
    /// The order its rows are written in (`order_by:` header, SQL `ORDER BY` terms).
    pub order_by: Option<String>,
    /// True when the header says `join_order: as_written`: hash joins build from their left input.
    pub join_order_as_written: bool,
    /// Models this one reads.
    pub depends_on: Vec<String>,
    /// Every table this one reads (models, reference and lake tables), CTEs aside.
    pub references: Vec<String>,
    /// Description from the `.toml` beside it.
    pub description: String,
    /// Column docs from the `.toml` beside it.
    pub columns: BTreeMap<String, String>,
    /// Tests from the `.toml` beside it.
    pub tests: ModelTests,
}

/// How an incremental model's rows are keyed, and so refreshed (by calendar year, see [`crate::refresh::Scope::chunks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incremental {
    /// Rows keyed by a month in `period`: only the dirty months are recomputed.
    Month,
    /// Rows keyed by a period of any type in `period`: every period containing a dirty month.
    Period,
    /// Rows keyed by the epoch in `epoch`: each epoch holding a dirty month is recomputed whole
    /// (statistics over a unit's whole history in its epoch's units, which any new month changes);
    /// the other epoch's rows are kept.
    Epoch,
}

impl Incremental {
    /// The column the model's table is partitioned by, whose partitions a refresh replaces.
    pub fn partition_column(self) -> &'static str {
        match self {
            Incremental::Month | Incremental::Period => "period",
            Incremental::Epoch => "epoch",
        }
    }
}

/// A model's `unique` test. `exact` returns the key values found more than once; `screen` groups
/// a 64-bit hash of the key instead (`key_hash`, see [`crate::functions`]), about half the time of
/// grouping the key's strings: when it finds no two rows hashing alike, no two rows share the key,
/// and only when it does (a duplicate, or two keys that happen to hash alike) does `exact` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueTest {
    /// How it is named in failures, e.g. `unique(period, unit_code)`.
    pub label: String,
    /// The hashes of the key found more than once (`key_hash`).
    pub screen: String,
    /// The key values found more than once, with their counts.
    pub exact: String,
}

/// A model test over single rows: the rows for which `condition` holds fail it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowCheck {
    /// How it is named in failures, e.g. `not_null(period)`.
    pub label: String,
    /// The columns a failure's sample shows.
    pub columns: String,
    /// SQL condition true for a failing row.
    pub condition: String,
}

/// The names of the refresh macros, in the order [`expand`] is given their lists.
pub const MACROS: [&str; 4] = ["refresh_months", "refresh_periods", "refresh_previous_periods", "refresh_epochs"];

/// The macro of [`Incremental::Epoch`] models, and the only one they may use.
pub const EPOCH_MACRO: &str = MACROS[3];

/// Expands the refresh macros of `sql`: `{{ name(expr) }}` becomes `(expr) IN ('a', 'b')` with the
/// list given for that macro (`lists[i]` for `MACROS[i]`; an empty list gives `FALSE`), or `TRUE`
/// when `lists` is None (a full computation). Unknown macros and unbalanced braces are errors.
pub fn expand(sql: &str, lists: Option<[&[String]; 4]>) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| "a `{{` without its `}}`".to_string())?;
        let call = after[..end].trim();
        let open = call
            .find('(')
            .filter(|_| call.ends_with(')'))
            .ok_or_else(|| format!("`{{{{ {call} }}}}` is not a macro call such as {{{{ refresh_months(period) }}}}"))?;
        let (name, expr) = (call[..open].trim(), call[open + 1..call.len() - 1].trim());
        let index = MACROS.iter().position(|m| *m == name).ok_or_else(|| format!("unknown macro {name}; known: {}", MACROS.join(", ")))?;
        if expr.is_empty() {
            return Err(format!("{name}() needs the column to filter, e.g. {name}(period)"));
        }
        match lists {
            None => out.push_str("TRUE"),
            Some(lists) if lists[index].is_empty() => out.push_str("FALSE"),
            Some(lists) => {
                out.push_str(&format!("({expr}) IN ({})", tonghop_core::sql::literal_list(lists[index])));
            }
        }
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err("a `}}` without its `{{`".into());
    }
    out.push_str(rest);
    Ok(out)
}

fn sql_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
    for entry in entries {
        let path = entry.map_err(|source| Error::Io { path: dir.display().to_string(), source })?.path();
        if path.is_dir() {
            sql_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
    Ok(())
}

/// The tables a query reads, common table expressions aside, as written (`units`, `lake.data_values`).
pub fn table_references(sql: &str) -> std::result::Result<Vec<String>, String> {
    use datafusion::sql::parser::DFParser;
    let mut statements = DFParser::parse_sql(sql).map_err(|e| e.to_string())?;
    if statements.len() != 1 {
        return Err(format!("a model is one query; found {} statements", statements.len()));
    }
    let statement = statements.pop_front().expect("one statement");
    let (tables, _ctes) = datafusion::sql::resolve::resolve_table_references(&statement, true).map_err(|e| e.to_string())?;
    let mut names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Ok when a query is one `SELECT` of columns, each as it is or cast, renamed or not, from one table
/// (what a staging model may do); else what it does beyond that.
fn renames_and_casts_only(sql: &str) -> std::result::Result<(), String> {
    use datafusion::sql::parser::{DFParser, Statement as DFStatement};
    use datafusion::sql::sqlparser::ast::{Expr, GroupByExpr, SelectItem, SetExpr, Statement};
    let statement = DFParser::parse_sql(sql).map_err(|e| e.to_string())?.pop_front().ok_or("no query")?;
    let DFStatement::Statement(statement) = statement else { return Err("not a query".into()) };
    let Statement::Query(query) = *statement else { return Err("not a query".into()) };
    if query.with.is_some() || query.order_by.is_some() || query.limit_clause.is_some() {
        return Err("WITH, ORDER BY or LIMIT".into());
    }
    let SetExpr::Select(select) = *query.body else { return Err("a set operation or a nested query".into()) };
    if select.from.len() != 1 || !select.from[0].joins.is_empty() {
        return Err("more than one table".into());
    }
    if select.selection.is_some() || select.having.is_some() || select.distinct.is_some() {
        return Err("a filter or DISTINCT".into());
    }
    if !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty()) {
        return Err("GROUP BY".into());
    }
    let column = |e: &Expr| match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        Expr::Cast { expr, .. } => matches!(**expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)),
        _ => false,
    };
    for item in &select.projection {
        let ok = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => column(e),
            _ => false,
        };
        if !ok {
            return Err(format!("the column {item} is computed"));
        }
    }
    Ok(())
}

/// Loads every model under `dir`, checks names, headers, docs and dependencies, and returns them in
/// dependency order. All problems are reported at once.
pub fn load(dir: &Path) -> Result<Vec<Model>> {
    let mut files = Vec::new();
    sql_files(dir, &mut files)?;
    files.sort();
    let mut problems = Vec::new();
    let mut models = Vec::new();
    for path in files {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let sql = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        let header = |key: &str| {
            sql.lines()
                .take_while(|l| l.trim_start().starts_with("--"))
                .find_map(|l| l.trim_start().trim_start_matches('-').trim().strip_prefix(&format!("{key}:")).map(|v| v.trim().to_string()))
        };
        let grain = header("grain").unwrap_or_default();
        if grain.is_empty() {
            problems.push(format!("{}: no `-- grain:` header; say what one row means", path.display()));
        }
        let layer = Layer::of(dir, &path);
        let materialized = match header("materialized").as_deref() {
            None if layer == Layer::Sources => Materialized::Source,
            Some(given) if layer == Layer::Sources => {
                problems.push(format!(
                    "{}: a source is a view over the lake tables, created when a session opens; remove `-- materialized: {given}`",
                    path.display()
                ));
                Materialized::Source
            }
            None | Some("view") => Materialized::View,
            Some("chunk") => Materialized::Chunk,
            Some("memory") => Materialized::Memory,
            Some("table") => Materialized::Table,
            Some(other) => {
                problems.push(format!("{}: `-- materialized: {other}` must be view, memory, chunk or table", path.display()));
                Materialized::View
            }
        };
        if materialized == Materialized::Chunk && !sql.contains("{{") {
            problems.push(format!(
                "{}: a `materialized: chunk` model is computed per chunk of a refresh, but it uses no refresh macro (every chunk would compute the same rows): use `materialized: memory`",
                path.display()
            ));
        }
        let incremental = match header("incremental").as_deref() {
            None => None,
            Some("month") => Some(Incremental::Month),
            Some("period") => Some(Incremental::Period),
            Some("epoch") => Some(Incremental::Epoch),
            Some(other) => {
                problems.push(format!("{}: `-- incremental: {other}` must be month, period or epoch", path.display()));
                None
            }
        };
        let order_by = header("order_by").filter(|o| !o.is_empty());
        if order_by.is_some() && materialized != Materialized::Table {
            problems.push(format!("{}: `-- order_by:` orders a table's files; it needs `-- materialized: table`", path.display()));
        }
        let join_order_as_written = match header("join_order").as_deref() {
            None | Some("optimizer") => false,
            Some("as_written") => true,
            Some(other) => {
                problems.push(format!("{}: `-- join_order: {other}` must be as_written or optimizer", path.display()));
                false
            }
        };
        if join_order_as_written && materialized != Materialized::Table {
            problems.push(format!("{}: `-- join_order:` applies while a table is built; it needs `-- materialized: table`", path.display()));
        }
        if materialized == Materialized::Memory && sql.contains("{{") {
            problems.push(format!("{}: a `materialized: memory` model is computed once per build; refresh macros have no meaning there", path.display()));
        }
        if incremental.is_some() && materialized != Materialized::Table {
            problems.push(format!("{}: `-- incremental:` needs `-- materialized: table`", path.display()));
        }
        // An epoch model is recomputed an epoch at a time: the month and period macros have no
        // list to expand to there, and refresh_epochs none anywhere else.
        let uses = |name: &str| sql.contains(&format!("{{{{ {name}(")) || sql.contains(&format!("{{{{{name}("));
        match incremental {
            Some(Incremental::Epoch) => {
                if let Some(other) = MACROS[..3].iter().find(|m| uses(m)) {
                    problems.push(format!(
                        "{}: an `incremental: epoch` model is refreshed an epoch at a time; use {{{{ {EPOCH_MACRO}(epoch) }}}}, not {other}",
                        path.display()
                    ));
                }
            }
            _ if uses(EPOCH_MACRO) => {
                problems.push(format!("{}: {EPOCH_MACRO}() is for `-- incremental: epoch` models", path.display()));
            }
            _ => {}
        }
        let full_sql = match expand(&sql, None) {
            Ok(full) => full,
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                sql.clone()
            }
        };
        let doc_path = path.with_extension("toml");
        let doc: ModelDoc = if doc_path.exists() {
            let text = std::fs::read_to_string(&doc_path).map_err(|source| Error::Io { path: doc_path.display().to_string(), source })?;
            toml::from_str(&text).unwrap_or_else(|e| {
                problems.push(format!("{}: {e}", doc_path.display()));
                ModelDoc::default()
            })
        } else {
            ModelDoc::default()
        };
        if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            problems.push(format!("{}: model names must be lower_snake_case", path.display()));
        }
        let references = table_references(&full_sql).unwrap_or_else(|e| {
            problems.push(format!("{}: the SQL does not parse: {e}", path.display()));
            Vec::new()
        });
        for table in &references {
            match (layer, table.strip_prefix("lake.")) {
                (Layer::Sources, None) => problems.push(format!("{}: a source reads only lake tables (lake.<table>), not {table}", path.display())),
                (Layer::Sources, Some(_)) => {}
                (_, Some(raw)) => problems.push(format!(
                    "{}: reads {table} directly; read the source {raw} (sql/sources/{raw}.sql), which shows committed rows only",
                    path.display()
                )),
                (_, None) => {}
            }
        }
        if layer == Layer::Staging {
            if let Err(e) = renames_and_casts_only(&full_sql) {
                problems
                    .push(format!("{}: a staging model only renames and casts the columns of one source ({e}); move it to sql/intermediate/", path.display()));
            }
        }
        models.push(Model {
            name,
            path,
            layer,
            sql,
            grain,
            materialized,
            incremental,
            order_by,
            join_order_as_written,
            depends_on: vec![],
            references,
            description: doc.description,
            columns: doc.columns,
            tests: doc.tests,
        });
    }
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    let mut seen = HashSet::new();
    for m in &models {
        if !seen.insert(m.name.clone()) {
            problems.push(format!("{}: a second model named {}; names must be unique across sql/", m.path.display(), m.name));
        }
    }
    for m in &mut models {
        m.depends_on = names.iter().filter(|n| **n != m.name && m.references.contains(n)).cloned().collect();
    }
    for m in &models {
        for dep in m.depends_on.iter().filter_map(|d| models.iter().find(|o| &o.name == d)) {
            if !m.layer.may_read(dep.layer) {
                problems.push(format!(
                    "{}: a model of {} reads {} ({}), a model of {}: models read their own layer and those before it (sources → staging → intermediate → marts → reports; audit reads any)",
                    m.path.display(),
                    m.layer.as_str(),
                    dep.name,
                    dep.path.display(),
                    dep.layer.as_str()
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::InvalidModels(problems.into()));
    }
    order(models)
}

fn order(mut pending: Vec<Model>) -> Result<Vec<Model>> {
    let mut done: Vec<Model> = Vec::new();
    while !pending.is_empty() {
        let ready: Vec<usize> = (0..pending.len()).filter(|&i| pending[i].depends_on.iter().all(|d| done.iter().any(|m| &m.name == d))).collect();
        if ready.is_empty() {
            let cycle = pending.iter().map(|m| format!("{} ({})", m.name, m.path.display())).collect::<Vec<_>>().join(", ");
            return Err(Error::InvalidModels(vec![format!("dependency cycle among: {cycle}")].into()));
        }
        for i in ready.into_iter().rev() {
            done.push(pending.remove(i));
        }
    }
    Ok(done)
}

impl Model {
    /// A Delta table on the lake (`materialized: table`).
    pub fn is_table(&self) -> bool {
        self.materialized == Materialized::Table
    }

    /// A declared source (`sql/sources/`): a view over the lake tables, created when a session opens.
    pub fn is_source(&self) -> bool {
        self.materialized == Materialized::Source
    }

    /// Computed where it is read (`view`, or `chunk` outside the chunks of a build); sources aside.
    pub fn is_view(&self) -> bool {
        matches!(self.materialized, Materialized::View | Materialized::Chunk)
    }

    /// Whether the model declares any test.
    pub fn has_tests(&self) -> bool {
        !self.tests.unique.is_empty() || !self.row_checks().is_empty()
    }

    /// The unique tests over `source`, each with its screen (see [`UniqueTest`]).
    pub fn unique_tests_over(&self, source: &str) -> Vec<UniqueTest> {
        let n = source;
        let unique = |cols: &Vec<String>| {
            let c = cols.join(", ");
            UniqueTest {
                label: format!("unique({c})"),
                screen: format!("SELECT key_hash({c}) AS key FROM {n} GROUP BY key_hash({c}) HAVING COUNT(*) > 1"),
                exact: format!("SELECT {c}, COUNT(*) AS n FROM {n} GROUP BY {c} HAVING COUNT(*) > 1"),
            }
        };
        self.tests.unique.iter().map(unique).collect()
    }

    /// The tests that look at one row at a time (not_null, accepted_values, accepted_range): each
    /// row for which its condition is true fails it. Unlike the unique tests, all of them can be
    /// counted in one scan (see `Engine::run_tests`).
    pub fn row_checks(&self) -> Vec<RowCheck> {
        let t = &self.tests;
        let mut out = Vec::new();
        for c in &t.not_null {
            out.push(RowCheck { label: format!("not_null({c})"), columns: "*".into(), condition: format!("{c} IS NULL") });
        }
        for (c, values) in &t.accepted_values {
            let list = tonghop_core::sql::literal_list(values);
            out.push(RowCheck { label: format!("accepted_values({c})"), columns: c.clone(), condition: format!("{c} NOT IN ({list})") });
        }
        for (c, r) in &t.accepted_range {
            let mut conds = Vec::new();
            if let Some(min) = r.min {
                conds.push(format!("{c} < {min}"));
            }
            if let Some(max) = r.max {
                conds.push(format!("{c} > {max}"));
            }
            if !conds.is_empty() {
                out.push(RowCheck { label: format!("accepted_range({c})"), columns: c.clone(), condition: conds.join(" OR ") });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_expand_to_lists_or_true() {
        let sql = "SELECT * FROM t WHERE {{ refresh_months(v.period) }} AND {{refresh_periods(p)}}";
        assert_eq!(expand(sql, None).unwrap(), "SELECT * FROM t WHERE TRUE AND TRUE");
        let months = vec!["202603".to_string(), "2026'x".to_string()];
        let none: Vec<String> = vec![];
        assert_eq!(expand(sql, Some([&months, &none, &none, &none])).unwrap(), "SELECT * FROM t WHERE (v.period) IN ('202603', '2026''x') AND FALSE");
        assert!(expand("{{ refresh_month(p) }}", None).unwrap_err().contains("unknown macro refresh_month"));
        assert!(expand("{{ refresh_months() }}", None).unwrap_err().contains("needs the column"));
        assert!(expand("{{ refresh_months(p)", None).unwrap_err().contains("without its"));
        assert!(expand("x }}", None).unwrap_err().contains("without its"));
    }

    #[test]
    fn the_shipped_project_loads_in_dependency_order() {
        let models = load(&Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../sql")).unwrap();
        let pos = |n: &str| models.iter().position(|m| m.name == n).unwrap_or_else(|| panic!("model {n} missing"));
        assert!(pos("stg_data_values") < pos("indicator_terms"));
        assert!(pos("indicator_terms") < pos("indicator_values"));
        assert!(pos("indicator_values") < pos("province_indicators"));
        assert!(models.iter().all(|m| !m.grain.is_empty()));
        assert!(models.iter().find(|m| m.name == "indicator_values").unwrap().is_table());
    }

    /// A unique test's screen finds every duplicated key (NULLs equal to NULLs, as `GROUP BY` has
    /// them), and nothing where the keys differ, even only by where a NULL or a letter sits.
    #[tokio::test]
    async fn a_unique_tests_screen_groups_duplicated_keys_and_nothing_else() {
        let models = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sql")).unwrap();
        let model = models.iter().find(|m| m.name == "indicator_values").unwrap();
        let tests = model.unique_tests_over("t");
        assert_eq!(tests.len(), 1);
        let ctx = datafusion::prelude::SessionContext::new();
        crate::functions::register(&ctx);
        let groups = |rows: &'static str| {
            let ctx = ctx.clone();
            let test = tests[0].clone();
            async move {
                ctx.sql(&format!("CREATE OR REPLACE VIEW t AS SELECT * FROM (VALUES {rows}) AS v(epoch, period, level, unit_code, indicator)")).await.unwrap();
                let count = |sql: String| {
                    let ctx = ctx.clone();
                    async move { ctx.sql(&sql).await.unwrap().collect().await.unwrap().iter().map(|b| b.num_rows()).sum::<usize>() }
                };
                (count(test.screen).await, count(test.exact).await)
            }
        };
        let distinct = "('post2025', '2026Q1', 'commune', '00004', 'bhyt'), ('post2025', '2026Q1', 'commune', '00004', 'kcb'), \
                        ('post2025', '2026Q1', 'commune', NULL, '00004'), ('post2025', '2026Q1', 'commune', '00004', NULL), \
                        ('post2025', '2026Q1', 'commun', 'e00004', 'bhyt'), ('pre2025', '2026Q1', 'commune', '00004', 'bhyt')";
        assert_eq!(groups(distinct).await, (0, 0));
        let duplicated = "('post2025', '2026Q1', 'commune', '00004', 'bhyt'), ('post2025', '2026Q1', 'commune', '00004', 'kcb'), \
                          ('post2025', '2026Q1', 'commune', '00004', 'bhyt'), ('post2025', NULL, 'national', NULL, 'bhyt'), \
                          ('post2025', NULL, 'national', NULL, 'bhyt'), ('post2025', '2026Q1', 'national', NULL, 'bhyt')";
        assert_eq!(groups(duplicated).await, (2, 2));
    }

    #[test]
    fn cycles_and_missing_headers_are_reported_with_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.sql"), "-- grain: x\nSELECT * FROM b").unwrap();
        std::fs::write(dir.path().join("b.sql"), "-- grain: x\nSELECT * FROM a").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("dependency cycle") && err.contains("a.sql"), "{err}");
        std::fs::write(dir.path().join("c.sql"), "SELECT 1").unwrap();
        std::fs::write(dir.path().join("c.toml"), "[tests]\nuniqe = []").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("c.sql: no `-- grain:` header") && err.contains("c.toml"), "{err}");
    }

    #[test]
    fn write_order_and_join_order_headers_are_read_and_checked() {
        let models = load(&Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../sql")).unwrap();
        let find = |n: &str| models.iter().find(|m| m.name == n).unwrap();
        assert_eq!(find("indicator_values").order_by.as_deref(), Some("period, province_code, level, unit_code, indicator"));
        assert!(find("monthly_values").join_order_as_written && find("indicator_rollups").join_order_as_written);
        assert!(!find("commune_months").join_order_as_written, "a table without the header lets the optimizer choose");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("v.sql"), "-- grain: x\n-- order_by: a\n-- join_order: sideways\nSELECT 1 AS a").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("v.sql: `-- order_by:` orders a table's files"), "{err}");
        assert!(err.contains("v.sql: `-- join_order: sideways` must be as_written or optimizer"), "{err}");
    }

    #[test]
    fn epoch_models_use_the_epoch_macro_alone() {
        let models = load(&Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../sql")).unwrap();
        let quality = models.iter().find(|m| m.name == "quality_issues").unwrap();
        assert_eq!(quality.incremental, Some(Incremental::Epoch));
        assert_eq!(Incremental::Epoch.partition_column(), "epoch");
        let epochs = vec!["post2025".to_string()];
        let none: Vec<String> = vec![];
        let sql = expand("SELECT * FROM v WHERE {{ refresh_epochs(v.epoch) }}", Some([&none, &none, &none, &epochs])).unwrap();
        assert_eq!(sql, "SELECT * FROM v WHERE (v.epoch) IN ('post2025')");
        let dir = tempfile::tempdir().unwrap();
        let table = |file: &str, incremental: &str, rest: &str| {
            let sql = format!("-- grain: x\n-- materialized: table\n-- incremental: {incremental}\nSELECT 1 AS a{rest}");
            std::fs::write(dir.path().join(file), sql).unwrap();
        };
        table("e.sql", "epoch", " WHERE {{ refresh_months(p) }}");
        table("m.sql", "month", " WHERE {{ refresh_epochs(epoch) }}");
        table("y.sql", "yearly", "");
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("e.sql: an `incremental: epoch` model is refreshed an epoch at a time; use {{ refresh_epochs(epoch) }}, not refresh_months"),
            "{err}"
        );
        assert!(err.contains("m.sql: refresh_epochs() is for `-- incremental: epoch` models"), "{err}");
        assert!(err.contains("y.sql: `-- incremental: yearly` must be month, period or epoch"), "{err}");
    }

    #[test]
    fn chunk_models_are_views_held_per_chunk_and_need_refresh_macros() {
        let models = load(&Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../sql")).unwrap();
        let find = |n: &str| models.iter().find(|m| m.name == n).unwrap();
        let terms = find("commune_terms");
        assert_eq!(terms.materialized, Materialized::Chunk);
        assert!(terms.is_view() && !terms.is_table());
        assert!(find("indicator_rollups").is_table());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.sql"), "-- grain: x\n-- materialized: chunk\nSELECT 1 AS a").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("w.sql: a `materialized: chunk` model") && err.contains("use `materialized: memory`"), "{err}");
        std::fs::write(dir.path().join("w.sql"), "-- grain: x\n-- materialized: often\nSELECT 1 AS a").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("must be view, memory, chunk or table"), "{err}");
    }

    #[test]
    fn layers_are_read_in_order_and_only_sources_read_the_lake() {
        let dir = tempfile::tempdir().unwrap();
        let write = |file: &str, sql: &str| {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, format!("-- grain: x\n{sql}")).unwrap();
        };
        write("sources/data_values.sql", "SELECT d.a FROM lake.data_values AS d JOIN lake.submissions AS s ON s.id = d.id");
        write("staging/stg_values.sql", "SELECT a AS amount, CAST(a AS DOUBLE) AS x FROM data_values");
        write("intermediate/sums.sql", "SELECT sum(amount) AS total FROM stg_values");
        write("marts/totals.sql", "SELECT total FROM sums");
        write("reports/sheet.sql", "SELECT total FROM totals");
        write("audit/trail.sql", "SELECT * FROM sheet JOIN data_values ON true");
        let models = load(dir.path()).unwrap();
        let find = |n: &str| models.iter().find(|m| m.name == n).unwrap();
        assert!(find("data_values").is_source() && !find("data_values").is_view());
        assert_eq!(find("stg_values").layer, Layer::Staging);
        assert_eq!(find("trail").layer, Layer::Audit);

        write("sources/runs.sql", "SELECT * FROM units");
        write("intermediate/raw.sql", "SELECT * FROM lake.data_values");
        write("staging/stg_joined.sql", "SELECT a FROM data_values JOIN units ON true");
        write("staging/stg_sum.sql", "SELECT a + 1 AS b FROM data_values");
        write("intermediate/late.sql", "SELECT total FROM totals");
        write("marts/from_audit.sql", "SELECT * FROM trail");
        let err = load(dir.path()).unwrap_err().to_string();
        for expected in [
            "runs.sql: a source reads only lake tables (lake.<table>), not units",
            "raw.sql: reads lake.data_values directly; read the source data_values (sql/sources/data_values.sql)",
            "stg_joined.sql: a staging model only renames and casts the columns of one source (more than one table)",
            "stg_sum.sql: a staging model only renames and casts the columns of one source (the column a + 1 AS b is computed)",
            "late.sql: a model of intermediate reads totals",
            "from_audit.sql: a model of marts reads trail",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
        }
    }

    #[test]
    fn references_come_from_the_parser_not_from_words() {
        let sql = "WITH stg_data_values AS (SELECT 1 AS units) SELECT s.units, d.x FROM stg_data_values s JOIN lake.data_values d ON true \
                   WHERE EXISTS (SELECT 1 FROM periods) -- indicator_values";
        assert_eq!(table_references(sql).unwrap(), ["lake.data_values", "periods"]);
        assert!(table_references("SELEC 1").is_err());
    }
}
