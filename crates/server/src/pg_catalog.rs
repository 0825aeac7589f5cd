//! The PostgreSQL catalog tables (`pg_catalog`) that `psql \dt`, DBeaver and other tools
//! introspect, registered in a read session without keeping that session alive.
//!
//! `datafusion_pg_catalog::setup_pg_catalog` gives the `pg_catalog` schema a strong handle on the
//! session's catalog list, which holds that schema: an `Arc` cycle. The service opens a fresh
//! session after every commit to the lake, so each replaced session (its tables, Delta snapshots
//! and reference data) stayed in memory for good, and the service grew by about 2 KB of heap per
//! submission under load. Here the schema sees the catalog list through a weak handle.

use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::CatalogProviderList;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{setup_pg_catalog, PgCatalogSchemaProvider, PgCatalogStaticTables};

/// The catalog (DataFusion's default) the tables are listed under.
const CATALOG: &str = "datafusion";

/// Registers `pg_catalog` and its functions in `ctx`.
pub(crate) fn register(ctx: &SessionContext) -> DfResult<()> {
    // Not `Arc<AuthManager>`: the library's provider for `Arc<T>` calls itself forever, and
    // `SELECT * FROM pg_roles` overflowed the stack. Roles live in the configuration, not here.
    setup_pg_catalog(ctx, CATALOG, EmptyContextProvider).map_err(|e| *e)?;
    // The same schema again, over a weak handle: replacing it drops the cycle.
    let catalogs = WeakCatalogs(Arc::downgrade(ctx.state().catalog_list()));
    let schema = PgCatalogSchemaProvider::try_new(catalogs, static_tables()?, EmptyContextProvider)?;
    let catalog = ctx.catalog(CATALOG).ok_or_else(|| DataFusionError::Internal(format!("no catalog {CATALOG}")))?;
    catalog.register_schema("pg_catalog", Arc::new(schema))?;
    Ok(())
}

/// The catalog's fixed tables (types, operators, keywords), read once per process.
fn static_tables() -> DfResult<Arc<PgCatalogStaticTables>> {
    static TABLES: OnceLock<Arc<PgCatalogStaticTables>> = OnceLock::new();
    if let Some(tables) = TABLES.get() {
        return Ok(tables.clone());
    }
    let tables = Arc::new(PgCatalogStaticTables::try_new()?);
    Ok(TABLES.get_or_init(|| tables).clone())
}

/// A session's catalog list, held weakly: empty once the session is gone.
#[derive(Clone, Debug)]
struct WeakCatalogs(Weak<dyn CatalogProviderList>);

impl WeakCatalogs {
    fn get(&self) -> DfResult<Arc<dyn CatalogProviderList>> {
        self.0.upgrade().ok_or_else(|| DataFusionError::Execution("the SQL session was replaced; run the statement again".into()))
    }
}

#[async_trait]
impl CatalogInfo for WeakCatalogs {
    async fn catalog_names(&self) -> DfResult<Vec<String>> {
        CatalogInfo::catalog_names(&self.get()?).await
    }

    async fn schema_names(&self, catalog_name: &str) -> DfResult<Option<Vec<String>>> {
        CatalogInfo::schema_names(&self.get()?, catalog_name).await
    }

    async fn table_names(&self, catalog_name: &str, schema_name: &str) -> DfResult<Option<Vec<String>>> {
        CatalogInfo::table_names(&self.get()?, catalog_name, schema_name).await
    }

    async fn table_schema(&self, catalog_name: &str, schema_name: &str, table_name: &str) -> DfResult<Option<SchemaRef>> {
        CatalogInfo::table_schema(&self.get()?, catalog_name, schema_name, table_name).await
    }

    async fn table_type(&self, catalog_name: &str, schema_name: &str, table_name: &str) -> DfResult<Option<TableType>> {
        CatalogInfo::table_type(&self.get()?, catalog_name, schema_name, table_name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dropped_session_is_freed_and_its_catalog_still_lists_tables_while_it_lives() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t AS VALUES (1)").await.unwrap().collect().await.unwrap();
        register(&ctx).unwrap();
        let listed = ctx.sql("SELECT relname FROM pg_catalog.pg_class WHERE relname = 't'").await.unwrap().collect().await.unwrap();
        assert_eq!(listed.iter().map(|b| b.num_rows()).sum::<usize>(), 1, "pg_class lists the session's table");
        let weak = Arc::downgrade(ctx.state().catalog_list());
        drop(ctx);
        assert!(weak.upgrade().is_none(), "the catalog list (and every table in it) is freed with the session");
    }
}
