# Sourced by the router benchmarks (router-throughput.sh, scale-out.sh):
# `noop_agents DIR AGENTS...` writes the no-op agent folders DIR/noop-<a> — `py` (python3 -S,
# one `POST /v1/complete` over the membrane socket with http.client, no SDK import) and `c`
# (the same call from a static C binary, bench/noop-agent.c, built with gcc) — readable by
# the agents' own uids. Run from the repository root.
noop_agents() {
  local dir_root="$1"
  shift
  local a dir entry
  mkdir -p "$dir_root"
  for a in "$@"; do
    dir="$dir_root/noop-$a"
    mkdir -p "$dir"
    case "$a" in
      py)
        entry='[python3, -S, main.py]'
        cat >"$dir/main.py" <<'PY'
import http.client, os, socket
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.environ["SILO_SOCKET"])
c = C("silo")
c.request("POST", "/v1/complete", body='{"status":"done","summary":"noop"}',
          headers={"x-silo-base-key": os.environ["SILO_BASE_KEY"],
                   "x-silo-task-key": os.environ["SILO_TASK_KEY"], "content-type": "application/json"})
assert c.getresponse().status == 200
PY
        ;;
      c)
        entry='[/agent/noop]'
        gcc -O2 -static -o "$dir/noop" bench/noop-agent.c 2>/dev/null ||
          gcc -O2 -o "$dir/noop" bench/noop-agent.c
        ;;
      *) echo "unknown agent \`$a\` (py, c)" >&2; return 2 ;;
    esac
    printf 'name: noop-%s\nversion: 0.0.1\nentry: %s\nlimits: { timeout: 30s }\n' \
      "$a" "$entry" >"$dir/agent.yaml"
  done
  chmod -R o+rX "$dir_root"
}
