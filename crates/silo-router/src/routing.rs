//! The routing table: which agent or workflow a task's entry (a route such as an intent, or
//! a name) starts, which agents and human pools exist, and the escalation chain check — a
//! target must be in the escalating agent's base-key `escalate` list *and* known here.
//!
//! ```yaml
//! agents:
//!   refund-agent:  { escalate: [manager-agent, human], human: support-humans }
//!   manager-agent: { escalate: [support-humans] }
//!   support-humans: { type: human }
//! routes:
//!   refund: { agent: refund-agent }
//!   incoming: { workflow: incoming-message }
//! default_human: support-humans
//! ```
//!
//! `human` in an `escalate` list stands for the agent's own human pool.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::task::RunState;
use crate::workflow::{Known, Workflow, WorkflowError};

/// An agent, or a human pool (operators take its tasks from an inbox).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// Runs in a cell.
    #[default]
    Agent,
    /// A human pool.
    Human,
}

/// What the table knows about one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentInfo {
    /// Agent or human pool.
    #[serde(rename = "type", default)]
    pub kind: AgentKind,
    /// The `escalate` list of the agent's base key.
    #[serde(default)]
    pub escalate: Vec<String>,
    /// The human pool that takes over when the agent is offline, answers 400 or is
    /// shadow-sampled; the table's `default_human` when not given.
    #[serde(default)]
    pub human: Option<String>,
}

/// What an entry starts (`{ agent: <name> }` or `{ workflow: <name> }` in YAML).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawEntry")]
pub enum Entry {
    /// One agent (or human pool).
    Agent(String),
    /// A workflow.
    Workflow(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    agent: Option<String>,
    workflow: Option<String>,
}

impl TryFrom<RawEntry> for Entry {
    type Error = String;

    fn try_from(raw: RawEntry) -> Result<Self, String> {
        match (raw.agent, raw.workflow) {
            (Some(agent), None) => Ok(Entry::Agent(agent)),
            (None, Some(workflow)) => Ok(Entry::Workflow(workflow)),
            _ => Err("a route names exactly one of `agent` or `workflow`".into()),
        }
    }
}

/// The routing table as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Agents and human pools by name.
    pub agents: BTreeMap<String, AgentInfo>,
    /// Routes (sources, intents) to agents or workflows.
    #[serde(default)]
    pub routes: BTreeMap<String, Entry>,
    /// The human pool for agents that name none.
    #[serde(default)]
    pub default_human: Option<String>,
}

/// Where an allowed escalation goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationTarget {
    /// The agent or pool.
    pub name: String,
    /// A human pool.
    pub human: bool,
}

/// A routing table that cannot be built, or a route or escalation that is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// The YAML does not parse.
    #[error("routing table YAML: {0}")]
    Yaml(String),
    /// A route names nothing known.
    #[error("route `{route}`: `{target}` is not a known agent or workflow")]
    UnknownRouteTarget {
        /// The route.
        route: String,
        /// The name.
        target: String,
    },
    /// A human pool reference is not a human pool.
    #[error("{owner}: `{pool}` is not a known human pool (an agent with `type: human`)")]
    NotAHumanPool {
        /// Where the reference is.
        owner: String,
        /// The name.
        pool: String,
    },
    /// An escalation list names something unknown.
    #[error("agent `{agent}`: escalation target `{target}` is not a known agent or human pool")]
    UnknownEscalationTarget {
        /// The agent.
        agent: String,
        /// The target.
        target: String,
    },
    /// An agent and a workflow share a name.
    #[error("`{0}` names both an agent and a workflow")]
    NameClash(String),
    /// A workflow refers to something unknown.
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// The agent is not in the table.
    #[error("`{0}` is not a known agent")]
    UnknownAgent(String),
    /// The entry is not a route, agent or workflow.
    #[error("entry `{0}` is not a route, agent or workflow")]
    UnknownEntry(String),
    /// The target is not in the agent's base-key `escalate` list.
    #[error("agent `{from}` may not escalate to `{target}`: not in its base key's escalate list")]
    EscalationNotAllowed {
        /// The agent.
        from: String,
        /// The refused target.
        target: String,
    },
    /// No human pool for the agent.
    #[error("agent `{0}` has no human pool and the table has no `default_human`")]
    NoHumanPool(String),
    /// The agents directory or one of its manifests cannot be read.
    #[error("{0}")]
    AgentsDir(String),
}

/// The validated routing table, with its workflows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingTable {
    config: RoutingConfig,
    workflows: BTreeMap<String, Workflow>,
}

impl RoutingTable {
    /// Parses the table and validates it with `workflows`.
    pub fn from_yaml(text: &str, workflows: Vec<Workflow>) -> Result<Self, RoutingError> {
        let config = serde_norway::from_str(text).map_err(|e| RoutingError::Yaml(e.to_string()))?;
        Self::new(config, workflows)
    }

    /// Validates `config` with `workflows`: every route, pool, escalation target and
    /// workflow reference must be known.
    pub fn new(config: RoutingConfig, workflows: Vec<Workflow>) -> Result<Self, RoutingError> {
        let workflows: BTreeMap<String, Workflow> =
            workflows.into_iter().map(|w| (w.name.clone(), w)).collect();
        let table = Self { config, workflows };
        table.validate()?;
        Ok(table)
    }

