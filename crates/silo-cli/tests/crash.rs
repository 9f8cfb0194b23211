//! The crash matrix (docs/RELIABILITY.md). `silo serve` is router, cell host and membrane in
//! one process; it is killed with SIGKILL at each step of a task — at a named crash point
//! (`SILO_CRASH_AT`, crate `silo-fault`) or from outside while the agent runs — and
//! restarted on the same data directory without the variable. Then every task ends exactly
//! once, no refund is paid twice, every task key the router minted is revoked, every router
//! event is in the audit log exactly once, and `silo audit verify` passes. And a
//! power-loss-style test: the daemon is killed at random moments under many concurrent task
//! submissions (no cells), and every SQLite file passes `PRAGMA integrity_check`, every task
//! the API acknowledged exists and the audit log verifies.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::serve::silo_at;

/// The example project's agents, relative to the repository root.
const AGENTS: &str = "examples/customer-service/agents";

/// The refund agent pays $45.99 itself.
const KETTLE: &str = r#"{"entry":"refund-agent","customer":"cus_001","case":"case_001","input":{"message":"Jane Smith: my kettle ord_1001 arrived dented"}}"#;
const KETTLE_PAID: (&str, i64) = ("case_001:ord_1001", 4599);
/// The refund agent escalates $700 to the manager agent, which pays it.
const SOFA: &str = r#"{"entry":"refund-agent","customer":"cus_001","case":"case_001","input":{"message":"Jane Smith: my sofa ord_1003 arrived broken!"}}"#;
const SOFA_PAID: (&str, i64) = ("case_001:ord_1003", 70000);

const TERMINAL_EVENTS: [&str; 4] = ["completed", "failed", "aborted", "timed_out"];
const TERMINAL_STATES: [&str; 4] = ["completed", "failed", "aborted", "timed_out"];

