#!/usr/bin/python3
"""The health engine's benchmark, run by bench/health.sh (method: bench/README.md).

1. Probe cost: nodegate with N backends (default 1000) probed once per second, served by a
   few nodesims; nodegate's CPU (utime+stime from /proc/PID/stat) over a window after a
   warm-up, its VmRSS, and the probes the nodesims answered. For check = none (baseline),
   rippled (GET /health over TLS on the peer port, which closes after each answer as
   rippled's does), rippled-13 (the same with check_tls_max_version = 1.3: TLS 1.3
   resumption, as before the default became auto), rippled-ka (the peer port keeping
   connections open) and tcp (connect to the RPC port).
2. Time from a failure to the backend's removal: three nodesims behind nodegate
   (check = rippled), wrk load running; one node is SIGKILLed (or turned warning) at a
   recorded time, and the removal is nodegate's log line `backend NAME: X -> down (...)`.

Standard library only; bench.py's /proc and HTTP helpers are reused. All traffic goes to
127.0.0.1, every wait is bounded, and every process started here is stopped on exit
(SIGTERM, SIGINT and SIGHUP included; children also get PR_SET_PDEATHSIG).
Settings are environment variables (bench/health.sh lists them).
"""
import ctypes
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402  (bench.py: /proc helpers, one JSON-RPC call)

HOST = "127.0.0.1"


def env_int(name, default):
    v = os.environ.get(name, "")
    try:
        return int(v) if v != "" else default
    except ValueError:
        die("%s=%r is not a whole number" % (name, v))


def env_float(name, default):
    v = os.environ.get(name, "")
    try:
        return float(v) if v != "" else default
    except ValueError:
        die("%s=%r is not a number" % (name, v))


def die(msg):
    print("health: " + msg, file=sys.stderr)
    sys.exit(1)


def say(msg):
    print("health: " + msg, flush=True)


BUILD = os.environ.get("BUILD", "build")
NBACKENDS = env_int("BENCH_HEALTH_BACKENDS", 1000)
NSIMS = env_int("BENCH_HEALTH_SIMS", 4)
CHECKS = os.environ.get("BENCH_HEALTH_CHECKS", "none rippled rippled-13 rippled-ka tcp").split()
WARMUP = env_float("BENCH_HEALTH_WARMUP", 5)
SAMPLE = env_float("BENCH_HEALTH_SAMPLE", 10)
KILLS = env_int("BENCH_HEALTH_KILLS", 5)
KILLS_IDLE = env_int("BENCH_HEALTH_KILLS_IDLE", 3)
WARNS = env_int("BENCH_HEALTH_WARNS", 5)
CONNS = env_int("BENCH_HEALTH_CONNS", 50)
THREADS = env_int("BENCH_HEALTH_THREADS", 2)
PRE = env_float("BENCH_HEALTH_PRE", 2)
POST = env_float("BENCH_HEALTH_POST", 3)
KEY = os.environ.get("BENCH_HEALTH_KEY", "rsa")
PORT = env_int("BENCH_HEALTH_PORT", env_int("BENCH_PORT_BASE", 19000) + 180)
OUT = os.environ.get("BENCH_HEALTH_OUT", os.path.join(HERE, "out"))
RUN = os.path.join(OUT, "health")
JSON_OUT = os.path.join(OUT, "health.json")
BIN = os.path.join(RUN, "bin")  # copies of BUILD's binaries: a rebuild during the run is not
#                                 picked up half-way
REMOVAL_TIMEOUT = 15.0  # s: a removal slower than this is reported as missing

LOG_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z (\w+) (.*)$")
TRANS_RE = re.compile(r"^backend (\S+): (\S+) -> (\S+) \((.*)\)")


# ---------------------------------------------------------------- processes

class Interrupted(Exception):
    pass


def on_signal(signum, frame):
    raise Interrupted("signal %d" % signum)


_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup():
    # PR_SET_PDEATHSIG = 1: the child gets SIGKILL if this process dies without cleaning up
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


class Procs:
    """Every process started here; stop_all() ends the ones still running."""

    def __init__(self):
        self.procs = []

    def start(self, argv, stdout, stderr):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                             preexec_fn=_child_setup)
        self.procs.append(p)
        return p

    def stop(self, p, grace=3.0):
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(self.procs):
            try:
                self.stop(p)
            except Exception:  # keep stopping the others
                try:
                    p.kill()
                except OSError:
                    pass


