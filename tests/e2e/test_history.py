"""History-aware routing end to end (issue 6): each node's complete_ledgers, read by the
freshness probe (server_info), decides where a request naming a ledger by number goes. A
pool mixes one full-history node (nodesim --history 32570) with recent ones (history from
the network's first ledger, 90000000); which node answered is in X-Node, what the pool did
in /metrics, and what nodegate knows of each node's history in /api/status."""
import json

from harness import HOST, free_port, http_conn, wait_for
from test_health import log_lines, set_health, transitions
from test_status import api_status, fetch, pool_of, scrape, status_section, value

OLD = 40000          # only the full-history nodes hold it
RECENT = 90000000    # every node holds it (the network's first ledger)
NOBODY = 100         # no node holds it


def history_pool(**more):
    """Pool keys: tcp probes plus a server_info freshness probe every 100 ms, which reads
    complete_ledgers; a ledger age that never warns (nodesim closes one per 3.5 s)."""
    kv = {"check": "tcp", "check_interval": "100ms", "freshness_interval": "100ms",
          "max_ledger_age": "1h"}
    kv.update({k: str(v) for k, v in more.items()})
    return kv


def start(h, sims, details=True):
    """nodegate in front of SIMS with a status listener; waits until it knows every node's
    complete_ledgers (shown by /api/status when public_backend_details = yes)."""
    sp = free_port()
    status = status_section(sp, public_backend_details="yes" if details else "no")
    g = h.gate(h.gate_ini(sims, pool=history_pool(), extra=[status]))
    g.status_port = sp
    if details:
        wait_for(lambda: all("complete_ledgers" in b
                             for b in pool_of(api_status(sp))["backends"]), 5,
                 "every node's complete_ledgers in /api/status")
    return g


