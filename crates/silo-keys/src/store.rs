//! The key store directory: Ed25519 signing keys (one file each, mode 0600), the key ring
//! (public keys, current kid, retirement times) and the revocation list.
//!
//! Layout of `<data_dir>/keys/`:
//! - `keyring.json` — current kid and every key's public half, creation and retirement time;
//! - `<kid>.key` — the 32-byte Ed25519 seed, base64, mode 0600;
//! - `revoked.json` — the revocation list (unless the store uses a database).
//!
//! With a shared PostgreSQL database ([`KeyStore::init_with_postgres`],
//! [`KeyStore::open_with_postgres`], [`KeyStore::attach_postgres`]) the private keys stay
//! here, on the router host; the public half of the ring is published to the database (at
//! init, open and every rotation) for the hosts that only verify, and revocations are kept
//! there instead of `revoked.json` (whose entries are copied over when the store attaches,
//! so nothing revoked becomes valid again).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use silo_postgres::Database;

use crate::atomic_file::write_atomic;
use crate::error::StoreError;
use crate::mint::Minter;
use crate::published;
use crate::revocation::RevocationList;
use crate::verify::{Verifier, VerifierKey};

/// Default overlap after a rotation: old tokens keep verifying for one day.
pub const DEFAULT_OVERLAP_SECS: u64 = 24 * 3600;

/// One key in the ring (public half only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// Key id, stamped in token headers.
    pub kid: String,
    /// Ed25519 public key, base64.
    pub public_key: String,
    /// When the key was made (unix seconds).
    pub created_at: u64,
    /// When it stops verifying (set by rotation: now + overlap); `None` while it is current.
    #[serde(default)]
    pub retire_at: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRing {
    current: String,
    keys: Vec<KeyRecord>,
}

/// The signing keys of one deployment, in a directory.
#[derive(Debug)]
pub struct KeyStore {
    dir: PathBuf,
    ring: KeyRing,
    revocations: RevocationList,
    /// The shared database the ring is published to, when attached.
    db: Option<Database>,
}

