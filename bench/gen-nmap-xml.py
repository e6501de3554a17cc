#!/usr/bin/env python3
"""Write a deterministic nmap XML file (nmap -oX -sV layout) of HOSTS hosts, for bench/store.sh
and the diff tests.

  gen-nmap-xml.py HOSTS a|b OUT.xml [CHANGES.txt]

Variant `a` is the baseline; variant `b` is the same scan a day later with known changes, and
CHANGES.txt (if given) lists every changed port as `addr:port/proto` lines and every host
whose status changed as `addr` lines, sorted, for checking that a diff found exactly them:

  host i % 97 == 1    its port 80 closed (not listed in b)            a removed port
  host i % 89 == 2    port 9200 (elasticsearch) opened                 an added port
  host i % 83 == 3    OpenSSH 9.2p1 -> 9.6p1 on port 22                a version change
  host i % 79 == 4    port 443 open -> filtered                        a state change
  host i % 1013 == 5  down in b (listed as down, no ports)             a host and its ports
  host i % 1019 == 6  not in b at all                                  a host and its ports
  HOSTS/500 hosts     only in b (10.200.x.y), port 22 open             new hosts

No randomness: the same arguments write the same bytes.
"""
import sys


def addr(i):
    return "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255)


def ports_of(i, variant):
    """(port, state, name, product, version, extrainfo, cpe) of host i."""
    ports = [(22, "open", "ssh", "OpenSSH", "9.2p1 Debian 2+deb12u3", "protocol 2.0",
              "cpe:/a:openbsd:openssh:9.2p1")]
    if i % 2 == 0 or i % 97 == 1:
        ports.append((80, "open", "http", "nginx", "1.22.1", None, "cpe:/a:igor_sysoev:nginx:1.22.1"))
    if i % 3 == 0 or i % 79 == 4:
        ports.append((443, "open", "http", "nginx", "1.22.1", None, "cpe:/a:igor_sysoev:nginx:1.22.1"))
    if i % 7 == 0:
        ports.append((3306, "open", "mysql", "MySQL", "8.0.36", None, "cpe:/a:mysql:mysql:8.0.36"))
    if i % 11 == 0:
        ports.append((6379, "open", "redis", "Redis key-value store", "7.0.15", None, None))
    if variant == "b":
        if i % 97 == 1:
            ports = [p for p in ports if p[0] != 80]
        if i % 89 == 2:
            ports.append((9200, "open", "http", "Elasticsearch REST API", "8.12.0", None, None))
        if i % 83 == 3:
            ports = [(22, "open", "ssh", "OpenSSH", "9.6p1 Debian 4", "protocol 2.0",
                      "cpe:/a:openbsd:openssh:9.6p1") if p[0] == 22 else p for p in ports]
        if i % 79 == 4:
            ports = [(443, "filtered", "https", None, None, None, None) if p[0] == 443 else p
                     for p in ports]
    return sorted(ports)


def esc(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def host_xml(out, i, a, up, ports, t):
    out.write('<host starttime="%d" endtime="%d"><status state="%s" reason="%s" reason_ttl="64"/>\n'
              % (t, t + 3, "up" if up else "down", "syn-ack" if up else "no-response"))
    out.write('<address addr="%s" addrtype="ipv4"/>\n' % a)
    out.write('<hostnames>\n<hostname name="h%d.lab.example" type="PTR"/>\n</hostnames>\n' % i)
    if up:
        out.write('<ports><extraports state="closed" count="%d">\n'
                  '<extrareasons reason="reset" count="%d" proto="tcp" ports="1-21,23-79"/>\n'
                  '</extraports>\n' % (1000 - len(ports), 1000 - len(ports)))
        for (p, state, name, product, version, extra, cpe) in ports:
            reason = "syn-ack" if state == "open" else "no-response"
            out.write('<port protocol="tcp" portid="%d"><state state="%s" reason="%s" reason_ttl="64"/>'
                      % (p, state, reason))
            attrs = ' name="%s"' % name
            for k, v in (("product", product), ("version", version), ("extrainfo", extra)):
                if v is not None:
                    attrs += ' %s="%s"' % (k, esc(v))
            attrs += ' method="%s" conf="%d"' % (("probed", 10) if product else ("table", 3))
            if cpe:
                out.write('<service%s><cpe>%s</cpe></service></port>\n' % (attrs, cpe))
            else:
                out.write('<service%s/></port>\n' % attrs)
        out.write('</ports>\n')
        out.write('<times srtt="%d" rttvar="%d" to="100000"/>\n' % (300 + i % 200, 50 + i % 40))
    out.write('</host>\n')


def main():
    if len(sys.argv) < 4 or sys.argv[2] not in ("a", "b"):
        sys.exit(__doc__)
    n, variant, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    changes = []
    t0 = 1795900000 + (86400 if variant == "b" else 0)
    with open(path, "w") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n')
        out.write('<nmaprun scanner="nmap" args="nmap -sV -oX scan.xml 10.0.0.0/8" start="%d" '
                  'startstr="" version="7.93" xmloutputversion="1.05">\n' % t0)
        out.write('<scaninfo type="syn" protocol="tcp" numservices="1000" services="1-1000"/>\n'
                  '<verbose level="0"/>\n<debugging level="0"/>\n')
        for i in range(n):
            a = addr(i)
            pa = ports_of(i, "a")
            if variant == "b" and i % 1019 == 6:
                changes.append(a)
                changes += ["%s:%d/tcp" % (a, p[0]) for p in pa if p[1] != "closed"]
                continue
            if variant == "b" and i % 1013 == 5:
                changes.append(a)
                changes += ["%s:%d/tcp" % (a, p[0]) for p in pa if p[1] != "closed"]
                host_xml(out, i, a, False, [], t0 + i % 3600)
                continue
            ports = ports_of(i, variant)
            if variant == "b":
                da, db = {p[0]: p for p in pa}, {p[0]: p for p in ports}
                for p in sorted(set(da) | set(db)):
                    if da.get(p) != db.get(p):
                        changes.append("%s:%d/tcp" % (a, p))
            host_xml(out, i, a, True, ports, t0 + i % 3600)
        if variant == "b":
            for j in range(n // 500):
                a = "10.200.%d.%d" % (j >> 8 & 255, j & 255)
                changes += [a, "%s:22/tcp" % a]
                host_xml(out, 1_000_000 + j, a, True,
                         [(22, "open", "ssh", "OpenSSH", "9.6p1 Debian 4", "protocol 2.0", None)],
                         t0)
        out.write('<runstats><finished time="%d" timestr="" elapsed="3600" summary="" exit="success"/>'
                  '<hosts up="%d" down="0" total="%d"/>\n</runstats>\n</nmaprun>\n'
                  % (t0 + 3600, n, n))
    if len(sys.argv) > 4:
        with open(sys.argv[4], "w") as f:
            f.write("".join(c + "\n" for c in sorted(changes)))


if __name__ == "__main__":
    main()
