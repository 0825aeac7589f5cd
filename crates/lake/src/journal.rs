//! The submission journal: submissions already answered but not yet in the Delta tables.
//!
//! A commit of submissions is three Delta commits (`data_values`, `rejections`, then the
//! `submissions` rows that make them visible), each of which replays part of its table's log. The
//! service answers a submission as soon as its [`Entry`] is written to `journal/` (one atomic object
//! put for a whole group of submissions), and a background task moves the entries into the Delta
//! tables, many at a time, then deletes them. An answered submission is therefore durable on the lake
//! before its answer and appears in SQL a moment later; a service stopped or killed in between
//! commits what its journal holds when it starts again.
//!
//! An entry object is the three batches as Arrow IPC streams, each preceded by its length (8 bytes,
//! little-endian), in the order values, rejections, submissions.

use arrow::array::{AsArray, RecordBatch};
use arrow::ipc::{reader::StreamReader, writer::StreamWriter};

use crate::{tables, Error, Lake, Result};

/// The folder of the journal, below the lake root.
pub const FOLDER: &str = "journal";

/// Journal entries read at once.
const CONCURRENT_REQUESTS: usize = 16;

/// What one commit of submissions appends: their accepted values, their rejections, and their
/// `submissions` rows (the commit marker).
#[derive(Debug, Clone)]
pub struct Entry {
    /// Rows for `data_values`.
    pub values: RecordBatch,
    /// Rows for `rejections`.
    pub rejections: RecordBatch,
    /// Rows for `submissions`.
    pub submissions: RecordBatch,
}

/// A journal entry read back from the lake.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Its path below the lake root.
    pub path: String,
    /// What it holds.
    pub entry: Entry,
}

impl Entry {
    /// Several entries as one (a single commit for all of them).
    pub fn concat(entries: &[Entry]) -> Result<Entry> {
        let concat = |schema: &arrow::datatypes::SchemaRef, pick: fn(&Entry) -> &RecordBatch| arrow::compute::concat_batches(schema, entries.iter().map(pick));
        Ok(Entry {
            values: concat(&tables::DATA_VALUES.schema, |e| &e.values)?,
            rejections: concat(&tables::REJECTIONS.schema, |e| &e.rejections)?,
            submissions: concat(&tables::SUBMISSIONS.schema, |e| &e.submissions)?,
        })
    }

    fn strings(&self, column: &str) -> Vec<String> {
        self.submissions
            .column_by_name(column)
            .and_then(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).ok())
            .map(|c| c.as_string::<i32>().iter().flatten().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// The submission ids it commits.
    pub fn submission_ids(&self) -> Vec<String> {
        self.strings("submission_id")
    }

    /// The content hashes of the submissions it commits.
    pub fn content_hashes(&self) -> Vec<String> {
        self.strings("content_hash")
    }

    /// The entry as bytes (see the module docs).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for batch in [&self.values, &self.rejections, &self.submissions] {
            let mut writer = StreamWriter::try_new(Vec::new(), &batch.schema())?;
            writer.write(batch)?;
            let bytes = writer.into_inner()?;
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(&bytes);
        }
        Ok(out)
    }

    /// Reads an entry written by [`Entry::encode`]; `what` names it in errors.
    pub fn decode(bytes: &[u8], what: &str) -> Result<Entry> {
        let broken = |why: String| Error::Journal { path: what.to_string(), reason: why };
        let mut rest = bytes;
        let mut parts = Vec::with_capacity(3);
        for spec in [&*tables::DATA_VALUES, &*tables::REJECTIONS, &*tables::SUBMISSIONS] {
            let (len, tail) = rest.split_first_chunk::<8>().ok_or_else(|| broken(format!("cut short before the {} rows", spec.name)))?;
            let len = u64::from_le_bytes(*len) as usize;
            if tail.len() < len {
                return Err(broken(format!("cut short in the {} rows", spec.name)));
            }
            let reader = StreamReader::try_new(std::io::Cursor::new(&tail[..len]), None)?;
            let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
            let batch = arrow::compute::concat_batches(&spec.schema, &batches).map_err(|e| broken(format!("{} rows: {e}", spec.name)))?;
            parts.push(batch);
            rest = &tail[len..];
        }
        let submissions = parts.pop().expect("three parts");
        let rejections = parts.pop().expect("three parts");
        let values = parts.pop().expect("three parts");
        Ok(Entry { values, rejections, submissions })
    }
}

