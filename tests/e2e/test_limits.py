"""Connection limits: past max_connections (and overflow_connections = 0) nodegate stops
accepting (the kernel queues the newcomer) and resumes as soon as a connection closes;
nothing already open is harmed. test_fds.py: the 503 told past the limit."""
import socket
import time

from harness import HOST, IO_TIMEOUT, RawClient, free_port, metric_value, wait_for
from test_status import status_section


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


def test_pooled_backend_connection_closes_idle_timeout_after_its_last_use(h):
    """A pooled backend connection waits idle_timeout for its next request from its last
    use (its deadline moves on with every answer): used every 300 ms it stays, left idle
    for longer than idle_timeout it is closed, and the next request opens another."""
    sim = h.nodesim("n1")
    sp = free_port()
    g = h.gate(h.gate_ini([sim], pool={"idle_timeout": "600ms"}, extra=[status_section(sp)]))
    c = RawClient(g.port)
    get = b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n"
    assert c.request(get).status == 200
    for _ in range(3):  # 3 x 300 ms apart: 900 ms in all, never 600 ms idle
        time.sleep(0.3)
        assert c.request(get).status == 200
    assert metric_value(sp, "nodegate_upstream_reused_total") == 3
    assert metric_value(sp, "nodegate_upstream_idle_closed_total") == 0
    wait_for(lambda: metric_value(sp, "nodegate_upstream_idle_closed_total") == 1, 3,
             "the idle pooled connection to close")
    assert c.request(get).status == 200
    assert metric_value(sp, "nodegate_upstream_reused_total") == 3, "sent on a closed one"
    c.close()
