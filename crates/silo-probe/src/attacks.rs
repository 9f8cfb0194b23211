//! One function per attack. Each returns Escaped only when the attack
//! demonstrably worked.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::{cstr, last_err, last_errno, raw, read_all, Verdict};
use Verdict::{Blocked, Escaped};

type R = Result<Verdict, String>;

fn arg<'a>(rest: &'a [String], i: usize, what: &str) -> Result<&'a str, String> {
    rest.get(i)
        .map(String::as_str)
        .ok_or_else(|| format!("missing argument: {what}"))
}

/// Dispatches `cmd`.
pub fn run(cmd: &str, rest: &[String]) -> R {
    match cmd {
        "read-file" => read_file(arg(rest, 0, "PATH")?),
        "proc-scan" => proc_scan(&unhex(arg(rest, 0, "NEEDLE_HEX")?)?),
        "write-file" => write_file(arg(rest, 0, "PATH")?),
        "link-out" => link_out(arg(rest, 0, "DIR")?),
        "mknod" => mknod(arg(rest, 0, "PATH")?),
        "setuid-file" => setuid_file(arg(rest, 0, "PATH")?),
        "tcp" => tcp(arg(rest, 0, "ADDR")?),
        "udp" => udp(arg(rest, 0, "ADDR")?),
        "raw-sockets" => raw_sockets(),
        "abstract" => abstract_unix(arg(rest, 0, "NAME")?),
        "dns" => dns(),
        "ptrace" => ptrace(),
        "mount" => mount(),
        "unshare" => unshare(),
        "setns" => setns(),
        "chroot" => chroot(),
        "int80" => int80(),
        "x32" => x32(),
        "io-uring" => io_uring(),
        "tiocsti" => tiocsti(),
        "keyctl" => keyctl(),
        "bpf" => bpf(),
        "module" => module(),
        "fork-bomb" => fork_bomb(),
        "mem-bomb" => mem_bomb(),
        "cpu-spin" => cpu_spin(),
        "fill-disk" => fill_disk(arg(rest, 0, "DIR")?),
        "persist-write" => persist_write(arg(rest, 0, "PATH")?),
        "persist-check" => persist_check(arg(rest, 0, "PATH")?),
        "caps" => caps(),
        other => Err(format!("unknown attack `{other}`")),
    }
}

/// The needle comes hex-encoded so that it does not appear in the cell's
/// own command lines (the probe's and the cell init's).
fn unhex(s: &str) -> Result<String, String> {
    let bytes = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| format!("bad hex `{s}`"))?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

fn read_file(path: &str) -> R {
    Ok(match read_all(path) {
        Ok(s) => Escaped(format!("read {} bytes of {path}", s.len())),
        Err(e) => Blocked(format!("{path}: {e}")),
    })
}

/// Looks for a host process whose command line contains `needle`.
fn proc_scan(needle: &str) -> R {
    let entries = std::fs::read_dir("/proc").map_err(|e| format!("/proc: {e}"))?;
    let me = std::process::id().to_string();
    let mut seen = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
            continue;
        }
        seen += 1;
        if let Ok(cmd) = std::fs::read(format!("/proc/{name}/cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(needle) {
                return Ok(Escaped(format!("saw pid {name} running `{needle}`")));
            }
        }
    }
    Ok(Blocked(format!(
        "{seen} other processes visible, none is `{needle}`"
    )))
}

fn write_file(path: &str) -> R {
    Ok(match std::fs::write(path, b"silo-probe was here") {
        Ok(()) => Escaped(format!("wrote {path}")),
        Err(e) => Blocked(format!("{path}: {e}")),
    })
}

