//! Starting a cell from a multi-threaded caller (the membrane, the router):
//! re-execute the `silo` binary as `silo __cell-supervise`, a fresh
//! single-threaded process, and hand it the spec on stdin. The outcome comes
//! back as a JSON file, so the agent's own stdout and stderr stay untouched.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::{CellError, CellOutcome, CellSpec};

/// A supervisor process started by [`spawn_supervisor`].
#[derive(Debug)]
pub struct SupervisorHandle {
    child: Child,
    outcome: PathBuf,
}

/// What `silo __cell-supervise` writes to its outcome file.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisorResult {
    /// The cell ran.
    Outcome(CellOutcome),
    /// The cell could not be run; the message is the error's display text.
    Error(String),
}

/// Starts `silo_exe __cell-supervise --outcome FILE` for `spec`, with the
/// agent's stdout and stderr going where the caller says.
pub fn spawn_supervisor(
    silo_exe: &Path,
    spec: &CellSpec,
    stdout: Stdio,
    stderr: Stdio,
) -> Result<SupervisorHandle, CellError> {
    spec.validate()?;
    let outcome = spec.run_dir.join(format!("{}.outcome.json", spec.id));
    std::fs::create_dir_all(&spec.run_dir).map_err(CellError::sys("create the run directory"))?;
    let body = serde_json::to_vec(spec).map_err(|e| CellError::InvalidSpec(e.to_string()))?;
    // No pre-exec hook: std can then start the supervisor with posix_spawn instead of a
    // full fork of a (possibly large, multi-threaded) caller. The supervisor arms its own
    // parent-death signal first thing and checks it still has this parent
    // (`die_with_parent`), which covers the same ground.
    let mut child = Command::new(silo_exe)
        .arg("__cell-supervise")
        .arg("--outcome")
        .arg(&outcome)
        .arg("--parent-pid")
        .arg(std::process::id().to_string())
        .arg("--parent-tid")
        .arg(nix::unistd::gettid().to_string())
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(CellError::sys(format!("start {}", silo_exe.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&body)
            .map_err(CellError::sys("send the cell spec"))?;
    }
    Ok(SupervisorHandle { child, outcome })
}

impl SupervisorHandle {
    /// Host pid of the supervisor.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the cell to finish and returns its outcome.
    pub fn wait(mut self) -> Result<CellOutcome, CellError> {
        let status = self
            .child
            .wait()
            .map_err(CellError::sys("wait for the supervisor"))?;
        let body = std::fs::read(&self.outcome).map_err(|e| CellError::Sys {
            op: format!("read the cell outcome (supervisor exited with {status})"),
            source: e,
        })?;
        let _ = std::fs::remove_file(&self.outcome);
        match serde_json::from_slice(&body).map_err(|e| CellError::InvalidSpec(e.to_string()))? {
            SupervisorResult::Outcome(o) => Ok(o),
            SupervisorResult::Error(e) => Err(CellError::Setup {
                stage: "supervisor".into(),
                message: e,
            }),
        }
    }
}

/// The body of `silo __cell-supervise --outcome FILE`: read a spec from
/// `input`, run it, write the result to `outcome`.
/// Called first thing in a supervisor started by [`spawn_supervisor`]: it gets SIGKILL
/// when the thread that spawned it ends (and with it the cell: its init has a parent-death
/// signal too; a dead caller holds the cell's membrane, so the cell could do nothing
/// useful without it). If that parent is already gone, it stops here.
pub fn die_with_parent(expected_parent: u32, parent_thread: u32) -> Result<(), CellError> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .map_err(|e| CellError::sys("arm the parent-death signal")(std::io::Error::from(e)))?;
    // The parent — or the thread that spawned us, after which Linux hands us to another
    // thread of its process — may have died before the signal was armed.
    let thread = format!("/proc/{expected_parent}/task/{parent_thread}");
    if std::os::unix::process::parent_id() != expected_parent
        || !std::path::Path::new(&thread).exists()
    {
        return Err(CellError::sys("start the supervisor")(
            std::io::Error::other("the process that spawned it is gone"),
        ));
    }
    Ok(())
}

pub fn supervise_from(
    input: &mut dyn std::io::Read,
    outcome: &Path,
) -> Result<CellOutcome, CellError> {
    let mut body = Vec::new();
    input
        .read_to_end(&mut body)
        .map_err(CellError::sys("read the cell spec"))?;
    let result = serde_json::from_slice::<CellSpec>(&body)
        .map_err(|e| CellError::InvalidSpec(format!("bad cell spec: {e}")))
        .and_then(|spec| crate::run_cell(&spec, &mut |_| {}));
    let record = match &result {
        Ok(o) => SupervisorResult::Outcome(o.clone()),
        Err(e) => SupervisorResult::Error(e.to_string()),
    };
    let text = serde_json::to_vec(&record).map_err(|e| CellError::InvalidSpec(e.to_string()))?;
    std::fs::write(outcome, text)
        .map_err(CellError::sys(format!("write {}", outcome.display())))?;
    result
}
