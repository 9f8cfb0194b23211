//! `silo task`: the router kernel over real cells — escalation from the refund agent to
//! the manager agent with a fresh cell and key, and a hand-over to the human inbox.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::text;

/// The customer-service example's project file (its agents, workflows and seed), relative
/// to the repository root the commands run in.
const PROJECT: &str = "examples/customer-service/silo.yaml";
const AGENTS: &str = "examples/customer-service/agents";

fn silo(data: &Path, run: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--config")
        .arg(PROJECT)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("SILO_RUN_DIR", run)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap()
}

#[test]
fn a_700_dollar_refund_goes_from_the_refund_agent_to_the_manager_and_is_paid_once() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, run) = (tmp.path().join("data"), tmp.path().join("run"));
    let submit = [
        "--json",
        "task",
        "submit",
        "--agent",
        "refund-agent",
        "--customer",
        "cus_001",
        "--case",
        "case_001",
        "--input",
        r#"{"message":"Jane Smith (jane.smith@example.com) here: my sofa ord_1003 arrived broken!"}"#,
    ];
    let o = silo(&data, &run, &submit);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let task: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(task["state"], "completed", "{task}");
    assert_eq!(task["run"]["agent"], "manager-agent");
    assert_eq!(task["dispatches"], 2);
    let id = task["id"].as_str().unwrap();
    // The router stored the input tokenised: no raw value in its answer or on its disk.
    let message = task["spec"]["input"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("[NAME_1] ([EMAIL_1]) here"),
        "{message}"
    );
    for file in ["router.db", "router.db-wal"] {
        let bytes = std::fs::read(data.join("router").join(file)).unwrap_or_default();
        let raw = String::from_utf8_lossy(&bytes);
        assert!(
            !raw.contains("Jane Smith") && !raw.contains("jane.smith@example.com"),
            "raw PII in {file}"
        );
    }
    let events = silo(&data, &run, &["--json", "task", "events", id]);
    let events: Value = serde_json::from_slice(&events.stdout).unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "task_created",
            "dispatched",
            "agent_result",
            "key_revoked",
            "escalated",
            "dispatched",
            "agent_result",
            "key_revoked",
            "completed"
        ]
    );
    // Each turn ran in its own cell with a key the router minted for it (its id is in the
    // `dispatched` event), and both keys were revoked when their cells ended.
    let turns: Vec<(&str, &str)> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["event"] == "dispatched")
        .map(|e| {
            (
                e["event"]["cell"].as_str().unwrap(),
                e["event"]["task_key_jti"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(turns.len(), 2);
    assert_ne!(turns[0].0, turns[1].0, "a fresh cell for the manager");
    assert_ne!(turns[0].1, turns[1].1, "a fresh key for the manager");
    let revoked = std::fs::read_to_string(data.join("keys").join("revoked.json")).unwrap();
    for (_, jti) in &turns {
        assert!(revoked.contains(jti), "key {jti} not revoked: {revoked}");
    }
    let audit = silo(
        &data,
        &run,
        &["--json", "audit", "query", "--action", "refund"],
    );
    // One JSON entry per line.
    let refunds: Vec<Value> = String::from_utf8_lossy(&audit.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["agent"], "manager-agent");
    assert_eq!(refunds[0]["detail"]["amount_cents"], 70000);
    // The same task again (say, a retry): the manager's refund is a replay.
    let again = silo(&data, &run, &submit);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let ledger = silo(
        &data,
        &run,
        &["--json", "membrane", "ledger", "--customer", "cus_001"],
    );
    let paid: Value = serde_json::from_slice(&ledger.stdout).unwrap();
    assert_eq!(paid.as_array().unwrap().len(), 1, "paid once: {paid}");
}

#[test]
fn a_message_the_agent_cannot_handle_waits_in_the_human_inbox() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, run) = (tmp.path().join("data"), tmp.path().join("run"));
    let o = silo(
        &data,
        &run,
        &[
            "task",
            "submit",
            "--agent",
            "refund-agent",
            "--customer",
            "cus_002",
            "--case",
            "case_002",
            "--input",
            r#"{"message":"How many loyalty points do I have?"}"#,
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let inbox = silo(&data, &run, &["--json", "task", "inbox"]);
    let waiting: Value = serde_json::from_slice(&inbox.stdout).unwrap();
    assert_eq!(waiting.as_array().unwrap().len(), 1, "{waiting}");
    assert_eq!(waiting[0]["state"], "waiting_for_human");
    assert_eq!(waiting[0]["spec"]["customer"], "cus_002");
}

#[test]
fn an_offline_agents_task_goes_to_a_person_who_takes_and_answers_it() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, run) = (tmp.path().join("data"), tmp.path().join("run"));
    let off = silo(&data, &run, &["agent", "offline", "refund-agent"]);
    assert!(off.status.success(), "{}", text(&off));
    let list = silo(
        &data,
        &run,
        &["--json", "agent", "list", "--agents", AGENTS],
    );
    let agents: Value = serde_json::from_slice(&list.stdout).unwrap();
    let refund = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "refund-agent")
        .unwrap();
    assert_eq!(refund["online"], false);
    let o = silo(
        &data,
        &run,
        &[
            "--json",
            "task",
            "submit",
            "--agent",
            "refund-agent",
            "--customer",
            "cus_001",
            "--case",
            "case_001",
            "--input",
            r#"{"message":"kettle ord_1001 dented"}"#,
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let task: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(task["dispatches"], 0, "no cell ran for an offline agent");
    let id = task["id"].as_str().unwrap();
    // Someone else cannot answer a task they did not take.
    let took = silo(&data, &run, &["task", "take", id, "--operator", "alice"]);
    assert!(took.status.success(), "{}", text(&took));
    let wrong = silo(
        &data,
        &run,
        &[
            "task",
            "answer",
            id,
            "--operator",
            "bob",
            "--result",
            "done",
            "--summary",
            "x",
        ],
    );
    assert!(!wrong.status.success(), "{}", text(&wrong));
    let done = silo(
        &data,
        &run,
        &[
            "--json",
            "task",
            "answer",
            id,
            "--operator",
            "alice",
            "--result",
            "done",
            "--summary",
            "refunded by hand",
        ],
    );
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    let task: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(task["state"], "completed");
    assert_eq!(task["outcome"], "refunded by hand");
    let on = silo(&data, &run, &["agent", "online", "refund-agent"]);
    assert!(on.status.success());
}

#[test]
fn workflow_files_are_checked_against_the_agents_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, run) = (tmp.path().join("data"), tmp.path().join("run"));
    let ok = silo(
        &data,
        &run,
        &[
            "workflow",
            "check",
            "examples/customer-service/workflows/refund-with-review.yaml",
        ],
    );
    assert!(ok.status.success(), "{}", text(&ok));
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\nstages:\n  - agent: ghost-agent\non_error: { 400: human, 500: abort }\n",
    )
    .unwrap();
    let o = silo(&data, &run, &["workflow", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("stage `ghost-agent`"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_scaffolded_agent_runs_in_a_cell_as_it_is() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, run) = (tmp.path().join("data"), tmp.path().join("run"));
    let agents = tmp.path().join("agents");
    let agents = agents.to_str().unwrap();
    let new = silo(
        &data,
        &run,
        &["agent", "new", "my-agent", "--agents", agents],
    );
    assert!(new.status.success(), "{}", text(&new));
    let again = silo(
        &data,
        &run,
        &["agent", "new", "my-agent", "--agents", agents],
    );
    assert!(
        !again.status.success(),
        "a second scaffold must not overwrite the first"
    );
    let o = silo(
        &data,
        &run,
        &[
            "run",
            "--agent",
            &format!("{agents}/my-agent"),
            "--customer",
            "cus_001",
            "--case",
            "case_001",
            "--input",
            r#"{"message":"hello from Jane Smith"}"#,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("result: done: read [NAME_1] (gold): hello from [NAME_1]"),
        "{}",
        text(&o)
    );
}
