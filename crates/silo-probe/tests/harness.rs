//! Running the probe in a cell, on the host, and in weakened cells.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

/// The `silo` binary, built beside the probe by `cargo test --workspace`.
pub fn silo_bin() -> PathBuf {
    let probe = Path::new(env!("CARGO_BIN_EXE_silo-probe"));
    let silo = probe.with_file_name("silo");
    assert!(
        silo.exists(),
        "`{}` is missing: run the suite with `cargo test --workspace` so the silo binary is built",
        silo.display()
    );
    silo
}

/// True when the suite can run (root). Prints why it skips otherwise.
pub fn can_run() -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    if !root {
        eprintln!("SKIPPED: the escape suite needs root (CI runs it as root)");
    }
    root
}

/// An agent folder holding the probe (and whatever else a test adds).
pub struct Agent {
    pub dir: TempDir,
}

impl Agent {
    pub fn new() -> Agent {
        let dir = tempfile::Builder::new()
            .prefix("silo-agent-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let probe = dir.path().join("silo-probe");
        std::fs::copy(env!("CARGO_BIN_EXE_silo-probe"), &probe).unwrap();
        std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
        Agent { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, body: &str) {
        let p = self.dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    #[allow(dead_code)] // shown in failure messages through Debug
    pub stderr: String,
    pub code: Option<i32>,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            code: o.status.code(),
        }
    }

    pub fn escaped(&self) -> bool {
        self.stdout.lines().any(|l| l.starts_with("ESCAPED:"))
    }

    pub fn blocked(&self) -> bool {
        self.stdout.lines().any(|l| l.starts_with("BLOCKED:")) && !self.escaped()
    }

    #[track_caller]
    pub fn assert_blocked(&self) {
        assert!(self.blocked(), "expected BLOCKED, got {self:#?}");
    }

    #[track_caller]
    pub fn assert_escaped(&self) {
        assert!(
            self.escaped(),
            "expected ESCAPED (the probe must detect a working attack), got {self:#?}"
        );
    }

    /// The outcome JSON printed by `--json` (the last stdout line).
    pub fn outcome(&self) -> serde_json::Value {
        let line = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|_| panic!("no outcome JSON in {self:#?}"))
    }
}

/// `silo cell run --agent <agent> [opts] -- /agent/silo-probe <probe>`.
pub fn in_cell(agent: &Agent, opts: &[&str], probe: &[&str]) -> Run {
    in_cell_with(agent, opts, probe, Stdio::null())
}

pub fn in_cell_with(agent: &Agent, opts: &[&str], probe: &[&str], stdin: Stdio) -> Run {
    let out = Command::new(silo_bin())
        .args(["cell", "run", "--agent"])
        .arg(agent.path())
        .args(opts)
        .arg("--")
        .arg("/agent/silo-probe")
        .args(probe)
        .stdin(stdin)
        .output()
        .unwrap();
    Run::from(out)
}

/// The same probe run directly on the host (the control).
pub fn on_host(agent: &Agent, probe: &[&str], tmpdir: &Path) -> Run {
    on_host_with(agent, probe, tmpdir, Stdio::null())
}

pub fn on_host_with(agent: &Agent, probe: &[&str], tmpdir: &Path, stdin: Stdio) -> Run {
    let out = Command::new(agent.path().join("silo-probe"))
        .args(probe)
        .env("TMPDIR", tmpdir)
        .stdin(stdin)
        .output()
        .unwrap();
    Run::from(out)
}

/// Hex for `proc-scan`.
pub fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}
