#!/usr/bin/env bash
# The result store's read side, side by side in one run (issue 14):
#
#   1. `portolan diff a.xml b.xml` against nmap's `ndiff --xml a.xml b.xml` on two nmap XML
#      files of HOSTS hosts (default 50,000) written by bench/gen-nmap-xml.py with known
#      changes: wall time and peak memory of each, the ratio (goal: portolan >= 50x faster),
#      and a check that both find exactly the generator's changes (bench/diff-sets.py).
#   2. `portolan import` of nmap XML at two sizes (SMALL and BIG hosts, default 20,000 and
#      100,000): throughput in MB/s (goal >= 50) and peak RSS (goal: flat in the file's size).
#   3. `portolan import` of masscan -oJ, masscan -oL and ZMap CSV files of PORTS open ports
#      (default 200,000) written by bench/gen-port-lists.py: throughput and peak RSS.
#   4. bench/store-scan.sh, if it is there (a scan with and without the store).
#
# Usage: bench/store.sh            (after cargo build --release -p portolan-cli)
#        HOSTS=5000 SMALL=5000 BIG=20000 PORTS=20000 bench/store.sh     a short run
# PORTOLAN=PATH picks the binary (default target/release/portolan). No packets are sent by
# parts 1 to 3; part 4 runs in namespaces of its own (see that script).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${PORTOLAN:-target/release/portolan}
HOSTS=${HOSTS:-50000}
SMALL=${SMALL:-20000}
BIG=${BIG:-100000}
PORTS=${PORTS:-200000}
[ -x "$BIN" ] || { echo "build first: cargo build --release -p portolan-cli" >&2; exit 1; }
command -v ndiff >/dev/null || { echo "ndiff is not installed (Debian: apt-get install ndiff)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is not installed (Debian: apt-get install time)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PORTOLAN_DATA_DIR="$WORK/data"

# measure OUT CMD...: run CMD (stdout to OUT), print "WALL_SECONDS CPU_SECONDS PEAK_KB" (CPU =
# user + system: on a machine shared with other work the wall time counts their time too).
measure() {
  local out=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$@" > "$out" 2> "$WORK/err" || {
    local rc=$?
    # portolan diff exits 1 when something changed (--fail-on-change is not given here, but
    # ndiff exits 1 when the scans differ).
    [ "$rc" = 1 ] || { cat "$WORK/err" >&2; exit 1; }
  }
  tail -1 "$WORK/time" | awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }'
}

# measure_n N OUT CMD...: run CMD N times; print the median wall time (in ms, from `date`:
# /usr/bin/time's 10 ms steps are 7% of portolan diff's time), the median CPU seconds and the
# largest peak KB, then the wall times in seconds, sorted.
measure_n() {
  local n=$1 out=$2; shift 2
  local walls=() cpus=() peak=0 t0 t1 w c m
  for _ in $(seq "$n"); do
    t0=$(date +%s%N)
    read -r w c m < <(measure "$out" "$@")
    t1=$(date +%s%N)
    walls+=("$(( (t1 - t0) / 1000000 ))"); cpus+=("$c")
    [ "$m" -gt "$peak" ] && peak=$m
  done
  local mid=$(( (n + 1) / 2 ))
  echo "$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "${mid}p") $(printf '%s\n' "${cpus[@]}" | sort -g | sed -n "${mid}p") $peak $(printf '%s\n' "${walls[@]}" | sort -n | awk '{printf "%s%.3f", (NR > 1 ? "," : ""), $1 / 1000}')"
}

mb() { echo "scale=1; $(stat -c %s "$1") / 1000000" | bc; }

echo "== diff: $HOSTS hosts, portolan diff vs ndiff --xml"
python3 bench/gen-nmap-xml.py "$HOSTS" a "$WORK/a.xml"
python3 bench/gen-nmap-xml.py "$HOSTS" b "$WORK/b.xml" "$WORK/changes.txt"
echo "files: a.xml $(mb "$WORK/a.xml") MB, b.xml $(mb "$WORK/b.xml") MB; $(wc -l < "$WORK/changes.txt") known changes"
# Each 5 times (ndiff 3: 7-10 s a run), medians.
read -r pms pc pm pall < <(measure_n 5 "$WORK/p.json" "$BIN" diff "$WORK/a.xml" "$WORK/b.xml" \
  --format json -o "xml=$WORK/p.xml")
