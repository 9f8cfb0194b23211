//! A human operator's action through the membrane: humans are agents too. The operator
//! gets a base key of their own (their capabilities, e.g. refunds up to $1,000) and a task
//! key for the task they took, bound to a fresh session id as a cell's would be; the call
//! goes over a membrane socket through the same pipeline a cell's does — keys verified,
//! policy decided, data tokenised, one audit entry — and the task key is revoked after.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use silo_audit::{Entry, Query, TaskId};
use silo_keys::{
    new_jti, now_unix, BaseKey, Capabilities, TaskKey, WorkflowRef, BASE_AUDIENCE, TASK_AUDIENCE,
};
use silo_membrane::{CellBinding, Limits, Membrane};

use crate::error::InvokeError;
use crate::invocation::{open_keys_with, Host};

/// How long an operator's keys live (one action).
const OPERATOR_KEY_SECS: u64 = 300;
/// How long one action may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest reply read back.
const MAX_REPLY: u64 = 4 * 1024 * 1024;

/// One action by an operator on a task they have.
#[derive(Debug, Clone)]
pub struct OperatorCall {
    /// The operator (their base key's `agent`).
    pub operator: String,
    /// What the operator may do.
    pub caps: Capabilities,
    /// The task's customer.
    pub customer: String,
    /// The task's case.
    pub case: String,
    /// The membrane task id of this action (scratch state, outcome).
    pub task: String,
    /// The run the task belongs to: the scope of its tokens, so the operator sees the
    /// same `[NAME_1]` the agent saw.
    pub run: Option<WorkflowRef>,
    /// The task's input, already tokenised in the run's scope (for `GET /v1/task`).
    pub input: Value,
    /// `GET` or `POST`.
    pub method: String,
    /// A membrane route, e.g. `/v1/refund` (docs/PROTOCOL.md).
    pub path: String,
    /// The JSON body, for `POST`.
    pub body: Option<Value>,
    /// The agent folder whose `templates/` the operator's messages use (the folder of the
    /// agent that last had the task); `None`: no templates.
    pub agent_dir: Option<PathBuf>,
}

/// The router task an operator acts on, as [`OperatorCall::on_router_task`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct RouterTask<'a> {
    /// The router's task id.
    pub id: &'a str,
    /// How many events the task has had (each action gets its own membrane task id).
    pub version: u64,
    /// Its customer.
    pub customer: &'a str,
    /// Its case.
    pub case: &'a str,
    /// The run's token scope, if the task has one.
    pub privacy_scope: Option<&'a str>,
    /// Its input, tokenised at intake.
    pub input: &'a Value,
}

impl OperatorCall {
    /// A call by `operator` on a router task: membrane task id `<task>.op-<version>` (so the
    /// audit browser finds it under the task), in the run's token scope (stage
    /// `operator`), so the operator sees the tokens the agents saw.
    pub fn on_router_task(
        operator: &str,
        caps: Capabilities,
        task: RouterTask<'_>,
        path: &str,
        body: Option<Value>,
        agent_dir: Option<PathBuf>,
    ) -> Self {
        Self {
            operator: operator.to_owned(),
            caps,
            customer: task.customer.to_owned(),
            case: task.case.to_owned(),
            task: format!("{}.op-{}", task.id, task.version),
            run: task.privacy_scope.map(|scope| WorkflowRef {
                run: scope.to_owned(),
                stage: "operator".into(),
            }),
            input: task.input.clone(),
            method: if body.is_some() { "POST" } else { "GET" }.into(),
            path: path.to_owned(),
            body,
            agent_dir,
        }
    }
}

/// The membrane's answer and the audit entries the action caused.
#[derive(Debug)]
pub struct OperatorReply {
    /// HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
    /// The audit entries of this action.
    pub audit: Vec<Entry>,
}

fn io(what: &'static str, path: PathBuf) -> impl FnOnce(std::io::Error) -> InvokeError {
    move |source| InvokeError::Io { what, path, source }
}