/// Symlink and hard-link tricks from the tmpfs to `dir`.
fn link_out(dir: &str) -> R {
    let tmp = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
    let sl = format!("{tmp}/probe-symlink-{}", std::process::id());
    let mut notes = Vec::new();
    match std::os::unix::fs::symlink(dir, &sl) {
        Ok(()) => {
            let through = format!("{sl}/probe-escape-{}", std::process::id());
            match std::fs::write(&through, b"x") {
                Ok(()) => return Ok(Escaped(format!("wrote {through} via a symlink to {dir}"))),
                Err(e) => notes.push(format!("write via symlink: {e}")),
            }
        }
        Err(e) => notes.push(format!("symlink: {e}")),
    }
    // Hard-link something of the read-only world into the writable tmpfs,
    // then write through the link.
    for victim in ["/usr/bin/env", "/etc/passwd"] {
        let hl = format!("{tmp}/probe-hardlink-{}", std::process::id());
        match std::fs::hard_link(victim, &hl) {
            Ok(()) => {
                let w = std::fs::OpenOptions::new().append(true).open(&hl);
                let _ = std::fs::remove_file(&hl);
                if w.is_ok() {
                    return Ok(Escaped(format!("hard link to {victim} is writable")));
                }
                notes.push(format!("hard link to {victim} made but read-only"));
            }
            Err(e) => notes.push(format!("hard link {victim}: {e}")),
        }
    }
    Ok(Blocked(notes.join("; ")))
}

fn mknod(path: &str) -> R {
    let p = cstr(path);
    let dev = libc::makedev(1, 3);
    let r = raw(
        libc::SYS_mknodat,
        [
            libc::AT_FDCWD as _,
            p.as_ptr() as _,
            (libc::S_IFCHR | 0o666) as _,
            dev as _,
            0,
            0,
        ],
    );
    Ok(if r == 0 {
        Escaped(format!("created char device 1:3 at {path}"))
    } else {
        Blocked(format!("mknod {path}: {}", last_err()))
    })
}

fn setuid_file(path: &str) -> R {
    std::fs::write(path, b"#!/bin/sh\n").map_err(|e| format!("create {path}: {e}"))?;
    let r = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o4755));
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0);
    Ok(match r {
        Ok(()) if mode & 0o4000 != 0 => Escaped(format!("{path} is setuid ({mode:o})")),
        Ok(()) => Blocked(format!("chmod returned ok but mode is {mode:o}")),
        Err(e) => Blocked(format!("chmod u+s: {e}")),
    })
}

fn tcp(addr: &str) -> R {
    let sa = addr
        .parse()
        .map_err(|e| format!("bad address {addr}: {e}"))?;
    Ok(
        match TcpStream::connect_timeout(&sa, Duration::from_secs(2)) {
            Ok(mut s) => {
                let _ = s.write_all(b"silo-probe\n");
                Escaped(format!("connected to {addr}"))
            }
            Err(e) => Blocked(format!("connect {addr}: {e}")),
        },
    )
}

fn udp(addr: &str) -> R {
    let sock = match UdpSocket::bind("0.0.0.0:0") {
        Ok(s) => s,
        Err(e) => return Ok(Blocked(format!("udp socket: {e}"))),
    };
    Ok(match sock.send_to(b"silo-probe", addr) {
        Ok(_) => Escaped(format!("sent a datagram to {addr}")),
        Err(e) => Blocked(format!("send to {addr}: {e}")),
    })
}

fn raw_sockets() -> R {
    let tries = [
        (
            "inet raw icmp",
            libc::AF_INET,
            libc::SOCK_RAW,
            libc::IPPROTO_ICMP,
        ),
        ("packet", libc::AF_PACKET, libc::SOCK_RAW, 0x0300), // htons(ETH_P_ALL)
        (
            "netlink route",
            libc::AF_NETLINK,
            libc::SOCK_RAW,
            libc::NETLINK_ROUTE,
        ),
        ("inet6 dgram", libc::AF_INET6, libc::SOCK_DGRAM, 0),
        ("vsock", libc::AF_VSOCK, libc::SOCK_STREAM, 0),
    ];
    let mut notes = Vec::new();
    for (name, dom, ty, proto) in tries {
        let fd = raw(libc::SYS_socket, [dom as _, ty as _, proto as _, 0, 0, 0]);
        if fd >= 0 {
            return Ok(Escaped(format!("opened a {name} socket")));
        }
        notes.push(format!("{name}: {}", last_err()));
    }
    Ok(Blocked(notes.join("; ")))
}

