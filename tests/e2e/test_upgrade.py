"""Binary upgrade without a dropped request (issue 15): SIGUSR2 starts the binary again with
the listening sockets handed over (NODEGATE_LISTEN_FDS); once the new process is ready the
old one stops accepting, drains and exits. Measured under a bounded client load, keep-alive
and new connections: no request fails, and the process answering changes."""
import http.client
import json
import os
import re
import signal
import threading
import time

from harness import HOST, IO_TIMEOUT, SLOW, free_port, get, http_conn, metric_value, wait_for

BODY = json.dumps({"method": "server_info", "params": [{}]})


class UpgradeLoad:
    """Client threads sending JSON-RPC server_info POSTs, bounded in count and time.
    keep-alive threads keep one connection and open another only when the server said
    `Connection: close` (as every HTTP/1.1 client does); an unannounced close, a reset, a
    timeout, or any answer other than 200 with a result counts as a failure. `fresh`
    threads open a new connection for every request."""

    def __init__(self, port, keepalive=3, fresh=2, max_requests=20000, max_seconds=20):
        self.port = port
        self.max_requests, self.deadline = max_requests, time.monotonic() + max_seconds * SLOW
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.ok = 0
        self.failures = []
        self.reconnects = 0
        self.threads = [threading.Thread(target=self._keepalive, daemon=True)
                        for _ in range(keepalive)]
        self.threads += [threading.Thread(target=self._fresh, daemon=True) for _ in range(fresh)]
        for t in self.threads:
            t.start()

    def _one(self, conn):
        """One request; (ok, server said close)."""
        conn.request("POST", "/", body=BODY, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        body = r.read()
        good = r.status == 200 and json.loads(body).get("result", {}).get("status") == "success"
        if not good:
            raise AssertionError(f"{r.status} {body[:200]!r}")
        return (r.getheader("Connection") or "").lower() == "close"

    def _record(self, ok, what=None):
        with self.lock:
            if ok:
                self.ok += 1
            else:
                self.failures.append(f"{time.monotonic():.3f} {what}"[:300])
            return self.ok + len(self.failures) < self.max_requests

    def _running(self):
        return not self.stop_event.is_set() and time.monotonic() < self.deadline

    def _keepalive(self):
        conn = None
        while self._running():
            try:
                if conn is None:
                    conn = http_conn(self.port)
                closing = self._one(conn)
                if closing:
                    conn.close()
                    conn = None
                    with self.lock:
                        self.reconnects += 1
                more = self._record(True)
            except Exception as e:  # noqa: BLE001 - every failure is what we count
                more = self._record(False, f"keep-alive: {e!r}")
                if conn is not None:
                    conn.close()
                conn = None
            if not more:
                break
        if conn is not None:
            conn.close()

    def _fresh(self):
        while self._running():
            conn = None
            try:
                conn = http_conn(self.port)
                self._one(conn)
                more = self._record(True)
            except Exception as e:  # noqa: BLE001
                more = self._record(False, f"new connection: {e!r}")
            finally:
                if conn is not None:
                    conn.close()
            if not more:
                break

    def count(self):
        with self.lock:
            return self.ok + len(self.failures)

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(IO_TIMEOUT + 5)


def new_pid(g):
    m = re.search(r"upgrade: started \S+ \(pid (\d+)\)", g.stderr())
    return int(m.group(1)) if m else None


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def stop_pid(pid):
    """Stops a nodegate that is not the test's child (the upgraded one), bounded."""
    if pid is None or gone(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5 * SLOW
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if not gone(pid):
        os.kill(pid, signal.SIGKILL)


def listening_inodes(port):
    """The inodes of the sockets listening on 127.0.0.1:PORT (/proc/net/tcp)."""
    found = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1] == f"0100007F:{port:04X}" and cols[3] == "0A":
                found.add(int(cols[9]))
    return found


def socket_inodes(pid):
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            found.add(int(link[8:-1]))
    return found


def upgrade_gate(h, sims, status_port, **glob):
    ini = h.gate_ini(sims, glob={"shutdown_timeout": "3s", **glob},
                     extra=[("status", {"bind": f"{HOST}:{status_port}"})])
    return h.gate(ini)


def test_upgrade_under_load_drops_no_request(h):
    sims = h.nodesims("n1", "n2")
    status_port = free_port()
    g = upgrade_gate(h, sims, status_port)
    load = UpgradeLoad(g.port)
    # what keepalived would see: /healthz, on a new connection every 10ms
    health, health_stop = [], threading.Event()

    def poll_healthz():
        deadline = time.monotonic() + 20 * SLOW
        while not health_stop.is_set() and time.monotonic() < deadline and len(health) < 5000:
            try:
                c = http_conn(status_port)
                r, _ = get(c, "/healthz")
                c.close()
                health.append(r.status)
            except Exception as e:  # noqa: BLE001
                health.append(repr(e))
            time.sleep(0.01)
    poller = threading.Thread(target=poll_healthz, daemon=True)
    poller.start()
    child = None
    try:
        wait_for(lambda: load.count() >= 200, 5 * SLOW, "load before the upgrade")
        g.signal(signal.SIGUSR2)
        wait_for(lambda: "is ready: stopping accepts" in g.stderr(), 15 * SLOW,
                 "the new nodegate to be ready")
        child = new_pid(g)
        assert child is not None and child != g.pid
        workers = int(os.environ.get("NODEGATE_TEST_WORKERS") or 0)
        if workers:  # one socket per worker and listener, and the status listener's
            assert f"with {workers + 1} listening sockets" in g.stderr(), g.stderr()
        assert g.proc.wait(timeout=10 * SLOW) == 0, "the old nodegate did not exit cleanly"
        at_exit = load.count()
        wait_for(lambda: load.count() >= at_exit + 300, 5 * SLOW, "load after the upgrade")
        # twice more, the upgraded one upgraded in turn (no longer the test's child)
        for i in (2, 3):
            old = child
            os.kill(old, signal.SIGUSR2)
            wait_for(lambda: g.stderr().count("is ready: stopping accepts") == i, 15 * SLOW,
                     f"upgrade {i} to be ready")
            child = [int(p) for p in re.findall(r"upgrade: started \S+ \(pid (\d+)\)",
                                                 g.stderr())][-1]
            wait_for(lambda: gone(old), 10 * SLOW, f"the nodegate before upgrade {i} to exit")
            at_exit = load.count()
            wait_for(lambda: load.count() >= at_exit + 200, 5 * SLOW, f"load after upgrade {i}")
        load.stop()
        health_stop.set()
        poller.join(IO_TIMEOUT + 5)
        assert len(health) >= 10 and set(health) == {200}, [x for x in health if x != 200][:5]
        assert load.failures == [], (f"{len(load.failures)} of {load.count()} requests "
                                     f"failed: {load.failures[:5]}")
        print(f"3 upgrades under load: {load.ok} answered, {len(load.failures)} failed, "
              f"{load.reconnects} keep-alive reconnects on Connection: close")
        assert load.ok >= 500
        assert load.reconnects >= 1  # the old one closed its keep-alive connections, saying so
        assert not gone(child), "the new nodegate is not running"
        # the process answering is the new one: it holds the listening sockets, answers
        # /healthz on the status listener handed over, and its counters start afresh
        assert listening_inodes(g.port) and listening_inodes(g.port) <= socket_inodes(child)
        assert listening_inodes(status_port) <= socket_inodes(child)
        c = http_conn(status_port)
        r, body = get(c, "/healthz")
        c.close()
        assert r.status == 200, body
        assert metric_value(status_port, "nodegate_binary_upgrades_total") == 0
    finally:
        load.stop()
        health_stop.set()
        stop_pid(child)


def test_upgrade_with_bad_config_keeps_serving(h):
    sims = h.nodesims("n1")
    status_port = free_port()
    g = upgrade_gate(h, sims, status_port)
    g.write_ini(g.ini.read_text() + "\n[pool rpc]\nbalance = nonsense\n")
    g.signal(signal.SIGUSR2)
    wait_for(lambda: "upgrade failed" in g.stderr(), 10 * SLOW, "the upgrade to fail")
    err = g.stderr()
    assert re.search(r"upgrade failed: the new nodegate \(\S+, pid \d+\) ended before it was "
                     r"ready, exit status 1", err), err
    assert "duplicate section" in err  # the new one said why, in the same log
    assert g.alive()
    c = http_conn(g.port)
    c.request("POST", "/", body=BODY)
    r = c.getresponse()
    assert r.status == 200, r.read()
    r.read()
    c.close()
    assert metric_value(status_port, "nodegate_binary_upgrade_failures_total") == 1
    c = http_conn(status_port)
    r, _ = get(c, "/healthz")
    c.close()
    assert r.status == 200


def test_upgrade_keeps_idle_keepalive_until_its_next_answer(h):
    """An idle keep-alive connection to the old process is not cut at the handover (a request
    sent on it at that moment would be lost): its next request is answered, with
    Connection: close, and the old process then exits."""
    sims = h.nodesims("n1")
    status_port = free_port()
    g = upgrade_gate(h, sims, status_port)
    idle = http_conn(g.port)
    idle.request("POST", "/", body=BODY)
    r = idle.getresponse()
    r.read()
    assert r.status == 200
    child = None
    try:
        g.signal(signal.SIGUSR2)
        wait_for(lambda: "is ready: stopping accepts" in g.stderr(), 15 * SLOW,
                 "the new nodegate to be ready")
        child = new_pid(g)
        time.sleep(0.2)
        assert g.alive(), "the old nodegate cut its idle keep-alive connection"
        idle.request("POST", "/", body=BODY)
        r = idle.getresponse()
        r.read()
        assert r.status == 200
        assert (r.getheader("Connection") or "").lower() == "close"
        idle.close()
        assert g.proc.wait(timeout=5 * SLOW) == 0
        c = http.client.HTTPConnection(HOST, g.port, timeout=IO_TIMEOUT)
        c.request("POST", "/", body=BODY)
        r = c.getresponse()
        assert r.status == 200, r.read()
        c.close()
    finally:
        idle.close()
        stop_pid(child)


def test_upgrade_closes_websockets_with_1001_after_the_drain_grace(h):
    """A WebSocket session on the old process is not cut at the handover: it goes on for the
    pool's ws_drain_grace, then gets the normal 1001 (going away) and reconnects, to the new
    process; the old one then exits."""
    from stubs import RippledWsServer
    from test_ws_policy import close_code, command, ws_connect

    with RippledWsServer("w1") as node:
        status_port = free_port()
        ini = h.gate_ini([("w1", node.addr)], pool={"ws_drain_grace": "700ms"},
                         glob={"shutdown_timeout": "10s"},
                         extra=[("status", {"bind": f"{HOST}:{status_port}"})])
        g = h.gate(ini)
        c = ws_connect(g.port)
        assert command(c, "ping", rid=1)["status"] == "success"
        child = None
        try:
            g.signal(signal.SIGUSR2)
            wait_for(lambda: "is ready: stopping accepts" in g.stderr(), 15 * SLOW,
                     "the new nodegate to be ready")
            t0 = time.monotonic()
            child = new_pid(g)
            assert command(c, "ping", rid=2)["status"] == "success"  # still served
            assert close_code(c) == 1001
            took = time.monotonic() - t0
            assert 0.5 <= took < 3 * SLOW, took
            c.send(8, b"\x03\xe9")  # the close answered
            c.sock.close()
            assert g.proc.wait(timeout=5 * SLOW) == 0
            c2 = ws_connect(g.port)  # the client reconnects: the new process answers
            assert command(c2, "ping", rid=3)["status"] == "success"
            c2.sock.close()
        finally:
            stop_pid(child)


def test_upgrade_leaks_no_connection_into_the_new_process(h):
    """The old process's client and node connections are not inherited by the new one: a
    client connection the old one closes (idle, at shutdown_timeout) is seen closed."""
    import socket

    sims = h.nodesims("n1")
    status_port = free_port()
    g = upgrade_gate(h, sims, status_port, shutdown_timeout="700ms")
    warm = http_conn(g.port)  # a pooled connection to the node, too
    warm.request("POST", "/", body=BODY)
    assert warm.getresponse().status == 200
    warm.close()
    raw = socket.create_connection((HOST, g.port), timeout=5 * SLOW)
    child = None
    try:
        g.signal(signal.SIGUSR2)
        wait_for(lambda: "is ready: stopping accepts" in g.stderr(), 15 * SLOW,
                 "the new nodegate to be ready")
        child = new_pid(g)
        assert g.proc.wait(timeout=5 * SLOW) == 0
        assert raw.recv(100) == b""  # closed, not held open by the new process
        assert listening_inodes(g.port) <= socket_inodes(child)
        others = socket_inodes(child) - listening_inodes(g.port) - listening_inodes(status_port)
        # what the new process holds besides its listeners is its own (probes, its loops'
        # socketpairs): none of the old one's connections to the client
        assert len(others) < 20, others
    finally:
        raw.close()
        stop_pid(child)


def test_sigterm_while_the_new_binary_is_not_ready_stops_both(h):
    """The new process waits (up to 10s) for every pool to be able to serve; one pool here
    has no node that answers, so it is not ready yet: meanwhile the old one serves alone,
    and a SIGTERM to the old one stops the new one too (it served nobody)."""
    sims = h.nodesims("n1")
    status_port = free_port()
    ini = h.gate_ini(sims, glob={"shutdown_timeout": "2s"}, extra=[
        ("status", {"bind": f"{HOST}:{status_port}"}),
        ("pool dead", {"check_interval": "100ms"}),
        ("backend gone", {"pool": "dead", "address": f"{HOST}:{free_port()}"})])
    g = h.gate(ini)
    g.signal(signal.SIGUSR2)
    wait_for(lambda: g.stderr().count("nodegate started") == 2, 10 * SLOW,
             "the new nodegate to start")
    child = new_pid(g)
    try:
        time.sleep(0.3)
        assert "is ready: stopping accepts" not in g.stderr()
        assert socket_inodes(child) >= listening_inodes(g.port)  # adopted, on hold
        for _ in range(20):  # the old one serves every request meanwhile
            c = http_conn(g.port)
            c.request("POST", "/", body=BODY)
            r = c.getresponse()
            r.read()
            c.close()
            assert r.status == 200
        g.signal(signal.SIGTERM)
        assert g.proc.wait(timeout=5 * SLOW) == 0
        wait_for(lambda: gone(child), 2 * SLOW, "the new nodegate to be stopped")
        assert re.search(r"upgrade failed: the new nodegate \(\S+, pid \d+\) was stopped: this "
                         r"one is shutting down, killed by signal 9", g.stderr()), g.stderr()
    finally:
        stop_pid(child)


def test_upgrade_under_systemd_hands_the_main_pid_over(h):
    """Playing systemd on a notify socket that sees each sender's pid (SO_PASSCRED): the old
    process, still the main one, sends MAINPID= of the new one when it hands over, and no
    STOPPING=1; the new one got NOTIFY_SOCKET and WATCHDOG_USEC, says READY=1 and pings
    the watchdog from its own pid."""
    import socket
    import struct

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    addr = str(h.dir / "notify.sock")
    sock.bind(addr)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.settimeout(0.05)
    got = []  # (sender pid, {key: value})

    def pump():
        while True:
            try:
                data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except (socket.timeout, BlockingIOError):
                return
            pid = next(struct.unpack("iII", d[:12])[0] for lvl, typ, d in anc
                       if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS)
            got.append((pid, dict(line.split("=", 1) for line in data.decode().split("\n")
                                  if "=" in line)))

    def sent(pid, key, value=None):
        pump()
        return any(p == pid and key in kv and (value is None or kv[key] == value)
                   for p, kv in got)

    sims = h.nodesims("n1")
    status_port = free_port()
    ini = h.gate_ini(sims, glob={"shutdown_timeout": "2s"},
                     extra=[("status", {"bind": f"{HOST}:{status_port}"})])
    g = h.gate(ini, env={"NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "200000"})
    child = None
    try:
        wait_for(lambda: sent(g.pid, "READY", "1"), 5 * SLOW, "READY=1 from the first process")
        g.signal(signal.SIGUSR2)
        wait_for(lambda: "is ready: stopping accepts" in g.stderr(), 15 * SLOW,
                 "the new nodegate to be ready")
        child = new_pid(g)
        wait_for(lambda: sent(g.pid, "MAINPID", str(child)), 5 * SLOW,
                 "MAINPID= of the new process from the old one")
        assert sent(child, "READY", "1")
        wait_for(lambda: sent(child, "WATCHDOG", "1"), 5 * SLOW, "the new process's pings")
        assert g.proc.wait(timeout=5 * SLOW) == 0
        pump()
        assert not sent(g.pid, "STOPPING"), got  # the service goes on
        n = sum(1 for p, kv in got if p == child and "WATCHDOG" in kv)
        wait_for(lambda: sum(1 for p, kv in (pump() or got) if p == child and "WATCHDOG" in kv)
                 >= n + 2, 5 * SLOW, "pings from the new process after the old one left")
    finally:
        stop_pid(child)
        sock.close()
