//! Dashboard sign-in sessions: a random id in an HttpOnly, SameSite=Strict cookie, kept in memory
//! (a restart signs everyone out). A session holds who signed in: the SHA-256 of the token (never
//! the token), or the name of a PostgreSQL user of the configuration (never the password). Every
//! request looks it up in the tokens and users in use now, so a revoked or expired token, or a
//! removed user, ends its sessions at once. Each session has its own CSRF token for its forms.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "tonghop_session";
/// The sign-in form's CSRF cookie (double submit: the form's hidden field must equal it).
pub const LOGIN_COOKIE: &str = "tonghop_login";

/// Who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// With a token: its SHA-256 (hex).
    Token(String),
    /// With the password of this PostgreSQL user of the configuration (an analyst).
    User(String),
}

/// One signed-in browser.
#[derive(Clone)]
pub struct Session {
    /// Who signed in.
    pub who: Who,
    /// The CSRF token of its forms.
    pub csrf: String,
    expires: Instant,
}

/// The open sessions, by SHA-256 of their id.
pub struct Sessions {
    by_hash: Mutex<HashMap<String, Session>>,
    lifetime: Duration,
}

impl Sessions {
    /// No sessions; each new one lasts `lifetime`.
    pub fn new(lifetime: Duration) -> Sessions {
        Sessions { by_hash: Mutex::new(HashMap::new()), lifetime }
    }

    /// Opens a session for `who`; returns its id (the cookie's value).
    pub fn open(&self, who: Who) -> String {
        let id = random();
        let now = Instant::now();
        let mut sessions = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(hash(&id), Session { who, csrf: random(), expires: now + self.lifetime });
        id
    }

    /// The session of `id`, unless it ended.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut sessions = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        let key = hash(id);
        match sessions.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                sessions.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session of `id`.
    pub fn close(&self, id: &str) {
        self.by_hash.lock().unwrap_or_else(|e| e.into_inner()).remove(&hash(id));
    }

    /// How long a session lasts.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }
}

/// 32 random bytes, base64url.
pub fn random() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, on `path`, `Secure` when served over TLS;
/// `max_age` none deletes the cookie.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: Option<Duration>, secure: bool) -> String {
    let age = max_age.map_or(0, |d| d.as_secs());
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={age}; HttpOnly; SameSite=Strict{secure}")
}

/// Compares two secrets in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    crate::scram::same_bytes(a.as_bytes(), b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_when_closed_or_expired_and_ids_are_not_stored() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let id = sessions.open(Who::Token("abc".into()));
        assert_eq!(sessions.get(&id).map(|s| s.who), Some(Who::Token("abc".into())));
        assert!(!sessions.by_hash.lock().unwrap().contains_key(&id), "the id itself is not kept");
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
        let short = Sessions::new(Duration::ZERO);
        let id = short.open(Who::User("bi".into()));
        assert!(short.get(&id).is_none());
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(axum::http::header::COOKIE, "a=1; tonghop_session=xyz".parse().unwrap());
        headers.append(axum::http::header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&headers, COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "c"), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
        assert_eq!(set_cookie("x", "1", "/", None, true), "x=1; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure");
    }
}
