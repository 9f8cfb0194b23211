//! Importing Agent OS policy documents: a pure converter from the text of an Agent OS
//! (`agent-os-kernel`, the Agent Governance Toolkit) policy to a silo policy YAML that
//! [`PolicySet::from_yaml_str`] loads, and a [`Report`] of what was converted and what
//! silo cannot express. Nothing is dropped silently: every key of the input is either
//! mapped (listed in `converted`) or listed in `unsupported` with the reason.
//!
//! Three published Agent OS formats are read, told apart by their top-level keys:
//!
//! - **Policy documents** (`rules` / `defaults`): the Pydantic models `PolicyDocument`,
//!   `PolicyRule`, `PolicyCondition`, `PolicyDefaults` in `agent_os/policies/schema.py`
//!   and the JSON Schema `agent_os/policies/policy_schema.json` of
//!   microsoft/agent-governance-toolkit (`agent-governance-python/agent-os/src/…`),
//!   evaluated by `agent_os/policies/evaluator.py`: rules sorted by `priority`
//!   (highest first, stable), the first whose one condition holds decides; `allow` and
//!   `audit` let the call through, `deny` and `block` refuse it; a field missing from the
//!   context never matches; no match applies `defaults.action` (`deny` when absent, as the
//!   Pydantic model says).
//! - **Kernel security specs** (`kernel` / `policies`): `docs/security-spec.md` and
//!   `templates/policies/README.md` of imran-siddique/agent-os (`kernel.mode`,
//!   `policies[].action/effect/requires_approval/rate_limit/mode/constraints`, template
//!   `deny: [{patterns: […]}]`, `include`).
//! - **Governance policies** (`blocked_patterns`, `allowed_tools`, `require_human_approval`,
//!   `max_tool_calls`, …): the YAML of `GovernancePolicy.to_yaml()` / `from_yaml()` in
//!   `agent_os/integrations/base.py`, which `PolicyTemplates` produce.
//!
//! silo's policy sees one action of a closed set (`refund`, `email.send`, …) and its named
//! params (`docs/POLICY.md`). Conditions on the tool name become the rule's `action` list
//! (the closed set is tried against the condition here, at import); conditions on a param
//! silo passes become `when` conditions; conditions on anything else (free text, model
//! output, token counts, scores) are reported.

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::action::Action;
use crate::counters::RateScope;
use crate::error::PolicyError;
use crate::policy_set::{DefaultEffect, PolicySet};
use crate::rules::{Effect, RateLimit};

/// Which Agent OS format a document was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// `PolicyDocument`: `rules` of `condition`/`action`/`priority`, and `defaults`.
    PolicyDocument,
    /// The kernel's `.agents/security.md` spec and its templates: `kernel`, `policies`.
    KernelSpec,
    /// `GovernancePolicy` YAML: `blocked_patterns`, `allowed_tools`, limits.
    GovernancePolicy,
}

impl std::fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DocumentKind::PolicyDocument => "Agent OS policy document",
            DocumentKind::KernelSpec => "Agent OS kernel security spec",
            DocumentKind::GovernancePolicy => "Agent OS governance policy",
        })
    }
}

/// One item of the input and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Where in the input: a key path such as `rules[2]` or `defaults.max_tokens`, with the
    /// rule's name when it has one.
    pub path: String,
    /// The item, briefly (`tool_name eq refund → deny`).
    pub what: String,
    /// How it was converted, or why silo cannot express it.
    pub why: String,
}

/// What an import converted and what it could not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The format the document was read as.
    pub kind: DocumentKind,
    /// Items expressed in the silo policy (or already enforced by silo without a rule).
    pub converted: Vec<Finding>,
    /// Items the silo policy does not express; the policy is weaker or different there.
    pub unsupported: Vec<Finding>,
}

impl Report {
    /// `true` when every item of the input was converted.
    pub fn is_complete(&self) -> bool {
        self.unsupported.is_empty()
    }

    fn ok(&mut self, path: impl Into<String>, what: impl Into<String>, why: impl Into<String>) {
        self.converted.push(Finding {
            path: path.into(),
            what: what.into(),
            why: why.into(),
        });
    }

    fn no(&mut self, path: impl Into<String>, what: impl Into<String>, why: impl Into<String>) {
        self.unsupported.push(Finding {
            path: path.into(),
            what: what.into(),
            why: why.into(),
        });
    }
}

/// The result of an import: the silo policy as YAML text, the same policy loaded by silo's
/// own loader (so it is known to load), and the report.
#[derive(Debug, Clone)]
pub struct Import {
    /// The silo policy YAML, with a comment header naming the source and what was not
    /// converted.
    pub yaml: String,
    /// `yaml`, loaded with [`PolicySet::from_yaml_str`].
    pub policy: PolicySet,
    /// What was converted and what was not.
    pub report: Report,
}

/// Converts the text of an Agent OS policy (YAML or JSON) into a silo policy.
/// `source_name` labels errors. A malformed document, or one in no Agent OS format, is an
/// error with the line and field where the parser gives them; never a panic.
pub fn import(source_name: &str, text: &str) -> Result<Import, PolicyError> {
    let err = |message: String| PolicyError::Import {
        source_name: source_name.to_string(),
        message,
    };
    let top: Value = serde_norway::from_str(text).map_err(|e| err(e.to_string()))?;
    let Value::Object(top_map) = &top else {
        return Err(err(format!(
            "expected a mapping at the top, found {}",
            crate::amount::type_name(&top)
        )));
    };
    let kind = detect(top_map).map_err(&err)?;
    let mut out = Converter::new(kind);
    match kind {
        DocumentKind::PolicyDocument => {
            let doc: AosDocument = serde_norway::from_str(text).map_err(|e| err(e.to_string()))?;
            out.policy_document(doc)?;
        }
        DocumentKind::KernelSpec => {
            let doc: KernelDoc = serde_norway::from_str(text).map_err(|e| err(e.to_string()))?;
            out.kernel_spec(doc)?;
        }
        DocumentKind::GovernancePolicy => {
            let doc: GovernanceDoc =
                serde_norway::from_str(text).map_err(|e| err(e.to_string()))?;
            out.governance(doc)?;
        }
    }
    out.finish(source_name).map_err(&err)
}

