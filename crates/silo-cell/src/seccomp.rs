//! The cell's seccomp filter: an allow-list, deny by default.
//!
//! Anything not listed fails with EPERM; `clone3` fails with ENOSYS so that
//! glibc falls back to `clone`, whose flags we *can* inspect (clone3 passes
//! them behind a pointer). A syscall from any other architecture (i386 via
//! `int 0x80`) or the x32 ABI kills the process: libseccomp checks the
//! architecture and the x32 bit before anything else.
//!
//! Argument filters: `socket`/`socketpair` only for AF_UNIX; `clone` only
//! without namespace flags; `ioctl` only for a handful of harmless terminal
//! and fd queries (TIOCSTI, TIOCLINUX and everything else are refused; the
//! request is compared on its low 32 bits, which is all the kernel reads);
//! `chmod` family never with setuid/setgid bits; `prctl` only for a few
//! read-mostly options.
//!
//! Built with libseccomp at its binary-tree optimisation level: a linear
//! allow-list of this size costs about a millisecond to attach (the kernel
//! emulates it for every syscall number to fill its action cache), the tree
//! a fraction of that. The program is compiled once in the supervisor and
//! only attached in the agent.

use std::io::Read;
use std::path::Path;

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};

use crate::CellError;

/// The compiled filter, ready to attach.
pub(crate) struct CellFilter {
    pub(crate) program: Vec<libc::sock_filter>,
}

const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64;

/// ioctl requests an agent may make: terminal attribute and size queries,
/// non-blocking and close-on-exec toggles, bytes-available.
const ALLOWED_IOCTLS: [u64; 7] = [
    libc::TCGETS,
    libc::TIOCGWINSZ,
    libc::TIOCGPGRP,
    libc::FIONREAD,
    libc::FIONBIO,
    libc::FIOCLEX,
    libc::FIONCLEX,
];

/// prctl options an agent may use.
const ALLOWED_PRCTLS: [u64; 10] = [
    libc::PR_SET_PDEATHSIG as u64,
    libc::PR_GET_PDEATHSIG as u64,
    libc::PR_GET_DUMPABLE as u64,
    libc::PR_SET_NAME as u64,
    libc::PR_GET_NAME as u64,
    libc::PR_GET_SECCOMP as u64,
    libc::PR_CAPBSET_READ as u64,
    libc::PR_SET_NO_NEW_PRIVS as u64,
    libc::PR_GET_NO_NEW_PRIVS as u64,
    0x5356_4d41, // PR_SET_VMA (glibc names anonymous mappings)
];

