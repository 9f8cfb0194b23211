//! `silo serve`: the daemon takes a task over its localhost API and runs it through real
//! cells; killed with SIGKILL mid-task and restarted, it finishes the task once. It sees an
//! agent taken offline by another process, lists and signals tasks, and streams the event
//! log as Server-Sent Events (these tests run no cell: the agent is offline).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http;

/// The example project's agents, relative to the repository root.
const AGENTS: &str = "examples/customer-service/agents";

pub(crate) struct Daemon {
    pub(crate) child: Child,
    pub(crate) addr: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start(data: &Path, run: &Path) -> Daemon {
    let mut child = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(data)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-console",
            "--lease-secs",
            "2",
        ])
        .args(["--agents", AGENTS])
        .env("SILO_RUN_DIR", run)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    Daemon { child, addr }
}

fn wait_for_state(addr: &str, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, task) = http(addr, "GET", &format!("/v1/tasks/{id}"), "");
        if task["state"] == want || Instant::now() > deadline {
            return task;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

const TASK: &str = r#"{"entry":"refund-agent","customer":"cus_001","case":"case_001","input":{"message":"Jane Smith: my sofa ord_1003 arrived broken!"}}"#;

#[test]
fn the_daemon_runs_a_submitted_task_through_cells() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = start(&tmp.path().join("data"), &tmp.path().join("run"));
    let (status, created) = http(&d.addr, "POST", "/v1/tasks", TASK);
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let task = wait_for_state(&d.addr, id, "completed");
    assert_eq!(task["state"], "completed", "{task}");
    assert_eq!(task["run"]["agent"], "manager-agent");
    assert!(
        task["spec"]["input"]["message"]
            .as_str()
            .unwrap()
            .starts_with("[NAME_1]"),
        "{task}"
    );
    let (status, _) = http(&d.addr, "POST", "/v1/tasks", r#"{"entry":"nobody"}"#);
    assert_eq!(status, 400);
    let (status, _) = http(&d.addr, "GET", "/v1/tasks/task-999", "");
    assert_eq!(status, 404);
    // The CLI hands a task to the daemon and waits for it.
    let server = format!("http://{}", d.addr);
    let o = silo_at(
        &tmp.path().join("data"),
        &[
            "--json",
            "task",
            "submit",
            "--server",
            &server,
            "--wait",
            "--agent",
            "refund-agent",
            "--customer",
            "cus_001",
            "--case",
            "case_001",
            "--input",
            r#"{"message":"Jane Smith: the kettle ord_1001 arrived dented"}"#,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", crate::text(&o));
    let waited: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(waited["state"], "completed", "{waited}");
    assert_eq!(waited["run"]["agent"], "refund-agent");
    let o = silo_at(
        &tmp.path().join("data"),
        &[
            "task",
            "submit",
            "--server",
            &server,
            "--agent",
            "nobody",
            "--customer",
            "cus_001",
            "--case",
            "case_001",
        ],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("refused the task (400)"));
}

#[test]
fn killed_mid_task_and_restarted_the_daemon_finishes_it_once() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, run) = (tmp.path().join("data"), tmp.path().join("run"));
    let mut d = start(&data, &run);
    let (status, created) = http(&d.addr, "POST", "/v1/tasks", TASK);
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    // Let a worker claim the job and start a cell, then SIGKILL the daemon.
    std::thread::sleep(Duration::from_millis(250));
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let d = start(&data, &run);
    let task = wait_for_state(&d.addr, &id, "completed");
    assert_eq!(task["state"], "completed", "{task}");
    let ledger = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--json", "membrane", "ledger", "--customer", "cus_001"])
        .output()
        .unwrap();
    let paid: Value = serde_json::from_slice(&ledger.stdout).unwrap();
    assert_eq!(paid.as_array().unwrap().len(), 1, "paid once: {paid}");
    // Every key the router minted for the task, the abandoned turn's included, is revoked,
    // and the audit log (cells' calls and the router's events) verifies.
    let (_, events) = http(&d.addr, "GET", &format!("/v1/tasks/{id}/events"), "");
    let revoked = std::fs::read_to_string(data.join("keys").join("revoked.json")).unwrap();
    let minted: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["event"] == "dispatched")
        .map(|e| e["event"]["task_key_jti"].as_str().unwrap())
        .collect();
    assert!(!minted.is_empty());
    for jti in &minted {
        assert!(revoked.contains(jti), "{jti} outlived its turn");
    }
    let verify = silo_at(&data, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", crate::text(&verify));
}

pub(crate) fn silo_at(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap()
}

/// A GET's whole response (lower-cased headers and the body) as text.
fn get_text(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    format!("{}\n{body}", head.to_lowercase())
}

pub(crate) fn online(addr: &str, agent: &str) -> Value {
    let (status, agents) = http(addr, "GET", "/v1/agents", "");
    assert_eq!(status, 200, "{agents}");
    agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == agent)
        .unwrap_or_else(|| panic!("no {agent} in {agents}"))["online"]
        .clone()
}

