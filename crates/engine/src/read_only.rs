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
pub const CLIENT_SETTINGS: [&str; 7] = ["application_name", "extra_float_digits", "datestyle", "intervalstyle", "bytea_output", "client_encoding", "search_path"];

/// Schemas a client may put on its `search_path` (tables live in `public`).
const SEARCH_PATH: [&str; 3] = ["public", "$user", "pg_catalog"];

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

    #[tokio::test]
    async fn queries_pass_and_anything_that_writes_is_refused_however_it_is_wrapped() {
        for sql in ["SELECT * FROM units", "WITH t AS (SELECT 1 AS a) SELECT a FROM t", "EXPLAIN SELECT 1", "EXPLAIN ANALYZE SELECT count(*) FROM units", "SELECT * FROM units WHERE column1 IN (SELECT 1)"] {
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
        for sql in ["SET application_name = 'psql'", "SET extra_float_digits = 3", "SET DateStyle = 'ISO, MDY'", "SET client_encoding = 'UTF8'", "SET search_path = public", "SET search_path = '\"$user\", public'", "SET TIME ZONE 'Asia/Ho_Chi_Minh'"] {
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
