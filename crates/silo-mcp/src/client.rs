//! A minimal client for the membrane socket: one HTTP/1.1 request per connection, both keys
//! on every request, the JSON answer and its status back. hyper's low-level client is used
//! because the transport is a Unix socket, which the higher-level clients do not speak.

use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::UnixStream;

/// Largest membrane answer read (the membrane bounds its own answers well below this).
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// A membrane answer: the HTTP status and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// HTTP status (200 on success; 4xx/5xx carry `{"error": {code, message, rule?}}`).
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

/// Talks to one cell's membrane with that cell's two keys.
#[derive(Clone)]
pub struct MembraneClient {
    socket: PathBuf,
    base_key: String,
    task_key: String,
}

impl std::fmt::Debug for MembraneClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.debug_struct("MembraneClient")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl MembraneClient {
    /// A client for the socket at `socket`, presenting these keys.
    pub fn new(socket: impl Into<PathBuf>, base_key: String, task_key: String) -> Self {
        MembraneClient {
            socket: socket.into(),
            base_key,
            task_key,
        }
    }

    /// Sends one request (`body` as JSON for POST, none for GET) and reads the answer.
    /// Transport failures are `Err` with a short reason; membrane refusals are answers.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| format!("cannot reach the membrane: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("membrane handshake: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let payload = match body {
            Some(v) => Bytes::from(serde_json::to_vec(v).map_err(|e| e.to_string())?),
            None => Bytes::new(),
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "membrane")
            .header("x-silo-base-key", &self.base_key)
            .header("x-silo-task-key", &self.task_key);
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(payload))
            .map_err(|e| format!("building the request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("membrane request: {e}"))?;
        let status = resp.status().as_u16();
        let bytes = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("reading the membrane's answer: {e}"))?
            .to_bytes();
        driver.abort();
        let body = serde_json::from_slice(&bytes)
            .map_err(|e| format!("the membrane's answer is not JSON: {e}"))?;
        Ok(Answer { status, body })
    }
}
