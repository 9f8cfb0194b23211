//! A routing table from a project on disk: every folder of the agents directory with an
//! `agent.yaml` is an agent (escalating to what its base key lists), the project's human
//! pools and routes come from a [`RoutingSetup`] (the project file's `routing`), and every
//! `*.yaml` file of the workflows directory is a workflow, checked against both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use silo_invoke::{Manifest, MANIFEST_FILE};

use crate::routing::{AgentInfo, AgentKind, Entry, RoutingConfig, RoutingError, RoutingTable};
use crate::workflow::Workflow;

/// The human pool every project has unless it names others.
pub const DEFAULT_HUMAN_POOL: &str = "human";

/// The routing that is not in the agents' manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingSetup {
    /// The human pools.
    pub humans: Vec<String>,
    /// The pool for agents that name none.
    pub default_human: String,
    /// An agent's own pool, when not the default.
    pub human_for: BTreeMap<String, String>,
    /// Routes (sources, intents) to agents or workflows.
    pub routes: BTreeMap<String, Entry>,
}

impl Default for RoutingSetup {
    fn default() -> Self {
        Self {
            humans: vec![DEFAULT_HUMAN_POOL.to_owned()],
            default_human: DEFAULT_HUMAN_POOL.to_owned(),
            human_for: BTreeMap::new(),
            routes: BTreeMap::new(),
        }
    }
}

/// A routing table from an agents directory alone: its agents and the pool
/// [`DEFAULT_HUMAN_POOL`].
pub fn routing_from_agents_dir(dir: &Path) -> Result<RoutingTable, RoutingError> {
    routing_for_project(dir, &RoutingSetup::default(), Vec::new())
}

/// A routing table from the agents of `agents_dir`, `setup` and `workflows`.
pub fn routing_for_project(
    agents_dir: &Path,
    setup: &RoutingSetup,
    workflows: Vec<Workflow>,
) -> Result<RoutingTable, RoutingError> {
    let mut config = RoutingConfig {
        default_human: Some(setup.default_human.clone()),
        routes: setup.routes.clone(),
        ..RoutingConfig::default()
    };
    for pool in &setup.humans {
        config.agents.insert(
            pool.clone(),
            AgentInfo {
                kind: AgentKind::Human,
                ..AgentInfo::default()
            },
        );
    }
    let entries = std::fs::read_dir(agents_dir).map_err(|e| {
        RoutingError::AgentsDir(format!("agents directory `{}`: {e}", agents_dir.display()))
    })?;
    // Hidden entries are silo's own (`.versions/`, a deploy's temporary link).
    let mut folders: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST_FILE).is_file())
        .collect();
    folders.sort();
    for folder in folders {
        let manifest =
            Manifest::load(&folder).map_err(|e| RoutingError::AgentsDir(e.to_string()))?;
        // Turns run `<agents>/<name>`: the folder must be named as its manifest says.
        if folder.file_name().and_then(|n| n.to_str()) != Some(manifest.name.as_str()) {
            return Err(RoutingError::AgentsDir(format!(
                "`{}` holds agent `{}`: an agent's folder must carry its name",
                folder.display(),
                manifest.name
            )));
        }
        if config.agents.contains_key(&manifest.name) {
            return Err(RoutingError::AgentsDir(format!(
                "`{}` ({}) has the name of a human pool or another agent",
                manifest.name,
                folder.display()
            )));
        }
        config.agents.insert(
            manifest.name.clone(),
            AgentInfo {
                kind: AgentKind::Agent,
                escalate: manifest.capabilities.escalate.clone().unwrap_or_default(),
                human: setup.human_for.get(&manifest.name).cloned(),
            },
        );
    }
    if let Some(agent) = setup
        .human_for
        .keys()
        .find(|a| !config.agents.contains_key(*a))
    {
        return Err(RoutingError::UnknownAgent(agent.clone()));
    }
    RoutingTable::new(config, workflows)
}

/// Every `*.yaml` / `*.yml` file of `dir`, parsed and structurally checked, in name order;
/// none when `dir` does not exist. An error names the file.
pub fn load_workflows(dir: &Path) -> Result<Vec<Workflow>, RoutingError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(RoutingError::AgentsDir(format!(
                "workflows directory `{}`: {e}",
                dir.display()
            )))
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file)
                .map_err(|e| RoutingError::AgentsDir(format!("`{}`: {e}", file.display())))?;
            Workflow::from_yaml(&text)
                .map_err(|e| RoutingError::AgentsDir(format!("`{}`: {e}", file.display())))
        })
        .collect()
}
