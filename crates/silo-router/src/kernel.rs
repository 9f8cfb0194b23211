//! The kernel: takes submissions, and in [`Kernel::step`] claims one job from the store's
//! queue and carries it out — dispatch the run's agent (or send the task to a human pool
//! when the agent is offline or is one), or decide what follows a result. Human operators
//! work through [`Kernel::inbox`], [`Kernel::take`] and [`Kernel::human_result`]. Time is
//! an argument, ids derive from the task, and sampling from its sequence number, so a run
//! is reproducible.

use std::collections::BTreeSet;

use crate::decide::{decide, to_human};
use crate::dispatch::{DispatchError, Dispatcher};
use crate::events::{AgentResult, Event, Signal};
use crate::routing::{RoutingError, RoutingTable};
use crate::shadow::ShadowSampling;
use crate::state::State;
use crate::store::{Job, Store, StoreError, StoredEvent};
use crate::task::{ShadowState, TaskId, TaskSpec, TaskView};
use crate::transition::JobKind;
use crate::workflow::DEFAULT_MAX_REDIRECTS;

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
}

impl Default for KernelConfig {
    fn default() -> Self {
        Self {
            max_redirects: DEFAULT_MAX_REDIRECTS,
            lease_secs: 300,
            shadow: None,
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
    offline: BTreeSet<String>,
}

impl<S: Store, D: Dispatcher> Kernel<S, D> {
    /// A kernel; every agent starts online.
    pub fn new(store: S, dispatcher: D, routing: RoutingTable, config: KernelConfig) -> Self {
        Self {
            store,
            dispatcher,
            routing,
            config,
            offline: BTreeSet::new(),
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

    /// Marks `agent` online or offline; tasks for an offline agent go to its human pool
    /// when they are dispatched.
    pub fn set_online(&mut self, agent: &str, online: bool) {
        if online {
            self.offline.remove(agent);
        } else {
            self.offline.insert(agent.to_owned());
        }
    }

    /// Whether `agent` is online.
    pub fn is_online(&self, agent: &str) -> bool {
        !self.offline.contains(agent)
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
        Ok(view.id)
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
        Ok(Some(report))
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
        // A dispatch that died with its router: its key must not outlive it.
        if view.state == State::Dispatched {
            if let Some(old) = &view.dispatch {
                events.push(Event::KeyRevoked {
                    jti: old.task_key_jti.clone(),
                });
            }
        }
        let unavailable = if self.routing.is_human(&agent) {
            Some(format!("`{agent}` is a human pool"))
        } else if !self.is_online(&agent) {
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
        let n = view.dispatches + 1;
        let jti = format!("{}.key-{n}", view.id);
        events.push(Event::Dispatched {
            agent: agent.clone(),
            cell: format!("{}.cell-{n}", view.id),
            task_key_jti: jti.clone(),
        });
        let view = self.store.apply_all(&job.task, &events, now, Some(&job))?;
        let result = match self.dispatcher.dispatch(&view, &agent) {
            Ok(result) => result,
            Err(DispatchError::Transient { reason, .. }) => {
                return Ok(StepReport {
                    job,
                    events,
                    outcome: StepOutcome::Retrying(reason),
                })
            }
            Err(e @ DispatchError::Failed { .. }) => AgentResult::Failed {
                summary: e.to_string(),
            },
        };
        let finished = [
            Event::AgentResult {
                agent,
                result,
                shadow: view.shadow == ShadowState::Pending,
            },
            Event::KeyRevoked { jti },
        ];
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
        Ok(self.store.apply(task, &event, now, None)?)
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
        Ok(self.store.apply(task, &event, now, None)?)
    }

    /// Sends `signal` to `task`.
    pub fn signal(&self, task: &TaskId, signal: Signal, now: u64) -> Result<TaskView, KernelError> {
        Ok(self
            .store
            .apply(task, &Event::Signal { signal }, now, None)?)
    }

    /// Ends `task` as timed out.
    pub fn time_out(&self, task: &TaskId, now: u64) -> Result<TaskView, KernelError> {
        Ok(self.store.apply(task, &Event::TimedOut, now, None)?)
    }
}
