#!/usr/bin/env bash
# Benchmark: `portolan vulns` import and matching on a generated NVD-shaped corpus.
#
#   bash bench/vulns.sh [RECORDS] [SERVICES]      defaults 300000 and 10000
#
# 1. generates RECORDS NVD CVE API 2.0 records as gzipped pages of 2,000 (5,000 products,
#    1-4 ranges each, CVSS v3.1, 2 % awaiting analysis) with the vulns_bench example;
# 2. imports them into a new SQLite file, timed, with peak memory (/usr/bin/time -v when
#    installed): through the release `portolan vulns import` when PORTOLAN (or
#    target/release/portolan) exists, else through the same library call in the example;
# 3. matches SERVICES services drawn from 500 of those products, twice: every service with a
#    different version (worst case), and each product in at most 5 versions (a fleet of a few
#    builds); each reports loading the products' records from SQLite, matching, and the same
#    services again (memoized per distinct product and version).
# Goals (issue 16): import < 60 s and < 500 MiB; 10,000 services < 100 ms.
# Everything is written to a temporary directory, removed on exit. No network.
set -euo pipefail
RECORDS=${1:-300000}
SERVICES=${2:-10000}
cd "$(dirname "$0")/.."
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --release -q -p portolan-vuln --example vulns_bench
EX=target/release/examples/vulns_bench
BIN=${PORTOLAN:-target/release/portolan}

t0=$(date +%s.%N)
"$EX" gen "$WORK/nvd" "$RECORDS"
t1=$(date +%s.%N)
echo "generated $RECORDS records: $(du -sh "$WORK/nvd" | cut -f1) gzipped, $(echo "$t1 - $t0" | bc) s"

TIME=()
[ -x /usr/bin/time ] && TIME=(/usr/bin/time -v -o "$WORK/time.txt")
if [ -x "$BIN" ]; then
  echo "import: $BIN vulns import"
  "${TIME[@]}" "$BIN" vulns import "$WORK/nvd" --db "$WORK/v.sqlite3" 2>/dev/null
else
  echo "import: the library call of \`portolan vulns import\` (no $BIN; cargo build --release -p portolan-cli for the CLI)"
  "${TIME[@]}" "$EX" import "$WORK/v.sqlite3" "$WORK/nvd"
fi
if [ -f "$WORK/time.txt" ]; then
  grep -E "Elapsed|Maximum resident|User time|System time" "$WORK/time.txt" | sed 's/^\s*/  /'
fi
echo "database: $(du -h "$WORK/v.sqlite3" | cut -f1)"
"$EX" match "$WORK/v.sqlite3" "$SERVICES"
