//! The tool catalogue: the membrane's routes described as tools (name, description, JSON
//! Schema of the arguments, and the route that runs them), generated from a base key's
//! capabilities so an agent is only offered what its role may do. Served to the cell as
//! `GET /v1/tools`; the in-cell MCP server and the Python SDK's OpenAI tool helpers turn it
//! into their own shapes.
//!
//! A tool's arguments are exactly the JSON body of its route: calling a tool is a plain
//! membrane request, so every call is key-checked, decided by policy, tokenised and audited
//! like any other. The catalogue only narrows what is *offered*; the membrane still decides
//! every call (a listed tool can be refused, an unlisted route is still checked).

use serde::Serialize;
use serde_json::{json, Value};
use silo_keys::Capabilities;

/// One tool the cell may call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// The tool's name (`[a-z_]+`, the same in MCP and OpenAI function calling).
    pub name: &'static str,
    /// What it does, with the limits the base key sets, for a model to read.
    pub description: String,
    /// The JSON Schema of the arguments (an object; unknown properties refused).
    pub input_schema: Value,
    /// The HTTP method of the route that runs it.
    pub method: &'static str,
    /// The route's path (`/v1/...`); the arguments are its JSON body.
    pub path: &'static str,
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn report_schema() -> Value {
    let list = json!({ "type": "array", "items": { "type": "string" } });
    json!({
        "type": "object",
        "description": "A structured hand-off for the next stage or a human.",
        "properties": {
            "did": { "type": "string" },
            "produced": list,
            "todo": list,
            "warnings": list,
        },
        "additionalProperties": false,
    })
}

fn idempotency_key() -> Value {
    json!({
        "type": "string",
        "pattern": "^[A-Za-z0-9._:-]{1,128}$",
        "description": "Same key, same effect: a repeated call replays instead of acting twice.",
    })
}

/// The tools a base key's capabilities allow, in a stable order. Reading the task, the
/// task's scratch storage and recording the outcome are always offered (the task key
/// grants them); the rest only when the base key lists the capability.
pub fn catalogue(caps: &Capabilities) -> Vec<ToolSpec> {
    let mut tools = vec![
        ToolSpec {
            name: "get_task",
            description: "Read this task: its input, the customer and case tokens, the \
                          time limit and what this agent may do."
                .into(),
            input_schema: object(json!({}), &[]),
            method: "GET",
            path: "/v1/task",
        },
        ToolSpec {
            name: "kv_get",
            description: "Read a value this task stored earlier (shared by the turns of \
                          one routed task)."
                .into(),
            input_schema: object(json!({ "key": { "type": "string" } }), &["key"]),
            method: "POST",
            path: "/v1/kv/get",
        },
        ToolSpec {
            name: "kv_put",
            description: "Store a JSON value under a key for this task's later turns.".into(),
            input_schema: object(
                json!({ "key": { "type": "string" }, "value": {} }),
                &["key", "value"],
            ),
            method: "POST",
            path: "/v1/kv/put",
        },
    ];
    if let Some(read) = &caps.data_read {
        let fields: Vec<&str> = read
            .fields
            .iter()
            .map(String::as_str)
            .filter(|f| !matches!(*f, "orders" | "history"))
            .collect();
        if !fields.is_empty() {
            tools.push(ToolSpec {
                name: "get_customer",
                description: format!(
                    "Read fields of the task's customer record (personal data comes back as \
                     tokens such as [NAME_1]). Fields you may read: {}.",
                    fields.join(", ")
                ),
                input_schema: object(
                    json!({ "fields": { "type": "array", "items": { "enum": fields } } }),
                    &[],
                ),
                method: "POST",
                path: "/v1/data/customer",
            });
        }
        for (field, name, path, what) in [
            ("orders", "get_orders", "/v1/data/orders", "orders"),
            (
                "history",
                "get_history",
                "/v1/data/history",
                "contact history",
            ),
        ] {
            if read.fields.iter().any(|f| f == field) {
                tools.push(ToolSpec {
                    name,
                    description: format!("Read the task's customer's {what}."),
                    input_schema: object(json!({}), &[]),
                    method: "POST",
                    path,
                });
            }
        }
    }
    if let Some(write) = &caps.data_write {
        let mut props = serde_json::Map::new();
        props.insert("op".into(), json!({ "enum": write.ops }));
        if write.ops.iter().any(|o| o == "case.set_status") {
            props.insert(
                "status".into(),
                json!({ "enum": ["open", "pending", "resolved"], "description": "for case.set_status" }),
            );
        }
        if write.ops.iter().any(|o| o == "case.add_note") {
            props.insert(
                "text".into(),
                json!({ "type": "string", "description": "for case.add_note" }),
            );
        }
        tools.push(ToolSpec {
            name: "write_data",
            description: format!(
                "Run a named write on the task's case: {}.",
                write.ops.join(", ")
            ),
            input_schema: object(Value::Object(props), &["op"]),
            method: "POST",
            path: "/v1/data/write",
        });
    }
    for (cap, name, path, what) in [
        (&caps.email_send, "send_email", "/v1/email/send", "an email"),
        (&caps.sms_send, "send_sms", "/v1/sms/send", "an SMS"),
    ] {
        if let Some(cap) = cap {
            tools.push(ToolSpec {
                name,
                description: format!(
                    "Send {what} to the task's customer from a template ({}). `to` is the \
                     customer's contact token (e.g. [EMAIL_1] or [PHONE_1]); the membrane \
                     fills in the real address.",
                    cap.templates.join(", ")
                ),
                input_schema: object(
                    json!({
                        "template": { "enum": cap.templates },
                        "to": { "type": "string" },
                        "vars": { "type": "object", "additionalProperties": { "type": "string" } },
                        "idempotency_key": idempotency_key(),
                    }),
                    &["template", "to", "idempotency_key"],
                ),
                method: "POST",
                path,
            });
        }
    }
    if let Some(refund) = &caps.refund {
        tools.push(ToolSpec {
            name: "issue_refund",
            description: format!(
                "Refund the task's customer, in integer cents of {} (this role may refund \
                 at most {} cents per refund; policy may set lower limits).",
                refund.currency, refund.max_cents
            ),
            input_schema: object(
                json!({
                    "amount_cents": { "type": "integer", "minimum": 1, "maximum": refund.max_cents },
                    "currency": { "enum": [refund.currency] },
                    "reason": { "type": "string" },
                    "idempotency_key": idempotency_key(),
                }),
                &["amount_cents", "currency", "reason", "idempotency_key"],
            ),
            method: "POST",
            path: "/v1/refund",
        });
    }
    if let Some(targets) = caps.escalate.as_ref().filter(|t| !t.is_empty()) {
        tools.push(ToolSpec {
            name: "escalate",
            description: format!(
                "Hand the task over to {} with your reason and recommendation; this turn \
                 ends.",
                targets.join(" or ")
            ),
            input_schema: object(
                json!({
                    "target": { "enum": targets },
                    "reason": { "type": "string" },
                    "recommendation": { "type": "string" },
                }),
                &["target", "reason", "recommendation"],
            ),
            method: "POST",
            path: "/v1/escalate",
        });
    }
    tools.push(ToolSpec {
        name: "complete",
        description: "Record this task's outcome: done, needs_human (a person takes over) or \
                      failed, with a summary."
            .into(),
        input_schema: object(
            json!({
                "status": { "enum": ["done", "needs_human", "failed"] },
                "summary": { "type": "string" },
                "report": report_schema(),
            }),
            &["status", "summary"],
        ),
        method: "POST",
        path: "/v1/complete",
    });
    tools
}

