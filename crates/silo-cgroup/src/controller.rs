//! The controllers a cell uses.

use std::fmt;

/// A cgroup controller silo relies on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Controller {
    /// Memory limit without swap; OOM kills are reported.
    Memory,
    /// Maximum number of tasks (fork bomb bound).
    Pids,
    /// CPU bandwidth quota.
    Cpu,
    /// Pause and resume (v1 `freezer`, v2 `cgroup.freeze`).
    Freezer,
}

impl Controller {
    /// Every controller a cell asks for.
    pub const ALL: [Controller; 4] = [
        Controller::Memory,
        Controller::Pids,
        Controller::Cpu,
        Controller::Freezer,
    ];

    /// The kernel's name for the controller (v1 mount option / v2 controller).
    pub fn kernel_name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
            Controller::Freezer => "freezer",
        }
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kernel_name())
    }
}
