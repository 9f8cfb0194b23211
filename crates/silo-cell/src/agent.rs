//! The last steps before the agent's code runs, in the forked child of the
//! cell's init: new session, rlimits, drop every capability, become the
//! agent's uid, no_new_privs, Landlock, close descriptors, seccomp (last),
//! execve. Any failure is written to the exec-status pipe and the child exits
//! without running agent code.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use caps::CapSet;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::unistd::{Gid, Uid};

use crate::identity::CELL_AGENT_ID;
use crate::init::{InitContext, FORWARDED};
use crate::{
    landlock_rules, rootfs, seccomp, sys, Weakening, CELL_AGENT_DIR, CELL_SOCKET_PATH, CELL_TMP_DIR,
};

/// The agent's PATH inside the cell.
pub(crate) const CELL_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Why the agent could not be started (sent over the exec-status pipe).
pub(crate) enum ExecError {
    NotFound(String),
    Failed { stage: String, message: String },
}

impl ExecError {
    fn encode(&self) -> Vec<u8> {
        match self {
            ExecError::NotFound(c) => [b"N".as_slice(), c.as_bytes()].concat(),
            ExecError::Failed { stage, message } => {
                [b"F".as_slice(), stage.as_bytes(), b"\0", message.as_bytes()].concat()
            }
        }
    }

    pub(crate) fn decode(b: &[u8]) -> ExecError {
        let text = |x: &[u8]| String::from_utf8_lossy(x).into_owned();
        match b.split_first() {
            Some((b'N', rest)) => ExecError::NotFound(text(rest)),
            Some((_, rest)) => {
                let mut parts = rest.splitn(2, |c| *c == 0);
                ExecError::Failed {
                    stage: text(parts.next().unwrap_or_default()),
                    message: text(parts.next().unwrap_or_default()),
                }
            }
            None => ExecError::Failed {
                stage: "exec".into(),
                message: "unknown".into(),
            },
        }
    }
}

/// Never returns: execs the agent or exits 127.
pub(crate) fn exec(ctx: &InitContext<'_>, err: OwnedFd) -> ! {
    let e = match prepare_and_exec(ctx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let mut f = std::fs::File::from(err);
    let _ = f.write_all(&e.encode());
    // SAFETY-free exit: skip atexit handlers and buffered IO of the copy.
    std::process::exit(127)
}

fn step<E: std::fmt::Display>(stage: &'static str) -> impl FnOnce(E) -> ExecError {
    move |e| ExecError::Failed {
        stage: stage.to_string(),
        message: e.to_string(),
    }
}

enum Never {}

fn prepare_and_exec(ctx: &InitContext<'_>) -> Result<Never, ExecError> {
    let spec = ctx.spec;
    for s in FORWARDED {
        sys::default_handler(s).map_err(step("restore signal handlers"))?;
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(step("signal mask"))?;
    // A new session: no controlling terminal, so TIOCSTI has no target.
    nix::unistd::setsid().map_err(step("setsid"))?;

    let l = &spec.limits;
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(step("rlimit core"))?;
    setrlimit(Resource::RLIMIT_FSIZE, l.fsize_bytes, l.fsize_bytes)
        .map_err(step("rlimit fsize"))?;
    setrlimit(Resource::RLIMIT_NOFILE, l.nofile, l.nofile).map_err(step("rlimit nofile"))?;
    if ctx.memory_fallback {
        // No memory cgroup: address space is a cruder bound, better than none.
        let as_limit = l.memory_bytes.saturating_mul(2);
        setrlimit(Resource::RLIMIT_AS, as_limit, as_limit).map_err(step("rlimit as"))?;
    }

    // Capabilities: the bounding set needs CAP_SETPCAP, so it goes first.
    for cap in caps::all() {
        caps::drop(None, CapSet::Bounding, cap).map_err(step("drop bounding capabilities"))?;
    }
    let id = CELL_AGENT_ID;
    nix::unistd::setgroups(&[])
        .or_else(|e| if ctx.root_mode { Err(e) } else { Ok(()) })
        .map_err(step("setgroups"))?;
    nix::unistd::setresgid(Gid::from_raw(id), Gid::from_raw(id), Gid::from_raw(id))
        .map_err(step("setresgid"))?;
    nix::unistd::setresuid(Uid::from_raw(id), Uid::from_raw(id), Uid::from_raw(id))
        .map_err(step("setresuid"))?;
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(step("clear capabilities"))?;
    }
    nix::sys::prctl::set_no_new_privs().map_err(step("no_new_privs"))?;
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
        CapSet::Bounding,
    ] {
        let held = caps::read(None, set).map_err(step("read capabilities"))?;
        if !held.is_empty() {
            return Err(ExecError::Failed {
                stage: "verify capabilities".into(),
                message: format!("{set:?} still holds {held:?}"),
            });
        }
    }

    let workdir = if spec.agent_dir.is_some() {
        CELL_AGENT_DIR
    } else {
        CELL_TMP_DIR
    };
    nix::unistd::chdir(workdir).map_err(step("chdir"))?;

    if !spec.weakened(Weakening::Landlock) {
        let ro = rootfs::readonly_paths(spec);
        let agent_dir = spec.agent_dir.as_ref().map(|_| Path::new(CELL_AGENT_DIR));
        let grants = landlock_rules::grants(&ro, agent_dir);
        landlock_rules::apply(&grants, spec.llm_loopback_port).map_err(step("landlock"))?;
    }

    let program =
        resolve(&spec.command[0]).ok_or_else(|| ExecError::NotFound(spec.command[0].clone()))?;
    let argv = spec
        .command
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(step("argv"))?;
    let envp = environment(spec)
        .into_iter()
        .map(|(k, v)| CString::new(format!("{k}={v}")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(step("environment"))?;
    let path = CString::new(program.as_os_str().as_bytes()).map_err(step("program path"))?;

    sys::cloexec_from(3).map_err(step("close descriptors"))?;
    if !spec.weakened(Weakening::Seccomp) {
        seccomp::install(ctx.filter).map_err(step("seccomp"))?;
    }
    let e = nix::unistd::execve(&path, &argv, &envp).err();
    Err(ExecError::Failed {
        stage: "execve".into(),
        message: e.map(|e| e.to_string()).unwrap_or_default(),
    })
}

/// The agent's whole environment: nothing inherited from the host.
fn environment(spec: &crate::CellSpec) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), CELL_PATH.into()),
        ("HOME".into(), CELL_TMP_DIR.into()),
        ("TMPDIR".into(), CELL_TMP_DIR.into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("SILO_CELL_ID".into(), spec.id.clone()),
        ("SILO_AGENT".into(), spec.agent.to_string()),
    ];
    if spec.agent_dir.is_some() {
        env.push(("SILO_AGENT_DIR".into(), CELL_AGENT_DIR.into()));
    }
    if spec.socket.is_some() {
        env.push(("SILO_SOCKET".into(), CELL_SOCKET_PATH.into()));
    }
    if spec.sdk_dir.is_some() {
        env.push(("PYTHONPATH".into(), crate::CELL_SDK_DIR.into()));
    }
    for (k, v) in &spec.env {
        env.retain(|(ek, _)| ek != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

/// Looks `cmd` up like a shell would, inside the cell.
fn resolve(cmd: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if cmd.contains('/') {
        let p = PathBuf::from(cmd);
        return executable(&p).then_some(p);
    }
    CELL_PATH
        .split(':')
        .map(|d| Path::new(d).join(cmd))
        .find(|p| executable(p))
}
