//! `/tasks/{id}`: one task. The operator who took it sees what the agent saw — the
//! customer's record, orders and history fetched through the membrane with the operator's
//! own keys (so tokenised in the task's run scope: the same `[NAME_1]`), the task input
//! as stored (tokenised at intake) — with the router's timeline, the agent's summary and
//! recommendation, the last agent's `instructions.md` and `escalation.md`, the operator's
//! limits, the refunds paid on the case, and the tools. Anyone else sees the timeline
//! only; a task another operator took is refused.

use std::path::Path;

use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Redirect};
use axum::Extension;
use maud::{html, Markup, PreEscaped};
use serde_json::{json, Value};
use silo_keys::Capabilities;
use silo_router::{AgentResult, Event, State as TaskState, Store, StoredEvent, TaskId, TaskView};

use crate::accounts::{random_token, Session};
use crate::pages::{age, blocking, csrf, layout, money, profile, signed_in, PageError, PageResult};
use crate::tools::membrane;
use crate::{markdown, OperatorProfile, Shared};

/// Largest agent document shown.
const MAX_DOC: u64 = 256 * 1024;

/// `id` if it can be a task id (it goes into links and redirects), else 404.
pub fn safe_id(id: &str) -> Result<&str, PageError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(id)
    } else {
        Err(PageError::NotFound("no such task".into()))
    }
}

/// The task, or 404.
pub fn load(shared: &Shared, id: &str) -> Result<TaskView, PageError> {
    safe_id(id)?;
    shared
        .setup
        .kernel
        .store()
        .get(&TaskId(id.to_owned()))?
        .ok_or_else(|| PageError::NotFound(format!("task `{id}` does not exist")))
}

/// The task with `me`, or why not: 403 when another operator has it.
pub fn owned(shared: &Shared, id: &str, me: &str) -> Result<TaskView, PageError> {
    let task = load(shared, id)?;
    match (&task.state, task.operator.as_deref()) {
        (TaskState::WithHuman, Some(op)) if op == me => Ok(task),
        (TaskState::WithHuman, Some(op)) => Err(PageError::Forbidden(format!(
            "task `{id}` is taken by {op}; only they can work on it"
        ))),
        _ => Err(PageError::Forbidden(format!(
            "you do not have task `{id}`; take it from the inbox first"
        ))),
    }
}

/// The agent that last had the task (its folder has the documents and templates).
pub fn last_agent(events: &[StoredEvent]) -> Option<String> {
    events.iter().rev().find_map(|e| match &e.event {
        Event::Dispatched { agent, .. } => Some(agent.clone()),
        Event::Escalated { from, .. } => Some(from.clone()),
        _ => None,
    })
}

fn result_text(r: &AgentResult) -> String {
    match r {
        AgentResult::Done { summary, .. } => format!("done: {summary}"),
        AgentResult::HardRedirect { target, summary } => {
            format!("301 to {target}: {summary}")
        }
        AgentResult::SoftRedirect { target, summary } => {
            format!("302 to {target}: {summary}")
        }
        AgentResult::NeedsHuman { summary } => format!("400, needs a person: {summary}"),
        AgentResult::Failed { summary } => format!("500, failed: {summary}"),
        AgentResult::Escalate {
            target,
            reason,
            recommendation,
        } => {
            if recommendation.is_empty() {
                format!("escalate to {target}: {reason}")
            } else {
                format!("escalate to {target}: {reason} — recommends: {recommendation}")
            }
        }
    }
}

