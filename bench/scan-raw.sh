#!/usr/bin/env bash
# Side-by-side raw scan benchmark in the namespace lab (tests/lab/lab.sh), in one run:
#   0. SYN, all 65535 ports of a host with 40 open ports, clean link, *no rate flag* (what users
#      type): portolan --syn  vs  nmap -sS -p- -T4 -n -Pn, interleaved; prints portolan's time as
#      a fraction of nmap's (goal: <= 0.50, every open port found)
#   1. the same at --max-rate HOSTRATE (a fixed cap, the engine alone)
#   2. SYN, the same host with every other port dropped and 1% random loss each way:
#        portolan --syn (2 retries)  vs  nmap -sS -T4  vs  rustscan
#   3. SYN, one port over a /17 of AnyIP addresses (32768 hosts) at the same --rate R:
#        portolan --syn --max-rate R  vs  zmap -r R  vs  masscan --rate R
#   4. UDP, all 65535 ports, 5 open UDP services, Linux's default ICMP rate limit:
#        portolan --udp  vs  nmap -sU (which is cut off at the time limit)
# For each: wall time (median of REPS interleaved runs), ratio to portolan, open ports found /
# expected. With PORTOLAN_BASE=PATH (bench/lib.sh) every portolan run is paired with that binary
# (e.g. main's release build) in the same run, reported as "base".
#
# Needs root, iproute2, nftables, python3, bc, nmap, masscan, zmap, rustscan (optional,
# `cargo install rustscan`) and a release build (`cargo build --release -p portolan-cli`).
# Packets stay inside the lab's two namespaces (no route out).
# Usage: [REPS=1] [HOSTRATE=1000000] [PORTOLAN_BASE=PATH] bench/scan-raw.sh [RATE=100000] [TIMEOUT_S_PER_RUN=300]
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-100000}
LIMIT=${2:-300}
REPS=${REPS:-1}
# Case 1: a fixed cap high enough that it compares engines, not caps.
HOSTRATE=${HOSTRATE:-1000000}
. bench/lib.sh
lab_begin plr
PORTS=$(forty_ports)
NOPEN=$(echo "$PORTS" | tr , '\n' | wc -l)
listen_tcp "$PORTS"
ip netns exec "$T" python3 tests/lab/udp_listeners.py 53,123,161,5353,40000 > "$WORK/udp.out" & PIDS+=($!)
for _ in $(seq 100); do grep -q ready "$WORK/udp.out" 2>/dev/null && break; sleep 0.1; done

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

# portolan_case CASE EXPECTED PORTOLAN-ARGS...: REPS runs of portolan (and of the base binary,
# interleaved), the medians as rows; the last run's open count. Sets TP.
portolan_case() {
  local case=$1 expect=$2; shift 2
  local tp=() tb=() i fp fb=
  for i in $(seq "$REPS"); do
    tp+=("$(timed "$WORK/p" "$BIN" scan -Pn "$@" -q -o "jsonl=$WORK/p.jsonl")")
    fp=$(open_jsonl "$WORK/p.jsonl")
    if [ -n "$BASE" ]; then
      tb+=("$(timed "$WORK/b" "$BASE" scan -Pn "$@" -q -o "jsonl=$WORK/b.jsonl")")
      fb=$(open_jsonl "$WORK/b.jsonl")
    fi
  done
  TP=$(median "${tp[@]}")
  row "$case" portolan "$TP" "$fp" "$expect"
  if [ -n "$BASE" ]; then row "" base "$(median "${tb[@]}")" "$fb" "$expect"; fi
}

# 0. Clean, all ports, no rate flag, against nmap -sS -T4 in the same run (interleaved).
tp=(); tn=(); tb=()
for i in $(seq "$REPS"); do
  tp+=("$(timed "$WORK/p0" "$BIN" scan 10.78.0.2 -Pn -p- --syn -q -o "jsonl=$WORK/p0.jsonl")")
  fp0=$(open_jsonl "$WORK/p0.jsonl")
  tn+=("$(timed "$WORK/n0" nmap -sS -p- -T4 -n -Pn 10.78.0.2 -oG "$WORK/n0.gnmap")")
  fn0=$(open_gnmap "$WORK/n0.gnmap")
  if [ -n "$BASE" ]; then
    tb+=("$(timed "$WORK/b0" "$BASE" scan 10.78.0.2 -Pn -p- --syn -q -o "jsonl=$WORK/b0.jsonl")")
    fb0=$(open_jsonl "$WORK/b0.jsonl")
  fi
