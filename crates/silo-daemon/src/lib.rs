//! silo-daemon owns `silo serve`: the router kernel running as a long-lived process.
//! Worker threads step the durable queue (each claimed job an agent turn in a real cell,
//! several cells at once), and a small HTTP/1.1 + JSON API on a localhost address takes
//! and shows tasks. A restart resumes in-flight work from the store (leased jobs are
//! claimed again when their lease runs out).
//!
//! The API (JSON bodies; every refusal is a 4xx with `{"error": "..."}`):
//! - `POST /v1/tasks` `{"entry", "customer", "case", "input"}`: submit (201, `{"id"}`);
//!   the input is tokenised first.
//! - `GET /v1/tasks?state=&agent=&customer=&limit=&after=&before=`: tasks, newest first
//!   (`limit` 1–1000, default 100; `after`/`before` are task sequence numbers).
//! - `GET /v1/tasks/{id}`, `GET /v1/tasks/{id}/events`: a task, its event log.
//! - `POST /v1/tasks/{id}/signal` `{"signal": "stop" | "cont" | "kill"}`: applied through
//!   the transition map, then to the task's live cell if it has one; answers
//!   `{"task", "cell_signalled"}` (404 unknown task, 409 when its state refuses the signal).
//! - `GET /v1/events?after=SEQ&task=ID`: the router event log as Server-Sent Events
//!   (`id: <seq>`, `event: <kind>`, `data: <stored event>`), from after `SEQ` (else the
//!   `Last-Event-ID` header, else the start), then each new event as it is appended; the
//!   connection stays open.
//! - `GET /v1/inbox/{pool}`: tasks waiting in a human pool's inbox.
//! - `GET /v1/agents`: the routing table's agents, each with `online`;
//!   `POST /v1/agents/{name}/offline` and `/online`: kept in the store, so every router
//!   on it (and `silo agent offline` from another process) agrees at the next dispatch.
//!
//! - `GET /metrics`: Prometheus text format (`metrics.rs`, docs/OBSERVABILITY.md) —
//!   `silo_tasks{state}`, `silo_human_queue_depth{pool}`, `silo_router_events_total{kind}`
//!   (escalations included), `silo_membrane_decisions_total{action,result,rule}` and
//!   `silo_llm_tokens_total{kind}`, counted in the shared stores, so every router on a
//!   shared database reports the same; and this process's own histograms
//!   (`silo_cell_spawn_seconds`, `silo_membrane_request_seconds{route}`).
//!
//! Requests a web page could send are refused first: a non-loopback `Host` (DNS
//! rebinding), any `Origin` header, a `POST` that is not `application/json`.
//!
//! It must never: answer a request a browser page could have made; store or log a task's
//! raw input (it is tokenised before `submit`); listen on a non-loopback address unless
//! told to; or hold a lock across an agent turn.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::channel::{Channel, Sender};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Value};
use silo_membrane::Intake;
use silo_router::{
    AnyStore, CellDispatcher, Kernel, KernelError, RoutingError, Signal, State, Store, StoreError,
    StoredEvent, TaskFilter, TaskId, TaskSpec,
};
use tokio::sync::watch;

mod metrics;

/// Largest request body.
const MAX_BODY: usize = 256 * 1024;
/// Largest request head (request line and headers) read; hyper's minimum is 8 KiB.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How long a request body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A client-supplied name cut short for an error message (an id may be 10,000 characters).
fn shorten(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}
/// How long an idle worker waits before looking at the queue again.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// How long an idle worker waits when other processes' work wakes it (PostgreSQL).
const IDLE_POLL_NOTIFIED: Duration = Duration::from_secs(1);
/// How long the wake-up listener blocks on the database at a time.
const WAKEUP_WAIT: Duration = Duration::from_secs(5);
/// How often an event stream looks at the store when this daemon appended nothing
/// (another process, such as `silo task take`, may have).
const STREAM_POLL: Duration = Duration::from_millis(250);
/// How long an event stream stays silent before it sends a comment, which also finds
/// out that a client has gone.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events read from the store at a time for a stream.
const STREAM_BATCH: usize = 256;

/// A response body: one JSON document, or an event stream.
type ApiBody = Either<Full<Bytes>, Channel<Bytes>>;

/// The kernel the daemon drives.
pub type DaemonKernel = Kernel<AnyStore, CellDispatcher>;