impl KeyStore {
    /// Creates a key store in `dir` (made mode 0700 if missing) with one fresh key.
    /// Refuses if a key store is already there.
    pub fn init(dir: &Path, now: u64) -> Result<Self, StoreError> {
        let ring_path = dir.join("keyring.json");
        if ring_path.exists() {
            return Err(StoreError::AlreadyExists {
                path: dir.to_path_buf(),
            });
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        let record = new_key(dir, now)?;
        let ring = KeyRing {
            current: record.kid.clone(),
            keys: vec![record],
        };
        let store = Self {
            dir: dir.to_path_buf(),
            ring,
            revocations: RevocationList::load(&dir.join("revoked.json"))?,
            db: None,
        };
        store.save_ring()?;
        Ok(store)
    }

    /// [`KeyStore::init`], then [`KeyStore::attach_postgres`]: the new key is published to
    /// `db` before this returns.
    pub fn init_with_postgres(dir: &Path, now: u64, db: &Database) -> Result<Self, StoreError> {
        let mut store = Self::init(dir, now)?;
        store.attach_postgres(db)?;
        Ok(store)
    }

    /// [`KeyStore::open`], then [`KeyStore::attach_postgres`].
    pub fn open_with_postgres(dir: &Path, db: &Database) -> Result<Self, StoreError> {
        let mut store = Self::open(dir)?;
        store.attach_postgres(db)?;
        Ok(store)
    }

    /// Makes this store use the shared database `db`: publishes the ring's public keys
    /// there, copies the entries of `revoked.json` into the database's revocation list,
    /// and from now on revokes there (verifiers made by [`KeyStore::verifier`] after this
    /// check the database; ones made before keep the file). Later rotations publish too.
    pub fn attach_postgres(&mut self, db: &Database) -> Result<(), StoreError> {
        published::publish(db, &self.ring.keys, crate::now_unix())?;
        let shared = RevocationList::postgres(db)?;
        self.revocations.copy_into(&shared)?;
        self.revocations = shared;
        self.db = Some(db.clone());
        Ok(())
    }

    /// The shared database this store publishes to, if attached.
    pub fn database(&self) -> Option<&Database> {
        self.db.as_ref()
    }

    /// Publishes the ring again (nothing to do without a database): after a rotation whose
    /// publication failed, for example. Publishing only adds keys and brings retirements
    /// forward; see `published.rs`.
    pub fn publish_keys(&self) -> Result<(), StoreError> {
        match &self.db {
            Some(db) => published::publish(db, &self.ring.keys, crate::now_unix()),
            None => Ok(()),
        }
    }

    /// Opens the key store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let ring_path = dir.join("keyring.json");
        let bytes = match std::fs::read(&ring_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing {
                    path: dir.to_path_buf(),
                })
            }
            Err(source) => {
                return Err(StoreError::Io {
                    path: ring_path,
                    source,
                })
            }
        };
        let ring: KeyRing = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: ring_path.clone(),
            reason: e.to_string(),
        })?;
        if !ring.keys.iter().any(|k| k.kid == ring.current) {
            return Err(StoreError::Corrupt {
                path: ring_path,
                reason: format!("current kid `{}` is not in the ring", ring.current),
            });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            ring,
            revocations: RevocationList::load(&dir.join("revoked.json"))?,
            db: None,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The kid new tokens are signed with.
    pub fn current_kid(&self) -> &str {
        &self.ring.current
    }

    /// Every key in the ring, oldest first.
    pub fn keys(&self) -> &[KeyRecord] {
        &self.ring.keys
    }

    /// Makes a new current key. The previous current key keeps verifying until
    /// `now + overlap_secs`, then is refused. Returns the new kid.
    ///
    /// With a database, the new public key is published before the store switches to it
    /// (so no token of it is signed before other hosts can find it), and the old key's
    /// retirement after. If that last step fails the rotation stands here and the error
    /// says so: call [`KeyStore::publish_keys`] to publish the retirement.
    pub fn rotate(&mut self, now: u64, overlap_secs: u64) -> Result<String, StoreError> {
        let record = new_key(&self.dir, now)?;
        let kid = record.kid.clone();
        if let Some(db) = &self.db {
            if let Err(e) = published::publish(db, std::slice::from_ref(&record), now) {
                // Never used: leave no private key behind for it.
                let _ = std::fs::remove_file(self.dir.join(format!("{kid}.key")));
                return Err(e);
            }
        }
        let mut next = self.ring.clone();
        let retire = now.saturating_add(overlap_secs);
        for k in &mut next.keys {
            if k.kid == next.current {
                k.retire_at = Some(k.retire_at.map_or(retire, |r| r.min(retire)));
            }
        }
        next.keys.push(record);
        next.current = kid.clone();
        let old = std::mem::replace(&mut self.ring, next);
        if let Err(e) = self.save_ring() {
            self.ring = old;
            return Err(e);
        }
        if let Some(db) = &self.db {
            published::publish(db, &self.ring.keys, now)?;
        }
        Ok(kid)
    }

    /// A minter holding the current private key. Refuses a key file readable by others.
    pub fn minter(&self) -> Result<Minter, StoreError> {
        let path = self.dir.join(format!("{}.key", self.ring.current));
        let meta = std::fs::metadata(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(StoreError::InsecurePermissions { path, mode });
        }
        let text = std::fs::read_to_string(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.clone(),
            reason,
        };
        let seed: [u8; 32] = STANDARD
            .decode(text.trim())
            .map_err(|e| corrupt(e.to_string()))?
            .try_into()
            .map_err(|_| corrupt("seed is not 32 bytes".into()))?;
        Minter::new(&self.ring.current, &SigningKey::from_bytes(&seed))
            .map_err(|e| corrupt(e.to_string()))
    }

    /// A verifier for every key in the ring, sharing this store's revocation list (the
    /// database's when the store is attached to one).
    pub fn verifier(&self) -> Result<Verifier, StoreError> {
        let ring_path = self.dir.join("keyring.json");
        let mut keys = Vec::with_capacity(self.ring.keys.len());
        for k in &self.ring.keys {
            let public_key: [u8; 32] = STANDARD
                .decode(&k.public_key)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt {
                    path: ring_path.clone(),
                    reason: format!("public key of `{}` is not 32 bytes of base64", k.kid),
                })?;
            keys.push(VerifierKey {
                kid: k.kid.clone(),
                public_key,
                retire_at: k.retire_at,
            });
        }
        Ok(Verifier::new(keys, self.revocations.clone()))
    }

    /// The revocation list (shared with every verifier made by [`KeyStore::verifier`]).
    pub fn revocations(&self) -> &RevocationList {
        &self.revocations
    }

    /// Revokes a token id, durably. Returns `false` if it was already revoked.
    pub fn revoke(&self, jti: &str, now: u64) -> Result<bool, StoreError> {
        self.revocations.revoke(jti, now)
    }

    /// Revokes a task key's id, durably: the entry is dropped once no task key minted
    /// before `now` could verify any more (it lives at most [`crate::MAX_TASK_TTL_SECS`]).
    /// Returns `false` if it was already revoked.
    pub fn revoke_task_key(&self, jti: &str, now: u64) -> Result<bool, StoreError> {
        let until = now + crate::MAX_TASK_TTL_SECS + 2 * crate::LEEWAY_SECS;
        self.revocations.revoke_until(jti, now, until)
    }

    fn save_ring(&self) -> Result<(), StoreError> {
        let path = self.dir.join("keyring.json");
        let bytes = serde_json::to_vec_pretty(&self.ring).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&path, &bytes, 0o600)
    }
}

