//! Leases: at most one holder of a named lease among all the processes and machines sharing a
//! lake, so that two runs of one pipeline never overlap.
//!
//! A lease is a small JSON object `leases/<name>.json` created with a conditional put
//! (`If-None-Match: *` on S3, an atomic create on a local folder): of two processes creating it
//! together, exactly one succeeds. It carries an expiry, renewed by its holder while it works, so a
//! holder that crashed blocks nobody for longer than the time to live: the next process replaces an
//! expired lease (a conditional update on stores that have one; on a local folder, a delete of the
//! unchanged object then a create).

use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::{Error, Lake, Location, Result};

/// What a lease object says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    /// Who holds it (host and process id, say).
    pub holder: String,
    /// When it was taken.
    pub acquired_at: DateTime<Utc>,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
    /// The holder's host name, so that a process on the same host can tell a dead holder.
    #[serde(default)]
    pub host: Option<String>,
    /// The holder's process id on that host.
    #[serde(default)]
    pub pid: Option<u32>,
}

/// This machine's host name (from `/etc/hostname` or `HOSTNAME`).
pub fn this_host() -> String {
    let host = std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty());
    host.or_else(|| std::env::var("HOSTNAME").ok()).unwrap_or_else(|| "unknown-host".into())
}

impl LeaseInfo {
    /// Whether the holder is a process of this host that no longer exists (it crashed or was
    /// killed): its lease need not be waited for. Only known on Linux (`/proc`); elsewhere false.
    pub fn holder_is_dead(&self) -> bool {
        match (&self.host, self.pid) {
            (Some(host), Some(pid)) if cfg!(target_os = "linux") && *host == this_host() && pid != std::process::id() => {
                !std::path::Path::new(&format!("/proc/{pid}")).exists()
            }
            _ => false,
        }
    }
}

/// A held lease; [`Lease::release`] gives it back (a dropped one lapses at its expiry).
#[derive(Debug)]
pub struct Lease {
    name: String,
    location: Location,
    relative: String,
    info: LeaseInfo,
    version: UpdateVersion,
}

fn ttl_from(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1))
}

