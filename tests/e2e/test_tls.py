"""TLS: termination on a listener (TLS 1.2 and 1.3 only) and TLS to a backend."""
import os
import socket
import ssl
import threading
import warnings

import pytest

from harness import HOST, IO_TIMEOUT, RawClient, http_conn, is_error_json, rpc_body
from stubs import TlsHttpServer, WsClient, WsEchoServer


def client_ctx(cafile, lo=None, hi=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    ctx.load_verify_locations(cafile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if lo:
            ctx.minimum_version = lo
        if hi:
            ctx.maximum_version = hi
    return ctx


def tls_connect(port, ctx, name="localhost"):
    s = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
    try:
        return ctx.wrap_socket(s, server_hostname=name)
    except BaseException:
        s.close()
        raise


@pytest.fixture
def tls_gate(h, certs):
    sim = h.nodesim("n1")
    return h.simple_gate([sim], listener={"tls_cert": certs.cert, "tls_key": certs.key})


def https_get(tls):
    c = RawClient(None, sock=tls)
    r = c.request(b"GET /sim/headers HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert r.status == 200 and r.header("X-Node") == "n1"
    return c


def test_tls_termination_verified_against_test_cert(tls_gate, certs):
    for name in ("localhost", "127.0.0.1"):
        tls = tls_connect(tls_gate.port, client_ctx(certs.cert), name)
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        c = https_get(tls)
        # Keep-alive over TLS.
        r = c.request(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(rpc_body("ping")), rpc_body("ping").encode()), "POST")
        assert r.status == 200 and "result" in r.json()
        c.close()


def test_tls_12_and_13_both_accepted(tls_gate, certs):
    v = ssl.TLSVersion
    for lo, hi, want in ((v.TLSv1_2, v.TLSv1_2, "TLSv1.2"), (v.TLSv1_3, v.TLSv1_3, "TLSv1.3")):
        tls = tls_connect(tls_gate.port, client_ctx(certs.cert, lo, hi))
        assert tls.version() == want
        https_get(tls).close()


def local_stack_speaks_tls11(certs):
    """Whether this machine's Python/OpenSSL can complete a TLS 1.1 handshake at all
    (tried against a permissive local server), so a refusal by nodegate means something."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(certs.cert, certs.key)
        try:
            sctx.minimum_version = ssl.TLSVersion.TLSv1_1
            sctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            cctx = tls11_ctx(certs)
        except (ValueError, ssl.SSLError):
            return False
    lsock = socket.socket()
    lsock.bind((HOST, 0))
    lsock.listen(1)
    lsock.settimeout(5)

    def serve():
        try:
            c, _ = lsock.accept()
            with sctx.wrap_socket(c, server_side=True):
                pass
        except (OSError, ssl.SSLError):
            pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with tls_connect(lsock.getsockname()[1], cctx) as tls:
            return tls.version() == "TLSv1.1"
    except (OSError, ssl.SSLError):
        return False
    finally:
        t.join(5)
        lsock.close()


def tls11_ctx(certs):
    ctx = client_ctx(certs.cert, ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_1)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def test_tls_11_refused(tls_gate, certs):
    if local_stack_speaks_tls11(certs):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with tls_connect(tls_gate.port, tls11_ctx(certs)) as tls:
                # A server that completed a 1.1 handshake would answer this.
                https_get(tls)
    # Whatever the client offers by default, the negotiated version is 1.2 or later.
    tls = tls_connect(tls_gate.port, client_ctx(certs.cert))
    assert tls.version() in ("TLSv1.2", "TLSv1.3")
    https_get(tls).close()


def test_plain_http_to_tls_listener_is_not_answered_and_harms_nobody(tls_gate, certs):
    c = RawClient(tls_gate.port)
    c.send(b"GET /sim/headers HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    try:
        data = c.read_to_eof()
    except (ConnectionError, TimeoutError, socket.timeout):
        pass
    assert b"X-Node" not in data
    c.close()
    https_get(tls_connect(tls_gate.port, client_ctx(certs.cert))).close()


def test_tls_to_backend_with_ca_and_sni(h, certs):
    with TlsHttpServer(certs.cert, certs.key) as b:
        # no probes: a tcp probe is a handshake-less connection the stub would count
        g = h.gate(h.gate_ini([("t1", b.addr, {"tls": "yes", "tls_ca": certs.cert,
                                               "tls_sni": "localhost"})],
                              pool={"check": "none"}))
        c = http_conn(g.port)
        for i in range(3):
            c.request("POST", "/", body=rpc_body("server_info"))
            r = c.getresponse()
            body = r.read()
            assert r.status == 200, body
            assert r.getheader("X-Node") == "tlsnode"
        c.close()
        assert "localhost" in b.sni
        assert b.handshake_errors == []


def test_tls_to_backend_with_wrong_ca_is_502(h, certs):
    with TlsHttpServer(certs.cert, certs.key) as b:
        g = h.gate(h.gate_ini([("t1", b.addr, {"tls": "yes", "tls_ca": certs.other_cert,
                                               "tls_sni": "localhost"})],
                              pool={"check": "none"}))
        c = http_conn(g.port)
        c.request("POST", "/", body=rpc_body("server_info"))
        r = c.getresponse()
        body = r.read()
        assert r.status == 502, body
        assert is_error_json(body), body
        c.close()
        assert b.handshakes == 0  # nothing was sent to an unverified backend


def test_websocket_over_tls_listener_with_big_messages(h, certs):
    """wss:// as xrpl.js uses it: TLS terminated by nodegate, the tunnel to a plain
    backend, large messages both ways (TLS records and back pressure in the relay)."""
    with WsEchoServer() as ws:
        g = h.gate(h.gate_ini([("ws1", ws.addr)], pool={"check": "none"},
                              listener={"tls_cert": certs.cert, "tls_key": certs.key,
                                        "profile": "none"}))  # binary frames: no policy
        c = WsClient(tls_connect(g.port, client_ctx(certs.cert)))
        assert c.status == 101, c.head
        assert c.recv() == (1, b"welcome")
        for size in (1, 16384, 70000, 1024 * 1024):
            payload = os.urandom(size)
            c.send(2, payload)
            assert c.recv() == (2, payload)
        assert c.close()[0] == 8
        c.sock.close()
