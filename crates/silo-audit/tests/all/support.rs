//! Shared fixtures: a populated log in a temporary data directory and raw SQLite access.

#![expect(
    clippy::unwrap_used,
    reason = "fixtures are test code: a broken fixture should fail the test loudly"
)]

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde_json::json;
use silo_audit::merkle::leaf_hash;
use silo_audit::{
    ActionName, Actor, AgentName, AuditLog, CustomerToken, Decision, Detail, Entry, EntryDraft,
    Hash, KeyId, KeyRef, RuleId, TaskId, Timestamp, TokenId,
};
use tempfile::TempDir;

/// Entries a fixture log holds.
pub const N: u64 = 20;

pub struct Fixture {
    pub dir: TempDir,
    pub log: AuditLog,
}

impl Fixture {
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn db(&self) -> PathBuf {
        AuditLog::db_path(self.data_dir())
    }

    /// A raw connection to the database with the append-only triggers dropped, as an
    /// attacker with write access to the file would have.
    pub fn attacker(&self) -> Connection {
        let conn = Connection::open(self.db()).unwrap();
        conn.execute_batch(
            "DROP TRIGGER audit_entries_no_update;
             DROP TRIGGER audit_entries_no_delete;
             DROP TRIGGER audit_checkpoints_no_update;
             DROP TRIGGER audit_checkpoints_no_delete;",
        )
        .unwrap();
        conn
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
    let log = AuditLog::open(dir.path()).unwrap();
    let half = n / 2;
    log.append_batch((0..half).map(draft).collect()).unwrap();
    log.append_batch((half..n).map(draft).collect()).unwrap();
    Fixture { dir, log }
}

pub fn fixture() -> Fixture {
    log_with(N)
}

/// The stored body of entry `seq`.
pub fn body(conn: &Connection, seq: u64) -> String {
    conn.query_row(
        "SELECT body FROM audit_entries WHERE seq = ?1",
        [seq as i64],
        |r| r.get(0),
    )
    .unwrap()
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

/// Inserts a raw row, copying the index columns from `entry`.
pub fn insert_row(conn: &Connection, row_seq: i64, entry: &Entry, body: &str, hash: &Hash) {
    conn.execute(
        "INSERT INTO audit_entries (seq, time_us, task, agent, customer, action, decision, body, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        rusqlite::params![
            row_seq,
            entry.time.unix_micros(),
            entry.task.as_ref().map(|t| t.to_string()),
            entry.agent.as_ref().map(|a| a.to_string()),
            entry.customer.as_ref().map(|c| c.to_string()),
            entry.action.to_string(),
            entry.decision.as_str(),
            body,
            &hash.as_bytes()[..],
        ],
    )
    .unwrap();
}

/// The stored hash of entry `seq`.
pub fn stored_hash(conn: &Connection, seq: u64) -> Hash {
    let bytes: Vec<u8> = conn
        .query_row(
            "SELECT hash FROM audit_entries WHERE seq = ?1",
            [seq as i64],
            |r| r.get(0),
        )
        .unwrap();
    Hash::from_slice(&bytes).unwrap()
}