fn detect(top: &Map<String, Value>) -> Result<DocumentKind, String> {
    let has = |keys: &[&str]| keys.iter().any(|k| top.contains_key(*k));
    let document = has(&["rules", "defaults"]);
    let kernel = has(&["kernel"]);
    let governance = has(&[
        "blocked_patterns",
        "allowed_tools",
        "require_human_approval",
        "max_tool_calls",
        "max_tokens",
    ]);
    match (document, kernel, governance) {
        (true, false, false) => Ok(DocumentKind::PolicyDocument),
        (false, true, false) => Ok(DocumentKind::KernelSpec),
        (false, false, true) => Ok(DocumentKind::GovernancePolicy),
        (false, false, false) => Err(
            "not an Agent OS policy: expected `rules`/`defaults` (policy document), `kernel` \
             (security spec) or `blocked_patterns`/`allowed_tools`/`max_tool_calls` \
             (governance policy) at the top"
                .into(),
        ),
        _ => Err(
            "mixes keys of several Agent OS formats (`rules`/`defaults`, `kernel`, \
             `blocked_patterns`/`allowed_tools`…); split it into one document per format"
                .into(),
        ),
    }
}

// ---------------------------------------------------------------------------------------
// The three input formats, as published (see the module comment for where).
// Unknown keys are collected (`other`) and reported, never rejected or dropped.

