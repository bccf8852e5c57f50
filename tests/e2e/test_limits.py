"""Connection limits: past max_connections (and overflow_connections = 0) nodegate stops
accepting (the kernel queues the newcomer) and resumes as soon as a connection closes;
nothing already open is harmed. test_fds.py: the 503 told past the limit."""
import socket

from harness import HOST, IO_TIMEOUT, RawClient


def test_listener_max_connections_pauses_and_resumes(h):
    sim = h.nodesim("n1")
    g = h.gate(h.gate_ini([sim], listener={"max_connections": "2", "overflow_connections": "0"}))
    a, b = RawClient(g.port), RawClient(g.port)
    for c in (a, b):
        assert c.request(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    third = socket.create_connection((HOST, g.port), timeout=IO_TIMEOUT)
    third.sendall(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n")
    third.settimeout(0.5)
    try:
        early = third.recv(1)
    except socket.timeout:
        early = None
    assert early is None, "served past max_connections"
    # the open ones are unharmed
    assert a.request(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    b.close()
    third.settimeout(IO_TIMEOUT)
    c = RawClient(g.port, sock=third)
    assert c.read_response().status == 200
    assert "max_connections reached" in g.stderr()
    a.close()
    c.close()


def test_idle_keepalive_connection_closes_after_client_timeout(h):
    """Between requests a keep-alive connection waits client_timeout for the next one; each
    answer starts the wait again, and a connection idle for longer is closed."""
    sim = h.nodesim("n1")
    g = h.gate(h.gate_ini([sim], listener={"client_timeout": "600ms"}))
    c = RawClient(g.port)
    for _ in range(3):  # 3 x 300 ms apart: 900 ms in all, never 600 ms idle
        assert c.request(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
        c.sock.settimeout(0.3)  # not is_closed: sanitizer builds stretch its wait
        try:
            assert c.sock.recv(1) != b"", "closed before client_timeout"
        except socket.timeout:
            pass
        c.sock.settimeout(IO_TIMEOUT)
    assert c.request(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    assert c.is_closed(timeout=3.0), "an idle connection outlived client_timeout"
    c.close()
