//! [`AnyStore`]: the store a deployment chose — the embedded SQLite file or the shared
//! PostgreSQL database — behind one type, so the kernel, the daemon and the CLI are
//! written once. It adds [`AnyStore::wait_for_work`], which only PostgreSQL can do across
//! processes (`LISTEN`).

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Job, PgStore, SqliteStore, Store, StoreError, StoredEvent, TaskFilter};
use crate::events::Event;
use crate::task::{TaskId, TaskView};

/// The embedded or the shared store.
#[derive(Debug)]
pub enum AnyStore {
    /// One SQLite file under the data directory.
    Sqlite(SqliteStore),
    /// The shared PostgreSQL database.
    Postgres(Box<PgStore>),
}

impl From<SqliteStore> for AnyStore {
    fn from(store: SqliteStore) -> Self {
        AnyStore::Sqlite(store)
    }
}

impl From<PgStore> for AnyStore {
    fn from(store: PgStore) -> Self {
        AnyStore::Postgres(Box::new(store))
    }
}

impl AnyStore {
    /// Whether other processes' work can wake this one ([`AnyStore::wait_for_work`]).
    pub fn can_wait_for_work(&self) -> bool {
        matches!(self, AnyStore::Postgres(_))
    }

    /// Blocks until another process queues work (`true`) or `timeout` passes (`false`).
    /// The SQLite store cannot tell: it returns `false` at once.
    pub fn wait_for_work(&self, timeout: Duration) -> Result<bool, StoreError> {
        match self {
            AnyStore::Sqlite(_) => Ok(false),
            AnyStore::Postgres(s) => s.wait_for_work(timeout),
        }
    }
}

macro_rules! each {
    ($self:ident, $store:ident => $body:expr) => {
        match $self {
            AnyStore::Sqlite($store) => $body,
            AnyStore::Postgres($store) => $body,
        }
    };
}

impl Store for AnyStore {
    fn create(&self, at: u64, build: &mut dyn FnMut(u64) -> Event) -> Result<TaskView, StoreError> {
        each!(self, s => s.create(at, build))
    }
    fn get(&self, task: &TaskId) -> Result<Option<TaskView>, StoreError> {
        each!(self, s => s.get(task))
    }
    fn apply_all(
        &self,
        task: &TaskId,
        events: &[Event],
        at: u64,
        fence: Option<&Job>,
    ) -> Result<TaskView, StoreError> {
        each!(self, s => s.apply_all(task, events, at, fence))
    }
    fn claim_next(&self, now: u64, lease_secs: u64) -> Result<Option<Job>, StoreError> {
        each!(self, s => s.claim_next(now, lease_secs))
    }
    fn release_abandoned(&self, abandoned: &dyn Fn(&str) -> bool) -> Result<usize, StoreError> {
        each!(self, s => s.release_abandoned(abandoned))
    }
    fn extend(&self, job: &Job, lease_until: u64) -> Result<bool, StoreError> {
        each!(self, s => s.extend(job, lease_until))
    }
    fn complete(&self, job: &Job) -> Result<bool, StoreError> {
        each!(self, s => s.complete(job))
    }
    fn waiting_for(&self, pool: &str) -> Result<Vec<TaskView>, StoreError> {
        each!(self, s => s.waiting_for(pool))
    }
    fn events(&self, task: Option<&TaskId>) -> Result<Vec<StoredEvent>, StoreError> {
        each!(self, s => s.events(task))
    }
    fn events_after(
        &self,
        after: u64,
        task: Option<&TaskId>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        each!(self, s => s.events_after(after, task, limit))
    }
    fn list(&self, filter: &TaskFilter) -> Result<Vec<TaskView>, StoreError> {
        each!(self, s => s.list(filter))
    }
    fn set_online(&self, agent: &str, online: bool, at: u64) -> Result<(), StoreError> {
        each!(self, s => s.set_online(agent, online, at))
    }
    fn offline_agents(&self) -> Result<BTreeSet<String>, StoreError> {
        each!(self, s => s.offline_agents())
    }
    fn counts(&self) -> Result<super::StoreCounts, StoreError> {
        each!(self, s => s.counts())
    }
}
