//! Verification: recompute the chain and the Merkle root from the rows as stored, and name
//! the first bad seq.
//!
//! Each row at expected position `n` must: have row key `n` (else an entry was deleted or
//! inserted), decode as a canonical entry, match its stored hash (else it was edited), claim
//! seq `n` (else rows were moved or swapped), chain to the previous entry's hash, and agree
//! with its query columns. Against a checkpoint, the log must also have at least
//! `checkpoint.size` entries (else it was truncated) with the checkpoint's root at that size
//! (else it was rewritten).
//!
//! What no verifier can see: an entry correctly appended at the end by someone who can
//! write the database; only a checkpoint signed later covers it.

use crate::checkpoint::{CheckpointError, SignedCheckpoint};
use crate::checkpoint_key::CheckpointPublicKey;
use crate::entry::Entry;
use crate::hash::Hash;
use crate::merkle::{leaf_hash, Frontier};
use crate::store::{AuditStore, IndexColumns, StoreError};

/// Rows read per page while verifying.
pub const VERIFY_PAGE: usize = 4096;

/// The damage verification found. Every variant but `RootMismatch` names the first bad seq.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Tamper {
    /// Row `seq` is missing: the next row has a higher key.
    #[error("entry {seq} is missing (the next stored row is {found}): an entry was deleted")]
    Missing {
        /// The first missing seq.
        seq: u64,
        /// The row key found in its place.
        found: i64,
    },
    /// A row with a key below `seq` (e.g. negative) sits where `seq` was expected.
    #[error("a row with key {found} sits where entry {seq} was expected: a row was inserted")]
    Unexpected {
        /// The expected seq.
        seq: u64,
        /// The row key found.
        found: i64,
    },
    /// The stored bytes are not a canonical entry.
    #[error("entry {seq} is not a valid canonical entry ({reason}): it was edited")]
    Unreadable {
        /// The bad seq.
        seq: u64,
        /// Why it does not decode.
        reason: String,
    },
    /// The stored hash is not the hash of the stored entry.
    #[error("entry {seq} does not match its stored hash: it was edited")]
    HashMismatch {
        /// The bad seq.
        seq: u64,
    },
    /// The entry at row `seq` says it is entry `claimed`.
    #[error("the row at {seq} holds entry {claimed}: entries were moved, swapped or inserted")]
    SeqMismatch {
        /// The bad seq.
        seq: u64,
        /// The seq written inside the entry.
        claimed: u64,
    },
    /// The entry's `prev` is not the hash of the entry before it.
    #[error("entry {seq} does not chain to the entry before it: an earlier entry was rewritten, inserted or removed")]
    ChainBroken {
        /// The bad seq.
        seq: u64,
    },
    /// A query column no longer agrees with the entry.
    #[error("entry {seq}'s `{column}` column does not match the entry: the index was edited")]
    IndexMismatch {
        /// The bad seq.
        seq: u64,
        /// Which column.
        column: &'static str,
    },
    /// Fewer entries than the checkpoint covers.
    #[error("the log has {log_size} entries but the checkpoint covers {checkpoint_size}: entries from {log_size} on were removed")]
    Truncated {
        /// Entries the checkpoint covers.
        checkpoint_size: u64,
        /// Entries the log has.
        log_size: u64,
    },
    /// The first `size` entries hash to a different root than the checkpoint's.
    #[error("the first {size} entries do not match the checkpoint (root {found}, checkpoint says {expected}): the log was rewritten")]
    RootMismatch {
        /// The checkpoint's size.
        size: u64,
        /// The checkpoint's root.
        expected: Hash,
        /// The log's root at that size.
        found: Hash,
    },
}

impl Tamper {
    /// The first seq known to be bad. `None` for a root mismatch, where the damage lies
    /// somewhere below the checkpoint's size and a root alone cannot say where.
    pub fn first_bad_seq(&self) -> Option<u64> {
        match self {
            Tamper::Missing { seq, .. }
            | Tamper::Unexpected { seq, .. }
            | Tamper::Unreadable { seq, .. }
            | Tamper::HashMismatch { seq }
            | Tamper::SeqMismatch { seq, .. }
            | Tamper::ChainBroken { seq }
            | Tamper::IndexMismatch { seq, .. } => Some(*seq),
            Tamper::Truncated { log_size, .. } => Some(*log_size),
            Tamper::RootMismatch { .. } => None,
        }
    }
}

