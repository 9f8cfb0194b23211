//! `SqliteStore`: the embedded [`AuditStore`], one SQLite file in WAL mode.
//!
//! Durability ([`Durability`]): by default `synchronous = FULL` in WAL mode fsyncs the WAL
//! on every commit, so a batch is on disk when `append_batch` returns. `Durability::Process`
//! (`synchronous = NORMAL`) skips that fsync: an entry is in the WAL when the append
//! returns and survives any crash or kill of the process, but an OS crash or power loss
//! may drop the newest entries (a signed checkpoint exported earlier shows the truncation).
//!
//! Concurrency: within a process, one connection behind a `Mutex` serialises appends (share
//! the store in an `Arc`). Across processes, every append runs in a `BEGIN IMMEDIATE`
//! transaction and reads the chain head *inside* it, so two writers (say the router and a
//! `silo` command) can never chain to the same head; a waiting writer retries for up to
//! [`BUSY_TIMEOUT`]. WAL lets readers (queries, verification) run beside a writer.
//!
//! Append-only: triggers abort any `UPDATE` or `DELETE` on entries and checkpoints. Someone
//! with write access to the file can drop them; that is what verification is for.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};

use crate::chain::ChainHead;
use crate::checkpoint::SignedCheckpoint;
use crate::entry::{Entry, EntryDraft};
use crate::query::{Query, SqlArg};
use crate::store::{
    check_field_name, seq_window, AuditStore, DecisionCount, IndexColumns, Receipt, StoreError,
    StoredRow,
};
use crate::timestamp::Timestamp;

/// How long a writer waits for another process's write transaction.
pub use silo_sqlite::BUSY_TIMEOUT;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_entries (
    seq      INTEGER PRIMARY KEY,
    time_us  INTEGER NOT NULL,
    task     TEXT,
    agent    TEXT,
    customer TEXT,
    action   TEXT NOT NULL,
    decision TEXT NOT NULL,
    body     TEXT NOT NULL,
    hash     BLOB NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_entries_task     ON audit_entries (task)     WHERE task IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_entries_agent    ON audit_entries (agent)    WHERE agent IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_entries_customer ON audit_entries (customer) WHERE customer IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_entries_action   ON audit_entries (action);
CREATE INDEX IF NOT EXISTS audit_entries_time     ON audit_entries (time_us);
CREATE TRIGGER IF NOT EXISTS audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    id   INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    body TEXT NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
";

const ROW_COLUMNS: &str = "seq, body, hash, time_us, task, agent, customer, action, decision";

/// The SQLite audit store.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn open_error(e: silo_sqlite::OpenError) -> StoreError {
    match e {
        silo_sqlite::OpenError::Io { path, source } => StoreError::Io { path, source },
        other => StoreError::Backend {
            context: other.context(),
            source: Box::new(other),
        },
    }
}

fn backend(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::Backend {
        context,
        source: Box::new(e),
    }
}

/// When an appended entry counts as recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// On disk: the WAL is fsynced on every commit (`synchronous = FULL`).
    #[default]
    Disk,
    /// In the operating system: written to the WAL without an fsync (`synchronous =
    /// NORMAL`); survives a crash of the process, not of the machine.
    Process,
}

impl std::str::FromStr for Durability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "disk" => Ok(Self::Disk),
            "process" => Ok(Self::Process),
            other => Err(format!(
                "audit durability `{other}` is not `disk` or `process`"
            )),
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed, with a 0700 directory) the database at `path`, durable
    /// on disk.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Durability::Disk)
    }

    /// Opens the database at `path` with the given durability.
    pub fn open_with(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        // Owner-only like the key, WAL; FULL fsyncs the WAL at every commit, so an
        // append is durable when it returns.
        let synchronous = match durability {
            Durability::Disk => silo_sqlite::Synchronous::Full,
            Durability::Process => silo_sqlite::Synchronous::Normal,
        };
        let conn = silo_sqlite::open(path, synchronous).map_err(open_error)?;
        // A 16 MiB page cache and a 4096-page auto-checkpoint keep the five indexes' pages
        // hot and amortise WAL checkpoints over many batches.
        conn.execute_batch(
            "PRAGMA cache_size = -16384;
             PRAGMA wal_autocheckpoint = 4096;",
        )
        .map_err(backend("setting pragmas"))?;
        conn.execute_batch(SCHEMA)
            .map_err(backend("creating the schema"))?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock can only happen between statements; rusqlite rolls
        // an unfinished transaction back when it is dropped, so the connection is still sound.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn read_head(conn: &Connection) -> Result<ChainHead, StoreError> {
    // Cached: this runs on every append, and parsing it cost more than running it.
    let last: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1")
        .and_then(|mut stmt| {
            stmt.query_row([], |r| Ok((r.get(0)?, bytes(r.get_ref(1)?))))
                .optional()
        })
        .map_err(backend("reading the chain head"))?;
    crate::store::head_after(last)
}

