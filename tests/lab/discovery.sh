#!/usr/bin/env bash
# Portolan host-discovery lab: a sparse IPv4 /16 and IPv6 /112 behind a veth pair.
#
#   discovery.sh up NAME [EVERY]  create NAME-s (scanner: 10.79.0.1, fd79::1) <-veth-> NAME-t
#                                 (target: 10.79.0.2, fd79::2). The scanner routes 10.80.0.0/16
#                                 and fd80::/112 to the target. In the target, one address in
#                                 EVERY (default 100: 655 of the /16, 1%) is live, assigned in
#                                 bulk (`ip -b`) to the target's loopback; live address number i
#                                 (i = 0, 1, 2, ... in address order) answers
#                                   i % 3 == 0  everything (ICMP echo/timestamp, any TCP port)
#                                   i % 3 == 1  ICMP only (every TCP segment dropped)
#                                   i % 3 == 2  TCP port 443 only (all else dropped)
#                                 and nftables drops every packet to the other addresses before
#                                 routing (no ICMP error either). The same on fd80::/112 with
#                                 ICMPv6 echo for "ICMP". The live addresses are written to
#                                 /tmp/NAME.live4 and /tmp/NAME.live6, one per line, with their
#                                 kind (all|icmp|tcp443).
#                                 On the link itself (10.79.0.0/24, fd79::/64), the target also
#                                 holds 10.79.0.X and fd79::X (hex X) for X = 10, 20, ..., 250
#                                 on its veth: alternately "all" (answering everything) and
#                                 "arp" (every IP packet to it dropped by nftables: only the
#                                 kernel's ARP reply / neighbour advertisement says it is there).
#                                 These and the target's own 10.79.0.2 / fd79::2 ("all") are
#                                 listed in /tmp/NAME.link4 and /tmp/NAME.link6.
#   discovery.sh down NAME        remove both namespaces and the lists.
#
# NAME must be at most 12 bytes and unique per test. Packets never leave the two namespaces.
# Needs root, iproute2 and nftables.
set -euo pipefail
cmd=${1:?usage: discovery.sh up|down NAME [EVERY]}
name=${2:?usage: discovery.sh up|down NAME [EVERY]}
every=${3:-100}
s="$name-s"; t="$name-t"
if [ "$cmd" = down ]; then
  ip netns del "$s" 2>/dev/null || true
  ip netns del "$t" 2>/dev/null || true
  rm -f "/tmp/$name.live4" "/tmp/$name.live6" "/tmp/$name.batch" "/tmp/$name.nft" \
    "/tmp/$name.link4" "/tmp/$name.link6"
  exit 0
