#!/usr/bin/env bash
# What the result store costs a scan, side by side in one run (issue 14's goal: <= 5% of wall
# time). The same SYN scan of one port over a /17 of AnyIP addresses where every address answers
# (32768 open ports, 32768 hosts up; tests/lab/lab.sh), REPS times each, interleaved:
#   1. --no-store
#   2. a fresh SQLite store (a new file each run)
#   3. an SQLite store already holding 10 such scans, each run adding one (10, 11, ... as a
#      store scanned every night grows; its WAL is copied into the database every few runs, as
#      it fills: that run pays for it, and the mean shows what it costs a scan on average)
#   4. a fresh PostgreSQL database (its schema made before the run), when PORTOLAN_TEST_PG
#      names a server or one can be started as .ci/services/store.sh does (package postgresql);
#      skipped with a message otherwise
#   5. a PostgreSQL database already holding 10 such scans, each run adding one (a team's
#      store in use: the fresh database's run also pays for the server's writing out of the
#      database just created)
# Each run starts with nothing left to write back (sync). Prints for each the median wall time
# and its ratio to --no-store's, the median of the ratios rep by rep (each run against the
# --no-store run just before it: what drifts on a shared machine cancels), the mean wall time's
# ratio, the median CPU time of the process
# (user + system: what the store costs on a loaded machine, where wall times are noisy), and the
# open ports found (in the scan's JSON Lines output) and stored (`portolan scans`).
#
# Needs root, iproute2, python3, bc and a release build (`cargo build --release -p portolan-cli`).
# Packets stay inside the lab's two namespaces (no route out).
# Usage: [REPS=3] [RATE=] bench/store-scan.sh      (RATE: a --max-rate for every run; none by default)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
RATE=${RATE:-}
LIMIT=${LIMIT:-300}
. bench/lib.sh
lab_begin pss
listen_tcp 80
SCAN=(scan 10.77.0.0/17 -Pn -p 80 --syn -q)
[ -z "$RATE" ] || SCAN+=(--max-rate "$RATE")
export PORTOLAN_DATA_DIR="$WORK/data"   # never the user's own store
mkdir -p "$PORTOLAN_DATA_DIR"

# PostgreSQL: the given server, or a throw-away cluster of our own (stopped on exit).
PG_ADMIN=${PORTOLAN_TEST_PG:-}
PG_STARTED=
if [ -z "$PG_ADMIN" ] && [ -f .ci/services/store.sh ]; then
  # shellcheck disable=SC1091
  . .ci/services/store.sh >/dev/null 2>&1 || true
  PG_ADMIN=${PORTOLAN_TEST_PG:-}
  [ -z "$PG_ADMIN" ] || PG_STARTED=${PORTOLAN_TEST_PG_DIR:-}
fi
PSQL=$(ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$PSQL" ] || PSQL=$(command -v psql || true)
pg_end() {
  if [ -n "$PG_ADMIN" ] && [ -n "$PSQL" ]; then
    for i in $(seq "$REPS"); do
      "$PSQL" -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS portolan_bench_$$_$i WITH (FORCE)" >/dev/null 2>&1 || true
    done
    "$PSQL" -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS portolan_bench_$$_ten WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "$PG_STARTED" ]; then
    runuser -u postgres -- "$(dirname "$PSQL")/pg_ctl" -D "$PG_STARTED" stop -m fast >/dev/null 2>&1 || true
    # The cluster's directory too (made by .ci/services/store.sh for this run), once stopped.
    case "$PG_STARTED" in
      /tmp/portolan-store-pg.*/data)
        [ -f "$PG_STARTED/postmaster.pid" ] || rm -rf "$(dirname "$PG_STARTED")" ;;
    esac
  fi
}
trap 'pg_end; lab_end' EXIT
pg_url() { echo "${PG_ADMIN%/*}/portolan_bench_$$_$1"; }
if [ -n "$PG_ADMIN" ] && [ -z "$PSQL" ]; then
  echo "no psql: the PostgreSQL case is skipped" >&2; PG_ADMIN=
fi
[ -n "$PG_ADMIN" ] || echo "no PostgreSQL server (PORTOLAN_TEST_PG, or package postgresql): that case is skipped" >&2

open_jsonl() { grep -c '"state":"open"' "$1" || true; }
# Ports stored by the latest scan of store $1.
stored() {
  "$BIN" scans --store "$1" --format json 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["scans"] if isinstance(d,dict) else d; print(s[-1]["ports_stored"] if s else 0)' 2>/dev/null || echo "?"
}

# The store holding 10 scans, made once.
echo "making a store of 10 scans ..." >&2
for i in $(seq 10); do
  timed "$WORK/prep" "$BIN" "${SCAN[@]}" --store "$WORK/ten.db" >/dev/null
done
if [ -n "$PG_ADMIN" ]; then
  "$PSQL" -q "$PG_ADMIN" -c "CREATE DATABASE portolan_bench_$$_ten" >/dev/null
  for i in $(seq 10); do
    timed "$WORK/prep" "$BIN" "${SCAN[@]}" --store "$(pg_url ten)" >/dev/null
  done
fi

