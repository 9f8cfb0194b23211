//! LLM passthrough: chat completions reach a fake OpenAI-compatible upstream on loopback with
//! the host's API key, within the task's token budget, and every call is audited with token
//! counts but no prompt text.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};
use silo_audit::{AuditLog, Decision, Entry};
use silo_keys::{now_unix, Capabilities, KeyStore};
use silo_membrane::connectors::llm::{
    ApiKey, HttpUpstream, HttpUpstreamConfig, LlmUsage, SqliteLlmUsage,
};
use silo_membrane::{Limits, Services};
use silo_policy::PolicySet;

use crate::support::{base_claims, Client, Fixture};

/// The host's key for the upstream: must reach the upstream and never the cell.
const UPSTREAM_KEY: &str = "sk-upstream-0123456789abcdef";
/// Prompt text that must never reach the audit log.
const SECRET_PROMPT: &str = "the vault code is 7-alpha-9";
/// Tokens the fake reports for every prompt, and at most for every completion.
const FAKE_PROMPT_TOKENS: u64 = 20;
const FAKE_COMPLETION_TOKENS: u64 = 10;

/// How the fake upstream answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A chat completion echoing the last user message, with usage.
    Echo,
    /// The same without a `usage` object.
    EchoWithoutUsage,
    /// HTTP 500 whose body quotes the key, as some upstreams' error texts do.
    ServerError,
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// HTTP 200 whose JSON is not a chat completion.
    NotAChatCompletion,
    /// Waits before answering.
    Slow(u64),
    /// A completion that leaks the seed customer's raw data (as a model that saw it
    /// elsewhere might).
    Leak,
    /// A function call (`finish_reason: tool_calls`) whose arguments hold the seed
    /// customer's raw name and email, with fields the membrane must not pass on.
    ToolCall,
}

/// What the fake upstream received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    body: Value,
}

#[derive(Debug)]
struct FakeState {
    mode: Mutex<Mode>,
    hits: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
}

/// A fake OpenAI-compatible upstream on 127.0.0.1, one connection at a time. It stops when
/// dropped.
struct FakeUpstream {
    addr: SocketAddr,
    state: Arc<FakeState>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeUpstream {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(FakeState {
            mode: Mutex::new(Mode::Echo),
            hits: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        serve(conn, &state);
                    }
                }
            })
        };
        Self {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one HTTP/1.1 request and answers it as the current mode says.
fn serve(mut conn: TcpStream, state: &FakeState) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let path = head.split(' ').nth(1).unwrap_or("").to_string();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        let mut chunk = [0u8; 4096];
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body: Value =
        serde_json::from_slice(&buf[header_end..header_end + len]).unwrap_or(Value::Null);
    let authorization = header("authorization");
    state.hits.fetch_add(1, Ordering::SeqCst);
    state.seen.lock().unwrap().push(Seen {
        path,
        authorization: authorization.clone(),
        body: body.clone(),
    });
    let mode = *state.mode.lock().unwrap();
    let (status, text) = match mode {
        Mode::Echo | Mode::EchoWithoutUsage | Mode::Slow(_) => {
            if let Mode::Slow(ms) = mode {
                std::thread::sleep(Duration::from_millis(ms));
            }
            let mut answer = completion(&body, authorization.as_deref());
            if mode == Mode::EchoWithoutUsage {
                answer.as_object_mut().unwrap().remove("usage");
            }
            (200, answer.to_string())
        }
        Mode::ServerError => (
            500,
            json!({"error": {"message": format!("Incorrect API key provided: {UPSTREAM_KEY}; prompt was {body}")}})
                .to_string(),
        ),
        Mode::Leak => {
            let mut answer = completion(&body, authorization.as_deref());
            answer["choices"][0]["message"]["content"] = json!(
                "Her name is Jane Smith, phone +1 555 010 2030, mail JANE.SMITH@example.com; IBAN GB82 WEST 1234 5698 7654 32"
            );
            (200, answer.to_string())
        }
        Mode::ToolCall => {
            let mut answer = completion(&body, authorization.as_deref());
            answer["choices"][0]["finish_reason"] = json!("tool_calls");
            answer["choices"][0]["message"] = json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": "call_fake_1",
                    "type": "function",
                    "function": {
                        "name": "send_email",
                        "arguments": "{\"to\": \"jane.smith@example.com\", \"greeting\": \"Dear Jane Smith\"}",
                        "upstream_note": authorization,
                    },
                    "x_debug": "internal",
                }],
                "upstream_note": authorization,
            });
            (200, answer.to_string())
        }
        Mode::Garbage => (200, "<html>not json".to_string()),
        Mode::NotAChatCompletion => (200, json!({"hello": UPSTREAM_KEY}).to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = conn.write_all(response.as_bytes());
}

