//! Reading, writing and linking outside the cell.

use crate::harness::*;

#[test]
fn read_etc_shadow_and_host_files() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    let scratch = tempfile::tempdir().unwrap();
    let secret = scratch.path().join("host-secret.txt");
    std::fs::write(&secret, "host secret").unwrap();
    let secret = secret.to_str().unwrap();

    for path in [
        "/etc/shadow",
        secret,
        "/root/.bash_history",
        "/home",
        "/sys/kernel/notes",
    ] {
        in_cell(&agent, &[], &["read-file", path]).assert_blocked();
    }
    // Controls: the probe does read them on the host.
    on_host(&agent, &["read-file", "/etc/shadow"], scratch.path()).assert_escaped();
    on_host(&agent, &["read-file", secret], scratch.path()).assert_escaped();
    // Landlock off: the mount namespace alone still hides the host.
    in_cell(&agent, &["--weaken", "landlock"], &["read-file", secret]).assert_blocked();
}

#[test]
fn list_host_processes_in_proc() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    let needle = format!("silo-needle-{}", std::process::id());
    let mut host_proc = std::process::Command::new("/bin/sh")
        .args(["-c", "sleep 30", &needle])
        .spawn()
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let r = in_cell(&agent, &[], &["proc-scan", &hex(&needle)]);
    let host = on_host(&agent, &["proc-scan", &hex(&needle)], scratch.path());
    host_proc.kill().unwrap();
    let _ = host_proc.wait();
    r.assert_blocked();
    host.assert_escaped();
}

#[test]
fn write_outside_the_tmpfs() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    for path in [
        "/agent/pwned",
        "/pwned",
        "/usr/pwned",
        "/etc/pwned",
        "/dev/pwned",
        "/run/silo/pwned",
        "/proc/sys/kernel/hostname",
    ] {
        in_cell(&agent, &[], &["write-file", path]).assert_blocked();
    }
    assert!(!agent.path().join("pwned").exists());
    // The writable place works, and the control shows the probe detects writes.
    in_cell(&agent, &[], &["write-file", "/tmp/ok"]).assert_escaped();
    // Landlock alone (mounts made writable would be caught by it too): with
    // Landlock off, read-only mounts still refuse.
    in_cell(
        &agent,
        &["--weaken", "landlock"],
        &["write-file", "/agent/pwned"],
    )
    .assert_blocked();
}

#[test]
fn symlink_and_hardlink_out_of_the_tmpfs() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    for target in ["/agent", "/usr", "/proc/1/root/agent"] {
        in_cell(&agent, &[], &["link-out", target]).assert_blocked();
    }
    let scratch = tempfile::tempdir().unwrap();
    let writable = tempfile::tempdir().unwrap();
    on_host(
        &agent,
        &["link-out", writable.path().to_str().unwrap()],
        scratch.path(),
    )
    .assert_escaped();
}

#[test]
fn create_setuid_files_and_device_nodes() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    in_cell(&agent, &[], &["setuid-file", "/tmp/suid"]).assert_blocked();
    in_cell(&agent, &[], &["mknod", "/tmp/null2"]).assert_blocked();
    let scratch = tempfile::tempdir().unwrap();
    let p = scratch.path().join("suid");
    on_host(
        &agent,
        &["setuid-file", p.to_str().unwrap()],
        scratch.path(),
    )
    .assert_escaped();
    let n = scratch.path().join("null2");
    on_host(&agent, &["mknod", n.to_str().unwrap()], scratch.path()).assert_escaped();
    // The seccomp rule is what refuses the setuid bit (the tmpfs is also
    // nosuid, which makes such a file harmless).
    in_cell(
        &agent,
        &["--weaken", "seccomp"],
        &["setuid-file", "/tmp/suid"],
    )
    .assert_escaped();
}

#[test]
fn files_left_in_tmp_are_gone_for_the_next_run() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    let r = in_cell(&agent, &[], &["persist-write", "/tmp/left-behind"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    in_cell(&agent, &[], &["persist-check", "/tmp/left-behind"]).assert_blocked();
    // Control: within one run the file is there.
    let scratch = tempfile::tempdir().unwrap();
    let p = scratch.path().join("left");
    on_host(
        &agent,
        &["persist-write", p.to_str().unwrap()],
        scratch.path(),
    );
    on_host(
        &agent,
        &["persist-check", p.to_str().unwrap()],
        scratch.path(),
    )
    .assert_escaped();
}
