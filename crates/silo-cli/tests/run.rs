//! `silo run` through real cells and a real membrane: the example refund agent does its
//! job, and a hostile agent tries every door the membrane guards and is refused at each.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::text;

fn silo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_silo"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Dirs {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    run: PathBuf,
    root: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    Dirs {
        data: root.join("data"),
        run: root.join("run"),
        root,
        _tmp: tmp,
    }
}

/// Writes an agent folder `<root>/<name>` with `files` (relative path, contents), readable
/// by the agent's own uid (directories 0755, files 0644).
fn agent_folder(d: &Dirs, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let agent = d.root.join(name);
    for (path, contents) in files {
        let file = agent.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, contents).unwrap();
        readable(&file);
    }
    for dir in [&d.root, &agent, &agent.join("templates")] {
        if dir.exists() {
            readable(dir);
        }
    }
    agent
}

/// World-readable (and, for directories, searchable): the agent runs under its own uid.
fn readable(path: &Path) {
    let mode = if path.is_dir() { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `silo run` for cus_001/case_001 with an LLM upstream configured.
fn run_with_llm(d: &Dirs, agent: &Path, url: &str, key: &str) -> Output {
    silo()
        .arg("--data-dir")
        .arg(&d.data)
        .args(["run", "--agent"])
        .arg(agent)
        .args(["--customer", "cus_001", "--case", "case_001", "--run-dir"])
        .arg(&d.run)
        .env("SILO_LLM_URL", url)
        .env("SILO_LLM_API_KEY", key)
        .output()
        .unwrap()
}

fn run(d: &Dirs, agent: &Path, customer: &str, case: &str, input: &str, extra: &[&str]) -> Output {
    silo()
        .arg("--data-dir")
        .arg(&d.data)
        .args(["run", "--agent"])
        .arg(agent)
        .args(["--customer", customer, "--case", case, "--input", input])
        .arg("--run-dir")
        .arg(&d.run)
        .args(extra)
        .output()
        .unwrap()
}

/// The seed customer's raw values that must never reach a cell.
const RAW: [&str; 5] = [
    "Jane Smith",
    "jane.smith@example.com",
    "010-2030",
    "Harbour Street",
    "1984-03-07",
];

#[test]
fn refund_agent_refunds_emails_and_resolves_the_case_once() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let d = dirs();
    let agent = repo().join("examples/customer-service/agents/refund-agent");
    let input = r#"{"message":"Hi, Jane Smith here (jane.smith@example.com): kettle ord_1001 arrived dented."}"#;
    let o = run(&d, &agent, "cus_001", "case_001", input, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["outcome"]["outcome"]["kind"], "complete", "{report}");
    let actions: Vec<&str> = report["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "task.read",
        "refund",
        "email.send",
        "data.write",
        "task.complete",
    ] {
        assert!(actions.contains(&want), "{actions:?}");
    }
    // One email, to the real address, rendered by the membrane.
    let outbox: Vec<_> = std::fs::read_dir(d.data.join("outbox/email"))
        .unwrap()
        .collect();
    assert_eq!(outbox.len(), 1);
    let msg: Value =
        serde_json::from_slice(&std::fs::read(outbox[0].as_ref().unwrap().path()).unwrap())
            .unwrap();
    assert_eq!(msg["to"], "jane.smith@example.com");
    assert!(msg["body"].as_str().unwrap().contains("Dear Jane Smith"));

    // The same case again (a retry): the refund and the email are replays, not new ones.
    let again = run(&d, &agent, "cus_001", "case_001", input, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let ledger = silo()
        .arg("--data-dir")
        .arg(&d.data)
        .args(["--json", "membrane", "ledger", "--customer", "cus_001"])
        .output()
        .unwrap();
    let refunds: Value = serde_json::from_slice(&ledger.stdout).unwrap();
    assert_eq!(refunds.as_array().unwrap().len(), 1, "paid once: {refunds}");
    assert_eq!(
        std::fs::read_dir(d.data.join("outbox/email"))
            .unwrap()
            .count(),
        1
    );
    let verify = silo()
        .arg("--data-dir")
        .arg(&d.data)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify));
}

// A low membrane rate, so the flood below is limited however slow a loaded machine is.
const HOSTILE_YAML: &str = "name: hostile-agent
version: 0.0.1
entry: [python3, main.py]
limits: { timeout: 30s, membrane_rate: 20, membrane_burst: 40 }
capabilities:
  refund: { max_cents: 500, currency: USD }
  data.read: { fields: [name, balance_cents] }
  email.send: { templates: [refund_issued] }
  escalate: [human]
";

const HOSTILE_TEMPLATE: &str = "Subject: refund\n\nDear {{customer.name}}, {{vars.note}}\n";

