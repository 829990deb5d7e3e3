//! Profiles of recent callers, by user. Every authenticated request reads its caller's profile
//! (two statements); a phone sends a dozen requests in a burst, and under the phones' load test
//! these reads were four of the nine statements of each submission (BENCHMARKS.md).
//!
//! This store's own writes to users, profiles and roles forget every entry as they return, so in
//! one process a deactivation, a password change or a role edit holds from the next request on.
//! Another process's writes (several servers on one database, or `hygeia` commands beside a
//! server) show within [`PROFILE_TTL`], as with the other few-second caches of the server.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hygeia_core::{UserId, UserProfile};

pub(crate) const PROFILE_TTL: Duration = Duration::from_secs(5);

/// Entries kept at most; past that the cache starts over.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub(crate) struct ProfileCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bumped by every forgetting: a read that began before it must not store what it read.
    generation: u64,
    entries: HashMap<UserId, (Instant, UserProfile)>,
}

/// Taken before reading a profile from the database, handed back to [`ProfileCache::put`].
pub(crate) struct Ticket(u64);

impl ProfileCache {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The profile if read less than [`PROFILE_TTL`] ago and not forgotten since; otherwise a
    /// ticket to store the fresh read with.
    pub(crate) fn get(&self, user: UserId) -> Result<UserProfile, Ticket> {
        let state = self.state();
        match state.entries.get(&user) {
            Some((at, profile)) if at.elapsed() < PROFILE_TTL => Ok(profile.clone()),
            _ => Err(Ticket(state.generation)),
        }
    }

    /// Keeps `profile`, unless something was forgotten since the ticket was taken (the read may
    /// predate that write).
    pub(crate) fn put(&self, ticket: Ticket, profile: &UserProfile) {
        let mut state = self.state();
        if state.generation != ticket.0 {
            return;
        }
        if state.entries.len() >= CAPACITY {
            state.entries.clear();
        }
        state.entries.insert(profile.user_id, (Instant::now(), profile.clone()));
    }

    /// Users, profiles or roles were written: no profile read before is trusted.
    pub(crate) fn forget_all(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(user: i64) -> UserProfile {
        UserProfile {
            user_id: UserId(user),
            profile_id: hygeia_core::ProfileId(user),
            account_id: hygeia_core::AccountId(1),
            username: format!("user-{user}"),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            is_superuser: false,
            is_staff: false,
            is_active: true,
            date_joined: chrono::DateTime::UNIX_EPOCH,
            last_login: None,
            language: None,
            organization: None,
            phone_number: None,
            dhis2_id: None,
            home_page: None,
            color: String::new(),
            permissions: Vec::new(),
            user_roles: Vec::new(),
            projects: Vec::new(),
            org_units: Vec::new(),
            tokens_valid_from: 0,
        }
    }

    #[test]
    fn a_read_from_before_a_write_is_not_kept() {
        let cache = ProfileCache::default();
        let Err(ticket) = cache.get(UserId(1)) else { panic!("nothing is remembered yet") };
        cache.put(ticket, &profile(1));
        assert_eq!(cache.get(UserId(1)).ok(), Some(profile(1)));

        // A read began, a write forgot everything, then the read finished: what it read may be
        // older than the write.
        let Err(early) = cache.get(UserId(2)) else { panic!() };
        cache.forget_all();
        assert!(cache.get(UserId(1)).is_err(), "forgotten");
        cache.put(early, &profile(2));
        assert!(cache.get(UserId(2)).is_err(), "the earlier read is not kept");
    }
}
