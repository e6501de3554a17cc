# portolan scan: python-libnmap parses the XML output in a test. Idempotent.
if ! python3 -c 'import libnmap' >/dev/null 2>&1; then
  python3 -m pip install --quiet python-libnmap >/dev/null 2>&1 \
    || python3 -m pip install --quiet --break-system-packages python-libnmap >/dev/null 2>&1 \
    || echo "ci: scan.sh: could not install python-libnmap" >&2
fi
