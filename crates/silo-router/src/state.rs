//! Where a task is in its life: queued for an agent, in a cell, waiting for the router's
//! decision, waiting for or with a human, paused, or finished one of four ways.

use serde::{Deserialize, Serialize};

/// A task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting to be dispatched to its agent.
    Queued,
    /// Running in a cell.
    Dispatched,
    /// A result is in; the router decides what follows.
    Deciding,
    /// In a human pool's inbox.
    WaitingForHuman,
    /// An operator has it.
    WithHuman,
    /// Stopped by a signal; `cont` queues it again.
    Paused,
    /// Done.
    Completed,
    /// Failed.
    Failed,
    /// Aborted.
    Aborted,
    /// Ran out of time.
    TimedOut,
}

impl State {
    /// Every state, in declaration order.
    pub const ALL: [State; 10] = [
        State::Queued,
        State::Dispatched,
        State::Deciding,
        State::WaitingForHuman,
        State::WithHuman,
        State::Paused,
        State::Completed,
        State::Failed,
        State::Aborted,
        State::TimedOut,
    ];

    /// The states a task never leaves.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            State::Completed | State::Failed | State::Aborted | State::TimedOut
        )
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Dispatched => "dispatched",
            State::Deciding => "deciding",
            State::WaitingForHuman => "waiting_for_human",
            State::WithHuman => "with_human",
            State::Paused => "paused",
            State::Completed => "completed",
            State::Failed => "failed",
            State::Aborted => "aborted",
            State::TimedOut => "timed_out",
        }
    }

    /// The state with the stored name `name`.
    pub fn from_name(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
