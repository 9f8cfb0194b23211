//! `Membrane`: one cell's socket. Binds it (mode 0666 so the cell's unprivileged uid can
//! connect), accepts connections up to the cell's limit, serves HTTP/1.1 with bounded
//! headers and read timeouts, applies the rate and concurrency limits, and hands each
//! request to the pipeline off the reactor (key checks, SQLite and the audit fsync must not
//! stall the runtime).

use std::convert::Infallible;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::auth::PresentedKeys;
use crate::binding::CellBinding;
use crate::error::MembraneError;
use crate::limits::{AuditThrottle, Limits, RateLimiter};
use crate::pipeline;
use crate::routes::Route;
use crate::services::Services;
use crate::wire::{ApiError, ErrorCode, Reply, BASE_KEY_HEADER, TASK_KEY_HEADER};

/// Everything one cell's connections share.
struct CellState {
    cell: CellBinding,
    services: Arc<Services>,
    limits: Limits,
    rate: RateLimiter,
    in_flight: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    throttle: AuditThrottle,
    /// The span current when the socket was bound (silo-invoke's `cell` span): each
    /// request's `membrane.call` span is its child, across the runtime's threads.
    trace_parent: tracing::Span,
}

/// A running membrane for one cell. Dropping it stops accepting and removes the socket;
/// [`Membrane::shutdown`] also waits for the accept loop to end.
#[derive(Debug)]
pub struct Membrane {
    socket_path: PathBuf,
    cell_id: String,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Membrane {
    /// Binds `socket_path` for `cell` and starts serving on the current Tokio runtime.
    /// A stale socket file (nobody listening) is replaced; anything else at the path is an
    /// error. Each request is traced as a `membrane.call` span under the span current
    /// here (the caller's cell span).
    pub fn bind(
        socket_path: &Path,
        cell: CellBinding,
        services: Arc<Services>,
        limits: Limits,
    ) -> Result<Self, MembraneError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| MembraneError::NoRuntime)?;
        limits.validate()?;
        remove_stale_socket(socket_path)?;
        let bind_err = |source| MembraneError::Bind {
            path: socket_path.to_path_buf(),
            source,
        };
        let listener = {
            let _guard = runtime.enter();
            UnixListener::bind(socket_path).map_err(bind_err)?
        };
        // The cell's agent runs under its own uid; the socket is its only door, and who can
        // reach the path is decided by the bind mount, not by these bits.
        std::fs::set_permissions(socket_path, std::fs::Permissions::from_mode(0o666))
            .map_err(bind_err)?;
        let state = Arc::new(CellState {
            rate: RateLimiter::new(limits.requests_per_second, limits.burst),
            in_flight: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
            connections: Arc::new(Semaphore::new(limits.max_connections)),
            throttle: AuditThrottle::new(),
            trace_parent: tracing::Span::current(),
            cell,
            services,
            limits,
        });
        let cell_id = state.cell.cell_id().to_string();
        let (stop, stopped) = watch::channel(false);
        let task = runtime.spawn(accept_loop(listener, state, stopped));
        Ok(Self {
            socket_path: socket_path.to_path_buf(),
            cell_id,
            stop,
            task: Some(task),
        })
    }

    /// The socket's host path.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// The cell this socket serves.
    pub fn cell_id(&self) -> &str {
        &self.cell_id
    }

    /// Stops accepting, asks open connections to finish, removes the socket file.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Membrane {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let _ = std::fs::remove_file(&self.socket_path);
    }
}

fn remove_stale_socket(path: &Path) -> Result<(), MembraneError> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let in_use = || MembraneError::SocketInUse {
        path: path.to_path_buf(),
    };
    if !meta.file_type().is_socket() {
        return Err(in_use());
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(in_use());
    }
    std::fs::remove_file(path).map_err(|source| MembraneError::Bind {
        path: path.to_path_buf(),
        source,
    })
}

