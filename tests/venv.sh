# shellcheck shell=bash
# ensure_fixture_venv DIR: the venv DIR/.venv with DIR/requirements.txt installed, made on first
# use and re-installed when the requirements or the interpreter change (a stamp of both, as
# the other suites keep). Sourced by the fixture checks of tests/stats and tests/hpo.
ensure_fixture_venv() {
  local dir="$1" venv="$1/.venv" stamp want
  stamp="$venv/.requirements.sha256"
  want="$({ sha256sum "$dir/requirements.txt" | cut -d' ' -f1; python3 -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
  if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    rm -f "$stamp"
    "$venv/bin/pip" install --disable-pip-version-check --quiet -r "$dir/requirements.txt"
    echo "$want" >"$stamp"
  fi
}
