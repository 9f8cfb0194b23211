//! The limits a cell asks its cgroup for.

/// CPU bandwidth: `quota_us` of CPU time every `period_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuQuota {
    /// Microseconds of CPU time allowed per period.
    pub quota_us: u64,
    /// The period in microseconds (the kernel accepts 1 000 to 1 000 000).
    pub period_us: u64,
}

/// Resource limits for one cell. `None` means "no limit from silo".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    /// Memory limit in bytes; swap is limited to zero.
    pub memory_bytes: Option<u64>,
    /// Maximum number of tasks.
    pub pids: Option<u64>,
    /// CPU bandwidth.
    pub cpu: Option<CpuQuota>,
}
