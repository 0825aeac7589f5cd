//! Tokens and PostgreSQL users changed without a restart.
//!
//! The configuration file is read again on SIGHUP, and whenever its content changes (looked at
//! every `access_poll_seconds`, default 2 s, so an edit takes effect within seconds, a
//! Kubernetes Secret or ConfigMap swap included). A file that reads and checks cleanly replaces
//! the tokens and PostgreSQL users in use, whole: a token removed (revoked) is refused from the
//! next request, a user removed cannot open a new connection (open ones keep running, as in
//! PostgreSQL). A file with problems changes nothing: the problems are logged, and the
//! credentials in use stay. Other settings (listeners, limits, the lake) take effect at the next
//! start; a change to them is logged as such. Every reload, and every refused one, is in the
//! audit trail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::audit::Entry;
use crate::auth::{Access, PgUser, TokenEntry};
use crate::config::ServerConfig;
use crate::service::Service;
use crate::{Error, Result};

/// The configuration file as last read: its digest, and its settings other than credentials.
pub struct ConfigFile {
    path: PathBuf,
    seen: Mutex<([u8; 32], toml::Table)>,
}

impl ConfigFile {
    /// The file `config` was read from, as it is now (none: the service runs on defaults).
    pub fn of(config: &ServerConfig) -> Option<ConfigFile> {
        let path = config.source.clone()?;
        let bytes = std::fs::read(&path).unwrap_or_default();
        let seen = (Sha256::digest(&bytes).into(), settings(&bytes));
        Some(ConfigFile { path, seen: Mutex::new(seen) })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The file's settings without the credentials (tokens, postgres users).
fn settings(bytes: &[u8]) -> toml::Table {
    let mut table: toml::Table = std::str::from_utf8(bytes).ok().and_then(|t| t.parse().ok()).unwrap_or_default();
    table.remove("tokens");
    if let Some(toml::Value::Table(pg)) = table.get_mut("postgres") {
        pg.remove("users");
    }
    table
}

/// What a reload changed, by name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Tokens added.
    pub tokens_added: Vec<String>,
    /// Tokens removed.
    pub tokens_removed: Vec<String>,
    /// Tokens whose hash, role, unit or expiry changed.
    pub tokens_changed: Vec<String>,
    /// PostgreSQL users added.
    pub users_added: Vec<String>,
    /// PostgreSQL users removed.
    pub users_removed: Vec<String>,
    /// PostgreSQL users whose verifier or expiry changed.
    pub users_changed: Vec<String>,
}

impl Changes {
    fn between(old: (&[TokenEntry], &[PgUser]), new: (&[TokenEntry], &[PgUser])) -> Changes {
        let tokens = |t: &[TokenEntry]| -> BTreeMap<String, String> {
            t.iter()
                .map(|e| (e.name.clone(), format!("{}|{:?}|{:?}|{:?}", e.sha256.to_ascii_lowercase(), e.role, e.unit, e.expires.map(|d| d.to_string()))))
                .collect()
        };
        let users = |u: &[PgUser]| -> BTreeMap<String, String> {
            u.iter().map(|e| (e.name.clone(), format!("{}|{:?}", e.scram, e.valid_until.map(|d| d.to_string())))).collect()
        };
        let (tokens_added, tokens_removed, tokens_changed) = diff(&tokens(old.0), &tokens(new.0));
        let (users_added, users_removed, users_changed) = diff(&users(old.1), &users(new.1));
        Changes { tokens_added, tokens_removed, tokens_changed, users_added, users_removed, users_changed }
    }

    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }

    /// One line, for logs and the audit trail (names only).
    pub fn summary(&self) -> String {
        let parts = [
            ("tokens added", &self.tokens_added),
            ("tokens removed", &self.tokens_removed),
            ("tokens changed", &self.tokens_changed),
            ("users added", &self.users_added),
            ("users removed", &self.users_removed),
            ("users changed", &self.users_changed),
        ];
        let said: Vec<String> = parts.iter().filter(|(_, v)| !v.is_empty()).map(|(what, v)| format!("{what}: {}", v.join(", "))).collect();
        if said.is_empty() {
            "no token or user changed".into()
        } else {
            said.join("; ")
        }
    }
}

