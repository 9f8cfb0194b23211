//! [`SqliteStore`]: the embedded [`Store`], one SQLite file in WAL mode with
//! `synchronous = FULL` (a transition is on disk when `apply` returns). Every write runs in
//! a `BEGIN IMMEDIATE` transaction, so two routers on one file serialise; triggers keep the
//! event log append-only. This is the only file that knows about SQLite.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::{
    from_sql, json, limit_sql, parse, to_sql, Job, Store, StoreError, StoredEvent, TaskFilter,
};
use crate::events::Event;
use crate::task::{TaskId, TaskView};
use crate::transition::{self, Effect};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS router_tasks (
    seq      INTEGER PRIMARY KEY,
    id       TEXT NOT NULL UNIQUE,
    state    TEXT NOT NULL,
    assignee TEXT NOT NULL,
    view     TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS router_tasks_inbox ON router_tasks (state, assignee);
CREATE TABLE IF NOT EXISTS router_events (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    task TEXT NOT NULL,
    at   INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS router_events_task ON router_events (task, seq);
CREATE TRIGGER IF NOT EXISTS router_events_no_update BEFORE UPDATE ON router_events
BEGIN SELECT RAISE(ABORT, 'router events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS router_events_no_delete BEFORE DELETE ON router_events
BEGIN SELECT RAISE(ABORT, 'router events are append-only'); END;
CREATE TABLE IF NOT EXISTS router_jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0,
    attempt     INTEGER NOT NULL DEFAULT 0,
    holder      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX IF NOT EXISTS router_jobs_due ON router_jobs (lease_until, id);
CREATE INDEX IF NOT EXISTS router_jobs_task ON router_jobs (task);
CREATE INDEX IF NOT EXISTS router_tasks_customer
    ON router_tasks (json_extract(view, '$.spec.customer'), seq);
CREATE TABLE IF NOT EXISTS router_offline (
    agent TEXT PRIMARY KEY,
    since INTEGER NOT NULL
) STRICT;
";

/// The SQLite router store.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Who claims jobs through this store (see [`super::holder`]); empty: nobody named.
    holder: String,
}

fn backend(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::Backend {
        context,
        source: Box::new(e),
    }
}

impl SqliteStore {
    /// Opens (creating if needed, in a 0700 directory) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // Owner-only (task inputs may hold raw personal data), WAL, durable at commit.
        let conn =
            silo_sqlite::open(path, silo_sqlite::Synchronous::Full).map_err(|e| match e {
                silo_sqlite::OpenError::Io { path, source } => StoreError::Io { path, source },
                other => StoreError::Backend {
                    context: other.context(),
                    source: Box::new(other),
                },
            })?;
        conn.execute_batch(SCHEMA)
            .map_err(backend("creating the schema"))?;
        // Stores made before jobs named their holder gain the column.
        let has_holder: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('router_jobs') WHERE name = 'holder'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(backend("reading the schema"))?
            > 0;
        if !has_holder {
            // Another process may be upgrading the same file right now.
            match conn
                .execute_batch("ALTER TABLE router_jobs ADD COLUMN holder TEXT NOT NULL DEFAULT ''")
            {
                Err(e) if e.to_string().contains("duplicate column") => {}
                other => other.map_err(backend("upgrading the schema"))?,
            }
        }
        Ok(Self {
            conn: Mutex::new(conn),
            holder: String::new(),
        })
    }

    /// Jobs this store claims are marked as held by `holder` (e.g.
    /// [`super::holder::this_process`]), so a later process can tell a claim whose holder
    /// died from one still being worked on ([`Store::release_abandoned`]).
    pub fn with_holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // An unfinished transaction is rolled back when dropped, so a poisoned lock still
        // guards a sound connection.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn write(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend("starting a transaction"))
}

fn read_task(tx: &Connection, task: &TaskId) -> Result<Option<TaskView>, StoreError> {
    let text: Option<String> = tx
        .query_row(
            "SELECT view FROM router_tasks WHERE id = ?1",
            [task.as_str()],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend("reading a task"))?;
    text.map(|t| parse(&t)).transpose()
}

fn append(tx: &Transaction<'_>, task: &TaskId, at: u64, event: &Event) -> Result<(), StoreError> {
    let kind = json(&event.kind())?;
    tx.execute(
        "INSERT INTO router_events (task, at, kind, body) VALUES (?1, ?2, ?3, ?4)",
        params![
            task.as_str(),
            to_sql(at)?,
            kind.trim_matches('"'),
            json(event)?
        ],
    )
    .map_err(backend("appending an event"))?;
    Ok(())
}

fn effect(tx: &Transaction<'_>, task: &TaskId, effect: Effect) -> Result<(), StoreError> {
    if effect == Effect::Keep {
        return Ok(());
    }
    tx.execute("DELETE FROM router_jobs WHERE task = ?1", [task.as_str()])
        .map_err(backend("dropping a task's jobs"))?;
    if let Effect::Enqueue(kind) = effect {
        tx.execute(
            "INSERT INTO router_jobs (task, kind) VALUES (?1, ?2)",
            params![task.as_str(), kind.as_str()],
        )
        .map_err(backend("queueing a job"))?;
    }
    Ok(())
}

fn save(tx: &Transaction<'_>, view: &TaskView) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE router_tasks SET state = ?2, assignee = ?3, view = ?4 WHERE id = ?1",
        params![
            view.id.as_str(),
            view.state.as_str(),
            view.run.agent,
            json(view)?
        ],
    )
    .map_err(backend("writing a task"))?;
    Ok(())
}

