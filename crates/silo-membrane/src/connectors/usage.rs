//! Durable usage counters for the policy's rate limits and daily totals: every done action
//! is a row (scope, id, action, time, amount), so limits hold across membrane processes and
//! restarts — a daily refund total counts every task of the day, not only this process's.
//!
//! Counting and recording are separate steps (the decision reads, the route records after
//! acting), so every counted action holds the [`UsageGate`] from its decision until its
//! usage is recorded (or it is refused): one thread at a time in this process, and one
//! process at a time on this data directory (flock on `membrane/usage.lock`) or, with the
//! counters in a shared PostgreSQL database, one host at a time on that database (a
//! session advisory lock). Without it eight concurrent refunds of one cell all passed a
//! daily total (found by `silo redteam`, case `authority-refund-concurrent-split`).
//!
//! An action whose effect is idempotent (a refund, a queued message) is recorded with the
//! effect's id, unique per scope and action: the route records it on the first call *and*
//! on every replay, and a second row is a no-op. So a crash between the effect's commit
//! and its usage record (crash point `after_refund_committed`) is counted on the retried
//! turn's replay, and a plain replay is not counted twice.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection};
use silo_keys::{BaseKey, TaskKey};
use silo_policy::{Action, RateScope, UsageCounters, DAY_SECS};
use silo_postgres::postgres::Client;

use super::{lock, open_sqlite, pg_conn_err, pg_err, secs_to_sql, ConnectorError};

const NAME: &str = "usage";
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS usage_events (
    scope TEXT NOT NULL,
    id TEXT NOT NULL,
    action TEXT NOT NULL,
    at INTEGER NOT NULL,
    amount INTEGER,
    effect TEXT
);
CREATE INDEX IF NOT EXISTS usage_lookup ON usage_events (scope, id, action, at);";

/// Made after the upgrade step: a table of an older build has no `effect` column until then.
const EFFECT_INDEX: &str = "CREATE UNIQUE INDEX IF NOT EXISTS usage_effect
    ON usage_events (scope, action, effect) WHERE effect IS NOT NULL";

/// How long events are kept: the longest window the policy can ask about (a day) and the
/// previous day, for totals at midnight.
pub(crate) const KEEP_SECS: u64 = 2 * DAY_SECS;

/// Longest wait for another host's counted action to finish with the PostgreSQL gate:
/// past it this action is refused (`internal`, nothing done) rather than left hanging.
pub const GATE_WAIT: Duration = Duration::from_secs(60);

/// Serialises counted actions from decision to record: a mutex for the threads of this
/// process, then one lock shared with every other process that counts the same usage —
/// an exclusive flock on the data directory's lock file, or a session advisory lock
/// ([`silo_postgres::locks::USAGE_GATE`]) on the shared database.
#[derive(Default)]
pub struct UsageGate {
    /// The in-process mutex. It also keeps the PostgreSQL gate's own connection between
    /// actions (the advisory lock is that session's, so a host that dies releases it with
    /// the connection); `None` for the other gates, or until first use.
    local: Mutex<Option<Client>>,
    across: Across,
}

/// What serialises counted actions across processes.
#[derive(Debug, Default)]
enum Across {
    /// Nothing: one process only.
    #[default]
    Nothing,
    /// An exclusive flock on this file.
    File(PathBuf),
    /// A session advisory lock on this database.
    Postgres(Box<silo_postgres::Database>),
}

impl std::fmt::Debug for UsageGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageGate")
            .field("across", &self.across)
            .finish_non_exhaustive()
    }
}

impl Drop for UsageGate {
    fn drop(&mut self) {
        let client = self
            .local
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(client) = client {
            // Closing a synchronous client blocks on a runtime of its own, which panics on
            // a thread that drives an async runtime (where the last `Arc<Services>` often
            // goes): close it on a thread of its own.
            let spawned = std::thread::Builder::new()
                .name("silo-usage-gate-close".into())
                .spawn(move || drop(client));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "usage gate: cannot close its connection");
            }
        }
    }
}

/// A held [`UsageGate`]; dropping it lets the next counted action decide.
pub struct GateGuard<'a> {
    local: MutexGuard<'a, Option<Client>>,
    _file: Option<nix::fcntl::Flock<std::fs::File>>,
    /// The advisory lock is held on `local`'s connection.
    pg_locked: bool,
}

