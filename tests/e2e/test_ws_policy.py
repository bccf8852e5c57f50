"""WebSocket awareness (issue 6): client messages on http listeners are parsed frame by frame
and go through the same method policy as JSON-RPC; a refused command is answered by nodegate
in rippled's WebSocket error shape with its id echoed and never reaches the node (the node's
own record says so), counted per method with the HTTP refusals. A node that leaves rotation
(admin drain or maint) closes its clients' sessions with 1001 after the pool's
ws_drain_grace (ws_failover = close), and their reconnect lands on a node in rotation."""
import json
import socket
import struct
import time

from harness import HOST, IO_TIMEOUT, free_port
from stubs import RippledWsServer, WsClient, ws_frame
from test_admin import admin, admin_gate
from test_policy import ADMIN_CALLS, SECRET_CALLS
from test_status import scrape, status_section, value


def ws_connect(port):
    s = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
    c = WsClient(s)
    assert c.status == 101, c.head
    return c


def command(c, cmd, params=None, rid=None):
    """Sends one command message, returns the parsed answer."""
    doc = {"command": cmd, **(params or {})}
    if rid is not None:
        doc["id"] = rid
    c.send(1, json.dumps(doc).encode())
    op, payload = c.recv()
    assert op == 1, (op, payload)
    return json.loads(payload)


def assert_ws_forbidden(doc, rid):
    """rippled's WebSocket error shape, the id echoed."""
    assert doc["error"] == "forbidden" and doc["error_code"] == 3, doc
    assert doc["status"] == "error" and doc["type"] == "response", doc
    assert doc["error_message"], doc
    assert doc["id"] == rid, doc


def frag(opcode, payload, fin):
    """One masked client frame with FIN as given."""
    f = ws_frame(opcode, payload, mask=True)
    return bytes([(0x80 if fin else 0) | opcode]) + f[1:]


def close_code(c):
    """Reads frames until a close: its code (data frames before it are skipped)."""
    while True:
        fin, op, payload, masked = c.reader.frame()
        if op == 8:
            assert not masked
            return struct.unpack("!H", payload[:2])[0]


def test_denied_and_secret_commands_refused_over_websocket(h):
    with RippledWsServer("w1") as node:
        sp = free_port()
        g = h.gate(h.gate_ini([("w1", node.addr)], listener={"profile": "rippled"},
                              extra=[status_section(sp)]))
        c = ws_connect(g.port)
        for i, (m, params) in enumerate(ADMIN_CALLS):
            doc = command(c, m, params, rid=i)
            assert_ws_forbidden(doc, i)
            assert m in doc["error_message"]
        for m, params in SECRET_CALLS:
            doc = command(c, m, params, rid=m)
            assert_ws_forbidden(doc, m)
            assert "secret" in doc["error_message"]
        # allowed commands pass on the same session, ids as they came
        for rid, m in [(100, "server_info"), ("x", "ping"), (None, "ledger")]:
            doc = command(c, m, rid=rid)
            assert doc["status"] == "success" and doc["result"]["command"] == m, doc
            assert doc.get("id") == rid, doc
        c.close()
        c.sock.close()
        assert node.commands == ["server_info", "ping", "ledger"], node.commands
        assert node.unmasked_from_client == 0
        fams = scrape(sp)
        for m, _ in ADMIN_CALLS:
            assert value(fams, "nodegate_rpc_refused", "nodegate_rpc_refused_total",
                         listener="web", method=m, reason="denied") == 1, m
        for m, _ in SECRET_CALLS:
            assert value(fams, "nodegate_rpc_refused", "nodegate_rpc_refused_total",
                         listener="web", method=m, reason="secret") == 1, m
        assert value(fams, "nodegate_ws_refused", "nodegate_ws_refused_total") == \
            len(ADMIN_CALLS) + len(SECRET_CALLS)


def test_fragmented_messages_inspected_whole_and_ping_answered(h):
    with RippledWsServer("w1") as node:
        g = h.gate(h.gate_ini([("w1", node.addr)], listener={"profile": "rippled"}))
        c = ws_connect(g.port)
        # a denied command cut in three fragments, a ping between them
        text = json.dumps({"command": "wallet_propose", "id": 7}).encode()
        c.sock.sendall(frag(1, text[:5], False))
        c.send(9, b"are you there")
        c.sock.sendall(frag(0, text[5:12], False))
        c.sock.sendall(frag(0, text[12:], True))
        # the node answers the ping (it went on at once) and nodegate the message, in
        # whichever order they come
        got = {}
        for _ in range(2):
            fin, op, payload, masked = c.reader.frame()
            assert fin and not masked
            got[op] = payload
        assert got[10] == b"are you there"
        assert_ws_forbidden(json.loads(got[1]), 7)
        # the same, allowed: the node gets it whole, still fragmented
        text = json.dumps({"command": "server_info", "id": 8}).encode()
        c.sock.sendall(frag(1, text[:9], False) + frag(0, text[9:], True))
        doc = json.loads(c.recv()[1])
        assert doc["id"] == 8 and doc["result"]["command"] == "server_info", doc
        # a message over the inspect limit cannot be policed: a padded admin command must
        # not slip through unread, so the session closes (1009) and the node never sees it
        big = json.dumps({"command": "stop", "id": 9, "pad": "x" * 70000}).encode()
        c.send(1, big)
        assert close_code(c) == 1009
        c.sock.close()
        assert node.commands == ["server_info"], node.commands


