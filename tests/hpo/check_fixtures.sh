#!/usr/bin/env bash
# Proves crates/ets-hpo/tests/fixtures/*.json come from their gen_*.py scripts with the pinned
# Optuna: regenerates each into a temp file and compares it with the committed one (same data,
# floats to 12 significant digits: NumPy's CPU-specific SIMD kernels differ in the last bit;
# see same_json.py).
# Creates tests/hpo/.venv from requirements.txt on first use. Exit 0 = identical.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
fixtures="$root/crates/ets-hpo/tests/fixtures"
venv="$here/.venv"
# shellcheck source=tests/venv.sh
source "$root/tests/venv.sh"
ensure_fixture_venv "$here"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
status=0
for pair in pruner:pruners parzen:parzen split:split truncnorm:truncnorm; do
  gen="${pair%%:*}" out="${pair##*:}"
  "$venv/bin/python" "$fixtures/gen_${gen}_fixtures.py" >"$tmp"
  if "$venv/bin/python" "$here/same_json.py" "$fixtures/$out.json" "$tmp"; then
    echo "fixtures: $out.json matches gen_${gen}_fixtures.py"
  else
    echo "fixtures: $out.json differs from what gen_${gen}_fixtures.py generates" >&2
    status=1
  fi
done
exit "$status"
