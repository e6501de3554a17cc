#!/usr/bin/env bash
# Raw SYN sending paths side by side in the namespace lab (tests/lab/lab.sh), in one run:
# --send-via ip (IP raw socket: the kernel routes, resolves the neighbour, runs netfilter and
# the qdisc per packet) vs --send-via link (AF_PACKET frames to the next hop's MAC, past the
# qdisc) vs --router-mac (the same frames, MAC given), interleaved, N runs each:
#   1. all 65535 ports of 10.78.0.2 (40 open), --max-rate 1000000
#   2. port 80 on the 32768 AnyIP hosts of 10.77.0.0/17 behind 10.78.0.2, --max-rate 300000
# Prints each run's wall and CPU (user+sys) time (/usr/bin/time), the median per mode and the
# ratio to `ip`. Modes are interleaved so that load from elsewhere hits them alike.
# Needs root, iproute2, python3 and a release build (`cargo build --release -p portolan-cli`).
# Packets stay inside the lab's two namespaces (no route out).
# Usage: bench/scan-send-via.sh [RUNS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
. bench/lib.sh
lab_begin plv
PORTS=$(forty_ports)
listen_tcp "$PORTS"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

bench_case() { # bench_case LABEL EXPECTED_OPEN ARGS...
  local label=$1 want=$2; shift 2
  echo "== $label: portolan scan $* -q"
  for mode in ip link mac; do : > "$WORK/$mode.times"; : > "$WORK/$mode.cpu"; done
  for i in $(seq "$RUNS"); do
    for mode in ip link mac; do
      case $mode in
        ip) extra=(--send-via ip) ;;
        link) extra=(--send-via link) ;;
        mac) extra=(--router-mac "$TMAC") ;;
      esac
      ip netns exec "$S" /usr/bin/time -f "%e %U %S" -o "$WORK/t" "$BIN" scan -Pn "$@" "${extra[@]}" -q \
        -o "jsonl=$WORK/out.jsonl" > /dev/null
      local t cpu open
      read -r t u k < "$WORK/t"
      cpu=$(echo "$u + $k" | bc)
      open=$(grep -c '"state":"open"' "$WORK/out.jsonl" || true)
      echo "$t" >> "$WORK/$mode.times"
      echo "$cpu" >> "$WORK/$mode.cpu"
      printf '  run %d %-5s %6.2f s wall %6.2f s cpu  open %s/%s\n' "$i" "$mode" "$t" "$cpu" "$open" "$want"
    done
  done
  local mip cip
  mip=$(median < "$WORK/ip.times")
  cip=$(median < "$WORK/ip.cpu")
  for mode in ip link mac; do
    local m c
    m=$(median < "$WORK/$mode.times")
    c=$(median < "$WORK/$mode.cpu")
    printf '  median %-5s wall %5.2f s (x%.2f of ip)  cpu %5.2f s (x%.2f of ip)\n' "$mode" "$m" \
      "$(echo "$m / $mip" | bc -l)" "$c" "$(echo "$c / $cip" | bc -l)"
  done
}

bench_case "full range, one host" 40 10.78.0.2 -p- --syn --max-rate 1000000
bench_case "one port, /17" 32768 10.77.0.0/17 -p 80 --syn --max-rate 300000
