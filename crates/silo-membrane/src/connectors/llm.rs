//! The LLM connector: an OpenAI-compatible upstream the membrane forwards chat completions
//! to, and the per-task token ledger the budget is checked against.
//!
//! The upstream's API key lives here, on the host side of the membrane: it is sent upstream
//! as `Authorization: Bearer …` and is never logged, never put in an error and never
//! returned to the cell. The ledger reserves a call's worst case before it is forwarded and
//! settles it with the upstream's reported usage afterwards, so concurrent calls of one task
//! cannot together spend past its budget.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use ureq::http::{HeaderValue, Uri};

use super::{lock, open_sqlite, secs_to_sql, sqlite_err, ConnectorError};

/// Default time to set up a connection (TCP and TLS) to the upstream.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time for one whole call, request to last byte of the answer; generation is slow.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Default bound on the upstream's answer, in bytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 1024 * 1024;
/// Default completion cap forwarded when the agent names none (models refuse caps far beyond
/// their output limit, so the remaining budget alone is not a usable cap).
pub const DEFAULT_MAX_COMPLETION_TOKENS: u64 = 4096;

/// An LLM connector failed. Shown to the host, never to the agent. Never holds the API key
/// or any part of the upstream's answer (an upstream's error text can quote the key).
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The upstream configuration is unusable.
    #[error("llm upstream configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// No connection could be made; nothing was sent.
    #[error("llm upstream unreachable: {reason}")]
    Unreachable {
        /// The transport's reason.
        reason: String,
    },
    /// The upstream did not answer in time; it may have generated tokens.
    #[error("llm upstream timed out ({stage})")]
    Timeout {
        /// Which stage of the call ran out of time.
        stage: String,
        /// Whether the request had been sent when time ran out.
        sent: bool,
    },
    /// The upstream answered with a non-success status (its body is not kept).
    #[error("llm upstream answered with HTTP status {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The answer is larger than the configured bound.
    #[error("llm upstream answer is larger than {limit} bytes")]
    TooLarge {
        /// The bound, in bytes.
        limit: u64,
    },
    /// The answer is not a JSON object.
    #[error("llm upstream answer is not a JSON object")]
    BadAnswer,
    /// Another transport failure after the request may have been sent.
    #[error("llm upstream transport failed: {reason}")]
    Transport {
        /// The transport's reason.
        reason: String,
    },
}

impl LlmError {
    /// Whether the upstream may have generated (and billed) tokens before this failure, so
    /// that the call's reservation is charged rather than released.
    pub fn may_have_spent(&self) -> bool {
        match self {
            LlmError::Config { .. } | LlmError::Unreachable { .. } | LlmError::Status { .. } => {
                false
            }
            LlmError::Timeout { sent, .. } => *sent,
            LlmError::TooLarge { .. } | LlmError::BadAnswer | LlmError::Transport { .. } => true,
        }
    }
}

/// A successful answer from the upstream: its chat-completion object, as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmAnswer {
    /// The upstream's JSON object (the route shapes what the cell sees).
    pub body: Value,
}

/// An OpenAI-compatible chat-completions upstream, with the ledger its budget is kept in.
///
/// `chat` blocks: the membrane's pipeline runs on a blocking thread.
pub trait LlmUpstream: Send + Sync {
    /// Sends one chat-completions request (an OpenAI request object the route has checked)
    /// and returns the upstream's answer.
    fn chat(&self, request: &Value) -> Result<LlmAnswer, LlmError>;

    /// The tokens each task has spent through this upstream.
    fn usage(&self) -> &dyn LlmUsage;

    /// The completion cap forwarded when the agent names none (the remaining budget lowers it).
    fn default_max_tokens(&self) -> u64 {
        DEFAULT_MAX_COMPLETION_TOKENS
    }
}

