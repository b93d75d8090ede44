#!/usr/bin/env bash
# `ets import mlflow` against real MLflow stores (issue 17):
#
#   tests/mlflow_import/run.sh [pytest args...]
#
# The tests populate an MLflow tracking server (SQLite backend + artifact folder) and a
# ./mlruns file store with the real `mlflow` client (pinned in requirements.txt, installed
# into tests/mlflow_import/.venv on first use, idempotently), import each into a fresh
# `ets serve` with `ets import mlflow`, and compare record by record what the mlflow client
# reads from MLflow and from ETS; then import again and check nothing doubled.
#
# Environment:
#   ETS_BIN   the ets binary (default: `cargo build --bin ets`, then target/debug/ets)
#   PYTHON    interpreter used to create the venv (default: python3)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
export MLFLOW_DISABLE_TELEMETRY=true

VENV="$HERE/.venv"
want="$({ sha256sum "$HERE/requirements.txt" | cut -d' ' -f1; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.requirements.sha256"
if [[ ! -x "$VENV/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "== installing tests/mlflow_import/requirements.txt (first run takes a few minutes)" >&2
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  rm -f "$stamp"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r "$HERE/requirements.txt" >&2
  echo "$want" >"$stamp"
fi

if [[ -n "${ETS_BIN:-}" ]]; then
  ETS="$ETS_BIN"
else
  echo "== cargo build --bin ets" >&2
  (cd "$REPO" && cargo build --bin ets)
  ETS="${CARGO_TARGET_DIR:-$REPO/target}/debug/ets"
fi
[[ "$ETS" == /* ]] || ETS="$PWD/$ETS"
[[ -x "$ETS" ]] || {
  echo "ets binary not found or not executable: $ETS" >&2
  exit 1
}

TMP="$(mktemp -d "${TMPDIR:-/tmp}/ets-mlflow-import.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

rc=0
(
  cd "$HERE"
  # ETS reads every ETS_* variable as configuration: the tests pass the binary as IMPORT_ETS_BIN.
  env -u ETS_BIN IMPORT_ETS_BIN="$ETS" "$VENV/bin/python" -m pytest -c "$HERE/pytest.ini" \
    --rootdir "$HERE" --basetemp "$TMP/pytest" "$@"
) || rc=$?
if [[ $rc -eq 5 ]]; then
  echo "pytest collected no tests: counted as a failure" >&2
fi
exit "$rc"
