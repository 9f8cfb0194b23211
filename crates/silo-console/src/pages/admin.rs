//! `/admin` (operators with `admin: true`): the agents with their version and an
//! online/offline switch (an offline agent's new tasks go to its human pool), the live
//! cells (running or paused tasks) with pause / resume / kill (router signals: stop
//! freezes the cell and revokes its key, cont starts a fresh turn, kill ends the task),
//! and shadow-review divergences (tasks where the human decided otherwise than the
//! agent's recorded result).

use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Redirect};
use axum::Extension;
use maud::html;
use silo_router::{Event, ShadowState, Signal, State as TaskState, Store, TaskFilter, TaskView};

use crate::accounts::Session;
use crate::pages::task::{describe, safe_id};
use crate::pages::{admin, age, blocking, csrf, layout, signed_in, PageError, PageResult};
use crate::Shared;

/// Recent tasks looked at for divergences.
const DIVERGENCE_WINDOW: usize = 1000;

struct AgentRow {
    name: String,
    version: String,
    online: bool,
}

struct Divergence {
    task: TaskView,
    agent: String,
    human: String,
}

/// `GET /admin`.
pub async fn page(State(shared): State<Shared>, session: Option<Extension<Session>>) -> PageResult {
    let session = signed_in(session)?;
    admin(&shared, &session)?;
    let (agents, cells, divergences) = blocking(&shared, |shared| {
        let kernel = &shared.setup.kernel;
        let offline = kernel.store().offline_agents()?;
        let agents: Vec<AgentRow> = kernel
            .routing()
            .known()
            .agents
            .iter()
            .map(|name| AgentRow {
                version: silo_invoke::Manifest::load(&shared.setup.agents_dir.join(name))
                    .map(|m| m.version)
                    .unwrap_or_else(|_| "?".into()),
                online: !offline.contains(name),
                name: name.clone(),
            })
            .collect();
        let mut cells = Vec::new();
        for state in [TaskState::Dispatched, TaskState::Paused] {
            let tasks = kernel.store().list(&TaskFilter {
                state: Some(state),
                limit: TaskFilter::MAX_LIMIT,
                ..TaskFilter::default()
            })?;
            for t in tasks {
                let since = kernel
                    .store()
                    .events(Some(&t.id))?
                    .iter()
                    .rev()
                    .find(|e| matches!(e.event, Event::Dispatched { .. }))
                    .map(|e| e.at)
                    .unwrap_or(0);
                cells.push((t, since));
            }
        }
        let mut divergences = Vec::new();
        let recent = kernel.store().list(&TaskFilter {
            limit: DIVERGENCE_WINDOW.min(TaskFilter::MAX_LIMIT),
            ..TaskFilter::default()
        })?;
        for t in recent {
            if t.shadow != (ShadowState::Reviewed { diverged: true }) {
                continue;
            }
            let events = kernel.store().events(Some(&t.id))?;
            let said = |want_shadow: bool| {
                events.iter().rev().find_map(|e| match &e.event {
                    Event::AgentResult { shadow: true, .. } if want_shadow => {
                        Some(describe(&e.event).1)
                    }
                    Event::HumanResult { .. } if !want_shadow => Some(describe(&e.event).1),
                    _ => None,
                })
            };
            divergences.push(Divergence {
                agent: said(true).unwrap_or_default(),
                human: said(false).unwrap_or_default(),
                task: t,
            });
        }
        Ok((agents, cells, divergences))
    })
    .await?;
    let now = silo_keys::now_unix();
    let content = html! {
        h1 { "Admin" }
        section.card {
            h2 { "Agents" }
            table data-testid="agents" {
                thead { tr { th { "Agent" } th { "Version" } th { "Status" } th {} } }
                tbody {
                    @for a in &agents {
                        tr data-agent=(a.name) {
                            td { (a.name) }
                            td.version { (a.version) }
                            td.online { @if a.online { "online" } @else { "offline" } }
                            td {
                                @let to = if a.online { "offline" } else { "online" };
                                form.inline data-action=(to) method="post" action={ "/admin/agents/" (a.name) "/" (to) } {
                                    (csrf(&session))
                                    button.quiet type="submit" { "Set " (to) }
                                }
                            }
                        }
                    }
                }
            }
            p.muted { "An offline agent's new tasks wait in its human pool's inbox." }
        }
        section.card {
            h2 { "Live cells" }
            table data-testid="cells" {
                thead { tr { th { "Task" } th { "State" } th { "Agent" } th { "Cell" } th { "Since" } th {} } }
                tbody {
                    @for (t, since) in &cells {
                        tr data-task=(t.id.as_str()) {
                            td { a href={ "/tasks/" (t.id.as_str()) } { code { (t.id.as_str()) } } }
                            td.state { (t.state.as_str()) }
                            td { (t.run.agent) }
                            td.cell { @if let Some(d) = &t.dispatch { code { (d.cell) } } }
                            td { (age(*since, now)) }
                            td {
                                @for (signal, label, class) in [("stop", "Pause", "quiet"), ("cont", "Resume", "quiet"), ("kill", "Kill", "danger")] {
                                    @let shown = match signal { "stop" => t.state == TaskState::Dispatched, "cont" => t.state == TaskState::Paused, _ => true };
                                    @if shown {
                                        form.inline data-action=(signal) method="post" action={ "/admin/tasks/" (t.id.as_str()) "/signal/" (signal) } {
                                            (csrf(&session))
                                            button class=(class) type="submit" { (label) }
                                        }
                                        " "
                                    }
                                }
                            }
                        }
                    }
                    @if cells.is_empty() { tr { td colspan="6" .muted { "No cell is running." } } }
                }
            }
        }
        section.card data-testid="divergences" {
            h2 { "Shadow review: where the person decided otherwise" }
            table {
                thead { tr { th { "Task" } th { "The agent would have" } th { "The person did" } } }
                tbody {
                    @for d in &divergences {
                        tr data-task=(d.task.id.as_str()) {
                            td { a href={ "/tasks/" (d.task.id.as_str()) } { code { (d.task.id.as_str()) } } }
                            td { (d.agent) }
                            td { (d.human) }
                        }
                    }
                    @if divergences.is_empty() { tr { td colspan="3" .muted { "No divergence among the last " (DIVERGENCE_WINDOW) " tasks." } } }
                }
            }
        }
    };
    let p = admin(&shared, &session)?;
    let flash = shared.take_flash(&session);
    Ok(layout("Admin", &session, p, flash, content).into_response())
}

