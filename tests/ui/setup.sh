#!/usr/bin/env bash
# Installs what the web UI checks need, once; later runs only check:
#
#   tests/ui/setup.sh
#
# - Chromium (and the other visualization tools) through tests/visualizations/setup.sh;
# - node_modules/ from package-lock.json (playwright-core, axe-core, uplot), re-installed when
#   the lock file changes;
# - that the uPlot compiled into the binary (crates/ets/ui/vendor) is byte for byte the npm
#   package's, so the vendored copy is the published one and nothing else.
# Exits non-zero, saying what is wrong, when anything cannot be installed or differs.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

fail() {
  echo "tests/ui/setup.sh: $*" >&2
  exit 1
}

"$ROOT/tests/visualizations/setup.sh" >&2 || fail "tests/visualizations/setup.sh failed (Chromium)"

stamp="$HERE/node_modules/.package-lock.sha256"
want="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "== installing tests/ui/node_modules (playwright-core, axe-core, uplot)" >&2
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >&2) || fail "npm ci failed"
  echo "$want" >"$stamp"
fi

vendor="$ROOT/crates/ets/ui/vendor"
for file in uPlot.iife.min.js uPlot.min.css; do
  cmp -s "$HERE/node_modules/uplot/dist/$file" "$vendor/$file" \
    || fail "crates/ets/ui/vendor/$file differs from uplot $(node -p "require('$HERE/node_modules/uplot/package.json').version") on npm: copy node_modules/uplot/dist/$file there"
done
cmp -s "$HERE/node_modules/uplot/LICENSE" "$vendor/uPlot.LICENSE" || fail "crates/ets/ui/vendor/uPlot.LICENSE differs from uplot's LICENSE"
echo "web UI checks ready: playwright-core $(node -p "require('$HERE/node_modules/playwright-core/package.json').version"), axe-core $(node -p "require('$HERE/node_modules/axe-core/package.json').version"), vendored uPlot matches npm"
