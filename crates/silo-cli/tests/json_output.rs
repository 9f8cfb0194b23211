//! `--json` on every command that prints information: each is run against a prepared
//! project and data directory and its standard output must be one JSON document (JSON
//! Lines for the audit log's entries and the daemon's announcements) with the keys a
//! script reads, and nothing else. An error with `--json` is a message on standard error
//! and a non-zero exit, with nothing on standard output. The cases that need cells (a
//! real `silo run`, a task through the router) run as root only; the rest run anywhere.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::text;

/// A project made by `silo init` (with an operator added to its silo.yaml) and a data
/// directory of its own.
struct Project {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    run: PathBuf,
}

impl Project {
    fn new() -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let p = Project {
            dir: root.join("shop"),
            data: root.join("data"),
            run: root.join("run"),
            root,
            _tmp: tmp,
        };
        // `silo init` itself, as JSON: the files it wrote.
        let init = p.json(&["init", p.dir.to_str().unwrap()], 0);
        let files: Vec<&str> = init["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert!(files.contains(&"silo.yaml"), "{init}");
        assert!(init["next_steps"].as_str().unwrap().contains("silo run"));
        let config = p.dir.join("silo.yaml");
        let mut yaml = std::fs::read_to_string(&config).unwrap();
        yaml.push_str(
            "operators:\n  ana:\n    pool: human\n    capabilities:\n      refund: { max_cents: 50000, currency: USD }\n",
        );
        std::fs::write(&config, yaml).unwrap();
        p
    }

    fn agent_dir(&self) -> PathBuf {
        self.dir.join("agents").join("support-agent")
    }

    /// `silo --json --config … --data-dir … ARGS` with `stdin`.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_silo"))
            .arg("--json")
            .arg("--config")
            .arg(self.dir.join("silo.yaml"))
            .arg("--data-dir")
            .arg(&self.data)
            .args(args)
            .current_dir(&self.root)
            .env("SILO_RUN_DIR", &self.run)
            .env_remove("SILO_CONFIG")
            .env_remove("SILO_DATA_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs `args`, expects exit `code` and exactly one JSON document on stdout.
    fn json(&self, args: &[&str], code: i32) -> Value {
        let o = self.run(args, "");
        one_document(args, &o, code)
    }

    /// As [`Project::json`], with standard input.
    fn json_in(&self, args: &[&str], stdin: &str, code: i32) -> Value {
        let o = self.run(args, stdin);
        one_document(args, &o, code)
    }

    /// Runs `args`, expects exit 0 and JSON Lines on stdout: one object a line.
    fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        let o = self.run(args, "");
        assert_eq!(o.status.code(), Some(0), "silo {args:?}\n{}", text(&o));
        String::from_utf8(o.stdout.clone())
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .unwrap_or_else(|e| panic!("silo {args:?}: line {l:?} is not JSON: {e}"))
            })
            .inspect(|v| assert!(v.is_object(), "silo {args:?}: {v}"))
            .collect()
    }
}

fn one_document(args: &[&str], o: &Output, code: i32) -> Value {
    assert_eq!(o.status.code(), Some(code), "silo {args:?}\n{}", text(o));
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    // One document: serde_json's reader refuses trailing text (a second line of output).
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("silo {args:?}: stdout is not one JSON document ({e}):\n{out}"))
}

/// `v` is an object with every key of `keys`.
fn has_keys(what: &str, v: &Value, keys: &[&str]) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {v}"));
    for k in keys {
        assert!(obj.contains_key(*k), "{what}: no `{k}` in {v}");
    }
}

/// `v` is an array whose items all have `keys`; returns its length.
fn rows(what: &str, v: &Value, keys: &[&str]) -> usize {
    let a = v
        .as_array()
        .unwrap_or_else(|| panic!("{what}: not an array: {v}"));
    for row in a {
        has_keys(what, row, keys);
    }
    a.len()
}

