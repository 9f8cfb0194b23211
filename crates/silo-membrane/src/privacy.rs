//! The membrane's side of privacy: every value on its way to a cell is tokenised here, and
//! every token on its way into a sink is resolved here. TEMPORARY in-memory stand-in until
//! the `silo-pii` vault is wired in.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::wire::ApiError;

/// A value the membrane knows belongs to the task's customer (kind, raw value).
pub(crate) type Known = (&'static str, String);

#[derive(Debug, Default)]
pub(crate) struct Privacy {
    map: Mutex<HashMap<(String, String), (String, String)>>,
}

impl Privacy {
    pub(crate) fn token(&self, task: &str, kind: &str, value: &str) -> Result<String, ApiError> {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((t, _)) = map
            .iter()
            .find(|((tk, _), (_, v))| tk == task && v == value)
            .map(|(k, v)| (k.1.clone(), v.clone()))
        {
            return Ok(t);
        }
        let n = map
            .iter()
            .filter(|((tk, _), (k, _))| tk == task && k == kind)
            .count()
            + 1;
        let token = format!("[{kind}_{n}]");
        map.insert(
            (task.to_string(), token.clone()),
            (kind.to_string(), value.to_string()),
        );
        Ok(token)
    }

    pub(crate) fn text(&self, task: &str, text: &str, known: &[Known]) -> Result<String, ApiError> {
        let mut out = text.to_string();
        for (kind, value) in known {
            if !value.is_empty() && out.contains(value.as_str()) {
                let t = self.token(task, kind, value)?;
                out = out.replace(value.as_str(), &t);
            }
        }
        Ok(out)
    }

    pub(crate) fn resolve(
        &self,
        task: &str,
        token: &str,
    ) -> Result<Option<(String, String)>, ApiError> {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(map.get(&(task.to_string(), token.to_string())).cloned())
    }
}

/// Tokenises every string (keys stay as they are) of a JSON value.
pub(crate) fn tokenise_json(
    privacy: &Privacy,
    task: &str,
    value: &serde_json::Value,
    known: &[Known],
) -> Result<serde_json::Value, ApiError> {
    use serde_json::Value;
    Ok(match value {
        Value::String(s) => Value::from(privacy.text(task, s, known)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| tokenise_json(privacy, task, v, known))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(k.clone(), tokenise_json(privacy, task, v, known)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}