/// The API key the membrane sends upstream. Its `Debug` is redacted and it has no
/// `Display`, so it cannot end up in a log line or an error by accident.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key of visible ASCII characters (it goes into an HTTP header).
    pub fn new(key: impl Into<String>) -> Result<Self, LlmError> {
        let key = key.into();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(LlmError::Config {
                reason: "the API key must be non-empty visible ASCII without spaces".into(),
            });
        }
        Ok(Self(key))
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Where and how to reach an OpenAI-compatible upstream.
#[derive(Debug, Clone)]
pub struct HttpUpstreamConfig {
    /// The API's base URL, `http://` or `https://`, e.g. `http://127.0.0.1:8080/v1`;
    /// `/chat/completions` is appended. No user name, password, query or fragment.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …`; `None` for an upstream without authentication.
    pub api_key: Option<ApiKey>,
    /// Time to set up a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time for one whole call, from sending the request to the last byte of the answer.
    pub call_timeout: Duration,
    /// Largest answer accepted, in bytes.
    pub max_response_bytes: u64,
    /// Completion cap forwarded when the agent names none.
    pub default_max_tokens: u64,
}

impl HttpUpstreamConfig {
    /// A configuration for `base_url` with the default timeouts and bounds and no key.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            default_max_tokens: DEFAULT_MAX_COMPLETION_TOKENS,
        }
    }

    /// The same configuration with `key` sent upstream.
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }
}

/// [`LlmUpstream`] over HTTP/1.1 (https through rustls with the webpki roots).
///
/// Proxies from the environment are ignored and redirects are not followed, so the key is
/// only ever sent to the configured address. The client's TRACE wire dump (which would show
/// the key) is compiled out: this crate caps the `log` crate at DEBUG.
pub struct HttpUpstream {
    endpoint: String,
    authorization: Option<HeaderValue>,
    agent: ureq::Agent,
    max_response_bytes: u64,
    default_max_tokens: u64,
    usage: Box<dyn LlmUsage>,
}

impl std::fmt::Debug for HttpUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpUpstream")
            .field("endpoint", &self.endpoint)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl HttpUpstream {
    /// An upstream as `config` says, keeping its per-task usage in `usage`.
    pub fn new(config: HttpUpstreamConfig, usage: Box<dyn LlmUsage>) -> Result<Self, LlmError> {
        let endpoint = endpoint(&config.base_url)?;
        let authorization = config
            .api_key
            .as_ref()
            .map(|k| {
                HeaderValue::from_str(&format!("Bearer {}", k.0)).map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
            })
            .transpose()
            .map_err(|_| LlmError::Config {
                reason: "the API key is not a valid header value".into(),
            })?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(config.connect_timeout))
            .timeout_global(Some(config.call_timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent("silo-membrane")
            .build()
            .into();
        Ok(Self {
            endpoint,
            authorization,
            agent,
            max_response_bytes: config.max_response_bytes,
            default_max_tokens: config.default_max_tokens,
            usage,
        })
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

/// `<base_url>/chat/completions`, after checking the base URL.
fn endpoint(base_url: &str) -> Result<String, LlmError> {
    // The URL is not echoed: a mistaken one may hold a password.
    let bad = |reason: &str| LlmError::Config {
        reason: format!("base URL: {reason}"),
    };
    let uri: Uri = base_url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("the scheme must be http or https")),
    }
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.as_str().contains('@') {
        // Credentials in a URL end up in logs; the key belongs in `api_key`.
        return Err(bad("a user name or password in the URL is not allowed"));
    }
    if uri.query().is_some() || base_url.contains('#') {
        return Err(bad("a query or fragment is not allowed"));
    }
    Ok(format!(
        "{}/chat/completions",
        base_url.trim_end_matches('/')
    ))
}

fn transport_error(e: ureq::Error) -> LlmError {
    use ureq::Timeout;
    match e {
        ureq::Error::Timeout(t) => LlmError::Timeout {
            stage: t.to_string(),
            sent: !matches!(t, Timeout::Resolve | Timeout::Connect),
        },
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => LlmError::Unreachable {
            reason: e.to_string(),
        },
        ureq::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::NotFound
            ) =>
        {
            LlmError::Unreachable {
                reason: io.to_string(),
            }
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => LlmError::Timeout {
            stage: "io".into(),
            sent: true,
        },
        // A TLS failure happens before the request (and the key) is sent.
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
            LlmError::Unreachable {
                reason: e.to_string(),
            }
        }
        other => LlmError::Transport {
            reason: other.to_string(),
        },
    }
}

