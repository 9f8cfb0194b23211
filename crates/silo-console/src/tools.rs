//! The operator's tools. Refund, note and email go through the membrane exactly as an
//! agent's calls do — the operator's own base key (their capabilities) and a task key for
//! the task they took, verified, decided by policy, tokenised, audited — so a refund over
//! the operator's limit is refused with the policy's reason. Escalate and complete end
//! the operator's turn through the router kernel, like `silo task answer`.

use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use serde::Deserialize;
use serde_json::{json, Value};
use silo_router::{AgentResult, Store, TaskView};

use crate::accounts::Session;
use crate::pages::task::{last_agent, owned};
use crate::pages::{blocking, profile, signed_in, PageError, PageResult};
use crate::{OperatorProfile, Shared};

/// One call through the membrane as `session`'s operator on `task`; `agent` is the agent
/// whose folder's templates messages use.
pub fn membrane(
    shared: &Shared,
    session: &Session,
    profile: &OperatorProfile,
    task: &TaskView,
    agent: Option<&str>,
    path: &str,
    body: Value,
) -> Result<silo_invoke::OperatorReply, PageError> {
    let host = (shared.setup.host)().map_err(PageError::Internal)?;
    let call = silo_invoke::OperatorCall::on_router_task(
        &session.operator,
        profile.caps.clone(),
        silo_invoke::RouterTask {
            id: task.id.as_str(),
            version: task.version,
            customer: &task.spec.customer,
            case: &task.spec.case,
            privacy_scope: task.spec.privacy_scope.as_deref(),
            input: &task.spec.input,
        },
        path,
        Some(body),
        agent.map(|a| shared.setup.agents_dir.join(a)),
    );
    silo_invoke::operator_call(host, &call).map_err(PageError::internal)
}

/// Every tool's form fields (each tool reads its own).
#[derive(Debug, Default, Deserialize)]
pub struct ToolForm {
    #[serde(default)]
    nonce: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    vars: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    recommendation: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    result: String,
    #[allow(dead_code)] // checked by the guard
    #[serde(default)]
    csrf: String,
}

/// `12`, `12.5`, `12.50`, `1,200.00` dollars → cents; anything else is refused.
pub fn parse_dollars(text: &str) -> Result<i64, String> {
    let t = text.trim().trim_start_matches('$').replace(',', "");
    let bad = || {
        format!(
            "`{}` is not an amount in dollars (e.g. 120.00)",
            text.trim()
        )
    };
    let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
    if whole.is_empty()
        || whole.len() > 12
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().map_err(|_| bad())?
    };
    Ok(whole * 100 + frac)
}

/// `name=value` lines → a JSON object of strings.
fn parse_vars(text: &str) -> Result<Value, String> {
    let mut map = serde_json::Map::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("`{line}` is not name=value"))?;
        map.insert(k.trim().to_owned(), Value::String(v.trim().to_owned()));
    }
    Ok(Value::Object(map))
}

/// The flash text for a membrane reply.
fn outcome(
    reply: &silo_invoke::OperatorReply,
    done: impl FnOnce(&Value) -> String,
) -> (bool, String) {
    if (200..300).contains(&reply.status) {
        return (true, done(&reply.body));
    }
    let message = reply
        .body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("refused");
    let rule = reply.body.pointer("/error/rule").and_then(Value::as_str);
    let code = reply
        .body
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("refused");
    (
        false,
        match rule {
            Some(rule) => format!("Refused ({code}): {message} — rule {rule}"),
            None => format!("Refused ({code}): {message}"),
        },
    )
}

fn idempotency(task: &TaskView, operator: &str, tool: &str, nonce: &str) -> Result<String, String> {
    let ok = !nonce.is_empty()
        && nonce.len() <= 32
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err("the form is stale: reload the page and try again".into());
    }
    Ok(format!("{}:{operator}:{tool}:{nonce}", task.spec.case)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
        .take(128)
        .collect())
}

