//! The verified-claims cache: skips the signature check for a token seen before.
//! Keyed by SHA-256 of the token, bounded, and never trusted for anything time- or
//! revocation-dependent: the verifier re-checks expiry, key retirement, revocation and
//! cell binding on every hit.
//!
//! Hand-written (a `HashMap` behind a `Mutex`) rather than an LRU crate: eviction only
//! needs to be bounded and safe, not optimal, and this keeps the dependency list short.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::claims::{BaseKey, TaskKey};

/// Claims whose signature and audience were verified.
#[derive(Debug, Clone)]
pub(crate) enum CachedClaims {
    Base(Arc<BaseKey>),
    Task(Arc<TaskKey>),
}

#[derive(Debug, Clone)]
pub(crate) struct CacheEntry {
    pub(crate) kid: Arc<str>,
    pub(crate) exp: u64,
    pub(crate) claims: CachedClaims,
}

/// A bounded map from token hash to verified claims.
#[derive(Debug)]
pub struct ClaimsCache {
    capacity: usize,
    map: Mutex<HashMap<[u8; 32], CacheEntry>>,
}

impl ClaimsCache {
    /// A cache holding at most `capacity` tokens (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            map: Mutex::new(HashMap::with_capacity(capacity.min(65_536))),
        }
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// `true` when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    pub(crate) fn get(&self, key: &[u8; 32], now: u64, leeway: u64) -> Option<CacheEntry> {
        if self.capacity == 0 {
            return None;
        }
        // A poisoned lock only means another thread panicked mid-insert; skip the cache.
        let mut map = self.map.lock().ok()?;
        let entry = map.get(key)?;
        if now > entry.exp.saturating_add(leeway) {
            map.remove(key);
            return None;
        }
        Some(entry.clone())
    }

    pub(crate) fn insert(&self, key: [u8; 32], entry: CacheEntry, now: u64, leeway: u64) {
        if self.capacity == 0 {
            return;
        }
        let Ok(mut map) = self.map.lock() else { return };
        if map.len() >= self.capacity {
            map.retain(|_, e| now <= e.exp.saturating_add(leeway));
        }
        if map.len() >= self.capacity {
            // Still full of live tokens: drop an arbitrary one. Bounded memory matters more
            // than hit rate; a miss only costs one signature check.
            if let Some(victim) = map.keys().next().copied() {
                map.remove(&victim);
            }
        }
        map.insert(key, entry);
    }

    /// Drops every cached token (e.g. after a key retirement or a reload).
    pub fn clear(&self) {
        if let Ok(mut map) = self.map.lock() {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(exp: u64) -> CacheEntry {
        CacheEntry {
            kid: Arc::from("k"),
            exp,
            claims: CachedClaims::Task(Arc::new(TaskKey {
                aud: "silo:task".into(),
                jti: "j".into(),
                iat: 0,
                nbf: 0,
                exp,
                task: "t".into(),
                agent: "a".into(),
                customer: "c".into(),
                case: "k".into(),
                workflow: None,
                cell: "cell".into(),
            })),
        }
    }

    #[test]
    fn cache_is_bounded() {
        let cache = ClaimsCache::new(3);
        for i in 0..10u8 {
            cache.insert([i; 32], entry(1000), 0, 0);
        }
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn expired_entries_are_not_returned_and_are_evicted_first() {
        let cache = ClaimsCache::new(2);
        cache.insert([1; 32], entry(10), 0, 0);
        cache.insert([2; 32], entry(1000), 0, 0);
        assert!(cache.get(&[1; 32], 11, 0).is_none());
        cache.insert([1; 32], entry(10), 0, 0);
        cache.insert([3; 32], entry(1000), 500, 0);
        assert!(cache.get(&[2; 32], 500, 0).is_some());
        assert!(cache.get(&[3; 32], 500, 0).is_some());
    }

    #[test]
    fn zero_capacity_disables() {
        let cache = ClaimsCache::new(0);
        cache.insert([1; 32], entry(1000), 0, 0);
        assert!(cache.get(&[1; 32], 0, 0).is_none());
        assert!(cache.is_empty());
    }
}
