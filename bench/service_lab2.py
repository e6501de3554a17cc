#!/usr/bin/env python3
"""Per-port comparison for service lab 2 (bench/service.sh lab2): Portolan's `service` and
`scan -sV` against `nmap -sV`, each against the expected table (tests/lab/service-lab2.tsv) and
the installed package versions; counts per half (dev, held) and in all.

usage: service_lab2.py UP_TSV SERVICE_JSONL SCAN_JSONL NMAP_XML TIMES
  UP_TSV  rows of service-lab2.tsv whose port listened (service-lab2.sh writes it)
  TIMES   "T0 T1 T2 T3": start of `service`, of `scan -sV`, of `nmap -sV`, end (seconds)
"""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

up_tsv, svc_jsonl, scan_jsonl, nmap_xml, times = sys.argv[1:6]
t0, t1, t2, t3 = map(float, times.split())
times = dict(service=t1 - t0, scan=t2 - t1, nmap=t3 - t2)


def upstream(v):
    """Debian version -> upstream: drop epoch, revision and +dfsg/~ suffixes."""
    if ":" in v:
        v = v.split(":", 1)[1]
    if "-" in v:
        v = v.rsplit("-", 1)[0]
    for sep in "+~":
        v = v.split(sep, 1)[0]
    return v


def dpkg_version(pkg, cache={}):
    if pkg not in cache:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
        cache[pkg] = upstream(r.stdout.strip()) if r.returncode == 0 else None
    return cache[pkg]


def version_ok(read, want):
    if not read or not want:
        return False
    if read == want or want.startswith(read + "."):
        return True
    return read.startswith(want) and not (read[len(want):][:1].isdigit() or read[len(want):][:1] == ".")


rows = []
for line in open(up_tsv):
    if line.startswith("#") or not line.strip():
        continue
    f = line.rstrip("\n").split("\t")
    rid, port, pkg, service, product, announces, open_, half, aliases = f[:9]
    p, proto = port.split("/")
    names = {service.lower()} | ({a.lower() for a in aliases.split(",")} if aliases != "-" else set())
    rows.append(dict(id=rid, key=(proto, int(p)), pkg=pkg, service=service, names=names,
                     product=None if product == "-" else product, announces=announces == "1",
                     open=open_ == "1", half=half, want=dpkg_version(pkg)))

# Each tool's view of a port: name, guess (bool), product, version, flagged (None = tool has no flag)
EMPTY = dict(name="", guess=False, product="", version="", flagged=None)
ours = {}
for line in open(svc_jsonl):
    r = json.loads(line)
    if "addr" not in r:
        continue
    key = (r["transport"], int(r["addr"].rsplit(":", 1)[1]))
    conf = r.get("confidence")
    ours[key] = dict(name=r.get("name") or "" if conf != "unknown" else "", guess=conf == "port-table",
                     product=r.get("product") or "", version=r.get("version") or "",
                     flagged=bool(r.get("findings")))
scan = {}
for line in open(scan_jsonl):
    r = json.loads(line)
    if r.get("type") != "port":
        continue
    key = (r.get("proto") or r.get("protocol"), int(r["port"]))
    s = r.get("service") or {}
    name = s.get("name") or ""
    if name == "unknown" or s.get("conf", 10) == 0:
        name = ""
    scan[key] = dict(name=name, guess=s.get("method") == "table" and bool(name), product=s.get("product") or "",
                     version=s.get("version") or "", flagged=bool(s.get("exposures")), state=r.get("state"))
nmap = {}
for port in ET.parse(nmap_xml).getroot().iter("port"):
    key = (port.get("protocol"), int(port.get("portid")))
    s = port.find("service")
    st = port.find("state")
    if s is None:
        nmap[key] = dict(EMPTY, state=st.get("state") if st is not None else "")
        continue
    nmap[key] = dict(name=s.get("name", ""), guess=s.get("method") == "table", product=s.get("product", ""),
                     version=s.get("version", ""), flagged=None, state=st.get("state") if st is not None else "")


