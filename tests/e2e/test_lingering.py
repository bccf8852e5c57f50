"""Lingering close (issue 11, Edges): an answer nodegate sends before the request body was
read whole (413 on a body still arriving, 400 on a bad chunk, ...) and then closes on must
be read by a client that writes its whole body before it reads. nodegate sends the answer,
shuts its write side once the answer is flushed, then reads and drops what the client
still sends, until EOF, lingering_max_size, lingering_time or lingering_timeout; closing
with unread bytes would make the kernel reset the connection and the client lose the
answer. The lingering connection keeps its place under max_connections."""
import socket
import ssl
import threading
import time

import pytest

from harness import (HOST, IO_TIMEOUT, SLOW, RawClient, free_port, http_conn, is_error_json,
                     metric_value, rpc, wait_for)
from stubs import StubServer, recv_until

TRIES = 20


def counters(status_port):
    return {name: metric_value(status_port, f"nodegate_linger_{name}_total")
            for name in ("started", "cut", "idle")}


def gate_with(h, sim, **listener):
    status_port = free_port()
    g = h.gate(h.gate_ini([sim], listener={k: str(v) for k, v in listener.items()},
                          extra=[("status", {"bind": f"{HOST}:{status_port}"})]))
    return g, status_port


def post_head(length=None, chunked=False, path=b"/"):
    framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: %d\r\n" % length
    return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
            framing + b"\r\n")


def send_whole_then_read(port, data, ctx=None):
    """What most clients do (Python's http.client and requests among them): write the whole
    request with a blocking socket (here in a thread, so a test can never hang on it), then
    read the answer; a write that fails is the end (the client never reads). The status
    read, or the name of the error that took its place."""
    s = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
    if ctx is not None:
        s = ctx.wrap_socket(s, server_hostname="localhost")
    failed = []

    def writer():
        try:
            s.sendall(data)
        except OSError as e:
            failed.append(e)
    t = threading.Thread(target=writer)
    t.start()
    t.join(IO_TIMEOUT)
    if failed:
        s.close()
        return "send: " + type(failed[0]).__name__
    try:
        r = RawClient(port, sock=s).read_response("POST")
        assert is_error_json(r.body), r.body
        return r.status
    except (OSError, EOFError) as e:
        return "read: " + type(e).__name__
    finally:
        s.close()


@pytest.mark.parametrize("mb", [4, 2])
def test_oversized_body_413_is_read_by_a_client_that_sends_it_all(h, mb):
    """Content-Length over max_body_size (1m): 413 at the head, the body still on its way."""
    sim = h.nodesim("n1")
    g, status_port = gate_with(h, sim)
    nb = http_conn(g.port)
    before = sim.stats()["requests"]
    size = mb * 1024 * 1024
    data = post_head(size) + b"x" * size
    outcomes = [send_whole_then_read(g.port, data) for _ in range(TRIES)]
    read = outcomes.count(413)
    assert read == TRIES, f"413 read {read}/{TRIES} at {mb} MB: {outcomes}"
    assert sim.stats()["requests"] == before + 1  # this call: nothing of theirs reached it
    status, _, doc = rpc(nb, "server_info")  # a neighbour on the listener is unharmed
    assert status == 200 and doc["result"]["status"] == "success"
    m = counters(status_port)
    assert m["started"] == TRIES, m
    assert m["cut"] == 0, m


def test_oversized_body_413_is_read_over_tls(h, certs):
    """Over TLS the write side ends with a TCP FIN alone: a TLS client that got a close_notify
    could refuse to write the rest of its body (TLS 1.2 tells it to stop)."""
    sim = h.nodesim("n1")
    g, status_port = gate_with(h, sim, tls_cert=certs.cert, tls_key=certs.key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.cert)
    size = 4 * 1024 * 1024
    data = post_head(size) + b"x" * size
    outcomes = [send_whole_then_read(g.port, data, ctx) for _ in range(5)]
    assert outcomes == [413] * 5, outcomes
    wait_for(lambda: counters(status_port)["started"] == 5, 5, "five lingers counted")


CHUNK = b"4000\r\n" + b"z" * 0x4000 + b"\r\n"  # 16 KiB
MB2 = 2 * 1024 * 1024  # 2 MiB
EARLY = {
    # streamed to the node, cut at max_body_size while the chunks still come
    "chunked_over_max_body_size_413": (
        {"profile": "none", "max_body_size": "64k"}, 413,
        post_head(chunked=True, path=b"/sim/digest") + CHUNK * 128 + b"0\r\n\r\n"),
    "bad_chunk_400": (
        {"profile": "none"}, 400,
        post_head(chunked=True, path=b"/sim/digest") + CHUNK + b"zz\r\n" + b"y" * MB2),
    "conflicting_lengths_400": (
        {}, 400,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n" +
        b"x" * MB2),
    # the rippled method policy cannot read these bodies
    "chunked_under_policy_411": ({}, 411, post_head(chunked=True) + CHUNK * 128),
    "over_rpc_inspect_max_413": (
        {"max_body_size": "8m"}, 413, post_head(4 * MB2) + b"x" * 4 * MB2),
}


