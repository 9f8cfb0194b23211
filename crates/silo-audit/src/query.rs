//! `Query`: the flight recorder's filter (task, agent, customer, action, decision, time, window).

use crate::entry::{Decision, Entry};
use crate::ids::{ActionName, AgentName, CustomerToken, TaskId};
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
