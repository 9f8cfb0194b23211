//! `PgAuditStore`: the [`AuditStore`] on a shared PostgreSQL database, for several `silo
//! serve` processes on several machines writing one audit log.
//!
//! The tables are the SQLite store's (`audit_entries`, `audit_checkpoints`; schema in
//! `crates/silo-postgres/migrations/V2__audit.sql`), and so are the chain rule
//! ([`crate::chain::ChainHead::extend`]), the query plan (`Query::to_sql`) and
//! verification ([`crate::verify`]), which reads the rows back through
//! [`AuditStore::rows_after`] exactly as this store holds them.
//!
//! One chain across every writer on every machine: `append_batch` runs in a READ COMMITTED
//! transaction that first takes the transaction-level advisory lock
//! [`silo_postgres::locks::AUDIT_APPEND`], then reads the tip (last seq and hash) in a
//! statement of its own, so its snapshot already holds every batch committed before the
//! lock was granted; it seals the drafts after that tip, inserts them in one statement and
//! commits, which releases the lock. Seqs are therefore contiguous from 0, and the primary
//! key on `seq` refuses a second row at any seq should a writer ever bypass the lock.
//!
//! Durability: a batch is durable when `append_batch` returns. PostgreSQL commits with
//! `synchronous_commit = on` by default (the commit record is flushed to disk, and to any
//! synchronous standby, before the commit returns); should the server, database or role set
//! it to `off`, the append transaction raises it back to `on` for itself (`SET LOCAL`), and
//! it keeps any stronger setting. A server started with `fsync = off` (as the throw-away test
//! server is) gives no durability at all.
//!
//! Append-only: statement triggers refuse every `UPDATE`, `DELETE` and `TRUNCATE` on both
//! tables. The tables' owner or a superuser can disable them; that is what verification and
//! signed checkpoints are for.

use std::ops::Range;

use silo_postgres::postgres::types::ToSql;
use silo_postgres::postgres::{Error as PgClientError, IsolationLevel, Row};
use silo_postgres::{locks, Database};

use crate::checkpoint::SignedCheckpoint;
use crate::entry::{Entry, EntryDraft};
use crate::query::{Query, SqlArg};
use crate::store::{
    check_field_name, head_after, seq_window, AuditStore, DecisionCount, IndexColumns, Receipt,
    StoreError, StoredRow,
};
use crate::timestamp::Timestamp;

/// The PostgreSQL audit store. Cheap to share: it holds the [`Database`] pool, and every
/// operation borrows a connection for its own duration.
#[derive(Clone, Debug)]
pub struct PgAuditStore {
    db: Database,
}

fn backend<E>(context: &'static str) -> impl FnOnce(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| StoreError::Backend {
        context,
        source: Box::new(e),
    }
}

/// Maps a client error to [`StoreError::Postgres`] with the server's own words: the
/// client's `Display` says only "db error".
fn pg(context: &'static str) -> impl FnOnce(PgClientError) -> StoreError {
    move |e| {
        let (message, code) = match e.as_db_error() {
            Some(db) => {
                let mut m = format!("{}: {}", db.severity(), db.message());
                if let Some(detail) = db.detail() {
                    m.push_str(&format!(" ({detail})"));
                }
                if let Some(hint) = db.hint() {
                    m.push_str(&format!("; hint: {hint}"));
                }
                (m, Some(db.code().code().to_owned()))
            }
            None => {
                let mut m = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    m.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                (m, None)
            }
        };
        StoreError::Postgres {
            context,
            message,
            code,
            source: e,
        }
    }
}

fn to_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::SeqOutOfRange(seq))
}

/// Takes the append lock and makes this transaction's commit durable even where
/// `synchronous_commit` was turned off (stronger settings are kept).
const LOCK_FOR_APPEND: &str = "SELECT pg_advisory_xact_lock($1),
        set_config('synchronous_commit',
                   CASE current_setting('synchronous_commit')
                       WHEN 'off' THEN 'on'
                       ELSE current_setting('synchronous_commit')
                   END,
                   true)";

const INSERT_ENTRIES: &str = "INSERT INTO audit_entries
        (seq, time_us, task, agent, customer, action, decision, body, hash)
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::text[], $9::bytea[])";

const ROW_COLUMNS: &str = "seq, body, hash, time_us, task, agent, customer, action, decision";

impl PgAuditStore {
    /// The audit store on `db`, whose schema [`Database::connect`] has already migrated.
    /// Fails when the database cannot be reached or lacks the audit tables.
    pub fn open(db: &Database) -> Result<Self, StoreError> {
        let mut client = db.client().map_err(backend("connecting"))?;
        client
            .execute(
                "SELECT 1 FROM audit_entries, audit_checkpoints LIMIT 0",
                &[],
            )
            .map_err(pg("checking the audit tables"))?;
        Ok(Self { db: db.clone() })
    }

