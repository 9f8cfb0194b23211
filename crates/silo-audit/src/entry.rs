//! `EntryDraft` (what a caller records) and `Entry` (what the log stored, with seq, time and prev).
//!
//! Only identifier newtypes and a bounded [`Detail`] can go in, so an entry cannot hold a
//! raw key or token: keys are recorded by `kid` and `jti` ([`KeyRef`]).

use serde::{Deserialize, Serialize};

use crate::canonical::{to_canonical, CanonicalError};
use crate::detail::Detail;
use crate::hash::Hash;
use crate::ids::{ActionName, Actor, AgentName, CustomerToken, KeyId, RuleId, TaskId, TokenId};
use crate::merkle::leaf_hash;
use crate::timestamp::Timestamp;

/// The outcome of a decision point, or `none` when nothing was decided (e.g. a task arrived).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The action was allowed.
    Allow,
    /// The action was denied.
    Deny,
    /// The action waits for a human's approval.
    NeedsApproval,
    /// No decision was taken; written `none`.
    #[serde(rename = "none")]
    NotApplicable,
}

impl Decision {
    /// The wire name (`allow`, `deny`, `needs_approval`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::NeedsApproval => "needs_approval",
            Decision::NotApplicable => "none",
        }
    }
}

/// Why a string is not a decision.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a decision; use `allow`, `deny`, `needs_approval` or `none`")]
pub struct DecisionParseError(pub String);

impl std::str::FromStr for Decision {
    type Err = DecisionParseError;
    fn from_str(s: &str) -> Result<Self, DecisionParseError> {
        match s {
            "allow" => Ok(Decision::Allow),
            "deny" => Ok(Decision::Deny),
            "needs_approval" => Ok(Decision::NeedsApproval),
            "none" => Ok(Decision::NotApplicable),
            _ => Err(DecisionParseError(s.to_owned())),
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key named by its ids: the signing key's `kid` and, for a token, its `jti`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRef {
    /// The signing key's id.
    pub kid: KeyId,
    /// The token's id, when the key is a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<TokenId>,
}

impl KeyRef {
    /// A reference to a token signed by `kid` with id `jti`.
    pub fn token(kid: KeyId, jti: TokenId) -> Self {
        Self {
            kid,
            jti: Some(jti),
        }
    }
}

/// The keys involved in an action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRefs {
    /// The agent's base key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<KeyRef>,
    /// The task key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<KeyRef>,
}

impl KeyRefs {
    /// True when no key is named (the entry then omits `keys`).
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.task.is_none()
    }
}

/// What a caller asks the log to record. The log adds `seq`, `prev` and (unless set) `time`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryDraft {
    /// When it happened; `None` means the time of the append.
    pub time: Option<Timestamp>,
    /// Who acted.
    pub actor: Actor,
    /// The task concerned.
    pub task: Option<TaskId>,
    /// The agent concerned.
    pub agent: Option<AgentName>,
    /// The customer concerned (the vault's token).
    pub customer: Option<CustomerToken>,
    /// The keys presented or minted.
    pub keys: KeyRefs,
    /// What was attempted or happened.
    pub action: ActionName,
    /// The decision taken.
    pub decision: Decision,
    /// The rule that decided.
    pub rule: Option<RuleId>,
    /// Result and small facts (status, amount in minor units, reason).
    pub detail: Detail,
}

impl EntryDraft {
    /// A draft with the three fields every entry has.
    pub fn new(actor: Actor, action: ActionName, decision: Decision) -> Self {
        Self {
            time: None,
            actor,
            task: None,
            agent: None,
            customer: None,
            keys: KeyRefs::default(),
            action,
            decision,
            rule: None,
            detail: Detail::empty(),
        }
    }

    /// Sets the time (default: the time of the append).
    pub fn at(mut self, time: Timestamp) -> Self {
        self.time = Some(time);
        self
    }

    /// Sets the task.
    pub fn task(mut self, task: TaskId) -> Self {
        self.task = Some(task);
        self
    }

    /// Sets the agent.
    pub fn agent(mut self, agent: AgentName) -> Self {
        self.agent = Some(agent);
        self
    }

    /// Sets the customer token.
    pub fn customer(mut self, customer: CustomerToken) -> Self {
        self.customer = Some(customer);
        self
    }

    /// Names the base key.
    pub fn base_key(mut self, key: KeyRef) -> Self {
        self.keys.base = Some(key);
        self
    }

    /// Names the task key.
    pub fn task_key(mut self, key: KeyRef) -> Self {
        self.keys.task = Some(key);
        self
    }

    /// Sets the deciding rule.
    pub fn rule(mut self, rule: RuleId) -> Self {
        self.rule = Some(rule);
        self
    }

    /// Sets the detail object.
    pub fn detail(mut self, detail: Detail) -> Self {
        self.detail = detail;
        self
    }
}

