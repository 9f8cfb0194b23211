//! Shared fixtures: a routing table, two workflows, a scripted dispatcher and a kernel on
//! a fresh store of the backend the test root names ([`crate::BACKEND`]): a SQLite file, or
//! a fresh PostgreSQL database on the test process's throw-away server. Tests name a store
//! by a path in their temporary folder; on PostgreSQL each distinct path is a database of
//! its own, so opening the same path again is a restart on the same data.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::json;
use silo_router::{
    AgentResult, DispatchError, Dispatcher, Event, Kernel, KernelConfig, PgStore, RoutingTable,
    Signal, SqliteStore, TaskId, TaskSpec, TaskView, Workflow,
};

/// Which store a test root runs the suite on (each root names one of them).
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// [`SqliteStore`] on a file.
    Sqlite,
    /// [`PgStore`] on a fresh database.
    Postgres,
}

pub use silo_router::AnyStore;

/// The PostgreSQL database standing for `path`: made fresh on first use.
pub fn database_at(path: &Path) -> silo_postgres::Database {
    static URLS: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    let url = {
        let mut urls = URLS.lock().unwrap();
        let urls = urls.get_or_insert_with(HashMap::new);
        urls.entry(path.to_owned())
            .or_insert_with(|| {
                silo_postgres::Throwaway::shared()
                    .unwrap()
                    .fresh_database()
                    .unwrap()
            })
            .clone()
    };
    silo_postgres::Database::connect_with(&url, 4).unwrap()
}

/// A store on `path` (a file, or the database standing for it).
pub fn store_at(path: &Path) -> AnyStore {
    match crate::BACKEND {
        Backend::Sqlite => AnyStore::Sqlite(SqliteStore::open(path).unwrap()),
        Backend::Postgres => {
            AnyStore::Postgres(Box::new(PgStore::open(&database_at(path)).unwrap()))
        }
    }
}

/// [`store_at`] claiming jobs as `holder`.
pub fn store_with_holder(path: &Path, holder: &str) -> AnyStore {
    match store_at(path) {
        AnyStore::Sqlite(s) => AnyStore::Sqlite(s.with_holder(holder)),
        AnyStore::Postgres(s) => AnyStore::Postgres(Box::new(s.with_holder(holder).unwrap())),
    }
}

/// Runs one SQL statement on the store at `path` from outside the store; the error text
/// when the database refuses it.
pub fn raw_execute(path: &Path, sql: &str) -> Result<u64, String> {
    match crate::BACKEND {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute(sql, [])
                .map(|n| n as u64)
                .map_err(|e| e.to_string())
        }
        Backend::Postgres => {
            let mut client = database_at(path).client().unwrap();
            client.execute(sql, &[]).map_err(|e| match e.as_db_error() {
                Some(db) => db.message().to_owned(),
                None => e.to_string(),
            })
        }
    }
}

pub const ROUTING: &str = "
agents:
  refund-agent:   { escalate: [manager-agent, human], human: support-humans }
  manager-agent:  { escalate: [support-humans] }
  intent-agent:   {}
  order-agent:    {}
  response-agent: {}
  ping-agent:     {}
  pong-agent:     {}
  support-humans: { type: human }
  human-agent:    { type: human }
routes:
  refund: { agent: refund-agent }
  incoming: { workflow: incoming-message }
default_human: support-humans
";