fn abstract_unix(name: &str) -> R {
    let fd = raw(
        libc::SYS_socket,
        [libc::AF_UNIX as _, libc::SOCK_STREAM as _, 0, 0, 0, 0],
    );
    if fd < 0 {
        return Ok(Blocked(format!("unix socket: {}", last_err())));
    }
    // SAFETY-free construction: sockaddr_un is plain old data.
    let mut sa = libc::sockaddr_un {
        sun_family: libc::AF_UNIX as libc::sa_family_t,
        sun_path: [0; 108],
    };
    for (i, b) in name.bytes().take(100).enumerate() {
        sa.sun_path[i + 1] = b as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + 1 + name.len().min(100);
    let r = raw(
        libc::SYS_connect,
        [fd, &sa as *const _ as _, len as _, 0, 0, 0],
    );
    Ok(if r == 0 {
        Escaped(format!("connected to abstract socket @{name}"))
    } else {
        Blocked(format!("connect @{name}: {}", last_err()))
    })
}

fn dns() -> R {
    let ns = read_all("/etc/resolv.conf")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("nameserver").map(|a| a.trim().to_string()))
        })
        .unwrap_or_else(|| "127.0.0.1".into());
    let addr = if ns.contains(':') {
        format!("[{ns}]:53")
    } else {
        format!("{ns}:53")
    };
    // A minimal query for example.com A.
    let q: &[u8] =
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";
    let sock = match UdpSocket::bind("0.0.0.0:0") {
        Ok(s) => s,
        Err(e) => return Ok(Blocked(format!("udp socket: {e}"))),
    };
    Ok(match sock.send_to(q, &addr) {
        Ok(_) => Escaped(format!("sent a DNS query to {addr}")),
        Err(e) => Blocked(format!("DNS query to {addr}: {e}")),
    })
}

fn ptrace() -> R {
    // A sibling: fork a child that sleeps, then try to attach to it, and to
    // our parent (the cell's init when inside a cell).
    // SAFETY: the probe is single-threaded; the child only sleeps and exits.
    let child = unsafe { libc::fork() };
    if child == 0 {
        std::thread::sleep(Duration::from_secs(5));
        std::process::exit(0);
    }
    let mut notes = Vec::new();
    // SAFETY: getppid has no arguments.
    let parent = unsafe { libc::getppid() };
    for (who, pid) in [("sibling", child), ("parent", parent)] {
        let r = raw(
            libc::SYS_ptrace,
            [libc::PTRACE_SEIZE as _, pid as _, 0, 0, 0, 0],
        );
        if r == 0 {
            kill_child(child);
            return Ok(Escaped(format!("attached to {who} pid {pid}")));
        }
        notes.push(format!("{who}: {}", last_err()));
    }
    let mut buf = [0u8; 8];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: 0x400000 as *mut libc::c_void,
        iov_len: 8,
    };
    let r = raw(
        libc::SYS_process_vm_readv,
        [
            child as _,
            &local as *const _ as _,
            1,
            &remote as *const _ as _,
            1,
            0,
        ],
    );
    let e = last_errno();
    kill_child(child);
    if r >= 0 || e == libc::EFAULT {
        return Ok(Escaped(
            "process_vm_readv reached the sibling's memory".into(),
        ));
    }
    notes.push(format!(
        "process_vm_readv: {}",
        std::io::Error::from_raw_os_error(e)
    ));
    Ok(Blocked(notes.join("; ")))
}

fn kill_child(pid: libc::pid_t) {
    raw(libc::SYS_kill, [pid as _, libc::SIGKILL as _, 0, 0, 0, 0]);
    raw(libc::SYS_wait4, [pid as _, 0, 0, 0, 0, 0]);
}

