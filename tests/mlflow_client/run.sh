#!/usr/bin/env bash
# MLflow client compatibility suite: runs unmodified `mlflow` clients against a tracking server.
#
#   tests/mlflow_client/run.sh ets    [pytest args...]   # against ETS (target/debug/ets, or $ETS_BIN)
#   tests/mlflow_client/run.sh mlflow [pytest args...]   # against the real MLflow server (reference)
#
# Each run starts the server on a free loopback port with a fresh temporary data dir, waits until
# it answers, runs pytest with MLFLOW_TRACKING_URI pointing at it, and stops it again. The exit code
# is pytest's; "no tests ran" (pytest exit 5) counts as a failure.
#
# Environment:
#   ETS_BIN                 use this ets binary instead of `cargo build --bin ets` + target/debug/ets
#   PYTHON                  interpreter used to create the venvs (default: python3)
#   SERVER_START_TIMEOUT    seconds to wait for the server to answer (default: 120)
#   MLFLOW_CLIENT_TRACE     file to which the suite appends one JSON line per HTTP request the
#                           mlflow client makes (see conftest.py)
#   ETS_AUTH                token | basic | basic-key: start ETS with authentication on
#                           (auth.enabled) and run the suite with credentials. `ets users create`
#                           bootstraps a global admin, who makes a second user, `suite`, admin of
#                           the `default` project only (where MLflow experiments live; `suite` is
#                           no global admin, so the per-project roles are what let it work). The
#                           client authenticates as `suite` with MLFLOW_TRACKING_TOKEN (token: an
#                           API key as Bearer), or MLFLOW_TRACKING_USERNAME/PASSWORD (basic: the
#                           password; basic-key: an API key as the password).
set -euo pipefail