/// `POST /admin/agents/{name}/{online|offline}`.
pub async fn set_online(
    State(shared): State<Shared>,
    session: Option<Extension<Session>>,
    UrlPath((name, state)): UrlPath<(String, String)>,
) -> PageResult {
    let session = signed_in(session)?;
    admin(&shared, &session)?;
    let online = match state.as_str() {
        "online" => true,
        "offline" => false,
        _ => return Err(PageError::NotFound("use /online or /offline".into())),
    };
    let text = blocking(&shared, move |shared| {
        shared
            .setup
            .kernel
            .set_online(&name, online, silo_keys::now_unix())?;
        (shared.setup.on_change)();
        Ok(format!("{name} is {state}."))
    })
    .await?;
    shared.set_flash(&session, true, text);
    Ok(Redirect::to("/admin").into_response())
}

/// `POST /admin/tasks/{id}/signal/{stop|cont|kill}`.
pub async fn signal(
    State(shared): State<Shared>,
    session: Option<Extension<Session>>,
    UrlPath((id, signal)): UrlPath<(String, String)>,
) -> PageResult {
    let session = signed_in(session)?;
    admin(&shared, &session)?;
    safe_id(&id)?;
    let sig = match signal.as_str() {
        "stop" => Signal::Stop,
        "cont" => Signal::Cont,
        "kill" => Signal::Kill,
        _ => {
            return Err(PageError::NotFound(
                "the signals are stop, cont and kill".into(),
            ))
        }
    };
    let outcome = blocking(&shared, move |shared| {
        let done = shared.setup.kernel.signal(
            &silo_router::TaskId(id.clone()),
            sig,
            silo_keys::now_unix(),
        );
        (shared.setup.on_change)();
        Ok(match done {
            Ok((task, cell)) => (
                true,
                format!(
                    "{signal} sent to task {id}: now {}{}.",
                    task.state.as_str(),
                    if cell { ", its cell was signalled" } else { "" }
                ),
            ),
            Err(e) => (false, format!("{signal} refused for task {id}: {e}")),
        })
    })
    .await?;
    shared.set_flash(&session, outcome.0, outcome.1);
    Ok(Redirect::to("/admin").into_response())
}
