//! Without root (user namespaces but no cgroup delegation) a cell still runs,
//! and says which limits it could not apply.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn unprivileged_run_warns_about_every_unapplied_limit() {
    if !crate::is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("SKIPPED: needs root (to switch to nobody) and setpriv");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let silo = dir.path().join("silo");
    std::fs::copy(env!("CARGO_BIN_EXE_silo"), &silo).unwrap();
    std::fs::set_permissions(&silo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run_dir = dir.path().join("run");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&silo)
        .args(["cell", "run", "--run-dir"])
        .arg(&run_dir)
        .args([
            "--",
            "/bin/sh",
            "-c",
            "id -u; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("1000\n"), "{stdout}");
    assert!(stdout.contains("CapEff:\t0000000000000000"), "{stdout}");
    assert!(
        stdout.contains("NoNewPrivs:\t1") && stdout.contains("Seccomp:\t2"),
        "{stdout}"
    );
    for what in [
        "memory limit not applied",
        "pids limit not applied",
        "cpu limit not applied",
    ] {
        assert!(
            stderr.contains(what),
            "missing warning `{what}` in {stderr}"
        );
    }
}
