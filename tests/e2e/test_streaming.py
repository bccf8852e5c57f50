"""Bodies stream through nodegate in both directions, framed by Content-Length or chunked,
without nodegate buffering them."""
import hashlib
import json
import os
import socket
import threading
import time

from harness import ASAN, IO_TIMEOUT, RawClient, big_digest, get, http_conn
from stubs import DigestServer

BIG = 50 * 1024 * 1024

# These tests relay arbitrary HTTP bodies (not JSON-RPC): a listener for other daemons,
# without the rippled method policy (profile none), which would refuse them.
RELAY = {"profile": "none"}


def test_50mb_response_streams_with_flat_memory(h):
    sim = h.nodesim("n1")
    env = {}
    if ASAN:
        # ASan keeps freed memory in a 256 MB quarantine; keep it small so RSS means
        # what it means in a normal build.
        env["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                               ":quarantine_size_mb=1:thread_local_quarantine_size_kb=64")
    g = h.gate(h.gate_ini([sim]), env=env)
    c = http_conn(g.port)
    r, body = get(c, "/sim/big?bytes=1048576")  # warm up buffers and the backend connection
    assert r.status == 200 and len(body) == 1048576
    base = peak = g.rss_kb()

    c.request("GET", f"/sim/big?bytes={BIG}")
    r = c.getresponse()
    assert r.status == 200
    assert r.getheader("X-Node") == "n1"
    # A slow client: nothing read for a while, then small reads with pauses. The backend
    # is far faster, so without back pressure nodegate would hold most of the 50 MB.
    stall_end = time.monotonic() + 0.3
    while time.monotonic() < stall_end:
        peak = max(peak, g.rss_kb())
        time.sleep(0.02)
    got = 0
    sha = hashlib.sha256()
    for i in range(BIG // 65536 + 10):
        d = r.read(1 << 20)
        if not d:
            break
        sha.update(d)
        got += len(d)
        peak = max(peak, g.rss_kb())
        time.sleep(0.004)
    c.close()
    assert got == BIG
    assert sha.hexdigest() == big_digest(BIG)
    growth_mb = (peak - base) / 1024
    assert growth_mb < 8, f"nodegate RSS grew by {growth_mb:.1f} MB (from {base} kB)"


def chunk(data, ext=b"", upper=False):
    size = (b"%X" if upper else b"%x") % len(data)
    return size + ext + b"\r\n" + data + b"\r\n"


def digest_response(r):
    assert r.status == 200, r
    return json.loads(r.body)


def test_chunked_request_body_with_extensions(h):
    # nodesim (libevent's evhttp) refuses chunk extensions, so a stdlib backend digests.
    with DigestServer() as backend:
        g = h.gate(h.gate_ini([("d1", backend.addr)], listener=RELAY))
        c = RawClient(g.port)
        pieces = [b"hello ", b"chunked " * 100, bytes(range(256)) * 40, b"x" * 5000, b"end"]
        exts = [b"", b";name=value", b';q="quoted value"', b";a;b=1", b""]
        c.send(b"POST /sim/digest HTTP/1.1\r\nHost: nodegate\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Type: application/octet-stream\r\n\r\n")
        for i, (p, e) in enumerate(zip(pieces, exts)):
            c.send(chunk(p, e, upper=(i % 2 == 1)))
        c.send(b"0\r\n\r\n")
        doc = digest_response(c.read_response("POST"))
        whole = b"".join(pieces)
        assert doc["bytes"] == len(whole)
        assert doc["sha256"] == hashlib.sha256(whole).hexdigest()
        # The connection is still usable after a chunked request.
        c.send(b"POST /sim/digest HTTP/1.1\r\nHost: nodegate\r\nContent-Length: 3\r\n\r\nabc")
        doc = digest_response(c.read_response("POST"))
        assert doc["bytes"] == 3
        c.close()


def test_chunked_request_body_with_trailer(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim], listener=RELAY)
    c = RawClient(g.port)
    c.send(b"POST /sim/digest HTTP/1.1\r\nHost: nodegate\r\nTransfer-Encoding: chunked\r\n\r\n" +
           chunk(b"abc") + chunk(b"defg") + b"0\r\nX-Checksum: whatever\r\n\r\n")
    doc = digest_response(c.read_response("POST"))
    assert doc == {"bytes": 7, "sha256": hashlib.sha256(b"abcdefg").hexdigest()}
    r = c.request(b"GET /sim/headers HTTP/1.1\r\nHost: nodegate\r\n\r\n")
    assert r.status == 200


def upload(port, total, chunked):
    """Streams TOTAL pseudo-random bytes in 64 kB writes; returns (response, sha256)."""
    c = RawClient(port)
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % total
    c.send(b"POST /sim/digest HTTP/1.1\r\nHost: nodegate\r\n" + framing + b"\r\n\r\n")
    sha = hashlib.sha256()
    seed = hashlib.sha256(b"seed").digest() * 2048  # 64 kB
    sent = 0
    while sent < total:
        block = seed[: min(len(seed), total - sent)]
        block = bytes([sent // len(seed) % 256]) + block[1:]
        sha.update(block)
        c.send(chunk(block) if chunked else block)
        sent += len(block)
    if chunked:
        c.send(b"0\r\n\r\n")
    r = c.read_response("POST")
    c.close()
    return r, sha.hexdigest()


def test_5mb_content_length_upload_streamed(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim], listener={"max_body_size": "8m", **RELAY})
    total = 5 * 1024 * 1024
    r, sha = upload(g.port, total, chunked=False)
    assert digest_response(r) == {"bytes": total, "sha256": sha}


def test_5mb_chunked_upload_streamed(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim], listener={"max_body_size": "8m", **RELAY})
    total = 5 * 1024 * 1024 + 12345
    r, sha = upload(g.port, total, chunked=True)
    assert digest_response(r) == {"bytes": total, "sha256": sha}


def test_echo_body_both_directions(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim], listener={"max_body_size": "2m", **RELAY})
    c = http_conn(g.port)
    body = os.urandom(1024 * 1024)
    c.request("POST", "/sim/echo", body=body)
    r = c.getresponse()
    got = r.read()
    assert r.status == 200
    assert r.getheader("X-Body-Bytes") == str(len(body))
    assert got == body
    c.close()


