//! What an agent may do: run python3, read its folder, write its tmpfs, talk
//! over the membrane socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;

use crate::harness::*;

#[test]
fn python_reads_its_folder_writes_tmp_and_talks_over_the_socket() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    agent.write("instructions.md", "be kind\n");
    agent.write(
        "main.py",
        r#"
import os, socket, json
instructions = open("/agent/instructions.md").read().strip()
with open(os.path.join(os.environ["TMPDIR"], "scratch.txt"), "w") as f:
    f.write("scratch")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["SILO_SOCKET"])
s.sendall(b"ping\n")
reply = s.makefile().readline().strip()
print(json.dumps({"instructions": instructions, "reply": reply, "uid": os.getuid(),
                  "home": os.environ["HOME"], "scratch": open("/tmp/scratch.txt").read()}))
"#,
    );
    let sock_dir = tempfile::tempdir().unwrap();
    let sock_path = sock_dir.path().join("membrane.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    std::fs::set_permissions(&sock_path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        s.write_all(format!("pong:{}\n", line.trim()).as_bytes())
            .unwrap();
    });
    let out = std::process::Command::new(silo_bin())
        .args(["cell", "run", "--agent"])
        .arg(agent.path())
        .arg("--socket")
        .arg(&sock_path)
        .args(["--", "python3", "/agent/main.py"])
        .output()
        .unwrap();
    server.join().unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["instructions"], "be kind");
    assert_eq!(v["reply"], "pong:ping");
    assert_eq!(v["uid"], 1000);
    assert_eq!(v["home"], "/tmp");
    assert_eq!(v["scratch"], "scratch");
}

#[test]
fn the_agent_runs_as_its_own_unprivileged_host_uid() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    agent.write("main.py", "import time; time.sleep(5)\n");
    let mut child = std::process::Command::new(silo_bin())
        .args(["cell", "run", "--name", "uid-check-agent", "--agent"])
        .arg(agent.path())
        .args(["--", "python3", "/agent/main.py"])
        .spawn()
        .unwrap();
    // Find the agent's python on the host and read its real uid.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let uid = loop {
        let found = std::fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).into_owned();
            if !cmd.starts_with("python3\0/agent/main.py") {
                return None;
            }
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            status.lines().find_map(|l| {
                l.strip_prefix("Uid:").map(|v| {
                    v.split_whitespace()
                        .map(|x| x.parse::<u32>().unwrap())
                        .collect::<Vec<_>>()
                })
            })
        });
        if let Some(u) = found {
            break u;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "agent process not found"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        uid.iter().all(|u| *u >= 0x10_0000),
        "agent host uids {uid:?} must be in silo's unprivileged range"
    );
}
