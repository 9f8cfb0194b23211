//! The stable runner: replays a target's seed corpus (`fuzz/corpus/<target>/`), then feeds
//! it a seeded stream of mutations of those seeds, for a number of inputs or a time budget.
//! It has no coverage feedback — that is what `cargo fuzz` adds — but it runs on the stable
//! toolchain inside `cargo test`, so every corpus input and every past crash is replayed on
//! every test run, and CI's smoke run spends a few seconds per target mutating.
//!
//! A crash is a panic on the runner's thread, or on a thread the target started whose name
//! begins with [`TARGET_THREAD_PREFIX`] (the membrane's runtime): its input is saved under
//! `fuzz/artifacts/<target>/crash-<sha256>` (what `cargo fuzz run <target> <file>` replays)
//! and reported.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::Target;

/// Threads a target starts are named with this prefix, so a panic on them counts as a crash
/// of the input being run.
pub const TARGET_THREAD_PREFIX: &str = "silo-fuzz-";

/// How much mutating to do after the corpus.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Mutated inputs to run at most.
    pub mutations: u64,
    /// Stop mutating after this long, if set.
    pub time: Option<Duration>,
    /// The generator's seed: the same seed, corpus and budget run the same inputs.
    pub seed: u64,
}

impl Budget {
    /// From the environment: `SILO_FUZZ_SECONDS` (mutate for that long, for CI's smoke run;
    /// unset: `default_mutations` inputs), `SILO_FUZZ_SEED` (unset: a fixed seed, so the
    /// test suite is repeatable).
    pub fn from_env(default_mutations: u64) -> Self {
        let seconds = std::env::var("SILO_FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0);
        let seed = std::env::var("SILO_FUZZ_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0x5115_F022);
        match seconds {
            Some(s) => Budget {
                mutations: u64::MAX,
                time: Some(Duration::from_secs_f64(s)),
                seed,
            },
            None => Budget {
                mutations: default_mutations,
                time: None,
                seed,
            },
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Corpus inputs replayed.
    pub replayed: usize,
    /// Mutated inputs run.
    pub mutated: u64,
    /// The seed used.
    pub seed: u64,
    /// Wall time, in milliseconds.
    pub millis: u128,
}

/// An input that crashed a target.
#[derive(Debug, Clone)]
pub struct Crash {
    /// The target.
    pub target: &'static str,
    /// The panic message.
    pub message: String,
    /// The input.
    pub input: Vec<u8>,
    /// Where it was saved (`None` if saving failed).
    pub saved: Option<PathBuf>,
}

impl std::fmt::Display for Crash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fuzz target `{}` crashed: {}\ninput ({} bytes): {:?}",
            self.target,
            self.message,
            self.input.len(),
            String::from_utf8_lossy(&self.input),
        )?;
        if let Some(p) = &self.saved {
            write!(f, "\nsaved to {}", p.display())?;
        }
        Ok(())
    }
}

/// `fuzz/` at the workspace root.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The seed corpus of `target`, sorted by file name.
pub fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect()
}

/// Panics seen on target threads (see [`TARGET_THREAD_PREFIX`]), and the last message.
static FOREIGN_PANICS: AtomicU64 = AtomicU64::new(0);
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Installs (once) the hook that records panic messages and counts target-thread panics,
/// then prints as usual.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info.to_string();
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(TARGET_THREAD_PREFIX))
            {
                FOREIGN_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = message;
            default(info);
        }));
    });
}

/// Runs one input; a panic (here or on a target thread) is returned as its message.
pub fn run_one(target: &Target, input: &[u8]) -> Result<(), String> {
    install_hook();
    let before = FOREIGN_PANICS.load(Ordering::SeqCst);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    let last = || LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match result {
        Err(_) => Err(last()),
        Ok(()) if FOREIGN_PANICS.load(Ordering::SeqCst) != before => {
            Err(format!("a target thread panicked: {}", last()))
        }
        Ok(()) => Ok(()),
    }
}

fn crash(target: &Target, message: String, input: Vec<u8>) -> Crash {
    let name = format!("crash-{}", hex(&Sha256::digest(&input)));
    let dir = fuzz_dir().join("artifacts").join(target.name);
    let saved = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(&name), &input))
        .ok()
        .map(|()| dir.join(name));
    Crash {
        target: target.name,
        message,
        input,
        saved,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Replays `target`'s corpus, then mutates it within `budget`. The first crash ends the run.
pub fn run(target: &Target, budget: Budget) -> Result<Report, Box<Crash>> {
    let started = Instant::now();
    let seeds: Vec<Vec<u8>> = corpus(target.name).into_iter().map(|(_, b)| b).collect();
    for input in &seeds {
        run_one(target, input).map_err(|m| Box::new(crash(target, m, input.clone())))?;
    }
    let mut rng = fastrand::Rng::with_seed(budget.seed);
    let empty = vec![Vec::new()];
    let pool = if seeds.is_empty() { &empty } else { &seeds };
    let mut mutated = 0;
    // Mutations stack: half the time the next input grows from the previous one.
    let mut last: Vec<u8> = Vec::new();
    while mutated < budget.mutations && budget.time.is_none_or(|t| started.elapsed() < t) {
        let base = if !last.is_empty() && rng.bool() {
            last.clone()
        } else {
            rng.choice(pool).cloned().unwrap_or_default()
        };
        let other = rng.choice(pool).map_or(&[][..], Vec::as_slice);
        let input = crate::mutate::mutate(&mut rng, &base, other, target.dictionary);
        run_one(target, &input).map_err(|m| Box::new(crash(target, m, input.clone())))?;
        mutated += 1;
        last = input;
    }
    Ok(Report {
        replayed: seeds.len(),
        mutated,
        seed: budget.seed,
        millis: started.elapsed().as_millis(),
    })
}
