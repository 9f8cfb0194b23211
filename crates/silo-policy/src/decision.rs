//! The decision: allow, deny (with reason and rule) or needs-approval, and the one function
//! that makes it. Deny by default; every error is a deny.

use serde_json::Value;
use silo_keys::{BaseKey, Credentials, TaskKey};

use crate::action::Action;
use crate::counters::UsageCounters;
use crate::policy_set::{DefaultEffect, PolicySet};
use crate::rules::Effect;
use crate::{capability, scope};

/// The answer to "may this key pair do this action with these params?".
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Go ahead. `rule` is the allow rule that matched or `default.allow`.
    Allow {
        /// The rule that allowed it.
        rule: String,
    },
    /// Refused.
    Deny {
        /// Why, for the audit log and the agent.
        reason: String,
        /// The built-in check (`capability.refund.max_cents`, `scope.customer`, …) or operator rule.
        rule: String,
    },
    /// A human must approve first.
    NeedsApproval {
        /// The operator rule that asks for approval.
        rule: String,
        /// Why, for the approver.
        reason: String,
    },
}

impl Decision {
    /// `true` only for [`Decision::Allow`].
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    /// The rule behind the decision.
    pub fn rule(&self) -> &str {
        match self {
            Decision::Allow { rule }
            | Decision::Deny { rule, .. }
            | Decision::NeedsApproval { rule, .. } => rule,
        }
    }
}

/// A human's approval of one `require_approval` rule for this action, from outside the cell
/// (console, router). Never read from params: params come from the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Who approved.
    pub approver: String,
    /// The rule approved.
    pub rule: String,
}

/// What the decision needs besides the keys and the request, all supplied by the membrane.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Unix seconds, for rate windows and daily totals.
    pub now: u64,
    /// Usage so far.
    pub counters: &'a dyn UsageCounters,
    /// The customer that owns the resource, when the membrane looked it up.
    pub resource_customer: Option<&'a str>,
    /// An approval granted by a human for this action.
    pub approval: Option<&'a Approval>,
    /// LLM tokens this task has used so far.
    pub llm_tokens_used: u64,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .field("resource_customer", &self.resource_customer)
            .field("approval", &self.approval)
            .field("llm_tokens_used", &self.llm_tokens_used)
            .finish_non_exhaustive()
    }
}

impl<'a> Context<'a> {
    /// A context at `now` reading `counters`, with nothing else known.
    pub fn new(now: u64, counters: &'a dyn UsageCounters) -> Self {
        Self {
            now,
            counters,
            resource_customer: None,
            approval: None,
            llm_tokens_used: 0,
        }
    }
}

/// A built-in check's refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    rule: String,
    reason: String,
}

impl Refusal {
    pub(crate) fn new(rule: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn with_rule(mut self, rule: String) -> Self {
        self.rule = rule;
        self
    }

    fn into_decision(self) -> Decision {
        Decision::Deny {
            reason: self.reason,
            rule: self.rule,
        }
    }
}

fn deny(rule: &str, reason: impl Into<String>) -> Decision {
    Decision::Deny {
        reason: reason.into(),
        rule: rule.to_string(),
    }
}

impl PolicySet {
    /// Decides with verified [`Credentials`] (the usual call from the membrane).
    pub fn decide_for(
        &self,
        creds: &Credentials,
        action: &str,
        params: &Value,
        ctx: &Context<'_>,
    ) -> Decision {
        self.decide(creds.base(), creds.task(), action, params, ctx)
    }

    /// The decision. Pure: reads only its arguments (counters through the trait), does no IO.
    ///
    /// Order: known action → keys agree on the agent → no self-approval → params is an object
    /// → customer scope → base-key capability and limits → operator rules by priority →
    /// the policy default. The first refusal wins; errors are refusals.
    pub fn decide(
        &self,
        base: &BaseKey,
        task: &TaskKey,
        action: &str,
        params: &Value,
        ctx: &Context<'_>,
    ) -> Decision {
        let Ok(action) = action.parse::<Action>() else {
            let shown: String = action.chars().take(64).collect();
            return deny("action.unknown", format!("unknown action `{shown}`"));
        };
        if base.agent != task.agent {
            return deny(
                "keys.agent_mismatch",
                format!(
                    "base key is for `{}`, task key for `{}`",
                    base.agent, task.agent
                ),
            );
        }
        if let Some(a) = ctx.approval {
            if a.approver.is_empty() || a.approver == base.agent || a.approver == task.agent {
                return deny("approval.self", "an agent can never approve itself");
            }
        }
        if !params.is_object() {
            return deny("params.not_object", "params must be a JSON object");
        }
        if let Err(r) = scope::check(action, task, params, ctx) {
            return r.into_decision();
        }
        if let Err(r) = capability::check(action, base, params, ctx) {
            return r.into_decision();
        }
        for rule in self.rules() {
            if !rule.applies_to(action, &base.agent) {
                continue;
            }
            match rule.matches(base, task, action, params, ctx.counters, ctx.now) {
                Err(e) => {
                    return Decision::Deny {
                        reason: format!("rule could not be evaluated, so it denies: {e}"),
                        rule: rule.name.clone(),
                    }
                }
                Ok(false) => {}
                Ok(true) => match rule.effect {
                    Effect::Deny => {
                        return Decision::Deny {
                            reason: rule
                                .reason
                                .clone()
                                .unwrap_or_else(|| format!("denied by rule `{}`", rule.name)),
                            rule: rule.name.clone(),
                        }
                    }
                    Effect::Allow => {
                        return Decision::Allow {
                            rule: rule.name.clone(),
                        }
                    }
                    Effect::RequireApproval => {
                        // A human approved this very rule: go on to the rules below it, so a
                        // lower deny still holds.
                        if ctx.approval.is_some_and(|a| a.rule == rule.name) {
                            continue;
                        }
                        return Decision::NeedsApproval {
                            rule: rule.name.clone(),
                            reason: rule.reason.clone().unwrap_or_else(|| {
                                format!("rule `{}` requires approval", rule.name)
                            }),
                        };
                    }
                },
            }
        }
        match self.default_effect() {
            DefaultEffect::Allow => Decision::Allow {
                rule: "default.allow".into(),
            },
            DefaultEffect::Deny => deny("default.deny", "no rule allows this action"),
        }
    }
}