fn mount() -> R {
    let target = format!(
        "{}/probe-mnt",
        std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into())
    );
    let _ = std::fs::create_dir_all(&target);
    let (src, t, fs) = (cstr("none"), cstr(&target), cstr("tmpfs"));
    let r = raw(
        libc::SYS_mount,
        [
            src.as_ptr() as _,
            t.as_ptr() as _,
            fs.as_ptr() as _,
            0,
            0,
            0,
        ],
    );
    if r == 0 {
        let _ = raw(libc::SYS_umount2, [t.as_ptr() as _, 0, 0, 0, 0, 0]);
        return Ok(Escaped(format!("mounted a tmpfs on {target}")));
    }
    let note = last_err();
    let root = cstr("/");
    let r = raw(
        libc::SYS_umount2,
        [root.as_ptr() as _, libc::MNT_DETACH as _, 0, 0, 0, 0],
    );
    Ok(if r == 0 {
        Escaped("detached /".into())
    } else {
        Blocked(format!("mount: {note}; umount /: {}", last_err()))
    })
}

fn unshare() -> R {
    let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWNET;
    let r = raw(libc::SYS_unshare, [flags as _, 0, 0, 0, 0, 0]);
    if r == 0 {
        return Ok(Escaped("unshared user+mount+net namespaces".into()));
    }
    let note = last_err();
    // Namespace flags smuggled through clone.
    let r = raw(
        libc::SYS_clone,
        [(libc::CLONE_NEWUSER | libc::SIGCHLD) as _, 0, 0, 0, 0, 0],
    );
    if r == 0 {
        std::process::exit(0);
    }
    if r > 0 {
        raw(libc::SYS_wait4, [r, 0, 0, 0, 0, 0]);
        return Ok(Escaped("clone(CLONE_NEWUSER) worked".into()));
    }
    Ok(Blocked(format!(
        "unshare: {note}; clone(CLONE_NEWUSER): {}",
        last_err()
    )))
}

fn setns() -> R {
    let mut notes = Vec::new();
    let targets = [
        "self/ns/net",
        "self/ns/mnt",
        "1/ns/net",
        "1/ns/mnt",
        "1/ns/pid",
        "1/ns/user",
    ];
    for ns in targets {
        let p = format!("/proc/{ns}");
        match std::fs::File::open(&p) {
            Ok(f) => {
                use std::os::fd::AsRawFd;
                let r = raw(libc::SYS_setns, [f.as_raw_fd() as _, 0, 0, 0, 0, 0]);
                if r == 0 {
                    return Ok(Escaped(format!("joined {p}")));
                }
                notes.push(format!("{ns}: {}", last_err()));
            }
            Err(e) => notes.push(format!("{p}: {e}")),
        }
    }
    Ok(Blocked(notes.join("; ")))
}

fn chroot() -> R {
    let p = cstr("/tmp");
    let r = raw(libc::SYS_chroot, [p.as_ptr() as _, 0, 0, 0, 0, 0]);
    Ok(if r == 0 {
        Escaped("chroot(/tmp) worked".into())
    } else {
        Blocked(format!("chroot: {}", last_err()))
    })
}

/// i386 `socketcall(SYS_SOCKET, [AF_INET, SOCK_STREAM, 0])` through `int 0x80`.
/// Inside a cell the architecture check kills the process before the kernel
/// runs it, so this prints only its first line.
fn int80() -> R {
    println!("ATTEMPT: int 0x80 socketcall");
    let _ = std::io::stdout().flush();
    // The i386 ABI takes 32-bit pointers: put the argument array below 4 GiB.
    // SAFETY: an anonymous private mapping that we own; failure is checked.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
            -1,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        return Err(format!("mmap: {}", last_err()));
    }
    let args = page.cast::<u32>();
    // SAFETY: `page` is a fresh writable mapping of 4096 bytes.
    unsafe {
        args.write(libc::AF_INET as u32);
        args.add(1).write(libc::SOCK_STREAM as u32);
        args.add(2).write(0);
    }
    let ret = int80_call(102, 1, page as u32);
    Ok(if ret >= 0 {
        Escaped(format!("i386 socketcall returned fd {ret}"))
    } else {
        Blocked(format!("i386 socketcall failed with {}", -ret))
    })
}

#[cfg(target_arch = "x86_64")]
fn int80_call(nr: u32, a: u32, b: u32) -> i32 {
    let ret: u32;
    // SAFETY: int 0x80 takes its arguments in registers; ebx is reserved by
    // LLVM, so it is swapped in and out around the call.
    unsafe {
        std::arch::asm!(
            "xchg rbx, {a}",
            "int 0x80",
            "xchg rbx, {a}",
            a = inout(reg) u64::from(a) => _,
            inlateout("eax") nr => ret,
            in("ecx") b,
        );
    }
    ret as i32
}

