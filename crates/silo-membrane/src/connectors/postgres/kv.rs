//! [`PgKv`]: task-scoped scratch storage in `membrane_kv`. A put holds a transaction lock
//! on its task (`(KV_TASK_CLASS, hashtext(task))`), so puts of one task on several hosts
//! cannot together pass [`MAX_KEYS_PER_TASK`].

use serde_json::Value;
use silo_postgres::Database;

use super::{column, json_from};
use crate::connectors::kv::{KvStore, PutOutcome, MAX_KEYS_PER_TASK};
use crate::connectors::{pg_conn_err, pg_err, ConnectorError};

const NAME: &str = "kv";

/// [`KvStore`] in the shared PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgKv {
    db: Database,
}

impl PgKv {
    /// The scratch storage in `db` (its table comes with the schema).
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// `prefix` as a LIKE pattern that matches only keys starting with it (`%`, `_` and `\`
/// are literal), as `SqliteKv` builds it.
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

impl KvStore for PgKv {
    fn get(&self, task: &str, key: &str) -> Result<Option<Value>, ConnectorError> {
        super::off_async(|| {
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            let row = client
                .query_opt(
                    "SELECT value FROM membrane_kv WHERE task = $1 AND key = $2",
                    &[&task, &key],
                )
                .map_err(pg_err(NAME, "reading a value"))?;
            row.map(|r| json_from(NAME, &column::<String>(NAME, &r, 0)?))
                .transpose()
        })
    }

    fn put(&self, task: &str, key: &str, value: &Value) -> Result<PutOutcome, ConnectorError> {
        super::off_async(|| {
            let text = serde_json::to_string(value).map_err(|e| ConnectorError::Corrupt {
                connector: NAME,
                reason: e.to_string(),
            })?;
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            let mut tx = client
                .transaction()
                .map_err(pg_err(NAME, "starting a transaction"))?;
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&silo_postgres::locks::KV_TASK_CLASS, &task],
            )
            .map_err(pg_err(NAME, "locking the task's keys"))?;
            let row = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM membrane_kv WHERE task = $1 AND key = $2),
                            (SELECT count(*) FROM membrane_kv WHERE task = $1)",
                    &[&task, &key],
                )
                .map_err(pg_err(NAME, "counting keys"))?;
            let exists: bool = column(NAME, &row, 0)?;
            let count: i64 = column(NAME, &row, 1)?;
            if !exists && u64::try_from(count).unwrap_or(u64::MAX) >= MAX_KEYS_PER_TASK {
                return Ok(PutOutcome::TaskFull);
            }
            tx.execute(
                "INSERT INTO membrane_kv (task, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (task, key) DO UPDATE SET value = excluded.value",
                &[&task, &key, &text],
            )
            .map_err(pg_err(NAME, "writing a value"))?;
            tx.commit().map_err(pg_err(NAME, "committing"))?;
            Ok(PutOutcome::Stored)
        })
    }

    fn entries(&self, task: &str, prefix: &str) -> Result<Vec<(String, Value)>, ConnectorError> {
        super::off_async(|| {
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            // Keys are `COLLATE "C"`: byte order, as in SQLite, on any database.
            let rows = client
                .query(
                    "SELECT key, value FROM membrane_kv
                     WHERE task = $1 AND key LIKE $2 ESCAPE '\\' ORDER BY key",
                    &[&task, &like_prefix(prefix)],
                )
                .map_err(pg_err(NAME, "listing keys"))?;
            rows.iter()
                .map(|r| {
                    let key: String = column(NAME, r, 0)?;
                    let text: String = column(NAME, r, 1)?;
                    Ok((key, json_from(NAME, &text)?))
                })
                .collect()
        })
    }

    fn collect(&self, task: &str, keep: &str) -> Result<usize, ConnectorError> {
        super::off_async(|| {
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            let gone = client
                .execute(
                    "DELETE FROM membrane_kv WHERE task = $1 AND key NOT LIKE $2 ESCAPE '\\'",
                    &[&task, &like_prefix(keep)],
                )
                .map_err(pg_err(NAME, "collecting a finished run's keys"))?;
            Ok(usize::try_from(gone).unwrap_or(usize::MAX))
        })
    }
}
