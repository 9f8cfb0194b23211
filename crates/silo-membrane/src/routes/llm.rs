//! `POST /v1/chat/completions`: an OpenAI-compatible passthrough to the configured upstream,
//! within the task's token budget, with function calling.
//!
//! The body is checked field by field (unknown fields, roles and content shapes are refused)
//! and only the checked fields are forwarded. Tool definitions and the tool calls of earlier
//! turns are prompt text: they count toward the estimate, and raw personal data in them is
//! replaced before it leaves, as in message text. A tool call the model answers with is
//! reduced to its id, name and arguments, and those are tokenised like answer text before
//! the cell sees them: the membrane forwards calls, the agent executes them (through the
//! membrane's own routes, each checked on its own). Before forwarding, the call's worst case — an
//! estimate of the prompt's tokens plus the completion cap — is put to the policy as
//! `max_tokens` (with the task's usage so far in the context) and then reserved in the
//! upstream's ledger; after the answer the reservation is settled with the upstream's
//! reported usage. The audit entry gets the model and token counts, never prompt or answer
//! text.

use bytes::Bytes;
use serde_json::{json, Map, Value};
use silo_audit::Decision as AuditDecision;
use silo_pii::KnownSet;
use silo_policy::Action;

use crate::connectors::llm::{LlmError, LlmUpstream, Reservation};
use crate::pipeline::Call;
use crate::record::Record;
use crate::wire::{ApiError, ErrorCode};

/// Most messages in one request.
const MAX_MESSAGES: usize = 256;
/// Most characters of text across all messages.
const MAX_PROMPT_CHARS: usize = 64 * 1024;
/// Longest model name.
const MAX_MODEL_CHARS: usize = 128;
/// Longest participant `name` (OpenAI's own limit).
const MAX_NAME_CHARS: usize = 64;
/// Most `stop` sequences, and the longest one.
const MAX_STOP: usize = 4;
const MAX_STOP_CHARS: usize = 256;
/// The roles a message may have (no deprecated `function`).
const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];
/// Most tool definitions in one request, and their encoded size together.
const MAX_TOOLS: usize = 64;
const MAX_TOOLS_BYTES: usize = 32 * 1024;
/// Longest tool (function) name (OpenAI's own limit), and tool description.
const MAX_TOOL_NAME_CHARS: usize = 64;
const MAX_TOOL_DESCRIPTION_CHARS: usize = 2048;
/// Deepest nesting of a tool's parameter schema.
const MAX_SCHEMA_DEPTH: usize = 32;
/// Most tool calls in one message (asked for, or answered), and the longest call id.
const MAX_TOOL_CALLS: usize = 64;
const MAX_TOOL_CALL_ID_CHARS: usize = 128;
/// Tokens reckoned per message for the chat template, and once per request.
const TOKENS_PER_MESSAGE: u64 = 4;
const TOKENS_PER_REQUEST: u64 = 3;
/// Tokens reckoned per tool definition for its template, over its encoded bytes.
const TOKENS_PER_TOOL: u64 = 8;
/// The budget rule, as the policy names it.
const BUDGET_RULE: &str = "capability.llm.chat.max_tokens_per_task";

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message)
}

/// A field name from the agent, shortened for an error message.
fn shown(name: &str) -> String {
    name.chars().take(64).collect()
}

/// A chat request after its checks: what is forwarded, and what the budget needs.
#[derive(Debug)]
struct ChatRequest {
    /// The checked fields, to forward.
    forward: Map<String, Value>,
    model: String,
    /// The completion cap the agent named, and under which field.
    max_tokens: Option<(&'static str, u64)>,
    messages: u64,
    /// Bytes of text in the messages (with their tool calls), of the tool definitions and
    /// of a response format's schema.
    prompt_bytes: u64,
    /// How many tools the request defines.
    tools: u64,
}

impl ChatRequest {
    fn parse(body: &Bytes) -> Result<Self, ApiError> {
        let fields: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
            invalid(format!(
                "request body is not a chat-completions JSON object: {e}"
            ))
        })?;
        let mut req = ChatRequest {
            forward: Map::new(),
            model: String::new(),
            max_tokens: None,
            messages: 0,
            prompt_bytes: 0,
            tools: 0,
        };
        let mut tool_names: Vec<String> = Vec::new();
        let mut tool_choice: Option<Value> = None;
        let mut parallel = false;
        for (name, value) in fields {
            match name.as_str() {
                "model" => req.model = check_model(&value)?,
                "messages" => {
                    let (count, bytes) = check_messages(&value)?;
                    req.messages = count;
                    req.prompt_bytes = req.prompt_bytes.saturating_add(bytes);
                }
                "max_tokens" | "max_completion_tokens" => {
                    let field = if name == "max_tokens" {
                        "max_tokens"
                    } else {
                        "max_completion_tokens"
                    };
                    if req.max_tokens.is_some() {
                        return Err(invalid(
                            "send one of `max_tokens` and `max_completion_tokens`, not both",
                        ));
                    }
                    let n = value
                        .as_u64()
                        .filter(|n| *n >= 1 && value.is_u64())
                        .ok_or_else(|| invalid(format!("`{field}` must be a positive integer")))?;
                    req.max_tokens = Some((field, n));
                }
                "stream" => {
                    match value {
                        Value::Bool(false) => continue,
                        Value::Bool(true) => return Err(invalid(
                            "streaming is not supported yet; send `stream: false` or leave it out",
                        )),
                        _ => return Err(invalid("`stream` must be a boolean")),
                    }
                }
                "n" => {
                    if value.as_u64() != Some(1) {
                        return Err(invalid("only `n: 1` is supported"));
                    }
                }
                "temperature" => check_number(&name, &value, 0.0, 2.0)?,
                "top_p" => check_number(&name, &value, 0.0, 1.0)?,
                "presence_penalty" | "frequency_penalty" => check_number(&name, &value, -2.0, 2.0)?,
                "seed" => {
                    if !value.is_i64() && !value.is_u64() {
                        return Err(invalid("`seed` must be an integer"));
                    }
                }
                "stop" => check_stop(&value)?,
                "response_format" => {
                    let bytes = check_response_format(&value)?;
                    req.prompt_bytes = req.prompt_bytes.saturating_add(bytes);
                }
                "tools" => {
                    let (names, bytes) = check_tools(&value)?;
                    req.tools = u64::try_from(names.len()).unwrap_or(u64::MAX);
                    req.prompt_bytes = req.prompt_bytes.saturating_add(bytes);
                    tool_names = names;
                }
                "tool_choice" => tool_choice = Some(value.clone()),
                "parallel_tool_calls" => {
                    if !value.is_boolean() {
                        return Err(invalid("`parallel_tool_calls` must be a boolean"));
                    }
                    parallel = true;
                }
                other => {
                    return Err(invalid(format!(
                        "unknown field `{}`; see docs/PROTOCOL.md for the chat fields",
                        shown(other)
                    )))
                }
            }
            req.forward.insert(name, value);
        }
        if req.model.is_empty() {
            return Err(invalid("`model` is missing"));
        }
        if req.messages == 0 {
            return Err(invalid("`messages` is missing"));
        }
        if let Some(choice) = &tool_choice {
            check_tool_choice(choice, &tool_names)?;
        }
        if parallel && tool_names.is_empty() {
            return Err(invalid("`parallel_tool_calls` needs `tools`"));
        }
        Ok(req)
    }

    /// A conservative guess of the prompt's tokens (three bytes a token; tokenisers average
    /// about four characters a token for English and about one a character for CJK).
    fn prompt_estimate(&self) -> u64 {
        self.prompt_bytes
            .div_ceil(3)
            .saturating_add(self.messages.saturating_mul(TOKENS_PER_MESSAGE))
            .saturating_add(self.tools.saturating_mul(TOKENS_PER_TOOL))
            .saturating_add(TOKENS_PER_REQUEST)
    }

    /// The body to forward, with the completion cap in force.
    fn forward(mut self, completion_cap: u64) -> Value {
        let field = self.max_tokens.map_or("max_tokens", |(f, _)| f);
        self.forward
            .insert(field.into(), Value::from(completion_cap));
        Value::Object(self.forward)
    }
}

