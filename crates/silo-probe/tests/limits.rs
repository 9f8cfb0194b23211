//! Resource exhaustion: each is bounded, reported, and leaves nothing.

use std::time::Instant;

use crate::harness::*;

#[test]
fn fork_bomb_is_bounded_by_the_pids_limit() {
    if !can_run() {
        return;
    }
    let r = in_cell(&Agent::new(), &["--pids", "32", "--json"], &["fork-bomb"]);
    r.assert_blocked();
    let forks: u32 = r
        .stdout
        .split("stopped after ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(forks < 32, "{forks} forks with a limit of 32");
    assert_eq!(r.outcome()["pids_limit_hit"], true, "{r:#?}");
}

#[test]
fn memory_bomb_is_killed_and_reported() {
    if !can_run() {
        return;
    }
    let r = in_cell(&Agent::new(), &["--memory", "64M", "--json"], &["mem-bomb"]);
    assert!(!r.escaped(), "{r:#?}");
    assert_eq!(r.code, Some(137), "{r:#?}");
    let o = r.outcome();
    assert_eq!(o["oom_killed"], true, "{r:#?}");
    assert_eq!(o["termination"]["kind"], "signaled");
}

#[test]
fn cpu_spin_is_stopped_by_the_wall_clock() {
    if !can_run() {
        return;
    }
    let t = Instant::now();
    let r = in_cell(
        &Agent::new(),
        &["--timeout", "1s", "--cpu", "0.5", "--json"],
        &["cpu-spin"],
    );
    assert_eq!(r.code, Some(124), "{r:#?}");
    assert_eq!(r.outcome()["termination"]["kind"], "timed_out");
    assert!(t.elapsed().as_secs() < 4, "took {:?}", t.elapsed());
}

#[test]
fn filling_the_disk_stops_at_the_tmpfs_size() {
    if !can_run() {
        return;
    }
    let r = in_cell(&Agent::new(), &["--tmpfs", "8M"], &["fill-disk", "/tmp"]);
    r.assert_blocked();
    let written: u64 = r
        .stdout
        .split("wrote ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(written <= 8 << 20, "wrote {written} bytes into an 8M tmpfs");
    // Control: on the host the same probe writes past 8M into a real dir
    // (bounded by its own 8 GiB cap, so only check it got further).
}

#[test]
fn nothing_is_left_behind_after_a_run() {
    if !can_run() {
        return;
    }
    let r = in_cell(&Agent::new(), &["--json"], &["persist-write", "/tmp/x"]);
    let id = r.outcome()["id"].as_str().unwrap().to_string();
    // No cgroup directory of the cell in any hierarchy.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mounts.lines().filter(|l| l.contains(" - cgroup")) {
        let mp = line.split(' ').nth(4).unwrap();
        let found = walk_for(std::path::Path::new(mp), &format!("silo-{id}"), 4);
        assert!(!found, "cgroup silo-{id} left under {mp}");
    }
    // No registry entry, no mount left on the root mount point.
    assert!(!std::path::Path::new(&format!("/run/silo/cells/{id}.json")).exists());
    assert!(
        !mounts.contains("/run/silo/newroot"),
        "root mount leaked into the host"
    );
}

fn walk_for(dir: &std::path::Path, name: &str, depth: u32) -> bool {
    if depth == 0 {
        return false;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        p.is_dir() && (e.file_name() == name || walk_for(&p, name, depth - 1))
    })
}
