"""TCP mode: a byte relay to the backend, with half-close carried both ways."""
import json
import os
import socket
import threading
import time

from harness import HOST, IO_TIMEOUT, RawClient, free_port
from stubs import TcpEchoServer


def tcp_gate(h, backends):
    return h.gate(h.gate_ini(backends, listener={"mode": "tcp"}))


def test_tcp_mode_plain_http_through(h):
    sim = h.nodesim("n1")
    g = tcp_gate(h, [sim])
    c = RawClient(g.port)
    r = c.request(b"GET /sim/headers HTTP/1.1\r\nHost: tcp-test\r\nX-Custom: kept\r\n\r\n")
    assert r.status == 200 and r.header("X-Node") == "n1"
    seen = json.loads(r.body)
    assert seen["uri"] == "/sim/headers"
    assert seen["headers"]["x-custom"] == ["kept"]
    assert seen["headers"]["host"] == ["tcp-test"]
    # Bytes are relayed untouched: an L4 relay adds no X-Forwarded-For.
    assert "x-forwarded-for" not in seen["headers"]
    # Keep-alive works through the relay too.
    body = b'{"method":"server_info","params":[{}]}'
    r = c.request(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    assert r.status == 200 and json.loads(r.body)["result"]["info"]["hostid"] == "n1"
    c.close()


def test_tcp_mode_half_close_still_gets_full_reply(h):
    """The client sends its request and shuts its side (SHUT_WR); the reply still comes
    back whole. (nodesim answers JSON-RPC at once; its streamed endpoints stop on a
    half-close, so the raw-bytes test below covers a reply sent after the FIN.)"""
    sim = h.nodesim("n1")
    g = tcp_gate(h, [sim])
    c = RawClient(g.port)
    body = b'{"method":"server_info","params":[{}]}'
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    c.sock.shutdown(socket.SHUT_WR)
    r = c.read_response("POST")
    assert r.status == 200
    assert r.json()["result"]["info"]["hostid"] == "n1"
    assert c.is_closed(), "the relay should close once the node closed"
    c.close()


def echo_roundtrip(port, payload):
    """Sends payload (in a thread, so neither side blocks), half-closes, and reads all."""
    s = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
    err = []

    def send():
        try:
            for i in range(0, len(payload), 65536):
                s.sendall(payload[i:i + 65536])
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    got = bytearray()
    while True:
        d = s.recv(262144)
        if not d:
            break
        got += d
    t.join(IO_TIMEOUT)
    s.close()
    assert not err, err
    return bytes(got)


def test_tcp_mode_raw_bytes_both_ways_and_half_close(h):
    with TcpEchoServer() as echo:
        g = tcp_gate(h, [("e1", echo.addr)])
        payload = bytes(range(256)) * 16 + os.urandom(2 * 1024 * 1024)
        got = echo_roundtrip(g.port, payload)
        # Everything echoed, then the server's reply to our FIN, then its FIN.
        assert len(got) == len(payload) + 3
        assert got[:-3] == payload
        assert got[-3:] == b"BYE"
        assert echo.received == len(payload)


def test_tcp_mode_connect_failure_goes_to_next_backend(h):
    with TcpEchoServer() as echo:
        dead = free_port()
        g = tcp_gate(h, [("dead", f"{HOST}:{dead}"), ("e1", echo.addr)])
        for i in range(6):
            msg = b"session %d" % i
            assert echo_roundtrip(g.port, msg) == msg + b"BYE"


def test_tcp_session_never_takes_a_pooled_http_connection(h):
    """An http and a tcp listener share a pool: the tcp session opens its own backend
    connection rather than inheriting one the http side keeps alive."""
    sim = h.nodesim("n1")
    tcp_port = free_port()
    g = h.gate(h.gate_ini([sim], pool={"check": "none"},  # probes are connections too
                          extra=[("listener raw", {"bind": f"{HOST}:{tcp_port}",
                                                   "mode": "tcp", "pool": "rpc"})]))
    c = RawClient(g.port)
    assert c.request(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    c.close()  # the backend connection stays pooled
    before = sim.stats()["connections"]  # counts the stats request's own connection
    t = RawClient(tcp_port)
    r = t.request(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 200
    assert json.loads(r.body)["connections"] == before + 1  # a connection of its own
    t.close()


class _TickerServer(TcpEchoServer):
    """Sends one byte every 100 ms, ten times, and never reads."""

    def handle(self, c):
        for _ in range(10):
            c.sendall(b"t")
            time.sleep(0.1)
        time.sleep(5)


def test_tunnel_timeout_counts_both_directions(h):
    """A client that only listens (a subscription) keeps its tunnel while the node talks;
    once both sides are quiet for tunnel_timeout, the tunnel closes."""
    with _TickerServer() as srv:
        g = h.gate(h.gate_ini([("t1", srv.addr)],
                              listener={"mode": "tcp", "tunnel_timeout": "300ms"}))
        s = socket.create_connection((HOST, g.port), timeout=IO_TIMEOUT)
        got = b""
        start = time.monotonic()
        while len(got) < 10:
            d = s.recv(16)
            assert d, f"closed after {got!r}: the silent client side timed the tunnel out"
            got += d
        assert time.monotonic() - start >= 0.8
        # both sides quiet now: closed after about 300 ms, well before the server's 5 s
        assert s.recv(16) == b""
        assert time.monotonic() - start < 3
        s.close()
