//! Task-scoped scratch storage: every key lives under the task id from the verified task
//! key, so no task can name, read or overwrite another task's keys.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::{lock, open_sqlite, sqlite_err, ConnectorError};

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest value, in bytes of compact JSON.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// Most keys one task may hold.
pub const MAX_KEYS_PER_TASK: u64 = 1024;

/// The result of a put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored (new key or overwrite).
    Stored,
    /// The task already holds [`MAX_KEYS_PER_TASK`] keys; nothing was stored.
    TaskFull,
}

/// Scratch storage keyed by `(task, key)`.
pub trait KvStore: Send + Sync {
    /// The value under `key` for `task`, if any.
    fn get(&self, task: &str, key: &str) -> Result<Option<Value>, ConnectorError>;
    /// Stores `value` under `key` for `task`.
    fn put(&self, task: &str, key: &str, value: &Value) -> Result<PutOutcome, ConnectorError>;
    /// The keys of `task` under `prefix`, with their values, in key order.
    fn entries(&self, task: &str, prefix: &str) -> Result<Vec<(String, Value)>, ConnectorError>;
    /// Removes every key of `task` not under `keep` (a finished run's scratch state is
    /// collected, its `output/` kept); returns how many went.
    fn collect(&self, task: &str, keep: &str) -> Result<usize, ConnectorError>;
}

/// The key prefix a run keeps when it ends; everything else it stored is collected.
pub const OUTPUT_PREFIX: &str = "output/";

/// `prefix` as a LIKE pattern that matches only keys starting with it.
fn like_prefix(prefix: &str) -> String {
    let mut p = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

const NAME: &str = "kv";
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS kv (
    task TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (task, key)
) WITHOUT ROWID;";

/// [`KvStore`] in SQLite.
#[derive(Debug)]
pub struct SqliteKv {
    conn: Mutex<Connection>,
}

impl SqliteKv {
    /// Opens (creating if needed) the `kv` table in the database at `path`.
    pub fn open(path: &Path) -> Result<Self, ConnectorError> {
        Ok(Self {
            conn: open_sqlite(NAME, path, SCHEMA)?,
        })
    }
}

impl KvStore for SqliteKv {
    fn get(&self, task: &str, key: &str) -> Result<Option<Value>, ConnectorError> {
        let conn = lock(&self.conn);
        let text: Option<String> = conn
            .prepare_cached("SELECT value FROM kv WHERE task = ?1 AND key = ?2")
            .and_then(|mut stmt| stmt.query_row(params![task, key], |r| r.get(0)).optional())
            .map_err(sqlite_err(NAME, "reading a value"))?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| ConnectorError::Corrupt {
                connector: NAME,
                reason: e.to_string(),
            })
        })
        .transpose()
    }

    fn put(&self, task: &str, key: &str, value: &Value) -> Result<PutOutcome, ConnectorError> {
        let text = serde_json::to_string(value).map_err(|e| ConnectorError::Corrupt {
            connector: NAME,
            reason: e.to_string(),
        })?;
        let mut conn = lock(&self.conn);
        let tx = conn
            .transaction()
            .map_err(sqlite_err(NAME, "starting a transaction"))?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM kv WHERE task = ?1 AND key = ?2)",
                params![task, key],
                |r| r.get(0),
            )
            .map_err(sqlite_err(NAME, "checking a key"))?;
        if !exists {
            let count: i64 = tx
                .query_row("SELECT COUNT(*) FROM kv WHERE task = ?1", [task], |r| {
                    r.get(0)
                })
                .map_err(sqlite_err(NAME, "counting keys"))?;
            if u64::try_from(count).unwrap_or(u64::MAX) >= MAX_KEYS_PER_TASK {
                return Ok(PutOutcome::TaskFull);
            }
        }
        tx.execute(
            "INSERT INTO kv (task, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (task, key) DO UPDATE SET value = excluded.value",
            params![task, key, text],
        )
        .map_err(sqlite_err(NAME, "writing a value"))?;
        tx.commit().map_err(sqlite_err(NAME, "committing"))?;
        Ok(PutOutcome::Stored)
    }

    fn entries(&self, task: &str, prefix: &str) -> Result<Vec<(String, Value)>, ConnectorError> {
        let conn = lock(&self.conn);
        let mut stmt = conn
            .prepare_cached(
                "SELECT key, value FROM kv WHERE task = ?1 AND key LIKE ?2 ESCAPE '\\' ORDER BY key",
            )
            .map_err(sqlite_err(NAME, "listing keys"))?;
        let rows = stmt
            .query_map(params![task, like_prefix(prefix)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(sqlite_err(NAME, "listing keys"))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, text) = row.map_err(sqlite_err(NAME, "listing keys"))?;
            let value = serde_json::from_str(&text).map_err(|e| ConnectorError::Corrupt {
                connector: NAME,
                reason: e.to_string(),
            })?;
            out.push((key, value));
        }
        Ok(out)
    }

    fn collect(&self, task: &str, keep: &str) -> Result<usize, ConnectorError> {
        let conn = lock(&self.conn);
        conn.execute(
            "DELETE FROM kv WHERE task = ?1 AND key NOT LIKE ?2 ESCAPE '\\'",
            params![task, like_prefix(keep)],
        )
        .map_err(sqlite_err(NAME, "collecting a finished run's keys"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_scoped_to_their_task() {
        let dir = tempfile::tempdir().unwrap();
        let kv = SqliteKv::open(&dir.path().join("m.db")).unwrap();
        assert_eq!(
            kv.put("t1", "k", &json!({"a": 1})).unwrap(),
            PutOutcome::Stored
        );
        assert_eq!(kv.get("t1", "k").unwrap(), Some(json!({"a": 1})));
        assert_eq!(kv.get("t2", "k").unwrap(), None);
        kv.put("t1", "k", &json!(2)).unwrap();
        assert_eq!(kv.get("t1", "k").unwrap(), Some(json!(2)));
    }

    #[test]
    fn a_finished_run_keeps_its_output_and_loses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let kv = SqliteKv::open(&dir.path().join("m.db")).unwrap();
        for (key, v) in [
            ("output/reply", 1),
            ("draft", 2),
            ("output%x", 3),
            ("outputs", 4),
        ] {
            kv.put("run", key, &json!(v)).unwrap();
        }
        kv.put("other", "draft", &json!(5)).unwrap();
        assert_eq!(kv.collect("run", OUTPUT_PREFIX).unwrap(), 3);
        assert_eq!(
            kv.entries("run", "").unwrap(),
            vec![("output/reply".to_owned(), json!(1))]
        );
        // Another run is untouched; `%` and `_` in a prefix are literal.
        assert_eq!(kv.get("other", "draft").unwrap(), Some(json!(5)));
        kv.put("run", "o_x", &json!(6)).unwrap();
        assert!(kv.entries("run", "o_").unwrap().len() == 1);
        assert!(kv.entries("run", "output_").unwrap().is_empty());
    }
}
