"""Memory of idle cells, for bench/all.sh (usable alone: `python3 bench/memory.py SILO [K]`).

K cells are started at once, each `silo cell run -- <idle command>`, and measured while
they sleep. Per cell it sums, over the cell's host processes (the supervisor `silo cell
run`, the cell's init, the agent and anything under it), the figures of
/proc/PID/smaps_rollup:

  uss  Private_Clean + Private_Dirty: pages no other process maps, what one more cell
       costs in process memory (independent of K);
  pss  proportional set size: shared pages split among their sharers (depends on K: the
       silo binary's pages are shared by 2K processes);
  rss  resident set size: every mapped page counted in full (an upper bound).

and reads the kernel's charge to the cell's own memory cgroup (cgroup v1
`memory.usage_in_bytes`, v2 `memory.current`): the init and the agent, their page
tables, the cell's tmpfs and the kernel memory charged there; the supervisor stays
outside that group. As a cross-check it also records how far the machine's used memory
(MemTotal - MemAvailable) rose per cell, which other work on the machine disturbs.

The same is measured for bubblewrap running the same idle command (its two processes
and the command) for comparison.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

KIB = 1024


def rollup(pid):
    """{'rss','pss','uss'} in bytes from /proc/PID/smaps_rollup, or None if gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            rows = {}
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[0].endswith(":") and parts[2] == "kB":
                    rows[parts[0][:-1]] = int(parts[1]) * KIB
    except OSError:
        return None
    return {"rss": rows.get("Rss", 0), "pss": rows.get("Pss", 0),
            "uss": rows.get("Private_Clean", 0) + rows.get("Private_Dirty", 0)}


def children(pid):
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children(p):
            out.append(c)
            todo.append(c)
    return out


def ppid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("PPid:"):
                return int(line.split()[1])
    raise OSError(f"no PPid for {pid}")


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def mem_used():
    with open("/proc/meminfo") as f:
        rows = {l.split(":")[0]: int(l.split()[1]) * KIB for l in f}
    return rows["MemTotal"] - rows["MemAvailable"]


def cgroup_mounts():
    """{'v1': mount point of the v1 memory hierarchy or None, 'v2': cgroup2 mount or None}
    with each mount's root, from /proc/self/mountinfo."""
    v1 = v2 = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fields, tail = left.split(), right.split()
            fstype, opts = tail[0], tail[2] if len(tail) > 2 else ""
            if fstype == "cgroup" and "memory" in opts.split(","):
                v1 = (fields[4], fields[3])
            elif fstype == "cgroup2" and v2 is None:
                v2 = (fields[4], fields[3])
    return {"v1": v1, "v2": v2}


