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
