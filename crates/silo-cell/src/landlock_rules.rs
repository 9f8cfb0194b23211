//! Landlock for the agent: read and execute only on the read-only runtime
//! binds and the agent folder, read-write (no execute, no device nodes) only
//! on the tmpfs, and scoping so the agent can neither reach abstract Unix
//! sockets nor signal processes outside its own Landlock domain. TCP is
//! handled too: no bind at all, and connect only to the cell's LLM loopback
//! port when the cell has one (the network namespace already holds nothing
//! else; this is the second wall).
//!
//! Handled rights are pinned to ABI v6 (the newest whose rights we have
//! thought through): best effort downgrades on older kernels, but if the
//! kernel has Landlock at all and the ruleset is not enforced, the cell fails
//! closed.

use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus, NetPort,
    PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use crate::CELL_TMP_DIR;

const HANDLED_ABI: ABI = ABI::V6;

/// What the agent may do under one in-cell path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    /// Read and execute (runtime binds, agent folder).
    ReadExec,
    /// Read only (/etc, /proc, /run/silo).
    Read,
    /// Read and write existing files (the device nodes in /dev).
    ReadWriteFiles,
    /// Everything but execute and device nodes (the tmpfs).
    Scratch,
}

fn access(g: Grant) -> BitFlags<AccessFs> {
    let read_exec = AccessFs::from_read(HANDLED_ABI);
    let read = read_exec & !AccessFs::Execute;
    match g {
        Grant::ReadExec => read_exec,
        Grant::Read => read,
        Grant::ReadWriteFiles => read | AccessFs::WriteFile,
        Grant::Scratch => {
            AccessFs::from_all(HANDLED_ABI)
                & !(AccessFs::Execute
                    | AccessFs::MakeChar
                    | AccessFs::MakeBlock
                    | AccessFs::IoctlDev)
        }
    }
}

/// The grants of a cell whose read-only binds are `ro` (in-cell paths).
pub(crate) fn grants(ro: &[PathBuf], agent_dir: Option<&Path>) -> Vec<(PathBuf, Grant)> {
    let mut g: Vec<(PathBuf, Grant)> = ro.iter().map(|p| (p.clone(), Grant::ReadExec)).collect();
    if let Some(a) = agent_dir {
        g.push((a.to_path_buf(), Grant::ReadExec));
    }
    g.push(("/etc".into(), Grant::Read));
    g.push(("/proc".into(), Grant::Read));
    g.push(("/run/silo".into(), Grant::Read));
    g.push(("/dev".into(), Grant::ReadWriteFiles));
    g.push((CELL_TMP_DIR.into(), Grant::Scratch));
    g
}

/// Applies the cell's Landlock domain to the calling thread. Returns a short
/// description of what was enforced.
pub(crate) fn apply(
    grants: &[(PathBuf, Grant)],
    tcp_connect_port: Option<u16>,
) -> Result<String, String> {
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(HANDLED_ABI))
        .map_err(|e| e.to_string())?
        .handle_access(AccessNet::from_all(HANDLED_ABI))
        .map_err(|e| e.to_string())?
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(|e| e.to_string())?
        .create()
        .map_err(|e| e.to_string())?;
    for (path, grant) in grants {
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        let fd = PathFd::new(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access(*grant)))
            .map_err(|e| e.to_string())?;
    }
    if let Some(port) = tcp_connect_port {
        ruleset = ruleset
            .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
            .map_err(|e| e.to_string())?;
    }
    let status = ruleset.restrict_self().map_err(|e| e.to_string())?;
    match (status.landlock, status.ruleset) {
        (LandlockStatus::Available { .. }, RulesetStatus::NotEnforced) => {
            Err("the kernel supports Landlock but the ruleset was not enforced".into())
        }
        (LandlockStatus::Available { .. }, RulesetStatus::FullyEnforced) => {
            Ok("fully enforced".into())
        }
        (LandlockStatus::Available { .. }, _) => Ok("partially enforced (older kernel ABI)".into()),
        (_, _) => Ok("not available on this kernel".into()),
    }
}
