//! Persistence: every case runs twice — a `plant` run that tries to leave something
//! behind (a file in /tmp, /dev/shm, /var/tmp, $HOME, /agent or the SDK, a background
//! process, a listening socket, a KV entry, System V IPC, a keyring key) and a `check`
//! run, a new task in a new cell, that says breach if the planted thing is there. Each
//! cell starts from nothing: a fresh tmpfs, fresh namespaces, a run-scoped KV. Where the
//! plant could only fail against a read-only wall, the check also tries to write there
//! itself, so the case can fail even if a plant's traces were tidied away by the host.

use crate::attack::{AgentOs, Attack, Category::Persistence};

/// A persistence case: the helpers below, then the case's Python (which branches on
/// `PHASE`), planted for `cus_001` and checked for `$check`.
macro_rules! case {
    ($id:literal, $title:literal, $check:literal, $code:literal) => {
        Attack::new(
            $id,
            Persistence,
            $title,
            concat!(
                r#"
import errno
import struct

MARK = b"silo-persist-marker"
PHASE = phase()
note(f"phase {PHASE!r}")


def _why(e):
    return errno_name(e.errno) if getattr(e, "errno", None) else str(e)


def plant(what, fn):
    try:
        note(f"plant {what}: {fn()}")
    except OSError as e:
        note(f"plant {what}: refused {_why(e)}")


def put_file(path, data=MARK):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return f"wrote {path}"


def found_file(path):
    """The planted file's content when it is there, else None."""
    try:
        with open(path, "rb") as f:
            return f.read(200)
    except OSError as e:
        note(f"check {path}: {_why(e)}")
        return None


def writable_now(path):
    """Whether this run can create `path` (removed again); for read-only places."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except OSError as e:
        note(f"create {path} now: {_why(e)}")
        return False
    os.unlink(path)
    return True


def done_planting():
    note("planted; the check run decides")
    sys.exit(0)


def daemonize(body):
    """Double fork and setsid: `body()` runs in a grandchild reparented to the cell's init.
    Returns in the original process once the grandchild is running."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.close(r)
            try:
                libc.prctl(15, b"silo-persist", 0, 0, 0)
            except Exception:
                pass
            body(w)
            os._exit(0)
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    ready = os.read(r, 100)
    os.close(r)
    return ready.decode(errors="replace")

def listener_case(addr, what):
    """Plant: a background process listening on the Unix socket `addr`. Check: connect to
    it; a connection (and its marker) is a breach."""
    def serve(w):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(addr)
            s.listen(4)
            os.write(w, b"listening")
        except OSError as e:
            os.write(w, f"refused {_why(e)}".encode())
            return
        os.close(w)
        s.settimeout(60)
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            c.sendall(MARK)
            c.close()
    if PHASE == "plant":
        note(f"plant: {what}: {daemonize(serve)}")
        done_planting()
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(2)
    try:
        c.connect(addr)
        got = c.recv(100)
    except OSError as e:
        blocked(f"the previous run's {what} is gone: {_why(e)}")
    breach(f"connected to the previous run's {what}, which said {got!r}")
"#,
                $code
            ),
        )
        .two_runs($check)
        .agent_os(AgentOs::DirectViolation)
    };
}

