//! Storing written files.

use object_store::path::Path;
use object_store::{ObjectStore, PutOptions, PutPayload};

use crate::Error;
use crate::{ExportRecord, Result};

/// Writes `bytes` to `path` in `store` in one put.
///
/// The put is atomic on the stores tonghop uses: `LocalFileSystem` writes a
/// staging file next to the target and renames it into place, and S3 makes an
/// object visible only once its single `PUT` has completed. Nobody ever sees a
/// half-written file; an existing object at `path` is replaced.
///
/// The whole file is sent in one request, which suits report-sized files (up to
/// a few hundred MB; S3 caps a single `PUT` at 5 GB).
///
/// # Errors
///
/// [`Error::Store`] naming the path and the store.
#[tracing::instrument(skip(store, bytes), fields(store = %store, path = %path, bytes = bytes.len()))]
pub async fn write_object(store: &dyn ObjectStore, path: &Path, bytes: Vec<u8>) -> Result<()> {
    store.put_opts(path, PutPayload::from(bytes), PutOptions::default()).await.map_err(|source| Error::Store {
        path: path.to_string(),
        store: store.to_string(),
        source,
    })?;
    tracing::debug!("stored");
    Ok(())
}

/// Writes an export as `name` in `folder` (a local folder or an object-store prefix) and its
/// versions sidecar `<name>.versions.json` beside it; returns the file's URL.
///
/// # Errors
///
/// [`Error::Store`] naming the path and the store.
pub async fn store_with_record(folder: &tonghop_lake::Location, name: &str, bytes: Vec<u8>, record: &ExportRecord) -> Result<String> {
    let store = folder.store();
    write_object(store.as_ref(), &folder.path(name), bytes).await?;
    write_object(store.as_ref(), &folder.path(&ExportRecord::sidecar_name(name)), record.to_json()).await?;
    Ok(format!("{}{name}", folder.url()))
}