/// Text or blob bytes; anything else reads as empty so that verification flags the row.
fn bytes(v: ValueRef<'_>) -> Vec<u8> {
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
        _ => Vec::new(),
    }
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Text(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

fn int(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        _ => None,
    }
}

fn stored_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRow> {
    Ok(StoredRow {
        seq: r.get(0)?,
        body: bytes(r.get_ref(1)?),
        hash: bytes(r.get_ref(2)?),
        index: IndexColumns {
            time_us: int(r.get_ref(3)?),
            task: text(r.get_ref(4)?),
            agent: text(r.get_ref(5)?),
            customer: text(r.get_ref(6)?),
            action: text(r.get_ref(7)?),
            decision: text(r.get_ref(8)?),
        },
    })
}

fn to_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::SeqOutOfRange(seq))
}

impl AuditStore for SqliteStore {
    fn append_batch(&self, drafts: Vec<EntryDraft>) -> Result<Vec<Receipt>, StoreError> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend("starting the append transaction"))?;
        let mut head = read_head(&tx)?;
        let sealed = head.extend(drafts, Timestamp::now())?;
        let mut receipts = Vec::with_capacity(sealed.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO audit_entries
                     (seq, time_us, task, agent, customer, action, decision, body, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(backend("preparing the insert"))?;
            for s in &sealed {
                let e = &s.entry;
                // Canonical JSON is always UTF-8 (it is produced from Rust strings).
                let body = std::str::from_utf8(&s.body).map_err(|_| StoreError::Corrupt {
                    seq: to_i64(e.seq).unwrap_or(-1),
                    reason: "canonical body is not UTF-8".to_owned(),
                })?;
                insert
                    .execute(params![
                        to_i64(e.seq)?,
                        e.time.unix_micros(),
                        e.task.as_ref().map(|t| t.as_str()),
                        e.agent.as_ref().map(|a| a.as_str()),
                        e.customer.as_ref().map(|c| c.as_str()),
                        e.action.as_str(),
                        e.decision.as_str(),
                        body,
                        &s.hash.as_bytes()[..],
                    ])
                    .map_err(backend("inserting an entry"))?;
                receipts.push(Receipt {
                    seq: e.seq,
                    hash: s.hash,
                    time: e.time,
                });
            }
        }
        silo_fault::crash_point("during_audit_append");
        tx.commit().map_err(backend("committing the append"))?;
        Ok(receipts)
    }

    fn len(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .lock()
            .query_row("SELECT count(*) FROM audit_entries", [], |r| r.get(0))
            .map_err(backend("counting entries"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn rows_after(&self, after: Option<i64>, limit: usize) -> Result<Vec<StoredRow>, StoreError> {
        let conn = self.lock();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match after {
            Some(after) => {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {ROW_COLUMNS} FROM audit_entries WHERE seq > ?1 ORDER BY seq LIMIT ?2"
                    ))
                    .map_err(backend("preparing the scan"))?;
                let rows = stmt
                    .query_map(params![after, limit], stored_row)
                    .map_err(backend("scanning entries"))?;
                rows.collect::<Result<Vec<_>, _>>()
            }
            None => {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {ROW_COLUMNS} FROM audit_entries ORDER BY seq LIMIT ?1"
                    ))
                    .map_err(backend("preparing the scan"))?;
                let rows = stmt
                    .query_map(params![limit], stored_row)
                    .map_err(backend("scanning entries"))?;
                rows.collect::<Result<Vec<_>, _>>()
            }
        };
        rows.map_err(backend("reading entries"))
    }

    fn query(&self, query: &Query) -> Result<Vec<Entry>, StoreError> {
        let plan = query.to_sql(|n| format!("?{n}"))?;
        let args = plan.args.into_iter().map(|a| match a {
            SqlArg::Text(t) => Value::Text(t),
            SqlArg::Int(i) => Value::Integer(i),
        });
        let conn = self.lock();
        let mut stmt = conn
            .prepare(&plan.sql)
            .map_err(backend("preparing the query"))?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| {
                Ok((r.get::<_, i64>(0)?, bytes(r.get_ref(1)?)))
            })
            .map_err(backend("querying entries"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend("reading entries"))?;
        drop(stmt);
        drop(conn);
        query.finish(rows, plan.newest_first)
    }

    fn end_seq(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .lock()
            .query_row(
                "SELECT coalesce(max(seq) + 1, 0) FROM audit_entries",
                [],
                |r| r.get(0),
            )
            .map_err(backend("reading the last seq"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn decision_counts(&self, seqs: Range<u64>) -> Result<Vec<DecisionCount>, StoreError> {
        let (start, end) = seq_window(&seqs);
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT action, decision, json_extract(body, '$.rule') AS rule, count(*)
                 FROM audit_entries WHERE seq >= ?1 AND seq < ?2 AND decision <> 'none'
                 GROUP BY action, decision, rule ORDER BY action, decision, rule",
            )
            .map_err(backend("preparing the decision counts"))?;
        let rows = stmt
            .query_map(params![start, end], |r| {
                Ok(DecisionCount {
                    action: r.get(0)?,
                    decision: r.get(1)?,
                    rule: text(r.get_ref(2)?),
                    count: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                })
            })
            .map_err(backend("counting decisions"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend("reading the decision counts"));
        rows
    }

    fn detail_sum(&self, action: &str, field: &str, seqs: Range<u64>) -> Result<u64, StoreError> {
        check_field_name(field)?;
        let (start, end) = seq_window(&seqs);
        let path = format!("$.detail.{field}");
        let n: i64 = self
            .lock()
            .query_row(
                "SELECT coalesce(sum(CASE WHEN json_type(body, ?2) = 'integer'
                                          THEN json_extract(body, ?2) END), 0)
                 FROM audit_entries WHERE seq >= ?3 AND seq < ?4 AND action = ?1",
                params![action, path, start, end],
                |r| r.get(0),
            )
            .map_err(backend("summing a detail field"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn save_checkpoint(&self, checkpoint: &SignedCheckpoint) -> Result<(), StoreError> {
        let body = serde_json::to_string(checkpoint).map_err(|e| StoreError::Backend {
            context: "encoding a checkpoint",
            source: Box::new(e),
        })?;
        self.lock()
            .execute(
                "INSERT INTO audit_checkpoints (size, body) VALUES (?1, ?2)",
                params![to_i64(checkpoint.checkpoint.size)?, body],
            )
            .map_err(backend("saving a checkpoint"))?;
        Ok(())
    }

    fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        let row: Option<(i64, Vec<u8>)> = self
            .lock()
            .query_row(
                "SELECT id, body FROM audit_checkpoints ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, bytes(r.get_ref(1)?))),
            )
            .optional()
            .map_err(backend("reading the latest checkpoint"))?;
        row.map(|(id, body)| {
            serde_json::from_slice(&body).map_err(|e| StoreError::Corrupt {
                seq: id,
                reason: format!("checkpoint {id}: {e}"),
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Decision;
    use crate::ids::{ActionName, Actor, TaskId};

    fn draft(task: &str) -> EntryDraft {
        EntryDraft::new(
            Actor::new("router").unwrap(),
            ActionName::new("task.received").unwrap(),
            Decision::NotApplicable,
        )
        .task(TaskId::new(task).unwrap())
    }

    #[test]
    fn appends_are_numbered_and_chained_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let store = SqliteStore::open(&path).unwrap();
        let r = store.append_batch(vec![draft("a"), draft("b")]).unwrap();
        assert_eq!((r[0].seq, r[1].seq), (0, 1));
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        let r2 = store.append(draft("c")).unwrap();
        assert_eq!(r2.seq, 2);
        let rows = store.rows_after(None, 10).unwrap();
        let last = Entry::decode(&rows[2].body).unwrap();
        assert_eq!(last.prev, r[1].hash);
        assert_eq!(store.len().unwrap(), 3);
        assert!(store.append_batch(Vec::new()).unwrap().is_empty());
    }

    #[test]
    fn decisions_and_detail_fields_are_counted_in_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("audit.db")).unwrap();
        crate::store::check_counting(&store);
    }

    #[test]
    fn the_database_is_wal_and_refuses_updates_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let store = SqliteStore::open(&path).unwrap();
        store.append(draft("a")).unwrap();
        let conn = Connection::open(&path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        use std::os::unix::fs::MetadataExt;
        for file in ["audit.db", "audit.db-wal", "audit.db-shm"] {
            let meta = std::fs::metadata(dir.path().join(file)).unwrap();
            assert_eq!(meta.mode() & 0o777, 0o600, "{file}");
        }
        let upd = conn.execute("UPDATE audit_entries SET decision = 'allow'", []);
        assert!(upd.unwrap_err().to_string().contains("append-only"));
        let del = conn.execute("DELETE FROM audit_entries", []);
        assert!(del.unwrap_err().to_string().contains("append-only"));
    }
}