#[test]
fn every_read_command_prints_one_json_document() {
    let p = Project::new();
    let agents = p.dir.join("agents");
    let agents = agents.to_str().unwrap();
    let agent_dir = p.agent_dir();
    let agent_dir = agent_dir.to_str().unwrap();

    // Agents and workflows.
    let list = p.json(&["agent", "list", "--agents", agents], 0);
    assert_eq!(rows("agent list", &list, &["name", "version", "online"]), 1);
    let off = p.json(&["agent", "offline", "support-agent"], 0);
    assert_eq!(
        off,
        serde_json::json!({"name": "support-agent", "online": false})
    );
    let list = p.json(&["agent", "list", "--agents", agents], 0);
    assert_eq!(list[0]["online"], false, "{list}");
    let on = p.json(&["agent", "online", "support-agent"], 0);
    assert_eq!(on["online"], true);
    let new = p.json(&["agent", "new", "billing-agent", "--agents", agents], 0);
    has_keys("agent new", &new, &["name", "dir", "test", "run"]);
    let checked = p.json(&["workflow", "check"], 0);
    assert_eq!(
        rows(
            "workflow check",
            &checked["workflows"],
            &["name", "stages", "ok"]
        ),
        1
    );
    let wf = p.dir.join("workflows").join("support.yaml");
    let checked = p.json(&["workflow", "check", wf.to_str().unwrap()], 0);
    assert_eq!(checked["workflows"][0]["name"], "support", "{checked}");

    // The router store's reads (empty here: no cell ran).
    assert_eq!(rows("task list", &p.json(&["task", "list"], 0), &["id"]), 0);
    assert_eq!(
        rows("task inbox", &p.json(&["task", "inbox"], 0), &["id"]),
        0
    );
    assert_eq!(
        rows(
            "task events",
            &p.json(&["task", "events", "T-none"], 0),
            &["seq"]
        ),
        0
    );

    // Operator accounts.
    let pw = "a long enough password for ana\n";
    let added = p.json_in(&["operator", "add", "ana", "--password-stdin"], pw, 0);
    assert_eq!(added["created"], true, "{added}");
    let ops = p.json(&["operator", "list"], 0);
    assert_eq!(
        rows(
            "operator list",
            &ops,
            &["operator", "pool", "admin", "in_project"]
        ),
        1
    );
    let removed = p.json(&["operator", "remove", "ana"], 0);
    assert_eq!(removed["removed"], true);

    // Keys: the store, two tokens, their inspection and a revocation.
    has_keys("keys init", &p.json(&["keys", "init"], 0), &["dir", "kid"]);
    let caps = r#"{"refund":{"max_cents":50000,"currency":"USD"}}"#;
    let base = p.json(
        &[
            "keys",
            "mint-base",
            "--agent",
            agent_dir,
            "--name",
            "support-agent",
            "--version",
            "0.1.0",
            "--caps",
            caps,
        ],
        0,
    );
    has_keys("keys mint-base", &base, &["token", "jti", "exp"]);
    let task = p.json(
        &[
            "keys",
            "mint-task",
            "--agent",
            "support-agent",
            "--task",
            "t-1",
            "--customer",
            "cus_001",
            "--case",
            "case_001",
            "--cell",
            "c-1",
        ],
        0,
    );
    let (base, task_token) = (
        base["token"].as_str().unwrap(),
        task["token"].as_str().unwrap(),
    );
    let seen = p.json(&["keys", "inspect", base, "--agent-dir", agent_dir], 0);
    has_keys(
        "keys inspect",
        &seen,
        &["kind", "claims", "kid_status", "valid", "refusal"],
    );
    assert_eq!(seen["valid"], true, "{seen}");
    let rotated = p.json(&["keys", "rotate", "--overlap-secs", "60"], 0);
    has_keys("keys rotate", &rotated, &["kid", "previous"]);
    let revoked = p.json(&["keys", "revoke", task["jti"].as_str().unwrap()], 0);
    assert_eq!(revoked["newly_revoked"], true);
    // A refused token: the verdict as JSON, exit 3.
    let refused = p.json(&["keys", "inspect", task_token], 3);
    assert_eq!(refused["valid"], false, "{refused}");

    // Policy: check lists the rules; eval decides, with its exit codes.
    let policy = p.dir.join("policies").join("policy.yaml");
    let policy = policy.to_str().unwrap();
    let checked = p.json(&["policy", "check", policy], 0);
    has_keys(
        "policy check",
        &checked,
        &["ok", "rules", "examples_checked", "default"],
    );
    assert_eq!(
        rows(
            "policy check",
            &checked["evaluation_order"],
            &["priority", "effect", "name"]
        ),
        2,
        "{checked}"
    );
    let fresh = p.json(
        &[
            "keys",
            "mint-task",
            "--agent",
            "support-agent",
            "--task",
            "t-2",
            "--customer",
            "cus_001",
            "--case",
            "case_001",
            "--cell",
            "c-2",
        ],
        0,
    );
    let fresh = fresh["token"].as_str().unwrap();
    let eval = |amount: u32, code: i32| {
        let params = format!(r#"{{"amount":{amount},"currency":"USD","customer":"cus_001"}}"#);
        p.json(
            &[
                "policy", "eval", "--base", base, "--task", fresh, "--action", "refund",
                "--params", &params, "--policy", policy,
            ],
            code,
        )
    };
    assert_eq!(eval(25_000, 4)["decision"], "needs_approval");
    assert_eq!(eval(1_000, 0)["decision"], "allow");
    assert_eq!(eval(90_000, 3)["decision"], "deny");

    // PII: scan, a round trip through a vault, and an audited reveal from the real vault.
    let said = "Jane Smith (jane@example.com) wrote in.";
    let scan = p.json_in(&["pii", "scan", "--known", "name=Jane Smith"], said, 0);
    assert_eq!(
        rows(
            "pii scan",
            &scan,
            &["start", "end", "kind", "layer", "text"]
        ),
        2
    );
    let vault = p.data.join("vault");
    let vault = vault.to_str().unwrap();
    let tok = p.json_in(
        &[
            "pii",
            "tokenize",
            "--task",
            "t-1",
            "--vault",
            vault,
            "--known",
            "name=Jane Smith",
        ],
        said,
        0,
    );
    has_keys("pii tokenize", &tok, &["task", "text", "escaped"]);
    let tokenised = tok["text"].as_str().unwrap();
    assert!(tokenised.contains("[EMAIL_1]"), "{tok}");
    let back = p.json_in(
        &["pii", "hydrate", "--task", "t-1", "--vault", vault],
        tokenised,
        0,
    );
    assert_eq!(back["text"], said);
    let revealed = p.json(
        &[
            "pii",
            "reveal",
            "--task",
            "t-1",
            "--operator",
            "ana",
            "--reason",
            "a test",
            "[EMAIL_1]",
        ],
        0,
    );
    assert_eq!(revealed["value"], "jane@example.com", "{revealed}");
    assert_eq!(revealed["kind"], "EMAIL");

    // The audit log (the reveal is in it): entries as JSON Lines, verdicts as documents.
    let tail = p.json_lines(&["audit", "tail", "-n", "5"]);
    assert_eq!(tail.len(), 1, "{tail:?}");
    has_keys(
        "audit tail",
        &tail[0],
        &["seq", "time", "actor", "action", "decision"],
    );
    let found = p.json_lines(&["audit", "query", "--action", "pii.reveal"]);
    assert_eq!(found, tail);
    let verified = p.json(&["audit", "verify"], 0);
    assert_eq!(verified["ok"], true, "{verified}");
    has_keys("audit verify", &verified, &["size", "root", "checkpoint"]);
    let cp = p.json(&["audit", "checkpoint"], 0);
    has_keys("audit checkpoint", &cp, &["checkpoint"]);
    let out = p.root.join("cp.json");
    let exported = p.json(&["audit", "export", "--out", out.to_str().unwrap()], 0);
    has_keys("audit export", &exported, &["out", "size", "root", "kid"]);

    // Without cells: the red-team catalogue, running cells, the man pages.
    let cases = p.json(&["redteam", "--list", "--category", "keys"], 0);
    assert!(rows("redteam --list", &cases, &["category", "id", "title"]) > 0);
    let cells = p.json(&["cell", "ps", "--run-dir", p.run.to_str().unwrap()], 0);
    assert_eq!(rows("cell ps", &cells, &["id", "agent", "state"]), 0);
    let man = p.root.join("man");
    let pages = p.json(&["man", "--out", man.to_str().unwrap()], 0);
    assert!(pages["pages"].as_array().unwrap().len() > 60, "{pages}");

    // The membrane's stores do not exist before a run: an error, and stdout stays empty.
    let o = p.run(&["membrane", "ledger", "--customer", "cus_001"], "");
    assert_ne!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no membrane database"));
}

#[test]
fn an_error_with_json_is_a_message_on_stderr_and_nothing_on_stdout() {
    let p = Project::new();
    for args in [
        &["task", "show", "T-none"][..],
        &["agent", "offline", "Not A Name"][..],
        &["operator", "remove", "nobody"][..],
        &["workflow", "check", "/nonexistent.yaml"][..],
        &["policy", "check", "/nonexistent.yaml"][..],
        &["keys", "inspect", "not-a-token"][..],
    ] {
        let o = p.run(args, "");
        assert_ne!(o.status.code(), Some(0), "silo {args:?}: {}", text(&o));
        assert!(o.stdout.is_empty(), "silo {args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("silo: "), "silo {args:?}: {}", text(&o));
    }
}

#[test]
fn serve_announces_where_it_listens_as_json_lines() {
    use std::io::BufRead;
    let p = Project::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_silo"))
        .args(["--json", "--config"])
        .arg(p.dir.join("silo.yaml"))
        .arg("--data-dir")
        .arg(&p.data)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--console",
            "127.0.0.1:0",
            "--workers",
            "1",
        ])
        .env("SILO_RUN_DIR", &p.run)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let line = lines.next().unwrap().unwrap();
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("`{line}` is not JSON: {e}"));
        has_keys("serve", &v, &["listening", "url"]);
        seen.push(v["listening"].as_str().unwrap().to_owned());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    seen.sort();
    assert_eq!(seen, ["api", "console"]);
}

