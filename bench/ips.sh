#!/usr/bin/env bash
# portolan detect --block / portolan block: how fast a scanner is stopped, and how many bans a
# second go into the kernel, side by side with the naive ways.
#
# Usage (root): bench/ips.sh        (RUNS=3 N=20000 NAIVE=1000)
#   RUNS    nmap runs of the latency part
#   N       sources banned in one burst by portolan (one transaction)
#   NAIVE   bans made one command at a time (nft add element per ban; iptables -I per ban,
#           fail2ban's iptables action): the rate is per second, so a sample suffices
#   PORTOLAN=PATH  the binary (default target/release/portolan, else target/debug/portolan)
#
# 1. Time to ban. A target namespace runs `portolan detect -i IF --block`; a scanner namespace
#    runs `nmap -sS -p- --min-rate 20000 --max-retries 0`. tcpdump on the target's interface
#    (AF_PACKET, which sees packets *before* netfilter) records the scanner's SYNs and the
#    target's RSTs. A closed port answers a SYN within microseconds until the ban is in the
#    kernel; after it, SYNs are dropped unanswered. So the ban took effect between the last
#    answered SYN and the next SYN: "ban in kernel" = that interval, measured from the first
#    SYN, in the kernel's own packet timestamps. Run with the kernel tripwire (the default of
#    detect --block: the kernel bans at the 5th closed port answered) and without it
#    (--no-tripwire: the detector's alert bans). Also printed: detect's own log (kernel
#    timestamp of the first probe to the return of the nftables commit), the SYNs that got past
#    the ban (an nft counter behind Portolan's chains), and nmap's closed+open count.
# 2. Bans per second: N distinct addresses with `portolan block add ... --for 1h` (one
#    process, one transaction), then the same N again (the refresh path: add/delete/add), vs
#    NAIVE bans with one `nft add element` per ban and NAIVE with one `iptables -I INPUT -s A
#    -j DROP` per ban.
# Every packet and rule stays inside the two namespaces this script creates (removed on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
N=${N:-20000}
NAIVE=${NAIVE:-1000}
BIN=${PORTOLAN:-}
if [ -z "$BIN" ]; then
  if [ -x target/release/portolan ]; then BIN=target/release/portolan; else BIN=target/debug/portolan; fi
fi
BIN=$(realpath "$BIN")
[ "$(id -u)" = 0 ] || { echo "needs root (namespaces, nftables)" >&2; exit 1; }
for t in nft nmap tcpdump ip; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 1; }; done
S="ipsb$$-s"; T="ipsb$$-t"; IS="ipsb$$s"; IT="ipsb$$t"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$S" 2>/dev/null || true
  ip netns del "$T" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$S"; ip netns add "$T"
