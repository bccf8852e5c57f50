"""Refusals: each limit and failure gives its status code (a JSON-RPC shaped error body
for POST), a malformed request never reaches a node, and a neighbour keep-alive client
on the same listener is unharmed."""
import time
from email.utils import parsedate_to_datetime

import pytest

from harness import (HOST, SLOW, RawClient, free_port, http_conn, is_error_json, rpc,
                     rpc_body)

# HTTP framing limits on a generic relay: no JSON-RPC policy in the way (profile none)
LIMITS = {"max_header_size": "4k", "max_uri_size": "1k", "max_body_size": "64k",
          "max_headers": "50", "header_timeout": "500ms", "profile": "none"}


class Neighbour:
    """A keep-alive JSON-RPC client that must see nothing of another client's refusal."""

    def __init__(self, port):
        self.c = http_conn(port)
        self.check()

    def check(self):
        status, r, doc = rpc(self.c, "server_info")
        assert status == 200 and doc["result"]["status"] == "success"


@pytest.fixture
def limited(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim], listener=LIMITS)
    return g, sim


def refuse(port, data, method="POST"):
    """Sends DATA on a fresh connection and returns the response nodegate gives."""
    c = RawClient(port)
    c.send(data)
    r = c.read_response(method)
    c.close()
    return r


def expect_refusal(g, sim, data, status, method="POST"):
    nb = Neighbour(g.port)
    before = sim.stats()["requests"]
    r = refuse(g.port, data, method)
    assert r.status == status, r
    if method == "POST":
        assert is_error_json(r.body), r.body
    # Refused in nodegate: the node saw only our own /sim/stats call.
    assert sim.stats()["requests"] == before + 1
    nb.check()
    return r


def post_head(extra, path=b"/"):
    return b"POST " + path + b" HTTP/1.1\r\nHost: nodegate\r\n" + extra + b"\r\n"


def test_content_length_with_transfer_encoding_is_400(limited):
    expect_refusal(*limited, post_head(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")
                   + b"0\r\n\r\n", 400)


def test_conflicting_content_lengths_is_400(limited):
    expect_refusal(*limited, post_head(b"Content-Length: 5\r\nContent-Length: 6\r\n")
                   + b"hello!", 400)


@pytest.mark.parametrize("size", [b"zz", b"-1", b"1ffffffffffffffffffff", b" "])
def test_bad_chunk_size_is_400(limited, size):
    g, sim = limited
    nb = Neighbour(g.port)
    r = refuse(g.port, post_head(b"Transfer-Encoding: chunked\r\n", b"/sim/digest") +
               b"5\r\nhello\r\n" + size + b"\r\nhello\r\n0\r\n\r\n")
    assert r.status == 400, r
    assert is_error_json(r.body), r.body
    nb.check()


def test_header_section_over_max_header_size_is_431(limited):
    many = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 200) for i in range(25))
    expect_refusal(*limited, post_head(many + b"Content-Length: 2\r\n") + b"{}", 431)


def test_more_headers_than_max_headers_is_431(limited):
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(80))
    expect_refusal(*limited, post_head(many + b"Content-Length: 2\r\n") + b"{}", 431)


def test_uri_over_max_uri_size_is_414(limited):
    expect_refusal(*limited, b"GET /sim/headers?q=" + b"a" * 1100 +
                   b" HTTP/1.1\r\nHost: nodegate\r\n\r\n", 414, method="GET")


def test_body_over_max_body_size_is_413_before_it_is_sent(limited):
    # Only the head and a little of the body are sent: the answer must not wait for more.
    expect_refusal(*limited, post_head(b"Content-Length: 100000\r\n") + b"{" * 1000, 413)


def test_chunked_body_over_max_body_size_is_413(limited):
    g, sim = limited
    nb = Neighbour(g.port)
    c = RawClient(g.port)
    c.send(post_head(b"Transfer-Encoding: chunked\r\n", b"/sim/digest"))
    try:
        for _ in range(20):  # 20 x 8 kB = 160 kB, over the 64 kB limit
            c.send(b"2000\r\n" + b"z" * 0x2000 + b"\r\n")
        c.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # nodegate may stop reading once it has answered
    r = c.read_response("POST")
    assert r.status == 413, r
    assert is_error_json(r.body), r.body
    c.close()
    nb.check()