/// Runs a tool; `(ok, message, task still with the operator)`.
fn run_tool(
    shared: &Shared,
    session: &Session,
    profile: &OperatorProfile,
    id: &str,
    tool: &str,
    form: ToolForm,
) -> Result<(bool, String, bool), PageError> {
    let task = owned(shared, id, &session.operator)?;
    let events = shared.setup.kernel.store().events(Some(&task.id))?;
    let agent = last_agent(&events);
    let via = |path: &str, body: Value| {
        membrane(
            shared,
            session,
            profile,
            &task,
            agent.as_deref(),
            path,
            body,
        )
    };
    let now = silo_keys::now_unix();
    let finish = |result: AgentResult| -> Result<(bool, String, bool), PageError> {
        shared
            .setup
            .kernel
            .human_result(&task.id, &session.operator, result, now)?;
        (shared.setup.on_change)();
        Ok((true, format!("Task {id} handed back to the router."), false))
    };
    match tool {
        "refund" => {
            let cents = match parse_dollars(&form.amount) {
                Ok(c) => c,
                Err(e) => return Ok((false, e, true)),
            };
            let key = match idempotency(&task, &session.operator, "refund", &form.nonce) {
                Ok(k) => k,
                Err(e) => return Ok((false, e, true)),
            };
            let currency = profile
                .caps
                .refund
                .as_ref()
                .map(|r| r.currency.clone())
                .unwrap_or_else(|| "USD".into());
            let reply = via(
                "/v1/refund",
                json!({
                    "amount_cents": cents, "currency": currency,
                    "reason": form.reason.trim(), "idempotency_key": key,
                }),
            )?;
            let (ok, text) = outcome(&reply, |b| {
                format!(
                    "Refunded {} ({}){}.",
                    crate::pages::money(cents, &currency),
                    b["refund_id"].as_str().unwrap_or("?"),
                    if b["replayed"].as_bool() == Some(true) {
                        ", already paid by this form: not paid twice"
                    } else {
                        ""
                    }
                )
            });
            Ok((ok, text, true))
        }
        "note" => {
            if form.text.trim().is_empty() {
                return Ok((false, "a note needs some text".into(), true));
            }
            let reply = via(
                "/v1/data/write",
                json!({"op": "case.add_note", "text": form.text.trim()}),
            )?;
            let (ok, text) = outcome(&reply, |_| "Note added to the case.".into());
            Ok((ok, text, true))
        }
        "email" => {
            let vars = match parse_vars(&form.vars) {
                Ok(v) => v,
                Err(e) => return Ok((false, e, true)),
            };
            let key = match idempotency(&task, &session.operator, "email", &form.nonce) {
                Ok(k) => k,
                Err(e) => return Ok((false, e, true)),
            };
            let reply = via(
                "/v1/email/send",
                json!({"template": form.template, "to": form.to, "vars": vars, "idempotency_key": key}),
            )?;
            let (ok, text) = outcome(&reply, |b| {
                format!(
                    "Email `{}` sent ({}).",
                    form.template,
                    b["message_id"].as_str().unwrap_or("queued")
                )
            });
            Ok((ok, text, true))
        }
        "escalate" => {
            let allowed = profile.caps.escalate.clone().unwrap_or_default();
            if !allowed.contains(&form.target) {
                return Ok((
                    false,
                    format!(
                        "Refused: you may not escalate to `{}` (your key allows: {})",
                        form.target,
                        if allowed.is_empty() {
                            "nobody".to_owned()
                        } else {
                            allowed.join(", ")
                        }
                    ),
                    true,
                ));
            }
            if form.reason.trim().is_empty() {
                return Ok((false, "an escalation needs a reason".into(), true));
            }
            finish(AgentResult::Escalate {
                target: form.target.clone(),
                reason: form.reason.trim().to_owned(),
                recommendation: form.recommendation.trim().to_owned(),
            })
        }
        "complete" => {
            let summary = form.summary.trim().to_owned();
            if summary.is_empty() {
                return Ok((false, "say what was done (summary)".into(), true));
            }
            match form.result.as_str() {
                "" | "done" => finish(AgentResult::Done {
                    summary,
                    assets: Vec::new(),
                }),
                "failed" => finish(AgentResult::Failed { summary }),
                other => Ok((
                    false,
                    format!("result `{other}` is not done or failed"),
                    true,
                )),
            }
        }
        other => Err(PageError::NotFound(format!("no tool `{other}`"))),
    }
}

/// `POST /tasks/{id}/act/{tool}`.
pub async fn act(
    State(shared): State<Shared>,
    session: Option<Extension<Session>>,
    UrlPath((id, tool)): UrlPath<(String, String)>,
    Form(form): Form<ToolForm>,
) -> PageResult {
    let session = signed_in(session)?;
    let p = profile(&shared, &session)?.clone();
    let s = session.clone();
    let task_id = crate::pages::task::safe_id(&id)?.to_owned();
    let (ok, text, still_mine) = blocking(&shared, move |shared| {
        run_tool(shared, &s, &p, &id, &tool, form)
    })
    .await?;
    shared.set_flash(&session, ok, text);
    let back = if still_mine {
        format!("/tasks/{task_id}")
    } else {
        "/inbox".to_owned()
    };
    Ok(Redirect::to(&back).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_parse_strictly() {
        assert_eq!(parse_dollars("120.00"), Ok(12_000));
        assert_eq!(parse_dollars("$1,500"), Ok(150_000));
        assert_eq!(parse_dollars("0.5"), Ok(50));
        assert_eq!(parse_dollars(" 12 "), Ok(1_200));
        for bad in [
            "",
            "-5",
            "1e3",
            "12.345",
            "abc",
            "1.2.3",
            ".50",
            "9999999999999",
        ] {
            assert!(parse_dollars(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_vars("order_id=ord_1\n amount = $5 \n").unwrap(),
            json!({"order_id": "ord_1", "amount": "$5"})
        );
        assert!(parse_vars("nonsense").is_err());
    }
}
