//! The padded cell: one agent invocation in a fresh, kernel-enforced sandbox.
//!
//! This crate owns everything between "run this command for this agent" and
//! "it exited with this status": the namespaces (user, mount, pid, net, ipc,
//! uts, cgroup), the minimal read-only root and the RAM tmpfs, the uid/gid
//! mapping, capability dropping, no_new_privs, rlimits, Landlock, the
//! deny-by-default seccomp filter, the cell's own PID 1 ([`init`]), the
//! wall-clock timeout, and the registry that lets `silo cell ps|stop|cont|kill`
//! find a running cell. Cgroup files are written by `silo-cgroup`.
//!
//! It must never run agent code with any capability, without no_new_privs,
//! without the seccomp filter (outside debug-build test weakenings), or with a
//! writable path other than its own tmpfs; it must never start a thread before
//! `clone(2)`, and it must never leave a cell's tmpfs, cgroup or namespaces
//! behind after the cell exits.

mod agent;
mod error;
mod forward;
mod identity;
mod init;
mod landlock_rules;
mod limits;
mod outcome;
mod registry;
mod rootfs;
mod seccomp;
mod spawn;
mod spec;
mod supervise;
#[allow(unsafe_code)]
mod sys;

pub use error::CellError;
pub use identity::{agent_host_uid, agents_get_own_uid, host_ids_for, AgentName};
pub use limits::{parse_cpu, parse_duration, parse_size, Limits};
pub use outcome::{CellOutcome, Termination};
pub use registry::{default_run_dir, CellRecord, CellState, Registry};
pub use spawn::{
    die_with_parent, spawn_supervisor, supervise_from, SupervisorHandle, SupervisorResult,
};
pub use spec::{
    new_cell_id, CellSpec, Weakening, CELL_AGENT_DIR, CELL_SDK_DIR, CELL_SILO_EXE,
    CELL_SOCKET_PATH, CELL_TMP_DIR,
};
pub use supervise::{run_cell, SupervisorEvent};
