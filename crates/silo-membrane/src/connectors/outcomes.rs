//! The agent's result for its task (complete, escalate or redirect), written once and kept
//! for the router to read after the cell has gone.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{lock, open_sqlite, secs_from_sql, secs_to_sql, sqlite_err, ConnectorError};

/// How the agent says its task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompletionStatus {
    /// Done (the router's 200).
    Done,
    /// A human must take over (400).
    NeedsHuman,
    /// The agent failed (500).
    Failed,
}

impl CompletionStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CompletionStatus::Done => "done",
            CompletionStatus::NeedsHuman => "needs_human",
            CompletionStatus::Failed => "failed",
        }
    }
}

/// What a turn hands the next one besides its summary: what it did, what it produced,
/// what still needs doing and what to watch out for (text from the cell, like the summary).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// What the agent did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub did: String,
    /// What it produced (interim assets, by reference).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub produced: Vec<String>,
    /// What still needs doing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub todo: Vec<String>,
    /// What the next stage should watch out for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Report {
    /// Nothing reported.
    pub fn is_empty(&self) -> bool {
        self.did.is_empty()
            && self.produced.is_empty()
            && self.todo.is_empty()
            && self.warnings.is_empty()
    }

    /// One line per non-empty part (`did: …`, `produced: a; b`, `todo: …`, `warnings: …`),
    /// for a reader of the hand-over text.
    pub fn render(&self) -> String {
        let mut lines = Vec::new();
        if !self.did.is_empty() {
            lines.push(format!("did: {}", self.did));
        }
        for (name, items) in [
            ("produced", &self.produced),
            ("todo", &self.todo),
            ("warnings", &self.warnings),
        ] {
            if !items.is_empty() {
                lines.push(format!("{name}: {}", items.join("; ")));
            }
        }
        lines.join("\n")
    }
}

/// The agent's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// `POST /v1/complete`.
    Complete {
        /// How it ended.
        status: CompletionStatus,
        /// The agent's summary (tokenised text).
        summary: String,
        /// The agent's structured report, if it gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report: Option<Report>,
    },
    /// `POST /v1/escalate`.
    Escalate {
        /// A target the base key lists.
        target: String,
        /// Why.
        reason: String,
        /// What the agent recommends.
        recommendation: String,
    },
    /// `POST /v1/redirect`: 301 (`hard`: hand over, the run ends here) or 302 (run the
    /// target, then come back). The router checks the target against the stage.
    Redirect {
        /// The agent or stage to run next.
        target: String,
        /// 301 rather than 302.
        hard: bool,
        /// The agent's summary.
        summary: String,
        /// The agent's structured report, if it gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report: Option<Report>,
    },
}

/// A stored result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedOutcome {
    /// The task.
    pub task: String,
    /// The agent that recorded it.
    pub agent: String,
    /// The result.
    pub outcome: Outcome,
    /// Unix seconds.
    pub recorded_at: u64,
}

/// What recording did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Stored.
    Recorded,
    /// The task already had a result; it is kept and this one dropped.
    AlreadyRecorded(Box<RecordedOutcome>),
}

/// Where results wait for the router.
pub trait OutcomeStore: Send + Sync {
    /// Stores the task's result unless it already has one.
    fn record(
        &self,
        task: &str,
        agent: &str,
        outcome: &Outcome,
        now: u64,
    ) -> Result<RecordOutcome, ConnectorError>;
    /// The task's result, if recorded.
    fn get(&self, task: &str) -> Result<Option<RecordedOutcome>, ConnectorError>;
    /// Stores the task's (already tokenised) input; a second call replaces it.
    fn put_input(&self, task: &str, input: &Value) -> Result<(), ConnectorError>;
    /// The task's input, if any was stored.
    fn input(&self, task: &str) -> Result<Option<Value>, ConnectorError>;
}

