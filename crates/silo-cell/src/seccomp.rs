//! The cell's seccomp filter: an allow-list, deny by default.
//!
//! Anything not listed fails with EPERM; `clone3` fails with ENOSYS so that
//! glibc falls back to `clone`, whose flags we *can* inspect (clone3 passes
//! them behind a pointer). That answer comes from a second, later filter,
//! which also refuses `seccomp` (ENOSYS) once both are in place. A syscall from any other architecture (i386 via
//! `int 0x80`) kills the process: the architecture is checked first. x32
//! numbers (bit 30 set) match no allowed number and so are denied.
//!
//! Argument filters: `socket`/`socketpair` only for AF_UNIX; `clone` only
//! without namespace flags; `ioctl` only for a handful of harmless terminal
//! and fd queries (TIOCSTI, TIOCLINUX and everything else are refused; the
//! command is compared on its low 32 bits, which is what the kernel uses);
//! `chmod` family never with setuid/setgid bits; `prctl` only for a few
//! read-mostly options.
//!
//! Built with `seccompiler` (rust-vmm), which emits the BPF and the
//! architecture check; the list itself is ours.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::CellError;

/// The two programs to install, in this order.
pub(crate) struct CellFilter {
    pub(crate) allow_list: BpfProgram,
    pub(crate) clone3_enosys: BpfProgram,
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

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, CellError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(bpf_err)
}

fn rule(conds: Vec<SeccompCondition>) -> Result<SeccompRule, CellError> {
    SeccompRule::new(conds).map_err(bpf_err)
}

fn bpf_err(e: impl std::fmt::Display) -> CellError {
    CellError::Setup {
        stage: "seccomp filter".into(),
        message: e.to_string(),
    }
}

fn arch() -> Result<TargetArch, CellError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(bpf_err)
}

/// Compiles the cell's filters (done in the supervisor, before any
/// namespace exists, so a bad list fails before the agent runs).
pub(crate) fn build() -> Result<CellFilter, CellError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for nr in plain_allowed() {
        rules.insert(nr, vec![]);
    }
    let af_unix = u64::try_from(libc::AF_UNIX).map_err(bpf_err)?;
    for nr in [libc::SYS_socket, libc::SYS_socketpair] {
        rules.insert(nr, vec![rule(vec![cond(0, SeccompCmpOp::Eq, af_unix)?])?]);
    }
    rules.insert(
        libc::SYS_clone,
        vec![rule(vec![cond(
            0,
            SeccompCmpOp::MaskedEq(CLONE_NAMESPACE_FLAGS),
            0,
        )?])?],
    );
    let ioctls = ALLOWED_IOCTLS
        .iter()
        .map(|req| rule(vec![cond(1, SeccompCmpOp::Eq, *req)?]))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_ioctl, ioctls);
    let prctls = ALLOWED_PRCTLS
        .iter()
        .map(|opt| rule(vec![cond(0, SeccompCmpOp::Eq, *opt)?]))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_prctl, prctls);
    rules.insert(libc::SYS_seccomp, vec![]);
    let no_suid = |arg: u8| -> Result<Vec<SeccompRule>, CellError> {
        Ok(vec![rule(vec![cond(
            arg,
            SeccompCmpOp::MaskedEq(0o6000),
            0,
        )?])?])
    };
    rules.insert(libc::SYS_fchmod, no_suid(1)?);
    rules.insert(libc::SYS_fchmodat, no_suid(2)?);
    #[cfg(target_arch = "x86_64")]
    rules.insert(libc::SYS_chmod, no_suid(1)?);

    let allow_list = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        arch()?,
    )
    .map_err(bpf_err)?;
    // The allow-list lets `seccomp` through only so that this second filter
    // can be installed after it; this filter then refuses `seccomp` itself.
    let clone3 = SeccompFilter::new(
        [(libc::SYS_clone3, vec![]), (libc::SYS_seccomp, vec![])]
            .into_iter()
            .collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch()?,
    )
    .map_err(bpf_err)?;
    Ok(CellFilter {
        allow_list: allow_list.try_into().map_err(bpf_err)?,
        clone3_enosys: clone3.try_into().map_err(bpf_err)?,
    })
}

/// Installs both filters on the calling thread. no_new_privs must be set.
pub(crate) fn install(f: &CellFilter) -> Result<(), CellError> {
    seccompiler::apply_filter(&f.allow_list).map_err(bpf_err)?;
    // Installed last so that, of the two ERRNO answers for clone3, its
    // ENOSYS is the one the kernel returns (newest filter wins a tie).
    seccompiler::apply_filter(&f.clone3_enosys).map_err(bpf_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_compiles() {
        let f = build().unwrap();
        assert!(f.allow_list.len() > 100);
        assert!(!f.clone3_enosys.is_empty());
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
        ] {
            assert!(
                !allowed.contains(&nr),
                "syscall {nr} must not be allowed unconditionally"
            );
        }
    }
}