def ledger(port, index):
    """One JSON-RPC `ledger` call on a fresh connection: (X-Node, result)."""
    c = http_conn(port)
    try:
        c.request("POST", "/", body=json.dumps({"method": "ledger",
                                                "params": [{"ledger_index": index}]}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, body)
        return r.getheader("X-Node"), json.loads(body)["result"]
    finally:
        c.close()


def counter(g, name):
    fams = scrape(g.status_port)
    return value(fams, name, f"{name}_total", pool="rpc") or 0


def sims(h, *specs):
    """Nodesims from (name, history or None) pairs."""
    return [h.nodesim(n, args=["--history", hist] if hist is not None else [])
            for n, hist in specs]


def test_old_ledger_goes_to_the_full_history_node(h):
    """One full-history and two recent nodes: an old index is answered by the full node 20
    times out of 20 (a recent node alone answers lgrNotFound), a recent one is balanced
    over all three, and each pick by coverage is counted."""
    full, r1, r2 = sims(h, ("full", 32570), ("r1", None), ("r2", None))
    node, res = ledger(r1.port, OLD)  # straight to a recent node: it lacks that history
    assert res["error"] == "lgrNotFound", res
    g = start(h, [full, r1, r2])
    doc = api_status(g.status_port)
    cl = {b["name"]: b["complete_ledgers"] for b in pool_of(doc)["backends"]}
    assert cl["full"].startswith("32570-") and cl["r1"].startswith("90000000-"), cl

    for i in range(20):
        node, res = ledger(g.port, OLD if i % 2 else str(OLD))  # numbers and strings
        assert (node, res.get("status"), res.get("ledger_index")) == ("full", "success", OLD)
    counts = {}
    for _ in range(30):
        node, res = ledger(g.port, RECENT)
        assert res["status"] == "success", res
        counts[node] = counts.get(node, 0) + 1
    assert set(counts) == {"full", "r1", "r2"} and min(counts.values()) >= 5, counts
    assert counter(g, "nodegate_history_routed") >= 50
    assert counter(g, "nodegate_lgrnotfound_retries") == 0
    assert g.alive()


def test_lgrnotfound_is_retried_on_a_node_holding_the_ledger(h):
    """A node claims full history but answers lgrNotFound (it lost part of it): the request
    goes to the other full-history node, and the client never sees lgrNotFound."""
    liar, full, recent = sims(h, ("liar", 32570), ("full", 32570), ("recent", None))
    set_health(liar, "healthy", lost_below=50000)
    node, res = ledger(liar.port, OLD)
    assert res["error"] == "lgrNotFound", res
    g = start(h, [liar, full, recent])
    liar_before = liar.stats()["requests"]
    for _ in range(20):
        node, res = ledger(g.port, OLD)
        assert (node, res.get("status"), res.get("ledger_index")) == ("full", "success", OLD)
    retries = counter(g, "nodegate_lgrnotfound_retries")
    assert retries >= 5, retries  # the liar is picked about every other time
    # the liar really was asked (each ask is one request, plus its probes)
    assert liar.stats()["requests"] - liar_before >= retries
    # not a health matter: the liar stays in rotation
    assert not [t for t in transitions(g, "liar") if t.to == "down"]
    assert g.alive()


def test_lgrnotfound_with_no_other_holder_reaches_the_client(h):
    """A ledger no node holds goes the normal way; the node's lgrNotFound is the answer
    (no retry: nobody else has it), and no node leaves rotation over it."""
    full, r1 = sims(h, ("full", 32570), ("r1", None))
    g = start(h, [full, r1])
    mark = log_lines(g)
    seen = set()
    for _ in range(10):
        node, res = ledger(g.port, NOBODY)
        assert res["error"] == "lgrNotFound", res
        seen.add(node)
    assert seen == {"full", "r1"}, seen  # balanced as usual
    assert counter(g, "nodegate_lgrnotfound_retries") == 0
    assert transitions(g, after=mark) == []
    # a liar whose peer does not hold the ledger either: its answer reaches the client
    set_health(full, "healthy", lost_below=50000)
    node, res = ledger(g.port, OLD)
    assert (node, res["error"]) == ("full", "lgrNotFound"), (node, res)
    assert g.alive()


def test_complete_ledgers_hidden_unless_public_backend_details(h):
    """/api/status shows complete_ledgers only beside the addresses; the public view
    carries no internals (history routing works all the same)."""
    full, r1 = sims(h, ("full", 32570), ("r1", None))
    g = start(h, [full, r1], details=False)
    # once the full node's history is known, old ledgers go there every time
    wait_for(lambda: all(ledger(g.port, OLD)[0] == "full" for _ in range(4)), 5,
             "the full node's history to be known")
    _, _, body = fetch(g.status_port, "/api/status")
    assert b"complete_ledgers" not in body and b"32570" not in body, body
    assert HOST not in body.decode()


def test_unknown_history_is_not_excluded(h):
    """With the freshness probe turned off by a reload, no node's history is known: old
    ledgers are balanced as any request (a recent node answers lgrNotFound, which reaches
    the client: nobody is known to hold it), and status no longer shows complete_ledgers."""
    full, r1 = sims(h, ("full", 32570), ("r1", None))
    g = start(h, [full, r1])
    mark = log_lines(g)
    pool = history_pool(freshness_interval="0")
    g.reload(h.gate_ini([full, r1], pool=pool, port=g.port, extra=[
        status_section(g.status_port, public_backend_details="yes")]))
    wait_for(lambda: "reload done" in "\n".join(g.stderr().splitlines()[mark:]), 5,
             "the reload")
    assert all("complete_ledgers" not in b for b in pool_of(api_status(g.status_port))["backends"])
    answers = [ledger(g.port, OLD) for _ in range(10)]
    assert {node for node, _ in answers} == {"full", "r1"}, answers
    assert all(res.get("status") == "success" for node, res in answers if node == "full")
    assert all(res.get("error") == "lgrNotFound" for node, res in answers if node == "r1")
    assert counter(g, "nodegate_lgrnotfound_retries") == 0
