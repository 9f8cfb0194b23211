//! [`PgLlmUsage`]: LLM tokens per task in `membrane_llm_usage`. A reservation or a
//! settlement locks the task's row (`SELECT … FOR UPDATE`) for its transaction, so calls
//! of one task on several hosts cannot together see room the budget does not have.

use silo_postgres::postgres::Transaction;
use silo_postgres::Database;

use super::column;
use crate::connectors::llm::{LlmUsage, Reservation};
use crate::connectors::{pg_conn_err, pg_err, secs_to_sql, ConnectorError};

const NAME: &str = "llm_usage";

/// [`LlmUsage`] in the shared PostgreSQL database: every host's calls of a task count
/// against one budget.
#[derive(Debug, Clone)]
pub struct PgLlmUsage {
    db: Database,
}

impl PgLlmUsage {
    /// The token ledger in `db` (its table comes with the schema).
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_sql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The task's `(spent, reserved)`, its row created if missing and locked until the
/// transaction ends.
fn locked_row(
    tx: &mut Transaction<'_>,
    task: &str,
    now: u64,
) -> Result<(u64, u64), ConnectorError> {
    tx.execute(
        "INSERT INTO membrane_llm_usage (task, spent, reserved, updated_at)
         VALUES ($1, 0, 0, $2) ON CONFLICT (task) DO NOTHING",
        &[&task, &secs_to_sql(now)],
    )
    .map_err(pg_err(NAME, "creating usage"))?;
    let row = tx
        .query_one(
            "SELECT spent, reserved FROM membrane_llm_usage WHERE task = $1 FOR UPDATE",
            &[&task],
        )
        .map_err(pg_err(NAME, "reading usage"))?;
    Ok((
        from_sql(column(NAME, &row, 0)?),
        from_sql(column(NAME, &row, 1)?),
    ))
}

fn write(
    tx: &mut Transaction<'_>,
    task: &str,
    spent: u64,
    reserved: u64,
    now: u64,
) -> Result<(), ConnectorError> {
    tx.execute(
        "UPDATE membrane_llm_usage SET spent = $2, reserved = $3, updated_at = $4
         WHERE task = $1",
        &[&task, &to_sql(spent), &to_sql(reserved), &secs_to_sql(now)],
    )
    .map_err(pg_err(NAME, "writing usage"))?;
    Ok(())
}

impl LlmUsage for PgLlmUsage {
    fn used(&self, task: &str) -> Result<u64, ConnectorError> {
        super::off_async(|| {
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            let row = client
                .query_opt(
                    "SELECT spent, reserved FROM membrane_llm_usage WHERE task = $1",
                    &[&task],
                )
                .map_err(pg_err(NAME, "reading usage"))?;
            let Some(row) = row else { return Ok(0) };
            let spent = from_sql(column(NAME, &row, 0)?);
            let reserved = from_sql(column(NAME, &row, 1)?);
            Ok(spent.saturating_add(reserved))
        })
    }

    fn reserve(
        &self,
        task: &str,
        tokens: u64,
        limit: u64,
        now: u64,
    ) -> Result<Reservation, ConnectorError> {
        super::off_async(|| {
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            let mut tx = client
                .transaction()
                .map_err(pg_err(NAME, "starting a transaction"))?;
            let (spent, reserved) = locked_row(&mut tx, task, now)?;
            let used = spent.saturating_add(reserved);
            if used.saturating_add(tokens) > limit {
                // Rolled back on drop: nothing held (not even the empty row).
                return Ok(Reservation::Exhausted { used });
            }
            write(&mut tx, task, spent, reserved.saturating_add(tokens), now)?;
            tx.commit().map_err(pg_err(NAME, "committing"))?;
            Ok(Reservation::Reserved)
        })
    }

    fn settle(
        &self,
        task: &str,
        reserved: u64,
        spent: u64,
        now: u64,
    ) -> Result<u64, ConnectorError> {
        super::off_async(|| {
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            let mut tx = client
                .transaction()
                .map_err(pg_err(NAME, "starting a transaction"))?;
            let (old_spent, old_reserved) = locked_row(&mut tx, task, now)?;
            let new_spent = old_spent.saturating_add(spent);
            let new_reserved = old_reserved.saturating_sub(reserved);
            write(&mut tx, task, new_spent, new_reserved, now)?;
            tx.commit().map_err(pg_err(NAME, "committing"))?;
            Ok(new_spent.saturating_add(new_reserved))
        })
    }
}