fn check_model(value: &Value) -> Result<String, ApiError> {
    let ok = |m: &str| {
        !m.is_empty()
            && m.chars().count() <= MAX_MODEL_CHARS
            && m.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:/@+-".contains(c))
    };
    match value {
        Value::String(m) if ok(m) => Ok(m.clone()),
        _ => Err(invalid(format!(
            "`model` must be 1..={MAX_MODEL_CHARS} characters of letters, digits and `._:/@+-`"
        ))),
    }
}

/// Checks the messages; returns how many there are and the bytes of their text (tool
/// calls included).
fn check_messages(value: &Value) -> Result<(u64, u64), ApiError> {
    let Value::Array(messages) = value else {
        return Err(invalid("`messages` must be a list"));
    };
    if messages.is_empty() || messages.len() > MAX_MESSAGES {
        return Err(invalid(format!(
            "`messages` must hold 1..={MAX_MESSAGES} messages"
        )));
    }
    let mut chars = 0usize;
    let mut bytes = 0usize;
    let mut count = |text: &str| {
        chars = chars.saturating_add(text.chars().count());
        bytes = bytes.saturating_add(text.len());
    };
    for (i, m) in messages.iter().enumerate() {
        let Value::Object(m) = m else {
            return Err(invalid(format!("`messages[{i}]` must be an object")));
        };
        let role = match m.get("role").and_then(Value::as_str) {
            Some(r) if ROLES.contains(&r) => r,
            Some(_) => {
                return Err(invalid(format!(
                    "`messages[{i}].role` must be one of {}",
                    ROLES.join(", ")
                )))
            }
            None => {
                return Err(invalid(format!(
                    "`messages[{i}]` needs a `role` and a `content`"
                )))
            }
        };
        let calls = match m.get("tool_calls") {
            Some(v) if role == "assistant" => check_tool_calls(v, &format!("messages[{i}]"))?,
            Some(_) => {
                return Err(invalid(format!(
                    "`messages[{i}].tool_calls` is only for `assistant` messages"
                )))
            }
            None => Vec::new(),
        };
        for text in &calls {
            count(text);
        }
        // An assistant message that only calls tools has no content (`null` or absent).
        let content_optional = !calls.is_empty();
        let mut has_content = false;
        for (k, v) in m {
            match k.as_str() {
                "role" | "tool_calls" => {}
                "content" if v.is_null() && content_optional => {}
                "content" => {
                    has_content = true;
                    for text in content_texts(v).ok_or_else(|| {
                        invalid(format!(
                            "`messages[{i}].content` must be a string or a list of text parts `{{\"type\": \"text\", \"text\": …}}`"
                        ))
                    })? {
                        count(text);
                    }
                }
                "refusal" if role == "assistant" => match v {
                    Value::Null => {}
                    Value::String(r) => count(r),
                    _ => return Err(invalid(format!("`messages[{i}].refusal` must be a string"))),
                },
                "tool_call_id" if role == "tool" => {
                    let id = v.as_str().filter(|id| call_id_ok(id)).ok_or_else(|| {
                        invalid(format!(
                            "`messages[{i}].tool_call_id` must be 1..={MAX_TOOL_CALL_ID_CHARS} visible ASCII characters"
                        ))
                    })?;
                    count(id);
                }
                "name" if role != "tool" => {
                    if !v.as_str().is_some_and(name_ok) {
                        return Err(invalid(format!(
                            "`messages[{i}].name` must be 1..={MAX_NAME_CHARS} letters, digits, `_` or `-`"
                        )));
                    }
                }
                other => {
                    return Err(invalid(format!(
                        "unknown field `{}` in `messages[{i}]` (a `{role}` message)",
                        shown(other)
                    )))
                }
            }
        }
        if !has_content && !content_optional {
            return Err(invalid(format!(
                "`messages[{i}]` needs a `role` and a `content`"
            )));
        }
        if role == "tool" && !m.contains_key("tool_call_id") {
            return Err(invalid(format!(
                "`messages[{i}]` is a `tool` message: it needs the `tool_call_id` it answers"
            )));
        }
    }
    if chars > MAX_PROMPT_CHARS {
        return Err(invalid(format!(
            "the messages hold {chars} characters of text; at most {MAX_PROMPT_CHARS} are allowed"
        )));
    }
    let count = u64::try_from(messages.len()).unwrap_or(u64::MAX);
    Ok((count, u64::try_from(bytes).unwrap_or(u64::MAX)))
}