pub const INCOMING: &str = "
name: incoming-message
stages:
  - agent: intent-agent
    302: { order-agent: \"order questions\" }
    301: { support-workflow: \"complex cases\" }
    max_redirects: 3
  - agent: response-agent
    timeout: 45s
on_error: { 400: human-agent, 500: abort }
";

pub const SUPPORT: &str = "
name: support-workflow
stages:
  - agent: manager-agent
";

pub fn routing() -> RoutingTable {
    let workflows = vec![
        Workflow::from_yaml(INCOMING).unwrap(),
        Workflow::from_yaml(SUPPORT).unwrap(),
    ];
    RoutingTable::from_yaml(ROUTING, workflows).unwrap()
}

/// Answers from a per-agent script, `done` when the script is empty; records every call.
#[derive(Debug, Default)]
pub struct Scripted {
    script: Mutex<BTreeMap<String, VecDeque<Result<AgentResult, DispatchError>>>>,
    pub calls: Mutex<Vec<(TaskId, String, String)>>,
    /// Task key ids revoked through the dispatcher.
    pub revoked: Mutex<Vec<String>>,
    /// Signals sent to cells.
    pub signals: Mutex<Vec<(String, Signal)>>,
    /// The time limit of every turn, in order.
    pub timeouts: Mutex<Vec<Option<u64>>>,
    /// What `turn_limit_ms` answers (an agent's own time limit).
    pub agent_limit_ms: Mutex<Option<u64>>,
}

impl Scripted {
    pub fn then(&self, agent: &str, result: AgentResult) -> &Self {
        self.then_err(agent, Ok(result))
    }

    /// The next turn of `agent` gives no answer for now (its cell is still running, or
    /// its host is gone): the job keeps its lease.
    pub fn no_answer(&self, agent: &str, why: &str) -> &Self {
        self.then_err(
            agent,
            Err(DispatchError::Transient {
                agent: agent.to_owned(),
                reason: why.to_owned(),
            }),
        )
    }

    pub fn then_err(&self, agent: &str, result: Result<AgentResult, DispatchError>) -> &Self {
        self.script
            .lock()
            .unwrap()
            .entry(agent.to_owned())
            .or_default()
            .push_back(result);
        self
    }

    /// (task, agent) of every call, in order.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(t, a, _)| (t.0.clone(), a.clone()))
            .collect()
    }

    /// The task key ids handed out, in order.
    pub fn jtis(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.2.clone())
            .collect()
    }
}

impl Dispatcher for Scripted {
    fn turn_limit_ms(&self, _agent: &str) -> Option<u64> {
        *self.agent_limit_ms.lock().unwrap()
    }

    fn revoke(&self, jti: &str) -> Result<(), DispatchError> {
        self.revoked.lock().unwrap().push(jti.to_owned());
        Ok(())
    }

    fn signal(&self, cell: &str, signal: Signal) -> Result<bool, DispatchError> {
        self.signals.lock().unwrap().push((cell.to_owned(), signal));
        Ok(true)
    }

    fn dispatch(&self, task: &TaskView, agent: &str) -> Result<AgentResult, DispatchError> {
        let jti = task.dispatch.as_ref().unwrap().task_key_jti.clone();
        self.timeouts
            .lock()
            .unwrap()
            .push(task.dispatch.as_ref().unwrap().timeout_ms);
        self.calls
            .lock()
            .unwrap()
            .push((task.id.clone(), agent.to_owned(), jti));
        let next = self
            .script
            .lock()
            .unwrap()
            .get_mut(agent)
            .and_then(VecDeque::pop_front);
        next.unwrap_or_else(|| Ok(done(&format!("{agent} done"))))
    }
}

pub type TestKernel = Kernel<AnyStore, Scripted>;

pub fn kernel_at(path: &Path, config: KernelConfig) -> TestKernel {
    Kernel::new(store_at(path), Scripted::default(), routing(), config)
}

pub fn kernel(dir: &tempfile::TempDir) -> TestKernel {
    kernel_at(&dir.path().join("router.db"), KernelConfig::default())
}

pub fn spec(entry: &str) -> TaskSpec {
    TaskSpec {
        entry: entry.to_owned(),
        customer: "cust-1".into(),
        case: "case-1".into(),
        input: json!({"message": "where is my refund?"}),
        privacy_scope: None,
    }
}

pub fn done(summary: &str) -> AgentResult {
    AgentResult::Done {
        summary: summary.to_owned(),
        assets: Vec::new(),
    }
}

pub fn escalate(target: &str) -> AgentResult {
    AgentResult::Escalate {
        target: target.to_owned(),
        reason: "over my limit".into(),
        recommendation: "refund 80 USD".into(),
    }
}

pub fn soft(target: &str) -> AgentResult {
    AgentResult::SoftRedirect {
        target: target.to_owned(),
        summary: format!("ask {target}"),
    }
}

pub fn hard(target: &str) -> AgentResult {
    AgentResult::HardRedirect {
        target: target.to_owned(),
        summary: format!("over to {target}"),
    }
}

/// The task's event kinds, in order, as their JSON tags.
pub fn kinds(kernel: &TestKernel, task: &TaskId) -> Vec<String> {
    kernel
        .events(task)
        .unwrap()
        .iter()
        .map(|e| {
            serde_json::to_value(e.event.kind())
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The task's events.
pub fn events(kernel: &TestKernel, task: &TaskId) -> Vec<Event> {
    kernel
        .events(task)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect()
}
