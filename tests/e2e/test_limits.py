"""Connection limits: past max_connections nodegate stops accepting (the kernel queues the
newcomer) and resumes as soon as a connection closes; nothing already open is harmed."""
import socket

from harness import HOST, IO_TIMEOUT, RawClient


def test_listener_max_connections_pauses_and_resumes(h):
    sim = h.nodesim("n1")
    g = h.gate(h.gate_ini([sim], listener={"max_connections": "2"}))
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
