//! An agent written for the official `openai` Python package runs in a cell unchanged:
//! `OpenAI()` finds the membrane through `OPENAI_BASE_URL` alone, and its function-calling
//! loop works — the model's tool calls are carried out as membrane actions (key-checked,
//! policy-checked, audited), their results go back to the model, and nothing raw about the
//! customer crosses the LLM boundary in either direction.
//!
//! The package is not part of the repository: `.ci/run` installs it (pinned, from
//! `tests/openai-requirements.txt`) into `/opt/silo-test/python` with the Python the cells
//! run (`/usr/bin/python3`), and the test installs it there itself when it is missing (pip
//! and PyPI needed); `SILO_TEST_PYTHONPATH` names another folder. Without the package the
//! test fails (it skips only when not root, like every test that runs cells).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::text;

/// Where the `openai` package is installed for the tests (`pip install --target`).
const DEFAULT_PYTHONPATH: &str = "/opt/silo-test/python";
/// The host's key for the upstream: the fake must get it, the cell must never.
const UPSTREAM_KEY: &str = "sk-upstream-openai-sdk-789";
/// A refund the model asks for above the base key's `max_cents` (50000).
const TOO_BIG_CENTS: u64 = 75_000;
const REFUND_CENTS: u64 = 4_599;

/// The folder holding the `openai` package, checked to import with the cells' Python.
fn openai_package() -> PathBuf {
    let dir = std::env::var_os("SILO_TEST_PYTHONPATH")
        .map_or_else(|| PathBuf::from(DEFAULT_PYTHONPATH), PathBuf::from);
    let probe = || {
        Command::new("/usr/bin/python3")
            .args(["-c", "import openai; print(openai.__version__)"])
            .env("PYTHONPATH", &dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap()
    };
    let mut found = probe();
    if !found.status.success() {
        // Like the browser test fetching Playwright: the pinned package is installed on
        // first use, so `cargo test --workspace` needs no extra step (PyPI must be reachable).
        let pins = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai-requirements.txt");
        let install = Command::new("/usr/bin/python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--root-user-action=ignore",
                "--target",
            ])
            .arg(&dir)
            .arg("-r")
            .arg(&pins)
            .output()
            .unwrap();
        eprintln!(
            "installed the pinned `openai` package into {}: {}",
            dir.display(),
            text(&install)
        );
        found = probe();
    }
    let probe = found;
    assert!(
        probe.status.success(),
        "the `openai` package must be installed for the cells' /usr/bin/python3 in `{}` \
         (`/usr/bin/python3 -m pip install --target {} -r crates/silo-cli/tests/openai-requirements.txt`, \
         as .ci/run does; or set SILO_TEST_PYTHONPATH): {}",
        dir.display(),
        dir.display(),
        text(&probe)
    );
    eprintln!(
        "openai package {} from {}",
        String::from_utf8_lossy(&probe.stdout).trim(),
        dir.display()
    );
    std::fs::canonicalize(dir).unwrap()
}

/// What the fake upstream was sent: the request head and the JSON body.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Value,
}

/// A function call in an OpenAI answer.
fn tool_call(id: &str, name: &str, arguments: Value) -> Value {
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments.to_string()}})
}

/// The scripted model: what it answers, from the tool results it has been sent so far.
/// It asks for the customer, then for a refund above the agent's limit, then (seeing the
/// refusal) for one within it, then for an email to the raw address it "knows", then it
/// writes its final answer — naming the customer raw, and quoting the refusal.
fn model_turn(request: &Value) -> Value {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let results: Vec<&Value> = messages.iter().filter(|m| m["role"] == "tool").collect();
    let last = results
        .last()
        .and_then(|m| m["content"].as_str())
        .map(|c| serde_json::from_str::<Value>(c).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let (calls, content) = match results.len() {
        0 => (
            vec![tool_call("call_lookup", "lookup_customer", json!({}))],
            None,
        ),
        1 => (
            vec![tool_call(
                "call_refund_big",
                "issue_refund",
                json!({"amount_cents": TOO_BIG_CENTS, "reason": "goodwill for a dented kettle"}),
            )],
            None,
        ),
        2 => (
            vec![tool_call(
                "call_refund",
                "issue_refund",
                json!({"amount_cents": REFUND_CENTS, "reason": "kettle ord_1001 arrived dented"}),
            )],
            None,
        ),
        3 => (
            vec![tool_call(
                "call_email",
                "send_email",
                json!({"to": "jane.smith@example.com", "order_id": "ord_1001",
                       "amount": "$45.99", "refund_id": last["refund_id"]}),
            )],
            None,
        ),
        _ => {
            let refusal = results
                .get(1)
                .and_then(|m| m["content"].as_str())
                .unwrap_or("");
            let refusal: Value = serde_json::from_str(refusal).unwrap_or(Value::Null);
            (
                Vec::new(),
                Some(format!(
                    "Refunded $45.99 to Jane Smith and emailed jane.smith@example.com. \
                     The $750.00 refund was refused: {} ({}).",
                    refusal["error"].as_str().unwrap_or("?"),
                    refusal["rule"].as_str().unwrap_or("?")
                )),
            )
        }
    };
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    json!({
        "id": format!("chatcmpl-sdk-{}", results.len()),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50},
        "system_fingerprint": "fp_fake"
    })
}

