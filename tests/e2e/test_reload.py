"""SIGHUP: a valid file is applied without a client error; an invalid one is refused
with its FILE:LINE errors logged, and the running configuration goes on."""
import re

from harness import (ASAN, HOST, TSAN, Load, can_connect, free_port, http_conn,
                     metric_value, rpc, wait_for)


def web2(port):
    return ("listener web2", {"bind": f"{HOST}:{port}", "mode": "http", "pool": "rpc"})


def rpc_ok(port):
    c = http_conn(port)
    try:
        status, r, doc = rpc(c, "server_info")
        return status == 200 and doc["result"]["status"] == "success"
    finally:
        c.close()


def test_sighup_applies_new_config_under_load(h):
    n1, n2, n3 = h.nodesims("n1", "n2", "n3")
    port, port2 = free_port(), free_port()
    g = h.gate(h.gate_ini([n1, n2], port=port))
    assert not can_connect(port2)
    load = Load(g.port, threads=4, max_requests=4000, max_seconds=20)
    try:
        wait_for(lambda: load.count() >= 100, 10, "load to start")
        # New weight for n1, a new backend n3, a second listener.
        g.reload(h.gate_ini([n1, n2, n3], weights=[2, 1, 1], port=port, extra=[web2(port2)]))
        wait_for(lambda: can_connect(port2), 5, "the new listener to accept")
        assert rpc_ok(port2)
        wait_for(lambda: load.node_count("n3") > 0, 5, "the new backend to get traffic")
        before = {n: load.node_count(n) for n in ("n1", "n2", "n3")}
        start = load.count()
        wait_for(lambda: load.count() >= start + 400, 15, "400 more requests")
        delta = {n: load.node_count(n) - before[n] for n in before}
        # More reloads in a row under load, each a real change.
        for i in range(6):
            mark = load.count()
            g.reload(h.gate_ini([n1, n2, n3], weights=[2 + i % 2, 1, 1], port=port,
                                extra=[web2(port2)]))
            wait_for(lambda: load.count() >= mark + 100, 10, "traffic after a reload")
    finally:
        load.stop()
    assert load.errors == [], f"{len(load.errors)} client errors, first: {load.errors[:5]}"
    # Weights 2,1,1 now: n1 gets about half.
    assert 1.5 <= delta["n1"] / delta["n2"] <= 2.5, delta
    assert 1.5 <= delta["n1"] / delta["n3"] <= 2.5, delta
    assert g.alive()


def test_sighup_with_invalid_file_keeps_running_config(h):
    n1, n2 = h.nodesims("n1", "n2")
    port, port2 = free_port(), free_port()
    good = h.gate_ini([n1, n2], port=port, extra=[web2(port2)])
    g = h.gate(good)
    # The last section is [listener web2]; an unknown key appended to it.
    bad = good + "bogus_key = 1\n"
    bad_line = len(good.splitlines()) + 1
    load = Load(g.port, threads=4, max_requests=4000, max_seconds=20)
    try:
        wait_for(lambda: load.count() >= 100, 10, "load to start")
        g.reload(bad)
        where = f"{g.ini}:{bad_line}:"
        wait_for(lambda: where in g.stderr(), 5, f"the error at {where} in the log")
        line = next(l for l in g.stderr().splitlines() if where in l)
        assert re.search(r"\[listener web2\] bogus_key", line), line
        mark = load.count()
        wait_for(lambda: load.count() >= mark + 200, 15, "traffic to go on")
        assert g.alive()
        # The running configuration is intact: both listeners, both backends.
        assert rpc_ok(port) and rpc_ok(port2)
        seen = {n: load.node_count(n) for n in ("n1", "n2")}
        mark = load.count()
        wait_for(lambda: load.count() >= mark + 100, 15, "traffic to go on")
        assert all(load.node_count(n) > seen[n] for n in seen)
    finally:
        load.stop()
    assert load.errors == [], f"{len(load.errors)} client errors, first: {load.errors[:5]}"