/// An event as (who or what, what happened).
pub fn describe(event: &Event) -> (String, String) {
    match event {
        Event::TaskCreated { spec, shadow, .. } => (
            "created".into(),
            format!(
                "for {} ({}){}",
                spec.entry,
                spec.case,
                if *shadow {
                    ", sampled for shadow review"
                } else {
                    ""
                }
            ),
        ),
        Event::Dispatched { agent, cell, .. } => {
            ("dispatched".into(), format!("{agent} in cell {cell}"))
        }
        Event::AgentResult {
            agent,
            result,
            shadow,
        } => (
            agent.clone(),
            format!(
                "{}{}",
                result_text(result),
                if *shadow {
                    " (recorded for shadow review)"
                } else {
                    ""
                }
            ),
        ),
        Event::Routed { agent, reason, .. } => ("routed".into(), format!("to {agent}: {reason}")),
        Event::Escalated {
            from,
            target,
            reason,
            recommendation,
            ..
        } => (
            "escalated".into(),
            if recommendation.is_empty() {
                format!("{from} → {target}: {reason}")
            } else {
                format!("{from} → {target}: {reason} — recommends: {recommendation}")
            },
        ),
        Event::HumanAssigned { operator } => ("taken".into(), format!("by {operator}")),
        Event::HumanResult {
            operator,
            result,
            diverged,
        } => (
            operator.clone(),
            format!(
                "{}{}",
                result_text(result),
                match diverged {
                    Some(true) => " (differs from the agent's shadow result)",
                    Some(false) => " (agrees with the agent's shadow result)",
                    None => "",
                }
            ),
        ),
        Event::Completed { summary } => ("completed".into(), summary.clone()),
        Event::Failed { reason } => ("failed".into(), reason.clone()),
        Event::Aborted { reason } => ("aborted".into(), reason.clone()),
        Event::TimedOut => ("timed out".into(), String::new()),
        Event::KeyRevoked { jti } => ("key revoked".into(), jti.clone()),
        Event::Signal { signal } => (
            "signal".into(),
            serde_json::to_value(signal)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        ),
    }
}

fn timeline(events: &[StoredEvent], now: u64) -> Markup {
    html! {
        table data-testid="events" {
            thead { tr { th { "#" } th { "When" } th { "Who / what" } th { "" } } }
            tbody {
                @for e in events {
                    @let (who, what) = describe(&e.event);
                    tr { td.muted { (e.seq) } td.muted { (age(e.at, now)) " ago" } td { (who) } td { (what) } }
                }
            }
        }
    }
}

/// The operator's limits, as words.
pub fn limits(caps: &Capabilities) -> Markup {
    html! {
        ul data-testid="limits" {
            @if let Some(r) = &caps.refund {
                li { "refund up to " (money(r.max_cents, &r.currency)) " per refund" }
            } @else { li { "no refunds" } }
            @if let Some(e) = &caps.email_send {
                li { "email templates: " (e.templates.join(", ")) }
            }
            @if let Some(d) = &caps.data_read {
                li { "may read: " (d.fields.join(", ")) }
            }
            @if let Some(w) = &caps.data_write {
                li { "may write: " (w.ops.join(", ")) }
            }
            @if let Some(t) = &caps.escalate {
                li { "may escalate to: " (t.join(", ")) }
            }
        }
    }
}

/// An agent folder's document, rendered; `None` when it has none.
fn document(agents_dir: &Path, agent: &str, file: &str) -> Option<Markup> {
    use std::io::Read;
    let path = agents_dir.join(agent).join(file);
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_DOC)
        .read_to_string(&mut text)
        .ok()?;
    Some(PreEscaped(markdown::render(&text)))
}

