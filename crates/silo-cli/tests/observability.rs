//! Logs, traces and metrics of a real `silo serve` (docs/OBSERVABILITY.md): JSON log lines
//! on standard error only; the turn's spans exported over OTLP/HTTP to a fake collector on
//! 127.0.0.1 with the chain task → dispatch → cell → membrane.call and no personal data;
//! `GET /metrics` with decision counts equal to the audit log's, histogram counts equal to
//! the cells and calls that ran, and the LLM tokens a fake upstream reported.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http;

/// The repository root (the example project lives under it).
fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fake OTLP/HTTP collector: keeps every body POSTed to `/v1/traces`.
fn fake_collector() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    let url = crate::fake_http(move |r| {
        if r.head.starts_with("POST /v1/traces ") {
            kept.lock().unwrap().push(r.body.clone());
        }
        "{}".into()
    });
    (url, bodies)
}

/// A fake OpenAI-compatible upstream answering every call with 20 prompt and 5 completion
/// tokens (and "yes", so the example agents take the same path as by their rules); returns its URL and the number of calls it answered.
fn fake_llm() -> (String, Arc<Mutex<u64>>) {
    let calls = Arc::new(Mutex::new(0u64));
    let counted = calls.clone();
    let url = crate::fake_http(move |_| {
        *counted.lock().unwrap() += 1;
        crate::chat_answer("yes", 20, 5)
    });
    (format!("{url}/v1"), calls)
}

/// The example project's file with absolute paths and the fake LLM upstream.
fn project_file(dir: &Path, llm_url: &str) -> std::path::PathBuf {
    let example = root().join("examples/customer-service");
    let text = std::fs::read_to_string(example.join("silo.yaml")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        match line.split_once(": ") {
            Some((key @ ("agents" | "workflows" | "seed"), value)) if !value.contains(' ') => {
                out.push_str(&format!("{key}: {}\n", example.join(value).display()));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.push_str(&format!("llm:\n  url: {llm_url}\n"));
    let path = dir.join("silo.yaml");
    std::fs::write(&path, out).unwrap();
    path
}

struct Daemon {
    child: Child,
    addr: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(config: &Path, data: &Path, run: &Path, collector: &str, log: &Path) -> Daemon {
    let mut child = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(["--log-format", "json", "--otlp-endpoint", collector])
        .args(["serve", "--listen", "127.0.0.1:0", "--no-console"])
        .env("SILO_RUN_DIR", run)
        .env("SILO_LOG", "info")
        .env_remove("RUST_LOG")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        // Export the batch every 200 ms rather than every 5 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("silo serve: task API on http://"),
        "{line}"
    );
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    Daemon { child, addr }
}

fn wait_for_state(addr: &str, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, task) = http(addr, "GET", &format!("/v1/tasks/{id}"), "");
        if task["state"] == want || Instant::now() > deadline {
            return task;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metrics(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    body.to_string()
}

/// The samples of `family` (exact metric name) by their label set as written.
fn samples(text: &str, name: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (metric, labels) = match series.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric == name {
            out.insert(labels.to_string(), value.parse().unwrap());
        }
    }
    out
}

/// The value of one label in a written label set.
fn label<'a>(labels: &'a str, key: &str) -> &'a str {
    let start = labels.find(&format!("{key}=\"")).unwrap() + key.len() + 2;
    let rest = &labels[start..];
    &rest[..rest.find('"').unwrap()]
}

/// Every span in the exported OTLP/JSON bodies, by span id.
fn spans(bodies: &[Vec<u8>]) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    for body in bodies {
        let doc: Value = serde_json::from_slice(body).expect("OTLP/HTTP JSON");
        for rs in doc["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for span in ss["spans"].as_array().unwrap() {
                    out.insert(span["spanId"].as_str().unwrap().to_string(), span.clone());
                }
            }
        }
    }
    out
}

/// A span attribute as text (string or integer values).
fn attr(span: &Value, key: &str) -> Option<String> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| {
            let v = &a["value"];
            v["stringValue"]
                .as_str()
                .map(str::to_string)
                .or_else(|| v["intValue"].as_str().map(str::to_string))
                .or_else(|| v["intValue"].as_i64().map(|n| n.to_string()))
                .unwrap_or_else(|| v.to_string())
        })
}

const TASK: &str = r#"{"entry":"refund-agent","customer":"cus_001","case":"case_001","input":{"message":"Jane Smith: my sofa ord_1003 arrived broken! Write to jane.smith@example.com"}}"#;

