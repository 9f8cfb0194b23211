//! `membrane_request`: raw bytes into a real membrane's Unix socket — hyper's HTTP/1.1
//! parser, the key headers (`x-silo-*-key`, `Authorization: Bearer base:task`), the body
//! limits, every route's JSON request type, the policy, the connectors (SQLite ledger, KV,
//! outbox, business data, PII vault) and the audit append — the whole request path a cell
//! can reach, with a throw-away data directory.
//!
//! So that the fuzzer gets past the key check, these placeholders in the input are replaced
//! before it is sent: `{{BASE}}` (a valid base key), `{{TASK}}` (a valid task key, task
//! `fuzz-1`, customer `cus_001`), `{{TASK2}}` (task `fuzz-2`, customer `cus_002`),
//! `{{XCELL}}` (a task key bound to another cell), `{{EXPIRED}}` (an expired task key) and
//! `{{LEN}}` (the length of what follows the first blank line, for `content-length`).
//! A `GET /v1/fuzz-end` with `connection: close` is appended, so a well-formed input ends
//! the connection without waiting for a timeout.
//!
//! Invariants: the membrane never panics (on any of its threads) and answers within the
//! time limit; no answer is a `500`; every JSON answer parses, and every refusal carries an
//! error code; no answer carries a built-in customer's raw personal data (unless the input
//! wrote it, or read back a scratch value); every [`AUDIT_CHECK_EVERY`] inputs, the audit
//! log verifies and no entry holds a key or raw personal data.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use silo_audit::{AuditLog, Durability, Query};
use silo_keys::{
    new_jti, now_unix, BaseKey, Capabilities, KeyStore, Minter, TaskKey, BASE_AUDIENCE,
    TASK_AUDIENCE,
};
use silo_membrane::{CellBinding, Limits, Membrane, Services};
use silo_policy::PolicySet;

/// The cell the fuzzed socket serves.
const CELL: &str = "c-0000000f0221";
/// How long one input may take before it counts as a hang.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Inputs between two audit log checks.
pub const AUDIT_CHECK_EVERY: u64 = 500;
/// Keys are minted again after this many seconds (task keys live ten minutes).
const REMINT_SECS: u64 = 300;

/// Sent after every input.
const END: &[u8] = b"GET /v1/fuzz-end HTTP/1.1\r\nhost: silo\r\nconnection: close\r\n\r\n";

/// The built-in customers' raw values (`silo-membrane`'s seed data) that no answer may carry.
const RAW_PII: [&str; 15] = [
    "jane smith",
    "jane.smith@example.com",
    "(555) 010-2030",
    "555-010-2030",
    "12 harbour street",
    "1984-03-07",
    "4111 1111 1111 1111",
    "omar haddad",
    "omar.haddad@example.net",
    "555 010 4455",
    "7 elm road",
    "5555 5555 5555 4444",
    "li.wei@example.org",
    "20 7946 0018",
    "3 mill lane",
];

/// The operator policy the fuzzed membrane runs: rate limits and daily totals (so the usage
/// gate and counters are on the path), a regex, a kill rule.
const POLICY: &str = r#"
version: 1
default: allow
rules:
  - name: no-refunds-on-chargebacks
    action: refund
    when:
      - { param: reason, regex: "(?i)chargeback" }
    effect: deny
    priority: 100
  - name: big-refunds-need-approval
    action: refund
    when:
      - { param: amount, gt: 20000 }
    effect: require_approval
    priority: 10
  - name: refunds-per-task
    action: refund
    rate_limit: { per: task, max: 1000000, window_secs: 60 }
    effect: deny
  - name: refund-daily-total
    action: refund
    daily_total: { per: agent, max_cents: 100000000000 }
    effect: require_approval
  - name: messages-per-customer
    action: [email.send, sms.send]
    rate_limit: { per: customer, max: 1000000, window_secs: 3600 }
    effect: deny
"#;

/// Templates in the fuzzed agent folder.
const TEMPLATES: [(&str, &str); 3] = [
    (
        "refund_issued.email",
        "Subject: Your refund {{vars.refund_id}}\n\nDear {{customer.name}},\nwe refunded {{vars.amount}}. {{vars.note}}\n",
    ),
    (
        "refund_issued.sms",
        "Hi {{customer.first_name}}, refund {{vars.refund_id}} is on its way.",
    ),
    ("internal_memo.email", "Subject: memo\n\n{{vars.text}}"),
];

