//! The few system calls that need `unsafe`: clone into new namespaces, fork
//! inside the cell, signal handlers, close_range, the loopback ioctl and the
//! supervisor's parent-death signal. Everything else goes
//! through `nix`'s safe wrappers.

use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::{ForkResult, Pid};

/// Runs `child` in a new process created with `flags` (namespaces) and
/// `SIGCHLD` as exit signal. The child gets a copy of our memory.
pub(crate) fn clone_with(
    flags: CloneFlags,
    child: Box<dyn FnMut() -> isize + '_>,
) -> Result<Pid, Errno> {
    // 1 MiB is plenty for the init's mount setup and the agent's pre-exec.
    let mut stack = vec![0u8; 1 << 20];
    // SAFETY: the supervisor checked it is single-threaded, so the child (a
    // copy of this process without CLONE_VM) may allocate and take locks; the
    // stack outlives the call because the child has its own copy of it.
    unsafe { nix::sched::clone(child, &mut stack, flags, Some(libc::SIGCHLD)) }
}

/// fork(2) inside the cell's init, which is single-threaded.
pub(crate) fn fork_in_init() -> Result<ForkResult, Errno> {
    // SAFETY: the cell's init is a single-threaded copy of the supervisor, so
    // the child may run arbitrary code before exec.
    unsafe { nix::unistd::fork() }
}

extern "C" fn note_signal(_: libc::c_int) {}

/// Installs a do-nothing handler for `sig`, so that PID 1 of a pid namespace
/// (which ignores signals left at SIG_DFL) still receives it while it is
/// blocked and waited for with sigtimedwait.
pub(crate) fn install_noop_handler(sig: Signal) -> Result<(), Errno> {
    let action = SigAction::new(
        SigHandler::Handler(note_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler is async-signal-safe (it does nothing).
    unsafe { nix::sys::signal::sigaction(sig, &action) }.map(|_| ())
}

/// Restores the default disposition of `sig` (for the agent before exec).
pub(crate) fn default_handler(sig: Signal) -> Result<(), Errno> {
    let action = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_DFL installs no code of ours.
    unsafe { nix::sys::signal::sigaction(sig, &action) }.map(|_| ())
}

/// Marks every fd from `first` up close-on-exec.
pub(crate) fn cloexec_from(first: RawFd) -> Result<(), Errno> {
    let first = u32::try_from(first).map_err(|_| Errno::EINVAL)?;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on our own
    // descriptors; it touches no memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(r).map(|_| ())
}

/// Closes every fd from `first` up except `keep`.
pub(crate) fn close_all_from(first: RawFd, keep: &[RawFd]) -> Result<(), Errno> {
    let mut keep: Vec<u32> = keep.iter().filter_map(|k| u32::try_from(*k).ok()).collect();
    keep.sort_unstable();
    let mut lo = u32::try_from(first).map_err(|_| Errno::EINVAL)?;
    for k in keep.into_iter().chain(std::iter::once(u32::MAX)) {
        if k < lo {
            continue;
        }
        if k > lo {
            let hi = if k == u32::MAX { u32::MAX } else { k - 1 };
            // SAFETY: closes only our own descriptors in [lo, hi]; no Rust
            // object owns them in the cell's init (it only uses the kept ones).
            let r = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0u32) };
            Errno::result(r)?;
        }
        lo = k.saturating_add(1);
    }
    Ok(())
}

/// sigtimedwait(2): the next signal of `set`, or `None` when `timeout` passes.
pub(crate) fn sigtimedwait(
    set: &SigSet,
    timeout: std::time::Duration,
) -> Result<Option<i32>, Errno> {
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    let raw: &libc::sigset_t = set.as_ref();
    // SAFETY: both pointers refer to live, initialised values for the whole
    // call; a null siginfo pointer is allowed.
    let r = unsafe { libc::sigtimedwait(raw, std::ptr::null_mut(), &ts) };
    match Errno::result(r) {
        Ok(sig) => Ok(Some(sig)),
        Err(Errno::EAGAIN) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Attaches a classic BPF seccomp program to the calling thread.
pub(crate) fn seccomp_attach(program: &[libc::sock_filter]) -> Result<(), Errno> {
    let prog = libc::sock_fprog {
        len: u16::try_from(program.len()).map_err(|_| Errno::E2BIG)?,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `program`, which outlives the call; the kernel
    // copies the program and does not keep the pointer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0u32,
            &prog as *const libc::sock_fprog,
        )
    };
    Errno::result(r).map(|_| ())
}

/// Brings the cell's loopback interface up (the init holds CAP_NET_ADMIN over the cell's
/// own network namespace; the host's interfaces are not in it).
pub(crate) fn loopback_up() -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: `ifreq` is a plain C struct for which all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the interface named in `req` and writes its flags into
    // `req`, which lives for the whole call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: after SIOCGIFFLAGS the union holds the flags; we only set the IFF_UP bit.
    unsafe {
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS reads `req` (name and flags) for the duration of the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}
