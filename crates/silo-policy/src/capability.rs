//! Capability constraints from the base key: the grant, and its limits, for each action.

use serde_json::Value;
use silo_keys::BaseKey;

use crate::action::Action;
use crate::amount::{parse_currency, parse_integer, parse_minor_units};
use crate::decision::{Context, Refusal};

/// Refuses an action the base key does not grant or whose params exceed the grant.
pub(crate) fn check(
    action: Action,
    base: &BaseKey,
    params: &Value,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    let caps = &base.caps;
    let rule = |suffix: &str| format!("capability.{}{suffix}", action.as_str());
    let missing = || {
        Refusal::new(
            rule(""),
            format!("base key grants no `{action}` capability"),
        )
    };
    match action {
        Action::Refund => {
            let cap = caps.refund.as_ref().ok_or_else(missing)?;
            let amount = parse_minor_units(params.get("amount"))
                .map_err(|e| Refusal::new("amount.invalid", e.to_string()))?;
            let currency = parse_currency(params.get("currency"))
                .map_err(|e| Refusal::new("amount.invalid", e.to_string()))?;
            if currency != cap.currency {
                return Err(Refusal::new(
                    rule(".currency"),
                    format!(
                        "currency `{currency}` is not the granted `{}`",
                        cap.currency
                    ),
                ));
            }
            if amount > cap.max_cents {
                return Err(Refusal::new(
                    rule(".max_cents"),
                    format!(
                        "amount {amount} exceeds the limit of {} {}",
                        cap.max_cents, cap.currency
                    ),
                ));
            }
            Ok(())
        }
        Action::EmailSend | Action::SmsSend => {
            let cap = match action {
                Action::SmsSend => caps.sms_send.as_ref(),
                _ => caps.email_send.as_ref(),
            }
            .ok_or_else(missing)?;
            let template = string_param(params, "template").map_err(|r| r.with_rule(rule("")))?;
            if !cap.templates.iter().any(|t| t == template) {
                return Err(Refusal::new(
                    rule(".templates"),
                    format!("template `{template}` is not granted"),
                ));
            }
            Ok(())
        }
        Action::DataRead => {
            let cap = caps.data_read.as_ref().ok_or_else(missing)?;
            let fields = match params.get("fields") {
                Some(Value::Array(list)) if !list.is_empty() => list,
                _ => {
                    return Err(Refusal::new(
                        rule(""),
                        "`fields` must be a non-empty list of field names".to_string(),
                    ))
                }
            };
            for f in fields {
                let Value::String(f) = f else {
                    return Err(Refusal::new(
                        rule(""),
                        "`fields` must hold strings".to_string(),
                    ));
                };
                if !cap.fields.iter().any(|g| g == f) {
                    return Err(Refusal::new(
                        rule(".fields"),
                        format!("field `{f}` is not granted"),
                    ));
                }
            }
            Ok(())
        }
        Action::DataWrite => {
            let cap = caps.data_write.as_ref().ok_or_else(missing)?;
            let op = string_param(params, "op").map_err(|r| r.with_rule(rule("")))?;
            if !cap.ops.iter().any(|o| o == op) {
                return Err(Refusal::new(
                    rule(".ops"),
                    format!("write operation `{op}` is not granted"),
                ));
            }
            Ok(())
        }
        Action::Escalate => {
            let targets = caps.escalate.as_ref().ok_or_else(missing)?;
            let target = string_param(params, "target").map_err(|r| r.with_rule(rule("")))?;
            if !targets.iter().any(|t| t == target) {
                return Err(Refusal::new(
                    rule(".targets"),
                    format!("escalation target `{target}` is not granted"),
                ));
            }
            Ok(())
        }
        Action::LlmChat => {
            let cap = caps.llm.as_ref().ok_or_else(missing)?;
            let requested = match params.get("max_tokens") {
                None => 0,
                Some(v) => match parse_integer(v) {
                    Ok(n) if n >= 0 => n.unsigned_abs(),
                    _ => {
                        return Err(Refusal::new(
                            rule(""),
                            "`max_tokens` must be a non-negative integer".to_string(),
                        ))
                    }
                },
            };
            let total = ctx.llm_tokens_used.saturating_add(requested);
            if ctx.llm_tokens_used >= cap.max_tokens_per_task || total > cap.max_tokens_per_task {
                return Err(Refusal::new(
                    rule(".max_tokens_per_task"),
                    format!(
                        "task has used {} of {} llm tokens; {requested} more would exceed it",
                        ctx.llm_tokens_used, cap.max_tokens_per_task
                    ),
                ));
            }
            Ok(())
        }
        // Scratch state is scoped to the task by the membrane; the task key is the grant.
        Action::KvGet | Action::KvPut => Ok(()),
        Action::Approve => Err(Refusal::new(
            "approval.agent",
            "an agent can never approve; approvals come from a human operator".to_string(),
        )),
    }
}

fn string_param<'a>(params: &'a Value, name: &str) -> Result<&'a str, Refusal> {
    match params.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Refusal::new("", format!("`{name}` must be a string"))),
        None => Err(Refusal::new("", format!("`{name}` is missing"))),
    }
}