#[derive(Debug, Deserialize)]
struct AosDocument {
    #[serde(default)]
    version: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    rules: Vec<AosRule>,
    #[serde(default)]
    defaults: Option<AosDefaults>,
    #[serde(default)]
    inherit: Option<bool>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    network_allowlist: Vec<String>,
    #[serde(default)]
    tool_allowlist: Vec<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct AosRule {
    name: String,
    condition: AosCondition,
    action: AosAction,
    #[serde(default)]
    priority: i64,
    #[serde(default)]
    message: String,
    #[serde(default, rename = "override")]
    overrides: bool,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct AosCondition {
    field: String,
    operator: AosOperator,
    value: Value,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AosOperator {
    Eq,
    Ne,
    Gt,
    Lt,
    Gte,
    Lte,
    In,
    NotIn,
    Matches,
    Contains,
}

impl AosOperator {
    fn as_str(self) -> &'static str {
        match self {
            AosOperator::Eq => "eq",
            AosOperator::Ne => "ne",
            AosOperator::Gt => "gt",
            AosOperator::Lt => "lt",
            AosOperator::Gte => "gte",
            AosOperator::Lte => "lte",
            AosOperator::In => "in",
            AosOperator::NotIn => "not_in",
            AosOperator::Matches => "matches",
            AosOperator::Contains => "contains",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AosAction {
    Allow,
    Deny,
    Audit,
    Block,
}

impl AosAction {
    fn as_str(self) -> &'static str {
        match self {
            AosAction::Allow => "allow",
            AosAction::Deny => "deny",
            AosAction::Audit => "audit",
            AosAction::Block => "block",
        }
    }

    fn effect(self) -> Effect {
        match self {
            AosAction::Allow | AosAction::Audit => Effect::Allow,
            AosAction::Deny | AosAction::Block => Effect::Deny,
        }
    }
}

#[derive(Debug, Deserialize)]
struct AosDefaults {
    #[serde(default)]
    action: Option<AosAction>,
    #[serde(default)]
    max_tool_calls: Option<u64>,
    #[serde(default)]
    network_default: Option<String>,
    /// `max_tokens`, `confidence_threshold`, `max_cpu`, `max_memory_mb`,
    /// `timeout_seconds` and anything unknown: reported.
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct KernelDoc {
    kernel: KernelSection,
    #[serde(default)]
    signals: Vec<String>,
    #[serde(default)]
    policies: Vec<KernelPolicy>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    observability: Option<Value>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct KernelSection {
    #[serde(default)]
    version: Option<Value>,
    #[serde(default)]
    mode: Option<KernelMode>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KernelMode {
    Strict,
    Permissive,
    Audit,
}

#[derive(Debug, Deserialize)]
struct KernelPolicy {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    effect: Option<KernelEffect>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    requires_approval: Option<bool>,
    #[serde(default)]
    rate_limit: Option<String>,
    #[serde(default)]
    constraints: Option<Value>,
    #[serde(default)]
    deny: Vec<Value>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KernelEffect {
    Allow,
    Deny,
}

#[derive(Debug, Deserialize)]
struct GovernanceDoc {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<Value>,
    #[serde(default)]
    allowed_tools: Vec<String>,
    #[serde(default)]
    blocked_patterns: Vec<Value>,
    #[serde(default)]
    require_human_approval: bool,
    #[serde(default)]
    max_tool_calls: Option<u64>,
    #[serde(default)]
    log_all_calls: Option<bool>,
    /// Everything else (limits, thresholds, runtime module sections): reported.
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

// ---------------------------------------------------------------------------------------
// The silo policy being written (the format of `docs/POLICY.md`).

#[derive(Debug, Serialize)]
struct OutDoc {
    version: u32,
    default: DefaultEffect,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kill_on: Vec<String>,
    rules: Vec<OutRule>,
}

/// `{ param: amount, gt: 20000 }`, written with `param` first.
#[derive(Debug, Clone, Serialize)]
struct OutCond {
    param: String,
    #[serde(flatten)]
    op: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
struct OutRule {
    name: String,
    action: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    when: Vec<OutCond>,
    effect: Effect,
    priority: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit: Option<RateLimit>,
    /// Agent OS priority, for ordering before the silo priority is fixed.
    #[serde(skip)]
    source_priority: i64,
    /// Checked before every rule of the document (allowlists and budgets, which Agent OS
    /// checks before its rules).
    #[serde(skip)]
    front: bool,
}

/// Every action a rule may name; `approve` is left out: it is never granted to an agent,
/// so no imported rule can be about it.
fn candidates() -> impl Iterator<Item = Action> {
    Action::ALL.into_iter().filter(|a| *a != Action::Approve)
}

/// The actions that are tool calls in Agent OS's sense: all but `llm.chat`, the model
/// call itself, which Agent OS's tool allowlists, approvals and call budgets do not govern.
fn tool_actions() -> impl Iterator<Item = Action> {
    candidates().filter(|a| *a != Action::LlmChat)
}

/// The params silo's policy sees, and the actions that carry each (`docs/POLICY.md`).
fn param_actions(field: &str) -> Option<&'static [Action]> {
    use Action::*;
    Some(match field {
        "amount" | "currency" => &[Refund],
        "customer" => &[Refund, EmailSend, SmsSend, DataRead, DataWrite],
        "template" => &[EmailSend, SmsSend],
        "fields" => &[DataRead],
        "op" => &[DataWrite],
        "target" => &[Escalate],
        "max_tokens" | "model" => &[LlmChat],
        "key" => &[KvGet, KvPut],
        _ => return None,
    })
}

/// Context fields that name the tool being called, in the published documents and
/// templates (`tool_name` in the schema, `action` in the OWASP templates).
const TOOL_FIELDS: [&str; 3] = ["tool_name", "tool", "action"];

/// A tool name as an Agent OS document may write a silo action: the wire name, or the
/// same with `_` for `.` (tool and function names cannot hold a dot).
fn parse_tool(name: &str) -> Option<Action> {
    name.parse::<Action>()
        .ok()
        .or_else(|| candidates().find(|a| a.as_str().replace('.', "_") == name))
        .filter(|a| *a != Action::Approve)
}

fn action_value(actions: &[Action]) -> Value {
    if actions.len() == candidates().count() {
        return Value::from("*");
    }
    match actions {
        [one] => Value::from(one.as_str()),
        many => Value::Array(many.iter().map(|a| Value::from(a.as_str())).collect()),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn cond(param: &str, op: &str, value: Value) -> OutCond {
    OutCond {
        param: param.to_string(),
        op: BTreeMap::from([(op.to_string(), value)]),
    }
}

/// How long a per-task budget counts: longer than any task key lives.
const TASK_WINDOW_SECS: u64 = 86_400;

struct Converter {
    report: Report,
    rules: Vec<OutRule>,
    default: DefaultEffect,
    kill_on: Vec<String>,
    title: Option<String>,
}

impl Converter {
    fn new(kind: DocumentKind) -> Self {
        Self {
            report: Report {
                kind,
                converted: Vec::new(),
                unsupported: Vec::new(),
            },
            rules: Vec::new(),
            default: DefaultEffect::Allow,
            kill_on: Vec::new(),
            title: None,
        }
    }

    /// A unique rule name derived from `want`.
    fn name(&self, want: &str) -> String {
        let base = if want.trim().is_empty() {
            "agent-os-rule".to_string()
        } else {
            want.to_string()
        };
        let mut name = base.clone();
        let mut n = 2;
        while self.rules.iter().any(|r| r.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }

    fn push(&mut self, rule: OutRule) {
        self.rules.push(rule);
    }

    fn unknown_keys(&mut self, at: &str, other: &BTreeMap<String, Value>) {
        for (k, v) in other {
            let path = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            self.report.no(
                path,
                format!("{k}: {}", short(v)),
                "not part of the published Agent OS schema, and silo has no equivalent",
            );
        }
    }

    // --- policy documents -------------------------------------------------------------

    fn policy_document(&mut self, doc: AosDocument) -> Result<(), PolicyError> {
        self.title = doc.name.clone();
        for (key, v) in [("version", doc.version.as_ref())] {
            if let Some(v) = v {
                self.report.ok(
                    key,
                    format!("{key}: {}", show(v)),
                    "metadata; silo writes `version: 1`",
                );
            }
        }
        if let Some(n) = &doc.name {
            self.report.ok(
                "name",
                format!("name: {n}"),
                "kept as a comment in the header",
            );
        }
        if doc.description.is_some() {
            self.report.ok(
                "description",
                "description",
                "kept as a comment in the header",
            );
        }
        if !doc.tool_allowlist.is_empty() {
            self.allowlist("tool_allowlist", &doc.tool_allowlist);
        }
        if let Some(d) = &doc.defaults {
            if let Some(n) = d.max_tool_calls {
                self.max_tool_calls("defaults.max_tool_calls", n);
            }
        }
        for (i, rule) in doc.rules.into_iter().enumerate() {
            self.document_rule(i, rule);
        }
        match doc.defaults {
            None => {
                self.default = DefaultEffect::Deny;
                self.report.ok(
                    "defaults",
                    "defaults: absent",
                    "Agent OS's `PolicyDefaults.action` defaults to `deny` (schema.py): `default: deny`",
                );
            }
            Some(d) => {
                let action = d.action.unwrap_or(AosAction::Deny);
                self.default = match action.effect() {
                    Effect::Allow => DefaultEffect::Allow,
                    _ => DefaultEffect::Deny,
                };
                self.report.ok(
                    "defaults.action",
                    format!("defaults.action: {}", action.as_str()),
                    format!(
                        "`default: {}`{}",
                        self.default,
                        match action {
                            AosAction::Audit => " (silo audits every call anyway)",
                            AosAction::Block => " (`block` refuses like `deny`)",
                            _ => "",
                        }
                    ),
                );
                match d.network_default.as_deref() {
                    None => {}
                    Some("deny") => self.report.ok(
                        "defaults.network_default",
                        "network_default: deny",
                        "already enforced: a cell has no network but the membrane",
                    ),
                    Some(other) => self.report.no(
                        "defaults.network_default",
                        format!("network_default: {other}"),
                        "silo cells never have network access; only the membrane is reachable",
                    ),
                }
                for (k, v) in &d.other {
                    let why = match k.as_str() {
                        "max_tokens" => "silo limits LLM tokens per task in the base key: set `capabilities.llm.max_tokens_per_task` in agent.yaml",
                        "timeout_seconds" | "max_cpu" | "max_memory_mb" => "cell limits are set in agent.yaml (`limits`), not in the policy",
                        "confidence_threshold" => "silo's policy does not score confidence",
                        _ => "not part of the published Agent OS schema, and silo has no equivalent",
                    };
                    self.report
                        .no(format!("defaults.{k}"), format!("{k}: {}", short(v)), why);
                }
            }
        }
        if doc.inherit == Some(false) {
            self.report.ok(
                "inherit",
                "inherit: false",
                "silo reads the files it is given; there is no folder inheritance",
            );
        } else if doc.inherit == Some(true) {
            self.report.ok(
                "inherit",
                "inherit: true",
                "no folder inheritance in silo: merge files with `silo policy check A B`",
            );
        }
        if let Some(s) = &doc.scope {
            self.report.no("scope", format!("scope: {s}"), "silo applies a policy file to every action, not to a path glob; use `agent:` to limit a file to one agent");
        }
        if !doc.network_allowlist.is_empty() {
            self.report.no(
                "network_allowlist",
                format!("network_allowlist: {}", doc.network_allowlist.join(", ")),
                "silo cells have no network; only the membrane (and the LLM through it) is reachable",
            );
        }
        self.unknown_keys("", &doc.other);
        Ok(())
    }

    fn document_rule(&mut self, i: usize, rule: AosRule) {
        let path = format!("rules[{i}] `{}`", rule.name);
        let c = &rule.condition;
        let what = format!(
            "{} {} {} → {}",
            c.field,
            c.operator.as_str(),
            short(&c.value),
            rule.action.as_str()
        );
        self.unknown_keys(&format!("rules[{i}]"), &rule.other);
        self.unknown_keys(&format!("rules[{i}].condition"), &c.other);
        if rule.overrides {
            self.report.ok(
                format!("{path}.override"),
                "override: true",
                "only meaningful when Agent OS merges folders; silo rule names are unique",
            );
        }
        let effect = rule.action.effect();
        let reason = (!rule.message.is_empty()).then(|| rule.message.clone());
        let mut how = match rule.action {
            AosAction::Audit => "`allow` (Agent OS lets an audited call through; silo audits every call)".to_string(),
            AosAction::Block => "`deny` (`block` refuses like `deny`; list the rule in `kill_on` to also end the cell)".to_string(),
            a => format!("`{}`", a.as_str()),
        };
        let (actions, when) = if TOOL_FIELDS.contains(&c.field.as_str()) {
            match tool_condition(c.operator, &c.value) {
                Ok((set, note)) => {
                    if let Some(n) = note {
                        how.push_str("; ");
                        how.push_str(&n);
                    }
                    if set.is_empty() {
                        if effect == Effect::Deny {
                            self.report.ok(
                                &path,
                                what,
                                "no silo action matches; silo refuses every action outside its closed set (`action.unknown`), so nothing to write",
                            );
                        } else {
                            self.report.no(
                                &path,
                                what,
                                "no silo action matches: silo has no such tool, so it cannot be allowed",
                            );
                        }
                        return;
                    }
                    (set, Vec::new())
                }
                Err(why) => {
                    self.report.no(&path, what, why);
                    return;
                }
            }
        } else if let Some(carriers) = param_actions(&c.field) {
            match param_condition(&c.field, c.operator, &c.value) {
                Ok(w) => (carriers.to_vec(), vec![w]),
                Err(why) => {
                    self.report.no(&path, what, why);
                    return;
                }
            }
        } else {
            self.report.no(&path, what, unseen_field(&c.field));
            return;
        };
        let Ok(priority) = i32::try_from(rule.priority) else {
            self.report.no(
                &path,
                what,
                format!(
                    "priority {} does not fit silo's 32-bit priority",
                    rule.priority
                ),
            );
            return;
        };
        let name = self.name(&rule.name);
        if name != rule.name {
            how.push_str(&format!("; renamed `{name}` (silo rule names are unique)"));
        }
        self.report.ok(&path, what, format!("rule `{name}`: {how}"));
        self.push(OutRule {
            name,
            action: action_value(&actions),
            when,
            effect,
            priority,
            reason,
            rate_limit: None,
            source_priority: rule.priority,
            front: false,
        });
    }

    /// `tool_allowlist` / `allowed_tools`: a deny for every action not listed.
    fn allowlist(&mut self, path: &str, tools: &[String]) {
        let mut allowed = Vec::new();
        for t in tools {
            match parse_tool(t) {
                Some(a) => allowed.push(a),
                None => self.report.ok(
                    path,
                    t.clone(),
                    "no silo action has this name; nothing to allow",
                ),
            }
        }
        let refused: Vec<Action> = tool_actions().filter(|a| !allowed.contains(a)).collect();
        let what = format!("{path}: {}", tools.join(", "));
        if refused.is_empty() {
            self.report
                .ok(path, what, "every silo action is listed: no restriction");
            return;
        }
        let name = self.name("agent-os-tool-allowlist");
        self.report.ok(
            path,
            what,
            format!("rule `{name}`: deny every tool action not listed (`llm.chat` is the model call, not a tool)"),
        );
        self.push(OutRule {
            name,
            action: action_value(&refused),
            when: Vec::new(),
            effect: Effect::Deny,
            priority: 0,
            reason: Some(format!("not in the tool allowlist ({})", tools.join(", "))),
            rate_limit: None,
            source_priority: 0,
            front: true,
        });
    }

    /// A per-call budget: silo counts rate limits per action, so "N calls" becomes "N calls
    /// of each action per task" and is reported as only partly expressed.
    fn max_tool_calls(&mut self, path: &str, n: u64) {
        let name = self.name("agent-os-max-tool-calls");
        let actions: Vec<Action> = tool_actions().collect();
        self.report.no(
            path,
            format!("max_tool_calls: {n}"),
            format!(
                "silo counts rate limits per action: rule `{name}` allows at most {n} calls of \
                 each tool action per task (in 24 h), not {n} in total"
            ),
        );
        self.push(OutRule {
            name,
            action: action_value(&actions),
            when: Vec::new(),
            effect: Effect::Deny,
            priority: 0,
            reason: Some(format!("at most {n} tool calls per task")),
            rate_limit: Some(RateLimit {
                per: RateScope::Task,
                max: n,
                window_secs: TASK_WINDOW_SECS,
            }),
            source_priority: 0,
            front: true,
        });
    }

    // --- kernel security specs --------------------------------------------------------

    fn kernel_spec(&mut self, doc: KernelDoc) -> Result<(), PolicyError> {
        if let Some(v) = &doc.kernel.version {
            self.report.ok(
                "kernel.version",
                format!("version: {}", show(v)),
                "metadata; silo writes `version: 1`",
            );
        }
        self.unknown_keys("kernel", &doc.kernel.other);
        let mode = doc.kernel.mode;
        for (i, p) in doc.policies.into_iter().enumerate() {
            self.kernel_policy(i, p);
        }
        match mode {
            Some(KernelMode::Strict) => {
                self.kill_on = self
                    .rules
                    .iter()
                    .filter(|r| r.effect == Effect::Deny)
                    .map(|r| r.name.clone())
                    .collect();
                self.report.ok(
                    "kernel.mode",
                    "mode: strict",
                    "violations end the agent: every deny rule is listed in `kill_on`",
                );
            }
            Some(m) => self.report.no(
                "kernel.mode",
                format!(
                    "mode: {}",
                    if m == KernelMode::Audit {
                        "audit"
                    } else {
                        "permissive"
                    }
                ),
                "silo always enforces its policy; the rules are enforced, not only logged",
            ),
            None => self
                .report
                .ok("kernel.mode", "mode: absent", "silo enforces the rules"),
        }
        if !doc.signals.is_empty() {
            self.report.ok(
                "signals",
                format!("signals: {}", doc.signals.join(", ")),
                "not a policy setting: `silo signal` stops, continues or kills any cell",
            );
        }
        if let Some(o) = &doc.observability {
            self.report.ok(
                "observability",
                format!("observability: {}", short(o)),
                "silo audits every call and serves `/metrics`; nothing to write in the policy",
            );
        }
        for inc in &doc.include {
            self.report.no(
                "include",
                format!("include: {inc}"),
                "import each included template separately; `silo policy check` merges several files",
            );
        }
        self.unknown_keys("", &doc.other);
        Ok(())
    }

    fn kernel_policy(&mut self, i: usize, p: KernelPolicy) {
        let label = p
            .name
            .clone()
            .or_else(|| p.action.clone())
            .unwrap_or_default();
        let path = format!("policies[{i}] `{label}`");
        self.unknown_keys(&format!("policies[{i}]"), &p.other);
        for (j, block) in p.deny.iter().enumerate() {
            let patterns = block
                .get("patterns")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if patterns.is_empty() {
                self.report.no(
                    format!("{path}.deny[{j}]"),
                    short(block),
                    "a deny block without `patterns`; nothing silo can express",
                );
            }
            for pat in patterns {
                self.report.no(
                    format!("{path}.deny[{j}]"),
                    format!("pattern {}", short(&pat)),
                    "a deny pattern on free text (code, prompts, output): silo's policy sees an action's named params, not free text",
                );
            }
        }
        if let Some(m) = &p.mode {
            if m == "read_write" {
                self.report
                    .ok(format!("{path}.mode"), "mode: read_write", "no restriction");
            } else {
                self.report.no(format!("{path}.mode"), format!("mode: {m}"), "silo restricts reads and writes through the base key (`data.read` fields, `data.write` ops), not a mode");
            }
        }
        if let Some(c) = &p.constraints {
            if c.as_object().is_some_and(|m| !m.is_empty()) {
                self.report.no(
                    format!("{path}.constraints"),
                    short(c),
                    "free-form constraints: write them as `when` conditions by hand",
                );
            }
        }
        let Some(tool) = &p.action else {
            if p.deny.is_empty() {
                self.report.no(
                    &path,
                    "a policy without `action` or `deny`",
                    "nothing to convert",
                );
            }
            return;
        };
        let actions: Vec<Action> = if tool == "*" {
            candidates().collect()
        } else {
            match parse_tool(tool) {
                Some(a) => vec![a],
                None => {
                    if p.effect == Some(KernelEffect::Deny) {
                        self.report.ok(&path, format!("action {tool}: deny"), "silo has no such action and refuses every unknown one (`action.unknown`)");
                    } else {
                        self.report.no(
                            &path,
                            format!("action {tool}"),
                            "silo has no such action: it cannot be allowed, approved or limited",
                        );
                    }
                    return;
                }
            }
        };
        let base = p
            .name
            .clone()
            .unwrap_or_else(|| format!("agent-os-{}", tool.replace(['.', '*'], "-")));
        let effect = match (p.effect, p.requires_approval) {
            (Some(KernelEffect::Deny), _) => Effect::Deny,
            (_, Some(true)) => Effect::RequireApproval,
            _ => Effect::Allow,
        };
        if let Some(limit) = &p.rate_limit {
            match parse_rate(limit) {
                Ok((max, window_secs)) => {
                    let name = self.name(&format!("{base}-rate"));
                    let caveat = if actions.len() > 1 {
                        " (counted per action)"
                    } else {
                        ""
                    };
                    let msg = format!("rule `{name}`: deny once {max} calls were made per agent in {window_secs} s{caveat}");
                    if actions.len() > 1 {
                        self.report.no(
                            format!("{path}.rate_limit"),
                            format!("rate_limit: {limit}"),
                            msg,
                        );
                    } else {
                        self.report.ok(
                            format!("{path}.rate_limit"),
                            format!("rate_limit: {limit}"),
                            msg,
                        );
                    }
                    self.push(OutRule {
                        name,
                        action: action_value(&actions),
                        when: Vec::new(),
                        effect: Effect::Deny,
                        priority: 0,
                        reason: Some(format!("rate limit {limit}")),
                        rate_limit: Some(RateLimit {
                            per: RateScope::Agent,
                            max,
                            window_secs,
                        }),
                        source_priority: 1,
                        front: false,
                    });
                }
                Err(why) => self.report.no(
                    format!("{path}.rate_limit"),
                    format!("rate_limit: {limit}"),
                    why,
                ),
            }
        }
        let name = self.name(&base);
        let how = match effect {
            Effect::Deny => "deny",
            Effect::RequireApproval => "require_approval",
            Effect::Allow => "allow",
        };
        self.report.ok(
            &path,
            format!("action {tool}: {how}"),
            format!("rule `{name}`: `{how}`"),
        );
        self.push(OutRule {
            name,
            action: action_value(&actions),
            when: Vec::new(),
            effect,
            priority: 0,
            reason: None,
            rate_limit: None,
            source_priority: 0,
            front: false,
        });
    }

    // --- governance policies ----------------------------------------------------------

    fn governance(&mut self, doc: GovernanceDoc) -> Result<(), PolicyError> {
        self.title = doc.name.clone();
        if let Some(n) = &doc.name {
            self.report.ok(
                "name",
                format!("name: {n}"),
                "kept as a comment in the header",
            );
        }
        if let Some(v) = &doc.version {
            self.report.ok(
                "version",
                format!("version: {}", show(v)),
                "metadata; silo writes `version: 1`",
            );
        }
        if !doc.allowed_tools.is_empty() {
            self.allowlist("allowed_tools", &doc.allowed_tools);
        }
        if let Some(n) = doc.max_tool_calls {
            self.max_tool_calls("max_tool_calls", n);
        }
        for (i, p) in doc.blocked_patterns.iter().enumerate() {
            let what = match (p.get("pattern"), p.get("type")) {
                (Some(pat), Some(ty)) => format!("{} pattern {}", show(ty), short(pat)),
                _ => format!("substring {}", short(p)),
            };
            self.report.no(
                format!("blocked_patterns[{i}]"),
                what,
                "Agent OS matches it against the text of every tool argument; silo's policy sees named params only, not free text (messages, notes, KV values, prompts)",
            );
        }
        if doc.require_human_approval {
            let name = self.name("agent-os-require-human-approval");
            let actions: Vec<Action> = tool_actions().collect();
            self.report.ok(
                "require_human_approval",
                "require_human_approval: true",
                format!("rule `{name}`: every tool action (not `llm.chat`, a model call) needs a human's approval"),
            );
            self.push(OutRule {
                name,
                action: action_value(&actions),
                when: Vec::new(),
                effect: Effect::RequireApproval,
                priority: 0,
                reason: Some("tool calls require human approval".into()),
                rate_limit: None,
                source_priority: 0,
                front: false,
            });
        }
        if let Some(b) = doc.log_all_calls {
            self.report.ok(
                "log_all_calls",
                format!("log_all_calls: {b}"),
                "silo audits every call, allowed or refused",
            );
        }
        for (k, v) in &doc.other {
            let inactive = matches!(v, Value::Null | Value::Bool(false))
                || v.as_object().is_some_and(Map::is_empty)
                || v.as_array().is_some_and(Vec::is_empty);
            if inactive {
                self.report.ok(
                    k.as_str(),
                    format!("{k}: {}", short(v)),
                    "empty or off: nothing to convert",
                );
                continue;
            }
            let why = match k.as_str() {
                "max_tokens" => "silo limits LLM tokens per task in the base key: set `capabilities.llm.max_tokens_per_task` in agent.yaml",
                "timeout_seconds" => "a cell's wall clock is set in agent.yaml (`limits.timeout_secs`), not in the policy",
                "confidence_threshold" | "drift_threshold" => "silo's policy does not score confidence or drift",
                "checkpoint_frequency" => "silo's audit log is hash-chained per entry with signed checkpoints (`silo audit checkpoint`), not every N calls",
                "max_concurrent" | "backpressure_threshold" | "bounded_semaphore" => "concurrency is the daemon's cell pool (`silo serve`), not a policy setting",
                "rate_limiter" => "runtime rate-limiter options; write a silo `rate_limit` rule for the actions it should count",
                "token_budget" => "silo limits LLM tokens per task in the base key (`capabilities.llm.max_tokens_per_task`)",
                "prompt_injection" | "scope_guard" | "supply_chain" | "mcp_security" => "a runtime detection module; silo's walls (cell, keys, tokenisation) are not configured by policy",
                _ => "not part of the published Agent OS schema, and silo has no equivalent",
            };
            self.report
                .no(k.as_str(), format!("{k}: {}", short(v)), why);
        }
        Ok(())
    }

    // --- output -----------------------------------------------------------------------

    /// Sets silo priorities so that silo evaluates the rules in Agent OS's order: the
    /// allowlist and budget rules first, then the document's rules by priority (highest
    /// first, document order on ties).
    fn order(&mut self) {
        let top = self
            .rules
            .iter()
            .filter(|r| !r.front)
            .map(|r| r.source_priority)
            .max()
            .unwrap_or(0);
        for r in self.rules.iter_mut().filter(|r| r.front) {
            r.source_priority = top.saturating_add(1);
        }
        self.rules
            .sort_by_key(|r| std::cmp::Reverse(r.source_priority));
        let fits = self
            .rules
            .iter()
            .all(|r| i32::try_from(r.source_priority).is_ok());
        if fits && silo_order_is(&self.rules) {
            for r in &mut self.rules {
                r.priority = i32::try_from(r.source_priority).unwrap_or(0);
            }
            return;
        }
        // Distinct, descending priorities in Agent OS's order.
        let n = self.rules.len();
        for (k, r) in self.rules.iter_mut().enumerate() {
            r.priority = i32::try_from((n - k).saturating_mul(10)).unwrap_or(i32::MAX);
        }
        self.report.ok(
            "priority",
            "rule priorities",
            "renumbered so silo evaluates the rules in Agent OS's order (on equal priority silo \
             tries deny first, Agent OS the document's order)",
        );
    }

    fn finish(mut self, source_name: &str) -> Result<Import, String> {
        self.order();
        let doc = OutDoc {
            version: 1,
            default: self.default,
            kill_on: self.kill_on.clone(),
            rules: self.rules.clone(),
        };
        let body = serde_norway::to_string(&doc).map_err(|e| e.to_string())?;
        let mut yaml = String::new();
        yaml.push_str(&format!(
            "# Converted by `silo policy import agent-os` from the {} `{}`{}.\n",
            self.report.kind,
            source_name,
            self.title
                .as_deref()
                .map(|t| format!(" (name: {t})"))
                .unwrap_or_default()
        ));
        if self.report.unsupported.is_empty() {
            yaml.push_str("# Everything in it was converted.\n");
        } else {
            yaml.push_str("# Not expressed here (see the import report):\n");
            for f in &self.report.unsupported {
                yaml.push_str(&format!("#   {}: {}\n", f.path, one_line(&f.what)));
            }
        }
        yaml.push_str(&body);
        let policy = PolicySet::from_yaml_str(source_name, &yaml)
            .map_err(|e| format!("the converted policy does not load: {e}"))?;
        Ok(Import {
            yaml,
            policy,
            report: self.report,
        })
    }
}

/// `true` if silo's sort (priority, then deny-first, then order) keeps `rules` as they are
/// when each has its Agent OS priority.
fn silo_order_is(rules: &[OutRule]) -> bool {
    rules.windows(2).all(|w| match (w.first(), w.get(1)) {
        (Some(a), Some(b)) => {
            a.source_priority > b.source_priority
                || (a.source_priority == b.source_priority
                    && a.effect.strictness() <= b.effect.strictness())
        }
        _ => true,
    })
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn short(v: &Value) -> String {
    let s = show(v);
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

fn unseen_field(field: &str) -> String {
    match field {
        "message" | "output" | "input" | "content" | "prompt" | "text" | "response" => format!(
            "`{field}` is free text; silo's policy sees an action's named params, not messages or model output (personal data is tokenised by the membrane instead)"
        ),
        "token_count" | "tokens" => "silo limits LLM tokens per task in the base key: set `capabilities.llm.max_tokens_per_task` in agent.yaml".into(),
        "tool_call_count" | "message_count" | "call_count" => format!(
            "silo's policy does not see `{field}`; use a `rate_limit` rule (`per: task`) to bound calls"
        ),
        _ => format!(
            "silo's policy does not see `{field}`: it sees the action and its params (amount, currency, customer, template, fields, op, target, model, max_tokens, key)"
        ),
    }
}

/// A condition on a tool name, tried on one action's wire name.
type NameTest = Box<dyn Fn(&str) -> Result<bool, String>>;

/// Which silo actions a condition on the tool name selects, evaluated the way Agent OS
/// evaluates it (`_match_condition` in evaluator.py) against each action's wire name.
fn tool_condition(op: AosOperator, value: &Value) -> Result<(Vec<Action>, Option<String>), String> {
    let mut note = None;
    let normalise = |v: &Value| -> Value {
        match v {
            Value::String(s) => {
                parse_tool(s).map_or_else(|| v.clone(), |a| Value::from(a.as_str()))
            }
            other => other.clone(),
        }
    };
    let value = match (op, value) {
        (AosOperator::Eq | AosOperator::Ne, v) => normalise(v),
        (AosOperator::In | AosOperator::NotIn, Value::Array(list)) => {
            Value::Array(list.iter().map(normalise).collect())
        }
        (_, v) => v.clone(),
    };
    let test: NameTest = match (op, &value) {
        (AosOperator::Eq, v) => {
            let v = v.clone();
            Box::new(move |n| Ok(v.as_str() == Some(n)))
        }
        (AosOperator::Ne, v) => {
            let v = v.clone();
            Box::new(move |n| Ok(v.as_str() != Some(n)))
        }
        (AosOperator::In | AosOperator::NotIn, Value::Array(list)) => {
            let list = list.clone();
            let neg = op == AosOperator::NotIn;
            Box::new(move |n| Ok(list.iter().any(|v| v.as_str() == Some(n)) != neg))
        }
        (AosOperator::In | AosOperator::NotIn, Value::String(s)) => {
            // Python's `name in "a,b"` is a substring test.
            let s = s.clone();
            let neg = op == AosOperator::NotIn;
            note = Some("`in` a string is a substring test in Agent OS; kept".to_string());
            Box::new(move |n| Ok(s.contains(n) != neg))
        }
        (AosOperator::Contains, Value::String(s)) => {
            let s = s.clone();
            Box::new(move |n| Ok(n.contains(s.as_str())))
        }
        (AosOperator::Matches, v) => {
            let pattern = show(v);
            let re = Regex::new(&pattern)
                .map_err(|e| format!("regex `{pattern}` does not compile in silo's regex dialect: {e}"))?;
            note = Some("regex tried against every silo action at import".to_string());
            Box::new(move |n| Ok(re.is_match(n)))
        }
        (AosOperator::Gt | AosOperator::Lt | AosOperator::Gte | AosOperator::Lte, Value::String(s)) => {
            let s = s.clone();
            Box::new(move |n| {
                Ok(match op {
                    AosOperator::Gt => n > s.as_str(),
                    AosOperator::Lt => n < s.as_str(),
                    AosOperator::Gte => n >= s.as_str(),
                    _ => n <= s.as_str(),
                })
            })
        }
        (op, v) => {
            return Err(format!(
                "`{}` with `{}` on a tool name fails in Agent OS itself (type error, fail closed); silo cannot express it",
                op.as_str(),
                short(v)
            ))
        }
    };
    let mut set = Vec::new();
    for a in candidates() {
        if test(a.as_str())? {
            set.push(a);
        }
    }
    Ok((set, note))
}

/// A condition on one of silo's params as a silo `when` condition.
fn param_condition(field: &str, op: AosOperator, value: &Value) -> Result<OutCond, String> {
    let int = |v: &Value| -> Result<Value, String> {
        match v.as_i64() {
            Some(i) => Ok(Value::from(i)),
            None => Err(format!(
                "silo compares `{field}` as an integer (amounts in minor units); `{}` is not one",
                short(v)
            )),
        }
    };
    Ok(match op {
        AosOperator::Eq => cond(field, "eq", value.clone()),
        AosOperator::Ne => cond(field, "ne", value.clone()),
        AosOperator::Gt => cond(field, "gt", int(value)?),
        AosOperator::Lt => cond(field, "lt", int(value)?),
        AosOperator::Gte => cond(field, "ge", int(value)?),
        AosOperator::Lte => cond(field, "le", int(value)?),
        AosOperator::In | AosOperator::NotIn => match value {
            Value::Array(list) => cond(
                field,
                if op == AosOperator::In {
                    "in"
                } else {
                    "not_in"
                },
                Value::Array(list.clone()),
            ),
            other => {
                return Err(format!(
                    "`{}` a string ({}) is a substring test in Agent OS; silo's `in` takes a list",
                    op.as_str(),
                    short(other)
                ))
            }
        },
        AosOperator::Matches => {
            let pattern = show(value);
            Regex::new(&pattern).map_err(|e| {
                format!("regex `{pattern}` does not compile in silo's regex dialect: {e}")
            })?;
            cond(field, "regex", Value::from(pattern))
        }
        AosOperator::Contains => match (field, value) {
            ("fields", _) => {
                return Err(
                    "`contains` on the list `fields`: silo has no list-membership condition".into(),
                )
            }
            (_, Value::String(s)) => cond(field, "regex", Value::from(regex::escape(s))),
            (_, other) => {
                return Err(format!(
                    "`contains` {} on `{field}`: silo matches substrings of strings only",
                    short(other)
                ))
            }
        },
    })
}

/// `"<count>/<period>"`: `100/hour`, `10/minute`, `5/s`, `1000/day`.
fn parse_rate(text: &str) -> Result<(u64, u64), String> {
    let bad =
        || format!("rate limit `{text}` is not `<count>/<period>` (second, minute, hour, day)");
    let (count, period) = text.split_once('/').ok_or_else(bad)?;
    let max: u64 = count.trim().parse().map_err(|_| bad())?;
    let period = period.trim().to_ascii_lowercase();
    let (n, unit) = match period.find(|c: char| c.is_ascii_alphabetic()) {
        Some(0) => (1, period.as_str()),
        Some(i) => (
            period[..i].trim().parse::<u64>().map_err(|_| bad())?,
            &period[i..],
        ),
        None => return Err(bad()),
    };
    let secs = match unit.trim() {
        "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hr" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return Err(bad()),
    };
    let window = n.checked_mul(secs).filter(|w| *w > 0).ok_or_else(bad)?;
    Ok((max, window))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("100/hour").unwrap(), (100, 3600));
        assert_eq!(parse_rate("5/s").unwrap(), (5, 1));
        assert_eq!(parse_rate("10 / 5min").unwrap(), (10, 300));
        assert!(parse_rate("lots").is_err());
        assert!(parse_rate("5/fortnight").is_err());
        assert!(parse_rate("5/0s").is_err());
    }

    #[test]
    fn tool_names_accept_underscores() {
        assert_eq!(parse_tool("email_send"), Some(Action::EmailSend));
        assert_eq!(parse_tool("email.send"), Some(Action::EmailSend));
        assert_eq!(parse_tool("approve"), None);
        assert_eq!(parse_tool("run_shell"), None);
    }
}