#[cfg(not(target_arch = "x86_64"))]
fn int80_call(_: u32, _: u32, _: u32) -> i32 {
    -libc::ENOSYS
}

/// An x32-ABI system call (bit 30 set): getpid.
fn x32() -> R {
    let r = raw(0x4000_0000 | libc::SYS_getpid, [0; 6]);
    Ok(if r >= 0 {
        Escaped(format!("x32 getpid returned {r}"))
    } else {
        Blocked(format!("x32 getpid: {}", last_err()))
    })
}

fn io_uring() -> R {
    let mut params = [0u8; 120];
    let r = raw(
        libc::SYS_io_uring_setup,
        [4, params.as_mut_ptr() as _, 0, 0, 0, 0],
    );
    Ok(if r >= 0 {
        Escaped(format!("io_uring_setup returned fd {r}"))
    } else {
        Blocked(format!("io_uring_setup: {}", last_err()))
    })
}

/// Pushes a character into the terminal on stdin, with a plain and a
/// high-bits-set request number.
fn tiocsti() -> R {
    let c: libc::c_char = b'#' as libc::c_char;
    let mut notes = Vec::new();
    for req in [libc::TIOCSTI, 0xffff_ffff_0000_0000 | libc::TIOCSTI] {
        let r = raw(libc::SYS_ioctl, [0, req as _, &c as *const _ as _, 0, 0, 0]);
        if r == 0 {
            return Ok(Escaped(format!("TIOCSTI (request {req:#x}) pushed input")));
        }
        notes.push(format!("{req:#x}: {}", last_err()));
    }
    let r = raw(
        libc::SYS_ioctl,
        [0, libc::TIOCLINUX as _, &c as *const _ as _, 0, 0, 0],
    );
    notes.push(format!(
        "TIOCLINUX: {}",
        if r == 0 { "ok".into() } else { last_err() }
    ));
    Ok(Blocked(notes.join("; ")))
}

fn keyctl() -> R {
    let (ty, desc, data) = (cstr("user"), cstr("silo-probe"), b"secret");
    let r = raw(
        libc::SYS_add_key,
        [
            ty.as_ptr() as _,
            desc.as_ptr() as _,
            data.as_ptr() as _,
            data.len() as _,
            -2,
            0,
        ], // KEY_SPEC_PROCESS_KEYRING
    );
    if r >= 0 {
        return Ok(Escaped(format!("add_key created key {r}")));
    }
    let note = last_err();
    let r = raw(libc::SYS_keyctl, [1, 0, 0, 0, 0, 0]); // KEYCTL_JOIN_SESSION_KEYRING
    Ok(if r >= 0 {
        Escaped("joined a new session keyring".into())
    } else {
        Blocked(format!("add_key: {note}; keyctl: {}", last_err()))
    })
}

fn bpf() -> R {
    // BPF_MAP_CREATE of a 1-entry array map.
    let mut attr = [0u32; 32];
    attr[0] = 2; // BPF_MAP_TYPE_ARRAY
    attr[1] = 4; // key size
    attr[2] = 4; // value size
    attr[3] = 1; // max entries
    let r = raw(libc::SYS_bpf, [0, attr.as_mut_ptr() as _, 128, 0, 0, 0]);
    Ok(if r >= 0 {
        Escaped(format!("bpf map created, fd {r}"))
    } else {
        Blocked(format!("bpf: {}", last_err()))
    })
}

/// Loading a module: the call must be refused for lack of permission.
/// Any other error (EFAULT, ENOEXEC…) means it reached the module loader.
fn module() -> R {
    let empty = cstr("");
    let r = raw(libc::SYS_init_module, [0, 0, empty.as_ptr() as _, 0, 0, 0]);
    let e = last_errno();
    Ok(if r == 0 || e != libc::EPERM {
        Escaped(format!(
            "init_module got past the permission check ({})",
            std::io::Error::from_raw_os_error(e)
        ))
    } else {
        let r2 = raw(
            libc::SYS_delete_module,
            [empty.as_ptr() as _, 0, 0, 0, 0, 0],
        );
        let e2 = last_errno();
        if r2 == 0 || e2 != libc::EPERM {
            Escaped("delete_module got past the permission check".into())
        } else {
            Blocked("init_module and delete_module: EPERM".into())
        }
    })
}