def test_pipelined_requests_answered_in_order(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim], listener=RELAY)
    c = RawClient(g.port)
    bodies = [b"one", b"two" * 1000, b"three"]
    c.send(b"".join(b"POST /sim/echo HTTP/1.1\r\nHost: nodegate\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(b), b) for b in bodies))
    for b in bodies:
        r = c.read_response("POST")
        assert r.status == 200
        assert r.body == b


def test_pipelined_flood_pauses_reading_and_resumes(h):
    """A client that pipelines more requests than its input buffer holds (256 KiB): reading
    pauses while the first are answered and resumes as they are taken from the buffer;
    every request is answered, in order."""
    sim = h.nodesim("n1")
    g = h.simple_gate([sim], listener=RELAY)
    c = RawClient(g.port)
    n = 8000  # 8000 x 42 bytes: 336,000 bytes of heads
    reqs = b"".join(b"GET /sim/stats?%05d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n))
    sender = threading.Thread(target=c.sock.sendall, args=(reqs,), daemon=True)
    sender.start()
    for i in range(n):
        r = c.read_response()
        assert r.status == 200, (i, r.status)
    sender.join(IO_TIMEOUT)
    assert not sender.is_alive()
    c.close()


def test_bodiless_responses_keep_framing(h):
    """HEAD, 204 and 304 carry no body, and a backend 500 passes through unchanged; the
    client connection stays in sync for the next request."""
    sim = h.nodesim("n1")
    g = h.simple_gate([sim], listener=RELAY)
    c = RawClient(g.port)
    r = c.request(b"HEAD /sim/headers HTTP/1.1\r\nHost: nodegate\r\n\r\n", "HEAD")
    assert r.status == 200 and r.body == b""
    for code in (204, 304, 500, 404):
        r = c.request(b"GET /sim/status?code=%d HTTP/1.1\r\nHost: nodegate\r\n\r\n" % code)
        assert r.status == code
        assert r.header("X-Node") == "n1"
    r = c.request(b"GET /sim/headers HTTP/1.1\r\nHost: nodegate\r\n\r\n")
    assert r.status == 200 and json.loads(r.body)["uri"] == "/sim/headers"


def test_expect_100_continue_upload(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim], listener=RELAY)
    body = os.urandom(200000)
    c = RawClient(g.port)
    c.send(b"POST /sim/digest HTTP/1.1\r\nHost: nodegate\r\nExpect: 100-continue\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body))
    # A client waits a moment for "100 Continue", then sends the body anyway (as curl does).
    c.sock.settimeout(1.0)
    try:
        c._fill()
    except socket.timeout:
        pass
    c.sock.settimeout(IO_TIMEOUT)
    if c.buf:
        assert c.buf.startswith(b"HTTP/1.1 100"), c.buf[:100]
    c.send(body)
    doc = digest_response(c.read_response("POST"))
    assert doc == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