PROCS = Procs()


def quiet_stop():
    """Stops everything; a second signal does not interrupt the cleanup."""
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    PROCS.stop_all()


class LogTail:
    """New complete lines of a growing log file."""

    def __init__(self, path, start_at_end=False):
        self.path = path
        self.pos = os.path.getsize(path) if start_at_end and os.path.exists(path) else 0
        self.part = b""

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return []
        self.pos += len(data)
        data = self.part + data
        *full, self.part = data.split(b"\n")
        return [x.decode("utf-8", "replace") for x in full]


def parse_log(line):
    """(epoch seconds, level, message) of a nodegate log line, or None."""
    m = LOG_RE.match(line)
    if not m:
        return None
    ts = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
    return ts.replace(tzinfo=datetime.timezone.utc).timestamp(), m.group(2), m.group(3)


class Sim:
    def __init__(self, name, proc, rpc, peer):
        self.name, self.proc, self.rpc, self.peer = name, proc, rpc, peer


def start_sim(name, cert, key, extra=()):
    out = os.path.join(RUN, name + ".out")
    with open(out, "w") as so, open(os.path.join(RUN, name + ".log"), "w") as se:
        p = PROCS.start([os.path.join(BIN, "nodesim"), "--listen", HOST + ":0", "--peer",
                         HOST + ":0", "--cert", cert, "--key", key, "--name", name,
                         "--quiet", *extra], so, se)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(out) as f:
            text = f.read()
        rpc = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
        peer = re.search(r"peer on 127\.0\.0\.1:(\d+)", text)
        if rpc and peer:
            return Sim(name, p, int(rpc.group(1)), int(peer.group(1)))
        if p.poll() is not None:
            break
        time.sleep(0.02)
    die("nodesim %s did not start (see %s)" % (name, os.path.join(RUN, name + ".log")))


def sim_get(sim, path, body=None):
    c = http.client.HTTPConnection(HOST, sim.rpc, timeout=3)
    try:
        if body is None:
            c.request("GET", path)
        else:
            c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        return r.status, data
    finally:
        c.close()


def sim_stats(sim):
    status, data = sim_get(sim, "/sim/stats")
    if status != 200:
        die("nodesim %s: /sim/stats answered %d" % (sim.name, status))
    return json.loads(data)


