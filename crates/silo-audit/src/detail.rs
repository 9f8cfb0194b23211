//! `Detail`: the small JSON object an entry carries as its result (status, amount, reason…).
//!
//! Limits keep the log a record of decisions, not a data store: an object at the top,
//! at most [`MAX_DETAIL_BYTES`] canonical bytes, nesting at most [`MAX_DETAIL_DEPTH`],
//! integers only, and no string shaped like a JWS. Detail is not a PII filter: callers pass
//! tokenised text (`[NAME_1]`), which is the membrane's and the vault's job.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::canonical::{canonical_value, CanonicalError};
use crate::ids::looks_like_jws;

/// Largest canonical encoding of a detail object.
pub const MAX_DETAIL_BYTES: usize = 4096;
/// Deepest nesting of objects and arrays (the top-level object is depth 1).
pub const MAX_DETAIL_DEPTH: usize = 8;

/// Why a value was refused as detail.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DetailError {
    /// The top level is not a JSON object.
    #[error("detail must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    /// Too big once canonical.
    #[error("detail is {0} bytes; at most {MAX_DETAIL_BYTES} are allowed")]
    TooLarge(usize),
    /// Nested too deep.
    #[error("detail nests deeper than {MAX_DETAIL_DEPTH} levels")]
    TooDeep,
    /// A string in it looks like a token.
    #[error("detail field `{0}` looks like a token (`eyJ…`); record its `kid`/`jti` instead")]
    LooksLikeToken(String),
    /// No canonical form (floats, huge integers).
    #[error("detail has no canonical form: {0}")]
    Canonical(#[from] CanonicalError),
}

/// A validated small JSON object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct Detail(Map<String, Value>);

impl Detail {
    /// An empty object.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Validates `value` as detail.
    pub fn new(value: Value) -> Result<Self, DetailError> {
        let Value::Object(map) = value else {
            return Err(DetailError::NotAnObject(kind_of(&value)));
        };
        let value = Value::Object(map);
        check_value("", &value, 1)?;
        let len = canonical_value(&value)?.len();
        if len > MAX_DETAIL_BYTES {
            return Err(DetailError::TooLarge(len));
        }
        match value {
            Value::Object(map) => Ok(Self(map)),
            _ => Err(DetailError::NotAnObject("other")),
        }
    }

    /// True when there are no fields (the entry then omits `detail`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// One field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
}

impl TryFrom<Value> for Detail {
    type Error = DetailError;
    fn try_from(value: Value) -> Result<Self, DetailError> {
        Self::new(value)
    }
}

impl From<Detail> for Value {
    fn from(detail: Detail) -> Value {
        Value::Object(detail.0)
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_value(path: &str, value: &Value, depth: usize) -> Result<(), DetailError> {
    if depth > MAX_DETAIL_DEPTH && (value.is_array() || value.is_object()) {
        return Err(DetailError::TooDeep);
    }
    match value {
        Value::String(s) if looks_like_jws(s) => Err(DetailError::LooksLikeToken(path.to_owned())),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_value(&format!("{path}[{i}]"), v, depth + 1)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let child = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            check_value(&child, v, depth + 1)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_small_objects() {
        let d =
            Detail::new(json!({"status": 200, "amount_cents": 1250, "to": "[EMAIL_1]"})).unwrap();
        assert_eq!(d.get("status"), Some(&json!(200)));
        assert!(Detail::empty().is_empty());
    }

    #[test]
    fn refuses_non_objects_floats_tokens_and_bulk() {
        assert_eq!(
            Detail::new(json!([1])),
            Err(DetailError::NotAnObject("an array"))
        );
        assert!(matches!(
            Detail::new(json!({"amount": 12.5})),
            Err(DetailError::Canonical(CanonicalError::Float(_)))
        ));
        assert_eq!(
            Detail::new(json!({"auth": {"bearer": "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"}})),
            Err(DetailError::LooksLikeToken("auth.bearer".into()))
        );
        assert!(matches!(
            Detail::new(json!({"blob": "x".repeat(MAX_DETAIL_BYTES)})),
            Err(DetailError::TooLarge(_))
        ));
        let nest = |n| (0..n).fold(json!(1), |acc, _| json!({ "a": acc }));
        assert!(Detail::new(nest(MAX_DETAIL_DEPTH)).is_ok());
        assert_eq!(
            Detail::new(nest(MAX_DETAIL_DEPTH + 1)),
            Err(DetailError::TooDeep)
        );
    }
}
