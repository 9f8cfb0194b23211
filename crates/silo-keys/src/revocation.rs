//! The revocation list: token ids (`jti`) that no longer verify, kept durably in one JSON file.
//!
//! Several processes share one file (`silo serve`, `silo run`, `silo signal`, `silo keys
//! revoke`): a revocation takes an exclusive lock on `<file>.lock`, re-reads the file and
//! writes the union, so no process can drop another's revocation; and every check looks at
//! the file's identity (inode, size, modification time) and re-reads it when it changed,
//! so a key revoked by another process stops working in a running membrane at once.
//!
//! With a shared PostgreSQL database ([`RevocationList::postgres`], table
//! `key_revocations`) the list spans hosts. A revocation is one `INSERT … ON CONFLICT DO
//! NOTHING` (expired entries are deleted in the same transaction). A check first looks at
//! the ids this process already knows are revoked (nothing is ever un-revoked, so that
//! answer is final) and otherwise asks the database for that one id, on every check: a
//! primary-key lookup, one round trip, and it cannot miss a revocation committed before the
//! check. Cheaper schemes were rejected because each has a window: a high-water mark over a
//! sequence skips a row whose transaction commits after a later-numbered one, and
//! `LISTEN`/`NOTIFY` delivers after the commit, so a check in between would pass a revoked
//! key. A database that cannot be reached or queried counts every key as revoked (fail
//! closed), like an unreadable file.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use nix::fcntl::{Flock, FlockArg};
use silo_postgres::{Database, PgError};

use crate::atomic_file::write_atomic;
use crate::error::StoreError;

/// Revoked `jti`s with the time each was revoked. Cheap to clone; clones share one list,
/// so a [`crate::Verifier`] sees a revocation made through the [`crate::KeyStore`] at once;
/// one made by another process is seen at the next check (the file changed).
#[derive(Debug, Clone, Default)]
pub struct RevocationList {
    backend: Backend,
    /// Memory and file: the whole list. PostgreSQL: the ids known to be revoked (checks
    /// that find nothing here ask the database).
    revoked: Arc<RwLock<BTreeMap<String, Revoked>>>,
    /// The file as last read: (device, inode, size, mtime in ns); `None` before a read or
    /// when there was no file.
    seen: Arc<Mutex<Option<FileId>>>,
}

type FileId = (u64, u64, u64, i64);

/// Where the list is kept.
#[derive(Debug, Clone, Default)]
enum Backend {
    /// Only in this process (tests, benches).
    #[default]
    Memory,
    /// One JSON file shared by the processes of one host.
    File(PathBuf),
    /// The shared database of several hosts (boxed: a pool handle is large).
    Postgres(Box<Database>),
}

/// One revocation: when, and — for a token whose latest possible expiry is known (task
/// keys live at most [`crate::MAX_TASK_TTL_SECS`]) — until when it matters; after that
/// the token fails its expiry check anyway and the entry is dropped, so the list does not
/// grow with every task. Written as a bare number when kept for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum Revoked {
    /// Revoked at this time, kept for ever.
    At(u64),
    /// Revoked at `at`; the token cannot verify after `until` anyway.
    Until {
        /// When.
        at: u64,
        /// Until when the entry matters.
        until: u64,
    },
}

impl Revoked {
    fn at(self) -> u64 {
        match self {
            Revoked::At(at) | Revoked::Until { at, .. } => at,
        }
    }

    fn matters_at(self, now: u64) -> bool {
        match self {
            Revoked::At(_) => true,
            Revoked::Until { until, .. } => until >= now,
        }
    }

    fn until(self) -> Option<u64> {
        match self {
            Revoked::At(_) => None,
            Revoked::Until { until, .. } => Some(until),
        }
    }

