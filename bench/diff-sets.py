#!/usr/bin/env python3
"""Print the changes a diff found, one `addr:port/proto` line per changed port and one `addr`
line per host whose status changed, sorted — from `ndiff --xml` output or from
`portolan diff --format json` output — so that two diffs (and the generator's CHANGES list,
bench/gen-nmap-xml.py) can be compared with `cmp`.

  diff-sets.py ndiff-xml FILE | diff-sets.py portolan-json FILE
"""
import json
import sys
import xml.etree.ElementTree as ET


def ndiff_xml(path):
    out = set()
    for hd in ET.parse(path).getroot().iter("hostdiff"):
        for side in ("a", "b"):
            whole = hd.find(side)
            if whole is not None:  # a host in one scan only: it and every port listed
                h = whole.find("host")
                addr = h.find("address").get("addr")
                out.add(addr)
                for p in h.iter("port"):
                    st = p.find("state")
                    if st is not None and st.get("state") != "closed":
                        out.add("%s:%s/%s" % (addr, p.get("portid"), p.get("protocol")))
        h = hd.find("host")
        if h is None:
            continue
        addr = h.find("address").get("addr")
        if h.find("a/status") is not None or h.find("b/status") is not None:
            out.add(addr)
        for pd in h.iter("portdiff"):
            p = pd.find(".//port")
            out.add("%s:%s/%s" % (addr, p.get("portid"), p.get("protocol")))
    return out


def portolan_json(path):
    with open(path) as f:
        j = json.load(f)
    out = {"%s:%d/%s" % (c["addr"], c["port"], c["proto"]) for c in j["changes"]}
    out |= {h["addr"] for h in j["hosts"]}
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("ndiff-xml", "portolan-json"):
        sys.exit(__doc__)
    s = ndiff_xml(sys.argv[2]) if sys.argv[1] == "ndiff-xml" else portolan_json(sys.argv[2])
    sys.stdout.write("".join(x + "\n" for x in sorted(s)))
