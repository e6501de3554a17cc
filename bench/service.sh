#!/usr/bin/env bash
# Side-by-side: `portolan service` / `portolan scan -sV` vs `nmap -sV` on the service labs (real
# Debian daemons in network namespaces of this script's own, loopback only):
#   lab1  tests/lab/fingerprint-services.sh (the daemons the fingerprint tests were written with)
#   lab2  tests/lab/service-lab2.sh (issue 19: daemons nobody tuned for, dev and held-out halves;
#         expected name/product/version/open access in tests/lab/service-lab2.tsv)
# Prints, per port, what each tool found, then counts, wall times and the ratio.
#
#   sudo bench/service.sh [lab1|lab2|all]   # default all; builds portolan in release mode first
#   PORTOLAN=/path/to/portolan sudo -E bench/service.sh lab2
#
# Needs root, iproute2, nmap, python3 and the daemons of .ci/apt/fingerprint.txt and
# .ci/apt/service-lab2.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:-all}
case "$WHICH" in lab1|lab2|all) ;; *) echo "usage: bench/service.sh [lab1|lab2|all]" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "bench/service.sh: needs root (network namespace)" >&2; exit 2; }
command -v nmap >/dev/null || { echo "bench/service.sh: nmap is not installed" >&2; exit 2; }

if [ -z "${PORTOLAN:-}" ]; then
  cargo build --release -q -p portolan-cli
  PORTOLAN=$PWD/target/release/portolan
fi
NS=plfp-bench-$$
DIR=/tmp/plfp-bench-$$
NS2=plsl2-bench-$$
DIR2=/tmp/plsl2-bench-$$
cleanup() {
  bash tests/lab/fingerprint-services.sh down "$NS" "$DIR"
  bash tests/lab/service-lab2.sh down "$NS2" "$DIR2"
}
trap cleanup EXIT
now() { date +%s.%N; }

# --- lab 2 (issue 19)
lab2() {
  echo "== service lab 2 (tests/lab/service-lab2.sh) =="
  bash tests/lab/service-lab2.sh up "$NS2" "$DIR2" 2>"$DIR2.err" || { cat "$DIR2.err"; exit 1; }
  cat "$DIR2.err" >&2; rm -f "$DIR2.err"
  local targets=() tcp=() udp=() id port p proto rest
  while IFS=$'\t' read -r id port rest; do
    p=${port%/*}; proto=${port#*/}
    if [ "$proto" = udp ]; then targets+=("127.0.0.1:$p/udp"); udp+=("$p"); else targets+=("127.0.0.1:$p"); tcp+=("$p"); fi
  done < "$DIR2/up.tsv"
  local tcp_list udp_list t0 t1 t2 t3
  tcp_list=$(IFS=,; echo "${tcp[*]}"); udp_list=$(IFS=,; echo "${udp[*]}")
  echo "lab 2: ${#targets[@]} ports up ($(wc -l < "$DIR2/skipped.txt") rows skipped)"
  t0=$(now)
  ip netns exec "$NS2" "$PORTOLAN" service --json --proxy-target 127.0.0.1:8030 "${targets[@]}" \
    > "$DIR2/service.jsonl" 2> "$DIR2/service.err" || true
  t1=$(now)
  ip netns exec "$NS2" "$PORTOLAN" scan 127.0.0.1 --syn -sV -q --no-store --proxy-target 127.0.0.1:8030 -p "$tcp_list" -o "jsonl=$DIR2/scan.jsonl" > /dev/null
  if [ -n "$udp_list" ]; then
    ip netns exec "$NS2" "$PORTOLAN" scan 127.0.0.1 --udp -sV -q --no-store -p "$udp_list" -o "jsonl=$DIR2/scan-udp.jsonl" > /dev/null
    cat "$DIR2/scan-udp.jsonl" >> "$DIR2/scan.jsonl"
  fi
  t2=$(now)
  local nmap_ports="T:$tcp_list" scan="-sS"
  if [ -n "$udp_list" ]; then nmap_ports="$nmap_ports,U:$udp_list"; scan="-sS -sU"; fi
  # shellcheck disable=SC2086
  ip netns exec "$NS2" nmap -sV $scan -Pn -n -p "$nmap_ports" -oX "$DIR2/nmap.xml" 127.0.0.1 > /dev/null
  t3=$(now)
  python3 bench/service_lab2.py "$DIR2/up.tsv" "$DIR2/service.jsonl" "$DIR2/scan.jsonl" "$DIR2/nmap.xml" \
    "$t0 $t1 $t2 $t3"
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$DIR2"/*.jsonl "$DIR2/nmap.xml" "$DIR2/up.tsv" "$KEEP/"; fi
  echo
}

if [ "$WHICH" != lab1 ]; then lab2; fi
[ "$WHICH" = lab2 ] && exit 0
echo "== service lab 1 (tests/lab/fingerprint-services.sh) =="
bash tests/lab/fingerprint-services.sh up "$NS" "$DIR" 2>"$DIR.err" || { cat "$DIR.err"; exit 1; }
cat "$DIR.err" >&2; rm -f "$DIR.err"

targets=(); tcp=(); udp=()
while IFS=$'\t' read -r name port pkg unauth; do
  p=${port%/*}; proto=${port#*/}
  if [ "$proto" = udp ]; then targets+=("127.0.0.1:$p/udp"); udp+=("$p"); else targets+=("127.0.0.1:$p"); tcp+=("$p"); fi
done < "$DIR/services.tsv"
tcp_list=$(IFS=,; echo "${tcp[*]}"); udp_list=$(IFS=,; echo "${udp[*]}")
echo "lab 1: ${#targets[@]} ports ($(cut -f1 "$DIR/services.tsv" | tr '\n' ' '))"

