//! Importing Agent OS policies: documents written in the published Agent OS formats are
//! converted, loaded by silo's own loader, and then decide real calls the way the Agent OS
//! document meant; what silo cannot express is reported, and malformed input is an error.

use serde_json::{json, Value};
use silo_policy::agentos::{import, DocumentKind, Import};
use silo_policy::{Context, Decision, InMemoryCounters, NoCounters, PolicyError, UsageCounters};

use crate::common::{base_claims, task_claims, NOW};

fn decide_with(
    imp: &Import,
    counters: &dyn UsageCounters,
    action: &str,
    params: Value,
) -> Decision {
    imp.policy.decide(
        &base_claims(),
        &task_claims(),
        action,
        &params,
        &Context::new(NOW, counters),
    )
}

fn decide(imp: &Import, action: &str, params: Value) -> Decision {
    decide_with(imp, &NoCounters, action, params)
}

#[track_caller]
fn allowed_by(d: &Decision, rule: &str) {
    assert_eq!(d, &Decision::Allow { rule: rule.into() });
}

#[track_caller]
fn denied_by(d: &Decision, rule: &str) {
    assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
    assert_eq!(d.rule(), rule, "{d:?}");
}

#[track_caller]
fn needs_approval_by(d: &Decision, rule: &str) {
    assert!(matches!(d, Decision::NeedsApproval { .. }), "{d:?}");
    assert_eq!(d.rule(), rule, "{d:?}");
}

fn unsupported_paths(imp: &Import) -> Vec<String> {
    imp.report
        .unsupported
        .iter()
        .map(|f| f.path.clone())
        .collect()
}

/// A policy document in the format of `PolicyDocument` / `PolicyRule` / `PolicyCondition`
/// (`agent_os/policies/schema.py` and `policy_schema.json` in
/// microsoft/agent-governance-toolkit, `agent-governance-python/agent-os/src/`): one
/// condition `{field, operator, value}` per rule, `action` allow|deny|audit|block,
/// `priority`, `message`, and `defaults`. Every operator and every action appears.
const SUPPORT_POLICY: &str = r#"
version: "1.0"
name: support-refunds
description: Refund and messaging rules for the support agent.
rules:
  - name: block-shell
    condition: { field: tool_name, operator: eq, value: run_shell }
    action: block
    priority: 100
    message: Shell execution is prohibited
  - name: no-free-text-card-numbers
    condition: { field: message, operator: matches, value: "(?i)card number" }
    action: deny
    priority: 100
  - name: big-refunds
    condition: { field: amount, operator: gt, value: 20000 }
    action: deny
    priority: 80
    message: Refunds above $200 go to a manager
  - name: dollars-only
    condition: { field: currency, operator: not_in, value: [USD] }
    action: deny
    priority: 80
  - name: tiny-refunds
    condition: { field: amount, operator: lt, value: 100 }
    action: deny
    priority: 75
  - name: internal-templates
    condition: { field: template, operator: matches, value: "^internal_" }
    action: deny
    priority: 70
  - name: apologies
    condition: { field: template, operator: eq, value: apology }
    action: audit
    priority: 60
  - name: scratch-and-reads
    condition: { field: tool_name, operator: in, value: [kv.get, kv_put, data_read] }
    action: allow
    priority: 50
  - name: humans-only
    condition: { field: target, operator: ne, value: human }
    action: deny
    priority: 40
  - name: small-refunds
    condition: { field: amount, operator: lte, value: 5000 }
    action: allow
    priority: 30
  - name: huge-refunds
    condition: { field: amount, operator: gte, value: 1000000 }
    action: deny
    priority: 30
  - name: mini-models
    condition: { field: model, operator: contains, value: mini }
    action: allow
    priority: 20
  - name: refunds-and-escalations
    condition: { field: tool_name, operator: matches, value: "^(refund|escalate)$" }
    action: allow
    priority: 10
  - name: token-budget
    condition: { field: token_count, operator: gt, value: 4000 }
    action: deny
    priority: 5
  - name: not-kv
    condition: { field: tool_name, operator: not_in, value: [kv_get, kv_put] }
    action: audit
    priority: 1
defaults:
  action: deny
  max_tokens: 4096
"#;

