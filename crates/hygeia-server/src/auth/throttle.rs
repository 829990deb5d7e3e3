//! Counts failed logins per key (a username, a client address) over a sliding minute, so that
//! guessing passwords is answered 429 after a threshold.
//!
//! The counters live in the process: behind a load balancer each server counts on its own.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Past this many tracked keys, keys whose attempts are all older than a minute are dropped.
/// (Keys are short: usernames over 150 characters are refused before reaching the throttle.)
const MAX_KEYS: usize = 100_000;

pub struct LoginThrottle {
    limit: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    pub fn new(failures_per_minute: u32) -> Self {
        LoginThrottle { limit: failures_per_minute.max(1) as usize, failures: Mutex::new(HashMap::new()) }
    }

    /// Starts a login attempt: `Err(retry_after)` when any key has reached the limit within the
    /// last minute; otherwise the attempt is counted against every key until [`Self::succeeded`].
    pub fn begin_attempt(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
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
        if !wait.is_zero() {
            return Err(wait);
        }
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| {
                prune(times, now);
                !times.is_empty()
            });
        }
        for key in keys {
            failures.entry(key.clone()).or_default().push_back(now);
        }
        Ok(())
    }

    /// A successful login: the first key (the username) is cleared, the others get the attempt back.
    pub fn succeeded(&self, keys: &[String]) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let Some((user, others)) = keys.split_first() else { return };
        failures.remove(user);
        for key in others {
            if let Some(times) = failures.get_mut(key) {
                times.pop_back();
            }
        }
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
            assert!(throttle.begin_attempt(&keys, t0).is_ok(), "attempt {i}");
        }
        let wait = throttle.begin_attempt(&keys, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // Another username from the same address is blocked too.
        assert!(throttle.begin_attempt(&["user:b".into(), "ip:1".into()], t0).is_err());
        assert!(throttle.begin_attempt(&["user:b".into(), "ip:2".into()], t0).is_ok());
        assert!(throttle.begin_attempt(&keys, t0 + WINDOW).is_ok());
    }

    #[test]
    fn successes_do_not_count() {
        let throttle = LoginThrottle::new(2);
        let keys = vec!["user:a".to_owned(), "ip:1".to_owned()];
        let t0 = Instant::now();
        for _ in 0..5 {
            throttle.begin_attempt(&keys, t0).expect("successful logins are never throttled");
            throttle.succeeded(&keys);
        }
    }
}
