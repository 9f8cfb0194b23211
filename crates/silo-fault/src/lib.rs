//! silo-fault owns the named crash points the crash tests (`crates/silo-cli/tests/crash.rs`,
//! `docs/RELIABILITY.md`) kill the daemon at: [`crash_point`] is a no-op unless the
//! environment variable `SILO_CRASH_AT` names the point, and then the process sends itself
//! SIGKILL there — no unwinding, no destructors, no buffered write flushed: exactly what
//! `kill -9` from outside does, but at a chosen line instead of a chosen moment.
//! `SILO_CRASH_AFTER=N` (default 1) waits for the N-th hit of the point.
//!
//! Why compiled in always rather than behind a cargo feature: the crash tests then exercise
//! the very binary that ships (a feature enabled only in debug builds would leave release
//! builds untested, and a second build of the workspace on two cores costs minutes). The
//! cost when unset is one read of a `OnceLock` and a `None` check per point; the variables
//! are read once, on the first hit of any point. Someone who can set a daemon's environment
//! can already kill it, so the variable grants nothing new.
//!
//! It must never: do anything unless `SILO_CRASH_AT` names the point.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The variable naming the point to crash at.
pub const CRASH_AT: &str = "SILO_CRASH_AT";
/// The variable saying at which hit of the point to crash (1: the first).
pub const CRASH_AFTER: &str = "SILO_CRASH_AFTER";

/// The armed point, if any: its name and the hit to crash at.
#[derive(Debug)]
struct Armed {
    point: String,
    after: u64,
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
static HITS: AtomicU64 = AtomicU64::new(0);

fn armed() -> Option<&'static Armed> {
    ARMED
        .get_or_init(|| {
            let point = std::env::var(CRASH_AT).ok().filter(|p| !p.is_empty())?;
            let after = std::env::var(CRASH_AFTER)
                .ok()
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(1)
                .max(1);
            Some(Armed { point, after })
        })
        .as_ref()
}

/// Whether reaching `name` now would crash (counts the hit when `name` is armed).
fn should_crash(name: &str) -> bool {
    match armed() {
        Some(a) if a.point == name => HITS.fetch_add(1, Ordering::SeqCst) + 1 >= a.after,
        _ => false,
    }
}

/// The named crash point `name`: returns at once unless `SILO_CRASH_AT` is `name` (and this
/// is the `SILO_CRASH_AFTER`-th hit), in which case the process SIGKILLs itself and this
/// never returns.
pub fn crash_point(name: &'static str) {
    if should_crash(name) {
        // stderr is unbuffered: the line is out before the signal.
        eprintln!("silo-fault: crash point `{name}` reached; SIGKILL");
        let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
        // SIGKILL to ourselves is delivered before kill(2) returns; should it somehow not be,
        // still never carry on past a crash point.
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    /// Re-runs this test binary on `child_entry` with the variables set.
    fn child(vars: &[(&str, &str)]) -> std::process::ExitStatus {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.args([
            "--exact",
            "tests::child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SILO_FAULT_CHILD", "1")
        .env_remove(CRASH_AT)
        .env_remove(CRASH_AFTER);
        for (k, v) in vars {
            c.env(k, v);
        }
        c.status().unwrap()
    }

    /// In a child: passes `a` three times, then `b` once; exits 0 if it survived.
    #[test]
    fn child_entry() {
        if std::env::var_os("SILO_FAULT_CHILD").is_none() {
            return;
        }
        for _ in 0..3 {
            crash_point("a");
        }
        crash_point("b");
    }

    #[test]
    fn an_unset_or_other_point_does_nothing() {
        assert!(child(&[]).success());
        assert!(child(&[(CRASH_AT, "c")]).success());
        assert!(child(&[(CRASH_AT, "a"), (CRASH_AFTER, "4")]).success());
    }

    #[test]
    fn the_named_point_kills_the_process_with_sigkill() {
        assert_eq!(child(&[(CRASH_AT, "b")]).signal(), Some(9));
        assert_eq!(child(&[(CRASH_AT, "a")]).signal(), Some(9));
        assert_eq!(
            child(&[(CRASH_AT, "a"), (CRASH_AFTER, "3")]).signal(),
            Some(9)
        );
    }
}
