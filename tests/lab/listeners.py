#!/usr/bin/env python3
"""TCP listeners for the Portolan scan lab (run inside the target namespace).

Usage: listeners.py PORTS           PORTS: comma-separated list, e.g. 1,22,80,65535
Binds 0.0.0.0 on every port (so AnyIP addresses answer too), accepts and closes connections as
fast as they come, prints "ready" on stdout once every port listens, and runs until killed.
"""
import selectors
import socket
import sys

ports = [int(p) for p in sys.argv[1].split(",") if p]
sel = selectors.DefaultSelector()
for p in ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", p))
    s.listen(65535)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        for _ in range(256):
            try:
                c, _ = key.fileobj.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            c.close()
