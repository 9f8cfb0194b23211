//! The router's events in the audit log: every event the store appended (task created,
//! dispatched with a task key, results, escalations, hand-overs to people, signals, key
//! revocations) becomes one audit entry, action `router.event`, with the router's sequence
//! number, so `silo audit` is the one flight recorder of a task, cells and router alike.
//!
//! The store's own transaction makes a state change and its event durable together; the
//! recorder then copies events into the audit log in order, exactly once: it reads the
//! last router entry's sequence number back from the audit log under a lock file, so a
//! crash between the two only delays the copy, and two processes on one data directory
//! never copy an event twice. On a shared PostgreSQL database the lock is an advisory lock
//! there instead ([`AuditRecorder::with_database_lock`]), so routers on several machines
//! never copy an event twice either. Free text (summaries, reasons) stays out: agents write it
//! and it may hold what they guessed; names, targets, codes and key ids go in.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::fcntl::{Flock, FlockArg};
use serde_json::{json, Map, Value};
use silo_audit::{
    ActionName, Actor, AgentName, AuditLog, CustomerToken, Decision, Detail, EntryDraft, Query,
    TaskId as AuditTaskId,
};

use crate::events::{AgentResult, Event};
use crate::store::{Store, StoredEvent};

/// The audit action of every router entry.
pub const ROUTER_ACTION: &str = "router.event";
/// The audit action of a transition the map refused.
pub const REFUSED_ACTION: &str = "router.refused";
/// Events copied per audit transaction.
const BATCH: usize = 256;

/// Copying to the audit log failed; the events stay in the store and a later sync copies
/// them.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The lock file.
    #[error("router audit lock `{path}`: {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The audit log failed.
    #[error("audit log: {0}")]
    Audit(String),
    /// The router store failed.
    #[error("router store: {0}")]
    Store(String),
}

/// Copies router events into an audit log.
#[derive(Debug, Clone)]
pub struct AuditRecorder {
    log: Arc<AuditLog>,
    lock: PathBuf,
    /// When set, the lock is [`silo_postgres::locks::ROUTER_RECORDER`] in this database
    /// rather than the file.
    database: Option<silo_postgres::Database>,
}

/// The held lock: the file's, or a database connection holding the advisory lock.
enum Held {
    File(#[allow(dead_code)] Flock<File>),
    Database(Box<silo_postgres::PooledClient>),
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Held::Database(client) = self {
            // The lock is the session's: release it before the connection goes back to
            // the pool (a process that dies releases it with its connection).
            let _ = client.execute(
                "SELECT pg_advisory_unlock($1)",
                &[&silo_postgres::locks::ROUTER_RECORDER],
            );
        }
    }
}

impl AuditRecorder {
    /// Records into `log`; `lock` is a file beside the router store that serialises
    /// recorders of one data directory.
    pub fn new(log: Arc<AuditLog>, lock: &Path) -> Self {
        Self {
            log,
            lock: lock.to_path_buf(),
            database: None,
        }
    }

    /// Records into `log` (which lives in `database`), serialised by an advisory lock in
    /// that database: for routers on several machines sharing it.
    pub fn with_database_lock(log: Arc<AuditLog>, database: silo_postgres::Database) -> Self {
        Self {
            log,
            lock: PathBuf::new(),
            database: Some(database),
        }
    }