impl Lake {
    /// Writes an entry to the journal (one atomic put); returns its path below the lake root.
    #[tracing::instrument(skip_all, fields(submissions = entry.submissions.num_rows(), values = entry.values.num_rows()))]
    pub async fn journal_write(&self, entry: &Entry) -> Result<String> {
        // Names sort in the order they were written (time, then a random part against collisions).
        let path = format!("{FOLDER}/{}-{}.arrows", chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"), uuid::Uuid::new_v4().simple());
        self.root().put(&path, entry.encode()?).await?;
        Ok(path)
    }

    /// The entries in the journal, oldest first.
    #[tracing::instrument(skip(self))]
    pub async fn journal_pending(&self) -> Result<Vec<Pending>> {
        use futures::{StreamExt, TryStreamExt};
        // Read several at a time (in order): after a run of crashes it can hold tens of thousands.
        let read = futures::stream::iter(self.journal_paths().await?)
            .map(|path| async move {
                let Some(bytes) = self.root().get(&path).await? else { return Ok(None) };
                let entry = Entry::decode(&bytes, &format!("{}{path}", self.root().url()))?;
                Ok::<_, crate::Error>(Some(Pending { path, entry }))
            })
            .buffered(CONCURRENT_REQUESTS);
        Ok(read.try_collect::<Vec<_>>().await?.into_iter().flatten().collect())
    }

    /// The paths of the journal's entries, oldest first.
    pub async fn journal_paths(&self) -> Result<Vec<String>> {
        use futures::TryStreamExt;
        let prefix = self.root().path(FOLDER);
        let listed: Vec<_> = self.root().store().list(Some(&prefix)).try_collect().await?;
        let mut paths: Vec<String> =
            listed.iter().filter_map(|o| o.location.filename().map(|f| format!("{FOLDER}/{f}"))).filter(|p| p.ends_with(".arrows")).collect();
        paths.sort();
        Ok(paths)
    }

    /// Deletes journal entries (their content is in the Delta tables).
    #[tracing::instrument(skip(self, paths), fields(entries = paths.len()))]
    pub async fn journal_remove(&self, paths: &[String]) -> Result<()> {
        use futures::{StreamExt, TryStreamExt};
        let store = self.root().store();
        // In bulk (S3's DeleteObjects; concurrent deletes on other stores).
        let locations: Vec<object_store::Result<object_store::path::Path>> = paths.iter().map(|p| Ok(self.root().path(p))).collect();
        store
            .delete_stream(futures::stream::iter(locations).boxed())
            .map(|deleted| match deleted {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            })
            .try_collect::<()>()
            .await?;
        Ok(())
    }

    /// The submission ids of every entry in the journal (rows of theirs in `data_values` without a
    /// `submissions` row are being committed, not left by a crash).
    pub async fn journal_submission_ids(&self) -> Result<std::collections::HashSet<String>> {
        Ok(self.journal_pending().await?.iter().flat_map(|p| p.entry.submission_ids()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
    use std::sync::Arc;

    fn column(field: &arrow::datatypes::Field, n: usize, i: usize) -> ArrayRef {
        use arrow::datatypes::DataType;
        match field.data_type() {
            DataType::Utf8 => Arc::new(StringArray::from_iter_values((0..n).map(|r| format!("{}-{i}-{r}", field.name())))),
            DataType::Float64 => Arc::new(Float64Array::from_iter_values((0..n).map(|r| r as f64))),
            DataType::Int64 => Arc::new(Int64Array::from_iter_values((0..n).map(|r| r as i64))),
            DataType::Boolean => Arc::new(BooleanArray::from(vec![false; n])),
            DataType::Timestamp(_, tz) => Arc::new(TimestampMicrosecondArray::from_iter_values((0..n).map(|r| r as i64)).with_timezone_opt(tz.clone())),
            other => panic!("no test column for {other}"),
        }
    }

    fn batch(spec: &crate::TableSpec, n: usize, i: usize) -> RecordBatch {
        let columns = spec.schema.fields().iter().map(|f| column(f, n, i)).collect();
        RecordBatch::try_new(spec.schema.clone(), columns).unwrap()
    }

    fn entry(i: usize) -> Entry {
        Entry { values: batch(&tables::DATA_VALUES, 3, i), rejections: batch(&tables::REJECTIONS, i % 2, i), submissions: batch(&tables::SUBMISSIONS, 1, i) }
    }

    #[tokio::test]
    async fn entries_are_written_listed_in_order_read_back_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
        assert!(lake.journal_pending().await.unwrap().is_empty(), "no journal folder yet: nothing pending");
        let mut paths = Vec::new();
        for i in 0..3 {
            paths.push(lake.journal_write(&entry(i)).await.unwrap());
        }
        let pending = lake.journal_pending().await.unwrap();
        assert_eq!(pending.iter().map(|p| p.path.clone()).collect::<Vec<_>>(), paths, "oldest first");
        for (i, p) in pending.iter().enumerate() {
            let e = entry(i);
            assert_eq!((&p.entry.values, &p.entry.rejections, &p.entry.submissions), (&e.values, &e.rejections, &e.submissions));
        }
        assert_eq!(lake.journal_submission_ids().await.unwrap().len(), 3);
        let all = Entry::concat(&pending.iter().map(|p| p.entry.clone()).collect::<Vec<_>>()).unwrap();
        assert_eq!((all.values.num_rows(), all.rejections.num_rows(), all.submissions.num_rows()), (9, 1, 3));
        assert_eq!(all.submission_ids(), vec!["submission_id-0-0", "submission_id-1-0", "submission_id-2-0"]);
        lake.journal_remove(&paths[..2]).await.unwrap();
        assert_eq!(lake.journal_paths().await.unwrap(), vec![paths[2].clone()]);
    }

    #[test]
    fn a_cut_entry_is_an_error_naming_it() {
        let bytes = entry(1).encode().unwrap();
        let err = Entry::decode(&bytes[..bytes.len() - 10], "journal/x.arrows").unwrap_err().to_string();
        assert!(err.contains("journal/x.arrows") && err.contains("submissions"), "{err}");
    }
}