#[test]
fn policy_document_converts_loads_and_decides_as_agent_os_would() {
    let imp = import("support.yaml", SUPPORT_POLICY).unwrap();
    assert_eq!(imp.report.kind, DocumentKind::PolicyDocument);
    // The YAML is silo's format and loads on its own, too.
    let again = silo_policy::PolicySet::from_yaml_str("again.yaml", &imp.yaml).unwrap();
    assert_eq!(again.rules().len(), imp.policy.rules().len());
    assert_eq!(
        imp.policy.default_effect(),
        silo_policy::DefaultEffect::Deny
    );

    let refund = |amount: i64, currency: &str| json!({"amount": amount, "currency": currency, "customer": "cust_1"});
    // gt → deny with the Agent OS message as the reason.
    let d = decide(&imp, "refund", refund(25000, "USD"));
    denied_by(&d, "big-refunds");
    assert!(format!("{d:?}").contains("Refunds above $200"), "{d:?}");
    // lt → deny; lte → allow; in between, the tool-name regex allows.
    denied_by(&decide(&imp, "refund", refund(50, "USD")), "tiny-refunds");
    allowed_by(
        &decide(&imp, "refund", refund(3000, "USD")),
        "small-refunds",
    );
    allowed_by(
        &decide(&imp, "refund", refund(10000, "USD")),
        "refunds-and-escalations",
    );
    // not_in on a param: the base key grants USD only, so check the rule itself matches
    // another currency by asking the rule's conditions through a load of its own.
    assert!(imp.yaml.contains("not_in"), "{}", imp.yaml);
    // matches on a param → regex; eq → allow (`audit` lets the call through).
    let email = |template: &str| json!({"template": template, "customer": "cust_1"});
    allowed_by(&decide(&imp, "email.send", email("apology")), "apologies");
    // No template rule: the catch-all `not_in` on the tool name (an `audit`) lets it
    // through, as in Agent OS.
    allowed_by(
        &decide(&imp, "email.send", email("refund_confirmation")),
        "not-kv",
    );
    // `in` on the tool name, with underscore spellings of silo's actions.
    allowed_by(
        &decide(
            &imp,
            "data.read",
            json!({"fields": ["name"], "customer": "cust_1"}),
        ),
        "scratch-and-reads",
    );
    allowed_by(
        &decide(&imp, "kv.put", json!({"key": "k"})),
        "scratch-and-reads",
    );
    // ne on a param.
    denied_by(
        &decide(&imp, "escalate", json!({"target": "manager"})),
        "humans-only",
    );
    allowed_by(
        &decide(&imp, "escalate", json!({"target": "human"})),
        "refunds-and-escalations",
    );
    // contains on a string param → an escaped regex.
    allowed_by(
        &decide(&imp, "llm.chat", json!({"model": "gpt-mini-2"})),
        "mini-models",
    );
    // not_in on the tool name: every action but kv.* (an `audit`, so allow).
    allowed_by(&decide(&imp, "llm.chat", json!({"model": "big"})), "not-kv");

    // Reported: the free-text regex, the token count, max_tokens. Converted: the shell
    // block (silo has no such action and refuses unknown ones).
    let unsupported = unsupported_paths(&imp);
    assert!(
        unsupported
            .iter()
            .any(|p| p.contains("no-free-text-card-numbers")),
        "{unsupported:?}"
    );
    assert!(
        unsupported.iter().any(|p| p.contains("token-budget")),
        "{unsupported:?}"
    );
    assert!(
        unsupported.contains(&"defaults.max_tokens".to_string()),
        "{unsupported:?}"
    );
    assert_eq!(unsupported.len(), 3, "{:#?}", imp.report.unsupported);
    assert!(!imp.report.is_complete());
    let shell = imp
        .report
        .converted
        .iter()
        .find(|f| f.path.contains("block-shell"))
        .unwrap();
    assert!(shell.why.contains("action.unknown"), "{shell:?}");
    // The YAML header lists what was not converted.
    assert!(imp.yaml.starts_with("# Converted by"), "{}", imp.yaml);
    assert!(imp.yaml.contains("#   defaults.max_tokens"), "{}", imp.yaml);
}

#[test]
fn a_document_silo_can_express_converts_completely() {
    // `defaults.action: allow`, a deny on a tool name and a threshold on a param.
    let doc = r#"
version: "1.0"
name: strict-sms
rules:
  - name: no-sms
    condition: { field: tool_name, operator: eq, value: sms_send }
    action: deny
    priority: 10
  - name: refund-ceiling
    condition: { field: amount, operator: gt, value: 20000 }
    action: block
defaults:
  action: allow
"#;
    let imp = import("strict.yaml", doc).unwrap();
    assert!(imp.report.is_complete(), "{:#?}", imp.report.unsupported);
    assert!(imp.yaml.contains("Everything in it was converted"));
    let refund = json!({"amount": 25000, "currency": "USD", "customer": "cust_1"});
    denied_by(&decide(&imp, "refund", refund), "refund-ceiling");
    allowed_by(
        &decide(
            &imp,
            "refund",
            json!({"amount": 100, "currency": "USD", "customer": "cust_1"}),
        ),
        "default.allow",
    );
    // JSON is YAML: the same document as JSON converts the same.
    let as_json: Value = serde_norway::from_str(doc).unwrap();
    let imp2 = import("strict.json", &as_json.to_string()).unwrap();
    assert_eq!(imp2.report, imp.report);
}

