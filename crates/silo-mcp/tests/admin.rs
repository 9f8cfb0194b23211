//! The governance server: tools listed, arguments parsed strictly, failures as tool errors.

use std::sync::{Arc, Mutex};

use rmcp::model::CallToolRequestParams;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use silo_mcp::{
    AdminServer, AuditQuery, Governance, GovernanceError, PolicyEval, SubmitTask, TaskStatus,
};

#[derive(Default)]
struct Fake {
    calls: Arc<Mutex<Vec<String>>>,
}

impl Governance for Fake {
    fn submit_task(&self, req: SubmitTask) -> Result<Value, GovernanceError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("submit {} {}", req.entry, req.customer));
        Ok(json!({ "id": "T-000001", "input": req.input }))
    }
    fn task_status(&self, req: TaskStatus) -> Result<Value, GovernanceError> {
        Err(GovernanceError::NotFound(format!("task `{}`", req.id)))
    }
    fn audit_query(&self, req: AuditQuery) -> Result<Value, GovernanceError> {
        Ok(json!({ "entries": [], "limit": req.limit }))
    }
    fn policy_eval(&self, req: PolicyEval) -> Result<Value, GovernanceError> {
        Ok(json!({ "decision": "deny", "action": req.action }))
    }
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn an_mcp_client_lists_and_calls_the_governance_tools() {
    let fake = Fake::default();
    let calls = fake.calls.clone();
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        AdminServer::new(fake)
            .serve(server_io)
            .await
            .unwrap()
            .waiting()
            .await
            .unwrap();
    });
    let client = ().serve(client_io).await.unwrap();
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "silo");
    let names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(
        names,
        ["submit_task", "task_status", "audit_query", "policy_eval"]
    );

    let done = client
        .call_tool(
            CallToolRequestParams::new("submit_task").with_arguments(args(
                json!({ "entry": "refund-agent", "customer": "C-1", "input": { "order": "O-1" } }),
            )),
        )
        .await
        .unwrap();
    assert_eq!(done.is_error, Some(false));
    assert_eq!(done.structured_content.unwrap()["id"], "T-000001");
    assert_eq!(
        calls.lock().unwrap().as_slice(),
        ["submit refund-agent C-1"]
    );

    // A failure of silo is a tool error with the reason, not a success.
    let missing = client
        .call_tool(
            CallToolRequestParams::new("task_status").with_arguments(args(json!({ "id": "T-9" }))),
        )
        .await
        .unwrap();
    assert_eq!(missing.is_error, Some(true));
    assert!(missing.structured_content.unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("T-9"));

    // Unknown or missing arguments are refused before the governance sees them.
    let typo = client
        .call_tool(
            CallToolRequestParams::new("submit_task").with_arguments(args(
                json!({ "entry": "a", "customer": "C-1", "approved": true }),
            )),
        )
        .await
        .unwrap();
    assert_eq!(typo.is_error, Some(true));
    assert!(typo.structured_content.unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("approved"));
    assert_eq!(calls.lock().unwrap().len(), 1);

    // A tool that does not exist is a protocol error.
    let nope = client
        .call_tool(CallToolRequestParams::new("drop_tables"))
        .await;
    assert!(nope.is_err(), "{nope:?}");

    client.cancel().await.unwrap();
    server.await.unwrap();
}
