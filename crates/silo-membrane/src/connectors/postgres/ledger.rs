//! [`PgLedger`]: the refund ledger in `membrane_refunds`, unique per
//! `(customer, idempotency_key)`. A refund is an `INSERT … ON CONFLICT DO NOTHING` and, when
//! nothing was inserted, a read of the row that was there: two hosts racing one key wait
//! on the unique index, one inserts, the other reads its row back — paid once.

use silo_postgres::postgres::Row;
use silo_postgres::Database;

use super::column;
use crate::connectors::ledger::{Ledger, RefundOutcome, RefundRecord, RefundRequest};
use crate::connectors::{pg_conn_err, pg_err, secs_from_sql, secs_to_sql, ConnectorError};

const NAME: &str = "ledger";
const COLUMNS: &str =
    "refund_id, task, agent, customer, idempotency_key, amount_cents, currency, reason, created_at";

/// [`Ledger`] in the shared PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgLedger {
    db: Database,
}

impl PgLedger {
    /// The ledger in `db` (its table comes with the schema).
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn from_row(r: &Row) -> Result<RefundRecord, ConnectorError> {
    Ok(RefundRecord {
        refund_id: column(NAME, r, 0)?,
        task: column(NAME, r, 1)?,
        agent: column(NAME, r, 2)?,
        customer: column(NAME, r, 3)?,
        idempotency_key: column(NAME, r, 4)?,
        amount_cents: column(NAME, r, 5)?,
        currency: column(NAME, r, 6)?,
        reason: column(NAME, r, 7)?,
        created_at: secs_from_sql(column(NAME, r, 8)?),
    })
}

impl Ledger for PgLedger {
    fn refund(&self, req: &RefundRequest) -> Result<RefundOutcome, ConnectorError> {
        super::off_async(|| {
            let record = RefundRecord::issue(req)?;
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            let mut tx = client
                .transaction()
                .map_err(pg_err(NAME, "starting a transaction"))?;
            // An insert racing another host's for the same key waits for it on the unique
            // index; if that one commits, this inserts nothing and the read below sees it
            // (each statement of a READ COMMITTED transaction sees what committed before it).
            let inserted = tx
                .execute(
                    &format!(
                        "INSERT INTO membrane_refunds ({COLUMNS})
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                         ON CONFLICT (customer, idempotency_key) DO NOTHING"
                    ),
                    &[
                        &record.refund_id,
                        &record.task,
                        &record.agent,
                        &record.customer,
                        &record.idempotency_key,
                        &record.amount_cents,
                        &record.currency,
                        &record.reason,
                        &secs_to_sql(record.created_at),
                    ],
                )
                .map_err(pg_err(NAME, "writing the refund"))?;
            if inserted == 1 {
                tx.commit().map_err(pg_err(NAME, "committing the refund"))?;
                return Ok(RefundOutcome::Issued(record));
            }
            let existing = tx
                .query_opt(
                    &format!(
                        "SELECT {COLUMNS} FROM membrane_refunds
                         WHERE customer = $1 AND idempotency_key = $2"
                    ),
                    &[&req.customer, &req.idempotency_key],
                )
                .map_err(pg_err(NAME, "looking up the idempotency key"))?;
            let Some(existing) = existing else {
                return Err(ConnectorError::Corrupt {
                    connector: NAME,
                    reason: "refund neither written nor found under its idempotency key".into(),
                });
            };
            let existing = from_row(&existing)?;
            tx.commit().map_err(pg_err(NAME, "ending the lookup"))?;
            let same =
                existing.amount_cents == req.amount_cents && existing.currency == req.currency;
            Ok(if same {
                RefundOutcome::Replayed(existing)
            } else {
                RefundOutcome::Conflict(existing)
            })
        })
    }

    fn refunds_for(&self, customer: &str) -> Result<Vec<RefundRecord>, ConnectorError> {
        super::off_async(|| {
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            let rows = client
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM membrane_refunds WHERE customer = $1
                         ORDER BY created_at, seq"
                    ),
                    &[&customer],
                )
                .map_err(pg_err(NAME, "listing refunds"))?;
            rows.iter().map(from_row).collect()
        })
    }
}
