//! Workflows through real cells: a project (silo.yaml, agents, a workflow) in a temporary
//! folder, and one agent program that ends its turn as the task's input plans — done, 302
//! to a helper and back, 301 forward, 400 to the human inbox, 500 to abort, and a 302 loop
//! that the redirect limit turns into 400. Also: a stage timeout kills a slow turn and
//! times the task out, and `silo signal kill` stops a live cell.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use crate::text;

/// One program for every agent: it looks its own name up in `input.plan` (or
/// `<name>+` once it is handed something back) and ends its turn that way.
const PLANNED: &str = r#"
import time
import silo

task = silo.task()
inp = task.get("input") or {}
plan = inp.get("plan") or {}
me = task["agent"]
key = me + "+" if ("handoff" in inp and (me + "+") in plan) else me
kind, _, arg = str(plan.get(key, "done")).partition(":")
if kind == "soft":
    silo.redirect(arg, f"{me} asks {arg}")
elif kind == "hard":
    silo.redirect(arg, f"{me} hands over to {arg}", hard=True)
elif kind == "human":
    silo.complete("needs_human", f"{me} needs a person")
elif kind == "fail":
    silo.complete("failed", f"{me} failed")
elif kind == "done-then-refund":
    silo.done(f"{me} says all is fine")
    try:
        silo.refund(int(arg), "test", idempotency_key="k2")
    except Exception:
        time.sleep(10)  # a cell the policy killed never gets here
elif kind == "refund":
    try:
        silo.refund(int(arg), "test", idempotency_key="k1")
    except Exception:
        time.sleep(10)  # a cell the policy killed never gets here
    silo.done(f"{me} survived")
elif kind == "note":
    silo.kv.put("draft", arg)
    silo.kv.put("output/first", arg)
    silo.done(f"{me} noted")
elif kind == "reply":
    silo.kv.put("output/reply", str(silo.kv.get("draft", "nothing")) + " answered")
    silo.done(f"{me} replied")
elif kind == "sleep":
    time.sleep(float(arg))
    silo.done(f"{me} woke up")
else:
    silo.done(f"{me} done")
"#;

