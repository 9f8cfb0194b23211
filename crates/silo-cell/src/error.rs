//! Errors a cell can report before or instead of running the agent.

use std::path::PathBuf;

/// Why a cell could not be run (the agent's own failures are a
/// [`crate::CellOutcome`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum CellError {
    /// The request itself is wrong: fix the arguments.
    #[error("{0}")]
    InvalidSpec(String),
    /// The agent folder does not exist or is not a directory.
    #[error("agent folder `{0}` does not exist or is not a directory")]
    AgentDirMissing(PathBuf),
    /// The membrane socket does not exist or is not a socket.
    #[error("membrane socket `{0}` does not exist or is not a Unix socket")]
    SocketMissing(PathBuf),
    /// The command could not be started inside the cell.
    #[error("command `{command}` could not be started in the cell: {reason}")]
    CommandFailed {
        /// argv[0] as given.
        command: String,
        /// Why (e.g. not found in the cell's PATH).
        reason: String,
    },
    /// Building the cell failed at a named stage.
    #[error("cell setup failed at {stage}: {message}")]
    Setup {
        /// Which step (e.g. `mount /proc`, `landlock`).
        stage: String,
        /// The OS error text.
        message: String,
    },
    /// The supervisor must be the only thread of its process.
    #[error("the cell supervisor must run in a single-threaded process (found {0} threads); use `spawn_supervisor` from multi-threaded callers")]
    NotSingleThreaded(usize),
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] silo_cgroup::CgroupError),
    /// A system call failed outside the cell.
    #[error("{op}: {source}")]
    Sys {
        /// What we were doing.
        op: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A cell id that is not in the registry.
    #[error("no running cell `{0}` (see `silo cell ps`)")]
    UnknownCell(String),
}

impl CellError {
    pub(crate) fn sys(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> CellError {
        let op = op.into();
        move |source| CellError::Sys { op, source }
    }

    pub(crate) fn errno(op: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> CellError {
        let op = op.into();
        move |e| CellError::Sys {
            op,
            source: std::io::Error::from(e),
        }
    }
}
