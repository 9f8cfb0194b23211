//! The route table: `(method, path)` → [`Route`], and the JSON body parsing every route
//! shares. One module per service.

pub(crate) mod data;
pub(crate) use data::known_values;
mod kv;
mod llm;
mod message;
mod outcome;
mod refund;
mod task;
mod tools;

use bytes::Bytes;
use hyper::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::pipeline::Call;
use crate::record::Record;
use crate::wire::{ApiError, ErrorCode};

/// Every route of protocol version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Task,
    KvGet,
    KvPut,
    Refund,
    Complete,
    Escalate,
    Redirect,
    DataCustomer,
    DataOrders,
    DataHistory,
    DataWrite,
    EmailSend,
    SmsSend,
    ChatCompletions,
    Tools,
}

impl Route {
    /// Matches a request line; unknown paths and wrong methods are refusals.
    pub(crate) fn find(method: &Method, path: &str) -> Result<Route, ApiError> {
        let (route, want) = match path {
            "/v1/task" => (Route::Task, Method::GET),
            "/v1/kv/get" => (Route::KvGet, Method::POST),
            "/v1/kv/put" => (Route::KvPut, Method::POST),
            "/v1/refund" => (Route::Refund, Method::POST),
            "/v1/complete" => (Route::Complete, Method::POST),
            "/v1/escalate" => (Route::Escalate, Method::POST),
            "/v1/redirect" => (Route::Redirect, Method::POST),
            "/v1/data/customer" => (Route::DataCustomer, Method::POST),
            "/v1/data/orders" => (Route::DataOrders, Method::POST),
            "/v1/data/history" => (Route::DataHistory, Method::POST),
            "/v1/data/write" => (Route::DataWrite, Method::POST),
            "/v1/email/send" => (Route::EmailSend, Method::POST),
            "/v1/sms/send" => (Route::SmsSend, Method::POST),
            "/v1/chat/completions" => (Route::ChatCompletions, Method::POST),
            "/v1/tools" => (Route::Tools, Method::GET),
            _ => {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    "no such route; see docs/PROTOCOL.md for the /v1 routes",
                ))
            }
        };
        if *method != want {
            return Err(ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("use {want} for this route"),
            ));
        }
        Ok(route)
    }

    /// The action name the audit log records.
    pub(crate) fn action_name(self) -> &'static str {
        match self {
            Route::Task => "task.read",
            Route::KvGet => "kv.get",
            Route::KvPut => "kv.put",
            Route::Refund => "refund",
            Route::Complete => "task.complete",
            Route::Escalate => "escalate",
            Route::Redirect => "task.redirect",
            Route::DataCustomer => "data.customer",
            Route::DataOrders => "data.orders",
            Route::DataHistory => "data.history",
            Route::DataWrite => "data.write",
            Route::EmailSend => "email.send",
            Route::SmsSend => "sms.send",
            Route::ChatCompletions => "llm.chat",
            Route::Tools => "tools.list",
        }
    }

    pub(crate) fn handle(
        self,
        call: &Call<'_>,
        body: &Bytes,
        rec: &mut Record,
    ) -> Result<Value, ApiError> {
        match self {
            Route::Task => task::read(call, rec),
            Route::KvGet => kv::get(call, parse(body)?, rec),
            Route::KvPut => kv::put(call, parse(body)?, rec),
            Route::Refund => refund::issue(call, parse(body)?, rec),
            Route::Complete => outcome::complete(call, parse(body)?, rec),
            Route::Escalate => outcome::escalate(call, parse(body)?, rec),
            Route::Redirect => outcome::redirect(call, parse(body)?, rec),
            Route::DataCustomer => data::customer(call, parse(body)?, rec),
            Route::DataOrders => data::orders(call, parse(body)?, rec),
            Route::DataHistory => data::history(call, parse(body)?, rec),
            Route::DataWrite => data::write(call, parse(body)?, rec),
            Route::EmailSend => message::send(call, message::Channel::Email, parse(body)?, rec),
            Route::SmsSend => message::send(call, message::Channel::Sms, parse(body)?, rec),
            Route::ChatCompletions => llm::chat(call, body, rec),
            Route::Tools => tools::list(call, rec),
        }
    }
}

/// Parses a JSON body into a route's request type (unknown fields are refused).
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("request body is not the expected JSON: {e}"),
        )
    })
}

/// Longest idempotency key.
const MAX_IDEMPOTENCY_KEY: usize = 128;

pub(crate) fn check_idempotency_key(key: &str) -> Result<(), ApiError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "`idempotency_key` must be 1..={MAX_IDEMPOTENCY_KEY} characters of letters, digits, `.`, `_`, `:` or `-`"
            ),
        ))
    }
}

/// Checks a free-text field's length (in characters) and that it has no control characters
/// other than newlines and tabs.
fn check_text(name: &str, value: &str, max_chars: usize) -> Result<(), ApiError> {
    if value.chars().count() > max_chars {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("`{name}` is longer than {max_chars} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("`{name}` contains control characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods() {
        assert_eq!(Route::find(&Method::GET, "/v1/task"), Ok(Route::Task));
        assert_eq!(Route::find(&Method::POST, "/v1/refund"), Ok(Route::Refund));
        assert_eq!(
            Route::find(&Method::GET, "/v1/refund").map_err(|e| e.code),
            Err(ErrorCode::MethodNotAllowed)
        );
        assert_eq!(
            Route::find(&Method::POST, "/v1/refund/").map_err(|e| e.code),
            Err(ErrorCode::NotFound)
        );
        assert_eq!(
            Route::find(&Method::POST, "/v2/refund").map_err(|e| e.code),
            Err(ErrorCode::NotFound)
        );
    }
}