const FLOW: &str = "
name: flow
stages:
  - agent: intent-agent
    302: { helper-agent: \"look something up\" }
    301: { closer-agent: \"nothing to look up\" }
    max_redirects: 2
    timeout: 2s
  - agent: closer-agent
on_error: { 400: human, 500: abort }
";

struct Project {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Project {
    fn new() -> Self {
        Self::with("")
    }

    /// A project whose silo.yaml also has `extra`.
    fn with(extra: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        for agent in [
            "intent-agent",
            "helper-agent",
            "closer-agent",
            "greedy-agent",
        ] {
            let dir = root.join("agents").join(agent);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("agent.yaml"),
                format!(
                    "name: {agent}\nversion: 1.0.0\nentry: [python3, main.py]\n\
                     limits: {{ memory: 128M, timeout: 20s }}\n\
                     capabilities: {{ escalate: [human], refund: {{ max_cents: 10000, currency: USD }} }}\n"
                ),
            )
            .unwrap();
            std::fs::write(dir.join("main.py"), PLANNED).unwrap();
        }
        std::fs::create_dir_all(root.join("workflows")).unwrap();
        std::fs::write(root.join("workflows/flow.yaml"), FLOW).unwrap();
        std::fs::write(
            root.join("silo.yaml"),
            "routing:\n  routes:\n    incoming: { workflow: flow }\n\
             operators:\n  alice:\n    pool: human\n    capabilities:\n\
             \x20     refund: { max_cents: 10000, currency: USD }\n\
             \x20     data.read: { fields: [name, email, tier] }\n"
                .to_owned()
                + extra,
        )
        .unwrap();
        Self { _tmp: tmp, root }
    }

    fn silo(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_silo"))
            .arg("--config")
            .arg(self.root.join("silo.yaml"))
            .arg("--json")
            .args(args)
            .env("SILO_RUN_DIR", self.root.join("run"))
            .output()
            .unwrap()
    }

    /// Submits `flow` with `plan`; the task as JSON.
    fn run(&self, plan: &str) -> (Output, Value) {
        let input = format!(r#"{{"plan": {plan}}}"#);
        self.submit(&["--workflow", "flow"], "case_001", &input)
    }

    /// Submits a task for `agent` on `case` with `input`; the task as JSON.
    fn submit_agent(&self, agent: &str, case: &str, input: &str) -> (Output, Value) {
        self.submit(&["--agent", agent], case, input)
    }

    fn submit(&self, entry: &[&str], case: &str, input: &str) -> (Output, Value) {
        let mut args = vec!["task", "submit"];
        args.extend_from_slice(entry);
        args.extend(["--customer", "cus_001", "--case", case, "--input", input]);
        let o = self.silo(&args);
        let task = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o, task)
    }

    /// The agents dispatched for `task`, in order.
    fn dispatched(&self, task: &Value) -> Vec<String> {
        let id = task["id"].as_str().unwrap();
        let o = self.silo(&["task", "events", id]);
        assert!(o.status.success(), "{}", text(&o));
        let events: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
        events
            .iter()
            .filter(|e| e["event"]["event"] == "dispatched")
            .map(|e| e["event"]["agent"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn root_only() -> bool {
    if crate::is_root() {
        return true;
    }
    eprintln!("SKIPPED: needs root");
    false
}

#[test]
fn a_workflow_runs_its_stages_redirects_and_error_paths_through_cells() {
    if !root_only() {
        return;
    }
    let p = Project::new();
    let check = p.silo(&["workflow", "check"]);
    assert!(check.status.success(), "{}", text(&check));

    // 200 then the next stage.
    let (o, t) = p.run("{}");
    assert_eq!(t["state"], "completed", "{}", text(&o));
    assert_eq!(p.dispatched(&t), ["intent-agent", "closer-agent"]);

    // 302 to a helper, back to the stage that asked, then on.
    let (o, t) = p.run(r#"{"intent-agent": "soft:helper-agent", "intent-agent+": "done"}"#);
    assert_eq!(t["state"], "completed", "{}", text(&o));
    assert_eq!(
        p.dispatched(&t),
        [
            "intent-agent",
            "helper-agent",
            "intent-agent",
            "closer-agent"
        ]
    );

    // 301 forward: the stage hands over and is not come back to.
    let (o, t) = p.run(r#"{"intent-agent": "hard:closer-agent"}"#);
    assert_eq!(t["state"], "completed", "{}", text(&o));
    assert_eq!(p.dispatched(&t), ["intent-agent", "closer-agent"]);

    // 400 → the `human` pool's inbox (exit 3: waiting for a person).
    let (o, t) = p.run(r#"{"intent-agent": "human"}"#);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(t["state"], "waiting_for_human");
    assert_eq!(t["run"]["agent"], "human");

    // 500 → abort.
    let (o, t) = p.run(r#"{"intent-agent": "fail"}"#);
    assert_eq!(t["state"], "aborted", "{}", text(&o));
    assert_eq!(p.dispatched(&t), ["intent-agent"]);

    // A 302 loop: two redirects are allowed, the third counts as 400.
    let (o, t) = p.run(r#"{"intent-agent": "soft:helper-agent"}"#);
    assert_eq!(t["state"], "waiting_for_human", "{}", text(&o));
    assert_eq!(
        p.dispatched(&t),
        [
            "intent-agent",
            "helper-agent",
            "intent-agent",
            "helper-agent",
            "intent-agent"
        ]
    );

    // A redirect to a target the stage does not list is the agent's error: 400.
    let (o, t) = p.run(r#"{"intent-agent": "soft:closer-agent"}"#);
    assert_eq!(t["state"], "waiting_for_human", "{}", text(&o));
}

#[test]
fn a_stage_that_runs_past_its_timeout_times_the_task_out() {
    if !root_only() {
        return;
    }
    let p = Project::new();
    let start = std::time::Instant::now();
    let (o, t) = p.run(r#"{"intent-agent": "sleep:15"}"#);
    assert_eq!(t["state"], "timed_out", "{}", text(&o));
    // The stage's 2 s, not the agent's own 20 s.
    assert!(start.elapsed().as_secs() < 12, "{:?}", start.elapsed());
    let id = t["id"].as_str().unwrap();
    let ev = p.silo(&["task", "events", id]);
    let events: Vec<Value> = serde_json::from_slice(&ev.stdout).unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"]["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["task_created", "dispatched", "timed_out", "key_revoked"]
    );
    assert_eq!(events[1]["event"]["timeout_ms"], 2000);
}

#[test]
fn a_signal_from_another_process_kills_the_live_cell_and_aborts_the_task() {
    if !root_only() {
        return;
    }
    let p = Project::new();
    let input = r#"{"plan": {"intent-agent": "sleep:15"}}"#;
    let submit = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--config")
        .arg(p.root.join("silo.yaml"))
        .args(["--json", "task", "submit", "--workflow", "flow"])
        .stderr(std::process::Stdio::piped())
        .args([
            "--customer",
            "cus_001",
            "--case",
            "case_001",
            "--input",
            input,
        ])
        .env("SILO_RUN_DIR", p.root.join("run"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the turn's cell to be live.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let id = loop {
        let o = p.silo(&["task", "list", "--state", "dispatched"]);
        if std::time::Instant::now() > deadline {
            let all = p.silo(&["task", "list"]);
            let mut submit = submit;
            let _ = submit.kill();
            let out = submit.wait_with_output().unwrap();
            panic!(
                "no live cell: {}\nall: {}\nsubmit: {}",
                text(&o),
                text(&all),
                text(&out)
            );
        }
        let tasks: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        let ps = p.silo(&["cell", "ps"]);
        if let Some(id) = tasks[0]["id"].as_str() {
            if String::from_utf8_lossy(&ps.stdout).contains("intent-agent") {
                break id.to_owned();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let start = std::time::Instant::now();
    let kill = p.silo(&["signal", "kill", &id]);
    assert!(kill.status.success(), "{}", text(&kill));
    let answer: Value = serde_json::from_slice(&kill.stdout).unwrap();
    assert_eq!(answer["cell_signalled"], true, "{}", text(&kill));
    assert_eq!(answer["task"]["state"], "aborted");
    let out = submit.wait_with_output().unwrap();
    assert!(start.elapsed().as_secs() < 10, "the cell was not killed");
    let t: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["state"], "aborted");
    let ps = p.silo(&["cell", "ps"]);
    assert!(
        !String::from_utf8_lossy(&ps.stdout).contains("intent-agent"),
        "{}",
        text(&ps)
    );
    // A second kill is refused: the task is over.
    let again = p.silo(&["signal", "kill", &id]);
    assert!(!again.status.success());
}

#[test]
fn an_operator_acts_through_the_membrane_with_their_own_key_and_limits() {
    if !root_only() {
        return;
    }
    let p = Project::new();
    let (o, t) = p.run(r#"{"intent-agent": "human"}"#);
    assert_eq!(t["state"], "waiting_for_human", "{}", text(&o));
    let id = t["id"].as_str().unwrap();
    let act = |op: &str, method: &str, path: &str, body: Option<&str>| {
        let mut args = vec!["task", "act", id, "--operator", op, method, path];
        if let Some(b) = body {
            args.extend(["--body", b]);
        }
        p.silo(&args)
    };
    // Not taken yet: refused before any key is minted.
    let early = act("alice", "POST", "/v1/data/customer", Some("{}"));
    assert!(!early.status.success());
    assert!(String::from_utf8_lossy(&early.stderr).contains("take it from the inbox first"));
    let take = p.silo(&["task", "take", id, "--operator", "alice"]);
    assert!(take.status.success(), "{}", text(&take));

    // The same tokenised view an agent gets.
    let seen = act("alice", "POST", "/v1/data/customer", Some("{}"));
    assert!(seen.status.success(), "{}", text(&seen));
    let seen: Value = serde_json::from_slice(&seen.stdout).unwrap();
    assert_eq!(seen["status"], 200);
    let name = seen["body"]["customer"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{seen}"));
    assert!(name.starts_with("[NAME_"), "{seen}");
    assert!(
        !seen.to_string().contains("Jane"),
        "raw PII reached the operator: {seen}"
    );
    // A field the operator's key does not grant is refused.
    let more = act("alice", "POST", "/v1/data/orders", Some("{}"));
    assert!(!more.status.success(), "{}", text(&more));

    // Within the operator's limit: paid, in the ledger, audited under the operator.
    let ok = act(
        "alice",
        "POST",
        "/v1/refund",
        Some(
            r#"{"amount_cents": 2500, "currency": "USD", "reason": "goodwill", "idempotency_key": "op-1"}"#,
        ),
    );
    assert!(ok.status.success(), "{}", text(&ok));
    let ok: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(ok["body"]["status"], "issued", "{ok}");
    // Over it: denied, with the policy's reason.
    let over = act(
        "alice",
        "POST",
        "/v1/refund",
        Some(
            r#"{"amount_cents": 20000, "currency": "USD", "reason": "too much", "idempotency_key": "op-2"}"#,
        ),
    );
    assert_eq!(over.status.code(), Some(1), "{}", text(&over));
    let over: Value = serde_json::from_slice(&over.stdout).unwrap();
    assert_eq!(over["status"], 403, "{over}");
    assert!(over["body"].to_string().contains("10000"), "{over}");

    let ledger = p.silo(&["membrane", "ledger", "--customer", "cus_001"]);
    let ledger_text = String::from_utf8_lossy(&ledger.stdout);
    assert!(ledger_text.contains("2500"), "{}", text(&ledger));
    assert!(!ledger_text.contains("20000"), "{}", text(&ledger));
    let audit = p.silo(&["audit", "query", "--agent", "alice"]);
    let audit_text = String::from_utf8_lossy(&audit.stdout);
    assert!(audit_text.contains("refund"), "{}", text(&audit));
    assert!(audit_text.contains("deny"), "{}", text(&audit));
    // Someone who is not an operator of the project cannot act at all.
    let mallory = act("mallory", "POST", "/v1/data/customer", Some("{}"));
    assert!(!mallory.status.success());
}

#[test]
fn a_shadow_sampled_task_acts_on_the_persons_result_and_flags_divergence() {
    if !root_only() {
        return;
    }
    // Every second task is sampled.
    let p = Project::with("router: { shadow: { one_in: 2 } }\n");
    let submit = |case: &str| p.submit_agent("closer-agent", case, "{}");
    let (o1, first) = submit("case_001");
    let (o2, second) = submit("case_002");
    // The first is not sampled: the agent's result acts.
    assert_eq!(first["state"], "completed", "{}", text(&o1));
    // The second is: the agent ran and its result is recorded, but a person decides.
    assert_eq!(second["state"], "waiting_for_human", "{}", text(&o2));
    assert_eq!(second["dispatches"], 1);
    assert_eq!(second["shadow"]["shadow"], "recorded", "{second}");
    assert!(
        second["waiting_because"]
            .as_str()
            .unwrap_or("")
            .contains("shadow review"),
        "{second}"
    );
    let id = second["id"].as_str().unwrap();
    let take = p.silo(&["task", "take", id, "--operator", "alice"]);
    assert!(take.status.success(), "{}", text(&take));
    // The person fails it where the agent said done: that result acts, and diverges.
    let answer = p.silo(&[
        "task",
        "answer",
        id,
        "--operator",
        "alice",
        "--result",
        "failed",
        "--summary",
        "the agent missed the damage photos",
    ]);
    let t: Value = serde_json::from_slice(&answer.stdout).unwrap();
    assert_eq!(t["state"], "failed", "{}", text(&answer));
    assert_eq!(t["shadow"]["shadow"], "reviewed", "{t}");
    assert_eq!(t["shadow"]["diverged"], true, "{t}");
    let ev = p.silo(&["task", "events", id]);
    let events: Vec<Value> = serde_json::from_slice(&ev.stdout).unwrap();
    let human = events
        .iter()
        .find(|e| e["event"]["event"] == "human_result")
        .unwrap();
    assert_eq!(human["event"]["diverged"], true);
    // And the router's record of it is in the audit log.
    let audit = p.silo(&["audit", "query", "--task", id]);
    assert!(
        String::from_utf8_lossy(&audit.stdout).contains("human_result"),
        "{}",
        text(&audit)
    );
}

#[test]
fn a_policy_kill_on_a_refusal_kills_the_live_cell_and_fails_the_task() {
    if !root_only() {
        return;
    }
    let p = Project::with("policy: policy.yaml\n");
    std::fs::write(
        p.root.join("policy.yaml"),
        "kill_on: [capability.refund.max_cents]\n",
    )
    .unwrap();
    let start = std::time::Instant::now();
    let (o, t) = p.submit_agent(
        "greedy-agent",
        "case_001",
        r#"{"plan": {"greedy-agent": "refund:50000"}}"#,
    );
    assert_eq!(t["state"], "failed", "{}", text(&o));
    assert!(
        t["outcome"]
            .as_str()
            .unwrap_or("")
            .contains("killed by policy"),
        "{t}"
    );
    // Killed at the refusal, not after the agent's 10 s sleep.
    assert!(start.elapsed().as_secs() < 8, "{:?}", start.elapsed());
    let audit = p.silo(&["audit", "query", "--action", "refund"]);
    let audit_text = String::from_utf8_lossy(&audit.stdout);
    assert!(
        audit_text.contains("\"cell_killed\":true"),
        "{}",
        text(&audit)
    );
    // Recording "done" before the forbidden call does not save the turn.
    let (o, t) = p.submit_agent(
        "greedy-agent",
        "case_003",
        r#"{"plan": {"greedy-agent": "done-then-refund:50000"}}"#,
    );
    assert_eq!(t["state"], "failed", "{}", text(&o));
    assert!(
        t["outcome"]
            .as_str()
            .unwrap_or("")
            .contains("killed by policy"),
        "{t}"
    );
    // Within its limit, the same agent is not killed.
    let (ok, t) = p.submit_agent(
        "greedy-agent",
        "case_002",
        r#"{"plan": {"greedy-agent": "refund:500"}}"#,
    );
    assert_eq!(t["state"], "completed", "{}", text(&ok));
}

#[test]
fn a_deployed_version_serves_the_next_turn_and_the_old_one_is_kept() {
    if !root_only() {
        return;
    }
    let p = Project::new();
    let src = p.root.join("closer-v2");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("agent.yaml"),
        "name: closer-agent\nversion: 2.0.0\nentry: [python3, main.py]\n\
         limits: { memory: 128M, timeout: 20s }\ncapabilities: { escalate: [human] }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("main.py"),
        "import silo\nsilo.done(\"closed by v2\")\n",
    )
    .unwrap();
    let src_arg = src.to_str().unwrap();

    let d = p.silo(&["agent", "deploy", src_arg]);
    assert!(d.status.success(), "{}", text(&d));
    let d: Value = serde_json::from_slice(&d.stdout).unwrap();
    assert_eq!(d["previous"], "1.0.0", "{d}");
    assert_eq!(d["version"], "2.0.0");
    assert_eq!(d["unchanged"], false);
    let list = p.silo(&["agent", "list"]);
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    let closer = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "closer-agent")
        .unwrap();
    assert_eq!(closer["version"], "2.0.0");
    // The next turn runs the new version.
    let (o, t) = p.submit_agent("closer-agent", "case_001", "{}");
    assert_eq!(t["outcome"], "closed by v2", "{}", text(&o));
    // The same content again changes nothing; the first version is kept for a rollback.
    let again = p.silo(&["agent", "deploy", src_arg]);
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["unchanged"], true, "{again}");
    let kept: Vec<String> = std::fs::read_dir(p.root.join("agents/.versions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        kept.iter().any(|k| k.starts_with("closer-agent-1.0.0")),
        "{kept:?}"
    );
    assert!(
        kept.iter().any(|k| k.starts_with("closer-agent-2.0.0-")),
        "{kept:?}"
    );
    // A folder without a manifest is refused, and nothing changes.
    let bad = p.root.join("not-an-agent");
    std::fs::create_dir_all(&bad).unwrap();
    let refused = p.silo(&["agent", "deploy", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    let list = p.silo(&["agent", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("2.0.0"));
    // A version that would name a path outside `.versions/` is refused.
    std::fs::write(
        src.join("agent.yaml"),
        "name: closer-agent\nversion: 1/../../../escaped\nentry: [python3, main.py]\n",
    )
    .unwrap();
    let escape = p.silo(&["agent", "deploy", src_arg]);
    assert!(!escape.status.success(), "{}", text(&escape));
    assert!(!p.root.join("escaped").exists());
    // Deployed through a relative agents path (from the project folder), the link still
    // resolves: it is relative to its own folder.
    std::fs::write(
        src.join("agent.yaml"),
        "name: closer-agent\nversion: 3.0.0\nentry: [python3, main.py]\n",
    )
    .unwrap();
    let relative = Command::new(env!("CARGO_BIN_EXE_silo"))
        .args([
            "--json",
            "agent",
            "deploy",
            "closer-v2",
            "--agents",
            "agents",
        ])
        .current_dir(&p.root)
        .output()
        .unwrap();
    assert!(relative.status.success(), "{}", text(&relative));
    let list = p.silo(&["agent", "list"]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("3.0.0"),
        "{}",
        text(&list)
    );
}

#[test]
fn stages_share_interim_assets_and_the_run_keeps_only_its_output() {
    if !root_only() {
        return;
    }
    let p = Project::new();
    let (o, t) = p.run(r#"{"intent-agent": "note:refund 45", "closer-agent": "reply"}"#);
    assert_eq!(t["state"], "completed", "{}", text(&o));
    let id = t["id"].as_str().unwrap();
    let out = p.silo(&["task", "output", id]);
    assert!(out.status.success(), "{}", text(&out));
    let kept: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The second stage read what the first stored; `draft` was collected at the end.
    assert_eq!(
        kept,
        serde_json::json!({"output/first": "refund 45", "output/reply": "refund 45 answered"})
    );
    let drafts = Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
             print(c.execute(\"SELECT COUNT(*) FROM kv WHERE key='draft'\").fetchone()[0])",
        )
        .arg(p.root.join("silo-data/membrane/membrane.db"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&drafts.stdout).trim(),
        "0",
        "{}",
        text(&drafts)
    );
    // Another run does not see this one's keys.
    let (o, t) = p.run(r#"{"closer-agent": "reply"}"#);
    assert_eq!(t["state"], "completed", "{}", text(&o));
    let out = p.silo(&["task", "output", t["id"].as_str().unwrap()]);
    let kept: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        kept,
        serde_json::json!({"output/reply": "nothing answered"})
    );
}

#[test]
fn a_running_daemon_picks_up_a_changed_policy_at_the_next_turn() {
    use std::io::BufRead;
    if !root_only() {
        return;
    }
    let p = Project::with("policy: policy.yaml\n");
    std::fs::write(p.root.join("policy.yaml"), "rules: []\n").unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--config")
        .arg(p.root.join("silo.yaml"))
        .args(["serve", "--listen", "127.0.0.1:0", "--no-console"])
        .env("SILO_RUN_DIR", p.root.join("run"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(daemon.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = format!("http://{}", line.trim().rsplit("http://").next().unwrap());
    let submit = |case: &str| {
        let o = p.silo(&[
            "task",
            "submit",
            "--server",
            &server,
            "--wait",
            "--agent",
            "greedy-agent",
            "--customer",
            "cus_001",
            "--case",
            case,
            "--input",
            r#"{"plan": {"greedy-agent": "refund:500"}}"#,
        ]);
        serde_json::from_slice::<Value>(&o.stdout).unwrap_or(Value::Null)
    };
    // Two turns on the same warm services: both refunds allowed.
    assert_eq!(submit("case_001")["state"], "completed");
    assert_eq!(submit("case_002")["state"], "completed");
    // The operator now kills any refund: the very next turn obeys.
    std::fs::write(
        p.root.join("policy.yaml"),
        "kill_on: [no-refunds]\nrules:\n  - { name: no-refunds, action: refund, effect: deny }\n",
    )
    .unwrap();
    let t = submit("case_003");
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(t["state"], "failed", "{t}");
    assert!(
        t["outcome"].as_str().unwrap_or("").contains("no-refunds"),
        "{t}"
    );
}