#[test]
fn absent_defaults_are_deny_as_in_the_pydantic_model() {
    let doc = r#"
rules:
  - name: reads
    condition: { field: tool_name, operator: eq, value: data.read }
    action: allow
"#;
    let imp = import("d.yaml", doc).unwrap();
    assert_eq!(
        imp.policy.default_effect(),
        silo_policy::DefaultEffect::Deny
    );
    denied_by(&decide(&imp, "kv.get", json!({"key": "k"})), "default.deny");
}

#[test]
fn equal_priorities_keep_agent_os_document_order() {
    // Agent OS: stable sort by priority, first match wins → the allow (first in the
    // document) decides. silo alone would try the deny first on a tie, so the importer
    // renumbers and says so.
    let doc = r#"
rules:
  - name: refunds-allowed
    condition: { field: tool_name, operator: eq, value: refund }
    action: allow
    priority: 5
  - name: big-refunds-denied
    condition: { field: amount, operator: gt, value: 100 }
    action: deny
    priority: 5
defaults: { action: deny }
"#;
    let imp = import("tie.yaml", doc).unwrap();
    allowed_by(
        &decide(
            &imp,
            "refund",
            json!({"amount": 500, "currency": "USD", "customer": "cust_1"}),
        ),
        "refunds-allowed",
    );
    assert!(imp.report.converted.iter().any(|f| f.path == "priority"));
    // Swapped in the document, the deny wins, as in Agent OS.
    let reordered = r#"
rules:
  - name: big-refunds-denied
    condition: { field: amount, operator: gt, value: 100 }
    action: deny
    priority: 5
  - name: refunds-allowed
    condition: { field: tool_name, operator: eq, value: refund }
    action: allow
    priority: 5
defaults: { action: deny }
"#;
    let imp = import("tie2.yaml", reordered).unwrap();
    denied_by(
        &decide(
            &imp,
            "refund",
            json!({"amount": 500, "currency": "USD", "customer": "cust_1"}),
        ),
        "big-refunds-denied",
    );
}

/// A kernel security spec (`.agents/security.md`), as defined in `docs/security-spec.md`
/// and the policy templates' `templates/policies/README.md` of imran-siddique/agent-os:
/// `kernel.mode`, `signals`, `policies[]` with `action`, `effect`, `requires_approval`,
/// `rate_limit: "<count>/<period>"`, and a template's `deny: [{patterns: […]}]`.
const KERNEL_SPEC: &str = r#"
kernel:
  version: "1.0"
  mode: strict
signals:
  - SIGSTOP
  - SIGKILL
  - SIGINT
policies:
  - action: refund
    effect: allow
    requires_approval: true
  - action: email_send
    effect: allow
    mode: read_write
    rate_limit: "2/hour"
  - action: data.write
    effect: deny
  - action: file_write
    effect: deny
  - name: no_secrets
    deny:
      - patterns:
          - "AKIA[0-9A-Z]{16}"
          - "password\\s*="
observability:
  metrics: true
  traces: false
  flight_recorder: true
"#;

#[test]
fn kernel_spec_maps_approval_rate_limits_and_strict_mode() {
    let imp = import("security.md", KERNEL_SPEC).unwrap();
    assert_eq!(imp.report.kind, DocumentKind::KernelSpec);
    let refund = json!({"amount": 500, "currency": "USD", "customer": "cust_1"});
    needs_approval_by(&decide(&imp, "refund", refund), "agent-os-refund");
    let write = json!({"op": "set_case_status", "customer": "cust_1"});
    // The base key grants no data.write, so the capability check refuses it first; the
    // rule is there all the same, and strict mode kills on it.
    assert!(imp.yaml.contains("agent-os-data-write"), "{}", imp.yaml);
    assert!(imp.policy.kills_on("agent-os-data-write"));
    denied_by(&decide(&imp, "data.write", write), "capability.data.write");

    // 2/hour per agent: two sends pass, the third is refused and kills the cell.
    let counters = InMemoryCounters::default();
    let email = json!({"template": "apology", "customer": "cust_1"});
    let (b, t) = (base_claims(), task_claims());
    for i in 0..2 {
        allowed_by(
            &decide_with(&imp, &counters, "email.send", email.clone()),
            "agent-os-email_send",
        );
        counters.record(&b, &t, silo_policy::Action::EmailSend, None, NOW - 10 + i);
    }
    let d = decide_with(&imp, &counters, "email.send", email.clone());
    denied_by(&d, "agent-os-email_send-rate");
    assert!(imp.policy.kills_on("agent-os-email_send-rate"));
    // An hour later the window has passed.
    let later = imp.policy.decide(
        &b,
        &t,
        "email.send",
        &email,
        &Context::new(NOW + 3600, &counters),
    );
    assert!(later.is_allow(), "{later:?}");

    // The two free-text patterns are reported; nothing else is.
    let unsupported = unsupported_paths(&imp);
    assert_eq!(unsupported.len(), 2, "{:#?}", imp.report.unsupported);
    assert!(unsupported.iter().all(|p| p.contains("no_secrets")));
}

