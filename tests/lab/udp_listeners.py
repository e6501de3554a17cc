#!/usr/bin/env python3
"""UDP responders for the Portolan scan lab (run inside the target namespace).

Usage: udp_listeners.py PORTS      PORTS: comma-separated list, e.g. 53,123,161,5353,40000
Binds each port on every non-loopback IPv4 address of the namespace (a reply must come from the
address that was probed), answers every datagram with up to 64 bytes of it (or "x" for an empty
one), prints "ready" once bound, and runs until killed.
"""
import selectors
import socket
import subprocess
import sys

ports = [int(p) for p in sys.argv[1].split(",") if p]
out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
addrs = [l.split()[3].split("/")[0] for l in out.splitlines() if not l.split()[3].startswith("127.")]
sel = selectors.DefaultSelector()
for a in addrs:
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a, p))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        while True:
            try:
                d, peer = key.fileobj.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            key.fileobj.sendto(d[:64] or b"x", peer)
