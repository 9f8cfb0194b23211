//! The `silo` command as a user meets it: bad input gives one clear line
//! and a non-zero exit, never a panic; library callers that are
//! multi-threaded can still start cells.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod architecture;
mod bad_input;
mod console;
mod demo;
mod docs;
mod init;
mod pii;
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

/// A command's status and output, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
