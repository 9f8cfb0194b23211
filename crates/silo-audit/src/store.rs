//! `AuditStore`: the storage seam, implemented by SQLite ([`crate::sqlite`], embedded) and
//! PostgreSQL ([`crate::postgres`], shared by several hosts).
//!
//! A store only stores: the chain rule is in [`crate::chain`] and every check is in
//! [`crate::verify`], which reads rows back through [`AuditStore::rows_after`] exactly as the
//! backend holds them, so a second backend needs no verification code of its own.
//!
//! Contract for implementations: `append_batch` seals the drafts after the current last
//! entry with [`crate::chain::ChainHead::extend`] inside one write transaction that excludes
//! other writers (also in other processes), and returns only once the batch is durable.
//! Entries are never updated or deleted.

use std::ops::Range;

use crate::canonical::CanonicalError;
use crate::chain::ChainHead;
use crate::checkpoint::SignedCheckpoint;
use crate::entry::{Entry, EntryDraft};
use crate::hash::Hash;
use crate::query::Query;
use crate::timestamp::Timestamp;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend (SQLite, PostgreSQL…) failed.
    #[error("audit store: {context}: {source}")]
    Backend {
        /// What the store was doing.
        context: &'static str,
        /// The backend's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The PostgreSQL server refused or failed a statement, or could not be reached mid-way.
    #[error("audit store: {context}: {message}")]
    Postgres {
        /// What the store was doing.
        context: &'static str,
        /// The server's message with its detail and hint, or the client's error chain when
        /// no server answered.
        message: String,
        /// The SQLSTATE code, when the server answered (`40001`, `23505`…).
        code: Option<String>,
        /// The client's error.
        source: silo_postgres::postgres::Error,
    },
    /// The store's directory could not be created.
    #[error("audit store `{path}`: {source}")]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A stored row cannot be read back as an entry; `silo audit verify` names the damage.
    #[error("audit entry {seq} is unreadable ({reason}); run `silo audit verify`")]
    Corrupt {
        /// The row's seq.
        seq: i64,
        /// What is wrong.
        reason: String,
    },
    /// A `detail` field name for [`AuditStore::detail_sum`] that is not a plain name
    /// (ASCII letters, digits and `_`).
    #[error("`{0}` is not a detail field name (letters, digits and `_` only)")]
    FieldName(String),
    /// The log is full (more than `i64::MAX` entries) or a seq is out of range.
    #[error("audit seq `{0}` is out of range")]
    SeqOutOfRange(u64),
    /// A draft has no canonical form.
    #[error("audit entry has no canonical form: {0}")]
    Canonical(#[from] CanonicalError),
}

/// Proof that an append is durable: where the entry went and its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The entry's seq (= Merkle leaf index).
    pub seq: u64,
    /// The entry's hash (= Merkle leaf hash).
    pub hash: Hash,
    /// The entry's time.
    pub time: Timestamp,
}

/// The query columns a store keeps beside each entry. They are copies of entry fields, and
/// verification checks that they still agree with the entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexColumns {
    /// `time` in Unix microseconds.
    pub time_us: Option<i64>,
    /// `task`.
    pub task: Option<String>,
    /// `agent`.
    pub agent: Option<String>,
    /// `customer`.
    pub customer: Option<String>,
    /// `action`.
    pub action: Option<String>,
    /// `decision`.
    pub decision: Option<String>,
}

impl IndexColumns {
    /// The columns `entry` should have.
    pub fn of(entry: &Entry) -> Self {
        Self {
            time_us: Some(entry.time.unix_micros()),
            task: entry.task.as_ref().map(|t| t.to_string()),
            agent: entry.agent.as_ref().map(|a| a.to_string()),
            customer: entry.customer.as_ref().map(|c| c.to_string()),
            action: Some(entry.action.to_string()),
            decision: Some(entry.decision.as_str().to_owned()),
        }
    }

    /// The name of the first column that differs from `other`, if any.
    pub fn first_difference(&self, other: &IndexColumns) -> Option<&'static str> {
        if self.time_us != other.time_us {
            Some("time_us")
        } else if self.task != other.task {
            Some("task")
        } else if self.agent != other.agent {
            Some("agent")
        } else if self.customer != other.customer {
            Some("customer")
        } else if self.action != other.action {
            Some("action")
        } else if self.decision != other.decision {
            Some("decision")
        } else {
            None
        }
    }
}