ip link add "$IS" type veth peer name "$IT"
ip link set "$IS" netns "$S"; ip link set "$IT" netns "$T"
ip -n "$S" addr add 10.76.0.1/24 dev "$IS"; ip -n "$T" addr add 10.76.0.2/24 dev "$IT"
for n in "$S" "$T"; do ip -n "$n" link set lo up; done
ip -n "$S" link set "$IS" up; ip -n "$T" link set "$IT" up
ip netns exec "$T" nft -f - <<'NFT'
table inet ipsbench {
  chain count {
    type filter hook input priority 0; policy accept;
    ip saddr 10.76.0.1 tcp flags & (syn | ack) == syn counter
  }
  chain answers {
    type filter hook output priority 0; policy accept;
    ip daddr 10.76.0.1 tcp flags & rst == rst counter
  }
}
NFT
inT() { ip netns exec "$T" "$@"; }
echo "binary: $BIN ($(inT "$BIN" --version))"
echo
echo "== 1. time from a scanner's first probe to its ban in the kernel (nmap -sS -p-, $RUNS runs)"
printf '%-9s %-4s %22s %18s %12s %12s %14s\n' banned-by run "ban in kernel (ms)" "detect log (ms)" "SYNs passed" "RSTs sent" "nmap answered"
P_PREV=0; R_PREV=0
for mode in tripwire detector; do
EXTRA=""; [ "$mode" = detector ] && EXTRA="--no-tripwire"
for r in $(seq "$RUNS"); do
  inT "$BIN" block flush >/dev/null
  inT nft reset counters table inet ipsbench >/dev/null
  ip netns exec "$T" tcpdump -i "$IT" -nn -tt --time-stamp-precision=micro -w "$WORK/cap$r.pcap" \
    'tcp and host 10.76.0.1' 2>/dev/null & PIDS+=($!)
  ip netns exec "$T" "$BIN" detect -i "$IT" --block --block-for 10m $EXTRA --format json >"$WORK/eve$r" 2>"$WORK/log$r" & PIDS+=($!)
  DPID=$!
  sleep 1.5
  ip netns exec "$S" nmap -n -Pn -sS -p- --min-rate 20000 --max-retries 0 10.76.0.2 >"$WORK/nmap$r" 2>&1 || true
  sleep 0.5
  kill -TERM "$DPID" "${PIDS[-2]}" 2>/dev/null || true
  wait "$DPID" 2>/dev/null || true
  wait "${PIDS[-2]}" 2>/dev/null || true
  window=$(tcpdump -r "$WORK/cap$r.pcap" -nn -tt 2>/dev/null | awk '
    / 10\.76\.0\.1\.[0-9]+ > 10\.76\.0\.2\.[0-9]+: Flags \[S\]/ { if (!first) first=$1; if (lastans && !after) after=$1; n++; }
    / 10\.76\.0\.2\.[0-9]+ > 10\.76\.0\.1\.[0-9]+: Flags \[(R|S)\.\]/ { lastans=$1; after="" }
    END { if (first) printf "%.2f..%.2f", (lastans-first)*1000, ((after?after:lastans)-first)*1000 }' || true)
  log=$(sed -n 's/.*blocked 10.76.0.1 .*, \([0-9.]*\) ms after its first probe.*/\1/p' "$WORK/log$r" | head -1 || true)
  # (rule counters are not reset by `nft reset counters` before nftables 1.0.7: per-run deltas)
  p_all=$(inT nft -j list chain inet ipsbench count | grep -o '"packets": [0-9]*' | grep -o '[0-9]*$' | head -1 || echo 0)
  r_all=$(inT nft -j list chain inet ipsbench answers | grep -o '"packets": [0-9]*' | grep -o '[0-9]*$' | head -1 || echo 0)
  passed=$((p_all - P_PREV)); rsts=$((r_all - R_PREV)); P_PREV=$p_all; R_PREV=$r_all
  answered=$(awk '/Not shown/ { for (i=1;i<=NF;i++) if ($(i+1) ~ /^closed/) c+=$i } /\/tcp +(open|closed)/ { o++ } END { print c+o }' "$WORK/nmap$r" || true)
  printf '%-9s %-4s %22s %18s %12s %12s %14s\n' "$mode" "$r" "${window:-?}" "${log:-?}" "${passed:-?}" "${rsts:-?}" "${answered:-?}"
done
done
echo "(banned-by tripwire: the kernel tripwire of detect --block, at the 5th closed port answered;"
echo " detector: --no-tripwire, the ban follows the detector's alert; 'detect log' is the detector's own ban)"
echo "(psad polls every 5 s; CrowdSec's bouncer every 10 s)"
echo
echo "== 2. bans per second"
inT "$BIN" block flush >/dev/null
addrs() { # N distinct addresses in 100.64.0.0/10 (never routed here)
  awk -v n="$1" -v o="$2" 'BEGIN { for (i = 0; i < n; i++) { j = i + o; printf "100.%d.%d.%d\n", 64 + int(j / 65536) % 64, int(j / 256) % 256, j % 256 } }'
}
addrs "$N" 0 >"$WORK/a"
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$s $e" | awk '{ printf "%.3f", $2 - $1 }'; }
secs=$(t inT xargs -s 1048576 -a "$WORK/a" "$BIN" block add --for 1h)
count=$(inT nft list set inet portolan_block ban4 | grep -o 'timeout 1h' | wc -l)
printf '%-52s %8d bans %8.3f s %10.0f bans/s\n' "portolan block add (new, one transaction)" "$count" "$secs" "$(echo "$count $secs" | awk '{print $1/$2}')"
secs=$(t inT xargs -s 1048576 -a "$WORK/a" "$BIN" block add --for 2h)
printf '%-52s %8d bans %8.3f s %10.0f bans/s\n' "portolan block add (same again: refresh)" "$N" "$secs" "$(echo "$N $secs" | awk '{print $1/$2}')"
addrs "$NAIVE" 200000 >"$WORK/b"
secs=$(t inT sh -c "while read a; do nft add element inet portolan_block ban4 { \$a timeout 3600s }; done <$WORK/b")
printf '%-52s %8d bans %8.3f s %10.0f bans/s\n' "naive: one 'nft add element' per ban" "$NAIVE" "$secs" "$(echo "$NAIVE $secs" | awk '{print $1/$2}')"
if command -v iptables >/dev/null; then
  inT iptables -N ipsbench 2>/dev/null || true
  secs=$(t inT sh -c "while read a; do iptables -I ipsbench 1 -s \$a -j DROP; done <$WORK/b")
  printf '%-52s %8d bans %8.3f s %10.0f bans/s\n' "fail2ban-style: one 'iptables -I' rule per ban" "$NAIVE" "$secs" "$(echo "$NAIVE $secs" | awk '{print $1/$2}')"
fi
echo "(the naive rates fall further as the set or chain grows: iptables checks rules one by one)"