impl std::fmt::Debug for GateGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateGuard").finish_non_exhaustive()
    }
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        if !self.pg_locked {
            return;
        }
        // The slot, not its guard: a `MutexGuard` may not cross to another thread.
        let slot: &mut Option<Client> = &mut self.local;
        let unlocked = super::postgres::off_async(|| {
            slot.as_mut().map(|client| {
                client
                    .query_one(
                        "SELECT pg_advisory_unlock($1)",
                        &[&silo_postgres::locks::USAGE_GATE],
                    )
                    .and_then(|row| row.try_get::<_, bool>(0))
            })
        });
        if !matches!(unlocked, Some(Ok(true))) {
            // Closing the connection ends its session, and the lock with it.
            tracing::warn!(
                ?unlocked,
                "usage gate: unlock failed; closing its connection"
            );
            let dead = self.local.take();
            super::postgres::off_async(move || drop(dead));
        }
    }
}

impl UsageGate {
    /// A gate for one process only (tests, in-memory counters).
    pub fn in_process() -> Self {
        Self::default()
    }

    /// A gate shared through the lock file at `path` by every process that uses it.
    pub fn shared(path: &Path) -> Self {
        Self {
            local: Mutex::new(None),
            across: Across::File(path.to_path_buf()),
        }
    }

    /// A gate shared by every host whose counters are in `db`: the in-process mutex,
    /// then the session advisory lock [`silo_postgres::locks::USAGE_GATE`] on a connection
    /// of the gate's own, held until the guard drops (and released by the server if this
    /// process dies). Connects on first use.
    pub fn postgres(db: &silo_postgres::Database) -> Self {
        Self {
            local: Mutex::new(None),
            across: Across::Postgres(Box::new(db.clone())),
        }
    }

    /// Waits for the gate. Failing to take the cross-process lock is an error: a counted
    /// action must not be decided without it.
    pub fn enter(&self) -> Result<GateGuard<'_>, ConnectorError> {
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        let mut guard_file = None;
        let mut pg_locked = false;
        match &self.across {
            Across::Nothing => {}
            Across::File(path) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| ConnectorError::Io {
                        path: path.clone(),
                        source: e,
                    })?;
                guard_file = Some(
                    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).map_err(
                        |(_, errno)| ConnectorError::Io {
                            path: path.clone(),
                            source: std::io::Error::from(errno),
                        },
                    )?,
                );
            }
            Across::Postgres(db) => {
                let slot: &mut Option<Client> = &mut local;
                super::postgres::off_async(|| lock_postgres(slot, db))?;
                pg_locked = true;
            }
        }
        Ok(GateGuard {
            local,
            _file: guard_file,
            pg_locked,
        })
    }
}

/// Takes the advisory lock on the gate's connection, connecting first if there is none.
/// A connection the server closed meanwhile (restart, idle timeout) is replaced once.
fn lock_postgres(
    slot: &mut Option<Client>,
    db: &silo_postgres::Database,
) -> Result<(), ConnectorError> {
    const GATE: &str = "usage gate";
    let mut retried = false;
    loop {
        let mut client = match slot.take() {
            Some(client) => client,
            None => {
                let mut client = db.dedicated().map_err(pg_conn_err(GATE))?;
                client
                    .batch_execute(&format!("SET lock_timeout = '{}s'", GATE_WAIT.as_secs()))
                    .map_err(pg_err(GATE, "setting the lock timeout"))?;
                client
            }
        };
        match client.execute(
            "SELECT pg_advisory_lock($1)",
            &[&silo_postgres::locks::USAGE_GATE],
        ) {
            Ok(_) => {
                *slot = Some(client);
                return Ok(());
            }
            // Whatever failed, the next attempt starts on a fresh session.
            Err(_) if client.is_closed() && !retried => retried = true,
            Err(e) => return Err(pg_err(GATE, "taking the advisory lock")(e)),
        }
    }
}

/// The idempotent effect a counted action had: what makes its usage count exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effect<'a> {
    /// The effect's own id (a refund's `rf_…`, a message's id): one per effect of an action.
    pub id: &'a str,
    /// When the effect was done (unix seconds). A replay that counts it late counts it at
    /// this time, so it lands in the day and windows it belongs to.
    pub at: u64,
}

