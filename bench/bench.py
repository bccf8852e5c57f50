#!/usr/bin/python3
"""Helpers for bench/run.sh: port checks, readiness, one wrk run, one iperf3 run through
an L4 relay, the idle-connection memory measurement, and the report (tables on stdout,
raw results as JSON).

Standard library only. All traffic goes to 127.0.0.1; every loop is bounded in time.

  bench.py free PORT...                      exit 1 if a port is taken
  bench.py ready --port P [--pid PID] [--listen]
                                             wait for the port, then one JSON-RPC call
                                             (--listen: only wait until it listens)
  bench.py load --name N --pid PID --port P --conns C --duration S --round R --out F
                [--backends PID,...]
  bench.py relay --name N --pid PID --port P --duration S --streams K --round R --out F
                [--backends PID,...]
  bench.py idle --name N --pid PID --port P --conns N --out F
  bench.py report --results F --json OUT [--meta KEY=VALUE ...]

Proxies run as variants NAME-WIDTH (nodegate-2: nodegate with workers = 2); the report
compares each nodegate variant with the other proxies at the same width, and each proxy
at every width with itself at the first width (scaling).
"""
import argparse
import errno
import json
import os
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import time

HOST = "127.0.0.1"
BODY = b'{"method":"server_info","params":[{}]}'
REQUEST = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
PROXIES = ("haproxy", "nginx", "nodegate", "nodegate-base",   # table order in a width
           "haproxy-tcp", "nodegate-tcp")
# Same-width ratio rows (X-W / REF-W), in table order: nodegate (and a baseline build,
# BENCH_NODEGATE_BASE) against each peer, and nginx against HAProxy for reference.
PEER_PAIRS = (("nodegate", "haproxy"), ("nodegate", "nginx"),
              ("nodegate-base", "haproxy"), ("nodegate-base", "nginx"),
              ("nginx", "haproxy"), ("nodegate-tcp", "haproxy-tcp"))
# The goals (issue 12), each against the same-width peer in the same run: req/s at least
# this, p99 no higher, CPU per request at most this; and a width W at least
# SCALING_GOAL * W / W0 times the first width W0 (1.6x for workers = 2 over 1).
GOAL_RPS, GOAL_P99, GOAL_CPU, SCALING_GOAL = 1.2, 1.0, 0.8, 0.8
# A width's runs had room when the machine was less busy than this (percent of all its
# cores): wrk, the backends and the proxy all got the CPU they asked for.
ROOM_BUSY_PCT = 90.0
HERE = os.path.dirname(os.path.abspath(__file__))


def die(msg):
    print("bench: " + msg, file=sys.stderr)
    sys.exit(1)


def append_jsonl(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")


# ---------------------------------------------------------------- processes, /proc

def proc_tree(pid):
    """PID and all its descendants (nginx: master and worker)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_kib(pids):
    """Sum of VmRSS over PIDS, in KiB."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_split(pids):
    """(utime, stime) over PIDS, in clock ticks: user space and the kernel."""
    user = system = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        user += int(fields[11])
        system += int(fields[12])
    return user, system


def cpu_ticks(pids):
    """utime + stime over PIDS, in clock ticks."""
    return sum(cpu_split(pids))


def machine_ticks():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals) - idle, sum(vals)


def listen_overflows():
    """TcpExt ListenOverflows: connections dropped because an accept queue was full (any
    listener on the machine: the proxy's or a backend's). Drops cost a 1 s SYN retry."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, vals in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            d = dict(zip(names.split()[1:], vals.split()[1:]))
            return int(d.get("ListenOverflows", 0))
    return 0


def backend_pids(arg):
    """The process trees of a comma-separated PID list (the backends)."""
    return [q for p in (arg or "").split(",") if p.strip() for q in proc_tree(int(p))]


def children_cpu_s():
    """User+system CPU seconds of this process's waited-for children (wrk, iperf3)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st[st.rindex(")") + 2] != "Z"
    except OSError:
        return False


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    target = want if hard == resource.RLIM_INFINITY or hard >= want else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(target, hard)
                                                    if hard != resource.RLIM_INFINITY else hard))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------- HTTP on one socket

class Response:
    """Incremental HTTP/1.1 response reader: Content-Length or chunked."""

    def __init__(self):
        self.buf = b""
        self.status = None
        self.length = None   # body bytes expected, or None for chunked
        self.chunked = False
        self.body_start = None
        self.done = False

    def feed(self, data):
        self.buf += data
        if self.status is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            self.status = int(head[0].split()[1])
            for h in head[1:]:
                k, _, v = h.partition(":")
                k, v = k.strip().lower(), v.strip().lower()
                if k == "content-length":
                    self.length = int(v)
                elif k == "transfer-encoding" and "chunked" in v:
                    self.chunked = True
            self.body_start = end + 4
            if not self.chunked and self.length is None:
                raise ValueError("response without Content-Length or chunked")
        body = self.buf[self.body_start:]
        if self.chunked:
            self.done = self._chunked_done(body)
        else:
            self.done = len(body) >= self.length

    @staticmethod
    def _chunked_done(body):
        pos = 0
        while True:
            eol = body.find(b"\r\n", pos)
            if eol < 0:
                return False
            size = int(body[pos:eol].split(b";")[0], 16)
            if size == 0:   # last chunk, optional trailers, then an empty line
                return body.find(b"\r\n\r\n", eol) >= 0
            pos = eol + 2 + size + 2
            if pos > len(body):
                return False

    def body(self):
        return self.buf[self.body_start:]