/// A participant or tool name: 1..=64 of letters, digits, `_` and `-`.
fn name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.chars().count() <= MAX_NAME_CHARS
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A tool call id: 1..=128 visible ASCII characters (upstreams make them up freely).
fn call_id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_TOOL_CALL_ID_CHARS && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Checks an assistant message's `tool_calls` (`[{id, type: "function", function: {name,
/// arguments}}]`); returns their texts (ids, names, arguments) for the prompt count.
fn check_tool_calls<'v>(value: &'v Value, at: &str) -> Result<Vec<&'v str>, ApiError> {
    let shape = || {
        invalid(format!(
            "`{at}.tool_calls` must be a list of 1..={MAX_TOOL_CALLS} `{{\"id\": …, \"type\": \"function\", \"function\": {{\"name\": …, \"arguments\": \"<JSON text>\"}}}}`"
        ))
    };
    let calls = value.as_array().ok_or_else(shape)?;
    if calls.is_empty() || calls.len() > MAX_TOOL_CALLS {
        return Err(shape());
    }
    let mut texts = Vec::with_capacity(calls.len() * 3);
    for call in calls {
        let call = call.as_object().ok_or_else(shape)?;
        let fields_ok =
            call.len() == 3 && call.get("type").and_then(Value::as_str) == Some("function");
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| call_id_ok(id));
        let function = call.get("function").and_then(Value::as_object);
        let (Some(id), Some(function), true) = (id, function, fields_ok) else {
            return Err(shape());
        };
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| name_ok(n));
        let arguments = function.get("arguments").and_then(Value::as_str);
        let (Some(name), Some(arguments), 2) = (name, arguments, function.len()) else {
            return Err(shape());
        };
        texts.extend([id, name, arguments]);
    }
    Ok(texts)
}

/// Checks `tools` (function tools only); returns their names and encoded size.
fn check_tools(value: &Value) -> Result<(Vec<String>, u64), ApiError> {
    let tools = value
        .as_array()
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOOLS)
        .ok_or_else(|| invalid(format!("`tools` must be a list of 1..={MAX_TOOLS} tools")))?;
    let size = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_TOOLS_BYTES {
        return Err(invalid(format!(
            "`tools` is {size} bytes of JSON; at most {MAX_TOOLS_BYTES} are allowed"
        )));
    }
    let mut names: Vec<String> = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let shape = || {
            invalid(format!(
                "`tools[{i}]` must be `{{\"type\": \"function\", \"function\": {{\"name\": …, \"description\": …, \"parameters\": {{JSON schema}}, \"strict\": …}}}}`"
            ))
        };
        let tool = tool.as_object().ok_or_else(shape)?;
        let function = tool.get("function").and_then(Value::as_object);
        let is_function = tool.get("type").and_then(Value::as_str) == Some("function");
        let (Some(function), true, 2) = (function, is_function, tool.len()) else {
            return Err(shape());
        };
        let mut name = None;
        for (k, v) in function {
            match k.as_str() {
                "name" => {
                    name = Some(v.as_str().filter(|n| name_ok(n)).ok_or_else(|| {
                        invalid(format!(
                            "`tools[{i}].function.name` must be 1..={MAX_TOOL_NAME_CHARS} letters, digits, `_` or `-`"
                        ))
                    })?)
                }
                "description" => {
                    let fits = v
                        .as_str()
                        .map(|d| d.chars().count() <= MAX_TOOL_DESCRIPTION_CHARS);
                    if fits != Some(true) {
                        return Err(invalid(format!(
                            "`tools[{i}].function.description` must be a string of at most {MAX_TOOL_DESCRIPTION_CHARS} characters"
                        )));
                    }
                }
                "parameters" => {
                    if !v.is_object() || depth(v) > MAX_SCHEMA_DEPTH {
                        return Err(invalid(format!(
                            "`tools[{i}].function.parameters` must be a JSON schema object nested at most {MAX_SCHEMA_DEPTH} deep"
                        )));
                    }
                }
                "strict" => {
                    if !v.is_boolean() {
                        return Err(invalid(format!(
                            "`tools[{i}].function.strict` must be a boolean"
                        )));
                    }
                }
                other => {
                    return Err(invalid(format!(
                        "unknown field `{}` in `tools[{i}].function`",
                        shown(other)
                    )))
                }
            }
        }
        let name = name.ok_or_else(|| invalid(format!("`tools[{i}].function.name` is missing")))?;
        if names.iter().any(|n| n == name) {
            return Err(invalid(format!("two tools are named `{name}`")));
        }
        names.push(name.to_string());
    }
    Ok((names, u64::try_from(size).unwrap_or(u64::MAX)))
}

/// How deeply a JSON value nests (a scalar is 0).
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Checks `tool_choice`: `none`, `auto`, `required`, or one of the defined functions.
fn check_tool_choice(value: &Value, tools: &[String]) -> Result<(), ApiError> {
    if tools.is_empty() {
        return Err(invalid("`tool_choice` needs `tools`"));
    }
    let named = value
        .as_object()
        .filter(|o| o.len() == 2 && o.get("type").and_then(Value::as_str) == Some("function"))
        .and_then(|o| o.get("function")?.as_object())
        .filter(|f| f.len() == 1)
        .and_then(|f| f.get("name")?.as_str());
    match (value.as_str(), named) {
        (Some("none" | "auto" | "required"), _) => Ok(()),
        (_, Some(name)) if tools.iter().any(|t| t == name) => Ok(()),
        (_, Some(name)) => Err(invalid(format!(
            "`tool_choice` names `{}`, which is not in `tools`",
            shown(name)
        ))),
        _ => Err(invalid(
            "`tool_choice` must be `none`, `auto`, `required` or `{\"type\": \"function\", \"function\": {\"name\": …}}`",
        )),
    }
}

