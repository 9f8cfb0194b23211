# silo redteam prelude: the helpers every attack and every legitimate operation uses.
# The verdict lines it prints (REDTEAM BLOCKED / BREACH / OK) are the attacker's own
# account; the host judges with its own evidence too (ledger, outbox, audit log, canary,
# every byte the cell printed), so an attack cannot talk its way to "blocked".
import ctypes
import json
import os
import socket
import sys
import time

SOCK = os.environ.get("SILO_SOCKET") or "/run/silo/membrane.sock"
BASE = os.environ.get("SILO_BASE_KEY", "")
TASK = os.environ.get("SILO_TASK_KEY", "")
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def _say(kind, msg):
    print(f"REDTEAM {kind} {msg}"[:4000], flush=True)


def blocked(msg):
    _say("BLOCKED", msg)
    sys.exit(0)


def breach(msg):
    _say("BREACH", msg)
    sys.exit(0)


def ok(msg):
    _say("OK", msg)
    sys.exit(0)


def note(msg):
    print(f"REDTEAM NOTE {msg}"[:4000], flush=True)


def recv_all(s, close=True, stop_on=OSError):
    """Everything `s` receives until the peer closes it or `stop_on` is raised (any socket
    error by default; other errors propagate)."""
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except stop_on:
            break
        if not chunk:
            break
        out += chunk
    if close:
        s.close()
    return out


def raw(data, timeout=10.0, read=True):
    """Sends raw bytes to the membrane; returns whatever it answered (b"" on a close)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(SOCK)
    try:
        s.sendall(data)
        if not read:
            return b""
        return recv_all(s, close=False, stop_on=socket.timeout)
    finally:
        s.close()


def parse(reply):
    """(status, body) of a raw HTTP reply; status 0 when it is not HTTP."""
    head, _, body = reply.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0, reply[:200]
    try:
        return status, json.loads(body or b"null")
    except ValueError:
        return status, body[:200]


def call(method, path, body=None, base=None, task=None, headers=None, raw_body=None):
    """One membrane request; every answer is printed so the host sees what the cell saw."""
    base = BASE if base is None else base
    task = TASK if task is None else task
    payload = raw_body if raw_body is not None else (b"" if body is None else json.dumps(body).encode())
    lines = [f"{method} {path} HTTP/1.1", "Host: membrane", "Connection: close"]
    if base:
        lines.append(f"x-silo-base-key: {base}")
    if task:
        lines.append(f"x-silo-task-key: {task}")
    if method == "POST":
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(payload)}")
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
    status, answer = parse(raw(data))
    print(f"REDTEAM SAW {method} {path} -> {status} {json.dumps(answer) if not isinstance(answer, bytes) else answer!r}"[:4000], flush=True)
    return status, answer


def code_of(answer):
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return answer["error"].get("code", "?")
    return "?"


def expect_refused(what, method, path, body=None, **kw):
    """The call must be refused (4xx); a 2xx is a breach, a 5xx or no answer an error."""
    status, answer = call(method, path, body, **kw)
    if 200 <= status < 300:
        breach(f"{what}: accepted ({status}) {json.dumps(answer)[:300]}")
    if 400 <= status < 500:
        blocked(f"{what}: {status} {code_of(answer)}")
    _say("ERROR", f"{what}: unexpected answer {status} {answer!r}"[:400])
    sys.exit(1)


def fail(msg):
    """The case's premise did not hold (not a block, not a breach): an ERROR to look at."""
    _say("ERROR", msg[:400])
    sys.exit(1)


def rule_of(answer):
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return answer["error"].get("rule")
    return None


def refused(what, st, ans, codes=None, rules=None):
    """The answer must be a refusal (4xx); with `codes` / `rules`, exactly one of those."""
    if 200 <= st < 300:
        breach(f"{what}: accepted ({st}) {json.dumps(ans)[:300]}")
    c, r = code_of(ans), rule_of(ans)
    if not 400 <= st < 500:
        fail(f"{what}: unexpected answer {st} {c}")
    if codes and c not in codes:
        fail(f"{what}: refused as {c} ({r}), expected {sorted(codes)}")
    if rules and c == "denied" and r not in rules:
        fail(f"{what}: denied by {r}, expected {sorted(rules)}")
    return c


_TASK_ID = []


def ikey(s):
    """An idempotency key unique to this run (keys are per customer, across cases)."""
    if not _TASK_ID:
        _TASK_ID.append(task_info()["task"])
    return f"{_TASK_ID[0]}:{s}"[:128]


def expect_ok(what, method, path, body=None, **kw):
    """The call must succeed (the legitimate suite)."""
    status, answer = call(method, path, body, **kw)
    if 200 <= status < 300:
        return answer
    _say("REFUSED", f"{what}: {status} {json.dumps(answer)[:300]}")
    sys.exit(0)


def task_info():
    status, answer = call("GET", "/v1/task")
    if status != 200:
        _say("ERROR", f"GET /v1/task: {status}")
        sys.exit(1)
    return answer


def keys():
    """Keys the host minted for this attack (expired, other cell's, revoked, ...)."""
    with open("/agent/keys.json") as f:
        return json.load(f)


def syscall(nr, *args):
    """A raw system call: (return value, errno)."""
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return ret, ctypes.get_errno()


def errno_name(e):
    import errno as _errno
    return _errno.errorcode.get(e, str(e))


def still_served():
    """The membrane still answers this cell (after an abuse attempt); waits out a 429."""
    for _ in range(30):
        try:
            status, _ = call("GET", "/v1/task")
        except OSError as e:
            note(f"membrane unreachable: {e}")
            status = 0
        if status == 200:
            return True
        time.sleep(0.2)
    return False


def phase():
    """`plant` for the first run of a two-run attack, `check` for the second, else ""."""
    return (task_info().get("input") or {}).get("phase", "")