def rpc_once(sock, deadline):
    """Sends one server_info on a connected blocking socket; returns the Response."""
    sock.sendall(REQUEST)
    r = Response()
    while not r.done:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed before the full response")
        r.feed(data)
    return r


# ---------------------------------------------------------------- subcommands

def cmd_free(a):
    busy = []
    for p in a.ports:
        s = socket.socket()
        # SO_REUSEADDR as servers use it: TIME_WAIT leftovers of a previous run are fine
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, p))
        except OSError:
            busy.append(p)
        finally:
            s.close()
        # a listener on 0.0.0.0 or another 127/8 address would also answer 127.0.0.1
        c = socket.socket()
        c.settimeout(0.2)
        if p not in busy and c.connect_ex((HOST, p)) == 0:
            busy.append(p)
        c.close()
    if busy:
        die("port(s) in use: %s (set BENCH_PORT_BASE to another range)"
            % " ".join(map(str, busy)))


def listening(port):
    """True when a socket listens on 127.0.0.1:PORT (or 0.0.0.0), from /proc/net/tcp: no
    connection is made, so nothing reaches what is behind an L4 relay."""
    want = {"0100007F:%04X" % port, "00000000:%04X" % port}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] in want and fields[3] == "0A":
                return True
    return False


def cmd_ready(a):
    deadline = time.monotonic() + a.timeout
    last = ""
    if a.listen:
        while time.monotonic() < deadline:
            if a.pid and not alive(a.pid):
                die("%s (pid %d) exited before it was ready" % (a.what, a.pid))
            if listening(a.port):
                return
            time.sleep(0.1)
        die("%s is not listening on port %d after %ss" % (a.what, a.port, a.timeout))
    while time.monotonic() < deadline:
        if a.pid and not alive(a.pid):
            die("%s (pid %d) exited before it was ready" % (a.what, a.pid))
        s = socket.socket()
        s.settimeout(1)
        try:
            s.connect((HOST, a.port))
            r = rpc_once(s, time.monotonic() + 2)
            if r.status == 200 and b'"result"' in r.body():
                return
            last = "HTTP %d: %r" % (r.status, r.body()[:200])
        except (OSError, ValueError) as e:
            last = str(e)
        finally:
            s.close()
        time.sleep(0.1)
    die("%s on port %d not ready after %ss (last: %s)" % (a.what, a.port, a.timeout, last))


def cmd_load(a):
    lua = os.path.join(HERE, "rpc.lua")
    cmd = ["wrk", "-t", str(min(a.threads, a.conns)), "-c", str(a.conns),
           "-d", "%ss" % a.duration, "--timeout", "10s", "-s", lua,
           "http://%s:%d/" % (HOST, a.port)]
    pids, bpids = proc_tree(a.pid), backend_pids(a.backends)
    c0, m0, t0, o0 = cpu_split(pids), machine_ticks(), time.monotonic(), listen_overflows()
    b0, w0 = cpu_ticks(bpids), children_cpu_s()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.duration + 30)
    except subprocess.TimeoutExpired:
        die("wrk did not finish in time: %s" % " ".join(cmd))
    c1, m1, t1, o1 = cpu_split(pids), machine_ticks(), time.monotonic(), listen_overflows()
    b1, w1 = cpu_ticks(bpids), children_cpu_s()
    line = [x for x in out.stdout.splitlines() if x.startswith("BENCH_RESULT ")]
    if out.returncode != 0 or not line:
        die("wrk (status %d) printed no result for %s:\n%s%s"
            % (out.returncode, a.name, out.stdout, out.stderr))
    r = json.loads(line[0].split(" ", 1)[1])
    hz = os.sysconf("SC_CLK_TCK")
    wall = t1 - t0
    r.update({
        "proxy": a.name, "conns": a.conns, "round": a.round, "threads": a.threads,
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "errors": sum(r[k] for k in r if k.startswith("err_")),
        "proxy_cpu_s": (sum(c1) - sum(c0)) / hz,
        "proxy_sys_s": (c1[1] - c0[1]) / hz,
        "proxy_cpu_pct": 100.0 * (sum(c1) - sum(c0)) / hz / wall,
        "wrk_cpu_s": w1 - w0,
        "backends_cpu_s": (b1 - b0) / hz,
        "machine_busy_pct": 100.0 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1]),
        "wrk_cpu_pct": 100.0 * (w1 - w0) / wall,
        "backends_cpu_pct": 100.0 * (b1 - b0) / hz / wall,
        "proxy_alive": alive(a.pid),
        "listen_overflows": o1 - o0,
    })
    append_jsonl(a.out, r)
    print("  %-16s c=%-5d %9.0f req/s  p99 %7.2f ms  cpu: proxy %3.0f%% wrk %3.0f%% "
          "backends %3.0f%% machine %3.0f%%  errors %d%s"
          % (a.name, a.conns, r["rps"], r["p99_us"] / 1000, r["proxy_cpu_pct"],
             r["wrk_cpu_pct"], r["backends_cpu_pct"], r["machine_busy_pct"], r["errors"],
             "  accept-queue drops %d" % r["listen_overflows"] if r["listen_overflows"] else ""))
    if not r["proxy_alive"]:
        die("%s died during the run" % a.name)