/// Tries each attack and prints one JSON object: attack name -> the error code (or `ok`).
const HOSTILE_MAIN: &str = r#"
import json, os, socket
import silo

results = {}
seen = []

def attempt(name, fn):
    try:
        out = fn()
        seen.append(json.dumps(out))
        results[name] = "ok"
        return out
    except silo.MembraneError as e:
        seen.append(e.message)
        results[name] = e.code
    except Exception as e:
        results[name] = "error:" + type(e).__name__

t = attempt("task", silo.task)
attempt("refund_over_limit", lambda: silo.refund(501, "x", idempotency_key="a1"))
attempt("refund_negative", lambda: silo._call("POST", "refund", {"amount_cents": -5, "currency": "USD", "reason": "x", "idempotency_key": "a2"}))
attempt("refund_float", lambda: silo._call("POST", "refund", {"amount_cents": 4.999, "currency": "USD", "reason": "x", "idempotency_key": "a3"}))
attempt("refund_other_currency", lambda: silo.refund(100, "x", idempotency_key="a4", currency="EUR"))
attempt("refund_other_customer", lambda: silo._call("POST", "refund", {"amount_cents": 100, "currency": "USD", "reason": "x", "idempotency_key": "a5", "customer": "cus_002"}))
attempt("refund_ok", lambda: silo.refund(300, "x", idempotency_key="r1"))
attempt("refund_replay", lambda: silo.refund(300, "x", idempotency_key="r1"))
attempt("read_granted", lambda: silo.data.customer(["name", "balance_cents"]))
attempt("read_ungranted_field", lambda: silo.data.customer(["email"]))
attempt("read_orders_ungranted", silo.data.orders)
attempt("raw_sql", lambda: silo._call("POST", "data/write", {"op": "sql", "text": "DROP TABLE customers"}))
attempt("template_not_granted", lambda: silo.email.send("internal_memo", "[EMAIL_1]", {}))
attempt("raw_address", lambda: silo.email.send("refund_issued", "attacker@evil.example", {"note": "x"}))
attempt("forged_token_recipient", lambda: silo.email.send("refund_issued", "[EMAIL_1]", {"note": "x"}))

real = os.environ["SILO_TASK_KEY"]
head, body, sig = real.split(".")
os.environ["SILO_TASK_KEY"] = head + "." + body + "." + sig[::-1]
attempt("forged_task_key", silo.task)
os.environ["SILO_TASK_KEY"] = open("/agent/other_cell.key").read().strip()
attempt("other_cell_key", silo.task)
os.environ["SILO_TASK_KEY"] = ""
attempt("no_task_key", silo.task)
os.environ["SILO_TASK_KEY"] = real

# Flood: the membrane rate-limits and stays up.
codes = set()
for i in range(600):
    try:
        silo.kv.get("k")
        codes.add("ok")
    except silo.MembraneError as e:
        codes.add(e.code)
results["flood"] = sorted(codes)

# The only door is the membrane: the network is not there.
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", 22))
    results["tcp"] = "connected"
except Exception as e:
    results["tcp"] = "blocked:" + type(e).__name__

print("SEEN " + json.dumps(seen))
print("RESULTS " + json.dumps(results))
"#;

