//! Workflows: YAML pipelines of agent stages with 301 (hard, hand over) and 302 (soft,
//! run and come back) redirects and `on_error` actions, checked at load, and
//! [`Workflow::next`], the pure decision of what follows a stage's result.
//!
//! ```yaml
//! name: incoming-message
//! stages:
//!   - agent: intent-agent
//!     302: { order-agent: "order questions" }    # run it, then come back to this stage
//!     301: { support-workflow: "complex cases" } # hand over; this workflow ends here
//!     max_redirects: 3
//!   - agent: response-agent
//! on_error: { 400: human-agent, 500: abort }
//! ```
//!
//! A redirect map's keys are the targets an agent may name (a stage of this workflow by
//! name — a stage's name defaults to its agent — or a known agent; for 301 also a
//! workflow); its values describe when to use them. Only 302 may loop (it returns, and
//! the run's redirect counter bounds it); a 301 may only jump forward.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_norway::{Mapping, Value};

use crate::events::AgentResult;
use crate::task::{Return, RunState};

/// Redirects a run may take before a redirect counts as 400 (needs human).
pub const DEFAULT_MAX_REDIRECTS: u32 = 3;

/// What `on_error` does with a 400 or 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorAction {
    /// End the task as aborted.
    Abort,
    /// End the task as failed.
    Fail,
    /// Hand the stage to this human pool.
    Human(String),
}

/// `on_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnError {
    /// 400; `None`: the agent's own human pool.
    pub needs_human: Option<ErrorAction>,
    /// 500; `fail` when not given.
    pub failed: ErrorAction,
}

/// One stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Its name (the agent's, unless given).
    pub name: String,
    /// The agent that runs it.
    pub agent: String,
    /// 301 targets → when to use them.
    pub hard: BTreeMap<String, String>,
    /// 302 targets → when to use them.
    pub soft: BTreeMap<String, String>,
    /// Redirects the run may have taken when this stage redirects again.
    pub max_redirects: u32,
    /// The longest one turn of this stage may run, in milliseconds (`timeout: 30s`);
    /// `None`: the router's `stage_timeout`, else the agent's own limit.
    pub timeout_ms: Option<u64>,
}

/// A loaded and structurally checked workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    /// Its name.
    pub name: String,
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// What 400 and 500 do.
    pub on_error: OnError,
}

/// The names a workflow may refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// Agents (not human).
    pub agents: BTreeSet<String>,
    /// Human pools.
    pub humans: BTreeSet<String>,
    /// Workflows.
    pub workflows: BTreeSet<String>,
}

/// What follows a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run `agent` next with `run`.
    Dispatch {
        /// The agent (or human pool).
        agent: String,
        /// The run after the move.
        run: RunState,
        /// Why.
        reason: String,
    },
    /// 301 out of the workflow: `target` (an agent or workflow) takes the task over.
    HandOver {
        /// The target.
        target: String,
        /// The run so far (redirect count, assets, summary carry over).
        run: RunState,
    },
    /// The agent escalates; the kernel checks the chain.
    Escalate {
        /// The target.
        target: String,
        /// Why.
        reason: String,
        /// What the agent recommends.
        recommendation: String,
    },
    /// 400: a human takes the stage over.
    NeedsHuman {
        /// The pool; `None`: the agent's own.
        pool: Option<String>,
        /// Why.
        reason: String,
    },
    /// The task is done.
    Complete {
        /// The final summary.
        summary: String,
    },
    /// The task failed.
    Fail {
        /// Why.
        reason: String,
    },
    /// The task is aborted.
    Abort {
        /// Why.
        reason: String,
    },
}

/// A workflow that cannot be loaded; the message names the workflow and the stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// The YAML does not parse.
    #[error("workflow YAML: {0}")]
    Yaml(String),
    /// Something is wrong with the workflow as a whole.
    #[error("workflow `{workflow}`: {reason}")]
    Invalid {
        /// The workflow.
        workflow: String,
        /// What is wrong.
        reason: String,
    },
    /// Something is wrong with one stage.
    #[error("workflow `{workflow}`, stage `{stage}`: {reason}")]
    Stage {
        /// The workflow.
        workflow: String,
        /// The stage's name (or `#<index>` when it has none yet).
        stage: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: String,
    stages: Vec<Mapping>,
    #[serde(default)]
    on_error: Mapping,
    #[serde(default)]
    max_redirects: Option<u32>,
}