def cmd_relay(a):
    """One iperf3 client run (-P STREAMS, client to server) through an L4 relay: the rate
    the server received, and the relay's CPU time per GiB relayed."""
    cmd = ["iperf3", "-c", HOST, "-p", str(a.port), "-t", str(a.duration),
           "-P", str(a.streams), "-J", "--connect-timeout", "5000"]
    pids, bpids = proc_tree(a.pid), backend_pids(a.backends)
    c0, m0, t0 = cpu_ticks(pids), machine_ticks(), time.monotonic()
    b0, w0 = cpu_ticks(bpids), children_cpu_s()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.duration + 30)
    except subprocess.TimeoutExpired:
        die("iperf3 did not finish in time: %s" % " ".join(cmd))
    c1, m1, t1 = cpu_ticks(pids), machine_ticks(), time.monotonic()
    b1, w1 = cpu_ticks(bpids), children_cpu_s()
    try:
        res = json.loads(out.stdout)
    except ValueError:
        res = {}
    if out.returncode != 0 or "error" in res or "end" not in res:
        die("iperf3 (status %d) failed through %s: %s%s"
            % (out.returncode, a.name, res.get("error", out.stdout[-500:]), out.stderr))
    recv = res["end"]["sum_received"]
    hz = os.sysconf("SC_CLK_TCK")
    wall = t1 - t0
    cpu_s = (c1 - c0) / hz
    r = {
        "relay": True, "proxy": a.name, "round": a.round, "streams": a.streams,
        "bytes": recv["bytes"], "seconds": recv["seconds"],
        "gbps": recv["bits_per_second"] / 1e9,
        "retransmits": res["end"].get("sum_sent", {}).get("retransmits"),
        "proxy_cpu_s": cpu_s, "proxy_cpu_pct": 100.0 * cpu_s / wall,
        "cpu_ms_per_gib": 1000.0 * cpu_s / (recv["bytes"] / 2**30) if recv["bytes"] else None,
        "machine_busy_pct": 100.0 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1]),
        "client_cpu_pct": 100.0 * (w1 - w0) / wall,
        "server_cpu_pct": 100.0 * (b1 - b0) / hz / wall,
        "proxy_alive": alive(a.pid),
    }
    append_jsonl(a.out, r)
    print("  %-16s %6.2f Gbit/s  cpu: relay %3.0f%% (%s ms/GiB) iperf3 client %3.0f%% "
          "server %3.0f%% machine %3.0f%%"
          % (a.name, r["gbps"], r["proxy_cpu_pct"],
             "%.0f" % r["cpu_ms_per_gib"] if r["cpu_ms_per_gib"] else "-",
             r["client_cpu_pct"], r["server_cpu_pct"], r["machine_busy_pct"]))
    if not r["proxy_alive"]:
        die("%s died during the run" % a.name)


class IdleConn:
    __slots__ = ("sock", "state", "out", "resp", "fd")


def cmd_idle(a):
    """Opens N keep-alive connections; each sends one request, reads the whole reply and
    stays open idle. VmRSS of the proxy (process tree) before and after, divided by N."""
    got = raise_nofile(a.conns + 200)
    if got < a.conns + 50:
        die("RLIMIT_NOFILE is %d, need about %d (ulimit -n)" % (got, a.conns + 50))
    deadline = time.monotonic() + a.timeout

    # Warm-up on a separate connection: backend connections exist, lazy setup is done.
    w = socket.create_connection((HOST, a.port), timeout=5)
    for _ in range(a.warmup):
        r = rpc_once(w, deadline)
        if r.status != 200:
            die("%s: warm-up request got HTTP %d" % (a.name, r.status))
    w.close()
    time.sleep(a.settle)
    pids = proc_tree(a.pid)
    before = rss_kib(pids)

    sel = selectors.DefaultSelector()
    conns, idle, failed, errors = [], 0, 0, {}
    opened, active = 0, 0
    t0 = time.monotonic()
    while (idle + failed) < a.conns and time.monotonic() < deadline:
        while active < a.parallel and opened < a.conns:
            c = IdleConn()
            c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.sock.setblocking(False)
            c.fd = c.sock.fileno()
            err = c.sock.connect_ex((HOST, a.port))
            if err not in (0, errno.EINPROGRESS):
                raise OSError(err, os.strerror(err))
            c.state, c.out, c.resp = "connect", REQUEST, Response()
            sel.register(c.sock, selectors.EVENT_WRITE, c)
            conns.append(c)
            opened += 1
            active += 1
        for key, _ in sel.select(timeout=0.2):
            c = key.data
            try:
                if c.state == "connect":
                    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    c.state = "send"
                if c.state == "send":
                    n = c.sock.send(c.out)
                    c.out = c.out[n:]
                    if not c.out:
                        c.state = "read"
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                    continue
                data = c.sock.recv(65536)
                if not data:
                    raise ConnectionError("closed by the proxy")
                c.resp.feed(data)
                if c.resp.done:
                    sel.unregister(c.sock)
                    active -= 1
                    if c.resp.status == 200:
                        c.state = "idle"
                        idle += 1
                    else:
                        c.state = "failed"
                        failed += 1
                        errors["HTTP %d" % c.resp.status] = errors.get(
                            "HTTP %d" % c.resp.status, 0) + 1
            except (OSError, ValueError) as e:
                sel.unregister(c.sock)
                active -= 1
                c.state = "failed"
                failed += 1
                k = type(e).__name__ + ": " + str(e)
                errors[k] = errors.get(k, 0) + 1
    open_secs = time.monotonic() - t0
    timed_out = (idle + failed) < a.conns

    time.sleep(a.settle)
    after = rss_kib(proc_tree(a.pid))
    # Which idle connections are still open? (EAGAIN on a peek: open and quiet.)
    still = 0
    for c in conns:
        if c.state != "idle":
            continue
        try:
            if c.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                continue
        except BlockingIOError:
            still += 1
        except OSError:
            continue
    for c in conns:   # RST, so that no TIME_WAIT is left behind
        try:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        except OSError:
            pass
        c.sock.close()
    rec = {
        "proxy": a.name, "conns_wanted": a.conns, "idle": idle, "still_open": still,
        "failed": failed, "errors": errors, "timed_out": timed_out,
        "open_secs": round(open_secs, 2), "rss_before_kib": before, "rss_after_kib": after,
        "kib_per_conn": (after - before) / still if still else None,
        "pids": pids,
    }
    append_jsonl(a.out, rec)
    print("  %-13s %d idle conns (%d failed, %d closed early) in %.1fs: VmRSS %d -> %d KiB, "
          "%s KiB/conn" % (a.name, still, failed, idle - still, open_secs, before, after,
                           "%.2f" % rec["kib_per_conn"] if still else "n/a"))
    if errors:
        print("  %-13s errors: %s" % (a.name, errors))


