//! The one read-only gate of analyst SQL, used by every entry point: `tonghop sql`, HTTP `/sql`
//! and the PostgreSQL endpoint (simple and extended protocol).
//!
//! A statement is judged on what DataFusion would run, not on its text: [`check_plan`] walks the
//! logical plan (the plans inside `EXPLAIN` and `EXPLAIN ANALYZE` and every subquery included)
//! and refuses anything that writes or changes the session: `COPY … TO`, DML (`INSERT`, `UPDATE`,
//! `DELETE`, `CREATE TABLE AS`), DDL (`CREATE`, `DROP`, `SELECT … INTO`) and session statements
//! (`SET`, `PREPARE`, `EXECUTE`, transactions). A string filter would miss `EXPLAIN ANALYZE COPY …`
//! or `SET "datafusion"."runtime"."memory_limit"`; the plan cannot hide them.
//!
//! PostgreSQL drivers send a few `SET`s of their own when they connect. [`client_setting`] lets
//! through only those that change what the client is sent, never the engine: see
//! [`CLIENT_SETTINGS`].

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{Expr, Set, Statement};

use crate::{Error, Result};

/// The `SET name = value` a PostgreSQL client may send: presentation settings kept per
/// connection by the PostgreSQL endpoint (they never reach the engine's configuration).
/// `SET TIME ZONE` is accepted too, and `search_path` only to the one schema there is.
pub const CLIENT_SETTINGS: [&str; 7] =
    ["application_name", "extra_float_digits", "datestyle", "intervalstyle", "bytea_output", "client_encoding", "search_path"];

/// Schemas a client may put on its `search_path` (tables live in `public`).
const SEARCH_PATH: [&str; 3] = ["public", "$user", "pg_catalog"];

/// How deeply expressions may nest (`1+1+…+1` with this many terms, or as many nested
/// parentheses or `CASE`s). Parts of DataFusion's planning recurse without a guard (naming a
/// column, for one); deeper expressions would overflow a thread's stack and abort the process.
pub const MAX_EXPRESSION_DEPTH: usize = 400;

/// The most values one `IN (…)` list of analyst SQL may hold. The Delta scan turns the list into
/// a predicate that it walks recursively, once per value: 20,000 values overflowed a 16 MiB stack
/// and aborted the service.
pub const MAX_IN_LIST: usize = 5_000;

/// Counts expression nesting; at more than [`MAX_EXPRESSION_DEPTH`] it stops (so that the walk
/// cannot overflow the stack itself) and cuts the deep part off for [`dismantle`].
#[derive(Default)]
struct Depth {
    depth: usize,
    cut: Vec<Expr>,
    /// The length of an `IN (…)` list longer than [`MAX_IN_LIST`], when one was found.
    long_list: Option<usize>,
}

impl Depth {
    fn enter(&mut self) -> std::ops::ControlFlow<()> {
        self.depth += 1;
        if self.depth > MAX_EXPRESSION_DEPTH {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    }
}

impl datafusion::sql::sqlparser::ast::VisitorMut for Depth {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
        if let Expr::InList { list, .. } = expr {
            if list.len() > MAX_IN_LIST {
                self.long_list = Some(list.len());
                return std::ops::ControlFlow::Break(());
            }
        }
        let flow = self.enter();
        if flow.is_break() {
            self.cut.push(std::mem::replace(expr, Expr::value(datafusion::sql::sqlparser::ast::Value::Null)));
        }
        flow
    }
    fn post_visit_expr(&mut self, _: &mut Expr) -> std::ops::ControlFlow<()> {
        self.depth -= 1;
        std::ops::ControlFlow::Continue(())
    }
}

/// Drops a deep expression without recursing: the parser builds chains of operators (`1+1+…`,
/// `a OR b OR …`, `x::t::t…`) in a loop, as deep as the text is long, and dropping such a tree
/// the usual way recurses once per level. Other nestings are bounded by the parser's own
/// recursion limit.
fn dismantle(expr: Expr) {
    let null = || Expr::value(datafusion::sql::sqlparser::ast::Value::Null);
    let mut stack = vec![expr];
    while let Some(mut expr) = stack.pop() {
        match &mut expr {
            Expr::BinaryOp { left, right, .. } => {
                stack.push(std::mem::replace(left.as_mut(), null()));
                stack.push(std::mem::replace(right.as_mut(), null()));
            }
            Expr::UnaryOp { expr: inner, .. }
            | Expr::Nested(inner)
            | Expr::Cast { expr: inner, .. }
            | Expr::IsNull(inner)
            | Expr::IsNotNull(inner)
            | Expr::IsTrue(inner)
            | Expr::IsFalse(inner)
            | Expr::IsNotTrue(inner)
            | Expr::IsNotFalse(inner)
            | Expr::IsUnknown(inner)
            | Expr::IsNotUnknown(inner)
            | Expr::Collate { expr: inner, .. } => stack.push(std::mem::replace(inner.as_mut(), null())),
            _ => {}
        }
    }
}

