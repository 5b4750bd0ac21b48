#!/usr/bin/env python3
"""Memory per idle client connection, kehud beside redis-server, measured the
same way: the server's resident memory (VmRSS) before and after COUNT more
connections, each opened and answered once (kehud: Hello; redis: PING), then
left idle. Rounds alternate redis and kehud; every round adds COUNT more on
each and keeps the earlier ones open, so memory freed by closed connections
is never counted as new. Prints each round and the median per connection
with the ratio kehud / redis and its range.

    bench/idle_rss.py --kehu PORT:PID [--redis PORT:PID] [--count N] [--rounds R]

kehud must allow COUNT x ROUNDS idle connections not logged in from one
address for the run: KEHUD_MAX_UNAUTH_PER_ADDRESS, KEHUD_MAX_CONNS_PER_ADDRESS,
KEHUD_AUTH_TIMEOUT (docs/security.md); the process needs as many files
(ulimit -n)."""
import argparse
import socket
import statistics
import time

HELLO = bytes.fromhex("00000008" "0801" "1204" "0a02" "0801")  # Frame{id 1, Hello{protocol_version 1}}
PING = b"*1\r\n$4\r\nPING\r\n"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS")


def add_connections(port, pid, count, greeting, held):
    time.sleep(0.5)
    before = rss_kib(pid)
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(greeting)
        if not s.recv(4096):
            raise SystemExit(f"the server on port {port} closed a connection: raise its limits for the run")
        held.append(s)
    time.sleep(1.0)
    return (rss_kib(pid) - before) / count  # KiB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kehu", required=True, help="PORT:PID of kehud")
    ap.add_argument("--redis", help="PORT:PID of redis-server")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    kport, kpid = map(int, a.kehu.split(":"))
    rport, rpid = map(int, a.redis.split(":")) if a.redis else (0, 0)
    held, ks, rs = [], [], []
    for r in range(1, a.rounds + 1):
        line = f"  round {r}: +{a.count} idle connections:"
        if rport:
            rs.append(add_connections(rport, rpid, a.count, PING, held))
            line += f" redis-server {rs[-1]:.1f} KiB each;"
        ks.append(add_connections(kport, kpid, a.count, HELLO, held))
        print(f"{line} kehud {ks[-1]:.1f} KiB each", flush=True)
    summary = f"memory per idle connection (RSS): kehud {statistics.median(ks):.1f} KiB"
    if rport:
        ratios = [k / x if x > 0 else 0 for k, x in zip(ks, rs)]
        summary += (f", redis-server {statistics.median(rs):.1f} KiB; ratio kehud ÷ redis-server "
                    f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f} over {a.rounds} rounds)")
    print(summary)
    for s in held:
        s.close()


if __name__ == "__main__":
    main()
