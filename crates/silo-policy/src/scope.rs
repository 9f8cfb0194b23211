//! Task scope: the resource an action touches must belong to the task key's customer.

use serde_json::Value;
use silo_keys::TaskKey;

use crate::action::Action;
use crate::decision::{Context, Refusal};

/// Refuses a `customer` param or a resource customer other than the task's; actions that
/// touch a customer resource must name one of the two.
pub(crate) fn check(
    action: Action,
    task: &TaskKey,
    params: &Value,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    let refuse = |reason: String| Err(Refusal::new("scope.customer", reason));
    let param = match params.get("customer") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return refuse("`customer` must be a customer token string".into()),
    };
    for (what, customer) in [("param", param), ("resource", ctx.resource_customer)] {
        if let Some(c) = customer {
            if c != task.customer {
                return refuse(format!(
                    "{what} customer `{c}` is not the task's customer `{}`",
                    task.customer
                ));
            }
        }
    }
    if action.touches_customer() && param.is_none() && ctx.resource_customer.is_none() {
        return refuse(format!("`{action}` must name the customer it touches"));
    }
    Ok(())
}