def config_check(path):
    r = subprocess.run([os.path.join(BIN, "nodegate"), "-t", "-c", path],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        die("nodegate -t -c %s failed:\n%s%s" % (path, r.stdout, r.stderr))
    return (r.stdout + r.stderr).strip()


def start_nodegate(name, text):
    conf = os.path.join(RUN, name + ".ini")
    log = os.path.join(RUN, name + ".log")
    with open(conf, "w") as f:
        f.write(text)
    checked = config_check(conf)
    with open(log, "w") as se:
        p = PROCS.start([os.path.join(BIN, "nodegate"), "-c", conf], subprocess.DEVNULL, se)
    return p, log, checked


def wait_listener(p, log):
    deadline = time.monotonic() + 10
    last = ""
    while time.monotonic() < deadline:
        if p.poll() is not None:
            die("nodegate exited (status %s):\n%s" % (p.returncode, tail_text(log)))
        s = socket.socket()
        s.settimeout(1)
        try:
            s.connect((HOST, PORT))
            r = B.rpc_once(s, time.monotonic() + 2)
            if r.status == 200:
                return
            last = "HTTP %d" % r.status
        except (OSError, ValueError) as e:
            last = str(e)
        finally:
            s.close()
        time.sleep(0.05)
    die("nodegate not answering on %d: %s\n%s" % (PORT, last, tail_text(log)))


def tail_text(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def header(check_lines):
    """A nodegate config up to the pool's health keys; backends are appended."""
    # as root (a container, CI), nodegate refuses to start unless told to stay root
    root = "allow_root = yes\n" if os.geteuid() == 0 else ""
    return ("; written by bench/health.py\n[nodegate]\nlog_level = info\naccess_log = off\n"
            "%sstate_dir = %s\n\n[listener bench]\nbind = %s:%d\nmode = http\npool = p\n\n"
            "[pool p]\n%s\n" % (root, os.path.join(RUN, "state"), HOST, PORT,
                                "\n".join(check_lines)))


def stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    return st[st.rindex(")") + 2:].split()


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


# ---------------------------------------------------------------- 1. probe cost

def probe_cost(check, cert, key):
    """CHECK: none, rippled, tcp, rippled-13 (rippled with check_tls_max_version = 1.3) or
    rippled-ka (rippled against nodesims whose peer port keeps connections open, which
    rippled's does not: what a kept connection saves)."""
    peer = check.startswith("rippled")
    extra = ["--peer-keepalive"] if check == "rippled-ka" else []
    sims = [start_sim("c%d" % (i + 1), cert, key, extra) for i in range(NSIMS)]
    lines = ["check = %s" % ("rippled" if peer else check), "check_interval = 1s"]
    if peer:
        lines += ["check_tls = yes", "check_tls_verify = no"]
    if check == "rippled-13":
        lines += ["check_tls_max_version = 1.3"]
    text = header(lines)
    for i in range(NBACKENDS):
        s = sims[i % len(sims)]
        text += "\n[backend b%04d]\npool = p\naddress = %s:%d\n" % (i + 1, HOST, s.rpc)
        if peer:
            text += "check_address = %s:%d\n" % (HOST, s.peer)
    ng, log, checked = start_nodegate("cost-" + check, text)
    warm = min(WARMUP, 2) if check == "none" else WARMUP
    say("cost: check = %s, %d backends on %d nodesims: %s; %gs warm-up, %gs sample"
        % (check, NBACKENDS, len(sims), checked, warm, SAMPLE))
    wait_listener(ng, log)
    time.sleep(warm)
    if ng.poll() is not None:
        die("nodegate exited during the warm-up:\n" + tail_text(log))
    tail = LogTail(log)
    up_at_start = sum(1 for x in tail.lines() if re.search(r": \S+ -> up \(", x))
    hz = os.sysconf("SC_CLK_TCK")
    rss0 = status_kib(ng.pid, "VmRSS")
    st0 = [sim_stats(s) for s in sims]
    c0 = B.cpu_ticks([ng.pid])
    s0 = B.cpu_ticks([s.proc.pid for s in sims])
    m0, t0 = B.machine_ticks(), time.monotonic()
    time.sleep(SAMPLE)
    c1 = B.cpu_ticks([ng.pid])
    s1 = B.cpu_ticks([s.proc.pid for s in sims])
    m1, t1 = B.machine_ticks(), time.monotonic()
    st1 = [sim_stats(s) for s in sims]
    rss, hwm = status_kib(ng.pid, "VmRSS"), status_kib(ng.pid, "VmHWM")
    threads = int(stat_fields(ng.pid)[17])
    if ng.poll() is not None:
        die("nodegate exited during the sample:\n" + tail_text(log))
    window = [parse_log(x) for x in tail.lines()]
    transitions = [w[2] for w in window if w and TRANS_RE.match(w[2])]
    wall = t1 - t0
    # each /sim/stats call is one connection to the main listener: the second one is in
    # the difference and is no probe
    if peer:
        probes = sum(b["peer_requests"] - a["peer_requests"] for a, b in zip(st0, st1))
        conns = sum(b["peer_connections"] - a["peer_connections"] for a, b in zip(st0, st1))
        resumed = sum(b["peer_resumed"] - a["peer_resumed"] for a, b in zip(st0, st1))
    elif check == "tcp":
        probes = sum(b["connections"] - a["connections"] - 1 for a, b in zip(st0, st1))
        conns = probes
        resumed = None
    else:
        probes = conns = 0
        resumed = None
    cpu_s = (c1 - c0) / hz
    rec = {
        "check": check, "backends": NBACKENDS, "nodesims": len(sims), "interval_s": 1,
        "warmup_s": warm, "sample_s": round(wall, 3),
        "nodegate_cpu_s": cpu_s, "nodegate_cpu_pct": 100.0 * cpu_s / wall,
        "cpu_ticks": c1 - c0, "clk_tck": hz,
        "probes": probes, "probe_connections": conns, "probes_per_s": probes / wall,
        # probes answered on a resumed TLS session (nodesim's peer_resumed)
        "probes_resumed": resumed,
        "cpu_us_per_probe": cpu_s * 1e6 / probes if probes else None,
        # the cost at exactly 1000 probes/s (the period runs from the end of a probe, so
        # slow answers on a busy machine lower the measured rate)
        "cpu_pct_at_1000_per_s": cpu_s * 1e6 / probes * 1000 / 1e4 if probes else None,
        "nodesims_cpu_pct": 100.0 * (s1 - s0) / hz / wall,
        "machine_busy_pct": 100.0 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1]),
        "rss_kib": rss, "rss_before_sample_kib": rss0, "hwm_kib": hwm, "threads": threads,
        "up_after_warmup": up_at_start, "transitions_in_sample": len(transitions),
        "transitions_sample": transitions[:5],
    }
    PROCS.stop(ng)
    for s in sims:
        PROCS.stop(s.proc)
    say("  nodegate %.1f%% CPU, %.0f probes/s, %s us/probe, VmRSS %.1f MiB; nodesims %.0f%% CPU; "
        "machine %.0f%% busy%s"
        % (rec["nodegate_cpu_pct"], rec["probes_per_s"],
           "%.0f" % rec["cpu_us_per_probe"] if probes else "-", rss / 1024.0,
           rec["nodesims_cpu_pct"], rec["machine_busy_pct"],
           "; %d transitions in the sample!" % len(transitions) if transitions else ""))
    return rec


