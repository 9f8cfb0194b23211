//! The hash chain: sealing drafts after the current head, so each entry's hash covers its `prev`.
//!
//! Every store appends through [`ChainHead::extend`], inside its own write transaction, so
//! the chain rule lives in one place whatever the backend.

use crate::canonical::CanonicalError;
use crate::entry::{Entry, EntryDraft};
use crate::hash::Hash;
use crate::merkle::leaf_hash;
use crate::timestamp::Timestamp;

/// Where the next entry goes: its seq and the hash it must chain to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainHead {
    /// The seq the next entry gets (= the current number of entries).
    pub next_seq: u64,
    /// The hash of the last entry, or [`Hash::ZERO`] for an empty log.
    pub prev: Hash,
}

impl ChainHead {
    /// The head of an empty log.
    pub const GENESIS: ChainHead = ChainHead {
        next_seq: 0,
        prev: Hash::ZERO,
    };

    /// Seals `drafts` in order after this head and returns them with their canonical bytes
    /// and hashes; `self` moves to the new head.
    pub fn extend(
        &mut self,
        drafts: Vec<EntryDraft>,
        now: Timestamp,
    ) -> Result<Vec<Sealed>, CanonicalError> {
        let mut out = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let entry = Entry::seal(draft, self.next_seq, self.prev, now);
            let body = entry.canonical()?;
            let hash = leaf_hash(&body);
            self.next_seq += 1;
            self.prev = hash;
            out.push(Sealed { entry, body, hash });
        }
        Ok(out)
    }
}

/// An entry ready to store.
#[derive(Clone, Debug)]
pub struct Sealed {
    /// The entry.
    pub entry: Entry,
    /// Its canonical JSON.
    pub body: Vec<u8>,
    /// Its hash (= Merkle leaf hash).
    pub hash: Hash,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Decision;
    use crate::ids::{ActionName, Actor};

    #[test]
    fn each_entry_chains_to_the_one_before() {
        let draft = EntryDraft::new(
            Actor::new("router").unwrap(),
            ActionName::new("task.received").unwrap(),
            Decision::NotApplicable,
        );
        let mut head = ChainHead::GENESIS;
        let now = Timestamp::now();
        let sealed = head.extend(vec![draft.clone(), draft], now).unwrap();
        assert_eq!(sealed[0].entry.seq, 0);
        assert_eq!(sealed[0].entry.prev, Hash::ZERO);
        assert_eq!(sealed[1].entry.seq, 1);
        assert_eq!(sealed[1].entry.prev, sealed[0].hash);
        assert_ne!(sealed[0].hash, sealed[1].hash);
        assert_eq!(head.next_seq, 2);
        assert_eq!(head.prev, sealed[1].hash);
        assert_eq!(sealed[1].entry.hash().unwrap(), sealed[1].hash);
    }
}
