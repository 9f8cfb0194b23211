//! [`PgStore`]: the [`Store`] on a shared PostgreSQL database, so several routers on several
//! machines work one queue (schema: `silo-postgres/migrations/V1__router.sql`). It behaves
//! as [`super::SqliteStore`] does; what SQLite got from one writer at a time is spelt out:
//!
//! - Task numbers come from a counter row updated in the creating transaction, so they
//!   have no gaps even when a create is refused.
//! - [`Store::apply_all`] locks the task's row (`FOR UPDATE`), then the fencing job's row,
//!   checks the transition map, replaces the task's jobs, saves the task and appends the
//!   events, in one transaction.
//! - Event numbers increase in commit order: they are drawn while the transaction-level
//!   advisory lock [`silo_postgres::locks::ROUTER_EVENTS`] is held (taken just before the
//!   events are inserted, released at commit), so a follower reading
//!   [`Store::events_after`] never skips an event committed late. Triggers refuse
//!   `UPDATE`, `DELETE` and `TRUNCATE` of the log.
//! - [`Store::claim_next`] takes the oldest due job with `FOR UPDATE SKIP LOCKED`: routers
//!   claiming at once never get the same job.
//! - Queueing a job, or releasing a claim, notifies the channel `silo_jobs` (a trigger);
//!   [`PgStore::wait_for_work`] sleeps on it. A lease that merely expires notifies nobody,
//!   so callers still wake up at their own pace too.
//! - Holder liveness across machines: [`PgStore::with_holder`] registers the holder
//!   (`router_holders`: holder text → number) and takes the session-level advisory lock
//!   `(HOLDER_CLASS, number)` in its shared form (several stores of one process may name
//!   the same holder) on a connection the store keeps for its lifetime, with short
//!   server-side TCP keepalives so that the session of a machine that died ends within
//!   about 25 seconds. [`Store::release_abandoned`] releases the claims of holders the
//!   caller's test says are gone **or** whose lock no session holds any more (`pg_locks`).
//!   Should the lock's connection break while the store lives, the next claim takes it
//!   again; a claim released meanwhile is fenced off by its attempt number as usual.
//!
//! This and `sqlite.rs` are the only files that know a database.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use silo_postgres::postgres::fallible_iterator::FallibleIterator;
use silo_postgres::postgres::{self, GenericClient, Transaction};
use silo_postgres::{locks, Database, PooledClient};

use super::{
    from_sql, json, limit_sql, parse, to_sql, Job, Store, StoreError, StoredEvent, TaskFilter,
};
use crate::events::Event;
use crate::task::{TaskId, TaskView};
use crate::transition::{self, Effect};

/// The channel that says work was queued.
pub const JOBS_CHANNEL: &str = "silo_jobs";

/// Server-side keepalives of the holder's session: a dead machine's session (and so its
/// liveness lock) ends after about 10 + 5 × 3 seconds of silence.
const KEEPALIVES: &str =
    "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3";