fn submit(addr: &str, customer: &str) -> String {
    let task = TASK.replace("cus_001", customer);
    let (status, created) = http(addr, "POST", "/v1/tasks", &task);
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

fn ids(tasks: &Value) -> Vec<&str> {
    tasks
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {tasks}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect()
}

/// Opens an event stream (`headers`: extra lines, each ending in CRLF); the response
/// headers are read and checked.
fn event_stream(addr: &str, path: &str, headers: &str) -> BufReader<TcpStream> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nhost: localhost\r\n{headers}\r\n").unwrap();
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    reader
}

/// The next event of a stream: (id, event kind, data). Chunk-size lines are skipped.
fn next_event(reader: &mut BufReader<TcpStream>) -> (u64, String, Value) {
    let (mut id, mut kind) = (None, None);
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended");
        let line = line.trim_end();
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.parse().unwrap());
        } else if let Some(v) = line.strip_prefix("event: ") {
            kind = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("data: ") {
            return (id.unwrap(), kind.unwrap(), serde_json::from_str(v).unwrap());
        }
    }
}

#[test]
fn a_running_daemon_sees_an_agent_taken_offline_by_another_process() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = start(&data, &tmp.path().join("run"));
    assert_eq!(online(&d.addr, "refund-agent"), true);
    // The daemon re-executed itself (same PID) with glibc's arena limit.
    let environ = std::fs::read(format!("/proc/{}/environ", d.child.id())).unwrap();
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|v| v == b"MALLOC_ARENA_MAX=2"),
        "{}",
        String::from_utf8_lossy(&environ)
    );

    let off = silo_at(&data, &["agent", "offline", "refund-agent"]);
    assert!(off.status.success(), "{}", crate::text(&off));
    assert_eq!(online(&d.addr, "refund-agent"), false);
    let id = submit(&d.addr, "cus_001");
    let task = wait_for_state(&d.addr, &id, "waiting_for_human");
    assert_eq!(task["state"], "waiting_for_human", "{task}");
    assert_eq!(
        task["dispatches"], 0,
        "no cell for an offline agent: {task}"
    );
    let pool = task["run"]["agent"].as_str().unwrap();
    let (status, inbox) = http(&d.addr, "GET", &format!("/v1/inbox/{pool}"), "");
    assert_eq!((status, ids(&inbox)), (200, vec![id.as_str()]));
    // The same state as Prometheus gauges.
    let metrics = get_text(&d.addr, "/metrics");
    assert!(
        metrics.contains("content-type: text/plain; version=0.0.4"),
        "{metrics}"
    );
    for line in [
        "silo_tasks{state=\"waiting_for_human\"} 1".to_owned(),
        "silo_tasks{state=\"completed\"} 0".to_owned(),
        format!("silo_human_queue_depth{{pool=\"{pool}\"}} 1"),
        "silo_router_events_total{kind=\"task_created\"} 1".to_owned(),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in:\n{metrics}"
        );
    }

    // And the other way: the daemon marks it online, the command line sees it.
    let (status, body) = http(&d.addr, "POST", "/v1/agents/refund-agent/online", "");
    assert_eq!(status, 200, "{body}");
    let list = silo_at(&data, &["--json", "agent", "list", "--agents", AGENTS]);
    let agents: Value = serde_json::from_slice(&list.stdout).unwrap();
    let refund = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "refund-agent")
        .unwrap();
    assert_eq!(refund["online"], true, "{agents}");
    for path in ["/v1/agents/nobody/offline", "/v1/agents/human/offline"] {
        let (status, body) = http(&d.addr, "POST", path, "");
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("not a known agent"));
    }
}