/// The daemon failed to start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The address is not loopback and `allow_remote` was not given.
    #[error("`{0}` is not a loopback address; the task API listens on localhost only")]
    NotLoopback(SocketAddr),
    /// Binding or running the server failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Everything the API and the workers share.
pub struct Daemon {
    kernel: Arc<DaemonKernel>,
    intake: Arc<Intake>,
    stop: Arc<AtomicBool>,
    /// Bumped after each step and each API write, to wake event streams.
    appended: Arc<watch::Sender<u64>>,
    /// Wakes idle workers when there may be new work (a submission, a signal, a step).
    work: Arc<WorkBell>,
    /// The audit log `GET /metrics` counts decisions and LLM tokens in, and the totals so
    /// far.
    audit: Option<Arc<(silo_audit::AuditLog, std::sync::Mutex<metrics::AuditTally>)>>,
}

/// A generation counter idle workers wait on, so new work starts at once instead of at
/// the next poll.
#[derive(Debug, Default)]
struct WorkBell {
    generation: std::sync::Mutex<u64>,
    rung: std::sync::Condvar,
}

impl WorkBell {
    fn ring(&self) {
        let mut g = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        *g = g.wrapping_add(1);
        self.rung.notify_all();
    }

    /// Waits up to `timeout` unless the bell rang since `seen`; returns the generation now.
    fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let g = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        if *g != seen {
            return *g;
        }
        let (g, _) = self
            .rung
            .wait_timeout(g, timeout)
            .unwrap_or_else(|e| e.into_inner());
        *g
    }

    fn now(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon").finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitRequest {
    /// An agent, route or workflow.
    entry: String,
    customer: String,
    case: String,
    #[serde(default)]
    input: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalRequest {
    signal: Signal,
}

/// Why a request got no answer: the client's mistake (with what to tell it), or ours.
#[derive(Debug)]
enum ApiError {
    Client(StatusCode, String),
    Internal(String),
}

impl ApiError {
    fn bad(message: impl Into<String>) -> Self {
        Self::Client(StatusCode::BAD_REQUEST, message.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<KernelError> for ApiError {
    fn from(e: KernelError) -> Self {
        let status = match &e {
            KernelError::UnknownTask(_)
            | KernelError::Store(StoreError::UnknownTask(_))
            | KernelError::Routing(RoutingError::UnknownAgent(_)) => StatusCode::NOT_FOUND,
            KernelError::Store(StoreError::Transition(_)) | KernelError::NotTakenBy { .. } => {
                StatusCode::CONFLICT
            }
            KernelError::Routing(_) => StatusCode::BAD_REQUEST,
            _ => return Self::Internal(e.to_string()),
        };
        Self::Client(status, e.to_string())
    }
}

type ApiResult = Result<Response<Full<Bytes>>, ApiError>;

/// A request's query parameters: each one the route takes, each at most once; an empty
/// value counts as not given.
#[derive(Debug)]
struct Query(BTreeMap<String, String>);

impl Query {
    fn parse(query: Option<&str>, takes: &[&str]) -> Result<Self, ApiError> {
        let mut found = BTreeMap::new();
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if !takes.contains(&key.as_ref()) {
                return Err(ApiError::bad(format!(
                    "unknown query parameter `{key}`; this route takes {}",
                    takes.join(", ")
                )));
            }
            if found.contains_key(key.as_ref()) {
                return Err(ApiError::bad(format!(
                    "query parameter `{key}` is given twice"
                )));
            }
            if !value.is_empty() {
                found.insert(key.into_owned(), value.into_owned());
            }
        }
        Ok(Self(found))
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.text(key)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::bad(format!(
                        "query parameter `{key}` must be a whole number, not `{v}`"
                    ))
                })
            })
            .transpose()
    }
}

fn now() -> u64 {
    silo_keys::now_unix()
}

impl Daemon {
    /// A daemon over `kernel`, tokenising inputs with `intake`.
    pub fn new(kernel: DaemonKernel, intake: Intake) -> Self {
        Self {
            kernel: Arc::new(kernel),
            intake: Arc::new(intake),
            stop: Arc::new(AtomicBool::new(false)),
            appended: Arc::new(watch::channel(0).0),
            work: Arc::default(),
            audit: None,
        }
    }

    /// `GET /metrics` also counts the membranes' decisions and the LLM tokens in `audit`
    /// (the log every membrane of the deployment writes).
    pub fn with_audit(mut self, audit: silo_audit::AuditLog) -> Self {
        self.audit = Some(Arc::new((audit, Default::default())));
        self
    }

