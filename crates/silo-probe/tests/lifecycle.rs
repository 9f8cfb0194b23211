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

/// Starts `silo cell run -- /bin/sleep 50` and waits until `ps` lists it.
#[allow(clippy::zombie_processes)] // the caller waits for the child
fn start_sleeping_cell(run_dir: &str) -> (std::process::Child, String) {
    let child = Command::new(silo_bin())
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
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(c) = ps(run_dir).as_array().and_then(|a| a.first()) {
            return (child, c["id"].as_str().unwrap().to_string());
        }
        assert!(Instant::now() < deadline, "cell never showed up in ps");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pause_resume_and_kill_a_running_cell() {
    if !can_run() {
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let run_dir = run.path().to_str().unwrap();
    let (mut child, id) = start_sleeping_cell(run_dir);
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
    let (mut child, id) = start_sleeping_cell(run_dir);
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

#[test]
fn sigterm_to_silo_reaches_the_agent() {
    if !can_run() {
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let mut child = Command::new(silo_bin())
        .args([
            "cell",
            "run",
            "--run-dir",
            run.path().to_str().unwrap(),
            "--",
        ])
        .args([
            "/bin/sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(rest.contains("got-term"), "{rest}");
    assert_eq!(child.wait().unwrap().code(), Some(7));
}

#[test]
fn the_cell_init_reaps_orphans() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    agent.write(
        "orphans.py",
        r#"
import os, time
for _ in range(5):
    if os.fork() == 0:          # child
        if os.fork() == 0:      # grandchild: orphaned, exits soon
            time.sleep(0.1); os._exit(0)
        os._exit(0)
    os.wait()
time.sleep(0.5)
zombies = []
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            state = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            zombies.append(p)
print("zombies:", len(zombies))
"#,
    );
    let out = Command::new(silo_bin())
        .args(["cell", "run", "--agent"])
        .arg(agent.path())
        .args(["--", "python3", "/agent/orphans.py"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout.trim(), "zombies: 0");
}

#[test]
fn a_killed_supervisor_takes_the_whole_cell_with_it() {
    if !can_run() {
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let run_dir = run.path().to_str().unwrap();
    let (mut child, id) = start_sleeping_cell(run_dir);
    let init = ps(run_dir)[0]["init_pid"].as_u64().unwrap();
    // SIGKILL: no handler runs, no cleanup; only the parent-death signals can act. When a
    // pid namespace's init dies, the kernel kills everything else in it.
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let proc_dir = format!("/proc/{init}");
    loop {
        let alive = std::fs::read_to_string(format!("{proc_dir}/status"))
            .map(|s| !s.contains("State:\tZ"))
            .unwrap_or(false);
        if !alive {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cell {id} (init pid {init}) outlived its supervisor"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
