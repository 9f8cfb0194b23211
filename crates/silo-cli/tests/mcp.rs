//! MCP both ways. Inside a real cell, an MCP-native agent (a stdio JSON-RPC client, no silo
//! SDK) starts `$SILO_MCP_COMMAND`, sees only the tools its base key allows, gets tokens
//! instead of personal data, pays an allowed refund, is refused one over its limit (as a
//! tool error with the rule), and completes — every call through the membrane and audited.
//! Outside, `silo mcp` gives an MCP client task submission and status through a running
//! `silo serve`, audit queries and policy what-ifs.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};

use crate::text;

const MCP_AGENT_YAML: &str = "name: mcp-agent
version: 0.0.1
entry: [python3, main.py]
mcp: true
capabilities:
  refund: { max_cents: 500, currency: USD }
  data.read: { fields: [name, email, tier] }
";

/// An MCP client written against the protocol only: newline-delimited JSON-RPC 2.0 over
/// the server's stdio, as MCP's stdio transport specifies.
const MCP_AGENT_MAIN: &str = r#"
import json, os, shlex, subprocess
cmd = shlex.split(os.environ["SILO_MCP_COMMAND"])
srv = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
ids = iter(range(1, 1000))
def rpc(method, params=None):
    i = next(ids)
    srv.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params or {}}) + "\n")
    srv.stdin.flush()
    while True:
        msg = json.loads(srv.stdout.readline())
        if msg.get("id") == i:
            return msg
def call(name, args=None):
    return rpc("tools/call", {"name": name, "arguments": args or {}})
init = rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                          "clientInfo": {"name": "plain-mcp-client", "version": "1"}})
print("SERVER " + init["result"]["serverInfo"]["name"])
srv.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
srv.stdin.flush()
tools = [t["name"] for t in rpc("tools/list")["result"]["tools"]]
print("TOOLS " + ",".join(tools))
who = call("get_customer", {"fields": ["name", "email"]})["result"]
print("CUSTOMER " + json.dumps(who["structuredContent"]))
task = call("get_task")["result"]["structuredContent"]
paid = call("issue_refund", {"amount_cents": 300, "currency": "USD", "reason": "dented kettle",
                             "idempotency_key": task["task"] + "-small"})["result"]
print("PAID " + str(paid["isError"]) + " " + paid["structuredContent"].get("refund_id", ""))
big = call("issue_refund", {"amount_cents": 90000, "currency": "USD", "reason": "sofa",
                            "idempotency_key": task["task"] + "-big"})["result"]
print("BIG " + str(big["isError"]) + " " + big["structuredContent"]["code"] + " " + big["structuredContent"].get("rule", ""))
mail = call("send_email", {"template": "apology", "to": "[EMAIL_1]", "idempotency_key": "m1"})
print("MAIL " + ("error " + str(mail["error"]["code"]) if "error" in mail else "sent"))
done = call("complete", {"status": "done", "summary": "refunded 3.00 through MCP"})["result"]
print("DONE " + str(done["isError"]))
srv.stdin.close()
print("EXIT " + str(srv.wait(timeout=10)))
"#;

const PLAIN_AGENT_YAML: &str = "name: plain-agent
version: 0.0.1
entry: [python3, main.py]
";

const PLAIN_AGENT_MAIN: &str = r#"
import os
print("MCPCMD " + str("SILO_MCP_COMMAND" in os.environ))
print("SILOEXE " + str(os.path.exists("/opt/silo/bin/silo")))
# The SDK's view of the same catalogue, as OpenAI function definitions.
import silo
print("OPENAI " + ",".join(d["function"]["name"] for d in silo.openai_tools()))
print("VIA " + silo.call_tool("get_task")["agent"])
try:
    silo.call_tool("issue_refund", {"amount_cents": 1})
    print("NOREFUND paid")
except silo.MembraneError as e:
    print("NOREFUND " + e.code)
"#;

