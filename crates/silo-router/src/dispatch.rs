//! The seam to the cells: the kernel hands a task to an agent through [`Dispatcher`]
//! (silo-invoke in production, a fake in tests) and gets the agent's result back.

use crate::events::AgentResult;
use crate::task::TaskView;

/// Runs one agent turn for a task (its `dispatch` record names the cell and task key id).
pub trait Dispatcher {
    /// Runs `agent` on `task` and returns its result.
    fn dispatch(&self, task: &TaskView, agent: &str) -> Result<AgentResult, DispatchError>;
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
}