/// Words the mutator inserts.
pub const DICTIONARY: &[&str] = &[
    "{{BASE}}",
    "{{TASK}}",
    "{{TASK2}}",
    "{{XCELL}}",
    "{{EXPIRED}}",
    "{{LEN}}",
    "\r\n",
    "\r\n\r\n",
    "x-silo-base-key: {{BASE}}\r\n",
    "x-silo-task-key: {{TASK}}\r\n",
    "authorization: Bearer {{BASE}}:{{TASK}}\r\n",
    "content-length: {{LEN}}\r\n",
    "transfer-encoding: chunked\r\n",
    "connection: close\r\n",
    "expect: 100-continue\r\n",
    "POST ",
    "GET ",
    " HTTP/1.1\r\n",
    "/v1/task",
    "/v1/kv/get",
    "/v1/kv/put",
    "/v1/refund",
    "/v1/complete",
    "/v1/escalate",
    "/v1/redirect",
    "/v1/data/customer",
    "/v1/data/orders",
    "/v1/data/history",
    "/v1/data/write",
    "/v1/email/send",
    "/v1/sms/send",
    "/v1/chat/completions",
    "\"amount_cents\":",
    "\"currency\":\"USD\"",
    "\"idempotency_key\":\"k1\"",
    "\"template\":\"refund_issued\"",
    "\"to\":\"[EMAIL_1]\"",
    "\"to\":\"[PHONE_1]\"",
    "\"vars\":{\"refund_id\":\"rf_1\"}",
    "\"fields\":[\"name\",\"email\"]",
    "\"customer\":\"cus_002\"",
    "\"op\":\"case.add_note\"",
    "\"target\":\"manager\"",
    "\"kind\":\"soft\"",
    "\"status\":\"done\"",
    "\"summary\":\"\"",
    "\"key\":\"plan\"",
    "\"value\":",
    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]",
    "[NAME_1]",
    "[EMAIL_1]",
    "{{customer.name}}",
    "\\u0000",
    "\\ud800",
    "1e999",
    "-0",
];

/// Keys the placeholders stand for.
struct Keys {
    minted_at: u64,
    base: String,
    task: String,
    task2: String,
    other_cell: String,
    expired: String,
}

struct Fixture {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    minter: Minter,
    keys: Mutex<Keys>,
    services: Arc<Services>,
    /// Drives the membrane; kept for as long as it serves.
    _runtime: tokio::runtime::Runtime,
    _membrane: Membrane,
    inputs: AtomicU64,
    /// The last audit entry checked.
    audited: Mutex<Option<u64>>,
}

fn base_claims(now: u64) -> BaseKey {
    BaseKey {
        aud: BASE_AUDIENCE.into(),
        jti: new_jti().expect("a jti"),
        iat: now - 10,
        exp: now + 3600,
        agent: "refund-agent".into(),
        version: "1.0.0".into(),
        folder_hash: format!("sha256:{}", "0".repeat(64)),
        caps: Capabilities::from_json(
            r#"{"refund":{"max_cents":50000,"currency":"USD"},"escalate":["manager","human"],
                "data.read":{"fields":["id","name","email","phone","tier","balance_cents","currency","orders","history"]},
                "data.write":{"ops":["case.add_note"]},
                "email.send":{"templates":["refund_issued","internal_memo"]},
                "sms.send":{"templates":["refund_issued"]},
                "llm":{"max_tokens_per_task":20000}}"#,
        )
        .expect("the fuzz base key's capabilities parse"),
    }
}

fn task_claims(now: u64, task: &str, customer: &str, cell: &str) -> TaskKey {
    TaskKey {
        aud: TASK_AUDIENCE.into(),
        jti: new_jti().expect("a jti"),
        iat: now - 10,
        nbf: now - 10,
        exp: now + 600,
        task: task.into(),
        agent: "refund-agent".into(),
        customer: customer.into(),
        case: "case_001".into(),
        workflow: None,
        cell: cell.into(),
    }
}

