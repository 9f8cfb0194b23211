//! The in-cell MCP server (`silo mcp --cell`): an MCP-native agent starts it over stdio
//! inside its cell (`$SILO_MCP_COMMAND`, with `mcp: true` in `agent.yaml`). It offers the
//! tools the membrane lists for this cell's base key (`GET /v1/tools`) and runs each call as
//! the one membrane request the tool names, with the cell's two keys. It adds no authority:
//! the membrane verifies, decides, tokenises and audits every call exactly as if the agent
//! had made it directly; a refusal comes back to the model as a tool error with the
//! policy's reason and rule.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::client::MembraneClient;
use crate::error::McpError;

/// Where the in-cell server finds its membrane and keys (the cell's environment).
#[derive(Debug, Clone)]
pub struct CellSetup {
    /// The membrane client with the cell's keys.
    pub client: MembraneClient,
}

impl CellSetup {
    /// Reads `SILO_SOCKET`, `SILO_BASE_KEY` and `SILO_TASK_KEY`, as every cell has them.
    pub fn from_env() -> Result<Self, McpError> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                McpError::Setup(format!(
                    "`silo mcp --cell` runs inside a silo cell: `{name}` is not set"
                ))
            })
        };
        Ok(CellSetup {
            client: MembraneClient::new(
                var("SILO_SOCKET")?,
                var("SILO_BASE_KEY")?,
                var("SILO_TASK_KEY")?,
            ),
        })
    }
}

/// How a listed tool is run: the membrane route it names.
#[derive(Debug, Clone)]
struct RouteOf {
    method: String,
    path: String,
}

/// The MCP server handler inside a cell.
#[derive(Clone)]
pub struct CellServer {
    client: MembraneClient,
    routes: Arc<Mutex<Option<HashMap<String, RouteOf>>>>,
}

impl std::fmt::Debug for CellServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellServer")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

fn internal(message: String) -> ErrorData {
    ErrorData::internal_error(message, None)
}

impl CellServer {
    /// A server for the cell described by `setup`.
    pub fn new(setup: CellSetup) -> Self {
        CellServer {
            client: setup.client,
            routes: Arc::new(Mutex::new(None)),
        }
    }

    /// Asks the membrane which tools this cell may use; remembers how to run each.
    async fn fetch(&self) -> Result<Vec<Tool>, ErrorData> {
        let answer = self
            .client
            .call("GET", "/v1/tools", None)
            .await
            .map_err(internal)?;
        if answer.status != 200 {
            return Err(internal(format!(
                "the membrane refused to list tools ({}): {}",
                answer.status, answer.body["error"]
            )));
        }
        let listed = answer.body["tools"]
            .as_array()
            .ok_or_else(|| internal("the membrane's tool list has no `tools`".into()))?;
        let mut tools = Vec::with_capacity(listed.len());
        let mut routes = HashMap::new();
        for t in listed {
            let field = |name: &str| {
                t[name]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| internal(format!("a listed tool has no `{name}`")))
            };
            let name = field("name")?;
            let schema = match &t["input_schema"] {
                Value::Object(o) => o.clone(),
                _ => return Err(internal(format!("tool `{name}` has no input schema"))),
            };
            routes.insert(
                name.clone(),
                RouteOf {
                    method: field("method")?,
                    path: field("path")?,
                },
            );
            tools.push(Tool::new(name, field("description")?, schema));
        }
        *self.routes.lock().await = Some(routes);
        Ok(tools)
    }

    async fn route(&self, name: &str) -> Result<Option<RouteOf>, ErrorData> {
        if self.routes.lock().await.is_none() {
            self.fetch().await?;
        }
        Ok(self
            .routes
            .lock()
            .await
            .as_ref()
            .and_then(|r| r.get(name).cloned()))
    }
}

/// A membrane refusal, for the model to read: what was refused, why, and by which rule.
fn refusal(status: u16, body: &Value) -> CallToolResult {
    let err = &body["error"];
    let code = err["code"].as_str().unwrap_or("error");
    let message = err["message"].as_str().unwrap_or("refused by the membrane");
    let mut shown = json!({ "refused": true, "status": status, "code": code, "message": message });
    if let Some(rule) = err["rule"].as_str() {
        shown["rule"] = json!(rule);
    }
    CallToolResult::structured_error(shown)
}

impl ServerHandler for CellServer {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions(
                "silo membrane tools for this task. Personal data appears as tokens such as \
                 [NAME_1] or [EMAIL_1]; pass them on as they are. Every call is checked \
                 against this agent's keys and policy and audited; a refused call returns an \
                 error result with the reason.",
            );
        info.server_info = Implementation::new("silo-cell", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.fetch().await?))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(route) = self.route(&request.name).await? else {
            return Err(ErrorData::invalid_params(
                format!("no tool `{}` for this agent", request.name),
                None,
            ));
        };
        let args = Value::Object(request.arguments.unwrap_or_default());
        let body = match route.method.as_str() {
            "GET" => {
                if args.as_object().is_some_and(|a| !a.is_empty()) {
                    return Err(ErrorData::invalid_params(
                        format!("tool `{}` takes no arguments", request.name),
                        None,
                    ));
                }
                None
            }
            _ => Some(&args),
        };
        let answer = self
            .client
            .call(&route.method, &route.path, body)
            .await
            .map_err(internal)?;
        Ok(if answer.status == 200 {
            CallToolResult::structured(answer.body)
        } else {
            refusal(answer.status, &answer.body)
        }
        .into())
    }
}