fi
[ "$cmd" = up ] || { echo "usage: discovery.sh up|down NAME [EVERY]" >&2; exit 2; }
[ ${#name} -le 12 ] || { echo "lab name $name is too long (max 12)" >&2; exit 2; }
ip netns add "$s"
ip netns add "$t"
ip link add "${name}a" type veth peer name "${name}b"
ip link set "${name}a" netns "$s"
ip link set "${name}b" netns "$t"
for n in "$s" "$t"; do ip -n "$n" link set lo up; done
ip -n "$s" addr add 10.79.0.1/24 dev "${name}a"
ip -n "$t" addr add 10.79.0.2/24 dev "${name}b"
ip -n "$s" addr add fd79::1/64 dev "${name}a" nodad
ip -n "$t" addr add fd79::2/64 dev "${name}b" nodad
ip -n "$s" link set "${name}a" up
ip -n "$t" link set "${name}b" up
smac=$(ip -n "$s" -o link show "${name}a" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
tmac=$(ip -n "$t" -o link show "${name}b" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
ip -n "$s" neigh replace 10.79.0.2 lladdr "$tmac" dev "${name}a" nud permanent
ip -n "$t" neigh replace 10.79.0.1 lladdr "$smac" dev "${name}b" nud permanent
ip -n "$s" neigh replace fd79::2 lladdr "$tmac" dev "${name}a" nud permanent
ip -n "$t" neigh replace fd79::1 lladdr "$smac" dev "${name}b" nud permanent
ip -n "$s" route add 10.80.0.0/16 via 10.79.0.2
ip -n "$s" -6 route add fd80::/112 via fd79::2
# The live addresses: one in $every, spread over the range (a stride, offset so the network and
# broadcast addresses are never picked).
python3 - "$every" "$name" "${name}b" <<'PY'
import sys
every, name, dev = int(sys.argv[1]), sys.argv[2], sys.argv[3]
kinds = ["all", "icmp", "tcp443"]
v4, v6, batch = [], [], []
for i, n in enumerate(range(37, 65536 - 1, every)):
    a4 = f"10.80.{n >> 8}.{n & 255}"
    a6 = f"fd80::{n:x}"
    k = kinds[i % 3]
    v4.append(f"{a4} {k}")
    v6.append(f"{a6} {k}")
    batch.append(f"addr add {a4}/32 dev lo")
    batch.append(f"addr add {a6}/128 dev lo nodad")
open(f"/tmp/{name}.live4", "w").write("\n".join(v4) + "\n")
open(f"/tmp/{name}.live6", "w").write("\n".join(v6) + "\n")
# On the link: every tenth address, alternately answering everything and ARP / ND only.
link4, link6, arp4, arp6 = ["10.79.0.2 all"], ["fd79::2 all"], [], []
for i, x in enumerate(range(10, 255, 10)):
    k = "arp" if i % 2 == 0 else "all"
    a4, a6 = f"10.79.0.{x}", f"fd79::{x:x}"
    link4.append(f"{a4} {k}")
    link6.append(f"{a6} {k}")
    batch.append(f"addr add {a4}/32 dev {dev}")
    # Deprecated (preferred_lft 0): still answered by ND, never picked as a reply's source
    # (fd79::2 stays the source of the target's answers to fd79::1).
    batch.append(f"addr add {a6}/128 dev {dev} nodad preferred_lft 0")
    if k == "arp":
        arp4.append(a4)
        arp6.append(a6)
open(f"/tmp/{name}.link4", "w").write("\n".join(link4) + "\n")
open(f"/tmp/{name}.link6", "w").write("\n".join(link6) + "\n")
open(f"/tmp/{name}.batch", "w").write("\n".join(batch) + "\n")
def elems(lines, kind):
    xs = [l.split()[0] for l in lines if l.split()[1] == kind]
    return ", ".join(xs) if xs else None
sets = []
for fam, lines, typ in (("4", v4, "ipv4_addr"), ("6", v6, "ipv6_addr")):
    for kind in ("all", "icmp", "tcp443"):
        e = elems(lines, kind)
        body = f" elements = {{ {e} }};" if e else ""
        sets.append(f"  set {kind}{fam} {{ type {typ};{body} }}")
sets.append(f"  set arp4 {{ type ipv4_addr; elements = {{ {', '.join(arp4)} }}; }}")
sets.append(f"  set arp6 {{ type ipv6_addr; elements = {{ {', '.join(arp6)} }}; }}")
rules = """
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    ip daddr @arp4 drop
    ip6 daddr @arp6 drop
    ip daddr 10.80.0.0/16 ip daddr != @all4 ip daddr != @icmp4 ip daddr != @tcp4434 drop
    ip6 daddr fd80::/112 ip6 daddr != @all6 ip6 daddr != @icmp6 ip6 daddr != @tcp4436 drop
    ip daddr @icmp4 meta l4proto != icmp drop
    ip6 daddr @icmp6 meta l4proto != ipv6-icmp drop
    ip daddr @tcp4434 tcp dport != 443 drop
    ip daddr @tcp4434 meta l4proto != tcp drop
    ip6 daddr @tcp4436 tcp dport != 443 drop
    ip6 daddr @tcp4436 meta l4proto != tcp drop
  }
"""
open(f"/tmp/{name}.nft", "w").write("table inet disc {\n" + "\n".join(sets) + "\n" + rules + "}\n")
PY
ip -n "$t" -b "/tmp/$name.batch"
ip netns exec "$t" nft -f "/tmp/$name.nft"