ORIG_PWD="$PWD"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
SERVER_START_TIMEOUT="${SERVER_START_TIMEOUT:-120}"
# No usage telemetry from the mlflow client or server (this machine has no internet anyway).
export MLFLOW_DISABLE_TELEMETRY=true
if [[ -n "${MLFLOW_CLIENT_TRACE:-}" && "$MLFLOW_CLIENT_TRACE" != /* ]]; then
  export MLFLOW_CLIENT_TRACE="$ORIG_PWD/$MLFLOW_CLIENT_TRACE"
fi

usage() {
  echo "usage: $0 ets|mlflow [pytest args...]" >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
TARGET="$1"
shift
case "$TARGET" in
  ets | mlflow) ;;
  *) usage ;;
esac
AUTH_MODE="${ETS_AUTH:-}"
case "$AUTH_MODE" in
  "" | token | basic | basic-key) ;;
  *)
    echo "ETS_AUTH must be token, basic or basic-key, not '$AUTH_MODE'" >&2
    exit 2
    ;;
esac
if [[ -n "$AUTH_MODE" && "$TARGET" != ets ]]; then
  echo "ETS_AUTH applies to ETS only" >&2
  exit 2
fi
# Only the credentials this script sets reach the client.
unset MLFLOW_TRACKING_TOKEN MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD

log() { echo "== $*" >&2; }

# ensure_venv DIR REQUIREMENTS: create DIR as a venv and install REQUIREMENTS into it, unless a stamp
# file in it already records the hash of that requirements file (and of the interpreter version).
ensure_venv() {
  local dir="$1" req="$2" want stamp="$1/.requirements.sha256"
  want="$({ sha256sum "$req" | cut -d' ' -f1; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
  if [[ -x "$dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  log "installing $(basename "$req") into ${dir#"$REPO"/} (first run takes a few minutes)"
  if [[ ! -x "$dir/bin/python" ]]; then
    "$PYTHON" -m venv "$dir"
  fi
  rm -f "$stamp"
  "$dir/bin/python" -m pip install --disable-pip-version-check --quiet -r "$req" >&2
  echo "$want" >"$stamp"
}

CLIENT_VENV="$HERE/.venv"
SERVER_VENV="$HERE/.venv-server"
ensure_venv "$CLIENT_VENV" "$HERE/requirements.txt"
if [[ "$TARGET" == mlflow ]]; then
  ensure_venv "$SERVER_VENV" "$HERE/requirements-server.txt"
fi

if [[ "$TARGET" == ets ]]; then
  if [[ -n "${ETS_BIN:-}" ]]; then
    ETS="$ETS_BIN"
  else
    log "cargo build --bin ets"
    (cd "$REPO" && cargo build --bin ets)
    ETS="${CARGO_TARGET_DIR:-$REPO/target}/debug/ets"
  fi
  [[ -x "$ETS" ]] || {
    echo "ets binary not found or not executable: $ETS" >&2
    exit 1
  }
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/ets-mlflow-client.XXXXXX")"
SERVER_PID=""
SERVER_LOG="$TMP/server.log"

stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  # The server runs in its own session (setsid), so its process group holds it and any workers it
  # forked; signal exactly that group.
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

cleanup() {
  stop_server
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$("$CLIENT_VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
URL="http://127.0.0.1:$PORT"

if [[ "$TARGET" == ets ]]; then
  mkdir -p "$TMP/data"
  log "starting ets on $URL"
  # ETS reads every ETS_* variable as configuration (and refuses unknown ones): pass none of ours.
  AUTH_ENABLED=false
  [[ -n "$AUTH_MODE" ]] && AUTH_ENABLED=true
  setsid env -u ETS_BIN -u ETS_AUTH ETS_AUTH__ENABLED="$AUTH_ENABLED" \
    "$ETS" serve --host 127.0.0.1 --port "$PORT" --metrics-port 0 --data-dir "$TMP/data" \
    >"$SERVER_LOG" 2>&1 </dev/null &
  SERVER_PID=$!
  HEALTH_PATHS=(/health)
else
  mkdir -p "$TMP/artifacts"
  log "starting mlflow server on $URL"
  # Artifact proxying (--serve-artifacts, runs get mlflow-artifacts:/ URIs) is on by default.
  setsid "$SERVER_VENV/bin/mlflow" server --host 127.0.0.1 --port "$PORT" \
    --backend-store-uri "sqlite:///$TMP/mlflow.db" --artifacts-destination "$TMP/artifacts" \
    --workers 1 >"$SERVER_LOG" 2>&1 </dev/null &
  SERVER_PID=$!
  HEALTH_PATHS=(/health "/api/2.0/mlflow/experiments/search?max_results=1")
fi

server_answers() {
  local path
  for path in "${HEALTH_PATHS[@]}"; do
    if "$CLIENT_VENV/bin/python" - "$URL$path" <<'EOF' 2>/dev/null; then
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
      return 0
    fi
  done
  return 1
}

server_failed() {
  echo "$1" >&2
  echo "---- last 40 lines of the server log ----" >&2
  tail -n 40 "$SERVER_LOG" >&2 || true
  echo "----" >&2
  exit 1
}

deadline=$((SECONDS + SERVER_START_TIMEOUT))
until server_answers; do
  kill -0 "$SERVER_PID" 2>/dev/null || server_failed "$TARGET server exited before it answered on $URL"
  ((SECONDS < deadline)) || server_failed "$TARGET server did not answer on $URL within ${SERVER_START_TIMEOUT}s"
  sleep 0.5
done
log "server is up"

# ets_cli ARGS...: the `ets` command line on the server's database (while it serves).
ets_cli() {
  env -u ETS_BIN -u ETS_AUTH "$ETS" "$@" --data-dir "$TMP/data"
}

# Users and credentials of an ETS_AUTH run (see the header).
setup_auth() {
  local admin_key suite_key suite_password
  # (Called as `setup_auth || …`, where `set -e` does not apply: each step checks itself.)
  admin_key="$(ets_cli users create suite-admin --admin | tail -n 1)" || return 1
  suite_password="$("$CLIENT_VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))')" || return 1
  suite_key="$(printf '%s\n' "$suite_password" | ets_cli users create suite --password-stdin | tail -n 1)" || return 1
  [[ "$admin_key" == ets_* && "$suite_key" == ets_* ]] || return 1
  "$CLIENT_VENV/bin/python" - "$URL" "$admin_key" <<'EOF' || return 1
import json, sys, urllib.error, urllib.request
url, admin_key = sys.argv[1], sys.argv[2]
default_project = "0" * 32
grant = urllib.request.Request(
    f"{url}/api/v1/projects/{default_project}/members/suite",
    data=json.dumps({"role": "admin"}).encode(),
    headers={"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"},
    method="PUT",
)
with urllib.request.urlopen(grant, timeout=30) as r:
    assert r.status == 200, r.status
# Authentication is really on: no credentials, no answer.
try:
    urllib.request.urlopen(f"{url}/api/2.0/mlflow/experiments/search?max_results=1", timeout=30)
    sys.exit("ETS answered without credentials: authentication is off")
except urllib.error.HTTPError as e:
    assert e.code == 401, e.code
EOF
  case "$AUTH_MODE" in
    token) export MLFLOW_TRACKING_TOKEN="$suite_key" ;;
    basic) export MLFLOW_TRACKING_USERNAME=suite MLFLOW_TRACKING_PASSWORD="$suite_password" ;;
    basic-key) export MLFLOW_TRACKING_USERNAME=suite MLFLOW_TRACKING_PASSWORD="$suite_key" ;;
  esac
  log "authentication on ($AUTH_MODE): the suite runs as 'suite', admin of the default project"
}
if [[ -n "$AUTH_MODE" ]]; then
  setup_auth || server_failed "could not set up users for ETS_AUTH=$AUTH_MODE"
fi

# pytest runs inside the suite's folder; test paths given relative to the caller's folder
# (e.g. tests/mlflow_client/test_runs.py::test_nested_runs from the repo root) still work.
PYTEST_ARGS=()
for arg in "$@"; do
  if [[ "$arg" != -* && "$arg" != /* && -e "$ORIG_PWD/${arg%%::*}" ]]; then
    PYTEST_ARGS+=("$ORIG_PWD/$arg")
  else
    PYTEST_ARGS+=("$arg")
  fi
done

rc=0
(
  cd "$HERE"
  MLFLOW_TRACKING_URI="$URL" ETS_TARGET="$TARGET" ETS_AUTH="$AUTH_MODE" \
    "$CLIENT_VENV/bin/python" -m pytest -c "$HERE/pytest.ini" --rootdir "$HERE" \
    --basetemp "$TMP/pytest" ${PYTEST_ARGS[@]+"${PYTEST_ARGS[@]}"}
) || rc=$?

stop_server
if [[ $rc -eq 5 ]]; then
  echo "pytest collected no tests: counted as a failure" >&2
fi
exit "$rc"