def cgroup_charge(pid, mounts):
    """(bytes, source file) charged to pid's memory cgroup, or (None, why)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = [l.rstrip("\n").split(":", 2) for l in f]
    except OSError as e:
        return None, f"cannot read /proc/{pid}/cgroup: {e}"
    for _, ctrls, path in lines:
        if "memory" in ctrls.split(",") and mounts["v1"]:
            mp, root = mounts["v1"]
            d = os.path.join(mp, os.path.relpath(path, root) if root != "/" else path.lstrip("/"))
            try:
                with open(os.path.join(d, "memory.usage_in_bytes")) as f:
                    return int(f.read()), "cgroup v1 memory.usage_in_bytes"
            except OSError as e:
                return None, f"{d}: {e}"
    for _, ctrls, path in lines:
        if ctrls == "" and mounts["v2"]:
            mp, root = mounts["v2"]
            d = os.path.join(mp, os.path.relpath(path, root) if root != "/" else path.lstrip("/"))
            try:
                with open(os.path.join(d, "memory.current")) as f:
                    return int(f.read()), "cgroup v2 memory.current"
            except OSError as e:
                return None, f"{d}: {e}"
    return None, "the cell's process is in no memory cgroup this host exposes"


def sum_rollups(pids):
    tot = {"rss": 0, "pss": 0, "uss": 0}
    for p in pids:
        r = rollup(p)
        if r:
            for k in tot:
                tot[k] += r[k]
    return tot


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def silo_cells(silo, run_dir, k, idle_cmd, settle):
    """Start k idle cells, measure, kill them. Returns per-cell figures."""
    procs = []
    env = dict(os.environ, SILO_RUN_DIR=run_dir)
    try:
        for _ in range(k):
            procs.append(subprocess.Popen(
                [silo, "cell", "run", "--timeout", "300s", "--", *idle_cmd],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                env=env))

        def listed():
            out = subprocess.run([silo, "--json", "cell", "ps"], capture_output=True,
                                 text=True, env=env)
            if out.returncode != 0:
                return None
            cells = json.loads(out.stdout or "[]")
            if len(cells) < k:
                for p in procs:
                    if p.poll() is not None:
                        raise RuntimeError(f"`silo cell run` exited {p.returncode}: "
                                           f"{p.stderr.read().decode(errors='replace')}")
                return None
            # the agent has exec'd the idle command
            ready = all(any(os.path.basename(cmdline(c)) == os.path.basename(idle_cmd[0])
                            for c in descendants(cell["init_pid"])) for cell in cells)
            return cells if ready else None

        cells = wait_until(listed, 60, f"{k} idle cells")
        time.sleep(settle)
        mounts = cgroup_mounts()
        rows = []
        for cell in cells:
            init = cell["init_pid"]
            sup = ppid(init)
            agent = descendants(init)
            charge, source = cgroup_charge(init, mounts)
            rows.append({
                "cell": cell["id"],
                "supervisor": rollup(sup), "init": rollup(init),
                "agent": sum_rollups(agent), "agent_processes": len(agent),
                "total": sum_rollups([sup, init, *agent]),
                "cgroup_bytes": charge, "cgroup_source": source,
            })
        used = mem_used()
        for cell in cells:
            subprocess.run([silo, "cell", "kill", cell["id"]], env=env, capture_output=True)
        return rows, used
    finally:
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def bwrap_cells(bwrap_base, k, idle_cmd, settle):
    procs = []
    try:
        for _ in range(k):
            procs.append(subprocess.Popen([*bwrap_base, *idle_cmd], stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def ready():
            return all(any(os.path.basename(cmdline(c)) == os.path.basename(idle_cmd[0])
                           for c in descendants(p.pid)) for p in procs)

        wait_until(ready, 30, f"{k} bubblewrap sandboxes")
        time.sleep(settle)
        rows = [{"total": sum_rollups([p.pid, *descendants(p.pid)]),
                 "processes": 1 + len(descendants(p.pid))} for p in procs]
        return rows, mem_used()
    finally:
        for p in procs:
            p.kill()
            p.wait()


def med(rows, key, field):
    vals = [r[key][field] for r in rows if r.get(key)]
    return statistics.median(vals) if vals else None


def measure(silo, k=5, settle=1.0, bwrap_base=None):
    """All memory figures, as a JSON-able dict (bytes)."""
    run_dir = tempfile.mkdtemp(prefix="silo-bench-mem-")
    os.chmod(run_dir, 0o755)
    try:
        result = {"cells_at_once": k, "settle_s": settle, "kinds": {}}
        for name, cmd in [("sleep", ["/bin/sleep", "300"]),
                          ("python", ["python3", "-c", "import time; time.sleep(300)"])]:
            time.sleep(settle)
            before = mem_used()
            rows, used = silo_cells(silo, run_dir, k, cmd, settle)
            charges = [r["cgroup_bytes"] for r in rows if r["cgroup_bytes"] is not None]
            result["kinds"][name] = {
                "command": cmd,
                "uss": med(rows, "total", "uss"), "pss": med(rows, "total", "pss"),
                "rss": med(rows, "total", "rss"),
                "supervisor_uss": med(rows, "supervisor", "uss"),
                "init_uss": med(rows, "init", "uss"),
                "agent_uss": med(rows, "agent", "uss"),
                "cgroup": statistics.median(charges) if charges else None,
                "cgroup_source": rows[0]["cgroup_source"] if rows else None,
                "system_delta": (used - before) / k,
                "cells": rows,
            }
        if bwrap_base:
            time.sleep(settle)
            before = mem_used()
            rows, used = bwrap_cells(bwrap_base, k, ["/bin/sleep", "300"], settle)
            result["bwrap_sleep"] = {
                "uss": med(rows, "total", "uss"), "pss": med(rows, "total", "pss"),
                "rss": med(rows, "total", "rss"), "system_delta": (used - before) / k,
                "processes": rows[0]["processes"] if rows else None,
            }
        return result
    finally:
        # only files silo's registry left in the directory we made
        for root, dirs, files in os.walk(run_dir, topdown=False):
            for f in files:
                os.unlink(os.path.join(root, f))
            for d in dirs:
                os.rmdir(os.path.join(root, d))
        os.rmdir(run_dir)


def main():
    silo = sys.argv[1]
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    r = measure(silo, k)
    mib = lambda b: "n/a" if b is None else f"{b / 2**20:.2f} MiB"
    for name, v in r["kinds"].items():
        print(f"idle cell ({name}), median of {k} at once: USS {mib(v['uss'])}  PSS {mib(v['pss'])}"
              f"  RSS {mib(v['rss'])}  cgroup {mib(v['cgroup'])} ({v['cgroup_source']})"
              f"  system delta {mib(v['system_delta'])}")
        print(f"   USS split: supervisor {mib(v['supervisor_uss'])}  init {mib(v['init_uss'])}"
              f"  agent {mib(v['agent_uss'])}")


if __name__ == "__main__":
    main()
