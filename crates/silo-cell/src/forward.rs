//! The in-cell LLM loopback: for agents that can only speak HTTP over TCP (the official
//! `openai` Python package cannot use a Unix socket), the init brings the cell's own
//! loopback up and a small forwarder process listens on `127.0.0.1:<port>` and pipes each
//! connection, byte for byte, to the membrane socket. It adds no authority: every request
//! still carries the cell's keys (in `Authorization`) and meets the membrane's checks. The
//! cell's network namespace holds nothing but this loopback, so a TCP socket reaches only
//! the forwarder.
//!
//! The forwarder is forked by the init before the agent, runs as the agent's uid with no
//! capabilities and no_new_privs, and sits outside the agent's Landlock domain, so the
//! agent (whose Landlock scope forbids signalling processes outside its domain, and whose
//! seccomp filter forbids ptrace) cannot stop or hijack it. It dies with the cell.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use nix::unistd::{Gid, Uid};

use crate::identity::CELL_AGENT_ID;
use crate::CELL_SOCKET_PATH;

/// Most connections piped at once (each costs two threads against the pids limit).
const MAX_CONNECTIONS: usize = 8;

/// Binds the listener (in the init, before the agent exists, so the agent's first connect
/// cannot race it).
pub(crate) fn listen(port: u16) -> std::io::Result<TcpListener> {
    crate::sys::loopback_up().map_err(std::io::Error::from)?;
    TcpListener::bind(("127.0.0.1", port))
}

/// The forwarder process's body; never returns.
pub(crate) fn serve(listener: TcpListener) -> ! {
    if drop_privileges().is_err() {
        std::process::exit(1);
    }
    let open = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let Ok(tcp) = conn else { continue };
        if open.load(Ordering::Acquire) >= MAX_CONNECTIONS {
            let _ = tcp.shutdown(Shutdown::Both);
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let counter = open.clone();
        let spawned = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                pipe(tcp);
                counter.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::AcqRel);
        }
    }
    std::process::exit(0)
}

fn drop_privileges() -> nix::Result<()> {
    let id = CELL_AGENT_ID;
    nix::unistd::setgroups(&[])?;
    nix::unistd::setresgid(Gid::from_raw(id), Gid::from_raw(id), Gid::from_raw(id))?;
    // From uid 0 to another uid without keep-caps: every capability set is cleared.
    nix::unistd::setresuid(Uid::from_raw(id), Uid::from_raw(id), Uid::from_raw(id))?;
    nix::sys::prctl::set_no_new_privs()?;
    Ok(())
}

/// Copies both directions until either side closes.
fn pipe(tcp: TcpStream) {
    let Ok(unix) = UnixStream::connect(CELL_SOCKET_PATH) else {
        return;
    };
    let (Ok(tcp_back), Ok(unix_back)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let up = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || copy(tcp, unix));
    copy(unix_back, tcp_back);
    if let Ok(up) = up {
        let _ = up.join();
    }
}

trait HalfClose {
    fn close_write(&self);
    fn close_all(&self);
}

impl HalfClose for TcpStream {
    fn close_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
    fn close_all(&self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

impl HalfClose for UnixStream {
    fn close_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
    fn close_all(&self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

fn copy<R: Read + HalfClose, W: Write + HalfClose>(mut from: R, mut to: W) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                to.close_write();
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    from.close_all();
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => {
                to.close_all();
                return;
            }
        }
    }
}
