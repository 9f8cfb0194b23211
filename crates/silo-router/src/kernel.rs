//! The kernel: takes submissions, and in [`Kernel::step`] claims one job from the store's
//! queue and carries it out — dispatch the run's agent (or send the task to a human pool
//! when the agent is offline or is one), or decide what follows a result. Human operators
//! work through [`Kernel::inbox`], [`Kernel::take`] and [`Kernel::human_result`]. Time is
//! an argument, ids derive from the task, and sampling from its sequence number, so a run
//! is reproducible.

use crate::decide::{decide, to_human};
use crate::dispatch::{DispatchError, Dispatcher};
use crate::events::{AgentResult, Event, Signal};
use crate::recorder::{AuditRecorder, RecordError};
use crate::routing::{RoutingError, RoutingTable};
use crate::shadow::ShadowSampling;
use crate::state::State;
use crate::store::{Job, Store, StoreError, StoredEvent};
use crate::task::{ShadowState, TaskId, TaskSpec, TaskView};
use crate::transition::JobKind;
use crate::workflow::DEFAULT_MAX_REDIRECTS;

/// A turn's job is held this much longer than the turn may run.
const TURN_LEASE_SLACK_SECS: u64 = 60;

/// Claims of one dispatch before the turn counts as failed.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Kernel settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelConfig {
    /// Redirects and escalations a single-agent run may take before the next one counts
    /// as 400 (workflow stages set their own).
    pub max_redirects: u32,
    /// How long a claimed job is held before another step may claim it again.
    pub lease_secs: u64,
    /// Shadow review sampling, if any.
    pub shadow: Option<ShadowSampling>,
    /// The longest one agent turn may run, in milliseconds, unless its workflow stage
    /// sets its own (`timeout:`); `None`: the agent's own limit alone.
    pub stage_timeout_ms: Option<u64>,
    /// Claims of one dispatch (its cell host died, or dispatching failed for now) after
    /// which the turn counts as the agent's 500 instead of being dispatched again; 0: no
    /// limit.
    pub max_attempts: u32,
}