/// One row exactly as stored, for verification. Nothing here is trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRow {
    /// The row key (may be anything, e.g. negative, if the storage was edited).
    pub seq: i64,
    /// The stored canonical entry bytes.
    pub body: Vec<u8>,
    /// The stored entry hash.
    pub hash: Vec<u8>,
    /// The stored query columns.
    pub index: IndexColumns,
}

/// How many entries carry one decision: the same `action`, `decision` and `rule`
/// ([`AuditStore::decision_counts`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionCount {
    /// The entry's action (`refund`, `llm.chat`, `membrane.request`…).
    pub action: String,
    /// `allow`, `deny` or `needs_approval`.
    pub decision: String,
    /// The deciding rule, when the entry names one.
    pub rule: Option<String>,
    /// The number of entries.
    pub count: u64,
}

/// A window of seqs as the stores' SQL takes it (`seq >= start AND seq < end`).
pub(crate) fn seq_window(seqs: &Range<u64>) -> (i64, i64) {
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    (clamp(seqs.start), clamp(seqs.end))
}

/// Checks a `detail` field name for [`AuditStore::detail_sum`].
pub(crate) fn check_field_name(field: &str) -> Result<(), StoreError> {
    if field.is_empty()
        || !field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(StoreError::FieldName(field.to_owned()));
    }
    Ok(())
}

/// Durable, append-only storage for audit entries and checkpoints.
pub trait AuditStore: Send + Sync {
    /// Appends the drafts as consecutive entries in one durable transaction.
    fn append_batch(&self, drafts: Vec<EntryDraft>) -> Result<Vec<Receipt>, StoreError>;

    /// Appends one entry durably.
    fn append(&self, draft: EntryDraft) -> Result<Receipt, StoreError> {
        self.append_batch(vec![draft])?
            .pop()
            .ok_or(StoreError::SeqOutOfRange(0))
    }

    /// Number of stored entries.
    fn len(&self) -> Result<u64, StoreError>;