impl Lake {
    /// Takes the lease `name` for `holder` for `ttl`, or fails with [`Error::LeaseHeld`] naming the
    /// current holder when someone holds it and it has not expired.
    #[tracing::instrument(skip(self), fields(lake = %self.root().url()))]
    pub async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Lease> {
        let location = self.root().clone();
        let relative = format!("leases/{name}.json");
        if let Some(dir) = location.local_dir() {
            let dir = dir.join("leases");
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
        }
        let store = location.store();
        let path = location.path(&relative);
        // What this call has written: when the store applied a put whose answer was lost (and the
        // client's retry then found the object there), the lease found is one of these, and ours.
        let mut written: Vec<LeaseInfo> = Vec::new();
        // Two rounds: a lease released between our create and our read is simply created again.
        for _ in 0..2 {
            let now = Utc::now();
            let info = LeaseInfo {
                holder: holder.to_string(),
                acquired_at: now,
                expires_at: ttl_from(now, ttl),
                host: Some(this_host()),
                pid: Some(std::process::id()),
            };
            let payload = PutPayload::from(serde_json::to_vec(&info).expect("plain struct"));
            written.push(info.clone());
            match store.put_opts(&path, payload.clone(), PutOptions::from(PutMode::Create)).await {
                Ok(put) => {
                    tracing::info!(name, holder, "lease taken");
                    let version = UpdateVersion { e_tag: put.e_tag, version: put.version };
                    return Ok(Lease { name: name.to_string(), location, relative, info, version });
                }
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let current = match store.get(&path).await {
                Ok(found) => {
                    let meta = found.meta.clone();
                    let bytes = found.bytes().await?;
                    let held: LeaseInfo = serde_json::from_slice(&bytes).map_err(|e| Error::InvalidLocation {
                        location: format!("{}/{relative}", location.url()),
                        reason: format!("not a lease object: {e}"),
                    })?;
                    (held, UpdateVersion { e_tag: meta.e_tag, version: meta.version })
                }
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let (held, seen) = current;
            if written.contains(&held) {
                tracing::info!(name, holder, "lease taken (the store's answer to our put was lost; the lease found is ours)");
                return Ok(Lease { name: name.to_string(), location, relative, info: held, version: seen });
            }
            let dead = held.holder_is_dead();
            if held.expires_at > now && !dead {
                return Err(Error::LeaseHeld { name: name.to_string(), holder: held.holder, acquired_at: held.acquired_at, expires_at: held.expires_at });
            }
            // Expired: replace it only if it is still the object we read.
            if dead {
                tracing::warn!(name, previous = %held.holder, "taking over the lease of a process of this host that no longer runs");
            } else {
                tracing::warn!(name, previous = %held.holder, expired = %held.expires_at, "taking over an expired lease");
            }
            match store.put_opts(&path, payload, PutOptions::from(PutMode::Update(seen))).await {
                Ok(put) => {
                    let version = UpdateVersion { e_tag: put.e_tag, version: put.version };
                    return Ok(Lease { name: name.to_string(), location, relative, info, version });
                }
                Err(object_store::Error::Precondition { .. }) | Err(object_store::Error::AlreadyExists { .. }) => continue,
                Err(object_store::Error::NotImplemented { .. }) => {
                    // A local folder has no conditional update: delete the expired object if it is
                    // unchanged, then create ours (a concurrent taker loses the create).
                    let unchanged = match store.get(&path).await {
                        Ok(found) => serde_json::from_slice::<LeaseInfo>(&found.bytes().await?).ok() == Some(held.clone()),
                        Err(object_store::Error::NotFound { .. }) => true,
                        Err(e) => return Err(e.into()),
                    };
                    if unchanged {
                        match store.delete(&path).await {
                            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        // Lost every race: report whoever holds it now.
        let held = location.get(&relative).await?.and_then(|b| serde_json::from_slice::<LeaseInfo>(&b).ok());
        let held = held.unwrap_or(LeaseInfo { holder: "another process".into(), acquired_at: Utc::now(), expires_at: Utc::now(), host: None, pid: None });
        Err(Error::LeaseHeld { name: name.to_string(), holder: held.holder, acquired_at: held.acquired_at, expires_at: held.expires_at })
    }
}

impl Lease {
    /// What the lease says.
    pub fn info(&self) -> &LeaseInfo {
        &self.info
    }

    /// Extends the lease to `ttl` from now.
    #[tracing::instrument(skip(self), fields(name = %self.name))]
    pub async fn renew(&mut self, ttl: Duration) -> Result<()> {
        let mut info = self.info.clone();
        info.expires_at = ttl_from(Utc::now(), ttl);
        let payload = PutPayload::from(serde_json::to_vec(&info).expect("plain struct"));
        let store = self.location.store();
        let path = self.location.path(&self.relative);
        let put = match store.put_opts(&path, payload.clone(), PutOptions::from(PutMode::Update(self.version.clone()))).await {
            Err(object_store::Error::NotImplemented { .. }) => store.put_opts(&path, payload, PutOptions::from(PutMode::Overwrite)).await?,
            Err(object_store::Error::Precondition { .. }) => {
                // The store may have applied our update and lost its answer (the client's retry
                // then fails its precondition): the lease is still ours if it says what we wrote.
                let found = store.get(&path).await?;
                let meta = found.meta.clone();
                if serde_json::from_slice::<LeaseInfo>(&found.bytes().await?).ok().as_ref() != Some(&info) {
                    return Err(Error::LeaseHeld {
                        name: self.name.clone(),
                        holder: "another process (the lease was taken over)".into(),
                        acquired_at: self.info.acquired_at,
                        expires_at: self.info.expires_at,
                    });
                }
                object_store::PutResult { e_tag: meta.e_tag, version: meta.version }
            }
            other => other?,
        };
        self.version = UpdateVersion { e_tag: put.e_tag, version: put.version };
        self.info = info;
        Ok(())
    }

    /// Gives the lease back (deletes the object if it is still ours).
    #[tracing::instrument(skip(self), fields(name = %self.name))]
    pub async fn release(self) -> Result<()> {
        let current = self.location.get(&self.relative).await?.and_then(|b| serde_json::from_slice::<LeaseInfo>(&b).ok());
        if current.as_ref().is_some_and(|c| c.holder == self.info.holder && c.acquired_at == self.info.acquired_at) {
            match self.location.store().delete(&self.location.path(&self.relative)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_and_an_expired_lease_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let a = lake.acquire_lease("pipeline-nightly", "a", Duration::from_secs(60)).await.unwrap();
        let err = lake.acquire_lease("pipeline-nightly", "b", Duration::from_secs(60)).await.unwrap_err();
        assert!(matches!(&err, Error::LeaseHeld { holder, .. } if holder == "a"), "{err}");
        assert!(err.to_string().contains("held by a"), "{err}");
        // Another name is another lease.
        let other = lake.acquire_lease("pipeline-weekly", "b", Duration::from_secs(60)).await.unwrap();
        a.release().await.unwrap();
        let mut b = lake.acquire_lease("pipeline-nightly", "b", Duration::from_secs(60)).await.unwrap();
        b.renew(Duration::from_secs(120)).await.unwrap();
        other.release().await.unwrap();
        // A lease left by a crashed holder lapses at its expiry.
        drop(b);
        let crashed = lake.acquire_lease("pipeline-monthly", "crashed", Duration::from_millis(1)).await.unwrap();
        drop(crashed);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let c = lake.acquire_lease("pipeline-monthly", "c", Duration::from_secs(60)).await.unwrap();
        assert_eq!(c.info().holder, "c");
    }

    #[tokio::test]
    async fn of_many_takers_at_once_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let takers = (0..16).map(|i| {
            let lake = lake.clone();
            tokio::spawn(async move { lake.acquire_lease("race", &format!("t{i}"), Duration::from_secs(60)).await })
        });
        let results = futures::future::join_all(takers).await;
        let won = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
        assert_eq!(won, 1);
    }
}
