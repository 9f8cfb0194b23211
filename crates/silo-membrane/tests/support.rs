//! Shared fixtures: a key store, an audit log, services, a membrane on a temp socket, key
//! minting helpers and a small keep-alive HTTP/1.1 client over a Unix socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use silo_audit::{AuditLog, Entry, Query};
use silo_keys::{
    new_jti, now_unix, BaseKey, Capabilities, KeyStore, Minter, TaskKey, BASE_AUDIENCE,
    TASK_AUDIENCE,
};
use silo_membrane::connectors::outbox::{Channel, DirOutbox, OutboundMessage};
use silo_membrane::{CellBinding, Connectors, Limits, Membrane, Services};
use silo_policy::PolicySet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

pub const AGENT: &str = "refund-agent";
pub const CUSTOMER: &str = "cus_001";
/// Another customer of the seed data.
pub const OTHER_CUSTOMER: &str = "cus_002";
/// The seed data's case of [`CUSTOMER`].
pub const CASE: &str = "case_001";

/// Templates every fixture's agent folder holds.
pub const TEMPLATES: [(&str, &str); 3] = [
    (
        "refund_issued.email",
        "Subject: Your refund {{vars.refund_id}}\n\nDear {{customer.name}},\nwe refunded {{vars.amount}}. {{vars.note}}\n",
    ),
    ("refund_issued.sms", "Hi {{customer.first_name}}, refund {{vars.refund_id}} is on its way."),
    ("internal_memo.email", "Subject: memo\n\n{{vars.text}}"),
];
pub const HASH: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// Where a fixture's services keep their state; each test binary's root sets
/// `crate::BACKEND` (`all`: embedded SQLite, `all_postgres`: the same tests on PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code, reason = "each test binary builds one of the variants")]
pub enum Backend {
    /// `Services::embedded`: SQLite under the fixture's folder.
    Embedded,
    /// `Services::postgres` on a fresh database of the throw-away server.
    Postgres,
}

/// A fresh, migrated database on the test process's throw-away PostgreSQL server. Call it
/// off the async runtime (see [`off_runtime`]). One handle of each is kept until the
/// process ends: the synchronous client closes a connection by blocking on a runtime of
/// its own, which panics on a thread driving the test's runtime, where a fixture's last
/// `Arc<Services>` is often dropped.
pub fn fresh_postgres() -> silo_postgres::Database {
    let url = silo_postgres::Throwaway::shared()
        .unwrap()
        .fresh_database()
        .unwrap();
    let db = silo_postgres::Database::connect(&url).unwrap();
    keep_open(&db);
    db
}

/// Keeps a handle of `db` (its pool) until the process ends (see [`fresh_postgres`]).
pub fn keep_open(db: &silo_postgres::Database) {
    static KEEP: std::sync::Mutex<Vec<silo_postgres::Database>> = std::sync::Mutex::new(Vec::new());
    KEEP.lock().unwrap().push(db.clone());
}

/// Runs `f` on a thread outside any async runtime (the synchronous PostgreSQL client
/// runs one of its own) and returns what it returns.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: KeyStore,
    pub minter: Minter,
    pub services: Arc<Services>,
    pub membranes: Vec<Membrane>,
}

impl Fixture {
    /// A fixture with one membrane for cell `c-000000000001` and default limits.
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Self {
        let mut f = Self::bare();
        f.add_cell("c-000000000001", limits);
        f
    }

    /// Key store, audit log and services, no membrane yet.
    pub fn bare() -> Self {
        Self::bare_with(PolicySet::capabilities_only(), |s| s)
    }