    fn hold(&self) -> Result<Held, RecordError> {
        let lock_err = |source| RecordError::Lock {
            path: self.lock.clone(),
            source,
        };
        if let Some(db) = &self.database {
            let mut client = db.client().map_err(|e| RecordError::Store(e.to_string()))?;
            client
                .execute(
                    "SELECT pg_advisory_lock($1)",
                    &[&silo_postgres::locks::ROUTER_RECORDER],
                )
                .map_err(|e| RecordError::Store(format!("taking the recorder lock: {e}")))?;
            return Ok(Held::Database(Box::new(client)));
        }
        let file: File = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(lock_err)?;
        let guard = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| lock_err(std::io::Error::from(errno)))?;
        Ok(Held::File(guard))
    }

    /// The audit log.
    pub fn log(&self) -> &AuditLog {
        &self.log
    }

    /// Copies every event not yet in the audit log; returns how many.
    pub fn sync<S: Store>(&self, store: &S) -> Result<usize, RecordError> {
        let _held = self.hold()?;
        let mut after = self.last_recorded()?;
        let mut copied = 0;
        loop {
            let events = store
                .events_after(after, None, BATCH)
                .map_err(|e| RecordError::Store(e.to_string()))?;
            let Some(last) = events.last() else {
                return Ok(copied);
            };
            after = last.seq;
            let customers = self.customers(store, &events)?;
            let drafts = events
                .iter()
                .map(|e| draft(e, customers.get(e.task.as_str()).map(String::as_str)))
                .collect::<Result<Vec<_>, _>>()?;
            copied += drafts.len();
            self.log
                .append_batch(drafts)
                .map_err(|e| RecordError::Audit(e.to_string()))?;
        }
    }

    /// Records a refused transition (an operator's signal or answer the task's state does
    /// not accept): action `router.refused`, decision deny, rule `transition`.
    pub fn refused(&self, error: &crate::transition::TransitionError) -> Result<(), RecordError> {
        let bad = |e: String| RecordError::Audit(e);
        let mut facts = Map::new();
        let task = match error {
            crate::transition::TransitionError::Illegal { task, state, event } => {
                facts.insert("state".into(), json!(state));
                facts.insert("event".into(), json!(event));
                task
            }
            crate::transition::TransitionError::NotACreation { task, event } => {
                facts.insert("event".into(), json!(event));
                task
            }
        };
        let mut draft = EntryDraft::new(
            Actor::new("router").map_err(|e| bad(e.to_string()))?,
            ActionName::new(REFUSED_ACTION).map_err(|e| bad(e.to_string()))?,
            Decision::Deny,
        )
        .rule(silo_audit::RuleId::new("transition").map_err(|e| bad(e.to_string()))?)
        .detail(Detail::new(Value::Object(facts)).map_err(|e| bad(e.to_string()))?);
        if let Ok(t) = AuditTaskId::new(task.as_str()) {
            draft = draft.task(t);
        }
        self.log
            .append(draft)
            .map(|_| ())
            .map_err(|e| RecordError::Audit(e.to_string()))
    }

    /// The router sequence number of the last router entry in the audit log (0: none).
    fn last_recorded(&self) -> Result<u64, RecordError> {
        let action =
            ActionName::new(ROUTER_ACTION).map_err(|e| RecordError::Audit(e.to_string()))?;
        let query = Query {
            action: Some(action),
            limit: Some(1),
            ..Query::all()
        };
        let last = self
            .log
            .query(&query)
            .map_err(|e| RecordError::Audit(e.to_string()))?;
        Ok(last
            .last()
            .and_then(|e| e.detail.get("router_seq"))
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }

    fn customers<S: Store>(
        &self,
        store: &S,
        events: &[StoredEvent],
    ) -> Result<BTreeMap<String, String>, RecordError> {
        let mut out = BTreeMap::new();
        for e in events {
            if out.contains_key(e.task.as_str()) {
                continue;
            }
            let customer = match &e.event {
                Event::TaskCreated { spec, .. } => Some(spec.customer.clone()),
                _ => store
                    .get(&e.task)
                    .map_err(|err| RecordError::Store(err.to_string()))?
                    .map(|t| t.spec.customer),
            };
            if let Some(c) = customer {
                out.insert(e.task.as_str().to_owned(), c);
            }
        }
        Ok(out)
    }
}