    /// The kernel the workers step (for the operator console beside the API).
    pub fn kernel(&self) -> Arc<DaemonKernel> {
        self.kernel.clone()
    }

    /// A function that tells event streams and idle workers that something changed; for
    /// whatever else writes to the kernel in this process (the console).
    pub fn notifier(&self) -> Arc<dyn Fn() + Send + Sync> {
        let appended = self.appended.clone();
        let work = self.work.clone();
        Arc::new(move || {
            appended.send_modify(|n| *n = n.wrapping_add(1));
            work.ring();
        })
    }

    /// Something was written: event streams look again, idle workers look for work.
    fn wake_streams(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
        self.work.ring();
    }

    /// Starts `workers` threads stepping the queue; they run until the process ends.
    pub fn start_workers(&self, workers: usize) {
        // With the database's NOTIFY waking them (start_wakeups), idle workers only need to
        // look now and then for leases that ran out.
        let idle_poll = if self.kernel.store().can_wait_for_work() {
            IDLE_POLL_NOTIFIED
        } else {
            IDLE_POLL
        };
        for i in 0..workers.max(1) {
            let kernel = self.kernel.clone();
            let stop = self.stop.clone();
            let appended = self.appended.clone();
            let work = self.work.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("silo-worker-{i}"))
                .spawn(move || {
                    let mut seen = work.now();
                    while !stop.load(Ordering::Acquire) {
                        match kernel.step(now()) {
                            Ok(Some(report)) => {
                                tracing::info!(task = %report.job.task, "step done");
                                appended.send_modify(|n| *n = n.wrapping_add(1));
                                // A step may queue the next one (a decision, a hand-off).
                                work.ring();
                                seen = work.now();
                            }
                            // Idle: until new work is announced, or the next poll (jobs of
                            // other processes and expiring leases are only seen by polling).
                            Ok(None) => seen = work.wait(seen, idle_poll),
                            Err(e) => {
                                tracing::error!(error = %e, "kernel step failed");
                                std::thread::sleep(IDLE_POLL);
                            }
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a worker");
            }
        }
    }

    /// Wakes idle workers when another process queues work, when the store can tell
    /// (PostgreSQL's `LISTEN`; see [`AnyStore::wait_for_work`]); a no-op on SQLite, where
    /// workers poll. Runs until the process ends.
    pub fn start_wakeups(&self) {
        if !self.kernel.store().can_wait_for_work() {
            return;
        }
        let kernel = self.kernel.clone();
        let stop = self.stop.clone();
        let appended = self.appended.clone();
        let work = self.work.clone();
        let spawned = std::thread::Builder::new()
            .name("silo-wakeups".into())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    match kernel.store().wait_for_work(WAKEUP_WAIT) {
                        Ok(true) => {
                            appended.send_modify(|n| *n = n.wrapping_add(1));
                            work.ring();
                        }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "waiting for work from other processes");
                            std::thread::sleep(IDLE_POLL);
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the wake-up listener");
        }
    }

    /// Every `every`: takes over the jobs of job holders that are gone (a process on this
    /// machine that died, or — on PostgreSQL — any host whose database session ended, so
    /// its turns are dispatched again at once instead of when their lease runs out), and
    /// copies router events other processes left out of the audit log. Runs until the
    /// process ends.
    pub fn start_housekeeping(&self, every: Duration) {
        let kernel = self.kernel.clone();
        let stop = self.stop.clone();
        let work = self.work.clone();
        let spawned = std::thread::Builder::new()
            .name("silo-housekeeping".into())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    std::thread::sleep(every);
                    match kernel.release_abandoned() {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::warn!(jobs = n, "took over the jobs of a holder that is gone");
                            work.ring();
                        }
                        Err(e) => tracing::warn!(error = %e, "releasing abandoned jobs"),
                    }
                    if let Err(e) = kernel.record() {
                        tracing::warn!(error = %e, "copying router events to the audit log");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start housekeeping");
        }
    }

