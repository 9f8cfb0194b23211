//! `silo redteam`: the whole suite passes (no attack gets through, no legitimate
//! operation is refused, every case reaches a verdict) and is as big as promised; and the
//! judge itself can fail — a case that claims "blocked" while the host's evidence says
//! otherwise is a breach, a case without a verdict is an error, a refused legitimate
//! operation is a false positive.

use std::path::Path;

use silo_redteam::{Attack, Category, Lab, Verdict};

#[test]
fn the_whole_suite_passes_and_is_as_big_as_promised() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let out = crate::silo(&["--json", "redteam"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}):\n{}", crate::text(&out)));
    let failures: Vec<&serde_json::Value> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !matches!(c["verdict"].as_str(), Some("blocked" | "allowed")))
        .collect();
    assert!(
        failures.is_empty() && out.status.success(),
        "silo redteam failed:\n{}",
        serde_json::to_string_pretty(&failures).unwrap()
    );
    let attacks = report["attacks"]["attempted"].as_u64().unwrap();
    let legit = report["legitimate"]["attempted"].as_u64().unwrap();
    assert!(attacks >= 150, "only {attacks} attacks");
    assert!(legit >= 50, "only {legit} legitimate operations");
    assert_eq!(report["attacks"]["blocked"].as_u64(), Some(attacks));
    assert_eq!(report["legitimate"]["allowed"].as_u64(), Some(legit));
    for cat in Category::ALL {
        let t = &report["by_category"][cat.as_str()];
        assert!(
            t["attempted"].as_u64().unwrap_or(0) > 0,
            "no case in {}",
            cat.as_str()
        );
    }
    for os in [
        "direct_violation",
        "injection",
        "contextual_confusion",
        "valid_request",
    ] {
        assert!(
            report["by_agent_os"][os]["attempted"].as_u64().unwrap_or(0) > 0,
            "no case maps to the Agent OS category {os}"
        );
    }
}

fn lab() -> Lab {
    Lab::new(Path::new(env!("CARGO_BIN_EXE_silo"))).unwrap()
}

#[test]
fn the_judge_does_not_take_the_attackers_word() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let lab = lab();
    // Claims "blocked", but printed a customer's raw name: the host sees it.
    let leak = Attack::new(
        "judge-leak",
        Category::Privacy,
        "claims blocked while printing a raw name",
        "print('the name is JANE SMITH')\nblocked('nothing to see')\n",
    );
    let r = lab.run(&leak, 0);
    assert_eq!(r.verdict, Verdict::Breached, "{r:?}");
    assert!(r.evidence.iter().any(|e| e.contains("raw value")), "{r:?}");
    // Claims "blocked", but a refund went through: the ledger says so.
    let paid = Attack::new(
        "judge-paid",
        Category::Authority,
        "claims blocked after a real refund",
        "call('POST', '/v1/refund', {'amount_cents': 100, 'currency': 'USD', 'reason': 'x', 'idempotency_key': 'judge-1'})\nblocked('no refund here')\n",
    );
    let r = lab.run(&paid, 1);
    assert_eq!(r.verdict, Verdict::Breached, "{r:?}");
    assert!(r.evidence.iter().any(|e| e.contains("ledger")), "{r:?}");
    // Its own account of a breach is a breach.
    let says = Attack::new(
        "judge-says",
        Category::Keys,
        "says breach",
        "breach('got in')\n",
    );
    assert_eq!(lab.run(&says, 2).verdict, Verdict::Breached);
    // No verdict at all: an error, never a pass.
    let silent = Attack::new(
        "judge-silent",
        Category::Containment,
        "prints nothing",
        "print('hello')\n",
    );
    assert_eq!(lab.run(&silent, 3).verdict, Verdict::Error);
    // A crash without `or_killed` is an error too.
    let crash = Attack::new(
        "judge-crash",
        Category::Containment,
        "crashes",
        "raise SystemExit(3)\n",
    );
    assert_eq!(lab.run(&crash, 4).verdict, Verdict::Error);
    // A legitimate operation the membrane refuses is a false positive.
    let refused = Attack::new(
        "judge-refused",
        Category::Legitimate,
        "a refund over the limit, as if legitimate",
        "expect_ok('refund', 'POST', '/v1/refund', {'amount_cents': 90000, 'currency': 'USD', 'reason': 'x', 'idempotency_key': 'judge-2'})\nok('paid')\n",
    );
    assert_eq!(lab.run(&refused, 5).verdict, Verdict::FalsePositive);
    // And a legitimate one that goes through is allowed.
    let fine = Attack::new(
        "judge-fine",
        Category::Legitimate,
        "reads its task",
        "task_info()\nok('read the task')\n",
    );
    assert_eq!(lab.run(&fine, 6).verdict, Verdict::Allowed);
}