fn result_facts(result: &AgentResult, facts: &mut Map<String, Value>) {
    facts.insert("result".into(), json!(result.kind()));
    if let Some(code) = result.code() {
        facts.insert("code".into(), json!(code));
    }
    match result {
        AgentResult::HardRedirect { target, .. }
        | AgentResult::SoftRedirect { target, .. }
        | AgentResult::Escalate { target, .. } => {
            facts.insert("target".into(), json!(target));
        }
        _ => {}
    }
}

/// The audit entry of one router event.
fn draft(e: &StoredEvent, customer: Option<&str>) -> Result<EntryDraft, RecordError> {
    let bad = |what: &str, err: String| RecordError::Audit(format!("{what}: {err}"));
    let kind = serde_json::to_value(e.event.kind())
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut facts = Map::new();
    facts.insert("router_seq".into(), json!(e.seq));
    facts.insert("event".into(), json!(kind));
    facts.insert("at".into(), json!(e.at));
    let mut agent = None;
    match &e.event {
        Event::TaskCreated { spec, run, shadow } => {
            facts.insert("entry".into(), json!(spec.entry));
            facts.insert("case".into(), json!(spec.case));
            if let Some(w) = &run.workflow {
                facts.insert("workflow".into(), json!(w));
            }
            facts.insert("shadow".into(), json!(shadow));
            agent = Some(run.agent.clone());
        }
        Event::Dispatched {
            agent: a,
            cell,
            task_key_jti,
            timeout_ms,
        } => {
            facts.insert("cell".into(), json!(cell));
            facts.insert("task_key_jti".into(), json!(task_key_jti));
            if let Some(t) = timeout_ms {
                facts.insert("timeout_ms".into(), json!(t));
            }
            agent = Some(a.clone());
        }
        Event::AgentResult {
            agent: a,
            result,
            shadow,
        } => {
            result_facts(result, &mut facts);
            facts.insert("shadow".into(), json!(shadow));
            agent = Some(a.clone());
        }
        Event::Routed { agent: a, run, .. } => {
            facts.insert("stage".into(), json!(run.stage));
            facts.insert("redirects".into(), json!(run.redirects));
            agent = Some(a.clone());
        }
        Event::Escalated {
            from,
            target,
            human,
            ..
        } => {
            facts.insert("from".into(), json!(from));
            facts.insert("target".into(), json!(target));
            facts.insert("human".into(), json!(human));
            agent = Some(target.clone());
        }
        Event::HumanAssigned { operator } => {
            facts.insert("operator".into(), json!(operator));
        }
        Event::HumanResult {
            operator,
            result,
            diverged,
        } => {
            facts.insert("operator".into(), json!(operator));
            result_facts(result, &mut facts);
            if let Some(d) = diverged {
                facts.insert("diverged".into(), json!(d));
            }
        }
        Event::KeyRevoked { jti } => {
            facts.insert("task_key_jti".into(), json!(jti));
        }
        Event::Signal { signal } => {
            facts.insert(
                "signal".into(),
                serde_json::to_value(signal).unwrap_or(Value::Null),
            );
        }
        Event::Completed { .. }
        | Event::Failed { .. }
        | Event::Aborted { .. }
        | Event::TimedOut => {}
    }
    let actor = Actor::new("router").map_err(|err| bad("actor", err.to_string()))?;
    let action = ActionName::new(ROUTER_ACTION).map_err(|err| bad("action", err.to_string()))?;
    let detail = Detail::new(Value::Object(facts)).map_err(|err| bad("detail", err.to_string()))?;
    let mut draft = EntryDraft::new(actor, action, Decision::NotApplicable).detail(detail);
    if let Ok(task) = AuditTaskId::new(e.task.as_str()) {
        draft = draft.task(task);
    }
    if let Some(a) = agent.and_then(|a| AgentName::new(a).ok()) {
        draft = draft.agent(a);
    }
    if let Some(c) = customer.and_then(|c| CustomerToken::new(c).ok()) {
        draft = draft.customer(c);
    }
    Ok(draft)
}