/// One stored entry. Its canonical JSON is what is hashed; `prev` chains it to the entry
/// before, so its hash (= its Merkle leaf hash) covers the whole history before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the log, from 0; equal to the Merkle leaf index.
    pub seq: u64,
    /// When it happened (RFC 3339 UTC).
    pub time: Timestamp,
    /// Who acted.
    pub actor: Actor,
    /// The task concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskId>,
    /// The agent concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentName>,
    /// The customer token concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerToken>,
    /// The keys involved, by id.
    #[serde(default, skip_serializing_if = "KeyRefs::is_empty")]
    pub keys: KeyRefs,
    /// What was attempted or happened.
    pub action: ActionName,
    /// The decision taken.
    pub decision: Decision,
    /// The rule that decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleId>,
    /// Result and small facts.
    #[serde(default, skip_serializing_if = "Detail::is_empty")]
    pub detail: Detail,
    /// Hash of the entry before (all zeros for seq 0).
    pub prev: Hash,
}

/// Why stored bytes are not a valid entry.
#[derive(Debug, thiserror::Error)]
pub enum EntryDecodeError {
    /// Not JSON, a missing or unknown field, or a field that fails validation.
    #[error("entry does not parse: {0}")]
    Parse(#[from] serde_json::Error),
    /// Parses, but the bytes are not the canonical encoding of what they say.
    #[error("entry is not in canonical form")]
    NotCanonical,
    /// Parses, but has no canonical form (cannot happen for entries the log wrote).
    #[error("entry has no canonical form: {0}")]
    Canonical(#[from] CanonicalError),
}

impl Entry {
    /// Seals a draft at position `seq` after the entry whose hash is `prev`.
    pub fn seal(draft: EntryDraft, seq: u64, prev: Hash, now: Timestamp) -> Self {
        Self {
            seq,
            time: draft.time.unwrap_or(now),
            actor: draft.actor,
            task: draft.task,
            agent: draft.agent,
            customer: draft.customer,
            keys: draft.keys,
            action: draft.action,
            decision: draft.decision,
            rule: draft.rule,
            detail: draft.detail,
            prev,
        }
    }

    /// The canonical JSON bytes that are stored, hashed and chained.
    pub fn canonical(&self) -> Result<Vec<u8>, CanonicalError> {
        to_canonical(self)
    }

    /// Parses stored bytes, refusing any encoding but the canonical one.
    pub fn decode(bytes: &[u8]) -> Result<Self, EntryDecodeError> {
        let entry: Entry = serde_json::from_slice(bytes)?;
        if entry.canonical()? != bytes {
            return Err(EntryDecodeError::NotCanonical);
        }
        Ok(entry)
    }

    /// The entry's hash: its Merkle leaf hash, `SHA-256(0x00 || canonical)`.
    pub fn hash(&self) -> Result<Hash, CanonicalError> {
        Ok(leaf_hash(&self.canonical()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Entry {
        let draft = EntryDraft::new(
            Actor::new("membrane").unwrap(),
            ActionName::new("refund.issue").unwrap(),
            Decision::Deny,
        )
        .task(TaskId::new("t-1").unwrap())
        .agent(AgentName::new("refund-agent").unwrap())
        .customer(CustomerToken::new("cus_7").unwrap())
        .task_key(KeyRef::token(
            KeyId::new("k1").unwrap(),
            TokenId::new("j1").unwrap(),
        ))
        .rule(RuleId::new("refund.max_cents").unwrap())
        .detail(Detail::new(json!({"amount_cents": 90000})).unwrap());
        let now = Timestamp::parse_rfc3339("2026-11-23T13:00:00Z").unwrap();
        Entry::seal(draft, 7, Hash::ZERO, now)
    }

    #[test]
    fn canonical_form_is_sorted_compact_and_stable() {
        let bytes = sample().canonical().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"action":"refund.issue","actor":"membrane","agent":"refund-agent","#,
                r#""customer":"cus_7","decision":"deny","detail":{"amount_cents":90000},"#,
                r#""keys":{"task":{"jti":"j1","kid":"k1"}},"#,
                r#""prev":"0000000000000000000000000000000000000000000000000000000000000000","#,
                r#""rule":"refund.max_cents","seq":7,"task":"t-1","#,
                r#""time":"2026-11-23T13:00:00.000000Z"}"#
            )
        );
        assert_eq!(Entry::decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn decode_refuses_non_canonical_and_unknown_fields() {
        let text = String::from_utf8(sample().canonical().unwrap()).unwrap();
        let spaced = text.replacen(',', ", ", 1);
        assert!(matches!(
            Entry::decode(spaced.as_bytes()),
            Err(EntryDecodeError::NotCanonical)
        ));
        let extra = text.replacen('{', r#"{"zzz":1,"#, 1);
        assert!(matches!(
            Entry::decode(extra.as_bytes()),
            Err(EntryDecodeError::Parse(_))
        ));
        let nulled = text.replacen(r#""rule":"refund.max_cents""#, r#""rule":null"#, 1);
        assert!(matches!(
            Entry::decode(nulled.as_bytes()),
            Err(EntryDecodeError::NotCanonical)
        ));
    }

    #[test]
    fn decisions_round_trip_their_wire_names() {
        for d in [
            Decision::Allow,
            Decision::Deny,
            Decision::NeedsApproval,
            Decision::NotApplicable,
        ] {
            assert_eq!(d.as_str().parse::<Decision>().unwrap(), d);
            assert_eq!(serde_json::to_value(d).unwrap(), json!(d.as_str()));
        }
        assert!("maybe".parse::<Decision>().is_err());
    }
}