# ---------------------------------------------------------------- report

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(x, ref):
    return x / ref if x is not None and ref else None


def cpu_us_per_req(r, key="proxy_cpu_s"):
    """KEY's CPU seconds per request, in microseconds (None for a results file from before
    the key was recorded)."""
    return r[key] * 1e6 / r["requests"] if r["requests"] and key in r else None


def split_name(v):
    """(kind, width) of a variant name: nodegate-base-2 is ("nodegate-base", 2). A name
    without a width (a results file from before the widths) is (name, 1)."""
    kind, _, w = v.rpartition("-")
    return (kind, int(w)) if kind and w.isdigit() else (v, 1)


def order_key(v):
    kind, w = split_name(v)
    return (w, PROXIES.index(kind) if kind in PROXIES else len(PROXIES), kind)


def summarize(runs, idles):
    levels = sorted({r["conns"] for r in runs})
    names = sorted({r["proxy"] for r in runs + idles}, key=order_key)
    summ = {}
    for p in names:
        s = {"load": {}, "idle": None}
        for c in levels:
            rs = [r for r in runs if r["proxy"] == p and r["conns"] == c]
            if not rs:
                continue
            s["load"][str(c)] = {
                "rounds": len(rs),
                "rps_median": median([r["rps"] for r in rs]),
                "rps_min": min(r["rps"] for r in rs), "rps_max": max(r["rps"] for r in rs),
                "p99_ms_median": median([r["p99_us"] / 1000 for r in rs]),
                "p99_ms_min": min(r["p99_us"] for r in rs) / 1000,
                "p99_ms_max": max(r["p99_us"] for r in rs) / 1000,
                "cpu_us_per_req_median": median([cpu_us_per_req(r) for r in rs]),
                "sys_us_per_req_median": median([cpu_us_per_req(r, "proxy_sys_s") for r in rs]),
                "wrk_us_per_req_median": median([cpu_us_per_req(r, "wrk_cpu_s") for r in rs]),
                "backends_us_per_req_median": median([cpu_us_per_req(r, "backends_cpu_s")
                                                      for r in rs]),
                "proxy_cpu_pct_median": median([r["proxy_cpu_pct"] for r in rs]),
                "machine_busy_pct_median": median([r["machine_busy_pct"] for r in rs]),
                "wrk_cpu_pct_median": median([r.get("wrk_cpu_pct") for r in rs]),
                "backends_cpu_pct_median": median([r.get("backends_cpu_pct") for r in rs]),
                "errors": sum(r["errors"] for r in rs),
                "listen_overflows": sum(r.get("listen_overflows", 0) for r in rs),
                "requests": sum(r["requests"] for r in rs),
            }
        ids = [i for i in idles if i["proxy"] == p]
        if ids:
            s["idle"] = ids[-1]
        summ[p] = s
    return levels, names, summ


def summarize_relay(relays):
    names = sorted({r["proxy"] for r in relays}, key=order_key)
    summ = {}
    for p in names:
        rs = [r for r in relays if r["proxy"] == p]
        summ[p] = {
            "rounds": len(rs),
            "gbps_median": median([r["gbps"] for r in rs]),
            "gbps_min": min(r["gbps"] for r in rs), "gbps_max": max(r["gbps"] for r in rs),
            "cpu_ms_per_gib_median": median([r["cpu_ms_per_gib"] for r in rs]),
            "proxy_cpu_pct_median": median([r["proxy_cpu_pct"] for r in rs]),
            "client_cpu_pct_median": median([r["client_cpu_pct"] for r in rs]),
            "server_cpu_pct_median": median([r["server_cpu_pct"] for r in rs]),
            "machine_busy_pct_median": median([r["machine_busy_pct"] for r in rs]),
            "retransmits": sum(r["retransmits"] or 0 for r in rs),
        }
    return names, summ


