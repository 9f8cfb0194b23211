//! Kernel attack surface: ptrace, namespaces, other ABIs, io_uring, TIOCSTI,
//! keys, bpf, modules, capabilities.

use std::process::Stdio;

use crate::harness::*;

fn blocked_in_cell_escaped_on_host(attack: &str) {
    let agent = Agent::new();
    in_cell(&agent, &[], &[attack]).assert_blocked();
    let scratch = tempfile::tempdir().unwrap();
    on_host(&agent, &[attack], scratch.path()).assert_escaped();
}

#[test]
fn ptrace_a_sibling_and_the_init() {
    if can_run() {
        blocked_in_cell_escaped_on_host("ptrace");
    }
}

#[test]
fn mount_and_umount() {
    if can_run() {
        blocked_in_cell_escaped_on_host("mount");
    }
}

#[test]
fn unshare_and_clone_new_namespaces() {
    if can_run() {
        blocked_in_cell_escaped_on_host("unshare");
    }
}

#[test]
fn setns_into_init_namespaces() {
    if can_run() {
        blocked_in_cell_escaped_on_host("setns");
    }
}

#[test]
fn chroot() {
    if can_run() {
        blocked_in_cell_escaped_on_host("chroot");
    }
}

#[test]
fn keyctl_and_add_key() {
    if can_run() {
        blocked_in_cell_escaped_on_host("keyctl");
    }
}

#[test]
fn bpf_map_create() {
    if can_run() {
        blocked_in_cell_escaped_on_host("bpf");
    }
}

#[test]
fn load_a_kernel_module() {
    if can_run() {
        blocked_in_cell_escaped_on_host("module");
    }
}

#[test]
fn capabilities_no_new_privs_and_seccomp_status() {
    if can_run() {
        blocked_in_cell_escaped_on_host("caps");
    }
}

#[test]
fn io_uring_setup() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    in_cell(&agent, &[], &["io-uring"]).assert_blocked();
    in_cell(&agent, &["--weaken", "seccomp"], &["io-uring"]).assert_escaped();
}

#[test]
fn i386_int80_socketcall_kills_the_agent() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    let r = in_cell(&agent, &[], &["int80"]);
    assert!(r.stdout.contains("ATTEMPT"), "{r:#?}");
    assert!(!r.escaped(), "{r:#?}");
    assert_eq!(
        r.code,
        Some(128 + 31),
        "the arch check must kill with SIGSYS: {r:#?}"
    );
    // Without the filter, the i386 socketcall really creates an AF_INET socket.
    in_cell(&agent, &["--weaken", "seccomp"], &["int80"]).assert_escaped();
}

#[test]
fn x32_abi_syscall_kills_the_agent() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    let r = in_cell(&agent, &[], &["x32"]);
    assert!(!r.escaped(), "{r:#?}");
    // libseccomp treats the x32 bit as a foreign architecture: SIGSYS.
    assert_eq!(r.code, Some(128 + 31), "{r:#?}");
    // Without the filter the call reaches the kernel (which answers ENOSYS
    // here if it was built without x32, so the control is the exit code).
    let weak = in_cell(&agent, &["--weaken", "seccomp"], &["x32"]);
    assert_eq!(weak.code, Some(0), "{weak:#?}");
}

#[test]
fn tiocsti_pushes_into_the_terminal() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    let pty = || {
        let p = nix::pty::openpty(None, None).unwrap();
        (Stdio::from(std::fs::File::from(p.slave)), p.master)
    };
    let (stdin, _master) = pty();
    in_cell_with(&agent, &[], &["tiocsti"], stdin).assert_blocked();
    // Seccomp off: still refused, because the agent has no controlling tty
    // (setsid) and no CAP_SYS_ADMIN.
    let (stdin, _master) = pty();
    in_cell_with(&agent, &["--weaken", "seccomp"], &["tiocsti"], stdin).assert_blocked();
    // Control: root on the host can push input into the same kind of pty.
    let (stdin, _master) = pty();
    let scratch = tempfile::tempdir().unwrap();
    on_host_with(&agent, &["tiocsti"], scratch.path(), stdin).assert_escaped();
}