    /// The entry of a database row (`revoked_at`, `until_at`).
    fn from_row(at: i64, until: Option<i64>) -> Self {
        let at = u64::try_from(at).unwrap_or(0);
        match until {
            None => Revoked::At(at),
            Some(until) => Revoked::Until {
                at,
                until: u64::try_from(until).unwrap_or(0),
            },
        }
    }
}

/// Seconds as the database stores them (BIGINT); far-future values saturate.
fn db_secs(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Maps a PostgreSQL error, naming what was being done.
fn pg(context: &'static str) -> impl FnOnce(silo_postgres::postgres::Error) -> StoreError {
    move |source| StoreError::Database(PgError::Query { context, source })
}

fn file_id(path: &Path) -> std::io::Result<Option<FileId>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some((
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_map(path: &Path) -> Result<BTreeMap<String, Revoked>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<BTreeMap<String, Revoked>>(&bytes).map_err(|e| {
            StoreError::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl RevocationList {
    /// A list kept only in memory (tests, benches).
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Loads the list from `path`, or starts an empty one there if the file does not exist.
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let list = Self {
            backend: Backend::File(path.to_path_buf()),
            revoked: Arc::default(),
            seen: Arc::default(),
        };
        list.reload()?;
        Ok(list)
    }

    /// The list kept in the shared database `db` (table `key_revocations`): every host's
    /// revocations, seen by every host's next check. Fails when the database cannot be
    /// queried; entries past their token's latest expiry are dropped.
    pub fn postgres(db: &Database) -> Result<Self, StoreError> {
        let mut client = db.client()?;
        client
            .execute(
                "DELETE FROM key_revocations WHERE until_at < $1",
                &[&db_secs(crate::now_unix())],
            )
            .map_err(pg("dropping expired revocations"))?;
        Ok(Self {
            backend: Backend::Postgres(Box::new(db.clone())),
            revoked: Arc::default(),
            seen: Arc::default(),
        })
    }

    /// The shared database, when the list is kept there.
    pub fn database(&self) -> Option<&Database> {
        match &self.backend {
            Backend::Postgres(db) => Some(db),
            Backend::Memory | Backend::File(_) => None,
        }
    }

    /// Copies every entry of this list into `other` (entries it already has stay as they
    /// are): what moving a key store from its file to the database needs, so that nothing
    /// revoked becomes valid again.
    pub fn copy_into(&self, other: &RevocationList) -> Result<(), StoreError> {
        self.reload()?;
        let entries: Vec<(String, Revoked)> = self
            .revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let now = crate::now_unix();
        for (jti, entry) in entries {
            other.add(&jti, now, entry)?;
        }
        Ok(())
    }

    /// Re-reads the file (if this list has one) to pick up revocations made by another
    /// process. A list in the database has nothing to re-read: every check asks it.
    pub fn reload(&self) -> Result<(), StoreError> {
        let Backend::File(path) = &self.backend else {
            return Ok(());
        };
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let before = file_id(path).map_err(io)?;
        let map = read_map(path)?;
        let mut revoked = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        // Nothing is ever un-revoked, even by a file that lost entries; only entries past
        // their token's latest expiry are dropped.
        for (jti, entry) in map {
            revoked.entry(jti).or_insert(entry);
        }
        let now = crate::now_unix();
        revoked.retain(|_, e| e.matters_at(now));
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = before;
        Ok(())
    }

    /// Re-reads the file when another process changed it since the last read.
    fn refresh(&self) -> Result<(), StoreError> {
        let Backend::File(path) = &self.backend else {
            return Ok(());
        };
        let now = file_id(path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let seen = *self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if now != seen {
            self.reload()?;
        }
        Ok(())
    }

    /// Revokes `jti` for ever (idempotent). Durable before it returns when the list has a
    /// file. Returns `false` if it was already revoked.
    pub fn revoke(&self, jti: &str, now: u64) -> Result<bool, StoreError> {
        self.add(jti, now, Revoked::At(now))
    }

    /// Revokes `jti`, a token that cannot verify after `until` anyway (its latest possible
    /// expiry plus leeway): the entry is dropped after that. Returns `false` if it was
    /// already revoked.
    pub fn revoke_until(&self, jti: &str, now: u64, until: u64) -> Result<bool, StoreError> {
        self.add(jti, now, Revoked::Until { at: now, until })
    }

    fn add(&self, jti: &str, now: u64, entry: Revoked) -> Result<bool, StoreError> {
        let path = match &self.backend {
            Backend::Memory => {
                let mut map = self.revoked.write().unwrap_or_else(|e| e.into_inner());
                map.retain(|_, e| e.matters_at(now));
                return Ok(map.insert(jti.to_string(), entry).is_none());
            }
            Backend::Postgres(db) => return self.add_to_database(db, jti, now, entry),
            Backend::File(path) => path,
        };
        // Other processes write this file too: hold its lock across read, merge and write.
        let lock_path = path.with_extension("json.lock");
        let io = |p: &Path| {
            let path = p.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        let _guard = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| io(&lock_path)(std::io::Error::from(errno)))?;
        let mut map = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        let mut next = read_map(path)?;
        for (k, e) in map.iter() {
            next.entry(k.clone()).or_insert(*e);
        }
        let before = next.len();
        next.retain(|_, e| e.matters_at(now));
        let fresh = !next.contains_key(jti);
        if fresh || next.len() != before {
            next.entry(jti.to_string()).or_insert(entry);
            let bytes = serde_json::to_vec_pretty(&next).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            write_atomic(path, &bytes, 0o600)?;
        }
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = file_id(path).map_err(io(path))?;
        *map = next;
        Ok(fresh)
    }

    /// One revocation into the database: expired entries dropped and the new one inserted
    /// unless present, in one transaction. Durable when it returns.
    fn add_to_database(
        &self,
        db: &Database,
        jti: &str,
        now: u64,
        entry: Revoked,
    ) -> Result<bool, StoreError> {
        let mut client = db.client()?;
        let mut tx = client.transaction().map_err(pg("revoking a key"))?;
        tx.execute(
            "DELETE FROM key_revocations WHERE until_at < $1",
            &[&db_secs(now)],
        )
        .map_err(pg("dropping expired revocations"))?;
        let inserted = tx
            .execute(
                "INSERT INTO key_revocations (jti, revoked_at, until_at) VALUES ($1, $2, $3)
                 ON CONFLICT (jti) DO NOTHING",
                &[&jti, &db_secs(entry.at()), &entry.until().map(db_secs)],
            )
            .map_err(pg("revoking a key"))?;
        tx.commit().map_err(pg("revoking a key"))?;
        let mut map = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, e| e.matters_at(now));
        map.entry(jti.to_string()).or_insert(entry);
        Ok(inserted == 1)
    }

    /// `true` if `jti` is revoked — here or, since the last check, by another process (or,
    /// with a database, by another host). A list file that cannot be read, or a database
    /// that cannot be queried, counts every key as revoked (fail closed).
    pub fn is_revoked(&self, jti: &str) -> bool {
        if let Backend::Postgres(db) = &self.backend {
            return self.is_revoked_in_database(db, jti);
        }
        if self.refresh().is_err() {
            return true;
        }
        self.revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(jti)
    }

    fn is_revoked_in_database(&self, db: &Database, jti: &str) -> bool {
        if self
            .revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(jti)
        {
            return true;
        }
        let row = db.client().map_err(StoreError::from).and_then(|mut c| {
            c.query_opt(
                "SELECT revoked_at, until_at FROM key_revocations WHERE jti = $1",
                &[&jti],
            )
            .map_err(pg("checking a revocation"))
        });
        match row {
            Ok(None) => false,
            Ok(Some(row)) => {
                // A row that does not read back still says the key is revoked.
                let entry = match (row.try_get(0), row.try_get(1)) {
                    (Ok(at), Ok(until)) => Revoked::from_row(at, until),
                    _ => return true,
                };
                let mut map = self.revoked.write().unwrap_or_else(|e| e.into_inner());
                map.retain(|_, e| e.matters_at(crate::now_unix()));
                map.insert(jti.to_string(), entry);
                true
            }
            Err(_) => true,
        }
    }

    /// All revoked ids with their revocation time. With a database: every host's entries
    /// still in force; if the database cannot be read, the ones this process knows of (use
    /// [`RevocationList::try_entries`] to see the error).
    pub fn entries(&self) -> Vec<(String, u64)> {
        if let Backend::Postgres(_) = &self.backend {
            if let Ok(entries) = self.try_entries() {
                return entries;
            }
        }
        let map = self.revoked.read().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.at())).collect()
    }

    /// [`RevocationList::entries`], failing when the file or database cannot be read.
    pub fn try_entries(&self) -> Result<Vec<(String, u64)>, StoreError> {
        if let Backend::Postgres(db) = &self.backend {
            let rows = db
                .client()?
                .query(
                    "SELECT jti, revoked_at FROM key_revocations
                     WHERE until_at IS NULL OR until_at >= $1 ORDER BY jti",
                    &[&db_secs(crate::now_unix())],
                )
                .map_err(pg("listing revocations"))?;
            return rows
                .iter()
                .map(|r| {
                    let jti: String = r.try_get(0)?;
                    let at: i64 = r.try_get(1)?;
                    Ok((jti, u64::try_from(at).unwrap_or(0)))
                })
                .collect::<Result<_, _>>()
                .map_err(pg("listing revocations"));
        }
        self.refresh()?;
        let map = self.revoked.read().unwrap_or_else(|e| e.into_inner());
        Ok(map.iter().map(|(k, v)| (k.clone(), v.at())).collect())
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
        assert!(!reader.is_revoked("x"));
        RevocationList::load(&path).unwrap().revoke("x", 1).unwrap();
        // Seen at the next check, without an explicit reload.
        assert!(reader.is_revoked("x"));
    }

    #[test]
    fn concurrent_writers_never_drop_each_others_revocations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.json");
        // Separate lists stand for separate processes: no shared memory, one file.
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let list = RevocationList::load(&path).unwrap();
                    for i in 0..25 {
                        list.revoke(&format!("w{w}-{i}"), 1).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let all = RevocationList::load(&path).unwrap();
        assert_eq!(all.entries().len(), 100);
    }

    #[test]
    fn entries_past_their_tokens_expiry_are_dropped_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.json");
        let now = crate::now_unix();
        // An older file: bare numbers, kept for ever.
        std::fs::write(&path, r#"{"old": 5}"#).unwrap();
        let list = RevocationList::load(&path).unwrap();
        list.revoke_until("task-a", now - 10, now + 20).unwrap();
        list.revoke("base-b", now - 10).unwrap();
        assert!(list.is_revoked("task-a") && list.is_revoked("base-b") && list.is_revoked("old"));
        // Once `task-a` cannot verify any more, the next write drops it; the rest stays.
        list.revoke_until("task-c", now + 30, now + 1000).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("task-a"), "{text}");
        for kept in ["old", "base-b", "task-c"] {
            assert!(text.contains(kept), "{kept}: {text}");
        }
        let reread = RevocationList::load(&path).unwrap();
        assert!(reread.is_revoked("task-c") && reread.is_revoked("old"));
        assert_eq!(
            reread
                .entries()
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>(),
            vec!["base-b", "old", "task-c"]
        );
    }

    #[test]
    fn an_unreadable_list_fails_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.json");
        let list = RevocationList::load(&path).unwrap();
        assert!(!list.is_revoked("k"));
        std::fs::write(&path, "{not json").unwrap();
        assert!(
            list.is_revoked("k"),
            "a corrupt list must not let keys through"
        );
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
