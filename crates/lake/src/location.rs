//! Lake and inbox locations: a local path or an object-store URL.

use std::sync::Arc;

use object_store::{aws::AmazonS3Builder, local::LocalFileSystem, path::Path, ObjectStore};
use url::Url;

use crate::{Error, Result};

/// One object to move with [`Location::move_many`] (paths relative to the two locations).
#[derive(Debug, Clone)]
pub struct Move {
    /// Its path below the location it leaves.
    pub from: String,
    /// Its path below the target.
    pub to: String,
    /// Where it goes instead when an object is already at `to`.
    pub if_taken: String,
}

/// A place data is read from or written to: an object store and the URL of the folder in it.
#[derive(Debug, Clone)]
pub struct Location {
    url: Url,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl Location {
    /// Parses `s`: a local path (created if missing), `file:///abs/path`, or `s3://bucket/prefix`
    /// (configured from the `AWS_*` environment variables: `AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`).
    pub fn parse(s: &str) -> Result<Location> {
        let invalid = |reason: String| Error::InvalidLocation { location: s.to_string(), reason };
        let url = if s.contains("://") {
            Url::parse(s).map_err(|e| invalid(e.to_string()))?
        } else {
            let path = std::path::Path::new(s);
            std::fs::create_dir_all(path).map_err(|source| Error::Io { path: s.to_string(), source })?;
            let abs = std::fs::canonicalize(path).map_err(|source| Error::Io { path: s.to_string(), source })?;
            Url::from_directory_path(&abs).map_err(|_| invalid("not an absolute path".into()))?
        };
        let url = if url.path().ends_with('/') { url } else { Url::parse(&format!("{url}/")).map_err(|e| invalid(e.to_string()))? };
        let (store, prefix): (Arc<dyn ObjectStore>, Path) = match url.scheme() {
            "file" => {
                let dir = url.to_file_path().map_err(|_| invalid("not a local path".into()))?;
                std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
                (Arc::new(LocalFileSystem::new_with_prefix(&dir)?), Path::default())
            }
            "s3" | "s3a" => {
                let bucket = url.host_str().ok_or_else(|| invalid("s3 URL without a bucket".into()))?;
                let store = AmazonS3Builder::from_env().with_bucket_name(bucket).build()?;
                (Arc::new(store), Path::from(url.path().trim_matches('/')))
            }
            other => return Err(invalid(format!("unsupported scheme {other}: use a local path, file:// or s3://"))),
        };
        Ok(Location { url, store, prefix })
    }

    /// The folder URL, always ending in `/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The object store holding the location.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The path of the folder inside [`Self::store`].
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// A path below this location, inside [`Self::store`].
    pub fn path(&self, relative: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in relative.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    /// A sub-folder of this location.
    pub fn join(&self, relative: &str) -> Result<Location> {
        let url = self
            .url
            .join(&format!("{}/", relative.trim_matches('/')))
            .map_err(|e| Error::InvalidLocation { location: relative.to_string(), reason: e.to_string() })?;
        Ok(Location { url, store: self.store.clone(), prefix: self.path(relative) })
    }
}

impl Location {
    /// The local folder of a `file://` location.
    pub fn local_dir(&self) -> Option<std::path::PathBuf> {
        (self.url.scheme() == "file").then(|| self.url.to_file_path().ok()).flatten()
    }

    /// The folder `name` beside this one (`.../inbox/` → `.../archive/`).
    pub fn sibling(&self, name: &str) -> Result<Location> {
        let url = self.url.join(&format!("../{name}/")).map_err(|e| Error::InvalidLocation { location: name.to_string(), reason: e.to_string() })?;
        match url.to_file_path() {
            Ok(path) if url.scheme() == "file" => Location::parse(&path.display().to_string()),
            _ => Location::parse(url.as_str()),
        }
    }

    /// Moves objects below this location to `target`: each `from` goes to `to`, or to `if_taken`
    /// when an object is already at `to`. Returns where each went (`to` or `if_taken`). Between
    /// local folders each move is a rename, all made on one blocking thread with each new folder
    /// created once (an inbox of 233,601 small files took 24 s to move one file at a time, three
    /// trips to the blocking pool each). Elsewhere each is a copy then a delete, so a crash in
    /// between leaves the object in both places, never in neither.
    #[tracing::instrument(level = "debug", skip(self, moves, target), fields(from = %self.url, to = %target.url, files = moves.len()))]
    pub async fn move_many(&self, moves: &[Move], target: &Location) -> Result<Vec<String>> {
        if let (Some(from_dir), Some(to_dir)) = (self.local_dir(), target.local_dir()) {
            let moves = moves.to_vec();
            let moving = tokio::task::spawn_blocking(move || -> Result<Vec<String>> {
                let io = |path: &std::path::Path| {
                    let path = path.display().to_string();
                    move |source| Error::Io { path, source }
                };
                // Each target folder is made once.
                let mut folders = std::collections::HashSet::new();
                let mut make_folder_of = |to: &std::path::Path| -> Result<()> {
                    if let Some(parent) = to.parent().filter(|p| !folders.contains(*p)) {
                        std::fs::create_dir_all(parent).map_err(io(parent))?;
                        folders.insert(parent.to_path_buf());
                    }
                    Ok(())
                };
                let mut placed = Vec::with_capacity(moves.len());
                for m in moves {
                    let from = from_dir.join(&m.from);
                    let to = to_dir.join(&m.to);
                    make_folder_of(&to)?;
                    if rename_unless_taken(&from, &to).map_err(io(&from))? {
                        placed.push(m.to);
                    } else {
                        let to = to_dir.join(&m.if_taken);
                        make_folder_of(&to)?;
                        std::fs::rename(&from, &to).map_err(io(&from))?;
                        placed.push(m.if_taken);
                    }
                }
                Ok(placed)
            });
            return moving.await.map_err(|e| Error::Io { path: target.url.to_string(), source: std::io::Error::other(e) })?;
        }
        let mut placed = Vec::with_capacity(moves.len());
        for m in moves {
            use object_store::ObjectStoreExt;
            let relative = if target.exists(&m.to).await? { &m.if_taken } else { &m.to };
            let bytes = self.store.get(&self.path(&m.from)).await?.bytes().await?;
            target.store.put(&target.path(relative), bytes.into()).await?;
            self.store.delete(&self.path(&m.from)).await?;
            placed.push(relative.clone());
        }
        Ok(placed)
    }

    /// Whether an object exists at `relative` below this location.
    pub async fn exists(&self, relative: &str) -> Result<bool> {
        use object_store::ObjectStoreExt;
        match self.store.head(&self.path(relative)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a small object at `relative` below this location (`None` when there is none).
    pub async fn get(&self, relative: &str) -> Result<Option<Vec<u8>>> {
        use object_store::ObjectStoreExt;
        match self.store.get(&self.path(relative)).await {
            Ok(found) => Ok(Some(found.bytes().await?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a small object at `relative` below this location.
    pub async fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<()> {
        use object_store::ObjectStoreExt;
        if let Some(dir) = self.local_dir() {
            if let Some(parent) = dir.join(relative).parent() {
                std::fs::create_dir_all(parent).map_err(|source| Error::Io { path: parent.display().to_string(), source })?;
            }
        }
        self.store.put(&self.path(relative), bytes.into()).await?;
        Ok(())
    }
}

/// Renames `from` to `to` unless something is already at `to`, in which case nothing moves and
/// the answer is `false`. On Linux one `renameat2(RENAME_NOREPLACE)` call, which also leaves no
/// moment between the check and the rename: checking first (`std::fs::exists`) was 8 % of ingesting
/// the whole country's 234,068 files, a failed lookup in the archive's folder before the rename
/// looked the same name up again. Elsewhere, or on a file system without that flag, check then rename.
fn rename_unless_taken(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        use rustix::io::Errno;
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(true),
            Err(Errno::EXIST) => return Ok(false),
            // The flag is not supported here: fall back below.
            Err(Errno::INVAL | Errno::NOSYS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if std::fs::exists(to)? {
        return Ok(false);
    }
    std::fs::rename(from, to)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_become_directory_urls() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::parse(dir.path().join("lake").to_str().unwrap()).unwrap();
        assert_eq!(loc.url().scheme(), "file");
        assert!(loc.url().path().ends_with("/lake/"));
        let tables = loc.join("tables/data_values").unwrap();
        assert!(tables.url().as_str().ends_with("/lake/tables/data_values/"));
        assert_eq!(tables.prefix().as_ref(), "tables/data_values");
    }

    #[tokio::test]
    async fn moves_make_their_folders_and_keep_what_is_already_there() {
        let dir = tempfile::tempdir().unwrap();
        let local = |folder: &str| Location::parse(dir.path().join(folder).to_str().unwrap()).unwrap();
        // The same rule on an object store (no local folder: a copy, then a delete).
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let in_memory = |folder: &str| Location { url: Url::parse(&format!("memory:///{folder}/")).unwrap(), store: store.clone(), prefix: Path::from(folder) };
        let moves = [
            Move { from: "a/x.csv".into(), to: "d/a/x.csv".into(), if_taken: "d/a/x.s1.csv".into() },
            Move { from: "y.csv".into(), to: "d/y.csv".into(), if_taken: "d/y.s2.csv".into() },
        ];
        for (inbox, archive) in [(local("inbox"), local("archive")), (in_memory("inbox"), in_memory("archive"))] {
            inbox.put("a/x.csv", b"new x".to_vec()).await.unwrap();
            inbox.put("y.csv", b"y".to_vec()).await.unwrap();
            archive.put("d/a/x.csv", b"old x".to_vec()).await.unwrap();
            let placed = inbox.move_many(&moves, &archive).await.unwrap();
            assert_eq!(placed, ["d/a/x.s1.csv", "d/y.csv"], "{}", inbox.url());
            assert_eq!(archive.get("d/a/x.csv").await.unwrap().unwrap(), b"old x", "what was there is kept");
            assert_eq!(archive.get("d/a/x.s1.csv").await.unwrap().unwrap(), b"new x");
            assert_eq!(archive.get("d/y.csv").await.unwrap().unwrap(), b"y");
            assert!(!inbox.exists("a/x.csv").await.unwrap() && !inbox.exists("y.csv").await.unwrap(), "the inbox is empty");
            // A file that is not there: an error naming it.
            let err = inbox.move_many(&moves[1..], &archive).await.unwrap_err().to_string();
            assert!(err.contains("y.csv"), "{err}");
        }
    }

    #[test]
    fn unsupported_schemes_are_refused_by_name() {
        let err = Location::parse("ftp://example/lake").unwrap_err().to_string();
        assert!(err.contains("unsupported scheme ftp"), "{err}");
    }
}
