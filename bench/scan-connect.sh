#!/usr/bin/env bash
# Side-by-side TCP connect scan benchmark in the namespace lab (tests/lab/lab.sh): portolan vs
# `nmap -sT -T4` vs `rustscan`, in one run, on
#   1. all 65535 ports of a host with 40 open ports, clean link
#   2. the same with every other port dropped and 2% random loss each way (nftables numgen)
#   3. a /17 of AnyIP addresses (32768 hosts) on one open port
# and prints wall time, the ratio to portolan, and open ports found / expected for each.
#
# Needs root, iproute2, nftables, python3, nmap, rustscan (`cargo install rustscan`), and a
# release build: `cargo build --release -p portolan-cli`. Packets stay inside the lab's two
# namespaces (no route out). Usage: [RETRIES=2] bench/scan-connect.sh [TIMEOUT_S_PER_RUN=300]
# (RETRIES: portolan's extra attempts; rustscan runs with --tries 2, i.e. RETRIES=1 is parity)
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=${1:-300}
BIN=${PORTOLAN:-target/release/portolan}
[ -x "$BIN" ] || { echo "build first: cargo build --release -p portolan-cli" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
NAME="plb$$"
S="$NAME-s"; T="$NAME-t"
WORK=$(mktemp -d)
LPID=
cleanup() { [ -n "$LPID" ] && kill "$LPID" 2>/dev/null; bash tests/lab/lab.sh down "$NAME"; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
bash tests/lab/lab.sh up "$NAME"

# 40 open ports (the same spread as the lab test).
PORTS=$(python3 -c '
p={1,21,22,25,80,443,3306,5432,6379,8080,27017,65535}; x=12345
while len(p)<40:
    x=(x*1103515245+12345)%2**32; p.add(1024+((x>>8)&0xffff)%64000)
print(",".join(map(str,sorted(p))))')
ip netns exec "$T" python3 tests/lab/listeners.py "$PORTS" > "$WORK/listen.out" &
LPID=$!
for _ in $(seq 100); do grep -q ready "$WORK/listen.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$WORK/listen.out" || { echo "listeners did not start" >&2; exit 1; }
NOPEN=$(echo "$PORTS" | tr , '\n' | wc -l)

run() { # run NAME OUTFILE CMD...  -> prints seconds (or "timeout")
  local out=$2; shift 2
  local t0 t1
  t0=$(date +%s.%N)
  if timeout "$LIMIT" ip netns exec "$S" "$@" > "$out" 2>"$out.err"; then
    t1=$(date +%s.%N); echo "$t1 - $t0" | bc
  else
    echo timeout
  fi
}
count_portolan() { grep -c '"type":"port"' "$1" || true; }
count_nmap() { grep -o '[0-9]*/open/' "$1" | wc -l; }
count_rustscan() { grep -- '->' "$1" | sed 's/.*\[\(.*\)\]/\1/' | tr , '\n' | grep -c . || true; }

declare -a ROWS
bench_case() { # CASE EXPECTED TARGET PORTSPEC NMAP_PORTS RS_PORTS...
  local case=$1 expect=$2 tgt=$3 pspec=$4 nports=$5; shift 5
  local tp tn tr
  tp=$(run portolan "$WORK/p.out" "$BIN" scan "$tgt" -p "$pspec" -q --concurrency 8000 \
        --timeout 300 --min-timeout 40 --retries "${RETRIES:-2}" -o "jsonl=$WORK/p.jsonl")
  local fp; fp=$(count_portolan "$WORK/p.jsonl")
  tn=$(run nmap "$WORK/n.out" nmap -sT -T4 -Pn -n -p "$nports" "$tgt" -oG "$WORK/n.gnmap")
  local fn; fn=$(count_nmap "$WORK/n.gnmap" 2>/dev/null || echo 0)
  tr=$(run rustscan "$WORK/r.out" rustscan -n --no-banner -g -a "$tgt" "$@" -b 4500 -t 300 --tries 2 --ulimit 20000)
  local fr; fr=$(count_rustscan "$WORK/r.out")
  ratio() { if [ "$1" = timeout ] || [ "$tp" = timeout ]; then echo "-"; else echo "scale=1; $1 / $tp" | bc; fi; }
  ROWS+=("$(printf '%-34s %-9s %9s %8s %13s' "$case" portolan "$tp" 1.0 "$fp/$expect")")
  ROWS+=("$(printf '%-34s %-9s %9s %8s %13s' "" "nmap" "$tn" "$(ratio "$tn")" "$fn/$expect")")
  ROWS+=("$(printf '%-34s %-9s %9s %8s %13s' "" "rustscan" "$tr" "$(ratio "$tr")" "$fr/$expect")")
}

bench_case "65535 ports, clean" "$NOPEN" 10.78.0.2 - 1-65535 -r 1-65535
ip netns exec "$T" nft -f - <<NFT
table inet lab {
  chain input { type filter hook input priority 0; policy accept;
    iifname "lo" accept
    meta l4proto tcp numgen random mod 100 < 2 drop
    tcp dport != { $PORTS } drop
  }
  chain output { type filter hook output priority 0; policy accept;
    oifname "lo" accept
    meta l4proto tcp numgen random mod 100 < 2 drop
  }
}
NFT
bench_case "65535 ports, filtered + 2% loss" "$NOPEN" 10.78.0.2 - 1-65535 -r 1-65535
ip netns exec "$T" nft delete table inet lab
bench_case "/17 AnyIP (32768 hosts), port 80" 32768 10.77.0.0/17 80 80 -p 80

echo
echo "portolan $("$BIN" --version | cut -d' ' -f2) | $(nmap --version | head -1) | $(rustscan --version)"
printf '%-34s %-9s %9s %8s %13s\n' case tool "wall s" "x slower" "open found"
printf '%s\n' "${ROWS[@]}"
