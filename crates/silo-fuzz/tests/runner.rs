//! The runner reports what it must: a panic in the target, a panic on a thread the target
//! started, and the input that did it; and it repeats itself from a seed.

use silo_fuzz::runner::{self, Budget, TARGET_THREAD_PREFIX};
use silo_fuzz::Target;

fn boom(data: &[u8]) {
    if data.windows(4).any(|w| w == b"boom") {
        panic!("boom found");
    }
}

fn boom_on_a_target_thread(data: &[u8]) {
    let data = data.to_vec();
    let _ = std::thread::Builder::new()
        .name(format!("{TARGET_THREAD_PREFIX}test"))
        .spawn(move || boom(&data))
        .unwrap()
        .join();
}

fn budget(mutations: u64) -> Budget {
    Budget {
        mutations,
        time: None,
        seed: 11,
    }
}

#[test]
fn a_panic_is_a_crash_with_its_input_saved() {
    let target = Target {
        name: "runner_test_boom",
        run: boom,
        dictionary: &["boom"],
    };
    let crash = runner::run(&target, budget(100_000)).unwrap_err();
    assert!(crash.input.windows(4).any(|w| w == b"boom"), "{crash}");
    assert!(crash.message.contains("boom found"), "{crash}");
    let saved = crash.saved.clone().expect("the input was saved");
    assert_eq!(std::fs::read(&saved).unwrap(), crash.input);
    std::fs::remove_dir_all(saved.parent().unwrap()).unwrap();
}

#[test]
fn a_panic_on_a_target_thread_is_a_crash() {
    let target = Target {
        name: "runner_test_thread",
        run: boom_on_a_target_thread,
        dictionary: &["boom"],
    };
    assert!(runner::run_one(&target, b"fine").is_ok());
    let message = runner::run_one(&target, b"a boom").unwrap_err();
    assert!(message.contains("boom found"), "{message}");
}

#[test]
fn the_same_seed_runs_the_same_inputs() {
    fn record(data: &[u8]) {
        SEEN.lock().unwrap().push(data.to_vec());
    }
    static SEEN: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
    let target = Target {
        name: "runner_test_record",
        run: record,
        dictionary: &["word"],
    };
    let report = runner::run(&target, budget(300)).unwrap();
    assert_eq!(report.mutated, 300);
    let first = std::mem::take(&mut *SEEN.lock().unwrap());
    runner::run(&target, budget(300)).unwrap();
    let second = std::mem::take(&mut *SEEN.lock().unwrap());
    assert_eq!(first, second);
    assert!(first.iter().any(|i| !i.is_empty()));
}
