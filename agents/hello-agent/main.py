"""hello-agent: the smallest silo agent.

It runs once inside a fresh cell, reads its own instructions, uses its
scratch space, reports what isolation it can see from the inside, and exits.
"""

import json
import os
import socket


def status_fields(*names):
    with open("/proc/self/status") as f:
        rows = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    return {n: rows.get(n, "?").strip() for n in names}


def try_network():
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        return "AF_INET socket created (unexpected)"
    except OSError as e:
        return f"refused: {e.strerror}"


def main():
    with open(os.path.join(os.environ.get("SILO_AGENT_DIR", "/agent"), "instructions.md")) as f:
        title = f.readline().strip("# \n")
    scratch = os.path.join(os.environ["TMPDIR"], "note.txt")
    with open(scratch, "w") as f:
        f.write("gone when the cell exits\n")
    report = {
        "agent": title,
        "cell": os.environ.get("SILO_CELL_ID"),
        "uid": os.getuid(),
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "writable": scratch,
        "network": try_network(),
        **status_fields("CapEff", "CapBnd", "NoNewPrivs", "Seccomp"),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
