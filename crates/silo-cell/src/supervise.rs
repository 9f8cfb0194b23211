//! The cell supervisor: the single-threaded host-side process that creates
//! the cgroup, clones the cell's init into new namespaces, writes its id
//! maps, releases it, enforces a backstop deadline, relays Ctrl-C, and
//! cleans everything up.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{Gid, Pid, Uid};
use silo_cgroup::{CellCgroup, CgroupLimits, Controller, CpuQuota, Hierarchies};

use crate::identity::{CELL_AGENT_ID, HOST_INIT_ID};
use crate::init::{InitContext, InitReport};
use crate::registry::CellRecord;
use crate::{
    host_ids_for, seccomp, sys, CellError, CellOutcome, CellSpec, Registry, Termination, Weakening,
};

/// Extra time the supervisor gives the cell's own init to enforce the wall
/// clock before it kills the cell itself.
const BACKSTOP_GRACE: Duration = Duration::from_secs(3);

/// Things a caller may want to show while a cell runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorEvent {
    /// Something is weaker than asked (e.g. a limit could not be applied).
    Warning(String),
    /// The cell is running.
    Started {
        /// Cell id.
        id: String,
        /// Host pid of the cell's init.
        init_pid: u32,
    },
}

/// Runs one cell to completion. Must be called from a single-threaded
/// process (the `silo` CLI, or `silo __cell-supervise` started by
/// [`crate::spawn_supervisor`]).
pub fn run_cell(
    spec: &CellSpec,
    on_event: &mut dyn FnMut(SupervisorEvent),
) -> Result<CellOutcome, CellError> {
    spec.validate()?;
    let threads = thread_count();
    if threads != 1 {
        return Err(CellError::NotSingleThreaded(threads));
    }
    let started = Instant::now();
    let root_mode = crate::identity::agents_get_own_uid();
    for w in &spec.weaken {
        on_event(SupervisorEvent::Warning(format!(
            "cell {}: DEBUG WEAKENING `{w:?}` IS ON: this cell is deliberately less isolated",
            spec.id
        )));
    }

    let registry = Registry::open(&spec.run_dir)?;
    let new_root = spec.run_dir.join("newroot");
    fs::create_dir_all(&new_root)
        .map_err(CellError::sys(format!("create {}", new_root.display())))?;
    let filter = seccomp::load_or_build(&spec.run_dir, spec.llm_loopback_port.is_some())?;

    let hierarchies = Hierarchies::detect()?;
    let limits = CgroupLimits {
        memory_bytes: Some(spec.limits.memory_bytes),
        pids: Some(spec.limits.pids),
        cpu: Some(CpuQuota {
            quota_us: spec.limits.cpu_millicores * 100,
            period_us: 100_000,
        }),
    };
    let cgroup = CellCgroup::create(&hierarchies, &format!("silo-{}", spec.id), &limits)?;
    let mut unapplied = Vec::new();
    for (c, why) in cgroup.missing() {
        let what = match c {
            Controller::Memory => "memory limit not applied (falling back to RLIMIT_AS)",
            Controller::Pids => "pids limit not applied",
            Controller::Cpu => "cpu limit not applied",
            Controller::Freezer => "pause/resume unavailable",
        };
        unapplied.push(format!("{c}: {why}"));
        on_event(SupervisorEvent::Warning(format!(
            "cell {}: {what}: {why}",
            spec.id
        )));
    }

    let result = run_in_cgroup(spec, &registry, &cgroup, &filter, root_mode, on_event);
    let events = cgroup.events();
    if let Ok(left) = cgroup.procs() {
        for pid in left {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
    if let Err(e) = cgroup.remove() {
        on_event(SupervisorEvent::Warning(format!(
            "cell {}: cgroup not removed: {e}",
            spec.id
        )));
    }
    registry.remove(&spec.id);

    let termination = match result? {
        InitReport::Exited { code } => Termination::Exited { code },
        InitReport::Signaled { signal } => Termination::Signaled { signal },
        InitReport::TimedOut => Termination::TimedOut,
        InitReport::NotFound { command } => {
            return Err(CellError::CommandFailed {
                command,
                reason: format!(
                    "not found in the cell's PATH ({}) or not executable",
                    crate::agent::CELL_PATH
                ),
            })
        }
        InitReport::Failed { stage, message } => return Err(CellError::Setup { stage, message }),
    };
    Ok(CellOutcome {
        id: spec.id.clone(),
        agent: spec.agent.to_string(),
        termination,
        oom_killed: events.oom_kills > 0,
        pids_limit_hit: events.pids_max_hits > 0,
        unapplied_limits: unapplied,
        memory_peak_bytes: events.memory_peak_bytes,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

fn run_in_cgroup(
    spec: &CellSpec,
    registry: &Registry,
    cgroup: &CellCgroup,
    filter: &seccomp::CellFilter,
    root_mode: bool,
    on_event: &mut dyn FnMut(SupervisorEvent),
) -> Result<InitReport, CellError> {
    let (sync_r, sync_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(CellError::errno("pipe"))?;
    let (status_r, status_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(CellError::errno("pipe"))?;

    // Ctrl-C and friends are handled here (relayed to the cell), not by dying
    // and leaving a cgroup behind. The mask is inherited by the init, which
    // sets its own.
    let mut relayed = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        relayed.add(s);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&relayed), None)
        .map_err(CellError::errno("block signals"))?;

    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS;
    if !spec.weakened(Weakening::NetNs) {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let ctx = InitContext {
        spec,
        filter,
        new_root: spec.run_dir.join("newroot"),
        root_mode,
        memory_fallback: !cgroup.has(Controller::Memory),
    };
    let mut child_sync = Some(sync_r);
    let mut child_status = Some(status_w);
    let init = sys::clone_with(
        flags,
        Box::new(|| crate::init::main(&ctx, &mut child_sync, &mut child_status)),
    )
    .map_err(CellError::errno(
        "clone the cell (user namespaces enabled?)",
    ))?;
    drop(child_sync.take());
    drop(child_status.take());

    let released = (|| -> Result<(), CellError> {
        write_id_maps(init, root_mode, host_ids_for(&spec.agent))?;
        let mut go = fs::File::from(sync_w);
        go.write_all(b"M")
            .map_err(CellError::sys("release the cell"))?;
        cgroup.add_process(init.as_raw() as u32)?;
        registry.insert(&CellRecord {
            id: spec.id.clone(),
            agent: spec.agent.to_string(),
            command: spec.command.clone(),
            supervisor_pid: std::process::id(),
            init_pid: init.as_raw() as u32,
            started_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            cgroup: cgroup.paths().clone(),
        })?;
        go.write_all(b"C")
            .map_err(CellError::sys("release the cell"))
    })();
    if let Err(e) = released {
        let _ = kill(init, Signal::SIGKILL);
        let _ = waitpid(init, None);
        let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&relayed), None);
        // A release that fails usually means the init already gave up: its
        // report (now complete, the pipe's writer is gone) says why.
        let mut buf = Vec::new();
        let _ = fs::File::from(status_r).read_to_end(&mut buf);
        let line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
        if let Ok(InitReport::Failed { stage, message }) = serde_json::from_slice(line) {
            return Err(CellError::Setup { stage, message });
        }
        return Err(e);
    }
    on_event(SupervisorEvent::Started {
        id: spec.id.clone(),
        init_pid: init.as_raw() as u32,
    });

    let report = wait_for_report(status_r, init, cgroup, &relayed, spec.limits.timeout());
    let status = waitpid(init, None);
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&relayed), None);
    match report? {
        Some(r) => Ok(r),
        // The init died without a word: killed from outside (OOM killer,
        // `silo cell kill`, backstop). Report how it died.
        None => Ok(match status {
            Ok(WaitStatus::Signaled(_, sig, _)) => InitReport::Signaled { signal: sig as i32 },
            Ok(WaitStatus::Exited(_, code)) => InitReport::Exited { code },
            _ => InitReport::Signaled {
                signal: Signal::SIGKILL as i32,
            },
        }),
    }
}

/// Root: the init is the cell's uid 0 mapped to the host's overflow id, and
/// the agent is uid 1000 mapped to its own host id. Unprivileged: only our
/// own id can be mapped, so the agent is uid 1000 mapped to us.
fn write_id_maps(
    pid: Pid,
    root_mode: bool,
    (host_uid, host_gid): (u32, u32),
) -> Result<(), CellError> {
    let proc_dir = Path::new("/proc").join(pid.as_raw().to_string());
    let write = |file: &str, body: String| {
        fs::write(proc_dir.join(file), body)
            .map_err(CellError::sys(format!("write {file} of the cell")))
    };
    if root_mode {
        write(
            "uid_map",
            format!("0 {HOST_INIT_ID} 1\n{CELL_AGENT_ID} {host_uid} 1\n"),
        )?;
        write(
            "gid_map",
            format!("0 {HOST_INIT_ID} 1\n{CELL_AGENT_ID} {host_gid} 1\n"),
        )
    } else {
        write(
            "uid_map",
            format!("{CELL_AGENT_ID} {} 1\n", Uid::effective()),
        )?;
        write("setgroups", "deny".into())?;
        write(
            "gid_map",
            format!("{CELL_AGENT_ID} {} 1\n", Gid::effective()),
        )
    }
}

/// Waits for the init's report line. Returns `None` if the init died
/// without one. Enforces the backstop deadline (paused time does not count)
/// and relays SIGINT/SIGTERM/SIGHUP: the first is passed to the agent, the
/// second kills the cell.
fn wait_for_report(
    status: OwnedFd,
    init: Pid,
    cgroup: &CellCgroup,
    relayed: &SigSet,
    timeout: Duration,
) -> Result<Option<InitReport>, CellError> {
    let sfd = SignalFd::with_flags(relayed, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(CellError::errno("signalfd"))?;
    let mut status = fs::File::from(status);
    let mut buf = Vec::new();
    let mut deadline = Instant::now() + timeout + BACKSTOP_GRACE;
    let mut relayed_once = false;
    let slice = Duration::from_millis(250);
    loop {
        let now = Instant::now();
        if now >= deadline {
            let _ = kill(init, Signal::SIGKILL);
            return Ok(Some(InitReport::TimedOut));
        }
        let wait = slice.min(deadline - now);
        let mut fds = [
            PollFd::new(status.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        let n = match poll(
            &mut fds,
            PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(CellError::errno("poll")(e)),
        };
        let status_ready = fds[0].any().unwrap_or(false);
        let signal_ready = fds[1].any().unwrap_or(false);
        if n == 0 {
            if cgroup.is_frozen().unwrap_or(false) {
                deadline += wait;
            }
            continue;
        }
        if signal_ready {
            while let Ok(Some(info)) = sfd.read_signal() {
                if relayed_once {
                    let _ = kill(init, Signal::SIGKILL);
                } else if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    let _ = kill(init, sig);
                    relayed_once = true;
                }
            }
        }
        if status_ready {
            let mut chunk = [0u8; 4096];
            match status.read(&mut chunk) {
                Ok(0) => break,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(CellError::sys("read the cell's report")(e)),
            }
        }
    }
    let line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
    Ok(serde_json::from_slice(line).ok())
}

fn thread_count() -> usize {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().parse().ok()))
                .flatten()
        })
        .unwrap_or(0)
}