fn mint(minter: &Minter, now: u64) -> Keys {
    let task = |t: &str, c: &str, cell: &str| {
        minter
            .mint_task(&task_claims(now, t, c, cell))
            .expect("minting a task key")
    };
    let mut expired = task_claims(now - 7200, "fuzz-1", "cus_001", CELL);
    expired.exp = expired.iat + 600;
    Keys {
        minted_at: now,
        base: minter
            .mint_base(&base_claims(now))
            .expect("minting a base key"),
        task: task("fuzz-1", "cus_001", CELL),
        task2: task("fuzz-2", "cus_002", CELL),
        other_cell: task("fuzz-1", "cus_001", "c-0000000f0222"),
        expired: minter.mint_task(&expired).expect("minting an expired key"),
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = crate::scratch_dir("membrane");
        let now = now_unix();
        let store = KeyStore::init(&dir.path().join("keys"), now - 100).expect("a key store");
        let minter = store.minter().expect("a minter");
        let audit = Arc::new(
            AuditLog::open_with(dir.path(), Durability::Process).expect("an audit log"),
        );
        let policy = PolicySet::from_yaml_str("fuzz-policy.yaml", POLICY).expect("the policy");
        let services = Services::embedded(
            dir.path(),
            store.verifier().expect("a verifier"),
            policy,
            audit,
        )
        .expect("the membrane's services");
        services
            .set_task_input(
                "fuzz-1",
                "cus_001",
                &serde_json::json!({"message": "Jane Smith (jane.smith@example.com) wants a refund for ord_1001", "order": "ord_1001"}),
            )
            .expect("the task input");
        let services = Arc::new(services);
        let agent = dir.path().join("agent");
        std::fs::create_dir_all(agent.join("templates")).expect("the agent folder");
        for (name, text) in TEMPLATES {
            std::fs::write(agent.join("templates").join(name), text).expect("a template");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("silo-fuzz-membrane")
            .enable_all()
            .build()
            .expect("a runtime");
        let socket = dir.path().join("membrane.sock");
        let limits = Limits {
            requests_per_second: 1_000_000,
            burst: 1_000_000,
            max_connections: 64,
            max_concurrent_requests: 64,
            header_read_timeout: Duration::from_secs(2),
            body_read_timeout: Duration::from_secs(2),
            ..Limits::default()
        };
        let membrane = {
            let _enter = runtime.enter();
            Membrane::bind(
                &socket,
                CellBinding::new(CELL)
                    .expect("a cell id")
                    .with_agent_dir(agent),
                services.clone(),
                limits,
            )
            .expect("binding the membrane")
        };
        let keys = mint(&minter, now);
        let fixture = Fixture {
            _dir: dir,
            socket,
            minter,
            keys: Mutex::new(keys),
            services,
            _runtime: runtime,
            _membrane: membrane,
            inputs: AtomicU64::new(0),
            audited: Mutex::new(None),
        };
        // Tokens for the message routes' `to` ([EMAIL_1], [PHONE_1]) exist from the start.
        let warm_up = b"POST /v1/data/customer HTTP/1.1\r\nhost: silo\r\nx-silo-base-key: {{BASE}}\r\nx-silo-task-key: {{TASK}}\r\ncontent-length: {{LEN}}\r\n\r\n{\"fields\":[\"name\",\"email\",\"phone\"]}";
        exchange(&fixture, warm_up);
        fixture
    })
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(i) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(with);
        rest = &rest[i + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The bytes an input stands for (see the module docs).
fn expand(fx: &Fixture, data: &[u8]) -> Vec<u8> {
    let now = now_unix();
    let mut keys = fx.keys.lock().unwrap_or_else(|e| e.into_inner());
    if now.saturating_sub(keys.minted_at) > REMINT_SECS {
        *keys = mint(&fx.minter, now);
    }
    let mut bytes = data.to_vec();
    for (name, value) in [
        (&b"{{BASE}}"[..], &keys.base),
        (b"{{TASK}}", &keys.task),
        (b"{{TASK2}}", &keys.task2),
        (b"{{XCELL}}", &keys.other_cell),
        (b"{{EXPIRED}}", &keys.expired),
    ] {
        bytes = replace_all(&bytes, name, value.as_bytes());
    }
    let body_len = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |i| bytes.len() - i - 4);
    bytes = replace_all(&bytes, b"{{LEN}}", body_len.to_string().as_bytes());
    bytes.extend_from_slice(END);
    bytes
}

/// Sends an input and returns everything the membrane answered.
fn exchange(fx: &Fixture, data: &[u8]) -> Vec<u8> {
    let bytes = expand(fx, data);
    let mut stream = UnixStream::connect(&fx.socket).expect("connecting to the membrane");
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .expect("a read timeout");
    stream
        .set_write_timeout(Some(ANSWER_TIMEOUT))
        .expect("a write timeout");
    // The membrane may answer and close before reading everything (a refusal): fine.
    let _ = stream.write_all(&bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            panic!("the membrane did not finish answering within {ANSWER_TIMEOUT:?}")
        }
        Err(e) => panic!("reading the membrane's answer failed: {e}"),
    }
    answer
}