/// Counters the policy reads and the membrane writes.
pub trait UsageStore: UsageCounters + Send + Sync {
    /// Records one done `action` (with its amount, if any) under agent, customer and task.
    fn record(&self, base: &BaseKey, task: &TaskKey, action: Action, amount: Option<i64>, now: u64);

    /// Records one done `action` that had the idempotent `effect`, at most once per effect
    /// id, scope and action: recording it again (the route does on every replay) is a
    /// no-op when it was counted, and the missing count when it was not.
    fn record_effect(
        &self,
        base: &BaseKey,
        task: &TaskKey,
        action: Action,
        amount: Option<i64>,
        effect: Effect<'_>,
        now: u64,
    );
}

impl UsageStore for silo_policy::InMemoryCounters {
    fn record(
        &self,
        base: &BaseKey,
        task: &TaskKey,
        action: Action,
        amount: Option<i64>,
        now: u64,
    ) {
        silo_policy::InMemoryCounters::record(self, base, task, action, amount, now);
    }

    fn record_effect(
        &self,
        base: &BaseKey,
        task: &TaskKey,
        action: Action,
        amount: Option<i64>,
        effect: Effect<'_>,
        _now: u64,
    ) {
        silo_policy::InMemoryCounters::record_effect(
            self, base, task, action, amount, effect.id, effect.at,
        );
    }
}

/// One usage event as the stores write it, for each scope.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event<'a> {
    pub(crate) action: Action,
    pub(crate) amount: Option<i64>,
    /// The effect's id, when the action had an idempotent one.
    pub(crate) effect: Option<&'a str>,
    /// When it was done.
    pub(crate) at: u64,
}

impl<'a> Event<'a> {
    /// An action done now with no effect id (counted every time it is recorded).
    pub(crate) fn plain(action: Action, amount: Option<i64>, now: u64) -> Self {
        Event {
            action,
            amount,
            effect: None,
            at: now,
        }
    }

    /// An idempotent effect, counted once per scope at the time it was done.
    pub(crate) fn of_effect(action: Action, amount: Option<i64>, effect: Effect<'a>) -> Self {
        Event {
            action,
            amount,
            effect: Some(effect.id),
            at: effect.at,
        }
    }
}

/// [`UsageStore`] in SQLite.
#[derive(Debug)]
pub struct SqliteUsage {
    conn: Mutex<Connection>,
}

impl SqliteUsage {
    /// Opens (creating if needed) the `usage_events` table in the database at `path`,
    /// bringing a table of an older build up to date.
    pub fn open(path: &Path) -> Result<Self, ConnectorError> {
        let conn = open_sqlite(NAME, path, SCHEMA)?;
        upgrade(&mut lock(&conn))?;
        Ok(Self { conn })
    }

    fn insert(
        &self,
        base: &BaseKey,
        task: &TaskKey,
        event: Event<'_>,
        now: u64,
    ) -> Result<(), rusqlite::Error> {
        let mut conn = lock(&self.conn);
        let tx = conn.transaction()?;
        {
            // A row of an effect already counted under this scope is ignored.
            let mut insert = tx.prepare_cached(
                "INSERT INTO usage_events (scope, id, action, at, amount, effect)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            )?;
            for scope in [RateScope::Agent, RateScope::Customer, RateScope::Task] {
                insert.execute(params![
                    scope_name(scope),
                    scope.id(base, task),
                    event.action.as_str(),
                    secs_to_sql(event.at),
                    event.amount,
                    event.effect,
                ])?;
            }
            tx.prepare_cached("DELETE FROM usage_events WHERE at < ?1")?
                .execute(params![secs_to_sql(now.saturating_sub(KEEP_SECS))])?;
        }
        tx.commit()
    }
}

/// Adds the `effect` column and its unique index to a table an older build made. In one
/// immediate transaction, so two processes opening the same old database do not both
/// add the column.
fn upgrade(conn: &mut Connection) -> Result<(), ConnectorError> {
    let fail = |e| super::sqlite_err(NAME, "upgrading the usage table")(e);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(&fail)?;
    let has_effect = tx
        .prepare("SELECT 1 FROM pragma_table_info('usage_events') WHERE name = 'effect'")
        .and_then(|mut s| s.exists([]))
        .map_err(&fail)?;
    if !has_effect {
        tx.execute_batch("ALTER TABLE usage_events ADD COLUMN effect TEXT")
            .map_err(&fail)?;
    }
    tx.execute_batch(EFFECT_INDEX).map_err(&fail)?;
    tx.commit().map_err(&fail)
}

pub(crate) fn scope_name(s: RateScope) -> &'static str {
    match s {
        RateScope::Agent => "agent",
        RateScope::Customer => "customer",
        RateScope::Task => "task",
    }
}

