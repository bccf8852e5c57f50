"""Per-client limits (issue 6): rate_per_ip / burst_per_ip answer 429 with Retry-After and
rippled's slowDown body to one client while the others go on; max_conns_per_ip refuses a
client's extra connections; limit_exempt networks are never limited; trusted_proxies make
the client named in X-Forwarded-For the one that is limited, logged and forwarded. Clients
come from distinct loopback addresses (Linux routes all of 127/8 to lo)."""
import json
import socket

from harness import (HOST, IO_TIMEOUT, SLOW, RawClient, free_port, metric_value, nodegate_run,
                     wait_for)

SLOW_DOWN = {"result": {"error": "slowDown", "error_code": 10,
                        "error_message": "You are placing too much load on the server.",
                        "status": "error"}}
RPC = b'{"method":"server_info","params":[{}]}'


def client_from(src, port):
    """A RawClient whose socket is bound to the loopback address SRC."""
    s = socket.socket()
    s.settimeout(IO_TIMEOUT)
    s.bind((src, 0))
    s.connect((HOST, port))
    return RawClient(port, sock=s)


def post(c, extra=b""):
    return c.request(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n" % len(RPC) + extra + b"\r\n" + RPC, "POST")


def headers_seen(c, extra=b""):
    r = c.request(b"GET /sim/headers HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")
    assert r.status == 200, r
    return r.json()["headers"]


def gate_with(h, sim, status_port, **listener):
    lst = {k: str(v) for k, v in listener.items()}
    return h.gate(h.gate_ini([sim], listener=lst,
                             extra=[("status", {"bind": f"{HOST}:{status_port}"})]))


def limited(status_port, reason):
    return metric_value(status_port, "nodegate_limited_total", listener="web", reason=reason)


def node_requests(sim, before):
    """Requests the node saw since BEFORE (its own /sim/stats call left out)."""
    return sim.stats()["requests"] - before - 1


def assert_slow_down(r):
    assert r.status == 429, r
    assert int(r.header("Retry-After")) >= 1, r
    assert r.header("Content-Type") == "application/json"
    assert json.loads(r.body) == SLOW_DOWN, r


def test_client_over_its_rate_gets_429_while_another_is_unaffected(h):
    sim = h.nodesim("n1")
    sp = free_port()
    g = gate_with(h, sim, sp, rate_per_ip=1, burst_per_ip=3)
    before = sim.stats()["requests"]
    a = client_from("127.0.0.2", g.port)
    answers = [post(a) for _ in range(10)]   # one keep-alive connection throughout
    ok = [r for r in answers if r.status == 200]
    slow = [r for r in answers if r.status != 200]
    # the burst passes; at 1/s little refills while ten requests go by
    assert 3 <= len(ok) <= 3 + 2 * SLOW, answers
    assert answers[:3] == ok[:3] and slow, answers
    for r in slow:
        assert_slow_down(r)
        assert r.header("Connection") is None      # keep-alive kept
    # another client, same moment: its own full bucket
    b = client_from("127.0.0.3", g.port)
    for _ in range(3):
        r = post(b)
        assert r.status == 200 and "result" in r.json(), r
    # the refused requests never reached the node; the limit is counted
    assert node_requests(sim, before) == len(ok) + 3
    assert limited(sp, "rate") == len(slow)
    assert limited(sp, "conns") == 0
    # the log names the client and the status
    wait_for(lambda: any(" 127.0.0.2:" in l and " 429 " in l
                         for l in h.access_log.read_text().splitlines()), 5, "a 429 logged")
    a.close()
    b.close()


def test_limit_exempt_client_is_never_limited(h):
    sim = h.nodesim("n1")
    sp = free_port()
    g = gate_with(h, sim, sp, rate_per_ip=1, burst_per_ip=1, max_conns_per_ip=1,
                  limit_exempt="10.0.0.0/8, 127.0.0.4")
    free = [client_from("127.0.0.4", g.port) for _ in range(3)]
    for c in free:
        for _ in range(4):
            assert post(c).status == 200
    other = client_from("127.0.0.2", g.port)
    assert post(other).status == 200
    assert_slow_down(post(other))
    assert limited(sp, "rate") == 1
    for c in free + [other]:
        c.close()


def test_connections_over_max_conns_per_ip_are_refused(h):
    sim = h.nodesim("n1")
    sp = free_port()
    g = gate_with(h, sim, sp, max_conns_per_ip=2)
    held = [client_from("127.0.0.2", g.port) for _ in range(2)]
    for c in held:
        assert post(c).status == 200
    before = sim.stats()["requests"]
    extra = client_from("127.0.0.2", g.port)
    r = post(extra)
    assert_slow_down(r)
    assert r.header("Connection") == "close"
    assert extra.is_closed()
    assert node_requests(sim, before) == 0
    # another address connects fine meanwhile
    other = client_from("127.0.0.3", g.port)
    assert post(other).status == 200
    # the held connections still work; once one closes, the client may connect again
    assert post(held[0]).status == 200
    held[0].close()

    def reconnects():
        c = client_from("127.0.0.2", g.port)
        try:
            return post(c).status == 200
        finally:
            c.close()
    wait_for(reconnects, 5, "a new connection once one of two closed", interval=0.05)
    assert limited(sp, "conns") >= 1
    for c in held[1:] + [other]:
        c.close()


def test_tcp_listener_closes_connections_over_max_conns_per_ip(h):
    sim = h.nodesim("n1")
    sp = free_port()
    g = gate_with(h, sim, sp, mode="tcp", max_conns_per_ip=1)
    first = client_from("127.0.0.2", g.port)
    assert post(first).status == 200
    second = client_from("127.0.0.2", g.port)
    assert second.is_closed()
    other = client_from("127.0.0.3", g.port)
    assert post(other).status == 200
    assert post(first).status == 200
    assert limited(sp, "conns") == 1
    for c in (first, second, other):
        c.close()


def test_trusted_proxy_names_the_client(h):
    sim = h.nodesim("n1")
    sp = free_port()
    g = gate_with(h, sim, sp, rate_per_ip=1, burst_per_ip=2,
                  trusted_proxies="127.0.0.5, 192.0.2.0/24")
    proxy = client_from("127.0.0.5", g.port)
    # the right-most address that is not a trusted proxy is the client
    hdrs = headers_seen(proxy, b"X-Forwarded-For: 6.6.6.6, 203.0.113.9\r\n"
                               b"X-Forwarded-For: 192.0.2.44\r\nX-User: admin\r\n"
                               b"X-Real-IP: 6.6.6.6\r\n")
    assert hdrs["x-forwarded-for"] == ["6.6.6.6, 203.0.113.9, 192.0.2.44, 127.0.0.5"], hdrs
    assert len(hdrs["forwarded"]) == 1 and "for=203.0.113.9;" in hdrs["forwarded"][0], hdrs
    assert "x-user" not in hdrs and "x-real-ip" not in hdrs, hdrs
    # that client is the one limited: its burst of 2 is used by its third request
    assert post(proxy, b"X-Forwarded-For: 203.0.113.9\r\n").status == 200
    assert_slow_down(post(proxy, b"X-Forwarded-For: 203.0.113.9\r\n"))
    # another client behind the same proxy, on the same connection, is not
    assert post(proxy, b"X-Forwarded-For: 203.0.113.10\r\n").status == 200
    # IPv6 clients too, and the access log shows the client, not the proxy
    hdrs = headers_seen(proxy, b"X-Forwarded-For: [2001:db8::7]:4711\r\n")
    assert 'for="[2001:db8::7]"' in hdrs["forwarded"][0], hdrs
    wait_for(lambda: any(" 203.0.113.9:" in l and " 429 " in l
                         for l in h.access_log.read_text().splitlines()), 5,
             "the 429 logged under the forwarded client")
    # from an untrusted peer the client-sent X-Forwarded-For never reaches the node, and
    # the limit applies to the peer itself
    direct = client_from("127.0.0.2", g.port)
    hdrs = headers_seen(direct, b"X-Forwarded-For: 203.0.113.77\r\nX-User: admin\r\n")
    assert hdrs["x-forwarded-for"] == ["127.0.0.2"], hdrs
    assert "203.0.113.77" not in hdrs["forwarded"][0] and "x-user" not in hdrs, hdrs
    assert post(direct, b"X-Forwarded-For: 203.0.113.78\r\n").status == 200
    assert_slow_down(post(direct, b"X-Forwarded-For: 203.0.113.79\r\n"))
    # the proxy's own connections are never counted against max_conns_per_ip
    assert limited(sp, "rate") == 2
    proxy.close()
    direct.close()


def test_reload_keeps_the_buckets_and_applies_new_limits(h):
    sim = h.nodesim("n1")
    sp = free_port()
    port = free_port()
    ini = lambda rate: h.gate_ini([sim], port=port, listener={"rate_per_ip": str(rate),
                                                              "burst_per_ip": "1"},
                                  extra=[("status", {"bind": f"{HOST}:{sp}"})])
    g = h.gate(ini(1))
    a = client_from("127.0.0.2", g.port)
    assert post(a).status == 200
    assert_slow_down(post(a))
    g.reload(ini(1).replace("log_level = info", "log_level = debug"))
    wait_for(lambda: "reload done" in g.stderr(), 5, "the reload")
    assert_slow_down(post(a))    # the client's empty bucket survived the reload
    g.reload(ini(0))
    wait_for(lambda: g.stderr().count("reload done") == 2, 5, "the second reload")
    for _ in range(5):
        assert post(a).status == 200
    a.close()


def test_bad_cidr_is_a_config_error_with_file_and_line(h, tmp_path):
    path = tmp_path / "bad.ini"
    path.write_text(h.gate_ini([("n1", "127.0.0.1:5005")],
                               listener={"limit_exempt": "10.0.0.0/8, 10.1.2.3/8",
                                         "trusted_proxies": "proxy.example"}))
    code, out = nodegate_run("-t", "-c", str(path))
    assert code != 0, out
    lines = path.read_text().splitlines()
    at = {l.split(" = ")[0]: i + 1 for i, l in enumerate(lines) if " = " in l}
    assert (f"{path}:{at['limit_exempt']}: [listener web] limit_exempt: bad network (bits set "
            f"after the prefix) \"10.1.2.3/8\" (expected") in out, out
    assert (f"{path}:{at['trusted_proxies']}: [listener web] trusted_proxies: bad address "
            f"\"proxy.example\" (expected") in out, out
