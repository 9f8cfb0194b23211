//! silo-daemon owns `silo serve`: the router kernel running as a long-lived process.
//! Worker threads step the durable queue (each claimed job an agent turn in a real cell,
//! several cells at once), and a small HTTP/1.1 + JSON API on a localhost address takes
//! and shows tasks: `POST /v1/tasks`, `GET /v1/tasks/{id}`, `GET /v1/tasks/{id}/events`,
//! `GET /v1/inbox/{pool}`. A restart resumes in-flight work from the store (leased jobs
//! are claimed again when their lease runs out).
//!
//! It must never: store or log a task's raw input (it is tokenised before `submit`);
//! listen on a non-loopback address unless told to; or hold a lock across an agent turn.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Value};
use silo_membrane::Intake;
use silo_router::{CellDispatcher, Kernel, SqliteStore, Store, TaskId, TaskSpec};

/// Largest request body.
const MAX_BODY: usize = 256 * 1024;
/// How long an idle worker waits before looking at the queue again.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// The kernel the daemon drives.
pub type DaemonKernel = Kernel<SqliteStore, CellDispatcher>;

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
        }
    }

    /// Starts `workers` threads stepping the queue; they run until the process ends.
    pub fn start_workers(&self, workers: usize) {
        for i in 0..workers.max(1) {
            let kernel = self.kernel.clone();
            let stop = self.stop.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("silo-worker-{i}"))
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        match kernel.step(now()) {
                            Ok(Some(report)) => {
                                tracing::info!(task = %report.job.task, "step done");
                            }
                            Ok(None) => std::thread::sleep(IDLE_POLL),
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
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %e, "api connection ended");
                }
            });
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    json!({"error": "body too large"}),
                )
            }
        };
        // Store calls and tokenisation block (SQLite): keep them off the reactor.
        tokio::task::spawn_blocking(move || {
            let path: Vec<&str> = parts.uri.path().trim_matches('/').split('/').collect();
            self.route(&parts.method, &path, &body)
        })
        .await
        .unwrap_or_else(|_| {
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "internal"}),
            )
        })
    }

    fn route(&self, method: &Method, path: &[&str], body: &Bytes) -> Response<Full<Bytes>> {
        let store = self.kernel.store();
        let result: Result<Response<Full<Bytes>>, String> = match (method, path) {
            (&Method::POST, ["v1", "tasks"]) => self.submit(body),
            (&Method::GET, ["v1", "tasks", id]) => match store.get(&TaskId((*id).into())) {
                Ok(Some(t)) => Ok(reply(StatusCode::OK, json!(t))),
                Ok(None) => Ok(reply(
                    StatusCode::NOT_FOUND,
                    json!({"error": "no such task"}),
                )),
                Err(e) => Err(e.to_string()),
            },
            (&Method::GET, ["v1", "tasks", id, "events"]) => store
                .events(Some(&TaskId((*id).into())))
                .map(|e| reply(StatusCode::OK, json!(e)))
                .map_err(|e| e.to_string()),
            (&Method::GET, ["v1", "inbox", pool]) => store
                .waiting_for(pool)
                .map(|t| reply(StatusCode::OK, json!(t)))
                .map_err(|e| e.to_string()),
            _ => Ok(reply(
                StatusCode::NOT_FOUND,
                json!({"error": "no such route"}),
            )),
        };
        result.unwrap_or_else(|e| {
            tracing::error!(error = %e, "api request failed");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "internal"}),
            )
        })
    }

    fn submit(&self, body: &Bytes) -> Result<Response<Full<Bytes>>, String> {
        let req: SubmitRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return Ok(reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": e.to_string()}),
                ))
            }
        };
        let scope = match silo_keys::new_jti() {
            Ok(j) => format!("run-{}", j.chars().take(16).collect::<String>()),
            Err(e) => return Err(e.to_string()),
        };
        let input = match self.intake.tokenise(&scope, &req.customer, &req.input) {
            Ok(i) => i,
            Err(e) => {
                return Ok(reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": e.to_string()}),
                ))
            }
        };
        let spec = TaskSpec {
            entry: req.entry,
            customer: req.customer,
            case: req.case,
            input,
            privacy_scope: Some(scope),
        };
        match self.kernel.submit(spec, now()) {
            Ok(id) => Ok(reply(StatusCode::CREATED, json!({"id": id}))),
            Err(e) => Ok(reply(
                StatusCode::BAD_REQUEST,
                json!({"error": e.to_string()}),
            )),
        }
    }
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
