//! The in-cell server against a stand-in membrane: it lists what the membrane lists, sends
//! each call to the tool's route with both keys, and shows a refusal as a tool error.

use std::sync::{Arc, Mutex};

use rmcp::model::CallToolRequestParams;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use silo_mcp::{CellServer, CellSetup, MembraneClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

/// What the stand-in membrane saw: method, path, the two key headers, the body.
type Seen = Arc<Mutex<Vec<(String, String, String, String, String)>>>;

fn tools() -> Value {
    json!({ "tools": [
        { "name": "get_task", "description": "Read the task", "method": "GET", "path": "/v1/task",
          "input_schema": { "type": "object", "properties": {}, "additionalProperties": false } },
        { "name": "issue_refund", "description": "Refund", "method": "POST", "path": "/v1/refund",
          "input_schema": { "type": "object", "properties": { "amount_cents": { "type": "integer" } } } },
    ]})
}

/// A one-request-per-connection HTTP/1.1 server on a Unix socket, answering like the
/// membrane: the tool list, a task, and a policy refusal for refunds over 500 cents.
fn stand_in(dir: &std::path::Path, seen: Seen) -> std::path::PathBuf {
    let path = dir.join("membrane.sock");
    let listener = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = s.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(i) = text.find("\r\n\r\n") {
                        let head = text[..i].to_string();
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= i + 4 + len {
                            break (head, text[i + 4..i + 4 + len].to_string());
                        }
                    }
                    assert!(n > 0, "closed early");
                };
                let mut lines = head.lines();
                let mut first = lines.next().unwrap().split(' ');
                let (method, path) = (
                    first.next().unwrap().to_string(),
                    first.next().unwrap().to_string(),
                );
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .starts_with(name)
                                .then(|| l[name.len() + 1..].trim().to_string())
                        })
                        .unwrap_or_default()
                };
                let (base, task) = (header("x-silo-base-key"), header("x-silo-task-key"));
                seen.lock()
                    .unwrap()
                    .push((method.clone(), path.clone(), base, task, body.clone()));
                let (status, answer) = match path.as_str() {
                    "/v1/tools" => (200, tools()),
                    "/v1/task" => (200, json!({ "task": "T-1", "customer": "[CUSTOMER_1]" })),
                    "/v1/refund" => {
                        let amount = serde_json::from_str::<Value>(&body).unwrap()["amount_cents"]
                            .as_i64()
                            .unwrap();
                        if amount > 500 {
                            (
                                403,
                                json!({ "error": { "code": "denied", "message": "amount exceeds the limit", "rule": "capability.refund.max_cents" } }),
                            )
                        } else {
                            (200, json!({ "refund_id": "R-1", "status": "issued" }))
                        }
                    }
                    _ => (
                        404,
                        json!({ "error": { "code": "not_found", "message": "no such route" } }),
                    ),
                };
                let body = answer.to_string();
                let reply = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                s.write_all(reply.as_bytes()).await.unwrap();
            });
        }
    });
    path
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn the_cell_server_offers_the_membranes_tools_and_runs_each_as_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let seen: Seen = Arc::default();
    let socket = stand_in(dir.path(), seen.clone());
    let setup = CellSetup {
        client: MembraneClient::new(socket, "BASE.KEY".into(), "TASK.KEY".into()),
    };
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        CellServer::new(setup)
            .serve(server_io)
            .await
            .unwrap()
            .waiting()
            .await
            .unwrap();
    });
    let client = ().serve(client_io).await.unwrap();
    let listed: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(listed, ["get_task", "issue_refund"]);

    let task = client
        .call_tool(CallToolRequestParams::new("get_task"))
        .await
        .unwrap();
    assert_eq!(task.is_error, Some(false));
    assert_eq!(task.structured_content.unwrap()["customer"], "[CUSTOMER_1]");

    let paid = client
        .call_tool(
            CallToolRequestParams::new("issue_refund")
                .with_arguments(args(json!({ "amount_cents": 300 }))),
        )
        .await
        .unwrap();
    assert_eq!(paid.is_error, Some(false));

    let refused = client
        .call_tool(
            CallToolRequestParams::new("issue_refund")
                .with_arguments(args(json!({ "amount_cents": 90000 }))),
        )
        .await
        .unwrap();
    assert_eq!(
        refused.is_error,
        Some(true),
        "a refusal must not look like success"
    );
    let shown = refused.structured_content.unwrap();
    assert_eq!(shown["code"], "denied");
    assert_eq!(shown["rule"], "capability.refund.max_cents");

    // A tool the membrane did not list never becomes a request.
    assert!(client
        .call_tool(CallToolRequestParams::new("raw_sql"))
        .await
        .is_err());
    // A GET tool with arguments is refused before it is sent.
    assert!(client
        .call_tool(CallToolRequestParams::new("get_task").with_arguments(args(json!({ "x": 1 }))))
        .await
        .is_err());

    let seen = seen.lock().unwrap().clone();
    let routes: Vec<(&str, &str)> = seen
        .iter()
        .map(|(m, p, ..)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        routes,
        [
            ("GET", "/v1/tools"),
            ("GET", "/v1/task"),
            ("POST", "/v1/refund"),
            ("POST", "/v1/refund")
        ]
    );
    for (_, _, base, task, _) in &seen {
        assert_eq!(
            (base.as_str(), task.as_str()),
            ("BASE.KEY", "TASK.KEY"),
            "both keys on every call"
        );
    }
    assert_eq!(
        serde_json::from_str::<Value>(&seen[2].4).unwrap(),
        json!({ "amount_cents": 300 })
    );
    client.cancel().await.unwrap();
    server.await.unwrap();
}
