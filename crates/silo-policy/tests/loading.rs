//! Loading policies: unknown names, malformed rules and wrong examples fail the load with a clear error.

use silo_policy::{DefaultEffect, PolicyError, PolicySet};

use crate::common::POLICY;

fn load(yaml: &str) -> Result<PolicySet, PolicyError> {
    PolicySet::from_yaml_str("test.yaml", yaml)
}

#[test]
fn reference_policy_loads_sorted_with_examples_checked() {
    let p = load(POLICY).unwrap();
    assert_eq!(p.rules().len(), 6);
    assert_eq!(p.examples_checked(), 5);
    let priorities: Vec<i32> = p.rules().iter().map(|r| r.priority).collect();
    let mut sorted = priorities.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(priorities, sorted);
    assert_eq!(p.default_effect(), DefaultEffect::Allow);
}

#[test]
fn wrong_match_example_fails_the_load() {
    let err = load(
        r#"
rules:
  - name: big
    action: refund
    when: [{ param: amount, gt: 20000 }]
    effect: require_approval
    examples:
      match: [{ amount: 100 }]
"#,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            PolicyError::ExampleFailed {
                kind: "match",
                index: 0,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("rule `big`") && msg.contains("do not match"),
        "{msg}"
    );
}

#[test]
fn wrong_no_match_example_fails_the_load() {
    let err = load(
        r#"
rules:
  - name: big
    action: refund
    when: [{ param: amount, gt: 20000 }]
    effect: require_approval
    examples:
      no_match: [{ amount: 100 }, { amount: 30000 }]
"#,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            PolicyError::ExampleFailed {
                kind: "no_match",
                index: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn example_that_cannot_be_evaluated_fails_the_load() {
    let err = load(
        r#"
rules:
  - name: big
    action: refund
    when: [{ param: amount, gt: 20000 }]
    effect: deny
    examples:
      match: [{ amount: "30000" }]
"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("evaluating it failed"), "{err}");
}

#[test]
fn unknown_action_is_a_load_error() {
    let err = load("rules:\n  - { name: x, action: wire.transfer, effect: deny }\n").unwrap_err();
    assert!(
        matches!(&err, PolicyError::UnknownAction { action, .. } if action == "wire.transfer"),
        "{err}"
    );
    assert_eq!(err.to_string(), "rule `x`: unknown action `wire.transfer`");
}

#[test]
fn unknown_keys_and_effects_are_load_errors() {
    for yaml in [
        "rules:\n  - { name: x, action: refund, effect: shrug }\n",
        "rules:\n  - { name: x, action: refund, effect: deny, priorty: 3 }\n",
        "rulez: []\n",
        "default: maybe\n",
        "version: 2\n",
        "agent: ''\n",
        "rules:\n  - { name: x, action: refund, effect: deny, when: [{ param: amount, between: [1, 2] }] }\n",
        "rules:\n  - { name: x, action: [], effect: deny }\n",
        "rules:\n  - { name: x, action: ['*', refund], effect: deny }\n",
        "rules:\n  - { name: '', action: refund, effect: deny }\n",
        "rules:\n  - { name: x, action: refund, effect: deny, rate_limit: { per: customer, max: 1, window_secs: 0 } }\n",
        "rules:\n  - { name: x, action: refund, effect: deny, rate_limit: { per: planet, max: 1, window_secs: 5 } }\n",
        "rules:\n  - { name: x, action: email.send, effect: deny, daily_total: { per: customer, max_cents: 5 } }\n",
        "rules:\n  - { name: x, action: '*', effect: deny, daily_total: { per: customer, max_cents: 5 } }\n",
        "rules:\n  - { name: x, action: refund, effect: deny, daily_total: { per: customer, max_cents: -5 } }\n",
        "rules:\n  - { name: x, action: refund, effect: deny, examples: { match: [5] } }\n",
        "rules: [\n",
    ] {
        assert!(load(yaml).is_err(), "should not load:\n{yaml}");
    }
}

#[test]
fn duplicate_rule_names_are_refused_within_and_across_files() {
    let twice = "rules:\n  - { name: x, action: refund, effect: deny }\n  - { name: x, action: kv.get, effect: deny }\n";
    assert!(matches!(
        load(twice),
        Err(PolicyError::DuplicateRule { .. })
    ));
    let a = load("rules:\n  - { name: x, action: refund, effect: deny }\n").unwrap();
    let b = load("agent: refund-agent\nrules:\n  - { name: x, action: refund, effect: deny }\n")
        .unwrap();
    assert!(matches!(
        PolicySet::merge([a, b]),
        Err(PolicyError::DuplicateRule { .. })
    ));
}

#[test]
fn merge_takes_the_stricter_default() {
    let a = load("default: allow\n").unwrap();
    let b = load("default: deny\n").unwrap();
    assert_eq!(
        PolicySet::merge([a, b]).unwrap().default_effect(),
        DefaultEffect::Deny
    );
}

#[test]
fn from_file_reports_the_path() {
    let err = PolicySet::from_file(std::path::Path::new("/nonexistent/policy.yaml")).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/policy.yaml"),
        "{err}"
    );
}

#[test]
fn kill_on_names_rules_or_prefixes_and_survives_a_merge() {
    let p = load("kill_on: [capability.refund.*, no-night-refunds]\n").unwrap();
    assert!(p.kills_on("capability.refund.max_cents"));
    assert!(p.kills_on("no-night-refunds"));
    assert!(!p.kills_on("no-night-refunds-2"));
    assert!(!p.kills_on("capability.data.read.fields"));
    assert!(!PolicySet::capabilities_only().kills_on("capability.refund.max_cents"));
    let merged = PolicySet::merge([load("default: allow\n").unwrap(), p]).unwrap();
    assert!(merged.kills_on("capability.refund.currency"));
    for bad in [
        "kill_on: ['']\n",
        "kill_on: ['cap*bility.*']\n",
        "kill_on: ['a b']\n",
    ] {
        let err = load(bad).unwrap_err();
        assert!(err.to_string().contains("kill_on"), "{bad}: {err}");
    }
}
