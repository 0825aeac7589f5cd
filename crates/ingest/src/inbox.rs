//! Ingesting every file of an inbox (a folder or an object-store prefix).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha256};
use tonghop_core::{Catalog, UnitRegistry};
use tonghop_lake::{Lake, Location};

use crate::commit::{Batch, FileOutcome};
use crate::validate::Validator;
use crate::{csv_long, Error, Result};

/// Rows (values + rejections) committed together; bounds memory on large inboxes.
const ROWS_PER_COMMIT: usize = 500_000;
/// Files read at once.
const READ_CONCURRENCY: usize = 64;

/// What an ingest run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IngestSummary {
    /// Files found in the inbox.
    pub files_seen: usize,
    /// Files committed in this run.
    pub files_ingested: usize,
    /// Files skipped because identical content was committed before (or twice in this inbox).
    pub files_already_ingested: usize,
    /// Files that could not be parsed at all (recorded with status `failed`).
    pub files_failed: usize,
    /// Values accepted.
    pub rows_accepted: usize,
    /// Rows refused.
    pub rows_rejected: usize,
    /// Refused rows by reason code.
    pub rejected_by_reason: BTreeMap<String, usize>,
    /// Submission ids of interrupted earlier runs whose partial rows were removed.
    pub uncommitted_removed: usize,
}

/// Ingests submissions into a lake.
pub struct Ingestor {
    lake: Lake,
    registry: Arc<UnitRegistry>,
    catalog: Arc<Catalog>,
    today: chrono::NaiveDate,
}

impl Ingestor {
    /// An ingestor checking against `registry` and `catalog`; periods starting after `today` are refused.
    pub fn new(lake: Lake, registry: Arc<UnitRegistry>, catalog: Arc<Catalog>, today: chrono::NaiveDate) -> Self {
        Ingestor { lake, registry, catalog, today }
    }

    /// Ingests every `.csv` file below `inbox`. Files whose content was already committed are skipped,
    /// so running twice over the same inbox changes nothing. `progress` is called with the number of
    /// files just handled.
    #[tracing::instrument(skip(self, progress), fields(inbox = %inbox.url()))]
    pub async fn ingest(&self, inbox: &Location, progress: &(dyn Fn(u64) + Sync)) -> Result<IngestSummary> {
        let mut summary = IngestSummary { uncommitted_removed: self.lake.remove_uncommitted().await?, ..Default::default() };
        let known = self.lake.committed_hashes().await?;
        let store = inbox.store();
        let inbox_name = inbox.url().to_string();
        let mut objects: Vec<_> = store
            .list(Some(inbox.prefix()))
            .try_collect::<Vec<_>>()
            .await
            .map_err(|source| Error::Inbox { location: inbox_name.clone(), source })?;
        objects.retain(|o| o.location.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")));
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        summary.files_seen = objects.len();
        tracing::info!(files = objects.len(), known = known.len(), "inbox listed");

        let mut reads = futures::stream::iter(objects)
            .map(|meta| {
                let store = store.clone();
                async move {
                    let bytes = store.get(&meta.location).await?.bytes().await?;
                    Ok::<_, object_store::Error>((meta, bytes))
                }
            })
            .buffered(READ_CONCURRENCY);
        let mut batch = Batch::default();
        let mut seen_now = HashSet::new();
        let ingested_at = Utc::now();
        while let Some(read) = reads.next().await {
            let (meta, bytes) = read.map_err(|source| Error::Inbox { location: inbox_name.clone(), source })?;
            progress(1);
            let hash = hex::encode(Sha256::digest(&bytes));
            if known.contains(&hash) || !seen_now.insert(hash.clone()) {
                summary.files_already_ingested += 1;
                continue;
            }
            let source = format!("{}{}", inbox.url(), meta.location.as_ref().strip_prefix(inbox.prefix().as_ref()).unwrap_or(meta.location.as_ref()).trim_start_matches('/'));
            let mut validator = Validator::new(&self.registry, &self.catalog, self.today);
            let (values, rejections, error) = match csv_long::parse(&bytes, &mut validator) {
                Ok(parsed) => (parsed.values, parsed.rejections, None),
                Err(reason) => {
                    tracing::warn!(file = %source, %reason, "file cannot be read");
                    (vec![], vec![], Some(reason))
                }
            };
            summary.files_ingested += 1;
            summary.files_failed += usize::from(error.is_some());
            summary.rows_accepted += values.len();
            summary.rows_rejected += rejections.len();
            for r in &rejections {
                *summary.rejected_by_reason.entry(r.reason.to_string()).or_default() += 1;
            }
            batch.push(FileOutcome {
                submission_id: hash[..16].to_string(),
                content_hash: hash,
                source,
                format: "csv",
                received_at: meta.last_modified,
                values,
                rejections,
                error,
            });
            if batch.rows() >= ROWS_PER_COMMIT {
                std::mem::take(&mut batch).commit(&self.lake, ingested_at).await?;
            }
        }
        if !batch.is_empty() {
            batch.commit(&self.lake, ingested_at).await?;
        }
        tracing::info!(files = summary.files_ingested, accepted = summary.rows_accepted, rejected = summary.rows_rejected, "ingest committed");
        Ok(summary)
    }
}