/// How long a health check of a kept connection may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL router store.
pub struct PgStore {
    db: Database,
    /// Who claims jobs through this store; empty: nobody named.
    holder: String,
    /// The connection holding the holder's liveness lock.
    holder_session: Mutex<Option<HolderSession>>,
    /// The connection listening on [`JOBS_CHANNEL`], made on first wait.
    listener: Mutex<Option<postgres::Client>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("db", &self.db)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

/// A holder's registration and the session that keeps its lock.
struct HolderSession {
    client: postgres::Client,
}

impl HolderSession {
    fn start(db: &Database, holder: &str) -> Result<Self, StoreError> {
        let mut client = db
            .dedicated()
            .map_err(pool("connecting for the holder lock"))?;
        client
            .batch_execute(&format!(
                "{KEEPALIVES}; SET application_name = 'silo-router-holder'"
            ))
            .map_err(backend("setting keepalives"))?;
        let mut tx = client
            .transaction()
            .map_err(backend("registering the holder"))?;
        let id: i32 = tx
            .query_one(
                "INSERT INTO router_holders (holder) VALUES ($1)
                 ON CONFLICT (holder) DO UPDATE SET holder = EXCLUDED.holder RETURNING id",
                &[&holder],
            )
            .map_err(backend("registering the holder"))
            .and_then(|r| col(&r, 0))?;
        // Session-level: it outlives this transaction and ends with the connection. Taken
        // before the registration commits, so a registered holder is never seen unlocked
        // while it lives.
        tx.execute(
            "SELECT pg_advisory_lock_shared($1, $2)",
            &[&locks::HOLDER_CLASS, &id],
        )
        .map_err(backend("locking the holder"))?;
        tx.commit().map_err(backend("registering the holder"))?;
        Ok(Self { client })
    }
}

fn backend(context: &'static str) -> impl FnOnce(postgres::Error) -> StoreError {
    move |e| StoreError::Backend {
        context,
        source: Box::new(e),
    }
}

/// Column `idx` of `row`, or a corrupt-store error (never a panic on a type mismatch).
fn col<'a, T: postgres::types::FromSql<'a>>(
    row: &'a postgres::Row,
    idx: usize,
) -> Result<T, StoreError> {
    row.try_get(idx)
        .map_err(|e| StoreError::Corrupt(format!("column {idx}: {e}")))
}

fn pool(context: &'static str) -> impl FnOnce(silo_postgres::PgError) -> StoreError {
    move |e| StoreError::Backend {
        context,
        source: Box::new(e),
    }
}

fn attempt_sql(attempt: u32) -> Result<i32, StoreError> {
    i32::try_from(attempt)
        .map_err(|_| StoreError::Corrupt(format!("attempt {attempt} does not fit PostgreSQL")))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A connection left mid-transaction by a panic is rolled back by the server when the
    // transaction handle drops, so a poisoned lock still guards a usable value.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PgStore {
    /// A store on `db` (whose schema [`Database::connect`] brought up to date).
    pub fn open(db: &Database) -> Result<Self, StoreError> {
        let mut client = db.client().map_err(pool("connecting"))?;
        client
            .query_one("SELECT last FROM router_task_counter", &[])
            .map_err(backend("reading the schema"))?;
        Ok(Self {
            db: db.clone(),
            holder: String::new(),
            holder_session: Mutex::new(None),
            listener: Mutex::new(None),
        })
    }

    /// Jobs this store claims are marked as held by `holder` (e.g.
    /// [`super::holder::this_process`]); the holder is registered and its liveness lock
    /// is held on a connection of this store's own until the store is dropped, so every
    /// router on the database can tell when it is gone ([`Store::release_abandoned`]). An
    /// empty holder names nobody and takes no lock.
    pub fn with_holder(mut self, holder: impl Into<String>) -> Result<Self, StoreError> {
        self.holder = holder.into();
        let session = if self.holder.is_empty() {
            None
        } else {
            Some(HolderSession::start(&self.db, &self.holder)?)
        };
        *self
            .holder_session
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = session;
        Ok(self)
    }

    /// Blocks until work is queued or a claim released anywhere on the database (`true`),
    /// or until `timeout` passes (`false`). Notifications that arrive between two calls
    /// are kept for the next one. The listening connection is made on the first call (which
    /// answers `true` at once when unclaimed work is already queued) and made again after
    /// it broke (that call answers `true`: a wake-up may have been missed).
    pub fn wait_for_work(&self, timeout: Duration) -> Result<bool, StoreError> {
        let mut guard = lock(&self.listener);
        if guard.as_ref().is_none_or(postgres::Client::is_closed) {
            *guard = None;
            *guard = Some(self.listen()?);
            if self.work_queued()? {
                return Ok(true);
            }
        }
        let Some(client) = guard.as_mut() else {
            return Ok(false);
        };
        let first = {
            let mut notifications = client.notifications();
            let first = notifications.timeout_iter(timeout).next();
            if let Ok(Some(_)) = first {
                // One wake-up stands for every notification pending now.
                while let Ok(Some(_)) = notifications.iter().next() {}
            }
            first
        };
        let broken = match first {
            Ok(Some(_)) => return Ok(true),
            // `None` is also how an ended connection answers (at once): ask the server.
            Ok(None) => match client.is_valid(HEALTH_TIMEOUT) {
                Ok(()) => return Ok(false),
                Err(e) => e,
            },
            Err(e) => e,
        };
        // The connection broke: listen again, and wake the caller (it may have missed one).
        *guard = None;
        match self.listen() {
            Ok(client) => {
                *guard = Some(client);
                Ok(true)
            }
            Err(_) => Err(backend("waiting for work")(broken)),
        }
    }

    fn listen(&self) -> Result<postgres::Client, StoreError> {
        let mut client = self
            .db
            .dedicated()
            .map_err(pool("connecting to listen for work"))?;
        client
            .batch_execute(&format!(
                "{KEEPALIVES}; SET application_name = 'silo-router-listen'; LISTEN {JOBS_CHANNEL}"
            ))
            .map_err(backend("listening for work"))?;
        Ok(client)
    }

    /// Whether a job nobody claimed is queued.
    fn work_queued(&self) -> Result<bool, StoreError> {
        self.client()?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM router_jobs WHERE lease_until = 0)",
                &[],
            )
            .map_err(backend("looking for queued work"))
            .and_then(|r| col(&r, 0))
    }

    fn client(&self) -> Result<PooledClient, StoreError> {
        self.db.client().map_err(pool("connecting"))
    }

    /// Takes the holder's lock again if its connection broke.
    fn keep_holder_alive(&self) -> Result<(), StoreError> {
        if self.holder.is_empty() {
            return Ok(());
        }
        let mut session = lock(&self.holder_session);
        // The connection is only read when used: ask the server (one round trip).
        if let Some(s) = session.as_mut() {
            if !s.client.is_closed() && s.client.is_valid(HEALTH_TIMEOUT).is_ok() {
                return Ok(());
            }
        }
        *session = None;
        *session = Some(HolderSession::start(&self.db, &self.holder)?);
        Ok(())
    }
}

