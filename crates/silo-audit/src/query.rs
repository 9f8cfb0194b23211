//! `Query`: the flight recorder's filter (task, agent, customer, action, decision, time, window).
//!
//! Both SQL stores run a query through `Query::to_sql` and `Query::finish`, so the
//! filters, the indexes they lean on, the window and the order are the same whatever the
//! backend; only the placeholder syntax differs.

use crate::entry::{Decision, Entry};
use crate::ids::{ActionName, AgentName, CustomerToken, TaskId};
use crate::store::StoreError;
use crate::timestamp::Timestamp;

/// Which entries to return. All set filters must match.
///
/// The window: with `after_seq`, the first `limit` matches after that seq (paging forward,
/// `tail --follow`); without it, the *last* `limit` matches (the flight recorder's view).
/// Results are always in ascending seq order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Only this task.
    pub task: Option<TaskId>,
    /// Only this task and its sub-tasks (`<task>.<anything>`: a router task's agent turns
    /// and operator actions).
    pub task_family: Option<TaskId>,
    /// Only this agent.
    pub agent: Option<AgentName>,
    /// Only this customer token.
    pub customer: Option<CustomerToken>,
    /// Only this action.
    pub action: Option<ActionName>,
    /// Only this decision.
    pub decision: Option<Decision>,
    /// Only at or after this time.
    pub since: Option<Timestamp>,
    /// Only before this time.
    pub until: Option<Timestamp>,
    /// Only entries with a seq greater than this.
    pub after_seq: Option<u64>,
    /// At most this many entries; `None` means all.
    pub limit: Option<usize>,
}

impl Query {
    /// Every entry.
    pub fn all() -> Self {
        Self::default()
    }

    /// The last `n` entries.
    pub fn tail(n: usize) -> Self {
        Self {
            limit: Some(n),
            ..Self::default()
        }
    }

    /// True when `entry` passes every filter (the window is not checked). Stores run this on
    /// what their index returned, so an edited index column cannot smuggle rows into results.
    pub fn matches(&self, entry: &Entry) -> bool {
        fn eq<T: PartialEq>(want: &Option<T>, have: &Option<T>) -> bool {
            want.is_none() || want == have
        }
        let in_family = |family: &TaskId| {
            entry.task.as_ref().is_some_and(|t| {
                let (t, f) = (t.as_str(), family.as_str());
                t == f || t.strip_prefix(f).is_some_and(|rest| rest.starts_with('.'))
            })
        };
        eq(&self.task, &entry.task)
            && self.task_family.as_ref().is_none_or(in_family)
            && eq(&self.agent, &entry.agent)
            && eq(&self.customer, &entry.customer)
            && self.action.as_ref().is_none_or(|a| *a == entry.action)
            && self.decision.is_none_or(|d| d == entry.decision)
            && self.since.is_none_or(|t| entry.time >= t)
            && self.until.is_none_or(|t| entry.time < t)
            && self.after_seq.is_none_or(|s| entry.seq > s)
    }
}

/// A value bound to one placeholder of a [`SqlQuery`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SqlArg {
    /// A text column's value.
    Text(String),
    /// An integer column's value (`time_us`, `seq`, the limit).
    Int(i64),
}

/// A [`Query`] as one `SELECT seq, body FROM audit_entries …` statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SqlQuery {
    /// The statement.
    pub sql: String,
    /// The placeholders' values, in order (placeholder `n` is `args[n - 1]`).
    pub args: Vec<SqlArg>,
    /// True when the statement reads newest first (the last `limit` matches), so
    /// [`Query::finish`] must reverse the rows.
    pub newest_first: bool,
}