/// Syscalls allowed with any arguments.
fn plain_allowed() -> Vec<i64> {
    use libc::*;
    let mut v = vec![
        // files and io
        SYS_read,
        SYS_write,
        SYS_readv,
        SYS_writev,
        SYS_pread64,
        SYS_pwrite64,
        SYS_preadv,
        SYS_pwritev,
        SYS_preadv2,
        SYS_pwritev2,
        SYS_openat,
        SYS_close,
        SYS_close_range,
        SYS_fstat,
        SYS_newfstatat,
        SYS_statx,
        SYS_statfs,
        SYS_fstatfs,
        SYS_lseek,
        SYS_getdents64,
        SYS_getcwd,
        SYS_chdir,
        SYS_fchdir,
        SYS_renameat,
        SYS_renameat2,
        SYS_mkdirat,
        SYS_unlinkat,
        SYS_symlinkat,
        SYS_linkat,
        SYS_readlinkat,
        SYS_faccessat,
        SYS_faccessat2,
        SYS_fchown,
        SYS_fchownat,
        SYS_fsync,
        SYS_fdatasync,
        SYS_ftruncate,
        SYS_truncate,
        SYS_fallocate,
        SYS_fadvise64,
        SYS_flock,
        SYS_fcntl,
        SYS_dup,
        SYS_dup3,
        SYS_pipe2,
        SYS_utimensat,
        SYS_umask,
        SYS_copy_file_range,
        SYS_sendfile,
        SYS_splice,
        SYS_tee,
        SYS_sync_file_range,
        SYS_getxattr,
        SYS_lgetxattr,
        SYS_fgetxattr,
        SYS_listxattr,
        SYS_llistxattr,
        SYS_flistxattr,
        SYS_readahead,
        SYS_memfd_create,
        // memory
        SYS_mmap,
        SYS_mprotect,
        SYS_munmap,
        SYS_mremap,
        SYS_msync,
        SYS_mincore,
        SYS_madvise,
        SYS_brk,
        SYS_membarrier,
        // signals
        SYS_rt_sigaction,
        SYS_rt_sigprocmask,
        SYS_rt_sigreturn,
        SYS_rt_sigpending,
        SYS_rt_sigtimedwait,
        SYS_rt_sigsuspend,
        SYS_sigaltstack,
        SYS_kill,
        SYS_tkill,
        SYS_tgkill,
        SYS_restart_syscall,
        // processes
        SYS_execve,
        SYS_execveat,
        SYS_exit,
        SYS_exit_group,
        SYS_wait4,
        SYS_waitid,
        SYS_getpid,
        SYS_getppid,
        SYS_gettid,
        SYS_getuid,
        SYS_geteuid,
        SYS_getgid,
        SYS_getegid,
        SYS_getresuid,
        SYS_getresgid,
        SYS_getgroups,
        SYS_setpgid,
        SYS_getpgid,
        SYS_getsid,
        SYS_setsid,
        SYS_set_tid_address,
        SYS_set_robust_list,
        SYS_get_robust_list,
        SYS_futex,
        SYS_rseq,
        SYS_capget,
        SYS_prlimit64,
        SYS_getrusage,
        SYS_getpriority,
        SYS_sched_yield,
        SYS_sched_getaffinity,
        SYS_sched_getparam,
        SYS_sched_getscheduler,
        SYS_sched_get_priority_max,
        SYS_sched_get_priority_min,
        SYS_sched_getattr,
        SYS_uname,
        SYS_sysinfo,
        SYS_times,
        SYS_getrandom,
        SYS_pidfd_open,
        // time
        SYS_clock_gettime,
        SYS_clock_getres,
        SYS_clock_nanosleep,
        SYS_nanosleep,
        SYS_gettimeofday,
        SYS_getitimer,
        SYS_setitimer,
        SYS_timer_create,
        SYS_timer_settime,
        SYS_timer_gettime,
        SYS_timer_delete,
        SYS_timer_getoverrun,
        SYS_timerfd_create,
        SYS_timerfd_settime,
        SYS_timerfd_gettime,
        // waiting
        SYS_ppoll,
        SYS_pselect6,
        SYS_epoll_create1,
        SYS_epoll_ctl,
        SYS_epoll_pwait,
        SYS_epoll_pwait2,
        SYS_eventfd2,
        SYS_signalfd4,
        // unix sockets (creation is filtered below)
        SYS_connect,
        SYS_accept,
        SYS_accept4,
        SYS_bind,
        SYS_listen,
        SYS_sendto,
        SYS_recvfrom,
        SYS_sendmsg,
        SYS_recvmsg,
        SYS_sendmmsg,
        SYS_recvmmsg,
        SYS_shutdown,
        SYS_getsockname,
        SYS_getpeername,
        SYS_setsockopt,
        SYS_getsockopt,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([
        SYS_open,
        SYS_stat,
        SYS_lstat,
        SYS_access,
        SYS_pipe,
        SYS_dup2,
        SYS_rename,
        SYS_mkdir,
        SYS_rmdir,
        SYS_creat,
        SYS_link,
        SYS_unlink,
        SYS_symlink,
        SYS_readlink,
        SYS_chown,
        SYS_lchown,
        SYS_getdents,
        SYS_utime,
        SYS_utimes,
        SYS_futimesat,
        SYS_poll,
        SYS_select,
        SYS_epoll_create,
        SYS_epoll_wait,
        SYS_fork,
        SYS_vfork,
        SYS_alarm,
        SYS_pause,
        SYS_time,
        SYS_eventfd,
        SYS_signalfd,
        SYS_getpgrp,
        SYS_arch_prctl,
        SYS_getrlimit,
    ]);
    v
}

fn err(e: impl std::fmt::Display) -> CellError {
    CellError::Setup {
        stage: "seccomp filter".into(),
        message: e.to_string(),
    }
}

fn sc(nr: i64) -> Result<ScmpSyscall, CellError> {
    i32::try_from(nr).map(ScmpSyscall::from).map_err(err)
}

/// A condition on one syscall argument.
#[derive(Debug, Clone, Copy)]
enum Cond {
    /// The low 32 bits equal the value (ints and ioctl requests are 32-bit
    /// to the kernel, whatever the caller puts in the high half).
    Low32Eq(u32, u64),
    /// None of the masked bits is set.
    MaskedZero(u32, u64),
}

/// What a matching call gets.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    Allow,
    Enosys,
}