    fn validate(&self) -> Result<(), RoutingError> {
        let agents = &self.config.agents;
        if let Some(name) = self.workflows.keys().find(|w| agents.contains_key(*w)) {
            return Err(RoutingError::NameClash(name.clone()));
        }
        if let Some(pool) = &self.config.default_human {
            self.check_pool("default_human", pool)?;
        }
        for (name, info) in agents {
            if let Some(pool) = &info.human {
                self.check_pool(&format!("agent `{name}`"), pool)?;
            }
            for target in &info.escalate {
                let known = if target == "human" {
                    self.pool_for(name).is_ok()
                } else {
                    agents.contains_key(target)
                };
                if !known {
                    return Err(RoutingError::UnknownEscalationTarget {
                        agent: name.clone(),
                        target: target.clone(),
                    });
                }
            }
        }
        for (route, entry) in &self.config.routes {
            let (target, ok) = match entry {
                Entry::Agent(a) => (a, agents.contains_key(a)),
                Entry::Workflow(w) => (w, self.workflows.contains_key(w)),
            };
            if !ok {
                return Err(RoutingError::UnknownRouteTarget {
                    route: route.clone(),
                    target: target.clone(),
                });
            }
        }
        let known = self.known();
        for workflow in self.workflows.values() {
            workflow.validate(&known)?;
        }
        Ok(())
    }

    fn check_pool(&self, owner: &str, pool: &str) -> Result<(), RoutingError> {
        if self.is_human(pool) {
            Ok(())
        } else {
            Err(RoutingError::NotAHumanPool {
                owner: owner.to_owned(),
                pool: pool.to_owned(),
            })
        }
    }

    /// The names workflows may refer to.
    pub fn known(&self) -> Known {
        let mut known = Known::default();
        for (name, info) in &self.config.agents {
            match info.kind {
                AgentKind::Agent => known.agents.insert(name.clone()),
                AgentKind::Human => known.humans.insert(name.clone()),
            };
        }
        known.workflows = self.workflows.keys().cloned().collect();
        known
    }

    /// The agent named `name`.
    pub fn agent(&self, name: &str) -> Option<&AgentInfo> {
        self.config.agents.get(name)
    }

    /// Whether `name` is a human pool.
    pub fn is_human(&self, name: &str) -> bool {
        self.agent(name)
            .is_some_and(|info| info.kind == AgentKind::Human)
    }

    /// The workflow named `name`.
    pub fn workflow(&self, name: &str) -> Option<&Workflow> {
        self.workflows.get(name)
    }

    /// What `entry` starts: a route first, then an agent, then a workflow.
    pub fn resolve(&self, entry: &str) -> Result<Entry, RoutingError> {
        if let Some(found) = self.config.routes.get(entry) {
            return Ok(found.clone());
        }
        if self.config.agents.contains_key(entry) {
            return Ok(Entry::Agent(entry.to_owned()));
        }
        if self.workflows.contains_key(entry) {
            return Ok(Entry::Workflow(entry.to_owned()));
        }
        Err(RoutingError::UnknownEntry(entry.to_owned()))
    }

    /// A fresh run of `entry`.
    pub fn start(&self, entry: &Entry) -> Result<RunState, RoutingError> {
        match entry {
            Entry::Agent(agent) => Ok(RunState::agent(agent)),
            Entry::Workflow(name) => self
                .workflow(name)
                .map(Workflow::start)
                .ok_or_else(|| RoutingError::UnknownEntry(name.clone())),
        }
    }

    /// The human pool that takes over from `agent` (a pool takes over from itself).
    pub fn pool_for(&self, agent: &str) -> Result<String, RoutingError> {
        let info = self
            .agent(agent)
            .ok_or_else(|| RoutingError::UnknownAgent(agent.to_owned()))?;
        if info.kind == AgentKind::Human {
            return Ok(agent.to_owned());
        }
        info.human
            .clone()
            .or_else(|| self.config.default_human.clone())
            .ok_or_else(|| RoutingError::NoHumanPool(agent.to_owned()))
    }

    /// Checks that `from` may escalate to `target`: listed in its base key's `escalate`
    /// list and known here.
    pub fn check_escalation(
        &self,
        from: &str,
        target: &str,
    ) -> Result<EscalationTarget, RoutingError> {
        let info = self
            .agent(from)
            .ok_or_else(|| RoutingError::UnknownAgent(from.to_owned()))?;
        if !info.escalate.iter().any(|t| t == target) {
            return Err(RoutingError::EscalationNotAllowed {
                from: from.to_owned(),
                target: target.to_owned(),
            });
        }
        let name = if target == "human" {
            self.pool_for(from)?
        } else {
            target.to_owned()
        };
        if self.agent(&name).is_none() {
            return Err(RoutingError::UnknownEscalationTarget {
                agent: from.to_owned(),
                target: name,
            });
        }
        Ok(EscalationTarget {
            human: self.is_human(&name),
            name,
        })
    }
}