/// One `silo serve` on a test's folder: `data/`, `run/`, and its log `serve-<n>.log`.
struct Daemon {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `silo serve` on `dir` with the extra environment `vars` (a crash point).
fn start(dir: &Path, n: usize, vars: &[(&str, &str)]) -> Daemon {
    let log = dir.join(format!("serve-{n}.log"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_silo"));
    cmd.arg("--data-dir")
        .arg(dir.join("data"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-console",
            "--lease-secs",
            "2",
        ])
        .args(["--agents", AGENTS])
        .env("SILO_RUN_DIR", dir.join("run"))
        .env_remove("SILO_CRASH_AT")
        .env_remove("SILO_CRASH_AFTER")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.contains("http://"),
        "serve did not start: {line:?}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    Daemon { child, addr, log }
}

impl Daemon {
    /// Waits for the daemon to die of SIGKILL — at crash point `point`, when given.
    fn killed(mut self, point: Option<&str>) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon never reached {point:?}\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert_eq!(status.signal(), Some(9), "{status:?}\n{log}");
        if let Some(point) = point {
            assert!(
                log.contains(&format!("crash point `{point}` reached")),
                "killed, but not at {point}:\n{log}"
            );
        }
    }
}

/// One request, or `None` when the daemon is gone or dropped the connection.
fn try_http(addr: &str, method: &str, path: &str, body: &str) -> Option<(u16, Value)> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("");
    Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

fn submit(addr: &str, task: &str) -> String {
    let (status, created) = crate::http(addr, "POST", "/v1/tasks", task);
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

fn task_ids(addr: &str) -> Vec<String> {
    let (status, tasks) = crate::http(addr, "GET", "/v1/tasks?limit=1000", "");
    assert_eq!(status, 200, "{tasks}");
    let mut ids: Vec<String> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn wait_final(addr: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, task) = crate::http(addr, "GET", &format!("/v1/tasks/{id}"), "");
        let state = task["state"].as_str().unwrap_or_default();
        if TERMINAL_STATES.contains(&state) || Instant::now() > deadline {
            return task;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn events(addr: &str, id: &str) -> Vec<Value> {
    let (status, events) = crate::http(addr, "GET", &format!("/v1/tasks/{id}/events"), "");
    assert_eq!(status, 200, "{events}");
    events.as_array().unwrap().clone()
}

fn kinds(events: &[Value], kind: &str) -> usize {
    events
        .iter()
        .filter(|e| e["event"]["event"] == kind)
        .count()
}

/// The router sequence numbers of the `router.event` entries in the audit log, in order.
fn audited_router_seqs(data: &Path) -> Vec<u64> {
    let db = rusqlite::Connection::open(data.join("audit").join("audit.db")).unwrap();
    let mut stmt = db
        .prepare(
            "SELECT json_extract(body, '$.detail.router_seq') FROM audit_entries
             WHERE action = 'router.event' ORDER BY seq",
        )
        .unwrap();
    let seqs = stmt
        .query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|s| u64::try_from(s.unwrap()).unwrap())
        .collect();
    seqs
}

/// Every router event of `ids` (all the data directory's tasks) is in the audit log exactly
/// once, in order (the recorder catches up after a restart; give it a moment).
fn router_events_audited_once(addr: &str, data: &Path, ids: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Tasks may still be moving (a task whose submission the kill cut short): read
        // both sides again until they agree.
        let mut want: Vec<u64> = ids
            .iter()
            .flat_map(|id| events(addr, id))
            .map(|e| e["seq"].as_u64().unwrap())
            .collect();
        want.sort_unstable();
        let got = audited_router_seqs(data);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "router events in the audit log {got:?}, in the store {want:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn revoked(data: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(data.join("keys").join("revoked.json")).unwrap();
    let list: Value = serde_json::from_str(&text).unwrap();
    list.as_object().unwrap().keys().cloned().collect()
}

/// What must hold after the restart: `ids` are all the tasks; each completed with exactly
/// one terminal event; cus_001 was paid exactly `paid` (idempotency key, cents); every task
/// key minted is revoked; the router's events are audited once; the audit log verifies.
fn all_well(dir: &Path, d: &Daemon, ids: &[String], paid: &[(&str, i64)]) {
    let data = dir.join("data");
    assert_eq!(task_ids(&d.addr), ids, "the tasks in the store");
    for id in ids {
        let task = wait_final(&d.addr, id);
        assert_eq!(task["state"], "completed", "{task}");
        let events = events(&d.addr, id);
        let terminal: usize = TERMINAL_EVENTS.iter().map(|k| kinds(&events, k)).sum();
        assert_eq!(terminal, 1, "one terminal event: {events:?}");
        let revoked = revoked(&data);
        let minted: Vec<&str> = events
            .iter()
            .filter(|e| e["event"]["event"] == "dispatched")
            .map(|e| e["event"]["task_key_jti"].as_str().unwrap())
            .collect();
        assert!(!minted.is_empty());
        for jti in minted {
            assert!(revoked.contains(jti), "task key {jti} of {id} outlived it");
        }
    }
    let ledger = silo_at(
        &data,
        &["--json", "membrane", "ledger", "--customer", "cus_001"],
    );
    assert!(ledger.status.success(), "{}", crate::text(&ledger));
    let ledger: Value = serde_json::from_slice(&ledger.stdout).unwrap();
    let mut got: Vec<(String, i64)> = ledger
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["idempotency_key"].as_str().unwrap().to_string(),
                r["amount_cents"].as_i64().unwrap(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, i64)> = paid.iter().map(|(k, a)| (k.to_string(), *a)).collect();
    want.sort();
    assert_eq!(got, want, "the ledger");
    router_events_audited_once(&d.addr, &data, ids);
    let verify = silo_at(&data, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", crate::text(&verify));
}

/// Submits `task` to a daemon armed at `point` (the `after`-th hit), waits for it to die
/// there, restarts it clean; returns the restarted daemon and the submitted task's id (from
/// the answer, or — when the daemon died before answering — from the store).
fn crash_once(dir: &Path, task: &str, point: &str, after: &str) -> (Daemon, String) {
    let d = start(
        dir,
        1,
        &[("SILO_CRASH_AT", point), ("SILO_CRASH_AFTER", after)],
    );
    let answered = try_http(&d.addr, "POST", "/v1/tasks", task);
    d.killed(Some(point));
    let d = start(dir, 2, &[]);
    let ids = task_ids(&d.addr);
    assert_eq!(ids.len(), 1, "{ids:?}");
    if let Some((status, created)) = answered {
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["id"], ids[0].as_str());
    }
    (d, ids[0].clone())
}

macro_rules! needs_root {
    () => {
        if !crate::is_root() {
            eprintln!("SKIPPED: needs root");
            return;
        }
    };
}

#[test]
fn killed_after_the_task_is_created_the_task_runs_once_and_a_retry_pays_nothing_more() {
    needs_root!();
    let tmp = tempfile::tempdir().unwrap();
    let d = start(tmp.path(), 1, &[("SILO_CRASH_AT", "after_task_created")]);
    // The task is committed, but the client never hears of it.
    let answered = try_http(&d.addr, "POST", "/v1/tasks", KETTLE);
    assert!(
        answered.as_ref().is_none_or(|(s, _)| *s != 201),
        "{answered:?}"
    );
    d.killed(Some("after_task_created"));
    let d = start(tmp.path(), 2, &[]);
    let first = task_ids(&d.addr);
    assert_eq!(
        first.len(),
        1,
        "the unanswered task is in the store: {first:?}"
    );
    // A client that retries creates a second task; the ledger's idempotency key (case and
    // order) keeps it from paying again.
    let retry = submit(&d.addr, KETTLE);
    let ids = vec![first[0].clone(), retry];
    all_well(tmp.path(), &d, &ids, &[KETTLE_PAID]);
}

#[test]
fn killed_after_the_turn_keys_are_minted_the_key_is_revoked_and_the_task_runs_once() {
    needs_root!();
    let tmp = tempfile::tempdir().unwrap();
    let (d, id) = crash_once(tmp.path(), KETTLE, "after_key_mint", "1");
    all_well(tmp.path(), &d, std::slice::from_ref(&id), &[KETTLE_PAID]);
    let events = events(&d.addr, &id);
    assert_eq!(kinds(&events, "dispatched"), 2, "{events:?}");
}

#[test]
fn killed_mid_cell_the_turn_runs_again_and_pays_once() {
    needs_root!();
    let tmp = tempfile::tempdir().unwrap();
    let d = start(tmp.path(), 1, &[]);
    let id = submit(&d.addr, KETTLE);
    // The cell registry holds a record while the cell runs: kill the daemon then.
    let cells = tmp.path().join("run").join("cells");
    let deadline = Instant::now() + Duration::from_secs(60);
    let registered = |dir: &Path| {
        std::fs::read_dir(dir).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json")))
        })
    };
    while !registered(&cells) {
        assert!(Instant::now() < deadline, "no cell started");
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut d = d;
    d.child.kill().unwrap();
    d.killed(None);
    assert!(registered(&cells), "the killed cell's record is left");
    let d = start(tmp.path(), 2, &[]);
    all_well(tmp.path(), &d, std::slice::from_ref(&id), &[KETTLE_PAID]);
    assert!(!registered(&cells), "stale cell records are dropped");
    let events = events(&d.addr, &id);
    assert!(kinds(&events, "dispatched") >= 2);
    // The killed cell's supervisor died with the daemon and never removed its cgroup; the
    // restarted router's takeover of the turn did.
    let killed = events
        .iter()
        .find(|e| e["event"]["event"] == "dispatched")
        .map(|e| e["event"]["cell"].as_str().unwrap().to_string())
        .unwrap();
    let left = cgroups_named(Path::new("/sys/fs/cgroup"), &format!("silo-{killed}"), 0);
    assert!(
        left.is_empty(),
        "the killed cell's cgroups are left: {left:?}"
    );
}

/// Cgroup directories called `name` under `dir` (symbolic links not followed).
fn cgroups_named(dir: &Path, name: &str, depth: usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if e.file_name() == name {
            found.push(e.path());
        } else if depth < 8 {
            found.extend(cgroups_named(&e.path(), name, depth + 1));
        }
    }
    found
}

#[test]
fn killed_after_the_refund_is_committed_the_retried_turn_replays_it() {
    needs_root!();
    let tmp = tempfile::tempdir().unwrap();
    // A daily total on refunds, so the membrane counts them (`usage_events`).
    std::fs::create_dir_all(tmp.path().join("data")).unwrap();
    std::fs::write(
        tmp.path().join("data/policy.yaml"),
        "version: 1\ndefault: allow\nrules:\n  - name: refunds-a-day\n    action: refund\n    daily_total: { per: agent, max_cents: 1000000 }\n    effect: deny\n",
    )
    .unwrap();
    let (d, id) = crash_once(tmp.path(), KETTLE, "after_refund_committed", "1");
    all_well(tmp.path(), &d, std::slice::from_ref(&id), &[KETTLE_PAID]);
    // The crash lost the first call's usage record; the replay counted the refund, once.
    let usage = rusqlite::Connection::open(tmp.path().join("data/membrane/membrane.db"))
        .unwrap()
        .query_row(
            "SELECT count(*), COALESCE(sum(amount), 0) FROM usage_events
             WHERE action = 'refund' AND scope = 'agent'",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )
        .unwrap();
    assert_eq!(usage, (1, KETTLE_PAID.1), "the refunds in the daily total");
    // The second turn asked again and was told it was already paid.
    let db = rusqlite::Connection::open(tmp.path().join("data/audit/audit.db")).unwrap();
    let replayed: Vec<bool> = db
        .prepare(
            "SELECT json_extract(body, '$.detail.replayed') FROM audit_entries
             WHERE action = 'refund' ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(replayed, [true], "the refund calls in the audit log");
}

#[test]
fn killed_during_an_escalation_the_manager_pays_once() {
    needs_root!();
    let tmp = tempfile::tempdir().unwrap();
    let (d, id) = crash_once(tmp.path(), SOFA, "during_escalation", "1");
    all_well(tmp.path(), &d, std::slice::from_ref(&id), &[SOFA_PAID]);
    let events = events(&d.addr, &id);
    assert_eq!(kinds(&events, "escalated"), 1, "{events:?}");
    let task = wait_final(&d.addr, &id);
    assert_eq!(task["run"]["agent"], "manager-agent", "{task}");
}

#[test]
fn killed_inside_audit_appends_the_chain_verifies_and_router_events_are_copied_once() {
    needs_root!();
    // The 2nd append is the router's record of the first dispatch (the cell has not
    // started); the 6th is one of the cell's membrane calls.
    for after in ["2", "6"] {
        let tmp = tempfile::tempdir().unwrap();
        let (d, id) = crash_once(tmp.path(), KETTLE, "during_audit_append", after);
        all_well(tmp.path(), &d, std::slice::from_ref(&id), &[KETTLE_PAID]);
    }
}

/// Every SQLite database under `dir` (by its header), `PRAGMA integrity_check`ed.
fn check_sqlite_files(dir: &Path) -> usize {
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            checked += check_sqlite_files(&path);
            continue;
        }
        let mut head = [0u8; 16];
        let is_db = std::fs::File::open(&path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
            && &head == b"SQLite format 3\0";
        if !is_db {
            continue;
        }
        let db = rusqlite::Connection::open(&path).unwrap();
        let result: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(result, "ok", "{}", path.display());
        checked += 1;
    }
    checked
}

/// A small xorshift, seeded from the clock (printed; `SILO_CRASH_SEED` repeats a run).
fn rng() -> impl FnMut(u64) -> u64 {
    let mut x = std::env::var("SILO_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("power-loss test: SILO_CRASH_SEED={x}");
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}

#[test]
fn killed_at_random_moments_under_heavy_writes_every_store_stays_whole() {
    // No cells: the agent is offline, so every task goes to the human inbox — submissions
    // (vault, router store, audit log) and the workers' dispatches write concurrently.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut random = rng();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    for round in 0..5 {
        let d = start(tmp.path(), round, &[]);
        if round == 0 {
            let (s, b) = crate::http(&d.addr, "POST", "/v1/agents/refund-agent/offline", "");
            assert_eq!(s, 200, "{b}");
        }
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (addr, acked) = (d.addr.clone(), acked.clone());
                std::thread::spawn(move || {
                    for i in 0.. {
                        let task = KETTLE.replace("cus_001", &format!("cus_00{}", 1 + (w + i) % 8));
                        match try_http(&addr, "POST", "/v1/tasks", &task) {
                            Some((201, created)) => acked
                                .lock()
                                .unwrap()
                                .push(created["id"].as_str().unwrap().to_string()),
                            Some((status, body)) => panic!("{status} {body}"),
                            None => return,
                        }
                    }
                })
            })
            .collect();
        // Some writes of this round acknowledged first (a loaded machine is slow), then a
        // random moment.
        let before = acked.lock().unwrap().len();
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.lock().unwrap().len() < before + 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(random(1200)));
        let mut d = d;
        d.child.kill().unwrap();
        d.killed(None);
        for w in writers {
            w.join().unwrap();
        }
        // The router store, the audit log, the vault, the membrane's and business databases.
        assert!(check_sqlite_files(&data) >= 3);
    }
    let d = start(tmp.path(), 9, &[]);
    let acked = acked.lock().unwrap().clone();
    eprintln!("power-loss test: {} tasks acknowledged", acked.len());
    assert!(
        acked.len() >= 15,
        "too few writes to mean anything: {}",
        acked.len()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &acked {
        loop {
            let (status, task) = crate::http(&d.addr, "GET", &format!("/v1/tasks/{id}"), "");
            assert_eq!(status, 200, "acknowledged task {id} is gone: {task}");
            if task["state"] == "waiting_for_human" {
                break;
            }
            assert!(Instant::now() < deadline, "{id} stuck: {task}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let ids = task_ids(&d.addr);
    router_events_audited_once(&d.addr, &data, &ids);
    let verify = silo_at(&data, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", crate::text(&verify));
}
