//! The seam to the cells: the kernel hands a task to an agent through [`Dispatcher`]
//! (silo-invoke in production, a fake in tests) and gets the agent's result back. The
//! dispatcher also names each turn's cell and task key (the router records them before
//! the cell starts), revokes a key the router gives up on, and signals a live cell.

use crate::events::{AgentResult, Signal};
use crate::task::TaskView;

/// The ids of one turn, fixed before it starts: the cell the task key is bound to and the
/// key's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnIds {
    /// The cell.
    pub cell: String,
    /// The task key's id.
    pub task_key_jti: String,
}

/// Runs one agent turn for a task (its `dispatch` record names the cell, the task key id
/// and the time limit).
pub trait Dispatcher {
    /// The ids of turn `n` (1, 2, …) of `task`. The default derives them from the task,
    /// which is deterministic; a production dispatcher draws fresh random ones.
    fn turn_ids(&self, task: &TaskView, n: u32) -> Result<TurnIds, DispatchError> {
        Ok(TurnIds {
            cell: format!("{}.cell-{n}", task.id),
            task_key_jti: format!("{}.key-{n}", task.id),
        })
    }

    /// The longest a turn of `agent` may run, in milliseconds (its own limit), if known:
    /// the router holds the turn's job at least that long, so no other worker takes over a
    /// turn that is still running.
    fn turn_limit_ms(&self, _agent: &str) -> Option<u64> {
        None
    }

    /// Runs `agent` on `task` and returns its result.
    fn dispatch(&self, task: &TaskView, agent: &str) -> Result<AgentResult, DispatchError>;

    /// Makes the task key `jti` unusable now (a turn the router gave up on).
    fn revoke(&self, _jti: &str) -> Result<(), DispatchError> {
        Ok(())
    }

    /// `task` has ended (completed, failed, aborted, timed out): its run's scratch state
    /// is collected, its `output/` kept.
    fn finished(&self, _task: &TaskView) -> Result<(), DispatchError> {
        Ok(())
    }

    /// Stops, continues or kills the live cell `cell`; `Ok(false)` when it is not running.
    fn signal(&self, _cell: &str, _signal: Signal) -> Result<bool, DispatchError> {
        Ok(false)
    }
}

/// A turn that produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// Worth retrying: the job keeps its lease and is claimed again once it expires.
    #[error("dispatching to `{agent}` failed for now: {reason}")]
    Transient {
        /// The agent.
        agent: String,
        /// What went wrong.
        reason: String,
    },
    /// Not worth retrying: counts as the agent's 500.
    #[error("dispatching to `{agent}` failed: {reason}")]
    Failed {
        /// The agent.
        agent: String,
        /// What went wrong.
        reason: String,
    },
    /// The turn ran past its time limit and its cell was killed: the task times out.
    #[error("`{agent}` ran past its time limit of {limit_ms} ms")]
    TimedOut {
        /// The agent.
        agent: String,
        /// The limit.
        limit_ms: u64,
    },
}
