"""WebSocket sessions follow their node's place in rotation whatever takes it out (issue 6,
with test_ws_policy.py for the admin drain and maint): a node whose health check fails, and
a node weighed 0 through the admin API, close their clients' sessions with 1001 after the
pool's ws_drain_grace, and the reconnects land on the node left in rotation. A node that
dies outright ends its tunnels itself: the client sees the stream end, no close frame.
All with ws_failover = close (the default, resubscribe, moves the sessions to another node
instead: test_ws_failover.py)."""
import time

from harness import free_port
from stubs import RippledWsServer
from test_admin import admin, admin_gate
from test_health import wait_transition
from test_status import scrape, status_section, value
from test_ws_policy import command, goes_away_then_elsewhere, lands_on, one_session_each

GRACE = {"ws_drain_grace": "200ms", "ws_failover": "close"}
# http probes of the stubs' GET /health every 50 ms: two failures (critical_burst) eject
HTTP_CHECK = {"check": "http", "check_interval": "50ms", "check_interval_down": "50ms",
              "check_timeout": "1s", **GRACE}


def drain_closed(sp):
    return value(scrape(sp), "nodegate_ws_drain_closed", "nodegate_ws_drain_closed_total")


def assert_stream_ends(c):
    """C's stream ends (EOF or reset) before any frame comes."""
    try:
        got = c.reader.frame()
    except (EOFError, ConnectionResetError) as e:
        got = e
    assert isinstance(got, (EOFError, ConnectionResetError)), got


def test_failing_health_check_closes_sessions_1001_and_reconnect_lands_elsewhere(h):
    with RippledWsServer("w1") as n1, RippledWsServer("w2") as n2:
        sp = free_port()
        g = h.gate(h.gate_ini([("w1", n1.addr), ("w2", n2.addr)], pool=HTTP_CHECK,
                              listener={"profile": "rippled"}, extra=[status_section(sp)]))
        sessions = one_session_each(g.port, ["w1", "w2"])
        t0 = time.monotonic()
        n1.healthy = False  # its GET /health answers 503 from now on
        tr = wait_transition(g, "w1", "down")
        assert "status 503" in tr.reason, tr.reason
        goes_away_then_elsewhere(g, sessions, "w1", "w2", t0)
        assert "backend w1 left rotation: WebSocket closed (1001)" in g.stderr()
        assert drain_closed(sp) == 1


def test_killed_node_ends_its_tunnels_without_a_close_frame(h):
    """A node that dies has no close frame to send, and nodegate makes none up: the client
    reads the end of the stream (1006 in browser terms), its session is not counted as
    drained when the node then leaves rotation, and the reconnect lands on the live node."""
    with RippledWsServer("w1") as n1, RippledWsServer("w2") as n2:
        sp = free_port()
        g = h.gate(h.gate_ini([("w1", n1.addr), ("w2", n2.addr)], pool=HTTP_CHECK,
                              listener={"profile": "rippled"}, extra=[status_section(sp)]))
        sessions = one_session_each(g.port, ["w1", "w2"])
        n1.stop()  # its listener and every socket closed: as a killed process's would be
        assert_stream_ends(sessions["w1"])
        tr = wait_transition(g, "w1", "down")
        assert "refused" in tr.reason, tr.reason
        time.sleep(0.4)  # past the grace: the ended session must not be "drained"
        sessions["w1"].sock.close()
        lands_on(g, sessions, "w2")
        assert drain_closed(sp) == 0
        assert "WebSocket closed (1001)" not in g.stderr()


def test_node_dying_within_the_drain_grace_ends_its_tunnel_itself(h):
    """Drained, then dead before the grace is over: the client reads the end of the stream
    the node sent, and no 1001 is made up after it (nothing counted as drained)."""
    with RippledWsServer("w1") as n1, RippledWsServer("w2") as n2:
        sp = free_port()
        g = admin_gate(h, [("w1", n1.addr), ("w2", n2.addr)], sp,
                       pool={"ws_drain_grace": "500ms", "ws_failover": "close"},
                       listener={"profile": "rippled"})
        sessions = one_session_each(g.port, ["w1", "w2"])
        admin(sp, "w1", "drain")
        n1.stop()
        assert_stream_ends(sessions["w1"])
        time.sleep(0.8)  # past the grace
        sessions["w1"].sock.close()
        lands_on(g, sessions, "w2")
        assert drain_closed(sp) == 0


def test_weight_0_closes_sessions_1001_like_a_drain(h):
    """Weighed 0 through the admin API, a node takes no new picks; its sessions close after
    the grace as if it were drained. Weighed again within the grace, they keep going."""
    with RippledWsServer("w1") as n1, RippledWsServer("w2") as n2:
        sp = free_port()
        g = admin_gate(h, [("w1", n1.addr), ("w2", n2.addr)], sp, pool=GRACE,
                       listener={"profile": "rippled"})
        sessions = one_session_each(g.port, ["w1", "w2"])
        # back within the grace: the session is kept
        admin(sp, "w1", "weight", {"weight": 0})
        admin(sp, "w1", "weight", {"weight": None})
        time.sleep(0.4)  # past the grace
        assert command(sessions["w1"], "server_info", rid=4)["result"]["node"] == "w1"
        assert drain_closed(sp) == 0
        # weighed 0 for good: 1001 after the grace
        t0 = time.monotonic()
        doc = admin(sp, "w1", "weight", {"weight": 0})
        assert doc["weight"] == 0 and doc["admin"] == "none", doc
        goes_away_then_elsewhere(g, sessions, "w1", "w2", t0)
        assert drain_closed(sp) == 1