const NAME: &str = "outcomes";
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS outcomes (
    task TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    outcome TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS task_inputs (
    task TEXT PRIMARY KEY,
    input TEXT NOT NULL
);";

/// [`OutcomeStore`] in SQLite.
#[derive(Debug)]
pub struct SqliteOutcomes {
    conn: Mutex<Connection>,
}

impl SqliteOutcomes {
    /// Opens (creating if needed) the `outcomes` table in the database at `path`.
    pub fn open(path: &Path) -> Result<Self, ConnectorError> {
        Ok(Self {
            conn: open_sqlite(NAME, path, SCHEMA)?,
        })
    }
}

fn get(conn: &Connection, task: &str) -> Result<Option<RecordedOutcome>, ConnectorError> {
    let row: Option<(String, String, i64)> = conn
        .query_row(
            "SELECT agent, outcome, recorded_at FROM outcomes WHERE task = ?1",
            [task],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(sqlite_err(NAME, "reading an outcome"))?;
    row.map(|(agent, text, recorded_at)| {
        let outcome = serde_json::from_str(&text).map_err(|e| ConnectorError::Corrupt {
            connector: NAME,
            reason: e.to_string(),
        })?;
        Ok(RecordedOutcome {
            task: task.to_string(),
            agent,
            outcome,
            recorded_at: secs_from_sql(recorded_at),
        })
    })
    .transpose()
}

impl OutcomeStore for SqliteOutcomes {
    fn record(
        &self,
        task: &str,
        agent: &str,
        outcome: &Outcome,
        now: u64,
    ) -> Result<RecordOutcome, ConnectorError> {
        let text = serde_json::to_string(outcome).map_err(|e| ConnectorError::Corrupt {
            connector: NAME,
            reason: e.to_string(),
        })?;
        let conn = lock(&self.conn);
        let inserted = conn
            .execute(
                "INSERT INTO outcomes (task, agent, outcome, recorded_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (task) DO NOTHING",
                params![task, agent, text, secs_to_sql(now)],
            )
            .map_err(sqlite_err(NAME, "writing an outcome"))?;
        if inserted == 1 {
            return Ok(RecordOutcome::Recorded);
        }
        match get(&conn, task)? {
            Some(existing) => Ok(RecordOutcome::AlreadyRecorded(Box::new(existing))),
            None => Err(ConnectorError::Corrupt {
                connector: NAME,
                reason: "outcome neither inserted nor found".into(),
            }),
        }
    }

    fn get(&self, task: &str) -> Result<Option<RecordedOutcome>, ConnectorError> {
        get(&lock(&self.conn), task)
    }

    fn put_input(&self, task: &str, input: &Value) -> Result<(), ConnectorError> {
        let text = serde_json::to_string(input).map_err(|e| ConnectorError::Corrupt {
            connector: NAME,
            reason: e.to_string(),
        })?;
        lock(&self.conn)
            .execute(
                "INSERT INTO task_inputs (task, input) VALUES (?1, ?2)
                 ON CONFLICT (task) DO UPDATE SET input = excluded.input",
                params![task, text],
            )
            .map_err(sqlite_err(NAME, "writing a task input"))?;
        Ok(())
    }

    fn input(&self, task: &str) -> Result<Option<Value>, ConnectorError> {
        let text: Option<String> = lock(&self.conn)
            .query_row(
                "SELECT input FROM task_inputs WHERE task = ?1",
                [task],
                |r| r.get(0),
            )
            .optional()
            .map_err(sqlite_err(NAME, "reading a task input"))?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| ConnectorError::Corrupt {
                connector: NAME,
                reason: e.to_string(),
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_outcome_wins() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteOutcomes::open(&dir.path().join("m.db")).unwrap();
        let done = Outcome::Complete {
            status: CompletionStatus::Done,
            summary: "refunded".into(),
            report: None,
        };
        assert_eq!(
            s.record("t", "a", &done, 5).unwrap(),
            RecordOutcome::Recorded
        );
        let esc = Outcome::Escalate {
            target: "manager".into(),
            reason: "r".into(),
            recommendation: "x".into(),
        };
        let RecordOutcome::AlreadyRecorded(kept) = s.record("t", "a", &esc, 6).unwrap() else {
            panic!("second outcome was stored")
        };
        assert_eq!(kept.outcome, done);
        assert_eq!(s.get("t").unwrap().unwrap().recorded_at, 5);
        assert!(s.get("other").unwrap().is_none());
    }

    #[test]
    fn an_outcome_without_a_report_keeps_the_old_json_shape() {
        let old = r#"{"kind":"complete","status":"done","summary":"refunded"}"#;
        let parsed: Outcome = serde_json::from_str(old).unwrap();
        assert_eq!(
            parsed,
            Outcome::Complete {
                status: CompletionStatus::Done,
                summary: "refunded".into(),
                report: None,
            }
        );
        assert_eq!(serde_json::to_string(&parsed).unwrap(), old);
    }

    #[test]
    fn a_redirect_with_a_report_round_trips_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteOutcomes::open(&dir.path().join("m.db")).unwrap();
        let redirect = Outcome::Redirect {
            target: "order-agent".into(),
            hard: false,
            summary: "an order question".into(),
            report: Some(Report {
                did: "read the message".into(),
                produced: vec!["kv:intent".into()],
                todo: vec!["answer about order 7".into()],
                warnings: Vec::new(),
            }),
        };
        s.record("t", "a", &redirect, 5).unwrap();
        assert_eq!(s.get("t").unwrap().unwrap().outcome, redirect);
    }

    #[test]
    fn a_report_renders_only_its_non_empty_parts() {
        let r = Report {
            did: "checked the order".into(),
            produced: Vec::new(),
            todo: vec!["refund".into(), "email".into()],
            warnings: vec!["angry".into()],
        };
        assert_eq!(
            r.render(),
            "did: checked the order\ntodo: refund; email\nwarnings: angry"
        );
        assert!(Report::default().is_empty() && Report::default().render().is_empty());
    }
}