fn agent(root: &Path, name: &str, yaml: &str, main: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, body) in [("agent.yaml", yaml), ("main.py", main)] {
        std::fs::write(dir.join(file), body).unwrap();
        std::fs::set_permissions(dir.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    for d in [root, dir.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn run_agent(root: &Path, dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(root.join("data"))
        .args(["run", "--json", "--agent"])
        .arg(dir)
        .args(["--customer", "cus_001", "--case", "case_001", "--run-dir"])
        .arg(root.join("run"))
        .output()
        .unwrap()
}

#[test]
fn an_mcp_native_agent_in_a_cell_uses_the_membrane_tools_its_key_allows() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = agent(root, "mcp-agent", MCP_AGENT_YAML, MCP_AGENT_MAIN);
    let o = run_agent(root, &dir);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert!(all.contains("SERVER silo-cell"), "{all}");
    // Only what the base key grants: no email, no escalation, no writes.
    assert!(
        all.contains("TOOLS get_task,kv_get,kv_put,get_customer,issue_refund,complete"),
        "{all}"
    );
    assert!(
        all.contains(r#"CUSTOMER {"customer": {"email": "[EMAIL_1]", "name": "[NAME_1]"}}"#),
        "{all}"
    );
    assert!(all.contains("PAID False rf_"), "{all}");
    assert!(
        all.contains("BIG True denied capability.refund.max_cents"),
        "{all}"
    );
    assert!(
        all.contains("MAIL error -32602"),
        "an unlisted tool is not run: {all}"
    );
    assert!(all.contains("DONE False"), "{all}");
    assert!(all.contains("EXIT 0"), "{all}");
    for raw in ["Jane Smith", "jane.smith@example.com"] {
        assert!(!all.contains(raw), "raw PII reached the cell: {all}");
    }
    // The membrane did the work: the same audit as direct calls, one refund paid.
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let audit = report["audit"].as_array().unwrap();
    let refunds: Vec<&str> = audit
        .iter()
        .filter(|e| e["action"] == "refund")
        .map(|e| e["decision"].as_str().unwrap())
        .collect();
    assert_eq!(refunds, ["allow", "deny"], "{report}");
    assert!(
        audit.iter().any(|e| e["action"] == "tools.list"),
        "{report}"
    );
    assert_eq!(report["outcome"]["outcome"]["status"], "done", "{report}");
    assert!(!audit.iter().any(|e| e["action"] == "email.send"));

    // Without `mcp: true` the cell has neither the command nor the executable.
    let plain = agent(root, "plain-agent", PLAIN_AGENT_YAML, PLAIN_AGENT_MAIN);
    let p = run_agent(root, &plain);
    let shown = text(&p);
    assert!(
        shown.contains("MCPCMD False") && shown.contains("SILOEXE False"),
        "{shown}"
    );
}

/// A stdio MCP session with a `silo mcp` child.
struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next: u64,
}

impl Session {
    fn start(args: &[&str], data: &Path) -> Session {
        let mut child = Command::new(env!("CARGO_BIN_EXE_silo"))
            .args([
                "--config",
                "examples/customer-service/silo.yaml",
                "--data-dir",
            ])
            .arg(data)
            .args(args)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut s = Session {
            child,
            stdin,
            stdout,
            next: 0,
        };
        let init = s.rpc(
            "initialize",
            json!({ "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": { "name": "test", "version": "1" } }),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "silo", "{init}");
        writeln!(
            s.stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )
        .unwrap();
        s
    }

    fn rpc(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        writeln!(
            self.stdin,
            "{}",
            json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
        )
        .unwrap();
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "server closed"
            );
            let msg: Value = serde_json::from_str(&line).unwrap();
            if msg["id"] == id {
                return msg;
            }
        }
    }

    fn call(&mut self, name: &str, args: Value) -> Value {
        self.rpc("tools/call", json!({ "name": name, "arguments": args }))["result"].clone()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn silo_mcp_gives_an_mcp_client_tasks_audit_and_policy() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = crate::serve::start(&data, &tmp.path().join("run"));
    // No cell in this test: the agent is offline, so the task waits for a person.
    let off = crate::serve::silo_at(&data, &["agent", "offline", "refund-agent"]);
    assert!(off.status.success(), "{}", text(&off));
    let server = format!("http://{}", d.addr);
    let mut s = Session::start(&["mcp", "--server", &server], &data);

    let tools = s.rpc("tools/list", json!({}));
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["submit_task", "task_status", "audit_query", "policy_eval"]
    );

    let created = s.call(
        "submit_task",
        json!({ "entry": "refund-agent", "customer": "cus_001", "case": "case_001",
                "input": { "message": "Jane Smith: kettle ord_1001 dented" } }),
    );
    assert_eq!(created["isError"], false, "{created}");
    let id = created["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut status = Value::Null;
    for _ in 0..100 {
        status = s.call("task_status", json!({ "id": id }));
        if status["structuredContent"]["task"]["state"] == "waiting_for_human" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        status["structuredContent"]["task"]["state"], "waiting_for_human",
        "{status}"
    );
    assert!(status["structuredContent"]["events"]
        .as_array()
        .is_some_and(|e| !e.is_empty()));
    // The raw input was tokenised before the router stored it.
    assert!(!status.to_string().contains("Jane Smith"), "{status}");

    let missing = s.call("task_status", json!({ "id": "T-999999" }));
    assert_eq!(missing["isError"], true, "{missing}");
    let injected = s.call("task_status", json!({ "id": "../../v1/agents" }));
    assert_eq!(injected["isError"], true, "{injected}");

    // The router's events for the task are in the audit log.
    let mut entries = Value::Null;
    for _ in 0..50 {
        entries = s.call("audit_query", json!({ "task": id }));
        if entries["structuredContent"]["count"].as_u64() > Some(0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        entries["structuredContent"]["count"].as_u64() > Some(0),
        "{entries}"
    );
    let bad = s.call("audit_query", json!({ "decision": "maybe" }));
    assert_eq!(bad["isError"], true, "{bad}");

    // Policy what-ifs with the agent's own base key from agent.yaml.
    let small = s.call(
        "policy_eval",
        json!({ "agent": "refund-agent", "action": "refund",
                "params": { "amount": 2000, "currency": "USD" } }),
    );
    assert_eq!(
        small["structuredContent"]["decision"]["decision"], "allow",
        "{small}"
    );
    let big = s.call(
        "policy_eval",
        json!({ "agent": "refund-agent", "action": "refund",
                "params": { "amount": 90000, "currency": "USD" } }),
    );
    assert_eq!(
        big["structuredContent"]["decision"]["decision"], "deny",
        "{big}"
    );
    assert_eq!(
        big["structuredContent"]["decision"]["rule"], "capability.refund.max_cents",
        "{big}"
    );
    let nobody = s.call(
        "policy_eval",
        json!({ "agent": "../etc", "action": "refund" }),
    );
    assert_eq!(nobody["isError"], true, "{nobody}");

    // With the daemon gone, submitting is a tool error that says so.
    drop(d);
    let down = s.call(
        "submit_task",
        json!({ "entry": "refund-agent", "customer": "cus_001" }),
    );
    assert_eq!(down["isError"], true, "{down}");
    assert!(down.to_string().contains("is it running"), "{down}");
}
