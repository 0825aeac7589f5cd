//! Failed logins, throttled: after `logins.max_failures` failures within `logins.window_seconds`
//! from one client address, or for one PostgreSQL user name, further attempts are refused until
//! the oldest failure leaves the window (HTTP 429 with `Retry-After`; PostgreSQL SQLSTATE 28000).
//! Unknown and known user names are counted alike, so the refusal tells nothing about which names
//! exist. Held in memory (a restart forgets), bounded to [`MAX_KEYS`] addresses and names. Behind
//! reverse proxies listed in `http.trusted_proxies`, the client address is the one they forward
//! ([`client_address`]).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses and names remembered at once; past it, the least recently failed are forgotten.
pub const MAX_KEYS: usize = 100_000;

/// The address a request came from: its `peer`, or, when the peer is one of the `trusted` proxies,
/// the right-most address of its `X-Forwarded-For` headers (read only then) that is not a trusted
/// proxy. Each proxy appends the address it got the request from, so that is the first hop no
/// trusted proxy vouches for; the entries left of it may be forged by the client. An entry that is
/// not an address ends the walk at the last good one.
pub fn client_address(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer;
    if !is_trusted(&peer) {
        return client;
    }
    // Headers repeated are one list, in order.
    let values: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    for entry in values.iter().rev().flat_map(|v| v.rsplit(',')).map(str::trim).filter(|e| !e.is_empty()) {
        match entry.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// Recent failures by key (`ip:…`, `user:…`).
pub struct Throttle {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    /// A throttle allowing `max_failures` failures per key within `window`.
    pub fn new(max_failures: usize, window: Duration) -> Throttle {
        Throttle { max_failures: max_failures.max(1), window, failures: Mutex::new(HashMap::new()) }
    }

    /// How long the first of `keys` that is blocked stays blocked, or `None` when none is.
    pub fn blocked<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            if let Some(times) = map.get_mut(key) {
                while times.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                    times.pop_front();
                }
                if times.len() >= self.max_failures {
                    let oldest = *times.front().expect("at least max_failures");
                    return Some(self.window.saturating_sub(now.duration_since(oldest)).max(Duration::from_secs(1)));
                }
            }
        }
        None
    }

    /// Records a failure under each of `keys`.
    pub fn failed<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            let times = map.entry(key.to_string()).or_default();
            times.push_back(now);
            while times.len() > self.max_failures {
                times.pop_front();
            }
        }
        if map.len() > MAX_KEYS {
            map.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < self.window));
            while map.len() > MAX_KEYS {
                let oldest = map.iter().min_by_key(|(_, times)| times.back().copied()).map(|(k, _)| k.clone());
                match oldest {
                    Some(key) => map.remove(&key),
                    None => break,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_address_is_the_first_hop_no_trusted_proxy_vouches_for() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let client_address = |peer: IpAddr, forwarded: &str, trusted: &[ipnet::IpNet]| {
            let mut headers = axum::http::HeaderMap::new();
            if !forwarded.is_empty() {
                headers.insert("x-forwarded-for", forwarded.parse().unwrap());
            }
            super::client_address(peer, &headers, trusted)
        };
        let trusted: Vec<ipnet::IpNet> = ["127.0.0.1/32", "10.0.0.0/8"].iter().map(|n| n.parse().unwrap()).collect();
        // A direct client: its own address, whatever it claims.
        assert_eq!(client_address(ip("203.0.113.9"), "198.51.100.1", &trusted), ip("203.0.113.9"));
        // Through one proxy; through two, the client having forged an entry at the left.
        assert_eq!(client_address(ip("127.0.0.1"), "203.0.113.9", &trusted), ip("203.0.113.9"));
        assert_eq!(client_address(ip("127.0.0.1"), "1.2.3.4, 203.0.113.9, 10.1.2.3", &trusted), ip("203.0.113.9"));
        // Nothing forwarded, or only proxies: the last proxy seen; garbage ends the walk.
        assert_eq!(client_address(ip("127.0.0.1"), "", &trusted), ip("127.0.0.1"));
        assert_eq!(client_address(ip("127.0.0.1"), "10.9.9.9", &trusted), ip("10.9.9.9"));
        assert_eq!(client_address(ip("127.0.0.1"), "203.0.113.9, unknown", &trusted), ip("127.0.0.1"));
        assert_eq!(client_address(ip("127.0.0.1"), "2001:db8::1", &trusted), ip("2001:db8::1"));
        // Two headers are one list: the later header is the nearer hop.
        let mut two = axum::http::HeaderMap::new();
        two.append("x-forwarded-for", "1.2.3.4, 203.0.113.9".parse().unwrap());
        two.append("x-forwarded-for", "10.1.2.3".parse().unwrap());
        assert_eq!(super::client_address(ip("127.0.0.1"), &two, &trusted), ip("203.0.113.9"));
        // No trusted proxy: X-Forwarded-For is ignored.
        assert_eq!(client_address(ip("127.0.0.1"), "203.0.113.9", &[]), ip("127.0.0.1"));
    }

    #[test]
    fn a_key_is_blocked_after_its_failures_and_freed_when_they_leave_the_window() {
        let throttle = Throttle::new(3, Duration::from_millis(300));
        for _ in 0..2 {
            throttle.failed(["ip:10.0.0.1", "user:a"]);
        }
        assert_eq!(throttle.blocked(["ip:10.0.0.1", "user:a"]), None);
        throttle.failed(["ip:10.0.0.1", "user:a"]);
        assert!(throttle.blocked(["ip:10.0.0.1"]).is_some());
        assert!(throttle.blocked(["ip:10.0.0.2", "user:a"]).is_some(), "the name is blocked from another address too");
        assert_eq!(throttle.blocked(["ip:10.0.0.2", "user:b"]), None);
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(throttle.blocked(["ip:10.0.0.1", "user:a"]), None);
    }
}
