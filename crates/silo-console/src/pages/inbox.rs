//! `/inbox`: the tasks waiting in the operator's pool (why each came, how long it has
//! waited, a take button) and the tasks the operator has taken. `/inbox/rows` is the
//! waiting list alone, which `console.js` polls.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Extension;
use maud::{html, Markup};
use silo_router::{State as TaskState, Store, TaskFilter, TaskId, TaskView};

use crate::accounts::Session;
use crate::pages::{age, blocking, csrf, layout, profile, signed_in, PageError, PageResult};
use crate::Shared;

/// When a task's last event happened (it has waited since then), Unix seconds.
pub fn waiting_since(shared: &Shared, id: &TaskId) -> Result<u64, PageError> {
    let events = shared.setup.kernel.store().events(Some(id))?;
    Ok(events.last().map(|e| e.at).unwrap_or(0))
}

fn waiting(shared: &Shared, pool: &str) -> Result<Vec<(TaskView, u64)>, PageError> {
    let tasks = shared.setup.kernel.store().waiting_for(pool)?;
    tasks
        .into_iter()
        .map(|t| {
            let since = waiting_since(shared, &t.id)?;
            Ok((t, since))
        })
        .collect()
}

fn rows(tasks: &[(TaskView, u64)], session: &Session, now: u64) -> Markup {
    html! {
        @for (t, since) in tasks {
            tr data-task=(t.id.as_str()) {
                td { a href={ "/tasks/" (t.id.as_str()) } { code { (t.id.as_str()) } } }
                td { (t.spec.customer) }
                td { (t.spec.case) }
                td.why { (t.waiting_because.as_deref().or(t.run.summary.as_deref()).unwrap_or("")) }
                td.age { (age(*since, now)) }
                td {
                    form.inline data-action="take" method="post" action={ "/tasks/" (t.id.as_str()) "/take" } {
                        (csrf(session))
                        button type="submit" { "Take" }
                    }
                }
            }
        }
        @if tasks.is_empty() {
            tr.empty { td colspan="6" .muted { "Nothing is waiting." } }
        }
    }
}

/// `GET /inbox`.
pub async fn page(State(shared): State<Shared>, session: Option<Extension<Session>>) -> PageResult {
    let session = signed_in(session)?;
    let pool = profile(&shared, &session)?.pool.clone();
    let me = session.operator.clone();
    let (tasks, mine) = blocking(&shared, move |shared| {
        let tasks = waiting(shared, &pool)?;
        let mine: Vec<TaskView> = shared
            .setup
            .kernel
            .store()
            .list(&TaskFilter {
                state: Some(TaskState::WithHuman),
                agent: Some(pool),
                limit: TaskFilter::MAX_LIMIT,
                ..TaskFilter::default()
            })?
            .into_iter()
            .filter(|t| t.operator.as_deref() == Some(me.as_str()))
            .collect();
        Ok((tasks, mine))
    })
    .await?;
    let now = silo_keys::now_unix();
    let p = profile(&shared, &session)?;
    let content = html! {
        h1 { "Inbox · " (p.pool) }
        section.card {
            h2 { "Waiting for a person" }
            table data-testid="inbox" {
                thead { tr { th { "Task" } th { "Customer" } th { "Case" } th { "Why it came" } th { "Waiting" } th {} } }
                tbody { (rows(&tasks, &session, now)) }
            }
        }
        section.card {
            h2 { "Taken by you" }
            table data-testid="mine" {
                thead { tr { th { "Task" } th { "Customer" } th { "Case" } th { "Why it came" } } }
                tbody {
                    @for t in &mine {
                        tr data-task=(t.id.as_str()) {
                            td { a href={ "/tasks/" (t.id.as_str()) } { code { (t.id.as_str()) } } }
                            td { (t.spec.customer) }
                            td { (t.spec.case) }
                            td.why { (t.waiting_because.as_deref().unwrap_or("")) }
                        }
                    }
                    @if mine.is_empty() {
                        tr.empty { td colspan="4" .muted { "You have no task." } }
                    }
                }
            }
        }
    };
    let flash = shared.take_flash(&session);
    Ok(layout("Inbox", &session, p, flash, content).into_response())
}

/// `GET /inbox/rows`: the waiting rows alone (for the refresh script).
pub async fn rows_only(
    State(shared): State<Shared>,
    session: Option<Extension<Session>>,
) -> PageResult {
    // The refresh script must not get the login page in place of rows.
    let session = signed_in(session).map_err(|_| PageError::Forbidden("not signed in".into()))?;
    let pool = profile(&shared, &session)?.pool.clone();
    let tasks = blocking(&shared, move |shared| waiting(shared, &pool)).await?;
    Ok(rows(&tasks, &session, silo_keys::now_unix()).into_response())
}