def ratio_pairs(names):
    """{"same_width": [(X-W, REF-W)], "scaling": [(X-W, X-W0)], "base": [(nodegate-W,
    nodegate-base-W)]} for the variants that ran; W0 is the first width."""
    have = set(names)
    widths = sorted({split_name(v)[1] for v in names})
    kinds = sorted({split_name(v)[0] for v in names},
                   key=lambda k: PROXIES.index(k) if k in PROXIES else len(PROXIES))
    pairs = {"same_width": [], "scaling": [], "base": []}
    for w in widths:
        for x, ref in PEER_PAIRS:
            if "%s-%d" % (x, w) in have and "%s-%d" % (ref, w) in have:
                pairs["same_width"].append(("%s-%d" % (x, w), "%s-%d" % (ref, w)))
        if "nodegate-%d" % w in have and "nodegate-base-%d" % w in have:
            pairs["base"].append(("nodegate-%d" % w, "nodegate-base-%d" % w))
    for k in kinds:
        for w in widths[1:]:
            if "%s-%d" % (k, w) in have and "%s-%d" % (k, widths[0]) in have:
                pairs["scaling"].append(("%s-%d" % (k, w), "%s-%d" % (k, widths[0])))
    return pairs


def pair_ratio(summ, p, ref):
    """{conns: {rps, p99_ms, cpu_us_per_req}, idle_kib_per_conn}: P's medians over REF's."""
    rr = {}
    for c, l in summ[p]["load"].items():
        rl = summ[ref]["load"].get(c)
        if rl:
            rr[c] = {k: ratio(l[k + "_median"], rl[k + "_median"])
                     for k in ("rps", "p99_ms", "cpu_us_per_req")}
    i, ri = summ[p]["idle"], summ[ref]["idle"]
    rr["idle_kib_per_conn"] = ratio(i and i["kib_per_conn"], ri and ri["kib_per_conn"])
    return rr


def fmt_ms(v):
    if v is None:
        return "-"
    return "%.2fms" % v if v < 10 else "%.1fms" % v if v < 100 else "%.0fms" % v


def fmt_x(v):
    return "-" if v is None else "%.2fx" % v


def fmt_pct(v):
    return "-" if v is None else "%.0f%%" % v


def table(cols, rows):
    """cols: header strings; rows: (label, [cell strings]), or (heading, None) for a line
    of its own. Right-aligned columns."""
    w0 = max(18, max(len(r[0]) for r in rows if r[1] is not None) + 2)
    widths = [max([11, len(c) + 2] + [len(r[1][i]) + 2 for r in rows if r[1] is not None])
              for i, c in enumerate(cols)]
    out = ["".ljust(w0) + "".join(c.rjust(w) for c, w in zip(cols, widths))]
    for label, cells in rows:
        if cells is None:
            out.append(label)
        else:
            out.append(label.ljust(w0) + "".join(x.rjust(w) for x, w in zip(cells, widths)))
    return "\n".join(out)


def load_cell(summ, p, c, key, fmt):
    l = summ[p]["load"].get(str(c))
    return "-" if not l or l[key] is None else fmt(l[key])


SECTIONS = (("same_width", "same width (X-W / REF-W):"),
            ("scaling", "scaling (the same proxy, wider / narrower):"),
            ("base", "before and after (nodegate / nodegate-base, same width):"))


def ratio_rows(ratios, cells_of):
    """The ratio rows of a table, section by section, each under its heading."""
    rows = []
    for sec, heading in SECTIONS:
        if ratios[sec]:
            rows.append(("  " + heading, None))
            rows += [(label, cells_of(rr)) for label, rr in ratios[sec].items()]
    return rows


def print_main_tables(levels, names, summ, ratios):
    cols = []
    for c in levels:
        cols += ["req/s@%d" % c, "p99@%d" % c]
    cols.append("idle KiB/conn")
    rows = []
    for p in names:
        cells = []
        for c in levels:
            cells += [load_cell(summ, p, c, "rps_median", lambda v: "%.0f" % v),
                      load_cell(summ, p, c, "p99_ms_median", fmt_ms)]
        i = summ[p]["idle"]
        cells.append("-" if not i or i["kib_per_conn"] is None else "%.2f" % i["kib_per_conn"])
        rows.append((p, cells))

    def cells_of(rr):
        cells = []
        for c in levels:
            cells += [fmt_x(rr.get(str(c), {}).get("rps")),
                      fmt_x(rr.get(str(c), {}).get("p99_ms"))]
        return cells + [fmt_x(rr["idle_kib_per_conn"])]
    print(table(cols, rows + ratio_rows(ratios, cells_of)))

    # Proxy CPU per request: what the proxy costs, less sensitive to a busy machine.
    if levels:
        cols = [h % c for c in levels for h in ("cpu us/req@%d", "of it system@%d")]
        rows = [(p, [load_cell(summ, p, c, k, lambda v: "%.1f" % v) for c in levels
                     for k in ("cpu_us_per_req_median", "sys_us_per_req_median")])
                for p in names]
        rows += ratio_rows(ratios, lambda rr: [cell for c in levels for cell in (
            fmt_x(rr.get(str(c), {}).get("cpu_us_per_req")), "")])
        print()
        print("Proxy CPU time per request (user+system, and the kernel's part of it, "
              "microseconds; lower is better):")
        print()
        print(table(cols, rows))


