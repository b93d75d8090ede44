# shellcheck shell=bash
# Provides PostgreSQL for the tests that run against it, and exports PG_TEST_URL for them.
# Source it, then call `start_postgres`; `stop_postgres` stops what it started (scripts/test
# does both, with a trap).
#
# If PG_TEST_URL is set already, that server is used as is (nothing is started). Otherwise a
# throwaway cluster is created with the installed PostgreSQL binaries (`initdb`, `pg_ctl`) in a
# temporary folder and started on 127.0.0.1 only, port PG_TEST_PORT (default 5432, or a free
# port when 5432 is taken). As root, the cluster runs as the `postgres` user.
#
# The cluster runs with `ssl = on` (as Debian's clusters do) and a certificate for 127.0.0.1 and
# localhost signed by a throwaway CA made with openssl; PG_TEST_SSL_ROOTCERT names that CA's
# file, for the tests of each libpq `sslmode` (they skip without it, outside CI).

PG_STARTED_DIR=""
PG_RUN_AS=()

pg_bin() {
  local dir
  for dir in "${PG_BIN_DIR:-}" /usr/lib/postgresql/*/bin; do
    if [[ -n "$dir" && -x "$dir/pg_ctl" ]]; then
      echo "$dir"
      return 0
    fi
  done
  command -v pg_ctl >/dev/null 2>&1 && dirname "$(command -v pg_ctl)" && return 0
  echo "no PostgreSQL binaries (pg_ctl) found; install postgresql or set PG_BIN_DIR" >&2
  return 1
}

pg_ready() {
  local python="${PYTHON:-python3}"
  "$python" - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.close()
PY
}

# pg_make_certs DIR: a CA (DIR/ca.crt) and a server certificate for 127.0.0.1 and localhost
# signed by it (DIR/server.crt, DIR/server.key), unless DIR has them already.
pg_make_certs() {
  local dir="$1"
  if [[ -s "$dir/ca.crt" && -s "$dir/server.crt" && -s "$dir/server.key" ]]; then
    return 0
  fi
  mkdir -p "$dir"
  (
    cd "$dir" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ETS test CA" \
      -keyout ca.key -out ca.crt -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" &&
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key \
        -out server.csr &&
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext &&
      openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile server.ext -out server.crt
  ) >"$dir/openssl.log" 2>&1 || {
    echo "openssl could not make the test certificates:" >&2
    tail -n 20 "$dir/openssl.log" >&2
    return 1
  }
  chmod 600 "$dir/server.key"
}

start_postgres() {
  if [[ -n "${PG_TEST_URL:-}" ]]; then
    echo "== PostgreSQL from PG_TEST_URL" >&2
    return 0
  fi
  local bin port python="${PYTHON:-python3}"
  bin="$(pg_bin)" || return 1
  port="${PG_TEST_PORT:-5432}"
  if pg_ready "$port"; then
    port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
  fi
  PG_STARTED_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ets-pg.XXXXXX")"
  if [[ "$(id -u)" == "0" ]]; then
    chown postgres "$PG_STARTED_DIR"
    PG_RUN_AS=(runuser -u postgres --)
  fi
  if ! "${PG_RUN_AS[@]}" "$bin/initdb" -D "$PG_STARTED_DIR/data" -U postgres -A trust -E UTF8 \
    --no-sync >"$PG_STARTED_DIR/initdb.log" 2>&1; then
    echo "initdb failed:" >&2
    tail -n 20 "$PG_STARTED_DIR/initdb.log" >&2
    return 1
  fi
  local ssl="$PG_STARTED_DIR/ssl"
  pg_make_certs "$ssl" || return 1
  if [[ "$(id -u)" == "0" ]]; then
    chown -R postgres "$ssl"
  fi
  # Loopback only; no fsync (a throwaway test cluster); enough connections for parallel tests;
  # TLS offered as on a stock Debian cluster.
  if ! "${PG_RUN_AS[@]}" "$bin/pg_ctl" -D "$PG_STARTED_DIR/data" -l "$PG_STARTED_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_STARTED_DIR -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 \
        -c ssl=on -c ssl_cert_file=$ssl/server.crt -c ssl_key_file=$ssl/server.key" start >/dev/null; then
    echo "PostgreSQL did not start on port $port:" >&2
    tail -n 20 "$PG_STARTED_DIR/server.log" >&2 || true
    return 1
  fi
  export PG_TEST_URL="postgres://postgres@127.0.0.1:$port/postgres"
  export PG_TEST_SSL_ROOTCERT="$ssl/ca.crt"
  echo "== PostgreSQL on 127.0.0.1:$port with TLS ($PG_STARTED_DIR)" >&2
}

stop_postgres() {
  if [[ -n "$PG_STARTED_DIR" && -d "$PG_STARTED_DIR/data" ]]; then
    local bin
    bin="$(pg_bin)" && "${PG_RUN_AS[@]}" "$bin/pg_ctl" -D "$PG_STARTED_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_STARTED_DIR"
    PG_STARTED_DIR=""
  fi
}
