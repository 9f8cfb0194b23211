//! The per-request pipeline, run on a blocking thread: verify both keys → route handler
//! (policy decision, then a connector) → one audit entry → reply. Every path, allowed or
//! refused, ends in [`finish`], which writes the audit entry.

use bytes::Bytes;
use serde_json::Value;
use silo_audit::Decision as AuditDecision;
use silo_keys::Credentials;
use silo_policy::{Action, Context, Decision};

use crate::auth::{self, PresentedKeys};
use crate::binding::CellBinding;
use crate::record::Record;
use crate::routes::Route;
use crate::services::Services;
use crate::wire::{ApiError, ErrorCode, Reply};

/// What a route handler gets: the shared services, the verified keys and the time.
pub(crate) struct Call<'a> {
    pub(crate) services: &'a Services,
    pub(crate) cell: &'a CellBinding,
    pub(crate) creds: &'a Credentials,
    pub(crate) now: u64,
    /// Held from the decision of an action a policy rule counts until its usage is
    /// recorded (or the call ends): no other call can decide on the same counters in
    /// between (`connectors::usage::UsageGate`).
    pub(crate) gate: std::cell::RefCell<Option<crate::connectors::usage::GateGuard<'a>>>,
}

impl Call<'_> {
    /// Asks the policy; anything but allow is a refusal, recorded either way.
    pub(crate) fn authorize(
        &self,
        action: Action,
        params: &Value,
        resource_customer: Option<&str>,
        rec: &mut Record,
    ) -> Result<(), ApiError> {
        self.authorize_with(action, params, rec, |ctx| {
            ctx.resource_customer = resource_customer;
        })
    }

    /// [`Self::authorize`] with the route filling in more of the context (e.g. the task's
    /// LLM usage so far).
    pub(crate) fn authorize_with<'c>(
        &'c self,
        action: Action,
        params: &Value,
        rec: &mut Record,
        fill: impl FnOnce(&mut Context<'c>),
    ) -> Result<(), ApiError> {
        if self.services.policy.counts(action) && self.gate.borrow().is_none() {
            let guard = self.services.usage_gate.enter().map_err(|e| {
                tracing::error!(error = %e, "usage gate unavailable");
                rec.decide(AuditDecision::Deny, "membrane.usage_gate");
                ApiError::new(
                    ErrorCode::Internal,
                    "the usage counters are unavailable; nothing was done",
                )
            })?;
            *self.gate.borrow_mut() = Some(guard);
        }
        let mut ctx = Context::new(self.now, self.services.counters.as_ref());
        fill(&mut ctx);
        match self
            .services
            .policy
            .decide_for(self.creds, action.as_str(), params, &ctx)
        {
            Decision::Allow { rule } => {
                rec.decide(AuditDecision::Allow, rule);
                Ok(())
            }
            Decision::Deny { reason, rule } => {
                rec.decide(AuditDecision::Deny, rule.clone());
                if self.services.policy.kills_on(&rule) {
                    self.kill(&rule, rec);
                }
                Err(ApiError::new(ErrorCode::Denied, reason).with_rule(rule))
            }
            Decision::NeedsApproval { rule, reason } => {
                rec.decide(AuditDecision::NeedsApproval, rule.clone());
                Err(ApiError::new(ErrorCode::NeedsApproval, reason).with_rule(rule))
            }
        }
    }

    /// The policy ordered the cell killed for a refusal by `rule`: the task ends as
    /// failed (unless it already recorded an outcome) and the cell is killed now.
    fn kill(&self, rule: &str, rec: &mut Record) {
        let task = self.creds.task();
        let outcome = crate::connectors::outcomes::Outcome::Complete {
            status: crate::connectors::outcomes::CompletionStatus::Failed,
            summary: format!("killed by policy: a call was refused by rule `{rule}`"),
            report: None,
        };
        // If the agent recorded an outcome already, that stays on file, but the turn is
        // reported failed all the same (`Services::killed_by_policy`).
        let _ =
            self.services
                .connectors
                .outcomes
                .record(&task.task, &task.agent, &outcome, self.now);
        self.services
            .killed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(task.task.clone(), rule.to_owned());
        let killed = match &self.services.kill_switch {
            Some(kill) => kill(self.cell.cell_id()),
            None => false,
        };
        rec.fact("kill_ordered", true);
        rec.fact("cell_killed", killed);
    }

    /// The scope tokens belong to: the router run the task key names (so every agent turn
    /// of one task shares tokens, and a hand-off's `[NAME_1]` means the same person), else
    /// the task itself.
    pub(crate) fn privacy_scope(&self) -> &str {
        let task = self.creds.task();
        task.workflow
            .as_ref()
            .map_or(task.task.as_str(), |w| w.run.as_str())
    }

    /// For the routes the task key itself grants (reading the task, recording the outcome).
    pub(crate) fn granted_by_task_key(&self, rec: &mut Record) {
        rec.decide(AuditDecision::Allow, "membrane.task_key");
    }

    /// Counts a done action for rate limits and daily totals — only when a policy rule
    /// counts it, since recording is a durable write.
    pub(crate) fn record_usage(&self, action: Action, amount: Option<i64>) {
        if !self.services.policy.counts(action) {
            return;
        }
        self.services.counters.record(
            self.creds.base(),
            self.creds.task(),
            action,
            amount,
            self.now,
        );
        // Recorded: the next counted action may decide.
        self.gate.borrow_mut().take();
    }

    /// [`Self::record_usage`] for an action with an idempotent `effect` (a refund, a
    /// queued message): counted once per effect, so the route calls it on the first call
    /// and on every replay — a replay after a crash that lost the record counts it then.
    pub(crate) fn record_effect_usage(
        &self,
        action: Action,
        amount: Option<i64>,
        effect: crate::connectors::usage::Effect<'_>,
    ) {
        if !self.services.policy.counts(action) {
            return;
        }
        self.services.counters.record_effect(
            self.creds.base(),
            self.creds.task(),
            action,
            amount,
            effect,
            self.now,
        );
        self.gate.borrow_mut().take();
    }
}

