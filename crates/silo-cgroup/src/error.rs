//! Errors of the cgroup layer.

use std::path::PathBuf;

use crate::Controller;

/// What went wrong while managing a cell's cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A cgroupfs file or directory could not be read or written.
    #[error("cgroup: cannot {op} `{path}`: {source}")]
    Io {
        /// What we tried to do.
        op: &'static str,
        /// The cgroupfs path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A controller is needed for an operation but is not available.
    #[error("cgroup: the {0} controller is not available to this cell")]
    Unavailable(Controller),
    /// `/proc/self/cgroup` or `/proc/self/mountinfo` could not be parsed.
    #[error("cgroup: cannot parse `{path}`: {detail}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// The freezer did not reach the requested state in time.
    #[error("cgroup: the freezer did not reach `{0}` in time")]
    FreezeTimeout(&'static str),
    /// The cell's group name is not a plain directory name.
    #[error("cgroup: invalid group name `{0}`")]
    InvalidName(String),
}

pub(crate) fn io(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> CgroupError {
    let path = path.into();
    move |source| CgroupError::Io { op, path, source }
}
