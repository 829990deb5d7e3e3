//! Counts failed logins per key (a username, a client address) over a sliding minute, so that
//! guessing passwords is answered 429 after a threshold.
//!
//! The counters live in the process: behind a load balancer each server counts on its own.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Bound on tracked keys, so a flood of distinct usernames cannot grow memory without limit.
const MAX_KEYS: usize = 100_000;

pub struct LoginThrottle {
    limit: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    pub fn new(failures_per_minute: u32) -> Self {
        LoginThrottle { limit: failures_per_minute.max(1) as usize, failures: Mutex::new(HashMap::new()) }
    }

    /// `Err(retry_after)` when any key has reached the limit within the last minute.
    pub fn check(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(times) = failures.get_mut(key) {
                prune(times, now);
                if times.len() >= self.limit
                    && let Some(oldest) = times.front()
                {
                    wait = wait.max(WINDOW.saturating_sub(now.duration_since(*oldest)));
                }
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    pub fn record_failure(&self, keys: &[String], now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| {
                prune(times, now);
                !times.is_empty()
            });
        }
        for key in keys {
            let times = failures.entry(key.clone()).or_default();
            prune(times, now);
            times.push_back(now);
        }
    }

    /// A successful login clears the username's count (not the address's).
    pub fn forget(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant) {
    while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_and_recovers_after_a_minute() {
        let throttle = LoginThrottle::new(3);
        let keys = vec!["user:a".to_owned(), "ip:1".to_owned()];
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(throttle.check(&keys, t0).is_ok(), "attempt {i}");
            throttle.record_failure(&keys, t0);
        }
        let wait = throttle.check(&keys, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // Another username from the same address is blocked too.
        assert!(throttle.check(&["user:b".into(), "ip:1".into()], t0).is_err());
        assert!(throttle.check(&["user:b".into(), "ip:2".into()], t0).is_ok());
        assert!(throttle.check(&keys, t0 + WINDOW).is_ok());
    }
}
