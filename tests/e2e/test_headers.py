"""Request headers as the node sees them: nodegate's X-Forwarded-For and Forwarded replace
the client's, X-User never passes (it would make the caller unlimited on rippled), and
hop-by-hop headers stop at nodegate."""
from harness import RawClient
from stubs import StubServer, recv_until


def seen_by_node(port, extra_headers):
    c = RawClient(port)
    r = c.request(b"GET /sim/headers HTTP/1.1\r\nHost: api.example\r\n" + extra_headers + b"\r\n")
    assert r.status == 200, r
    # The client connection stays usable (nodegate's own hop-by-hop handling is per hop).
    r2 = c.request(b"GET /sim/headers HTTP/1.1\r\nHost: api.example\r\n\r\n")
    assert r2.status == 200
    c.close()
    return r.json()


def test_client_forwarding_headers_replaced_and_x_user_removed(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim])
    seen = seen_by_node(g.port, b"X-Forwarded-For: 6.6.6.6\r\nx-forwarded-for: 7.7.7.7, 8.8.8.8\r\n"
                        b"Forwarded: for=6.6.6.6;proto=https\r\nX-User: admin\r\nx-user: root\r\n"
                        b"X-Custom: kept\r\n")
    hdrs = seen["headers"]
    assert hdrs.get("x-forwarded-for") == ["127.0.0.1"], hdrs
    fwd = hdrs.get("forwarded")
    assert fwd is not None and len(fwd) == 1, hdrs
    assert "for=127.0.0.1" in fwd[0] or 'for="127.0.0.1"' in fwd[0], fwd
    assert "6.6.6.6" not in fwd[0]
    assert "x-user" not in hdrs, hdrs
    assert hdrs.get("x-custom") == ["kept"]
    assert hdrs.get("host") == ["api.example"]
    assert seen["method"] == "GET" and seen["uri"] == "/sim/headers"
    assert seen["peer"].startswith("127.0.0.1")


def test_forwarding_headers_set_without_client_ones(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim])
    hdrs = seen_by_node(g.port, b"")["headers"]
    assert hdrs.get("x-forwarded-for") == ["127.0.0.1"], hdrs
    assert len(hdrs.get("forwarded", [])) == 1 and "127.0.0.1" in hdrs["forwarded"][0]


def test_hop_by_hop_headers_do_not_reach_node(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim])
    hdrs = seen_by_node(g.port, b"Connection: keep-alive, Foo, x-secret\r\nFoo: bar\r\n"
                        b"X-Secret: s\r\nKeep-Alive: timeout=5, max=100\r\nTE: trailers\r\n"
                        b"Proxy-Connection: keep-alive\r\n"
                        b"X-End-To-End: yes\r\n")["headers"]
    for name in ("foo", "x-secret", "keep-alive", "te", "proxy-connection"):
        assert name not in hdrs, (name, hdrs)
    for v in hdrs.get("connection", []):
        assert "foo" not in v.lower() and "secret" not in v.lower(), hdrs
    assert hdrs.get("x-end-to-end") == ["yes"]


class _BothFramingsServer(StubServer):
    """Answers every request with Transfer-Encoding: chunked AND a (wrong) Content-Length."""

    def handle(self, c):
        recv_until(c, b"\r\n\r\n")
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n0\r\n\r\n")


def test_response_with_chunked_and_content_length_reaches_client_chunked_only(h):
    with _BothFramingsServer() as be:
        g = h.gate(h.gate_ini([("b1", be.addr)]))
        c = RawClient(g.port)
        r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.status == 200
        assert r.header("content-length") is None, r
        assert r.header("transfer-encoding") == "chunked"
        assert r.body == b"hello"
        c.close()
