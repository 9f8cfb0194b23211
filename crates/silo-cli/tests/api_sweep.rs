//! Every endpoint of `silo serve`'s task API with malformed, oversized and hostile requests:
//! each gets a 4xx with a JSON error naming the problem — never a 5xx, never a dropped
//! connection — and the daemon keeps serving (a good task is still accepted afterwards).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

/// Sends raw bytes, returns the status and the body (`None`: no HTTP answer at all).
fn send(addr: &str, request: &[u8]) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // A server may close early on a body it refuses; what it answered still counts.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

fn request(method: &str, path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[test]
fn the_task_api_answers_every_bad_request_with_a_4xx_and_keeps_serving() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = crate::serve::start(&data, &tmp.path().join("run"));
    // No cell: the agent is offline, accepted tasks wait for a person.
    let off = crate::serve::silo_at(&data, &["agent", "offline", "refund-agent"]);
    assert!(off.status.success(), "{}", crate::text(&off));

    let deep = "[".repeat(100_000);
    let long_id = "T".repeat(10_000);
    let huge = format!(
        r#"{{"entry":"refund-agent","customer":"cus_001","input":{{"m":"{}"}}}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("truncated", b"{\"entry\":".to_vec()),
        ("array", b"[]".to_vec()),
        ("null", b"null".to_vec()),
        (
            "wrong type",
            br#"{"entry":5,"customer":"cus_001"}"#.to_vec(),
        ),
        ("no customer", br#"{"entry":"refund-agent"}"#.to_vec()),
        (
            "input not an object",
            br#"{"entry":"refund-agent","customer":"cus_001","input":"hi"}"#.to_vec(),
        ),
        (
            "unknown field",
            br#"{"entry":"refund-agent","customer":"cus_001","approved":true}"#.to_vec(),
        ),
        (
            "unknown agent",
            br#"{"entry":"no-such-agent","customer":"cus_001"}"#.to_vec(),
        ),
        ("deep nesting", deep.clone().into_bytes()),
        ("not utf-8", vec![b'{', 0xff, 0xfe, b'}']),
        ("oversized", huge.into_bytes()),
        (
            "customer too long",
            format!(
                r#"{{"entry":"refund-agent","customer":"{}"}}"#,
                "c".repeat(100_000)
            )
            .into_bytes(),
        ),
    ];
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for (what, body) in &bodies {
        cases.push((
            format!("POST /v1/tasks {what}"),
            request("POST", "/v1/tasks", "application/json", body),
        ));
        cases.push((
            format!("POST signal {what}"),
            request(
                "POST",
                "/v1/tasks/T-000001/signal",
                "application/json",
                body,
            ),
        ));
    }
    cases.push((
        "POST /v1/tasks as a form".into(),
        request(
            "POST",
            "/v1/tasks",
            "application/x-www-form-urlencoded",
            b"entry=refund-agent&customer=cus_001",
        ),
    ));
    cases.push((
        "bad signal name".into(),
        request(
            "POST",
            "/v1/tasks/T-000001/signal",
            "application/json",
            br#"{"signal":"explode"}"#,
        ),
    ));
    for path in [
        "/v1/tasks/T-999999".to_string(),
        "/v1/tasks/..".into(),
        "/v1/tasks/%2e%2e%2fkeys".into(),
        "/v1/tasks/%00".into(),
        format!("/v1/tasks/{long_id}"),
        format!("/v1/tasks/{long_id}/events"),
        "/v1/tasks?state=bogus".into(),
        "/v1/tasks?limit=-1".into(),
        "/v1/tasks?limit=99999999999999999999999".into(),
        "/v1/tasks?nonsense=1".into(),
        format!("/v1/tasks?agent={long_id}"),
        "/v1/inbox/..".into(),
        format!("/v1/inbox/{long_id}"),
        "/v1/events?after=banana".into(),
        "/v1/nowhere".into(),
        "/metrics/../v1/agents/refund-agent/online".into(),
    ] {
        cases.push((
            format!("GET {}", &path[..path.len().min(60)]),
            request("GET", &path, "application/json", b""),
        ));
    }
    for (method, path) in [
        ("DELETE", "/v1/tasks"),
        ("PUT", "/v1/tasks/T-000001"),
        ("POST", "/v1/agents"),
        ("POST", "/v1/agents/no-such-agent/offline"),
        ("POST", "/v1/agents/refund-agent/explode"),
        ("GET", "/v1/agents/refund-agent/offline"),
        ("POST", "/metrics"),
    ] {
        cases.push((
            format!("{method} {path}"),
            request(method, path, "application/json", b"{}"),
        ));
    }
    // A header section far beyond any real client's.
    let mut big_header = b"GET /v1/agents HTTP/1.1\r\nhost: 127.0.0.1\r\nx-big: ".to_vec();
    big_header.extend(std::iter::repeat_n(b'a', 200_000));
    big_header.extend_from_slice(b"\r\nconnection: close\r\n\r\n");
    cases.push(("200 KB header".into(), big_header));
    // A body shorter than its content-length: the server must time out or refuse, not hang
    // the whole daemon.
    cases.push((
        "short body".into(),
        b"POST /v1/tasks HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{\"a\":1}"
            .to_vec(),
    ));
    cases.push((
        "not HTTP".into(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(),
    ));

    let mut problems = Vec::new();
    for (what, req) in &cases {
        let short_body = what == "short body";
        let answer = if short_body {
            // Send the short body from a thread, and meanwhile check the daemon still serves.
            let addr = d.addr.clone();
            let req = req.clone();
            let t = std::thread::spawn(move || send(&addr, &req));
            let (status, _) = crate::http(&d.addr, "GET", "/v1/agents", "");
            if status != 200 {
                problems.push(format!(
                    "{what}: the daemon stopped serving others ({status})"
                ));
            }
            t.join().unwrap()
        } else {
            send(&d.addr, req)
        };
        match answer {
            None if what == "not HTTP" => {}
            None => problems.push(format!("{what}: no HTTP answer")),
            Some((status, body)) => {
                if !(400..500).contains(&status) {
                    problems.push(format!(
                        "{what}: status {status}: {}",
                        &body[..body.len().min(200)]
                    ));
                } else if status != 431 && what != "not HTTP" && what != "200 KB header" {
                    // Our own refusals are JSON with an error (hyper's own 4xx have no body).
                    let json: Result<Value, _> = serde_json::from_str(body.trim());
                    if !json.as_ref().is_ok_and(|j| j.get("error").is_some())
                        && !body.trim().is_empty()
                    {
                        problems.push(format!("{what}: {status} without a JSON error: {body}"));
                    }
                }
                if body.contains("panicked") || body.contains("backtrace") {
                    problems.push(format!("{what}: internals in the answer: {body}"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} bad requests misbehaved:\n  {}",
        problems.len(),
        cases.len(),
        problems.join("\n  ")
    );

    // Still serving, and a good task is still accepted and stored once.
    let (status, created) = crate::http(
        &d.addr,
        "POST",
        "/v1/tasks",
        r#"{"entry":"refund-agent","customer":"cus_001","case":"case_001","input":{"message":"hello"}}"#,
    );
    assert_eq!(status, 201, "{created}");
    let (status, tasks) = crate::http(&d.addr, "GET", "/v1/tasks", "");
    assert_eq!(status, 200, "{tasks}");
    assert_eq!(
        tasks.as_array().map(Vec::len),
        Some(1),
        "no bad request created a task: {tasks}"
    );
}