/// The texts of a message's content: a string, or a list of `{"type":"text","text":…}`.
fn content_texts(content: &Value) -> Option<Vec<&str>> {
    match content {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(parts) => parts
            .iter()
            .map(|p| {
                let p = p.as_object()?;
                let only_text = p.len() == 2 && p.get("type")?.as_str()? == "text";
                only_text.then(|| p.get("text")?.as_str())?
            })
            .collect(),
        _ => None,
    }
}

fn check_number(name: &str, value: &Value, min: f64, max: f64) -> Result<(), ApiError> {
    match value.as_f64() {
        Some(x) if (min..=max).contains(&x) => Ok(()),
        _ => Err(invalid(format!(
            "`{name}` must be a number in {min}..={max}"
        ))),
    }
}

fn check_stop(value: &Value) -> Result<(), ApiError> {
    let ok = |s: &Value| {
        s.as_str()
            .is_some_and(|s| !s.is_empty() && s.chars().count() <= MAX_STOP_CHARS)
    };
    let fine = match value {
        Value::Array(list) => list.len() <= MAX_STOP && list.iter().all(ok),
        other => ok(other),
    };
    if fine {
        Ok(())
    } else {
        Err(invalid(format!(
            "`stop` must be a string or a list of at most {MAX_STOP} strings of 1..={MAX_STOP_CHARS} characters"
        )))
    }
}

/// Checks `response_format`; returns its encoded size (a schema is prompt text upstream).
fn check_response_format(value: &Value) -> Result<u64, ApiError> {
    let kind = value.get("type").and_then(Value::as_str);
    let fields_ok = value.as_object().is_some_and(|o| {
        o.keys().all(|k| match kind {
            Some("json_schema") => k == "type" || k == "json_schema",
            _ => k == "type",
        })
    });
    match kind {
        Some("text" | "json_object" | "json_schema") if fields_ok => {
            let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(0);
            Ok(u64::try_from(size).unwrap_or(u64::MAX))
        }
        _ => Err(invalid(
            "`response_format` must be `{\"type\": \"text\"}`, `{\"type\": \"json_object\"}` or `{\"type\": \"json_schema\", \"json_schema\": …}`",
        )),
    }
}

/// The policy decision for this call, with the task's LLM usage so far in the context.
fn authorize(
    call: &Call<'_>,
    params: &Value,
    llm_tokens_used: u64,
    rec: &mut Record,
) -> Result<(), ApiError> {
    call.authorize_with(Action::LlmChat, params, rec, |ctx| {
        ctx.llm_tokens_used = llm_tokens_used;
    })
}

fn exhausted(used: u64, limit: u64, rec: &mut Record) -> ApiError {
    rec.decide(AuditDecision::Deny, BUDGET_RULE);
    ApiError::new(
        ErrorCode::Denied,
        format!("task has used {used} of {limit} llm tokens, counting calls in flight"),
    )
    .with_rule(BUDGET_RULE)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "llm usage ledger failed");
    ApiError::new(
        ErrorCode::Internal,
        "the llm token ledger failed; nothing was sent",
    )
}

/// Token counts the upstream reported.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Reported {
    prompt: Option<u64>,
    completion: Option<u64>,
    total: Option<u64>,
}

impl Reported {
    fn from_answer(usage: Option<&Value>) -> Self {
        let get = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_u64);
        Self {
            prompt: get("prompt_tokens"),
            completion: get("completion_tokens"),
            total: get("total_tokens"),
        }
    }

    /// The total, if the upstream reported enough to know it.
    fn total(self) -> Option<u64> {
        let parts = self
            .prompt
            .zip(self.completion)
            .map(|(p, c)| p.saturating_add(c));
        match (self.total, parts) {
            (Some(t), Some(p)) => Some(t.max(p)),
            (t, p) => t.or(p),
        }
    }
}

/// Replaces raw PII in one string crossing the LLM boundary, counting the replacements.
fn scrub_text(
    call: &Call<'_>,
    text: &mut String,
    known: &KnownSet,
    n: &mut usize,
) -> Result<(), ApiError> {
    let (clean, k) = call
        .services
        .privacy
        .boundary_text(call.privacy_scope(), text, known)?;
    *n += k;
    *text = clean;
    Ok(())
}

/// Replaces raw PII in every string of a JSON value, object keys included (a tool's schema:
/// descriptions, enum values, property names). The depth was bounded when it was checked.
fn scrub_tree(
    call: &Call<'_>,
    value: &mut Value,
    known: &KnownSet,
    n: &mut usize,
) -> Result<(), ApiError> {
    match value {
        Value::String(s) => scrub_text(call, s, known, n),
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|v| scrub_tree(call, v, known, n)),
        Value::Object(fields) => {
            for (mut k, mut v) in std::mem::take(fields) {
                scrub_text(call, &mut k, known, n)?;
                scrub_tree(call, &mut v, known, n)?;
                fields.insert(k, v);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Replaces raw PII in every text of an outgoing request — message contents, the arguments
/// of earlier tool calls, the tool definitions' descriptions and schemas; returns how many.
fn scrub_request(call: &Call<'_>, body: &mut Value, known: &KnownSet) -> Result<usize, ApiError> {
    let mut n = 0;
    if let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) {
        for m in messages {
            if let Some(content) = m.get_mut("content") {
                let texts: Vec<&mut Value> = match content {
                    Value::Array(parts) => {
                        parts.iter_mut().filter_map(|p| p.get_mut("text")).collect()
                    }
                    other => vec![other],
                };
                for t in texts {
                    if let Value::String(s) = t {
                        scrub_text(call, s, known, &mut n)?;
                    }
                }
            }
            if let Some(Value::String(s)) = m.get_mut("refusal") {
                scrub_text(call, s, known, &mut n)?;
            }
            for c in m
                .get_mut("tool_calls")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(Value::String(s)) = c.pointer_mut("/function/arguments") {
                    scrub_text(call, s, known, &mut n)?;
                }
            }
        }
    }
    for tool in body
        .get_mut("tools")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for field in ["description", "parameters"] {
            if let Some(v) = tool.get_mut("function").and_then(|f| f.get_mut(field)) {
                scrub_tree(call, v, known, &mut n)?;
            }
        }
    }
    Ok(n)
}

