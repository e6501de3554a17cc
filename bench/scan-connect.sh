#!/usr/bin/env bash
# Side-by-side TCP connect scan benchmark in the namespace lab (tests/lab/lab.sh): portolan vs
# `nmap -sT -T4` vs `rustscan`, in one run, on
#   1. all 65535 ports of a host with 40 open ports, clean link
#   2. the same with every other port dropped and 2% random loss each way (nftables numgen)
#   3. a /17 of AnyIP addresses (32768 hosts) on one open port
# and prints wall time, the ratio to portolan, and open ports found / expected for each.
#
# Needs root, iproute2, nftables, python3, nmap, rustscan (optional, `cargo install rustscan`),
# and a release build: `cargo build --release -p portolan-cli`. Packets stay inside the lab's two
# namespaces (no route out). Usage: [RETRIES=2] [PORTOLAN_BASE=PATH] bench/scan-connect.sh
# [TIMEOUT_S_PER_RUN=300] (RETRIES: portolan's extra attempts; rustscan runs with --tries 2,
# i.e. RETRIES=1 is parity; PORTOLAN_BASE: a second portolan run beside it, see bench/lib.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=${1:-300}
. bench/lib.sh
lab_begin plb
# 40 open ports (the same spread as the lab test).
PORTS=$(forty_ports)
listen_tcp "$PORTS"
NOPEN=$(echo "$PORTS" | tr , '\n' | wc -l)

run() { shift; timed "$@"; } # run NAME OUTFILE CMD...
count_portolan() { grep -c '"type":"port"' "$1" || true; }
count_nmap() { { grep -o '[0-9]*/open/' "$1" 2>/dev/null || true; } | wc -l; }
count_rustscan() { grep -- '->' "$1" | sed 's/.*\[\(.*\)\]/\1/' | tr , '\n' | grep -c . || true; }

declare -a ROWS
bench_case() { # CASE EXPECTED TARGET PORTSPEC NMAP_PORTS RS_PORTS...
  local case=$1 expect=$2 tgt=$3 pspec=$4 nports=$5; shift 5
  local tp tn tr tb fb
  tp=$(run portolan "$WORK/p.out" "$BIN" scan "$tgt" -Pn -p "$pspec" -q --concurrency 8000 \
        --timeout 300 --min-timeout 40 --retries "${RETRIES:-2}" -o "jsonl=$WORK/p.jsonl")
  local fp; fp=$(count_portolan "$WORK/p.jsonl")
  if [ -n "$BASE" ]; then
    tb=$(run base "$WORK/b.out" "$BASE" scan "$tgt" -Pn -p "$pspec" -q --concurrency 8000 \
          --timeout 300 --min-timeout 40 --retries "${RETRIES:-2}" -o "jsonl=$WORK/b.jsonl")
    fb=$(count_portolan "$WORK/b.jsonl")
  fi
  tn=$(run nmap "$WORK/n.out" nmap -sT -T4 -Pn -n -p "$nports" "$tgt" -oG "$WORK/n.gnmap")
  local fn; fn=$(count_nmap "$WORK/n.gnmap")
  local fr=
  if command -v rustscan >/dev/null; then
    tr=$(run rustscan "$WORK/r.out" rustscan -n --no-banner -g -a "$tgt" "$@" -b 4500 -t 300 --tries 2 --ulimit 20000)
    fr=$(count_rustscan "$WORK/r.out")
  fi
  ratio() { if [ "$1" = timeout ] || [ "$tp" = timeout ]; then echo "-"; else echo "scale=2; $1 / $tp" | bc; fi; }
  ROWS+=("$(printf '%-34s %-9s %9s %8s %13s' "$case" portolan "$tp" 1.0 "$fp/$expect")")
  if [ -n "$BASE" ]; then
    ROWS+=("$(printf '%-34s %-9s %9s %8s %13s' "" "base" "$tb" "$(ratio "$tb")" "$fb/$expect")")
  fi
  ROWS+=("$(printf '%-34s %-9s %9s %8s %13s' "" "nmap" "$tn" "$(ratio "$tn")" "$fn/$expect")")
  if [ -n "$fr" ]; then
    ROWS+=("$(printf '%-34s %-9s %9s %8s %13s' "" "rustscan" "$tr" "$(ratio "$tr")" "$fr/$expect")")
  fi
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
echo "portolan $("$BIN" --version | cut -d' ' -f2) | $(nmap --version | head -1) | $(rustscan --version 2>/dev/null || echo 'no rustscan')"
printf '%-34s %-9s %9s %8s %13s\n' case tool "wall s" "x slower" "open found"
printf '%s\n' "${ROWS[@]}"
