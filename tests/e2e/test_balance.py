"""Balancing: smooth weighted round robin, least connections, keep-alive on both sides."""
import threading
from collections import Counter

from harness import get, http_conn, rpc, wait_for
from stubs import HoldServer


def spread(h, weights, n):
    sims = h.nodesims("n1", "n2", "n3")
    g = h.simple_gate(sims, weights=weights)
    c = http_conn(g.port)
    seen = Counter()
    for _ in range(n):
        status, r, doc = rpc(c, "server_info")
        assert status == 200, doc
        node = r.getheader("X-Node")
        assert doc["result"]["status"] == "success"
        assert doc["result"]["info"]["hostid"] == node
        seen[node] += 1
    c.close()  # http_conn never reconnects: all of it went over one connection
    return seen


def test_jsonrpc_keepalive_equal_weights_spread_exactly(h):
    assert spread(h, [1, 1, 1], 30) == {"n1": 10, "n2": 10, "n3": 10}


def test_jsonrpc_keepalive_weights_1_2_3_spread_exactly(h):
    assert spread(h, [1, 2, 3], 60) == {"n1": 10, "n2": 20, "n3": 30}


def test_smooth_wrr_interleaves(h):
    """Smooth WRR interleaves: with weights 1,1,4 the heavy backend never gets 4 in a row
    (plain weighted round robin sends it 4 in a row every cycle)."""
    sims = h.nodesims("a", "b", "c")
    g = h.simple_gate(sims, weights=[1, 1, 4])
    c = http_conn(g.port)
    order = []
    for _ in range(12):
        status, r, _ = rpc(c, "ping")
        assert status == 200
        order.append(r.getheader("X-Node"))
    c.close()
    assert Counter(order) == {"a": 2, "b": 2, "c": 8}
    runs = "".join(order)
    assert "cccc" not in runs, order


def test_leastconn_long_requests_go_to_fewest_in_flight(h):
    backends = [HoldServer(f"h{i}") for i in (1, 2, 3)]
    try:
        g = h.gate(h.gate_ini([(b.name, b.addr) for b in backends],
                              pool={"balance": "leastconn"}))
        results = {}

        def long_request(tag):
            c = http_conn(g.port)
            r, body = get(c, "/hold")
            results[tag] = (r.status, r.getheader("X-Node"))
            c.close()

        def busy():
            return {b.name for b in backends if b.in_flight}

        threads = []
        for i in (1, 2):
            t = threading.Thread(target=long_request, args=(f"L{i}",), daemon=True)
            t.start()
            threads.append(t)
            wait_for(lambda i=i: sum(b.in_flight for b in backends) == i,
                     5, f"{i} long requests in flight")
        # Two long requests, on two different backends.
        assert all(b.in_flight <= 1 for b in backends)
        idle = [b.name for b in backends if b.name not in busy()]
        assert len(idle) == 1
        # Short requests meanwhile all go to the one backend with nothing in flight.
        c = http_conn(g.port)
        shorts = [get(c, "/quick")[0].getheader("X-Node") for _ in range(6)]
        c.close()
        assert shorts == idle * 6
        # A third long request goes there too, then each backend holds exactly one.
        t = threading.Thread(target=long_request, args=("L3",), daemon=True)
        t.start()
        threads.append(t)
        wait_for(lambda: sum(b.in_flight for b in backends) == 3, 5, "3 long requests in flight")
        assert [b.in_flight for b in backends] == [1, 1, 1]
        for b in backends:
            b.release()
        for t in threads:
            t.join(10)
        assert sorted(results) == ["L1", "L2", "L3"]
        assert all(s == 200 for s, _ in results.values()), results
        assert sorted(n for _, n in results.values()) == ["h1", "h2", "h3"]
    finally:
        for b in backends:
            b.release()
            b.stop()


def test_backend_connections_are_reused(h):
    """Sequential requests on one client connection reuse one pooled backend connection."""
    backend = HoldServer("k1")
    try:
        # no probes: they would be connections of their own
        g = h.gate(h.gate_ini([(backend.name, backend.addr)], pool={"check": "none"}))
        c = http_conn(g.port)
        for i in range(20):
            r, body = get(c, f"/quick?{i}")
            assert r.status == 200 and r.getheader("X-Node") == "k1"
        c.close()
        assert backend.served == 20
        assert backend.accepted == 1, f"{backend.accepted} backend connections for 20 requests"
    finally:
        backend.stop()
