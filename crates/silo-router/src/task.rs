//! A task as the router keeps it: what was asked, the run it is in (agent, workflow
//! stage, redirect count, 302 return points, interim assets and summary), and the
//! bookkeeping the next decision needs. Everything here is rebuilt from the events.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::events::AgentResult;
use crate::state::State;

/// A task's id (`task-<n>`, allocated by the store in submission order).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub String);

impl TaskId {
    /// The id of the `seq`-th task.
    pub fn from_seq(seq: u64) -> Self {
        Self(format!("task-{seq}"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a caller submits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// A route (intent), an agent or a workflow name.
    pub entry: String,
    /// The customer the task is about.
    pub customer: String,
    /// The case id.
    pub case: String,
    /// The input. With `privacy_scope` set it is already tokenised in that scope (the
    /// caller ran it through the membrane's intake before submitting); without, it is raw
    /// and each turn's membrane tokenises it.
    pub input: Value,
    /// The token scope of the whole run: every agent turn of the task shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_scope: Option<String>,
}

/// Where a 302 (soft redirect) comes back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Return {
    /// The stage index (0 outside a workflow).
    pub stage: usize,
    /// The agent that redirected.
    pub agent: String,
}

/// The run a task is in, carried by the router (agents never see it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunState {
    /// The workflow, or `None` for a single agent.
    pub workflow: Option<String>,
    /// The current stage's index.
    pub stage: usize,
    /// Who has the task now: the stage's agent, a redirect or escalation target, or a
    /// human pool.
    pub agent: String,
    /// 302 return points, innermost last.
    pub returns: Vec<Return>,
    /// Redirects and escalations in this run (loop protection).
    pub redirects: u32,
    /// Interim assets handed from turn to turn.
    pub assets: Vec<String>,
    /// The last turn's summary.
    pub summary: Option<String>,
}

impl RunState {
    /// A run of one agent.
    pub fn agent(agent: &str) -> Self {
        Self {
            workflow: None,
            stage: 0,
            agent: agent.to_owned(),
            returns: Vec::new(),
            redirects: 0,
            assets: Vec::new(),
            summary: None,
        }
    }

    /// A run of `workflow` starting at its first stage's `agent`.
    pub fn workflow(workflow: &str, agent: &str) -> Self {
        Self {
            workflow: Some(workflow.to_owned()),
            ..Self::agent(agent)
        }
    }
}

/// Shadow review of a sampled task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "shadow", rename_all = "snake_case")]
pub enum ShadowState {
    /// Not sampled.
    Off,
    /// Sampled; the agent has not answered yet.
    Pending,
    /// The agent's result, kept for comparison while a human decides.
    Recorded {
        /// What the agent said.
        result: AgentResult,
    },
    /// The human has decided.
    Reviewed {
        /// The agent's result differed from the human's.
        diverged: bool,
    },
}

/// The current (or last) cell of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchRecord {
    /// The agent.
    pub agent: String,
    /// The cell the task key is bound to.
    pub cell: String,
    /// The task key's id.
    pub task_key_jti: String,
    /// The turn's time limit in milliseconds, if the router set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// A result waiting for the router's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingResult {
    /// The agent, or the operator.
    pub by: String,
    /// An operator's result (`by` is an operator, the run's agent a human pool).
    pub human: bool,
    /// The result.
    pub result: AgentResult,
}

/// A task as the router keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskView {
    /// Its id.
    pub id: TaskId,
    /// What was asked.
    pub spec: TaskSpec,
    /// Its state.
    pub state: State,
    /// The run it is in.
    pub run: RunState,
    /// The operator who has it (state `with_human`).
    pub operator: Option<String>,
    /// The current or last cell.
    pub dispatch: Option<DispatchRecord>,
    /// How many cells were started for it.
    pub dispatches: u32,
    /// Shadow review.
    pub shadow: ShadowState,
    /// A result waiting for a decision (state `deciding`).
    pub pending: Option<PendingResult>,
    /// Why the task went to a human pool (offline agent, escalation, 400, shadow review),
    /// while it waits there or is with an operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_because: Option<String>,
    /// The final summary or reason, once finished.
    pub outcome: Option<String>,
    /// How many events were applied.
    pub version: u64,
}