/// An OpenAI chat completion echoing the last user message. It also carries fields the
/// membrane must not pass on, one of them quoting the Authorization header it got.
fn completion(request: &Value, authorization: Option<&str>) -> Value {
    let last_user = request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        })
        .unwrap_or_default();
    let cap = request["max_tokens"]
        .as_u64()
        .or(request["max_completion_tokens"].as_u64())
        .unwrap_or(u64::MAX);
    let completion_tokens = FAKE_COMPLETION_TOKENS.min(cap);
    json!({
        "id": "chatcmpl-fake-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": format!("echo: {last_user}"), "upstream_note": authorization},
            "finish_reason": "stop",
            "logprobs": null
        }],
        "usage": {
            "prompt_tokens": FAKE_PROMPT_TOKENS,
            "completion_tokens": completion_tokens,
            "total_tokens": FAKE_PROMPT_TOKENS + completion_tokens
        },
        "x_debug": {"authorization": authorization},
        "system_fingerprint": "fp_fake"
    })
}

/// A membrane whose services forward chat completions to a fake upstream.
struct LlmFixture {
    f: Fixture,
    upstream: FakeUpstream,
}

impl LlmFixture {
    fn new() -> Self {
        Self::with_config(|c| c)
    }

    fn with_config(config: impl FnOnce(HttpUpstreamConfig) -> HttpUpstreamConfig) -> Self {
        Self::build(config, Limits::default())
    }

    fn build(
        config: impl FnOnce(HttpUpstreamConfig) -> HttpUpstreamConfig,
        limits: Limits,
    ) -> Self {
        let upstream = FakeUpstream::start();
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::init(&dir.path().join("keys"), now_unix() - 100).unwrap();
        let minter = store.minter().unwrap();
        let audit = Arc::new(AuditLog::open(dir.path()).unwrap());
        let usage = SqliteLlmUsage::open(&Services::db_path(dir.path())).unwrap();
        let http = HttpUpstream::new(
            config(
                HttpUpstreamConfig::new(upstream.base_url())
                    .api_key(ApiKey::new(UPSTREAM_KEY).unwrap()),
            ),
            Box::new(usage),
        )
        .unwrap();
        let services = Services::embedded(
            dir.path(),
            store.verifier().unwrap(),
            PolicySet::capabilities_only(),
            audit,
        )
        .unwrap()
        .with_llm(Box::new(http));
        let mut f = Fixture {
            dir,
            store,
            minter,
            services: Arc::new(services),
            membranes: Vec::new(),
        };
        f.add_cell("c-000000000001", limits);
        Self { f, upstream }
    }

    /// A client for `task` whose base key grants `caps` (JSON).
    async fn client_with(&self, task: &str, caps: &str) -> Client {
        let mut claims = base_claims();
        claims.caps = Capabilities::from_json(caps).unwrap();
        Client::connect(
            self.f.socket(),
            Some(self.f.minter.mint_base(&claims).unwrap()),
            Some(self.f.task_key(task)),
        )
        .await
    }

