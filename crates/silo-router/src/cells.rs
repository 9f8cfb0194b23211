//! The production side of the [`Dispatcher`] seam: every agent turn is one real invocation
//! through `silo-invoke` (fresh cell, fresh keys bound to it and to the folder's content,
//! a membrane, the audit log), and the agent's recorded outcome becomes the router's
//! [`AgentResult`]. Also builds a routing table from an agents directory.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use silo_invoke::{Host, Invocation, InvokeError, Manifest, MANIFEST_FILE};
use silo_membrane::{CompletionStatus, Outcome};

use crate::dispatch::{DispatchError, Dispatcher};
use crate::events::AgentResult;
use crate::routing::{AgentInfo, AgentKind, RoutingConfig, RoutingError, RoutingTable};
use crate::task::TaskView;

/// The human pool every agent falls back to unless the table names another.
pub const DEFAULT_HUMAN_POOL: &str = "human";

/// Dispatches turns to cells.
pub struct CellDispatcher {
    agents_dir: PathBuf,
    host: Box<dyn Fn() -> Result<Host, InvokeError> + Send + Sync>,
}

impl std::fmt::Debug for CellDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellDispatcher")
            .field("agents_dir", &self.agents_dir)
            .finish_non_exhaustive()
    }
}

impl CellDispatcher {
    /// Agents are the folders of `agents_dir`; `host` gives each turn its host settings
    /// (data and run directories, the `silo` binary, the LLM upstream).
    pub fn new(
        agents_dir: &Path,
        host: impl Fn() -> Result<Host, InvokeError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            agents_dir: agents_dir.to_path_buf(),
            host: Box::new(host),
        }
    }
}

/// The outcome an agent recorded, as the router reads it.
pub fn agent_result(outcome: Option<&Outcome>, cell_exit: u8) -> AgentResult {
    match outcome {
        Some(Outcome::Complete { status, summary }) => match status {
            CompletionStatus::Done => AgentResult::Done {
                summary: summary.clone(),
                assets: Vec::new(),
            },
            CompletionStatus::NeedsHuman => AgentResult::NeedsHuman {
                summary: summary.clone(),
            },
            CompletionStatus::Failed => AgentResult::Failed {
                summary: summary.clone(),
            },
        },
        Some(Outcome::Escalate {
            target,
            reason,
            recommendation,
        }) => AgentResult::Escalate {
            target: target.clone(),
            reason: reason.clone(),
            recommendation: recommendation.clone(),
        },
        None => AgentResult::Failed {
            summary: format!("the agent recorded no result (cell exit {cell_exit})"),
        },
    }
}

impl Dispatcher for CellDispatcher {
    fn dispatch(&self, task: &TaskView, agent: &str) -> Result<AgentResult, DispatchError> {
        let failed = |reason: String| DispatchError::Failed {
            agent: agent.to_string(),
            reason,
        };
        let host = (self.host)().map_err(|e| DispatchError::Transient {
            agent: agent.to_string(),
            reason: e.to_string(),
        })?;
        // The previous turn's summary (an escalation's reason and recommendation) travels
        // with the input, under `handoff`; the run itself stays with the router.
        let mut input = task.spec.input.clone();
        if let (Some(summary), Some(obj)) = (&task.run.summary, input.as_object_mut()) {
            obj.insert("handoff".into(), serde_json::Value::from(summary.as_str()));
        }
        let inv = Invocation {
            agent_dir: self.agents_dir.join(agent),
            customer: task.spec.customer.clone(),
            case: task.spec.case.clone(),
            input,
            // One membrane task per turn (its keys, scratch state and outcome are its own);
            // tokens belong to the run when the input was tokenised in its scope.
            task: Some(format!("{}.{}", task.id, task.dispatches)),
            run: task
                .spec
                .privacy_scope
                .as_ref()
                .map(|scope| silo_keys::WorkflowRef {
                    run: scope.clone(),
                    stage: task.dispatches.to_string(),
                }),
            input_tokenised: task.spec.privacy_scope.is_some(),
        };
        let report = silo_invoke::invoke(host, &inv, Stdio::null(), Stdio::inherit())
            .map_err(|e| failed(e.to_string()))?;
        Ok(agent_result(
            report.outcome.as_ref().map(|o| &o.outcome),
            report.cell.exit_code(),
        ))
    }
}

/// A routing table from an agents directory: every folder with an `agent.yaml` is an agent
/// (routed by its name, escalating to what its base key lists), plus the human pool
/// [`DEFAULT_HUMAN_POOL`].
pub fn routing_from_agents_dir(dir: &Path) -> Result<RoutingTable, RoutingError> {
    let mut config = RoutingConfig {
        default_human: Some(DEFAULT_HUMAN_POOL.into()),
        ..RoutingConfig::default()
    };
    config.agents.insert(
        DEFAULT_HUMAN_POOL.into(),
        AgentInfo {
            kind: AgentKind::Human,
            ..AgentInfo::default()
        },
    );
    let entries = std::fs::read_dir(dir).map_err(|e| {
        RoutingError::AgentsDir(format!("agents directory `{}`: {e}", dir.display()))
    })?;
    let mut folders: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST_FILE).is_file())
        .collect();
    folders.sort();
    for folder in folders {
        let manifest =
            Manifest::load(&folder).map_err(|e| RoutingError::AgentsDir(e.to_string()))?;
        config.agents.insert(
            manifest.name.clone(),
            AgentInfo {
                kind: AgentKind::Agent,
                escalate: manifest.capabilities.escalate.clone().unwrap_or_default(),
                human: None,
            },
        );
    }
    RoutingTable::new(config, Vec::new())
}