/// One rule of the filter, as plain data so it can also key the cache.
#[derive(Debug, Clone, Copy)]
struct Rule {
    nr: i64,
    verdict: Verdict,
    cond: Option<Cond>,
}

/// The rules; `inet` also allows `socket(AF_INET, …)` for a cell with the LLM loopback
/// (its network namespace holds only the loopback, and Landlock allows TCP connect to one
/// port).
fn rules(inet: bool) -> Result<Vec<Rule>, CellError> {
    let allow = |nr, cond| Rule {
        nr,
        verdict: Verdict::Allow,
        cond,
    };
    let mut v: Vec<Rule> = plain_allowed()
        .into_iter()
        .map(|nr| allow(nr, None))
        .collect();
    let af_unix = u64::try_from(libc::AF_UNIX).map_err(err)?;
    for nr in [libc::SYS_socket, libc::SYS_socketpair] {
        v.push(allow(nr, Some(Cond::Low32Eq(0, af_unix))));
    }
    if inet {
        let af_inet = u64::try_from(libc::AF_INET).map_err(err)?;
        v.push(allow(libc::SYS_socket, Some(Cond::Low32Eq(0, af_inet))));
    }
    v.push(allow(
        libc::SYS_clone,
        Some(Cond::MaskedZero(0, CLONE_NAMESPACE_FLAGS)),
    ));
    for req in ALLOWED_IOCTLS {
        v.push(allow(libc::SYS_ioctl, Some(Cond::Low32Eq(1, req))));
    }
    for opt in ALLOWED_PRCTLS {
        v.push(allow(libc::SYS_prctl, Some(Cond::Low32Eq(0, opt))));
    }
    v.push(allow(libc::SYS_fchmod, Some(Cond::MaskedZero(1, 0o6000))));
    v.push(allow(libc::SYS_fchmodat, Some(Cond::MaskedZero(2, 0o6000))));
    #[cfg(target_arch = "x86_64")]
    v.push(allow(libc::SYS_chmod, Some(Cond::MaskedZero(1, 0o6000))));
    v.push(Rule {
        nr: libc::SYS_clone3,
        verdict: Verdict::Enosys,
        cond: None,
    });
    Ok(v)
}

/// Compiles the cell's filter with libseccomp, bypassing the cache.
#[cfg(test)]
pub(crate) fn build() -> Result<CellFilter, CellError> {
    compile(&rules(false)?)
}

fn compile(rules: &[Rule]) -> Result<CellFilter, CellError> {
    let mut f = ScmpFilterContext::new(ScmpAction::Errno(libc::EPERM)).map_err(err)?;
    f.set_act_badarch(ScmpAction::KillProcess).map_err(err)?;
    // We set no_new_privs ourselves, before Landlock.
    f.set_ctl_nnp(false).map_err(err)?;
    f.set_ctl_optimize(2).map_err(err)?;
    for r in rules {
        let action = match r.verdict {
            Verdict::Allow => ScmpAction::Allow,
            Verdict::Enosys => ScmpAction::Errno(libc::ENOSYS),
        };
        match r.cond {
            None => f.add_rule(action, sc(r.nr)?),
            Some(Cond::Low32Eq(arg, value)) => f.add_rule_conditional(
                action,
                sc(r.nr)?,
                &[ScmpArgCompare::new(
                    arg,
                    ScmpCompareOp::MaskedEqual(0xffff_ffff),
                    value & 0xffff_ffff,
                )],
            ),
            Some(Cond::MaskedZero(arg, mask)) => f.add_rule_conditional(
                action,
                sc(r.nr)?,
                &[ScmpArgCompare::new(
                    arg,
                    ScmpCompareOp::MaskedEqual(mask),
                    0,
                )],
            ),
        }
        .map_err(err)?;
    }
    Ok(CellFilter {
        program: export(&f)?,
    })
}