def print_room(levels, names, summ, cpus):
    """Where the CPU went during the runs: did wrk (and the backends) leave the proxy
    room, or was the machine saturated?"""
    cols = []
    for c in levels:
        cols += ["proxy@%d" % c, "wrk@%d" % c, "backends@%d" % c, "machine@%d" % c]
    rows = [(p, [load_cell(summ, p, c, k, fmt_pct) for c in levels
                 for k in ("proxy_cpu_pct_median", "wrk_cpu_pct_median",
                           "backends_cpu_pct_median", "machine_busy_pct_median")])
            for p in names]
    print()
    print("CPU during the runs (median %%; proxy, wrk, backends: 100%% = one core; machine: "
          "share of all %s cores busy, whoever used them):" % cpus)
    print()
    print(table(cols, rows))


def goal_cell(v, ok):
    return "-" if v is None else "%.2fx %s" % (v, "ok" if ok(v) else "MISS")


def print_goals(levels, summ, ratios, cpus):
    """The goals against the same-width peers, and the scaling goal where the machine left
    room for it (said plainly where it did not)."""
    peers = [(label, rr) for label, rr in ratios["same_width"].items()
             if label.startswith("nodegate-") and not label.startswith("nodegate-base-")
             and "-tcp-" not in label]
    if not peers and not ratios["scaling"]:
        return
    print()
    print("Goals (issue 12), against the same-width peer in this run: req/s >= %.2fx, "
          "p99 <= %.2fx, CPU/req <= %.2fx:" % (GOAL_RPS, GOAL_P99, GOAL_CPU))
    print()
    cols = []
    for c in levels:
        cols += ["req/s@%d" % c, "p99@%d" % c, "cpu/req@%d" % c]
    rows = []
    for label, rr in peers:
        cells = []
        for c in levels:
            r = rr.get(str(c), {})
            cells += [goal_cell(r.get("rps"), lambda v: v >= GOAL_RPS),
                      goal_cell(r.get("p99_ms"), lambda v: v <= GOAL_P99),
                      goal_cell(r.get("cpu_us_per_req"), lambda v: v <= GOAL_CPU)]
        rows.append((label, cells))
    if rows:
        print(table(cols, rows))
    print_ceilings(levels, summ, peers, cpus)
    for label, rr in ratios["scaling"].items():
        if not label.startswith("nodegate-") or label.startswith("nodegate-base-"):
            continue
        wide, narrow = label.split("/")
        goal = SCALING_GOAL * split_name(wide)[1] / split_name(narrow)[1]
        print()
        print("Scaling goal: %s req/s >= %.2fx %s's, judged only where the machine was "
              "under %.0f%% busy during %s's runs:" % (wide, goal, narrow, ROOM_BUSY_PCT, wide))
        for c in levels:
            v = rr.get(str(c), {}).get("rps")
            l = summ[wide]["load"].get(str(c))
            if v is None or not l:
                continue
            busy = l["machine_busy_pct_median"]
            used = [l[k] for k in ("proxy_cpu_pct_median", "wrk_cpu_pct_median",
                                   "backends_cpu_pct_median")]
            others = (busy * cpus - sum(u or 0 for u in used)) if cpus else None
            if busy >= ROOM_BUSY_PCT:
                verdict = "NOT JUDGED, the machine was saturated (no room for %s to scale)" % wide
            else:
                verdict = ("ok" if v >= goal else "MISS") + ", the machine had room"
            print("  @%-5d %.2fx  %s: %.0f%% busy; %s %s, wrk %s, backends %s, other "
                  "processes %s (100%% = one core)"
                  % (c, v, verdict, busy, wide, fmt_pct(used[0]), fmt_pct(used[1]),
                     fmt_pct(used[2]), fmt_pct(others and max(0.0, others))))


def print_ceilings(levels, summ, peers, cpus):
    """Whether the req/s goal was within reach: wrk and the backends spend their own CPU
    time on every request, and a proxy spends the kernel's time on the four system calls
    that relay a keep-alive request (read, send upstream, read the answer, send it back).
    With no user-space time at all, all the machine's cores carry at most
    cpus / (wrk + backends + proxy kernel time) requests a second."""
    if not cpus:
        return
    lines, cpu_lines, sat_lines = [], [], []
    for label, _ in peers:
        mine, ref = label.split("/")
        for c in levels:
            l, r = summ[mine]["load"].get(str(c)), summ[ref]["load"].get(str(c))
            if not l or not r:
                continue
            cost = [l.get(k) for k in ("wrk_us_per_req_median", "backends_us_per_req_median",
                                       "sys_us_per_req_median")]
            if None in cost or not sum(cost):
                continue
            ceiling = cpus * 1e6 / sum(cost)
            need = GOAL_RPS * r["rps_median"]
            # the machine's busy time that none of the measured processes was charged
            # with (interrupts, the kernel's own threads, this script), per request
            other = (l["machine_busy_pct_median"] * cpus / 100 * 1e6 / l["rps_median"]
                     - cost[0] - cost[1] - l["cpu_us_per_req_median"])
            cpu_lines.append(cpu_floor(label, c, l, r))
            sat_lines.append(saturated_bound(label, c, l, r))
            lines.append("  %s @%-5d wrk %.1f + backends %.1f + %s's kernel %.1f us/req: "
                         "at most %.0f req/s on %d cores (%.0f with the %.1f us/req of other "
                         "busy time); %.2fx %s is %.0f: %s"
                         % (label, c, cost[0], cost[1], mine, cost[2], ceiling, cpus,
                            cpus * 1e6 / (sum(cost) + max(0.0, other)), max(0.0, other),
                            GOAL_RPS, ref, need,
                            "within reach" if need <= ceiling else
                            "OUT OF REACH on this machine, whatever the proxy's user space"))
    if lines:
        print()
        print("The req/s goal against what the machine can carry (a proxy with no user-space "
              "time, its kernel time as measured):")
        print("\n".join(lines))
        print()
        print("The CPU/req goal against the proxy's own kernel time (the same four system "
              "calls for any proxy; what is left is all its user space may spend):")
        print("\n".join(cpu_lines))
        print()
        print("The req/s goal on a saturated machine (all cores busy, so req/s is the cores over "
              "every process's CPU per request: wrk, the backends and the proxy):")
        print("\n".join(sat_lines))


