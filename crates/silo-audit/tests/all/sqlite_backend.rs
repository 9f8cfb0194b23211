//! The SQLite store behind the shared audit suite: where a fixture's log lives, and an
//! attacker who edits the database file directly (triggers dropped, as anyone with write
//! access to the file can).

#![expect(
    clippy::unwrap_used,
    reason = "fixtures are test code: a broken fixture should fail the test loudly"
)]

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};
use silo_audit::{AuditLog, Entry, Hash};

/// Where a fixture's log is kept: `audit/audit.db` under its data directory.
pub struct Storage {
    db: PathBuf,
}

impl Storage {
    /// Storage for a new, empty log under `data_dir`.
    pub fn fresh(data_dir: &Path) -> Storage {
        Storage {
            db: AuditLog::db_path(data_dir),
        }
    }

    /// A new handle on the log, as another process would open it.
    pub fn open(&self, data_dir: &Path) -> AuditLog {
        AuditLog::open(data_dir).unwrap()
    }

    /// Raw write access to the stored log, with the append-only triggers dropped.
    pub fn attacker(&self) -> Attacker {
        let conn = Connection::open(&self.db).unwrap();
        conn.execute_batch(
            "DROP TRIGGER audit_entries_no_update;
             DROP TRIGGER audit_entries_no_delete;
             DROP TRIGGER audit_checkpoints_no_update;
             DROP TRIGGER audit_checkpoints_no_delete;",
        )
        .unwrap();
        Attacker {
            conn,
            db: self.db.clone(),
        }
    }
}

/// Someone editing the SQLite file.
pub struct Attacker {
    conn: Connection,
    db: PathBuf,
}

impl Attacker {
    /// The stored body of entry `seq`.
    pub fn body(&mut self, seq: u64) -> String {
        self.conn
            .query_row(
                "SELECT body FROM audit_entries WHERE seq = ?1",
                [seq as i64],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// The stored hash of entry `seq`.
    pub fn stored_hash(&mut self, seq: u64) -> Hash {
        let bytes: Vec<u8> = self
            .conn
            .query_row(
                "SELECT hash FROM audit_entries WHERE seq = ?1",
                [seq as i64],
                |r| r.get(0),
            )
            .unwrap();
        Hash::from_slice(&bytes).unwrap()
    }

    /// Overwrites entry `seq`'s body, leaving its hash.
    pub fn set_body(&mut self, seq: u64, body: &str) {
        self.conn
            .execute(
                "UPDATE audit_entries SET body = ?1 WHERE seq = ?2",
                params![body, seq as i64],
            )
            .unwrap();
    }

    /// Overwrites entry `seq`'s body and hash.
    pub fn set_body_and_hash(&mut self, seq: u64, body: &str, hash: &Hash) {
        self.conn
            .execute(
                "UPDATE audit_entries SET body = ?1, hash = ?2 WHERE seq = ?3",
                params![body, &hash.as_bytes()[..], seq as i64],
            )
            .unwrap();
    }

    /// Overwrites one text query column (`task`, `decision`…) of entry `seq`.
    pub fn set_text_column(&mut self, seq: u64, column: &str, value: &str) {
        self.conn
            .execute(
                &format!("UPDATE audit_entries SET {column} = ?1 WHERE seq = ?2"),
                params![value, seq as i64],
            )
            .unwrap();
    }

    /// Deletes entry `seq`.
    pub fn delete(&mut self, seq: u64) {
        self.conn
            .execute("DELETE FROM audit_entries WHERE seq = ?1", [seq as i64])
            .unwrap();
    }

    /// Deletes entry `seq` and every later one.
    pub fn delete_from(&mut self, seq: u64) {
        self.conn
            .execute("DELETE FROM audit_entries WHERE seq >= ?1", [seq as i64])
            .unwrap();
    }

    /// Inserts a raw row at key `row_seq`, copying the index columns from `entry`.
    pub fn insert_row(&mut self, row_seq: i64, entry: &Entry, body: &str, hash: &Hash) {
        self.conn.execute(
            "INSERT INTO audit_entries (seq, time_us, task, agent, customer, action, decision, body, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
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

    /// Moves the rows from `seq` on up by one, leaving key `seq` free (via negative keys
    /// to dodge the primary key).
    pub fn make_room_at(&mut self, seq: u64) {
        self.conn
            .execute(
                "UPDATE audit_entries SET seq = -(seq + 1) WHERE seq >= ?1",
                [seq as i64],
            )
            .unwrap();
        self.conn
            .execute("UPDATE audit_entries SET seq = -seq WHERE seq < 0", [])
            .unwrap();
    }

    /// Swaps the whole contents of rows `a` and `b`, index columns and hashes included.
    pub fn swap(&mut self, a: u64, b: u64) {
        self.conn
            .execute_batch(&format!(
                "CREATE TEMP TABLE a AS SELECT * FROM audit_entries WHERE seq = {a};
                 CREATE TEMP TABLE b AS SELECT * FROM audit_entries WHERE seq = {b};
                 DELETE FROM audit_entries WHERE seq IN ({a}, {b});
                 INSERT INTO audit_entries SELECT {a}, time_us, task, agent, customer, action, decision, body, hash FROM b;
                 INSERT INTO audit_entries SELECT {b}, time_us, task, agent, customer, action, decision, body, hash FROM a;"
            ))
            .unwrap();
    }

    /// Every byte the store keeps on disk: the database file and its WAL, read after this
    /// connection closes (which checkpoints the WAL into the main file).
    pub fn everything_stored(self) -> Vec<u8> {
        drop(self.conn);
        let mut all = Vec::new();
        for suffix in ["", "-wal"] {
            let mut path = self.db.clone().into_os_string();
            path.push(suffix);
            if let Ok(bytes) = std::fs::read(&path) {
                all.extend_from_slice(&bytes);
            }
        }
        all
    }
}