/// Serves one request that got past the rate limiter.
pub(crate) fn serve(
    services: &Services,
    cell: &CellBinding,
    route: Result<Route, ApiError>,
    keys: &PresentedKeys,
    body: Result<Bytes, ApiError>,
    now: u64,
) -> Reply {
    let action = route
        .as_ref()
        .map_or("membrane.request", |r| r.action_name());
    let mut rec = Record::new(action, cell);
    let result = run(services, cell, route, keys, body, now, &mut rec);
    finish(services, rec, result)
}

fn run(
    services: &Services,
    cell: &CellBinding,
    route: Result<Route, ApiError>,
    keys: &PresentedKeys,
    body: Result<Bytes, ApiError>,
    now: u64,
    rec: &mut Record,
) -> Result<Value, ApiError> {
    let route = route?;
    let body = body?;
    let verified = auth::verify(services, cell, keys, now).inspect_err(|e| {
        rec.decide(AuditDecision::Deny, format!("keys.{}", e.code.as_str()));
    })?;
    rec.identify(&verified);
    let call = Call {
        services,
        cell,
        creds: &verified.creds,
        now,
        gate: std::cell::RefCell::new(None),
    };
    route.handle(&call, &body, rec)
}

/// A refusal made before the pipeline (rate limit, busy), audited by the caller's throttle.
pub(crate) fn refuse(
    services: &Services,
    cell: &CellBinding,
    error: ApiError,
    held_back: Option<u64>,
) -> Reply {
    let mut rec = Record::new("membrane.request", cell);
    if let Some(n) = held_back {
        rec.fact("held_back", n);
    }
    finish(services, rec, Err(error))
}

/// Writes the audit entry and makes the reply. If the entry cannot be written, a success is
/// not reported as one.
fn finish(services: &Services, mut rec: Record, result: Result<Value, ApiError>) -> Reply {
    match result {
        Ok(body) => match rec
            .into_draft(200, None)
            .map(|d| services.audit.append(traced(d)))
        {
            Ok(Ok(_)) => Reply::ok(&body),
            failure => {
                tracing::error!(?failure, "audit append failed after an allowed call");
                Reply::error(&ApiError::new(
                    ErrorCode::AuditUnavailable,
                    "the call could not be recorded in the audit log; ask the operator",
                ))
            }
        },
        Err(error) => {
            if !rec.decided() {
                rec.decide(AuditDecision::Deny, error.code.rule());
            }
            let status = error.code.status();
            match rec
                .into_draft(status, Some(error.code))
                .map(|d| services.audit.append(traced(d)))
            {
                Ok(Ok(_)) => {}
                failure => tracing::error!(?failure, "audit append failed for a refusal"),
            }
            Reply::error(&error)
        }
    }
}

/// Puts the audit entry's decision and rule on the request's `membrane.call` span (the
/// current one: `server.rs` enters it around the pipeline), so a trace shows what the
/// audit log holds for the call, and nothing else of it.
fn traced(draft: silo_audit::EntryDraft) -> silo_audit::EntryDraft {
    let span = tracing::Span::current();
    span.record("decision", draft.decision.as_str());
    if let Some(rule) = &draft.rule {
        span.record("rule", rule.as_str());
    }
    draft
}
