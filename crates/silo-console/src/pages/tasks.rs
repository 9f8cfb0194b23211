//! `/tasks?state=&agent=&customer=`: every task, newest first, filtered (what
//! `silo task list` shows). Summaries are the agents' own words, which only ever held
//! tokens.

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::Extension;
use maud::html;
use serde::Deserialize;
use silo_router::{State as TaskState, Store, TaskFilter};

use crate::accounts::Session;
use crate::pages::{blocking, layout, profile, signed_in, PageError, PageResult};
use crate::Shared;

/// The filters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    #[serde(default)]
    state: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    customer: String,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// `GET /tasks`.
pub async fn list(
    State(shared): State<Shared>,
    session: Option<Extension<Session>>,
    Query(f): Query<Filters>,
) -> PageResult {
    let session = signed_in(session)?;
    let state = match some(&f.state) {
        None => None,
        Some(name) => Some(TaskState::from_name(&name).ok_or_else(|| {
            let names: Vec<&str> = TaskState::ALL.iter().map(|s| s.as_str()).collect();
            PageError::Bad(format!("state `{name}` is not one of {}", names.join(", ")))
        })?),
    };
    let filter = TaskFilter {
        state,
        agent: some(&f.agent),
        customer: some(&f.customer),
        limit: 200,
        ..TaskFilter::default()
    };
    let tasks = blocking(&shared, move |shared| {
        Ok(shared.setup.kernel.store().list(&filter)?)
    })
    .await?;
    let content = html! {
        h1 { "Tasks" }
        section.card {
            form.tool method="get" action="/tasks" {
                label { "State" select name="state" {
                    option value="" { "any" }
                    @for s in TaskState::ALL { option value=(s.as_str()) selected[state == Some(s)] { (s.as_str()) } }
                } }
                label { "Agent or pool" input name="agent" value=(f.agent); }
                label { "Customer" input name="customer" value=(f.customer); }
                button type="submit" { "Filter" }
            }
            table data-testid="tasks" {
                thead { tr { th { "Task" } th { "State" } th { "With" } th { "Customer" } th { "Case" } th { "Turns" } th { "Last" } } }
                tbody {
                    @for t in &tasks {
                        tr data-task=(t.id.as_str()) {
                            td { a href={ "/tasks/" (t.id.as_str()) } { code { (t.id.as_str()) } } }
                            td.state { (t.state.as_str()) }
                            td { (t.run.agent) }
                            td { (t.spec.customer) }
                            td { (t.spec.case) }
                            td { (t.dispatches) }
                            td { (t.outcome.as_deref().or(t.run.summary.as_deref()).unwrap_or("")) }
                        }
                    }
                    @if tasks.is_empty() { tr { td colspan="7" .muted { "No task matches." } } }
                }
            }
        }
    };
    let p = profile(&shared, &session)?;
    let flash = shared.take_flash(&session);
    Ok(layout("Tasks", &session, p, flash, content).into_response())
}
