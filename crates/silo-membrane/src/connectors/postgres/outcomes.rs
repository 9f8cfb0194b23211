//! [`PgOutcomes`]: the agents' results in `membrane_outcomes`, written once per task (the
//! first to commit wins, on any host), and the tasks' tokenised inputs in
//! `membrane_task_inputs`.

use serde_json::Value;
use silo_postgres::postgres::Client;
use silo_postgres::Database;

use super::{column, json_from};
use crate::connectors::outcomes::{Outcome, OutcomeStore, RecordOutcome, RecordedOutcome};
use crate::connectors::{pg_conn_err, pg_err, secs_from_sql, secs_to_sql, ConnectorError};

const NAME: &str = "outcomes";

/// [`OutcomeStore`] in the shared PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgOutcomes {
    db: Database,
}

impl PgOutcomes {
    /// The outcome store in `db` (its tables come with the schema).
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn get(client: &mut Client, task: &str) -> Result<Option<RecordedOutcome>, ConnectorError> {
    let row = client
        .query_opt(
            "SELECT agent, outcome, recorded_at FROM membrane_outcomes WHERE task = $1",
            &[&task],
        )
        .map_err(pg_err(NAME, "reading an outcome"))?;
    row.map(|r| {
        let text: String = column(NAME, &r, 1)?;
        let outcome = serde_json::from_str(&text).map_err(|e| ConnectorError::Corrupt {
            connector: NAME,
            reason: e.to_string(),
        })?;
        Ok(RecordedOutcome {
            task: task.to_owned(),
            agent: column(NAME, &r, 0)?,
            outcome,
            recorded_at: secs_from_sql(column(NAME, &r, 2)?),
        })
    })
    .transpose()
}

impl OutcomeStore for PgOutcomes {
    fn record(
        &self,
        task: &str,
        agent: &str,
        outcome: &Outcome,
        now: u64,
    ) -> Result<RecordOutcome, ConnectorError> {
        super::off_async(|| {
            let text = serde_json::to_string(outcome).map_err(|e| ConnectorError::Corrupt {
                connector: NAME,
                reason: e.to_string(),
            })?;
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            // A racing insert waits on the primary key; if it commits, this one inserts nothing
            // and the read (a new statement) sees the winner.
            let inserted = client
                .execute(
                    "INSERT INTO membrane_outcomes (task, agent, outcome, recorded_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (task) DO NOTHING",
                    &[&task, &agent, &text, &secs_to_sql(now)],
                )
                .map_err(pg_err(NAME, "writing an outcome"))?;
            if inserted == 1 {
                return Ok(RecordOutcome::Recorded);
            }
            match get(&mut client, task)? {
                Some(existing) => Ok(RecordOutcome::AlreadyRecorded(Box::new(existing))),
                None => Err(ConnectorError::Corrupt {
                    connector: NAME,
                    reason: "outcome neither inserted nor found".into(),
                }),
            }
        })
    }

    fn get(&self, task: &str) -> Result<Option<RecordedOutcome>, ConnectorError> {
        super::off_async(|| {
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            get(&mut client, task)
        })
    }

    fn put_input(&self, task: &str, input: &Value) -> Result<(), ConnectorError> {
        super::off_async(|| {
            let text = serde_json::to_string(input).map_err(|e| ConnectorError::Corrupt {
                connector: NAME,
                reason: e.to_string(),
            })?;
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            client
                .execute(
                    "INSERT INTO membrane_task_inputs (task, input) VALUES ($1, $2)
                     ON CONFLICT (task) DO UPDATE SET input = excluded.input",
                    &[&task, &text],
                )
                .map_err(pg_err(NAME, "writing a task input"))?;
            Ok(())
        })
    }

    fn input(&self, task: &str) -> Result<Option<Value>, ConnectorError> {
        super::off_async(|| {
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            let row = client
                .query_opt(
                    "SELECT input FROM membrane_task_inputs WHERE task = $1",
                    &[&task],
                )
                .map_err(pg_err(NAME, "reading a task input"))?;
            row.map(|r| json_from(NAME, &column::<String>(NAME, &r, 0)?))
                .transpose()
        })
    }
}
