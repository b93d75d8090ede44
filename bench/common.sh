# Shared by the benchmark scripts (sourced, with REPO set to the repository's root).
#
# bench_setup NAME: ETS_BIN (the ets binary: `cargo build --release` unless ETS_BIN names one;
# CARGO_TARGET_DIR is honoured), TMP (a scratch folder named after NAME), and a trap that stops
# the server started as SERVER_PID and removes TMP on exit.
bench_setup() {
  if [[ -z "${ETS_BIN:-}" ]]; then
    (cd "$REPO" && cargo build --release --bin ets)
    ETS_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/ets"
  fi
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
  SERVER_PID=""
  trap bench_cleanup EXIT
}

bench_cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