/// Refuses a statement whose expressions nest deeper than [`MAX_EXPRESSION_DEPTH`]. The walk stops
/// at that depth, and the part deeper than the limit is cut off and taken apart without recursion,
/// so that neither the check nor dropping the statement can overflow the stack.
fn check_depth(mut statement: Statement) -> Result<Statement> {
    use datafusion::sql::sqlparser::ast::VisitMut;
    let mut depth = Depth::default();
    let flow = statement.visit(&mut depth);
    for expr in depth.cut {
        dismantle(expr);
    }
    match (flow, depth.long_list) {
        (std::ops::ControlFlow::Break(()), Some(items)) => Err(Error::TooLongList { items, limit: MAX_IN_LIST }),
        (std::ops::ControlFlow::Break(()), None) => Err(Error::TooDeep { limit: MAX_EXPRESSION_DEPTH }),
        (std::ops::ControlFlow::Continue(()), _) => Ok(statement),
    }
}

/// The depth check of [`plan_query`] on SQL text, before a parser that would walk the whole tree recursively sees
/// it (the PostgreSQL endpoint's own parser rewrites every statement that way). Text this parser
/// cannot read passes: the real parser will report it.
pub fn check_text_depth(sql: &str) -> Result<()> {
    let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
    let Ok(statements) = datafusion::sql::parser::DFParser::parse_sql_with_dialect(sql, &dialect) else { return Ok(()) };
    for statement in statements {
        if let datafusion::sql::parser::Statement::Statement(s) = statement {
            check_depth(*s)?;
        }
    }
    Ok(())
}

/// Plans `sql` in `ctx` and returns the plan if it only reads (see [`check_plan`]) and its
/// expressions nest at most [`MAX_EXPRESSION_DEPTH`] levels deep.
pub async fn plan_query(ctx: &datafusion::prelude::SessionContext, sql: &str) -> Result<LogicalPlan> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let statement = match state.sql_to_statement(sql, &dialect)? {
        datafusion::sql::parser::Statement::Statement(s) => datafusion::sql::parser::Statement::Statement(Box::new(check_depth(*s)?)),
        other => other,
    };
    let plan = state.statement_to_plan(statement).await?;
    check_plan(&plan)?;
    Ok(plan)
}

/// Refuses a plan that would do anything but read: the first such node found is named.
pub fn check_plan(plan: &LogicalPlan) -> Result<()> {
    let mut refused: Option<String> = None;
    plan.apply_with_subqueries(|node| {
        let what = match node {
            LogicalPlan::Ddl(ddl) => Some(ddl.name().to_string()),
            LogicalPlan::Dml(dml) => Some(format!("{} INTO {}", dml.op, dml.table_name)),
            LogicalPlan::Copy(copy) => Some(format!("COPY … TO '{}'", copy.output_url)),
            LogicalPlan::Statement(statement) => Some(statement.name().to_string()),
            _ => None,
        };
        Ok(match what {
            Some(what) => {
                refused = Some(what);
                TreeNodeRecursion::Stop
            }
            None => TreeNodeRecursion::Continue,
        })
    })?;
    match refused {
        Some(statement) => Err(Error::ReadOnly { statement }),
        None => Ok(()),
    }
}