impl LlmUpstream for HttpUpstream {
    fn chat(&self, request: &Value) -> Result<LlmAnswer, LlmError> {
        let body = serde_json::to_vec(request).map_err(|e| LlmError::Config {
            reason: format!("cannot encode the request: {e}"),
        })?;
        let mut req = self
            .agent
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .header("accept", "application/json");
        if let Some(auth) = &self.authorization {
            req = req.header("authorization", auth.clone());
        }
        let mut response = req.send(&body[..]).map_err(transport_error)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            // The body is dropped unread: an upstream's error text can quote the key.
            return Err(LlmError::Status { status });
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(self.max_response_bytes)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => LlmError::TooLarge {
                    limit: self.max_response_bytes,
                },
                other => transport_error(other),
            })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(body @ Value::Object(_)) => Ok(LlmAnswer { body }),
            _ => Err(LlmError::BadAnswer),
        }
    }

    fn usage(&self) -> &dyn LlmUsage {
        self.usage.as_ref()
    }

    fn default_max_tokens(&self) -> u64 {
        self.default_max_tokens
    }
}

/// What a reservation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The tokens are held for the call.
    Reserved,
    /// The budget cannot hold them (another call of the task got there first); nothing held.
    Exhausted {
        /// Tokens the task has spent or holds reserved.
        used: u64,
    },
}

/// Tokens spent per task, with the worst case of calls in flight held as reservations.
pub trait LlmUsage: Send + Sync {
    /// Tokens `task` has spent plus those it holds reserved.
    fn used(&self, task: &str) -> Result<u64, ConnectorError>;
    /// Holds `tokens` for one call of `task` if its used tokens plus `tokens` stay within
    /// `limit`; otherwise holds nothing.
    fn reserve(
        &self,
        task: &str,
        tokens: u64,
        limit: u64,
        now: u64,
    ) -> Result<Reservation, ConnectorError>;
    /// Ends a reservation of `reserved` tokens, charging `spent` (which may exceed it).
    /// Returns the task's used tokens afterwards.
    fn settle(
        &self,
        task: &str,
        reserved: u64,
        spent: u64,
        now: u64,
    ) -> Result<u64, ConnectorError>;
}

const NAME: &str = "llm_usage";
// A reservation left behind by a crash stays held: the task's budget shrinks rather than grows.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS llm_usage (
    task TEXT PRIMARY KEY,
    spent INTEGER NOT NULL DEFAULT 0 CHECK (spent >= 0),
    reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;";

/// [`LlmUsage`] in SQLite: survives restarts, and is shared by every membrane (and process)
/// that opens the same database.
#[derive(Debug)]
pub struct SqliteLlmUsage {
    conn: Mutex<Connection>,
}

impl SqliteLlmUsage {
    /// Opens (creating if needed) the `llm_usage` table in the database at `path`.
    pub fn open(path: &Path) -> Result<Self, ConnectorError> {
        Ok(Self {
            conn: open_sqlite(NAME, path, SCHEMA)?,
        })
    }
}

fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_sql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn row(tx: &Connection, task: &str) -> Result<(u64, u64), ConnectorError> {
    let found: Option<(i64, i64)> = tx
        .query_row(
            "SELECT spent, reserved FROM llm_usage WHERE task = ?1",
            [task],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sqlite_err(NAME, "reading usage"))?;
    Ok(found.map_or((0, 0), |(s, r)| (from_sql(s), from_sql(r))))
}

fn write(
    tx: &Connection,
    task: &str,
    spent: u64,
    reserved: u64,
    now: u64,
) -> Result<(), ConnectorError> {
    tx.execute(
        "INSERT INTO llm_usage (task, spent, reserved, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (task) DO UPDATE SET spent = excluded.spent,
             reserved = excluded.reserved, updated_at = excluded.updated_at",
        params![task, to_sql(spent), to_sql(reserved), secs_to_sql(now)],
    )
    .map_err(sqlite_err(NAME, "writing usage"))?;
    Ok(())
}