    /// True when there are no entries.
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Up to `limit` rows with a row key greater than `after` (all rows when `after` is
    /// `None`, including any with a negative key), in ascending key order.
    fn rows_after(&self, after: Option<i64>, limit: usize) -> Result<Vec<StoredRow>, StoreError>;

    /// Entries matching `query` (see [`Query`] for the window), in ascending seq order.
    fn query(&self, query: &Query) -> Result<Vec<Entry>, StoreError>;

    /// One past the last entry's seq (0 for an empty log): the end of the window the
    /// counting queries below cover when counting everything so far.
    fn end_seq(&self) -> Result<u64, StoreError>;

    /// The entries with a seq in `seqs` that carry a decision (not `none`), counted by
    /// action, decision and rule and ordered by those three. Entries are never changed,
    /// so a caller keeps running totals by counting only the window after the last one
    /// (`silo_membrane_decisions_total`: the same on every host of a shared store).
    fn decision_counts(&self, seqs: Range<u64>) -> Result<Vec<DecisionCount>, StoreError>;

    /// The sum of the whole-number `detail.<field>` of the entries of `action` with a seq
    /// in `seqs` (entries without it, or with a value that is not a number, add nothing);
    /// e.g. the LLM tokens (`llm.chat`, `prompt_tokens`). `field` is a plain name
    /// ([`StoreError::FieldName`]).
    fn detail_sum(&self, action: &str, field: &str, seqs: Range<u64>) -> Result<u64, StoreError>;

    /// Keeps a signed checkpoint beside the log.
    fn save_checkpoint(&self, checkpoint: &SignedCheckpoint) -> Result<(), StoreError>;

    /// The most recently saved checkpoint.
    fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError>;
}

/// The head after the last stored row `(seq, hash)` (`None`: an empty log), as every store
/// reads it inside its append transaction.
pub(crate) fn head_after(last: Option<(i64, Vec<u8>)>) -> Result<ChainHead, StoreError> {
    let Some((seq, hash)) = last else {
        return Ok(ChainHead::GENESIS);
    };
    let corrupt = |reason: &str| StoreError::Corrupt {
        seq,
        reason: reason.to_owned(),
    };
    let next_seq = u64::try_from(seq)
        .ok()
        .and_then(|s| s.checked_add(1))
        .ok_or_else(|| corrupt("negative or maximal seq"))?;
    let prev = Hash::from_slice(&hash).ok_or_else(|| corrupt("hash is not 32 bytes"))?;
    Ok(ChainHead { next_seq, prev })
}

/// The counting queries' contract, run against each backend by its tests.
#[cfg(test)]
pub(crate) fn check_counting(store: &dyn AuditStore) {
    use crate::detail::Detail;
    use crate::entry::Decision;
    use crate::ids::{ActionName, Actor, RuleId};
    let entry =
        |action: &str, decision: Decision, rule: Option<&str>, detail: serde_json::Value| {
            let mut d = EntryDraft::new(
                Actor::new("membrane").unwrap(),
                ActionName::new(action).unwrap(),
                decision,
            )
            .detail(Detail::new(detail).unwrap());
            if let Some(rule) = rule {
                d = d.rule(RuleId::new(rule).unwrap());
            }
            d
        };
    use serde_json::json;
    let all = 0..u64::MAX;
    assert_eq!(store.end_seq().unwrap(), 0);
    assert!(store.decision_counts(all.clone()).unwrap().is_empty());
    assert_eq!(
        store
            .detail_sum("llm.chat", "prompt_tokens", all.clone())
            .unwrap(),
        0
    );
    store
        .append_batch(vec![
            entry(
                "llm.chat",
                Decision::Allow,
                Some("default.allow"),
                json!({"prompt_tokens": 20, "completion_tokens": 5}),
            ),
            entry(
                "llm.chat",
                Decision::Allow,
                Some("default.allow"),
                json!({"prompt_tokens": 7}),
            ),
            entry(
                "llm.chat",
                Decision::Deny,
                Some("llm.budget"),
                json!({"prompt_tokens": "many"}),
            ),
            entry(
                "refund",
                Decision::Deny,
                Some("refund.limit"),
                json!({"prompt_tokens": 1000}),
            ),
            entry("refund", Decision::NeedsApproval, None, json!({})),
            entry("router.event", Decision::NotApplicable, None, json!({})),
        ])
        .unwrap();
    assert_eq!(store.end_seq().unwrap(), 6);
    let counts = |seqs: Range<u64>| -> Vec<(String, String, Option<String>, u64)> {
        store
            .decision_counts(seqs)
            .unwrap()
            .into_iter()
            .map(|c| (c.action, c.decision, c.rule, c.count))
            .collect()
    };
    let row = |a: &str, d: &str, r: Option<&str>, n| (a.into(), d.into(), r.map(Into::into), n);
    assert_eq!(
        counts(all.clone()),
        vec![
            row("llm.chat", "allow", Some("default.allow"), 2),
            row("llm.chat", "deny", Some("llm.budget"), 1),
            row("refund", "deny", Some("refund.limit"), 1),
            row("refund", "needs_approval", None, 1),
        ]
    );
    // A window counts only its own entries: seqs 1, 2 and 3.
    assert_eq!(
        counts(1..4),
        vec![
            row("llm.chat", "allow", Some("default.allow"), 1),
            row("llm.chat", "deny", Some("llm.budget"), 1),
            row("refund", "deny", Some("refund.limit"), 1),
        ]
    );
    // Only the action's entries, only numbers.
    let sum = |field: &str, seqs: Range<u64>| store.detail_sum("llm.chat", field, seqs);
    assert_eq!(sum("prompt_tokens", all.clone()).unwrap(), 27);
    assert_eq!(sum("prompt_tokens", 1..6).unwrap(), 7);
    assert_eq!(sum("completion_tokens", all.clone()).unwrap(), 5);
    assert_eq!(sum("nothing", all.clone()).unwrap(), 0);
    assert!(matches!(
        sum("x' OR 1=1 --", all.clone()),
        Err(StoreError::FieldName(_))
    ));
    assert!(matches!(sum("", all), Err(StoreError::FieldName(_))));
}