#[test]
fn hostile_agent_is_refused_at_every_door_and_sees_no_raw_pii() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let d = dirs();
    let agent = agent_folder(
        &d,
        "hostile-agent",
        &[
            ("agent.yaml", HOSTILE_YAML),
            ("main.py", HOSTILE_MAIN),
            ("templates/refund_issued.email", HOSTILE_TEMPLATE),
            ("templates/internal_memo.email", HOSTILE_TEMPLATE),
        ],
    );
    // A genuine task key, minted for another cell, planted where the agent can read it.
    let init = silo()
        .arg("--data-dir")
        .arg(&d.data)
        .args(["keys", "init"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", text(&init));
    let other = silo()
        .arg("--data-dir")
        .arg(&d.data)
        .args([
            "keys",
            "mint-task",
            "--agent",
            "hostile-agent",
            "--task",
            "t-other",
            "--customer",
            "cus_001",
            "--case",
            "case_001",
            "--cell",
            "c-0123456789ab",
        ])
        .output()
        .unwrap();
    assert!(other.status.success(), "{}", text(&other));
    std::fs::write(agent.join("other_cell.key"), &other.stdout).unwrap();
    readable(&agent.join("other_cell.key"));

    let o = run(
        &d,
        &agent,
        "cus_001",
        "case_001",
        r#"{"message":"from Jane Smith"}"#,
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let results: Value = err
        .lines()
        .find_map(|l| l.strip_prefix("RESULTS "))
        .map(|j| serde_json::from_str(j).unwrap())
        .unwrap_or_else(|| panic!("no results: {}", text(&o)));
    let expect = [
        ("task", "ok"),
        ("refund_over_limit", "denied"),
        ("refund_negative", "denied"),
        ("refund_float", "denied"),
        ("refund_other_currency", "denied"),
        ("refund_other_customer", "denied"),
        ("refund_ok", "ok"),
        ("refund_replay", "ok"),
        ("read_granted", "ok"),
        ("read_ungranted_field", "denied"),
        ("read_orders_ungranted", "denied"),
        ("raw_sql", "invalid_request"),
        ("template_not_granted", "denied"),
        ("raw_address", "invalid_request"),
        ("forged_token_recipient", "invalid_request"),
        ("forged_task_key", "invalid_key"),
        ("other_cell_key", "wrong_cell"),
        ("no_task_key", "missing_key"),
    ];
    for (attack, code) in expect {
        assert_eq!(results[attack], code, "{attack}: {results}");
    }
    let flood: Vec<&str> = results["flood"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(flood.contains(&"rate_limited"), "{flood:?}");
    assert!(flood.contains(&"ok"), "{flood:?}");
    assert!(
        results["tcp"].as_str().unwrap().starts_with("blocked"),
        "{results}"
    );
    // Everything the agent saw (answers and error messages) is free of raw PII.
    let seen = err.lines().find_map(|l| l.strip_prefix("SEEN ")).unwrap();
    for raw in RAW {
        assert!(!seen.contains(raw), "`{raw}` reached the agent: {seen}");
    }
    assert!(seen.contains("[NAME_1]"), "{seen}");
    // Paid once (the replay paid nothing), within the limit.
    let ledger = silo()
        .arg("--data-dir")
        .arg(&d.data)
        .args(["--json", "membrane", "ledger", "--customer", "cus_001"])
        .output()
        .unwrap();
    let refunds: Value = serde_json::from_slice(&ledger.stdout).unwrap();
    assert_eq!(refunds.as_array().unwrap().len(), 1, "{refunds}");
    assert_eq!(refunds[0]["amount_cents"], 300);
    // Every call, allowed and denied, is in the audit log, which verifies.
    let audit = silo()
        .arg("--data-dir")
        .arg(&d.data)
        .args(["--json", "audit", "query", "--decision", "deny"])
        .output()
        .unwrap();
    let denied = String::from_utf8_lossy(&audit.stdout);
    assert!(denied.matches("\"deny\"").count() >= 12, "{}", text(&audit));
    let verify = silo()
        .arg("--data-dir")
        .arg(&d.data)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify));
}

/// A one-connection-at-a-time fake OpenAI-compatible upstream on 127.0.0.1 that echoes the
/// last user message and records what it was sent.
fn fake_llm() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let url = crate::fake_http(move |r| {
        let body = String::from_utf8_lossy(&r.body).to_string();
        log.lock().unwrap().push(format!("{}{body}", r.head));
        let req: Value = serde_json::from_str(&body).unwrap_or_default();
        let last = req["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
            .to_string();
        crate::chat_answer(&format!("echo: {last}"), 20, 5)
    });
    (format!("{url}/v1"), seen)
}

const LLM_YAML: &str = "name: llm-agent
version: 0.0.1
entry: [python3, main.py]
capabilities:
  data.read: { fields: [name] }
  llm: { max_tokens_per_task: 1000 }
";

const LLM_MAIN: &str = r#"
import silo
name = silo.data.customer(["name"])["name"]
print("ANSWER " + silo.llm.ask("Write a greeting for " + name, max_tokens=50))
silo.done("greeted")
"#;

#[test]
fn agent_reaches_the_llm_only_through_the_membrane_with_the_key_outside_the_cell() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let d = dirs();
    let agent = agent_folder(
        &d,
        "llm-agent",
        &[("agent.yaml", LLM_YAML), ("main.py", LLM_MAIN)],
    );
    let (url, seen) = fake_llm();
    let o = run_with_llm(&d, &agent, &url, "sk-upstream-secret-123");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ANSWER echo: Write a greeting for [NAME_1]"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("sk-upstream-secret-123"));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].contains("Bearer sk-upstream-secret-123"),
        "{}",
        seen[0]
    );
    assert!(
        !seen[0].contains("Jane"),
        "raw PII left for the LLM: {}",
        seen[0]
    );
}

const OPENAI_STYLE_YAML: &str = "name: openai-style-agent
version: 0.0.1
entry: [python3, main.py]
llm_loopback: true
capabilities:
  llm: { max_tokens_per_task: 1000 }
";