/// Replaces raw PII in an answer's message texts and tool calls (ids, names, arguments)
/// before the cell sees them.
fn scrub_answer(call: &Call<'_>, answer: &mut Value, known: &KnownSet) -> Result<usize, ApiError> {
    let mut n = 0;
    let Some(choices) = answer.get_mut("choices").and_then(Value::as_array_mut) else {
        return Ok(0);
    };
    for c in choices {
        let Some(message) = c.get_mut("message").and_then(Value::as_object_mut) else {
            continue;
        };
        for field in ["content", "refusal"] {
            if let Some(Value::String(s)) = message.get_mut(field) {
                scrub_text(call, s, known, &mut n)?;
            }
        }
        for tc in message
            .get_mut("tool_calls")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for at in ["/id", "/function/name", "/function/arguments"] {
                if let Some(Value::String(s)) = tc.pointer_mut(at) {
                    scrub_text(call, s, known, &mut n)?;
                }
            }
        }
    }
    Ok(n)
}

/// An upstream's tool calls, reduced to `{id, type, function: {name, arguments}}`; `None`
/// when they are malformed. Arguments an upstream sends as a JSON object (some
/// OpenAI-compatible servers do) are encoded to the JSON text OpenAI sends.
fn shape_tool_calls(calls: &Value, bytes: &mut usize) -> Option<Vec<Value>> {
    let calls = calls.as_array()?;
    if calls.len() > MAX_TOOL_CALLS {
        return None;
    }
    calls
        .iter()
        .map(|c| {
            let id = c.get("id")?.as_str().filter(|id| call_id_ok(id))?;
            if !matches!(
                c.get("type").and_then(Value::as_str),
                None | Some("function")
            ) {
                return None;
            }
            let function = c.get("function")?;
            let name = function
                .get("name")?
                .as_str()
                .filter(|n| n.chars().count() <= MAX_TOOL_NAME_CHARS)?;
            let arguments = match function.get("arguments") {
                Some(Value::String(a)) => a.clone(),
                Some(a @ Value::Object(_)) => a.to_string(),
                None | Some(Value::Null) => "{}".to_string(),
                Some(_) => return None,
            };
            *bytes = bytes
                .saturating_add(id.len())
                .saturating_add(name.len())
                .saturating_add(arguments.len());
            Some(json!({
                "id": id,
                "type": "function",
                "function": { "name": name, "arguments": arguments },
            }))
        })
        .collect()
}

/// The cell's view of an upstream answer: the OpenAI chat-completion fields, nothing else.
/// `None` when the answer is not a chat completion.
fn shape(body: &Value, model: &str, now: u64) -> Option<(Value, Reported, u64)> {
    let choices = body.get("choices")?.as_array()?;
    let mut answer_bytes = 0usize;
    let mut shaped = Vec::with_capacity(choices.len());
    for (i, c) in choices.iter().enumerate() {
        let message = c.get("message")?;
        let content = match message.get("content") {
            Some(Value::String(s)) => {
                answer_bytes = answer_bytes.saturating_add(s.len());
                Value::String(s.clone())
            }
            None | Some(Value::Null) => Value::Null,
            Some(_) => return None,
        };
        let mut m = Map::new();
        m.insert("role".into(), Value::from("assistant"));
        m.insert("content".into(), content);
        if let Some(Value::String(r)) = message.get("refusal") {
            answer_bytes = answer_bytes.saturating_add(r.len());
            m.insert("refusal".into(), Value::String(r.clone()));
        }
        match message.get("tool_calls") {
            None | Some(Value::Null) => {}
            Some(calls) => {
                let calls = shape_tool_calls(calls, &mut answer_bytes)?;
                if !calls.is_empty() {
                    m.insert("tool_calls".into(), Value::Array(calls));
                }
            }
        }
        let finish = match c.get("finish_reason") {
            Some(Value::String(f)) => Value::String(f.clone()),
            _ => Value::Null,
        };
        let index = c.get("index").and_then(Value::as_u64).unwrap_or(i as u64);
        shaped.push(json!({
            "index": index,
            "message": m,
            "finish_reason": finish,
            "logprobs": null,
        }));
    }
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("chatcmpl-silo");
    let created = body.get("created").and_then(Value::as_u64).unwrap_or(now);
    let answered_model = body.get("model").and_then(Value::as_str).unwrap_or(model);
    let value = json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": answered_model,
        "choices": shaped,
    });
    let reported = Reported::from_answer(body.get("usage"));
    Some((
        value,
        reported,
        u64::try_from(answer_bytes).unwrap_or(u64::MAX),
    ))
}

/// What the audit records about a failed upstream call (a fixed word, never upstream text).
fn error_kind(e: &LlmError) -> &'static str {
    match e {
        LlmError::Config { .. } => "config",
        LlmError::Unreachable { .. } => "unreachable",
        LlmError::Timeout { .. } => "timeout",
        LlmError::Status { .. } => "status",
        LlmError::TooLarge { .. } => "too_large",
        LlmError::BadAnswer => "bad_answer",
        LlmError::Transport { .. } => "transport",
    }
}

