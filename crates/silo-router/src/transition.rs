//! The fixed transition map: which event each state accepts, the state it leads to, and
//! the follow-up work it leaves on the queue. Anything the table does not list is refused
//! with [`TransitionError::Illegal`], which the caller audits. [`apply`] is pure: the store
//! persists what it returns in one transaction.

use serde::{Deserialize, Serialize};

use crate::events::{Event, EventKind};
use crate::state::State;
use crate::task::{DispatchRecord, PendingResult, ShadowState, TaskId, TaskView};

/// Work the queue holds for a task (at most one job per task).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Start a cell for the run's agent.
    Dispatch,
    /// Decide what follows a result.
    Decide,
}

impl JobKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Dispatch => "dispatch",
            JobKind::Decide => "decide",
        }
    }

    /// The kind with the stored name `name`.
    pub fn from_name(name: &str) -> Option<JobKind> {
        match name {
            "dispatch" => Some(JobKind::Dispatch),
            "decide" => Some(JobKind::Decide),
            _ => None,
        }
    }
}

/// What a transition does to the task's queued work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Leave it (a dispatch in progress keeps its job until its result is in).
    Keep,
    /// Replace it with this job.
    Enqueue(JobKind),
    /// Drop it (the task waits for a human or is finished).
    Clear,
}

/// The state a rule leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// This state.
    To(State),
    /// The state it was in.
    Same,
}

/// One line of the map.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The states that accept the event.
    pub from: &'static [State],
    /// The event.
    pub on: EventKind,
    /// Where it leads.
    pub to: Next,
    /// Follow-up work.
    pub effect: Effect,
}

use State::{
    Aborted, Completed, Deciding, Dispatched, Failed, Paused, Queued, TimedOut, WaitingForHuman,
    WithHuman,
};

const LIVE: &[State] = &[
    Queued,
    Dispatched,
    Deciding,
    WaitingForHuman,
    WithHuman,
    Paused,
];
const ANY: &[State] = &State::ALL;

const fn rule(from: &'static [State], on: EventKind, to: Next, effect: Effect) -> Rule {
    Rule {
        from,
        on,
        to,
        effect,
    }
}

/// The transition map. `TaskCreated` starts a task (see [`create`]) and no state accepts it.
#[rustfmt::skip]
pub const RULES: &[Rule] = &[
    rule(&[Queued], EventKind::Dispatched, Next::To(Dispatched), Effect::Keep),
    // A dispatch whose lease expired (the router died mid-run) is dispatched again.
    rule(&[Dispatched], EventKind::Dispatched, Next::Same, Effect::Keep),
    rule(&[Dispatched], EventKind::AgentResult, Next::To(Deciding), Effect::Enqueue(JobKind::Decide)),
    rule(&[Deciding], EventKind::Routed, Next::To(Queued), Effect::Enqueue(JobKind::Dispatch)),
    rule(&[Deciding], EventKind::EscalatedToAgent, Next::To(Queued), Effect::Enqueue(JobKind::Dispatch)),
    // Before a dispatch (or its retry): the agent is offline or is itself a human pool.
    rule(&[Queued, Dispatched, Deciding], EventKind::EscalatedToHuman, Next::To(WaitingForHuman), Effect::Clear),
    rule(&[WaitingForHuman], EventKind::HumanAssigned, Next::To(WithHuman), Effect::Keep),
    rule(&[WithHuman], EventKind::HumanResult, Next::To(Deciding), Effect::Enqueue(JobKind::Decide)),
    rule(&[Deciding], EventKind::Completed, Next::To(Completed), Effect::Clear),
    rule(&[Deciding], EventKind::Failed, Next::To(Failed), Effect::Clear),
    rule(&[Deciding], EventKind::Aborted, Next::To(Aborted), Effect::Clear),
    rule(LIVE, EventKind::TimedOut, Next::To(TimedOut), Effect::Clear),
    rule(LIVE, EventKind::SignalKill, Next::To(Aborted), Effect::Clear),
    rule(&[Queued, Dispatched], EventKind::SignalStop, Next::To(Paused), Effect::Clear),
    rule(&[Paused], EventKind::SignalCont, Next::To(Queued), Effect::Enqueue(JobKind::Dispatch)),
    // Revocation is recorded whenever it happens, also after the task finished.
    rule(ANY, EventKind::KeyRevoked, Next::Same, Effect::Keep),
];