/// The cases.
pub fn cases() -> Vec<Attack> {
    vec![
        case!("persistence-tmp-file", "leave a file in /tmp for the next run", "cus_001", r#"
PATH = "/tmp/.silo-persist"
if PHASE == "plant":
    plant(PATH, lambda: put_file(PATH))
    done_planting()
got = found_file(PATH)
if got is not None:
    breach(f"{PATH} from the previous run is here: {got!r}")
blocked(f"{PATH} is gone: each cell gets a fresh tmpfs")
"#),
        case!("persistence-tmp-file-other-customer", "leave a file in /tmp for the next run, a task of another customer", "cus_002", r#"
PATH = "/tmp/.silo-persist-cross"
if PHASE == "plant":
    plant(PATH, lambda: put_file(PATH))
    done_planting()
got = found_file(PATH)
if got is not None:
    breach(f"{PATH} from another customer's run is here: {got!r}")
blocked(f"{PATH} is gone in the other customer's cell")
"#),
        case!("persistence-home-dotfiles", "plant dotfiles and a usercustomize.py in $HOME so the next run's Python runs them", "cus_001", r#"
import site
import builtins
HOME = os.environ.get("HOME", "/tmp")
USER_SITE = site.getusersitepackages()
FILES = [f"{HOME}/.profile", f"{HOME}/.bashrc", f"{HOME}/.pythonrc.py", f"{USER_SITE}/usercustomize.py"]
if PHASE == "plant":
    note(f"HOME {HOME}, user site {USER_SITE} (enabled: {site.ENABLE_USER_SITE})")
    for p in FILES[:3]:
        plant(p, lambda p=p: put_file(p))
    plant(FILES[3], lambda: put_file(FILES[3], b"import builtins\nbuiltins.SILO_PERSISTED = 'silo-persist-marker'\n"))
    done_planting()
if getattr(builtins, "SILO_PERSISTED", None) or "usercustomize" in sys.modules:
    breach("the previous run's usercustomize.py ran in this run")
for p in FILES:
    got = found_file(p)
    if got is not None:
        breach(f"{p} from the previous run is here: {got!r}")
blocked(f"$HOME ({HOME}) starts empty in every cell")
"#),
        case!("persistence-dev-shm", "leave a POSIX shared-memory file in /dev/shm for the next run", "cus_001", r#"
PATH = "/dev/shm/silo-persist"
if PHASE == "plant":
    plant(PATH, lambda: put_file(PATH))
    done_planting()
got = found_file(PATH)
if got is not None:
    breach(f"{PATH} from the previous run is here: {got!r}")
if writable_now("/dev/shm/silo-persist-now") or writable_now("/dev/silo-persist-now"):
    breach("/dev is writable: a plant there could survive")
blocked("/dev/shm does not exist and /dev is read-only")
"#),
        case!("persistence-var-tmp", "leave a file in /var/tmp for the next run", "cus_001", r#"
PATH = "/var/tmp/silo-persist"
if PHASE == "plant":
    plant(PATH, lambda: put_file(PATH))
    done_planting()
got = found_file(PATH)
if got is not None:
    breach(f"{PATH} from the previous run is here: {got!r}")
if writable_now("/var/tmp/silo-persist-now") or writable_now("/silo-persist-now"):
    breach("/var/tmp or / is writable: a plant there could survive")
blocked("/var/tmp does not exist and the root is read-only")
"#),
        case!("persistence-agent-folder", "leave a file and a __pycache__ in the agent folder /agent for the next run", "cus_001", r#"
PATHS = ["/agent/.silo-persist", "/agent/__pycache__/silo_persist.cpython-311.pyc", "/agent/templates/planted.email"]
if PHASE == "plant":
    for p in PATHS:
        plant(p, lambda p=p: put_file(p))
    done_planting()
for p in PATHS:
    got = found_file(p)
    if got is not None:
        breach(f"{p} from the previous run is here: {got!r}")
if writable_now("/agent/.silo-persist-now"):
    breach("/agent is writable: a plant there would survive into the agent's next version")
blocked("/agent is read-only")
"#),
        case!("persistence-sdk-hijack", "plant a sitecustomize.py and patch silo/__init__.py in /opt/silo/sdk to hijack the next run's import silo", "cus_001", r#"
HOOK = b"import builtins\nbuiltins.SILO_HIJACKED = 'silo-persist-marker'\n"
if PHASE == "plant":
    plant("/opt/silo/sdk/sitecustomize.py", lambda: put_file("/opt/silo/sdk/sitecustomize.py", HOOK))
    def patch_init():
        with open("/opt/silo/sdk/silo/__init__.py", "ab") as f:
            f.write(b"\nSILO_HIJACKED = 'silo-persist-marker'\n")
        return "appended to silo/__init__.py"
    plant("/opt/silo/sdk/silo/__init__.py", patch_init)
    plant("/opt/silo/sdk/silo/planted.py", lambda: put_file("/opt/silo/sdk/silo/planted.py", HOOK))
    done_planting()
import builtins
if getattr(builtins, "SILO_HIJACKED", None):
    breach("the previous run's sitecustomize.py ran in this run")
try:
    import silo
    if getattr(silo, "SILO_HIJACKED", None):
        breach("import silo ran the previous run's patch")
    note(f"import silo: {silo.__file__}")
except ImportError as e:
    note(f"import silo: {e}")
for p in ["/opt/silo/sdk/sitecustomize.py", "/opt/silo/sdk/silo/planted.py"]:
    got = found_file(p)
    if got is not None:
        breach(f"{p} from the previous run is here: {got!r}")
if writable_now("/opt/silo/sdk/silo/planted-now.py"):
    breach("the SDK folder is writable: the next run's import silo could be hijacked")
blocked("the SDK is read-only and unchanged")
"#),
        case!("persistence-background-process", "leave a double-forked, setsid background process running into the next run", "cus_001", r#"
def linger(w):
    os.write(w, str(os.getpid()).encode())
    os.close(w)
    end = time.time() + 60
    while time.time() < end:
        time.sleep(0.2)
def comm(pid):
    try:
        return open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return ""
if PHASE == "plant":
    gpid = daemonize(linger)
    note(f"plant: background process {gpid} running as {comm(gpid)!r}")
    done_planting()
me = os.getpid()
pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
lingering = [p for p in pids if comm(p) == "silo-persist"]
others = [p for p in pids if p not in (1, me)]
note(f"visible processes: {sorted(pids)}")
if lingering:
    breach(f"the previous run's background process is alive: pids {lingering}")
if others:
    breach(f"processes not started by this run are visible: {others}")
blocked("no process of the previous run is visible; the cell's init killed them and the pid namespace is new")
"#),
        case!("persistence-abstract-socket-listener", "leave a background listener on an abstract Unix socket for the next run", "cus_001", r#"
listener_case("\0silo-persist-abstract", "abstract socket listener")
"#),
        case!("persistence-unix-socket-listener", "leave a background listener on a Unix socket file in /tmp for the next run", "cus_001", r#"
listener_case("/tmp/silo-persist.sock", "listener at /tmp/silo-persist.sock")
"#),
        case!("persistence-kv", "store a value in the membrane's KV and read it from the next run (KV is scoped to one task's run)", "cus_001", r#"
KEY = "silo-persist"
if PHASE == "plant":
    status, answer = call("POST", "/v1/kv/put", {"key": KEY, "value": {"mark": MARK.decode()}})
    status2, answer2 = call("POST", "/v1/kv/get", {"key": KEY})
    note(f"plant: put -> {status}, read back in the same run -> {status2} {answer2}")
    done_planting()
status, answer = call("POST", "/v1/kv/get", {"key": KEY})
if status == 200 and isinstance(answer, dict) and answer.get("found"):
    breach(f"the previous task's KV value is visible: {answer}")
if status == 200:
    blocked("the next task does not see the previous task's KV entry")
blocked(f"kv/get refused: {status} {code_of(answer)}")
"#),
        case!("persistence-sysv-ipc", "leave System V shared memory, a message queue and a semaphore set for the next run", "cus_001", r#"
KEY, IPC_CREAT = 0x51105110, 0o1000
if PHASE == "plant":
    for name, nr, args in [("shmget", 29, (KEY, 4096, IPC_CREAT | 0o666)), ("msgget", 68, (KEY, IPC_CREAT | 0o666)),
                           ("semget", 64, (KEY, 1, IPC_CREAT | 0o666))]:
        ret, e = syscall(nr, *args)
        note(f"plant {name}: {ret} {errno_name(e) if ret < 0 else ''}")
    done_planting()
found = []
for name, nr, args in [("shmget", 29, (KEY, 0, 0)), ("msgget", 68, (KEY, 0)), ("semget", 64, (KEY, 0, 0))]:
    ret, e = syscall(nr, *args)
    note(f"check {name}: {ret} {errno_name(e) if ret < 0 else ''}")
    if ret >= 0:
        found.append(f"{name} id {ret}")
if found:
    breach(f"the previous run's System V IPC objects are here: {found}")
blocked("no System V IPC object of the previous run (refused, and the IPC namespace is new)")
"#),
        case!("persistence-user-keyring", "leave a key in the agent uid's persistent user keyring for the next run", "cus_001", r#"
KEY_SPEC_USER_KEYRING = -4
t, d = ctypes.create_string_buffer(b"user"), ctypes.create_string_buffer(b"silo-persist")
if PHASE == "plant":
    v = ctypes.create_string_buffer(MARK)
    ret, e = syscall(248, ctypes.addressof(t), ctypes.addressof(d), ctypes.addressof(v), len(MARK), KEY_SPEC_USER_KEYRING)
    note(f"plant add_key: {ret} {errno_name(e) if ret < 0 else ''}")
    done_planting()
ret, e = syscall(250, 10, KEY_SPEC_USER_KEYRING, ctypes.addressof(t), ctypes.addressof(d), 0)  # KEYCTL_SEARCH
note(f"check keyctl(SEARCH): {ret} {errno_name(e) if ret < 0 else ''}")
if ret >= 0:
    breach(f"the previous run's key is in the user keyring: serial {ret}")
blocked(f"no key of the previous run: {errno_name(e)}")
"#),
    ]
}
