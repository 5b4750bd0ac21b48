#!/usr/bin/env python3
"""Memory per idle connection of a running kehud: opens N connections (TLS
or plaintext), says Hello on each, and reads kehud's resident memory before
and after (the same machine; kehud's pid given).

    bench/tls_idle.py --port 7700 --pid PID --count 2000 [--tls]

kehud must allow that many idle connections not logged in from one address
for the run: KEHUD_MAX_UNAUTH_PER_ADDRESS, KEHUD_MAX_CONNS_PER_ADDRESS,
KEHUD_AUTH_TIMEOUT (docs/security.md)."""
import argparse
import socket
import ssl
import time

HELLO = bytes.fromhex("00000008" "0801" "1204" "0a02" "0801")  # Frame{id 1, Hello{protocol_version 1}}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--tls", action="store_true")
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    time.sleep(0.5)
    before = rss_kib(a.pid)
    conns = []
    for _ in range(a.count):
        s = socket.create_connection((a.host, a.port))
        if a.tls:
            s = ctx.wrap_socket(s)
        s.sendall(HELLO)
        reply = s.recv(4096)
        if not reply:
            raise SystemExit("kehud closed a connection: raise its limits for the run")
        conns.append(s)
    time.sleep(1.0)
    after = rss_kib(a.pid)
    per = (after - before) * 1024 / a.count
    kind = "TLS" if a.tls else "plaintext"
    print(f"{kind}: {a.count} idle connections (Hello said): kehud RSS {before} -> {after} KiB, "
          f"{per / 1024:.1f} KiB per connection")
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
