//! A model or table pushed as JSON to a reporting portal.

use serde::Deserialize;

use super::{push_accepted, refuse, secret, unknown_table_problem, Checks, ExportContext, ExportOutcome, PushRetry, PORTAL_TOKEN_ENV};
use crate::{Auth, Push, PushKind, Result};

/// A model or table, optionally filtered, pushed as JSON (`{"table", "where", "rows": [...]}`) to a
/// reporting portal with an idempotency key (`tonghop export portal`, the pipeline's `kind = "portal"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalRequest {
    /// The model or table (`model` in a pipeline step).
    #[serde(rename = "model", alias = "table")]
    pub table: String,
    /// A SQL predicate on its columns (`where` in a pipeline step).
    #[serde(default, rename = "where")]
    pub predicate: Option<String>,
    /// The portal's URL.
    pub url: String,
    /// The variable holding a bearer token (default `TONGHOP_PORTAL_TOKEN`, optional; a variable
    /// named here must be set).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Send even when this payload was accepted before.
    #[serde(default)]
    pub force: bool,
    /// Requests and waits of the push.
    #[serde(default)]
    pub push_retry: PushRetry,
}

impl PortalRequest {
    /// Every problem of the request, each saying what to change.
    pub fn problems(&self, checks: &Checks<'_>) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(unknown_table_problem(checks.known_tables, &self.table));
        out.extend(crate::push::request_url(PushKind::Portal, &self.url).err().map(|e| e.to_string()));
        out
    }

    /// Reads the rows and pushes them; one line says how many rows went and what the portal said.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Invalid`] listing the problems; [`crate::Error::MissingSecret`] before anything
    /// is sent; [`crate::Error::PushNotAccepted`] when the portal did not take the rows (the push is in
    /// `export_log`).
    #[tracing::instrument(skip_all, fields(table = %self.table, url = %self.url))]
    pub async fn run(&self, ctx: &ExportContext<'_>) -> Result<ExportOutcome> {
        refuse(&format!("the portal push of {}", self.table), ctx.check(|c| self.problems(c)))?;
        let auth = secret(self.token_env.as_deref(), PORTAL_TOKEN_ENV, || format!("the token of {}", self.url))?.map(Auth::Bearer).unwrap_or_default();
        let (payload, rows) = crate::push::portal_payload(ctx.engine, &self.table, self.predicate.as_deref()).await?;
        let predicate = self.predicate.as_deref().map(str::trim).filter(|p| !p.is_empty());
        let record = ctx.record(match predicate {
            Some(p) => format!("table {} where {p}", self.table),
            None => format!("table {}", self.table),
        });
        let request = Push {
            kind: PushKind::Portal,
            export: record.export.clone(),
            target: self.url.clone(),
            payload,
            values: Some(rows as i64),
            auth,
            retry: self.push_retry.policy(),
            force: self.force,
            versions: record.versions.clone(),
            data_as_of: Some(record.produced_at),
        };
        let entry = push_accepted(ctx.lake, &request).await?;
        Ok(ExportOutcome { lines: vec![format!("{rows} row(s) of {}: {}", self.table, entry.one_line())], files: Vec::new(), pushes: vec![entry], record })
    }
}