def test_big_messages_stream_on_where_no_policy_reads_them(h):
    """With profile = none (a pool of other daemons), nothing is policed but secrets: a
    message over rpc_inspect_max streams on uninspected, and the node answers it."""
    with RippledWsServer("w1") as node:
        g = h.gate(h.gate_ini([("w1", node.addr)], listener={"profile": "none"}))
        c = ws_connect(g.port)
        big = json.dumps({"command": "ping", "id": 9, "pad": "x" * 70000}).encode()
        c.send(1, big)
        assert json.loads(c.recv()[1])["id"] == 9
        c.sock.close()
        assert node.commands == ["ping"], node.commands


def test_unmasked_client_frame_closed_with_1002(h):
    with RippledWsServer("w1") as node:
        g = h.gate(h.gate_ini([("w1", node.addr)], listener={"profile": "rippled"}))
        c = ws_connect(g.port)
        c.sock.sendall(ws_frame(1, b'{"command":"ping"}', mask=False))
        assert close_code(c) == 1002
        c.sock.close()
        assert node.commands == [] and node.unmasked_from_client == 0


def one_session_each(port, names):
    """A WebSocket session through nodegate on PORT to each node in NAMES, told by the node
    that answers a ping (surplus sessions are closed)."""
    sessions = {}
    for _ in range(10 * len(names)):
        c = ws_connect(port)
        node = command(c, "ping", rid=1)["result"]["node"]
        if node in sessions:
            c.sock.close()
        else:
            sessions[node] = c
        if len(sessions) == len(names):
            break
    assert set(sessions) == set(names)
    return sessions


def lands_on(g, sessions, left):
    """LEFT's session goes on and new sessions land on LEFT; then LEFT's is closed."""
    assert command(sessions[left], "server_info", rid=2)["result"]["node"] == left
    for _ in range(3):
        c = ws_connect(g.port)
        assert command(c, "ping", rid=3)["result"]["node"] == left
        c.sock.close()
    sessions[left].sock.close()


def goes_away_then_elsewhere(g, sessions, gone, left, t0):
    """GONE's session gets 1001 (after a 200 ms grace from T0, not before), then lands_on."""
    assert close_code(sessions[gone]) == 1001
    assert time.monotonic() - t0 >= 0.15
    sessions[gone].send(8, struct.pack("!H", 1001))  # the close answered
    sessions[gone].sock.close()
    lands_on(g, sessions, left)


def test_node_leaving_rotation_closes_sessions_1001_and_reconnect_lands_elsewhere(h):
    with RippledWsServer("w1") as n1, RippledWsServer("w2") as n2:
        sp = free_port()
        g = admin_gate(h, [("w1", n1.addr), ("w2", n2.addr)], sp,
                       pool={"ws_drain_grace": "200ms", "ws_failover": "close"},
                       listener={"profile": "rippled"})
        for action in ("drain", "maint"):
            sessions = one_session_each(g.port, ["w1", "w2"])
            t0 = time.monotonic()
            admin(sp, "w1", action)
            goes_away_then_elsewhere(g, sessions, "w1", "w2", t0)
            admin(sp, "w1", "ready")
        fams = scrape(sp)
        assert value(fams, "nodegate_ws_drain_closed", "nodegate_ws_drain_closed_total") == 2


def test_node_back_within_the_grace_keeps_its_sessions(h):
    with RippledWsServer("w1") as n1:
        sp = free_port()
        g = admin_gate(h, [("w1", n1.addr)], sp, pool={"ws_drain_grace": "500ms"},
                       listener={"profile": "rippled"})
        c = ws_connect(g.port)
        assert command(c, "ping", rid=1)["result"]["node"] == "w1"
        admin(sp, "w1", "drain")
        admin(sp, "w1", "ready")
        time.sleep(0.8)  # past the grace: the session must still work
        assert command(c, "server_info", rid=2)["id"] == 2
        c.sock.close()


def test_websocket_client_over_its_rate_gets_slow_down_then_1013(h):
    """Each inspected WebSocket message is charged to the client's rate_per_ip bucket, as
    a JSON-RPC request would be: over it, rippled's slowDown (id echoed) and a close 1013;
    another client address keeps its own bucket and its session works."""
    with RippledWsServer("w1") as node:
        sp = free_port()
        g = h.gate(h.gate_ini([("w1", node.addr)],
                              listener={"rate_per_ip": "1", "burst_per_ip": "4"},
                              extra=[status_section(sp)]))
        c = ws_connect(g.port)
        for i in range(3):  # the burst: the upgrade request took one token
            assert command(c, "ping", rid=i)["status"] == "success"
        c.send(1, json.dumps({"command": "ping", "id": 99}).encode())
        op, payload = c.recv()
        doc = json.loads(payload)
        assert op == 1 and doc["error"] == "slowDown" and doc["error_code"] == 10, doc
        assert doc["id"] == 99 and doc["type"] == "response", doc
        assert close_code(c) == 1013
        c.sock.close()
        # 127.0.0.2 is another client: its own bucket
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(IO_TIMEOUT)
        s.bind(("127.0.0.2", 0))
        s.connect((HOST, g.port))
        other = WsClient(s)
        assert other.status == 101, other.head
        doc = command(other, "ping", rid="o")
        assert doc["status"] == "success", doc
        other.close()
        other.sock.close()
        assert node.commands.count("ping") == 4, node.commands
        fams = scrape(sp)
        assert value(fams, "nodegate_limited", "nodegate_limited_total", listener="web",
                     reason="rate") == 1