/// Why verification did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The log was tampered with.
    #[error("audit log tampered: {0}")]
    Tamper(#[from] Tamper),
    /// The checkpoint was refused.
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    /// The store could not be read.
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl VerifyError {
    /// The tampering found, if that is what failed.
    pub fn tamper(&self) -> Option<&Tamper> {
        match self {
            VerifyError::Tamper(t) => Some(t),
            _ => None,
        }
    }
}

/// A log that verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Number of entries.
    pub size: u64,
    /// Merkle root over all of them.
    pub root: Hash,
    /// Hash of the last entry ([`Hash::ZERO`] when empty).
    pub head: Hash,
}

/// Walks every row in order, checking each; calls `on_leaf(seq, hash)` for each good entry.
pub(crate) fn scan(
    store: &dyn AuditStore,
    mut on_leaf: impl FnMut(u64, Hash),
) -> Result<Verified, VerifyError> {
    let mut frontier = Frontier::new();
    let mut prev = Hash::ZERO;
    let mut after: Option<i64> = None;
    loop {
        let rows = store.rows_after(after, VERIFY_PAGE)?;
        let Some(last) = rows.last() else { break };
        after = Some(last.seq);
        for row in rows {
            let seq = frontier.size();
            if u64::try_from(row.seq).ok() != Some(seq) {
                return Err(if i128::from(row.seq) > i128::from(seq) {
                    Tamper::Missing {
                        seq,
                        found: row.seq,
                    }
                } else {
                    Tamper::Unexpected {
                        seq,
                        found: row.seq,
                    }
                }
                .into());
            }
            let entry = Entry::decode(&row.body).map_err(|e| Tamper::Unreadable {
                seq,
                reason: e.to_string(),
            })?;
            let hash = leaf_hash(&row.body);
            if row.hash != hash.as_bytes() {
                return Err(Tamper::HashMismatch { seq }.into());
            }
            if entry.seq != seq {
                return Err(Tamper::SeqMismatch {
                    seq,
                    claimed: entry.seq,
                }
                .into());
            }
            if entry.prev != prev {
                return Err(Tamper::ChainBroken { seq }.into());
            }
            if let Some(column) = row.index.first_difference(&IndexColumns::of(&entry)) {
                return Err(Tamper::IndexMismatch { seq, column }.into());
            }
            on_leaf(seq, hash);
            frontier.push(hash);
            prev = hash;
        }
    }
    Ok(Verified {
        size: frontier.size(),
        root: frontier.root(),
        head: prev,
    })
}

/// Verifies the whole log: chain, hashes, order, index columns; returns its size and root.
pub fn verify(store: &dyn AuditStore) -> Result<Verified, VerifyError> {
    scan(store, |_, _| {})
}

/// Verifies the log and that it extends `checkpoint`, which must be signed by `trusted`.
pub fn verify_against(
    store: &dyn AuditStore,
    checkpoint: &SignedCheckpoint,
    trusted: &CheckpointPublicKey,
) -> Result<Verified, VerifyError> {
    checkpoint.verify(trusted)?;
    let want = checkpoint.checkpoint.size;
    // The root at the checkpoint's size is taken as the entries stream past (O(log n) memory).
    let mut frontier = Frontier::new();
    let mut root_at_size = (want == 0).then(|| frontier.root());
    let verified = scan(store, |seq, hash| {
        if seq < want {
            frontier.push(hash);
            if frontier.size() == want {
                root_at_size = Some(frontier.root());
            }
        }
    })?;
    let Some(found) = root_at_size else {
        return Err(Tamper::Truncated {
            checkpoint_size: want,
            log_size: verified.size,
        }
        .into());
    };
    if found != checkpoint.checkpoint.root {
        return Err(Tamper::RootMismatch {
            size: want,
            expected: checkpoint.checkpoint.root,
            found,
        }
        .into());
    }
    Ok(verified)
}

/// The leaf hashes of the first `size` entries, after verifying the whole log.
pub(crate) fn verified_leaves(
    store: &dyn AuditStore,
    size: u64,
) -> Result<(Vec<Hash>, Verified), VerifyError> {
    let mut leaves = Vec::new();
    let verified = scan(store, |seq, hash| {
        if seq < size {
            leaves.push(hash);
        }
    })?;
    Ok((leaves, verified))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bad_seq_is_named_except_for_a_root_mismatch() {
        assert_eq!(Tamper::HashMismatch { seq: 4 }.first_bad_seq(), Some(4));
        assert_eq!(
            Tamper::Truncated {
                checkpoint_size: 9,
                log_size: 6
            }
            .first_bad_seq(),
            Some(6)
        );
        let h = Hash::ZERO;
        assert_eq!(
            Tamper::RootMismatch {
                size: 3,
                expected: h,
                found: h
            }
            .first_bad_seq(),
            None
        );
    }
}