/// Names added, removed, and changed between two maps of name to fingerprint.
fn diff(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> (Vec<String>, Vec<String>, Vec<String>) {
    let added = new.keys().filter(|k| !old.contains_key(*k)).cloned().collect();
    let removed = old.keys().filter(|k| !new.contains_key(*k)).cloned().collect();
    let changed = new.iter().filter(|(k, v)| old.get(*k).is_some_and(|o| o != *v)).map(|(k, _)| k.clone()).collect();
    (added, removed, changed)
}

impl Service {
    /// Reads the configuration file again and, when it checks cleanly, replaces the tokens and
    /// PostgreSQL users in use. `forced` (SIGHUP) reloads even when the content did not change.
    /// Returns what changed (`None`: nothing was read, or the content is as last seen).
    #[tracing::instrument(skip(self))]
    pub async fn reload_access(&self, forced: bool) -> Result<Option<Changes>> {
        let Some(file) = &self.config_file else { return Ok(None) };
        let bytes = match tokio::fs::read(&file.path).await {
            Ok(b) => b,
            Err(source) => {
                let error = Error::Io { path: file.path.display().to_string(), source };
                return Err(self.reload_refused(error));
            }
        };
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        let rest = settings(&bytes);
        {
            let mut seen = file.seen.lock().unwrap_or_else(|e| e.into_inner());
            if !forced && seen.0 == digest {
                return Ok(None);
            }
            if seen.1 != rest {
                tracing::warn!(file = %file.path.display(), "settings other than tokens and postgres.users changed; they take effect at the next start");
            }
            // A broken file is reported once, not at every look.
            *seen = (digest, rest);
        }
        let text = String::from_utf8_lossy(&bytes);
        let config = match ServerConfig::from_text(Some(&file.path), &text) {
            Ok(c) => c,
            Err(e) => return Err(self.reload_refused(e)),
        };
        let mut unknown = crate::auth::Tokens::unknown_units(&config.tokens, &self.registry);
        unknown.extend(crate::auth::Tokens::unknown_agencies(&config.tokens, &self.catalog.plans));
        if !unknown.is_empty() {
            return Err(self.reload_refused(Error::Config(unknown.into())));
        }
        let access = Access::new(&config.tokens, &config.postgres.users);
        let changes = {
            let mut current = self.access.write().unwrap_or_else(|e| e.into_inner());
            let changes = Changes::between((&current.entries.0, &current.entries.1), (&access.entries.0, &access.entries.1));
            *current = Arc::new(access);
            changes
        };
        tracing::info!(file = %file.path.display(), changes = %changes.summary(), "tokens and postgres users reloaded");
        self.metrics.reload(true);
        let mut entry = Entry::new("config", "service", "config_reload");
        entry.target = Some(file.path.display().to_string());
        entry.detail = Some(changes.summary());
        self.audit.record(entry);
        Ok(Some(changes))
    }

    fn reload_refused(&self, error: Error) -> Error {
        let file = self.config_file.as_ref().map(|f| f.path.display().to_string()).unwrap_or_default();
        tracing::error!(file, error = %error, "configuration not reloaded: the tokens and postgres users in use are kept");
        self.metrics.reload(false);
        let mut entry = Entry::new("config", "service", "config_reload");
        entry.target = Some(file);
        entry.outcome = "error".into();
        entry.error = Some(error.to_string());
        self.audit.record(entry);
        error
    }
}

/// Starts the reloads: on SIGHUP, and when the file's content changes.
pub fn start(service: Arc<Service>) -> Vec<tokio::task::JoinHandle<()>> {
    if service.config_file.is_none() {
        return Vec::new();
    }
    let mut tasks = Vec::new();
    #[cfg(unix)]
    {
        let on_signal = service.clone();
        // Registered here, before `start` returns and the service announces its address: a SIGHUP
        // that arrived before the handler would end the process (its default action).
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        tasks.push(tokio::spawn(async move {
            let Ok(mut hangup) = hangup else {
                tracing::warn!("SIGHUP cannot be caught here; the configuration is still reloaded when it changes");
                return;
            };
            loop {
                tokio::select! {
                    _ = on_signal.shutdown.cancelled() => return,
                    got = hangup.recv() => if got.is_none() { return },
                }
                tracing::info!("SIGHUP: reloading tokens and postgres users");
                let _ = on_signal.reload_access(true).await;
            }
        }));
    }
    let period = std::time::Duration::from_secs(service.config.access_poll_seconds.max(1));
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = service.shutdown.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            let _ = service.reload_access(false).await;
        }
    }));
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{new_token, Role};

    #[test]
    fn changes_name_what_was_added_removed_and_changed() {
        let (_, a) = new_token("a", Role::Analyst, None, None);
        let (_, b) = new_token("b", Role::Analyst, None, None);
        let (_, b2) = new_token("b", Role::Admin, None, None);
        let (_, c) = new_token("c", Role::Analyst, None, None);
        let u = PgUser::new("u", "mật khẩu dài");
        let changes = Changes::between((&[a, b], std::slice::from_ref(&u)), (&[b2, c], &[]));
        assert_eq!(changes.tokens_added, ["c"]);
        assert_eq!(changes.tokens_removed, ["a"]);
        assert_eq!(changes.tokens_changed, ["b"]);
        assert_eq!(changes.users_removed, ["u"]);
        assert_eq!(changes.summary(), "tokens added: c; tokens removed: a; tokens changed: b; users removed: u");
        assert!(Changes::between((&[], std::slice::from_ref(&u)), (&[], std::slice::from_ref(&u))).is_empty());
    }

    #[test]
    fn credentials_are_not_other_settings() {
        let a = settings(b"lake = \"x\"\n[[tokens]]\nname = \"a\"\n[postgres]\nlisten = \"1\"\n[[postgres.users]]\nname = \"u\"\n");
        let b = settings(b"lake = \"x\"\n[postgres]\nlisten = \"1\"\n");
        assert_eq!(a, b);
        assert_ne!(a, settings(b"lake = \"y\"\n"));
    }
}