read -r nms nc nm nall < <(measure_n 3 "$WORK/n.xml" ndiff --xml "$WORK/a.xml" "$WORK/b.xml")
pt=$(printf '%.3f' "$(echo "scale=3; $pms / 1000" | bc)"); nt=$(printf '%.3f' "$(echo "scale=3; $nms / 1000" | bc)")
python3 bench/diff-sets.py portolan-json "$WORK/p.json" > "$WORK/p.set"
python3 bench/diff-sets.py ndiff-xml "$WORK/p.xml" > "$WORK/px.set"
python3 bench/diff-sets.py ndiff-xml "$WORK/n.xml" > "$WORK/n.set"
printf '%-16s %10s %10s %14s   %s\n' "" "wall s" "CPU s" "peak RSS MB" "each run's wall s"
printf '%-16s %10s %10s %14s   %s\n' "portolan diff" "$pt" "$pc" "$((pm / 1024))" "$pall"
printf '%-16s %10s %10s %14s   %s\n' "ndiff --xml" "$nt" "$nc" "$((nm / 1024))" "$nall"
echo "portolan is $(echo "scale=1; $nms / $pms" | bc)x faster in wall time (medians)," \
  "$(echo "scale=1; $nc / ($pc + 0.001)" | bc)x in CPU time (goal: >= 50x); load average $(cut -d' ' -f1 /proc/loadavg)"
same=yes
cmp -s "$WORK/p.set" "$WORK/changes.txt" || same=no
cmp -s "$WORK/px.set" "$WORK/changes.txt" || same=no
cmp -s "$WORK/n.set" "$WORK/changes.txt" || same=no
echo "same changes found (portolan json, portolan xml, ndiff, generator): $same" \
  "($(wc -l < "$WORK/p.set") / $(wc -l < "$WORK/px.set") / $(wc -l < "$WORK/n.set") / $(wc -l < "$WORK/changes.txt"))"
[ "$same" = yes ] || { diff "$WORK/p.set" "$WORK/n.set" | head -20; exit 1; }

# import_row LABEL FILE: import FILE into a new store; one row of size, wall and CPU time,
# throughput, peak RSS and the ports imported. FILE and its store are removed after.
import_row() {
  local it ic im ports size
  read -r it ic im < <(measure "$2.out" "$BIN" import --store "$2.db" --json "$2")
  ports=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["imported"][0]["scan"]["ports"])' "$2.out")
  size=$(mb "$2")
  printf '%-14s %8s %8s %8s %10s %10s %12s %8s\n' "$1" "$size" "$it" "$ic" \
    "$(echo "scale=1; $size / ($it + 0.001)" | bc)" "$(echo "scale=1; $size / ($ic + 0.001)" | bc)" \
    "$((im / 1024))" "$ports"
  rm -f "$2" "$2.db"*
}

echo
echo "== import of nmap XML: throughput and peak memory at two sizes"
printf '%-14s %8s %8s %8s %10s %10s %12s %8s\n' hosts MB "wall s" "CPU s" "MB/s wall" "MB/s CPU" "peak RSS MB" ports
for n in "$SMALL" "$BIG"; do
  python3 bench/gen-nmap-xml.py "$n" a "$WORK/i$n.xml"
  import_row "$n" "$WORK/i$n.xml"
done
echo "load average $(cut -d' ' -f1 /proc/loadavg) (goal: >= 50 MB/s; peak RSS flat in the file's size)"

echo
echo "== import of masscan -oJ, masscan -oL, ZMap CSV: $PORTS open ports each (ZMap: port 80's quarter)"
python3 bench/gen-port-lists.py "$PORTS" "$WORK"
printf '%-14s %8s %8s %8s %10s %10s %12s %8s\n' format MB "wall s" "CPU s" "MB/s wall" "MB/s CPU" "peak RSS MB" ports
for f in masscan.json masscan.lst zmap.csv; do
  import_row "$f" "$WORK/$f"
done
echo "load average $(cut -d' ' -f1 /proc/loadavg)"

if [ -f bench/store-scan.sh ]; then
  echo
  echo "== bench/store-scan.sh"
  bash bench/store-scan.sh
fi
