//! Operator rules: how one YAML rule is written, compiled, checked against its own examples,
//! and matched against an action.

use serde::Deserialize;
use serde_json::Value;
use silo_keys::{BaseKey, TaskKey};

use crate::action::Action;
use crate::amount::parse_minor_units;
use crate::condition::{Condition, ConditionSpec};
use crate::counters::{RateScope, UsageCounters};
use crate::error::PolicyError;

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Refuse the action.
    Deny,
    /// Let a human approve it first.
    RequireApproval,
    /// Allow it (capability and scope checks still come first and cannot be overridden).
    Allow,
}

impl std::fmt::Display for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Effect::Deny => "deny",
            Effect::RequireApproval => "require_approval",
            Effect::Allow => "allow",
        })
    }
}

impl Effect {
    /// Among rules of equal priority, the stricter effect is tried first.
    pub(crate) fn strictness(self) -> u8 {
        match self {
            Effect::Deny => 0,
            Effect::RequireApproval => 1,
            Effect::Allow => 2,
        }
    }
}

/// `rate_limit: {per, max, window_secs}`: the rule matches once `max` actions were done
/// under the scope within the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Whose actions are counted.
    pub per: RateScope,
    /// How many are allowed in the window.
    pub max: u64,
    /// The window, in seconds.
    pub window_secs: u64,
}

/// `daily_total: {per, max_cents}`: the rule matches when today's total plus this amount
/// would exceed `max_cents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DailyTotal {
    /// Whose amounts are summed.
    pub per: RateScope,
    /// Largest total per UTC day, in minor units.
    pub max_cents: i64,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ActionSpec {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExamplesSpec {
    #[serde(default, rename = "match")]
    matching: Vec<Value>,
    #[serde(default)]
    no_match: Vec<Value>,
}

/// A rule as written in YAML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSpec {
    name: String,
    action: ActionSpec,
    #[serde(default)]
    when: Vec<ConditionSpec>,
    effect: Effect,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    rate_limit: Option<RateLimit>,
    #[serde(default)]
    daily_total: Option<DailyTotal>,
    #[serde(default)]
    examples: Option<ExamplesSpec>,
}

/// A compiled operator rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique name, reported in every decision it makes.
    pub name: String,
    /// Actions it applies to; `None` means every action (`action: "*"`).
    pub actions: Option<Vec<Action>>,
    /// Its effect when it matches.
    pub effect: Effect,
    /// Higher runs first.
    pub priority: i32,
    /// Reason given on a deny.
    pub reason: Option<String>,
    /// Rate limit that must be reached for the rule to match.
    pub rate_limit: Option<RateLimit>,
    /// Daily total that must be exceeded for the rule to match.
    pub daily_total: Option<DailyTotal>,
    /// Agent the rule is limited to (from a per-agent policy file).
    pub agent: Option<String>,
    /// Where it was loaded from.
    pub source: String,
    /// Number of examples checked at load.
    pub examples_checked: usize,
    conditions: Vec<Condition>,
}