#[test]
fn a_served_task_is_logged_traced_and_counted() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (collector, bodies) = fake_collector();
    let (llm_url, llm_calls) = fake_llm();
    let config = project_file(tmp.path(), &llm_url);
    let data = tmp.path().join("data");
    let log = tmp.path().join("serve.log");
    let mut d = serve(&config, &data, &tmp.path().join("run"), &collector, &log);

    let (status, created) = http(&d.addr, "POST", "/v1/tasks", TASK);
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let task = wait_for_state(&d.addr, &id, "completed");
    assert_eq!(task["state"], "completed", "{task}");
    let (_, events) = http(&d.addr, "GET", &format!("/v1/tasks/{id}/events"), "");
    let turns = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["event"] == "dispatched")
        .count();
    assert!(
        turns >= 2,
        "refund-agent escalates to manager-agent: {events}"
    );
    let text = metrics(&d.addr);

    // Decisions: the same counts as the audit log's entries, by action, result and rule.
    let o = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .args(["--json", "audit", "query", "--limit", "100000"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", crate::text(&o));
    let entries: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    let mut calls_by_route: BTreeMap<String, f64> = BTreeMap::new();
    for e in &entries {
        if e["actor"] == "membrane" {
            *calls_by_route
                .entry(e["action"].as_str().unwrap().to_string())
                .or_default() += 1.0;
        }
        if e["decision"] == "none" {
            continue;
        }
        let key = format!(
            "action=\"{}\",result=\"{}\",rule=\"{}\"",
            e["action"].as_str().unwrap(),
            e["decision"].as_str().unwrap(),
            e["rule"].as_str().unwrap_or("")
        );
        *expected.entry(key).or_default() += 1.0;
    }
    assert!(!expected.is_empty(), "no decisions in the audit log");
    assert_eq!(
        samples(&text, "silo_membrane_decisions_total"),
        expected,
        "{text}"
    );

    // Histograms: one spawn sample per cell, one request sample per membrane call.
    let spawned = samples(&text, "silo_cell_spawn_seconds_count");
    assert_eq!(spawned.values().sum::<f64>(), turns as f64, "{text}");
    let mut requests = BTreeMap::new();
    for (labels, n) in samples(&text, "silo_membrane_request_seconds_count") {
        requests.insert(label(&labels, "route").to_string(), n);
    }
    assert_eq!(requests, calls_by_route, "{text}");
    let buckets = samples(&text, "silo_cell_spawn_seconds_bucket");
    assert_eq!(buckets.get("le=\"+Inf\""), Some(&(turns as f64)), "{text}");

    // LLM tokens: what the upstream reported for each answered call.
    let answered = *llm_calls.lock().unwrap() as f64;
    assert!(answered >= 1.0, "the agents did not use the LLM");
    let tokens = samples(&text, "silo_llm_tokens_total");
    assert_eq!(
        tokens.get("kind=\"prompt\""),
        Some(&(20.0 * answered)),
        "{text}"
    );
    assert_eq!(
        tokens.get("kind=\"completion\""),
        Some(&(5.0 * answered)),
        "{text}"
    );
    // The router's families are still there.
    assert!(
        text.lines()
            .any(|l| l == "silo_router_events_total{kind=\"escalated_to_agent\"} 1"),
        "{text}"
    );

    // SIGTERM: the exporter flushes, then the process exits as the signal would have.
    let kill = Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(status) = d.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "silo serve ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exit.code(), Some(143));

    // Traces: the chain task → dispatch → cell → membrane.call, for every call.
    let bodies = bodies.lock().unwrap().clone();
    assert!(!bodies.is_empty(), "the collector received nothing");
    let all = spans(&bodies);
    let parent = |span: &Value| -> Option<Value> {
        let id = span["parentSpanId"].as_str().filter(|p| !p.is_empty())?;
        all.get(id).cloned()
    };
    let calls: Vec<&Value> = all
        .values()
        .filter(|s| s["name"] == "membrane.call")
        .collect();
    assert_eq!(
        calls.len() as f64,
        calls_by_route.values().sum::<f64>(),
        "one span per membrane call"
    );
    let mut task_spans = 0;
    for call in &calls {
        assert!(attr(call, "route").is_some(), "{call}");
        assert!(attr(call, "decision").is_some(), "{call}");
        assert!(attr(call, "status").is_some(), "{call}");
        let cell = parent(call).expect("a membrane call has a parent");
        assert_eq!(cell["name"], "cell", "{cell}");
        assert!(attr(&cell, "spawn_ms").is_some(), "{cell}");
        let dispatch = parent(&cell).expect("a cell has a parent");
        assert_eq!(dispatch["name"], "dispatch", "{dispatch}");
        let task = parent(&dispatch).expect("a dispatch has a parent");
        assert_eq!(task["name"], "task", "{task}");
        assert_eq!(
            attr(&task, "task.id").as_deref(),
            Some(id.as_str()),
            "{task}"
        );
        assert!(parent(&task).is_none(), "the task span is the root");
        assert_eq!(call["traceId"], task["traceId"]);
        task_spans += 1;
    }
    assert!(task_spans > 0);
    assert!(
        calls.iter().all(|c| attr(c, "rule").is_some()),
        "every decision carries its rule"
    );
    // No personal data and no key anywhere in what left the process.
    let exported = String::from_utf8_lossy(&bodies.concat()).to_string();
    for needle in ["Jane", "Smith", "jane.smith@example.com", "010-2030", "eyJ"] {
        assert!(!exported.contains(needle), "`{needle}` was exported");
    }

    // Logs: JSON lines on standard error, none with personal data.
    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "step done"),
        "{log}"
    );
    assert!(lines.iter().all(|l| l["level"].is_string()), "{log}");
    for needle in ["Jane", "Smith", "jane.smith@example.com", "eyJ"] {
        assert!(!log.contains(needle), "`{needle}` was logged");
    }
}

#[test]
fn logging_options_are_checked() {
    let o = crate::silo(&["--log-format", "yaml", "keys", "list"]);
    assert_eq!(o.status.code(), Some(2), "{}", crate::text(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_silo"))
        .args(["keys", "--help"])
        .env("SILO_LOG", "silo=[")
        .output()
        .unwrap();
    // --help is answered before the subscriber; a real command refuses the filter.
    assert!(o.status.success());
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["audit", "verify"])
        .env("SILO_LOG", "silo=[")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", crate::text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("log filter"),
        "{}",
        crate::text(&o)
    );
    let o = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["--otlp-endpoint", "127.0.0.1:4318", "audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", crate::text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not an http"),
        "{}",
        crate::text(&o)
    );
}