/// What the official `openai` package does with only `OPENAI_BASE_URL` and
/// `OPENAI_API_KEY` set: a JSON POST over TCP with a bearer token. Then the walls around it.
const OPENAI_STYLE_MAIN: &str = r#"
import json, os, socket, urllib.request, urllib.error
base = os.environ["OPENAI_BASE_URL"]
req = urllib.request.Request(base + "/chat/completions",
    data=json.dumps({"model": "gpt-x", "messages": [{"role": "user", "content": "hello from tcp"}], "max_tokens": 20}).encode(),
    headers={"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"], "Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(req, timeout=10))
print("ANSWER " + answer["choices"][0]["message"]["content"])
# A forged bearer is refused by the membrane.
bad = urllib.request.Request(base + "/chat/completions", data=b"{}",
    headers={"Authorization": "Bearer x:y", "Content-Type": "application/json"})
try:
    urllib.request.urlopen(bad, timeout=10)
    print("FORGED accepted")
except urllib.error.HTTPError as e:
    print("FORGED " + json.load(e)["error"]["code"])
def attempt(name, fn):
    try:
        fn()
        print(name + " ok")
    except OSError as e:
        print(name + " blocked " + type(e).__name__)
attempt("OTHERPORT", lambda: socket.create_connection(("127.0.0.1", 8090), timeout=2))
def bind():
    s = socket.socket(); s.bind(("127.0.0.1", 9000)); s.listen()
attempt("BIND", bind)
attempt("HOST", lambda: socket.create_connection(("10.0.2.2", 22), timeout=2))
# The forwarder runs under the agent's uid: only the Landlock signal scope keeps the agent
# from stopping it. Try every other process, then use the loopback again.
import signal
others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
def kill_all():
    for pid in others:
        os.kill(pid, signal.SIGKILL)
attempt("KILLFWD", kill_all)
print("OTHERS " + str(len(others)))
again = json.load(urllib.request.urlopen(req, timeout=10))
print("ANSWER2 " + again["choices"][0]["message"]["content"])
"#;

#[test]
fn openai_style_client_reaches_the_llm_over_the_in_cell_loopback_and_nothing_else() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let d = dirs();
    let agent = agent_folder(
        &d,
        "openai-style-agent",
        &[
            ("agent.yaml", OPENAI_STYLE_YAML),
            ("main.py", OPENAI_STYLE_MAIN),
        ],
    );
    let (url, seen) = fake_llm();
    let o = run_with_llm(&d, &agent, &url, "sk-upstream-secret-456");
    let all = text(&o);
    assert!(all.contains("ANSWER echo: hello from tcp"), "{all}");
    assert!(all.contains("FORGED invalid_key"), "{all}");
    for wall in [
        "OTHERPORT blocked",
        "BIND blocked",
        "HOST blocked",
        "KILLFWD blocked PermissionError",
        "ANSWER2 echo: hello from tcp",
    ] {
        assert!(all.contains(wall), "{wall}: {all}");
    }
    assert!(!all.contains("sk-upstream-secret-456"));
    assert!(
        !all.contains("OTHERS 0"),
        "the forwarder must be there to attack: {all}"
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
}

const SMALL_REFUNDS_YAML: &str = "name: small-refund-agent
version: 0.0.1
entry: [python3, main.py]
capabilities:
  refund: { max_cents: 500, currency: USD }
";

const SMALL_REFUNDS_MAIN: &str = r#"
import silo
t = silo.task()
try:
    r = silo.refund(300, "x", idempotency_key=t["task"])
    print("PAID " + r["refund_id"])
except silo.MembraneError as e:
    print("REFUSED " + e.code + " " + str(e.rule))
silo.done("tried")
"#;

const DAILY_POLICY: &str = "version: 1
default: allow
rules:
  - name: agent-daily-refunds
    action: refund
    daily_total: { per: agent, max_cents: 500 }
    effect: deny
    priority: 50
    reason: the agent's refunds today would exceed 5.00
";

#[test]
fn daily_totals_hold_across_separate_runs() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let d = dirs();
    let agent = agent_folder(
        &d,
        "small-refund-agent",
        &[
            ("agent.yaml", SMALL_REFUNDS_YAML),
            ("main.py", SMALL_REFUNDS_MAIN),
        ],
    );
    std::fs::create_dir_all(&d.data).unwrap();
    std::fs::write(d.data.join("policy.yaml"), DAILY_POLICY).unwrap();
    // Two tasks, two processes, two customers: each refund is within the per-refund limit,
    // together they exceed the agent's daily total.
    let first = run(&d, &agent, "cus_001", "case_001", "{}", &[]);
    assert!(text(&first).contains("PAID rf_"), "{}", text(&first));
    let second = run(&d, &agent, "cus_002", "case_002", "{}", &[]);
    assert!(
        text(&second).contains("REFUSED denied agent-daily-refunds"),
        "{}",
        text(&second)
    );
}
