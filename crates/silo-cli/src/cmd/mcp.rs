//! `silo mcp`: silo's governance tools for an MCP client over stdio (submit a task and read
//! its status through a running `silo serve`, query this project's audit log, ask its
//! policy), and `silo mcp --cell`: the in-cell MCP server an MCP-native agent starts inside
//! its cell (`$SILO_MCP_COMMAND`). The protocol and the tool lists live in `silo-mcp`; this
//! file only connects the governance tools to the daemon, the audit log and the policy.

use std::time::Duration;

use serde_json::{json, Value};
use silo_audit::{AgentName, CustomerToken, Decision as AuditDecision, Query, TaskId};
use silo_keys::{BaseKey, TaskKey};
use silo_mcp::{AuditQuery, Governance, GovernanceError, PolicyEval, SubmitTask, TaskStatus};
use silo_policy::{Context, NoCounters};

use crate::Ctx;

/// `silo mcp` arguments.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "An MCP server over standard input and output, for an MCP client (an IDE, an \
assistant). Its tools: submit a task and read its status through a running `silo serve`, \
query this project's audit log, and ask its policy what it would decide. With --cell, the \
in-cell server instead: the membrane's tools for the one cell it runs in.",
    after_help = "Examples:
  silo mcp                                      governance tools for this project
  silo mcp --server http://127.0.0.1:8700       another daemon's task API
  A client's configuration: {\"command\": \"silo\", \"args\": [\"--config\", \"/srv/shop/silo.yaml\", \"mcp\"]}

Standard output carries the protocol only; logs go to standard error."
)]
pub struct McpArgs {
    /// Run the in-cell MCP server instead: the membrane's tools for this cell, over stdio
    /// (only inside a silo cell; an agent with `mcp: true` finds the command in
    /// `$SILO_MCP_COMMAND`).
    #[arg(long)]
    pub cell: bool,
    /// The task API of the running `silo serve` that `submit_task` and `task_status` use
    /// (default: `serve.listen` of the project file).
    #[arg(long, value_name = "URL", conflicts_with = "cell")]
    pub server: Option<String>,
}

/// Runs the chosen server until the client closes standard input.
pub fn run(args: McpArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    if args.cell {
        let setup = silo_mcp::CellSetup::from_env()?;
        silo_mcp::serve_stdio(silo_mcp::CellServer::new(setup))?;
        return Ok(0);
    }
    let server = args
        .server
        .unwrap_or_else(|| format!("http://{}", ctx.config.serve.listen));
    let governance = CliGovernance {
        ctx: ctx.clone(),
        server: server.trim_end_matches('/').to_owned(),
        http: ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build(),
        ),
    };
    silo_mcp::serve_stdio(silo_mcp::AdminServer::new(governance))?;
    Ok(0)
}

/// The governance tools, done by this project's daemon, audit log and policy.
struct CliGovernance {
    ctx: Ctx,
    server: String,
    http: ureq::Agent,
}

fn failed(e: impl std::fmt::Display) -> GovernanceError {
    GovernanceError::Failed(e.to_string())
}

fn invalid(e: impl std::fmt::Display) -> GovernanceError {
    GovernanceError::Invalid(e.to_string())
}