/// A transition the map does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The state does not accept the event.
    #[error("task `{task}` is `{state}`, which does not accept `{event:?}`")]
    Illegal {
        /// The task.
        task: TaskId,
        /// Its state.
        state: State,
        /// The refused event.
        event: EventKind,
    },
    /// A task can only start with `TaskCreated`.
    #[error("task `{task}` must start with `TaskCreated`, not `{event:?}`")]
    NotACreation {
        /// The task.
        task: TaskId,
        /// The event given.
        event: EventKind,
    },
}

/// The rule for `event` in `state`, if any.
pub fn lookup(state: State, event: EventKind) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|r| r.on == event && r.from.contains(&state))
}

/// The task `event` (a `TaskCreated`) starts, queued for dispatch.
pub fn create(id: TaskId, event: &Event) -> Result<(TaskView, Effect), TransitionError> {
    let Event::TaskCreated { spec, run, shadow } = event else {
        return Err(TransitionError::NotACreation {
            task: id,
            event: event.kind(),
        });
    };
    let view = TaskView {
        id,
        spec: spec.clone(),
        state: Queued,
        run: run.clone(),
        operator: None,
        dispatch: None,
        dispatches: 0,
        shadow: if *shadow {
            ShadowState::Pending
        } else {
            ShadowState::Off
        },
        pending: None,
        waiting_because: None,
        outcome: None,
        version: 1,
    };
    Ok((view, Effect::Enqueue(JobKind::Dispatch)))
}

/// The task after `event`, and the follow-up work; refused unless the map allows it.
pub fn apply(view: &TaskView, event: &Event) -> Result<(TaskView, Effect), TransitionError> {
    let illegal = || TransitionError::Illegal {
        task: view.id.clone(),
        state: view.state,
        event: event.kind(),
    };
    let rule = lookup(view.state, event.kind()).ok_or_else(illegal)?;
    let mut next = view.clone();
    next.state = match rule.to {
        Next::To(state) => state,
        Next::Same => view.state,
    };
    next.version += 1;
    match event {
        Event::TaskCreated { .. } => return Err(illegal()),
        Event::Dispatched {
            agent,
            cell,
            task_key_jti,
            timeout_ms,
        } => {
            next.dispatch = Some(DispatchRecord {
                agent: agent.clone(),
                cell: cell.clone(),
                task_key_jti: task_key_jti.clone(),
                timeout_ms: *timeout_ms,
            });
            next.dispatches += 1;
        }
        Event::AgentResult {
            agent,
            result,
            shadow,
        } => {
            if *shadow {
                next.shadow = ShadowState::Recorded {
                    result: result.clone(),
                };
            }
            next.pending = Some(PendingResult {
                by: agent.clone(),
                human: false,
                result: result.clone(),
            });
        }
        Event::Routed { run, .. } => {
            next.run = run.clone();
            next.pending = None;
            next.operator = None;
            next.waiting_because = None;
        }
        Event::Escalated {
            run,
            from,
            human,
            reason,
            ..
        } => {
            next.run = run.clone();
            next.pending = None;
            next.operator = None;
            next.waiting_because = human.then(|| format!("from `{from}`: {reason}"));
        }
        Event::HumanAssigned { operator } => next.operator = Some(operator.clone()),
        Event::HumanResult {
            operator,
            result,
            diverged,
        } => {
            if let Some(diverged) = diverged {
                next.shadow = ShadowState::Reviewed {
                    diverged: *diverged,
                };
            }
            next.pending = Some(PendingResult {
                by: operator.clone(),
                human: true,
                result: result.clone(),
            });
        }
        Event::Completed { summary } => next.outcome = Some(summary.clone()),
        Event::Failed { reason } | Event::Aborted { reason } => {
            next.outcome = Some(reason.clone());
        }
        Event::TimedOut => next.outcome = Some("timed out".to_owned()),
        Event::Signal { .. } if next.state == Aborted => {
            next.outcome = Some("killed by a signal".to_owned());
        }
        Event::KeyRevoked { .. } | Event::Signal { .. } => {}
    }
    if next.state.is_terminal() {
        next.pending = None;
        next.waiting_because = None;
    }
    Ok((next, rule.effect))
}
