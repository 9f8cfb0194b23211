//! The `silo` command as a user meets it: bad input gives one clear line
//! and a non-zero exit, never a panic; library callers that are
//! multi-threaded can still start cells.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod api_sweep;
mod architecture;
mod bad_input;
mod bad_input_sweep;
mod completions;
mod console;
mod crash;
mod demo;
mod docs;
mod init;
mod json_output;
mod mcp;
mod observability;
mod openai_sdk;
mod pii;
mod policy_import;
mod redteam;
mod run;
mod scale;
mod serve;
mod spawn;
mod task;
mod unprivileged;
mod workflow;

use std::process::{Command, Output};

pub fn silo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_silo"))
        .args(args)
        .output()
        .unwrap()
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// One request to a daemon's localhost API (`silo serve`): the status and the JSON body.
pub fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// A command's status and output, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// One request a [`fake_http`] server received: the request line and headers as sent, and
/// the body.
pub struct Received {
    /// Request line and headers, each ending in `\r\n`.
    pub head: String,
    /// The body (`content-length` bytes).
    pub body: Vec<u8>,
}

/// A fake HTTP/1.1 upstream on 127.0.0.1 for what silo calls out to in tests (an
/// OpenAI-compatible model, an OTLP collector): one connection at a time, one request each,
/// `answer` turns the request into the JSON body of a 200. Returns `http://127.0.0.1:PORT`.
pub fn fake_http(answer: impl Fn(&Received) -> String + Send + 'static) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let out = answer(&Received { head, body });
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{out}",
                out.len()
            );
        }
    });
    base
}

/// An OpenAI chat-completion answer with `content` and the given token usage.
pub fn chat_answer(content: &str, prompt_tokens: u64, completion_tokens: u64) -> String {
    serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "fake",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens}
    })
    .to_string()
}
