//! The membrane's side of privacy, on top of `silo-pii`: everything that can hold personal
//! data is tokenised here on its way to a cell (schema-declared fields by kind, free text
//! by known values and recognizers, the task input), and the only token resolution — for a
//! message's recipient — happens here too. Errors never carry a value: a vault failure is an
//! `internal` error whose detail goes to the host's log.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use silo_pii::{KnownSet, KnownValue, PiiKind, Vault};

use crate::connectors::ConnectorError;
use crate::wire::{ApiError, ErrorCode};

/// Most tasks whose compiled known values are kept. A compiled set is ~140 KiB and a task
/// only needs it while its cell runs (a few at a time per process): at 1,024 a long-running
/// `silo serve` grew to ~165 MiB (bench/all.sh's daemon memory figure).
const KNOWN_CACHE_TASKS: usize = 64;

type KnownCache = HashMap<String, (u64, Arc<KnownSet>)>;

/// The vault, as the membrane uses it.
#[derive(Debug)]
pub(crate) struct Privacy {
    vault: Vault,
    /// Compiling a customer's known values costs ~0.6 ms, more than the rest of a request:
    /// kept per task, keyed by a fingerprint of the values so a changed record recompiles.
    known: Mutex<KnownCache>,
}

fn vault_failed(e: &silo_pii::PiiError) -> ApiError {
    tracing::error!(error = %e, "pii vault failed");
    ApiError::new(
        ErrorCode::Internal,
        "the privacy vault failed; nothing was returned",
    )
}

impl Privacy {
    /// `<data_dir>/vault`: the vault database and its master key.
    pub(crate) fn dir(data_dir: &Path) -> PathBuf {
        data_dir.join("vault")
    }

    /// Opens (creating if needed) the vault under `data_dir`.
    pub(crate) fn open(data_dir: &Path) -> Result<Self, ConnectorError> {
        let vault = Vault::open(&Self::dir(data_dir)).map_err(|e| ConnectorError::Corrupt {
            connector: "vault",
            reason: e.to_string(),
        })?;
        Ok(Self::new(vault))
    }

    /// A privacy layer over a given vault.
    pub(crate) fn new(vault: Vault) -> Self {
        Self {
            vault,
            known: Mutex::default(),
        }
    }

    /// The compiled known values of a task's customer.
    pub(crate) fn known(
        &self,
        task: &str,
        values: Vec<KnownValue>,
    ) -> Result<Arc<KnownSet>, ApiError> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for v in &values {
            (v.kind.as_str(), v.value.as_str()).hash(&mut h);
        }
        let fingerprint = h.finish();
        let mut cache = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((f, set)) = cache.get(task) {
            if *f == fingerprint {
                return Ok(set.clone());
            }
        }
        let set = Arc::new(KnownSet::new(&values).map_err(|e| vault_failed(&e))?);
        if cache.len() >= KNOWN_CACHE_TASKS {
            cache.clear();
        }
        cache.insert(task.to_string(), (fingerprint, set.clone()));
        Ok(set)
    }

    /// The task-scoped token for a schema-declared PII value.
    pub(crate) fn token(&self, task: &str, kind: PiiKind, value: &str) -> Result<String, ApiError> {
        if value.trim().is_empty() {
            return Ok(String::new());
        }
        self.vault
            .tokenize_value(task, kind, value)
            .map(|t| t.to_string())
            .map_err(|e| vault_failed(&e))
    }

    /// Free text with known values and recognised PII replaced by tokens and token-shaped
    /// input escaped.
    pub(crate) fn text(
        &self,
        task: &str,
        text: &str,
        known: &KnownSet,
    ) -> Result<String, ApiError> {
        self.vault
            .tokenize_text(task, text, known)
            .map(|t| t.text)
            .map_err(|e| vault_failed(&e))
    }

    /// Text crossing the LLM boundary (a prompt leaving, an answer coming back): every known
    /// value and recognised PII replaced by this task's token. Unlike [`Self::text`],
    /// token-shaped strings are left as they are: the agent's own tokens are meant to reach
    /// the model and to come back, and hydration only ever accepts tokens the vault issued
    /// for this task. Returns the text and how many values were replaced.
    pub(crate) fn boundary_text(
        &self,
        task: &str,
        text: &str,
        known: &KnownSet,
    ) -> Result<(String, usize), ApiError> {
        let spans = silo_pii::scan(text, known).map_err(|e| vault_failed(&e))?;
        if spans.is_empty() {
            return Ok((text.to_string(), 0));
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for span in &spans {
            let (Some(before), Some(value)) =
                (text.get(at..span.start), text.get(span.start..span.end))
            else {
                continue;
            };
            out.push_str(before);
            out.push_str(&self.token(task, span.kind, value)?);
            at = span.end;
        }
        out.push_str(text.get(at..).unwrap_or(""));
        Ok((out, spans.len()))
    }

    /// The value behind a token this task was given, with its kind; `None` for anything
    /// else (another task's token, an escaped or forged one, plain text).
    pub(crate) fn resolve(
        &self,
        task: &str,
        token: &str,
    ) -> Result<Option<(PiiKind, String)>, ApiError> {
        self.vault
            .resolve(task, token.trim())
            .map_err(|e| vault_failed(&e))
    }

    /// Every string of a JSON value tokenised (object keys too: they can hold PII).
    pub(crate) fn json(
        &self,
        task: &str,
        value: &Value,
        known: &KnownSet,
    ) -> Result<Value, ApiError> {
        Ok(match value {
            Value::String(s) => Value::from(self.text(task, s, known)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.json(task, v, known))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    out.insert(self.text(task, k, known)?, self.json(task, v, known)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}