async fn accept_loop(
    listener: UnixListener,
    state: Arc<CellState>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if !peer_allowed(&state.cell, &stream) {
                        continue;
                    }
                    // Over the connection limit: close at once; the cell only hurts itself.
                    let Ok(permit) = state.connections.clone().try_acquire_owned() else {
                        continue;
                    };
                    tokio::spawn(serve_connection(stream, state.clone(), permit, stopped.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, cell = state.cell.cell_id(), "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
}

fn peer_allowed(cell: &CellBinding, stream: &UnixStream) -> bool {
    match cell.peer_uid() {
        None => true,
        Some(uid) => stream.peer_cred().is_ok_and(|c| c.uid() == uid),
    }
}

async fn serve_connection(
    stream: UnixStream,
    state: Arc<CellState>,
    _permit: OwnedSemaphorePermit,
    mut stopped: watch::Receiver<bool>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.limits.header_read_timeout)
        .max_buf_size(state.limits.max_header_bytes.max(8192))
        .max_header_size(state.limits.max_header_bytes)
        .max_headers(state.limits.max_headers);
    let service_state = state.clone();
    let service = service_fn(move |req| {
        let state = service_state.clone();
        async move { Ok::<_, Infallible>(handle(state, req).await) }
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// One request: its `membrane.call` span and its `silo_membrane_request_seconds` sample.
async fn handle(state: Arc<CellState>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = std::time::Instant::now();
    let route = Route::find(req.method(), req.uri().path());
    let action = route
        .as_ref()
        .map_or("membrane.request", |r| r.action_name());
    // The action's name and the outcome only: never a parameter, key or header.
    let span = tracing::info_span!(
        parent: &state.trace_parent,
        "membrane.call",
        cell = state.cell.cell_id(),
        route = action,
        decision = tracing::field::Empty,
        rule = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let response = handle_request(state, req, route, span.clone()).await;
    span.record("status", response.status().as_u16());
    if let Some(h) = request_histogram() {
        h.with_label_values(&[action])
            .observe(started.elapsed().as_secs_f64());
    }
    response
}

/// Buckets of `silo_membrane_request_seconds`: a local call takes well under a millisecond,
/// an LLM call seconds.
const REQUEST_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// `silo_membrane_request_seconds{route}` in the process's default Prometheus registry
/// (`silo serve` scrapes it on the host that runs the cells): every request a membrane of
/// this process answered, refusals included, by its route's action name
/// (`membrane.request` for an unknown route).
pub(crate) fn request_histogram() -> Option<&'static prometheus::HistogramVec> {
    static HISTOGRAM: std::sync::OnceLock<Option<prometheus::HistogramVec>> =
        std::sync::OnceLock::new();
    HISTOGRAM
        .get_or_init(|| {
            let opts = prometheus::HistogramOpts::new(
                "silo_membrane_request_seconds",
                "Membrane request latency by route (this process's membranes).",
            )
            .buckets(REQUEST_BUCKETS.to_vec());
            let histogram = prometheus::HistogramVec::new(opts, &["route"]).ok()?;
            prometheus::default_registry()
                .register(Box::new(histogram.clone()))
                .ok()?;
            Some(histogram)
        })
        .as_ref()
}

async fn handle_request(
    state: Arc<CellState>,
    req: Request<Incoming>,
    route: Result<Route, ApiError>,
    span: tracing::Span,
) -> Response<Full<Bytes>> {
    if !state.rate.try_acquire() {
        return refuse(
            state,
            ErrorCode::RateLimited,
            "too many requests; slow down",
        )
        .await;
    }
    let Ok(_in_flight) = state.in_flight.clone().try_acquire_owned() else {
        return refuse(
            state,
            ErrorCode::Busy,
            "too many requests in flight; retry shortly",
        )
        .await;
    };
    let (parts, body) = req.into_parts();
    let keys = presented_keys(&parts.headers);
    let body = read_body(&parts.headers, body, &state.limits).await;
    let now = silo_keys::now_unix();
    let worker = state.clone();
    let reply = off_the_reactor(move || {
        span.in_scope(|| pipeline::serve(&worker.services, &worker.cell, route, &keys, body, now))
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "membrane pipeline task failed");
        Reply::error(&ApiError::new(ErrorCode::Internal, "the membrane failed"))
    });
    response(reply)
}

/// Runs blocking pipeline work (key checks, SQLite, the audit fsync, an LLM call) without
/// stalling the reactor. On a multi-threaded runtime it runs in place and the runtime hands
/// this worker's other tasks to another thread (`block_in_place`): no thread hop, which was
/// a third of a round trip. On a current-thread runtime it goes to the blocking pool.
async fn off_the_reactor<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        Ok(tokio::task::block_in_place(work))
    } else {
        tokio::task::spawn_blocking(work).await
    }
}

/// Refusals a flood produces: audited at most once a second per cell.
async fn refuse(state: Arc<CellState>, code: ErrorCode, message: &str) -> Response<Full<Bytes>> {
    let error = ApiError::new(code, message);
    let reply = match state.throttle.admit() {
        None => Reply::error(&error),
        Some(held_back) => {
            let worker = state.clone();
            let fallback = Reply::error(&error);
            off_the_reactor(move || {
                pipeline::refuse(&worker.services, &worker.cell, error, Some(held_back))
            })
            .await
            .unwrap_or(fallback)
        }
    };
    response(reply)
}

fn presented_keys(headers: &HeaderMap) -> PresentedKeys {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let (base, task) = (get(BASE_KEY_HEADER), get(TASK_KEY_HEADER));
    if base.is_some() || task.is_some() {
        return PresentedKeys { base, task };
    }
    // Clients that only know API keys (the `openai` package through the in-cell LLM
    // loopback) send `Authorization: Bearer <base key>:<task key>`: the same two keys, so
    // the same checks.
    let bearer = get(AUTHORIZATION.as_str()).and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().to_string())
    });
    match bearer.as_deref().and_then(|b| b.split_once(':')) {
        Some((b, t)) => PresentedKeys {
            base: Some(b.to_string()).filter(|s| !s.is_empty()),
            task: Some(t.to_string()).filter(|s| !s.is_empty()),
        },
        None => PresentedKeys {
            base: None,
            task: None,
        },
    }
}

async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    limits: &Limits,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!(
                "request body is larger than {} bytes",
                limits.max_body_bytes
            ),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let limited = Limited::new(body, limits.max_body_bytes);
    match tokio::time::timeout(limits.body_read_timeout, limited.collect()).await {
        Err(_) => Err(ApiError::new(
            ErrorCode::RequestTimeout,
            "the request body was not sent in time",
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(_)) => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "the request body could not be read",
        )),
    }
}

fn response(reply: Reply) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(reply.body)));
    *res.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}
