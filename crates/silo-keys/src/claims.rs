//! The claims of a base key and a task key: plain serde types, never any key material.

use serde::{Deserialize, Serialize};

/// Audience of every base key; a token with another audience is not a base key.
pub const BASE_AUDIENCE: &str = "silo:base";
/// Audience of every task key; a token with another audience is not a task key.
pub const TASK_AUDIENCE: &str = "silo:task";

/// What an agent role may do. Minted at deploy for one agent-folder content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseKey {
    /// Always [`BASE_AUDIENCE`].
    pub aud: String,
    /// Unique token id, for revocation.
    pub jti: String,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Expiry (unix seconds); base keys live long (a deploy), but not forever.
    pub exp: u64,
    /// Agent name, e.g. `refund-agent`.
    pub agent: String,
    /// Agent version as deployed.
    pub version: String,
    /// Content hash of the agent folder this key was minted for (`sha256:…`).
    pub folder_hash: String,
    /// What the agent may do, with constraints.
    pub caps: Capabilities,
}

/// Capabilities granted by a base key. An absent capability is not granted.
/// Unknown capability names are refused when parsing, never ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Refunds up to a limit in one currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundCap>,
    /// Sending email from listed templates.
    #[serde(
        default,
        rename = "email.send",
        skip_serializing_if = "Option::is_none"
    )]
    pub email_send: Option<EmailSendCap>,
    /// Sending SMS from listed templates.
    #[serde(default, rename = "sms.send", skip_serializing_if = "Option::is_none")]
    pub sms_send: Option<EmailSendCap>,
    /// Reading listed fields of the task's customer record (and listed related records:
    /// `orders`, `history`).
    #[serde(default, rename = "data.read", skip_serializing_if = "Option::is_none")]
    pub data_read: Option<DataReadCap>,
    /// Running listed named write operations (e.g. `case.set_status`, `case.add_note`).
    #[serde(
        default,
        rename = "data.write",
        skip_serializing_if = "Option::is_none"
    )]
    pub data_write: Option<DataWriteCap>,
    /// Escalation targets the agent may hand over to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate: Option<Vec<String>>,
    /// LLM access with a token budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmCap>,
}

/// `refund: {max_cents, currency}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundCap {
    /// Largest single refund, in integer minor units (cents).
    pub max_cents: i64,
    /// ISO 4217 code, upper case (e.g. `USD`).
    pub currency: String,
}

/// `email.send: {templates}` (and `sms.send`, the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSendCap {
    /// Template names the agent may send.
    pub templates: Vec<String>,
}

/// `data.read: {fields}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataReadCap {
    /// Customer-record fields the agent may read.
    pub fields: Vec<String>,
}

/// `data.write: {ops}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataWriteCap {
    /// Named write operations the agent may run; never raw SQL.
    pub ops: Vec<String>,
}

/// `llm: {max_tokens_per_task}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmCap {
    /// Total LLM tokens one task may use.
    pub max_tokens_per_task: u64,
}

/// Where in a workflow a task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowRef {
    /// Workflow run id.
    pub run: String,
    /// Stage index or name within the run.
    pub stage: String,
}

/// What one invocation may touch. Minted by the router per dispatch, minutes-long, bound to one cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskKey {
    /// Always [`TASK_AUDIENCE`].
    pub aud: String,
    /// Unique token id, for revocation.
    pub jti: String,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Not valid before (unix seconds).
    pub nbf: u64,
    /// Expiry (unix seconds), minutes after `iat`.
    pub exp: u64,
    /// Task id.
    pub task: String,
    /// Agent that runs the task; must equal the base key's agent.
    pub agent: String,
    /// Customer token (never a raw identifier) the task is scoped to.
    pub customer: String,
    /// Case id.
    pub case: String,
    /// Workflow run and stage, when the task runs inside a workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowRef>,
    /// Id of the cell this key is bound to; refused on any other cell's socket.
    pub cell: String,
}

