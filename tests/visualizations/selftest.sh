#!/usr/bin/env bash
# Checks the checks: runs each tool of this folder on figures that must pass (one of each trace
# type, written by `cargo run -p ets-charts --example sample_figures`) and on inputs that must
# fail (an invalid property, NaN, a network request, a console error, a blank page, a WebGL
# chart under a CSP that stops it, blank and text-less PDF pages).
#
#   tests/visualizations/selftest.sh      # after tests/visualizations/setup.sh
#
# Ends with "selftest: N passed, M failed"; exits 1 if any case went the wrong way.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="$HERE/.venv/bin/python"
CHROMIUM="${CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}"
[[ -x "$PY" && -d "$HERE/node_modules/playwright-core" ]] || {
  echo "run tests/visualizations/setup.sh first" >&2
  exit 1
}

TMP="$(mktemp -d "${TMPDIR:-/tmp}/ets-vis-selftest.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

# expect pass|fail NAME COMMAND...: runs COMMAND (output in $TMP/NAME.log) and counts whether it
# passed or failed as expected.
expect() {
  local want="$1" name="$2" got=pass
  shift 2
  "$@" >"$TMP/$name.log" 2>&1 || got=fail
  if [[ "$got" == "$want" ]]; then
    passed=$((passed + 1))
    echo "ok   $name (${want/pass/passe}s as it should)"
    # Why it failed: the failure lines of the tool.
    [[ "$want" == fail ]] && grep -E '^(FAIL|  - )' "$TMP/$name.log" | sed 's/^/       /' | head -n 4
    true
  else
    failed=$((failed + 1))
    echo "FAIL $name: expected to $want, but it ${got}ed:"
    sed 's/^/    /' "$TMP/$name.log"
  fi
}

# Prints a PDF of HTML file $1 to $2 with the system Chromium.
print_pdf() {
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-pdf-header-footer \
    --print-to-pdf="$2" "file://$1" >"$TMP/chromium.log" 2>&1 && [[ -s "$2" ]] || {
    cat "$TMP/chromium.log" >&2
    return 1
  }
}

echo "== sample figures"
(cd "$REPO" && cargo run --quiet --locked -p ets-charts --example sample_figures -- "$TMP/figures")
shopt -s nullglob
figures=("$TMP"/figures/*.json)
[[ ${#figures[@]} -ge 6 ]] || {
  echo "the example wrote only ${#figures[@]} figure(s)" >&2
  exit 1
}

echo "== validate_plotly.py"
expect pass validate-samples "$PY" "$HERE/validate_plotly.py" "${figures[@]}"
echo '{"data": [{"type": "scatter", "x": [1], "colour": "red"}], "layout": {}}' >"$TMP/unknown-property.json"
expect fail validate-unknown-property "$PY" "$HERE/validate_plotly.py" "$TMP/unknown-property.json"
echo '{"data": [{"type": "scatter", "y": [1, NaN]}], "layout": {}}' >"$TMP/nan.json"
expect fail validate-nan "$PY" "$HERE/validate_plotly.py" "$TMP/nan.json"
echo '{"data": [{"type": "bar", "marker": {"color": "#12345"}}], "layout": {}}' >"$TMP/bad-colour.json"
expect fail validate-bad-colour "$PY" "$HERE/validate_plotly.py" "${figures[0]}" "$TMP/bad-colour.json"

echo "== render_html.mjs"
expect pass render-report node "$HERE/render_html.mjs" "$TMP/figures/report.html" "$TMP/report.png"
expect pass render-parallel node "$HERE/render_html.mjs" "$TMP/figures/parallel.html" "$TMP/parallel.png"
page="$TMP/figures/line.html"
# A script from the network (on loopback, and blocked anyway).
sed 's|<meta charset="utf-8">|<meta charset="utf-8"><script src="http://127.0.0.1:9/x.js"></script>|' "$page" >"$TMP/network.html"
expect fail render-network-request node "$HERE/render_html.mjs" "$TMP/network.html" "$TMP/network.png"
sed 's|</body>|<script>console.error("broken")</script></body>|' "$page" >"$TMP/console.html"
expect fail render-console-error node "$HERE/render_html.mjs" "$TMP/console.html" "$TMP/console.png"
printf '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body></body></html>\n' >"$TMP/empty.html"
RENDER_TIMEOUT_MS=5000 expect fail render-no-graph node "$HERE/render_html.mjs" "$TMP/empty.html" "$TMP/empty.png"
sed "s/ 'unsafe-eval'//" "$TMP/figures/parallel.html" >"$TMP/no-eval.html"
expect fail render-webgl-stopped-by-csp node "$HERE/render_html.mjs" "$TMP/no-eval.html" "$TMP/no-eval.png"

echo "== check_pdf.sh"
text="Not a medical device."
page_html() { printf '<div style="page-break-after: always"><h1>Page %s</h1><p>%s</p></div>\n' "$1" "$2"; }
{
  page_html 1 "Research use only. Not a medical"$'\n'"device."
  page_html 2 "$text"
  page_html 3 "$text"
} >"$TMP/every-page.html"
{
  page_html 1 "$text"
  page_html 2 "Nothing to see."
} >"$TMP/one-page-without.html"
{
  page_html 1 "$text"
  printf '<div style="page-break-after: always; height: 10px"></div>\n'
  page_html 3 "$text"
} >"$TMP/blank-page.html"
for name in every-page one-page-without blank-page; do
  print_pdf "$TMP/$name.html" "$TMP/$name.pdf"
done
expect pass pdf-text-on-every-page "$HERE/check_pdf.sh" "$TMP/every-page.pdf" --expect-text "$text" --pages 3
expect fail pdf-wrong-page-count "$HERE/check_pdf.sh" "$TMP/every-page.pdf" --pages 2
expect fail pdf-text-missing-on-a-page "$HERE/check_pdf.sh" "$TMP/one-page-without.pdf" --expect-text "$text"
expect fail pdf-blank-page "$HERE/check_pdf.sh" "$TMP/blank-page.pdf"
echo "not a pdf" >"$TMP/not.pdf"
expect fail pdf-not-a-pdf "$HERE/check_pdf.sh" "$TMP/not.pdf"

echo "selftest: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
