#!/usr/bin/env bash
# Portolan scan lab: two network namespaces joined by a veth pair, with no route out.
#
#   lab.sh up NAME      create NAME-s (scanner, 10.78.0.1) <-veth-> NAME-t (target, 10.78.0.2);
#                       NAME-t also answers for every address of 10.77.0.0/17 (AnyIP: a local
#                       route on lo), reached from NAME-s via 10.78.0.2
#   lab.sh down NAME    remove both namespaces (and with them the veth pair and nft rules)
#
# NAME must be short (veth names are at most 15 bytes) and unique per test: tests run in
# parallel. Packets never leave the two namespaces: neither has a default route, and the only
# link is the veth pair between them. Needs root, iproute2 and (for filtering/loss) nftables.
set -euo pipefail
cmd=${1:?usage: lab.sh up|down NAME}
name=${2:?usage: lab.sh up|down NAME}
s="$name-s"; t="$name-t"
if [ "$cmd" = down ]; then
  ip netns del "$s" 2>/dev/null || true
  ip netns del "$t" 2>/dev/null || true
  exit 0
fi
[ "$cmd" = up ] || { echo "usage: lab.sh up|down NAME" >&2; exit 2; }
[ ${#name} -le 12 ] || { echo "lab name $name is too long (max 12)" >&2; exit 2; }
ip netns add "$s"
ip netns add "$t"
ip link add "${name}a" type veth peer name "${name}b"
ip link set "${name}a" netns "$s"
ip link set "${name}b" netns "$t"
ip -n "$s" addr add 10.78.0.1/24 dev "${name}a"
ip -n "$t" addr add 10.78.0.2/24 dev "${name}b"
for n in "$s" "$t"; do ip -n "$n" link set lo up; done
ip -n "$s" link set "${name}a" up
ip -n "$t" link set "${name}b" up
# AnyIP: the target owns all of 10.77.0.0/17 through a local route.
ip -n "$s" route add 10.77.0.0/16 via 10.78.0.2
ip -n "$t" addr add 10.77.0.1/32 dev lo
ip -n "$t" route add local 10.77.0.0/17 dev lo
# Deep accept queues: a fast scan completes many handshakes at once.
ip netns exec "$t" sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65536 \
  net.ipv4.tcp_syncookies=0
ip netns exec "$s" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" 2>/dev/null || true
# Static neighbours: no ARP between the two ends, so the first probes are not delayed.
smac=$(ip -n "$s" -o link show "${name}a" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
tmac=$(ip -n "$t" -o link show "${name}b" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
ip -n "$s" neigh replace 10.78.0.2 lladdr "$tmac" dev "${name}a" nud permanent
ip -n "$t" neigh replace 10.78.0.1 lladdr "$smac" dev "${name}b" nud permanent