def saturated_bound(label, c, mine, ref):
    """When every core is busy, req/s is the cores' time over what one request costs all of
    wrk, the backends and the proxy together, so the ratio of two proxies' req/s is the
    inverse ratio of those sums. 1.2x the peer's req/s then needs the proxy's CPU per
    request at most (peer's sum) / 1.2 - (wrk + backends): below the proxy's own kernel time,
    the goal cannot be met on that machine, whatever its user space does."""
    mine_name, ref_name = label.split("/")
    keys = ("wrk_us_per_req_median", "backends_us_per_req_median")
    if None in [d.get(k) for d in (mine, ref) for k in keys + ("cpu_us_per_req_median",)]:
        return "  %s @%-5d -" % (label, c)
    others, ref_others = sum(mine[k] for k in keys), sum(ref[k] for k in keys)
    ref_sum = ref_others + ref["cpu_us_per_req_median"]
    bound = ref_sum / (others + mine["cpu_us_per_req_median"])
    allowed = ref_sum / GOAL_RPS - others
    kernel = mine["sys_us_per_req_median"]
    busy = mine["machine_busy_pct_median"]
    return ("  %s @%-5d %.0f%% busy: wrk + backends %.1f us/req beside %s, %.1f beside %s "
            "(+ its %.1f): at saturation %.2fx; %.2fx needs %s at most %.1f us/req, %s"
            % (label, c, busy, others, mine_name, ref_others, ref_name,
               ref["cpu_us_per_req_median"], bound, GOAL_RPS, mine_name, allowed,
               "below its kernel time alone (%.1f): OUT OF REACH on this machine" % kernel
               if allowed < kernel else "against its %.1f now" % mine["cpu_us_per_req_median"]))


def cpu_floor(label, c, mine, ref):
    mine_name, ref_name = label.split("/")
    need = GOAL_CPU * ref["cpu_us_per_req_median"]
    kernel, user = mine["sys_us_per_req_median"], mine["cpu_us_per_req_median"]
    user -= kernel
    ref_kernel = ref.get("sys_us_per_req_median")
    return ("  %s @%-5d %.2fx %s's %.1f us is %.1f; %s's kernel time alone is %.1f (%s's %s), "
            "leaving %.1f us for user space, which now spends %.1f: %s"
            % (label, c, GOAL_CPU, ref_name, ref["cpu_us_per_req_median"], need, mine_name,
               kernel, ref_name, "-" if ref_kernel is None else "%.1f" % ref_kernel,
               need - kernel, user,
               "met" if user <= need - kernel else
               "OUT OF REACH, the kernel time alone is more" if need <= kernel else
               "needs %.0f%% less user-space time" % (100 * (1 - (need - kernel) / user))))


def print_relay(names, summ, pairs, meta):
    if not names:
        return
    cols = ["Gbit/s", "cpu ms/GiB", "relay cpu", "client cpu", "server cpu", "machine"]
    rows = [(p, ["%.2f" % s["gbps_median"],
                 "-" if s["cpu_ms_per_gib_median"] is None else "%.0f" % s["cpu_ms_per_gib_median"],
                 fmt_pct(s["proxy_cpu_pct_median"]), fmt_pct(s["client_cpu_pct_median"]),
                 fmt_pct(s["server_cpu_pct_median"]), fmt_pct(s["machine_busy_pct_median"])])
            for p, s in summ.items()]
    for sec, heading in SECTIONS[:2]:
        if pairs[sec]:
            rows.append(("  " + heading, None))
            for p, ref in pairs[sec]:
                rows.append(("%s/%s" % (p, ref),
                             [fmt_x(ratio(summ[p]["gbps_median"], summ[ref]["gbps_median"])),
                              fmt_x(ratio(summ[p]["cpu_ms_per_gib_median"],
                                          summ[ref]["cpu_ms_per_gib_median"])),
                              "", "", "", ""]))
    print()
    print("L4 relay: iperf3 -P %s, %ss runs, median over %s round(s) (Gbit/s: higher is "
          "better; relay CPU ms per GiB relayed: lower is better; cpu: 100%% = one core):"
          % (meta.get("l4_streams", "?"), meta.get("l4_duration", "?"),
             meta.get("l4_rounds", "?")))
    print()
    print(table(cols, rows))


