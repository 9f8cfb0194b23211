//! `POST /v1/data/customer|orders|history|write`: the task's customer's record and related
//! records, tokenised on the way out, and the named write operations. The customer and the
//! case always come from the verified task key, never from the body; there is no route that
//! takes SQL.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use silo_pii::{KnownSet, KnownValue};
use silo_policy::Action;

use crate::connectors::data::{
    customer_field, CaseStatus, CustomerRecord, Sensitivity, WriteOp, WriteOutcome, WRITE_OPS,
};
use crate::pipeline::Call;
use crate::record::Record;
use crate::routes::check_text;
use crate::wire::{ApiError, ErrorCode};

/// Longest case note, in characters.
const MAX_NOTE_CHARS: usize = 4000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CustomerRequest {
    /// Field names; absent means every field the base key grants.
    #[serde(default)]
    fields: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RelatedRequest {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WriteRequest {
    op: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "data connector failed");
    ApiError::new(ErrorCode::Internal, "the business database failed")
}

fn no_record() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "the task's customer has no record in the business database",
    )
}

/// The customer's raw record, for routes that need known values.
pub(crate) fn load_customer(call: &Call<'_>) -> Result<CustomerRecord, ApiError> {
    call.services
        .data()
        .customer(&call.creds.task().customer)
        .map_err(internal)?
        .ok_or_else(no_record)
}

/// The task customer's known values; none (recognizers only) when the customer has no
/// record.
pub(crate) fn known_for_task(call: &Call<'_>) -> Result<Arc<KnownSet>, ApiError> {
    match call
        .services
        .data()
        .customer(&call.creds.task().customer)
        .map_err(internal)?
    {
        Some(record) => known_values(&call.services.privacy, call.privacy_scope(), &record),
        None => Ok(Arc::new(KnownSet::empty())),
    }
}

/// The customer's identifying values, so free text mentioning them is tokenised whatever
/// the spelling. Compiled once per task and values (`Privacy::known`).
pub(crate) fn known_values(
    privacy: &crate::privacy::Privacy,
    task: &str,
    record: &CustomerRecord,
) -> Result<Arc<KnownSet>, ApiError> {
    let values: Vec<KnownValue> = record
        .fields
        .iter()
        .filter_map(|(name, value)| {
            let spec = customer_field(name)?;
            match (spec.sensitivity, value) {
                (Sensitivity::Pii(kind), Value::String(v)) if !v.trim().is_empty() => {
                    Some(KnownValue::new(kind, v.clone()))
                }
                _ => None,
            }
        })
        .collect();
    privacy.known(task, values)
}

/// One field's value as the cell may see it.
fn protect(
    call: &Call<'_>,
    sensitivity: Sensitivity,
    value: &Value,
    known: &KnownSet,
) -> Result<Value, ApiError> {
    let task = call.privacy_scope();
    Ok(match (sensitivity, value) {
        (Sensitivity::Clear, v) => v.clone(),
        (_, Value::Null) => Value::Null,
        (Sensitivity::Pii(kind), v) => {
            let raw = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Value::from(call.services.privacy.token(task, kind, &raw)?)
        }
        (Sensitivity::FreeText, Value::String(s)) => {
            Value::from(call.services.privacy.text(task, s, known)?)
        }
        (Sensitivity::FreeText, other) => other.clone(),
    })
}

fn granted_fields(call: &Call<'_>) -> Vec<String> {
    call.creds
        .base()
        .caps
        .data_read
        .as_ref()
        .map(|c| {
            c.fields
                .iter()
                .filter(|f| customer_field(f).is_some())
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn customer(
    call: &Call<'_>,
    req: CustomerRequest,
    rec: &mut Record,
) -> Result<Value, ApiError> {
    let fields = req.fields.unwrap_or_else(|| granted_fields(call));
    if fields.len() > 64 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "ask for at most 64 fields",
        ));
    }
    for f in &fields {
        if customer_field(f).is_none() {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "the customer record has no field `{}`",
                    f.chars().take(64).collect::<String>()
                ),
            ));
        }
    }
    rec.fact("fields", fields.join(","));
    call.authorize(
        Action::DataRead,
        &json!({ "fields": fields }),
        Some(&call.creds.task().customer),
        rec,
    )?;
    let record = load_customer(call)?;
    let known = known_values(&call.services.privacy, call.privacy_scope(), &record)?;
    let mut out = Map::new();
    for f in &fields {
        let Some(spec) = customer_field(f) else {
            continue;
        };
        let value = record.fields.get(f.as_str()).unwrap_or(&Value::Null);
        out.insert(f.clone(), protect(call, spec.sensitivity, value, &known)?);
    }
    call.record_usage(Action::DataRead, None);
    Ok(json!({ "customer": out }))
}