impl CliGovernance {
    /// One call to the task API: the status and the JSON answer.
    fn api(
        &self,
        req: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, Value), GovernanceError> {
        let mut resp = req.map_err(|e| {
            failed(format!(
                "cannot reach `silo serve` at {} (is it running?): {e}",
                self.server
            ))
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .read_json()
            .map_err(|e| failed(format!("the task API's answer is not JSON: {e}")))?;
        Ok((status, body))
    }
}

/// The task API's refusal as a governance error (4xx: the caller's mistake).
fn refused(status: u16, body: &Value) -> GovernanceError {
    let shown = body["error"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| body["error"].to_string());
    match status {
        404 => GovernanceError::NotFound(shown),
        400..=499 => GovernanceError::Invalid(shown),
        _ => GovernanceError::Failed(format!("`silo serve` answered {status}: {shown}")),
    }
}

impl Governance for CliGovernance {
    fn submit_task(&self, req: SubmitTask) -> Result<Value, GovernanceError> {
        if !req.input.is_object() {
            return Err(invalid("`input` must be a JSON object"));
        }
        let (status, body) = self.api(
            self.http
                .post(&format!("{}/v1/tasks", self.server))
                .send_json(json!({
                    "entry": req.entry, "customer": req.customer, "case": req.case,
                    "input": req.input,
                })),
        )?;
        if status == 201 {
            Ok(body)
        } else {
            Err(refused(status, &body))
        }
    }

    fn task_status(&self, req: TaskStatus) -> Result<Value, GovernanceError> {
        // The id goes into a URL path: task ids are letters, digits and dashes.
        if req.id.is_empty()
            || req.id.len() > 64
            || !req
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(invalid(format!(
                "`{}` is not a task id",
                req.id.escape_debug()
            )));
        }
        let base = format!("{}/v1/tasks/{}", self.server, req.id);
        let (status, task) = self.api(self.http.get(&base).call())?;
        if status != 200 {
            return Err(refused(status, &task));
        }
        let (status, events) = self.api(self.http.get(&format!("{base}/events")).call())?;
        if status != 200 {
            return Err(refused(status, &events));
        }
        Ok(json!({ "task": task, "events": events }))
    }

    fn audit_query(&self, req: AuditQuery) -> Result<Value, GovernanceError> {
        let limit = req.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(invalid("`limit` must be 1..=1000"));
        }
        let query = Query {
            task_family: req
                .task
                .as_deref()
                .map(TaskId::new)
                .transpose()
                .map_err(invalid)?,
            agent: req
                .agent
                .as_deref()
                .map(AgentName::new)
                .transpose()
                .map_err(invalid)?,
            customer: req
                .customer
                .as_deref()
                .map(CustomerToken::new)
                .transpose()
                .map_err(invalid)?,
            decision: req
                .decision
                .as_deref()
                .map(str::parse::<AuditDecision>)
                .transpose()
                .map_err(invalid)?,
            limit: Some(limit as usize),
            ..Query::all()
        };
        let log = crate::cmd::backend::audit_log(&self.ctx).map_err(failed)?;
        let entries = log.query(&query).map_err(failed)?;
        Ok(json!({ "entries": entries, "count": entries.len() }))
    }

    fn policy_eval(&self, req: PolicyEval) -> Result<Value, GovernanceError> {
        let valid_name = !req.agent.is_empty()
            && req.agent.len() <= 64
            && req
                .agent
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            return Err(invalid(format!(
                "`{}` is not an agent name",
                req.agent.escape_debug()
            )));
        }
        let dir = self.ctx.config.agents.join(&req.agent);
        if !dir.join(silo_invoke::MANIFEST_FILE).is_file() {
            return Err(GovernanceError::NotFound(format!("agent `{}`", req.agent)));
        }
        let manifest = silo_invoke::Manifest::load(&dir).map_err(failed)?;
        let policy =
            silo_invoke::load_policy(self.ctx.config.policy.as_deref(), &self.ctx.data_dir)
                .map_err(failed)?;
        let now = silo_keys::now_unix();
        // A what-if: the claims this agent's keys would carry, never signed or used.
        let base = BaseKey {
            aud: silo_keys::BASE_AUDIENCE.into(),
            jti: "what-if".into(),
            iat: now,
            exp: now + 60,
            agent: manifest.name.clone(),
            version: manifest.version.clone(),
            folder_hash: String::new(),
            caps: manifest.capabilities.clone(),
        };
        let task = TaskKey {
            aud: silo_keys::TASK_AUDIENCE.into(),
            jti: "what-if".into(),
            iat: now,
            nbf: now,
            exp: now + 60,
            task: "what-if".into(),
            agent: manifest.name.clone(),
            customer: "[CUSTOMER_1]".into(),
            case: "what-if".into(),
            workflow: None,
            cell: "what-if".into(),
        };
        // The membrane names the task's customer as the resource of an action that
        // touches one; so does the what-if.
        let mut context = Context::new(now, &NoCounters);
        context.resource_customer = Some(task.customer.as_str());
        let decision = policy.decide(&base, &task, &req.action, &req.params, &context);
        Ok(json!({
            "agent": manifest.name,
            "action": req.action,
            "decision": decision,
            "note": "what-if: no usage history (rate limits and daily totals see zero)",
        }))
    }
}