def cmd_report(a):
    runs, idles, relays = [], [], []
    if os.path.exists(a.results):
        with open(a.results) as f:
            for line in f:
                rec = json.loads(line)
                (relays if rec.get("relay") else idles if "kib_per_conn" in rec
                 else runs).append(rec)
    levels, names, summ = summarize(runs, idles)
    meta = dict(kv.split("=", 1) for kv in a.meta)
    pairs = ratio_pairs(names)
    ratios = {sec: {"%s/%s" % (p, ref): pair_ratio(summ, p, ref) for p, ref in pairs[sec]}
              for sec in pairs}
    relay_names, relay_summ = summarize_relay(relays)
    relay_pairs = ratio_pairs(relay_names)

    print()
    print("Results: median over %s round(s) of %ss per variant and load (PROXY-W: W "
          "workers/threads/worker processes)" % (meta.get("rounds", "?"),
                                                 meta.get("duration", "?")))
    print("(req/s: higher is better; p99 and idle KiB/conn: lower is better)")
    print()
    print_main_tables(levels, names, summ, ratios)
    print_room(levels, names, summ, meta.get("cpus", "?"))
    print_goals(levels, summ, ratios, int(meta["cpus"]) if meta.get("cpus", "").isdigit()
                else None)
    print_relay(relay_names, relay_summ, relay_pairs, meta)

    # Context: spread over rounds, errors, so a ratio can be judged.
    print()
    print("Spread over rounds (min..max req/s, min..max p99), errors:")
    for p in names:
        parts = []
        for c in levels:
            l = summ[p]["load"].get(str(c))
            if l:
                parts.append("@%d %.0f..%.0f p99 %s..%s err %d%s" % (
                    c, l["rps_min"], l["rps_max"], fmt_ms(l["p99_ms_min"]),
                    fmt_ms(l["p99_ms_max"]), l["errors"],
                    " drops %d" % l["listen_overflows"] if l["listen_overflows"] else ""))
        i = summ[p]["idle"]
        if i:
            parts.append("idle %d/%d open, %d->%d KiB" % (
                i["still_open"], i["conns_wanted"], i["rss_before_kib"], i["rss_after_kib"]))
        print("  %-16s %s" % (p, "; ".join(parts)))
    for p, s in relay_summ.items():
        print("  %-16s %.2f..%.2f Gbit/s, %d retransmits" % (
            p, s["gbps_min"], s["gbps_max"], s["retransmits"]))
    bad = sorted({p for p in names for l in summ[p]["load"].values()
                  if l["errors"] > 0.001 * max(1, l["requests"])})
    if bad:
        print("WARNING: more than 0.1%% of requests failed for: %s (see %s)"
              % (" ".join(bad), a.json))
    for p in names:
        i = summ[p]["idle"]
        if i and i["still_open"] < i["conns_wanted"]:
            print("WARNING: %s kept only %d of %d idle connections open"
                  % (p, i["still_open"], i["conns_wanted"]))

    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "summary": summ, "ratios": ratios,
                   "relay_summary": relay_summ,
                   "relay_ratios": {sec: {"%s/%s" % (p, ref): {
                       "gbps": ratio(relay_summ[p]["gbps_median"],
                                     relay_summ[ref]["gbps_median"]),
                       "cpu_ms_per_gib": ratio(relay_summ[p]["cpu_ms_per_gib_median"],
                                               relay_summ[ref]["cpu_ms_per_gib_median"])}
                       for p, ref in relay_pairs[sec]} for sec in relay_pairs},
                   "runs": runs, "idle": idles, "relay": relays}, f, indent=1, sort_keys=True)
        f.write("\n")
    print("\nRaw results: %s" % a.json)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("free")
    p.add_argument("ports", type=int, nargs="+")
    p.set_defaults(fn=cmd_free)
    p = sub.add_parser("ready")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, default=0)
    p.add_argument("--what", default="server")
    p.add_argument("--timeout", type=float, default=15)
    p.add_argument("--listen", action="store_true",
                   help="only wait until the port listens (an L4 relay, iperf3)")
    p.set_defaults(fn=cmd_ready)
    p = sub.add_parser("load")
    for k in ("name", "out"):
        p.add_argument("--" + k, required=True)
    for k in ("pid", "port", "conns", "duration", "round"):
        p.add_argument("--" + k, type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--backends", default="", help="backend PIDs, comma-separated (CPU)")
    p.set_defaults(fn=cmd_load)
    p = sub.add_parser("relay")
    for k in ("name", "out"):
        p.add_argument("--" + k, required=True)
    for k in ("pid", "port", "duration", "round", "streams"):
        p.add_argument("--" + k, type=int, required=True)
    p.add_argument("--backends", default="", help="iperf3 server PID (CPU)")
    p.set_defaults(fn=cmd_relay)
    p = sub.add_parser("idle")
    for k in ("name", "out"):
        p.add_argument("--" + k, required=True)
    for k in ("pid", "port", "conns"):
        p.add_argument("--" + k, type=int, required=True)
    p.add_argument("--parallel", type=int, default=64,
                   help="connections connecting or awaiting their reply at once")
    p.add_argument("--warmup", type=int, default=100, help="requests before measuring")
    p.add_argument("--settle", type=float, default=1.0, help="seconds before each VmRSS read")
    p.add_argument("--timeout", type=float, default=60, help="limit for opening them all")
    p.set_defaults(fn=cmd_idle)
    p = sub.add_parser("report")
    p.add_argument("--results", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--meta", action="append", default=[])
    p.set_defaults(fn=cmd_report)
    a = ap.parse_args()
    try:
        a.fn(a)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
