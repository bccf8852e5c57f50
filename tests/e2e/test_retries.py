"""Safe retries and the retry budget (issue 6): a request a node already received goes to
another node only when it is a read (no write method, in a batch neither) and the node
failed it (reset, timeout, HTTP 5xx, error token); the pool's retry budget caps those
retries, so one request that always fails cannot walk through the pool. Observed through
what the client gets, which node answered (X-Node), the calls each simulated node counted
(GET /sim/stats "methods") and /metrics. Pools are `check = none`: no probe connections,
and bursts no test reaches, so that no node leaves rotation during a test."""
import json

from harness import HOST, free_port, http_conn, is_error_json, rpc_body, wait_for
from test_health import set_health
from test_status import scrape, status_section, value

# The bad node first: smooth weighted round robin picks the heaviest, and with it the
# good node is the only other one.
BAD_WEIGHT, GOOD_WEIGHT = 100, 1
POOL = {"check": "none", "retries": "2", "response_timeout": "5s", "warning_fall": "100",
        "warning_burst": "16/10ms", "critical_burst": "16/10ms"}


def gate(h, backends, weights, **pool):
    """A gate in front of BACKENDS with a status listener; g.status_port is its port."""
    sp = free_port()
    g = h.gate(h.gate_ini(backends, weights=weights, pool={**POOL, **pool},
                          extra=[status_section(sp)]))
    g.status_port = sp
    return g


def bad_and_good(h, **pool):
    """Nodes n1 (picked first, to be made bad by the test) and n2 (good) behind a gate."""
    bad, good = h.nodesim("n1"), h.nodesim("n2")
    return gate(h, [bad, good], [BAD_WEIGHT, GOOD_WEIGHT], **pool), bad, good


def post(port, body):
    """One POST on a fresh connection: (status, X-Node, body bytes)."""
    c = http_conn(port)
    try:
        c.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.getheader("X-Node"), r.read()
    finally:
        c.close()


def calls(sim, method):
    """JSON-RPC calls of METHOD the node received, answered or not."""
    return sim.stats()["methods"].get(method, 0)


def retries(g, reason):
    return value(scrape(g.status_port), "nodegate_retries", "nodegate_retries_total",
                 pool="rpc", reason=reason)


def exhausted(g):
    return value(scrape(g.status_port), "nodegate_retry_budget_exhausted",
                 "nodegate_retry_budget_exhausted_total", pool="rpc")


def test_submit_to_a_resetting_node_is_not_retried(h):
    g, bad, good = bad_and_good(h)
    set_health(bad, "healthy", reset_after_request=True)
    status, node, body = post(g.port, rpc_body("submit", [{"tx_blob": "00"}]))
    assert status == 502 and is_error_json(body), (status, body)
    assert calls(bad, "submit") == 1
    assert calls(good, "submit") == 0
    assert retries(g, "reset") == 0
    assert g.alive()


def test_read_to_a_resetting_node_is_retried_elsewhere(h):
    g, bad, good = bad_and_good(h)
    set_health(bad, "healthy", reset_after_request=True)
    status, node, body = post(g.port, rpc_body("server_info"))
    assert status == 200 and node == "n2", (status, node, body)
    assert json.loads(body)["result"]["info"]["hostid"] == "n2"
    assert calls(bad, "server_info") == 1
    assert calls(good, "server_info") == 1
    assert retries(g, "reset") == 1
    assert exhausted(g) == 0


def test_batch_retried_only_when_every_call_is_a_read(h):
    g, bad, good = bad_and_good(h)
    set_health(bad, "healthy", reset_after_request=True)
    mixed = json.dumps([{"method": "server_info", "params": [{}]},
                        {"method": "submit", "params": [{"tx_blob": "00"}]}])
    status, node, body = post(g.port, mixed)
    assert status == 502, (status, body)
    assert (calls(bad, "submit"), calls(good, "submit")) == (1, 0)
    reads = json.dumps([{"method": "server_info", "params": [{}]},
                        {"method": "ping", "params": [{}]}])
    status, node, body = post(g.port, reads)
    assert status == 200 and node == "n2", (status, node, body)
    replies = json.loads(body)
    assert [r["result"]["status"] for r in replies] == ["success", "success"], replies
    assert (calls(bad, "ping"), calls(good, "ping")) == (1, 1)
    assert retries(g, "reset") == 1


