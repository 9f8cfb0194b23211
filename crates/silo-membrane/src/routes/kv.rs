//! `POST /v1/kv/get` and `POST /v1/kv/put`: scratch state under the verified task key's
//! scope — the router run it names (every turn of one routed task, each workflow stage,
//! shares it: a stage's interim assets are the next stage's input), else the task. The
//! scope never comes from the body, so no request can reach another run's keys. When the
//! run ends the router collects everything but `output/…`.

use serde::Deserialize;
use serde_json::{json, Value};
use silo_policy::Action;

use crate::connectors::kv::{PutOutcome, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use crate::pipeline::Call;
use crate::record::Record;
use crate::wire::{ApiError, ErrorCode};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GetRequest {
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PutRequest {
    key: String,
    value: Value,
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("`key` must be 1..={MAX_KEY_BYTES} bytes without control characters"),
        ));
    }
    Ok(())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "kv connector failed");
    ApiError::new(ErrorCode::Internal, "scratch storage failed")
}

pub(super) fn get(call: &Call<'_>, req: GetRequest, rec: &mut Record) -> Result<Value, ApiError> {
    check_key(&req.key)?;
    call.authorize(Action::KvGet, &json!({ "key": req.key }), None, rec)?;
    let value = call
        .services
        .kv()
        .get(call.privacy_scope(), &req.key)
        .map_err(internal)?;
    call.record_usage(Action::KvGet, None);
    rec.fact("found", value.is_some());
    Ok(json!({ "found": value.is_some(), "value": value }))
}

pub(super) fn put(call: &Call<'_>, req: PutRequest, rec: &mut Record) -> Result<Value, ApiError> {
    check_key(&req.key)?;
    let size = serde_json::to_vec(&req.value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_VALUE_BYTES {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("`value` is {size} bytes of JSON; at most {MAX_VALUE_BYTES} are allowed"),
        ));
    }
    call.authorize(Action::KvPut, &json!({ "key": req.key }), None, rec)?;
    rec.fact("bytes", size);
    match call
        .services
        .kv()
        .put(call.privacy_scope(), &req.key, &req.value)
        .map_err(internal)?
    {
        PutOutcome::Stored => {
            call.record_usage(Action::KvPut, None);
            Ok(json!({ "stored": true }))
        }
        PutOutcome::TaskFull => Err(ApiError::new(
            ErrorCode::QuotaExceeded,
            "this task holds the most keys allowed; overwrite an existing key",
        )),
    }
}
