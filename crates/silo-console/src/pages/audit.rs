//! `/audit?task=&agent=&customer=&decision=`: the audit browser (admins). A task filter
//! takes the task's whole family: its router events and every membrane call of its turns
//! (`<task>.<n>`) and of its operators (`<task>.op-<v>`). The page says whether the
//! hash chain verifies.

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::Extension;
use maud::html;
use serde::Deserialize;
use silo_audit::{AgentName, CustomerToken, Decision, Query as AuditQuery, TaskId};

use crate::accounts::Session;
use crate::pages::{admin, blocking, layout, signed_in, PageError, PageResult};
use crate::Shared;

/// Entries shown at most.
const SHOWN: usize = 500;

/// The filters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    #[serde(default)]
    task: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    decision: String,
}

fn some(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

/// `GET /audit`.
pub async fn page(
    State(shared): State<Shared>,
    session: Option<Extension<Session>>,
    Query(f): Query<Filters>,
) -> PageResult {
    let session = signed_in(session)?;
    admin(&shared, &session)?;
    let bad = |what: &str, e: &dyn std::fmt::Display| PageError::Bad(format!("{what}: {e}"));
    let mut query = AuditQuery::all();
    if let Some(t) = some(&f.task) {
        query.task_family = Some(TaskId::new(t).map_err(|e| bad("task", &e))?);
    }
    if let Some(a) = some(&f.agent) {
        query.agent = Some(AgentName::new(a).map_err(|e| bad("agent", &e))?);
    }
    if let Some(c) = some(&f.customer) {
        query.customer = Some(CustomerToken::new(c).map_err(|e| bad("customer", &e))?);
    }
    if let Some(d) = some(&f.decision) {
        query.decision = Some(
            d.parse::<Decision>()
                .map_err(|e| PageError::Bad(e.to_string()))?,
        );
    }
    query.limit = Some(SHOWN);
    let (entries, verified) = blocking(&shared, move |shared| {
        let entries = shared.audit.query(&query).map_err(PageError::internal)?;
        let verified = shared.audit.verify().map_err(|e| e.to_string());
        Ok((entries, verified))
    })
    .await?;
    let content = html! {
        h1 { "Audit log" }
        section.card {
            p data-testid="verify" {
                @match &verified {
                    Ok(v) => { span.tag.allow { "ok" } " the hash chain verifies: " (v.size) " entries, Merkle root " code { (v.root.to_string()) } }
                    Err(e) => { span.tag.deny { "FAILED" } " " (e) }
                }
            }
            form.tool method="get" action="/audit" {
                label { "Task" input name="task" value=(f.task); }
                label { "Agent or operator" input name="agent" value=(f.agent); }
                label { "Customer" input name="customer" value=(f.customer); }
                label { "Decision" select name="decision" {
                    option value="" { "any" }
                    @for d in ["allow", "deny", "needs_approval", "none"] { option value=(d) selected[f.decision == d] { (d) } }
                } }
                button type="submit" { "Filter" }
            }
            p.muted { "The latest " (SHOWN) " matching entries, oldest first." }
            table data-testid="audit" {
                thead { tr { th { "#" } th { "Time" } th { "Task" } th { "Agent" } th { "Action" } th { "Decision" } th { "Rule" } th { "Detail" } } }
                tbody {
                    @for e in &entries {
                        tr {
                            td.muted { (e.seq) }
                            td.muted { (e.time.to_string()) }
                            td { @if let Some(t) = &e.task { code { (t.to_string()) } } }
                            td { @if let Some(a) = &e.agent { (a.to_string()) } }
                            td.action { (e.action.to_string()) }
                            td.decision { span.tag.allow[e.decision == Decision::Allow].deny[e.decision == Decision::Deny] { (e.decision.as_str()) } }
                            td { @if let Some(r) = &e.rule { code { (r.to_string()) } } }
                            td { code { (serde_json::to_string(&e.detail).unwrap_or_default()) } }
                        }
                    }
                    @if entries.is_empty() { tr { td colspan="8" .muted { "No entry matches." } } }
                }
            }
        }
    };
    let p = admin(&shared, &session)?;
    let flash = shared.take_flash(&session);
    Ok(layout("Audit", &session, p, flash, content).into_response())
}