@pytest.mark.parametrize("case", sorted(EARLY))
def test_early_answers_are_read(h, case):
    listener, status, data = EARLY[case]
    sim = h.nodesim("n1")
    g, status_port = gate_with(h, sim, **listener)
    outcomes = [send_whole_then_read(g.port, data) for _ in range(5)]
    assert outcomes == [status] * 5, outcomes
    wait_for(lambda: counters(status_port)["started"] == 5, 5, "five lingers counted")


class EarlyAnswerServer(StubServer):
    """A node that answers 413 as soon as it has a request head, reads nothing for a while
    (so that the body cannot all go through before the answer), then drops the rest."""

    def handle(self, c):
        head, _ = recv_until(c, b"\r\n\r\n")
        body = b'{"error":{"code":413,"message":"too big for this node"},"id":null}'
        c.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        c.shutdown(socket.SHUT_WR)
        time.sleep(0.2)
        while c.recv(65536):
            pass


def test_node_early_answer_is_read(h):
    """The node answers before the streamed body is all sent: nodegate relays the answer,
    closes toward the node, and lingers toward the client."""
    with EarlyAnswerServer() as node:
        status_port = free_port()
        g = h.gate(h.gate_ini([("n1", node.addr)],
                              listener={"profile": "none", "max_body_size": "32m",
                                        "lingering_max_size": "64m"},
                              extra=[("status", {"bind": f"{HOST}:{status_port}"})]))
        size = 24 * 1024 * 1024  # more than the sockets between nodegate and the node hold
        outcomes = [send_whole_then_read(g.port, post_head(size) + b"x" * size)
                    for _ in range(5)]
        assert outcomes == [413] * 5, outcomes
        wait_for(lambda: counters(status_port)["started"] == 5, 5, "five lingers counted")


def test_client_sending_forever_is_cut_at_lingering_max_size(h):
    sim = h.nodesim("n1")
    g, status_port = gate_with(h, sim, lingering_max_size="256k", lingering_time="10s")
    s = socket.create_connection((HOST, g.port), timeout=IO_TIMEOUT)
    s.sendall(post_head(64 * 1024 * 1024))
    sent, t0, cut = 0, time.monotonic(), None
    block = b"x" * 65536
    while time.monotonic() - t0 < 5 * SLOW:
        try:
            sent += s.send(block)
        except OSError as e:
            cut = e
            break
    s.close()
    assert cut is not None, f"still sending after {sent} bytes"
    assert sent < 16 * 1024 * 1024, sent  # 256k read after the answer, plus socket buffers
    m = counters(status_port)
    assert m["cut"] == 1, m
    assert "lingering close cut after" in g.stderr()


def test_client_sending_forever_is_cut_at_lingering_time(h):
    """A trickle that never idles past lingering_timeout still ends at lingering_time."""
    sim = h.nodesim("n1")
    g, status_port = gate_with(h, sim, lingering_time="400ms", lingering_timeout="1s")
    c = RawClient(g.port)
    c.send(post_head(64 * 1024 * 1024))
    r = c.read_response("POST")
    assert r.status == 413
    t0, cut = time.monotonic(), None
    while time.monotonic() - t0 < 5 * SLOW:
        try:
            c.send(b"x" * 100)
        except OSError as e:
            cut = e
            break
        time.sleep(0.02)
    took = time.monotonic() - t0
    c.close()
    assert cut is not None, "still lingering"
    assert 0.35 <= took < 0.4 + 1.5 * SLOW, took
    m = counters(status_port)
    assert m["cut"] == 1, m


def test_idle_lingering_client_is_closed_after_lingering_timeout(h):
    """A client that read the answer (and the end of the stream after it) but neither sends
    nor closes is closed after lingering_timeout. Until then it holds its place under
    max_connections: a newcomer waits in the backlog."""
    sim = h.nodesim("n1")
    g, status_port = gate_with(h, sim, lingering_timeout="500ms", lingering_time="10s",
                               max_connections="1", overflow_connections="0")
    c = RawClient(g.port)
    c.send(post_head(4 * 1024 * 1024) + b"x" * 1000)
    r = c.read_response("POST")
    t0 = time.monotonic()
    assert r.status == 413 and r.header("Connection") == "close", r
    assert c.sock.recv(1) == b""  # the write side was shut after the answer
    other = RawClient(g.port)
    other.send(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\n")
    assert other.read_response().status == 200  # served once the lingering one closed
    took = time.monotonic() - t0
    assert 0.45 <= took < 0.5 + 1.5 * SLOW, took
    with pytest.raises(OSError):  # closed for good: the kernel resets what comes now
        for _ in range(10):
            c.send(b"late")
            time.sleep(0.05)
    c.close()
    other.close()
    m = counters(status_port)
    assert m["idle"] == 1, m
    assert m["cut"] == 0, m


def test_lingering_off_closes_at_once(h):
    """lingering_time = 0: the answer, then the close (the old behaviour)."""
    sim = h.nodesim("n1")
    g, status_port = gate_with(h, sim, lingering_time="0")
    c = RawClient(g.port)
    c.send(post_head(4 * 1024 * 1024) + b"x" * 1000)
    assert c.read_response("POST").status == 413
    assert c.is_closed(1.0)
    c.close()
    assert counters(status_port)["started"] == 0
