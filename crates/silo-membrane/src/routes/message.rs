//! `POST /v1/email/send` and `POST /v1/sms/send`: render a template from the agent folder
//! and queue it to the task's customer. The recipient is a token the membrane resolves
//! itself and it must be the customer's own address or number; the agent gets back a
//! status and a message id, never the rendered text. See `crate::templates` for the
//! hydration rule.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};
use silo_pii::PiiKind;
use silo_policy::Action;

use crate::connectors::outbox::{OutboundMessage, SendOutcome};
use crate::connectors::usage::Effect;
use crate::pipeline::Call;
use crate::record::Record;
use crate::routes::check_idempotency_key;
use crate::routes::data::load_customer;
use crate::templates::{self, Template, TemplateError};
use crate::wire::{ApiError, ErrorCode};

pub(crate) use crate::connectors::outbox::Channel;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SendRequest {
    template: String,
    to: String,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    idempotency_key: String,
}

impl Channel {
    fn action(self) -> Action {
        match self {
            Channel::Email => Action::EmailSend,
            Channel::Sms => Action::SmsSend,
        }
    }

    /// The token kind a recipient must be, and the record field it must match.
    fn recipient(self) -> (PiiKind, &'static str) {
        match self {
            Channel::Email => (PiiKind::Email, "email"),
            Channel::Sms => (PiiKind::Phone, "phone"),
        }
    }
}

/// Compares contact values the way people write them: emails case-insensitively, phone
/// numbers by their digits.
fn same_contact(channel: Channel, a: &str, b: &str) -> bool {
    match channel {
        Channel::Email => a.trim().eq_ignore_ascii_case(b.trim()),
        Channel::Sms => {
            let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
            let (a, b) = (digits(a), digits(b));
            !a.is_empty() && a == b
        }
    }
}

fn template_error(e: TemplateError) -> ApiError {
    match e {
        TemplateError::BadName(_) | TemplateError::Vars(_) | TemplateError::Missing { .. } => {
            ApiError::new(ErrorCode::InvalidRequest, e.to_string())
        }
        TemplateError::Broken { .. } => {
            tracing::error!(error = %e, "broken message template");
            ApiError::new(
                ErrorCode::Internal,
                "the template cannot be rendered; ask the agent's author",
            )
        }
    }
}

pub(super) fn send(
    call: &Call<'_>,
    channel: Channel,
    req: SendRequest,
    rec: &mut Record,
) -> Result<Value, ApiError> {
    templates::check_name(&req.template).map_err(template_error)?;
    check_idempotency_key(&req.idempotency_key)?;
    rec.fact("template", req.template.as_str());
    let task = call.creds.task();
    call.authorize(
        channel.action(),
        &json!({ "template": req.template }),
        Some(&task.customer),
        rec,
    )?;
    let (kind, field) = channel.recipient();
    let not_a_token = || {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "`to` must be a [{}_n] token from this task's customer record",
                kind.as_str()
            ),
        )
    };
    let (token_kind, to) = call
        .services
        .privacy
        .resolve(call.privacy_scope(), &req.to)?
        .ok_or_else(not_a_token)?;
    if token_kind != kind {
        return Err(not_a_token());
    }
    let record = load_customer(call)?;
    if !record
        .text(field)
        .is_some_and(|own| same_contact(channel, own, &to))
    {
        rec.decide(silo_audit::Decision::Deny, "message.recipient");
        return Err(ApiError::new(
            ErrorCode::Denied,
            format!("messages go only to the task's customer's own {field}"),
        )
        .with_rule("message.recipient"));
    }
    let dir = call.cell.agent_dir().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Internal,
            "this membrane has no agent folder, so it has no templates",
        )
    })?;
    let template = Template::load(dir, &req.template, channel).map_err(template_error)?;
    let rendered = template
        .render(
            &|f| templates::customer_value(f, record.text("name")),
            &req.vars,
        )
        .map_err(template_error)?;
    let message = OutboundMessage {
        message_id: OutboundMessage::id_for(&task.customer, channel, &req.idempotency_key),
        channel,
        to,
        subject: rendered.subject,
        body: rendered.body,
        template: req.template.clone(),
        task: task.task.clone(),
        agent: task.agent.clone(),
        created_at: call.now,
    };
    rec.fact("message_id", message.message_id.as_str());
    let outcome = call.services.outbox().send(&message).map_err(|e| {
        tracing::error!(error = %e, "outbox connector failed");
        ApiError::new(ErrorCode::Internal, "the message could not be confirmed as sent; retrying with the same idempotency key never sends it twice")
    })?;
    // Counted once per message id, on the first call and on every replay (as refunds): a
    // crash between the queueing and the record is counted by the replay. The outbox does
    // not say when a replayed message was queued, so a late count is at this call's time.
    let count = || {
        call.record_effect_usage(
            channel.action(),
            None,
            Effect {
                id: &message.message_id,
                at: call.now,
            },
        );
    };
    match outcome {
        SendOutcome::Queued => {
            count();
            rec.fact("replayed", false);
            Ok(json!({ "message_id": message.message_id, "status": "queued", "replayed": false }))
        }
        SendOutcome::Replayed => {
            count();
            rec.fact("replayed", true);
            Ok(json!({ "message_id": message.message_id, "status": "queued", "replayed": true }))
        }
        SendOutcome::Conflict => Err(ApiError::new(
            ErrorCode::IdempotencyConflict,
            "this idempotency key was already used for a different message; nothing was sent",
        )),
    }
}
