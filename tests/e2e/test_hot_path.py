"""The hot path's memory (issue 12): once the free lists of libevent's blocks (evmem.c) are
warm, keep-alive JSON-RPC requests, refusals and plain GETs take nothing more from malloc.
nodegate_evmem_malloc_total counts the blocks that had to come from malloc."""
from harness import free_port, get, http_conn, rpc
from test_status import scrape, status_section, value


def evmem_mallocs(sp):
    return value(scrape(sp), "nodegate_evmem_malloc", "nodegate_evmem_malloc_total")


def traffic(conns, rounds):
    """ROUNDS of: a read, a read with ledger and id, a refused admin call, a GET, on each
    of CONNS (keep-alive) in turn."""
    for _ in range(rounds):
        for c in conns:
            status, _, body = rpc(c, "server_info")
            assert status == 200 and body["result"]["status"] == "success", body
            status, _, _ = rpc(c, "ledger", [{"ledger_index": 90000000, "id": 7}])
            assert status == 200
            status, _, body = rpc(c, "stop")
            assert status == 403 and body["result"]["error"] == "forbidden", body
            r, _ = get(c, "/sim/status?code=200")
            assert r.status == 200


def test_keep_alive_requests_take_no_memory_from_malloc(h):
    sims = h.nodesims("n1", "n2")
    sp = free_port()
    g = h.gate(h.gate_ini(sims, extra=[status_section(sp)]))
    conns = [http_conn(g.port) for _ in range(3)]
    traffic(conns, 50)  # warm: the lists hold what one round needs
    evmem_mallocs(sp)  # and what a /metrics page needs (its first takes a few dozen)
    before = evmem_mallocs(sp)
    traffic(conns, 500)  # 6,000 requests
    after = evmem_mallocs(sp)
    for c in conns:
        c.close()
    # (the second /metrics page may still take one or two)
    assert before > 0 and after - before <= 3, (before, after)
