//! `POST /v1/refund`: pay the task's customer back, within the base key's limit and the
//! policy, exactly once per idempotency key — and counted in the usage for rate limits
//! and daily totals exactly once per refund.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use silo_policy::{parse_minor_units, Action};

use crate::connectors::ledger::{RefundOutcome, RefundRecord, RefundRequest};
use crate::connectors::usage::Effect;
use crate::pipeline::Call;
use crate::record::Record;
use crate::routes::{check_idempotency_key, check_text};
use crate::wire::{ApiError, ErrorCode};

/// Longest `reason`, in characters.
const MAX_REASON_CHARS: usize = 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IssueRequest {
    /// Kept as raw JSON so the policy's strict parser sees exactly what the agent sent
    /// (floats, strings and exponents are refused there).
    amount_cents: Value,
    currency: String,
    reason: String,
    idempotency_key: String,
    /// Optional; when given it must be the task's customer.
    #[serde(default)]
    customer: Option<String>,
}

fn answer(r: &RefundRecord, replayed: bool) -> Value {
    json!({
        "refund_id": r.refund_id,
        "status": "issued",
        "amount_cents": r.amount_cents,
        "currency": r.currency,
        "idempotency_key": r.idempotency_key,
        "replayed": replayed,
    })
}

pub(super) fn issue(
    call: &Call<'_>,
    req: IssueRequest,
    rec: &mut Record,
) -> Result<Value, ApiError> {
    check_text("reason", &req.reason, MAX_REASON_CHARS)?;
    check_idempotency_key(&req.idempotency_key)?;
    let task = call.creds.task();
    let mut params = Map::new();
    params.insert("amount".into(), req.amount_cents.clone());
    params.insert("currency".into(), Value::from(req.currency.as_str()));
    if let Some(c) = &req.customer {
        params.insert("customer".into(), Value::from(c.as_str()));
    }
    let params = Value::Object(params);
    // The ledger always pays the task's customer: that is the resource this action touches.
    let authorized = call.authorize(Action::Refund, &params, Some(&task.customer), rec);
    // Record the amount only when it is a well-formed integer (never echo a float trick).
    let amount = parse_minor_units(Some(&req.amount_cents)).ok();
    if let Some(a) = amount {
        rec.fact("amount_cents", a);
    }
    authorized?;
    let amount_cents = amount.ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "`amount_cents` is not a positive integer",
        )
    })?;
    rec.fact("currency", req.currency.as_str());
    let outcome = call
        .services
        .ledger()
        .refund(&RefundRequest {
            task: task.task.clone(),
            agent: task.agent.clone(),
            customer: task.customer.clone(),
            idempotency_key: req.idempotency_key.clone(),
            amount_cents,
            currency: req.currency.clone(),
            reason: req.reason,
            now: call.now,
        })
        .map_err(|e| {
            tracing::error!(error = %e, "ledger connector failed");
            ApiError::new(ErrorCode::Internal, "the ledger failed; nothing was paid")
        })?;
    silo_fault::crash_point("after_refund_committed");
    // Counted once per refund id, on the first call and on every replay: a crash at the
    // point above is counted by the retried turn's replay, and a plain replay is a no-op.
    let count = |r: &RefundRecord| {
        call.record_effect_usage(
            Action::Refund,
            Some(r.amount_cents),
            Effect {
                id: &r.refund_id,
                at: r.created_at,
            },
        );
    };
    match outcome {
        RefundOutcome::Issued(r) => {
            count(&r);
            rec.fact("refund_id", r.refund_id.as_str());
            rec.fact("replayed", false);
            Ok(answer(&r, false))
        }
        RefundOutcome::Replayed(r) => {
            count(&r);
            rec.fact("refund_id", r.refund_id.as_str());
            rec.fact("replayed", true);
            Ok(answer(&r, true))
        }
        RefundOutcome::Conflict(r) => {
            rec.fact("refund_id", r.refund_id.as_str());
            Err(ApiError::new(
                ErrorCode::IdempotencyConflict,
                "this idempotency key was already used for a different amount or currency; nothing was paid",
            ))
        }
    }
}
