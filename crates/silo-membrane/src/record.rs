//! One audit entry per request, built up as the request goes through the pipeline: ids,
//! keys by `kid`/`jti`, the decision and its rule, and small facts. Never a token, never
//! free text from the agent (summaries, reasons and KV values stay out of the log).

use serde_json::{Map, Value};
use silo_audit::{
    ActionName, Actor, AgentName, CustomerToken, Decision, Detail, EntryDraft, RuleId, TaskId,
};

use crate::auth::Verified;
use crate::binding::CellBinding;
use crate::wire::ErrorCode;

/// Who the audit log names as acting.
const ACTOR: &str = "membrane";

/// The facts of one request, on their way to the audit log.
#[derive(Debug)]
pub(crate) struct Record {
    action: &'static str,
    decision: Decision,
    rule: Option<String>,
    detail: Map<String, Value>,
    task: Option<TaskId>,
    agent: Option<AgentName>,
    customer: Option<CustomerToken>,
    base_ref: Option<silo_audit::KeyRef>,
    task_ref: Option<silo_audit::KeyRef>,
}

impl Record {
    pub(crate) fn new(action: &'static str, cell: &CellBinding) -> Self {
        let mut detail = Map::new();
        detail.insert("cell".into(), Value::from(cell.cell_id()));
        Self {
            action,
            decision: Decision::NotApplicable,
            rule: None,
            detail,
            task: None,
            agent: None,
            customer: None,
            base_ref: None,
            task_ref: None,
        }
    }

    /// Names the task, agent, customer and keys once both keys verified.
    pub(crate) fn identify(&mut self, v: &Verified) {
        let task = v.creds.task();
        self.task = TaskId::new(task.task.as_str()).ok();
        self.agent = AgentName::new(v.creds.agent()).ok();
        self.customer = CustomerToken::new(task.customer.as_str()).ok();
        self.base_ref = v.base_ref.clone();
        self.task_ref = v.task_ref.clone();
    }

    pub(crate) fn decide(&mut self, decision: Decision, rule: impl Into<String>) {
        self.decision = decision;
        self.rule = Some(rule.into());
    }

    pub(crate) fn decided(&self) -> bool {
        self.decision != Decision::NotApplicable
    }

    pub(crate) fn fact(&mut self, key: &'static str, value: impl Into<Value>) {
        self.detail.insert(key.into(), value.into());
    }

    /// The entry, with the HTTP status and (for errors) the code that went back.
    pub(crate) fn into_draft(
        mut self,
        status: u16,
        code: Option<ErrorCode>,
    ) -> Result<EntryDraft, String> {
        self.detail.insert("status".into(), Value::from(status));
        if let Some(code) = code {
            self.detail
                .insert("code".into(), Value::from(code.as_str()));
        }
        let rule = match self.rule.as_deref().map(RuleId::new) {
            Some(Ok(rule)) => Some(rule),
            // An operator rule name outside the id alphabet: say so rather than drop the entry.
            Some(Err(_)) => RuleId::new("policy.rule_unrecordable").ok(),
            None => None,
        };
        let actor = Actor::new(ACTOR).map_err(|e| e.to_string())?;
        let action = ActionName::new(self.action).map_err(|e| e.to_string())?;
        let detail = Detail::new(Value::Object(self.detail)).map_err(|e| e.to_string())?;
        let mut draft = EntryDraft::new(actor, action, self.decision).detail(detail);
        if let Some(rule) = rule {
            draft = draft.rule(rule);
        }
        if let Some(task) = self.task {
            draft = draft.task(task);
        }
        if let Some(agent) = self.agent {
            draft = draft.agent(agent);
        }
        if let Some(customer) = self.customer {
            draft = draft.customer(customer);
        }
        if let Some(k) = self.base_ref {
            draft = draft.base_key(k);
        }
        if let Some(k) = self.task_ref {
            draft = draft.task_key(k);
        }
        Ok(draft)
    }
}