impl Capabilities {
    /// Parses capabilities from JSON, refusing unknown capability names.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let caps: Self = serde_json::from_str(json).map_err(|e| e.to_string())?;
        caps.validate()?;
        Ok(caps)
    }

    /// Checks constraints that serde cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(r) = &self.refund {
            if r.max_cents < 0 {
                return Err(format!(
                    "`refund.max_cents` is negative (`{}`)",
                    r.max_cents
                ));
            }
            if !is_currency_code(&r.currency) {
                return Err(format!(
                    "`refund.currency` `{}` is not a three-letter upper-case code",
                    r.currency
                ));
            }
        }
        let lists = [
            (
                "email.send.templates",
                self.email_send.as_ref().map(|e| &e.templates),
            ),
            (
                "sms.send.templates",
                self.sms_send.as_ref().map(|e| &e.templates),
            ),
            (
                "data.read.fields",
                self.data_read.as_ref().map(|d| &d.fields),
            ),
            ("data.write.ops", self.data_write.as_ref().map(|d| &d.ops)),
            ("escalate", self.escalate.as_ref()),
        ];
        for (name, list) in lists {
            if let Some(list) = list {
                if list.iter().any(|s| s.is_empty()) {
                    return Err(format!("`{name}` contains an empty name"));
                }
            }
        }
        Ok(())
    }
}

/// `true` for three ASCII upper-case letters.
pub(crate) fn is_currency_code(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

impl BaseKey {
    /// Checks the claims are fit to sign.
    pub fn validate(&self) -> Result<(), String> {
        if self.aud != BASE_AUDIENCE {
            return Err(format!("base key audience must be `{BASE_AUDIENCE}`"));
        }
        non_empty("agent", &self.agent)?;
        non_empty("version", &self.version)?;
        non_empty("jti", &self.jti)?;
        if !self.folder_hash.starts_with("sha256:") {
            return Err(format!(
                "`folder_hash` `{}` is not a `sha256:` hash",
                self.folder_hash
            ));
        }
        if self.exp <= self.iat {
            return Err("`exp` must be after `iat`".into());
        }
        self.caps.validate()
    }
}

impl TaskKey {
    /// Checks the claims are fit to sign.
    pub fn validate(&self) -> Result<(), String> {
        if self.aud != TASK_AUDIENCE {
            return Err(format!("task key audience must be `{TASK_AUDIENCE}`"));
        }
        non_empty("jti", &self.jti)?;
        non_empty("task", &self.task)?;
        non_empty("agent", &self.agent)?;
        non_empty("customer", &self.customer)?;
        non_empty("case", &self.case)?;
        non_empty("cell", &self.cell)?;
        if self.exp <= self.nbf || self.nbf < self.iat {
            return Err("need `iat` <= `nbf` < `exp`".into());
        }
        if self.exp - self.iat > crate::mint::MAX_TASK_TTL_SECS {
            return Err(format!(
                "task key lifetime {} s exceeds the maximum of {} s",
                self.exp - self.iat,
                crate::mint::MAX_TASK_TTL_SECS
            ));
        }
        Ok(())
    }
}

fn non_empty(name: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        Err(format!("`{name}` is empty"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_parse_the_issue_example() {
        let caps = Capabilities::from_json(
            r#"{"refund":{"max_cents":50000,"currency":"USD"},
                "email.send":{"templates":["refund_confirmation","apology"]},
                "data.read":{"fields":["name","balance"]},
                "escalate":["manager","human"],
                "llm":{"max_tokens_per_task":20000}}"#,
        )
        .unwrap();
        assert_eq!(caps.refund.unwrap().max_cents, 50000);
        assert_eq!(caps.escalate.unwrap(), vec!["manager", "human"]);
    }

    #[test]
    fn unknown_capability_is_an_error() {
        let err = Capabilities::from_json(r#"{"wire_transfer":{}}"#).unwrap_err();
        assert!(err.contains("wire_transfer"), "{err}");
    }

    #[test]
    fn negative_limit_and_bad_currency_are_refused() {
        assert!(
            Capabilities::from_json(r#"{"refund":{"max_cents":-1,"currency":"USD"}}"#).is_err()
        );
        assert!(Capabilities::from_json(r#"{"refund":{"max_cents":1,"currency":"usd"}}"#).is_err());
        assert!(
            Capabilities::from_json(r#"{"refund":{"max_cents":1.5,"currency":"USD"}}"#).is_err()
        );
    }
}
