//! `silo demo` end to end: every scripted case ends as scripted, nothing raw reaches an
//! agent, the outbox and ledger hold exactly what the cases paid and sent.

use std::path::Path;
use std::process::Command;

#[test]
fn the_demo_runs_its_four_cases_and_the_audit_verifies() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(tmp.path())
        .arg("demo")
        .arg("--run-dir")
        .arg(tmp.path().join("run"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for line in [
        "→ completed (cells: refund-agent): refunded 12900 cents for ord_1002",
        "→ completed (cells: refund-agent → manager-agent): approved and refunded 70000 cents",
        "→ waiting_for_human (cells: none)",
        "→ waiting_for_human (cells: greedy-agent)",
        "cus_001: 129.00 USD by refund-agent",
        "cus_001: 700.00 USD by manager-agent",
        "greedy-agent   refund         denied (rule capability.refund.max_cents)",
        "silo audit verify: ok",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }
    // What the agents saw is tokenised; raw values appear only in the "customer wrote"
    // lines and in the outbox section.
    for l in out.lines().filter(|l| l.contains("the agent sees")) {
        for raw in ["Jane Smith", "jane.smith@", "555 010", "Omar", "li.wei@"] {
            assert!(!l.contains(raw), "{l}");
        }
    }
    assert_eq!(
        out.matches("email to jane.smith@example.com").count(),
        2,
        "{out}"
    );
    assert!(!out.contains("thief@evil.example"), "{out}");
}