fn read_task(
    client: &mut impl GenericClient,
    task: &TaskId,
    for_update: bool,
) -> Result<Option<String>, StoreError> {
    let sql = if for_update {
        "SELECT view FROM router_tasks WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT view FROM router_tasks WHERE id = $1"
    };
    let row = client
        .query_opt(sql, &[&task.as_str()])
        .map_err(backend("reading a task"))?;
    row.map(|r| col(&r, 0)).transpose()
}

/// Appends `events`, numbered in commit order (see the module documentation).
fn append(
    tx: &mut Transaction<'_>,
    task: &TaskId,
    at: u64,
    events: &[Event],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let rows = events
        .iter()
        .map(|event| {
            let kind = json(&event.kind())?;
            Ok((kind.trim_matches('"').to_owned(), json(event)?))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let at = to_sql(at)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&locks::ROUTER_EVENTS])
        .map_err(backend("locking the event log"))?;
    let insert = tx
        .prepare("INSERT INTO router_events (task, at, kind, body) VALUES ($1, $2, $3, $4)")
        .map_err(backend("appending an event"))?;
    for (kind, body) in &rows {
        tx.execute(&insert, &[&task.as_str(), &at, kind, body])
            .map_err(backend("appending an event"))?;
    }
    Ok(())
}

fn effect(tx: &mut Transaction<'_>, task: &TaskId, effect: Effect) -> Result<(), StoreError> {
    if effect == Effect::Keep {
        return Ok(());
    }
    tx.execute("DELETE FROM router_jobs WHERE task = $1", &[&task.as_str()])
        .map_err(backend("dropping a task's jobs"))?;
    if let Effect::Enqueue(kind) = effect {
        tx.execute(
            "INSERT INTO router_jobs (task, kind) VALUES ($1, $2)",
            &[&task.as_str(), &kind.as_str()],
        )
        .map_err(backend("queueing a job"))?;
    }
    Ok(())
}

