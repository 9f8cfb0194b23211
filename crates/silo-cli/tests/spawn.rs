//! A multi-threaded caller (this test harness runs tests on threads) starts
//! cells through `silo __cell-supervise`, never by cloning itself.

use std::process::Stdio;

use silo_cell::{spawn_supervisor, AgentName, CellError, CellSpec, Termination};

#[test]
fn the_supervisor_refuses_to_clone_from_a_threaded_process() {
    let _t = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_secs(2)));
    let spec = CellSpec::new(AgentName::new("t").unwrap(), vec!["/bin/true".into()]);
    let err = silo_cell::run_cell(&spec, &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, CellError::NotSingleThreaded(n) if n > 1),
        "{err}"
    );
}

#[test]
fn cells_start_from_many_threads_at_once() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let run_dir = run.path().to_path_buf();
            std::thread::spawn(move || {
                let mut spec = CellSpec::new(
                    AgentName::new("threaded").unwrap(),
                    vec!["/bin/sh".into(), "-c".into(), format!("exit {i}")],
                );
                spec.run_dir = run_dir;
                let exe = std::path::Path::new(env!("CARGO_BIN_EXE_silo"));
                spawn_supervisor(exe, &spec, Stdio::null(), Stdio::inherit())
                    .unwrap()
                    .wait()
                    .unwrap()
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let o = h.join().unwrap();
        assert_eq!(o.termination, Termination::Exited { code: i as i32 });
    }
}

#[test]
fn a_supervisor_dies_with_the_thread_that_spawned_it() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let run_dir = run.path().to_path_buf();
    // The thread spawns a long cell and ends without waiting: as when a daemon's worker
    // dies. The supervisor (and with it the cell) must not outlive it.
    let pid = std::thread::spawn(move || {
        let mut spec = CellSpec::new(
            AgentName::new("orphan").unwrap(),
            vec!["/bin/sleep".into(), "50".into()],
        );
        spec.run_dir = run_dir;
        let exe = std::path::Path::new(env!("CARGO_BIN_EXE_silo"));
        let handle = spawn_supervisor(exe, &spec, Stdio::null(), Stdio::null()).unwrap();
        let pid = handle.pid();
        std::mem::forget(handle);
        pid
    })
    .join()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map(|s| !s.contains("State:\tZ"))
            .unwrap_or(false);
        if !alive {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "supervisor {pid} outlived the thread that spawned it"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
