#!/usr/bin/env bash
# Installs what the visualization checks in this folder need, once; later runs only check:
#
#   tests/visualizations/setup.sh
#
# - Debian packages `chromium` (render_html.mjs) and `poppler-utils` (check_pdf.sh), with apt-get,
#   only when their commands are missing (sudo only when not root);
# - tests/visualizations/.venv with requirements.txt (validate_plotly.py), re-installed when
#   requirements.txt or the interpreter changes;
# - node_modules/ from package-lock.json (playwright-core, which drives the system Chromium and
#   downloads no browser), re-installed when the lock file changes.
# Exits non-zero, saying what is missing, when anything cannot be installed.
#
# Environment: PYTHON (default python3) creates the venv; CHROMIUM (default: chromium on PATH).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"

log() { echo "== $*" >&2; }
fail() {
  echo "tests/visualizations/setup.sh: $*" >&2
  exit 1
}

# apt_install COMMAND PACKAGE: installs PACKAGE when COMMAND is not on PATH.
APT_UPDATED=""
apt_install() {
  local command="$1" package="$2" sudo=()
  command -v "$command" >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || fail "$command is missing and there is no apt-get: install $package"
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || fail "$command is missing: install $package (needs root)"
    sudo=(sudo)
  fi
  log "installing $package (for $command)"
  if [[ -z "$APT_UPDATED" ]]; then
    "${sudo[@]}" apt-get update -qq >&2 || fail "apt-get update failed"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "$package" >&2 || fail "apt-get install $package failed"
  command -v "$command" >/dev/null 2>&1 || fail "$package installed but $command is still missing"
}

if [[ -z "${CHROMIUM:-}" ]]; then
  apt_install chromium chromium
fi
chromium_bin="${CHROMIUM:-$(command -v chromium)}"
[[ -x "$chromium_bin" ]] || fail "Chromium not found at $chromium_bin"
for command in pdftoppm pdftotext pdfinfo; do
  apt_install "$command" poppler-utils
done

# Python: the same stamp-file venv as tests/mlflow_client/run.sh.
venv="$HERE/.venv"
stamp="$venv/.requirements.sha256"
want="$({ sha256sum "$HERE/requirements.txt" | cut -d' ' -f1; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "installing requirements.txt into tests/visualizations/.venv"
  [[ -x "$venv/bin/python" ]] || "$PYTHON" -m venv "$venv" >&2 || fail "cannot create $venv with $PYTHON"
  rm -f "$stamp"
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$HERE/requirements.txt" >&2 \
    || fail "pip install -r requirements.txt failed"
  echo "$want" >"$stamp"
fi

# Node: playwright-core needs node 20 or newer.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || fail "node and npm (20 or newer) are missing"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" -ge 20 ]] || fail "node $(node --version) is too old: playwright-core needs node 20 or newer"
node_stamp="$HERE/node_modules/.package-lock.sha256"
node_want="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$node_stamp" || "$(cat "$node_stamp")" != "$node_want" ]]; then
  log "installing playwright-core into tests/visualizations/node_modules"
  # playwright-core ships no browser and downloads none; render_html.mjs uses the system Chromium.
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >&2) || fail "npm ci failed"
  echo "$node_want" >"$node_stamp"
fi

echo "visualization checks ready: $("$venv/bin/python" -c 'import plotly; print("plotly.py", plotly.__version__)'), playwright-core $(node -p "require('$HERE/node_modules/playwright-core/package.json').version"), $("$chromium_bin" --version 2>/dev/null | head -n 1), $(pdftoppm -v 2>&1 | head -n 1)"
