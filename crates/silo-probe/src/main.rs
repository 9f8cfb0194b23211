//! The in-cell probe: a small program the escape suite copies into an agent
//! folder and runs inside a cell. Each subcommand tries one escape and
//! prints one line: `ESCAPED: …` if the attack worked, `BLOCKED: …` if it
//! did not. The same probe run on the host (or in a cell with a defence
//! switched off) must print ESCAPED, which is how the suite shows that each
//! probe can tell an escape from a failure.
//!
//! It must never be shipped into production cells or used as a library: it
//! exists to attack silo. It makes raw system calls on purpose, so it is
//! the one crate besides the cell that uses `unsafe`; every call goes
//! through [`raw`].

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io::{Read, Write};
use std::process::exit;

mod attacks;

/// Result of one attempt.
pub enum Verdict {
    Escaped(String),
    Blocked(String),
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("usage: silo-probe ATTACK [ARGS]");
        exit(2);
    };
    let verdict = match attacks::run(cmd, rest) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("silo-probe: {e}");
            exit(2);
        }
    };
    match verdict {
        Verdict::Escaped(d) => println!("ESCAPED: {d}"),
        Verdict::Blocked(d) => println!("BLOCKED: {d}"),
    }
    let _ = std::io::stdout().flush();
}

/// errno of the last failed call, as text.
pub fn last_err() -> String {
    std::io::Error::last_os_error().to_string()
}

/// errno of the last failed call.
pub fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A raw syscall. Every unsafe syscall of the probe goes through here.
pub fn raw(nr: libc::c_long, a: [libc::c_long; 6]) -> libc::c_long {
    // SAFETY: the probe deliberately makes arbitrary system calls; the
    // arguments either are plain integers or point at live buffers owned by
    // the caller for the duration of the call.
    unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) }
}

/// A NUL-terminated copy of `s` (probe arguments never contain NUL).
pub fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// Reads a whole file, for the read attacks.
pub fn read_all(path: &str) -> std::io::Result<String> {
    let mut s = String::new();
    std::fs::File::open(path)?.read_to_string(&mut s)?;
    Ok(s)
}