fn upstream_error(e: &LlmError, charged: bool) -> ApiError {
    let what = match e {
        LlmError::Unreachable { .. } | LlmError::Config { .. } => {
            "the llm upstream is unreachable".to_string()
        }
        LlmError::Timeout { .. } => "the llm upstream did not answer in time".to_string(),
        LlmError::Status { status } => format!("the llm upstream refused the call (HTTP {status})"),
        LlmError::TooLarge { .. } | LlmError::BadAnswer | LlmError::Transport { .. } => {
            "the llm upstream gave an unusable answer".to_string()
        }
    };
    let charge = if charged {
        "the reserved tokens were counted against the task's budget"
    } else {
        "nothing was counted against the task's budget"
    };
    ApiError::new(ErrorCode::UpstreamUnavailable, format!("{what}; {charge}"))
}

pub(super) fn chat(call: &Call<'_>, body: &Bytes, rec: &mut Record) -> Result<Value, ApiError> {
    let req = ChatRequest::parse(body)?;
    rec.fact("model", req.model.as_str());
    rec.fact("messages", req.messages);
    if req.tools > 0 {
        rec.fact("tools", req.tools);
    }
    let Some(upstream) = call.services.connectors.llm.as_deref() else {
        // The keys and the policy decide first (PROTOCOL.md's order): an agent without the
        // capability is denied, and does not learn whether an upstream exists.
        let asked = req
            .prompt_estimate()
            .saturating_add(req.max_tokens.map_or(1, |(_, n)| n));
        authorize(
            call,
            &json!({ "max_tokens": asked, "model": req.model }),
            0,
            rec,
        )?;
        if call.creds.base().caps.llm.is_none() {
            rec.decide(AuditDecision::Deny, "capability.llm.chat");
            return Err(ApiError::new(
                ErrorCode::Denied,
                "base key grants no `llm.chat` capability",
            )
            .with_rule("capability.llm.chat"));
        }
        return Err(ApiError::new(
            ErrorCode::UpstreamUnavailable,
            "no llm upstream is configured for this membrane; ask the operator",
        ));
    };
    let upstream: &dyn LlmUpstream = upstream;
    let usage = upstream.usage();
    let task = call.creds.task().task.as_str();
    let used = usage.used(task).map_err(internal)?;
    let limit = call
        .creds
        .base()
        .caps
        .llm
        .as_ref()
        .map(|c| c.max_tokens_per_task);
    let prompt = req.prompt_estimate();
    // Without a cap from the agent, forward the most the budget (and the upstream) allows.
    let completion = match req.max_tokens {
        Some((_, n)) => n,
        None => limit
            .unwrap_or(0)
            .saturating_sub(used)
            .saturating_sub(prompt)
            .min(upstream.default_max_tokens())
            .max(1),
    };
    let reserve = prompt.saturating_add(completion);
    rec.fact("tokens_reserved", reserve);
    authorize(
        call,
        &json!({ "max_tokens": reserve, "model": req.model }),
        used,
        rec,
    )?;
    let Some(limit) = limit else {
        // The policy allowed without the capability: refuse rather than spend unbounded.
        let rule = "capability.llm.chat";
        rec.decide(AuditDecision::Deny, rule);
        return Err(ApiError::new(
            ErrorCode::Denied,
            "base key grants no `llm.chat` capability, so the task has no token budget",
        )
        .with_rule(rule));
    };
    if let Reservation::Exhausted { used } = usage
        .reserve(task, reserve, limit, call.now)
        .map_err(internal)?
    {
        return Err(exhausted(used, limit, rec));
    }
    let model = req.model.clone();
    let (messages, prompt_bytes, tools) = (req.messages, req.prompt_bytes, req.tools);
    // The LLM boundary: whatever raw personal data slipped into the prompt is replaced
    // before it leaves, and the answer is scanned the same way before the cell sees it.
    let known = crate::routes::data::known_for_task(call)?;
    let mut outbound = req.forward(completion);
    let replaced_out = scrub_request(call, &mut outbound, &known)?;
    rec.fact("pii_replaced_in_prompt", replaced_out);
    let result = upstream.chat(&outbound);
    let answered = result.and_then(|a| shape(&a.body, &model, call.now).ok_or(LlmError::BadAnswer));
    let (answer, reported, answer_bytes) = match answered {
        Ok(a) => a,
        Err(e) => {
            let charged = e.may_have_spent();
            tracing::warn!(error = %e, task, "llm upstream call failed");
            let spent = if charged { reserve } else { 0 };
            if let Err(le) = usage.settle(task, reserve, spent, call.now) {
                tracing::error!(error = %le, "llm usage ledger failed; the reservation stays held");
            }
            rec.fact("upstream_error", error_kind(&e));
            if let LlmError::Status { status } = e {
                rec.fact("upstream_status", status);
            }
            rec.fact("total_tokens", spent);
            return Err(upstream_error(&e, charged));
        }
    };
    let (total, estimated) = match reported.total() {
        Some(t) => (t, false),
        // No usage from the upstream: count every byte of text as a token, and at least the
        // reservation.
        None => {
            let counted = prompt_bytes
                .saturating_add(messages.saturating_mul(TOKENS_PER_MESSAGE))
                .saturating_add(tools.saturating_mul(TOKENS_PER_TOOL))
                .saturating_add(TOKENS_PER_REQUEST)
                .saturating_add(answer_bytes);
            (counted.max(reserve), true)
        }
    };
    let prompt_tokens = reported.prompt.unwrap_or(prompt);
    let completion_tokens = reported
        .completion
        .unwrap_or_else(|| total.saturating_sub(prompt_tokens));
    match usage.settle(task, reserve, total, call.now) {
        Ok(after) => rec.fact("task_tokens_used", after),
        // The reservation stays held, so the budget still holds; the answer is already paid for.
        Err(e) => {
            tracing::error!(error = %e, "llm usage ledger failed; the reservation stays held")
        }
    }
    call.record_usage(
        Action::LlmChat,
        Some(i64::try_from(total).unwrap_or(i64::MAX)),
    );
    rec.fact("prompt_tokens", prompt_tokens);
    rec.fact("completion_tokens", completion_tokens);
    rec.fact("total_tokens", total);
    if estimated {
        rec.fact("usage_estimated", true);
    }
    let mut answer = answer;
    let calls: usize = answer["choices"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["message"]["tool_calls"].as_array())
                .map(Vec::len)
                .sum()
        })
        .unwrap_or(0);
    if calls > 0 {
        rec.fact("tool_calls", calls);
    }
    let replaced_in = scrub_answer(call, &mut answer, &known)?;
    rec.fact("pii_replaced_in_answer", replaced_in);
    if let Some(obj) = answer.as_object_mut() {
        obj.insert(
            "usage".into(),
            json!({
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": total,
            }),
        );
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<ChatRequest, ApiError> {
        ChatRequest::parse(&Bytes::from(v.to_string()))
    }

    fn msgs() -> Value {
        json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    }

    #[test]
    fn a_plain_request_parses_and_forwards_the_cap() {
        let r =
            parse(json!({"model": "m-1", "messages": msgs(), "temperature": 0.2, "stream": false}))
                .unwrap();
        assert_eq!(r.messages, 2);
        assert_eq!(r.prompt_bytes, 10);
        assert_eq!(r.max_tokens, None);
        let f = r.forward(77);
        assert_eq!(f["max_tokens"], 77);
        assert_eq!(f["temperature"], 0.2);
        assert!(f.get("stream").is_none());
        let r =
            parse(json!({"model": "m", "messages": msgs(), "max_completion_tokens": 5})).unwrap();
        assert_eq!(r.max_tokens, Some(("max_completion_tokens", 5)));
        let f = r.forward(5);
        assert_eq!(f["max_completion_tokens"], 5);
        assert!(f.get("max_tokens").is_none());
    }

    #[test]
    fn bad_requests_are_refused() {
        let bad = [
            json!({"model": "m", "messages": msgs(), "stream": true}),
            json!({"model": "m", "messages": msgs(), "approved": true}),
            json!({"model": "m", "messages": []}),
            json!({"model": "m"}),
            json!({"messages": msgs()}),
            json!({"model": "m x", "messages": msgs()}),
            json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
            json!({"model": "m", "messages": [{"role": "user"}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": "x", "extra": 1}]}),
            json!({"model": "m", "messages": msgs(), "max_tokens": 0}),
            json!({"model": "m", "messages": msgs(), "max_tokens": 1.5}),
            json!({"model": "m", "messages": msgs(), "max_tokens": "10"}),
            json!({"model": "m", "messages": msgs(), "max_tokens": 10, "max_completion_tokens": 10}),
            json!({"model": "m", "messages": msgs(), "n": 2}),
            json!({"model": "m", "messages": msgs(), "temperature": 3}),
            json!({"model": "m", "messages": msgs(), "stop": ["a", "b", "c", "d", "e"]}),
            json!({"model": "m", "messages": msgs(), "response_format": {"type": "xml"}}),
            json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(MAX_PROMPT_CHARS + 1)}]}),
            json!([1, 2]),
        ];
        for b in bad {
            let e = parse(b.clone()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{b}");
        }
    }

    fn tools() -> Value {
        json!([{"type": "function", "function": {
            "name": "issue_refund", "description": "Refund the customer",
            "parameters": {"type": "object", "properties": {"amount_cents": {"type": "integer"}}, "required": ["amount_cents"]},
            "strict": true}}])
    }

    fn tool_turn() -> Value {
        json!([
            {"role": "user", "content": "refund [NAME_1]"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "issue_refund", "arguments": "{\"amount_cents\": 500}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"refund_id\": \"rf_1\"}"}
        ])
    }

    #[test]
    fn function_calling_requests_parse_and_count_as_prompt() {
        let plain = parse(json!({"model": "m", "messages": tool_turn()})).unwrap();
        // The tool call's id, name and arguments are prompt text.
        let texts = [
            "refund [NAME_1]",
            "call_1",
            "issue_refund",
            r#"{"amount_cents": 500}"#,
            "call_1",
            r#"{"refund_id": "rf_1"}"#,
        ];
        let want: usize = texts.iter().map(|t| t.len()).sum();
        assert_eq!(plain.prompt_bytes, want as u64);
        let with_tools = parse(
            json!({"model": "m", "messages": tool_turn(), "tools": tools(),
            "tool_choice": {"type": "function", "function": {"name": "issue_refund"}},
            "parallel_tool_calls": false}),
        )
        .unwrap();
        assert_eq!(with_tools.tools, 1);
        let tools_bytes = tools().to_string().len() as u64;
        assert_eq!(with_tools.prompt_bytes, plain.prompt_bytes + tools_bytes);
        assert!(with_tools.prompt_estimate() > plain.prompt_estimate() + tools_bytes / 3);
        let f = with_tools.forward(10);
        assert_eq!(f["tools"], tools());
        assert_eq!(f["tool_choice"]["function"]["name"], "issue_refund");
        assert_eq!(f["parallel_tool_calls"], false);
        assert_eq!(f["messages"][1]["tool_calls"][0]["id"], "call_1");
        for choice in ["auto", "none", "required"] {
            parse(
                json!({"model": "m", "messages": msgs(), "tools": tools(), "tool_choice": choice}),
            )
            .unwrap();
        }
    }

    #[test]
    fn bad_function_calling_requests_are_refused() {
        let with = |f: &dyn Fn(&mut Value)| {
            let mut b = json!({"model": "m", "messages": tool_turn(), "tools": tools()});
            f(&mut b);
            b
        };
        let many: Vec<Value> = (0..=MAX_TOOLS)
            .map(|i| json!({"type": "function", "function": {"name": format!("t{i}")}}))
            .collect();
        let mut deep = json!({"type": "object"});
        for _ in 0..MAX_SCHEMA_DEPTH {
            deep = json!({"type": "object", "properties": {"x": deep}});
        }
        let bad = [
            with(&|b| b["tools"][0]["type"] = json!("code_interpreter")),
            with(&|b| b["tools"][0]["function"]["name"] = json!("has space")),
            with(&|b| b["tools"][0]["function"]["extra"] = json!(1)),
            with(&|b| b["tools"][0]["function"]["parameters"] = json!("object")),
            with(&|b| b["tools"][0]["function"]["parameters"] = deep.clone()),
            with(&|b| {
                b["tools"][0]["function"]["description"] =
                    json!("d".repeat(MAX_TOOL_DESCRIPTION_CHARS + 1))
            }),
            with(&|b| {
                b["tools"][0]["function"]["parameters"]["x"] = json!("y".repeat(MAX_TOOLS_BYTES))
            }),
            with(&|b| b["tools"] = json!(many.clone())),
            with(&|b| b["tools"] = json!([])),
            with(&|b| b["tools"] = json!([tools()[0].clone(), tools()[0].clone()])),
            with(&|b| b["tool_choice"] = json!("sometimes")),
            with(&|b| {
                b["tool_choice"] = json!({"type": "function", "function": {"name": "send_email"}})
            }),
            with(&|b| {
                b.as_object_mut().unwrap().remove("tools");
                b["tool_choice"] = json!("auto");
            }),
            with(&|b| {
                b.as_object_mut().unwrap().remove("tools");
                b["parallel_tool_calls"] = json!(true);
            }),
            with(&|b| b["parallel_tool_calls"] = json!("yes")),
            with(&|b| b["functions"] = json!([])),
            with(&|b| {
                b["messages"][2]
                    .as_object_mut()
                    .unwrap()
                    .remove("tool_call_id")
                    .map(drop)
                    .unwrap()
            }),
            with(&|b| b["messages"][2]["tool_call_id"] = json!("")),
            with(&|b| b["messages"][2]["tool_call_id"] = json!("id with space")),
            with(&|b| b["messages"][0]["tool_call_id"] = json!("call_1")),
            with(&|b| b["messages"][0]["tool_calls"] = b["messages"][1]["tool_calls"].clone()),
            with(&|b| b["messages"][1]["tool_calls"] = json!([])),
            with(&|b| b["messages"][1]["tool_calls"][0]["type"] = json!("web")),
            with(&|b| {
                b["messages"][1]["tool_calls"][0]["function"]["arguments"] =
                    json!({"amount_cents": 5})
            }),
            with(&|b| b["messages"][1]["tool_calls"][0]["function"]["extra"] = json!(1)),
            with(&|b| b["messages"][1]["tool_calls"][0]["extra"] = json!(1)),
            with(&|b| b["messages"][1]["function_call"] = json!({"name": "x"})),
            with(&|b| {
                b["messages"][1]
                    .as_object_mut()
                    .unwrap()
                    .remove("tool_calls");
            }),
            with(&|b| b["messages"][2]["role"] = json!("function")),
            with(&|b| {
                b["messages"][1]["tool_calls"][0]["function"]["arguments"] =
                    json!("x".repeat(MAX_PROMPT_CHARS))
            }),
        ];
        for b in bad {
            let e = parse(b.clone()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{b}");
        }
    }

    #[test]
    fn tool_calls_in_answers_are_reduced_to_their_openai_fields() {
        let body = json!({
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "issue_refund", "arguments": "{\"amount_cents\":5}", "x": 1}, "secret": "s"},
                    {"id": "call_b", "function": {"name": "lookup", "arguments": {"q": 1}}}
                ]}}]
        });
        let (v, _, bytes) = shape(&body, "m", 9).unwrap();
        let m = &v["choices"][0]["message"];
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(m["content"], Value::Null);
        assert_eq!(
            m["tool_calls"],
            json!([
                {"id": "call_a", "type": "function", "function": {"name": "issue_refund", "arguments": "{\"amount_cents\":5}"}},
                {"id": "call_b", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":1}"}}
            ])
        );
        assert_eq!(bytes, 6 + 12 + 18 + 6 + 6 + 7);
        // An empty list is no tool calls.
        let empty = json!({"choices": [{"message": {"content": "hi", "tool_calls": []}}]});
        assert!(shape(&empty, "m", 9).unwrap().0["choices"][0]["message"]
            .get("tool_calls")
            .is_none());
        for bad in [
            json!([{"id": 5, "type": "function", "function": {"name": "a", "arguments": "{}"}}]),
            json!([{"id": "c", "type": "web", "function": {"name": "a", "arguments": "{}"}}]),
            json!([{"id": "c", "type": "function", "function": {"name": "a", "arguments": 5}}]),
            json!([{"id": "c", "type": "function"}]),
            json!("call"),
        ] {
            let body = json!({"choices": [{"message": {"content": null, "tool_calls": bad}}]});
            assert!(shape(&body, "m", 9).is_none(), "{bad}");
        }
    }

    #[test]
    fn reported_usage_is_read_conservatively() {
        let r = Reported::from_answer(Some(
            &json!({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
        ));
        assert_eq!(r.total(), Some(7));
        // A total lower than its parts is not believed.
        let r = Reported::from_answer(Some(
            &json!({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 1}),
        ));
        assert_eq!(r.total(), Some(7));
        let r = Reported::from_answer(Some(&json!({"prompt_tokens": 3, "completion_tokens": 4})));
        assert_eq!(r.total(), Some(7));
        assert_eq!(Reported::from_answer(None).total(), None);
    }

    #[test]
    fn answers_are_reduced_to_the_openai_fields() {
        let body = json!({
            "id": "x", "object": "chat.completion", "created": 5, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hey", "secret": "s"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            "debug": {"upstream_key": "sk-1"}
        });
        let (v, reported, bytes) = shape(&body, "m", 9).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "hey");
        assert!(v.get("debug").is_none());
        assert!(v["choices"][0]["message"].get("secret").is_none());
        assert_eq!(reported.total(), Some(2));
        assert_eq!(bytes, 3);
        assert!(shape(&json!({"choices": "no"}), "m", 9).is_none());
        assert!(shape(&json!({"error": "x"}), "m", 9).is_none());
    }
}
