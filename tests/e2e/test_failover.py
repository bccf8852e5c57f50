"""A backend that dies costs the client nothing: connect failures and unanswered
replayable requests are retried on another backend; writes are not replayed."""
import json
import signal
import time

from harness import HOST, Load, free_port, get, http_conn, is_error_json, rpc_body, wait_for
from stubs import CloserServer


def test_backend_sigkill_under_load_costs_clients_nothing(h):
    """About 2 s of keep-alive JSON-RPC load from 4 clients; one of three nodes is killed
    in the middle. No client sees an error or a closed connection."""
    sims = h.nodesims("n1", "n2", "n3")
    g = h.simple_gate(sims)
    load = Load(g.port, threads=4, max_requests=3000, max_seconds=15)
    try:
        t0 = time.monotonic()
        wait_for(lambda: load.count() >= 200 and load.node_count("n2") > 0 and
                 time.monotonic() - t0 >= 0.7, 10, "load to reach every backend")
        at_kill = load.count()
        before = {n: load.node_count(n) for n in ("n1", "n3")}
        sims[1].kill(signal.SIGKILL)
        load.wait_more(at_kill, 400, 15, "load to go on after the kill", min_seconds=1.2)
    finally:
        load.stop()
    assert load.errors == [], f"{len(load.errors)} client errors, first: {load.errors[:5]}"
    assert load.count() >= at_kill + 400
    for n in ("n1", "n3"):
        assert load.node_count(n) > before[n], f"{n} got nothing after the kill"
    assert g.alive()


def test_connect_failure_retried_for_every_request(h):
    """A request that never reached a node is retried on another, even a write."""
    sims = h.nodesims("n1", "n2")
    dead = ("dead", f"{HOST}:{free_port()}")
    g = h.gate(h.gate_ini([dead, sims[0], sims[1]]))
    c = http_conn(g.port)
    for method in ("submit", "server_info", "submit", "ping", "submit", "server_info"):
        c.request("POST", "/", body=rpc_body(method))
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, (method, body)
        assert r.getheader("X-Node") in ("n1", "n2")
    for _ in range(3):
        r, body = get(c, "/sim/headers")
        assert r.status == 200
    c.close()


def test_unanswered_replayable_requests_retried_on_another_backend(h):
    sim = h.nodesim("n1")
    with CloserServer() as bad:
        g = h.gate(h.gate_ini([("bad", bad.addr), sim]))
        c = http_conn(g.port)
        for i in range(4):
            r, body = get(c, f"/sim/headers?i={i}")
            assert r.status == 200 and r.getheader("X-Node") == "n1", body
            c.request("HEAD", "/sim/headers")
            r = c.getresponse()
            r.read()
            assert r.status == 200 and r.getheader("X-Node") == "n1"
            c.request("POST", "/", body=rpc_body("server_info"))
            r = c.getresponse()
            doc = json.loads(r.read())
            assert r.status == 200 and doc["result"]["info"]["hostid"] == "n1"
        c.close()
        # The bad backend really was tried: the retries hid its failures.
        assert len(bad.requests) >= 1, bad.requests


def test_submit_not_replayed_after_it_was_sent(h):
    sim = h.nodesim("n1")
    with CloserServer() as bad:
        g = h.gate(h.gate_ini([("bad", bad.addr), sim]))
        statuses = []
        for _ in range(4):
            c = http_conn(g.port)
            c.request("POST", "/", body=rpc_body("submit", [{"tx_blob": "00"}]))
            r = c.getresponse()
            body = r.read()
            statuses.append(r.status)
            if r.status != 200:
                assert r.status == 502, body
                assert is_error_json(body), body
            c.close()
        submits_at_bad = sum(1 for q in bad.requests if q.startswith("POST"))
        assert submits_at_bad >= 1
        # Each submit that reached the bad backend was answered 502, not sent again.
        assert statuses.count(502) == submits_at_bad, (statuses, bad.requests)
        assert statuses.count(200) == 4 - submits_at_bad