def test_slow_request_head_is_408(limited):
    g, sim = limited
    nb = Neighbour(g.port)
    c = RawClient(g.port)
    t0 = time.monotonic()
    c.send(b"GET /sim/headers HTTP/1.1\r\nHost: nodegate\r\n")
    r = c.read_response("GET")
    took = time.monotonic() - t0
    assert r.status == 408, r
    assert 0.4 <= took < 0.5 + 2 * SLOW, took
    c.close()
    nb.check()


def test_trickled_request_head_is_408(limited):
    """header_timeout bounds the whole head, not the gap between bytes (slowloris)."""
    g, sim = limited
    c = RawClient(g.port)
    t0 = time.monotonic()
    head = b"GET /sim/headers HTTP/1.1\r\nHost: nodegate\r\nX-Slow: " + b"s" * 100
    answered = None
    for i in range(len(head)):
        try:
            c.send(head[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            break
        c.sock.settimeout(0.05)
        try:
            c._fill()
            answered = True
            break
        except (TimeoutError, OSError):
            pass
        finally:
            c.sock.settimeout(10 * SLOW)
        if time.monotonic() - t0 > 3 * SLOW:
            break
    assert answered, "no answer while the head trickled in"
    r = c.read_response("GET")
    assert r.status == 408, r
    assert time.monotonic() - t0 < 0.5 + 2 * SLOW
    c.close()


def post_rpc(port, method="server_info", path="/"):
    c = http_conn(port)
    c.request("POST", path, body=rpc_body(method))
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, body


def test_no_backend_listening_is_502_then_503(h):
    """The first request finds every backend refusing (502: tried and failed); those
    refusals take them out of rotation, so the next one gets 503 with Retry-After."""
    dead = [(f"d{i}", f"{HOST}:{free_port()}") for i in (1, 2)]
    # no probe in the way: the first request meets the backends unjudged
    g = h.gate(h.gate_ini(dead, pool={"check_interval": "1h"}), judged=False)
    r, body = post_rpc(g.port)
    assert r.status == 502, body
    assert is_error_json(body), body
    c = http_conn(g.port)
    c.request("GET", "/sim/headers")
    r = c.getresponse()
    r.read()
    assert r.status == 503
    assert r.getheader("Retry-After") is not None
    c.close()


def test_pool_with_every_weight_zero_is_503_with_retry_after(h):
    sims = h.nodesims("n1", "n2")
    g = h.gate(h.gate_ini(sims, weights=[0, 0]))
    r, body = post_rpc(g.port)
    assert r.status == 503, body
    retry_after = r.getheader("Retry-After")
    assert retry_after is not None
    assert retry_after.isdigit() or parsedate_to_datetime(retry_after), retry_after
    assert is_error_json(body), body
    assert sims[0].stats()["requests"] == 1  # only this stats call: nothing was sent


def test_backend_closing_without_answer_is_502(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim])
    nb = Neighbour(g.port)
    c = http_conn(g.port)
    c.request("GET", "/sim/close")
    r = c.getresponse()
    r.read()
    assert r.status == 502
    c.close()
    r, body = post_rpc(g.port, "submit", "/sim/close")
    assert r.status == 502, body
    assert is_error_json(body), body
    nb.check()


def test_backend_timeout_is_504(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim], pool={"response_timeout": "300ms"})
    nb = Neighbour(g.port)
    c = http_conn(g.port)
    t0 = time.monotonic()
    c.request("GET", "/sim/sleep?ms=2000")
    r = c.getresponse()
    r.read()
    took = time.monotonic() - t0
    assert r.status == 504
    assert 0.28 <= took < 1.9, took  # the loop's timers are ms-grained
    c.close()
    t0 = time.monotonic()
    r, body = post_rpc(g.port, "server_info", "/sim/sleep?ms=2000")
    assert r.status == 504, body
    assert is_error_json(body), body
    assert time.monotonic() - t0 < 1.9
    nb.check()