/// The events of a query selecting `seq, task, at, body`.
fn read_events(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(backend("reading events"))?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(backend("reading events"))?;
    rows.map(|row| {
        let (seq, task, at, body) = row.map_err(backend("reading events"))?;
        Ok(StoredEvent {
            seq: from_sql(seq)?,
            task: TaskId(task),
            at: from_sql(at)?,
            event: parse(&body)?,
        })
    })
    .collect()
}

fn holds(tx: &Transaction<'_>, job: &Job) -> Result<bool, StoreError> {
    let found: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM router_jobs WHERE id = ?1 AND task = ?2 AND attempt = ?3",
            params![to_sql(job.id)?, job.task.as_str(), job.attempt],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend("checking a lease"))?;
    Ok(found.is_some())
}

impl Store for SqliteStore {
    fn create(&self, at: u64, build: &mut dyn FnMut(u64) -> Event) -> Result<TaskView, StoreError> {
        let mut conn = self.lock();
        let tx = write(&mut conn)?;
        let last: i64 = tx
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM router_tasks", [], |r| {
                r.get(0)
            })
            .map_err(backend("numbering a task"))?;
        let seq = from_sql(last)? + 1;
        let id = TaskId::from_seq(seq);
        let event = build(seq);
        let (view, follow_up) = transition::create(id.clone(), &event)?;
        tx.execute(
            "INSERT INTO router_tasks (seq, id, state, assignee, view) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                to_sql(seq)?,
                id.as_str(),
                view.state.as_str(),
                view.run.agent,
                json(&view)?
            ],
        )
        .map_err(backend("creating a task"))?;
        append(&tx, &id, at, &event)?;
        effect(&tx, &id, follow_up)?;
        tx.commit().map_err(backend("committing"))?;
        Ok(view)
    }

    fn get(&self, task: &TaskId) -> Result<Option<TaskView>, StoreError> {
        read_task(&self.lock(), task)
    }

    fn apply_all(
        &self,
        task: &TaskId,
        events: &[Event],
        at: u64,
        fence: Option<&Job>,
    ) -> Result<TaskView, StoreError> {
        let mut conn = self.lock();
        let tx = write(&mut conn)?;
        if let Some(job) = fence {
            if job.task != *task || !holds(&tx, job)? {
                return Err(StoreError::LeaseLost {
                    job: job.id,
                    task: job.task.clone(),
                    attempt: job.attempt,
                });
            }
        }
        let mut view =
            read_task(&tx, task)?.ok_or_else(|| StoreError::UnknownTask(task.clone()))?;
        for event in events {
            let (next, follow_up) = transition::apply(&view, event)?;
            append(&tx, task, at, event)?;
            effect(&tx, task, follow_up)?;
            view = next;
        }
        save(&tx, &view)?;
        tx.commit().map_err(backend("committing"))?;
        Ok(view)
    }

    fn claim_next(&self, now: u64, lease_secs: u64) -> Result<Option<Job>, StoreError> {
        let mut conn = self.lock();
        let tx = write(&mut conn)?;
        let row: Option<(i64, String, String, u32)> = tx
            .query_row(
                "SELECT id, task, kind, attempt FROM router_jobs
                 WHERE lease_until <= ?1 ORDER BY id LIMIT 1",
                [to_sql(now)?],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(backend("finding a due job"))?;
        let Some((id, task, kind, attempt)) = row else {
            return Ok(None);
        };
        let job = Job::claimed(id, task, &kind, attempt, now, lease_secs)?;
        tx.execute(
            "UPDATE router_jobs SET lease_until = ?2, attempt = ?3, holder = ?4 WHERE id = ?1",
            params![id, to_sql(job.lease_until)?, job.attempt, self.holder],
        )
        .map_err(backend("leasing a job"))?;
        tx.commit().map_err(backend("committing"))?;
        Ok(Some(job))
    }

    fn release_abandoned(&self, abandoned: &dyn Fn(&str) -> bool) -> Result<usize, StoreError> {
        let mut conn = self.lock();
        let tx = write(&mut conn)?;
        let holders: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT DISTINCT holder FROM router_jobs WHERE lease_until > 0 AND holder != ''")
                .map_err(backend("finding held jobs"))?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .map_err(backend("finding held jobs"))?;
            rows.collect::<Result<_, _>>()
                .map_err(backend("finding held jobs"))?
        };
        let mut released = 0;
        for holder in holders.iter().filter(|h| abandoned(h)) {
            released += tx
                .execute(
                    "UPDATE router_jobs SET lease_until = 0 WHERE holder = ?1 AND lease_until > 0",
                    [holder],
                )
                .map_err(backend("releasing jobs"))?;
        }
        tx.commit().map_err(backend("committing"))?;
        Ok(released)
    }

    fn extend(&self, job: &Job, lease_until: u64) -> Result<bool, StoreError> {
        let changed = self
            .lock()
            .execute(
                "UPDATE router_jobs SET lease_until = ?3 WHERE id = ?1 AND attempt = ?2",
                params![to_sql(job.id)?, job.attempt, to_sql(lease_until)?],
            )
            .map_err(backend("extending a lease"))?;
        Ok(changed == 1)
    }

    fn complete(&self, job: &Job) -> Result<bool, StoreError> {
        let removed = self
            .lock()
            .execute(
                "DELETE FROM router_jobs WHERE id = ?1 AND attempt = ?2",
                params![to_sql(job.id)?, job.attempt],
            )
            .map_err(backend("completing a job"))?;
        Ok(removed == 1)
    }

    fn waiting_for(&self, pool: &str) -> Result<Vec<TaskView>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT view FROM router_tasks WHERE state = 'waiting_for_human' AND assignee = ?1
                 ORDER BY seq",
            )
            .map_err(backend("reading an inbox"))?;
        let rows = stmt
            .query_map([pool], |r| r.get::<_, String>(0))
            .map_err(backend("reading an inbox"))?;
        rows.map(|row| parse(&row.map_err(backend("reading an inbox"))?))
            .collect()
    }

    fn events(&self, task: Option<&TaskId>) -> Result<Vec<StoredEvent>, StoreError> {
        read_events(
            &self.lock(),
            "SELECT seq, task, at, body FROM router_events
             WHERE ?1 IS NULL OR task = ?1 ORDER BY seq",
            [task.map(TaskId::as_str)],
        )
    }

    fn events_after(
        &self,
        after: u64,
        task: Option<&TaskId>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read_events(
            &self.lock(),
            "SELECT seq, task, at, body FROM router_events
             WHERE seq > ?1 AND (?2 IS NULL OR task = ?2) ORDER BY seq LIMIT ?3",
            params![to_sql(after)?, task.map(TaskId::as_str), limit_sql(limit)?],
        )
    }

    fn list(&self, filter: &TaskFilter) -> Result<Vec<TaskView>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT view FROM router_tasks
                 WHERE (?1 IS NULL OR state = ?1)
                   AND (?2 IS NULL OR assignee = ?2)
                   AND (?3 IS NULL OR json_extract(view, '$.spec.customer') = ?3)
                   AND (?4 IS NULL OR seq > ?4)
                   AND (?5 IS NULL OR seq < ?5)
                 ORDER BY seq DESC LIMIT ?6",
            )
            .map_err(backend("listing tasks"))?;
        let rows = stmt
            .query_map(
                params![
                    filter.state.map(|s| s.as_str()),
                    filter.agent,
                    filter.customer,
                    filter.after_seq.map(to_sql).transpose()?,
                    filter.before_seq.map(to_sql).transpose()?,
                    limit_sql(filter.limit.min(TaskFilter::MAX_LIMIT))?,
                ],
                |r| r.get::<_, String>(0),
            )
            .map_err(backend("listing tasks"))?;
        rows.map(|row| parse(&row.map_err(backend("listing tasks"))?))
            .collect()
    }

    fn set_online(&self, agent: &str, online: bool, at: u64) -> Result<(), StoreError> {
        let conn = self.lock();
        if online {
            conn.execute("DELETE FROM router_offline WHERE agent = ?1", [agent])
                .map_err(backend("marking an agent online"))?;
        } else {
            // A second `offline` keeps the first one's time.
            conn.execute(
                "INSERT INTO router_offline (agent, since) VALUES (?1, ?2)
                 ON CONFLICT (agent) DO NOTHING",
                params![agent, to_sql(at)?],
            )
            .map_err(backend("marking an agent offline"))?;
        }
        Ok(())
    }

    fn offline_agents(&self) -> Result<BTreeSet<String>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT agent FROM router_offline")
            .map_err(backend("reading offline agents"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(backend("reading offline agents"))?;
        rows.map(|row| row.map_err(backend("reading offline agents")))
            .collect()
    }

    fn counts(&self) -> Result<super::StoreCounts, StoreError> {
        let conn = self.lock();
        let count = |sql: &str| -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
            let mut stmt = conn.prepare(sql).map_err(backend("counting"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(backend("counting"))?;
            rows.map(|row| {
                let (key, n) = row.map_err(backend("counting"))?;
                Ok((key, from_sql(n)?))
            })
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