    /// Serves the task API on `addr` until the process ends; `ready` gets the bound address.
    pub async fn serve(
        self,
        addr: SocketAddr,
        ready: impl FnOnce(SocketAddr),
    ) -> Result<(), DaemonError> {
        if !addr.ip().is_loopback() {
            return Err(DaemonError::NotLoopback(addr));
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        ready(listener.local_addr()?);
        let shared = Arc::new(self);
        loop {
            let (stream, _) = listener.accept().await?;
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(shared.handle(req).await) }
                });
                // Headers beyond this are answered 431 (hyper's default allows ~400 KiB).
                if let Err(e) = http1::Builder::new()
                    .max_buf_size(MAX_HEADER_BYTES)
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %e, "api connection ended");
                }
            });
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<ApiBody> {
        let (parts, body) = req.into_parts();
        let body = match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect())
            .await
        {
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(_)) => {
                return whole(reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    json!({"error": "body too large"}),
                ))
            }
            // A client that announces a body and does not send it holds nothing for long.
            Err(_) => {
                return whole(reply(
                    StatusCode::REQUEST_TIMEOUT,
                    json!({"error": "the request body did not arrive in time"}),
                ))
            }
        };
        if let Some(refusal) = refuse_foreign(&parts) {
            return whole(refusal);
        }
        let path: Vec<String> = parts
            .uri
            .path()
            .trim_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect();
        let query = parts.uri.query().map(str::to_owned);
        if parts.method == Method::GET && path == ["v1", "events"] {
            // A reconnecting `EventSource` says where it got to.
            let resume = parts
                .headers
                .get("last-event-id")
                .map(|v| v.to_str().unwrap_or("?").to_owned());
            return self.events(query.as_deref(), resume).await;
        }
        // Store calls and tokenisation block (SQLite): keep them off the reactor.
        let answer = tokio::task::spawn_blocking(move || {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            self.route(&parts.method, &path, query.as_deref(), &body)
        })
        .await
        .unwrap_or_else(|_| internal("a request handler stopped"));
        whole(answer)
    }

    fn route(
        &self,
        method: &Method,
        path: &[&str],
        query: Option<&str>,
        body: &Bytes,
    ) -> Response<Full<Bytes>> {
        let store = self.kernel.store();
        let result: ApiResult = match (method, path) {
            (&Method::POST, ["v1", "tasks"]) => self.submit(body),
            (&Method::GET, ["v1", "tasks"]) => self.list(query),
            (&Method::GET, ["v1", "tasks", id]) => match store.get(&TaskId((*id).into())) {
                Ok(Some(t)) => Ok(reply(StatusCode::OK, json!(t))),
                Ok(None) => Err(ApiError::Client(
                    StatusCode::NOT_FOUND,
                    format!("task `{}` does not exist", shorten(id)),
                )),
                Err(e) => Err(e.into()),
            },
            (&Method::GET, ["v1", "tasks", id, "events"]) => {
                let task = TaskId((*id).into());
                match store.get(&task) {
                    Ok(Some(_)) => store
                        .events(Some(&task))
                        .map(|e| reply(StatusCode::OK, json!(e)))
                        .map_err(ApiError::from),
                    Ok(None) => Err(ApiError::Client(
                        StatusCode::NOT_FOUND,
                        format!("task `{}` does not exist", shorten(id)),
                    )),
                    Err(e) => Err(e.into()),
                }
            }
            (&Method::POST, ["v1", "tasks", id, "signal"]) => self.signal(id, body),
            (&Method::GET, ["v1", "inbox", pool]) => {
                if self.kernel.routing().known().humans.contains(*pool) {
                    store
                        .waiting_for(pool)
                        .map(|t| reply(StatusCode::OK, json!(t)))
                        .map_err(ApiError::from)
                } else {
                    Err(ApiError::Client(
                        StatusCode::NOT_FOUND,
                        format!("no human pool `{}`", shorten(pool)),
                    ))
                }
            }
            (&Method::GET, ["v1", "agents"]) => self.agents(),
            (&Method::GET, ["metrics"]) => {
                let audit = self.audit.as_deref().map(|(log, tally)| (log, tally));
                metrics::render(store, audit).map_err(ApiError::Internal)
            }
            (&Method::POST, ["v1", "agents", name, "offline"]) => self.set_online(name, false),
            (&Method::POST, ["v1", "agents", name, "online"]) => self.set_online(name, true),
            _ => Err(ApiError::Client(
                StatusCode::NOT_FOUND,
                "no such route".into(),
            )),
        };
        result.unwrap_or_else(|e| match e {
            ApiError::Client(status, message) => reply(status, json!({ "error": message })),
            ApiError::Internal(e) => internal(&e),
        })
    }

    fn submit(&self, body: &Bytes) -> ApiResult {
        let req: SubmitRequest =
            serde_json::from_slice(body).map_err(|e| ApiError::bad(e.to_string()))?;
        let scope = match silo_keys::new_jti() {
            Ok(j) => format!("run-{}", j.chars().take(16).collect::<String>()),
            Err(e) => return Err(ApiError::Internal(e.to_string())),
        };
        let input = self
            .intake
            .tokenise(&scope, &req.customer, &req.input)
            .map_err(|e| ApiError::bad(e.to_string()))?;
        let spec = TaskSpec {
            entry: req.entry,
            customer: req.customer,
            case: req.case,
            input,
            privacy_scope: Some(scope),
        };
        let id = self.kernel.submit(spec, now())?;
        self.wake_streams();
        Ok(reply(StatusCode::CREATED, json!({ "id": id })))
    }

    fn list(&self, query: Option<&str>) -> ApiResult {
        let q = Query::parse(
            query,
            &["state", "agent", "customer", "limit", "after", "before"],
        )?;
        let state = q
            .text("state")
            .map(|name| {
                State::from_name(name).ok_or_else(|| {
                    let names: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
                    ApiError::bad(format!("state `{name}` is not one of {}", names.join(", ")))
                })
            })
            .transpose()?;
        let limit = match q.number("limit")? {
            None => TaskFilter::DEFAULT_LIMIT,
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|n| (1..=TaskFilter::MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::bad(format!(
                        "limit must be between 1 and {}, not {n}",
                        TaskFilter::MAX_LIMIT
                    ))
                })?,
        };
        for (name, max) in [("agent", 64), ("customer", 256)] {
            if let Some(v) = q.text(name) {
                if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
                    return Err(ApiError::bad(format!(
                        "`{name}` must be 1..={max} printable characters"
                    )));
                }
            }
        }
        let filter = TaskFilter {
            state,
            agent: q.text("agent").map(str::to_owned),
            customer: q.text("customer").map(str::to_owned),
            after_seq: q.number("after")?,
            before_seq: q.number("before")?,
            limit,
        };
        let tasks = self.kernel.store().list(&filter)?;
        Ok(reply(StatusCode::OK, json!(tasks)))
    }

    fn signal(&self, id: &str, body: &Bytes) -> ApiResult {
        let req: SignalRequest =
            serde_json::from_slice(body).map_err(|e| ApiError::bad(e.to_string()))?;
        let (task, cell_signalled) = self.kernel.signal(&TaskId(id.into()), req.signal, now())?;
        self.wake_streams();
        Ok(reply(
            StatusCode::OK,
            json!({ "task": task, "cell_signalled": cell_signalled }),
        ))
    }

    fn agents(&self) -> ApiResult {
        let offline = self.kernel.store().offline_agents()?;
        let agents: Vec<Value> = self
            .kernel
            .routing()
            .known()
            .agents
            .iter()
            .map(|name| json!({ "name": name, "online": !offline.contains(name) }))
            .collect();
        Ok(reply(StatusCode::OK, json!(agents)))
    }

    fn set_online(&self, name: &str, online: bool) -> ApiResult {
        self.kernel.set_online(name, online, now())?;
        Ok(reply(
            StatusCode::OK,
            json!({ "name": name, "online": online }),
        ))
    }

    /// `GET /v1/events`: the log after `after` as Server-Sent Events, then new events as
    /// they are appended, until the client goes.
    async fn events(
        self: Arc<Self>,
        query: Option<&str>,
        resume: Option<String>,
    ) -> Response<ApiBody> {
        let start = Query::parse(query, &["after", "task"]).and_then(|q| {
            let resumed = resume
                .map(|id| {
                    id.parse().map_err(|_| {
                        ApiError::bad(format!(
                            "`Last-Event-ID` must be a whole number, not `{id}`"
                        ))
                    })
                })
                .transpose()?;
            let after = q.number("after")?.or(resumed).unwrap_or(0);
            Ok((after, q.text("task").map(|t| TaskId(t.to_owned()))))
        });
        let (after, task) = match start {
            Ok(start) => start,
            Err(ApiError::Client(status, message)) => {
                return whole(reply(status, json!({ "error": message })))
            }
            Err(ApiError::Internal(e)) => return whole(internal(&e)),
        };
        if let Some(task) = &task {
            let (me, of) = (self.clone(), task.clone());
            let found = tokio::task::spawn_blocking(move || {
                me.kernel.store().get(&of).map(|t| t.is_some())
            })
            .await;
            match found {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {
                    return whole(reply(
                        StatusCode::NOT_FOUND,
                        json!({ "error": format!("task `{task}` does not exist") }),
                    ))
                }
                Ok(Err(e)) => return whole(internal(&e.to_string())),
                Err(_) => return whole(internal("a request handler stopped")),
            }
        }
        let (tx, body) = Channel::new(16);
        tokio::spawn(self.stream(after, task, tx));
        let mut r = Response::new(Either::Right(body));
        let headers = r.headers_mut();
        headers.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(
            hyper::header::CACHE_CONTROL,
            hyper::header::HeaderValue::from_static("no-cache"),
        );
        r
    }

    async fn stream(self: Arc<Self>, mut after: u64, task: Option<TaskId>, mut tx: Sender<Bytes>) {
        let mut appended = self.appended.subscribe();
        let mut last_sent = Instant::now();
        loop {
            let (me, of) = (self.clone(), task.clone());
            let batch = tokio::task::spawn_blocking(move || {
                me.kernel
                    .store()
                    .events_after(after, of.as_ref(), STREAM_BATCH)
            })
            .await;
            let events = match batch {
                Ok(Ok(events)) => events,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "event stream cannot read the store");
                    return;
                }
                Err(_) => return,
            };
            for event in &events {
                let frame = match sse_frame(event) {
                    Ok(frame) => frame,
                    Err(e) => {
                        tracing::error!(error = %e, seq = event.seq, "event does not serialise");
                        return;
                    }
                };
                if tx.send_data(frame).await.is_err() {
                    return;
                }
                after = event.seq;
                last_sent = Instant::now();
            }
            if events.len() == STREAM_BATCH {
                continue;
            }
            tokio::select! {
                changed = appended.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(STREAM_POLL).await;
                    }
                }
                () = tokio::time::sleep(STREAM_POLL) => {}
            }
            if last_sent.elapsed() >= KEEP_ALIVE {
                if tx
                    .send_data(Bytes::from_static(b": keep-alive\n\n"))
                    .await
                    .is_err()
                {
                    return;
                }
                last_sent = Instant::now();
            }
        }
    }
}