# ---------------------------------------------------------------- 2. failure to removal

def wrk_start(duration):
    lua = os.path.join(HERE, "rpc.lua")
    argv = ["wrk", "-t", str(min(THREADS, CONNS)), "-c", str(CONNS), "-d", "%gs" % duration,
            "--timeout", "10s", "-s", lua, "http://%s:%d/" % (HOST, PORT)]
    out = open(os.path.join(RUN, "wrk.out"), "w")
    p = PROCS.start(argv, out, subprocess.STDOUT)
    out.close()
    return p, duration


def wrk_result(p, duration):
    try:
        p.wait(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        die("wrk did not finish in time")
    PROCS.stop(p)
    with open(os.path.join(RUN, "wrk.out")) as f:
        text = f.read()
    line = [x for x in text.splitlines() if x.startswith("BENCH_RESULT ")]
    if p.returncode != 0 or not line:
        die("wrk (status %s) printed no result:\n%s" % (p.returncode, text))
    r = json.loads(line[0].split(" ", 1)[1])
    r["socket_errors"] = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
    r["non_2xx"] = r["err_status"]
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def removal(case, rep, cert, key):
    """One failure: case is kill_load, kill_idle or warning_load."""
    load = case.endswith("_load")
    interval = "100ms" if case.startswith("warning") else "1s"
    sims = [start_sim("node%d" % (i + 1), cert, key) for i in range(3)]
    text = header(["check = rippled", "check_tls = yes", "check_tls_verify = no",
                   "check_interval = %s" % interval])
    for s in sims:
        text += ("\n[backend %s]\npool = p\naddress = %s:%d\ncheck_address = %s:%d\n"
                 % (s.name, HOST, s.rpc, HOST, s.peer))
    ng, log, _ = start_nodegate("%s-%d" % (case, rep), text)
    tail = LogTail(log)
    up, deadline = set(), time.monotonic() + 10
    while len(up) < 3 and time.monotonic() < deadline:
        for x in tail.lines():
            w = parse_log(x)
            m = w and TRANS_RE.match(w[2])
            if m and m.group(3) == "up":
                up.add(m.group(1))
        if ng.poll() is not None:
            die("nodegate exited:\n" + tail_text(log))
        time.sleep(0.02)
    if len(up) < 3:
        die("%s: only %s up after 10s:\n%s" % (case, sorted(up), tail_text(log)))
    wait_listener(ng, log)
    wrk = None
    m0 = B.machine_ticks()
    if load:
        wrk = wrk_start(PRE + POST)
        time.sleep(PRE)
        if wrk[0].poll() is not None:
            die("wrk ended early")
    else:
        time.sleep(1.0)
    victim = sims[rep % 3]
    tail.lines()  # what came before the failure
    if case.startswith("kill"):
        t_fail = time.time()
        os.kill(victim.proc.pid, signal.SIGKILL)
        how = "SIGKILL"
    else:
        t_fail = time.time()
        status, _ = sim_get(victim, "/sim/health", b'{"state":"warning"}')
        if status != 204:
            die("POST /sim/health answered %d" % status)
        how = "warning"
    down, other, victim_lines = None, [], []
    deadline = time.monotonic() + REMOVAL_TIMEOUT
    while down is None and time.monotonic() < deadline:
        for x in tail.lines():
            w = parse_log(x)
            if not w:
                continue
            if victim.name in w[2] and len(victim_lines) < 6:
                victim_lines.append(x)
            m = TRANS_RE.match(w[2])
            if m and m.group(3) == "down":
                if m.group(1) == victim.name and down is None:
                    down = (w[0], m.group(2), m.group(4))
                elif m.group(1) != victim.name:
                    other.append(x)
        if down is None:
            time.sleep(0.005)
    rec = {"case": case, "rep": rep, "victim": victim.name, "failure": how,
           "check_interval": interval, "t_failure": t_fail,
           "removal_ms": (down[0] - t_fail) * 1000 if down else None,
           "from_state": down[1] if down else None, "reason": down[2] if down else None,
           "other_backends_down": other, "victim_log": victim_lines,
           "victim_rpc_port": victim.rpc, "victim_peer_port": victim.peer,
           "detected_by": detected_by(down[2] if down else None, victim)}
    if wrk:
        r = wrk_result(*wrk)
        m1 = B.machine_ticks()
        rec["machine_busy_pct"] = 100.0 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
        rec["wrk"] = r
        rec["non_2xx"], rec["socket_errors"] = r["non_2xx"], r["socket_errors"]
    for x in tail.lines():  # transitions of the others after the removal, until the end
        w = parse_log(x)
        m = w and TRANS_RE.match(w[2])
        if m and m.group(3) == "down" and m.group(1) != victim.name:
            other.append(x)
    PROCS.stop(ng)
    for s in sims:
        PROCS.stop(s.proc)
    say("  %-12s #%d %s %s: %s%s%s" % (
        case, rep + 1, victim.name, how,
        "removed after %.1f ms (%s)" % (rec["removal_ms"], rec["reason"]) if down
        else "NOT removed within %gs" % REMOVAL_TIMEOUT,
        "; wrk %d req, non-2xx %d, socket errors %d" % (
            rec["wrk"]["requests"], rec["non_2xx"], rec["socket_errors"]) if wrk else "",
        "; others down: %d" % len(other) if other else ""))
    return rec


def detected_by(reason, victim):
    """What saw the failure, from the reason of the removal: a refused connect to the
    traffic address is live traffic (passive), to the peer port a probe."""
    if reason is None:
        return "none"
    if reason.startswith("refused"):
        if reason.endswith(":%d" % victim.rpc):
            return "traffic (refused connect)"
        if reason.endswith(":%d" % victim.peer):
            return "probe (refused connect)"
    if "bad in a row" in reason:
        return "probes (%s)" % reason.split(":")[0]
    return reason.split(":")[0]


# ---------------------------------------------------------------- report

def fmt_ms(v):
    if v is None:
        return "-"
    return "%.1f" % v if v < 10 else "%.0f" % v


def summarize(recs):
    ms = [r["removal_ms"] for r in recs if r["removal_ms"] is not None]
    s = {"n": len(recs), "removed": len(ms),
         "min_ms": min(ms) if ms else None, "median_ms": statistics.median(ms) if ms else None,
         "max_ms": max(ms) if ms else None}
    if recs and "wrk" in recs[0]:
        s["non_2xx"] = sum(r["non_2xx"] for r in recs)
        s["socket_errors"] = sum(r["socket_errors"] for r in recs)
        s["requests"] = sum(r["wrk"]["requests"] for r in recs)
    s["other_backends_down"] = sum(len(r["other_backends_down"]) for r in recs)
    by = {}
    for r in recs:
        by[r["detected_by"]] = by.get(r["detected_by"], 0) + 1
    s["detected_by"] = by
    return s


def report(meta, cost, rem):
    ncpu = meta["cpus"]
    print()
    if cost:
        print("Probe cost: %d backends on %d nodesims, check_interval 1s; nodegate's own CPU"
              % (NBACKENDS, NSIMS))
        print("(100%% = one core; the machine's %d cores are shared by nodegate, the nodesims "
              "and any other work)" % ncpu)
        print()
        print("%-10s %9s %10s %8s %13s %10s %13s %9s %13s %13s" % (
            "check", "probes/s", "conn/probe", "resumed", "nodegate CPU", "us/probe",
            "CPU@1000/s", "RSS MiB", "nodesims CPU", "machine busy"))
        for r in cost:
            res = r.get("probes_resumed")
            print("%-10s %9.0f %10s %8s %12.1f%% %10s %13s %9.1f %12.0f%% %12.0f%%" % (
                r["check"], r["probes_per_s"],
                "%.2f" % (r["probe_connections"] / r["probes"]) if r["probes"] else "-",
                "%.0f%%" % (100.0 * res / r["probes"]) if res is not None and r["probes"]
                else "-",
                r["nodegate_cpu_pct"],
                "%.0f" % r["cpu_us_per_probe"] if r["cpu_us_per_probe"] is not None else "-",
                "%.1f%%" % r["cpu_pct_at_1000_per_s"] if r["cpu_us_per_probe"] is not None else "-",
                r["rss_kib"] / 1024.0, r["nodesims_cpu_pct"], r["machine_busy_pct"]))
        base = [r for r in cost if r["check"] == "none"]
        if base and len(cost) > 1:
            print()
            print("Probe state in memory, VmRSS over check = none: " + ", ".join(
                "%s %.1f KiB per backend" % (r["check"], r["kib_per_backend_over_none"])
                for r in cost if r is not base[0]))
        bad = [r for r in cost if r["transitions_in_sample"] or
               (r["check"] != "none" and r["up_after_warmup"] < NBACKENDS)]
        for r in bad:
            print("WARNING: check = %s: %d of %d up after the warm-up, %d transitions in the "
                  "sample (probes failing: the machine is overloaded?)"
                  % (r["check"], r["up_after_warmup"], NBACKENDS, r["transitions_in_sample"]))
    if rem:
        print()
        print("Time from failure to removal (ms, from the failure to nodegate's "
              "`-> down` log line):")
        print()
        print("%-34s %3s %8s %8s %8s %9s %9s" % ("case", "n", "min", "median", "max",
                                                 "non-2xx", "sock err"))
        labels = {
            "kill_load": "SIGKILL, wrk -c%d, probes 1s" % CONNS,
            "kill_idle": "SIGKILL, no load, probes 1s",
            "warning_load": "warning, wrk -c%d, probes 100ms" % CONNS,
        }
        for case, recs in rem.items():
            s = summarize(recs)
            print("%-34s %3d %8s %8s %8s %9s %9s" % (
                labels[case], s["n"], fmt_ms(s["min_ms"]), fmt_ms(s["median_ms"]),
                fmt_ms(s["max_ms"]), s.get("non_2xx", "-"), s.get("socket_errors", "-")))
        print()
        print("Who removed it: %s" % "; ".join(
            "%s: %s" % (c, ", ".join("%s %d" % (k, v) for k, v in sorted(
                summarize(recs)["detected_by"].items())))
            for c, recs in rem.items()))
        for case, recs in rem.items():
            s = summarize(recs)
            if s["removed"] < s["n"]:
                print("WARNING: %s: %d of %d failures not removed within %gs"
                      % (case, s["n"] - s["removed"], s["n"], REMOVAL_TIMEOUT))
            if s["other_backends_down"]:
                print("WARNING: %s: %d removals of backends that did not fail"
                      % (case, s["other_backends_down"]))
    print()
    busy = [r["machine_busy_pct"] for recs in rem.values() for r in recs
            if "machine_busy_pct" in r]
    print("Machine: %d cores, load average %s at the start%s; other work shares the cores"
          % (ncpu, meta["loadavg_start"], ", %.0f%% busy during the wrk runs (median)"
             % statistics.median(busy) if busy else ""))
    print("nodegate from %s (built %s, sha256 %s); repo at %s, source tree %s"
          % (meta["build"], meta["nodegate_built"], meta["nodegate_sha256"], meta["git"],
             meta["source_tree"]))
    print("Raw results: %s" % JSON_OUT)


def main():
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, on_signal)
    for c in CHECKS:
        if c not in ("none", "rippled", "rippled-13", "rippled-ka", "tcp"):
            die("BENCH_HEALTH_CHECKS: unknown check %r" % c)
    if KEY not in ("rsa", "ec"):
        die("BENCH_HEALTH_KEY must be rsa or ec")
    if NSIMS < 1 or NBACKENDS < 1:
        die("BENCH_HEALTH_SIMS and BENCH_HEALTH_BACKENDS must be at least 1")
    os.makedirs(OUT, exist_ok=True)
    subprocess.run(["rm", "-rf", RUN], check=True)
    os.makedirs(RUN)
    with open("/proc/loadavg") as f:
        loadavg = " ".join(f.read().split()[:3])
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpus": os.cpu_count(), "kernel": platform.release(), "loadavg_start": loadavg,
        "backends": NBACKENDS, "nodesims": NSIMS, "warmup_s": WARMUP, "sample_s": SAMPLE,
        "kills": KILLS, "kills_idle": KILLS_IDLE, "warnings": WARNS, "wrk_conns": CONNS,
        "wrk_threads": THREADS, "load_before_s": PRE, "load_after_s": POST, "tls_key": KEY,
        "port": PORT,
    }
    for k, cmd in (("git", ["git", "rev-parse", "--short", "HEAD"]),
                   ("openssl", ["openssl", "version"]), ("curl", ["curl", "--version"]),
                   ("wrk", ["wrk", "-v"])):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            meta[k] = (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            meta[k] = None

    try:
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "include",
                                "tests/sim", "Makefile"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
        meta["source_tree"] = "modified (uncommitted changes)" if dirty else "clean"
        if not os.path.abspath(BUILD).startswith(os.path.dirname(HERE) + os.sep):
            meta["source_tree"] = "not used (BUILD is outside the repo)"
    except (OSError, subprocess.TimeoutExpired):
        meta["source_tree"] = None
    os.makedirs(BIN)
    for b in ("nodegate", "nodesim"):
        shutil.copy2(os.path.join(BUILD, b), os.path.join(BIN, b))
        st = os.stat(os.path.join(BIN, b))
        meta[b + "_built"] = datetime.datetime.fromtimestamp(
            st.st_mtime, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(os.path.join(BIN, b), "rb") as f:
            meta[b + "_sha256"] = hashlib.sha256(f.read()).hexdigest()[:16]
    meta["build"] = os.path.abspath(BUILD)
    cost, rem = [], {}
    try:
        cert, key = os.path.join(RUN, "peer.crt"), os.path.join(RUN, "peer.key")
        newkey = ["-newkey", "rsa:2048"] if KEY == "rsa" else \
            ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        r = subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "7", "-subj",
                            "/CN=nodesim"] + newkey + ["-keyout", key, "-out", cert],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            die("openssl req failed:\n" + r.stderr)
        say("self-signed %s peer certificate: %s; logs and configs in %s" % (KEY, cert, RUN))
        for c in CHECKS:
            cost.append(probe_cost(c, cert, key))
        for case, n in (("kill_load", KILLS), ("kill_idle", KILLS_IDLE),
                        ("warning_load", WARNS)):
            if n <= 0:
                continue
            say("removal: %s, %d time(s)" % (case, n))
            rem[case] = [removal(case, i, cert, key) for i in range(n)]
    except Interrupted as e:
        quiet_stop()
        die("interrupted (%s)" % e)
    finally:
        quiet_stop()
    base = [r for r in cost if r["check"] == "none"]
    for r in cost:
        if base and r is not base[0]:
            r["kib_per_backend_over_none"] = (r["rss_kib"] - base[0]["rss_kib"]) / NBACKENDS
    with open(JSON_OUT, "w") as f:
        json.dump({"meta": meta, "cost": cost,
                   "removal_summary": {c: summarize(r) for c, r in rem.items()},
                   "removal": rem}, f, indent=1, sort_keys=True)
        f.write("\n")
    report(meta, cost, rem)


if __name__ == "__main__":
    main()
