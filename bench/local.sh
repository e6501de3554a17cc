#!/usr/bin/env bash
# Benchmark: `portolan local` vs `ss -tulpn` on a network namespace holding N listening sockets
# (default 10,000: TCP listeners spread over 0.0.0.0, 127.0.0.1 and [::], plus some UDP), side by
# side in one run, with the ratio. Needs root (ip netns). Touches nothing outside the namespace it
# creates, which has only `lo` and is removed on exit.
#
#   bash bench/local.sh [N] [RUNS]        e.g. bash bench/local.sh 10000 7
set -euo pipefail
N=${1:-10000}
RUNS=${2:-7}
cd "$(dirname "$0")/.."
NS="pl-local-bench-$$"
PY=$(command -v /usr/bin/python3 || command -v python3)
[ "$(id -u)" = 0 ] || { echo "bench/local.sh needs root (ip netns add)"; exit 1; }

cargo build --release -q -p portolan-cli
BIN=$PWD/target/release/portolan

LISTENER_PID=""
cleanup() {
  [ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null || true
  [ -n "$LISTENER_PID" ] && wait "$LISTENER_PID" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up

READY=$(mktemp)
ip netns exec "$NS" "$PY" - "$N" "$READY" <<'PYEOF' &
import resource, socket, sys, time
n, ready = int(sys.argv[1]), sys.argv[2]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1024, n + 1024))
socks, port = [], 10000
for i in range(n):
    kind = i % 10
    if kind < 5:   fam, typ, addr = socket.AF_INET, socket.SOCK_STREAM, "0.0.0.0"
    elif kind < 7: fam, typ, addr = socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1"
    elif kind < 9: fam, typ, addr = socket.AF_INET6, socket.SOCK_STREAM, "::"
    else:          fam, typ, addr = socket.AF_INET, socket.SOCK_DGRAM, "0.0.0.0"
    s = socket.socket(fam, typ)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port + i))
    if typ == socket.SOCK_STREAM:
        s.listen(8)
    socks.append(s)
open(ready, "w").write("ok")
while True:
    time.sleep(3600)
PYEOF
LISTENER_PID=$!
for _ in $(seq 1 600); do [ -s "$READY" ] && break; sleep 0.1; done
rm -f "$READY"

count=$(ip netns exec "$NS" ss -H -tuln | wc -l)
echo "namespace $NS: $count listening/bound sockets (asked for $N)"

# median wall time in ms of RUNS runs of "$@" (output discarded)
median_ms() {
  local t=()
  for _ in $(seq 1 "$RUNS"); do
    local a b
    a=$(date +%s%N)
    "$@" >/dev/null 2>&1
    b=$(date +%s%N)
    t+=( $(( (b - a) / 1000000 )) )
  done
  printf '%s\n' "${t[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}

ss_ms=$(median_ms ip netns exec "$NS" ss -tulpn)
pl_ms=$(median_ms ip netns exec "$NS" "$BIN" local --color never)
pj_ms=$(median_ms ip netns exec "$NS" "$BIN" local --json)
pp_ms=$(median_ms ip netns exec "$NS" "$BIN" local --source proc --color never)
listed=$(ip netns exec "$NS" "$BIN" local --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["summary"]["sockets"])')

printf '\n%-44s %8s %8s\n' "command (median of $RUNS runs)" "ms" "vs ss"
printf '%-44s %8d %8s\n' "ss -tulpn" "$ss_ms" "1.00"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2f", a / b }'; }
printf '%-44s %8d %8s\n' "portolan local (table)" "$pl_ms" "$(ratio "$pl_ms" "$ss_ms")"
printf '%-44s %8d %8s\n' "portolan local --json" "$pj_ms" "$(ratio "$pj_ms" "$ss_ms")"
printf '%-44s %8d %8s\n' "portolan local --source proc (table)" "$pp_ms" "$(ratio "$pp_ms" "$ss_ms")"
echo "portolan listed $listed sockets; goal: under 1000 ms"
