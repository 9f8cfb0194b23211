//! The production side of the [`Dispatcher`] seam: every agent turn is one real invocation
//! through `silo-invoke` (fresh cell, fresh keys bound to it and to the folder's content,
//! a membrane, the audit log), and the agent's recorded outcome becomes the router's
//! [`AgentResult`]. The dispatcher draws each turn's cell and key ids, revokes keys the
//! router gives up on, and signals live cells through the cell registry.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use silo_invoke::{Host, Invocation, InvokeError};
use silo_membrane::{CompletionStatus, Outcome};

use crate::dispatch::{DispatchError, Dispatcher, TurnIds};
use crate::events::{AgentResult, Signal};
use crate::task::TaskView;

/// Dispatches turns to cells.
pub struct CellDispatcher {
    agents_dir: PathBuf,
    data_dir: PathBuf,
    run_dir: PathBuf,
    host: Box<dyn Fn() -> Result<Host, InvokeError> + Send + Sync>,
    /// The shared database: revocations and the run's scratch state live there.
    database: Option<silo_postgres::Database>,
}

impl std::fmt::Debug for CellDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellDispatcher")
            .field("agents_dir", &self.agents_dir)
            .finish_non_exhaustive()
    }
}

impl CellDispatcher {
    /// Agents are the folders of `agents_dir`; `host` gives each turn its host settings
    /// (the `silo` binary, the LLM upstream, …) for the data directory `data_dir` (key
    /// store, scratch storage) and the cell run directory `run_dir` (registry), which
    /// revocations, signals and clean-up use without building a host.
    pub fn new(
        agents_dir: &Path,
        data_dir: &Path,
        run_dir: &Path,
        host: impl Fn() -> Result<Host, InvokeError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            agents_dir: agents_dir.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            run_dir: run_dir.to_path_buf(),
            host: Box::new(host),
            database: None,
        }
    }

    /// Revocations and the runs' scratch state in the shared database (the hosts' turns
    /// get it through `host`'s [`Host::database`]).
    pub fn with_database(mut self, database: silo_postgres::Database) -> Self {
        self.database = Some(database);
        self
    }

    fn kv(&self) -> Result<Box<dyn silo_membrane::KvStore>, String> {
        Ok(match &self.database {
            Some(db) => Box::new(silo_membrane::PgKv::new(db.clone())),
            None => Box::new(
                silo_membrane::SqliteKv::open(&silo_membrane::Services::db_path(&self.data_dir))
                    .map_err(|e| e.to_string())?,
            ),
        })
    }
}

/// The outcome an agent recorded, as the router reads it.
pub fn agent_result(outcome: Option<&Outcome>, cell_exit: u8) -> AgentResult {
    // A structured report travels as lines under the summary: the router carries one text
    // to the next turn (`input.handoff`), so no router type has to know about reports.
    let handoff = |summary: &str, report: Option<&silo_membrane::Report>| match report {
        Some(r) if !r.is_empty() && summary.is_empty() => r.render(),
        Some(r) if !r.is_empty() => format!("{summary}\n{}", r.render()),
        _ => summary.to_string(),
    };
    match outcome {
        Some(Outcome::Complete {
            status,
            summary,
            report,
        }) => {
            let summary = handoff(summary, report.as_ref());
            match status {
                CompletionStatus::Done => AgentResult::Done {
                    summary,
                    // What the turn produced are the run's interim assets.
                    assets: report
                        .as_ref()
                        .map(|r| r.produced.clone())
                        .unwrap_or_default(),
                },
                CompletionStatus::NeedsHuman => AgentResult::NeedsHuman { summary },
                CompletionStatus::Failed => AgentResult::Failed { summary },
            }
        }
        Some(Outcome::Redirect {
            target,
            hard,
            summary,
            report,
        }) => {
            let summary = handoff(summary, report.as_ref());
            let target = target.clone();
            if *hard {
                AgentResult::HardRedirect { target, summary }
            } else {
                AgentResult::SoftRedirect { target, summary }
            }
        }
        Some(Outcome::Escalate {
            target,
            reason,
            recommendation,
        }) => AgentResult::Escalate {
            target: target.clone(),
            reason: reason.clone(),
            recommendation: recommendation.clone(),
        },
        None => AgentResult::Failed {
            summary: format!("the agent recorded no result (cell exit {cell_exit})"),
        },
    }
}

impl Dispatcher for CellDispatcher {
    fn turn_ids(&self, task: &TaskView, _n: u32) -> Result<TurnIds, DispatchError> {
        let jti = silo_keys::new_jti().map_err(|e| DispatchError::Transient {
            agent: task.run.agent.clone(),
            reason: e.to_string(),
        })?;
        Ok(TurnIds {
            cell: silo_cell::new_cell_id(),
            task_key_jti: jti,
        })
    }

    fn revoke(&self, jti: &str) -> Result<(), DispatchError> {
        let transient = |reason: String| DispatchError::Transient {
            agent: String::new(),
            reason,
        };
        let now = silo_keys::now_unix();
        match &self.database {
            // Straight to the shared list: a cell host has no key store to open.
            Some(db) => {
                let until = now + silo_keys::MAX_TASK_TTL_SECS + 2 * silo_keys::LEEWAY_SECS;
                silo_keys::RevocationList::postgres(db)
                    .and_then(|list| list.revoke_until(jti, now, until))
                    .map(|_| ())
                    .map_err(|e| transient(e.to_string()))
            }
            None => silo_invoke::open_keys(&self.data_dir)
                .map_err(|e| transient(e.to_string()))?
                .revoke_task_key(jti, now)
                .map(|_| ())
                .map_err(|e| transient(e.to_string())),
        }
    }