def judge(row, got):
    """(name_ok, named, guessed, product_ok, version_read, version_ok, flag_ok)"""
    name = got["name"].lower()
    named = bool(name) and not got["guess"]
    name_ok = named and name in row["names"]
    product_ok = row["product"] is None or row["product"].lower() in got["product"].lower()
    vread = bool(got["version"])
    vok = version_ok(got["version"], row["want"])
    flag_ok = None if got["flagged"] is None else got["flagged"] == row["open"]
    return dict(named=named, guessed=bool(name) and got["guess"], name_ok=name_ok,
                wrong=named and not name_ok, product_ok=name_ok and product_ok, vread=vread, vok=vok,
                flag_ok=flag_ok)


def cell(got, j):
    if not got["name"]:
        return "-" + (" OPEN" if got["flagged"] else "")
    s = got["name"] + ("?" if got["guess"] else "")
    if got["product"]:
        s += " " + got["product"]
    if got["version"]:
        s += " " + got["version"]
    s = s[:34]
    mark = "" if got["guess"] else (" ok" if j["name_ok"] else " WRONG")
    if got["version"]:
        mark += "" if j["vok"] else " badver"
    if got["flagged"]:
        mark += " OPEN"
    return s + mark


tools = [("portolan service", ours), ("portolan scan -sV", scan), ("nmap -sV", nmap)]
w = "{:<10} {:<15} {:<5} {:<34} {:<46} {:<46} {}"
print(w.format("port", "daemon", "half", "expected (name product version open)", "portolan service",
               "portolan scan -sV", "nmap -sV"))
stats = {}
for row in sorted(rows, key=lambda r: (r["half"], r["key"])):
    exp = f"{row['service']} {row['product'] or ''} {row['want'] if row['announces'] else ''}"
    exp = " ".join(exp.split()) + (" OPEN" if row["open"] else "")
    cells = []
    for tname, tool in tools:
        got = tool.get(row["key"], EMPTY)
        j = judge(row, got)
        cells.append(cell(got, j))
        for half in (row["half"], "all"):
            st = stats.setdefault((tname, half), dict(ports=0, named=0, name_ok=0, wrong=0, guessed=0,
                                                       product_ok=0, announced=0, vread=0, vok=0,
                                                       vok_announced=0, flag_hit=0, flag_false=0, flag_n=0,
                                                       opens=0))
            st["ports"] += 1
            st["named"] += j["named"]
            st["name_ok"] += j["name_ok"]
            st["wrong"] += j["wrong"]
            st["guessed"] += j["guessed"]
            st["product_ok"] += j["product_ok"]
            st["announced"] += row["announces"]
            st["vread"] += j["vread"]
            st["vok"] += j["vok"]
            st["vok_announced"] += j["vok"] and row["announces"]
            st["opens"] += row["open"]
            if got["flagged"] is not None:
                st["flag_n"] += 1
                st["flag_hit"] += bool(got["flagged"]) and row["open"]
                st["flag_false"] += bool(got["flagged"]) and not row["open"]
    print(w.format(f"{row['key'][1]}/{row['key'][0]}", row["id"], row["half"], exp[:34], *cells))

print()
print("named = identified by a probe (not a port-table guess); correct = the expected name or an alias;")
print("versions correct = equal to the package's upstream version (see tests/lab/service-lab2.tsv);")
print("open access = flagged exactly when the daemon is configured open (nmap -sV flags nothing).")
for half in ("dev", "held", "all"):
    print(f"\n[{half}]")
    for tname, _ in tools:
        st = stats.get((tname, half))
        if not st:
            continue
        flag = (f"flagged {st['flag_hit']} of {st['opens']} open, {st['flag_false']} false"
                if st["flag_n"] else "n/a")
        print(f"  {tname:<18} ports {st['ports']:>2}  named {st['named']:>2} (correct {st['name_ok']:>2}, "
              f"wrong {st['wrong']})  guessed {st['guessed']:>2}  product ok {st['product_ok']:>2}  "
              f"versions read {st['vread']:>2} (correct {st['vok']:>2}; {st['announced']} announced)  "
              f"open access {flag}")
print()
s, sc, n = times["service"], times["scan"], times["nmap"]
print(f"wall time: portolan service {s:.2f} s, portolan scan -sV {sc:.2f} s, nmap -sV {n:.2f} s")
print(f"ratio nmap/portolan: {n / s:.1f}x (service), {n / sc:.1f}x (scan -sV)")
