//! Membrane round trip over the Unix socket: HTTP parse, key verification (with the claims
//! cache), policy decision, connector, one durable audit append, and the JSON answer.
//!
//! Run with `cargo bench -p silo-membrane`. Prints p50/p99 for `GET /v1/task` (no
//! connector) and `POST /v1/kv/get` (policy + SQLite read) over one keep-alive connection.
//! Goal from issue 4: p50 ≤ 100 µs, p99 ≤ 500 µs. For the breakdown it also times, in
//! process, the key check + policy decision alone and one durable audit append alone.
//! Everything runs twice: with the audit log fsynced per entry (`Disk`, the default) and
//! with `Process` durability (no fsync; survives a membrane crash, not a power loss).

use std::error::Error;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use silo_audit::{ActionName, Actor, AuditLog, Decision, Durability, EntryDraft};
use silo_keys::{
    new_jti, now_unix, BaseKey, Capabilities, KeyStore, TaskKey, BASE_AUDIENCE, TASK_AUDIENCE,
};
use silo_membrane::{CellBinding, Limits, Membrane, Services};
use silo_policy::{Context, InMemoryCounters, PolicySet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

type Res<T> = Result<T, Box<dyn Error>>;

const WARMUP: usize = 200;
const ROUNDS: usize = 3000;
const CELL: &str = "c-0000000000be";

fn main() -> Res<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    for durability in [Durability::Disk, Durability::Process] {
        println!("-- audit durability: {durability:?}");
        rt.block_on(run(durability))?;
    }
    Ok(())
}

async fn run(durability: Durability) -> Res<()> {
    let dir = tempfile::tempdir()?;
    let now = now_unix();
    let store = KeyStore::init(&dir.path().join("keys"), now - 100)?;
    let minter = store.minter()?;
    let audit = Arc::new(AuditLog::open_with(dir.path(), durability)?);
    let verifier = store.verifier()?;
    let services = Arc::new(Services::embedded(
        dir.path(),
        store.verifier()?,
        PolicySet::capabilities_only(),
        audit.clone(),
    )?);
    let socket = dir.path().join("bench.sock");
    let limits = Limits {
        requests_per_second: 1_000_000,
        burst: 1_000_000,
        ..Limits::default()
    };
    let membrane = Membrane::bind(&socket, CellBinding::new(CELL)?, services, limits)?;
    let base = minter.mint_base(&BaseKey {
        aud: BASE_AUDIENCE.into(),
        jti: new_jti()?,
        iat: now - 10,
        exp: now + 3600,
        agent: "bench-agent".into(),
        version: "1".into(),
        folder_hash: format!("sha256:{}", "0".repeat(64)),
        caps: Capabilities::from_json(r#"{"refund":{"max_cents":50000,"currency":"USD"}}"#)?,
    })?;
    let task = minter.mint_task(&TaskKey {
        aud: TASK_AUDIENCE.into(),
        jti: new_jti()?,
        iat: now - 10,
        nbf: now - 10,
        exp: now + 3000,
        task: "bench-task".into(),
        agent: "bench-agent".into(),
        customer: "cus_bench".into(),
        case: "case-1".into(),
        workflow: None,
        cell: CELL.into(),
    })?;
    breakdown(&verifier, &audit, &base, &task)?;
    let mut client = Client::connect(&socket, &base, &task).await?;
    for (name, method, path, body) in [
        ("GET /v1/task", "GET", "/v1/task", ""),
        ("POST /v1/kv/get", "POST", "/v1/kv/get", r#"{"key":"plan"}"#),
    ] {
        for _ in 0..WARMUP {
            client.call(method, path, body).await?;
        }
        let mut samples = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            let status = client.call(method, path, body).await?;
            samples.push(start.elapsed());
            if status != 200 {
                return Err(format!("{name}: status {status}").into());
            }
        }
        report(name, &mut samples);
    }
    membrane.shutdown().await;
    Ok(())
}

/// The two big parts of a round trip, timed without the socket.
fn breakdown(verifier: &silo_keys::Verifier, audit: &AuditLog, base: &str, task: &str) -> Res<()> {
    let policy = PolicySet::capabilities_only();
    let counters = InMemoryCounters::default();
    let params = serde_json::json!({"key": "plan"});
    let mut samples = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS + WARMUP {
        let start = Instant::now();
        let now = now_unix();
        let creds = verifier.verify_pair(base, task, CELL, now, None)?;
        let d = policy.decide_for(&creds, "kv.get", &params, &Context::new(now, &counters));
        if i >= WARMUP {
            samples.push(start.elapsed());
        }
        if !d.is_allow() {
            return Err("bench decision was not allow".into());
        }
    }
    report("verify + decide", &mut samples);
    samples.clear();
    for i in 0..ROUNDS + WARMUP {
        let draft = EntryDraft::new(
            Actor::new("bench")?,
            ActionName::new("bench.append")?,
            Decision::Allow,
        );
        let start = Instant::now();
        audit.append(draft)?;
        if i >= WARMUP {
            samples.push(start.elapsed());
        }
    }
    report("audit append", &mut samples);
    Ok(())
}

fn report(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let pct = |p: f64| {
        let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
        samples.get(i).copied().unwrap_or_default()
    };
    let mean = samples.iter().sum::<Duration>() / samples.len().max(1) as u32;
    println!(
        "{name:<18} n={} p50={:>8.1?} p99={:>8.1?} max={:>8.1?} mean={:>8.1?}",
        samples.len(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
        mean
    );
}

struct Client {
    stream: UnixStream,
    base: String,
    task: String,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(path: &Path, base: &str, task: &str) -> Res<Self> {
        Ok(Self {
            stream: UnixStream::connect(path).await?,
            base: base.into(),
            task: task.into(),
            buf: Vec::with_capacity(8192),
        })
    }

    /// One request on the keep-alive connection; returns the status.
    async fn call(&mut self, method: &str, path: &str, body: &str) -> Res<u16> {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nhost: s\r\ncontent-length: {}\r\nx-silo-base-key: {}\r\nx-silo-task-key: {}\r\n\r\n{body}",
            body.len(),
            self.base,
            self.task
        );
        self.stream.write_all(req.as_bytes()).await?;
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
            let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(self.buf.get(..end).unwrap_or_default());
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if self.buf.len() >= end + 4 + len {
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                return Ok(status);
            }
        }
    }
}