impl Default for KernelConfig {
    fn default() -> Self {
        Self {
            max_redirects: DEFAULT_MAX_REDIRECTS,
            lease_secs: 300,
            shadow: None,
            stage_timeout_ms: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// What a step did with its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Events were applied; the task is now in this state.
    Applied(State),
    /// The dispatcher asked for a retry; the job keeps its lease until it expires.
    Retrying(String),
    /// The job no longer matched its task (finished, paused, or replaced); dropped.
    Stale,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// The job claimed.
    pub job: Job,
    /// The events applied, in order.
    pub events: Vec<Event>,
    /// What came of it.
    pub outcome: StepOutcome,
}

/// A kernel call that failed.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The store failed or refused (an illegal transition is [`StoreError::Transition`]).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The entry or a route is unknown.
    #[error(transparent)]
    Routing(#[from] RoutingError),
    /// The task does not exist.
    #[error("task `{0}` does not exist")]
    UnknownTask(TaskId),
    /// The change is in the store but not yet in the audit log (a later change copies it).
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The task ended but its run's scratch state was not collected.
    #[error("collecting the finished task's scratch state failed: {0}")]
    Finish(String),
    /// The signal reached the task but not its cell.
    #[error("signalling the task's cell failed: {0}")]
    Signal(String),
    /// The operator does not have the task.
    #[error("operator `{operator}` does not have task `{task}`; take it from the inbox first")]
    NotTakenBy {
        /// The task.
        task: TaskId,
        /// The operator.
        operator: String,
    },
}

/// The router kernel over a store and a dispatcher.
#[derive(Debug)]
pub struct Kernel<S: Store, D: Dispatcher> {
    store: S,
    dispatcher: D,
    routing: RoutingTable,
    config: KernelConfig,
    recorder: Option<AuditRecorder>,
}

impl<S: Store, D: Dispatcher> Kernel<S, D> {
    /// A kernel; which agents are offline is kept in the store.
    pub fn new(store: S, dispatcher: D, routing: RoutingTable, config: KernelConfig) -> Self {
        Self {
            store,
            dispatcher,
            routing,
            config,
            recorder: None,
        }
    }

    /// Copies every router event into the audit log after each change (see
    /// [`AuditRecorder`]).
    pub fn with_recorder(mut self, recorder: AuditRecorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Makes the jobs whose claiming process on this machine is gone due now (a restart
    /// after a crash resumes their turns at once); returns how many.
    pub fn release_abandoned(&self) -> Result<usize, KernelError> {
        Ok(self
            .store
            .release_abandoned(&crate::store::holder::is_abandoned)?)
    }

    /// Copies events not yet in the audit log there now (a no-op without a recorder).
    pub fn record(&self) -> Result<usize, KernelError> {
        match &self.recorder {
            Some(r) => Ok(r.sync(&self.store)?),
            None => Ok(0),
        }
    }

    /// A task that just ended: the dispatcher collects its run's scratch state.
    fn finished(&self, task: &TaskId) -> Result<(), KernelError> {
        if let Some(view) = self.store.get(task)? {
            if view.state.is_terminal() {
                self.dispatcher
                    .finished(&view)
                    .map_err(|e| KernelError::Finish(e.to_string()))?;
            }
        }
        Ok(())
    }

    fn recorded<T>(&self, value: T) -> Result<T, KernelError> {
        self.record()?;
        Ok(value)
    }

    /// Applies an event someone outside the queue asked for (a signal, an operator's
    /// take or answer); a transition the map refuses is written to the audit log too.
    fn apply_requested(
        &self,
        task: &TaskId,
        event: &Event,
        now: u64,
    ) -> Result<TaskView, KernelError> {
        match self.store.apply(task, event, now, None) {
            Err(StoreError::Transition(refused)) => {
                if let Some(r) = &self.recorder {
                    r.refused(&refused)?;
                }
                Err(StoreError::Transition(refused).into())
            }
            other => Ok(other?),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The dispatcher.
    pub fn dispatcher(&self) -> &D {
        &self.dispatcher
    }

    /// The routing table.
    pub fn routing(&self) -> &RoutingTable {
        &self.routing
    }

    /// Marks `agent` (an agent of the routing table, not a human pool) online or offline
    /// in the store; tasks for an offline agent go to its human pool when they are
    /// dispatched, by this kernel or any other on the same store.
    pub fn set_online(&self, agent: &str, online: bool, now: u64) -> Result<(), KernelError> {
        if self.routing.agent(agent).is_none() || self.routing.is_human(agent) {
            return Err(RoutingError::UnknownAgent(agent.to_owned()).into());
        }
        Ok(self.store.set_online(agent, online, now)?)
    }

    /// Whether `agent` is online, as the store says now.
    pub fn is_online(&self, agent: &str) -> Result<bool, KernelError> {
        Ok(!self.store.offline_agents()?.contains(agent))
    }

    /// Records a task and queues its dispatch.
    pub fn submit(&self, spec: TaskSpec, now: u64) -> Result<TaskId, KernelError> {
        let entry = self.routing.resolve(&spec.entry)?;
        let run = self.routing.start(&entry)?;
        let sampling = self.config.shadow;
        let view = self.store.create(now, &mut |seq| Event::TaskCreated {
            spec: spec.clone(),
            run: run.clone(),
            shadow: sampling.is_some_and(|s| s.picks(seq)),
        })?;
        silo_fault::crash_point("after_task_created");
        self.recorded(view.id)
    }

    /// The task.
    pub fn task(&self, task: &TaskId) -> Result<TaskView, KernelError> {
        self.store
            .get(task)?
            .ok_or_else(|| KernelError::UnknownTask(task.clone()))
    }

    /// The task's events, in order.
    pub fn events(&self, task: &TaskId) -> Result<Vec<StoredEvent>, KernelError> {
        Ok(self.store.events(Some(task))?)
    }

    /// Claims one due job and carries it out; `None` when no job is due.
    pub fn step(&self, now: u64) -> Result<Option<StepReport>, KernelError> {
        let Some(job) = self.store.claim_next(now, self.config.lease_secs)? else {
            return Ok(None);
        };
        let view = self.store.get(&job.task)?;
        let report = match (job.kind, view) {
            (JobKind::Dispatch, Some(view))
                if matches!(view.state, State::Queued | State::Dispatched) =>
            {
                self.dispatch(job, view, now)?
            }
            (JobKind::Decide, Some(view)) if view.state == State::Deciding => {
                match decide(&self.routing, self.config.max_redirects, &view) {
                    Some(event) => {
                        let view = self.store.apply(&job.task, &event, now, Some(&job))?;
                        if matches!(event, Event::Escalated { .. }) {
                            silo_fault::crash_point("during_escalation");
                        }
                        StepReport {
                            job,
                            events: vec![event],
                            outcome: StepOutcome::Applied(view.state),
                        }
                    }
                    None => self.drop_stale(job)?,
                }
            }
            _ => self.drop_stale(job)?,
        };
        if let StepOutcome::Applied(state) = report.outcome {
            if state.is_terminal() {
                self.finished(&report.job.task)?;
            }
        }
        self.recorded(Some(report))
    }

    /// Steps until no job is due at `now`.
    pub fn run_until_idle(&self, now: u64) -> Result<Vec<StepReport>, KernelError> {
        let mut reports = Vec::new();
        while let Some(report) = self.step(now)? {
            reports.push(report);
        }
        Ok(reports)
    }

    fn drop_stale(&self, job: Job) -> Result<StepReport, KernelError> {
        self.store.complete(&job)?;
        Ok(StepReport {
            job,
            events: Vec::new(),
            outcome: StepOutcome::Stale,
        })
    }

    fn dispatch(&self, job: Job, view: TaskView, now: u64) -> Result<StepReport, KernelError> {
        let agent = view.run.agent.clone();
        let mut events = Vec::new();
        // A turn whose cell host keeps dying (or that keeps failing to start) is not
        // retried for ever: it counts as the agent's 500 and `on_error` decides.
        let limit = self.config.max_attempts;
        if limit > 0 && job.attempt > limit && view.state == State::Dispatched {
            if let Some(old) = &view.dispatch {
                if let Err(e) = self.dispatcher.revoke(&old.task_key_jti) {
                    return Ok(StepReport {
                        job,
                        events,
                        outcome: StepOutcome::Retrying(e.to_string()),
                    });
                }
                events.push(Event::KeyRevoked {
                    jti: old.task_key_jti.clone(),
                });
            }
            events.push(Event::AgentResult {
                agent,
                result: AgentResult::Failed {
                    summary: format!("the turn was abandoned {limit} times; not dispatched again"),
                },
                shadow: false,
            });
            let view = self.store.apply_all(&job.task, &events, now, Some(&job))?;
            return Ok(StepReport {
                job,
                events,
                outcome: StepOutcome::Applied(view.state),
            });
        }
        // A dispatch that died with its router: its key must not outlive it, nor its cell
        // (on this host it died with the router; elsewhere it may still be running).
        if view.state == State::Dispatched {
            if let Some(old) = &view.dispatch {
                let _ = self.dispatcher.signal(&old.cell, Signal::Kill);
                if let Err(e) = self.dispatcher.revoke(&old.task_key_jti) {
                    return Ok(StepReport {
                        job,
                        events,
                        outcome: StepOutcome::Retrying(e.to_string()),
                    });
                }
                events.push(Event::KeyRevoked {
                    jti: old.task_key_jti.clone(),
                });
            }
        }
        let unavailable = if self.routing.is_human(&agent) {
            Some(format!("`{agent}` is a human pool"))
        } else if !self.is_online(&agent)? {
            Some(format!("agent `{agent}` is offline"))
        } else {
            None
        };
        if let Some(reason) = unavailable {
            events.push(to_human(&self.routing, &view.run, None, reason));
            let view = self.store.apply_all(&job.task, &events, now, Some(&job))?;
            return Ok(StepReport {
                job,
                events,
                outcome: StepOutcome::Applied(view.state),
            });
        }
        let ids = match self.dispatcher.turn_ids(&view, view.dispatches + 1) {
            Ok(ids) => ids,
            Err(e) => {
                return Ok(StepReport {
                    job,
                    events: Vec::new(),
                    outcome: StepOutcome::Retrying(e.to_string()),
                })
            }
        };
        let jti = ids.task_key_jti;
        events.push(Event::Dispatched {
            agent: agent.clone(),
            cell: ids.cell,
            task_key_jti: jti.clone(),
            timeout_ms: self.turn_timeout(&view),
        });
        let view = self.store.apply_all(&job.task, &events, now, Some(&job))?;
        // Hold the job for the whole turn (its time limit and some slack), so no other
        // worker dispatches it again while this cell runs.
        let limit_ms = [
            self.turn_timeout(&view),
            self.dispatcher.turn_limit_ms(&agent),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(ms) = limit_ms {
            let until =
                now + (ms.div_ceil(1000) + TURN_LEASE_SLACK_SECS).max(self.config.lease_secs);
            if until > job.lease_until && !self.store.extend(&job, until)? {
                return Ok(StepReport {
                    job,
                    events,
                    outcome: StepOutcome::Stale,
                });
            }
        }
        // The key is minted and the cell about to start: on record before it acts.
        self.record()?;
        // `Err` holds a result to record, `Ok` an event that ends the task.
        let result = match self.dispatcher.dispatch(&view, &agent) {
            Ok(result) => Err(result),
            Err(DispatchError::Transient { reason, .. }) => {
                return Ok(StepReport {
                    job,
                    events,
                    outcome: StepOutcome::Retrying(reason),
                })
            }
            Err(e @ DispatchError::Failed { .. }) => Err(AgentResult::Failed {
                summary: e.to_string(),
            }),
            Err(DispatchError::TimedOut { .. }) => Ok(Event::TimedOut),
        };
        let ended = match result {
            Ok(ended) => ended,
            Err(result) => Event::AgentResult {
                agent,
                result,
                shadow: view.shadow == ShadowState::Pending,
            },
        };
        let finished = [ended, Event::KeyRevoked { jti }];
        // The task may have moved on while the agent ran (stopped, killed, timed out):
        // its job is gone and the result is recorded nowhere.
        let outcome = match self.store.apply_all(&job.task, &finished, now, Some(&job)) {
            Ok(view) => {
                events.extend(finished);
                StepOutcome::Applied(view.state)
            }
            Err(StoreError::LeaseLost { .. }) => StepOutcome::Stale,
            Err(e) => return Err(e.into()),
        };
        Ok(StepReport {
            job,
            events,
            outcome,
        })
    }

    /// Tasks waiting in the human pool `pool`'s inbox, oldest first.
    pub fn inbox(&self, pool: &str) -> Result<Vec<TaskView>, KernelError> {
        Ok(self.store.waiting_for(pool)?)
    }

    /// `operator` takes `task` from its pool's inbox.
    pub fn take(&self, task: &TaskId, operator: &str, now: u64) -> Result<TaskView, KernelError> {
        let event = Event::HumanAssigned {
            operator: operator.to_owned(),
        };
        let view = self.apply_requested(task, &event, now)?;
        self.recorded(view)
    }

    /// `operator`, who has `task`, ends their turn with `result`; it acts like an agent's.
    /// For a shadow-sampled task the event says whether the agent's recorded result
    /// differed.
    pub fn human_result(
        &self,
        task: &TaskId,
        operator: &str,
        result: AgentResult,
        now: u64,
    ) -> Result<TaskView, KernelError> {
        let view = self.task(task)?;
        if view.state == State::WithHuman && view.operator.as_deref() != Some(operator) {
            return Err(KernelError::NotTakenBy {
                task: task.clone(),
                operator: operator.to_owned(),
            });
        }
        let diverged = match &view.shadow {
            ShadowState::Recorded { result: agent } => Some(!agent.same_decision(&result)),
            _ => None,
        };
        let event = Event::HumanResult {
            operator: operator.to_owned(),
            result,
            diverged,
        };
        let view = self.apply_requested(task, &event, now)?;
        self.recorded(view)
    }

    /// The time limit of `view`'s next turn: its workflow stage's, else the router's.
    fn turn_timeout(&self, view: &TaskView) -> Option<u64> {
        view.run
            .workflow
            .as_deref()
            .and_then(|w| self.routing.workflow(w))
            .and_then(|w| w.timeout_ms(&view.run))
            .or(self.config.stage_timeout_ms)
    }

    /// Sends `signal` to `task` (the transition map must allow it), then to its live cell,
    /// if it has one: `stop` freezes the cell at once and revokes its key (the turn is
    /// void: even a cell that was still starting cannot act) and parks the task; `cont`
    /// kills the frozen cell and queues a fresh turn with a fresh key (a turn is stateless
    /// and its side effects idempotent, so it starts again); `kill` kills the cell — frozen
    /// or running — revokes its key and aborts the task. The cell is reached before the
    /// audit log and the run's scratch state are brought up to date, so a failure there
    /// cannot leave it running. Returns the task and whether a cell was hit.
    pub fn signal(
        &self,
        task: &TaskId,
        signal: Signal,
        now: u64,
    ) -> Result<(TaskView, bool), KernelError> {
        let before = self.task(task)?;
        let after = self.apply_requested(task, &Event::Signal { signal }, now)?;
        let live = match (&before.dispatch, before.state, signal) {
            (Some(d), State::Dispatched, Signal::Stop | Signal::Kill) => Some((d, signal)),
            (Some(d), State::Paused, Signal::Cont | Signal::Kill) => Some((d, Signal::Kill)),
            _ => None,
        };
        let mut hit = false;
        if let Some((dispatch, to_cell)) = live {
            let reached = self.dispatcher.signal(&dispatch.cell, to_cell);
            // The key goes whether or not the cell was reached.
            let revoked = self.dispatcher.revoke(&dispatch.task_key_jti);
            hit = reached.map_err(|e| KernelError::Signal(e.to_string()))?;
            revoked.map_err(|e| KernelError::Signal(e.to_string()))?;
        }
        self.record()?;
        self.finished(task)?;
        Ok((after, hit))
    }

    /// Ends `task` as timed out.
    pub fn time_out(&self, task: &TaskId, now: u64) -> Result<TaskView, KernelError> {
        let view = self.store.apply(task, &Event::TimedOut, now, None)?;
        self.finished(task)?;
        self.recorded(view)
    }
}