    /// The database this store writes to.
    pub fn database(&self) -> &Database {
        &self.db
    }

    fn client(&self) -> Result<silo_postgres::PooledClient, StoreError> {
        self.db.client().map_err(backend("borrowing a connection"))
    }
}

fn stored_row(row: &Row) -> Result<StoredRow, PgClientError> {
    let body: String = row.try_get(1)?;
    Ok(StoredRow {
        seq: row.try_get(0)?,
        body: body.into_bytes(),
        hash: row.try_get(2)?,
        index: IndexColumns {
            time_us: row.try_get(3)?,
            task: row.try_get(4)?,
            agent: row.try_get(5)?,
            customer: row.try_get(6)?,
            action: row.try_get(7)?,
            decision: row.try_get(8)?,
        },
    })
}

impl AuditStore for PgAuditStore {
    fn append_batch(&self, drafts: Vec<EntryDraft>) -> Result<Vec<Receipt>, StoreError> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.client()?;
        // READ COMMITTED whatever the server's default: each statement sees what was
        // committed before it started, so the tip read after the lock is the real tip.
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .map_err(pg("starting the append transaction"))?;
        tx.execute(LOCK_FOR_APPEND, &[&locks::AUDIT_APPEND])
            .map_err(pg("taking the audit append lock"))?;
        let last = tx
            .query_opt(
                "SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .map_err(pg("reading the chain head"))?
            .map(|r| Ok::<_, PgClientError>((r.try_get(0)?, r.try_get(1)?)))
            .transpose()
            .map_err(pg("reading the chain head"))?;
        let mut head = head_after(last)?;
        let sealed = head.extend(drafts, Timestamp::now())?;

        let n = sealed.len();
        let (mut seq, mut time_us) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut task, mut agent, mut customer) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut action, mut decision) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut body, mut hash) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut receipts = Vec::with_capacity(n);
        for s in &sealed {
            let e = &s.entry;
            // Canonical JSON is always UTF-8 (it is produced from Rust strings).
            body.push(
                std::str::from_utf8(&s.body).map_err(|_| StoreError::Corrupt {
                    seq: to_i64(e.seq).unwrap_or(-1),
                    reason: "canonical body is not UTF-8".to_owned(),
                })?,
            );
            seq.push(to_i64(e.seq)?);
            time_us.push(e.time.unix_micros());
            task.push(e.task.as_ref().map(|t| t.as_str()));
            agent.push(e.agent.as_ref().map(|a| a.as_str()));
            customer.push(e.customer.as_ref().map(|c| c.as_str()));
            action.push(e.action.as_str());
            decision.push(e.decision.as_str());
            hash.push(&s.hash.as_bytes()[..]);
            receipts.push(Receipt {
                seq: e.seq,
                hash: s.hash,
                time: e.time,
            });
        }
        tx.execute(
            INSERT_ENTRIES,
            &[
                &seq, &time_us, &task, &agent, &customer, &action, &decision, &body, &hash,
            ],
        )
        .map_err(pg("inserting entries"))?;
        tx.commit().map_err(pg("committing the append"))?;
        Ok(receipts)
    }

    fn len(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .client()?
            .query_one("SELECT count(*) FROM audit_entries", &[])
            .and_then(|r| r.try_get(0))
            .map_err(pg("counting entries"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn rows_after(&self, after: Option<i64>, limit: usize) -> Result<Vec<StoredRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut client = self.client()?;
        let rows = match after {
            Some(after) => client.query(
                &format!(
                    "SELECT {ROW_COLUMNS} FROM audit_entries WHERE seq > $1 ORDER BY seq LIMIT $2"
                ),
                &[&after, &limit],
            ),
            None => client.query(
                &format!("SELECT {ROW_COLUMNS} FROM audit_entries ORDER BY seq LIMIT $1"),
                &[&limit],
            ),
        }
        .map_err(pg("scanning entries"))?;
        rows.iter()
            .map(stored_row)
            .collect::<Result<_, _>>()
            .map_err(pg("reading entries"))
    }

    fn query(&self, query: &Query) -> Result<Vec<Entry>, StoreError> {
        let plan = query.to_sql(|n| format!("${n}"))?;
        let args: Vec<Box<dyn ToSql + Sync>> = plan
            .args
            .into_iter()
            .map(|a| -> Box<dyn ToSql + Sync> {
                match a {
                    SqlArg::Text(t) => Box::new(t),
                    SqlArg::Int(i) => Box::new(i),
                }
            })
            .collect();
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
        let rows = self
            .client()?
            .query(&plan.sql, &params)
            .map_err(pg("querying entries"))?;
        let rows = rows
            .iter()
            .map(|r| {
                let seq: i64 = r.try_get(0)?;
                let body: String = r.try_get(1)?;
                Ok((seq, body.into_bytes()))
            })
            .collect::<Result<Vec<_>, PgClientError>>()
            .map_err(pg("reading entries"))?;
        query.finish(rows, plan.newest_first)
    }

    fn end_seq(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .client()?
            .query_one("SELECT coalesce(max(seq) + 1, 0) FROM audit_entries", &[])
            .and_then(|r| r.try_get(0))
            .map_err(pg("reading the last seq"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn decision_counts(&self, seqs: Range<u64>) -> Result<Vec<DecisionCount>, StoreError> {
        let (start, end) = seq_window(&seqs);
        let rows = self
            .client()?
            .query(
                "SELECT action, decision, body::jsonb ->> 'rule' AS rule, count(*)
                 FROM audit_entries WHERE seq >= $1 AND seq < $2 AND decision <> 'none'
                 GROUP BY action, decision, rule ORDER BY action, decision, rule",
                &[&start, &end],
            )
            .map_err(pg("counting decisions"))?;
        rows.iter()
            .map(|r| {
                Ok(DecisionCount {
                    action: r.try_get(0)?,
                    decision: r.try_get(1)?,
                    rule: r.try_get(2)?,
                    count: u64::try_from(r.try_get::<_, i64>(3)?).unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>, PgClientError>>()
            .map_err(pg("reading the decision counts"))
    }

    fn detail_sum(&self, action: &str, field: &str, seqs: Range<u64>) -> Result<u64, StoreError> {
        check_field_name(field)?;
        let (start, end) = seq_window(&seqs);
        let n: i64 = self
            .client()?
            .query_one(
                "SELECT coalesce(sum(CASE WHEN jsonb_typeof(body::jsonb -> 'detail' -> $2) = 'number'
                                          THEN (body::jsonb -> 'detail' ->> $2)::numeric END), 0)::bigint
                 FROM audit_entries WHERE seq >= $3 AND seq < $4 AND action = $1",
                &[&action, &field, &start, &end],
            )
            .and_then(|r| r.try_get(0))
            .map_err(pg("summing a detail field"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn save_checkpoint(&self, checkpoint: &SignedCheckpoint) -> Result<(), StoreError> {
        let body = serde_json::to_string(checkpoint).map_err(backend("encoding a checkpoint"))?;
        self.client()?
            .execute(
                "INSERT INTO audit_checkpoints (size, body) VALUES ($1, $2)",
                &[&to_i64(checkpoint.checkpoint.size)?, &body],
            )
            .map_err(pg("saving a checkpoint"))?;
        Ok(())
    }

    fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        let row = self
            .client()?
            .query_opt(
                "SELECT id, body FROM audit_checkpoints ORDER BY id DESC LIMIT 1",
                &[],
            )
            .map_err(pg("reading the latest checkpoint"))?;
        let Some(row) = row else { return Ok(None) };
        let (id, body): (i64, String) = (|| Ok((row.try_get(0)?, row.try_get(1)?)))()
            .map_err(pg("reading the latest checkpoint"))?;
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                seq: id,
                reason: format!("checkpoint {id}: {e}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use silo_postgres::postgres::{Client, NoTls};
    use silo_postgres::Throwaway;

    fn setting_inside_an_append(start: &str) -> String {
        let url = Throwaway::shared().unwrap().fresh_database().unwrap();
        let mut client = Client::connect(&url, NoTls).unwrap();
        client
            .batch_execute(&format!("SET synchronous_commit = {start}"))
            .unwrap();
        let mut tx = client.transaction().unwrap();
        tx.execute(LOCK_FOR_APPEND, &[&locks::AUDIT_APPEND])
            .unwrap();
        tx.query_one("SHOW synchronous_commit", &[]).unwrap().get(0)
    }

    #[test]
    fn decisions_and_detail_fields_are_counted_in_the_database() {
        let url = Throwaway::shared().unwrap().fresh_database().unwrap();
        let db = Database::connect_with(&url, 2).unwrap();
        crate::store::check_counting(&PgAuditStore::open(&db).unwrap());
    }

    #[test]
    fn an_append_commits_synchronously_even_where_that_was_turned_off() {
        assert_eq!(setting_inside_an_append("off"), "on");
        assert_eq!(setting_inside_an_append("local"), "local");
        assert_eq!(setting_inside_an_append("remote_apply"), "remote_apply");
    }
}
