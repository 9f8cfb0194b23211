//! The refund ledger: one row per refund, unique per `(customer, idempotency_key)`, so a
//! retried or replayed request finds the original row instead of paying again.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::{lock, open_sqlite, secs_from_sql, secs_to_sql, sqlite_err, ConnectorError};

/// A refund the policy allowed, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// Task that asked.
    pub task: String,
    /// Agent that asked.
    pub agent: String,
    /// Customer token paid (always the task key's customer).
    pub customer: String,
    /// The caller's idempotency key.
    pub idempotency_key: String,
    /// Amount in minor units; positive.
    pub amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The agent's reason, kept for the operator.
    pub reason: String,
    /// Unix seconds.
    pub now: u64,
}

/// A refund in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundRecord {
    /// `rf_` and 32 hex digits.
    pub refund_id: String,
    /// Task that issued it.
    pub task: String,
    /// Agent that issued it.
    pub agent: String,
    /// Customer token paid.
    pub customer: String,
    /// The idempotency key it was issued under.
    pub idempotency_key: String,
    /// Amount in minor units.
    pub amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The agent's reason.
    pub reason: String,
    /// Unix seconds.
    pub created_at: u64,
}

impl RefundRecord {
    /// The row a new refund for `req` would be, with a fresh `rf_` id (every ledger writes
    /// the same row).
    pub fn issue(req: &RefundRequest) -> Result<Self, ConnectorError> {
        let jti = silo_keys::new_jti().map_err(|e| ConnectorError::Id {
            connector: NAME,
            reason: e.to_string(),
        })?;
        Ok(Self {
            refund_id: format!("rf_{jti}"),
            task: req.task.clone(),
            agent: req.agent.clone(),
            customer: req.customer.clone(),
            idempotency_key: req.idempotency_key.clone(),
            amount_cents: req.amount_cents,
            currency: req.currency.clone(),
            reason: req.reason.clone(),
            created_at: req.now,
        })
    }
}

/// What writing a refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// A new refund was written.
    Issued(RefundRecord),
    /// The idempotency key was already used with the same amount and currency: the original
    /// refund, nothing paid.
    Replayed(RefundRecord),
    /// The idempotency key was already used with another amount or currency: nothing paid.
    Conflict(RefundRecord),
}

/// Where refunds are written.
pub trait Ledger: Send + Sync {
    /// Writes `req` unless its `(customer, idempotency_key)` is already in the ledger.
    fn refund(&self, req: &RefundRequest) -> Result<RefundOutcome, ConnectorError>;
    /// Every refund to `customer`, oldest first.
    fn refunds_for(&self, customer: &str) -> Result<Vec<RefundRecord>, ConnectorError>;
}

const NAME: &str = "ledger";
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS refunds (
    refund_id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    agent TEXT NOT NULL,
    customer TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (customer, idempotency_key)
);";
const COLUMNS: &str =
    "refund_id, task, agent, customer, idempotency_key, amount_cents, currency, reason, created_at";

/// [`Ledger`] in SQLite.
#[derive(Debug)]
pub struct SqliteLedger {
    conn: Mutex<Connection>,
}

impl SqliteLedger {
    /// Opens (creating if needed) the `refunds` table in the database at `path`.
    pub fn open(path: &Path) -> Result<Self, ConnectorError> {
        Ok(Self {
            conn: open_sqlite(NAME, path, SCHEMA)?,
        })
    }
}

fn row(r: &Row<'_>) -> rusqlite::Result<RefundRecord> {
    Ok(RefundRecord {
        refund_id: r.get(0)?,
        task: r.get(1)?,
        agent: r.get(2)?,
        customer: r.get(3)?,
        idempotency_key: r.get(4)?,
        amount_cents: r.get(5)?,
        currency: r.get(6)?,
        reason: r.get(7)?,
        created_at: secs_from_sql(r.get(8)?),
    })
}

impl Ledger for SqliteLedger {
    fn refund(&self, req: &RefundRequest) -> Result<RefundOutcome, ConnectorError> {
        let record = RefundRecord::issue(req)?;
        let mut conn = lock(&self.conn);
        // IMMEDIATE: take the write lock first, so two processes cannot both see "no row".
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sqlite_err(NAME, "starting a transaction"))?;
        let existing = tx
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM refunds WHERE customer = ?1 AND idempotency_key = ?2"
                ),
                params![req.customer, req.idempotency_key],
                row,
            )
            .optional()
            .map_err(sqlite_err(NAME, "looking up the idempotency key"))?;
        if let Some(existing) = existing {
            let same =
                existing.amount_cents == req.amount_cents && existing.currency == req.currency;
            return Ok(if same {
                RefundOutcome::Replayed(existing)
            } else {
                RefundOutcome::Conflict(existing)
            });
        }
        tx.execute(
            &format!("INSERT INTO refunds ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
            params![
                record.refund_id,
                record.task,
                record.agent,
                record.customer,
                record.idempotency_key,
                record.amount_cents,
                record.currency,
                record.reason,
                secs_to_sql(record.created_at)
            ],
        )
        .map_err(sqlite_err(NAME, "writing the refund"))?;
        tx.commit().map_err(sqlite_err(NAME, "committing"))?;
        Ok(RefundOutcome::Issued(record))
    }

    fn refunds_for(&self, customer: &str) -> Result<Vec<RefundRecord>, ConnectorError> {
        let conn = lock(&self.conn);
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM refunds WHERE customer = ?1 ORDER BY created_at, rowid"
            ))
            .map_err(sqlite_err(NAME, "listing refunds"))?;
        let rows = stmt
            .query_map([customer], row)
            .map_err(sqlite_err(NAME, "listing refunds"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(sqlite_err(NAME, "reading refunds"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(key: &str, amount: i64) -> RefundRequest {
        RefundRequest {
            task: "t".into(),
            agent: "a".into(),
            customer: "cus_1".into(),
            idempotency_key: key.into(),
            amount_cents: amount,
            currency: "USD".into(),
            reason: "late".into(),
            now: 1,
        }
    }

    #[test]
    fn an_idempotency_key_pays_once() {
        let dir = tempfile::tempdir().unwrap();
        let l = SqliteLedger::open(&dir.path().join("m.db")).unwrap();
        let RefundOutcome::Issued(first) = l.refund(&req("k1", 100)).unwrap() else {
            panic!("not issued")
        };
        assert_eq!(
            l.refund(&req("k1", 100)).unwrap(),
            RefundOutcome::Replayed(first.clone())
        );
        assert_eq!(
            l.refund(&req("k1", 999)).unwrap(),
            RefundOutcome::Conflict(first)
        );
        assert!(matches!(
            l.refund(&req("k2", 100)).unwrap(),
            RefundOutcome::Issued(_)
        ));
        assert_eq!(l.refunds_for("cus_1").unwrap().len(), 2);
        assert!(l.refunds_for("cus_2").unwrap().is_empty());
    }
}
