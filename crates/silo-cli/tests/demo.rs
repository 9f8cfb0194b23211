//! `silo demo` end to end on the customer-service example: every scripted case ends as
//! scripted, nothing raw reaches an agent, the hostile agent is stopped, the outbox holds
//! the hydrated messages and the ledger exactly what the cases paid, the audit verifies,
//! and a second run starts fresh. The example compiled into `silo` is the repository's,
//! byte for byte, and runs from a folder with no source tree; `--json` reports the same
//! facts as one document.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn silo(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("SILO_LLM_URL")
        .env_remove("SILO_CONFIG")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap()
}

/// Raw personal data of the seed's customers in the demo's cases.
const RAW: [&str; 16] = [
    "Jane Smith",
    "jane.smith@example.com",
    "010 2030",
    "010-2030",
    "Harbour Street",
    "Aisha",
    "496 0732",
    "Li Wei",
    "li.wei@example.org",
    "María",
    "014-7788",
    "Calle del Sol",
    "Omar",
    "omar.haddad@",
    "4111 1111 1111 1111",
    "3782 822463 10005",
];

fn refunds(data: &Path, customer: &str) -> Vec<(i64, String)> {
    let o = silo(
        data,
        &["--json", "membrane", "ledger", "--customer", customer],
    );
    assert!(o.status.success(), "{}", crate::text(&o));
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut out: Vec<(i64, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["amount_cents"].as_i64().unwrap(),
                r["agent"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_demo_runs_its_cases_stops_the_hostile_agent_and_the_audit_verifies() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The cells' agents run under their own uids and must reach the run directory.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let run = tmp.path().join("run");
    let run = run.to_str().unwrap();
    let o = silo(tmp.path(), &["demo", "--run-dir", run]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", crate::text(&o));
    let demo = tmp.path().join("demo");

    for line in [
        "mode: rules",
        "refund-agent      done: refunded 12000 cents for ord_1002 and emailed the customer (mode: rules)",
        "refund-agent      escalate → manager-agent: refund of 70000 cents is over my limit of 50000",
        "→ completed (cells: refund-agent → manager-agent)",
        "(refund-agent marked offline)",
        "→ waiting_for_human (cells: none)",
        "→ waiting_for_human (cells: hostile-agent)",
        "collections-agent done: reminded the customer of 18450 cents owed by text (mode: rules)",
        "→ completed (cells: intent-agent → refund-agent → intent-agent → response-agent)",
        "cus_001: $120.00 USD by refund-agent (case_001:ord_1002)",
        "cus_001: $700.00 USD by manager-agent (case_001:ord_1003)",
        "hostile-agent  data.customer  denied by policy (rule capability.data.read.fields)",
        "hostile-agent  refund         denied by policy (rule capability.refund.max_cents)",
        "hostile-agent  email.send     refused by the membrane (invalid_request)",
        "hostile-agent  sms.send       refused by the membrane (invalid_request)",
        "silo audit verify: ok",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }

    // What the agents saw and said, the case notes and the audit section hold tokens,
    // never raw values: those appear only in "customer wrote" and in the outbox section.
    let (cases, rest) = out.split_once("What actually went out").unwrap();
    let (outbox, after) = rest.split_once("Refunds in the ledger").unwrap();
    let agent_side: Vec<&str> = cases
        .lines()
        .filter(|l| !l.contains("customer wrote:"))
        .chain(after.lines())
        .collect();
    for l in &agent_side {
        for raw in RAW {
            assert!(!l.contains(raw), "raw `{raw}` on the agent side: {l}");
        }
    }
    // The hostile agent got the card number it was granted only as a token.
    let hostile = agent_side
        .iter()
        .find(|l| l.contains("hostile-agent     escalate"))
        .unwrap();
    assert!(hostile.contains("'card_number': '[CARD_1]'"), "{hostile}");
    assert!(
        hostile.contains("read the email it was not granted: refused (denied)"),
        "{hostile}"
    );
    assert!(
        hostile.contains("refund $9,999: refused (denied)"),
        "{hostile}"
    );

    // What went out: hydrated by the membrane, to the customers' own addresses only.
    assert_eq!(
        outbox.matches("email to jane.smith@example.com").count(),
        3,
        "{outbox}"
    );
    assert!(outbox.contains("sms   to +1 (555) 014-7788 from collections-agent"));
    assert!(outbox.contains("Hi María, a friendly reminder: $184.50"));
    let mut sent = Vec::new();
    for channel in ["email", "sms"] {
        for f in std::fs::read_dir(demo.join("outbox").join(channel)).unwrap() {
            let m: Value =
                serde_json::from_slice(&std::fs::read(f.unwrap().path()).unwrap()).unwrap();
            sent.push(m);
        }
    }
    assert_eq!(sent.len(), 5, "{sent:?}");
    for m in &sent {
        let to = m["to"].as_str().unwrap();
        assert!(
            [
                "jane.smith@example.com",
                "omar.haddad@example.net",
                "+1 (555) 014-7788"
            ]
            .contains(&to),
            "{m}"
        );
        let body = m["body"].as_str().unwrap();
        assert!(!body.contains('['), "an unhydrated token in {body}");
    }
    assert!(sent
        .iter()
        .any(|m| m["template"] == "apology"
            && m["body"].as_str().unwrap().contains("Dear Jane Smith")));

    // The ledger itself, not only the report.
    assert_eq!(
        refunds(&demo, "cus_001"),
        [
            (12000, "refund-agent".to_owned()),
            (70000, "manager-agent".to_owned())
        ]
    );
    assert!(
        refunds(&demo, "cus_003").is_empty(),
        "the hostile agent paid"
    );
    assert_eq!(
        refunds(&demo, "cus_002"),
        [(2500, "refund-agent".to_owned())]
    );
    let verify = silo(&demo, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", crate::text(&verify));

    // Again: a fresh data directory, so the same cases pay the same once more, not twice.
    let again = silo(tmp.path(), &["demo", "--run-dir", run]);
    assert_eq!(again.status.code(), Some(0), "{}", crate::text(&again));
    assert_eq!(refunds(&demo, "cus_001").len(), 2);
}

/// A local OpenAI-compatible upstream that answers the agents' one-word questions the way
/// a model would, and keeps every prompt it received.
fn fake_llm() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let prompts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = prompts.clone();
    let url = crate::fake_http(move |r| {
        let req: Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let prompt = req["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let p = prompt.to_lowercase();
        let answer = if p.contains("classify this customer message") {
            if p.contains("damaged") {
                "refund"
            } else {
                "other"
            }
        } else if p.contains("collections team") {
            "no"
        } else if p.contains("nothing_owed") {
            "follow_up"
        } else {
            "yes"
        };
        log.lock().unwrap().push(prompt);
        crate::chat_answer(answer, 40, 1)
    });
    (format!("{url}/v1"), prompts)
}

#[test]
fn with_an_llm_upstream_the_agents_say_so_and_only_tokens_reach_the_model() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (url, prompts) = fake_llm();
    let o = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["demo", "--run-dir"])
        .arg(tmp.path().join("run"))
        .env("SILO_LLM_URL", &url)
        .env_remove("SILO_CONFIG")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", crate::text(&o));
    assert!(out.contains("mode: llm"), "{out}");
    for line in [
        "refund-agent      done: refunded 12000 cents for ord_1002 and emailed the customer (mode: llm)",
        "manager-agent     done: approved and refunded 70000 cents for ord_1003 (mode: llm)",
        "collections-agent done: reminded the customer of 18450 cents owed by text (mode: llm)",
        "intent-agent      302 → refund-agent: refund request (mode: llm)",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }
    assert!(!out.contains("(mode: rules)"), "{out}");
    let prompts = prompts.lock().unwrap();
    assert!(prompts.len() >= 5, "{prompts:?}");
    for p in prompts.iter() {
        for raw in RAW {
            assert!(!p.contains(raw), "raw `{raw}` sent to the model: {p}");
        }
    }
    assert!(
        prompts.iter().any(|p| p.contains("[NAME_1]")),
        "{prompts:?}"
    );
}

/// The example's files as `silo` embeds them (`crates/silo-cli/build.rs`): relative path →
/// (bytes, executable), leaving out the runtime `silo-data/`, `__pycache__/` and `*.swp`.
fn tree(root: &Path) -> std::collections::BTreeMap<String, (Vec<u8>, bool)> {
    use std::os::unix::fs::PermissionsExt;
    fn walk(
        root: &Path,
        dir: &Path,
        out: &mut std::collections::BTreeMap<String, (Vec<u8>, bool)>,
    ) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let name = path.file_name().unwrap().to_str().unwrap();
            if rel == "silo-data" || name == "__pycache__" || name.ends_with(".swp") {
                continue;
            }
            let meta = std::fs::metadata(&path).unwrap();
            if meta.is_dir() {
                walk(root, &path, out);
            } else {
                let exec = meta.permissions().mode() & 0o111 != 0;
                out.insert(rel, (std::fs::read(&path).unwrap(), exec));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn the_example_built_into_silo_is_the_repositorys_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    let o = silo(tmp.path(), &["demo", "--unpack", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", crate::text(&o));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/customer-service");
    let (want, got) = (tree(&repo), tree(&dir));
    let names = |t: &std::collections::BTreeMap<String, (Vec<u8>, bool)>| {
        t.keys().cloned().collect::<Vec<_>>()
    };
    // A file new directly beside silo.yaml is the one change build.rs cannot watch.
    assert_eq!(
        names(&got),
        names(&want),
        "the embedded example's files differ from the repository's (a new top-level file? \
         `touch crates/silo-cli/build.rs`)"
    );
    for (name, file) in &want {
        assert!(got[name] == *file, "`{name}` differs from the repository's");
    }
    assert!(want.contains_key("silo.yaml") && want.contains_key("agents/refund-agent/main.py"));
    assert!(!dir.join("silo-data").exists());
    // The agents read their folders as "other".
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode();
    assert_eq!(mode("agents/refund-agent") & 0o005, 0o005);
    assert_eq!(mode("agents/refund-agent/main.py") & 0o004, 0o004);

    // Never over something that is there.
    let again = silo(tmp.path(), &["demo", "--unpack", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1), "{}", crate::text(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is not empty"),
        "{}",
        crate::text(&again)
    );
}

/// `silo` as installed: run from a folder with no `examples/` and no `silo.yaml`.
fn silo_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_silo"))
        .args(args)
        .env_remove("SILO_LLM_URL")
        .env_remove("SILO_CONFIG")
        .env_remove("SILO_DATA_DIR")
        .current_dir(cwd)
        .output()
        .unwrap()
}

#[test]
fn from_a_folder_without_the_source_tree_the_demo_runs_the_example_built_in() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let cwd = tmp.path().join("elsewhere");
    std::fs::create_dir(&cwd).unwrap();
    let run = tmp.path().join("run");
    let run = run.to_str().unwrap();
    let o = silo_in(&cwd, &["demo", "--run-dir", run]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{}", crate::text(&o));
    for line in [
        "the customer-service example built into silo, unpacked as `silo-data/demo/project/customer-service/silo.yaml`",
        "→ completed (cells: refund-agent → manager-agent)",
        "hostile-agent  refund         denied by policy (rule capability.refund.max_cents)",
        "silo audit verify: ok",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }
    // Unpacked in the demo's fresh data directory, in an owner-only folder.
    use std::os::unix::fs::PermissionsExt;
    let private = cwd.join("silo-data/demo/project");
    let mode = std::fs::metadata(&private).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{private:?}");
    assert!(private
        .join("customer-service/agents/hostile-agent/main.py")
        .is_file());

    // `--json`: one document with the same facts, nothing else on stdout.
    let o = silo_in(&cwd, &["--json", "demo", "--run-dir", run]);
    assert_eq!(o.status.code(), Some(0), "{}", crate::text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["embedded"], true, "{report}");
    assert_eq!(report["mode"], "rules");
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6, "{report}");
    let states: Vec<&str> = cases.iter().map(|c| c["state"].as_str().unwrap()).collect();
    assert_eq!(
        states,
        [
            "completed",
            "completed",
            "waiting_for_human",
            "waiting_for_human",
            "completed",
            "completed"
        ]
    );
    assert!(cases
        .iter()
        .all(|c| c["ok"] == true && c["state"] == c["expected"]));
    assert_eq!(
        cases[1]["cells"],
        serde_json::json!(["refund-agent", "manager-agent"])
    );
    assert_eq!(cases[1]["turns"][0]["result"]["result"], "escalate");
    let mut refunds: Vec<(String, i64, String)> = report["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["customer"].as_str().unwrap().to_owned(),
                r["amount_cents"].as_i64().unwrap(),
                r["agent"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    refunds.sort();
    assert_eq!(
        refunds,
        [
            ("cus_001".to_owned(), 12000, "refund-agent".to_owned()),
            ("cus_001".to_owned(), 70000, "manager-agent".to_owned()),
            ("cus_002".to_owned(), 2500, "refund-agent".to_owned()),
        ]
    );
    assert_eq!(report["outbox"].as_array().unwrap().len(), 5, "{report}");
    let refused = report["audit"]["refused"].as_array().unwrap();
    assert!(refused
        .iter()
        .any(|r| r["agent"] == "hostile-agent" && r["action"] == "refund" && r["by"] == "policy"));
    assert_eq!(report["audit"]["verify"]["ok"], true);
    assert_eq!(
        report["audit"]["verify"]["size"], report["audit"]["entries"],
        "{report}"
    );
}
