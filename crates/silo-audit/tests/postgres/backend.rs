//! The PostgreSQL store behind the shared audit suite: each fixture's log in a fresh
//! database on the throw-away server, and an attacker who connects as the superuser and
//! disables the append-only triggers (`ALTER TABLE … DISABLE TRIGGER ALL`), as a database
//! administrator could.

#![expect(
    clippy::unwrap_used,
    reason = "fixtures are test code: a broken fixture should fail the test loudly"
)]

use std::path::Path;

use silo_audit::{AuditLog, Entry, Hash};
use silo_postgres::postgres::{Client, NoTls};
use silo_postgres::{Database, Throwaway};

/// Where a fixture's log is kept: a database of its own.
pub struct Storage {
    url: String,
}

impl Storage {
    /// A fresh, empty database (the data directory only holds the checkpoint key).
    pub fn fresh(_data_dir: &Path) -> Storage {
        let url = Throwaway::shared().unwrap().fresh_database().unwrap();
        Storage { url }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new handle on the log with a connection pool of its own, as another host would
    /// open it.
    pub fn open(&self, data_dir: &Path) -> AuditLog {
        let db = Database::connect(&self.url).unwrap();
        AuditLog::open_postgres(&db, data_dir).unwrap()
    }

    /// A superuser connection with the append-only triggers disabled.
    pub fn attacker(&self) -> Attacker {
        let mut client = Client::connect(&self.url, NoTls).unwrap();
        client
            .batch_execute(
                "ALTER TABLE audit_entries DISABLE TRIGGER ALL;
                 ALTER TABLE audit_checkpoints DISABLE TRIGGER ALL;",
            )
            .unwrap();
        Attacker { client }
    }
}

/// Someone with the database's superuser password.
pub struct Attacker {
    client: Client,
}

impl Attacker {
    /// The stored body of entry `seq`.
    pub fn body(&mut self, seq: u64) -> String {
        self.client
            .query_one(
                "SELECT body FROM audit_entries WHERE seq = $1",
                &[&(seq as i64)],
            )
            .unwrap()
            .get(0)
    }

    /// The stored hash of entry `seq`.
    pub fn stored_hash(&mut self, seq: u64) -> Hash {
        let bytes: Vec<u8> = self
            .client
            .query_one(
                "SELECT hash FROM audit_entries WHERE seq = $1",
                &[&(seq as i64)],
            )
            .unwrap()
            .get(0);
        Hash::from_slice(&bytes).unwrap()
    }

    /// Overwrites entry `seq`'s body, leaving its hash.
    pub fn set_body(&mut self, seq: u64, body: &str) {
        let n = self
            .client
            .execute(
                "UPDATE audit_entries SET body = $1 WHERE seq = $2",
                &[&body, &(seq as i64)],
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    /// Overwrites entry `seq`'s body and hash.
    pub fn set_body_and_hash(&mut self, seq: u64, body: &str, hash: &Hash) {
        let n = self
            .client
            .execute(
                "UPDATE audit_entries SET body = $1, hash = $2 WHERE seq = $3",
                &[&body, &&hash.as_bytes()[..], &(seq as i64)],
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    /// Overwrites one text query column (`task`, `decision`…) of entry `seq`.
    pub fn set_text_column(&mut self, seq: u64, column: &str, value: &str) {
        let n = self
            .client
            .execute(
                &format!("UPDATE audit_entries SET {column} = $1 WHERE seq = $2"),
                &[&value, &(seq as i64)],
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    /// Deletes entry `seq`.
    pub fn delete(&mut self, seq: u64) {
        let n = self
            .client
            .execute("DELETE FROM audit_entries WHERE seq = $1", &[&(seq as i64)])
            .unwrap();
        assert_eq!(n, 1);
    }

    /// Deletes entry `seq` and every later one.
    pub fn delete_from(&mut self, seq: u64) {
        self.client
            .execute(
                "DELETE FROM audit_entries WHERE seq >= $1",
                &[&(seq as i64)],
            )
            .unwrap();
    }

    /// Inserts a raw row at key `row_seq`, copying the index columns from `entry`.
    pub fn insert_row(&mut self, row_seq: i64, entry: &Entry, body: &str, hash: &Hash) {
        self.client
            .execute(
                "INSERT INTO audit_entries (seq, time_us, task, agent, customer, action, decision, body, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &row_seq,
                    &entry.time.unix_micros(),
                    &entry.task.as_ref().map(|t| t.to_string()),
                    &entry.agent.as_ref().map(|a| a.to_string()),
                    &entry.customer.as_ref().map(|c| c.to_string()),
                    &entry.action.to_string(),
                    &entry.decision.as_str(),
                    &body,
                    &&hash.as_bytes()[..],
                ],
            )
            .unwrap();
    }

    /// Moves the rows from `seq` on up by one, leaving key `seq` free (via negative keys
    /// to dodge the primary key).
    pub fn make_room_at(&mut self, seq: u64) {
        self.client
            .execute(
                "UPDATE audit_entries SET seq = -(seq + 1) WHERE seq >= $1",
                &[&(seq as i64)],
            )
            .unwrap();
        self.client
            .execute("UPDATE audit_entries SET seq = -seq WHERE seq < 0", &[])
            .unwrap();
    }

    /// Swaps the whole contents of rows `a` and `b`, index columns and hashes included.
    pub fn swap(&mut self, a: u64, b: u64) {
        self.client
            .batch_execute(&format!(
                "CREATE TEMP TABLE a AS SELECT * FROM audit_entries WHERE seq = {a};
                 CREATE TEMP TABLE b AS SELECT * FROM audit_entries WHERE seq = {b};
                 DELETE FROM audit_entries WHERE seq IN ({a}, {b});
                 INSERT INTO audit_entries SELECT {a}, time_us, task, agent, customer, action, decision, body, hash FROM b;
                 INSERT INTO audit_entries SELECT {b}, time_us, task, agent, customer, action, decision, body, hash FROM a;"
            ))
            .unwrap();
    }

    /// Every byte the audit tables hold: each entry's and checkpoint's columns.
    pub fn everything_stored(mut self) -> Vec<u8> {
        let mut all = Vec::new();
        for row in self
            .client
            .query(
                "SELECT convert_to(concat_ws(' ', seq, time_us, task, agent, customer, action,
                                             decision, body), 'UTF8'), hash
                 FROM audit_entries",
                &[],
            )
            .unwrap()
        {
            all.extend_from_slice(row.get::<_, &[u8]>(0));
            all.extend_from_slice(row.get::<_, &[u8]>(1));
        }
        for row in self
            .client
            .query(
                "SELECT convert_to(concat_ws(' ', id, size, body), 'UTF8') FROM audit_checkpoints",
                &[],
            )
            .unwrap()
        {
            all.extend_from_slice(row.get::<_, &[u8]>(0));
        }
        all
    }
}
