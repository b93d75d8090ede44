#!/usr/bin/env bash
# Side-by-side benchmark: ETS, the MLflow tracking server and FastTrackML, driven through the same
# MLflow REST API client code (bench/compare/harness.py, whose docstring describes the workloads).
#
#   bench/compare/run.sh                                  # all three servers, default sizes
#   bench/compare/run.sh --servers ets --quick            # smoke run (CI): ETS alone, tiny sizes
#   bench/compare/run.sh --servers ets,mlflow --json out.json
#   bench/compare/run.sh --pg-url postgres://postgres@127.0.0.1:5432/postgres   # all on PostgreSQL
#   bench/compare/run.sh --help                           # every size flag
#
# The servers run one after the other, each on a fresh temporary directory and a free loopback
# port. The first run creates bench/compare/.venv (mlflow, fasttrackml, requests; a few minutes);
# with `--servers ets` alone only `requests` is needed, in bench/compare/.venv-light. Either venv is
# reused while a stamp in it matches the hash of requirements.txt and the interpreter version.
#
# Environment:
#   ETS_BIN   use this ets binary instead of `cargo build --release --bin ets` + target/release/ets
#   BENCH_PROFILE  the cargo profile to build ETS with (default release; `dist` is what the
#             Dockerfile ships: fat LTO, ~16 min to build on 2 cores)
#   PYTHON    interpreter used to create the venvs (default: python3)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
REQ="$HERE/requirements.txt"
# No usage telemetry from the mlflow server (this machine has no internet anyway).
export MLFLOW_DISABLE_TELEMETRY=true

log() { echo "== $*" >&2; }

# The servers asked for (the harness parses the flag again; here it only picks the venv).
SERVERS="ets,mlflow,fasttrackml"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --servers) SERVERS="${args[i + 1]:-}" ;;
    --servers=*) SERVERS="${args[i]#--servers=}" ;;
  esac
done

# ensure_venv DIR KIND: create DIR as a venv with the packages of KIND (full: requirements.txt;
# light: its requests line only), unless a stamp in it records the hash of requirements.txt, KIND
# and the interpreter version.
ensure_venv() {
  local dir="$1" kind="$2" want stamp="$1/.requirements.sha256" tmp
  want="$({ sha256sum "$REQ" | cut -d' ' -f1; echo "$kind"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
  if [[ -x "$dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  log "installing the $kind requirements into ${dir#"$REPO"/} (the full set takes a few minutes)"
  if [[ ! -x "$dir/bin/python" ]]; then
    "$PYTHON" -m venv "$dir"
  fi
  rm -f "$stamp"
  local pip=("$dir/bin/python" -m pip install --disable-pip-version-check --quiet)
  "${pip[@]}" --upgrade pip >&2
  if [[ "$kind" == light ]]; then
    "${pip[@]}" "$(grep -E '^requests==' "$REQ")" >&2
  else
    tmp="$(mktemp)"
    grep -v -E '^fasttrackml==' "$REQ" >"$tmp"
    "${pip[@]}" -r "$tmp" >&2
    rm -f "$tmp"
    # Only the Go binary `fml` of this wheel is used; its mlflow<3 requirement would clash.
    "${pip[@]}" --no-deps "$(grep -E '^fasttrackml==' "$REQ")" >&2
  fi
  echo "$want" >"$stamp"
}

if [[ "$SERVERS" == ets ]]; then
  VENV="$HERE/.venv-light"
  ensure_venv "$VENV" light
else
  VENV="$HERE/.venv"
  ensure_venv "$VENV" full
fi

if [[ -n "${ETS_BIN:-}" ]]; then
  ETS="$ETS_BIN"
else
  PROFILE="${BENCH_PROFILE:-release}"
  log "cargo build --profile $PROFILE --bin ets"
  (cd "$REPO" && cargo build --profile "$PROFILE" --bin ets)
  ETS="${CARGO_TARGET_DIR:-$REPO/target}/$PROFILE/ets"
fi
[[ -x "$ETS" ]] || {
  echo "ets binary not found or not executable: $ETS" >&2
  exit 1
}

# The exact command, for the report header.
BENCH_COMPARE_COMMAND="bench/compare/run.sh"
if [[ $# -gt 0 ]]; then
  BENCH_COMPARE_COMMAND+=" $(printf '%q ' "$@")"
  BENCH_COMPARE_COMMAND="${BENCH_COMPARE_COMMAND% }"
fi
[[ -n "${ETS_BIN:-}" ]] && BENCH_COMPARE_COMMAND="ETS_BIN=$(printf '%q' "$ETS_BIN") $BENCH_COMPARE_COMMAND"
export BENCH_COMPARE_COMMAND

# ETS reads every ETS_* variable as configuration and refuses unknown ones: ETS_BIN must not reach
# the server (the harness drops it too).
exec env -u ETS_BIN "$VENV/bin/python" "$HERE/harness.py" --ets-bin "$ETS" --repo "$REPO" "$@"