#[cfg(test)]
mod tests {
    use super::*;
    use silo_keys::{EmailSendCap, RefundCap};

    fn names(caps: &Capabilities) -> Vec<&'static str> {
        catalogue(caps).iter().map(|t| t.name).collect()
    }

    #[test]
    fn a_bare_role_gets_only_what_the_task_key_grants() {
        assert_eq!(
            names(&Capabilities::default()),
            ["get_task", "kv_get", "kv_put", "complete"]
        );
    }

    #[test]
    fn each_capability_adds_its_tool_with_its_limits() {
        let caps = Capabilities {
            refund: Some(RefundCap {
                max_cents: 5000,
                currency: "USD".into(),
            }),
            email_send: Some(EmailSendCap {
                templates: vec!["refund_issued".into()],
            }),
            escalate: Some(vec!["manager-agent".into()]),
            ..Capabilities::default()
        };
        let tools = catalogue(&caps);
        let refund = tools.iter().find(|t| t.name == "issue_refund").unwrap();
        assert_eq!(refund.path, "/v1/refund");
        assert_eq!(
            refund.input_schema["properties"]["amount_cents"]["maximum"],
            5000
        );
        assert!(refund.description.contains("5000"));
        let email = tools.iter().find(|t| t.name == "send_email").unwrap();
        assert_eq!(
            email.input_schema["properties"]["template"]["enum"],
            json!(["refund_issued"])
        );
        assert!(tools.iter().all(|t| t.name != "send_sms"));
        let esc = tools.iter().find(|t| t.name == "escalate").unwrap();
        assert_eq!(
            esc.input_schema["properties"]["target"]["enum"],
            json!(["manager-agent"])
        );
        // An empty escalation list offers no escalate tool.
        let none = Capabilities {
            escalate: Some(vec![]),
            ..Capabilities::default()
        };
        assert!(!names(&none).contains(&"escalate"));
    }
}