/// The compiled program, from `<cache_dir>/seccomp-<key>.bpf` when present.
///
/// libseccomp takes about a millisecond to build the tree, so the result is
/// cached, keyed by a hash of the rules, the libseccomp version, the
/// architecture and silo's version: a changed list never reuses an old
/// program. The cache lives in the run directory, writable only by the user
/// silo runs as (who could weaken their own cells anyway); a cache file that
/// does not decode is rebuilt.
pub(crate) fn load_or_build(cache_dir: &Path, inet: bool) -> Result<CellFilter, CellError> {
    let rules = rules(inet)?;
    let path = cache_dir.join(format!("seccomp-{:016x}.bpf", cache_key(&rules)));
    if let Some(program) = std::fs::read(&path).ok().and_then(|b| decode(&b)) {
        return Ok(CellFilter { program });
    }
    let f = compile(&rules)?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut bytes = Vec::with_capacity(f.program.len() * 8);
    for i in &f.program {
        bytes.extend_from_slice(&i.code.to_ne_bytes());
        bytes.extend_from_slice(&[i.jt, i.jf]);
        bytes.extend_from_slice(&i.k.to_ne_bytes());
    }
    // A cache we cannot write is only slower, never wrong.
    if std::fs::write(&tmp, &bytes).is_ok() && std::fs::rename(&tmp, &path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(f)
}

fn cache_key(rules: &[Rule]) -> u64 {
    let v = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let text = format!(
        "{rules:?}|{v}|{}|{}",
        std::env::consts::ARCH,
        env!("CARGO_PKG_VERSION")
    );
    // FNV-1a: a stable, dependency-free hash is all a cache key needs.
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn decode(bytes: &[u8]) -> Option<Vec<libc::sock_filter>> {
    let size = std::mem::size_of::<libc::sock_filter>();
    if bytes.is_empty()
        || !bytes.len().is_multiple_of(size)
        || bytes.len() / size > usize::from(u16::MAX)
    {
        return None;
    }
    Some(
        bytes
            .chunks_exact(size)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

/// libseccomp 2.5 can export only to a file descriptor: use a pipe (the
/// program is a few KiB, far below a pipe's buffer).
fn export(f: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, CellError> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(err)?;
    f.export_bpf(&w).map_err(err)?;
    drop(w);
    let mut bytes = Vec::new();
    std::fs::File::from(r)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    decode(&bytes).ok_or_else(|| err(format!("exported program has {} bytes", bytes.len())))
}

/// Attaches the filter to the calling thread. no_new_privs must be set.
pub(crate) fn install(f: &CellFilter) -> Result<(), CellError> {
    crate::sys::seccomp_attach(&f.program).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_program_is_the_built_program_and_junk_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = build().unwrap().program;
        let first = load_or_build(dir.path(), false).unwrap().program;
        let cached = load_or_build(dir.path(), false).unwrap().program;
        let as_tuple = |p: &[libc::sock_filter]| {
            p.iter()
                .map(|i| (i.code, i.jt, i.jf, i.k))
                .collect::<Vec<_>>()
        };
        assert_eq!(as_tuple(&fresh), as_tuple(&first));
        assert_eq!(as_tuple(&fresh), as_tuple(&cached));
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(&file, b"junk").unwrap();
        assert_eq!(
            as_tuple(&load_or_build(dir.path(), false).unwrap().program),
            as_tuple(&fresh)
        );
    }

    #[test]
    fn the_loopback_filter_is_another_program_in_another_cache_file() {
        let dir = tempfile::tempdir().unwrap();
        let plain = load_or_build(dir.path(), false).unwrap().program;
        let inet = load_or_build(dir.path(), true).unwrap().program;
        assert_ne!(plain.len(), 0);
        assert!(inet.len() > plain.len(), "AF_INET adds a comparison");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn filter_compiles_to_a_compact_tree() {
        let f = build().unwrap();
        // A binary tree over ~200 syscalls: far shorter than a linear list.
        assert!(
            f.program.len() > 50 && f.program.len() < 1000,
            "{}",
            f.program.len()
        );
    }

    #[test]
    fn dangerous_syscalls_are_not_on_the_list() {
        let allowed = plain_allowed();
        for nr in [
            libc::SYS_ptrace,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_pivot_root,
            libc::SYS_chroot,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_request_key,
            libc::SYS_bpf,
            libc::SYS_perf_event_open,
            libc::SYS_io_uring_setup,
            libc::SYS_io_uring_enter,
            libc::SYS_io_uring_register,
            libc::SYS_userfaultfd,
            libc::SYS_kexec_load,
            libc::SYS_kexec_file_load,
            libc::SYS_init_module,
            libc::SYS_finit_module,
            libc::SYS_delete_module,
            libc::SYS_mknod,
            libc::SYS_mknodat,
            libc::SYS_setuid,
            libc::SYS_setresuid,
            libc::SYS_personality,
            libc::SYS_open_by_handle_at,
            libc::SYS_pidfd_getfd,
            libc::SYS_socket,
            libc::SYS_clone,
            libc::SYS_clone3,
            libc::SYS_ioctl,
            libc::SYS_seccomp,
        ] {
            assert!(
                !allowed.contains(&nr),
                "syscall {nr} must not be allowed unconditionally"
            );
        }
    }
}
