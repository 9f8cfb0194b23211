//! silo-fuzz holds silo's fuzz targets and a runner for them on stable Rust. A target
//! takes raw bytes and drives one attack surface with them: the membrane's request path
//! over its real Unix socket (HTTP, headers, both keys, each route's JSON body, policy,
//! connectors and audit), key verification, the policy, workflow and project-file YAML
//! loaders, PII tokenisation and hydration, and audit-log verification over corrupted
//! chains. Besides "never panics", each target checks the property its crate promises
//! (no forged key verifies, no detected value survives tokenisation, a changed log never
//! verifies against its checkpoint, …) and panics when it breaks.
//!
//! Two drivers run the same functions: `cargo fuzz` (libFuzzer, coverage-guided; the
//! `fuzz/` folder at the workspace root) for long runs, and [`runner`], which replays the
//! seed corpora under `fuzz/corpus/<target>/` and a seeded stream of mutations of them
//! (no coverage, no nightly), for the test suite and CI's smoke run. `docs/FUZZING.md`
//! says how to run both and what they found.
//!
//! ```no_run
//! let target = silo_fuzz::target("policy_yaml").expect("a target of that name");
//! (target.run)(b"rules: []\n");
//! ```
#![forbid(unsafe_code)]
// A fuzz target reports a broken invariant by panicking: that is how libFuzzer (and the
// runner) see it. Nothing here is on a request path; it is test tooling.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "fuzz targets report broken invariants by panicking"
)]

pub mod audit;
pub mod config;
pub mod keys;
pub mod membrane;
pub mod mutate;
pub mod pii;
pub mod policy;
pub mod runner;
pub mod workflow;

/// One fuzz target: a name (the `fuzz/fuzz_targets/<name>.rs` binary and the
/// `fuzz/corpus/<name>/` folder), the function, and words its mutations like to insert.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Its name.
    pub name: &'static str,
    /// Runs one input; panics when an invariant breaks.
    pub run: fn(&[u8]),
    /// Tokens worth inserting (the runner's dictionary; `fuzz/dicts/<name>.dict` holds the
    /// same for libFuzzer).
    pub dictionary: &'static [&'static str],
}

/// Every target.
pub const TARGETS: [Target; 7] = [
    Target {
        name: "membrane_request",
        run: membrane::run,
        dictionary: membrane::DICTIONARY,
    },
    Target {
        name: "key_parse",
        run: keys::run,
        dictionary: keys::DICTIONARY,
    },
    Target {
        name: "policy_yaml",
        run: policy::run,
        dictionary: policy::DICTIONARY,
    },
    Target {
        name: "workflow_yaml",
        run: workflow::run,
        dictionary: workflow::DICTIONARY,
    },
    Target {
        name: "pii_tokenise",
        run: pii::run,
        dictionary: pii::DICTIONARY,
    },
    Target {
        name: "audit_verify",
        run: audit::run,
        dictionary: audit::DICTIONARY,
    },
    Target {
        name: "config_yaml",
        run: config::run,
        dictionary: config::DICTIONARY,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// A scratch folder for a target's fixture, in RAM where the machine has it (`/dev/shm`):
/// the membrane and the audit log write on every input. Fixtures live in statics, which
/// are never dropped, so the folder outlives the process; its name carries the process id,
/// and folders left by processes that are gone are removed here first.
pub(crate) fn scratch_dir(kind: &str) -> tempfile::TempDir {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let prefix = format!("silo-fuzz-{kind}-");
    for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    tempfile::Builder::new()
        .prefix(&format!("{prefix}{}-", std::process::id()))
        .tempdir_in(&base)
        .or_else(|_| tempfile::tempdir())
        .expect("a temporary directory")
}

/// Input bytes as text, the way a YAML or token parser would get them: targets whose
/// surface only takes UTF-8 skip other input (the caller's conversion refuses it first).
pub(crate) fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}