fn save(tx: &mut Transaction<'_>, view: &TaskView) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE router_tasks SET state = $2, assignee = $3, customer = $4, view = $5
         WHERE id = $1",
        &[
            &view.id.as_str(),
            &view.state.as_str(),
            &view.run.agent,
            &view.spec.customer,
            &json(view)?,
        ],
    )
    .map_err(backend("writing a task"))?;
    Ok(())
}

/// The events of a query selecting `seq, task, at, body`.
fn read_events(
    client: &mut impl GenericClient,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = client
        .query(sql, params)
        .map_err(backend("reading events"))?;
    rows.iter()
        .map(|r| {
            let body: String = col(r, 3)?;
            Ok(StoredEvent {
                seq: from_sql(col(r, 0)?)?,
                task: TaskId(col(r, 1)?),
                at: from_sql(col(r, 2)?)?,
                event: parse(&body)?,
            })
        })
        .collect()
}

/// Whether `job`'s claim still holds it; the job's row stays locked to commit.
fn holds(tx: &mut Transaction<'_>, job: &Job) -> Result<bool, StoreError> {
    let found = tx
        .query_opt(
            "SELECT 1 FROM router_jobs WHERE id = $1 AND task = $2 AND attempt = $3 FOR UPDATE",
            &[
                &to_sql(job.id)?,
                &job.task.as_str(),
                &attempt_sql(job.attempt)?,
            ],
        )
        .map_err(backend("checking a lease"))?;
    Ok(found.is_some())
}

fn views(rows: &[postgres::Row]) -> Result<Vec<TaskView>, StoreError> {
    rows.iter().map(|r| parse(&r.get::<_, String>(0))).collect()
}