    fn turn_limit_ms(&self, agent: &str) -> Option<u64> {
        let manifest = silo_invoke::Manifest::load(&self.agents_dir.join(agent)).ok()?;
        manifest.limits().ok().map(|l| l.timeout_ms)
    }

    fn finished(&self, task: &TaskView) -> Result<(), DispatchError> {
        // Only a run scope is shared across turns; a per-turn scope has nothing to keep.
        let Some(scope) = &task.spec.privacy_scope else {
            return Ok(());
        };
        let failed = |reason: String| DispatchError::Failed {
            agent: task.run.agent.clone(),
            reason,
        };
        let kv = self.kv().map_err(failed)?;
        kv.collect(scope, silo_membrane::OUTPUT_PREFIX)
            .map(|_| ())
            .map_err(|e| failed(e.to_string()))
    }

    fn signal(&self, cell: &str, signal: Signal) -> Result<bool, DispatchError> {
        let failed = |reason: String| DispatchError::Failed {
            agent: String::new(),
            reason,
        };
        let registry =
            silo_cell::Registry::open(&self.run_dir).map_err(|e| failed(e.to_string()))?;
        if registry.get(cell).is_err() {
            return Ok(false);
        }
        let sent = match signal {
            Signal::Stop => registry.stop(cell),
            Signal::Cont => registry.cont(cell),
            Signal::Kill => registry.kill(cell),
        };
        match sent {
            Ok(()) => Ok(true),
            // It ended between the lookup and the signal.
            Err(silo_cell::CellError::UnknownCell(_)) => Ok(false),
            Err(e) => Err(failed(e.to_string())),
        }
    }

    fn dispatch(&self, task: &TaskView, agent: &str) -> Result<AgentResult, DispatchError> {
        let failed = |reason: String| DispatchError::Failed {
            agent: agent.to_string(),
            reason,
        };
        let host = (self.host)().map_err(|e| DispatchError::Transient {
            agent: agent.to_string(),
            reason: e.to_string(),
        })?;
        let record = task.dispatch.as_ref();
        // The previous turn's summary (an escalation's reason and recommendation) travels
        // with the input, under `handoff`; the run itself stays with the router.
        let mut input = task.spec.input.clone();
        if let (Some(summary), Some(obj)) = (&task.run.summary, input.as_object_mut()) {
            obj.insert("handoff".into(), serde_json::Value::from(summary.as_str()));
        }
        let inv = Invocation {
            agent_dir: self.agents_dir.join(agent),
            customer: task.spec.customer.clone(),
            case: task.spec.case.clone(),
            input,
            // One membrane task per turn (its keys, scratch state and outcome are its own);
            // tokens belong to the run when the input was tokenised in its scope.
            task: Some(format!("{}.{}", task.id, task.dispatches)),
            run: task
                .spec
                .privacy_scope
                .as_ref()
                .map(|scope| silo_keys::WorkflowRef {
                    run: scope.clone(),
                    stage: task.dispatches.to_string(),
                }),
            input_tokenised: task.spec.privacy_scope.is_some(),
            cell: record.map(|d| d.cell.clone()),
            task_key_jti: record.map(|d| d.task_key_jti.clone()),
            timeout_ms: record.and_then(|d| d.timeout_ms),
        };
        // The turn's trace: `task` → `dispatch`, and under it silo-invoke's `cell` span and
        // the membrane's one span per call (ids and names only, never the input).
        // A root: one trace per turn, whatever span the caller has open.
        let task_span = tracing::info_span!(
            parent: None,
            "task",
            task.id = %task.id,
            task.agent = agent,
            task.turn = task.dispatches,
        );
        let dispatch_span = tracing::info_span!(
            parent: &task_span,
            "dispatch",
            agent,
            cell = inv.cell.as_deref().unwrap_or(""),
            outcome = tracing::field::Empty,
        );
        let report = dispatch_span
            .in_scope(|| silo_invoke::invoke(host, &inv, Stdio::null(), Stdio::inherit()))
            .map_err(|e| {
                dispatch_span.record("outcome", "error");
                failed(e.to_string())
            })?;
        dispatch_span.record(
            "outcome",
            match report.outcome.as_ref().map(|o| &o.outcome) {
                Some(Outcome::Complete { status, .. }) => match status {
                    CompletionStatus::Done => "done",
                    CompletionStatus::NeedsHuman => "needs_human",
                    CompletionStatus::Failed => "failed",
                },
                Some(Outcome::Redirect { .. }) => "redirect",
                Some(Outcome::Escalate { .. }) => "escalate",
                None => "none",
            },
        );
        let t = &report.timings;
        tracing::debug!(
            task = %task.id,
            agent,
            cell = %report.cell.id,
            manifest_us = t.manifest_us,
            keys_us = t.keys_us,
            services_us = t.services_us,
            sdk_us = t.sdk_us,
            membrane_us = t.membrane_us,
            cell_us = t.cell_us,
            teardown_us = t.teardown_us,
            total_us = t.total_us,
            "agent turn"
        );
        if report.cell.termination == silo_cell::Termination::TimedOut && report.outcome.is_none() {
            return Err(DispatchError::TimedOut {
                agent: agent.to_string(),
                limit_ms: record
                    .and_then(|d| d.timeout_ms)
                    .unwrap_or(report.cell.duration_ms),
            });
        }
        Ok(agent_result(
            report.outcome.as_ref().map(|o| &o.outcome),
            report.cell.exit_code(),
        ))
    }
}