/// One Server-Sent Event: `id`, `event` (the event's kind) and `data` (the stored event as
/// one line of JSON).
fn sse_frame(event: &StoredEvent) -> Result<Bytes, serde_json::Error> {
    let kind = serde_json::to_value(event.event.kind())?;
    let data = serde_json::to_string(event)?;
    Ok(Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {data}\n\n",
        event.seq,
        kind.as_str().unwrap_or("event")
    )))
}

fn whole(response: Response<Full<Bytes>>) -> Response<ApiBody> {
    response.map(Either::Left)
}

fn internal(error: &str) -> Response<Full<Bytes>> {
    tracing::error!(error, "api request failed");
    reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"error": "internal error; see the daemon's log"}),
    )
}

/// A request a web page could have sent, refused before anything else: the API is for
/// local programs, and a browser on this machine must not be a way in. Without this, any
/// page the operator opens could POST a task (a "simple" `text/plain` request needs no
/// preflight) or, through DNS rebinding, read tasks.
/// - the `Host` must be a loopback name or address (DNS rebinding sends the attacker's);
/// - an `Origin` header (only browsers send one) is refused;
/// - a `POST` must say `Content-Type: application/json` (a browser cannot send that
///   cross-origin without a preflight this API never answers).
fn refuse_foreign(parts: &hyper::http::request::Parts) -> Option<Response<Full<Bytes>>> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned())
    };
    let host = header("host").unwrap_or_default();
    if !is_loopback_host(&host) {
        return Some(reply(
            StatusCode::FORBIDDEN,
            json!({"error": "the task API answers only requests addressed to a loopback host"}),
        ));
    }
    if parts.headers.contains_key("origin") {
        return Some(reply(
            StatusCode::FORBIDDEN,
            json!({"error": "cross-origin (browser) requests are refused"}),
        ));
    }
    if parts.method == Method::POST {
        let json_body = header("content-type").is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
        if !json_body {
            return Some(reply(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({"error": "send the body as `Content-Type: application/json`"}),
            ));
        }
    }
    None
}

/// `localhost`, `127.x.y.z` or `[::1]`, with an optional port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || port.starts_with(':') => ip,
            _ => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}