/// Authorises reading the `orders` or `history` collection.
fn authorize_related(call: &Call<'_>, name: &str, rec: &mut Record) -> Result<(), ApiError> {
    rec.fact("fields", name);
    call.authorize(
        Action::DataRead,
        &json!({ "fields": [name] }),
        Some(&call.creds.task().customer),
        rec,
    )
}

pub(super) fn orders(
    call: &Call<'_>,
    _req: RelatedRequest,
    rec: &mut Record,
) -> Result<Value, ApiError> {
    authorize_related(call, "orders", rec)?;
    let record = load_customer(call)?;
    let known = known_values(&call.services.privacy, call.privacy_scope(), &record)?;
    let orders = call
        .services
        .data()
        .orders(&call.creds.task().customer)
        .map_err(internal)?;
    let mut out = Vec::with_capacity(orders.len());
    for o in orders {
        out.push(json!({
            "id": o.id,
            "placed_at": o.placed_at,
            "status": o.status,
            "total_cents": o.total_cents,
            "currency": o.currency,
            "items": o.items,
            "note": protect(call, Sensitivity::FreeText, &Value::from(o.note), &known)?,
        }));
    }
    rec.fact("count", out.len());
    call.record_usage(Action::DataRead, None);
    Ok(json!({ "orders": out }))
}

pub(super) fn history(
    call: &Call<'_>,
    _req: RelatedRequest,
    rec: &mut Record,
) -> Result<Value, ApiError> {
    authorize_related(call, "history", rec)?;
    let record = load_customer(call)?;
    let known = known_values(&call.services.privacy, call.privacy_scope(), &record)?;
    let entries = call
        .services
        .data()
        .history(&call.creds.task().customer)
        .map_err(internal)?;
    let mut out = Vec::with_capacity(entries.len());
    for h in entries {
        out.push(json!({
            "at": h.at,
            "channel": h.channel,
            "summary": protect(call, Sensitivity::FreeText, &Value::from(h.summary), &known)?,
        }));
    }
    rec.fact("count", out.len());
    call.record_usage(Action::DataRead, None);
    Ok(json!({ "history": out }))
}

fn parse_op(req: WriteRequest) -> Result<WriteOp, ApiError> {
    let invalid = |m: String| ApiError::new(ErrorCode::InvalidRequest, m);
    match req.op.as_str() {
        "case.set_status" => {
            if req.text.is_some() {
                return Err(invalid("`case.set_status` takes `status` only".into()));
            }
            let status = req
                .status
                .as_deref()
                .and_then(CaseStatus::parse)
                .ok_or_else(|| {
                    invalid("`status` must be one of `open`, `pending`, `resolved`".into())
                })?;
            Ok(WriteOp::SetCaseStatus(status))
        }
        "case.add_note" => {
            if req.status.is_some() {
                return Err(invalid("`case.add_note` takes `text` only".into()));
            }
            let text = req
                .text
                .ok_or_else(|| invalid("`case.add_note` needs `text`".into()))?;
            if text.trim().is_empty() {
                return Err(invalid("`text` is empty".into()));
            }
            check_text("text", &text, MAX_NOTE_CHARS)?;
            Ok(WriteOp::AddCaseNote(text))
        }
        other => Err(invalid(format!(
            "unknown write operation `{}`; the operations are {} (there is no raw SQL)",
            other.chars().take(64).collect::<String>(),
            WRITE_OPS.join(", ")
        ))),
    }
}

pub(super) fn write(
    call: &Call<'_>,
    req: WriteRequest,
    rec: &mut Record,
) -> Result<Value, ApiError> {
    let op = parse_op(req)?;
    rec.fact("op", op.name());
    call.authorize(
        Action::DataWrite,
        &json!({ "op": op.name() }),
        Some(&call.creds.task().customer),
        rec,
    )?;
    let task = call.creds.task();
    match call
        .services
        .data()
        .write(&task.customer, &task.case, &op, call.now)
        .map_err(internal)?
    {
        WriteOutcome::Done { case_status } => {
            call.record_usage(Action::DataWrite, None);
            rec.fact("case_status", case_status.as_str());
            Ok(json!({ "done": true, "case": task.case, "case_status": case_status }))
        }
        WriteOutcome::NoSuchCase => Err(ApiError::new(
            ErrorCode::NotFound,
            "the task's case does not exist for the task's customer",
        )),
    }
}