done
TP=$(median "${tp[@]}")
TN0=$(median "${tn[@]}")
row "SYN 65535 ports, clean, no rate flag" portolan "$TP" "$fp0" "$NOPEN"
row "" nmap "$TN0" "$fn0" "$NOPEN"
if [ -n "$BASE" ]; then row "" base "$(median "${tb[@]}")" "$fb0" "$NOPEN"; fi
TP0=$TP
FP0=$fp0

# 1. Clean, all ports, fixed cap.
portolan_case "SYN 65535 ports, clean, $HOSTRATE pps" "$NOPEN" 10.78.0.2 -p- --syn --max-rate "$HOSTRATE"

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
portolan_case "SYN 65535, filtered + 1% loss" "$NOPEN" 10.78.0.2 -p- --syn --max-rate "$HOSTRATE"
t=$(timed "$WORK/n2" nmap -sS -p- -T4 -n -Pn 10.78.0.2 -oG "$WORK/n2.gnmap")
row "" nmap "$t" "$(open_gnmap "$WORK/n2.gnmap" 2>/dev/null || echo 0)" "$NOPEN"
if command -v rustscan >/dev/null; then
  t=$(timed "$WORK/r2" rustscan -n --no-banner -g -a 10.78.0.2 -r 1-65535 -b 4500 -t 300 --tries 2 --ulimit 20000)
  row "" rustscan "$t" "$(open_rustscan "$WORK/r2")" "$NOPEN"
fi
ip netns exec "$T" nft flush ruleset

# 3. /17 AnyIP on port 80 at the same rate.
portolan_case "SYN /17 port 80 @ $RATE pps" 32768 10.77.0.0/17 -p 80 --syn --max-rate "$RATE"
t=$(timed "$WORK/z3" zmap -q -p 80 -i "$IF" -G "$TMAC" -S 10.78.0.1 -r "$RATE" -b /dev/null -c 1 -o "$WORK/z3.txt" 10.77.0.0/17)
row "" "zmap" "$t" "$(sort -u "$WORK/z3.txt" 2>/dev/null | open_lines /dev/stdin)" 32768
t=$(timed "$WORK/m3" masscan 10.77.0.0/17 -p80 --rate "$RATE" --interface "$IF" --router-mac "$TMAC" --adapter-ip 10.78.0.1 --wait 1 -oL "$WORK/m3.txt")
row "" "masscan" "$t" "$(open_list "$WORK/m3.txt" 2>/dev/null || echo 0)" 32768

# 4. UDP all ports.
portolan_case "UDP 65535 ports, 5 services" 5 10.78.0.2 -p- --udp --max-rate "$HOSTRATE"
t=$(timed "$WORK/n4" nmap -sU -p- -T4 -n -Pn 10.78.0.2 -oG "$WORK/n4.gnmap")
row "" "nmap -sU" "$t" "$(open_gnmap "$WORK/n4.gnmap" 2>/dev/null || echo 0)" 5

printf '%-40s %-9s %9s %7s %13s\n' CASE TOOL SECONDS RATIO OPEN/EXPECTED
printf '%s\n' "${ROWS[@]}"
if [ "$TP0" != timeout ] && [ "$TN0" != timeout ]; then
  r=$(echo "scale=2; $TP0 / $TN0" | bc)
  ok=no; if [ "$(echo "$r <= 0.5" | bc)" = 1 ] && [ "$FP0" = "$NOPEN" ]; then ok=yes; fi
  echo "no rate flag: portolan --syn -p- takes ${r}x nmap -sS -T4's time, $FP0/$NOPEN open (goal <= 0.50x, all found: $ok)"
fi