impl UsageCounters for SqliteUsage {
    fn count(&self, scope: RateScope, id: &str, action: Action, window_secs: u64, now: u64) -> u64 {
        let cutoff = secs_to_sql(now.saturating_sub(window_secs));
        let conn = lock(&self.conn);
        let n: Result<i64, _> = conn
            .prepare_cached(
                "SELECT count(*) FROM usage_events
                 WHERE scope = ?1 AND id = ?2 AND action = ?3 AND at > ?4",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![scope_name(scope), id, action.as_str(), cutoff],
                    |r| r.get(0),
                )
            });
        match n {
            Ok(n) => u64::try_from(n).unwrap_or(0),
            Err(e) => {
                // A failure never loosens a limit: it reads as "limit reached".
                tracing::error!(error = %e, "usage counters unreadable");
                u64::MAX
            }
        }
    }

    fn daily_total(&self, scope: RateScope, id: &str, action: Action, now: u64) -> i64 {
        let day_start = now - now % DAY_SECS;
        let conn = lock(&self.conn);
        let total: Result<i64, _> = conn
            .prepare_cached(
                "SELECT COALESCE(SUM(amount), 0) FROM usage_events
                 WHERE scope = ?1 AND id = ?2 AND action = ?3 AND at >= ?4 AND at < ?5",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![
                        scope_name(scope),
                        id,
                        action.as_str(),
                        secs_to_sql(day_start),
                        secs_to_sql(day_start + DAY_SECS)
                    ],
                    |r| r.get(0),
                )
            });
        total.unwrap_or_else(|e| {
            tracing::error!(error = %e, "usage totals unreadable");
            i64::MAX
        })
    }
}

impl UsageStore for SqliteUsage {
    fn record(
        &self,
        base: &BaseKey,
        task: &TaskKey,
        action: Action,
        amount: Option<i64>,
        now: u64,
    ) {
        let event = Event::plain(action, amount, now);
        if let Err(e) = self.insert(base, task, event, now) {
            tracing::error!(error = %e, "recording usage failed");
        }
    }

