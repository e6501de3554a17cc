# Shared set-up of the scan benchmarks (sourced, not run): checks, the namespace lab with its
# cleanup, the 40 open ports of the lab tests, TCP listeners, and a timer.
#
#   lab_begin PREFIX   needs root and a release build; brings up lab PREFIX$$ (tests/lab/lab.sh)
#                      and sets NAME, S (scanner netns), T (target netns), IF (scanner's veth),
#                      TMAC (target's veth MAC), WORK (temporary directory); everything is removed on exit
#   forty_ports        prints the 40 open ports, comma-separated (as the lab tests use)
#   listen_tcp PORTS   starts TCP listeners on PORTS in the target and waits until they listen
#   timed OUT CMD...   runs CMD in the scanner namespace (LIMIT seconds at most, stdout to OUT,
#                      stderr to OUT.err) and prints its wall time in seconds, or "timeout"
#   median V...        prints the median of numbers ("timeout" counts as the largest)
# PORTOLAN=PATH picks the binary (default target/release/portolan). PORTOLAN_BASE=PATH adds a
# second portolan (e.g. main's release build) that the scripts run beside it in the same run,
# case by case, and report as "base" with its ratio: the no-slowdown check of a refactor.
# Packets stay inside the lab's two namespaces (no route out).

BIN=${PORTOLAN:-target/release/portolan}
BASE=${PORTOLAN_BASE:-}
PIDS=()

lab_begin() {
  [ -x "$BIN" ] || { echo "build first: cargo build --release -p portolan-cli" >&2; exit 1; }
  [ -z "$BASE" ] || [ -x "$BASE" ] || { echo "PORTOLAN_BASE=$BASE is not an executable" >&2; exit 1; }
  [ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, raw sockets)" >&2; exit 1; }
  NAME="$1$$"
  S="$NAME-s"; T="$NAME-t"; IF="${NAME}a"
  WORK=$(mktemp -d)
  trap lab_end EXIT
  trap 'exit 130' INT TERM
  bash tests/lab/lab.sh up "$NAME"
  TMAC=$(ip -n "$T" -o link show "${NAME}b" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
}

lab_end() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  bash tests/lab/lab.sh down "$NAME"
  rm -rf "$WORK"
}

forty_ports() {
  python3 -c '
p={1,21,22,25,80,443,3306,5432,6379,8080,27017,65535}; x=12345
while len(p)<40:
    x=(x*1103515245+12345)%2**32; p.add(1024+((x>>8)&0xffff)%64000)
print(",".join(map(str,sorted(p))))'
}

listen_tcp() {
  ip netns exec "$T" python3 tests/lab/listeners.py "$1" > "$WORK/listen.out" & PIDS+=($!)
  for _ in $(seq 100); do grep -q ready "$WORK/listen.out" 2>/dev/null && return 0; sleep 0.1; done
  echo "listeners did not start" >&2; exit 1
}

timed() {
  local out=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  if timeout "${LIMIT:-300}" ip netns exec "$S" "$@" > "$out" 2>"$out.err"; then
    t1=$(date +%s.%N); echo "$t1 - $t0" | bc
  else
    echo timeout
  fi
}

median() {
  printf '%s\n' "$@" | sed 's/^timeout$/999999/' | sort -g \
    | awk '{v[NR]=$1} END {m=v[int((NR+1)/2)]; if (m==999999) print "timeout"; else print m}'
}
