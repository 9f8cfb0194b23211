//! A policy set: operator rules from one or more YAML documents (per deployment, per agent),
//! compiled, example-checked and sorted by priority once at load.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use crate::action::Action;
use crate::error::PolicyError;
use crate::rules::{Rule, RuleSpec};

/// What happens to an action that passed the key checks and matched no rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultEffect {
    /// The base key's capability is the grant: allow.
    Allow,
    /// Only an explicit `allow` rule allows.
    Deny,
}

impl std::fmt::Display for DefaultEffect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DefaultEffect::Allow => "allow",
            DefaultEffect::Deny => "deny",
        })
    }
}

/// A policy document as written in YAML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDoc {
    #[serde(default)]
    version: Option<u32>,
    /// When set, every rule of the document applies only to this agent.
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    default: Option<DefaultEffect>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
    /// Refusals that also kill the cell at once: rule names (operator rules or built-in
    /// checks such as `capability.refund.max_cents`), or prefixes ending in `*`
    /// (`capability.*`).
    #[serde(default)]
    kill_on: Vec<String>,
}

/// Compiled operator rules, highest priority first (stricter effect first on ties, then
/// file order), and the default effect.
#[derive(Debug, Clone)]
pub struct PolicySet {
    rules: Vec<Rule>,
    default: DefaultEffect,
    kill_on: Vec<String>,
}

impl Default for PolicySet {
    fn default() -> Self {
        Self::capabilities_only()
    }
}

impl PolicySet {
    /// Whether any rule counts `action` (a rate limit or a daily total applies to it), so
    /// the caller knows whether recording its usage can matter to a decision.
    pub fn counts(&self, action: Action) -> bool {
        self.rules.iter().any(|r| {
            (r.rate_limit.is_some() || r.daily_total.is_some())
                && r.actions.as_ref().is_none_or(|a| a.contains(&action))
        })
    }

    /// No operator rules: the base key's capabilities and the task key's scope decide alone.
    pub fn capabilities_only() -> Self {
        Self {
            rules: Vec::new(),
            default: DefaultEffect::Allow,
            kill_on: Vec::new(),
        }
    }

    /// Parses, validates and example-checks one YAML document. `source_name` labels errors.
    pub fn from_yaml_str(source_name: &str, yaml: &str) -> Result<Self, PolicyError> {
        let doc: PolicyDoc = serde_norway::from_str(yaml).map_err(|e| PolicyError::Yaml {
            source_name: source_name.to_string(),
            message: e.to_string(),
        })?;
        if let Some(v) = doc.version {
            if v != 1 {
                return Err(PolicyError::Yaml {
                    source_name: source_name.to_string(),
                    message: format!("unsupported `version` `{v}`; this silo reads version 1"),
                });
            }
        }
        if doc.agent.as_deref() == Some("") {
            return Err(PolicyError::Yaml {
                source_name: source_name.to_string(),
                message: "`agent` is empty".into(),
            });
        }
        for pattern in &doc.kill_on {
            let stem = pattern.strip_suffix('*').unwrap_or(pattern);
            let ok = !pattern.is_empty()
                && !stem.contains('*')
                && stem
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok {
                return Err(PolicyError::Yaml {
                    source_name: source_name.to_string(),
                    message: format!(
                        "`kill_on` entry `{pattern}` is not a rule name or a prefix ending in `*`"
                    ),
                });
            }
        }
        let rules = doc
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.compile(doc.agent.as_deref(), source_name, i))
            .collect::<Result<Vec<_>, _>>()?;
        let mut set = Self::build(rules, doc.default.unwrap_or(DefaultEffect::Allow))?;
        set.kill_on = doc.kill_on;
        Ok(set)
    }

    /// Reads and loads a YAML file.
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let yaml = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_yaml_str(&path.display().to_string(), &yaml)
    }

    /// Combines sets (e.g. the deployment's and each agent's). Rule names must stay unique;
    /// the default is `deny` if any set says so.
    pub fn merge(sets: impl IntoIterator<Item = PolicySet>) -> Result<Self, PolicyError> {
        let mut rules = Vec::new();
        let mut default = DefaultEffect::Allow;
        let mut kill_on = Vec::new();
        for set in sets {
            if set.default == DefaultEffect::Deny {
                default = DefaultEffect::Deny;
            }
            rules.extend(set.rules);
            kill_on.extend(set.kill_on);
        }
        let mut merged = Self::build(rules, default)?;
        merged.kill_on = kill_on;
        Ok(merged)
    }

    fn build(mut rules: Vec<Rule>, default: DefaultEffect) -> Result<Self, PolicyError> {
        let mut seen = HashSet::new();
        for r in &rules {
            if !seen.insert(r.name.as_str()) {
                return Err(PolicyError::DuplicateRule {
                    rule: r.name.clone(),
                });
            }
        }
        // Stable sort: file order breaks the remaining ties.
        rules.sort_by_key(|r| (std::cmp::Reverse(r.priority), r.effect.strictness()));
        Ok(Self {
            rules,
            default,
            kill_on: Vec::new(),
        })
    }

    /// The rules in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether a refusal by `rule` orders the cell killed (`kill_on`).
    pub fn kills_on(&self, rule: &str) -> bool {
        self.kill_on.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => rule.starts_with(prefix),
            None => rule == p,
        })
    }

    /// The default effect.
    pub fn default_effect(&self) -> DefaultEffect {
        self.default
    }

    /// How many rule examples were checked at load.
    pub fn examples_checked(&self) -> usize {
        self.rules.iter().map(|r| r.examples_checked).sum()
    }
}
