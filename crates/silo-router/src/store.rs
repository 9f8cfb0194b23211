//! Durable state behind a trait, embedded in SQLite ([`SqliteStore`]) or shared by
//! several routers on several machines in PostgreSQL ([`PgStore`]):
//! tasks, the append-only event log, and the queue of work with leases (a job whose lease
//! expired is claimed again, so dispatch is at-least-once; side effects are idempotent).
//! [`Store::apply_all`] checks the transition map, writes the new state, appends the events
//! and replaces the task's queued work in one transaction. The store also keeps which
//! agents are offline, so every router process on the same store sees a change at its
//! next dispatch.

mod any;
pub mod holder;
mod postgres;
mod sqlite;

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::events::Event;
use crate::state::State;
use crate::task::{TaskId, TaskView};
use crate::transition::{JobKind, TransitionError};

pub use any::AnyStore;
pub use postgres::{PgStore, JOBS_CHANNEL};
pub use sqlite::SqliteStore;

/// Queued work for one task, as claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job's id.
    pub id: u64,
    /// The task.
    pub task: TaskId,
    /// What to do.
    pub kind: JobKind,
    /// How many times it was claimed (this claim included); the claim's fencing token.
    pub attempt: u32,
    /// Until when (Unix seconds) this claim holds it.
    pub lease_until: u64,
}

impl Job {
    /// The claim a store makes of the due job `id` (stored kind `kind`, claimed
    /// `previous` times before) at `now`: the next attempt, leased for `lease_secs`.
    pub(crate) fn claimed(
        id: i64,
        task: String,
        kind: &str,
        previous: u32,
        now: u64,
        lease_secs: u64,
    ) -> Result<Job, StoreError> {
        let kind = JobKind::from_name(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("job {id} has kind `{kind}`")))?;
        Ok(Job {
            id: from_sql(id)?,
            task: TaskId(task),
            kind,
            attempt: previous.saturating_add(1),
            lease_until: now.saturating_add(lease_secs),
        })
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredEvent {
    /// Its position in the log (strictly increasing).
    pub seq: u64,
    /// The task.
    pub task: TaskId,
    /// When (Unix seconds).
    pub at: u64,
    /// The event.
    pub event: Event,
}

/// Which tasks [`Store::list`] returns: all conditions hold, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only tasks in this state.
    pub state: Option<State>,
    /// Only tasks whose run is with this agent or human pool now.
    pub agent: Option<String>,
    /// Only tasks about this customer.
    pub customer: Option<String>,
    /// Only tasks submitted after the task with this sequence number (`task-<n>`).
    pub after_seq: Option<u64>,
    /// Only tasks submitted before the task with this sequence number: the next page of a
    /// newest-first listing starts before its last task.
    pub before_seq: Option<u64>,
    /// At most this many tasks (at most [`TaskFilter::MAX_LIMIT`]).
    pub limit: usize,
}

impl TaskFilter {
    /// The limit when none is given.
    pub const DEFAULT_LIMIT: usize = 100;
    /// The largest limit; a larger one is cut to it.
    pub const MAX_LIMIT: usize = 1000;
}

