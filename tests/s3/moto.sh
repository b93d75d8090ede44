# shellcheck shell=bash
# Starts moto_server (an S3-compatible server) on a free loopback port for the S3 artifact tests,
# and exports S3_TEST_ENDPOINT for them. Source it, then call `start_moto`; `stop_moto` stops it
# (scripts/test does both, with a trap).
#
# Uses `moto_server` from PATH when it works, else installs moto[server] (pinned in
# requirements.txt) into tests/s3/.venv once. PYTHON picks the interpreter (default python3).

S3_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MOTO_PID=""
MOTO_LOG=""

moto_binary() {
  if command -v moto_server >/dev/null 2>&1 && moto_server --help >/dev/null 2>&1; then
    command -v moto_server
    return 0
  fi
  local venv="$S3_DIR/.venv" python="${PYTHON:-python3}" want stamp
  stamp="$venv/.requirements.sha256"
  want="$({ sha256sum "$S3_DIR/requirements.txt" | cut -d' ' -f1; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
  if [[ ! -x "$venv/bin/moto_server" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "== installing moto[server] into tests/s3/.venv" >&2
    [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv" >&2
    rm -f "$stamp"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$S3_DIR/requirements.txt" >&2
    echo "$want" >"$stamp"
  fi
  echo "$venv/bin/moto_server"
}

start_moto() {
  local binary port python="${PYTHON:-python3}"
  binary="$(moto_binary)" || return 1
  port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
  MOTO_LOG="$(mktemp "${TMPDIR:-/tmp}/ets-moto.XXXXXX.log")"
  # Its own session, so stop_moto can signal exactly its process group.
  setsid "$binary" -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 </dev/null &
  MOTO_PID=$!
  local deadline=$((SECONDS + 60))
  until "$python" - "http://127.0.0.1:$port/" <<'PY' 2>/dev/null; do
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
    if ! kill -0 "$MOTO_PID" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "moto_server did not start on port $port:" >&2
      tail -n 20 "$MOTO_LOG" >&2 || true
      stop_moto
      return 1
    fi
    sleep 0.3
  done
  export S3_TEST_ENDPOINT="http://127.0.0.1:$port"
  echo "== moto_server on $S3_TEST_ENDPOINT" >&2
}

stop_moto() {
  if [[ -n "$MOTO_PID" ]] && kill -0 "$MOTO_PID" 2>/dev/null; then
    kill -TERM -- "-$MOTO_PID" 2>/dev/null || true
    for _ in $(seq 1 30); do
      kill -0 "$MOTO_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
  fi
  MOTO_PID=""
  [[ -n "$MOTO_LOG" ]] && rm -f "$MOTO_LOG"
  MOTO_LOG=""
}