T_NO=(); T_FRESH=(); T_TEN=(); T_PG=(); T_PGTEN=(); C_NO=(); C_FRESH=(); C_TEN=(); C_PG=(); C_PGTEN=()
# scan OUT CPUVAR ARGS...: one timed run of the scan; its wall time on stdout, its CPU time
# (user + system) appended to the array named CPUVAR.
scan() {
  local out=$1 cpu=$2; shift 2
  local t
  # What earlier runs and the store's copy left to write back goes to the disk first, so that
  # no run pays for another's (the kernel's writeback otherwise lands in whichever run is next).
  sync
  t=$(timed "$out" /usr/bin/time -o "$out.cpu" -f "%U %S" "$BIN" "${SCAN[@]}" "$@")
  eval "$cpu+=(\"$(awk '{print $1 + $2}' "$out.cpu" 2>/dev/null || echo timeout)\")"
  echo "$t"
}
F_NO=; F_FRESH=; F_TEN=; F_PG=; F_PGTEN=; S_FRESH=; S_TEN=; S_PG=; S_PGTEN=
for i in $(seq "$REPS"); do
  scan "$WORK/no" C_NO --no-store -o "jsonl=$WORK/no.jsonl" > "$WORK/t"; T_NO+=("$(cat "$WORK/t")")
  F_NO=$(open_jsonl "$WORK/no.jsonl")

  rm -f "$WORK/fresh.db"*
  scan "$WORK/fresh" C_FRESH --store "$WORK/fresh.db" -o "jsonl=$WORK/fresh.jsonl" > "$WORK/t"; T_FRESH+=("$(cat "$WORK/t")")
  F_FRESH=$(open_jsonl "$WORK/fresh.jsonl"); S_FRESH=$(stored "$WORK/fresh.db")

  scan "$WORK/ten" C_TEN --store "$WORK/ten.db" -o "jsonl=$WORK/ten.jsonl" > "$WORK/t"; T_TEN+=("$(cat "$WORK/t")")
  F_TEN=$(open_jsonl "$WORK/ten.jsonl"); S_TEN=$(stored "$WORK/ten.db")

  if [ -n "$PG_ADMIN" ]; then
    "$PSQL" -q "$PG_ADMIN" -c "CREATE DATABASE portolan_bench_$$_$i" >/dev/null
    # The schema is created before the timed run (as a store in use already has it).
    "$BIN" scans --store "$(pg_url "$i")" >/dev/null
    scan "$WORK/pg" C_PG --store "$(pg_url "$i")" -o "jsonl=$WORK/pg.jsonl" > "$WORK/t"; T_PG+=("$(cat "$WORK/t")")
    F_PG=$(open_jsonl "$WORK/pg.jsonl"); S_PG=$(stored "$(pg_url "$i")")

    scan "$WORK/pgten" C_PGTEN --store "$(pg_url ten)" -o "jsonl=$WORK/pgten.jsonl" > "$WORK/t"; T_PGTEN+=("$(cat "$WORK/t")")
    F_PGTEN=$(open_jsonl "$WORK/pgten.jsonl"); S_PGTEN=$(stored "$(pg_url ten)")
  fi
done

NO=$(median "${T_NO[@]}")
# The mean of numbers ("timeout" when one is).
mean() {
  case " $* " in *" timeout "*) echo timeout; return;; esac
  printf '%s\n' "$@" | awk '{s += $1} END {printf "%.4f\n", s / NR}'
}
NO_MEAN=$(mean "${T_NO[@]}")
# The median of the ratios rep by rep of the array named $1 to T_NO.
paired() {
  local -n t=$1
  local i r=()
  for i in "${!t[@]}"; do
    if [ "${t[$i]}" = timeout ] || [ "${T_NO[$i]}" = timeout ]; then r+=(timeout)
    else r+=("$(echo "scale=4; ${t[$i]} / ${T_NO[$i]}" | bc)"); fi
  done
  median "${r[@]}"
}
row() { # CASE SECONDS PAIRED-RATIO MEAN-SECONDS CPU FOUND STORED
  local ratio="-" mratio="-"
  [ "$2" = timeout ] || ratio=$(echo "scale=3; $2 / $NO" | bc)
  [ "$4" = timeout ] || mratio=$(echo "scale=3; $4 / $NO_MEAN" | bc)
  printf '%-38s %8.3f %7s %7s %7s %7s %7s %7s\n' "$1" "$2" "$ratio" "$3" "$mratio" "$5" "$6" "$7"
}
echo
echo "SYN scan of 10.77.0.0/17 port 80, every address answering; median of $REPS, and the mean's ratio (load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-38s %8s %7s %7s %7s %7s %7s %7s\n' case seconds ratio pair-r mean-r cpu-s open stored
row "--no-store" "$NO" 1 "$NO_MEAN" "$(median "${C_NO[@]}")" "$F_NO" -
row "SQLite, fresh store" "$(median "${T_FRESH[@]}")" "$(paired T_FRESH)" "$(mean "${T_FRESH[@]}")" "$(median "${C_FRESH[@]}")" "$F_FRESH" "$S_FRESH"
row "SQLite, store of 10+ scans, growing" "$(median "${T_TEN[@]}")" "$(paired T_TEN)" "$(mean "${T_TEN[@]}")" "$(median "${C_TEN[@]}")" "$F_TEN" "$S_TEN"
if [ -n "$PG_ADMIN" ]; then
  row "PostgreSQL, fresh database" "$(median "${T_PG[@]}")" "$(paired T_PG)" "$(mean "${T_PG[@]}")" "$(median "${C_PG[@]}")" "$F_PG" "$S_PG"
  row "PostgreSQL, 10+ scans, growing" "$(median "${T_PGTEN[@]}")" "$(paired T_PGTEN)" "$(mean "${T_PGTEN[@]}")" "$(median "${C_PGTEN[@]}")" "$F_PGTEN" "$S_PGTEN"
fi
echo "raw wall: no-store ${T_NO[*]} | fresh ${T_FRESH[*]} | ten ${T_TEN[*]} | pg ${T_PG[*]:-} | pg-ten ${T_PGTEN[*]:-}"
echo "raw cpu:  no-store ${C_NO[*]} | fresh ${C_FRESH[*]} | ten ${C_TEN[*]} | pg ${C_PG[*]:-} | pg-ten ${C_PGTEN[*]:-}"
