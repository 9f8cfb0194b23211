//! Shared fixtures: a populated log in a temporary data directory, kept by whichever store
//! the test root chose (`crate::backend`), and raw access to that store as an attacker.

#![expect(
    clippy::unwrap_used,
    reason = "fixtures are test code: a broken fixture should fail the test loudly"
)]

use std::path::Path;

use serde_json::json;
use silo_audit::merkle::leaf_hash;
use silo_audit::{
    ActionName, Actor, AgentName, AuditLog, CustomerToken, Decision, Detail, Entry, EntryDraft,
    Hash, KeyId, KeyRef, RuleId, TaskId, Timestamp, TokenId,
};
use tempfile::TempDir;

use crate::backend::{Attacker, Storage};

/// Entries a fixture log holds.
pub const N: u64 = 20;

pub struct Fixture {
    pub dir: TempDir,
    pub storage: Storage,
    pub log: AuditLog,
}

impl Fixture {
    /// The data directory (the checkpoint key lives under it whatever the store).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Another handle on the same log, as another process (or host) would open it.
    pub fn reopen(&self) -> AuditLog {
        self.storage.open(self.data_dir())
    }

    /// Raw write access to the stored log with the append-only triggers out of the way,
    /// as an attacker with write access to the storage would have.
    pub fn attacker(&self) -> Attacker {
        self.storage.attacker()
    }
}

/// Time of entry `i` in fixtures: one minute apart from 2026-11-23T10:00:00Z.
pub fn time_of(i: u64) -> Timestamp {
    let base = Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").unwrap();
    Timestamp::from_unix_micros(base.unix_micros() + i as i64 * 60_000_000).unwrap()
}

/// Entry `i` of the fixture: tasks t-0..t-3, agents by parity, customers c-0..c-4,
/// decisions cycling allow/deny/needs_approval/none.
pub fn draft(i: u64) -> EntryDraft {
    let decision = [
        Decision::Allow,
        Decision::Deny,
        Decision::NeedsApproval,
        Decision::NotApplicable,
    ][(i % 4) as usize];
    let action = if i.is_multiple_of(2) {
        "refund.issue"
    } else {
        "email.send"
    };
    let agent = if i.is_multiple_of(2) {
        "refund-agent"
    } else {
        "mail-agent"
    };
    EntryDraft::new(
        Actor::new("membrane").unwrap(),
        ActionName::new(action).unwrap(),
        decision,
    )
    .at(time_of(i))
    .task(TaskId::new(format!("t-{}", i % 4)).unwrap())
    .agent(AgentName::new(agent).unwrap())
    .customer(CustomerToken::new(format!("c-{}", i % 5)).unwrap())
    .base_key(KeyRef {
        kid: KeyId::new("base-k1").unwrap(),
        jti: None,
    })
    .task_key(KeyRef::token(
        KeyId::new("task-k1").unwrap(),
        TokenId::new(format!("jti-{i}")).unwrap(),
    ))
    .rule(RuleId::new("refund.max_cents").unwrap())
    .detail(Detail::new(json!({"amount_cents": i * 100, "n": i})).unwrap())
}

/// A log with `n` fixture entries, appended in two batches.
pub fn log_with(n: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::fresh(dir.path());
    let log = storage.open(dir.path());
    let half = n / 2;
    log.append_batch((0..half).map(draft).collect()).unwrap();
    log.append_batch((half..n).map(draft).collect()).unwrap();
    Fixture { dir, storage, log }
}

/// A log with the [`N`] fixture entries.
pub fn fixture() -> Fixture {
    log_with(N)
}

/// An empty log.
pub fn empty() -> Fixture {
    log_with(0)
}

/// A correctly hashed forged entry at `seq` chained to `prev`, as a careful forger makes it.
pub fn forge(seq: u64, prev: Hash) -> (Entry, String, Hash) {
    let mut d = draft(seq);
    d.decision = Decision::Allow;
    d.detail = Detail::new(json!({"forged": true})).unwrap();
    let entry = Entry::seal(d, seq, prev, time_of(seq));
    let bytes = entry.canonical().unwrap();
    let hash = leaf_hash(&bytes);
    (entry, String::from_utf8(bytes).unwrap(), hash)
}