fn fork_bomb() -> R {
    let mut n = 0u32;
    let mut last = String::new();
    for _ in 0..5000 {
        // SAFETY: the probe is single-threaded; children only sleep.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            std::thread::sleep(Duration::from_secs(30));
            std::process::exit(0);
        }
        if pid < 0 {
            last = last_err();
            break;
        }
        n += 1;
    }
    Ok(if n >= 5000 {
        Escaped("forked 5000 processes".into())
    } else {
        Blocked(format!("stopped after {n} forks: {last}"))
    })
}

fn mem_bomb() -> R {
    let mut held: Vec<Vec<u8>> = Vec::new();
    for i in 0..512 {
        let mut v = vec![0u8; 16 << 20];
        for j in (0..v.len()).step_by(4096) {
            v[j] = 1;
        }
        held.push(v);
        if i % 8 == 0 {
            println!("allocated {} MiB", (i + 1) * 16);
        }
    }
    Ok(Escaped(format!("allocated {} MiB", held.len() * 16)))
}

fn cpu_spin() -> R {
    let mut x: u64 = 0;
    loop {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        if x == 42 {
            return Ok(Escaped("unreachable".into()));
        }
    }
}

fn fill_disk(dir: &str) -> R {
    // See the ENOSPC/EFBIG error instead of dying of SIGXFSZ.
    // SAFETY: SIG_IGN installs no code.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let path = format!("{dir}/probe-fill");
    let mut f = std::fs::File::create(&path).map_err(|e| format!("create {path}: {e}"))?;
    let chunk = vec![7u8; 1 << 20];
    let mut written: u64 = 0;
    loop {
        match f.write_all(&chunk) {
            Ok(()) => written += chunk.len() as u64,
            Err(e) => return Ok(Blocked(format!("wrote {written} bytes, then: {e}"))),
        }
        if written >= 8 << 30 {
            return Ok(Escaped(format!("wrote {written} bytes")));
        }
    }
}

fn persist_write(path: &str) -> R {
    std::fs::write(path, b"left by an earlier run").map_err(|e| format!("write {path}: {e}"))?;
    Ok(Blocked(format!(
        "wrote {path} (the next run must not see it)"
    )))
}

fn persist_check(path: &str) -> R {
    Ok(match std::fs::read(path) {
        Ok(_) => Escaped(format!("{path} survived from an earlier run")),
        Err(e) => Blocked(format!("{path}: {e}")),
    })
}

/// Capabilities, no_new_privs and seccomp, from capget and /proc.
fn caps() -> R {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    let r = raw(
        libc::SYS_capget,
        [&mut h as *mut _ as _, d.as_mut_ptr() as _, 0, 0, 0, 0],
    );
    if r != 0 {
        return Err(format!("capget: {}", last_err()));
    }
    let mut bad = Vec::new();
    if d.iter()
        .any(|x| x.effective != 0 || x.permitted != 0 || x.inheritable != 0)
    {
        bad.push("capget shows capabilities".to_string());
    }
    let status = read_all("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    for (key, want) in [
        ("CapInh:", "0000000000000000"),
        ("CapPrm:", "0000000000000000"),
        ("CapEff:", "0000000000000000"),
        ("CapBnd:", "0000000000000000"),
        ("CapAmb:", "0000000000000000"),
        ("NoNewPrivs:", "1"),
        ("Seccomp:", "2"),
    ] {
        let got = status
            .lines()
            .find_map(|l| l.strip_prefix(key).map(str::trim))
            .unwrap_or("?");
        if got != want {
            bad.push(format!("{key} {got}"));
        }
    }
    Ok(if bad.is_empty() {
        Blocked("no capabilities, NoNewPrivs 1, Seccomp 2".into())
    } else {
        Escaped(bad.join(", "))
    })
}
