//! The wire format shared by every route: key headers, stable error codes, the JSON error
//! body `{"error":{"code","message"}}` and the reply the server turns into HTTP.

use serde_json::{json, Value};

/// Header carrying the base key (the agent role's credential).
pub const BASE_KEY_HEADER: &str = "x-silo-base-key";
/// Header carrying the task key (this invocation's credential).
pub const TASK_KEY_HEADER: &str = "x-silo-task-key";

/// Every error a caller can see. The wire name ([`ErrorCode::as_str`]) is stable: clients
/// and the SDK branch on it; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A key header is missing, empty or not ASCII.
    MissingKey,
    /// A key does not verify (forged, malformed, unknown key id, wrong audience…).
    InvalidKey,
    /// A key has expired, is not valid yet, or its signing key was retired.
    KeyExpired,
    /// A key was revoked.
    KeyRevoked,
    /// The task key is bound to another cell.
    WrongCell,
    /// The base key was minted for another agent-folder content.
    FolderMismatch,
    /// The two keys name different agents.
    AgentMismatch,
    /// Policy denied the action.
    Denied,
    /// Policy requires a human's approval first.
    NeedsApproval,
    /// The body is not the JSON the route expects.
    InvalidRequest,
    /// No such route.
    NotFound,
    /// The route exists with another method.
    MethodNotAllowed,
    /// The body is larger than the limit.
    BodyTooLarge,
    /// The client was too slow to send its body.
    RequestTimeout,
    /// An idempotency key was reused with different parameters.
    IdempotencyConflict,
    /// The task already recorded its outcome.
    OutcomeRecorded,
    /// A per-task quota (e.g. KV keys) is exhausted.
    QuotaExceeded,
    /// The cell sent requests faster than its rate limit.
    RateLimited,
    /// The cell has too many requests in flight.
    Busy,
    /// The audit log could not record the call; nothing is reported as done.
    AuditUnavailable,
    /// An upstream service (the LLM) is not configured, unreachable or failed.
    UpstreamUnavailable,
    /// Something failed inside the membrane; details are in the host's log.
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [ErrorCode; 22] = [
        ErrorCode::MissingKey,
        ErrorCode::InvalidKey,
        ErrorCode::KeyExpired,
        ErrorCode::KeyRevoked,
        ErrorCode::WrongCell,
        ErrorCode::FolderMismatch,
        ErrorCode::AgentMismatch,
        ErrorCode::Denied,
        ErrorCode::NeedsApproval,
        ErrorCode::InvalidRequest,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::BodyTooLarge,
        ErrorCode::RequestTimeout,
        ErrorCode::IdempotencyConflict,
        ErrorCode::OutcomeRecorded,
        ErrorCode::QuotaExceeded,
        ErrorCode::RateLimited,
        ErrorCode::Busy,
        ErrorCode::AuditUnavailable,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::Internal,
    ];

    /// The stable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingKey => "missing_key",
            ErrorCode::InvalidKey => "invalid_key",
            ErrorCode::KeyExpired => "key_expired",
            ErrorCode::KeyRevoked => "key_revoked",
            ErrorCode::WrongCell => "wrong_cell",
            ErrorCode::FolderMismatch => "folder_mismatch",
            ErrorCode::AgentMismatch => "agent_mismatch",
            ErrorCode::Denied => "denied",
            ErrorCode::NeedsApproval => "needs_approval",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::IdempotencyConflict => "idempotency_conflict",
            ErrorCode::OutcomeRecorded => "outcome_recorded",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Busy => "busy",
            ErrorCode::AuditUnavailable => "audit_unavailable",
            ErrorCode::UpstreamUnavailable => "upstream_unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::MissingKey
            | ErrorCode::InvalidKey
            | ErrorCode::KeyExpired
            | ErrorCode::KeyRevoked => 401,
            ErrorCode::WrongCell
            | ErrorCode::FolderMismatch
            | ErrorCode::AgentMismatch
            | ErrorCode::Denied
            | ErrorCode::NeedsApproval => 403,
            ErrorCode::InvalidRequest => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::IdempotencyConflict | ErrorCode::OutcomeRecorded => 409,
            ErrorCode::BodyTooLarge => 413,
            ErrorCode::QuotaExceeded | ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::UpstreamUnavailable => 502,
            ErrorCode::Busy | ErrorCode::AuditUnavailable => 503,
        }
    }

    /// The audit rule id recorded when the membrane itself refuses with this code.
    pub(crate) fn rule(self) -> String {
        format!("membrane.{}", self.as_str())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error on its way to the caller. The message must never hold a token or raw PII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    /// The policy rule behind a denial, shown to the agent so it can adapt.
    pub(crate) rule: Option<String>,
}

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            rule: None,
        }
    }

    pub(crate) fn with_rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }
}

/// A finished answer: status and JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn ok(body: &Value) -> Self {
        Self::json(200, body)
    }

    pub(crate) fn error(e: &ApiError) -> Self {
        let mut inner = json!({ "code": e.code.as_str(), "message": e.message });
        if let (Some(rule), Some(obj)) = (&e.rule, inner.as_object_mut()) {
            obj.insert("rule".into(), Value::String(rule.clone()));
        }
        Self::json(e.code.status(), &json!({ "error": inner }))
    }

    fn json(status: u16, body: &Value) -> Self {
        // Serialising a `Value` cannot fail; fall back to a fixed body rather than panic.
        let body = serde_json::to_vec(body).unwrap_or_else(|_| {
            br#"{"error":{"code":"internal","message":"response encoding failed"}}"#.to_vec()
        });
        Self { status, body }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_map_to_errors() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{c}");
            assert!(c
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(c.status() >= 400);
        }
    }

    #[test]
    fn error_body_shape() {
        let r = Reply::error(&ApiError::new(ErrorCode::Denied, "no").with_rule("scope.customer"));
        assert_eq!(r.status, 403);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            json!({"error": {"code": "denied", "message": "no", "rule": "scope.customer"}})
        );
    }
}