    fn record_effect(
        &self,
        base: &BaseKey,
        task: &TaskKey,
        action: Action,
        amount: Option<i64>,
        effect: Effect<'_>,
        now: u64,
    ) {
        let event = Event::of_effect(action, amount, effect);
        if let Err(e) = self.insert(base, task, event, now) {
            tracing::error!(error = %e, "recording usage failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use silo_keys::{Capabilities, BASE_AUDIENCE, TASK_AUDIENCE};

    fn keys(task: &str) -> (BaseKey, TaskKey) {
        let base = BaseKey {
            aud: BASE_AUDIENCE.into(),
            jti: "j".into(),
            iat: 0,
            exp: 1,
            agent: "a".into(),
            version: "1".into(),
            folder_hash: "sha256:0".into(),
            caps: Capabilities::default(),
        };
        let t = TaskKey {
            aud: TASK_AUDIENCE.into(),
            jti: "k".into(),
            iat: 0,
            nbf: 0,
            exp: 1,
            task: task.into(),
            agent: "a".into(),
            customer: "c".into(),
            case: "x".into(),
            workflow: None,
            cell: "c-1".into(),
        };
        (base, t)
    }

    #[test]
    fn totals_and_counts_survive_a_reopen_and_span_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let day = 20_000 * DAY_SECS;
        {
            let u = SqliteUsage::open(&path).unwrap();
            let (b, t1) = keys("t1");
            u.record(&b, &t1, Action::Refund, Some(300), day + 10);
        }
        let u = SqliteUsage::open(&path).unwrap();
        let (b, t2) = keys("t2");
        u.record(&b, &t2, Action::Refund, Some(200), day + 20);
        assert_eq!(
            u.daily_total(RateScope::Agent, "a", Action::Refund, day + 30),
            500
        );
        assert_eq!(
            u.daily_total(RateScope::Task, "t2", Action::Refund, day + 30),
            200
        );
        assert_eq!(
            u.daily_total(RateScope::Agent, "a", Action::Refund, day + DAY_SECS),
            0
        );
        assert_eq!(
            u.count(RateScope::Customer, "c", Action::Refund, 15, day + 30),
            1
        );
        assert_eq!(
            u.count(RateScope::Customer, "c", Action::Refund, 60, day + 30),
            2
        );
        assert_eq!(
            u.count(RateScope::Customer, "c", Action::EmailSend, 60, day + 30),
            0
        );
    }

    #[test]
    fn an_effect_is_counted_once_per_scope_at_its_own_time() {
        let dir = tempfile::tempdir().unwrap();
        let u = SqliteUsage::open(&dir.path().join("m.db")).unwrap();
        let day = 20_000 * DAY_SECS;
        let (b, t1) = keys("t1");
        let paid = Effect {
            id: "rf_1",
            at: day + 10,
        };
        u.record_effect(&b, &t1, Action::Refund, Some(300), paid, day + 10);
        // The replay (later, even from another task) records nothing new.
        u.record_effect(&b, &t1, Action::Refund, Some(300), paid, day + 50);
        let (_, t2) = keys("t2");
        u.record_effect(&b, &t2, Action::Refund, Some(300), paid, day + 60);
        // Another refund, and plain usage without an effect, count as before.
        let other = Effect {
            id: "rf_2",
            at: day + 70,
        };
        u.record_effect(&b, &t2, Action::Refund, Some(100), other, day + 70);
        u.record(&b, &t2, Action::Refund, Some(5), day + 80);
        u.record(&b, &t2, Action::Refund, Some(5), day + 80);
        assert_eq!(
            u.daily_total(RateScope::Agent, "a", Action::Refund, day + 90),
            410
        );
        assert_eq!(
            u.daily_total(RateScope::Task, "t2", Action::Refund, day + 90),
            110
        );
        assert_eq!(
            u.count(RateScope::Agent, "a", Action::Refund, 100, day + 90),
            4
        );
        // Counted late, at the effect's own time: outside a window that starts after it.
        let late = Effect {
            id: "rf_3",
            at: day + 20,
        };
        u.record_effect(&b, &t1, Action::Refund, Some(1), late, day + 90);
        assert_eq!(
            u.count(RateScope::Agent, "a", Action::Refund, 60, day + 90),
            3
        );
        assert_eq!(
            u.count(RateScope::Agent, "a", Action::Refund, 75, day + 90),
            4
        );
        // The same id under another action is another effect.
        u.record_effect(&b, &t1, Action::EmailSend, None, paid, day + 90);
        assert_eq!(
            u.count(RateScope::Agent, "a", Action::EmailSend, 100, day + 90),
            1
        );
    }

    /// The table as builds before effect ids made it.
    const OLD_SCHEMA: &str = "CREATE TABLE usage_events (
        scope TEXT NOT NULL,
        id TEXT NOT NULL,
        action TEXT NOT NULL,
        at INTEGER NOT NULL,
        amount INTEGER
    );
    CREATE INDEX usage_lookup ON usage_events (scope, id, action, at);
    INSERT INTO usage_events VALUES ('agent', 'a', 'refund', 1728000010, 250);";

    #[test]
    fn a_table_of_an_older_build_is_upgraded_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(OLD_SCHEMA)
            .unwrap();
        let day = 20_000 * DAY_SECS;
        let (b, t) = keys("t1");
        let paid = Effect {
            id: "rf_1",
            at: day + 20,
        };
        {
            let u = SqliteUsage::open(&path).unwrap();
            assert_eq!(
                u.daily_total(RateScope::Agent, "a", Action::Refund, day + 30),
                250
            );
            u.record_effect(&b, &t, Action::Refund, Some(100), paid, day + 20);
            u.record_effect(&b, &t, Action::Refund, Some(100), paid, day + 25);
        }
        // Opening again (the column and index are there now) changes nothing.
        let u = SqliteUsage::open(&path).unwrap();
        u.record_effect(&b, &t, Action::Refund, Some(100), paid, day + 30);
        assert_eq!(
            u.daily_total(RateScope::Agent, "a", Action::Refund, day + 30),
            350
        );
        let conn = rusqlite::Connection::open(&path).unwrap();
        let unique: i64 = conn
            .query_row(
                "SELECT \"unique\" FROM pragma_index_list('usage_events')
                 WHERE name = 'usage_effect'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(unique, 1);
    }
}