/// What the membrane said, for a section: the value under `key`, or the refusal.
fn fetched(reply: &Result<(u16, Value), String>, key: &str) -> Result<Value, String> {
    match reply {
        Ok((200, body)) => Ok(body.get(key).cloned().unwrap_or(Value::Null)),
        Ok((status, body)) => Err(format!(
            "{status}: {}",
            body.pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("refused")
        )),
        Err(e) => Err(e.clone()),
    }
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

struct Full {
    task: TaskView,
    events: Vec<StoredEvent>,
    customer: Result<Value, String>,
    orders: Result<Value, String>,
    history: Result<Value, String>,
    refunds: Vec<silo_membrane::RefundRecord>,
    agent: Option<String>,
    instructions: Option<Markup>,
    escalation: Option<Markup>,
    templates: Vec<String>,
}

fn gather(
    shared: &Shared,
    session: &Session,
    profile: &OperatorProfile,
    task: TaskView,
) -> Result<Full, PageError> {
    let events = shared.setup.kernel.store().events(Some(&task.id))?;
    let agent = last_agent(&events);
    let call = |path: &str| {
        membrane(
            shared,
            session,
            profile,
            &task,
            agent.as_deref(),
            path,
            json!({}),
        )
        .map(|r| (r.status, r.body))
        .map_err(|e| match e {
            PageError::Internal(m)
            | PageError::Bad(m)
            | PageError::Forbidden(m)
            | PageError::NotFound(m) => m,
            PageError::Login => "not signed in".into(),
        })
    };
    let customer = fetched(&call("/v1/data/customer"), "customer");
    let orders = fetched(&call("/v1/data/orders"), "orders");
    let history = fetched(&call("/v1/data/history"), "history");
    let family = format!("{}.", task.id.as_str());
    let refunds = shared
        .ledger
        .refunds_for(&task.spec.customer)
        .map_err(PageError::internal)?
        .into_iter()
        .filter(|r| r.task.starts_with(&family))
        .collect();
    let dir = &shared.setup.agents_dir;
    let (instructions, escalation) = match &agent {
        Some(a) => (
            document(dir, a, "instructions.md"),
            document(dir, a, "escalation.md"),
        ),
        None => (None, None),
    };
    let templates = profile
        .caps
        .email_send
        .as_ref()
        .map(|e| e.templates.clone())
        .unwrap_or_default();
    Ok(Full {
        task,
        events,
        customer,
        orders,
        history,
        refunds,
        agent,
        instructions,
        escalation,
        templates,
    })
}

fn facts(task: &TaskView, now: u64, since: Option<u64>) -> Markup {
    html! {
        dl.facts data-testid="facts" {
            dt { "State" } dd.state data-testid="state" { (task.state.as_str()) }
            dt { "Customer" } dd { (task.spec.customer) }
            dt { "Case" } dd { (task.spec.case) }
            dt { "With" } dd { (task.run.agent) @if let Some(op) = &task.operator { " · taken by " (op) } }
            @if let Some(w) = &task.waiting_because { dt { "Why it came" } dd.why { (w) } }
            @if let Some(s) = since { dt { "Waiting" } dd { (age(s, now)) } }
            @if let Some(o) = &task.outcome { dt { "Outcome" } dd { (o) } }
        }
    }
}

fn record_table(v: &Result<Value, String>, testid: &str) -> Markup {
    html! {
        @match v {
            Err(e) => p.flash.denied data-testid=(testid) { "The membrane refused: " (e) },
            Ok(Value::Object(map)) => {
                table data-testid=(testid) {
                    @for (k, val) in map { tr { th { (k) } td { (cell_text(val)) } } }
                }
            },
            Ok(Value::Array(rows)) => {
                table data-testid=(testid) {
                    @if let Some(Value::Object(first)) = rows.first() {
                        thead { tr { @for k in first.keys() { th { (k) } } } }
                    }
                    tbody {
                        @for row in rows {
                            tr { @if let Value::Object(m) = row { @for val in m.values() { td { (cell_text(val)) } } } }
                        }
                        @if rows.is_empty() { tr { td.muted { "none" } } }
                    }
                }
            },
            Ok(other) => pre data-testid=(testid) { (cell_text(other)) },
        }
    }
}

/// The agent's latest summary and recommendation.
fn recommendation(events: &[StoredEvent]) -> Option<(String, String)> {
    events.iter().rev().find_map(|e| match &e.event {
        Event::Escalated {
            reason,
            recommendation,
            ..
        } => Some((reason.clone(), recommendation.clone())),
        Event::AgentResult { result, .. } => Some((result_text(result), String::new())),
        _ => None,
    })
}

fn tools(full: &Full, session: &Session, profile: &OperatorProfile) -> Markup {
    let id = full.task.id.as_str();
    let action = |tool: &str| format!("/tasks/{id}/act/{tool}");
    let nonce = random_token(12).unwrap_or_default();
    let email = full
        .customer
        .as_ref()
        .ok()
        .and_then(|c| c.get("email"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let targets = profile.caps.escalate.clone().unwrap_or_default();
    html! {
        h2 { "Refund" }
        form.tool data-tool="refund" method="post" action=(action("refund")) {
            (csrf(session))
            input type="hidden" name="nonce" value=(nonce);
            label { "Amount (dollars)" input name="amount" inputmode="decimal" placeholder="120.00" required; }
            label { "Reason" input name="reason" placeholder="damaged on arrival" required; }
            button type="submit" { "Refund" }
        }
        h2 { "Note on the case" }
        form.tool data-tool="note" method="post" action=(action("note")) {
            (csrf(session))
            label { "Note" textarea name="text" required {} }
            button type="submit" { "Add note" }
        }
        h2 { "Email the customer" }
        form.tool data-tool="email" method="post" action=(action("email")) {
            (csrf(session))
            input type="hidden" name="nonce" value=(nonce);
            input type="hidden" name="to" value=(email);
            label { "Template" select name="template" {
                @for t in &full.templates { option value=(t) { (t) } }
            } }
            label { "Variables (one name=value a line)" textarea name="vars" placeholder="order_id=ord_1002" {} }
            button type="submit" disabled[full.templates.is_empty()] { "Send" }
        }
        h2 { "Hand on" }
        form.tool data-tool="escalate" method="post" action=(action("escalate")) {
            (csrf(session))
            label { "To" select name="target" {
                @for t in &targets { option value=(t) { (t) } }
            } }
            label { "Reason" input name="reason" required; }
            label { "Recommendation" input name="recommendation"; }
            button type="submit" disabled[targets.is_empty()] { "Escalate" }
        }
        form.tool data-tool="complete" method="post" action=(action("complete")) {
            (csrf(session))
            label { "Summary" input name="summary" placeholder="refunded $120.00 and wrote to the customer" required; }
            label { "Result" select name="result" {
                option value="done" { "done" }
                option value="failed" { "failed" }
            } }
            button type="submit" { "Complete" }
        }
    }
}

fn full_view(full: &Full, session: &Session, profile: &OperatorProfile, now: u64) -> Markup {
    let id = full.task.id.as_str();
    html! {
        h1 { "Task " code { (id) } }
        section.card { (facts(&full.task, now, None)) }
        @if let Some((summary, rec)) = recommendation(&full.events) {
            section.card data-testid="summary" {
                h2 { "What the agent said" }
                p { (summary) }
                @if !rec.is_empty() { p { strong { "Recommendation: " } (rec) } }
            }
        }
        div.grid {
            div {
                section.card {
                    h2 { "Customer (as the agent saw it)" }
                    (record_table(&full.customer, "customer"))
                    h2 { "Orders" }
                    (record_table(&full.orders, "orders"))
                    h2 { "History" }
                    (record_table(&full.history, "history"))
                    h2 { "Task input" }
                    pre data-testid="input" { (serde_json::to_string_pretty(&full.task.spec.input).unwrap_or_default()) }
                }
                section.card {
                    h2 { "Timeline" }
                    (timeline(&full.events, now))
                }
            }
            div {
                section.card {
                    h2 { "Your limits" }
                    (limits(&profile.caps))
                    (tools(full, session, profile))
                }
                section.card {
                    h2 { "Refunds on this task" }
                    table data-testid="ledger" {
                        thead { tr { th { "Refund" } th { "Amount" } th { "By" } th { "Reason" } } }
                        tbody {
                            @for r in &full.refunds {
                                tr { td { code { (r.refund_id) } } td.amount { (money(r.amount_cents, &r.currency)) } td { (r.agent) } td { (r.reason) } }
                            }
                            @if full.refunds.is_empty() { tr { td colspan="4" .muted { "none yet" } } }
                        }
                    }
                    p { a href={ "/audit?task=" (id) } { "Audit entries of this task" } }
                }
            }
        }
        @if let Some(agent) = &full.agent {
            div.grid {
                section.card {
                    h2 { (agent) ": instructions.md" }
                    div.doc data-testid="instructions" {
                        @match &full.instructions { Some(d) => (d), None => p.muted { "This agent has no instructions.md." } }
                    }
                }
                section.card {
                    h2 { (agent) ": escalation.md" }
                    div.doc data-testid="escalation" {
                        @match &full.escalation { Some(d) => (d), None => p.muted { "This agent has no escalation.md." } }
                    }
                }
            }
        }
    }
}

fn short_view(
    task: &TaskView,
    events: &[StoredEvent],
    session: &Session,
    can_take: bool,
    now: u64,
    since: u64,
) -> Markup {
    html! {
        h1 { "Task " code { (task.id.as_str()) } }
        section.card {
            (facts(task, now, can_take.then_some(since)))
            @if can_take {
                form data-action="take" method="post" action={ "/tasks/" (task.id.as_str()) "/take" } {
                    (csrf(session))
                    button type="submit" { "Take this task" }
                }
                p.muted { "The customer's details show once you have taken the task." }
            }
        }
        section.card {
            h2 { "Timeline" }
            (timeline(events, now))
        }
    }
}

/// `GET /tasks/{id}`.
pub async fn page(
    State(shared): State<Shared>,
    session: Option<Extension<Session>>,
    UrlPath(id): UrlPath<String>,
) -> PageResult {
    let session = signed_in(session)?;
    let p = profile(&shared, &session)?.clone();
    let s = session.clone();
    let content = blocking(&shared, move |shared| {
        let task = load(shared, &id)?;
        let now = silo_keys::now_unix();
        match (&task.state, task.operator.as_deref()) {
            (TaskState::WithHuman, Some(op)) if op == s.operator => {
                let full = gather(shared, &s, &p, task)?;
                Ok(full_view(&full, &s, &p, now))
            }
            (TaskState::WithHuman, Some(op)) => Err(PageError::Forbidden(format!(
                "task `{id}` is taken by {op}; only they can work on it"
            ))),
            _ => {
                let events = shared.setup.kernel.store().events(Some(&task.id))?;
                let since = events.last().map(|e| e.at).unwrap_or(0);
                let can_take = task.state == TaskState::WaitingForHuman && task.run.agent == p.pool;
                Ok(short_view(&task, &events, &s, can_take, now, since))
            }
        }
    })
    .await?;
    let p = profile(&shared, &session)?;
    let flash = shared.take_flash(&session);
    Ok(layout("Task", &session, p, flash, content).into_response())
}

/// `POST /tasks/{id}/take`: locks the task to the operator (through the router kernel).
pub async fn take(
    State(shared): State<Shared>,
    session: Option<Extension<Session>>,
    UrlPath(id): UrlPath<String>,
) -> PageResult {
    let session = signed_in(session)?;
    let pool = profile(&shared, &session)?.pool.clone();
    let me = session.operator.clone();
    let target = format!("/tasks/{id}");
    let taken = blocking(&shared, move |shared| {
        let task = load(shared, &id)?;
        if task.state == TaskState::WithHuman {
            return match task.operator {
                Some(op) if op == me => Ok(Ok(())),
                Some(op) => Err(PageError::Forbidden(format!(
                    "task `{id}` is taken by {op}; only they can work on it"
                ))),
                None => Err(PageError::Bad(format!("task `{id}` is with nobody"))),
            };
        }
        if task.state != TaskState::WaitingForHuman {
            return Ok(Err(format!(
                "task `{id}` is {}, not waiting for a person",
                task.state.as_str()
            )));
        }
        if task.run.agent != pool {
            return Err(PageError::Forbidden(format!(
                "task `{id}` is in the `{}` pool; you work the `{pool}` pool",
                task.run.agent
            )));
        }
        match shared
            .setup
            .kernel
            .take(&task.id, &me, silo_keys::now_unix())
        {
            Ok(_) => {
                (shared.setup.on_change)();
                Ok(Ok(()))
            }
            // Someone else was quicker: the transition map refuses a second take.
            Err(e) => Ok(Err(format!("could not take task `{id}`: {e}"))),
        }
    })
    .await?;
    if let Err(why) = taken {
        shared.set_flash(&session, false, why);
        return Ok(Redirect::to("/inbox").into_response());
    }
    Ok(Redirect::to(&target).into_response())
}