    /// A client for `task` with an LLM budget of `budget` tokens.
    async fn client(&self, task: &str, budget: u64) -> Client {
        self.client_with(
            task,
            &format!(r#"{{"llm":{{"max_tokens_per_task":{budget}}}}}"#),
        )
        .await
    }

    /// Tokens `task` has spent (or holds reserved), read from the same database.
    fn used(&self, task: &str) -> u64 {
        SqliteLlmUsage::open(&Services::db_path(self.f.dir.path()))
            .unwrap()
            .used(task)
            .unwrap()
    }

    fn llm_entries(&self) -> Vec<Entry> {
        self.f
            .audit_entries()
            .into_iter()
            .filter(|e| e.action.as_str() == "llm.chat")
            .collect()
    }
}

fn chat(text: &str) -> Value {
    json!({
        "model": "fake-model-1",
        "messages": [
            {"role": "system", "content": "You answer briefly."},
            {"role": "user", "content": text}
        ]
    })
}

fn chat_capped(text: &str, max_tokens: u64) -> Value {
    let mut body = chat(text);
    body["max_tokens"] = json!(max_tokens);
    body
}

const PATH: &str = "/v1/chat/completions";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_forwarded_and_the_echo_and_usage_come_back() {
    let t = LlmFixture::new();
    let mut c = t.client("task-1", 10_000).await;
    let mut body = chat("hello membrane");
    body["temperature"] = json!(0.3);
    body["messages"][1]["content"] =
        json!([{"type": "text", "text": "hello "}, {"type": "text", "text": "membrane"}]);
    let a = c.post(PATH, &body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["object"], "chat.completion");
    assert_eq!(a.body["id"], "chatcmpl-fake-1");
    assert_eq!(a.body["model"], "fake-model-1");
    assert_eq!(a.body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        a.body["choices"][0]["message"]["content"],
        "echo: hello membrane"
    );
    assert_eq!(a.body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        a.body["usage"],
        json!({"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30})
    );
    // Only the OpenAI fields come back.
    assert!(a.body.get("x_debug").is_none(), "{}", a.body);
    assert!(a.body["choices"][0]["message"]
        .get("upstream_note")
        .is_none());

    let seen = t.upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {UPSTREAM_KEY}").as_str())
    );
    // The checked fields are forwarded, and without a cap from the agent the membrane sets
    // one within the budget.
    assert_eq!(seen[0].body["model"], "fake-model-1");
    assert_eq!(seen[0].body["temperature"], 0.3);
    assert_eq!(seen[0].body["messages"], body["messages"]);
    let cap = seen[0].body["max_tokens"].as_u64().unwrap();
    assert!(cap > 0 && cap < 10_000, "{cap}");
    assert!(seen[0].body.get("stream").is_none());
    assert_eq!(t.used("task-1"), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_the_cell_never_sees_the_upstream_api_key() {
    let t = LlmFixture::new();
    let mut c = t.client("task-1", 100_000).await;
    let mut answers = Vec::new();
    for mode in [Mode::Echo, Mode::ServerError, Mode::NotAChatCompletion] {
        t.upstream.set_mode(mode);
        answers.push(c.post(PATH, &chat("what is your api key?")).await);
    }
    answers.push(c.get("/v1/task").await);
    assert_eq!(answers[0].status, 200);
    for a in &answers {
        let text = a.body.to_string();
        assert!(!text.contains(UPSTREAM_KEY), "{text}");
        assert!(!text.contains("sk-upstream"), "{text}");
    }
    // The upstream did get it, every time.
    assert_eq!(t.upstream.hits(), 3);
    assert!(t
        .upstream
        .seen()
        .iter()
        .all(|s| s.authorization.as_deref() == Some(&*format!("Bearer {UPSTREAM_KEY}"))));
    for e in t.f.audit_entries() {
        let text = String::from_utf8(e.canonical().unwrap()).unwrap();
        assert!(!text.contains("sk-upstream"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_chat_without_the_llm_capability_is_denied_and_not_forwarded() {
    let t = LlmFixture::new();
    let mut c = t.client_with("task-1", r#"{"escalate":["manager"]}"#).await;
    let a = c.post(PATH, &chat("hi")).await;
    assert_eq!((a.status, a.code()), (403, "denied"), "{}", a.body);
    assert_eq!(a.body["error"]["rule"], "capability.llm.chat");
    assert_eq!(t.upstream.hits(), 0);
    assert_eq!(t.used("task-1"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_budget_exhausted_across_calls_is_denied_and_nothing_forwarded() {
    let t = LlmFixture::new();
    let mut c = t.client("task-1", 110).await;
    // Each call reserves its prompt estimate (18) plus 10 and spends 30 (20 prompt + 10).
    let mut allowed = 0;
    for i in 0..6 {
        let a = c.post(PATH, &chat_capped("hi", 10)).await;
        if a.status == 200 {
            allowed += 1;
            continue;
        }
        assert_eq!(
            (a.status, a.code()),
            (403, "denied"),
            "call {i}: {}",
            a.body
        );
        assert_eq!(
            a.body["error"]["rule"],
            "capability.llm.chat.max_tokens_per_task"
        );
    }
    assert_eq!(allowed, 3);
    assert_eq!(t.upstream.hits(), 3);
    assert_eq!(t.used("task-1"), 90);

    // Without a cap, the membrane forwards only what is left (110 - 90 - the prompt estimate).
    let a = c.post(PATH, &chat("hi")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let forwarded = t.upstream.seen()[3].body["max_tokens"].as_u64().unwrap();
    assert!((1..=10).contains(&forwarded), "{forwarded}");
    // The upstream's reported usage counts, even past the budget; after that nothing goes.
    assert!(t.used("task-1") >= 110, "{}", t.used("task-1"));
    let hits = t.upstream.hits();
    for body in [chat("hi"), chat_capped("hi", 1)] {
        let a = c.post(PATH, &body).await;
        assert_eq!((a.status, a.code()), (403, "denied"), "{}", a.body);
    }
    assert_eq!(t.upstream.hits(), hits);

    // Another task has its own budget.
    let mut other = t.client("task-2", 100).await;
    assert_eq!(other.post(PATH, &chat_capped("hi", 10)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attack_concurrent_calls_cannot_overspend_the_budget() {
    let t = LlmFixture::new();
    // Slow answers keep every call in flight at once: each reserves its worst case first.
    t.upstream.set_mode(Mode::Slow(300));
    let call = || async {
        let mut c = t.client("task-1", 116).await;
        c.post(PATH, &chat_capped("hi", 40)).await
    };
    let (a, b, c, d, e, f) = tokio::join!(call(), call(), call(), call(), call(), call());
    let answers = [a, b, c, d, e, f];
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let denied = answers.iter().filter(|a| a.code() == "denied").count();
    // A reservation is 40 + the prompt estimate (18): two fit in 116, in flight or one after
    // the other (30 spent + 58 + 58 > 116 too). Without reservations all six would pass.
    assert_eq!(
        ok,
        2,
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    assert_eq!(denied, 4);
    assert_eq!(t.upstream.hits(), 2);
    assert_eq!(t.used("task-1"), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_true_and_malformed_bodies_are_invalid_requests() {
    // A body limit above the prompt bound, so the membrane's own bound is what refuses.
    let limits = Limits {
        max_body_bytes: 256 * 1024,
        ..Limits::default()
    };
    let t = LlmFixture::build(|c| c, limits);
    let mut c = t.client("task-1", 10_000).await;
    let mut stream = chat("hi");
    stream["stream"] = json!(true);
    let mut extra = chat("hi");
    extra["approved"] = json!(true);
    let mut tool_role = chat("hi");
    tool_role["messages"][1]["role"] = json!("tool");
    let mut image = chat("hi");
    image["messages"][1]["content"] =
        json!([{"type": "image_url", "image_url": {"url": "http://10.0.0.1/x.png"}}]);
    let mut number = chat("hi");
    number["messages"][1]["content"] = json!(42);
    let mut float_cap = chat("hi");
    float_cap["max_tokens"] = json!(1e3);
    let mut too_many = chat("hi");
    too_many["messages"] = json!(vec![json!({"role": "user", "content": "x"}); 257]);
    let mut too_long = chat("hi");
    too_long["messages"][1]["content"] = json!("y".repeat(64 * 1024 + 1));
    for body in [
        stream,
        extra,
        tool_role,
        image,
        number,
        float_cap,
        too_many,
        too_long,
        json!({"model": "fake-model-1"}),
        json!({"messages": [{"role": "user", "content": "hi"}]}),
        json!([]),
    ] {
        let a = c.post(PATH, &body).await;
        assert_eq!(
            (a.status, a.code()),
            (400, "invalid_request"),
            "{body}: {}",
            a.body
        );
    }
    let a = c.send("POST", PATH, b"{not json").await;
    assert_eq!(a.code(), "invalid_request");
    assert_eq!(t.upstream.hits(), 0);
    assert_eq!(t.used("task-1"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_are_upstream_errors_without_leaks() {
    let t = LlmFixture::with_config(|mut c| {
        c.call_timeout = Duration::from_millis(500);
        c
    });
    let mut c = t.client("task-1", 100_000).await;
    let cases = [
        (Mode::ServerError, "status", false),
        (Mode::Garbage, "bad_answer", true),
        (Mode::NotAChatCompletion, "bad_answer", true),
        (Mode::Slow(1500), "timeout", true),
    ];
    for (mode, kind, charged) in cases {
        t.upstream.set_mode(mode);
        let before = t.used("task-1");
        let a = c.post(PATH, &chat_capped(SECRET_PROMPT, 50)).await;
        assert_eq!(
            (a.status, a.code()),
            (502, "upstream_unavailable"),
            "{mode:?}: {}",
            a.body
        );
        let text = a.body.to_string();
        assert!(!text.contains("sk-upstream"), "{text}");
        assert!(
            !text.contains("7-alpha") && !text.contains("<html>"),
            "{text}"
        );
        let entry = t.llm_entries().pop().unwrap();
        assert_eq!(
            entry.detail.get("upstream_error"),
            Some(&json!(kind)),
            "{mode:?}"
        );
        // A refusal by the upstream costs nothing; an answer that may have been generated
        // costs the reservation.
        assert_eq!(t.used("task-1") > before, charged, "{mode:?}");
    }
    assert_eq!(
        t.llm_entries()[0].detail.get("upstream_status"),
        Some(&json!(500))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_an_upstream_error_and_costs_nothing() {
    // A port that was just free: nothing listens there.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let t = LlmFixture::with_config(|mut c| {
        c.base_url = format!("http://{closed}/v1");
        c
    });
    let mut c = t.client("task-1", 1000).await;
    let a = c.post(PATH, &chat("hi")).await;
    assert_eq!(
        (a.status, a.code()),
        (502, "upstream_unavailable"),
        "{}",
        a.body
    );
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unreachable"));
    assert_eq!(t.used("task-1"), 0);
    let entry = t.llm_entries().pop().unwrap();
    assert_eq!(
        entry.detail.get("upstream_error"),
        Some(&json!("unreachable"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_usage_from_the_upstream_the_call_is_counted_conservatively() {
    let t = LlmFixture::new();
    t.upstream.set_mode(Mode::EchoWithoutUsage);
    let mut c = t.client("task-1", 10_000).await;
    let a = c.post(PATH, &chat_capped("count me", 100)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // At least the reservation: the prompt estimate plus the whole cap.
    let total = a.body["usage"]["total_tokens"].as_u64().unwrap();
    assert!(total >= 100, "{total}");
    assert_eq!(t.used("task-1"), total);
    let entry = t.llm_entries().pop().unwrap();
    assert_eq!(entry.detail.get("usage_estimated"), Some(&json!(true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membrane_without_an_upstream_says_so() {
    let f = Fixture::new();
    let mut claims = base_claims();
    claims.caps = Capabilities::from_json(r#"{"llm":{"max_tokens_per_task":1000}}"#).unwrap();
    let mut c = Client::connect(
        f.socket(),
        Some(f.minter.mint_base(&claims).unwrap()),
        Some(f.task_key("task-1")),
    )
    .await;
    let a = c.post(PATH, &chat("hi")).await;
    assert_eq!(
        (a.status, a.code()),
        (502, "upstream_unavailable"),
        "{}",
        a.body
    );
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no llm upstream"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_is_audited_with_usage_and_without_prompt_text() {
    let t = LlmFixture::new();
    let mut c = t.client("task-1", 1000).await;
    let ok = c.post(PATH, &chat_capped(SECRET_PROMPT, 10)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let too_big = c.post(PATH, &chat_capped(SECRET_PROMPT, 5000)).await;
    assert_eq!(too_big.code(), "denied");
    let mut streamed = chat(SECRET_PROMPT);
    streamed["stream"] = json!(true);
    assert_eq!(c.post(PATH, &streamed).await.code(), "invalid_request");
    let mut no_cap = t.client_with("task-1", r#"{"escalate":["manager"]}"#).await;
    assert_eq!(
        no_cap.post(PATH, &chat(SECRET_PROMPT)).await.code(),
        "denied"
    );

    let entries = t.llm_entries();
    let got: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.decision,
                e.rule.as_ref().map(|r| r.as_str().to_string()),
                e.detail.get("status").and_then(Value::as_u64),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (Decision::Allow, Some("default.allow".into()), Some(200)),
            (
                Decision::Deny,
                Some("capability.llm.chat.max_tokens_per_task".into()),
                Some(403)
            ),
            (
                Decision::Deny,
                Some("membrane.invalid_request".into()),
                Some(400)
            ),
            (
                Decision::Deny,
                Some("capability.llm.chat".into()),
                Some(403)
            ),
        ],
        "{entries:#?}"
    );
    let allowed = &entries[0];
    assert_eq!(allowed.task.as_ref().unwrap().as_str(), "task-1");
    assert_eq!(allowed.detail.get("model"), Some(&json!("fake-model-1")));
    assert_eq!(allowed.detail.get("prompt_tokens"), Some(&json!(20)));
    assert_eq!(allowed.detail.get("completion_tokens"), Some(&json!(10)));
    assert_eq!(allowed.detail.get("total_tokens"), Some(&json!(30)));
    assert_eq!(allowed.detail.get("task_tokens_used"), Some(&json!(30)));
    for e in &entries {
        let text = String::from_utf8(e.canonical().unwrap()).unwrap();
        assert!(
            !text.contains("vault code") && !text.contains("7-alpha"),
            "{text}"
        );
        assert!(!text.contains("You answer briefly"), "{text}");
        assert!(!text.contains("echo:"), "{text}");
    }
}

#[tokio::test]
async fn attack_raw_pii_in_a_prompt_never_leaves_and_an_echo_never_comes_back() {
    let t = LlmFixture::new();
    let mut c = t.client("task-1", 1000).await;
    // The agent somehow holds raw data (say, it guessed it) and tries to send it out, and to
    // get it echoed back by the model.
    let prompt =
        "Write to JANE SMITH at jane.smith@example.com, card 4111 1111 1111 1111, re [NAME_1]";
    let a = c.post(PATH, &chat_capped(prompt, 20)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let sent = t.upstream.seen().last().unwrap().body.to_string();
    for raw in [
        "JANE SMITH",
        "jane.smith@example.com",
        "4111 1111 1111 1111",
    ] {
        assert!(!sent.contains(raw), "`{raw}` left for the LLM: {sent}");
    }
    assert!(
        sent.contains("[NAME_1]") && sent.contains("[EMAIL_1]") && sent.contains("[CARD_1]"),
        "{sent}"
    );
    // A model answering with raw data: it is tokenised before the cell sees it.
    t.upstream.set_mode(Mode::Leak);
    let a = c.post(PATH, &chat_capped("who is [NAME_1]?", 20)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let answer = a.body["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(
        answer,
        "Her name is [NAME_1], phone [PHONE_1], mail [EMAIL_1]; IBAN [IBAN_1]"
    );
    t.upstream.set_mode(Mode::Echo);
    let entries = t.llm_entries();
    let first = serde_json::to_value(&entries[entries.len() - 2]).unwrap();
    assert_eq!(first["detail"]["pii_replaced_in_prompt"], 3, "{first}");
    let last = serde_json::to_value(entries.last().unwrap()).unwrap();
    assert_eq!(last["detail"]["pii_replaced_in_answer"], 4, "{last}");
}

/// Tools the agent offers the model: one carries raw personal data in its schema (an agent
/// that somehow held it), which must not leave.
fn tools() -> Value {
    json!([
        {"type": "function", "function": {
            "name": "issue_refund", "description": "Refund the task's customer.",
            "parameters": {"type": "object", "properties": {
                "amount_cents": {"type": "integer"}, "reason": {"type": "string"}},
                "required": ["amount_cents", "reason"]}}},
        {"type": "function", "function": {
            "name": "send_email", "description": "Email the customer; write to jane.smith@example.com",
            "parameters": {"type": "object", "properties": {
                "to": {"type": "string", "enum": ["[EMAIL_1]", "jane.smith@example.com"]}}},
            "strict": false}}
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_calls_pass_through_and_come_back_tokenised() {
    let t = LlmFixture::new();
    let mut c = t.client("task-1", 100_000).await;
    // The second round of a tool loop: the model's earlier call and the agent's result.
    let mut body = chat_capped("Refund [NAME_1] and tell them.", 50);
    body["tools"] = tools();
    body["tool_choice"] = json!("auto");
    body["parallel_tool_calls"] = json!(false);
    let messages = body["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{
        "id": "call_0", "type": "function",
        "function": {"name": "issue_refund", "arguments": "{\"amount_cents\": 500, \"reason\": \"dented, said JANE SMITH\"}"}}]}));
    messages.push(json!({"role": "tool", "tool_call_id": "call_0",
        "content": "{\"refund_id\": \"rf_1\", \"status\": \"paid\"}"}));
    t.upstream.set_mode(Mode::ToolCall);
    let a = c.post(PATH, &body).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // Upstream: the tools, the choice, the earlier call and the tool result, with the raw
    // data that slipped in replaced by the task's tokens.
    let sent = &t.upstream.seen()[0].body;
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["parallel_tool_calls"], false);
    assert_eq!(sent["tools"][0], tools()[0]);
    assert_eq!(
        sent["tools"][1]["function"]["description"],
        "Email the customer; write to [EMAIL_1]"
    );
    assert_eq!(
        sent["tools"][1]["function"]["parameters"]["properties"]["to"]["enum"],
        json!(["[EMAIL_1]", "[EMAIL_1]"])
    );
    assert_eq!(sent["messages"][2]["tool_calls"][0]["id"], "call_0");
    assert_eq!(
        sent["messages"][2]["tool_calls"][0]["function"]["arguments"],
        "{\"amount_cents\": 500, \"reason\": \"dented, said [NAME_1]\"}"
    );
    assert_eq!(sent["messages"][3], body["messages"][3]);
    let text = sent.to_string();
    for raw in ["jane.smith@example.com", "JANE SMITH"] {
        assert!(!text.contains(raw), "`{raw}` left for the LLM: {text}");
    }

    // Cell: the call, reduced to the OpenAI fields, with its arguments tokenised.
    let choice = &a.body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{"id": "call_fake_1", "type": "function", "function": {
            "name": "send_email",
            "arguments": "{\"to\": \"[EMAIL_1]\", \"greeting\": \"Dear [NAME_1]\"}"}}])
    );
    let answer = a.body.to_string();
    assert!(
        !answer.contains("jane.smith@") && !answer.contains("Jane Smith"),
        "{answer}"
    );
    assert!(
        !answer.contains("sk-upstream") && !answer.contains("x_debug"),
        "{answer}"
    );

    // The agent sends the model's message back as it got it (what the `openai` package does
    // with `messages.append(message)`): accepted as is.
    let mut next = body.clone();
    next["messages"]
        .as_array_mut()
        .unwrap()
        .push(choice["message"].clone());
    next["messages"].as_array_mut().unwrap().push(
        json!({"role": "tool", "tool_call_id": "call_fake_1", "content": "{\"sent\": true}"}),
    );
    t.upstream.set_mode(Mode::Echo);
    let b = c.post(PATH, &next).await;
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(t.upstream.seen()[1].body["messages"][4], choice["message"]);

    let entries = t.llm_entries();
    let first = &entries[0].detail;
    assert_eq!(first.get("tools"), Some(&json!(2)));
    assert_eq!(first.get("tool_calls"), Some(&json!(1)));
    assert_eq!(first.get("pii_replaced_in_prompt"), Some(&json!(3)));
    assert_eq!(first.get("pii_replaced_in_answer"), Some(&json!(2)));
    for e in &entries {
        let text = String::from_utf8(e.canonical().unwrap()).unwrap();
        assert!(
            !text.contains("amount_cents") && !text.contains("[EMAIL_1]"),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_definitions_count_toward_the_budget() {
    let t = LlmFixture::new();
    let mut c = t.client("task-1", 100_000).await;
    let plain = chat_capped("hi", 10);
    let mut with_tools = plain.clone();
    with_tools["tools"] = tools();
    for body in [&plain, &with_tools] {
        assert_eq!(c.post(PATH, body).await.status, 200);
    }
    let reserved: Vec<u64> = t
        .llm_entries()
        .iter()
        .map(|e| e.detail.get("tokens_reserved").unwrap().as_u64().unwrap())
        .collect();
    let tools_bytes = tools().to_string().len() as u64;
    assert!(
        reserved[1] >= reserved[0] + tools_bytes / 3,
        "{reserved:?}, tools {tools_bytes} bytes"
    );
    // A budget that holds the plain call but not the tools' share is refused before
    // anything is sent.
    let mut small = t.client("task-2", reserved[0] + 5).await;
    let hits = t.upstream.hits();
    let a = small.post(PATH, &with_tools).await;
    assert_eq!((a.status, a.code()), (403, "denied"), "{}", a.body);
    assert_eq!(t.upstream.hits(), hits);
    assert_eq!(small.post(PATH, &plain).await.status, 200);
}
