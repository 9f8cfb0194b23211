//! Flooding and hanging the membrane: bodies, headers, rate, slow clients, unknown routes.

use std::time::Duration;

use serde_json::json;
use silo_membrane::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Client, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_oversized_body_is_refused() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let big = json!({"key": "k", "value": "x".repeat(70 * 1024)});
    let a = c.post("/v1/kv/put", &big).await;
    assert_eq!((a.status, a.code()), (413, "body_too_large"));

    // Chunked, with no length announced: cut off while reading.
    let mut raw = tokio::net::UnixStream::connect(f.socket()).await.unwrap();
    let mut req = format!(
        "POST /v1/kv/put HTTP/1.1\r\nhost: s\r\ntransfer-encoding: chunked\r\nx-silo-base-key: {}\r\nx-silo-task-key: {}\r\n\r\n",
        f.base_key(),
        f.task_key("task-1")
    )
    .into_bytes();
    let chunk = vec![b'a'; 16 * 1024];
    for _ in 0..5 {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let _ = raw.write_all(&req).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("body_too_large"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_oversized_headers_are_refused() {
    let f = Fixture::new();
    let mut raw = tokio::net::UnixStream::connect(f.socket()).await.unwrap();
    let req = format!(
        "GET /v1/task HTTP/1.1\r\nhost: s\r\nx-pad: {}\r\n\r\n",
        "p".repeat(20 * 1024)
    );
    let _ = raw.write_all(req.as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_request_flood_is_rate_limited() {
    let f = Fixture::with_limits(Limits {
        requests_per_second: 1,
        burst: 5,
        ..Limits::default()
    });
    let mut c = f.client().await;
    let mut codes = Vec::new();
    for _ in 0..20 {
        let a = c.get("/v1/task").await;
        codes.push((a.status, a.code().to_string()));
    }
    let limited = codes.iter().filter(|(s, _)| *s == 429).count();
    assert!(limited >= 14, "{codes:?}");
    assert!(codes
        .iter()
        .filter(|(s, _)| *s == 429)
        .all(|(_, c)| c == "rate_limited"));
    // The flood is not one audit write per refusal.
    let refusals = f
        .audit_entries()
        .iter()
        .filter(|e| e.detail.get("code") == Some(&json!("rate_limited")))
        .count();
    assert!(refusals <= 2, "{refusals} audited rate-limit refusals");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_slow_body_times_out() {
    let f = Fixture::with_limits(Limits {
        body_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    let mut raw = tokio::net::UnixStream::connect(f.socket()).await.unwrap();
    let req = format!(
        "POST /v1/kv/get HTTP/1.1\r\nhost: s\r\ncontent-length: 100\r\nx-silo-base-key: {}\r\nx-silo-task-key: {}\r\n\r\n{{\"key\"",
        f.base_key(),
        f.task_key("task-1")
    );
    raw.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_slow_headers_are_cut_off() {
    let f = Fixture::with_limits(Limits {
        header_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    let mut raw = tokio::net::UnixStream::connect(f.socket()).await.unwrap();
    raw.write_all(b"GET /v1/task HTTP/1.1\r\nhost: s\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut out)).await;
    assert!(
        closed.is_ok(),
        "connection still open after the header timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_connection_flood_only_hurts_the_flooding_cell() {
    let mut f = Fixture::with_limits(Limits {
        max_connections: 2,
        ..Limits::default()
    });
    let other = f.add_cell("c-000000000004", Limits::default());
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(f.client().await);
    }
    // The third connection on the flooded cell is closed without an answer.
    let mut third = tokio::net::UnixStream::connect(f.socket()).await.unwrap();
    let _ = third
        .write_all(b"GET /v1/task HTTP/1.1\r\nhost: s\r\n\r\n")
        .await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut out)).await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    // Another cell is served as usual.
    let key = f
        .minter
        .mint_task(&crate::support::task_claims("task-4", "c-000000000004"))
        .unwrap();
    let mut c = Client::connect(&other, Some(f.base_key()), Some(key)).await;
    assert_eq!(c.get("/v1/task").await.status, 200);
    // The held connections still work.
    assert_eq!(held[0].get("/v1/task").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_are_refused() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c.post("/v1/wire_transfer", &json!({})).await;
    assert_eq!((a.status, a.code()), (404, "not_found"));
    let a = c.get("/v1/refund").await;
    assert_eq!((a.status, a.code()), (405, "method_not_allowed"));
    let a = c.post("/v1/approve", &json!({})).await;
    assert_eq!(a.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_is_connectable_by_anyone_and_removed_on_shutdown() {
    use std::os::unix::fs::PermissionsExt;
    let mut f = Fixture::new();
    let path = f.socket().to_path_buf();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666);
    let m = f.membranes.remove(0);
    m.shutdown().await;
    assert!(!path.exists());
}
