//! `AuditLog`: the one handle the router, membrane and CLI use — append, verify, checkpoint, query.
//!
//! Layout under the data directory: `audit/audit.db` (SQLite, WAL) and `audit/checkpoint.key`
//! (Ed25519 seed, mode 0600, created the first time a checkpoint is signed or the public key
//! is asked for, so read-only commands never create key material).
//!
//! With PostgreSQL ([`AuditLog::open_postgres`]) the entries and the saved checkpoints live in
//! the shared database, and only the checkpoint key stays under the data directory: each
//! host signs the checkpoints it makes with its own key file, so one log may hold
//! checkpoints signed by several keys, and [`AuditLog::latest_checkpoint`] may be another
//! host's (verifying it against this host's key then fails with a wrong-key error, not a
//! tamper). Verifying the chain itself ([`AuditLog::verify`]) uses no key at all; a key only
//! matters to [`AuditLog::verify_against`], which takes the trusted public key explicitly.
//! Pin each host's public key off the machine, or export checkpoints from one chosen host.
//!
//! `AuditLog` is `Send + Sync`: share one in an `Arc` across threads; see [`crate::sqlite`]
//! and [`crate::postgres`] for how appends from several threads, processes and hosts are
//! serialised.

use std::path::{Path, PathBuf};

use crate::checkpoint::{CheckpointError, CheckpointFile, SignedCheckpoint};
use crate::checkpoint_key::{CheckpointKey, CheckpointKeyError, CheckpointPublicKey};
use crate::entry::{Entry, EntryDraft};
use crate::merkle::{consistency_proof, inclusion_proof, root, ConsistencyProof, InclusionProof};
use crate::postgres::PgAuditStore;
use crate::query::Query;
use crate::sqlite::{Durability, SqliteStore};
use crate::store::{AuditStore, Receipt, StoreError};
use crate::timestamp::Timestamp;
use crate::verify::{self, Verified, VerifyError};

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Storage failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Verification failed (tampering, a refused checkpoint, or storage).
    #[error("{0}")]
    Verify(#[from] VerifyError),
    /// The checkpoint key could not be loaded or created.
    #[error("{0}")]
    Key(#[from] CheckpointKeyError),
    /// A checkpoint could not be made.
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    /// An inclusion proof was asked for outside the log.
    #[error("no entry {seq} in a log of {size} entries")]
    NoSuchEntry {
        /// The seq asked for.
        seq: u64,
        /// The tree size asked for (or the log's size).
        size: u64,
    },
}

/// The audit log.
pub struct AuditLog {
    store: Box<dyn AuditStore>,
    key_path: PathBuf,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// `<data_dir>/audit/audit.db`.
    pub fn db_path(data_dir: &Path) -> PathBuf {
        data_dir.join("audit").join("audit.db")
    }

    /// `<data_dir>/audit/checkpoint.key`.
    pub fn key_path(data_dir: &Path) -> PathBuf {
        data_dir.join("audit").join("checkpoint.key")
    }

    /// Opens (creating if needed) the SQLite log in `data_dir`, durable on disk.
    pub fn open(data_dir: &Path) -> Result<Self, AuditError> {
        Self::open_with(data_dir, Durability::Disk)
    }

    /// Opens the SQLite log in `data_dir` with the given durability.
    pub fn open_with(data_dir: &Path, durability: Durability) -> Result<Self, AuditError> {
        let store = SqliteStore::open_with(&Self::db_path(data_dir), durability)?;
        Ok(Self::with_store(Box::new(store), Self::key_path(data_dir)))
    }

    /// Opens the log kept in the shared PostgreSQL database `db`, signing checkpoints with
    /// this host's key at [`AuditLog::key_path`]`(data_dir)` (created on first use, as with
    /// SQLite).
    pub fn open_postgres(
        db: &silo_postgres::Database,
        data_dir: &Path,
    ) -> Result<Self, AuditError> {
        let store = PgAuditStore::open(db)?;
        Ok(Self::with_store(Box::new(store), Self::key_path(data_dir)))
    }

    /// A log over any store, signing checkpoints with the key at `key_path`.
    pub fn with_store(store: Box<dyn AuditStore>, key_path: PathBuf) -> Self {
        Self { store, key_path }
    }

    /// The underlying store.
    pub fn store(&self) -> &dyn AuditStore {
        self.store.as_ref()
    }

    /// Appends one entry; durable on return.
    pub fn append(&self, draft: EntryDraft) -> Result<Receipt, AuditError> {
        Ok(self.store.append(draft)?)
    }

    /// Appends entries in one durable transaction, in order.
    pub fn append_batch(&self, drafts: Vec<EntryDraft>) -> Result<Vec<Receipt>, AuditError> {
        Ok(self.store.append_batch(drafts)?)
    }

    /// Number of entries.
    pub fn len(&self) -> Result<u64, AuditError> {
        Ok(self.store.len()?)
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> Result<bool, AuditError> {
        Ok(self.store.is_empty()?)
    }

    /// Verifies the whole log (see [`crate::verify`]).
    pub fn verify(&self) -> Result<Verified, VerifyError> {
        verify::verify(self.store())
    }

    /// Verifies the log and that it extends `checkpoint`, signed by `trusted`.
    pub fn verify_against(
        &self,
        checkpoint: &SignedCheckpoint,
        trusted: &CheckpointPublicKey,
    ) -> Result<Verified, VerifyError> {
        verify::verify_against(self.store(), checkpoint, trusted)
    }

    /// Loads (creating on first use) the checkpoint signing key.
    pub fn checkpoint_key(&self) -> Result<CheckpointKey, AuditError> {
        Ok(CheckpointKey::load_or_create(&self.key_path)?)
    }

    /// The checkpoint public key, to pin off the machine.
    pub fn public_key(&self) -> Result<CheckpointPublicKey, AuditError> {
        Ok(self.checkpoint_key()?.public_key())
    }

    /// Verifies the log, then signs and saves a checkpoint of it. A tampered log is never
    /// signed.
    pub fn checkpoint(&self) -> Result<SignedCheckpoint, AuditError> {
        let key = self.checkpoint_key()?;
        let verified = self.verify()?;
        let signed = SignedCheckpoint::sign(verified.size, verified.root, Timestamp::now(), &key)?;
        self.store.save_checkpoint(&signed)?;
        Ok(signed)
    }

    /// A fresh checkpoint bundled with the public key, ready to write to a file.
    pub fn export(&self) -> Result<CheckpointFile, AuditError> {
        let signed = self.checkpoint()?;
        Ok(CheckpointFile::new(signed, self.public_key()?))
    }

    /// The most recently saved checkpoint.
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, AuditError> {
        Ok(self.store.latest_checkpoint()?)
    }

    /// Entries matching `query`.
    pub fn query(&self, query: &Query) -> Result<Vec<Entry>, AuditError> {
        Ok(self.store.query(query)?)
    }

    /// The last `n` entries, oldest first.
    pub fn tail(&self, n: usize) -> Result<Vec<Entry>, AuditError> {
        self.query(&Query::tail(n))
    }

    /// Proof that entry `seq` is in the first `size` entries, after verifying the log.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<InclusionProof, AuditError> {
        let (leaves, verified) = verify::verified_leaves(self.store(), size)?;
        if size > verified.size || seq >= size {
            return Err(AuditError::NoSuchEntry { seq, size });
        }
        let index = usize::try_from(seq).map_err(|_| AuditError::NoSuchEntry { seq, size })?;
        let path = inclusion_proof(&leaves, index).ok_or(AuditError::NoSuchEntry { seq, size })?;
        let leaf = *leaves
            .get(index)
            .ok_or(AuditError::NoSuchEntry { seq, size })?;
        Ok(InclusionProof {
            seq,
            size,
            leaf,
            root: root(&leaves),
            path,
        })
    }

    /// Proof that the first `old_size` entries are a prefix of the first `new_size`, after
    /// verifying the log: hand it with two checkpoints to an auditor off the machine.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, AuditError> {
        let (leaves, verified) = verify::verified_leaves(self.store(), new_size)?;
        let no_such = || AuditError::NoSuchEntry {
            seq: old_size,
            size: new_size,
        };
        if new_size > verified.size || old_size > new_size {
            return Err(no_such());
        }
        let m = usize::try_from(old_size).map_err(|_| no_such())?;
        let old = leaves.get(..m).ok_or_else(no_such)?;
        let path = consistency_proof(&leaves, m).ok_or_else(no_such)?;
        Ok(ConsistencyProof {
            old_size,
            new_size,
            old_root: root(old),
            new_root: root(&leaves),
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<AuditLog>();
    }
}
