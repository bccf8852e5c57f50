"""The data plane on several workers (issue 12): `workers = 2` runs two loops that both take
connections; a client is one client to the per-address limits whichever worker serves it;
a reload under load loses nothing; a node leaving rotation stops getting requests from
every worker at once. The whole suite runs with both widths too (make e2e)."""
import signal
import time

from harness import HOST, SLOW, Load, RawClient, wait_for
from test_admin import TOKEN, admin_gate, admin, counter
from test_client_limits import RPC, client_from
from test_status import free_port, scrape, status_section

W2 = {"workers": "2"}


def per_worker(fams, family, sample):
    return {s.labels["worker"]: s.value for s in fams[family].samples if s.name == sample}


def open_by_worker(sp):
    return per_worker(scrape(sp), "nodegate_worker_connections", "nodegate_worker_connections")


def wait_open(sp, n, what):
    """The open client connections by worker, once they add up to N."""
    def counted():
        o = open_by_worker(sp)
        return o if sum(o.values()) == n else None
    return wait_for(counted, 5, what)


def connect_until_both_workers(g, sp, src, limit=40):
    """Opens connections from SRC (sending nothing) until each worker holds at least one;
    the kernel spreads them by their addresses."""
    conns = []
    for _ in range(limit):
        conns.append(client_from(src, g.port))
        open_by = wait_open(sp, len(conns), "the connection to be accepted")
        if all(v >= 1 for v in open_by.values()):
            return conns, open_by
    raise AssertionError(f"{limit} connections all went to one worker: {open_by}")


def test_two_workers_both_serve(h):
    sims = h.nodesims("n1", "n2")
    sp = free_port()
    g = h.gate(h.gate_ini(sims, glob=W2, extra=[status_section(sp)]))
    assert "2 workers" in g.stderr()
    conns, open_by = connect_until_both_workers(g, sp, "127.0.0.2")
    assert set(open_by) == {"0", "1"}, open_by
    for c in conns:  # each keeps serving on its worker
        r = c.request(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.status == 200, r
        c.close()
    fams = scrape(sp)
    accepted = per_worker(fams, "nodegate_worker_accepted", "nodegate_worker_accepted_total")
    assert sum(accepted.values()) >= len(conns) and min(accepted.values()) >= 1, accepted
    assert g.alive()


def test_connections_spread_by_load_not_by_hash(h):
    """The kernel spreads connections over the workers' sockets by a hash of their
    addresses (200 of them land about 93 and 107); a worker that holds two more than the
    other hands a newcomer over before reading it, so they end 100 and 100, give or take
    the margin, and each is served where it ended."""
    sim = h.nodesim("n1")
    sp = free_port()
    g = h.gate(h.gate_ini([sim], glob=W2, extra=[status_section(sp)]))
    conns = [client_from("127.0.0.3", g.port) for _ in range(200)]
    open_by = wait_open(sp, 200, "the 200 connections to be accepted")
    assert max(open_by.values()) - min(open_by.values()) <= 2, open_by
    for c in conns:
        r = c.request(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.status == 200, r
    fams = scrape(sp)
    assert counter(fams, "conn_handed") >= 1
    accepted = per_worker(fams, "nodegate_worker_accepted", "nodegate_worker_accepted_total")
    assert sum(accepted.values()) >= 200, accepted  # (and the harness's readiness check)
    for c in conns:
        c.close()
    wait_for(lambda: sum(open_by_worker(sp).values()) == 0, 5, "the connections to close")
    assert g.alive()


def test_one_address_through_both_workers_is_limited_once(h):
    """rate_per_ip 1/s, burst 4: connections from one address on both workers share one
    bucket, so about 4 requests pass in all, not 4 per worker."""
    sim = h.nodesim("n1")
    sp = free_port()
    g = h.gate(h.gate_ini([sim], glob=W2, listener={"rate_per_ip": "1", "burst_per_ip": "4"},
                          extra=[("status", {"bind": f"{HOST}:{sp}"})]))
    # the flood: one address, connections on both workers
    flood, _ = connect_until_both_workers(g, sp, "127.0.0.2")
    conns = []
    ok = 0
    for _ in range(18 // len(flood) + 1):
        for c in flood:
            r = c.request(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(RPC) + RPC, "POST")
            assert r.status in (200, 429), r
            ok += r.status == 200
    # 18 or more requests, one bucket of 4 (and a little refill), not 4 per worker
    assert 4 <= ok <= 4 + 2 * SLOW, ok
    for c in conns + flood:
        c.close()


def test_reload_under_load_with_two_workers_loses_nothing(h):
    sims = h.nodesims("n1", "n2", "n3")
    ini = h.gate_ini(sims, glob=W2)
    g = h.gate(ini)
    load = Load(g.port, threads=6, max_requests=100000, max_seconds=20)
    try:
        wait_for(lambda: load.count() >= 300, 10, "load to start")
        for i in range(5):
            weights = [1 + (i + j) % 3 for j in range(3)]
            at = load.count()
            g.reload(h.gate_ini(sims, weights=weights, glob=W2, port=g.port))
            wait_for(lambda: g.stderr().count("reload done") >= i + 1, 10, "the reload")
            wait_for(lambda: load.count() >= at + 200, 10, "load to go on after a reload")
    finally:
        load.stop()
    assert load.errors == [], f"{len(load.errors)} failed, first: {load.errors[:5]}"
    assert g.stderr().count("reload done") == 5
    assert g.alive()


def test_drained_node_gets_nothing_from_either_worker(h):
    sims = h.nodesims("n1", "n2", "n3")
    sp = free_port()
    g = admin_gate(h, sims, sp, glob=W2)
    # 16 connections: the kernel's spread leaves a worker without one once in 30,000 runs
    load = Load(g.port, threads=16, max_requests=100000, max_seconds=20)
    try:
        wait_for(lambda: load.node_count("n2") >= 100, 10, "load on every node")
        fams = scrape(sp)
        assert min(per_worker(fams, "nodegate_worker_connections",
                              "nodegate_worker_connections").values()) >= 1, \
            "the load did not reach both workers"
        admin(sp, "n2", "drain")
        time.sleep(0.1)  # requests sent before the drain finish
        seen = sims[1].stats()["requests"]
        at = load.count()
        wait_for(lambda: load.count() >= at + 1000, 10, "load to go on")
    finally:
        load.stop()
    assert load.errors == [], load.errors[:5]
    assert sims[1].stats()["requests"] - seen <= 1, "a worker still sent to the drained node"
    assert g.alive()


def test_sigterm_with_two_workers_finishes_in_flight_requests(h):
    sim = h.nodesim("n1")
    g = h.gate(h.gate_ini([sim], glob=W2))
    slow = []
    for i in range(4):
        c = RawClient(g.port)
        c.send(b"GET /sim/sleep?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n")
        slow.append(c)
    time.sleep(0.1)
    g.signal(signal.SIGTERM)
    for c in slow:
        assert c.read_response().status == 200
    assert g.proc.wait(timeout=10 * SLOW) == 0
