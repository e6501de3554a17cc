# portolan-store: the store's test suite also runs against a real PostgreSQL server. Start a
# throw-away cluster of our own (never the system's): initdb in a temporary directory as the
# `postgres` user, listening only on a Unix socket in that directory (no TCP port, so scans of
# loopback in other tests do not find it), trust authentication. Export its URL as PORTOLAN_TEST_PG, which
# the tests read. Idempotent (a reachable PORTOLAN_TEST_PG is kept); runs as root, no stdin.
# The server is left running for the tests; CI ends everything afterwards. By hand, stop it
# with: runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PORTOLAN_TEST_PG_DIR" stop
portolan_store_pg() {
  local bin dir port
  if [ -n "${PORTOLAN_TEST_PG:-}" ] && [ -n "${PORTOLAN_TEST_PG_DIR:-}" ] \
     && [ -f "$PORTOLAN_TEST_PG_DIR/postmaster.pid" ]; then
    echo "ci: store.sh: PostgreSQL already running at $PORTOLAN_TEST_PG"
    return 0
  fi
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1) || true
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || ! id postgres >/dev/null 2>&1; then
    echo "ci: store.sh: no PostgreSQL server installed (package postgresql); the PostgreSQL tests will fail under CI" >&2
    return 0
  fi
  dir=$(mktemp -d /tmp/portolan-store-pg.XXXXXX) || return 0
  chown postgres: "$dir" && chmod 700 "$dir" || return 0
  # The socket's name carries the port number; the directory is ours, so 5432 is free there.
  port=5432
  if ! runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres --auth=trust \
       --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
    echo "ci: store.sh: initdb failed (see $dir/initdb.log)" >&2
    return 0
  fi
  if ! runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
       -o "-c listen_addresses= -c port=$port -c unix_socket_directories=$dir -c fsync=off" \
       start >/dev/null 2>&1 </dev/null; then
    echo "ci: store.sh: the PostgreSQL server did not start (see $dir/server.log)" >&2
    return 0
  fi
  # The socket directory as the URL's host, percent-encoded.
  export PORTOLAN_TEST_PG="postgres://postgres@$(printf %s "$dir" | sed 's|/|%2F|g'):$port/postgres"
  export PORTOLAN_TEST_PG_DIR="$dir/data" PG_BIN="$bin"
  echo "ci: store.sh: PostgreSQL for the store's tests at $PORTOLAN_TEST_PG"
}
portolan_store_pg
true