impl LlmUsage for SqliteLlmUsage {
    fn used(&self, task: &str) -> Result<u64, ConnectorError> {
        let conn = lock(&self.conn);
        let (spent, reserved) = row(&conn, task)?;
        Ok(spent.saturating_add(reserved))
    }

    fn reserve(
        &self,
        task: &str,
        tokens: u64,
        limit: u64,
        now: u64,
    ) -> Result<Reservation, ConnectorError> {
        let mut conn = lock(&self.conn);
        // IMMEDIATE: take the write lock first, so two processes cannot both see room.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sqlite_err(NAME, "starting a transaction"))?;
        let (spent, reserved) = row(&tx, task)?;
        let used = spent.saturating_add(reserved);
        if used.saturating_add(tokens) > limit {
            return Ok(Reservation::Exhausted { used });
        }
        write(&tx, task, spent, reserved.saturating_add(tokens), now)?;
        tx.commit().map_err(sqlite_err(NAME, "committing"))?;
        Ok(Reservation::Reserved)
    }

    fn settle(
        &self,
        task: &str,
        reserved: u64,
        spent: u64,
        now: u64,
    ) -> Result<u64, ConnectorError> {
        let mut conn = lock(&self.conn);
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sqlite_err(NAME, "starting a transaction"))?;
        let (old_spent, old_reserved) = row(&tx, task)?;
        let new_spent = old_spent.saturating_add(spent);
        let new_reserved = old_reserved.saturating_sub(reserved);
        write(&tx, task, new_spent, new_reserved, now)?;
        tx.commit().map_err(sqlite_err(NAME, "committing"))?;
        Ok(new_spent.saturating_add(new_reserved))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_hold_the_budget_and_settle_to_the_spent_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let u = SqliteLlmUsage::open(&dir.path().join("m.db")).unwrap();
        assert_eq!(u.used("t1").unwrap(), 0);
        assert_eq!(u.reserve("t1", 60, 100, 1).unwrap(), Reservation::Reserved);
        // A second call in flight cannot take what the first holds.
        assert_eq!(
            u.reserve("t1", 50, 100, 1).unwrap(),
            Reservation::Exhausted { used: 60 }
        );
        assert_eq!(u.used("t2").unwrap(), 0);
        assert_eq!(u.settle("t1", 60, 25, 2).unwrap(), 25);
        assert_eq!(u.reserve("t1", 75, 100, 3).unwrap(), Reservation::Reserved);
        assert_eq!(u.settle("t1", 75, 0, 4).unwrap(), 25);
        // Usage survives reopening.
        drop(u);
        let u = SqliteLlmUsage::open(&dir.path().join("m.db")).unwrap();
        assert_eq!(u.used("t1").unwrap(), 25);
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            endpoint("http://127.0.0.1:8080/v1/").unwrap(),
            "http://127.0.0.1:8080/v1/chat/completions"
        );
        assert_eq!(
            endpoint("https://api.example.test/v1").unwrap(),
            "https://api.example.test/v1/chat/completions"
        );
        for bad in [
            "ftp://host/v1",
            "127.0.0.1:8080/v1",
            "http://user:pw@host/v1",
            "http://host/v1?key=x",
            "not a url",
        ] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_wire_dump_of_the_http_client_is_compiled_out() {
        // ureq logs every byte it sends (the Authorization header too) at TRACE.
        assert!(log::STATIC_MAX_LEVEL <= log::LevelFilter::Debug);
    }

    #[test]
    fn the_api_key_is_redacted() {
        let key = ApiKey::new("sk-secret-123").unwrap();
        assert!(!format!("{key:?}").contains("secret"));
        let dir = tempfile::tempdir().unwrap();
        let usage = SqliteLlmUsage::open(&dir.path().join("m.db")).unwrap();
        let up = HttpUpstream::new(
            HttpUpstreamConfig::new("http://127.0.0.1:1/v1").api_key(key),
            Box::new(usage),
        )
        .unwrap();
        assert!(!format!("{up:?}").contains("secret"));
        assert!(ApiKey::new("has space").is_err());
        assert!(ApiKey::new("").is_err());
    }
}
