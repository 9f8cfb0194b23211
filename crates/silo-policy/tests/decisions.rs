//! The decision table: keys (genuine, forged, replayed, misused) + policy + action + params
//! → expected decision, all through `PolicySet::authorize` as the membrane will call it.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use silo_keys::{Capabilities, Minter};
use silo_policy::{Approval, Context, Decision, InMemoryCounters, PolicySet, Request};

use crate::common::*;

#[derive(Debug, Clone, Copy)]
enum Want {
    Allow(&'static str),
    Deny(&'static str),
    Approval(&'static str),
}

#[derive(Clone, Copy)]
enum Approver {
    None,
    Human(&'static str),
    TheAgentItself(&'static str),
}

struct Case {
    name: &'static str,
    tokens: fn(&Keys) -> (String, String),
    action: &'static str,
    /// Raw JSON text, parsed the way the membrane parses a request body.
    params: &'static str,
    cell: &'static str,
    now: u64,
    modified_folder: bool,
    resource_customer: Option<&'static str>,
    approval: Approver,
    llm_tokens_used: u64,
    want: Want,
}

const DEFAULT: Case = Case {
    name: "",
    tokens: genuine,
    action: "refund",
    params: r#"{"amount": 5000, "currency": "USD", "customer": "cust_1"}"#,
    cell: CELL,
    now: NOW,
    modified_folder: false,
    resource_customer: None,
    approval: Approver::None,
    llm_tokens_used: 0,
    want: Want::Allow("default.allow"),
};

fn genuine(k: &Keys) -> (String, String) {
    (k.base(), k.task())
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn split(token: &str) -> Vec<String> {
    token.split('.').map(str::to_string).collect()
}

fn cases() -> Vec<Case> {
    use Want::*;
    vec![
        // --- the happy paths
        Case {
            name: "refund_within_limit",
            ..DEFAULT
        },
        Case {
            name: "refund_of_one_cent",
            params: r#"{"amount": 1, "currency": "USD", "customer": "cust_1"}"#,
            ..DEFAULT
        },
        Case {
            name: "refund_with_resource_customer_from_membrane",
            params: r#"{"amount": 5000, "currency": "USD"}"#,
            resource_customer: Some("cust_1"),
            ..DEFAULT
        },
        Case {
            name: "email_apology_allowed_by_rule",
            action: "email.send",
            params: r#"{"template": "apology", "to": "[EMAIL_1]", "customer": "cust_1"}"#,
            want: Allow("apology-emails-always-fine"),
            ..DEFAULT
        },
        Case {
            name: "email_confirmation_allowed_by_default",
            action: "email.send",
            params: r#"{"template": "refund_confirmation", "to": "[EMAIL_1]", "customer": "cust_1"}"#,
            ..DEFAULT
        },
        Case {
            name: "data_read_granted_fields",
            action: "data.read",
            params: r#"{"fields": ["name", "balance"], "customer": "cust_1"}"#,
            ..DEFAULT
        },
        Case {
            name: "escalate_to_manager",
            action: "escalate",
            params: r#"{"target": "manager", "reason": "angry"}"#,
            ..DEFAULT
        },
        Case {
            name: "llm_within_budget",
            action: "llm.chat",
            params: r#"{"max_tokens": 1000}"#,
            llm_tokens_used: 500,
            ..DEFAULT
        },
        Case {
            name: "kv_put_is_task_scoped",
            action: "kv.put",
            params: r#"{"key": "notes", "value": "x"}"#,
            ..DEFAULT
        },
        // --- amounts: every unit trick is a deny
        Case {
            name: "refund_over_limit",
            params: r#"{"amount": 50001, "currency": "USD", "customer": "cust_1"}"#,
            want: Deny("capability.refund.max_cents"),
            ..DEFAULT
        },
        Case {
            name: "refund_negative",
            params: r#"{"amount": -5000, "currency": "USD", "customer": "cust_1"}"#,
            want: Deny("amount.invalid"),
            ..DEFAULT
        },
        Case {
            name: "refund_zero",
            params: r#"{"amount": 0, "currency": "USD", "customer": "cust_1"}"#,
            want: Deny("amount.invalid"),
            ..DEFAULT
        },
        Case {
            name: "refund_fraction",
            params: r#"{"amount": 100.5, "currency": "USD", "customer": "cust_1"}"#,
            want: Deny("amount.invalid"),
            ..DEFAULT
        },
        Case {
            name: "refund_float_that_looks_integral",
            params: r#"{"amount": 100.0, "currency": "USD", "customer": "cust_1"}"#,
            want: Deny("amount.invalid"),
            ..DEFAULT
        },
        Case {
            name: "refund_exponent_notation",
            params: r#"{"amount": 1e3, "currency": "USD", "customer": "cust_1"}"#,
            want: Deny("amount.invalid"),
            ..DEFAULT
        },
        Case {
            name: "refund_string_amount",
            params: r#"{"amount": "5000", "currency": "USD", "customer": "cust_1"}"#,
            want: Deny("amount.invalid"),
            ..DEFAULT
        },
        Case {
            name: "refund_overflowing_i64",
            params: r#"{"amount": 9223372036854775808, "currency": "USD", "customer": "cust_1"}"#,
            want: Deny("amount.invalid"),
            ..DEFAULT
        },
        Case {
            name: "refund_beyond_u64",
            params: r#"{"amount": 184467440737095516160, "currency": "USD", "customer": "cust_1"}"#,
            want: Deny("amount.invalid"),
            ..DEFAULT
        },
        Case {
            name: "refund_missing_amount",
            params: r#"{"currency": "USD", "customer": "cust_1"}"#,
            want: Deny("amount.invalid"),
            ..DEFAULT
        },
        Case {
            name: "refund_other_currency",
            params: r#"{"amount": 5000, "currency": "EUR", "customer": "cust_1"}"#,
            want: Deny("capability.refund.currency"),
            ..DEFAULT
        },
        Case {
            name: "refund_lowercase_currency",
            params: r#"{"amount": 5000, "currency": "usd", "customer": "cust_1"}"#,
            want: Deny("amount.invalid"),
            ..DEFAULT
        },
        Case {
            name: "refund_missing_currency",
            params: r#"{"amount": 5000, "customer": "cust_1"}"#,
            want: Deny("amount.invalid"),
            ..DEFAULT
        },
        // --- scope: the task's customer only
        Case {
            name: "refund_for_another_customer",
            params: r#"{"amount": 5000, "currency": "USD", "customer": "cust_2"}"#,
            want: Deny("scope.customer"),
            ..DEFAULT
        },
        Case {
            name: "resource_of_another_customer",
            params: r#"{"amount": 5000, "currency": "USD"}"#,
            resource_customer: Some("cust_2"),
            want: Deny("scope.customer"),
            ..DEFAULT
        },
        Case {
            name: "param_and_resource_disagree",
            resource_customer: Some("cust_2"),
            want: Deny("scope.customer"),
            ..DEFAULT
        },
        Case {
            name: "refund_naming_no_customer",
            params: r#"{"amount": 5000, "currency": "USD"}"#,
            want: Deny("scope.customer"),
            ..DEFAULT
        },
        Case {
            name: "customer_not_a_string",
            params: r#"{"amount": 5000, "currency": "USD", "customer": ["cust_1"]}"#,
            want: Deny("scope.customer"),
            ..DEFAULT
        },
        Case {
            name: "data_read_other_customer",
            action: "data.read",
            params: r#"{"fields": ["name"], "customer": "cust_2"}"#,
            want: Deny("scope.customer"),
            ..DEFAULT
        },
        // --- capability constraints
        Case {
            name: "email_template_not_granted",
            action: "email.send",
            params: r#"{"template": "marketing", "to": "[EMAIL_1]", "customer": "cust_1"}"#,
            want: Deny("capability.email.send.templates"),
            ..DEFAULT
        },
        Case {
            name: "data_read_field_not_granted",
            action: "data.read",
            params: r#"{"fields": ["name", "ssn"], "customer": "cust_1"}"#,
            want: Deny("capability.data.read.fields"),
            ..DEFAULT
        },
        Case {
            name: "data_read_no_fields",
            action: "data.read",
            params: r#"{"fields": [], "customer": "cust_1"}"#,
            want: Deny("capability.data.read"),
            ..DEFAULT
        },
        Case {
            name: "escalate_to_unlisted_target",
            action: "escalate",
            params: r#"{"target": "ceo"}"#,
            want: Deny("capability.escalate.targets"),
            ..DEFAULT
        },
        Case {
            name: "llm_over_budget",
            action: "llm.chat",
            params: r#"{"max_tokens": 2000}"#,
            llm_tokens_used: 19000,
            want: Deny("capability.llm.chat.max_tokens_per_task"),
            ..DEFAULT
        },
        Case {
            name: "llm_negative_max_tokens",
            action: "llm.chat",
            params: r#"{"max_tokens": -1}"#,
            want: Deny("capability.llm.chat"),
            ..DEFAULT
        },
        Case {
            name: "base_key_without_refund_capability",
            tokens: |k| {
                let mut b = base_claims();
                b.folder_hash = k.agent_hash.to_string();
                b.caps =
                    Capabilities::from_json(r#"{"email.send":{"templates":["apology"]}}"#).unwrap();
                (k.minter.mint_base(&b).unwrap(), k.task())
            },
            want: Deny("capability.refund"),
            ..DEFAULT
        },
        // --- operator rules
        Case {
            name: "chargeback_refund_denied_by_rule",
            params: r#"{"amount": 5000, "currency": "USD", "customer": "cust_1", "reason": "CHARGEBACK opened"}"#,
            want: Deny("no-refunds-on-chargebacks"),
            ..DEFAULT
        },
        Case {
            name: "big_refund_needs_approval",
            params: r#"{"amount": 25000, "currency": "USD", "customer": "cust_1"}"#,
            want: Approval("big-refunds-need-approval"),
            ..DEFAULT
        },
        Case {
            name: "refund_at_capability_limit_needs_approval",
            params: r#"{"amount": 50000, "currency": "USD", "customer": "cust_1"}"#,
            want: Approval("big-refunds-need-approval"),
            ..DEFAULT
        },
        Case {
            name: "big_refund_approved_by_a_human",
            params: r#"{"amount": 25000, "currency": "USD", "customer": "cust_1"}"#,
            approval: Approver::Human("big-refunds-need-approval"),
            ..DEFAULT
        },
        Case {
            name: "approval_of_another_rule_does_not_count",
            params: r#"{"amount": 25000, "currency": "USD", "customer": "cust_1"}"#,
            approval: Approver::Human("some-other-rule"),
            want: Approval("big-refunds-need-approval"),
            ..DEFAULT
        },
        Case {
            name: "agent_cannot_approve_itself",
            params: r#"{"amount": 25000, "currency": "USD", "customer": "cust_1"}"#,
            approval: Approver::TheAgentItself("big-refunds-need-approval"),
            want: Deny("approval.self"),
            ..DEFAULT
        },
        Case {
            name: "approved_flag_in_params_is_ignored",
            params: r#"{"amount": 25000, "currency": "USD", "customer": "cust_1", "approved": true, "approved_by": "human:alice"}"#,
            want: Approval("big-refunds-need-approval"),
            ..DEFAULT
        },
        Case {
            name: "approval_does_not_lift_a_higher_deny",
            params: r#"{"amount": 25000, "currency": "USD", "customer": "cust_1", "reason": "chargeback"}"#,
            approval: Approver::Human("big-refunds-need-approval"),
            want: Deny("no-refunds-on-chargebacks"),
            ..DEFAULT
        },
        Case {
            name: "approve_action_is_never_an_agents",
            action: "approve",
            params: r#"{"rule": "big-refunds-need-approval"}"#,
            want: Deny("approval.agent"),
            ..DEFAULT
        },
        Case {
            name: "regex_rule_on_non_string_denies",
            params: r#"{"amount": 5000, "currency": "USD", "customer": "cust_1", "reason": 7}"#,
            want: Deny("no-refunds-on-chargebacks"),
            ..DEFAULT
        },
        Case {
            name: "email_to_competitor_denied_despite_allow",
            action: "email.send",
            params: r#"{"template": "apology", "to": "boss@competitor.example", "customer": "cust_1"}"#,
            want: Deny("no-email-to-competitors"),
            ..DEFAULT
        },
        // --- unknown things are errors, errors are denies
        Case {
            name: "unknown_action",
            action: "wire.transfer",
            want: Deny("action.unknown"),
            ..DEFAULT
        },
        Case {
            name: "action_name_case_matters",
            action: "Refund",
            want: Deny("action.unknown"),
            ..DEFAULT
        },
        Case {
            name: "params_not_an_object",
            params: r#"[5000, "USD"]"#,
            want: Deny("params.not_object"),
            ..DEFAULT
        },
        // --- keys: forgery, replay, misuse
        Case {
            name: "task_key_used_as_both",
            tokens: |k| (k.task(), k.task()),
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "base_key_used_as_both",
            tokens: |k| (k.base(), k.base()),
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "keys_swapped",
            tokens: |k| (k.task(), k.base()),
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "no_task_key",
            tokens: |k| (k.base(), String::new()),
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "no_base_key",
            tokens: |k| (String::new(), k.task()),
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "task_key_on_another_cells_socket",
            cell: "cell-b",
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "expired_task_key_replayed",
            now: NOW + 3000,
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "task_key_used_before_nbf",
            now: NOW - 1000,
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "base_key_for_a_modified_folder",
            modified_folder: true,
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "revoked_task_key_replayed",
            tokens: |k| {
                let t = task_claims();
                let token = k.minter.mint_task(&t).unwrap();
                k.store.revoke(&t.jti, NOW).unwrap();
                (k.base(), token)
            },
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "revoked_base_key",
            tokens: |k| {
                let mut b = base_claims();
                b.folder_hash = k.agent_hash.to_string();
                let token = k.minter.mint_base(&b).unwrap();
                k.store.revoke(&b.jti, NOW).unwrap();
                (token, k.task())
            },
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "task_key_signed_by_attacker_key_under_our_kid",
            tokens: |k| {
                let evil = Minter::new(k.minter.kid(), &SigningKey::from_bytes(&[1; 32])).unwrap();
                (k.base(), evil.mint_task(&task_claims()).unwrap())
            },
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "base_key_limit_raised_in_payload",
            tokens: |k| {
                let p = split(&k.base());
                let mut claims: Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&p[1]).unwrap()).unwrap();
                claims["caps"]["refund"]["max_cents"] = json!(100_000_000);
                (format!("{}.{}.{}", p[0], b64(&claims), p[2]), k.task())
            },
            params: r#"{"amount": 90000, "currency": "USD", "customer": "cust_1"}"#,
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "task_key_customer_swapped_in_payload",
            tokens: |k| {
                let p = split(&k.task());
                let mut claims: Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&p[1]).unwrap()).unwrap();
                claims["customer"] = json!("cust_2");
                (k.base(), format!("{}.{}.{}", p[0], b64(&claims), p[2]))
            },
            params: r#"{"amount": 5000, "currency": "USD", "customer": "cust_2"}"#,
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "task_key_with_alg_none",
            tokens: |k| {
                let h = json!({"alg": "none", "kid": k.minter.kid()});
                (
                    k.base(),
                    format!(
                        "{}.{}.",
                        b64(&h),
                        b64(&serde_json::to_value(task_claims()).unwrap())
                    ),
                )
            },
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "task_key_hs256_with_public_key_as_secret",
            tokens: |k| {
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some(k.minter.kid().into());
                let public = STANDARD.decode(&k.store.keys()[0].public_key).unwrap();
                let token = jsonwebtoken::encode(
                    &header,
                    &task_claims(),
                    &EncodingKey::from_secret(&public),
                )
                .unwrap();
                (k.base(), token)
            },
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "task_key_with_unknown_kid",
            tokens: |k| {
                let evil = Minter::new("k-evil", &SigningKey::from_bytes(&[2; 32])).unwrap();
                (k.base(), evil.mint_task(&task_claims()).unwrap())
            },
            want: Deny("keys"),
            ..DEFAULT
        },
        Case {
            name: "task_key_for_another_agent",
            tokens: |k| {
                let mut t = task_claims();
                t.agent = "collections-agent".into();
                (k.base(), k.minter.mint_task(&t).unwrap())
            },
            want: Deny("keys"),
            ..DEFAULT
        },
    ]
}

#[test]
fn decision_table() {
    let policy = PolicySet::from_yaml_str("test", POLICY).unwrap();
    let mut failures = Vec::new();
    let n = cases().len();
    for case in cases() {
        let k = keys();
        let (base, task) = (case.tokens)(&k);
        let verifier = k.store.verifier().unwrap();
        let params: Value = serde_json::from_str(case.params).unwrap();
        let counters = InMemoryCounters::default();
        let approval = match case.approval {
            Approver::None => None,
            Approver::Human(rule) => Some(Approval {
                approver: "human:alice".into(),
                rule: rule.into(),
            }),
            Approver::TheAgentItself(rule) => Some(Approval {
                approver: "refund-agent".into(),
                rule: rule.into(),
            }),
        };
        let ctx = Context {
            resource_customer: case.resource_customer,
            approval: approval.as_ref(),
            llm_tokens_used: case.llm_tokens_used,
            ..Context::new(case.now, &counters)
        };
        let folder = if case.modified_folder {
            &k.modified_hash
        } else {
            &k.agent_hash
        };
        let req = Request {
            base_token: &base,
            task_token: &task,
            cell_id: case.cell,
            folder_hash: Some(folder),
            action: case.action,
            params: &params,
        };
        let got = policy.authorize(&verifier, &req, &ctx);
        let ok = match (case.want, &got) {
            (Want::Allow(r), Decision::Allow { rule }) => rule == r,
            (Want::Deny(r), Decision::Deny { rule, reason }) => rule == r && !reason.is_empty(),
            (Want::Approval(r), Decision::NeedsApproval { rule, .. }) => rule == r,
            _ => false,
        };
        if !ok {
            failures.push(format!("{}: want {:?}, got {got:?}", case.name, case.want));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_deny_reason_is_lower_case_and_says_what() {
    let policy = PolicySet::from_yaml_str("test", POLICY).unwrap();
    let base = base_claims();
    let task = task_claims();
    let counters = InMemoryCounters::default();
    let ctx = Context::new(NOW, &counters);
    let d = policy.decide(
        &base,
        &task,
        "refund",
        &json!({"amount": "1e3", "currency": "USD", "customer": "cust_1"}),
        &ctx,
    );
    let Decision::Deny { reason, .. } = d else {
        panic!("{d:?}")
    };
    assert!(
        reason.contains("`amount`") && reason.contains("string"),
        "{reason}"
    );
}
