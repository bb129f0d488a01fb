//! Sign-in rate limiting, per client address and per user name.
//!
//! A key (an IP or a lowercased user name) that collects `max_failures`
//! failed sign-ins within `window_ms` is locked for `lockout_ms`; while
//! locked, attempts are refused before the password is even hashed, so a
//! brute-force run also cannot burn the server's CPU on argon2. A
//! successful sign-in clears the user name's record (not the address's:
//! one valid account must not reset the counter for guessing others).
//!
//! State is in memory, bounded by [`MAX_KEYS`]: when full, stale entries
//! are dropped first, then the oldest. A restart forgets lockouts, which
//! is acceptable for a per-minute limit. Time comes from the caller (the
//! injected clock) so tests can step through a lockout.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::state::{LoginRateConfig, RateLimit};

/// Upper bound on remembered keys per kind.
pub const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Default)]
struct Record {
    /// Failure times within the current window, oldest first (at most
    /// `max_failures`).
    failures: Vec<i64>,
    locked_until_ms: i64,
}

impl Record {
    fn retry_after_ms(&self, now_ms: i64) -> Option<i64> {
        (self.locked_until_ms > now_ms).then(|| self.locked_until_ms - now_ms)
    }

    fn fail(&mut self, limit: &RateLimit, now_ms: i64) {
        self.failures.retain(|t| now_ms - t < limit.window_ms);
        self.failures.push(now_ms);
        if self.failures.len() >= limit.max_failures.max(1) as usize {
            self.locked_until_ms = now_ms + limit.lockout_ms;
            self.failures.clear();
        }
    }

    fn stale(&self, limit: &RateLimit, now_ms: i64) -> bool {
        self.locked_until_ms <= now_ms
            && self.failures.iter().all(|t| now_ms - t >= limit.window_ms)
    }
}

#[derive(Debug)]
struct Table<K> {
    limit: RateLimit,
    records: HashMap<K, Record>,
}

impl<K: std::hash::Hash + Eq + Clone> Table<K> {
    fn retry_after_ms(&self, key: &K, now_ms: i64) -> Option<i64> {
        self.records.get(key)?.retry_after_ms(now_ms)
    }

    fn fail(&mut self, key: K, now_ms: i64) {
        if !self.records.contains_key(&key) && self.records.len() >= MAX_KEYS {
            let limit = self.limit;
            self.records.retain(|_, r| !r.stale(&limit, now_ms));
            if self.records.len() >= MAX_KEYS {
                // Still full of live entries: forget the one locked longest ago.
                let oldest = self
                    .records
                    .iter()
                    .min_by_key(|(_, r)| r.failures.last().copied().unwrap_or(r.locked_until_ms))
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.records.remove(&k);
                }
            }
        }
        self.records
            .entry(key)
            .or_default()
            .fail(&self.limit, now_ms);
    }
}

/// The limiter shared by all sign-in requests.
#[derive(Debug)]
pub struct LoginLimiter {
    ips: Mutex<Table<IpAddr>>,
    users: Mutex<Table<String>>,
}

/// The key for a user name: case-folded so `Admin` and `admin` share a
/// budget, and truncated so a huge name cannot bloat memory.
fn user_key(name: &str) -> String {
    name.chars().take(64).collect::<String>().to_lowercase()
}

impl LoginLimiter {
    pub fn new(cfg: LoginRateConfig) -> Self {
        Self {
            ips: Mutex::new(Table {
                limit: cfg.per_ip,
                records: HashMap::new(),
            }),
            users: Mutex::new(Table {
                limit: cfg.per_user,
                records: HashMap::new(),
            }),
        }
    }

    /// If the address or the user name is locked out: milliseconds left.
    pub fn check(&self, ip: Option<IpAddr>, user: &str, now_ms: i64) -> Option<i64> {
        let by_ip = ip.and_then(|ip| lock(&self.ips).retry_after_ms(&ip, now_ms));
        let by_user = lock(&self.users).retry_after_ms(&user_key(user), now_ms);
        by_ip.max(by_user)
    }

    pub fn record_failure(&self, ip: Option<IpAddr>, user: &str, now_ms: i64) {
        if let Some(ip) = ip {
            lock(&self.ips).fail(ip, now_ms);
        }
        lock(&self.users).fail(user_key(user), now_ms);
    }

    pub fn record_success(&self, user: &str) {
        lock(&self.users).records.remove(&user_key(user));
    }
}

/// The tables hold no invariants a panic could break half-way, so a
/// poisoned lock is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LoginRateConfig {
        LoginRateConfig {
            per_ip: RateLimit {
                max_failures: 3,
                window_ms: 1000,
                lockout_ms: 5000,
            },
            per_user: RateLimit {
                max_failures: 2,
                window_ms: 1000,
                lockout_ms: 3000,
            },
        }
    }

    #[test]
    fn user_lockout_after_max_failures_and_expiry() {
        let l = LoginLimiter::new(cfg());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        l.record_failure(Some(ip), "Bob", 0);
        assert_eq!(l.check(Some(ip), "bob", 10), None);
        l.record_failure(Some(ip), "bob", 10);
        assert_eq!(l.check(None, "BOB", 10), Some(3000));
        assert_eq!(l.check(None, "bob", 3010), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let l = LoginLimiter::new(cfg());
        l.record_failure(None, "bob", 0);
        l.record_failure(None, "bob", 1500);
        assert_eq!(l.check(None, "bob", 1500), None);
    }

    #[test]
    fn ip_lockout_covers_every_user_name() {
        let l = LoginLimiter::new(cfg());
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            l.record_failure(Some(ip), name, i as i64);
        }
        assert_eq!(l.check(Some(ip), "d", 2), Some(5000));
        assert_eq!(l.check(Some("10.0.0.3".parse().unwrap()), "d", 2), None);
    }

    #[test]
    fn success_clears_the_user_record() {
        let l = LoginLimiter::new(cfg());
        l.record_failure(None, "bob", 0);
        l.record_success("bob");
        l.record_failure(None, "bob", 1);
        assert_eq!(l.check(None, "bob", 1), None);
    }

    #[test]
    fn memory_is_bounded() {
        let l = LoginLimiter::new(cfg());
        for i in 0..(MAX_KEYS + 50) {
            l.record_failure(None, &format!("user{i}"), 0);
        }
        assert!(lock(&l.users).records.len() <= MAX_KEYS);
    }
}