    /// [`Self::bare`] with `policy`, and the services adjusted by `tweak`.
    pub fn bare_with(policy: PolicySet, tweak: impl FnOnce(Services) -> Services) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::init(&dir.path().join("keys"), now_unix() - 100).unwrap();
        let minter = store.minter().unwrap();
        let audit = Arc::new(AuditLog::open(dir.path()).unwrap());
        let verifier = store.verifier().unwrap();
        let services = match crate::BACKEND {
            Backend::Embedded => Services::embedded(dir.path(), verifier, policy, audit).unwrap(),
            Backend::Postgres => {
                let vault = silo_pii::Vault::open(&dir.path().join("vault")).unwrap();
                off_runtime(|| {
                    let db = fresh_postgres();
                    Services::postgres(&db, dir.path(), verifier, policy, audit, vault).unwrap()
                })
            }
        };
        let services = Arc::new(tweak(services));
        Self {
            dir,
            store,
            minter,
            services,
            membranes: Vec::new(),
        }
    }

    /// The agent folder (with [`TEMPLATES`]) every membrane of this fixture serves.
    pub fn agent_dir(&self) -> PathBuf {
        let dir = self.dir.path().join("agent");
        let templates = dir.join("templates");
        if !templates.exists() {
            std::fs::create_dir_all(&templates).unwrap();
            for (name, text) in TEMPLATES {
                std::fs::write(templates.join(name), text).unwrap();
            }
        }
        dir
    }

    /// Binds a membrane for `cell` at `<dir>/<cell>.sock`; returns the socket path.
    pub fn add_cell(&mut self, cell: &str, limits: Limits) -> PathBuf {
        let path = self.dir.path().join(format!("{cell}.sock"));
        let m = Membrane::bind(
            &path,
            CellBinding::new(cell)
                .unwrap()
                .with_agent_dir(self.agent_dir()),
            self.services.clone(),
            limits,
        )
        .unwrap();
        self.membranes.push(m);
        path
    }

    pub fn socket(&self) -> &Path {
        self.membranes[0].socket_path()
    }

    pub fn cell(&self) -> &str {
        self.membranes[0].cell_id()
    }

    pub fn base_key(&self) -> String {
        self.minter.mint_base(&base_claims()).unwrap()
    }

    pub fn task_key(&self, task: &str) -> String {
        self.minter
            .mint_task(&task_claims(task, self.cell()))
            .unwrap()
    }

    /// A client holding this fixture's default keys (task `task-1`).
    pub async fn client(&self) -> Client {
        Client::connect(
            self.socket(),
            Some(self.base_key()),
            Some(self.task_key("task-1")),
        )
        .await
    }

    /// A client holding this fixture's default base key and a task key for `customer`.
    pub async fn client_for(&self, task: &str, customer: &str) -> Client {
        let mut claims = task_claims(task, self.cell());
        claims.customer = customer.into();
        Client::connect(
            self.socket(),
            Some(self.base_key()),
            Some(self.minter.mint_task(&claims).unwrap()),
        )
        .await
    }

    /// Every message the embedded outbox holds for `channel`.
    pub fn outbox(&self, channel: Channel) -> Vec<OutboundMessage> {
        DirOutbox::new(&Connectors::outbox_dir(self.dir.path()))
            .messages(channel)
            .unwrap()
    }

    pub fn audit_entries(&self) -> Vec<Entry> {
        self.services.audit().query(&Query::all()).unwrap()
    }
}

pub fn base_claims() -> BaseKey {
    let now = now_unix();
    BaseKey {
        aud: BASE_AUDIENCE.into(),
        jti: new_jti().unwrap(),
        iat: now - 10,
        exp: now + 3600,
        agent: AGENT.into(),
        version: "1.0.0".into(),
        folder_hash: HASH.into(),
        caps: Capabilities::from_json(
            r#"{"refund":{"max_cents":50000,"currency":"USD"},"escalate":["manager","human"],
                "data.read":{"fields":["id","name","email","phone","tier","balance_cents","currency","orders","history"]},
                "data.write":{"ops":["case.add_note"]},
                "email.send":{"templates":["refund_issued"]},
                "sms.send":{"templates":["refund_issued"]}}"#,
        )
        .unwrap(),
    }
}

pub fn task_claims(task: &str, cell: &str) -> TaskKey {
    let now = now_unix();
    TaskKey {
        aud: TASK_AUDIENCE.into(),
        jti: new_jti().unwrap(),
        iat: now - 10,
        nbf: now - 10,
        exp: now + 600,
        task: task.into(),
        agent: AGENT.into(),
        customer: CUSTOMER.into(),
        case: CASE.into(),
        workflow: None,
        cell: cell.into(),
    }
}

/// A minimal keep-alive HTTP/1.1 client: enough to drive the membrane and to misbehave.
pub struct Client {
    pub stream: UnixStream,
    pub base: Option<String>,
    pub task: Option<String>,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The error code of an error body, or `""`.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Client {
    pub async fn connect(path: &Path, base: Option<String>, task: Option<String>) -> Self {
        Self {
            stream: UnixStream::connect(path).await.unwrap(),
            base,
            task,
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, b"").await
    }

    pub async fn post(&mut self, path: &str, body: &Value) -> Answer {
        self.send("POST", path, body.to_string().as_bytes()).await
    }

    pub async fn send(&mut self, method: &str, path: &str, body: &[u8]) -> Answer {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: silo\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        if let Some(b) = &self.base {
            head.push_str(&format!("x-silo-base-key: {b}\r\n"));
        }
        if let Some(t) = &self.task {
            head.push_str(&format!("x-silo-task-key: {t}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes).await.unwrap();
        self.read_answer().await
    }

    /// Reads one response (headers, then `content-length` bytes of JSON).
    pub async fn read_answer(&mut self) -> Answer {
        let mut buf = Vec::new();
        let header_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before a response");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..header_end].to_vec()).unwrap();
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        while buf.len() < header_end + len {
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-body");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = &buf[header_end..header_end + len];
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body).unwrap()
        };
        Answer { status, body }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A refund body.
pub fn refund(amount: Value, key: &str) -> Value {
    serde_json::json!({
        "amount_cents": amount,
        "currency": "USD",
        "reason": "late delivery",
        "idempotency_key": key,
    })
}
