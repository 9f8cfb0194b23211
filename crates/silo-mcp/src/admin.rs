//! The governance MCP server (`silo mcp`): what an operator's MCP client may ask silo —
//! submit a task, read a task's status and timeline, query the audit log, and ask the
//! policy what it would decide. The work is done by a [`Governance`] the CLI provides (the
//! task API of a running `silo serve`, the project's audit log and policy); this module owns
//! the tool list, the argument shapes and how answers and failures reach the client.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::Deserialize;
use serde_json::{json, Value};

/// `submit_task`: queue a task for an agent or workflow.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubmitTask {
    /// The agent or workflow that takes it first.
    pub entry: String,
    /// The customer id (tokenised by silo before anything sees it).
    pub customer: String,
    /// The case id, if any.
    #[serde(default)]
    pub case: Option<String>,
    /// The task input (a JSON object).
    #[serde(default = "empty_object")]
    pub input: Value,
}

/// `task_status`: one task's state and timeline.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TaskStatus {
    /// The task id (`T-…`).
    pub id: String,
}

/// `audit_query`: entries of the audit log matching every given filter.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// A task and all its turns and operator actions.
    #[serde(default)]
    pub task: Option<String>,
    /// An agent name.
    #[serde(default)]
    pub agent: Option<String>,
    /// A customer token.
    #[serde(default)]
    pub customer: Option<String>,
    /// `allow`, `deny` or `needs_approval`.
    #[serde(default)]
    pub decision: Option<String>,
    /// At most this many entries (newest last).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `policy_eval`: what the policy would decide for an agent's action (a what-if: no keys
/// are minted, no usage is counted, nothing is done).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyEval {
    /// The agent whose base key (from its `agent.yaml`) is asked about.
    pub agent: String,
    /// The action, e.g. `refund`.
    pub action: String,
    /// The action's parameters.
    #[serde(default = "empty_object")]
    pub params: Value,
}

fn empty_object() -> Value {
    json!({})
}

/// Why a governance call failed; shown to the MCP client as a tool error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GovernanceError {
    /// The arguments were wrong (the message says how).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The named task, agent or entry does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// silo could not do it (e.g. `silo serve` is not running).
    #[error("{0}")]
    Failed(String),
}

/// What the governance server asks silo to do. Implemented by the CLI; called on a
/// blocking thread.
pub trait Governance: Send + Sync + 'static {
    /// Queues a task; answers at least `{"id": …}`.
    fn submit_task(&self, req: SubmitTask) -> Result<Value, GovernanceError>;
    /// A task's state and events.
    fn task_status(&self, req: TaskStatus) -> Result<Value, GovernanceError>;
    /// Audit entries.
    fn audit_query(&self, req: AuditQuery) -> Result<Value, GovernanceError>;
    /// A policy decision.
    fn policy_eval(&self, req: PolicyEval) -> Result<Value, GovernanceError>;
}

/// The governance MCP server handler.
pub struct AdminServer<G: Governance> {
    governance: Arc<G>,
}

impl<G: Governance> Clone for AdminServer<G> {
    fn clone(&self) -> Self {
        AdminServer {
            governance: self.governance.clone(),
        }
    }
}

impl<G: Governance> AdminServer<G> {
    /// A server doing its work through `governance`.
    pub fn new(governance: G) -> Self {
        AdminServer {
            governance: Arc::new(governance),
        }
    }
}

fn schema(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(o) => o,
        _ => serde_json::Map::new(),
    }
}

fn text(desc: &str) -> Value {
    json!({ "type": "string", "description": desc })
}

/// The governance tools, with their argument schemas.
pub fn admin_tools() -> Vec<Tool> {
    let read_only = ToolAnnotations::new().read_only(true);
    vec![
        Tool::new(
            "submit_task",
            "Queue a task for an agent or workflow in the running silo serve; the customer \
             id is tokenised before any agent sees it. Returns the task id.",
            schema(json!({
                "type": "object",
                "properties": {
                    "entry": text("agent or workflow name"),
                    "customer": text("customer id"),
                    "case": text("case id"),
                    "input": { "type": "object", "description": "the task input" },
                },
                "required": ["entry", "customer"],
                "additionalProperties": false,
            })),
        ),
        Tool::new(
            "task_status",
            "A task's state, current agent, attempts and timeline of router events.",
            schema(json!({
                "type": "object",
                "properties": { "id": text("task id, e.g. T-000001") },
                "required": ["id"],
                "additionalProperties": false,
            })),
        )
        .annotate(read_only.clone()),
        Tool::new(
            "audit_query",
            "Entries of the hash-chained audit log matching every given filter (personal \
             data appears only as tokens).",
            schema(json!({
                "type": "object",
                "properties": {
                    "task": text("task id: the task, its turns and operator actions"),
                    "agent": text("agent name"),
                    "customer": text("customer token"),
                    "decision": { "enum": ["allow", "deny", "needs_approval"] },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 1000 },
                },
                "additionalProperties": false,
            })),
        )
        .annotate(read_only.clone()),
        Tool::new(
            "policy_eval",
            "What the policy would decide if this agent asked for this action now (its base \
             key from agent.yaml, the project's policy; no usage history, nothing is done).",
            schema(json!({
                "type": "object",
                "properties": {
                    "agent": text("agent name"),
                    "action": text("action, e.g. refund, email.send, data.read"),
                    "params": { "type": "object", "description": "the action's policy parameters, as `silo policy eval --params` takes them, e.g. refund: {\"amount\": 2000, \"currency\": \"USD\"} (minor units)" },
                },
                "required": ["agent", "action"],
                "additionalProperties": false,
            })),
        )
        .annotate(read_only),
    ]
}

fn parse<T: serde::de::DeserializeOwned>(args: Value) -> Result<T, GovernanceError> {
    serde_json::from_value(args).map_err(|e| GovernanceError::Invalid(e.to_string()))
}

impl<G: Governance> ServerHandler for AdminServer<G> {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions(
                "silo governance: submit tasks, follow them, query the audit log and ask \
                 the policy. Personal data appears only as tokens.",
            );
        info.server_info = Implementation::new("silo", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(admin_tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        if !admin_tools().iter().any(|t| t.name == name) {
            return Err(ErrorData::invalid_params(format!("no tool `{name}`"), None));
        }
        let args = Value::Object(request.arguments.unwrap_or_default());
        let g = self.governance.clone();
        let done = tokio::task::spawn_blocking(move || match name.as_str() {
            "submit_task" => g.submit_task(parse(args)?),
            "task_status" => g.task_status(parse(args)?),
            "audit_query" => g.audit_query(parse(args)?),
            _ => g.policy_eval(parse(args)?),
        })
        .await
        .map_err(|e| ErrorData::internal_error(format!("the call failed: {e}"), None))?;
        Ok(match done {
            Ok(v) => CallToolResult::structured(v),
            Err(e) => CallToolResult::structured_error(json!({ "error": e.to_string() })),
        }
        .into())
    }
}