impl Store for PgStore {
    fn create(&self, at: u64, build: &mut dyn FnMut(u64) -> Event) -> Result<TaskView, StoreError> {
        let mut client = self.client()?;
        let mut tx = client
            .transaction()
            .map_err(backend("starting a transaction"))?;
        // The row lock serialises creates; a refused one rolls the number back.
        let last: i64 = tx
            .query_one(
                "UPDATE router_task_counter SET last = last + 1 RETURNING last",
                &[],
            )
            .map_err(backend("numbering a task"))
            .and_then(|r| col(&r, 0))?;
        let seq = from_sql(last)?;
        let id = TaskId::from_seq(seq);
        let event = build(seq);
        let (view, follow_up) = transition::create(id.clone(), &event)?;
        tx.execute(
            "INSERT INTO router_tasks (seq, id, state, assignee, customer, view)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &last,
                &id.as_str(),
                &view.state.as_str(),
                &view.run.agent,
                &view.spec.customer,
                &json(&view)?,
            ],
        )
        .map_err(backend("creating a task"))?;
        effect(&mut tx, &id, follow_up)?;
        append(&mut tx, &id, at, std::slice::from_ref(&event))?;
        tx.commit().map_err(backend("committing"))?;
        Ok(view)
    }

    fn get(&self, task: &TaskId) -> Result<Option<TaskView>, StoreError> {
        read_task(&mut *self.client()?, task, false)?
            .map(|t| parse(&t))
            .transpose()
    }

    fn apply_all(
        &self,
        task: &TaskId,
        events: &[Event],
        at: u64,
        fence: Option<&Job>,
    ) -> Result<TaskView, StoreError> {
        let mut client = self.client()?;
        let mut tx = client
            .transaction()
            .map_err(backend("starting a transaction"))?;
        // The task's row first, then its job's: the order every writer of a task follows.
        let current = read_task(&mut tx, task, true)?;
        if let Some(job) = fence {
            if job.task != *task || !holds(&mut tx, job)? {
                return Err(StoreError::LeaseLost {
                    job: job.id,
                    task: job.task.clone(),
                    attempt: job.attempt,
                });
            }
        }
        let mut view: TaskView =
            parse(&current.ok_or_else(|| StoreError::UnknownTask(task.clone()))?)?;
        for event in events {
            let (next, follow_up) = transition::apply(&view, event)?;
            effect(&mut tx, task, follow_up)?;
            view = next;
        }
        save(&mut tx, &view)?;
        append(&mut tx, task, at, events)?;
        tx.commit().map_err(backend("committing"))?;
        Ok(view)
    }

    fn claim_next(&self, now: u64, lease_secs: u64) -> Result<Option<Job>, StoreError> {
        self.keep_holder_alive()?;
        let mut client = self.client()?;
        let mut tx = client
            .transaction()
            .map_err(backend("starting a transaction"))?;
        let row = tx
            .query_opt(
                "SELECT id, task, kind, attempt FROM router_jobs
                 WHERE lease_until <= $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
                &[&to_sql(now)?],
            )
            .map_err(backend("finding a due job"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (id, task, kind, attempt): (i64, String, String, i32) =
            (col(&row, 0)?, col(&row, 1)?, col(&row, 2)?, col(&row, 3)?);
        let attempt = u32::try_from(attempt)
            .map_err(|_| StoreError::Corrupt(format!("job {id} has attempt {attempt}")))?;
        let job = Job::claimed(id, task, &kind, attempt, now, lease_secs)?;
        tx.execute(
            "UPDATE router_jobs SET lease_until = $2, attempt = $3, holder = $4 WHERE id = $1",
            &[
                &id,
                &to_sql(job.lease_until)?,
                &attempt_sql(job.attempt)?,
                &self.holder,
            ],
        )
        .map_err(backend("leasing a job"))?;
        tx.commit().map_err(backend("committing"))?;
        Ok(Some(job))
    }

    fn release_abandoned(&self, abandoned: &dyn Fn(&str) -> bool) -> Result<usize, StoreError> {
        let mut client = self.client()?;
        let mut tx = client
            .transaction()
            .map_err(backend("starting a transaction"))?;
        // A registered holder whose liveness lock no session of this database holds is
        // gone (two-key advisory locks show as classid, objid with objsubid 2).
        let holders = tx
            .query(
                "SELECT j.holder, h.id IS NOT NULL AND NOT EXISTS (
                     SELECT 1 FROM pg_locks l
                     WHERE l.locktype = 'advisory' AND l.granted
                       AND l.database = (SELECT oid FROM pg_database
                                         WHERE datname = current_database())
                       AND l.classid = $1::integer::oid
                       AND l.objid = h.id::oid
                       AND l.objsubid = 2)
                 FROM (SELECT DISTINCT holder FROM router_jobs
                       WHERE lease_until > 0 AND holder <> '') j
                 LEFT JOIN router_holders h ON h.holder = j.holder",
                &[&locks::HOLDER_CLASS],
            )
            .map_err(backend("finding held jobs"))?;
        let mut released: u64 = 0;
        for row in &holders {
            let (holder, unlocked): (String, bool) = (col(row, 0)?, col(row, 1)?);
            if unlocked || abandoned(&holder) {
                released += tx
                    .execute(
                        "UPDATE router_jobs SET lease_until = 0
                         WHERE holder = $1 AND lease_until > 0",
                        &[&holder],
                    )
                    .map_err(backend("releasing jobs"))?;
            }
        }
        tx.commit().map_err(backend("committing"))?;
        Ok(usize::try_from(released).unwrap_or(usize::MAX))
    }

    fn extend(&self, job: &Job, lease_until: u64) -> Result<bool, StoreError> {
        let changed = self
            .client()?
            .execute(
                "UPDATE router_jobs SET lease_until = $3 WHERE id = $1 AND attempt = $2",
                &[
                    &to_sql(job.id)?,
                    &attempt_sql(job.attempt)?,
                    &to_sql(lease_until)?,
                ],
            )
            .map_err(backend("extending a lease"))?;
        Ok(changed == 1)
    }

    fn complete(&self, job: &Job) -> Result<bool, StoreError> {
        let removed = self
            .client()?
            .execute(
                "DELETE FROM router_jobs WHERE id = $1 AND attempt = $2",
                &[&to_sql(job.id)?, &attempt_sql(job.attempt)?],
            )
            .map_err(backend("completing a job"))?;
        Ok(removed == 1)
    }

    fn waiting_for(&self, pool: &str) -> Result<Vec<TaskView>, StoreError> {
        let rows = self
            .client()?
            .query(
                "SELECT view FROM router_tasks WHERE state = 'waiting_for_human' AND assignee = $1
                 ORDER BY seq",
                &[&pool],
            )
            .map_err(backend("reading an inbox"))?;
        views(&rows)
    }

    fn events(&self, task: Option<&TaskId>) -> Result<Vec<StoredEvent>, StoreError> {
        read_events(
            &mut *self.client()?,
            "SELECT seq, task, at, body FROM router_events
             WHERE $1::text IS NULL OR task = $1 ORDER BY seq",
            &[&task.map(TaskId::as_str)],
        )
    }

    fn events_after(
        &self,
        after: u64,
        task: Option<&TaskId>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read_events(
            &mut *self.client()?,
            "SELECT seq, task, at, body FROM router_events
             WHERE seq > $1 AND ($2::text IS NULL OR task = $2) ORDER BY seq LIMIT $3",
            &[
                &to_sql(after)?,
                &task.map(TaskId::as_str),
                &limit_sql(limit)?,
            ],
        )
    }

    fn list(&self, filter: &TaskFilter) -> Result<Vec<TaskView>, StoreError> {
        let rows = self
            .client()?
            .query(
                "SELECT view FROM router_tasks
                 WHERE ($1::text IS NULL OR state = $1)
                   AND ($2::text IS NULL OR assignee = $2)
                   AND ($3::text IS NULL OR customer = $3)
                   AND ($4::bigint IS NULL OR seq > $4)
                   AND ($5::bigint IS NULL OR seq < $5)
                 ORDER BY seq DESC LIMIT $6",
                &[
                    &filter.state.map(|s| s.as_str()),
                    &filter.agent,
                    &filter.customer,
                    &filter.after_seq.map(to_sql).transpose()?,
                    &filter.before_seq.map(to_sql).transpose()?,
                    &limit_sql(filter.limit.min(TaskFilter::MAX_LIMIT))?,
                ],
            )
            .map_err(backend("listing tasks"))?;
        views(&rows)
    }

    fn set_online(&self, agent: &str, online: bool, at: u64) -> Result<(), StoreError> {
        let mut client = self.client()?;
        if online {
            client
                .execute("DELETE FROM router_offline WHERE agent = $1", &[&agent])
                .map_err(backend("marking an agent online"))?;
        } else {
            // A second `offline` keeps the first one's time.
            client
                .execute(
                    "INSERT INTO router_offline (agent, since) VALUES ($1, $2)
                     ON CONFLICT (agent) DO NOTHING",
                    &[&agent, &to_sql(at)?],
                )
                .map_err(backend("marking an agent offline"))?;
        }
        Ok(())
    }

    fn offline_agents(&self) -> Result<BTreeSet<String>, StoreError> {
        let rows = self
            .client()?
            .query("SELECT agent FROM router_offline", &[])
            .map_err(backend("reading offline agents"))?;
        rows.iter().map(|r| col(r, 0)).collect()
    }

    fn counts(&self) -> Result<super::StoreCounts, StoreError> {
        let mut client = self.client()?;
        let mut count = |sql: &str| -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
            client
                .query(sql, &[])
                .map_err(backend("counting"))?
                .iter()
                .map(|r| Ok((col(r, 0)?, from_sql(col(r, 1)?)?)))
                .collect()
        };
        Ok(super::StoreCounts {
            tasks_by_state: count("SELECT state, COUNT(*) FROM router_tasks GROUP BY state")?,
            waiting_by_pool: count(
                "SELECT assignee, COUNT(*) FROM router_tasks WHERE state = 'waiting_for_human' GROUP BY assignee",
            )?,
            events_by_kind: count("SELECT kind, COUNT(*) FROM router_events GROUP BY kind")?,
        })
    }
}
