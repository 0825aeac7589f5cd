//! Copying a whole lake to another location (`tonghop backup`) and back (`tonghop restore`), on
//! any pair of stores (a folder, S3).
//!
//! A copy taken while the service and pipelines write is still consistent, because objects are
//! copied in an order that only ever leaves the copy *behind*, never ahead, of what it holds:
//!
//! 1. `journal/`: an entry deleted after this point was committed first, so its commit is in
//!    the table logs copied next (an entry both copied and committed is skipped when the journal
//!    is committed again: entries are recognised by their submissions' content);
//! 2. `models/_build_state.json`, then the models' Delta logs: a build writes its models before
//!    its state, so the copied state never claims more than the copied models hold;
//! 3. the Delta log of `submissions`, then those of `data_values` and `rejections` (an ingest
//!    commits them in the other order, so every submission copied has its rows), then the other
//!    tables' logs;
//! 4. everything else: data files (each written before the commit that names it, and never
//!    deleted: tonghop runs no VACUUM), leases, received files, exports.
//!
//! Within each log, `_last_checkpoint` is copied before the files it names. Objects already in the
//! target with the same size are not copied again, so an interrupted copy can be run again.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt};

use crate::{Location, Result};

/// What a copy did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Copied {
    /// Objects copied.
    pub objects: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Objects already in the target (same path and size), left as they were.
    pub skipped: usize,
}

/// Copies every object below `from` to the same relative path below `to`, in the order of the
/// module's documentation; `progress` is told the bytes of each object copied.
#[tracing::instrument(skip(from, to, progress), fields(from = %from.url(), to = %to.url()))]
pub async fn copy_lake(from: &Location, to: &Location, progress: &(dyn Fn(u64) + Sync)) -> Result<Copied> {
    let mut copied = Copied::default();
    let mut done: HashSet<String> = HashSet::new();
    for (phase, prefix) in PHASE_PREFIXES.iter().enumerate() {
        // Each phase lists (below its prefix) when it starts: a log copied later holds at least
        // what earlier phases copied, and the last phase copies every file the copied logs name
        // (and newer ones).
        let listing = list(from, prefix).await?;
        let mut batch: Vec<(String, u64)> = listing.into_iter().filter(|(p, _)| phase_of(p) == phase && !done.contains(p)).collect();
        // `_last_checkpoint` first: the checkpoint it names was written before it.
        batch.sort_by_key(|(p, _)| !p.ends_with("/_last_checkpoint"));
        for (relative, size) in batch {
            if copy_one(from, to, &relative, size, &mut copied).await? {
                progress(size);
            }
            done.insert(relative);
        }
    }
    Ok(copied)
}

/// How many phases a copy has (see [`phase_of`]).
const PHASES: usize = 7;

/// Where each phase's objects are (the narrowest folder holding them all), so that a phase lists
/// only that folder.
const PHASE_PREFIXES: [&str; PHASES] = ["journal", "models", "models", "tables/submissions/_delta_log", "tables", "tables", ""];

/// The phase of the copy an object (its path relative to the lake) belongs to, in the order of the
/// module's documentation.
fn phase_of(path: &str) -> usize {
    let log = path.contains("/_delta_log/");
    if path.starts_with("journal/") {
        0
    } else if path == "models/_build_state.json" {
        1
    } else if log && path.starts_with("models/") {
        2
    } else if path.starts_with("tables/submissions/_delta_log/") {
        3
    } else if path.starts_with("tables/data_values/_delta_log/") || path.starts_with("tables/rejections/_delta_log/") {
        4
    } else if log {
        5
    } else {
        6
    }
}

/// Objects below `relative` of `location`, as paths relative to it, with their sizes.
async fn list(location: &Location, relative: &str) -> Result<Vec<(String, u64)>> {
    let prefix = location.path(relative);
    let base = location.prefix().as_ref().len();
    let objects: Vec<_> = location.store().list(Some(&prefix)).try_collect().await?;
    let mut out: Vec<(String, u64)> = objects
        .into_iter()
        .map(|m| {
            let path = m.location.as_ref();
            let rel = if base == 0 { path.to_string() } else { path.get(base + 1..).unwrap_or_default().to_string() };
            (rel, m.size)
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Copies one object unless the target has it with the same size; returns whether it copied.
async fn copy_one(from: &Location, to: &Location, relative: &str, size: u64, copied: &mut Copied) -> Result<bool> {
    let (source, target) = (from.path(relative), to.path(relative));
    let store = to.store();
    if let Ok(meta) = store.head(&target).await {
        if meta.size == size {
            copied.skipped += 1;
            return Ok(false);
        }
    }
    let got = match from.store().get(&source).await {
        Ok(g) => g,
        // Gone since the listing (a journal entry committed, a lease released): nothing to copy.
        Err(object_store::Error::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let mut stream = got.into_stream();
    let mut writer = object_store::buffered::BufWriter::new(store as std::sync::Arc<dyn ObjectStore>, target);
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        written += chunk.len() as u64;
        writer.put(chunk).await?;
    }
    tokio::io::AsyncWriteExt::shutdown(&mut writer).await.map_err(|source| crate::Error::Io { path: relative.to_string(), source })?;
    copied.objects += 1;
    copied.bytes += written;
    Ok(true)
}

/// Whether a location holds no object at all (a restore goes only into an empty lake).
pub async fn is_empty(location: &Location) -> Result<bool> {
    let mut listing = location.store().list(Some(location.prefix()));
    Ok(listing.next().await.transpose()?.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_is_never_ahead_of_what_it_holds() {
        let order = [
            "journal/20261205-abc.arrows",
            "models/_build_state.json",
            "models/indicator_values/_delta_log/00000000000000000003.json",
            "tables/submissions/_delta_log/00000000000000000007.json",
            "tables/data_values/_delta_log/00000000000000000007.json",
            "tables/audit/_delta_log/00000000000000000001.json",
            "tables/data_values/epoch=post2025/period=202601/part-0.parquet",
        ];
        let phases: Vec<usize> = order.iter().map(|p| phase_of(p)).collect();
        assert!(phases.windows(2).all(|w| w[0] < w[1]), "{phases:?}");
        assert_eq!(phase_of("tables/rejections/_delta_log/00000000000000000001.json"), phase_of(order[4]));
        assert_eq!(phase_of("leases/nightly.json"), PHASES - 1);
        for path in order {
            assert!(path.starts_with(PHASE_PREFIXES[phase_of(path)]), "{path} is listed by its phase");
        }
    }
}
