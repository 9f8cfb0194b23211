//! `GET /v1/tools`: the tools this cell's base key allows (`crate::tools`), so an agent
//! framework (the in-cell MCP server, OpenAI function calling) offers its model exactly
//! what the role may do.

use serde_json::{json, Value};

use crate::pipeline::Call;
use crate::record::Record;
use crate::wire::ApiError;

pub(super) fn list(call: &Call<'_>, rec: &mut Record) -> Result<Value, ApiError> {
    call.granted_by_task_key(rec);
    let tools = crate::tools::catalogue(&call.creds.base().caps);
    rec.fact("count", tools.len());
    Ok(json!({ "tools": tools }))
}