impl Default for TaskFilter {
    fn default() -> Self {
        Self {
            state: None,
            agent: None,
            customer: None,
            after_seq: None,
            before_seq: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// The router's gauges, counted in the store (every process on it sees the same).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Tasks per state.
    pub tasks_by_state: std::collections::BTreeMap<String, u64>,
    /// Tasks waiting in each human pool's inbox.
    pub waiting_by_pool: std::collections::BTreeMap<String, u64>,
    /// Events appended, per kind (`task_created`, `escalated_to_human`, …).
    pub events_by_kind: std::collections::BTreeMap<String, u64>,
}

/// The store failed or refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The transition map refused an event; nothing was written.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The task does not exist.
    #[error("task `{0}` does not exist")]
    UnknownTask(TaskId),
    /// The job was completed, replaced or claimed again by someone else (its lease
    /// expired); the caller's result is stale and nothing was written.
    #[error("job {job} of task `{task}` is no longer held by attempt {attempt}")]
    LeaseLost {
        /// The job.
        job: u64,
        /// The task.
        task: TaskId,
        /// The caller's attempt.
        attempt: u32,
    },
    /// Stored data does not read back.
    #[error("router store is corrupt: {0}")]
    Corrupt(String),
    /// The database directory.
    #[error("router store `{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The database failed.
    #[error("router store: {context}: {source}")]
    Backend {
        /// What the store was doing.
        context: &'static str,
        /// The backend's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A count or time as a signed SQL integer (both databases store `i64`).
pub(crate) fn to_sql(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} does not fit the database")))
}

/// A row limit as a signed SQL integer.
pub(crate) fn limit_sql(limit: usize) -> Result<i64, StoreError> {
    to_sql(u64::try_from(limit).unwrap_or(u64::MAX))
}

/// A stored integer that must not be negative.
pub(crate) fn from_sql(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative number {n}")))
}

/// A value as the JSON text both stores keep.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Stored JSON text back.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Durable tasks, events and queue.
pub trait Store {
    /// Creates a task from the `TaskCreated` event `build` returns for the task's sequence
    /// number (1, 2, …), and queues its dispatch.
    fn create(&self, at: u64, build: &mut dyn FnMut(u64) -> Event) -> Result<TaskView, StoreError>;

    /// The task, if it exists.
    fn get(&self, task: &TaskId) -> Result<Option<TaskView>, StoreError>;

    /// Applies `events` in order in one transaction: each must be allowed by the
    /// transition map from the state the previous one left. With `fence`, the job must
    /// still be held by that claim (else [`StoreError::LeaseLost`]).
    fn apply_all(
        &self,
        task: &TaskId,
        events: &[Event],
        at: u64,
        fence: Option<&Job>,
    ) -> Result<TaskView, StoreError>;

    /// [`Store::apply_all`] with one event.
    fn apply(
        &self,
        task: &TaskId,
        event: &Event,
        at: u64,
        fence: Option<&Job>,
    ) -> Result<TaskView, StoreError> {
        self.apply_all(task, std::slice::from_ref(event), at, fence)
    }

    /// Claims the oldest job that is unclaimed or whose lease expired by `now`, for
    /// `lease_secs`.
    fn claim_next(&self, now: u64, lease_secs: u64) -> Result<Option<Job>, StoreError>;

    /// Makes the jobs claimed by holders `abandoned` says are gone due now (their claims
    /// died with their process); returns how many. A store that can tell by itself also
    /// releases the claims of holders it knows are gone ([`PgStore`]: holders whose
    /// liveness lock no database session holds any more).
    fn release_abandoned(&self, abandoned: &dyn Fn(&str) -> bool) -> Result<usize, StoreError>;

    /// Holds the job until `lease_until` if this claim still holds it (a turn longer than
    /// the default lease); `false` when it no longer does.
    fn extend(&self, job: &Job, lease_until: u64) -> Result<bool, StoreError>;

    /// Removes the job if this claim still holds it; `false` when it no longer does.
    fn complete(&self, job: &Job) -> Result<bool, StoreError>;

    /// Tasks waiting in the inbox of the human pool `pool`, oldest first.
    fn waiting_for(&self, pool: &str) -> Result<Vec<TaskView>, StoreError>;

    /// The event log, of one task or of all, in order.
    fn events(&self, task: Option<&TaskId>) -> Result<Vec<StoredEvent>, StoreError>;

    /// At most `limit` events after the one numbered `after` (0: from the start), of one
    /// task or of all, in order: how a reader follows the log.
    fn events_after(
        &self,
        after: u64,
        task: Option<&TaskId>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The tasks `filter` selects, newest first.
    fn list(&self, filter: &TaskFilter) -> Result<Vec<TaskView>, StoreError>;

    /// Marks `agent` online or offline (since `at`); tasks for an offline agent go to its
    /// human pool when they are dispatched.
    fn set_online(&self, agent: &str, online: bool, at: u64) -> Result<(), StoreError>;

    /// The agents marked offline.
    fn offline_agents(&self) -> Result<BTreeSet<String>, StoreError>;

    /// Tasks by state, the human inboxes' depths and events by kind.
    fn counts(&self) -> Result<StoreCounts, StoreError>;
}