impl Query {
    /// The statement that selects this query's candidate rows from `audit_entries`;
    /// `placeholder(n)` writes the `n`th (1-based) placeholder in the backend's syntax.
    pub(crate) fn to_sql(&self, placeholder: fn(usize) -> String) -> Result<SqlQuery, StoreError> {
        let mut sql = String::from("SELECT seq, body FROM audit_entries WHERE 1 = 1");
        let mut args: Vec<SqlArg> = Vec::new();
        let bind = |args: &mut Vec<SqlArg>, value: SqlArg| {
            args.push(value);
            placeholder(args.len())
        };
        if let Some(t) = &self.task_family {
            // `task = ?` or `task` starts with `<task>.`: a range, so the index serves it
            // (`/` sorts right after `.`; the column must compare bytewise).
            let family = t.to_string();
            let exact = bind(&mut args, SqlArg::Text(family.clone()));
            let from = bind(&mut args, SqlArg::Text(format!("{family}.")));
            let to = bind(&mut args, SqlArg::Text(format!("{family}/")));
            sql.push_str(&format!(
                " AND (task = {exact} OR (task >= {from} AND task < {to}))"
            ));
        }
        let mut filter = |column: &str, op: &str, value: SqlArg| {
            let p = bind(&mut args, value);
            sql.push_str(&format!(" AND {column} {op} {p}"));
        };
        if let Some(t) = &self.task {
            filter("task", "=", SqlArg::Text(t.to_string()));
        }
        if let Some(a) = &self.agent {
            filter("agent", "=", SqlArg::Text(a.to_string()));
        }
        if let Some(c) = &self.customer {
            filter("customer", "=", SqlArg::Text(c.to_string()));
        }
        if let Some(a) = &self.action {
            filter("action", "=", SqlArg::Text(a.to_string()));
        }
        if let Some(d) = self.decision {
            filter("decision", "=", SqlArg::Text(d.as_str().to_owned()));
        }
        if let Some(t) = self.since {
            filter("time_us", ">=", SqlArg::Int(t.unix_micros()));
        }
        if let Some(t) = self.until {
            filter("time_us", "<", SqlArg::Int(t.unix_micros()));
        }
        if let Some(s) = self.after_seq {
            let seq = i64::try_from(s).map_err(|_| StoreError::SeqOutOfRange(s))?;
            filter("seq", ">", SqlArg::Int(seq));
        }
        let newest_first = self.after_seq.is_none() && self.limit.is_some();
        sql.push_str(if newest_first {
            " ORDER BY seq DESC"
        } else {
            " ORDER BY seq ASC"
        });
        if let Some(limit) = self.limit {
            let p = bind(
                &mut args,
                SqlArg::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
            );
            sql.push_str(&format!(" LIMIT {p}"));
        }
        Ok(SqlQuery {
            sql,
            args,
            newest_first,
        })
    }

    /// Decodes the rows [`Query::to_sql`]'s statement returned (`(seq, body)`), keeps those
    /// that really match (an edited index column cannot smuggle a row in), oldest first.
    pub(crate) fn finish(
        &self,
        rows: Vec<(i64, Vec<u8>)>,
        newest_first: bool,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut entries = Vec::with_capacity(rows.len());
        for (seq, body) in rows {
            let entry = Entry::decode(&body).map_err(|e| StoreError::Corrupt {
                seq,
                reason: e.to_string(),
            })?;
            if self.matches(&entry) {
                entries.push(entry);
            }
        }
        if newest_first {
            entries.reverse();
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_numbers_its_placeholders_in_order() {
        let q = Query {
            task_family: Some(TaskId::new("t-1").unwrap()),
            decision: Some(Decision::Deny),
            limit: Some(5),
            ..Query::all()
        };
        let s = q.to_sql(|n| format!("${n}")).unwrap();
        assert_eq!(
            s.sql,
            "SELECT seq, body FROM audit_entries WHERE 1 = 1 \
             AND (task = $1 OR (task >= $2 AND task < $3)) AND decision = $4 \
             ORDER BY seq DESC LIMIT $5"
        );
        assert_eq!(s.args.len(), 5);
        assert_eq!(s.args[1], SqlArg::Text("t-1.".into()));
        assert_eq!(s.args[4], SqlArg::Int(5));
        assert!(s.newest_first);
        let paged = Query {
            after_seq: Some(3),
            limit: Some(2),
            ..Query::all()
        };
        let s = paged.to_sql(|n| format!("?{n}")).unwrap();
        assert!(
            s.sql.ends_with("AND seq > ?1 ORDER BY seq ASC LIMIT ?2"),
            "{}",
            s.sql
        );
        assert!(!s.newest_first);
    }
}
