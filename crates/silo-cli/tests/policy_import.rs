//! `silo policy import agent-os`: an Agent OS document in, a silo policy out that
//! `silo policy check` accepts and `silo policy eval` decides with; the unsupported items
//! on stderr; exit 0 / 3 / 2 / 1 as documented.

use std::path::Path;

use crate::{silo, text};

/// An Agent OS `PolicyDocument` (`agent_os/policies/schema.py` / `policy_schema.json` in
/// microsoft/agent-governance-toolkit): one condition per rule, action, priority,
/// defaults. The `message` rule is free text, which silo's policy cannot see.
const WITH_FREE_TEXT: &str = r#"
version: "1.0"
name: support
rules:
  - name: big-refunds
    condition: { field: amount, operator: gt, value: 20000 }
    action: deny
    priority: 10
    message: Refunds above $200 need a manager
  - name: no-card-numbers
    condition: { field: message, operator: matches, value: "(?i)card number" }
    action: deny
    priority: 10
defaults:
  action: allow
"#;

/// The same without the free-text rule: everything converts.
const COMPLETE: &str = r#"
version: "1.0"
name: support
rules:
  - name: big-refunds
    condition: { field: amount, operator: gt, value: 20000 }
    action: deny
    priority: 10
    message: Refunds above $200 need a manager
defaults:
  action: allow
"#;

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn import_prints_the_policy_and_reports_unsupported_items() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("agent-os.yaml");
    std::fs::write(&doc, WITH_FREE_TEXT).unwrap();

    let o = silo(&["policy", "import", "agent-os", p(&doc)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stdout.contains("name: big-refunds"), "{}", text(&o));
    assert!(!stdout.contains("name: no-card-numbers"), "{}", text(&o));
    assert!(
        stderr.contains("unsupported: rules[1] `no-card-numbers`") && stderr.contains("free text"),
        "{}",
        text(&o)
    );

    let o = silo(&["policy", "import", "agent-os", p(&doc), "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "policy_document");
    assert!(v["policy"].as_str().unwrap().contains("big-refunds"));
    assert_eq!(v["unsupported"].as_array().unwrap().len(), 1, "{v}");
    assert!(!v["converted"].as_array().unwrap().is_empty());
}

#[test]
fn imported_policy_works_with_check_and_eval() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("agent-os.yaml");
    let out = dir.path().join("policy.yaml");
    std::fs::write(&doc, COMPLETE).unwrap();

    let o = silo(&["policy", "import", "agent-os", p(&doc), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("0 unsupported"));

    // No silent overwrite; `--force` replaces.
    let o = silo(&["policy", "import", "agent-os", p(&doc), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    let o = silo(&[
        "policy",
        "import",
        "agent-os",
        p(&doc),
        "--out",
        p(&out),
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let o = silo(&["policy", "check", p(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("big-refunds"));

    // Decide with real keys, as the membrane would.
    let data = dir.path().join("data");
    let agent = dir.path().join("agent");
    std::fs::create_dir(&agent).unwrap();
    std::fs::write(agent.join("main.py"), "print('hi')").unwrap();
    let d = p(&data);
    let o = silo(&["--data-dir", d, "keys", "init"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = silo(&[
        "--data-dir",
        d,
        "keys",
        "mint-base",
        "--agent",
        p(&agent),
        "--name",
        "support-agent",
        "--version",
        "1",
        "--caps",
        r#"{"refund":{"max_cents":50000,"currency":"USD"}}"#,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let base = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let o = silo(&[
        "--data-dir",
        d,
        "keys",
        "mint-task",
        "--agent",
        "support-agent",
        "--task",
        "t-1",
        "--customer",
        "cus_1",
        "--case",
        "case_1",
        "--cell",
        "c-1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let task = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let eval = |amount: u32| {
        silo(&[
            "--data-dir",
            d,
            "policy",
            "eval",
            "--base",
            &base,
            "--task",
            &task,
            "--action",
            "refund",
            "--params",
            &format!(r#"{{"amount":{amount},"currency":"USD","customer":"cus_1"}}"#),
            "--policy",
            p(&out),
        ])
    };
    let o = eval(25000);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("big-refunds") && said.contains("need a manager"),
        "{}",
        text(&o)
    );
    let o = eval(2000);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("default.allow"));
}

#[test]
fn bad_documents_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body, needle) in [
        ("broken.yaml", "rules: [\n  {name: x\n", "line"),
        (
            "other.yaml",
            "title: something else\n",
            "not an Agent OS policy",
        ),
        (
            "rule.yaml",
            "rules:\n  - name: r\n    action: deny\n",
            "condition",
        ),
    ] {
        let f = dir.path().join(name);
        std::fs::write(&f, body).unwrap();
        let o = silo(&["policy", "import", "agent-os", p(&f)]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{name}: {}", text(&o));
        assert!(!err.contains("panicked"), "{name}: {}", text(&o));
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: {}", text(&o));
        assert!(o.stdout.is_empty(), "{name}: {}", text(&o));
    }
    let o = silo(&["policy", "import", "agent-os", "/no/such/file.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/no/such/file.yaml"));
}