/// One HTTP response: status, content type, body.
struct Answer<'a> {
    status: u16,
    json: bool,
    body: &'a [u8],
}

/// Splits the bytes a connection answered into responses (each with `content-length`, as
/// hyper writes a full body). Stops at anything it cannot read.
fn answers(mut bytes: &[u8]) -> Vec<Answer<'_>> {
    let mut out = Vec::new();
    while let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut len = 0;
        let mut json = false;
        for line in lines {
            if let Some(v) = line.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            if let Some(v) = line.strip_prefix("content-type:") {
                json = v.trim() == "application/json";
            }
        }
        let start = end + 4;
        let stop = (start + len).min(bytes.len());
        out.push(Answer {
            status,
            json,
            body: &bytes[start..stop],
        });
        bytes = &bytes[stop..];
    }
    out
}

/// Runs one input (see the module docs).
pub fn run(data: &[u8]) {
    let fx = fixture();
    let answer = exchange(fx, data);
    if std::env::var_os("SILO_FUZZ_DEBUG").is_some() {
        eprintln!("{}\n----", String::from_utf8_lossy(&answer));
    }
    for a in answers(&answer) {
        assert_ne!(
            a.status,
            500,
            "the membrane answered 500: {}",
            String::from_utf8_lossy(a.body)
        );
        if a.json {
            let value: serde_json::Value = serde_json::from_slice(a.body).unwrap_or_else(|e| {
                panic!(
                    "a JSON answer does not parse ({e}): {}",
                    String::from_utf8_lossy(a.body)
                )
            });
            if a.status >= 400 {
                assert!(
                    value["error"]["code"].is_string(),
                    "a refusal without an error code: {value}"
                );
            }
        }
    }
    let input = String::from_utf8_lossy(data).to_lowercase();
    // A scratch value the agent stored earlier comes back as it was stored.
    if !input.contains("kv/get") {
        let answered = String::from_utf8_lossy(&answer).to_lowercase();
        for raw in RAW_PII {
            assert!(
                !answered.contains(raw) || input.contains(raw),
                "an answer carries the raw value `{raw}`: {answered}"
            );
        }
    }
    let n = fx.inputs.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_multiple_of(AUDIT_CHECK_EVERY) {
        // Verifying reads the whole log: less and less often as it grows.
        check_audit(fx, n.is_power_of_two() || n == AUDIT_CHECK_EVERY);
    }
}

/// The audit log verifies, and no entry since the last check holds a key or raw personal
/// data. The runner's test calls it at the end of a run.
pub fn check_audit_now() {
    check_audit(fixture(), true);
}

fn check_audit(fx: &Fixture, verify: bool) {
    let audit = fx.services.audit();
    if verify {
        audit
            .verify()
            .unwrap_or_else(|e| panic!("the membrane's audit log does not verify: {e}"));
    }
    let mut audited = fx.audited.lock().unwrap_or_else(|e| e.into_inner());
    let query = Query {
        after_seq: *audited,
        ..Query::all()
    };
    let entries = audit.query(&query).expect("reading the audit log");
    let keys = fx.keys.lock().unwrap_or_else(|e| e.into_inner());
    for entry in &entries {
        let text = String::from_utf8_lossy(&entry.canonical().unwrap_or_default()).to_lowercase();
        for key in [
            &keys.base,
            &keys.task,
            &keys.task2,
            &keys.other_cell,
            &keys.expired,
        ] {
            // A key's signature alone is 86 characters of base64url: any part of it is enough.
            let signature = key.rsplit('.').next().unwrap_or_default().to_lowercase();
            assert!(
                !text.contains(&signature),
                "an audit entry holds a key: {text}"
            );
        }
        for raw in RAW_PII {
            assert!(
                !text.contains(raw),
                "an audit entry holds the raw value `{raw}`: {text}"
            );
        }
    }
    if let Some(last) = entries.last() {
        *audited = Some(last.seq);
    }
}
