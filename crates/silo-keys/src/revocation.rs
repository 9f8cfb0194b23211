//! The revocation list: token ids (`jti`) that no longer verify, kept durably in one JSON file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::atomic_file::write_atomic;
use crate::error::StoreError;

/// Revoked `jti`s with the time each was revoked. Cheap to clone; clones share one list,
/// so a [`crate::Verifier`] sees a revocation made through the [`crate::KeyStore`] at once.
/// Another process sees it after [`RevocationList::reload`].
#[derive(Debug, Clone, Default)]
pub struct RevocationList {
    path: Option<PathBuf>,
    revoked: Arc<RwLock<BTreeMap<String, u64>>>,
}

impl RevocationList {
    /// A list kept only in memory (tests, benches).
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Loads the list from `path`, or starts an empty one there if the file does not exist.
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let list = Self {
            path: Some(path.to_path_buf()),
            revoked: Arc::default(),
        };
        list.reload()?;
        Ok(list)
    }

    /// Re-reads the file (if this list has one) to pick up revocations made by another process.
    pub fn reload(&self) -> Result<(), StoreError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let map = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<BTreeMap<String, u64>>(&bytes).map_err(|e| {
                StoreError::Corrupt {
                    path: path.clone(),
                    reason: e.to_string(),
                }
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.clone(),
                    source,
                })
            }
        };
        *self.revoked.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(())
    }

    /// Revokes `jti` (idempotent). Durable before it returns when the list has a file.
    /// Returns `false` if it was already revoked.
    pub fn revoke(&self, jti: &str, now: u64) -> Result<bool, StoreError> {
        let mut map = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        if map.contains_key(jti) {
            return Ok(false);
        }
        let mut next = map.clone();
        next.insert(jti.to_string(), now);
        if let Some(path) = &self.path {
            let bytes = serde_json::to_vec_pretty(&next).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            write_atomic(path, &bytes, 0o600)?;
        }
        *map = next;
        Ok(true)
    }

    /// `true` if `jti` is revoked.
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(jti)
    }

    /// All revoked ids with their revocation time.
    pub fn entries(&self) -> Vec<(String, u64)> {
        let map = self.revoked.read().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_is_durable_and_shared_between_clones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.json");
        let list = RevocationList::load(&path).unwrap();
        let clone = list.clone();
        assert!(list.revoke("abc", 10).unwrap());
        assert!(!list.revoke("abc", 11).unwrap());
        assert!(clone.is_revoked("abc"));
        let reopened = RevocationList::load(&path).unwrap();
        assert!(reopened.is_revoked("abc"));
        assert!(!reopened.is_revoked("abd"));
        assert_eq!(reopened.entries(), vec![("abc".to_string(), 10)]);
    }

    #[test]
    fn reload_sees_another_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.json");
        let reader = RevocationList::load(&path).unwrap();
        RevocationList::load(&path).unwrap().revoke("x", 1).unwrap();
        assert!(!reader.is_revoked("x"));
        reader.reload().unwrap();
        assert!(reader.is_revoked("x"));
    }

    #[test]
    fn corrupt_file_is_an_error_not_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.json");
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            RevocationList::load(&path),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
