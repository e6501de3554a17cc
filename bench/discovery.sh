#!/usr/bin/env bash
# Side-by-side host-discovery benchmark in the sparse lab (tests/lab/discovery.sh: 10.80.0.0/16
# and fd80::/112, 1% live — a third answering everything, a third ICMP only, a third TCP 443
# only; every other address silently dropped), in one run:
#   1. which hosts of the /16 are up, at each cap in RATES (packets per second, the same for
#      every tool):
#        portolan scan -sn --max-rate RATE  vs  nmap -sn -n -T4 --min-rate RATE
#        --min-hostgroup 4096 (echo, SYN 443, ACK 80, timestamp, as root; without the rate and
#        group flags nmap takes ~35 s per /22 here, about 40 minutes for the /16)
#        vs  zmap --probe-module=icmp_echoscan -r RATE -c 1 (ICMP only: misses the TCP-only
#        third; one probe an address where nmap and portolan send four, and a fixed 1 s wait
#        at the end where portolan waits for its measured timeout)
#      wall time (median of REPS interleaved runs), ratio to portolan, live hosts found / live,
#      dead hosts reported up (must be 0); portolan with --send-via link (Ethernet frames to
#      the next hop's MAC, bypassing the kernel's routing: how zmap, given -i and -G here,
#      sends; portolan's default is the IP raw socket); portolan with zmap's one probe
#      (icmp-echo, one try, same cap) to compare the engines packet for packet; and portolan with its default pace
#      (no --max-rate: 100,000/s until replies prove more). Goal: portolan finds every live
#      host in at most half of the faster peer's time
#   2. the same on the IPv6 /112: portolan scan -sn vs nmap -6 -sn (zmap has no ICMPv6 echo)
#   3. --top-ports 100 --syn of the /16 at --max-rate PRATE, with discovery (the default: live
#      hosts' ports only) and with -Pn (every address's): wall time and probes sent
# Needs root, iproute2, nftables, python3, bc, nmap, zmap and a release build
# (`cargo build --release -p portolan-cli`). Packets stay inside the lab's two namespaces.
# Usage: [REPS=1] [RATES="100000 1000000"] [RATE=100000] [PRATE=300000] bench/discovery.sh [TIMEOUT_S_PER_RUN=300]
#   RATES: the caps of part 1 (each a row group); RATE: the cap of part 2 (IPv6)
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=${1:-300}
REPS=${REPS:-1}
RATES=${RATES:-${RATE:-100000 1000000}}
RATE=${RATE:-100000}
PRATE=${PRATE:-300000}
BIN=${PORTOLAN:-target/release/portolan}
[ -x "$BIN" ] || { echo "build first: cargo build --release -p portolan-cli" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, raw sockets)" >&2; exit 1; }
NAME="dib$$"; S="$NAME-s"; T="$NAME-t"; IF="${NAME}a"
WORK=$(mktemp -d)
cleanup() { bash tests/lab/discovery.sh down "$NAME"; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
bash tests/lab/discovery.sh up "$NAME"
TMAC=$(ip -n "$T" -o link show "${NAME}b" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
cut -d' ' -f1 "/tmp/$NAME.live4" | sort > "$WORK/live4"
cut -d' ' -f1 "/tmp/$NAME.live6" | sort > "$WORK/live6"

timed() {
  local out=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  if timeout "$LIMIT" ip netns exec "$S" "$@" > "$out" 2>"$out.err"; then
    t1=$(date +%s.%N); echo "$t1 - $t0" | bc
  else
    echo timeout
  fi
}
median() {
  printf '%s\n' "$@" | sed 's/^timeout$/999999/' | sort -g \
    | awk '{v[NR]=$1} END {m=v[int((NR+1)/2)]; if (m==999999) print "timeout"; else print m}'
}
# found LIST LIVE: "found/live dead" for a sorted list of addresses reported up.
found() {
  local f d
  f=$(comm -12 "$1" "$2" | wc -l)
  d=$(comm -23 "$1" "$2" | wc -l)
  echo "$f/$(wc -l < "$2") $d"
}
gnmap_up() { grep 'Status: Up' "$1" | awk '{print $2}' | sort -u; }

ROWS=()
GOALS=()
TP=""
# goal LABEL PORTOLAN_S FOUND PEER_S...: the issue's goal for one comparison: every live host
# found (FOUND = live/live) in at most half of the faster peer's time.
goal() {
  local label=$1 p=$2 f=$3 best="" t; shift 3
  for t in "$@"; do
    [ "$t" = timeout ] && continue
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
  done
  if [ "$p" = timeout ] || [ -z "$best" ]; then
    GOALS+=("$(printf '%-44s %s' "$label" "no figure (timeout)")"); return
  fi
  local r; r=$(echo "scale=3; $p / $best" | bc)
  local live=${f#*/} got=${f%/*} v="not met"
  if [ "$got" = "$live" ] && [ "$(echo "$r <= 0.5" | bc)" = 1 ]; then v=met; fi
  GOALS+=("$(printf '%-44s %6.3f s / faster peer %6.3f s = %5.3f, %s found: %s' "$label" "$p" "$best" "$r" "$f" "$v")")
}
row() { # CASE TOOL SECONDS FOUND/LIVE DEAD
  local ratio="-"
  if [ -n "$TP" ] && [ "$3" != timeout ] && [ "$TP" != timeout ]; then
    ratio=$(echo "scale=2; $3 / $TP" | bc)
  fi
  ROWS+=("$(printf '%-34s %-9s %9s %7s %11s %5s' "$1" "$2" "$3" "$ratio" "$4" "$5")")
}

# 1. IPv4 /16, at each rate in RATES: every tool under the same cap in packets per second
#    (portolan --max-rate, nmap --min-rate, zmap -r), and portolan with its default pace.
v4_at() { # RATE
  local rate=$1 tp=() tl=() td=() tn=() tz=() te=()
  for _ in $(seq "$REPS"); do
    tp+=("$(timed "$WORK/p4" "$BIN" scan -sn 10.80.0.0/16 --max-rate "$rate" --no-store -q --format grep)")
    tl+=("$(timed "$WORK/l4" "$BIN" scan -sn 10.80.0.0/16 --max-rate "$rate" --send-via link \
          --no-store -q --format grep)")
    td+=("$(timed "$WORK/d4" "$BIN" scan -sn 10.80.0.0/16 --no-store -q --format grep)")
    te+=("$(timed "$WORK/e4" "$BIN" scan -sn 10.80.0.0/16 --discovery=icmp-echo --retries 0 \
          --max-rate "$rate" --no-store -q --format grep)")
    tn+=("$(timed "$WORK/n4" nmap -sn -n -T4 --min-rate "$rate" --min-hostgroup 4096 -oG - 10.80.0.0/16)")
    tz+=("$(timed "$WORK/z4" zmap -q --probe-module=icmp_echoscan -i "$IF" -G "$TMAC" \
          -S 10.79.0.1 -r "$rate" -c 1 -b /dev/null -o "$WORK/z4.txt" 10.80.0.0/16)")
  done
  TP=$(median "${tp[@]}")
  gnmap_up "$WORK/p4" > "$WORK/p4.up"; gnmap_up "$WORK/n4" > "$WORK/n4.up"
  gnmap_up "$WORK/d4" > "$WORK/d4.up"; gnmap_up "$WORK/l4" > "$WORK/l4.up"
  sort -u "$WORK/z4.txt" 2>/dev/null > "$WORK/z4.up" || true
  read -r fp dp <<< "$(found "$WORK/p4.up" "$WORK/live4")"
  read -r fd dd <<< "$(found "$WORK/d4.up" "$WORK/live4")"
  read -r fl dl <<< "$(found "$WORK/l4.up" "$WORK/live4")"
  read -r fn dn <<< "$(found "$WORK/n4.up" "$WORK/live4")"
  read -r fz dz <<< "$(found "$WORK/z4.up" "$WORK/live4")"
  row "-sn 10.80.0.0/16, cap $rate/s" portolan "$TP" "$fp" "$dp"
  row "" "nmap -sn" "$(median "${tn[@]}")" "$fn" "$dn"
  row "" "zmap icmp" "$(median "${tz[@]}")" "$fz" "$dz"
  goal "cap $rate/s, IP raw socket (the default)" "$TP" "$fp" "$(median "${tn[@]}")" "$(median "${tz[@]}")"
  goal "cap $rate/s, --send-via link" "$(median "${tl[@]}")" "$fl" "$(median "${tn[@]}")" "$(median "${tz[@]}")"
  gnmap_up "$WORK/e4" > "$WORK/e4.up"
  read -r fe de <<< "$(found "$WORK/e4.up" "$WORK/live4")"
  row "  portolan --send-via link (zmap's path)" portolan "$(median "${tl[@]}")" "$fl" "$dl"
  row "  portolan, zmap's probe (echo, 1 try)" portolan "$(median "${te[@]}")" "$fe" "$de"
  row "  portolan, default pace (no cap)" portolan "$(median "${td[@]}")" "$fd" "$dd"
}
for r in $RATES; do v4_at "$r"; done

# 1b. Every tool at its defaults, as a user types it: portolan scan -sn (its proven pace from
#     100,000/s) vs zmap with no -r and no -c (its default rate, then its 8 s cooldown; -i, -G
#     and -S only because the lab needs them). nmap -sn at its defaults (-T3, no --min-rate)
#     took 11.0 s for 10.80.4.0/22 here, so about 12 minutes for the /16: with NMAP_DEFAULTS=1
#     it runs too, under the per-run limit.
tp=(); tz=(); tn=()
for _ in $(seq "$REPS"); do
  tp+=("$(timed "$WORK/p4" "$BIN" scan -sn 10.80.0.0/16 --no-store -q --format grep)")
  tz+=("$(timed "$WORK/z4" zmap -q --probe-module=icmp_echoscan -i "$IF" -G "$TMAC" \
        -S 10.79.0.1 -b /dev/null -o "$WORK/z4.txt" 10.80.0.0/16)")
  if [ "${NMAP_DEFAULTS:-0}" = 1 ]; then
    tn+=("$(timed "$WORK/n4" nmap -sn -n -oG - 10.80.0.0/16)")
  fi
done
TP=$(median "${tp[@]}")
gnmap_up "$WORK/p4" > "$WORK/p4.up"
sort -u "$WORK/z4.txt" 2>/dev/null > "$WORK/z4.up" || true
read -r fp dp <<< "$(found "$WORK/p4.up" "$WORK/live4")"
read -r fz dz <<< "$(found "$WORK/z4.up" "$WORK/live4")"
row "-sn 10.80.0.0/16, defaults" portolan "$TP" "$fp" "$dp"
row "" "zmap icmp" "$(median "${tz[@]}")" "$fz" "$dz"
if [ "${NMAP_DEFAULTS:-0}" = 1 ]; then
  gnmap_up "$WORK/n4" > "$WORK/n4.up"
  read -r fn dn <<< "$(found "$WORK/n4.up" "$WORK/live4")"
  row "" "nmap -sn" "$(median "${tn[@]}")" "$fn" "$dn"
  goal "defaults" "$TP" "$fp" "$(median "${tz[@]}")" "$(median "${tn[@]}")"
else
  goal "defaults (nmap not run: ~12 min)" "$TP" "$fp" "$(median "${tz[@]}")"
fi

# 2. IPv6 /112.
tp=(); tn=()
for _ in $(seq "$REPS"); do
  tp+=("$(timed "$WORK/p6" "$BIN" scan -sn fd80::/112 --no-store -q --format grep)")
  tn+=("$(timed "$WORK/n6" nmap -6 -sn -n -T4 --min-rate "$RATE" --min-hostgroup 4096 -oG - fd80::/112)")
done
TP=$(median "${tp[@]}")
gnmap_up "$WORK/p6" > "$WORK/p6.up"; gnmap_up "$WORK/n6" > "$WORK/n6.up"
read -r fp dp <<< "$(found "$WORK/p6.up" "$WORK/live6")"
read -r fn dn <<< "$(found "$WORK/n6.up" "$WORK/live6")"
row "-sn fd80::/112 (655 live)" portolan "$TP" "$fp" "$dp"
row "" "nmap -6 -sn" "$(median "${tn[@]}")" "$fn" "$dn"
goal "IPv6 /112, portolan defaults, nmap -6 at RATE" "$TP" "$fp" "$(median "${tn[@]}")"

# 3. --top-ports 100 of the /16, with and without discovery.
TP=""
tw=$(timed "$WORK/pw.json" "$BIN" scan 10.80.0.0/16 --top-ports 100 --syn \
     --max-rate "$PRATE" --retries 1 --no-store -q --format json)
TP=$tw
to=$(timed "$WORK/po.json" "$BIN" scan 10.80.0.0/16 --top-ports 100 --syn -Pn \
     --max-rate "$PRATE" --retries 1 --no-store -q --format json)
sent() { grep '"type":"end"' "$1" | sed 's/.*"sent":\([0-9]*\).*/\1/'; }
hosts_up() { grep '"type":"host"' "$1" | grep -c '"up":true' || true; }
row "--top-ports 100 /16 (discovery)" portolan "$tw" "$(hosts_up "$WORK/pw.json")/655" \
    "sent=$(sent "$WORK/pw.json")"
row "--top-ports 100 /16, -Pn" portolan "$to" "$(hosts_up "$WORK/po.json")/655" \
    "sent=$(sent "$WORK/po.json")"

printf '%-34s %-9s %9s %7s %11s %5s\n' CASE TOOL SECONDS RATIO FOUND/LIVE DEAD
printf '%s\n' "${ROWS[@]}"
echo
echo "goal: every live host, in at most half of the faster peer's time"
printf '%s\n' "${GOALS[@]}"
