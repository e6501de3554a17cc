#!/usr/bin/env bash
# portolan detect: packets per second (single thread) side by side with tshark doing comparable
# stateful work (`tshark -r FILE -q -z conv,tcp`) on the same generated capture, and peak memory
# at 10 M versus 50 M packets (it should stay flat).
#
# Usage: bench/detect.sh            (N=10000000 BIG=50000000 TSHARK_PACKETS=2000000 RUNS=3)
#   N               packets in the capture file (the throughput run)
#   BIG             packets of the second memory run (streamed through a pipe: no disk needed)
#   TSHARK_PACKETS  packets tshark reads from the same file (-c); "all" for the whole file
#                   (tshark runs at about 100k packets/s, so the whole 10 M file takes minutes)
#   WORK            where the capture is written (default: a temporary directory, removed)
# The capture is generated (crates/portolan-detect/examples/gen_capture.rs): benign connections
# with handshakes, data and closes, DNS, failed connections, nmap/ZMap-like scans, UDP and FIN
# scans, and spoofed SYN floods. Nothing is sent on any network.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000000}
BIG=${BIG:-50000000}
TSHARK_PACKETS=${TSHARK_PACKETS:-2000000}
RUNS=${RUNS:-3}
if [ -z "${WORK:-}" ]; then
  WORK=$(mktemp -d /tmp/portolan-detect-bench.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"

echo "== building (release)"
cargo build --release -q -p portolan-cli
cargo build --release -q -p portolan-detect --example gen_capture
GEN=target/release/examples/gen_capture
PD=target/release/portolan
FILE="$WORK/bench-$N.pcap"

echo "== generating $N packets -> $FILE"
[ -s "$FILE" ] || "$GEN" --packets "$N" --seed 1 -o "$FILE"
ls -l "$FILE"
cat "$FILE" > /dev/null   # warm the page cache: measure processing, not the disk

# time -f: elapsed seconds, user seconds, max RSS KiB
measure() { /usr/bin/time -f "%e %U %M" "$@" 2>&1 >/dev/null | tail -1; }

echo "== portolan detect $FILE --format eve  ($RUNS runs, best)"
best=""
for _ in $(seq "$RUNS"); do
  r=$(measure "$PD" detect "$FILE" --format eve)
  echo "   elapsed/user/maxrss: $r"
  e=${r%% *}
  if [ -z "$best" ] || awk "BEGIN{exit !($e < $best)}"; then best=$e; best_line=$r; fi
done
read -r pd_e pd_u pd_rss <<<"$best_line"
pd_pps=$(awk "BEGIN{printf \"%.0f\", $N/$pd_e}")
pd_pps_cpu=$(awk "BEGIN{printf \"%.0f\", $N/$pd_u}")
alerts=$("$PD" detect "$FILE" --format eve | wc -l)
echo "   portolan: $pd_pps packets/s wall ($pd_pps_cpu per CPU-second of user time), $alerts alerts, max RSS ${pd_rss} KiB"

if command -v tshark >/dev/null; then
  if [ "$TSHARK_PACKETS" = all ]; then TARGS=(); TN=$N; else TARGS=(-c "$TSHARK_PACKETS"); TN=$TSHARK_PACKETS; fi
  echo "== tshark -r $FILE ${TARGS[*]} -q -z conv,tcp"
  r=$(measure tshark -r "$FILE" "${TARGS[@]}" -q -z conv,tcp)
  read -r ts_e ts_u ts_rss <<<"$r"
  ts_pps=$(awk "BEGIN{printf \"%.0f\", $TN/$ts_e}")
  echo "   tshark: $TN packets in ${ts_e}s = $ts_pps packets/s, max RSS ${ts_rss} KiB"
  echo "== ratio: portolan is $(awk "BEGIN{printf \"%.1f\", $pd_pps/$ts_pps}")x tshark (packets/s, wall clock)"
else
  echo "== tshark not installed: no comparison (apt-get install tshark)"
fi

echo "== peak memory, streamed through a pipe: $N vs $BIG packets"
r10=$( { /usr/bin/time -f "%M" "$PD" detect - --format eve > /dev/null; } 2>&1 < <("$GEN" --packets "$N" --seed 2) | tail -1)
r50=$( { /usr/bin/time -f "%M" "$PD" detect - --format eve > /dev/null; } 2>&1 < <("$GEN" --packets "$BIG" --seed 2) | tail -1)
echo "   $N packets: max RSS $r10 KiB"
echo "   $BIG packets: max RSS $r50 KiB"
echo "   ratio $(awk "BEGIN{printf \"%.2f\", $r50/$r10}") (1.00 = flat)"
