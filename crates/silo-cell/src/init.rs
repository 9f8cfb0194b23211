//! The cell's PID 1. It finishes building the cell (cgroup namespace,
//! hostname, root), becomes the cell's unprivileged root, starts the agent,
//! reaps every zombie, forwards signals to the agent, enforces the wall
//! clock, and reports how the agent ended. When it exits, the kernel kills
//! everything left in the pid namespace.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Instant;

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Gid, Pid, Uid};
use serde::{Deserialize, Serialize};

use crate::seccomp::CellFilter;
use crate::{agent, rootfs, sys, CellSpec};

/// Signals the init passes on to the agent.
pub(crate) const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// What the init tells the supervisor, as one JSON line on the status pipe.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum InitReport {
    Exited { code: i32 },
    Signaled { signal: i32 },
    TimedOut,
    NotFound { command: String },
    Failed { stage: String, message: String },
}

/// Everything the init needs, prepared by the supervisor before clone.
pub(crate) struct InitContext<'a> {
    pub(crate) spec: &'a CellSpec,
    pub(crate) filter: &'a CellFilter,
    pub(crate) new_root: PathBuf,
    pub(crate) root_mode: bool,
    pub(crate) memory_fallback: bool,
}

/// The body of the cloned child. Never returns to the supervisor's code.
pub(crate) fn main(
    ctx: &InitContext<'_>,
    sync: &mut Option<OwnedFd>,
    status: &mut Option<OwnedFd>,
) -> isize {
    let (Some(sync), Some(status)) = (sync.take(), status.take()) else {
        return 1;
    };
    let report = run(ctx, sync, &status);
    let mut line = serde_json::to_vec(&report).unwrap_or_default();
    line.push(b'\n');
    let mut out = std::fs::File::from(status);
    let _ = out.write_all(&line);
    std::process::exit(0)
}

fn failed(stage: &str, e: impl std::fmt::Display) -> InitReport {
    InitReport::Failed {
        stage: stage.to_string(),
        message: e.to_string(),
    }
}

fn run(ctx: &InitContext<'_>, sync: OwnedFd, status: &OwnedFd) -> InitReport {
    // If the supervisor dies, so does the whole cell.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        return failed("parent-death signal", e);
    }
    // Two releases: the first once our id maps are written (we may build
    // the root), the second once we are in the cell's cgroup (we may start
    // the agent). The supervisor's cgroup move, which can wait for an RCU
    // grace period on cgroup v1, so overlaps with our mount work.
    let mut sync = std::fs::File::from(sync);
    wait_release(&mut sync, b'M');

    if let Err(e) = nix::unistd::sethostname("silo-cell") {
        return failed("hostname", e);
    }
    let root_mode = ctx.root_mode;
    let drop_identity = || -> Result<(), rootfs::Failure> {
        if !root_mode {
            return Ok(());
        }
        // Until now we carried the host's root uid (unmapped here) so that
        // bind sources behind root-only directories could be opened. Become
        // the cell's root, which maps to an unprivileged host id.
        nix::unistd::setgroups(&[])
            .and_then(|_| {
                nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            })
            .and_then(|_| {
                nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            })
            .map_err(|e| rootfs::Failure {
                stage: "drop host identity".into(),
                message: e.to_string(),
            })
    };
    if let Err(f) = rootfs::build(ctx.spec, &ctx.new_root, drop_identity) {
        return InitReport::Failed {
            stage: f.stage,
            message: f.message,
        };
    }
    // Changing credentials (dropping the host identity above) clears the parent-death
    // signal: arm it again, before the last release, so a killed supervisor still takes
    // the whole cell with it.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        return failed("parent-death signal", e);
    }
    wait_release(&mut sync, b'C');
    drop(sync);
    // We are in the cell's cgroup now: make it the root of what the agent
    // can see.
    if let Err(e) = unshare(CloneFlags::CLONE_NEWCGROUP) {
        return failed("cgroup namespace", e);
    }
    if let Err(e) = sys::close_all_from(3, &[status.as_raw_fd()]) {
        return failed("close inherited descriptors", e);
    }

    let mut waited = SigSet::empty();
    waited.add(Signal::SIGCHLD);
    for s in FORWARDED {
        waited.add(s);
        if let Err(e) = sys::install_noop_handler(s) {
            return failed("signal handlers", e);
        }
    }
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&waited), None) {
        return failed("signal mask", e);
    }

    if let Some(port) = ctx.spec.llm_loopback_port {
        let listener = match crate::forward::listen(port) {
            Ok(l) => l,
            Err(e) => return failed("LLM loopback", e),
        };
        match sys::fork_in_init() {
            Ok(ForkResult::Child) => {
                let keep = std::os::fd::AsRawFd::as_raw_fd(&listener);
                let _ = sys::close_all_from(3, &[keep]);
                let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&waited), None);
                crate::forward::serve(listener)
            }
            Ok(ForkResult::Parent { .. }) => drop(listener),
            Err(e) => return failed("fork the LLM loopback", e),
        }
    }

    let (err_read, err_write) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return failed("exec status pipe", e),
    };
    let agent_pid = match sys::fork_in_init() {
        Ok(ForkResult::Child) => {
            drop(err_read);
            agent::exec(ctx, err_write)
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return failed("fork the agent", e),
    };
    drop(err_write);
    let mut msg = Vec::new();
    let _ = std::fs::File::from(err_read).read_to_end(&mut msg);
    let exec_error = (!msg.is_empty()).then(|| agent::ExecError::decode(&msg));

    let report = supervise_agent(ctx, agent_pid, &waited);
    match exec_error {
        Some(agent::ExecError::NotFound(command)) => InitReport::NotFound { command },
        Some(agent::ExecError::Failed { stage, message }) => InitReport::Failed { stage, message },
        None => report,
    }
}

/// Waits for release byte `want`; anything else means the supervisor gave up.
fn wait_release(sync: &mut std::fs::File, want: u8) {
    let mut go = [0u8; 1];
    match sync.read(&mut go) {
        Ok(1) if go[0] == want => {}
        _ => std::process::exit(1),
    }
}

fn supervise_agent(ctx: &InitContext<'_>, agent: Pid, waited: &SigSet) -> InitReport {
    let deadline = Instant::now() + ctx.spec.limits.timeout();
    let mut agent_status: Option<InitReport> = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match sys::sigtimedwait(waited, remaining) {
            Ok(Some(sig)) if sig == Signal::SIGCHLD as i32 => {
                reap(agent, &mut agent_status);
                if agent_status.is_some() {
                    break;
                }
            }
            Ok(Some(sig)) => {
                if let Ok(s) = Signal::try_from(sig) {
                    // To the agent's whole session (it is its own group leader).
                    let _ = kill(Pid::from_raw(-agent.as_raw()), s);
                }
            }
            Ok(None) => {
                kill_everything();
                return InitReport::TimedOut;
            }
            Err(Errno::EINTR) => {}
            Err(e) => {
                kill_everything();
                return failed("wait for signals", e);
            }
        }
    }
    // The agent is done: nothing it started may outlive it.
    kill_everything();
    agent_status.unwrap_or(InitReport::Failed {
        stage: "wait".into(),
        message: "agent status lost".into(),
    })
}

fn reap(agent: Pid, agent_status: &mut Option<InitReport>) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == agent => {
                *agent_status = Some(InitReport::Exited { code });
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == agent => {
                *agent_status = Some(InitReport::Signaled { signal: sig as i32 });
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// SIGKILL every other process in the pid namespace and reap them.
fn kill_everything() {
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    while waitpid(None, None).is_ok() {}
}
