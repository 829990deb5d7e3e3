//! Counts of org-unit lists, remembered per account and filter while the account's tree is
//! unchanged. Counting every match is most of a list page's cost on a large tree (Iaso counts on
//! every request); the tree version, bumped in every tree write's transaction, tells when a count
//! may have changed, so several servers sharing a database stay exact.

use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept at most; past that the cache starts over (filters are few in practice).
const CAPACITY: usize = 4096;

#[derive(Default)]
pub(crate) struct CountCache {
    /// (account, filter key) to (tree version, count).
    entries: Mutex<HashMap<(i64, String), (i64, u64)>>,
}

impl CountCache {
    pub(crate) fn get(&self, account: i64, key: &str, tree_version: i64) -> Option<u64> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match entries.get(&(account, key.to_owned())) {
            Some((version, count)) if *version == tree_version => Some(*count),
            _ => None,
        }
    }

    pub(crate) fn put(&self, account: i64, key: String, tree_version: i64, count: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert((account, key), (tree_version, count));
    }
}