/// A one-connection-at-a-time fake OpenAI upstream on 127.0.0.1 that plays [`model_turn`]
/// and records what it was sent.
fn fake_model() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let url = crate::fake_http(move |r| {
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let answer = model_turn(&body).to_string();
        log.lock().unwrap().push(Seen {
            head: r.head.clone(),
            body,
        });
        answer
    });
    (format!("{url}/v1"), seen)
}

fn agent_yaml(python_path: &Path) -> String {
    format!(
        "name: openai-sdk-agent
version: 0.0.1
entry: [python3, main.py]
llm_loopback: true
python_path: [{}]
limits: {{ memory: 512M, timeout: 60s }}
capabilities:
  data.read: {{ fields: [name, email, tier] }}
  refund: {{ max_cents: 50000, currency: USD }}
  email.send: {{ templates: [refund_confirmation] }}
  llm: {{ max_tokens_per_task: 20000 }}
",
        python_path.display()
    )
}

const TEMPLATE: &str = "Subject: Your refund for order {{vars.order_id}}

Dear {{customer.name}},

We have refunded {{vars.amount}} for order {{vars.order_id}}. Reference: {{vars.refund_id}}.
";

/// The agent: plain `openai` function calling, its tools bound to the silo SDK.
const MAIN: &str = r#"
import json, os
import openai
from openai import OpenAI
import silo

print("OPENAI_VERSION " + openai.__version__, flush=True)
print("ENV " + json.dumps(dict(os.environ), sort_keys=True), flush=True)
task = silo.task()
client = OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY come from the cell's environment

def lookup_customer():
    return silo.data.customer(["name", "email", "tier"])

def issue_refund(amount_cents, reason):
    return silo.refund(amount_cents, reason, idempotency_key=task["task"] + ":" + str(amount_cents))

def send_email(to, order_id, amount, refund_id):
    return silo.email.send("refund_confirmation", to,
                           {"order_id": order_id, "amount": amount, "refund_id": refund_id},
                           idempotency_key=task["task"] + ":email")

TOOLS = {"lookup_customer": lookup_customer, "issue_refund": issue_refund, "send_email": send_email}
SCHEMAS = [
    {"type": "function", "function": {"name": "lookup_customer",
        "description": "The task's customer (name and email come as tokens).",
        "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "issue_refund",
        "description": "Refund the task's customer, in cents.",
        "parameters": {"type": "object", "properties": {
            "amount_cents": {"type": "integer"}, "reason": {"type": "string"}},
            "required": ["amount_cents", "reason"]}}},
    {"type": "function", "function": {"name": "send_email",
        "description": "Email the refund confirmation.",
        "parameters": {"type": "object", "properties": {
            "to": {"type": "string"}, "order_id": {"type": "string"},
            "amount": {"type": "string"}, "refund_id": {"type": "string"}},
            "required": ["to", "order_id", "amount", "refund_id"]}}},
]

messages = [
    {"role": "system", "content": "You are the refund desk. Use the tools."},
    {"role": "user", "content": task["input"]["message"]},
]
final = None
for _ in range(8):
    response = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=SCHEMAS, tool_choice="auto",
        parallel_tool_calls=False, max_tokens=300)
    choice = response.choices[0]
    if choice.finish_reason != "tool_calls":
        final = choice.message.content
        break
    messages.append(choice.message)  # the SDK's own message object, sent back as is
    for call in choice.message.tool_calls:
        print("TOOL_CALL " + call.function.name + " " + call.function.arguments, flush=True)
        try:
            result = TOOLS[call.function.name](**json.loads(call.function.arguments))
        except silo.MembraneError as e:
            result = {"error": e.code, "rule": e.rule, "message": str(e)}
        print("TOOL_RESULT " + call.function.name + " " + json.dumps(result), flush=True)
        messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