#[test]
fn kernel_spec_in_audit_mode_is_reported() {
    let doc = KERNEL_SPEC.replace("mode: strict", "mode: audit");
    let imp = import("security.md", &doc).unwrap();
    assert!(unsupported_paths(&imp).contains(&"kernel.mode".to_string()));
    assert!(!imp.policy.kills_on("agent-os-data-write"));
}

/// A governance policy as `GovernancePolicy.to_yaml()` writes it
/// (`agent_os/integrations/base.py` in microsoft/agent-governance-toolkit; the
/// `PolicyTemplates` presets are such policies): blocked patterns (plain substrings or
/// `{pattern, type}`), an allowlist, human approval and budgets.
const GOVERNANCE_TEMPLATE: &str = r#"
max_tokens: 4096
max_tool_calls: 3
allowed_tools:
- refund
- email_send
- data_read
- kv_get
blocked_patterns:
- password
- pattern: rm\s+-rf
  type: regex
require_human_approval: true
timeout_seconds: 300
confidence_threshold: 0.8
drift_threshold: 0.15
log_all_calls: true
checkpoint_frequency: 5
max_concurrent: 10
backpressure_threshold: 8
version: 1.0.0
prompt_injection: {}
token_budget: {}
rate_limiter: {}
bounded_semaphore: {}
scope_guard: {}
supply_chain: {}
mcp_security: {}
"#;

#[test]
fn governance_template_maps_allowlist_approval_and_budget() {
    let imp = import("template.yaml", GOVERNANCE_TEMPLATE).unwrap();
    assert_eq!(imp.report.kind, DocumentKind::GovernancePolicy);
    // Not in the allowlist: denied before anything else.
    denied_by(
        &decide(&imp, "escalate", json!({"target": "human"})),
        "agent-os-tool-allowlist",
    );
    // Listed: a human must approve.
    let refund = json!({"amount": 500, "currency": "USD", "customer": "cust_1"});
    needs_approval_by(
        &decide(&imp, "refund", refund),
        "agent-os-require-human-approval",
    );
    // The LLM is not a tool call: it is neither allowlisted away nor sent for approval.
    assert!(decide(&imp, "llm.chat", json!({})).is_allow());
    // Three calls of a tool in this task, then the budget refuses.
    let counters = InMemoryCounters::default();
    let (b, t) = (base_claims(), task_claims());
    for i in 0..3 {
        counters.record(&b, &t, silo_policy::Action::KvGet, None, NOW - 10 + i);
    }
    denied_by(
        &decide_with(&imp, &counters, "kv.get", json!({"key": "k"})),
        "agent-os-max-tool-calls",
    );

    let unsupported = unsupported_paths(&imp);
    for want in [
        "blocked_patterns[0]",
        "blocked_patterns[1]",
        "max_tool_calls",
        "max_tokens",
        "timeout_seconds",
        "confidence_threshold",
        "drift_threshold",
        "checkpoint_frequency",
        "max_concurrent",
        "backpressure_threshold",
    ] {
        assert!(
            unsupported.contains(&want.to_string()),
            "{want}: {unsupported:?}"
        );
    }
    // Empty runtime sections are not findings against the conversion.
    assert!(
        !unsupported.iter().any(|p| p == "rate_limiter"),
        "{unsupported:?}"
    );
    let patterns = imp
        .report
        .unsupported
        .iter()
        .find(|f| f.path == "blocked_patterns[1]")
        .unwrap();
    assert!(patterns.what.contains(r"rm\s+-rf"), "{patterns:?}");
    assert!(patterns.why.contains("free text"), "{patterns:?}");
}

