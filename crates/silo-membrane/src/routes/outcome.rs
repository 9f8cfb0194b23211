//! `POST /v1/complete` and `POST /v1/escalate`: the agent hands its task back. The first
//! result a task records is kept; the router reads it after the cell has exited.

use serde::Deserialize;
use serde_json::{json, Value};
use silo_policy::Action;

use crate::connectors::outcomes::{CompletionStatus, Outcome, RecordOutcome};
use crate::pipeline::Call;
use crate::record::Record;
use crate::routes::check_text;
use crate::wire::{ApiError, ErrorCode};

const MAX_SUMMARY_CHARS: usize = 8192;
const MAX_REASON_CHARS: usize = 2048;
const MAX_TARGET_CHARS: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CompleteRequest {
    status: CompletionStatus,
    summary: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EscalateRequest {
    target: String,
    reason: String,
    recommendation: String,
}

fn store(call: &Call<'_>, outcome: &Outcome) -> Result<Value, ApiError> {
    let task = call.creds.task();
    let recorded = call
        .services
        .outcomes()
        .record(&task.task, &task.agent, outcome, call.now)
        .map_err(|e| {
            tracing::error!(error = %e, "outcome connector failed");
            ApiError::new(ErrorCode::Internal, "the outcome could not be stored")
        })?;
    match recorded {
        RecordOutcome::Recorded => Ok(json!({ "recorded": true })),
        RecordOutcome::AlreadyRecorded(_) => Err(ApiError::new(
            ErrorCode::OutcomeRecorded,
            "this task already recorded its outcome; the first one stands",
        )),
    }
}

pub(super) fn complete(
    call: &Call<'_>,
    req: CompleteRequest,
    rec: &mut Record,
) -> Result<Value, ApiError> {
    check_text("summary", &req.summary, MAX_SUMMARY_CHARS)?;
    call.granted_by_task_key(rec);
    rec.fact("outcome", req.status.as_str());
    store(
        call,
        &Outcome::Complete {
            status: req.status,
            summary: req.summary,
        },
    )
}

pub(super) fn escalate(
    call: &Call<'_>,
    req: EscalateRequest,
    rec: &mut Record,
) -> Result<Value, ApiError> {
    check_text("target", &req.target, MAX_TARGET_CHARS)?;
    check_text("reason", &req.reason, MAX_REASON_CHARS)?;
    check_text("recommendation", &req.recommendation, MAX_SUMMARY_CHARS)?;
    call.authorize(
        Action::Escalate,
        &json!({ "target": req.target }),
        None,
        rec,
    )?;
    // Targets are short names the base key lists, so they are safe to record.
    rec.fact("target", req.target.as_str());
    let out = store(
        call,
        &Outcome::Escalate {
            target: req.target,
            reason: req.reason,
            recommendation: req.recommendation,
        },
    )?;
    call.record_usage(Action::Escalate, None);
    Ok(out)
}