def test_5xx_on_a_read_retried_on_a_write_passed_through(h):
    g, bad, good = bad_and_good(h)
    set_health(bad, "healthy", http_status=503)
    status, node, body = post(g.port, rpc_body("server_info"))
    assert status == 200 and node == "n2", (status, node, body)
    assert (calls(bad, "server_info"), calls(good, "server_info")) == (1, 1)
    assert retries(g, "status_5xx") == 1
    # a write gets the node's own answer, as it came
    status, node, body = post(g.port, rpc_body("submit", [{"tx_blob": "00"}]))
    assert (status, node, json.loads(body)) == (503, "n1", {"code": 503})
    assert (calls(bad, "submit"), calls(good, "submit")) == (1, 0)
    assert retries(g, "status_5xx") == 1


def test_error_token_on_a_read_retried_on_a_write_passed_through(h):
    g, bad, good = bad_and_good(h)
    set_health(bad, "healthy", rpc_error="noNetwork")
    status, node, body = post(g.port, rpc_body("server_info"))
    assert status == 200 and node == "n2", (status, node, body)
    assert retries(g, "rpc_error") == 1
    status, node, body = post(g.port, rpc_body("submit", [{"tx_blob": "00"}]))
    assert (status, node) == (200, "n1"), body
    assert json.loads(body)["result"]["error"] == "noNetwork"
    assert (calls(bad, "submit"), calls(good, "submit")) == (1, 0)
    assert retries(g, "rpc_error") == 1


def test_timeout_on_a_read_retried(h):
    g, bad, good = bad_and_good(h, response_timeout="300ms")
    set_health(bad, "healthy", delay_ms=3000)
    status, node, body = post(g.port, rpc_body("server_info"))
    assert status == 200 and node == "n2", (status, node, body)
    assert retries(g, "timeout") == 1


def test_retry_budget_caps_retries_of_a_request_that_always_fails(h):
    """Three nodes that reset every request; retries = 2 would try each of them for every
    request. The budget (20% of the window's requests, at least 2) stops that: after two
    retries, each request gets one attempt and its node's failure (502)."""
    sims = [h.nodesim(n) for n in ("n1", "n2", "n3")]
    for s in sims:
        set_health(s, "healthy", reset_after_request=True)
    g = gate(h, sims, [1, 1, 1], retry_budget="20", retry_budget_min="2",
             retry_budget_window="1h")
    n = 12
    for _ in range(n):
        status, node, body = post(g.port, rpc_body("server_info"))
        assert status == 502 and is_error_json(body), (status, body)
    attempts = sum(calls(s, "server_info") for s in sims)
    allowed = max(2, n * 20 // 100)
    assert retries(g, "reset") == allowed
    assert attempts == n + allowed, f"{attempts} node attempts for {n} requests"
    # the first request used both retries; each later one was refused once
    assert exhausted(g) == n - 1
    # a reload keeps the pool, and with it the spent budget and the counters
    g.reload(g.ini.read_text().replace("response_timeout = 5s", "response_timeout = 4s"))
    wait_for(lambda: "reload done" in g.stderr(), 5, "the reload")
    status, node, body = post(g.port, rpc_body("server_info"))
    assert status == 502, (status, body)
    assert sum(calls(s, "server_info") for s in sims) == attempts + 1
    assert (retries(g, "reset"), exhausted(g)) == (allowed, n)
    assert g.alive()


def test_zero_budget_never_retries_after_sending(h):
    g, bad, good = bad_and_good(h, retry_budget="0")
    set_health(bad, "healthy", reset_after_request=True)
    status, node, body = post(g.port, rpc_body("server_info"))
    assert status == 502, (status, body)
    assert (calls(bad, "server_info"), calls(good, "server_info")) == (1, 0)
    assert exhausted(g) == 1


def test_connect_failures_are_retried_outside_the_budget(h):
    """A node that refuses connections never received the request: even a write goes on,
    and even with retry_budget = 0."""
    dead = ("dead", f"{HOST}:{free_port()}")
    good = h.nodesim("n2")
    g = gate(h, [dead, good], [BAD_WEIGHT, GOOD_WEIGHT], retry_budget="0")
    status, node, body = post(g.port, rpc_body("submit", [{"tx_blob": "00"}]))
    assert status == 200 and node == "n2", (status, node, body)
    assert calls(good, "submit") == 1
    assert retries(g, "connect") == 1
    assert exhausted(g) == 0