/// Runs `call` through a membrane bound for it, and revokes its task key.
pub fn operator_call(mut host: Host, call: &OperatorCall) -> Result<OperatorReply, InvokeError> {
    if !matches!(call.method.as_str(), "GET" | "POST") {
        return Err(InvokeError::Invalid(format!(
            "method `{}`: use GET or POST",
            call.method
        )));
    }
    if !call.path.starts_with("/v1/") || call.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(InvokeError::Invalid(format!(
            "`{}` is not a membrane route (e.g. /v1/refund)",
            call.path
        )));
    }
    let store = open_keys_with(&host.data_dir, host.database.as_ref())?;
    let minter = store.minter()?;
    let now = now_unix();
    let session = silo_cell::new_cell_id();
    let base = BaseKey {
        aud: BASE_AUDIENCE.into(),
        jti: new_jti()?,
        iat: now,
        exp: now + OPERATOR_KEY_SECS,
        agent: call.operator.clone(),
        version: "operator".into(),
        folder_hash: identity_hash(&call.operator, &call.caps)?,
        caps: call.caps.clone(),
    };
    let task_claims = TaskKey {
        aud: TASK_AUDIENCE.into(),
        jti: new_jti()?,
        iat: now,
        nbf: now,
        exp: now + OPERATOR_KEY_SECS,
        task: call.task.clone(),
        agent: call.operator.clone(),
        customer: call.customer.clone(),
        case: call.case.clone(),
        workflow: call.run.clone(),
        cell: session.clone(),
    };
    let base_key = minter.mint_base(&base)?;
    let task_key = minter.mint_task(&task_claims)?;
    let store = crate::keyring::Keyring::Local(store);
    let revoke_guard = crate::invocation::RevokeOnDrop::new(&store, &task_claims.jti);

    // The same services a cell's membrane gets (policy, kill switch, connectors).
    let (services, audit) = crate::invocation::services_for(&mut host, &store)?;
    services.set_tokenised_task_input(&call.task, &call.input)?;

    let sockets = host.run_dir.join("sockets");
    std::fs::create_dir_all(&sockets).map_err(io("create the socket folder", sockets.clone()))?;
    let socket = sockets.join(format!("{session}.sock"));
    let mut binding = CellBinding::new(session.as_str())?;
    if let Some(dir) = &call.agent_dir {
        binding = binding.with_agent_dir(dir);
    }
    let request = http_request(call, &base_key, &task_key)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(io("start the membrane runtime", PathBuf::new()))?;
    let reply = runtime.block_on(async {
        let membrane = Membrane::bind(&socket, binding, services.clone(), Limits::default())?;
        let path = socket.clone();
        let sent = tokio::task::spawn_blocking(move || exchange(&path, &request)).await;
        membrane.shutdown().await;
        match sent {
            Ok(r) => r,
            Err(e) => Err(InvokeError::Invalid(format!(
                "the operator call failed: {e}"
            ))),
        }
    });
    // Revoked whether or not the call went through.
    revoke_guard.revoke()?;
    let (status, body) = reply?;
    let query = Query {
        task: TaskId::new(call.task.as_str()).ok(),
        ..Query::all()
    };
    Ok(OperatorReply {
        status,
        body,
        audit: audit.query(&query)?,
    })
}

/// What an agent key's folder hash is to an agent, for an operator: a hash over their
/// name and capabilities, so the key names exactly what it was minted for.
fn identity_hash(operator: &str, caps: &Capabilities) -> Result<String, InvokeError> {
    use sha2::{Digest, Sha256};
    let caps = serde_json::to_vec(caps)
        .map_err(|e| InvokeError::Invalid(format!("operator capabilities: {e}")))?;
    let mut h = Sha256::new();
    h.update(b"silo-operator\0");
    h.update(operator.as_bytes());
    h.update(b"\0");
    h.update(&caps);
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

fn http_request(call: &OperatorCall, base: &str, task: &str) -> Result<Vec<u8>, InvokeError> {
    let body = match &call.body {
        Some(b) => serde_json::to_vec(b)
            .map_err(|e| InvokeError::Invalid(format!("the request body: {e}")))?,
        None => Vec::new(),
    };
    let mut req = format!(
        "{} {} HTTP/1.1\r\nHost: membrane\r\nx-silo-base-key: {base}\r\nx-silo-task-key: {task}\r\nConnection: close\r\n",
        call.method, call.path
    );
    if call.method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// One request over the socket; the reply's status and JSON body.
fn exchange(socket: &std::path::Path, request: &[u8]) -> Result<(u16, Value), InvokeError> {
    let err = io("talk to the membrane", socket.to_path_buf());
    let mut stream = UnixStream::connect(socket).map_err(err)?;
    let timeouts = stream
        .set_read_timeout(Some(CALL_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(CALL_TIMEOUT)));
    timeouts.map_err(io("talk to the membrane", socket.to_path_buf()))?;
    stream
        .write_all(request)
        .map_err(io("talk to the membrane", socket.to_path_buf()))?;
    let mut raw = Vec::new();
    stream
        .take(MAX_REPLY)
        .read_to_end(&mut raw)
        .map_err(io("talk to the membrane", socket.to_path_buf()))?;
    let bad = || InvokeError::Invalid("the membrane's reply is not HTTP".into());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad())?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let mut body = raw[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body).ok_or_else(bad)?;
    }
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|_| bad())?
    };
    Ok((status, body))
}

/// A chunked body's content (the membrane answers with a length; this is for safety).
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}
