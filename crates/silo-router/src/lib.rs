//! silo-router is the router kernel's deterministic core: the events a task goes through,
//! its states and the fixed transition map, the routing table with its escalation-chain
//! check, YAML workflows, the durable store (tasks, append-only events, a leased job
//! queue) behind [`Store`], and the [`Kernel`] that submits tasks and steps the queue,
//! dispatching through the [`Dispatcher`] seam — in production [`CellDispatcher`], one real
//! cell per agent turn through `silo-invoke`.
//!
//! It must never: change a task's state except through the transition map; apply a state
//! change without its event and follow-up work in the same transaction; follow an
//! escalation that the escalating agent's base key does not list; let a redirect loop run
//! past its limit; or read the clock or a random source (time and sampling are inputs).
#![forbid(unsafe_code)]

mod cells;
mod decide;
mod dispatch;
mod events;
pub mod issuer;
mod kernel;
mod project;
mod recorder;
mod routing;
mod shadow;
mod state;
mod store;
mod task;
mod transition;
mod workflow;

pub use cells::{agent_result, CellDispatcher};
pub use decide::{decide, single_next};
pub use dispatch::{DispatchError, Dispatcher, TurnIds};
pub use events::{AgentResult, Event, EventKind, Signal};
pub use kernel::{
    Kernel, KernelConfig, KernelError, StepOutcome, StepReport, DEFAULT_MAX_ATTEMPTS,
};
pub use project::{
    load_workflows, routing_for_project, routing_from_agents_dir, RoutingSetup, DEFAULT_HUMAN_POOL,
};
pub use recorder::{AuditRecorder, RecordError, REFUSED_ACTION, ROUTER_ACTION};
pub use routing::{
    AgentInfo, AgentKind, Entry, EscalationTarget, RoutingConfig, RoutingError, RoutingTable,
};
pub use shadow::ShadowSampling;
pub use state::State;
pub use store::holder;
pub use store::{
    AnyStore, Job, PgStore, SqliteStore, Store, StoreCounts, StoreError, StoredEvent, TaskFilter,
    JOBS_CHANNEL,
};
pub use task::{
    DispatchRecord, PendingResult, Return, RunState, ShadowState, TaskId, TaskSpec, TaskView,
};
pub use transition::{apply, create, lookup, Effect, JobKind, Next, Rule, TransitionError, RULES};
pub use workflow::{
    Decision, ErrorAction, Known, OnError, Stage, Workflow, WorkflowError, DEFAULT_MAX_REDIRECTS,
};
