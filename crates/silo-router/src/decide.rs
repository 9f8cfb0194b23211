//! The router's decision after a result, as one event: the workflow's (or, for a single
//! agent, the built-in) next step, with escalation chains checked, loop protection
//! applied and human pools resolved. Pure: the same task and table give the same event.

use crate::events::{AgentResult, Event};
use crate::routing::RoutingTable;
use crate::task::{Return, RunState, ShadowState, TaskView};
use crate::workflow::Decision;

/// The decision event for the task's pending result (`None` when nothing is pending).
/// `max_redirects` is the limit for runs outside a workflow.
pub fn decide(routing: &RoutingTable, max_redirects: u32, view: &TaskView) -> Option<Event> {
    let pending = view.pending.as_ref()?;
    let run = &view.run;
    if !pending.human && matches!(view.shadow, ShadowState::Recorded { .. }) {
        return Some(to_human(
            routing,
            run,
            None,
            "shadow review: the agent's result is recorded, a human's acts".into(),
        ));
    }
    let workflow = run
        .workflow
        .as_deref()
        .map(|name| (name, routing.workflow(name)));
    let (decision, limit) = match workflow {
        Some((_, Some(w))) => (w.next(run, &pending.result), w.max_redirects(run)),
        Some((name, None)) => (
            Decision::Fail {
                reason: format!("workflow `{name}` is no longer in the routing table"),
            },
            max_redirects,
        ),
        None => (
            single_next(run, &pending.result, max_redirects),
            max_redirects,
        ),
    };
    Some(resolve(routing, run, decision, limit))
}

/// What follows a result in a run of one agent: 302 runs the target and comes back,
/// 301 hands over, 400 goes to the agent's human pool, 500 fails.
pub fn single_next(run: &RunState, result: &AgentResult, max_redirects: u32) -> Decision {
    let over = |code: &str, target: &str| Decision::NeedsHuman {
        pool: None,
        reason: format!(
            "{code} to `{target}` would exceed max_redirects {max_redirects} (treated as 400)"
        ),
    };
    match result {
        AgentResult::Done { summary, assets } => {
            let mut next = run.clone();
            next.summary = Some(summary.clone());
            next.assets.extend(assets.iter().cloned());
            match next.returns.pop() {
                Some(back) => {
                    next.agent = back.agent;
                    Decision::Dispatch {
                        agent: next.agent.clone(),
                        reason: format!("302 returns to `{}`", next.agent),
                        run: next,
                    }
                }
                None => Decision::Complete {
                    summary: summary.clone(),
                },
            }
        }
        AgentResult::SoftRedirect { target, summary } => {
            if run.redirects >= max_redirects {
                return over("302", target);
            }
            let mut next = run.clone();
            next.redirects += 1;
            next.summary = Some(summary.clone());
            next.returns.push(Return {
                stage: run.stage,
                agent: run.agent.clone(),
            });
            next.agent = target.clone();
            Decision::Dispatch {
                agent: target.clone(),
                reason: format!("302 from `{}` to `{target}`", run.agent),
                run: next,
            }
        }
        AgentResult::HardRedirect { target, summary } => {
            if run.redirects >= max_redirects {
                return over("301", target);
            }
            let mut next = run.clone();
            next.redirects += 1;
            next.summary = Some(summary.clone());
            next.returns.clear();
            Decision::HandOver {
                target: target.clone(),
                run: next,
            }
        }
        AgentResult::NeedsHuman { summary } => Decision::NeedsHuman {
            pool: None,
            reason: format!("400 needs human: {summary}"),
        },
        AgentResult::Failed { summary } => Decision::Fail {
            reason: format!("500 failed: {summary}"),
        },
        AgentResult::Escalate {
            target,
            reason,
            recommendation,
        } => Decision::Escalate {
            target: target.clone(),
            reason: reason.clone(),
            recommendation: recommendation.clone(),
        },
    }
}

/// The task goes to `pool`, or to the human pool of the run's agent.
pub(crate) fn to_human(
    routing: &RoutingTable,
    run: &RunState,
    pool: Option<String>,
    reason: String,
) -> Event {
    let pool = match pool.map_or_else(|| routing.pool_for(&run.agent), Ok) {
        Ok(pool) => pool,
        Err(e) => {
            return Event::Failed {
                reason: format!("{reason}; no human can take over: {e}"),
            }
        }
    };
    let mut next = run.clone();
    next.agent = pool.clone();
    Event::Escalated {
        from: run.agent.clone(),
        target: pool,
        human: true,
        reason,
        recommendation: String::new(),
        run: next,
    }
}

/// Moves `run` to `next` (whose `agent` is set): dispatch an agent, or a human pool's inbox.
fn route(routing: &RoutingTable, run: &RunState, next: RunState, reason: String) -> Event {
    match routing.agent(&next.agent) {
        None => {
            let reason = format!(
                "{reason}: `{}` is not a known agent (treated as 400)",
                next.agent
            );
            to_human(routing, run, None, reason)
        }
        Some(_) if routing.is_human(&next.agent) => Event::Escalated {
            from: run.agent.clone(),
            target: next.agent.clone(),
            human: true,
            reason,
            recommendation: String::new(),
            run: next,
        },
        Some(_) => Event::Routed {
            agent: next.agent.clone(),
            run: next,
            reason,
        },
    }
}

fn resolve(routing: &RoutingTable, run: &RunState, decision: Decision, limit: u32) -> Event {
    match decision {
        Decision::Dispatch {
            run: next, reason, ..
        } => route(routing, run, next, reason),
        Decision::HandOver {
            target,
            run: carried,
        } => {
            let mut next = match routing.workflow(&target) {
                Some(w) => w.start(),
                None => RunState::agent(&target),
            };
            next.redirects = carried.redirects;
            next.assets = carried.assets;
            next.summary = carried.summary;
            route(routing, run, next, format!("301 hands over to `{target}`"))
        }
        Decision::Escalate {
            target,
            reason,
            recommendation,
        } => match routing.check_escalation(&run.agent, &target) {
            Err(e) => to_human(routing, run, None, format!("escalation refused: {e}")),
            Ok(to) if !to.human && run.redirects >= limit => to_human(
                routing,
                run,
                None,
                format!(
                    "escalation to `{}` would exceed max_redirects {limit} (treated as 400)",
                    to.name
                ),
            ),
            Ok(to) => {
                let mut next = run.clone();
                next.agent = to.name.clone();
                if !to.human {
                    next.redirects += 1;
                }
                // What the next agent (or person) is told: who handed over, why, and what
                // they recommend. Tokenised text, as the agent wrote it.
                next.summary = Some(format!(
                    "escalated by {}: {reason}; recommends: {recommendation}",
                    run.agent
                ));
                Event::Escalated {
                    from: run.agent.clone(),
                    target: to.name,
                    human: to.human,
                    reason,
                    recommendation,
                    run: next,
                }
            }
        },
        Decision::NeedsHuman { pool, reason } => to_human(routing, run, pool, reason),
        Decision::Complete { summary } => Event::Completed { summary },
        Decision::Fail { reason } => Event::Failed { reason },
        Decision::Abort { reason } => Event::Aborted { reason },
    }
}
