"""Running out of descriptors, slow status clients, clients past max_connections (issue 17):
nodegate fails clearly and never spins. Under a low `ulimit -n` a connection flood pauses the
proxy's accepts with a backoff (logged once a second with a count) while the probes and the
status listener keep their reserve; status clients get a deadline per request and a cap;
a client past a listener's max_connections is told 503 at once."""
import json
import os
import socket
import subprocess
import time

from harness import (HOST, IO_TIMEOUT, NODEGATE, RawClient, free_port, metric_value, wait_for,
                     with_allow_root)


def connecting(port):
    """A socket whose connect to PORT is on its way (not waited for)."""
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect((HOST, port))
    except BlockingIOError:
        pass
    return s


def status_section(port, **more):
    kv = {"bind": f"{HOST}:{port}"}
    kv.update({k: str(v) for k, v in more.items()})
    return ("status", kv)


def cpu_seconds(pid):
    """utime + stime of PID, in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_status(port):
    c = RawClient(port, timeout=2)
    try:
        r = c.request(b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        c.close()
    assert r.status == 200, r
    return json.loads(r.body)


def states(port):
    return {b["name"]: b["state"] for p in api_status(port)["pools"] for b in p["backends"]}


def served(port):
    """A client served once (the harness's readiness probe may still hold a slot)."""
    def attempt():
        c = RawClient(port, timeout=2)
        try:
            if c.request(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n").status == 200:
                return c
        except (OSError, EOFError):
            pass
        c.close()
        return None
    return wait_for(attempt, 3, "a client served")


def test_descriptor_flood_pauses_accepts_and_keeps_probes(h):
    """600 connections against a limit of 256 descriptors: the nodes stay up, the status
    page answers, the log stays short, and nodegate is idle once the flood stops."""
    sims = h.nodesims("n1", "n2")
    sp = free_port()
    g = h.gate(h.gate_ini(sims, extra=[status_section(sp, max_connections=32)]), nofile=256)
    assert "descriptor" in g.stderr() and "RLIMIT_NOFILE" in g.stderr()  # warned at start
    wait_for(lambda: set(states(sp).values()) == {"up"}, 5, "both nodes up")
    lines_before = len(g.stderr().splitlines())
    flood = []
    deadline = time.monotonic() + 10
    try:
        for _ in range(600):
            if time.monotonic() > deadline:
                break
            flood.append(connecting(g.port))
        for _ in range(200):  # the status listener's cap holds its share
            flood.append(connecting(sp))
        time.sleep(1.0)  # probes every 100 ms: ten rounds under the flood
        assert len(os.listdir(f"/proc/{g.pid}/fd")) < 256
    finally:
        for s in flood:
            s.close()
    wait_for(lambda: set(states(sp).values()) == {"up"}, 3, "the status page")
    assert metric_value(sp, "nodegate_conn_accept_nofd_total") > 0
    # once the flood is gone the proxy serves again and nodegate rests
    c = None
    for _ in range(50):
        try:
            c = RawClient(g.port, timeout=2)
            r = c.request(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n")
            if r.status == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)
    assert r.status == 200
    c.close()
    time.sleep(0.3)
    before = cpu_seconds(g.pid)
    time.sleep(1.0)
    assert cpu_seconds(g.pid) - before < 0.2, "busy after the flood"
    assert set(states(sp).values()) == {"up"}
    added = g.stderr().splitlines()[lines_before:]
    assert len(added) < 60, "\n".join(added[:80])
    assert "down" not in "\n".join(l for l in added if "->" in l)


def test_idle_keepalive_clients_hold_one_descriptor_and_newcomers_hear_503(h):
    """An idle keep-alive client holds its own descriptor and no node's: under 512
    descriptors 300 of them are all kept (at two descriptors each, as before, about 190
    were), and each is served again. Past the ceiling a newcomer is told 503 with
    Retry-After, never closed without a word, and the nodes stay up."""
    sim = h.nodesim("n1")
    sp = free_port()
    g = h.gate(h.gate_ini([sim], extra=[status_section(sp, max_connections=16)]), nofile=512)
    get = b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n"
    idle = []
    try:
        for _ in range(300):
            c = RawClient(g.port, timeout=IO_TIMEOUT)
            idle.append(c)
            assert c.request(get).status == 200
        time.sleep(0.2)
        assert not any(c.is_closed(timeout=0.01) for c in idle)
        answers = []
        for _ in range(150):  # past the ceiling, a few hundred ms at most each
            c = RawClient(g.port, timeout=IO_TIMEOUT)
            idle.append(c)
            try:
                r = c.request(get)
            except (EOFError, OSError) as e:
                raise AssertionError(f"closed without an answer after {len(answers)}") from e
            answers.append(r.status)
            if r.status == 503:
                assert r.header("Retry-After") == "1", r
                if answers.count(503) >= 6:
                    break
        assert answers.count(503) >= 6, answers
        assert len(os.listdir(f"/proc/{g.pid}/fd")) < 512
        for c in idle[:300]:  # the first ones are unharmed
            assert c.request(get).status == 200
    finally:
        for c in idle:
            c.close()
    assert metric_value(sp, "nodegate_conn_overflow_total") >= 6
    assert set(states(sp).values()) == {"up"}


def test_accept_out_of_descriptors_backs_off_instead_of_spinning(h):
    """accept() itself fails with EMFILE (the running process's limit lowered under what it
    holds, with prlimit, as another part of the machine could): the listener backs off,
    nodegate stays idle, one log line a second, the kept probe connections keep the nodes
    up; the limit restored, clients are served again."""
    import resource
    sims = h.nodesims("n1", "n2")
    sp = free_port()
    g = h.gate(h.gate_ini(sims, extra=[status_section(sp)]), nofile=512)
    wait_for(lambda: set(states(sp).values()) == {"up"}, 5, "both nodes up")
    served(g.port).close()
    opened = {int(n) for n in os.listdir(f"/proc/{g.pid}/fd")}
    lowest_free = min(set(range(len(opened) + 1)) - opened)
    lines_before = len(g.stderr().splitlines())
    resource.prlimit(g.pid, resource.RLIMIT_NOFILE, (lowest_free, 512))
    flood = []
    try:
        for _ in range(100):
            flood.append(connecting(g.port))
        time.sleep(0.5)
        before = cpu_seconds(g.pid)
        time.sleep(1.5)
        busy = cpu_seconds(g.pid) - before
    finally:
        resource.prlimit(g.pid, resource.RLIMIT_NOFILE, (512, 512))
        for s in flood:
            s.close()
    assert busy < 0.3, f"{busy:.2f} CPU-seconds in 1.5 s while accept() failed"
    added = g.stderr().splitlines()[lines_before:]
    told = [l for l in added if "accepts paused" in l]
    assert 1 <= len(told) <= 4, "\n".join(added[:40])
    assert "Too many open files" in told[0], told[0]
    served(g.port).close()
    assert metric_value(sp, "nodegate_conn_accept_nofd_total") >= 2
    assert set(states(sp).values()) == {"up"}
    assert "down" not in "\n".join(l for l in added if "->" in l)


def test_check_warns_of_max_connections_over_the_descriptor_limit(h):
    sim = h.nodesim("n1")
    path = h.dir / "t.ini"
    path.write_text(with_allow_root(h.gate_ini([sim])))

    def check(nofile):
        def limit():
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        r = subprocess.run([str(NODEGATE), "-t", "-c", str(path)], capture_output=True,
                           text=True, timeout=10, preexec_fn=limit)
        assert r.returncode == 0 and "configuration OK" in r.stdout, r.stderr
        return r.stderr
    err = check(512)  # 10000 connections need about 20,000 descriptors
    assert "warning:" in err and "RLIMIT_NOFILE" in err and "max_connections" in err, err
    # 1000 connections: 2,000 descriptors and the reserve fit under 4096
    path.write_text(with_allow_root(h.gate_ini([sim], glob={"max_connections": 1000})))
    assert "RLIMIT_NOFILE" not in check(4096)


def test_past_max_connections_a_client_is_told_503(h):
    sim = h.nodesim("n1")
    g = h.gate(h.gate_ini([sim], listener={"max_connections": "2"}))
    a, b = served(g.port), served(g.port)
    t0 = time.monotonic()
    third = RawClient(g.port, timeout=IO_TIMEOUT)
    r = third.request(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n")
    assert time.monotonic() - t0 < 1.0
    assert r.status == 503 and r.header("Retry-After") == "1", r
    assert json.loads(r.body)["result"]["error"] == "tooBusy"
    assert third.is_closed()
    third.close()
    # the open ones are unharmed, and a slot freed is served again
    assert a.request(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    b.close()
    served(g.port).close()
    a.close()


def test_a_head_accepted_late_is_timed_from_its_first_byte(h):
    """Accepts held at max_connections (no overflow budget): B connects and sends a head a
    byte every 100 ms while it waits in the kernel's backlog. Accepted 1.5 s later, it has
    used its header_timeout (1 s) already and is closed at once, not a second later. C,
    whose whole request waited as long, is still served. (One waiter at a time: with two
    workers both resume at once, and the one that loses the race for the one slot would
    be closed, there being no overflow budget to tell it 503.)"""
    sim = h.nodesim("n1")
    g = h.gate(h.gate_ini([sim], listener={"max_connections": "1",
                                           "overflow_connections": "0",
                                           "header_timeout": "1s"}))
    a = served(g.port)
    time.sleep(0.2)  # the pause reaches every worker
    b = socket.create_connection((HOST, g.port), timeout=IO_TIMEOUT)
    head = b"GET /sim/stats HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200
    t0 = time.monotonic()
    i, freed, closed_at, data = 0, None, None, b""
    b.setblocking(False)
    while closed_at is None and time.monotonic() - t0 < 5:
        if freed is None and time.monotonic() - t0 >= 1.5:
            a.close()  # B is accepted now
            freed = time.monotonic()
        try:
            b.send(head[i:i + 1])
            i += 1
            got = b.recv(4096)
            data += got
            if got == b"":
                closed_at = time.monotonic()
        except BlockingIOError:
            pass
        except OSError:
            closed_at = time.monotonic()
        time.sleep(0.1)
    b.close()
    assert freed is not None and closed_at is not None, "B was never closed"
    assert closed_at - freed < 0.6, f"B closed {closed_at - freed:.2f}s after its accept"
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data

    a = served(g.port)
    time.sleep(0.2)
    c = RawClient(g.port, timeout=IO_TIMEOUT)
    c.send(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(1.5)  # past its header_timeout, all of it waiting in the kernel
    a.close()
    r = c.read_response()
    assert r.status == 200, r
    c.close()


def test_tcp_listener_past_max_connections_closes_at_once(h):
    sim = h.nodesim("n1")
    g = h.gate(h.gate_ini([sim], listener={"max_connections": "1", "mode": "tcp"}))
    a = served(g.port)
    t0 = time.monotonic()
    b = RawClient(g.port)
    assert b.is_closed(timeout=1.0)
    assert time.monotonic() - t0 < 1.0
    b.close()
    a.close()


def test_status_slow_headers_are_closed_by_the_deadline(h):
    """A byte every 300 ms keeps evhttp's inactivity timer alive; header_timeout = 1s closes
    each such connection anyway, with nodegate's own 408."""
    sim = h.nodesim("n1")
    sp = free_port()
    g = h.gate(h.gate_ini([sim], extra=[status_section(sp, header_timeout="1s")]))
    slow = [socket.create_connection((HOST, sp), timeout=IO_TIMEOUT) for _ in range(20)]
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100
    t0 = time.monotonic()
    closed = {}
    i = 0
    while len(closed) < len(slow) and time.monotonic() - t0 < 4:
        for k, s in enumerate(slow):
            if k in closed:
                continue
            try:
                s.sendall(head[i:i + 1])
                s.setblocking(False)
                data = s.recv(4096)
                closed[k] = (time.monotonic() - t0, data)
            except BlockingIOError:
                pass
            except OSError:
                closed[k] = (time.monotonic() - t0, b"")
            finally:
                s.setblocking(True)
        i += 1
        time.sleep(0.3)
    assert len(closed) == len(slow), f"{len(slow) - len(closed)} slow clients still open"
    assert max(t for t, _ in closed.values()) < 2.5
    assert any(d.startswith(b"HTTP/1.1 408") for _, d in closed.values())
    for s in slow:
        s.close()
    assert metric_value(sp, "nodegate_status_timeout_total") >= 1
    # a normal client is served throughout
    c = RawClient(sp)
    assert c.request(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    c.close()


def test_status_max_connections_tells_503(h):
    sim = h.nodesim("n1")
    sp = free_port()
    h.gate(h.gate_ini([sim], extra=[status_section(sp, max_connections=4)]))
    idle = [socket.create_connection((HOST, sp), timeout=IO_TIMEOUT) for _ in range(4)]
    time.sleep(0.2)
    c = RawClient(sp, timeout=2)
    r = c.request(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 503 and r.header("Retry-After") == "1", r
    c.close()
    for s in idle:
        s.close()
    time.sleep(0.2)
    c = RawClient(sp, timeout=2)
    assert c.request(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    c.close()


def test_bodies_up_to_rpc_inspect_max_are_read_and_inspected(h):
    """300 KB and 1 MB server_info calls on a listener with rpc_inspect_max = 1m are read
    whole (past the 256 KiB a client connection buffers), inspected and answered; an admin
    method that large is still refused by the policy."""
    sim = h.nodesim("n1")
    g = h.gate(h.gate_ini([sim], listener={"rpc_inspect_max": "1m"}))

    def call(method, size):
        head = json.dumps({"method": method, "params": [{"pad": ""}]}).encode()
        body = head.replace(b'"pad": ""', b'"pad": "' + b"x" * (size - len(head)) + b'"')
        assert len(body) == size
        c = RawClient(g.port, timeout=10)
        try:
            t0 = time.monotonic()
            r = c.request(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: " + str(size).encode() + b"\r\n\r\n" + body,
                          method="POST")
            assert time.monotonic() - t0 < 5
            return r
        finally:
            c.close()
    for size in (300_000, 600_000, 1_000_000):
        r = call("server_info", size)
        assert r.status == 200, r
        assert json.loads(r.body)["result"]["info"]["hostid"] == "n1"
    r = call("stop", 1_000_000)  # rippled's admin method: refused after the read
    assert r.status == 403, r
    assert sim.stats()["methods"].get("server_info") == 3


def test_killing_the_only_routable_node_while_the_others_sync_costs_no_read(h, certs):
    """n1 is the only node in rotation; n2 and n3 answer but warn (syncing after a restart).
    n1 is killed under load: each read it fails goes to the least bad node at once instead
    of a 502, before the health engine has even seen n1 go."""
    from test_health import be, check_keys, rippled_sim, wait_transition
    from harness import Load
    n1 = rippled_sim(h, certs, "n1")
    n2 = rippled_sim(h, certs, "n2", state="warning")
    n3 = rippled_sim(h, certs, "n3", state="warning")
    g = h.gate(h.gate_ini([be(n1), be(n2), be(n3)], pool=check_keys("200ms")))
    wait_transition(g, "n1", "up")
    assert "n2: checking -> up" not in g.stderr()
    load = Load(g.port, threads=4, max_requests=4000, max_seconds=15)
    try:
        wait_for(lambda: load.node_count("n1") >= 100, 10, "load on n1")
        assert load.node_count("n2") == load.node_count("n3") == 0  # out of rotation
        at_kill = load.count()
        n1.kill()
        load.wait_more(at_kill, 300, 15, "load after the kill", min_seconds=1.0)
    finally:
        load.stop()
    assert load.errors == [], f"{len(load.errors)} client errors, first: {load.errors[:5]}"
    assert load.node_count("n2") + load.node_count("n3") > 0


def test_status_error_pages_are_nodegates_own(h):
    """A body over [status] max_body_size is 413, a head over max_header_size or a malformed
    one 400: in nodegate's plain text, never libevent's HTML page."""
    sim = h.nodesim("n1")
    sp = free_port()
    h.gate(h.gate_ini([sim], extra=[status_section(sp, max_body_size="1k",
                                                   max_header_size="1k")]))
    cases = [
        (b"POST /api/incidents HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000,
         413, b"max_body_size"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 3000 + b"\r\n\r\n", 400,
         b"max_header_size"),
        (b"NOT HTTP\r\n\r\n", 400, b"bad request"),
    ]
    for data, code, words in cases:
        c = RawClient(sp, timeout=5)
        c.send(data)
        r = c.read_response("POST" if data.startswith(b"POST") else "GET")
        c.close()
        assert r.status == code, r
        assert r.header("Content-Type").startswith("text/plain"), r
        assert words in r.body and b"<HTML" not in r.body, r