t0=$(now)
ip netns exec "$NS" "$PORTOLAN" service --json --proxy-target 127.0.0.1:8081 "${targets[@]}" > "$DIR/portolan.jsonl"
t1=$(now)
ip netns exec "$NS" "$PORTOLAN" service --json --no-checks "${targets[@]}" > "$DIR/portolan-nochecks.jsonl"
t2=$(now)
NMAP_PROBES=/usr/share/nmap/nmap-service-probes
if [ -r "$NMAP_PROBES" ]; then
  ip netns exec "$NS" "$PORTOLAN" service --json --no-checks --probes-file "$NMAP_PROBES" "${targets[@]}" \
    > "$DIR/portolan-nmapdb.jsonl" 2>/dev/null
fi
t2b=$(now)
nmap_ports="T:$tcp_list"; scan="-sS"
if [ -n "$udp_list" ]; then nmap_ports="$nmap_ports,U:$udp_list"; scan="-sS -sU"; fi
# shellcheck disable=SC2086
ip netns exec "$NS" nmap -sV $scan -Pn -n -p "$nmap_ports" -oX "$DIR/nmap.xml" 127.0.0.1 > /dev/null
t3=$(now)
# The same work as nmap's: a port scan with service detection (-sS -sU -sV).
ip netns exec "$NS" "$PORTOLAN" scan 127.0.0.1 --syn -sV -q --proxy-target 127.0.0.1:8081 -p "$tcp_list" -o "jsonl=$DIR/scan-sv.jsonl" > /dev/null
if [ -n "$udp_list" ]; then
  ip netns exec "$NS" "$PORTOLAN" scan 127.0.0.1 --udp -sV -q -p "$udp_list" -o "jsonl=$DIR/scan-sv-udp.jsonl" > /dev/null
  cat "$DIR/scan-sv-udp.jsonl" >> "$DIR/scan-sv.jsonl"
fi
t4=$(now)
python3 - "$DIR/scan-sv.jsonl" "$t3" "$t4" "$t2b" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ports = [l for l in lines if l.get("type") == "port" and l.get("state") == "open"]
probed = [l for l in ports if l.get("service", {}).get("method") == "probed"]
t3, t4, t2b = map(float, sys.argv[2:5])
print(f"portolan scan --syn/--udp -sV: {t4 - t3:.2f} s, {len(ports)} open ports, {len(probed)} identified by probing;"
      f" ratio nmap/portolan-scan: {(t3 - t2b) / (t4 - t3):.1f}x")
PY

python3 - "$DIR/services.tsv" "$DIR/portolan.jsonl" "$DIR/nmap.xml" "$t0" "$t1" "$t2" "$t3" "$t2b" <<'PY'
import json, sys, xml.etree.ElementTree as ET
tsv, pj, nx, t0, t1, t2, t3, t2b = sys.argv[1:9]
t0, t1, t2, t3, t2b = map(float, (t0, t1, t2, t3, t2b))
daemons = {}
for line in open(tsv):
    name, port, pkg, unauth = line.rstrip("\n").split("\t")
    p, proto = port.split("/")
    daemons[(proto, int(p))] = name
ours = {}
for line in open(pj):
    r = json.loads(line)
    port = int(r["addr"].rsplit(":", 1)[1])
    name = r.get("name") or ""
    if r.get("tunnel"): name = r["tunnel"] + "/" + name
    desc = " ".join(x for x in (r.get("product"), r.get("version")) if x)
    flags = ",".join(f["id"] for f in r.get("findings", []))
    ours[(r["transport"], port)] = (name, desc, flags, r.get("version") or "")
theirs = {}
for port in ET.parse(nx).getroot().iter("port"):
    s = port.find("service")
    key = (port.get("protocol"), int(port.get("portid")))
    if s is None:
        theirs[key] = ("", "", ""); continue
    name = s.get("name", "")
    if s.get("tunnel"): name = s.get("tunnel") + "/" + name
    desc = " ".join(x for x in (s.get("product"), s.get("version")) if x)
    theirs[key] = (name, desc, s.get("version", ""))
w = "{:<10} {:<13} {:<38} {:<38} {}"
print(w.format("port", "daemon", "portolan", "nmap -sV", "portolan findings"))
named_o = named_n = ver_o = ver_n = 0
for key in sorted(daemons):
    o = ours.get(key, ("", "", "", "")); n = theirs.get(key, ("", "", ""))
    named_o += bool(o[0]) and not o[0].endswith("?"); named_n += bool(n[0]) and not n[0].endswith("?")
    ver_o += bool(o[3]); ver_n += bool(n[2])
    print(w.format(f"{key[1]}/{key[0]}", daemons[key], (o[0] + " " + o[1])[:38], (n[0] + " " + n[1])[:38], o[2]))
print()
print(f"named:    portolan {named_o}/{len(daemons)}   nmap {named_n}/{len(daemons)}")
print(f"version field set: portolan {ver_o}/{len(daemons)}   nmap {ver_n}/{len(daemons)}")
po, pn, nm, pdb = t1 - t0, t2 - t1, t3 - t2b, t2b - t2
print(f"wall time: portolan service {po:.2f} s (with exposure checks), {pn:.2f} s (--no-checks); nmap -sV {nm:.2f} s")
if pdb > 0.05:
    print(f"portolan service --no-checks --probes-file nmap-service-probes (loads ~11k nmap rules): {pdb:.2f} s")
print(f"ratio nmap/portolan: {nm/po:.1f}x (with checks), {nm/pn:.1f}x (no checks)")
PY
