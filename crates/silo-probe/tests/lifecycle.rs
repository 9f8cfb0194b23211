//! `silo cell ps|stop|cont|kill` on a running cell.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

fn ps(run_dir: &str) -> serde_json::Value {
    let out = Command::new(silo_bin())
        .args(["--json", "cell", "ps", "--run-dir", run_dir])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn cell_cmd(verb: &str, id: &str, run_dir: &str) {
    let out = Command::new(silo_bin())
        .args(["cell", verb, id, "--run-dir", run_dir])
        .output()
        .unwrap();
    assert!(out.status.success(), "{verb}: {out:?}");
}

#[test]
fn pause_resume_and_kill_a_running_cell() {
    if !can_run() {
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let run_dir = run.path().to_str().unwrap();
    let mut child = Command::new(silo_bin())
        .args([
            "cell",
            "run",
            "--timeout",
            "60s",
            "--run-dir",
            run_dir,
            "--",
            "/bin/sleep",
            "50",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let id = loop {
        let cells = ps(run_dir);
        if let Some(c) = cells.as_array().and_then(|a| a.first()) {
            break c["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "cell never showed up in ps");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(ps(run_dir)[0]["state"], "running");
    cell_cmd("stop", &id, run_dir);
    assert_eq!(ps(run_dir)[0]["state"], "paused");
    cell_cmd("cont", &id, run_dir);
    assert_eq!(ps(run_dir)[0]["state"], "running");
    cell_cmd("kill", &id, run_dir);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(137));
    assert!(ps(run_dir).as_array().unwrap().is_empty());
}

#[test]
fn a_paused_cell_can_be_killed() {
    if !can_run() {
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let run_dir = run.path().to_str().unwrap();
    let mut child = Command::new(silo_bin())
        .args([
            "cell",
            "run",
            "--run-dir",
            run_dir,
            "--",
            "/bin/sleep",
            "50",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let id = loop {
        if let Some(c) = ps(run_dir).as_array().and_then(|a| a.first()) {
            break c["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    };
    cell_cmd("stop", &id, run_dir);
    cell_cmd("kill", &id, run_dir);
    assert_eq!(child.wait().unwrap().code(), Some(137));
}

#[test]
fn unknown_cell_ids_are_a_clear_error() {
    let run = tempfile::tempdir().unwrap();
    let out = Command::new(silo_bin())
        .args([
            "cell",
            "kill",
            "c-000000000000",
            "--run-dir",
            run.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no running cell `c-000000000000`"), "{err}");
}