/// Whether the plan (its subqueries and the plans inside `EXPLAIN` included) reads the lake
/// table `lake.<table>`, e.g. `audit`, which only admins may read.
pub fn reads_lake_table(plan: &LogicalPlan, table: &str) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if scan.table_name.table() == table && scan.table_name.schema() == Some("lake") {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Whether a `SET` statement only changes a client's presentation settings (see
/// [`CLIENT_SETTINGS`]); `Err` names what is refused otherwise. Only the plain forms are accepted
/// (no `SESSION`/`LOCAL` scope, one variable, literal values), the ones the PostgreSQL endpoint
/// answers itself without passing them to the engine.
pub fn client_setting(statement: &Statement) -> Result<()> {
    let refuse = || Err(Error::ReadOnly { statement: statement.to_string().split_whitespace().take(4).collect::<Vec<_>>().join(" ") });
    let Statement::Set(set) = statement else { return refuse() };
    match set {
        Set::SetTimeZone { local: false, value: Expr::Value(_) } => Ok(()),
        Set::SingleAssignment { scope: None, hivevar: false, variable, values } => {
            let [name] = variable.0.as_slice() else { return refuse() };
            let Some(name) = name.as_ident().map(|i| i.value.to_ascii_lowercase()) else { return refuse() };
            let literal = |v: &Expr| match v {
                Expr::Value(v) => v.clone().into_string().or_else(|| Some(v.to_string())),
                Expr::Identifier(i) => Some(i.value.clone()),
                _ => None,
            };
            let Some(values) = values.iter().map(literal).collect::<Option<Vec<String>>>() else { return refuse() };
            if values.is_empty() || !CLIENT_SETTINGS.contains(&name.as_str()) {
                return refuse();
            }
            if name == "search_path" && !values.iter().flat_map(|v| v.split(',')).all(|s| SEARCH_PATH.contains(&s.trim().trim_matches('"'))) {
                return refuse();
            }
            Ok(())
        }
        _ => refuse(),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;
    use datafusion::sql::parser::DFParser;

    use super::*;

    async fn plan(sql: &str) -> Result<()> {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE units AS VALUES (1, 'a')").await.unwrap();
        let plan = ctx.state().create_logical_plan(sql).await?;
        check_plan(&plan)
    }

    fn setting(sql: &str) -> Result<()> {
        let statements = DFParser::parse_sql(sql).unwrap();
        let datafusion::sql::parser::Statement::Statement(statement) = &statements[0] else { panic!("{sql}: not a plain statement") };
        client_setting(statement)
    }

    #[test]
    fn expressions_nest_up_to_the_limit_and_deeper_ones_are_refused_before_planning() {
        // The stack of `tonghop sql`'s main thread (8 MiB); the service's analyst threads have 16.
        let run = std::thread::Builder::new().stack_size(8 << 20).spawn(|| {
            tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
                let ctx = SessionContext::new();
                let chain = |n: usize| format!("SELECT {}", vec!["1"; n].join(" + "));
                let plan = plan_query(&ctx, &chain(MAX_EXPRESSION_DEPTH)).await.unwrap();
                assert!(check_plan(&plan).is_ok());
                // Far deeper than DataFusion's planning, or dropping the parsed tree, would survive.
                for sql in [chain(MAX_EXPRESSION_DEPTH + 1), chain(1_000_000), format!("SELECT 1 WHERE {}", vec!["TRUE"; 5000].join(" OR "))] {
                    let e = plan_query(&ctx, &sql).await.unwrap_err();
                    assert!(matches!(e, Error::TooDeep { .. }), "{e}");
                }
                let list = |n: usize| format!("SELECT 1 WHERE 'a' IN ({})", (0..n).map(|i| format!("'{i}'")).collect::<Vec<_>>().join(","));
                assert!(plan_query(&ctx, &list(100)).await.is_ok());
                let e = plan_query(&ctx, &list(MAX_IN_LIST + 1)).await.unwrap_err();
                assert!(matches!(e, Error::TooLongList { items: 5001, .. }), "{e}");
            })
        });
        run.unwrap().join().unwrap();
    }

    #[tokio::test]
    async fn queries_pass_and_anything_that_writes_is_refused_however_it_is_wrapped() {
        for sql in [
            "SELECT * FROM units",
            "WITH t AS (SELECT 1 AS a) SELECT a FROM t",
            "EXPLAIN SELECT 1",
            "EXPLAIN ANALYZE SELECT count(*) FROM units",
            "SELECT * FROM units WHERE column1 IN (SELECT 1)",
        ] {
            plan(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        for (sql, named) in [
            ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"),
            ("EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"),
            ("EXPLAIN COPY (SELECT 1) TO '/tmp/x.json'", "COPY"),
            ("INSERT INTO units SELECT * FROM units", "Insert"),
            ("EXPLAIN ANALYZE INSERT INTO units SELECT * FROM units", "Insert"),
            ("SELECT 1 AS a INTO t", "CreateMemoryTable"),
            ("CREATE TABLE x AS SELECT 1", "CreateMemoryTable"),
            ("CREATE VIEW v AS SELECT 1", "CreateView"),
            ("DROP TABLE units", "DropTable"),
            ("SET datafusion.execution.batch_size = 1", "SetVariable"),
            ("SET \"datafusion\".\"runtime\".\"memory_limit\" = '1K'", "SetVariable"),
            ("EXPLAIN ANALYZE SET datafusion.execution.batch_size = 1", ""),
        ] {
            match plan(sql).await {
                Err(Error::ReadOnly { statement }) => assert!(statement.contains(named), "{sql}: refused as {statement}"),
                Err(_) if named.is_empty() => {} // not even planned: nothing runs
                other => panic!("{sql}: {other:?}"),
            }
        }
    }

    #[test]
    fn only_presentation_settings_of_a_client_are_accepted() {
        for sql in [
            "SET application_name = 'psql'",
            "SET extra_float_digits = 3",
            "SET DateStyle = 'ISO, MDY'",
            "SET client_encoding = 'UTF8'",
            "SET search_path = public",
            "SET search_path = '\"$user\", public'",
            "SET TIME ZONE 'Asia/Ho_Chi_Minh'",
        ] {
            setting(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        for sql in [
            "SET datafusion.sql_parser.dialect = 'mysql'",
            "SET \"datafusion\".\"sql_parser\".\"dialect\" = 'mysql'",
            "SET \"datafusion.runtime.memory_limit\" = '1K'",
            "SET search_path = other",
            "SET SESSION application_name = 'x'",
            "SET LOCAL TIME ZONE 'UTC'",
            "SET statement_timeout = 0",
            "SET ROLE admin",
            "SET application_name = (SELECT 1)",
        ] {
            assert!(matches!(setting(sql), Err(Error::ReadOnly { .. })), "{sql} must be refused");
        }
    }
}
