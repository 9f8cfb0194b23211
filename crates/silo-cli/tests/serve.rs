//! `silo serve`: the daemon takes a task over its localhost API and runs it through real
//! cells; killed with SIGKILL mid-task and restarted, it finishes the task once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Daemon {
    child: Child,
    addr: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, run: &Path) -> Daemon {
    let mut child = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0", "--lease-secs", "2"])
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

fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
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
}