#[test]
fn unknown_keys_are_reported_not_dropped() {
    let doc = r#"
rules:
  - name: r
    condition: { field: tool_name, operator: eq, value: refund, weight: 2 }
    action: deny
    severity: high
defaults: { action: allow, max_gpu: 1 }
owner: team-a
"#;
    let imp = import("k.yaml", doc).unwrap();
    let unsupported = unsupported_paths(&imp);
    for want in [
        "rules[0].severity",
        "rules[0].condition.weight",
        "defaults.max_gpu",
        "owner",
    ] {
        assert!(
            unsupported.contains(&want.to_string()),
            "{want}: {unsupported:?}"
        );
    }
}

#[track_caller]
fn import_error(text: &str, needles: &[&str]) {
    match import("bad.yaml", text) {
        Err(e @ PolicyError::Import { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("bad.yaml"), "{msg}");
            for n in needles {
                assert!(msg.contains(n), "expected `{n}` in `{msg}`");
            }
        }
        other => panic!("expected an import error, got {other:?}"),
    }
}

#[test]
fn malformed_documents_are_clear_errors() {
    import_error("rules: [\n  {name: x", &["line"]);
    import_error("- just\n- a list\n", &["mapping"]);
    import_error("title: nothing we know\n", &["not an Agent OS policy"]);
    import_error(
        "rules: []\nkernel: {mode: strict}\n",
        &["mixes keys of several Agent OS formats"],
    );
    // A rule without its condition, with the line of the rule.
    import_error(
        "rules:\n  - name: r\n    action: deny\n",
        &["condition", "line 2"],
    );
    import_error(
        "rules:\n  - name: r\n    condition: {field: amount, operator: approx, value: 1}\n    action: deny\n",
        &["approx"],
    );
    import_error(
        "rules:\n  - name: r\n    condition: {field: amount, operator: gt, value: 1}\n    action: maybe\n",
        &["maybe"],
    );
    import_error(
        "rules:\n  - name: r\n    condition: {field: amount, operator: gt, value: 1}\n    action: deny\n    priority: high\n",
        &["priority"],
    );
    import_error("kernel:\n  mode: chaotic\n", &["chaotic"]);
    import_error("blocked_patterns: password\n", &["blocked_patterns"]);
    import_error("", &[]);
}

#[test]
fn conditions_silo_cannot_express_are_reported_per_rule() {
    let doc = r#"
rules:
  - name: float-amount
    condition: { field: amount, operator: gt, value: 99.5 }
    action: deny
  - name: bad-regex
    condition: { field: template, operator: matches, value: "(?<=x)y" }
    action: deny
  - name: fields-contains
    condition: { field: fields, operator: contains, value: ssn }
    action: deny
  - name: number-tool
    condition: { field: tool_name, operator: gt, value: 3 }
    action: deny
  - name: no-such-tool
    condition: { field: tool_name, operator: eq, value: web_search }
    action: allow
  - name: huge
    condition: { field: amount, operator: gt, value: 1 }
    action: deny
    priority: 99999999999
defaults: { action: allow }
"#;
    let imp = import("c.yaml", doc).unwrap();
    let unsupported = unsupported_paths(&imp);
    for name in [
        "float-amount",
        "bad-regex",
        "fields-contains",
        "number-tool",
        "no-such-tool",
        "huge",
    ] {
        assert!(
            unsupported.iter().any(|p| p.contains(name)),
            "{name}: {unsupported:?}"
        );
    }
    assert!(imp.policy.rules().is_empty());
}

mod never_panics {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_text(s in ".{0,200}") {
            let _ = silo_policy::agentos::import("fuzz", &s);
        }

        #[test]
        fn arbitrary_conditions(
            field in "[a-z_]{1,12}",
            op in prop::sample::select(vec!["eq", "ne", "gt", "lt", "gte", "lte", "in", "not_in", "matches", "contains", "bogus"]),
            value in prop::sample::select(vec!["1", "-5", "2.5", "refund", "'^(re|kv)'", "[refund, 3]", "{a: 1}", "null", "'(('"]),
            action in prop::sample::select(vec!["allow", "deny", "audit", "block"]),
            priority in any::<i64>(),
        ) {
            let doc = format!(
                "rules:\n  - name: r\n    condition: {{field: {field}, operator: {op}, value: {value}}}\n    action: {action}\n    priority: {priority}\n"
            );
            if let Ok(imp) = silo_policy::agentos::import("fuzz", &doc) {
                // Whatever converted loads again from its own text.
                prop_assert!(silo_policy::PolicySet::from_yaml_str("again", &imp.yaml).is_ok());
            }
        }
    }
}
