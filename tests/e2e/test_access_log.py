"""Access log: one line per request with time, client, listener, backend, method,
JSON-RPC method, status, bytes and duration."""
import re

from harness import get, http_conn, rpc, wait_for


def request_lines(h, marker):
    if not h.access_log.exists():
        return []
    return [l for l in h.access_log.read_text(errors="replace").splitlines() if marker in l]


def test_access_log_line_per_request(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim])
    c = http_conn(g.port)
    status, r, doc = rpc(c, "server_info")
    assert status == 200
    status, r, doc = rpc(c, "server_info")
    assert status == 200
    r, _ = get(c, "/sim/status?code=404")
    assert r.status == 404
    c.close()
    wait_for(lambda: len(request_lines(h, "server_info")) >= 2 and
             any("404" in l.split() for l in request_lines(h, "/sim/status")), 5,
             "the access log lines")
    rpc_lines = request_lines(h, "server_info")
    assert len(rpc_lines) == 2, rpc_lines
    for line in rpc_lines:
        tokens = line.split()
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line), line     # time
        assert any(t.startswith("127.0.0.1") for t in tokens), line   # client
        assert "web" in tokens, line                                   # listener
        assert "n1" in tokens, line                                    # backend
        assert "POST" in tokens, line                                  # method
        assert "server_info" in tokens, line                           # JSON-RPC method
        assert "200" in tokens, line                                   # status
        # After the status: bytes sent (a positive count) and a duration.
        after = tokens[tokens.index("200") + 1:]
        assert len(after) >= 2, line
        assert after[0].isdigit() and int(after[0]) > 0, line
        assert re.fullmatch(r"\d+(\.\d+)?(us|ms|s)?", after[1]), line
    other = [l for l in h.access_log.read_text().splitlines() if "404" in l.split()]
    assert len(other) == 1 and "GET" in other[0], other


def test_access_log_marks_refusals_and_failures(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim], listener={"max_uri_size": "1k"})
    c = http_conn(g.port)
    c.request("GET", "/sim/headers?" + "a" * 1200)
    r = c.getresponse()
    r.read()
    assert r.status == 414
    c.close()
    c = http_conn(g.port)
    c.request("GET", "/sim/close")
    r = c.getresponse()
    r.read()
    assert r.status == 502
    c.close()
    wait_for(lambda: any("414" in l.split() for l in request_lines(h, "127.0.0.1")) and
             any("502" in l.split() for l in request_lines(h, "127.0.0.1")), 5,
             "log lines for the 414 and the 502")