impl RuleSpec {
    pub(crate) fn compile(
        self,
        agent: Option<&str>,
        source: &str,
        order: usize,
    ) -> Result<Rule, PolicyError> {
        let name = self.name;
        let invalid = |reason: String| PolicyError::InvalidRule {
            rule: name.clone(),
            reason,
        };
        if name.is_empty() {
            return Err(PolicyError::InvalidRule {
                rule: format!("#{order}"),
                reason: "`name` is empty".into(),
            });
        }
        let names = match self.action {
            ActionSpec::One(a) => vec![a],
            ActionSpec::Many(list) => list,
        };
        if names.is_empty() {
            return Err(invalid("`action` lists no action".into()));
        }
        let actions = if names.iter().any(|a| a == "*") {
            if names.len() > 1 {
                return Err(invalid("`*` cannot be combined with other actions".into()));
            }
            None
        } else {
            let mut actions = Vec::with_capacity(names.len());
            for a in names {
                let parsed = a
                    .parse::<Action>()
                    .map_err(|_| PolicyError::UnknownAction {
                        rule: name.clone(),
                        action: a.clone(),
                    })?;
                actions.push(parsed);
            }
            Some(actions)
        };
        if let Some(r) = &self.rate_limit {
            if r.window_secs == 0 {
                return Err(invalid("`rate_limit.window_secs` must be positive".into()));
            }
        }
        if let Some(d) = &self.daily_total {
            if d.max_cents < 0 {
                return Err(invalid("`daily_total.max_cents` is negative".into()));
            }
            let all_carry = actions
                .as_ref()
                .is_some_and(|a| a.iter().all(|a| a.carries_amount()));
            if !all_carry {
                return Err(invalid(
                    "`daily_total` needs actions that carry an `amount` (e.g. `refund`)".into(),
                ));
            }
        }
        let conditions = self
            .when
            .into_iter()
            .map(ConditionSpec::compile)
            .collect::<Result<Vec<_>, _>>()
            .map_err(&invalid)?;
        let mut rule = Rule {
            name: name.clone(),
            actions,
            effect: self.effect,
            priority: self.priority,
            reason: self.reason,
            rate_limit: self.rate_limit,
            daily_total: self.daily_total,
            agent: agent.map(str::to_string),
            source: source.to_string(),
            examples_checked: 0,
            conditions,
        };
        rule.examples_checked = rule.check_examples(self.examples.unwrap_or_default())?;
        Ok(rule)
    }
}

impl Rule {
    /// `true` if the rule is about this action and agent.
    pub(crate) fn applies_to(&self, action: Action, agent: &str) -> bool {
        self.actions.as_ref().is_none_or(|a| a.contains(&action))
            && self.agent.as_deref().is_none_or(|a| a == agent)
    }

    /// `true` if every `when` condition holds for `params`.
    pub(crate) fn conditions_hold(&self, params: &Value) -> Result<bool, String> {
        for c in &self.conditions {
            if !c.eval(params)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Full match: conditions, then rate limit reached, then daily total exceeded.
    pub(crate) fn matches(
        &self,
        base: &BaseKey,
        task: &TaskKey,
        action: Action,
        params: &Value,
        counters: &dyn UsageCounters,
        now: u64,
    ) -> Result<bool, String> {
        if !self.conditions_hold(params)? {
            return Ok(false);
        }
        if let Some(r) = &self.rate_limit {
            let used = counters.count(r.per, r.per.id(base, task), action, r.window_secs, now);
            if used < r.max {
                return Ok(false);
            }
        }
        if let Some(d) = &self.daily_total {
            let amount = parse_minor_units(params.get("amount")).map_err(|e| e.to_string())?;
            let today = counters.daily_total(d.per, d.per.id(base, task), action, now);
            let after = today
                .checked_add(amount)
                .ok_or_else(|| "daily total overflows".to_string())?;
            if after <= d.max_cents {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn check_examples(&self, examples: ExamplesSpec) -> Result<usize, PolicyError> {
        let mut checked = 0;
        let cases = examples
            .matching
            .iter()
            .enumerate()
            .map(|(i, e)| ("match", i, e, true))
            .chain(
                examples
                    .no_match
                    .iter()
                    .enumerate()
                    .map(|(i, e)| ("no_match", i, e, false)),
            );
        for (kind, index, example, expected) in cases {
            let fail = |detail: String| PolicyError::ExampleFailed {
                rule: self.name.clone(),
                kind,
                index,
                example: example.to_string(),
                detail,
            };
            if !example.is_object() {
                return Err(fail("an example is a params object".into()));
            }
            match self.conditions_hold(example) {
                Ok(got) if got == expected => checked += 1,
                Ok(got) => {
                    return Err(fail(format!(
                        "the `when` conditions {} it",
                        if got { "match" } else { "do not match" }
                    )))
                }
                Err(e) => return Err(fail(format!("evaluating it failed: {e}"))),
            }
        }
        Ok(checked)
    }
}
