#!/usr/bin/env python3
"""Write the same PORTS open ports (10.0.0.0/8 addresses, ports 22, 80, 443, 8080 in turn) as
masscan -oJ, masscan -oL and ZMap CSV (with its header of fields), for bench/store.sh:

  gen-port-lists.py PORTS OUT_DIR      writes OUT_DIR/masscan.json, masscan.lst, zmap.csv

No randomness: the same arguments write the same bytes. ZMap scans one port a run: its file
holds port 80's lines only (a quarter of PORTS).
"""
import os
import sys


def addr(i):
    return "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255)


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    ports = (22, 80, 443, 8080)
    t = 1795979332
    with open(os.path.join(out, "masscan.json"), "w") as j, \
            open(os.path.join(out, "masscan.lst"), "w") as l, \
            open(os.path.join(out, "zmap.csv"), "w") as z:
        j.write("[\n")
        l.write("#masscan\n")
        z.write("saddr,daddr,sport,dport,seqnum,acknum,window,classification,success,repeat,"
                "cooldown,timestamp-str\n")
        for k in range(n):
            a, p = addr(k // 4), ports[k % 4]
            if k:
                j.write(",\n")
            j.write('{   "ip": "%s",   "timestamp": "%d", "ports": [ {"port": %d, "proto": "tcp", '
                    '"status": "open", "reason": "syn-ack", "ttl": 64} ] }\n' % (a, t, p))
            l.write("open tcp %d %s %d\n" % (p, a, t))
            if p == 80:
                z.write("%s,10.255.0.1,80,%d,%d,%d,64240,synack,1,0,0,2026-11-29T19:09:07.798+0000\n"
                        % (a, 40000 + k % 20000, k * 7919 % 4294967296, k * 104729 % 4294967296))
        j.write("]\n")
        l.write("# end\n")


main()