def test_sighup_removes_listener_and_backend(h):
    n1, n2 = h.nodesims("n1", "n2")
    port, port2 = free_port(), free_port()
    g = h.gate(h.gate_ini([n1, n2], port=port, extra=[web2(port2)]))
    assert rpc_ok(port2)
    keep = http_conn(port)  # a client connection that lives across the reload
    assert rpc(keep, "ping")[0] == 200
    g.reload(h.gate_ini([n1], port=port))
    wait_for(lambda: not can_connect(port2), 5, "the removed listener to close")
    # Once n2 is gone from the pool, every request goes to n1.
    wait_for(lambda: all(rpc(keep, "server_info")[1].getheader("X-Node") == "n1"
                         for _ in range(4)), 5, "n2 to leave the pool")
    for _ in range(6):
        status, r, doc = rpc(keep, "server_info")
        assert status == 200 and r.getheader("X-Node") == "n1"
    keep.close()


def test_reload_keeps_unchanged_backends_connections(h):
    """A backend whose name and address stay keeps its pooled connections: the node sees
    no new connection after a reload that only changed its weight and a timeout."""
    n1 = h.nodesim("n1")
    port = free_port()
    quiet = {"check": "none"}  # probes would be connections of their own
    g = h.gate(h.gate_ini([n1], port=port, pool=quiet))
    # one client connection: one worker, whose pooled node connection is the one kept
    c = http_conn(port)

    def ok():
        status, r, doc = rpc(c, "server_info")
        return status == 200 and doc["result"]["status"] == "success"

    for _ in range(5):
        assert ok()
    before = n1.stats()["connections"]
    g.reload(h.gate_ini([n1], weights=[3], port=port, pool=dict(quiet, response_timeout="20s")))
    wait_for(lambda: "reload done" in g.stderr(), 5, "the reload to be applied")
    for _ in range(5):
        assert ok()
    c.close()
    # /sim/stats itself opened one connection, straight to the node
    assert n1.stats()["connections"] == before + 1
    # a backend whose address changes is a new backend: it starts over
    n2 = h.nodesim("n2")
    g.reload(h.gate_ini([("n1", n2.addr)], port=port, pool=quiet))
    wait_for(lambda: g.stderr().count("reload done") == 2, 5, "the second reload")
    assert rpc_ok(port)
    assert n2.stats()["requests"] >= 1


def test_many_unprobed_backends_start_and_reload_in_one_publication(h):
    """1,000 backends with check = none: the routing snapshot is published once when the
    configuration is applied, not once per backend (that built 1,000 tables of 1,000 nodes,
    all alive until the loop turned: about 190 MiB resident, against 20 with one)."""
    n1 = h.nodesim("n1")
    sp, port = free_port(), free_port()
    backends = [(f"b{i:04d}", n1.addr) for i in range(1000)]
    ini = h.gate_ini(backends, port=port, pool={"check": "none"},
                     extra=[("status", {"bind": f"{HOST}:{sp}"})])
    g = h.gate(ini, judged=False)
    wait_for(lambda: rpc_ok(port), 10, "an answer through the listener")
    published = metric_value(sp, "nodegate_route_published_total")
    assert published <= 2, f"{published:.0f} snapshots published at start"
    if not (ASAN or TSAN):  # the sanitizers' allocators keep freed memory on purpose
        assert g.rss_kb() < 64 * 1024, f"{g.rss_kb()} KiB resident"
    changed = ini.replace("retries = 2", "retries = 1")
    assert changed != ini
    g.reload(changed)
    wait_for(lambda: "reload done" in g.stderr(), 10, "the reload")
    assert rpc_ok(port)
    after = metric_value(sp, "nodegate_route_published_total")
    assert after - published <= 2, f"{after - published:.0f} snapshots published by the reload"
