//! A few seconds' memory of lookups that every submission repeats (its project, its form and
//! version): a phone's batch, or fifty phones sending the same form, read them once per
//! [`RECENT_TTL`] instead of once per submission. Only hits are kept. The API's own writes to
//! forms and projects forget everything at once; another server process's writes show within
//! the TTL.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const RECENT_TTL: Duration = Duration::from_secs(5);

/// Entries kept at most; past it the memory starts over.
const MAX_ENTRIES: usize = 4_096;

pub struct Recent<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Recent { entries: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash, V: Clone> Recent<K, V> {
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key).filter(|(at, _)| at.elapsed() < RECENT_TTL).map(|(_, value)| value.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_are_kept_and_forgotten() {
        let recent: Recent<&str, i32> = Recent::default();
        assert_eq!(recent.get(&"a"), None);
        recent.put("a", 1);
        assert_eq!(recent.get(&"a"), Some(1));
        recent.clear();
        assert_eq!(recent.get(&"a"), None);
    }
}
