#!/usr/bin/env bash
# Side-by-side raw scan benchmark in the namespace lab (tests/lab/lab.sh), in one run:
#   1. SYN, all 65535 ports of a host with 40 open ports, clean link:
#        portolan --syn  vs  nmap -sS -p- -T4 -n -Pn
#   2. SYN, the same host with every other port dropped and 1% random loss each way:
#        portolan --syn (2 retries)  vs  nmap -sS -T4  vs  rustscan
#   3. SYN, one port over a /17 of AnyIP addresses (32768 hosts) at the same --rate R:
#        portolan --syn --max-rate R  vs  zmap -r R  vs  masscan --rate R
#   4. UDP, all 65535 ports, 5 open UDP services, Linux's default ICMP rate limit:
#        portolan --udp  vs  nmap -sU (which is cut off at the time limit)
# For each: wall time, ratio to portolan, open ports found / expected.
#
# Needs root, iproute2, nftables, python3, bc, nmap, masscan, zmap, rustscan
# (`cargo install rustscan`) and a release build (`cargo build --release -p portolan-cli`).
# Packets stay inside the lab's two namespaces (no route out).
# Usage: bench/scan-raw.sh [RATE=100000] [TIMEOUT_S_PER_RUN=300]
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-100000}
LIMIT=${2:-300}
# Single-host cases: nmap -T4 and rustscan have no packet-rate cap; portolan's default is 100,000
# packets/s, raised here so that the cases compare engines, not caps.
HOSTRATE=${HOSTRATE:-1000000}
. bench/lib.sh
lab_begin plr
PORTS=$(forty_ports)
NOPEN=$(echo "$PORTS" | tr , '\n' | wc -l)
listen_tcp "$PORTS"
ip netns exec "$T" python3 tests/lab/udp_listeners.py 53,123,161,5353,40000 > "$WORK/udp.out" & PIDS+=($!)
for _ in $(seq 100); do grep -q ready "$WORK/udp.out" 2>/dev/null && break; sleep 0.1; done

run() { timed "$@"; }
open_jsonl() { grep -c '"state":"open"' "$1" || true; }
open_gnmap() { { grep -o "[0-9]*/open/" "$1" 2>/dev/null || true; } | wc -l; }
open_rustscan() { grep -- '->' "$1" | sed 's/.*\[\(.*\)\]/\1/' | tr , '\n' | grep -c . || true; }
open_list() { grep -c '^open' "$1" || true; }
open_lines() { grep -c . "$1" || true; }

ROWS=()
TP=
row() { # CASE TOOL SECONDS FOUND EXPECTED
  local ratio="-"
  if [ "$3" != timeout ] && [ "$TP" != timeout ]; then ratio=$(echo "scale=2; $3 / $TP" | bc); fi
  ROWS+=("$(printf '%-40s %-9s %9s %7s %13s' "$1" "$2" "$3" "$ratio" "$4/$5")")
}

# 1. Clean, all ports.
TP=$(run "$WORK/p1" "$BIN" scan 10.78.0.2 -p- --syn --max-rate "$HOSTRATE" -q -o "jsonl=$WORK/p1.jsonl")
row "SYN 65535 ports, clean" portolan "$TP" "$(open_jsonl "$WORK/p1.jsonl")" "$NOPEN"
t=$(run "$WORK/n1" nmap -sS -p- -T4 -n -Pn 10.78.0.2 -oG "$WORK/n1.gnmap")
row "" nmap "$t" "$(open_gnmap "$WORK/n1.gnmap")" "$NOPEN"

# 2. Filtered + 1% loss.
ip netns exec "$T" nft -f - <<NFT
table inet lab {
  chain input { type filter hook input priority 0; policy accept;
    iifname "lo" accept
    meta l4proto tcp numgen random mod 100 < 1 drop
    tcp dport != { $PORTS } drop
  }
  chain output { type filter hook output priority 0; policy accept;
    oifname "lo" accept
    meta l4proto tcp numgen random mod 100 < 1 drop
  }
}
NFT
TP=$(run "$WORK/p2" "$BIN" scan 10.78.0.2 -p- --syn --max-rate "$HOSTRATE" -q -o "jsonl=$WORK/p2.jsonl")
row "SYN 65535, filtered + 1% loss" portolan "$TP" "$(open_jsonl "$WORK/p2.jsonl")" "$NOPEN"
t=$(run "$WORK/n2" nmap -sS -p- -T4 -n -Pn 10.78.0.2 -oG "$WORK/n2.gnmap")
row "" nmap "$t" "$(open_gnmap "$WORK/n2.gnmap" 2>/dev/null || echo 0)" "$NOPEN"
if command -v rustscan >/dev/null; then
  t=$(run "$WORK/r2" rustscan -n --no-banner -g -a 10.78.0.2 -r 1-65535 -b 4500 -t 300 --tries 2 --ulimit 20000)
  row "" rustscan "$t" "$(open_rustscan "$WORK/r2")" "$NOPEN"
fi
ip netns exec "$T" nft flush ruleset

# 3. /17 AnyIP on port 80 at the same rate.
TP=$(run "$WORK/p3" "$BIN" scan 10.77.0.0/17 -p 80 --syn --max-rate "$RATE" -q -o "jsonl=$WORK/p3.jsonl")
row "SYN /17 port 80 @ $RATE pps" portolan "$TP" "$(open_jsonl "$WORK/p3.jsonl")" 32768
t=$(run "$WORK/z3" zmap -q -p 80 -i "$IF" -G "$TMAC" -S 10.78.0.1 -r "$RATE" -b /dev/null -c 1 -o "$WORK/z3.txt" 10.77.0.0/17)
row "" "zmap" "$t" "$(sort -u "$WORK/z3.txt" 2>/dev/null | open_lines /dev/stdin)" 32768
t=$(run "$WORK/m3" masscan 10.77.0.0/17 -p80 --rate "$RATE" --interface "$IF" --router-mac "$TMAC" --adapter-ip 10.78.0.1 --wait 1 -oL "$WORK/m3.txt")
row "" "masscan" "$t" "$(open_list "$WORK/m3.txt" 2>/dev/null || echo 0)" 32768

# 4. UDP all ports.
TP=$(run "$WORK/p4" "$BIN" scan 10.78.0.2 -p- --udp --max-rate "$HOSTRATE" -q -o "jsonl=$WORK/p4.jsonl")
row "UDP 65535 ports, 5 services" portolan "$TP" "$(open_jsonl "$WORK/p4.jsonl")" 5
t=$(run "$WORK/n4" nmap -sU -p- -T4 -n -Pn 10.78.0.2 -oG "$WORK/n4.gnmap")
row "" "nmap -sU" "$t" "$(open_gnmap "$WORK/n4.gnmap" 2>/dev/null || echo 0)" 5

printf '%-40s %-9s %9s %7s %13s\n' CASE TOOL SECONDS RATIO OPEN/EXPECTED
printf '%s\n' "${ROWS[@]}"
