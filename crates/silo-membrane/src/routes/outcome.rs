//! `POST /v1/complete`, `POST /v1/escalate` and `POST /v1/redirect`: the agent hands its
//! task back. The first result a task records is kept; the router reads it after the cell
//! has exited.

use serde::Deserialize;
use serde_json::{json, Value};
use silo_policy::Action;

use crate::connectors::outcomes::{CompletionStatus, Outcome, RecordOutcome, Report};
use crate::pipeline::Call;
use crate::record::Record;
use crate::routes::check_text;
use crate::wire::{ApiError, ErrorCode};

const MAX_SUMMARY_CHARS: usize = 8192;
const MAX_REASON_CHARS: usize = 2048;
const MAX_TARGET_CHARS: usize = 64;
/// A report's `did`.
const MAX_DID_CHARS: usize = 2048;
/// Items in each of a report's lists.
const MAX_REPORT_ITEMS: usize = 32;
/// One item of a report's list.
const MAX_REPORT_ITEM_CHARS: usize = 512;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CompleteRequest {
    status: CompletionStatus,
    summary: String,
    #[serde(default)]
    report: Option<Report>,
}

/// 301 or 302.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RedirectKind {
    Hard,
    Soft,
}

impl RedirectKind {
    fn as_str(self) -> &'static str {
        match self {
            RedirectKind::Hard => "hard",
            RedirectKind::Soft => "soft",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RedirectRequest {
    target: String,
    kind: RedirectKind,
    summary: String,
    #[serde(default)]
    report: Option<Report>,
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

/// Bounds a report like the summary: sizes and no control characters. Its text is the
/// agent's own, like the summary's, and stays out of the audit log.
fn check_report(report: Option<&Report>) -> Result<(), ApiError> {
    let Some(report) = report else {
        return Ok(());
    };
    check_text("report.did", &report.did, MAX_DID_CHARS)?;
    for (name, items) in [
        ("report.produced", &report.produced),
        ("report.todo", &report.todo),
        ("report.warnings", &report.warnings),
    ] {
        if items.len() > MAX_REPORT_ITEMS {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("`{name}` has more than {MAX_REPORT_ITEMS} items"),
            ));
        }
        for item in items {
            check_text(name, item, MAX_REPORT_ITEM_CHARS)?;
        }
    }
    Ok(())
}

/// A redirect target must look like an agent or stage name; whether the stage lists it is
/// the router's question, since the membrane does not know the workflow.
fn check_target_name(target: &str) -> Result<(), ApiError> {
    let ok = !target.is_empty()
        && target.len() <= MAX_TARGET_CHARS
        && target
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "`target` must be 1..={MAX_TARGET_CHARS} lower-case letters, digits, `-` or `_` (an agent or stage name)"
            ),
        ))
    }
}

pub(super) fn complete(
    call: &Call<'_>,
    req: CompleteRequest,
    rec: &mut Record,
) -> Result<Value, ApiError> {
    check_text("summary", &req.summary, MAX_SUMMARY_CHARS)?;
    check_report(req.report.as_ref())?;
    call.granted_by_task_key(rec);
    rec.fact("outcome", req.status.as_str());
    store(
        call,
        &Outcome::Complete {
            status: req.status,
            summary: req.summary,
            report: req.report,
        },
    )
}

/// Every agent may end its turn, so like `complete` this needs no capability: the router
/// refuses a target the stage does not list.
pub(super) fn redirect(
    call: &Call<'_>,
    req: RedirectRequest,
    rec: &mut Record,
) -> Result<Value, ApiError> {
    check_target_name(&req.target)?;
    check_text("summary", &req.summary, MAX_SUMMARY_CHARS)?;
    check_report(req.report.as_ref())?;
    call.granted_by_task_key(rec);
    rec.fact("outcome", "redirect");
    rec.fact("redirect", req.kind.as_str());
    // The target passed the name alphabet above, so it is safe to record.
    rec.fact("target", req.target.as_str());
    store(
        call,
        &Outcome::Redirect {
            target: req.target,
            hard: matches!(req.kind, RedirectKind::Hard),
            summary: req.summary,
            report: req.report,
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
