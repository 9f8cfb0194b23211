//! `GET /v1/task`: the task key's public facts (and the base key's capabilities), so the
//! agent knows what it is working on and within which limits.

use serde_json::{json, Value};

use crate::pipeline::Call;
use crate::record::Record;
use crate::wire::ApiError;

pub(super) fn read(call: &Call<'_>, rec: &mut Record) -> Result<Value, ApiError> {
    call.granted_by_task_key(rec);
    let task = call.creds.task();
    let base = call.creds.base();
    let input = call.services.outcomes().input(&task.task).map_err(|e| {
        tracing::error!(error = %e, "reading the task input failed");
        crate::wire::ApiError::new(
            crate::wire::ErrorCode::Internal,
            "cannot read the task input",
        )
    })?;
    Ok(json!({
        "task": task.task,
        "agent": task.agent,
        "customer": task.customer,
        "case": task.case,
        "workflow": task.workflow,
        "cell": task.cell,
        "expires_at": task.exp,
        "capabilities": base.caps,
        "input": input,
    }))
}
