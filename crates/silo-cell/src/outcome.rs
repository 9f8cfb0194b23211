//! How a cell ended: the agent's exit status and which limit, if any, ended
//! it.

use serde::{Deserialize, Serialize};

/// How the agent process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Termination {
    /// It called exit with this code.
    Exited {
        /// The exit code.
        code: i32,
    },
    /// A signal ended it (e.g. 9 from the OOM killer or `silo cell kill`).
    Signaled {
        /// The signal number.
        signal: i32,
    },
    /// The wall clock ran out and the cell's init killed everything.
    TimedOut,
}

/// The result of one cell run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellOutcome {
    /// The cell id.
    pub id: String,
    /// The agent name.
    pub agent: String,
    /// How the agent ended.
    pub termination: Termination,
    /// The memory limit was hit and the OOM killer ran.
    pub oom_killed: bool,
    /// A fork was refused because the pids limit was reached.
    pub pids_limit_hit: bool,
    /// Limits that could not be applied on this host, with the reason.
    pub unapplied_limits: Vec<String>,
    /// Peak memory of the cell, where the kernel reports it.
    pub memory_peak_bytes: Option<u64>,
    /// Wall-clock run time in milliseconds.
    pub duration_ms: u64,
}

impl CellOutcome {
    /// The process exit code `silo cell run` returns: the agent's own code,
    /// 128 + signal, or 124 on timeout (as `timeout(1)` does).
    pub fn exit_code(&self) -> u8 {
        match self.termination {
            Termination::Exited { code } => u8::try_from(code & 0xff).unwrap_or(1),
            Termination::Signaled { signal } => u8::try_from(128 + (signal & 0x7f)).unwrap_or(255),
            Termination::TimedOut => 124,
        }
    }

    /// One line saying which limit ended the cell, if one did.
    pub fn limit_note(&self) -> Option<String> {
        if self.termination == Termination::TimedOut {
            return Some("killed: wall-clock timeout reached".into());
        }
        if self.oom_killed {
            return Some("killed: memory limit reached (OOM)".into());
        }
        if self.pids_limit_hit {
            return Some("note: the pids limit refused at least one fork".into());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(t: Termination) -> CellOutcome {
        CellOutcome {
            id: "c-000000000000".into(),
            agent: "a".into(),
            termination: t,
            oom_killed: false,
            pids_limit_hit: false,
            unapplied_limits: vec![],
            memory_peak_bytes: None,
            duration_ms: 1,
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(outcome(Termination::Exited { code: 3 }).exit_code(), 3);
        assert_eq!(
            outcome(Termination::Signaled { signal: 9 }).exit_code(),
            137
        );
        assert_eq!(outcome(Termination::TimedOut).exit_code(), 124);
        assert!(outcome(Termination::TimedOut).limit_note().is_some());
        assert!(outcome(Termination::Exited { code: 0 })
            .limit_note()
            .is_none());
    }
}