print("FINAL " + str(final), flush=True)
print("USAGE " + str(response.usage.total_tokens), flush=True)
silo.done(final)
"#;

/// Lines of the agent's output that start with `tag`.
fn lines<'a>(out: &'a str, tag: &str) -> Vec<&'a str> {
    out.lines()
        .filter_map(|l| l.split_once(tag).map(|(_, rest)| rest))
        .collect()
}

fn silo_json(data: &Path, args: &[&str]) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(data)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn run(root: &Path, agent: &Path, url: &str) -> Output {
    let input = json!({"message": "Hi, Jane Smith here (jane.smith@example.com): kettle ord_1001 arrived dented."});
    Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(root.join("data"))
        .args(["run", "--json", "--agent"])
        .arg(agent)
        .args(["--customer", "cus_001", "--case", "case_001", "--input"])
        .arg(input.to_string())
        .arg("--run-dir")
        .arg(root.join("run"))
        .env("SILO_LLM_URL", url)
        .env("SILO_LLM_API_KEY", UPSTREAM_KEY)
        .output()
        .unwrap()
}

#[test]
fn openai_sdk_agent_calls_tools_through_the_membrane_and_sees_only_tokens() {
    use std::os::unix::fs::PermissionsExt;
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let python_path = openai_package();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let agent = root.join("openai-sdk-agent");
    std::fs::create_dir_all(agent.join("templates")).unwrap();
    for (file, body) in [
        ("agent.yaml", agent_yaml(&python_path)),
        ("main.py", MAIN.to_string()),
        ("templates/refund_confirmation.email", TEMPLATE.to_string()),
    ] {
        std::fs::write(agent.join(file), body).unwrap();
        std::fs::set_permissions(agent.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    for dir in [root, agent.as_path(), agent.join("templates").as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let (url, seen) = fake_model();

    let o = run(root, &agent, &url);
    let all = text(&o);
    eprintln!("{all}");
    assert_eq!(o.status.code(), Some(0), "{all}");
    let err = String::from_utf8_lossy(&o.stderr).to_string();

    // The real package, found through the cell's PYTHONPATH.
    let version = lines(&err, "OPENAI_VERSION ");
    assert_eq!(version.len(), 1, "{all}");
    assert!(
        version[0].starts_with(|c: char| c.is_ascii_digit()),
        "{all}"
    );

    // The upstream's key never entered the cell: the cell's whole environment, and all it
    // printed, lack it; the SDK's key is the cell's own two keys.
    assert!(!all.contains(UPSTREAM_KEY), "{all}");
    let env: Value = serde_json::from_str(lines(&err, "ENV ")[0]).unwrap();
    assert_eq!(env["OPENAI_BASE_URL"], "http://127.0.0.1:8089/v1");
    assert_eq!(
        env["OPENAI_API_KEY"].as_str().unwrap().split(':').count(),
        2
    );
    assert!(env["PYTHONPATH"]
        .as_str()
        .unwrap()
        .ends_with(&*python_path.to_string_lossy()));

    // The tool loop, as the agent saw it: five model turns, four calls carried out.
    let calls = lines(&err, "TOOL_CALL ");
    let results = lines(&err, "TOOL_RESULT ");
    assert_eq!(calls.len(), 4, "{all}");
    assert!(
        results[0].contains("[NAME_1]") && results[0].contains("[EMAIL_1]"),
        "{all}"
    );
    // The model's refund over the base key's limit: refused by the membrane, and that
    // refusal is what the agent handed back to the model.
    assert!(calls[1].contains(&TOO_BIG_CENTS.to_string()), "{all}");
    let refusal: Value =
        serde_json::from_str(results[1].strip_prefix("issue_refund ").unwrap()).unwrap();
    assert_eq!(refusal["error"], "denied", "{all}");
    let rule = refusal["rule"].as_str().unwrap().to_string();
    assert!(rule.contains("refund"), "{rule}");
    let paid: Value =
        serde_json::from_str(results[2].strip_prefix("issue_refund ").unwrap()).unwrap();
    assert_eq!(paid["amount_cents"], REFUND_CENTS, "{all}");
    let refund_id = paid["refund_id"].as_str().unwrap().to_string();
    // The model answered with the raw address; the cell got the token, which the membrane
    // then resolved to the customer's own address for the email.
    let email_args: Value =
        serde_json::from_str(calls[3].strip_prefix("send_email ").unwrap()).unwrap();
    assert_eq!(email_args["to"], "[EMAIL_1]", "{all}");
    assert_eq!(email_args["refund_id"], refund_id, "{all}");
    assert!(results[3].contains("\"status\": \"queued\""), "{all}");
    // The final answer named the customer raw; the cell got tokens, and the refusal.
    let fin = lines(&err, "FINAL ");
    assert_eq!(
        fin,
        [format!(
            "Refunded $45.99 to [NAME_1] and emailed [EMAIL_1]. The $750.00 refund was refused: denied ({rule})."
        )
        .as_str()],
        "{all}"
    );
    for raw in ["Jane Smith", "jane.smith@example.com", "Harbour Street"] {
        assert!(!all.contains(raw), "`{raw}` reached the cell: {all}");
    }

    // What the model was sent: the tools, the tool results by call id, tokens and never
    // the customer's raw data, and the host's key on every call.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5, "{seen:#?}");
    for s in &seen {
        assert!(
            s.head.contains(&format!("Bearer {UPSTREAM_KEY}")),
            "{}",
            s.head
        );
        let names: Vec<&str> = s.body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["lookup_customer", "issue_refund", "send_email"]);
        assert_eq!(s.body["tool_choice"], "auto");
        let body = s.body.to_string();
        for raw in [
            "Jane Smith",
            "jane.smith@example.com",
            "Harbour Street",
            "1984-03-07",
        ] {
            assert!(!body.contains(raw), "`{raw}` left for the LLM: {body}");
        }
    }
    let last = &seen[4].body["messages"];
    let tool_messages: Vec<&Value> = last
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .collect();
    let ids: Vec<&str> = tool_messages
        .iter()
        .map(|m| m["tool_call_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "call_lookup",
            "call_refund_big",
            "call_refund",
            "call_email"
        ]
    );
    assert!(
        tool_messages[0]["content"]
            .as_str()
            .unwrap()
            .contains("[NAME_1]"),
        "{last}"
    );
    assert!(
        tool_messages[1]["content"]
            .as_str()
            .unwrap()
            .contains("denied"),
        "{last}"
    );
    // The SDK sent the model's own messages back: the email call went out as the cell saw
    // it, tokenised.
    let email_call = last
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["tool_calls"].as_array())
        .flatten()
        .find(|c| c["id"] == "call_email")
        .unwrap();
    assert!(
        email_call["function"]["arguments"]
            .as_str()
            .unwrap()
            .contains("[EMAIL_1]"),
        "{email_call}"
    );

    // The membrane's records: one refund paid (the refused one is not in the ledger), the
    // refusal and the payment in the audit log, every model call audited with its tools.
    let ledger = silo_json(
        &root.join("data"),
        &["membrane", "ledger", "--customer", "cus_001"],
    );
    let refunds = ledger.as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{ledger}");
    assert_eq!(refunds[0]["amount_cents"], REFUND_CENTS, "{ledger}");
    assert_eq!(refunds[0]["refund_id"], refund_id, "{ledger}");
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let audit = report["audit"].as_array().unwrap();
    let refund_decisions: Vec<(&str, &str)> = audit
        .iter()
        .filter(|e| e["action"] == "refund")
        .map(|e| {
            (
                e["decision"].as_str().unwrap(),
                e["rule"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(refund_decisions.len(), 2, "{report}");
    assert_eq!(refund_decisions[0], ("deny", rule.as_str()), "{report}");
    assert_eq!(refund_decisions[1].0, "allow", "{report}");
    let llm: Vec<&Value> = audit.iter().filter(|e| e["action"] == "llm.chat").collect();
    assert_eq!(llm.len(), 5, "{report}");
    assert!(llm.iter().all(|e| e["detail"]["tools"] == 3), "{report}");
    assert_eq!(llm[3]["detail"]["pii_replaced_in_answer"], 1, "{report}");
    assert_eq!(report["outcome"]["outcome"]["kind"], "complete", "{report}");
    let email: Vec<_> = std::fs::read_dir(root.join("data/outbox/email"))
        .unwrap()
        .collect();
    assert_eq!(email.len(), 1);
    let email: Value =
        serde_json::from_slice(&std::fs::read(email[0].as_ref().unwrap().path()).unwrap()).unwrap();
    assert_eq!(email["to"], "jane.smith@example.com");
    assert!(email["body"].as_str().unwrap().contains(&refund_id));
}
