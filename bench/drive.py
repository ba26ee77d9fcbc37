#!/usr/bin/env python3
"""Drives a running mcp-healthd through Redis for scripts/bench.sh and measures it.

  drive.py checkall --redis PORT --pid PID[,PID...] --servers N [--rounds R] [--healthz PORT]
      R times: XADD check * and wait for the N answers; prints checks/s and the daemon's CPU
      per check (of several daemons sharing the Redis: of all of them together); with --healthz (a daemon built with MCPHD_COUNT_ALLOCATIONS, metrics.listen on
      that port), also its allocations (operator new calls) per check.
  drive.py upsert --redis PORT --samples K --url-base URL
      registers K servers in Redis one at a time; for each, the time from XADD upsert to the
      published result that answers it; prints p50/p99 in ms.
  drive.py steady --redis PORT --pid PID --seconds S --servers N [--interval 30]
      the daemon's CPU over S seconds of its own schedule, per check, and what N servers at one
      check per interval cost in % of a core.
Only the standard library: a minimal RESP client over a socket.
"""
import argparse
import json
import os
import socket
import sys
import time
import urllib.request


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError("bad RESP: %r" % line)

    def call(self, *args):
        self.send(*args)
        return self.reply()


def cpu_seconds(pids):
    """utime + stime of the processes in `pids` (a comma-separated list), together."""
    total = 0.0
    for pid in str(pids).split(","):
        with open("/proc/%d/stat" % int(pid)) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def answers(sub, command_ids, want, timeout):
    """Counts health messages answering any of `command_ids` until `want` arrived."""
    got = 0
    deadline = time.monotonic() + timeout
    sub.sock.settimeout(timeout)
    while got < want and time.monotonic() < deadline:
        try:
            msg = sub.reply()
        except socket.timeout:
            break  # fewer than `want` answers: the caller says so
        if not isinstance(msg, list) or msg[0] != b"message":
            continue
        payload = json.loads(msg[2])
        ids = payload.get("command_ids") or []
        if any(c in ids for c in command_ids):
            got += 1
    return got


def allocations(port):
    """The daemon's operator new calls so far (a counting build's /healthz)."""
    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=10) as f:
        return json.loads(f.read())["allocations"]


def checkall(a):
    r = Redis(a.redis)
    sub = Redis(a.redis)
    sub.call("SUBSCRIBE", "mcp:health")
    allocs0 = allocations(a.healthz) if a.healthz else None
    cpu0 = cpu_seconds(a.pid)
    t0 = time.monotonic()
    got = 0
    # Several rounds: /proc counts CPU in 10 ms ticks, so a measurement needs thousands of checks.
    for _ in range(a.rounds):
        cid = r.call("XADD", "mcp:commands", "*", "op", "check", "server_id", "*").decode()
        got += answers(sub, [cid], a.servers, a.timeout)
    wall = time.monotonic() - t0
    cpu = cpu_seconds(a.pid) - cpu0
    out = {"checks": got, "wall_s": round(wall, 3), "checks_per_s": round(got / wall, 1),
           "cpu_s": round(cpu, 3), "cpu_us_per_check": round(cpu * 1e6 / max(got, 1), 1)}
    if a.healthz:
        # Includes the commands and the /healthz request that frame the rounds: a handful in all.
        out["allocations_per_check"] = round((allocations(a.healthz) - allocs0) / max(got, 1), 1)
    print(json.dumps(out))
    return 0 if got == a.servers * a.rounds else 1


def upsert(a):
    r = Redis(a.redis)
    sub = Redis(a.redis)
    sub.call("SUBSCRIBE", "mcp:health")
    sub.sock.settimeout(10)
    samples = []
    for i in range(a.samples):
        sid = "upsert-%d" % i
        r.call("HSET", "mcp:server:" + sid, "url", "%supsert-%d/healthy?tools=20&prefix=upsert%d" % (a.url_base, i, i),
               "interval", "1h", "timeout", "10s")
        r.call("SADD", "mcp:servers", sid)
        t0 = time.monotonic()
        cid = r.call("XADD", "mcp:commands", "*", "op", "upsert", "server_id", sid).decode()
        if answers(sub, [cid], 1, 10) != 1:
            print("no answer to upsert %s" % sid, file=sys.stderr)
            return 1
        samples.append((time.monotonic() - t0) * 1000)
    samples.sort()
    pct = lambda p: samples[min(len(samples) - 1, int(p / 100 * len(samples)))]
    print(json.dumps({"samples": len(samples), "p50_ms": round(pct(50), 3), "p99_ms": round(pct(99), 3)}))
    return 0


def steady(a):
    """CPU over a window of the daemon's own schedule, and per check: the health messages seen
    in the window say how many checks the CPU paid for, so the share of a core that N servers
    at one check per interval cost does not depend on where the window falls."""
    sub = Redis(a.redis)
    sub.call("SUBSCRIBE", "mcp:health")
    sub.sock.settimeout(0.2)
    checks = 0
    cpu0 = cpu_seconds(a.pid)
    t0 = time.monotonic()
    while time.monotonic() - t0 < a.seconds:
        try:
            msg = sub.reply()
        except socket.timeout:
            continue
        if isinstance(msg, list) and msg[0] == b"message" and b'"type":"health"' in msg[2]:
            checks += 1
    cpu = cpu_seconds(a.pid) - cpu0
    wall = time.monotonic() - t0
    out = {"seconds": round(wall, 1), "checks": checks, "cpu_s": round(cpu, 3),
           "core_percent": round(100 * cpu / wall, 2)}
    if checks > 0 and a.servers and a.interval:
        per_check = cpu / checks
        out["cpu_us_per_check"] = round(per_check * 1e6, 1)
        out["core_percent_at_interval"] = round(100 * per_check * a.servers / a.interval, 2)
    print(json.dumps(out))
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["checkall", "upsert", "steady"])
    p.add_argument("--redis", type=int, required=True)
    p.add_argument("--pid", help="a daemon's pid, or several separated by commas")
    p.add_argument("--servers", type=int)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--url-base")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--healthz", type=int, help="metrics.listen port of a counting build")
    p.add_argument("--interval", type=float, default=30, help="the servers' interval, seconds")
    a = p.parse_args()
    return {"checkall": checkall, "upsert": upsert, "steady": steady}[a.what](a)


if __name__ == "__main__":
    sys.exit(main())
