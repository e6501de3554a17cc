#!/usr/bin/env bash
# Firewall benchmark, side by side in one run: UDP packets per second forwarded through a gateway
# namespace whose ruleset allows 10 and then 10,000 (host, service) pairs, for
#   - Portolan's generated nftables rules (verdict map: one lookup per packet), and
#   - a naive iptables ruleset, one ACCEPT rule per pair (the traffic matches the last one);
# and the time to generate and to apply 10,000 pairs atomically (nft -f).
#
# Topology (namespaces created and removed by this script; nothing leaves them):
#   polb-c 10.99.1.2/24 --veth-- polb-g (gateway) --veth-- polb-s 10.99.2.2/24 + AnyIP 10.98.0.0/16
# The client floods UDP (hping3 --flood, fixed source port) at the last allowed (host, port);
# the server counts what arrives (rx_packets of its interface) and drops it.
#
# Needs root, iproute2, nftables, iptables, hping3, python3, and a build of portolan
# (`cargo build --release -p portolan-cli`; BIN=PATH to choose).
# Usage: [ROUNDS=3] bench/firewall.sh [SECONDS=3]   (median of ROUNDS interleaved measurements)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-3}
BIN=${BIN:-target/release/portolan}
[ -x "$BIN" ] || BIN=target/debug/portolan
[ -x "$BIN" ] || { echo "build portolan first: cargo build --release -p portolan-cli" >&2; exit 2; }
for t in ip nft iptables-restore hping3 python3; do
  command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }

C=polb-c G=polb-g S=polb-s
ns_del() { for n in $C $G $S; do ip netns del "$n" 2>/dev/null || true; done; }
ns_del
WORK=$(mktemp -d)
trap 'ns_del; rm -rf "$WORK"' EXIT
declare -A PPS GEN APPLY RAW

for n in $C $G $S; do ip netns add $n; ip -n $n link set lo up; done
ip -n $G link add vc type veth peer name eth0 netns $C
ip -n $G link add vs type veth peer name eth0 netns $S
ip -n $G addr add 10.99.1.1/24 dev vc; ip -n $G addr add 10.99.2.1/24 dev vs
ip -n $G link set vc up; ip -n $G link set vs up
ip -n $C addr add 10.99.1.2/24 dev eth0; ip -n $C link set eth0 up
ip -n $S addr add 10.99.2.2/24 dev eth0; ip -n $S link set eth0 up
ip -n $C route add default via 10.99.1.1
ip -n $S route add default via 10.99.2.1
ip -n $S route add local 10.98.0.0/16 dev lo
ip -n $G route add 10.98.0.0/16 via 10.99.2.2
ip netns exec $G sysctl -qw net.ipv4.ip_forward=1
# The server drops what arrives (no ICMP errors back): the count is taken before that.
ip netns exec $S nft -f - <<'EOF'
table inet sink {
  chain input {
    type filter hook input priority 0; policy drop;
  }
}
EOF

# policy N: N rules, clients -> host i (10.98.x.y) on UDP port 10000 + i % 1000.
policy() {
  python3 - "$1" <<'EOF'
import sys
n = int(sys.argv[1])
print("zones:\n  clients: { networks: [10.99.1.0/24] }\n  servers: { networks: [10.98.0.0/16] }\nhosts:")
for i in range(n):
    print(f"  h{i}: {{ address: 10.98.{i // 250}.{i % 250 + 1}, zone: servers }}")
print("rules:")
for i in range(n):
    print(f"  - {{ from: clients, to: h{i}, allow: [{10000 + i % 1000}/udp] }}")
print("default: deny")
EOF
}
naive() { # N: iptables-restore input, one rule per pair
  python3 - "$1" <<'EOF'
import sys
n = int(sys.argv[1])
print("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]")
print("-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
for i in range(n):
    print(f"-A FORWARD -s 10.99.1.0/24 -d 10.98.{i // 250}.{i % 250 + 1} -p udp --dport {10000 + i % 1000} -j ACCEPT")
print("COMMIT")
EOF
}
last() { local i=$(($1 - 1)); echo "10.98.$((i / 250)).$((i % 250 + 1)) $((10000 + i % 1000))"; }

reset_gateway() {
  ip netns exec $G nft flush ruleset
}
rx() { ip netns exec $S cat /sys/class/net/eth0/statistics/rx_packets; }
flood() { # HOST PORT -> packets per second that reached the server
  local a b
  a=$(rx)
  ip netns exec $C timeout -s INT "$SECS" hping3 --flood --udp -k -s 40000 -p "$2" -d 18 "$1" \
    >/dev/null 2>&1 || true
  sleep 0.2
  b=$(rx)
  echo $(((b - a) / SECS))
}

for n in 10 10000; do
  policy $n > "$WORK/p$n.yaml"
  naive $n > "$WORK/n$n.rules"
  # Portolan: generate + apply, timed.
  reset_gateway
  t0=$(date +%s.%N)
  "$BIN" firewall generate "$WORK/p$n.yaml" --gateway --nft -o "$WORK/p$n.nft" >/dev/null
  t1=$(date +%s.%N)
  ip netns exec $G nft -f "$WORK/p$n.nft"
  t2=$(date +%s.%N)
  GEN[$n]=$(python3 -c "print(f'{$t1-$t0:.3f}')"); APPLY[$n]=$(python3 -c "print(f'{$t2-$t1:.3f}')")
done
load() { # CONFIG N
  reset_gateway
  ip netns exec $G iptables -F 2>/dev/null || true
  if [ "$1" = portolan ]; then ip netns exec $G nft -f "$WORK/p$2.nft"
  else ip netns exec $G iptables-restore "$WORK/n$2.rules"; fi
}
# Interleaved rounds (a busy machine drifts): the median of ROUNDS measurements per case.
ROUNDS=${ROUNDS:-3}
for r in $(seq "$ROUNDS"); do
  for cfg in portolan naive; do
    for n in 10 10000; do
      read -r host port < <(last $n)
      load $cfg $n
      PPS[$cfg-$n]="${PPS[$cfg-$n]:-} $(flood "$host" "$port")"
    done
  done
done
median() { python3 -c "import statistics,sys; print(int(statistics.median(map(int, sys.argv[1:]))))" $1; }
for k in "${!PPS[@]}"; do RAW[$k]=${PPS[$k]}; PPS[$k]=$(median "${PPS[$k]}"); done

echo
printf '%-38s %14s %14s %10s\n' "ruleset (UDP flood through the gateway)" "10 pairs pps" "10000 pairs" "change"
for r in portolan naive; do
  a=${PPS[$r-10]} b=${PPS[$r-10000]}
  label=$([ $r = portolan ] && echo "portolan nft (verdict map)" || echo "iptables, one rule per pair")
  printf '%-38s %14s %14s %9s%%\n' "$label" "$a" "$b" "$(python3 -c "print(f'{($b-$a)/max($a,1)*100:+.1f}')")"
done
echo
echo "10,000 pairs: generate ${GEN[10000]} s, apply (nft -f, one transaction) ${APPLY[10000]} s"
for k in portolan-10 portolan-10000 naive-10 naive-10000; do echo "  $k:${RAW[$k]}"; done
echo "(median of $ROUNDS interleaved ${SECS} s measurements; binary: $BIN; kernel $(uname -r); load $(cut -d' ' -f1 /proc/loadavg))"
