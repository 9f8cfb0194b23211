//! What happens to a task: the events the router appends, one per state change, in a
//! stable JSON form (`{"event": "<snake_case name>", ...}`).

use serde::{Deserialize, Serialize};

use crate::task::{RunState, TaskSpec};

/// How an agent (or a human acting for one) ended its turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentResult {
    /// 200: done.
    Done {
        /// The turn's summary (tokenised text).
        summary: String,
        /// Interim assets for the next stage (references, not content).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        assets: Vec<String>,
    },
    /// 301: hand over to `target`; this run ends here.
    HardRedirect {
        /// A target the stage lists.
        target: String,
        /// The turn's summary.
        summary: String,
    },
    /// 302: run `target`, then come back.
    SoftRedirect {
        /// A target the stage lists.
        target: String,
        /// The turn's summary.
        summary: String,
    },
    /// 400: a human must take over.
    NeedsHuman {
        /// Why.
        summary: String,
    },
    /// 500: the agent failed.
    Failed {
        /// What went wrong.
        summary: String,
    },
    /// Hand the task to a target the agent's base key lists.
    Escalate {
        /// The target agent or human pool.
        target: String,
        /// Why.
        reason: String,
        /// What the agent recommends.
        recommendation: String,
    },
}

impl AgentResult {
    /// The status code (`None` for an escalation, which has none).
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Done { .. } => Some(200),
            Self::HardRedirect { .. } => Some(301),
            Self::SoftRedirect { .. } => Some(302),
            Self::NeedsHuman { .. } => Some(400),
            Self::Failed { .. } => Some(500),
            Self::Escalate { .. } => None,
        }
    }

    /// The target of a redirect or escalation.
    pub fn target(&self) -> Option<&str> {
        match self {
            Self::HardRedirect { target, .. }
            | Self::SoftRedirect { target, .. }
            | Self::Escalate { target, .. } => Some(target),
            _ => None,
        }
    }

    /// Whether `other` decides the same way (same kind and target; the texts may differ).
    pub fn same_decision(&self, other: &AgentResult) -> bool {
        self.kind() == other.kind() && self.target() == other.target()
    }

    /// The wire name of the result.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Done { .. } => "done",
            Self::HardRedirect { .. } => "hard_redirect",
            Self::SoftRedirect { .. } => "soft_redirect",
            Self::NeedsHuman { .. } => "needs_human",
            Self::Failed { .. } => "failed",
            Self::Escalate { .. } => "escalate",
        }
    }
}

/// A signal an operator sends a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Pause: no further dispatch until `cont`.
    Stop,
    /// Resume a paused task.
    Cont,
    /// End the task now (aborted).
    Kill,
}

/// One change to a task. The kernel decides which event to append; the transition map
/// decides whether the task's state allows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The task was received.
    TaskCreated {
        /// What was asked.
        spec: TaskSpec,
        /// The run it starts (entry agent or first stage).
        run: RunState,
        /// Sampled for shadow review: the agent's result is recorded, a human's acts.
        shadow: bool,
    },
    /// A cell was started for `agent` with a task key.
    Dispatched {
        /// The agent.
        agent: String,
        /// The cell id the task key is bound to.
        cell: String,
        /// The task key's id.
        task_key_jti: String,
        /// The turn's time limit in milliseconds (a stage's or the router's), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// The agent ended its turn.
    AgentResult {
        /// The agent.
        agent: String,
        /// What it said.
        result: AgentResult,
        /// Recorded for shadow review only; a human's result will act.
        shadow: bool,
    },
    /// The router moved the run on: next stage, redirect, return, or hand-over.
    Routed {
        /// The agent to dispatch.
        agent: String,
        /// The run after the move.
        run: RunState,
        /// Why (for the record).
        reason: String,
    },
    /// The task went to another agent or to a human pool.
    Escalated {
        /// Who had it.
        from: String,
        /// Who has it now.
        target: String,
        /// `target` is a human pool (the task waits in its inbox).
        human: bool,
        /// Why.
        reason: String,
        /// The recommendation handed along (empty when the router escalated).
        recommendation: String,
        /// The run after the move.
        run: RunState,
    },
    /// An operator took the task from the pool's inbox.
    HumanAssigned {
        /// The operator.
        operator: String,
    },
    /// The operator ended their turn.
    HumanResult {
        /// The operator.
        operator: String,
        /// What they decided; it acts like an agent's result.
        result: AgentResult,
        /// For a shadow-sampled task: whether the agent's recorded result differed.
        diverged: Option<bool>,
    },
    /// The task is done.
    Completed {
        /// The final summary.
        summary: String,
    },
    /// The task failed.
    Failed {
        /// Why.
        reason: String,
    },
    /// The task was aborted (workflow `on_error: abort` or a kill signal).
    Aborted {
        /// Why.
        reason: String,
    },
    /// The task ran out of time.
    TimedOut,
    /// A task key was revoked.
    KeyRevoked {
        /// The key's id.
        jti: String,
    },
    /// An operator's signal.
    Signal {
        /// Which.
        signal: Signal,
    },
}

/// What the transition map looks at: the event's kind, with escalations split by whether
/// the target is a human pool and signals by which signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// [`Event::TaskCreated`].
    TaskCreated,
    /// [`Event::Dispatched`].
    Dispatched,
    /// [`Event::AgentResult`].
    AgentResult,
    /// [`Event::Routed`].
    Routed,
    /// [`Event::Escalated`] to an agent.
    EscalatedToAgent,
    /// [`Event::Escalated`] to a human pool.
    EscalatedToHuman,
    /// [`Event::HumanAssigned`].
    HumanAssigned,
    /// [`Event::HumanResult`].
    HumanResult,
    /// [`Event::Completed`].
    Completed,
    /// [`Event::Failed`].
    Failed,
    /// [`Event::Aborted`].
    Aborted,
    /// [`Event::TimedOut`].
    TimedOut,
    /// [`Event::KeyRevoked`].
    KeyRevoked,
    /// [`Event::Signal`] `stop`.
    SignalStop,
    /// [`Event::Signal`] `cont`.
    SignalCont,
    /// [`Event::Signal`] `kill`.
    SignalKill,
}

impl Event {
    /// The kind the transition map is keyed on.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::TaskCreated { .. } => EventKind::TaskCreated,
            Self::Dispatched { .. } => EventKind::Dispatched,
            Self::AgentResult { .. } => EventKind::AgentResult,
            Self::Routed { .. } => EventKind::Routed,
            Self::Escalated { human: false, .. } => EventKind::EscalatedToAgent,
            Self::Escalated { human: true, .. } => EventKind::EscalatedToHuman,
            Self::HumanAssigned { .. } => EventKind::HumanAssigned,
            Self::HumanResult { .. } => EventKind::HumanResult,
            Self::Completed { .. } => EventKind::Completed,
            Self::Failed { .. } => EventKind::Failed,
            Self::Aborted { .. } => EventKind::Aborted,
            Self::TimedOut => EventKind::TimedOut,
            Self::KeyRevoked { .. } => EventKind::KeyRevoked,
            Self::Signal {
                signal: Signal::Stop,
            } => EventKind::SignalStop,
            Self::Signal {
                signal: Signal::Cont,
            } => EventKind::SignalCont,
            Self::Signal {
                signal: Signal::Kill,
            } => EventKind::SignalKill,
        }
    }
}
