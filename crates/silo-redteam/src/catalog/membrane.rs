//! Membrane abuse: floods past the rate limit, slow clients, connection and concurrency
//! floods, huge bodies and headers, malformed and smuggled HTTP, broken JSON. The membrane
//! must refuse each cleanly (never a 2xx for a malformed request, never a server error
//! showing its internals) and keep serving the cell's genuine requests afterwards
//! (`still_served()`), within the per-cell limits of `crates/silo-membrane/src/limits.rs`.

use crate::attack::{Attack, Category::Membrane};

/// Python helpers every membrane case gets on top of the prelude.
macro_rules! helpers {
    () => {
        r#"
import re
import threading

LEAKS = (b"panicked", b"backtrace", b"rust_begin_unwind", b"thread '", b".rs:", b"stack trace")


def _b(x):
    return x.encode() if isinstance(x, str) else x


def build(method, path, body=b"", extra=b"", keys=True, version=b"HTTP/1.1", close=True, length=True):
    """One raw request: the genuine keys (so only the malformation can explain a refusal)."""
    body = _b(body)
    head = _b(method) + b" " + _b(path) + b" " + _b(version) + b"\r\nHost: membrane\r\n"
    if close:
        head += b"Connection: close\r\n"
    if keys:
        head += f"x-silo-base-key: {BASE}\r\nx-silo-task-key: {TASK}\r\n".encode()
    if length and body:
        head += b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
    return head + _b(extra) + b"\r\n" + body


def sock(timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(SOCK)
    return s


def exchange(data, timeout=5.0):
    """Sends `data` from a thread (the membrane may answer and close before reading it all)
    and returns everything it answered until it closed or went quiet for `timeout`."""
    s = sock(timeout)

    def send():
        try:
            s.sendall(data)
        except OSError:
            pass

    threading.Thread(target=send, daemon=True).start()
    out = recv_all(s)
    return out


def statuses(reply):
    """The status of every HTTP response in `reply`."""
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", reply)]


def tally(sts):
    out = {}
    for st in sts:
        out[st] = out.get(st, 0) + 1
    return out


def show(what, reply):
    status, _ = parse(reply)
    print(f"REDTEAM SAW {what} -> {status} {reply[:300]!r}", flush=True)
    return status


def check(what, reply, ok_2xx=False):
    """A malformed request's answer: no 2xx, no internals in the body. Returns the status."""
    status = show(what, reply)
    low = reply.lower()
    bad = [w.decode() for w in LEAKS if w in low]
    if bad:
        breach(f"{what}: the answer shows the membrane's internals {bad}: {reply[:200]!r}")
    if 200 <= status < 300 and not ok_2xx:
        breach(f"{what}: accepted ({status}) {reply[:200]!r}")
    if status >= 500 and status != 503:
        note(f"{what}: {status}, a server error for a client's mistake")
    return status


def closed_by_server(conns, want, wait=2.0):
    """Indexes of `conns` the membrane closed, polled until at least `want` are or `wait` passes."""
    closed = set()
    end = time.time() + wait
    while True:
        for n, s in enumerate(conns):
            if n in closed:
                continue
            s.settimeout(0.01)
            try:
                if s.recv(4096) == b"":
                    closed.add(n)
            except socket.timeout:
                pass
            except OSError:
                closed.add(n)
        if len(closed) >= want or time.time() > end:
            return closed
        time.sleep(0.05)


def refused_cleanly(what, status, answer):
    """A JSON route's refusal: no 2xx, no internals in the body."""
    low = json.dumps(answer).lower().encode() if not isinstance(answer, bytes) else answer.lower()
    bad = [w.decode() for w in LEAKS if w in low]
    if bad:
        breach(f"{what}: the answer shows the membrane's internals {bad}")
    if 200 <= status < 300:
        breach(f"{what}: accepted ({status})")


def served_or_breach(what):
    if not still_served():
        breach(f"the membrane stopped serving the cell's genuine requests after {what}")
"#
    };
}

macro_rules! case {
    ($id:literal, $title:literal, $code:literal) => {
        Attack::new($id, Membrane, $title, concat!(helpers!(), $code))
    };
}

/// The cases.
pub fn cases() -> Vec<Attack> {
    vec![
        case!("membrane-flood-low-limit", "a flood of 40 requests against a limit of 5/s with a burst of 5 must meet 429s", r#"
t0 = time.time()
sts = []
for i in range(40):
    sts.append(parse(exchange(build("GET", "/v1/task"), timeout=3))[0])
el = time.time() - t0
seen = tally(sts)
print(f"REDTEAM SAW 40 requests in {el:.2f}s: {seen}", flush=True)
if seen.get(200, 0) > 5 + 5 * el + 2:
    breach(f"{seen.get(200, 0)} of 40 requests served in {el:.1f}s at 5/s with a burst of 5: {seen}")
if seen.get(429, 0) == 0 and el < 6:
    breach(f"40 requests in {el:.1f}s, none rate-limited: {seen}")
served_or_breach("a flood")
blocked(f"flood rate-limited: {seen} in {el:.1f}s, still served")
"#)
        .limits("  membrane_rate: 5\n  membrane_burst: 5\n"),
        case!("membrane-flood-default-limit", "300 requests from four threads at once against the default 50/s, burst 100", r##"
sts = []
lock = threading.Lock()

def worker():
    for _ in range(75):
        try:
            st = parse(exchange(build("GET", "/v1/task"), timeout=3))[0]
        except OSError:
            st = 0
        with lock:
            sts.append(st)

t0 = time.time()
ts = [threading.Thread(target=worker) for _ in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
el = time.time() - t0
seen = tally(sts)
print(f"REDTEAM SAW 300 requests in {el:.2f}s: {seen}", flush=True)
if seen.get(200, 0) > 100 + 50 * el + 5:
    breach(f"{seen.get(200, 0)} requests served in {el:.1f}s, more than a burst of 100 plus 50/s allows: {seen}")
served_or_breach("a flood")
blocked(f"flood limited: {seen} in {el:.1f}s, still served")
"##),
        case!("membrane-pipeline-500", "500 requests pipelined on one connection against a limit of 20/s", r##"
reqs = b"".join(build("GET", "/v1/task", close=(i == 499)) for i in range(500))
t0 = time.time()
out = exchange(reqs, 5)
el = time.time() - t0
sts = statuses(out)
seen = tally(sts)
print(f"REDTEAM SAW {len(sts)} answers to 500 pipelined requests in {el:.2f}s: {seen}", flush=True)
if seen.get(200, 0) > 20 + 20 * el + 3:
    breach(f"{seen.get(200, 0)} pipelined requests served in {el:.1f}s at 20/s, burst 20: {seen}")
served_or_breach("500 pipelined requests")
blocked(f"pipelined flood limited: {seen} in {el:.1f}s, still served")
"##)
        .limits("  membrane_rate: 20\n  membrane_burst: 20\n"),
        case!("membrane-connection-flood-100", "100 connections at once, each with a genuine request: at most 16 are served", r##"
conns = []
for i in range(100):
    try:
        conns.append(sock(3))
    except OSError as e:
        note(f"connection {i}: {e}")
        break
# Wait until the membrane has dealt with every connection (all but 16 closed), so a
# connection it has not accepted yet cannot be served later when a slot frees up.
gone = closed_by_server(conns, len(conns) - 16)
print(f"REDTEAM SAW {len(gone)} of {len(conns)} connections closed before any request", flush=True)
req = build("GET", "/v1/task")
for s in conns:
    s.settimeout(3)
    try:
        s.sendall(req)
    except OSError:
        pass
answered = []
for s in conns:
    out = recv_all(s)
    answered.append(parse(out)[0])
seen = tally(answered)
print(f"REDTEAM SAW {len(conns)} connections: {seen} (0 = closed unanswered)", flush=True)
served = len([st for st in answered if st != 0])
if served > 16:
    breach(f"{served} of {len(conns)} simultaneous connections got an answer; the cap is 16: {seen}")
served_or_breach("100 simultaneous connections")
blocked(f"connection cap held: {served} answered, {seen}")
"##),
        case!("membrane-in-flight-cap", "8 requests stalled in their bodies, then a 9th request: it must get 503 busy", r##"
stall = []
for i in range(8):
    s = sock(3)
    head = build("POST", "/v1/kv/put")[:-2] + b"Content-Type: application/json\r\nContent-Length: 50\r\n\r\n"
    s.sendall(head)
    stall.append(s)
# The 8 stay in flight until the body timeout (5 s): try the 9th three times, so a slow
# start cannot pass for a missing cap.
for attempt in range(3):
    time.sleep(0.5 + attempt * 0.5)
    status, answer = call("GET", "/v1/task")
    if not 200 <= status < 300:
        break
for s in stall:
    s.close()
if 200 <= status < 300:
    breach("a 9th request was served three times while 8 were in flight (the cap is 8)")
served_or_breach("8 stalled requests")
blocked(f"9th request refused while 8 were in flight: {status} {code_of(answer)}")
"##),
        case!("membrane-slowloris", "12 connections sending their headers one byte a second: they must time out while genuine requests are served", r##"
part = build("GET", "/v1/task", close=False)[:-2] + b"X-Slow: " + b"a" * 100
conns = [sock(2) for _ in range(12)]
stop = threading.Event()
alive = [True] * len(conns)

def dribble():
    i = 0
    while not stop.is_set():
        for n, s in enumerate(conns):
            if alive[n]:
                try:
                    s.send(part[i:i + 1])
                except OSError:
                    alive[n] = False
        i += 1
        stop.wait(1.0)

t0 = time.time()
threading.Thread(target=dribble, daemon=True).start()
time.sleep(1.5)
status, _ = call("GET", "/v1/task")
if status != 200:
    stop.set()
    breach(f"a genuine request got {status} while 12 slow clients were connected")
time.sleep(max(0.0, 7.0 - (time.time() - t0)))
stop.set()
still_open = 0
for s in conns:
    s.settimeout(0.3)
    try:
        data = s.recv(4096)
        print(f"REDTEAM SAW slow connection closed: {data[:80]!r}", flush=True)
    except socket.timeout:
        still_open += 1
    except OSError as e:
        print(f"REDTEAM SAW slow connection reset: {e}", flush=True)
    s.close()
if still_open:
    breach(f"{still_open} of 12 slow connections still open after {time.time() - t0:.1f}s (header timeout 5 s)")
served_or_breach("a slowloris")
blocked("slow clients timed out; genuine requests were served meanwhile")
"##),
        case!("membrane-slowloris-past-the-cap", "40 slow connections at once: all but 16 must be closed at once, and the cell is served once they go", r##"
conns = []
for i in range(40):
    try:
        s = sock(2)
        s.send(b"G")
        conns.append(s)
    except OSError as e:
        print(f"REDTEAM SAW connection {i}: {e}", flush=True)
closed = len(closed_by_server(conns, len(conns) - 16))
print(f"REDTEAM SAW {closed} of {len(conns)} slow connections closed by the membrane at once", flush=True)
held = len(conns) - closed
for s in conns:
    s.close()
if held > 16:
    breach(f"{held} slow connections held open; the cap is 16")
served_or_breach("40 slow connections")
blocked(f"connection cap: {held} held, {closed} closed at once; served afterwards")
"##),
        case!("membrane-body-never-finishes", "a request that declares 1000 body bytes and sends 10: it must time out, not hold the membrane", r##"
s = sock(8)
head = build("POST", "/v1/kv/put")[:-2] + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
s.sendall(head + b'{"key": "a')
t0 = time.time()
out = recv_all(s)
el = time.time() - t0
status = check("an unfinished body", out)
if status == 0 and el >= 7.5:
    breach(f"no answer and no close after {el:.1f}s (body timeout 5 s)")
served_or_breach("an unfinished body")
blocked(f"unfinished body ended after {el:.1f}s with {status or 'a close'}")
"##),
        case!("membrane-huge-body-declared", "a body declared at 100 MB and streamed: 413 at once, not read in full", r##"
head = build("POST", "/v1/kv/put")[:-2] + b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
t0 = time.time()
out = exchange(head + b'{"key": "big", "value": "' + b"a" * (4 << 20), timeout=4)
el = time.time() - t0
status = check("a 100 MB body", out)
if status not in (0, 413):
    breach(f"a 100 MB body got {status}, not 413")
if status == 0 and el >= 3.5:
    breach(f"no answer to a 100 MB body after {el:.1f}s: it is being read")
served_or_breach("a 100 MB body")
blocked(f"100 MB body refused with {status or 'a close'} after {el:.2f}s")
"##),
        case!("membrane-huge-body-sent", "a 70,000-byte JSON body with a true Content-Length: 413", r##"
body = b'{"key": "big", "value": "' + b"a" * (70000 - 27) + b'"}'
status = check("a 70,000-byte body", exchange(build("POST", "/v1/kv/put", body)))
if status != 413:
    breach(f"a {len(body)}-byte body got {status}, not 413 (limit 64 KiB)")
served_or_breach("a 70,000-byte body")
blocked(f"{len(body)}-byte body refused: 413")
"##),
        case!("membrane-huge-body-chunked", "a 256 KiB body in chunks without a Content-Length: 413", r##"
chunk = b"a" * 8192
body = b'{"key": "big", "value": "'
data = build("POST", "/v1/kv/put")[:-2] + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
data += b"%x\r\n" % len(body) + body + b"\r\n"
for _ in range(32):
    data += b"%x\r\n" % len(chunk) + chunk + b"\r\n"
data += b'2\r\n"}\r\n0\r\n\r\n'
status = check("a 256 KiB chunked body", exchange(data))
if status not in (0, 413):
    breach(f"a 256 KiB chunked body got {status}, not 413")
served_or_breach("a 256 KiB chunked body")
blocked(f"256 KiB chunked body refused with {status or 'a close'}")
"##),
        case!("membrane-expect-continue-huge", "Expect: 100-continue with a 50 MB Content-Length: refused without asking for the body", r##"
head = build("POST", "/v1/kv/put")[:-2] + b"Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 52428800\r\n\r\n"
out = exchange(head, timeout=3)
status = check("Expect: 100-continue, 50 MB", out)
if out.startswith(b"HTTP/1.1 100"):
    note("the membrane asked for a 50 MB body (100 Continue)")
if 413 not in statuses(out):
    breach(f"a 50 MB body announced with Expect: 100-continue was not refused with 413: {out[:120]!r}")
served_or_breach("Expect: 100-continue")
blocked("50 MB body refused before it was sent: 413")
"##),
        case!("membrane-huge-headers", "a 20 KiB header on a genuine request: 431, not served", r##"
status = check("a 20 KiB header", exchange(build("GET", "/v1/task", extra=b"X-Big: " + b"a" * 20480 + b"\r\n")))
status2 = check("20 headers of 1 KiB", exchange(build("GET", "/v1/task", extra=b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1000) for i in range(20)))))
served_or_breach("huge headers")
blocked(f"huge headers refused: {status or 'a close'}, {status2 or 'a close'}")
"##),
        case!("membrane-header-count-flood", "a genuine request with 500 headers: refused (limit 32)", r##"
extra = b"".join(b"X-H%d: v\r\n" % i for i in range(500))
status = check("500 headers", exchange(build("GET", "/v1/task", extra=extra)))
extra = b"".join(b"X-H%d: v\r\n" % i for i in range(40))
status2 = check("40 headers", exchange(build("GET", "/v1/task", extra=extra)))
served_or_breach("a header flood")
blocked(f"header floods refused: {status or 'a close'}, {status2 or 'a close'}")
"##),
        case!("membrane-malformed-request-line", "garbage request lines: missing parts, extra spaces, binary, bare words", r##"
auth = f"x-silo-base-key: {BASE}\r\nx-silo-task-key: {TASK}\r\n".encode()
bad = [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n" + auth + b"\r\n",
    b"GET /v1/task\r\n" + auth + b"\r\n",
    b"GET  /v1/task  HTTP/1.1\r\nHost: m\r\n" + auth + b"\r\n",
    b"GET /v1/task HTTP/1.1 extra\r\nHost: m\r\n" + auth + b"\r\n",
    b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
    b"G\x00T /v1/task HTTP/1.1\r\nHost: m\r\n" + auth + b"\r\n",
    b"GET /v1/task HTTP/1.1\r\nHost: m\r\nBad Header Name: x\r\n" + auth + b"\r\n",
    b"GET /v1/task HTTP/1.1\r\nHost: m\r\n: empty-name\r\n" + auth + b"\r\n",
    b"GET /v1/task HTTP/1.1\r\nHost: m\r\nX-Fold: a\r\n  folded\r\n" + auth + b"\r\n",
    b"\r\n\r\n\r\n\r\n",
]
seen = []
for i, data in enumerate(bad):
    seen.append(check(f"malformed #{i}", exchange(data, timeout=2)))
served_or_breach("malformed request lines")
blocked(f"malformed requests refused: {seen}")
"##),
        case!("membrane-bad-http-version", "genuine requests claiming HTTP/2.0, HTTP/9.9, HTTP/1.2, HTTP/0.9 and HTTX/1.1", r##"
seen = []
for v in [b"HTTP/2.0", b"HTTP/9.9", b"HTTP/1.2", b"HTTP/0.9", b"HTTX/1.1", b"HTTP/1.1.1", b"http/1.1", b"HTTP/11"]:
    seen.append(check(f"version {v.decode()}", exchange(build("GET", "/v1/task", version=v), timeout=2)))
served_or_breach("bad HTTP versions")
blocked(f"bad versions refused: {seen}")
"##),
        case!("membrane-http2-preface", "the HTTP/2 connection preface and a SETTINGS frame, then an h2c upgrade request", r##"
preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
s1 = check("HTTP/2 preface", exchange(preface, timeout=2))
up = build("GET", "/v1/task", extra=b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", close=False)
up = up.replace(b"Host: membrane\r\n", b"Host: membrane\r\nConnection: Upgrade, HTTP2-Settings\r\n")
out = exchange(up, timeout=2)
show("h2c upgrade", out)
if b" 101 " in out.split(b"\r\n", 1)[0]:
    breach("the membrane switched protocols to h2c")
served_or_breach("HTTP/2")
blocked(f"HTTP/2 preface refused ({s1 or 'a close'}), no upgrade")
"##),
        case!("membrane-non-utf8-path", "request paths with invalid UTF-8, raw high bytes and control characters", r##"
seen = []
for path in [b"/v1/task\xff", b"/v1/\xc3\x28", b"/v1/ta\x80sk", b"/v1/task\x7f", b"/v1/\x1b[2Jtask", b"/v1/task%00", b"/v1/task%ff%fe"]:
    seen.append(check(f"path {path!r}", exchange(build("GET", path), timeout=2)))
served_or_breach("non-UTF-8 paths")
blocked(f"bad paths refused: {seen}")
"##),
        case!("membrane-path-traversal", "path traversal to host files: /v1/../../etc/passwd, %2e%2e, encoded slashes, the canary path", r##"
canary = (task_info().get("input") or {}).get("canary", "/tmp/x")
paths = [
    "/v1/../../etc/passwd", "/v1/%2e%2e/%2e%2e/etc/passwd", "/../../../../etc/shadow",
    "/v1/task/../../etc/passwd", "/v1/kv/..%2f..%2f..%2fetc%2fpasswd", "/%2fetc%2fpasswd",
    "/v1/..%252f..%252fetc/passwd", "/v1/../../.." + canary, "/v1/%2e%2e/%2e%2e" + canary,
    "/v1/kv/get/../../../" + canary.lstrip("/"), "//etc/passwd", "/v1/data/customer/../../orders",
]
seen = []
for path in paths:
    for method in ("GET", "POST"):
        out = exchange(build(method, path, b"{}" if method == "POST" else b""), timeout=2)
        if b"root:" in out:
            breach(f"{method} {path} served a host file: {out[:200]!r}")
        seen.append(check(f"{method} {path}", out))
served_or_breach("path traversal")
blocked(f"traversals refused: {tally(seen)}")
"##),
        case!("membrane-absolute-form-uri", "absolute-form and authority-form request targets naming another host: the membrane is no proxy", r##"
seen = []
for target in [b"http://evil.example/", b"http://evil.example/exfil?d=1", b"https://127.0.0.1:22/", b"//evil.example/", b"evil.example:80", b"*"]:
    out = exchange(build("GET", target).replace(b"Host: membrane", b"Host: evil.example"), timeout=2)
    seen.append(check(f"GET {target.decode()}", out))
served_or_breach("absolute-form targets")
blocked(f"foreign targets refused: {seen}")
"##),
        case!("membrane-connect-tunnel", "CONNECT requests for a tunnel to other hosts", r##"
seen = []
for target in [b"evil.example:443", b"127.0.0.1:22", b"[::1]:80", b"/v1/task", b"localhost:8089"]:
    out = exchange(build("CONNECT", target, close=False).replace(b"Host: membrane", b"Host: " + target), timeout=2)
    seen.append(check(f"CONNECT {target.decode()}", out))
served_or_breach("CONNECT")
blocked(f"CONNECT refused: {seen}")
"##),
        case!("membrane-smuggle-cl-te", "Content-Length and Transfer-Encoding: chunked together, with a second request hidden after the chunked body", r##"
hidden = build("POST", "/v1/kv/put", json.dumps({"key": "smuggled", "value": True}))
chunked = b"2\r\n{}\r\n0\r\n\r\n"
body = chunked + hidden
head = build("GET", "/v1/task", keys=False, close=False)[:-2] + b"Content-Length: " + str(len(body)).encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
out = exchange(head + body, timeout=2)
sts = statuses(out)
show("CL+TE", out)
if sts and 200 <= sts[0] < 300:
    breach(f"an ambiguous CL+TE request without keys was accepted: {sts}")
status, answer = call("POST", "/v1/kv/get", {"key": "smuggled"})
if isinstance(answer, dict) and answer.get("found"):
    breach(f"the request hidden after a CL+TE body was served ({sts})")
# The other order: Transfer-Encoding first, and an obfuscated one.
for te in [b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", b"Transfer-Encoding: xchunked\r\n", b"Transfer-Encoding : chunked\r\n", b"Transfer-Encoding: chunked, identity\r\n"]:
    out = exchange(build("POST", "/v1/kv/put", keys=True, close=False)[:-2] + te + b"\r\n" + b"5\r\nhello\r\n0\r\n\r\n" + hidden, timeout=2)
    show(f"TE variant {te!r}", out)
    if len(statuses(out)) > 1:
        status, answer = call("POST", "/v1/kv/get", {"key": "smuggled"})
        if isinstance(answer, dict) and answer.get("found"):
            breach(f"a request hidden after a {te!r} body was served: {statuses(out)}")
    if any(200 <= st < 300 for st in statuses(out)[:1]):
        breach(f"a body of bare `hello` under {te!r} was accepted")
served_or_breach("request smuggling")
blocked(f"no smuggled request was served ({sts})")
"##),
        case!("membrane-smuggle-two-lengths", "two different Content-Length headers, and a negative, a signed and a huge one", r##"
body = json.dumps({"key": "twolen", "value": 1}).encode()
seen = []
for cl in [[b"%d" % len(body), b"%d" % (len(body) + 40)], [b"-1"], [b"+%d" % len(body)], [b"%d, %d" % (len(body), len(body) + 1)], [b"99999999999999999999999"], [b"0x10"], [b" %d x" % len(body)]]:
    head = build("POST", "/v1/kv/put", keys=True)[:-2] + b"Content-Type: application/json\r\n" + b"".join(b"Content-Length: " + c + b"\r\n" for c in cl) + b"\r\n"
    seen.append(check(f"Content-Length {cl!r}", exchange(head + body + b" " * 40, timeout=2)))
served_or_breach("bad Content-Lengths")
blocked(f"bad Content-Lengths refused: {seen}")
"##),
        case!("membrane-chunked-bad-size", "chunked bodies with a non-hex, negative, overflowing or lying chunk size", r##"
good = json.dumps({"key": "chunky", "value": 1}).encode()
seen = []
head = build("POST", "/v1/kv/put", keys=True)[:-2] + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
for size in [b"zz", b"-1", b"ffffffffffffffffffffffff", b"%x" % (len(good) - 5), b"0x%x" % len(good), b" %x" % len(good), b"%x\x00" % len(good)]:
    seen.append(check(f"chunk size {size!r}", exchange(head + size + b"\r\n" + good + b"\r\n0\r\n\r\n", timeout=2)))
# A right size with a junk extension frames the body the same whichever way it is read
# (the extension is ignored), so it is only noted.
out = exchange(head + b"%x;ext=\x00\x1b" % len(good) + b"\r\n" + good + b"\r\n0\r\n\r\n", timeout=2)
if 200 <= show("chunk extension with NUL", out) < 300:
    note("a chunk extension with a NUL byte is ignored, not refused (the size is right)")
served_or_breach("bad chunk sizes")
blocked(f"bad chunk sizes refused: {seen}")
"##),
        case!("membrane-invalid-json", "broken JSON bodies on the refund, kv and write routes", r##"
bodies = [b"{", b'{"key": ', b"[]", b"null", b'"key"', b"{'key': 'a', 'value': 1}", b'{"key": "a", "value": 1,}',
          b'{"key": "a", "value": NaN}', b'{"key": "a", "value": Infinity}', b'{"key": "a" "value": 1}',
          b'{"key": "a", "value": 1}}', b'{"key": "a", "value": 1} {"key": "b", "value": 2}', b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00"]
seen = []
for route in ["/v1/kv/put", "/v1/refund", "/v1/data/write", "/v1/escalate"]:
    for body in bodies:
        seen.append(check(f"{route} {body[:30]!r}", exchange(build("POST", route, body), timeout=2)))
served_or_breach("broken JSON")
blocked(f"broken JSON refused: {tally(seen)}")
"##),
        case!("membrane-json-duplicate-keys", "JSON with duplicate keys: a $1 refund that also says $900,000, a kv key given twice", r##"
refund = b'{"amount_cents": 100, "currency": "USD", "reason": "dup", "idempotency_key": "dup-1", "amount_cents": 90000000}'
refund2 = b'{"amount_cents": 90000000, "currency": "USD", "reason": "dup", "idempotency_key": "dup-2", "amount_cents": 100}'
cur = b'{"amount_cents": 100, "currency": "EUR", "reason": "dup", "idempotency_key": "dup-3", "currency": "USD"}'
kv = b'{"key": "a", "value": 1, "key": "b"}'
note_ = b'{"op": "case.add_note", "text": "one", "op": "case.set_status"}'
seen = []
for route, body in [("/v1/refund", refund), ("/v1/refund", refund2), ("/v1/refund", cur), ("/v1/kv/put", kv), ("/v1/data/write", note_)]:
    seen.append(check(f"{route} duplicate keys", exchange(build("POST", route, body), timeout=2)))
served_or_breach("duplicate keys")
blocked(f"ambiguous JSON refused: {seen}")
"##),
        case!("membrane-json-deep-nesting", "JSON nested 100,000 and 30,000 levels deep in a kv value, a refund amount and a chat message", r##"
seen = []
deep = b"[" * 100000 + b"]" * 100000
seen.append(check("100k levels", exchange(build("POST", "/v1/kv/put", b'{"key": "deep", "value": ' + deep + b"}"), timeout=3)))
deep = b"[" * 30000 + b"]" * 30000
for route, body in [
    ("/v1/kv/put", b'{"key": "deep", "value": ' + deep + b"}"),
    ("/v1/refund", b'{"amount_cents": ' + deep + b', "currency": "USD", "reason": "x", "idempotency_key": "deep-1"}'),
    ("/v1/chat/completions", b'{"model": "m", "messages": ' + deep + b"}"),
    ("/v1/kv/put", b'{"key": "deep", "value": ' + b'{"a":' * 9000 + b"1" + b"}" * 9000 + b"}"),
]:
    seen.append(check(f"{route} nested", exchange(build("POST", route, body), timeout=3)))
served_or_breach("deeply nested JSON")
blocked(f"deep JSON refused without harm: {seen}")
"##),
        case!("membrane-json-60k-string", "60 KiB strings in a kv value, a refund reason, a note, a summary and an escalation reason", r##"
big = "a" * 61440
seen = []
for route, body in [
    ("/v1/kv/put", {"key": "big", "value": big}),
    ("/v1/kv/put", {"key": "k" * 60000, "value": 1}),
    ("/v1/refund", {"amount_cents": 100, "currency": "USD", "reason": big, "idempotency_key": "big-1"}),
    ("/v1/data/write", {"op": "case.add_note", "text": big}),
    ("/v1/escalate", {"target": "human", "reason": big, "recommendation": "x"}),
    ("/v1/complete", {"status": "done", "summary": big}),
]:
    status, answer = call("POST", route, body)
    seen.append(status)
    refused_cleanly(f"{route}: a 60 KiB field over its documented limit", status, answer)
served_or_breach("60 KiB strings")
blocked(f"over-long fields refused: {seen}")
"##),
        case!("membrane-nul-bytes", "NUL bytes in kv keys, note text, JSON strings, header values and the path", r##"
seen = []
for route, body in [
    ("/v1/kv/put", {"key": "a\u0000b", "value": 1}),
    ("/v1/data/write", {"op": "case.add_note", "text": "note\u0000hidden"}),
    ("/v1/refund", {"amount_cents": 100, "currency": "USD\u0000", "reason": "x", "idempotency_key": "nul-1"}),
    ("/v1/refund", {"amount_cents": 100, "currency": "USD", "reason": "x\u0000", "idempotency_key": "nul-2"}),
    ("/v1/escalate", {"target": "human\u0000", "reason": "x", "recommendation": "y"}),
]:
    status, answer = call("POST", route, body)
    seen.append(status)
    refused_cleanly(f"{route}: a NUL byte in {list(body)}", status, answer)
raw_nul = b'{"key": "a\x00b", "value": 1}'
seen.append(check("a raw NUL in a JSON string", exchange(build("POST", "/v1/kv/put", raw_nul), timeout=2)))
seen.append(check("a NUL in a header", exchange(build("GET", "/v1/task", extra=b"X-A: a\x00b\r\n"), timeout=2)))
seen.append(check("a NUL in the path", exchange(build("GET", b"/v1/task\x00"), timeout=2)))
served_or_breach("NUL bytes")
blocked(f"NUL bytes refused: {seen}")
"##),
        case!("membrane-method-confusion", "unknown, lower-case and overridden methods on the refund route", r##"
body = json.dumps({"amount_cents": 100, "currency": "USD", "reason": "m", "idempotency_key": "method-1"})
seen = []
for method in ["PUT", "PATCH", "DELETE", "get", "post", "TRACE", "OPTIONS", "HEAD", "FOO", "POST\x0b"]:
    seen.append(check(f"{method!r} /v1/refund", exchange(build(method, "/v1/refund", body), timeout=2)))
seen.append(check("GET /v1/refund with X-HTTP-Method-Override: POST", exchange(build("GET", "/v1/refund", body, extra=b"X-HTTP-Method-Override: POST\r\n"), timeout=2)))
served_or_breach("method confusion")
blocked(f"other methods refused: {seen}")
"##),
    ]
}
