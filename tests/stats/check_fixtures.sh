#!/usr/bin/env bash
# Proves crates/ets-stats/tests/fixtures/cases.json comes from make_fixtures.py with the pinned
# SciPy/statsmodels: regenerates it into a temp file and diffs it with the committed one.
# Creates tests/stats/.venv from requirements.txt on first use. Exit 0 = identical.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
# shellcheck source=tests/venv.sh
source "$root/tests/venv.sh"
ensure_fixture_venv "$here"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
"$venv/bin/python" "$here/make_fixtures.py" "$tmp"
if diff -q "$root/crates/ets-stats/tests/fixtures/cases.json" "$tmp" >/dev/null; then
  echo "fixtures: cases.json matches make_fixtures.py ($(grep -c '"family"' "$tmp") cases)"
else
  diff -u "$root/crates/ets-stats/tests/fixtures/cases.json" "$tmp" | head -40
  echo "fixtures: cases.json differs from what make_fixtures.py generates" >&2
  exit 1
fi
