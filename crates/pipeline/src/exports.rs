//! The export steps `report`, `dhis2` and `portal`: what `tonghop export report|dhis2|portal` does,
//! from a spec, writing below the lake root (`outbox/` by default) or to a URL.

use std::path::Path;

use chrono::Utc;
use tonghop_core::{Catalog, UnitRegistry};
use tonghop_engine::Engine;
use tonghop_export::{Auth, Dhis2Export, Dhis2Format, Dhis2Scope, ExportRecord, ReportData, ReportScope};
use tonghop_lake::{Lake, Location};

use crate::spec::resolve_period;
use crate::{Error, Result, StepKind};

/// What an export step did.
pub(crate) struct Outcome {
    /// One line for people.
    pub summary: String,
    /// URLs of the files written.
    pub urls: Vec<String>,
}

/// The boxed cause of a failed step.
type Cause = Box<dyn std::error::Error + Send + Sync>;

/// The folder a step writes to: a URL as given, anything else below the lake root.
fn folder(lake: &Lake, to: &str) -> Result<Location, Cause> {
    Ok(if to.contains("://") { Location::parse(to)? } else { lake.root().join(to.trim_end_matches('/'))? })
}

fn secret(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// Pushes and turns a push the target did not take into an error (so the step's retries apply).
async fn push(lake: &Lake, request: &tonghop_export::Push) -> Result<String, Cause> {
    let entry = tonghop_export::push(lake, request).await?;
    if !entry.succeeded() {
        return Err(Box::new(Error::PushNotAccepted { line: entry.one_line(), export_id: entry.export_id }));
    }
    Ok(entry.one_line())
}

/// Runs one export step with a read session of the lake as it is now.
#[tracing::instrument(skip_all)]
pub(crate) async fn run(
    kind: &StepKind,
    engine: &Engine,
    lake: &Lake,
    registry: &UnitRegistry,
    catalog: &Catalog,
    project_root: &Path,
    today: chrono::NaiveDate,
) -> Result<Outcome, Cause> {
    let produced_at = Utc::now();
    let record = |export: String| ExportRecord { export, produced_at, as_of: None, versions: engine.versions().clone() };
    match kind {
        StepKind::Report { unit, period, to } => {
            let scope = ReportScope::resolve(registry, unit, &resolve_period(period, today))?;
            let label = format!("{} {}", scope.unit_label(), scope.period.name_vi());
            let data = ReportData::gather(engine, catalog, scope, produced_at).await?;
            let record = record(format!("report {}:{} {}", data.scope.epoch, data.scope.unit.code, data.scope.period));
            let url = tonghop_export::store_with_record(&folder(lake, to)?, &data.scope.file_name(), data.to_xlsx()?, &record).await?;
            Ok(Outcome { summary: format!("report {label}: {url}"), urls: vec![url] })
        }
        StepKind::Dhis2 {
            periods,
            units,
            levels,
            mapping,
            formats,
            to,
            data_set,
            skip_unmapped,
            push: target,
            user,
            password_env,
            token_env,
            force,
            push_retry,
        } => {
            let periods: Vec<String> = periods.iter().map(|p| resolve_period(p, today)).collect();
            let scope = Dhis2Scope::resolve(registry, &periods, units, levels)?;
            let mapping_path = project_root.join(mapping);
            let id_mapping = tonghop_formats::IdMapping::load(&mapping_path)?;
            let export = Dhis2Export::gather(engine, &scope, &id_mapping, mapping, data_set.clone(), *skip_unmapped).await?;
            let record = record(scope.label());
            let mut lines = vec![format!("{}: {} value(s), {} left out without a DHIS2 id", scope.label(), export.set.data_values.len(), export.skipped)];
            let mut urls = Vec::new();
            for format in formats.iter().filter_map(|f| Dhis2Format::parse(f)) {
                let url = tonghop_export::store_with_record(&folder(lake, to)?, &scope.file_name(format), export.to_bytes(format)?, &record).await?;
                lines.push(url.clone());
                urls.push(url);
            }
            if let Some(target) = target {
                let auth = match user {
                    Some(user) => {
                        let password = secret(password_env)
                            .ok_or_else(|| Error::MissingSecret { variable: password_env.clone(), what: format!("the DHIS2 password of {user}") })?;
                        Auth::Basic { user: user.clone(), password }
                    }
                    None => secret(token_env).map(Auth::ApiToken).unwrap_or_default(),
                };
                let request = export.push_request(&scope, target, auth, push_retry.policy(), *force, &record);
                lines.push(push(lake, &request).await?);
            }
            Ok(Outcome { summary: lines.join("; "), urls })
        }
        StepKind::Portal { model, filter, url, token_env, force, push_retry } => {
            let (payload, rows) = tonghop_export::push::portal_payload(engine, model, filter.as_deref()).await?;
            let auth = match token_env {
                Some(var) => Auth::Bearer(secret(var).ok_or_else(|| Error::MissingSecret { variable: var.clone(), what: format!("the token of {url}") })?),
                None => Auth::None,
            };
            let request = tonghop_export::Push {
                kind: tonghop_export::PushKind::Portal,
                export: format!("table {model}"),
                target: url.clone(),
                payload,
                values: Some(rows as i64),
                auth,
                retry: push_retry.policy(),
                force: *force,
                versions: engine.versions().clone(),
                data_as_of: Some(produced_at),
            };
            Ok(Outcome { summary: format!("{rows} rows of {model}: {}", push(lake, &request).await?), urls: Vec::new() })
        }
        StepKind::Ingest(_) | StepKind::Build { .. } | StepKind::Export { .. } => Err("not a report, dhis2 or portal step".into()),
    }
}
