"""WebSocket: the Upgrade becomes a tunnel to the backend, messages flow both ways."""
import os
import socket

from harness import HOST, IO_TIMEOUT, get, http_conn
from stubs import WsClient, WsEchoServer, ws_accept

# A plain WebSocket tunnel (binary and text frames that are not JSON-RPC): profile none.
TUNNEL = {"profile": "none"}


def ws_connect(port, **kw):
    s = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
    return WsClient(s, **kw)


def test_websocket_upgrade_and_messages_both_ways(h):
    with WsEchoServer() as ws:
        g = h.gate(h.gate_ini([("ws1", ws.addr)], listener=TUNNEL))
        c = ws_connect(g.port)
        assert c.status == 101, c.head
        assert c.headers.get("upgrade", "").lower() == "websocket"
        assert c.headers.get("sec-websocket-accept") == ws_accept(c.key)
        # The backend speaks first: its frame came in the same write as the 101.
        assert c.recv() == (1, b"welcome")
        msgs = [(1, "héllo ✓".encode()), (2, bytes(range(256))), (1, b"x" * 200),
                (2, os.urandom(70000)), (1, b"")]
        for op, payload in msgs:
            c.send(op, payload)
            assert c.recv() == (op, payload)
        # Several in flight at once, then read them back in order.
        for i in range(20):
            c.send(1, b"burst %d" % i)
        for i in range(20):
            assert c.recv() == (1, b"burst %d" % i)
        # Client frames reach the backend still masked (the tunnel does not touch bytes).
        assert ws.unmasked_from_client == 0
        assert c.close()[0] == 8
        c.sock.close()
        # The backend saw the handshake with nodegate's X-Forwarded-For.
        req = ws.requests[0].lower()
        assert "upgrade: websocket" in req
        assert "x-forwarded-for: 127.0.0.1" in req


def test_websocket_one_megabyte_message(h):
    with WsEchoServer() as ws:
        g = h.gate(h.gate_ini([("ws1", ws.addr)], listener=TUNNEL))
        c = ws_connect(g.port)
        assert c.status == 101
        assert c.recv() == (1, b"welcome")
        big = os.urandom(1024 * 1024)
        c.send(2, big)
        op, got = c.recv()
        assert op == 2 and len(got) == len(big) and got == big
        c.sock.close()


def test_websocket_tunnels_beside_http_on_same_listener(h):
    """Plain HTTP keep-alive clients and two WebSocket tunnels share one listener; closing
    a tunnel leaves the others working."""
    with WsEchoServer() as ws:
        g = h.gate(h.gate_ini([("ws1", ws.addr)], listener=TUNNEL))
        http_c = http_conn(g.port)
        for _ in range(3):
            r, body = get(http_c, "/plain")
            assert r.status == 200 and body == b"ok"
        a, b = ws_connect(g.port), ws_connect(g.port)
        assert a.status == b.status == 101
        assert a.recv() == (1, b"welcome") and b.recv() == (1, b"welcome")
        a.send(1, b"to a")
        b.send(1, b"to b")
        assert b.recv() == (1, b"to b")
        assert a.recv() == (1, b"to a")
        a.close()
        a.sock.close()
        b.send(2, b"still here")
        assert b.recv() == (2, b"still here")
        r, body = get(http_c, "/plain")
        assert r.status == 200 and body == b"ok"
        http_c.close()
        b.sock.close()