#[test]
fn the_daemon_lists_signals_and_streams_tasks_and_refuses_bad_requests() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = start(&tmp.path().join("data"), &tmp.path().join("run"));
    let (status, body) = http(&d.addr, "POST", "/v1/agents/refund-agent/offline", "");
    assert_eq!(status, 200, "{body}");
    let first = submit(&d.addr, "cus_001");
    let second = submit(&d.addr, "cus_002");
    for id in [&first, &second] {
        assert_eq!(
            wait_for_state(&d.addr, id, "waiting_for_human")["state"],
            "waiting_for_human"
        );
    }

    // The stream replays the task's log, then pushes what is appended later.
    let mut stream = event_stream(&d.addr, &format!("/v1/events?task={first}"), "");
    let (seq, kind, data) = next_event(&mut stream);
    assert_eq!(
        (kind.as_str(), &data["task"]),
        ("task_created", &json!(first))
    );
    assert_eq!(data["seq"], seq);
    let (status, refused) = http(
        &d.addr,
        "POST",
        &format!("/v1/tasks/{first}/signal"),
        r#"{"signal":"stop"}"#,
    );
    assert_eq!(status, 409, "a waiting task cannot be paused: {refused}");
    assert!(refused["error"]
        .as_str()
        .unwrap()
        .contains("waiting_for_human"));
    let (status, killed) = http(
        &d.addr,
        "POST",
        &format!("/v1/tasks/{first}/signal"),
        r#"{"signal":"kill"}"#,
    );
    assert_eq!(
        (status, &killed["task"]["state"]),
        (200, &json!("aborted")),
        "{killed}"
    );
    assert_eq!(
        killed["cell_signalled"], false,
        "no cell was running: {killed}"
    );
    let mut last = seq;
    let kinds: Vec<String> = std::iter::from_fn(|| {
        let (seq, kind, data) = next_event(&mut stream);
        assert!(seq > last, "ids increase");
        assert_eq!(data["task"], json!(first), "only the asked task");
        last = seq;
        Some(kind)
    })
    .take_while(|k| k != "signal_kill")
    .collect();
    assert!(
        kinds.contains(&"escalated_to_human".to_string()),
        "{kinds:?}"
    );
    // A reconnecting client resumes after the last id it saw.
    let mut resumed = event_stream(
        &d.addr,
        &format!("/v1/events?task={first}"),
        &format!("last-event-id: {seq}\r\n"),
    );
    let (next, kind, _) = next_event(&mut resumed);
    assert!(next > seq, "{next} after {seq}");
    assert_eq!(kind, kinds[0]);

    let (status, body) = http(
        &d.addr,
        "POST",
        &format!("/v1/tasks/{first}/signal"),
        r#"{"signal":"cont"}"#,
    );
    assert_eq!(status, 409, "{body}");
    let (status, _) = http(
        &d.addr,
        "POST",
        "/v1/tasks/task-999/signal",
        r#"{"signal":"kill"}"#,
    );
    assert_eq!(status, 404);

    let list = |query: &str| http(&d.addr, "GET", &format!("/v1/tasks{query}"), "");
    assert_eq!(ids(&list("").1), [second.as_str(), first.as_str()]);
    assert_eq!(ids(&list("?state=aborted").1), [first.as_str()]);
    assert_eq!(ids(&list("?customer=cus_002&state=").1), [second.as_str()]);
    assert_eq!(ids(&list("?limit=1").1), [second.as_str()]);
    assert_eq!(ids(&list("?agent=refund-agent").1), Vec::<&str>::new());

    let bad = [
        ("GET", "/v1/tasks?state=bogus", "", "`bogus`"),
        ("GET", "/v1/tasks?limit=0", "", "limit"),
        ("GET", "/v1/tasks?limit=1001", "", "limit"),
        ("GET", "/v1/tasks?limit=ten", "", "`ten`"),
        ("GET", "/v1/tasks?colour=red", "", "`colour`"),
        ("GET", "/v1/tasks?state=queued&state=failed", "", "twice"),
        ("GET", "/v1/events?after=-1", "", "`-1`"),
        (
            "POST",
            "/v1/tasks/task-1/signal",
            r#"{"signal":"pause"}"#,
            "pause",
        ),
        ("POST", "/v1/tasks/task-1/signal", "not json", "expected"),
    ];
    for (method, path, body, says) in bad {
        let (status, answer) = http(&d.addr, method, path, body);
        assert_eq!(status, 400, "{method} {path}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{method} {path}: {answer}");
    }
    let (status, _) = http(&d.addr, "GET", "/v1/events?task=task-999", "");
    assert_eq!(status, 404);
}

/// One raw request with exactly these header lines; the status.
fn raw(addr: &str, head: &str, body: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{head}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_daemon_refuses_what_a_web_page_could_send() {
    let tmp = tempfile::tempdir().unwrap();
    let d = start(&tmp.path().join("data"), &tmp.path().join("run"));
    // A "simple" cross-site POST (no preflight): text/plain, with an Origin.
    let page = "POST /v1/tasks HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: text/plain\r\norigin: https://evil.example";
    assert_eq!(raw(&d.addr, page, TASK), 403);
    // The same without Origin but not JSON.
    let plain = "POST /v1/tasks HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: text/plain";
    assert_eq!(raw(&d.addr, plain, TASK), 415);
    // DNS rebinding: the browser sends the attacker's host name.
    let rebound = "GET /v1/tasks HTTP/1.1\r\nhost: attacker.example:8700";
    assert_eq!(raw(&d.addr, rebound, ""), 403);
    let kill = "POST /v1/tasks/task-1/signal HTTP/1.1\r\nhost: evil.example\r\ncontent-type: application/json";
    assert_eq!(raw(&d.addr, kill, r#"{"signal":"kill"}"#), 403);
    // Nothing was created; a local program's requests still work.
    let (status, tasks) = http(&d.addr, "GET", "/v1/tasks", "");
    assert_eq!(status, 200);
    assert_eq!(tasks, json!([]));
    let ok = "GET /v1/tasks HTTP/1.1\r\nhost: [::1]:8700";
    assert_eq!(raw(&d.addr, ok, ""), 200);
}
