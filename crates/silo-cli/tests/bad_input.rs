//! Each mistake names itself in one line and exits non-zero.

use crate::silo;

#[track_caller]
fn one_line_error(args: &[&str], code: i32, needle: &str) {
    let out = silo(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected `{needle}` in `{err}`"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
}

#[test]
fn missing_agent_folder() {
    one_line_error(
        &["cell", "run", "--agent", "/no/such/agent", "--", "true"],
        2,
        "agent folder `/no/such/agent` does not exist",
    );
}

#[test]
fn bad_limits() {
    one_line_error(
        &["cell", "run", "--memory", "lots", "--", "true"],
        2,
        "invalid size `lots`",
    );
    one_line_error(
        &["cell", "run", "--memory", "1M", "--", "true"],
        2,
        "bad limit --memory",
    );
    one_line_error(
        &["cell", "run", "--pids", "1", "--", "true"],
        2,
        "bad limit --pids",
    );
    one_line_error(
        &["cell", "run", "--timeout", "soon", "--", "true"],
        2,
        "invalid duration `soon`",
    );
    one_line_error(
        &["cell", "run", "--cpu", "1.2345", "--", "true"],
        2,
        "invalid CPU count `1.2345`",
    );
    one_line_error(
        &["cell", "run", "--cpu", "0.001", "--", "true"],
        2,
        "bad limit --cpu",
    );
}

#[test]
fn bad_names_sockets_and_binds() {
    one_line_error(
        &["cell", "run", "--name", "Bad/Name", "--", "true"],
        2,
        "invalid agent name",
    );
    one_line_error(
        &["cell", "run", "--socket", "/etc/hostname", "--", "true"],
        2,
        "is not a Unix socket",
    );
    one_line_error(
        &["cell", "run", "--ro-bind", "/", "--", "true"],
        2,
        "--ro-bind `/`",
    );
    one_line_error(
        &["cell", "run", "--env", "NOEQUALS", "--", "true"],
        1,
        "--env `NOEQUALS`",
    );
}

#[test]
fn command_not_found_in_the_cell() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    one_line_error(
        &["cell", "run", "--", "definitely-not-a-command"],
        127,
        "command `definitely-not-a-command` could not be started in the cell",
    );
    // A host path that exists on the host but not in the cell.
    one_line_error(&["cell", "run", "--", "/root/anything"], 127, "not found");
}

#[test]
fn no_command() {
    let out = silo(&["cell", "run"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unknown_weakening_is_refused() {
    one_line_error(
        &["cell", "run", "--weaken", "everything", "--", "true"],
        2,
        "unknown weakening",
    );
}

/// `silo … | head`: the reader went away. One line, exit 141, never a panic report.
#[test]
fn a_closed_standard_output_is_not_a_panic() {
    use std::process::{Command, Stdio};
    for args in [
        &["redteam", "--list"][..],
        &["--json", "redteam", "--list"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_silo"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before the command writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("backtrace"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
        assert!(err.contains("Broken pipe"), "{args:?}: {err}");
    }
}