/// As root: a real `silo run` and a task through the router, then the reads of what they
/// left: the membrane's outcome and ledger, the task, its events and output.
#[test]
fn the_reads_of_a_run_print_json() {
    if !crate::is_root() {
        eprintln!("skipped: cells need root");
        return;
    }
    let p = Project::new();
    let agent_dir = p.agent_dir();
    let run = p.json(
        &[
            "run",
            "--agent",
            agent_dir.to_str().unwrap(),
            "--customer",
            "cus_001",
            "--case",
            "case_001",
            "--input",
            r#"{"message":"hello"}"#,
            "--task",
            "t-run",
        ],
        0,
    );
    has_keys(
        "run",
        &run,
        &["task", "cell", "outcome", "audit", "timings"],
    );
    let outcome = p.json(&["membrane", "outcome", "--task", "t-run"], 0);
    has_keys("membrane outcome", &outcome, &["task", "agent", "outcome"]);
    let ledger = p.json(&["membrane", "ledger", "--customer", "cus_001"], 0);
    assert_eq!(rows("membrane ledger", &ledger, &["refund_id"]), 0);
    let submitted = p.json(
        &[
            "task",
            "submit",
            "--agent",
            "support-agent",
            "--customer",
            "cus_001",
            "--case",
            "case_001",
            "--input",
            r#"{"message":"hello"}"#,
        ],
        0,
    );
    has_keys("task submit", &submitted, &["id", "state", "run"]);
    let id = submitted["id"].as_str().unwrap();
    assert_eq!(p.json(&["task", "show", id], 0)["id"], id);
    assert!(
        rows(
            "task events",
            &p.json(&["task", "events", id], 0),
            &["seq", "event"]
        ) > 0
    );
    assert!(p.json(&["task", "output", id], 0).is_object());
    assert_eq!(
        rows("task list", &p.json(&["task", "list"], 0), &["id", "state"]),
        1
    );
    let verified = p.json(&["audit", "verify"], 0);
    assert!(verified["size"].as_u64().unwrap() > 1, "{verified}");
}