/// Generates a key, writes its seed (mode 0600, refusing to overwrite) and returns its record.
fn new_key(dir: &Path, now: u64) -> Result<KeyRecord, StoreError> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .map_err(|e| StoreError::Random(e.to_string()))?;
    let mut suffix = [0u8; 4];
    rand::rngs::OsRng
        .try_fill_bytes(&mut suffix)
        .map_err(|e| StoreError::Random(e.to_string()))?;
    let kid = format!(
        "k{now}-{}",
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let signing = SigningKey::from_bytes(&seed);
    let path = dir.join(format!("{kid}.key"));
    write_private_key(&path, STANDARD.encode(seed).as_bytes())?;
    seed.fill(0);
    Ok(KeyRecord {
        kid,
        public_key: STANDARD.encode(signing.verifying_key().as_bytes()),
        created_at: now,
        retire_at: None,
    })
}

fn write_private_key(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    // create_new: a kid collision must never overwrite a key; mode 0600 from the first byte.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_key_files_are_mode_0600_and_dir_0700() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("keys");
        let store = KeyStore::init(&dir, 100).unwrap();
        let key = dir.join(format!("{}.key", store.current_kid()));
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(store.minter().is_ok());
    }

    #[test]
    fn init_twice_is_refused_and_open_finds_it() {
        let tmp = tempfile::tempdir().unwrap();
        let store = KeyStore::init(tmp.path(), 1).unwrap();
        assert!(matches!(
            KeyStore::init(tmp.path(), 2),
            Err(StoreError::AlreadyExists { .. })
        ));
        let opened = KeyStore::open(tmp.path()).unwrap();
        assert_eq!(opened.current_kid(), store.current_kid());
    }

    #[test]
    fn open_without_store_says_run_init() {
        let tmp = tempfile::tempdir().unwrap();
        let err = KeyStore::open(&tmp.path().join("none")).unwrap_err();
        assert!(err.to_string().contains("silo keys init"), "{err}");
    }

    #[test]
    fn world_readable_private_key_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let store = KeyStore::init(tmp.path(), 1).unwrap();
        let key = tmp.path().join(format!("{}.key", store.current_kid()));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            store.minter(),
            Err(StoreError::InsecurePermissions { .. })
        ));
    }

    #[test]
    fn rotation_sets_retirement_and_switches_current() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = KeyStore::init(tmp.path(), 1).unwrap();
        let old = store.current_kid().to_string();
        let new = store.rotate(50, 10).unwrap();
        assert_ne!(old, new);
        assert_eq!(store.current_kid(), new);
        let reopened = KeyStore::open(tmp.path()).unwrap();
        let old_rec = reopened.keys().iter().find(|k| k.kid == old).unwrap();
        assert_eq!(old_rec.retire_at, Some(60));
        assert_eq!(reopened.current_kid(), new);
        let new_key = tmp.path().join(format!("{new}.key"));
        assert_eq!(
            std::fs::metadata(new_key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
