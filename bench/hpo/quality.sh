#!/usr/bin/env bash
# Quality benchmark of issue 16: ETS's TPE and random samplers (crates/ets-hpo, in-process) vs
# Optuna 4.9's TPESampler and RandomSampler, on Branin, Hartmann-6, Rosenbrock-10 and a mixed
# categorical + conditional space; each run asks, evaluates and tells sequentially. Prints a
# Markdown table per function (median and quartiles of the best value found over the seeds) and
# a two-sided Mann-Whitney U test of ETS TPE vs Optuna TPE (bench/hpo/report.py).
#
#   bench/hpo/quality.sh                          # 20 seeds x 100 trials, all four functions
#   bench/hpo/quality.sh --seeds 5 --trials 50 --functions branin,mixed
#   bench/hpo/quality.sh --out DIR                # also keep ets.jsonl, optuna.jsonl, report.md
#
# The first run creates bench/hpo/.venv from requirements.txt (Optuna, NumPy, SciPy); it is
# reused while a stamp in it matches the requirements and the interpreter.
# The venv is made with python3; CARGO_TARGET_DIR is honoured.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

SEEDS=20
TRIALS=100
FUNCTIONS="branin,hartmann6,rosenbrock10,mixed"
OUT=""
usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seeds) SEEDS="$2"; shift 2 ;;
    --trials) TRIALS="$2"; shift 2 ;;
    --functions) FUNCTIONS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

log() { echo "== $*" >&2; }

if [[ -n "$OUT" ]]; then
  mkdir -p "$OUT"
  OUT="$(cd "$OUT" && pwd)"
else
  OUT="$(mktemp -d)"
  trap 'rm -rf "$OUT"' EXIT
fi

# shellcheck source=tests/venv.sh
source "$REPO/tests/venv.sh"
log "venv bench/hpo/.venv (optuna, numpy, scipy)"
ensure_fixture_venv "$HERE"
PY="$HERE/.venv/bin/python"

cd "$REPO"
log "cargo build -p ets-hpo --release --example hpo_quality"
cargo build -p ets-hpo --release --example hpo_quality
target_dir="$(cargo metadata --format-version 1 --no-deps |
  "$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
BIN="$target_dir/release/examples/hpo_quality"

common=(--seeds "$SEEDS" --trials "$TRIALS" --functions "$FUNCTIONS")
start=$SECONDS
log "ETS: tpe and random, $SEEDS seeds x $TRIALS trials on $FUNCTIONS"
"$BIN" "${common[@]}" >"$OUT/ets.jsonl"
ets_s=$((SECONDS - start))
log "ETS done in ${ets_s} s"
start=$SECONDS
log "Optuna $("$PY" -c 'import optuna; print(optuna.__version__)'): tpe and random, same runs"
"$PY" "$HERE/optuna_quality.py" "${common[@]}" >"$OUT/optuna.jsonl"
optuna_s=$((SECONDS - start))
log "Optuna done in ${optuna_s} s"

{
  "$PY" "$HERE/report.py" "$OUT/ets.jsonl" "$OUT/optuna.jsonl"
  echo "Wall time of the runs: ETS ${ets_s} s, Optuna ${optuna_s} s ($SEEDS seeds x $TRIALS trials x 2 samplers per side on $(nproc) cores)."
} | tee "$OUT/report.md"