/// A YAML key as text (`301:` is a number to YAML, `"301":` a string).
fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn string_map(value: &Value) -> Option<BTreeMap<String, String>> {
    let map = value.as_mapping()?;
    map.iter()
        .map(|(k, v)| Some((key_text(k)?, key_text(v)?)))
        .collect()
}

impl Workflow {
    /// Parses and structurally checks a workflow (names, keys, stage references, cycles).
    /// Whether the agents it names exist is [`Workflow::validate`]'s job.
    pub fn from_yaml(text: &str) -> Result<Self, WorkflowError> {
        let raw: RawWorkflow =
            serde_norway::from_str(text).map_err(|e| WorkflowError::Yaml(e.to_string()))?;
        let invalid = |reason: String| WorkflowError::Invalid {
            workflow: raw.name.clone(),
            reason,
        };
        if raw.name.trim().is_empty() {
            return Err(WorkflowError::Yaml("`name` must not be empty".into()));
        }
        if raw.stages.is_empty() {
            return Err(invalid("it has no stages".into()));
        }
        let default_max = raw.max_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS);
        let mut stages = Vec::with_capacity(raw.stages.len());
        for (index, map) in raw.stages.iter().enumerate() {
            stages.push(parse_stage(&raw.name, index, map, default_max)?);
        }
        let mut names = BTreeSet::new();
        for stage in &stages {
            if !names.insert(stage.name.as_str()) {
                return Err(invalid(format!(
                    "two stages are named `{}`; give one a `name`",
                    stage.name
                )));
            }
        }
        let mut needs_human = None;
        let mut failed = ErrorAction::Fail;
        for (key, value) in &raw.on_error {
            let (Some(key), Some(value)) = (key_text(key), key_text(value)) else {
                return Err(invalid("`on_error` maps a code to a name".into()));
            };
            let action = match value.as_str() {
                "abort" => ErrorAction::Abort,
                "fail" => ErrorAction::Fail,
                _ => ErrorAction::Human(value),
            };
            match key.as_str() {
                "400" => needs_human = Some(action),
                "500" => failed = action,
                other => {
                    return Err(invalid(format!(
                        "`on_error` has `{other}`; only 400 and 500 are errors"
                    )))
                }
            }
        }
        let workflow = Workflow {
            name: raw.name.clone(),
            stages,
            on_error: OnError {
                needs_human,
                failed,
            },
        };
        workflow.check_stage_redirects()?;
        Ok(workflow)
    }

    fn stage_error(&self, stage: &Stage, reason: String) -> WorkflowError {
        WorkflowError::Stage {
            workflow: self.name.clone(),
            stage: stage.name.clone(),
            reason,
        }
    }

    /// 302 never to its own stage; 301 to a stage only forward (a backward 301 is a cycle
    /// without a return).
    fn check_stage_redirects(&self) -> Result<(), WorkflowError> {
        for (index, stage) in self.stages.iter().enumerate() {
            if stage.soft.contains_key(&stage.name) {
                return Err(self.stage_error(stage, "302 to its own stage".into()));
            }
            for target in stage.hard.keys() {
                if let Some(to) = self.stage_index(target).filter(|&to| to <= index) {
                    return Err(self.stage_error(
                        stage,
                        format!(
                            "301 to `{target}` (stage {to}) goes back; only 302 (soft, returns) may loop"
                        ),
                    ));
                }
                if *target == self.name {
                    return Err(self.stage_error(
                        stage,
                        "301 to its own workflow restarts it; only 302 (soft, returns) may loop"
                            .into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks every name the workflow refers to against `known`.
    pub fn validate(&self, known: &Known) -> Result<(), WorkflowError> {
        let is_agent = |n: &str| known.agents.contains(n) || known.humans.contains(n);
        for stage in &self.stages {
            if !is_agent(&stage.agent) {
                return Err(self.stage_error(
                    stage,
                    format!("agent `{}` is not a known agent", stage.agent),
                ));
            }
            for target in stage.soft.keys() {
                if self.stage_index(target).is_none() && !is_agent(target) {
                    return Err(self.stage_error(
                        stage,
                        format!(
                            "302 target `{target}` is neither a stage of this workflow nor a known agent"
                        ),
                    ));
                }
            }
            for target in stage.hard.keys() {
                if self.stage_index(target).is_none()
                    && !is_agent(target)
                    && !known.workflows.contains(target)
                {
                    return Err(self.stage_error(
                        stage,
                        format!(
                            "301 target `{target}` is not a stage of this workflow, a known agent or a workflow"
                        ),
                    ));
                }
            }
        }
        for (code, action) in [
            ("400", self.on_error.needs_human.as_ref()),
            ("500", Some(&self.on_error.failed)),
        ] {
            if let Some(ErrorAction::Human(pool)) = action {
                if !known.humans.contains(pool) {
                    return Err(WorkflowError::Invalid {
                        workflow: self.name.clone(),
                        reason: format!(
                            "`on_error` {code}: `{pool}` is not a known human pool (or `abort`, `fail`)"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The index of the stage named `name`.
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }

    /// A fresh run at the first stage.
    pub fn start(&self) -> RunState {
        let agent = self.stages.first().map_or("", |s| s.agent.as_str());
        RunState::workflow(&self.name, agent)
    }

    /// The turn timeout of `run`'s stage, if the stage sets one.
    pub fn timeout_ms(&self, run: &RunState) -> Option<u64> {
        self.stages.get(run.stage).and_then(|s| s.timeout_ms)
    }

    /// The redirect limit in force at `run`'s stage.
    pub fn max_redirects(&self, run: &RunState) -> u32 {
        self.stages
            .get(run.stage)
            .map_or(DEFAULT_MAX_REDIRECTS, |s| s.max_redirects)
    }

    fn error_action(&self, action: Option<&ErrorAction>, reason: String) -> Decision {
        match action {
            None => Decision::NeedsHuman { pool: None, reason },
            Some(ErrorAction::Human(pool)) => Decision::NeedsHuman {
                pool: Some(pool.clone()),
                reason,
            },
            Some(ErrorAction::Abort) => Decision::Abort { reason },
            Some(ErrorAction::Fail) => Decision::Fail { reason },
        }
    }

    fn needs_human(&self, reason: String) -> Decision {
        self.error_action(self.on_error.needs_human.as_ref(), reason)
    }

    /// What follows `result` for a run at `run` (pure and deterministic).
    pub fn next(&self, run: &RunState, result: &AgentResult) -> Decision {
        let Some(stage) = self.stages.get(run.stage) else {
            return Decision::Fail {
                reason: format!(
                    "workflow `{}` has no stage {}; the run state is corrupt",
                    self.name, run.stage
                ),
            };
        };
        match result {
            AgentResult::Done { summary, assets } => {
                let mut next = run.clone();
                next.summary = Some(summary.clone());
                for asset in assets {
                    if !next.assets.contains(asset) {
                        next.assets.push(asset.clone());
                    }
                }
                if let Some(back) = next.returns.pop() {
                    next.stage = back.stage;
                    next.agent = back.agent;
                    let reason = format!("302 returns to stage `{}`", self.stage_name(back.stage));
                    return Decision::Dispatch {
                        agent: next.agent.clone(),
                        run: next,
                        reason,
                    };
                }
                match self.stages.get(run.stage + 1) {
                    Some(following) => {
                        next.stage = run.stage + 1;
                        next.agent = following.agent.clone();
                        Decision::Dispatch {
                            agent: following.agent.clone(),
                            run: next,
                            reason: format!("stage `{}` done", stage.name),
                        }
                    }
                    None => Decision::Complete {
                        summary: summary.clone(),
                    },
                }
            }
            AgentResult::SoftRedirect { target, summary } => {
                if let Err(reason) = self.may_redirect(stage, run, "302", target, &stage.soft) {
                    return self.needs_human(reason);
                }
                let mut next = run.clone();
                next.redirects += 1;
                next.summary = Some(summary.clone());
                next.returns.push(Return {
                    stage: run.stage,
                    agent: stage.agent.clone(),
                });
                match self
                    .stage_index(target)
                    .and_then(|to| Some((to, self.stages.get(to)?)))
                {
                    Some((to, target_stage)) => {
                        next.stage = to;
                        next.agent = target_stage.agent.clone();
                    }
                    // An agent outside the workflow runs within this stage.
                    None => next.agent = target.clone(),
                }
                Decision::Dispatch {
                    agent: next.agent.clone(),
                    run: next,
                    reason: format!("302 from stage `{}` to `{target}`", stage.name),
                }
            }
            AgentResult::HardRedirect { target, summary } => {
                if let Err(reason) = self.may_redirect(stage, run, "301", target, &stage.hard) {
                    return self.needs_human(reason);
                }
                let mut next = run.clone();
                next.redirects += 1;
                next.summary = Some(summary.clone());
                next.returns.clear();
                match self
                    .stage_index(target)
                    .and_then(|to| Some((to, self.stages.get(to)?)))
                {
                    Some((to, target_stage)) => {
                        next.stage = to;
                        next.agent = target_stage.agent.clone();
                        Decision::Dispatch {
                            agent: next.agent.clone(),
                            run: next,
                            reason: format!("301 from stage `{}` to `{target}`", stage.name),
                        }
                    }
                    None => Decision::HandOver {
                        target: target.clone(),
                        run: next,
                    },
                }
            }
            AgentResult::NeedsHuman { summary } => self.needs_human(format!(
                "stage `{}`: 400 needs human: {summary}",
                stage.name
            )),
            AgentResult::Failed { summary } => self.error_action(
                Some(&self.on_error.failed),
                format!("stage `{}`: 500 failed: {summary}", stage.name),
            ),
            AgentResult::Escalate {
                target,
                reason,
                recommendation,
            } => Decision::Escalate {
                target: target.clone(),
                reason: reason.clone(),
                recommendation: recommendation.clone(),
            },
        }
    }

    fn stage_name(&self, index: usize) -> &str {
        self.stages.get(index).map_or("?", |s| s.name.as_str())
    }

    fn may_redirect(
        &self,
        stage: &Stage,
        run: &RunState,
        code: &str,
        target: &str,
        listed: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        if !listed.contains_key(target) {
            return Err(format!(
                "stage `{}`: {code} target `{target}` is not listed by the stage (treated as 400)",
                stage.name
            ));
        }
        if run.redirects >= stage.max_redirects {
            return Err(format!(
                "stage `{}`: {code} to `{target}` would exceed max_redirects {} (treated as 400)",
                stage.name, stage.max_redirects
            ));
        }
        Ok(())
    }
}

/// `500ms`, `30s`, `2m`, `1h` (the spellings of an agent's `limits.timeout`), not zero.
fn parse_timeout(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(mult).filter(|&ms| ms > 0)
}

fn parse_stage(
    workflow: &str,
    index: usize,
    map: &Mapping,
    default_max: u32,
) -> Result<Stage, WorkflowError> {
    let named = map
        .get("name")
        .or_else(|| map.get("agent"))
        .and_then(Value::as_str)
        .map_or_else(|| format!("#{index}"), str::to_owned);
    let error = |reason: String| WorkflowError::Stage {
        workflow: workflow.to_owned(),
        stage: named.clone(),
        reason,
    };
    let mut stage = Stage {
        name: named.clone(),
        agent: String::new(),
        hard: BTreeMap::new(),
        soft: BTreeMap::new(),
        max_redirects: default_max,
        timeout_ms: None,
    };
    for (key, value) in map {
        let key = key_text(key).ok_or_else(|| error("a key is not text".into()))?;
        match key.as_str() {
            "name" | "agent" => {
                let text = value
                    .as_str()
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| error(format!("`{key}` must be a non-empty string")))?;
                if key == "agent" {
                    stage.agent = text.to_owned();
                }
            }
            "301" | "302" => {
                let targets = string_map(value).ok_or_else(|| {
                    error(format!("`{key}` must map target names to descriptions"))
                })?;
                if key == "301" {
                    stage.hard = targets;
                } else {
                    stage.soft = targets;
                }
            }
            "max_redirects" => {
                stage.max_redirects = value
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| error("`max_redirects` must be a whole number".into()))?;
            }
            "timeout" => {
                let text = value
                    .as_str()
                    .ok_or_else(|| error("`timeout` must be a duration such as 30s".into()))?;
                let ms = parse_timeout(text).ok_or_else(|| {
                    error(format!(
                        "`timeout: {text}` is not a duration (use e.g. 500ms, 30s, 2m)"
                    ))
                })?;
                stage.timeout_ms = Some(ms);
            }
            other => {
                return Err(error(format!(
                    "unknown key `{other}` (expected agent, name, 301, 302, max_redirects, timeout)"
                )))
            }
        }
    }
    if stage.agent.is_empty() {
        return Err(error("it has no `agent`".into()));
    }
    if let Some(target) = stage.hard.keys().find(|t| stage.soft.contains_key(*t)) {
        return Err(error(format!("`{target}` is both a 301 and a 302 target")));
    }
    Ok(stage)
}
