"""SIGTERM/SIGINT: stop accepting, let in-flight requests finish (up to shutdown_timeout),
exit 0."""
import signal
import subprocess
import threading
import time

from harness import SLOW, can_connect, get, http_conn, wait_for
from stubs import HoldServer


def start_held_request(g, backend):
    """Starts GET /hold through nodegate in a thread; returns (thread, result dict)."""
    result = {}

    def run():
        c = http_conn(g.port)
        try:
            r, body = get(c, "/hold")
            result["status"], result["body"] = r.status, body
        except Exception as e:  # noqa: BLE001 - reported by the test
            result["error"] = repr(e)
        finally:
            c.close()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    wait_for(lambda: backend.in_flight == 1, 5, "the request to reach the backend")
    return t, result


def exit_code_within(g, seconds):
    try:
        return g.proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"nodegate still running {seconds:.1f}s after the signal")


def test_sigterm_lets_in_flight_request_finish(h):
    with HoldServer("b1") as b:
        g = h.gate(h.gate_ini([(b.name, b.addr)], glob={"shutdown_timeout": "3s"}))
        t, result = start_held_request(g, b)
        t0 = time.monotonic()
        g.signal(signal.SIGTERM)
        wait_for(lambda: not can_connect(g.port, 0.2), 2, "new connections to be refused")
        assert g.alive(), "exited with a request in flight"
        b.release()
        t.join(5 * SLOW)
        assert result.get("status") == 200, result
        # Nothing left to wait for: it exits now, well inside shutdown_timeout.
        assert exit_code_within(g, 1.5 * SLOW) == 0
        assert time.monotonic() - t0 < 3


def test_sigterm_exit_bounded_by_shutdown_timeout(h):
    with HoldServer("b1") as b:
        g = h.gate(h.gate_ini([(b.name, b.addr)], glob={"shutdown_timeout": "500ms"}))
        t, result = start_held_request(g, b)
        t0 = time.monotonic()
        g.signal(signal.SIGTERM)
        code = exit_code_within(g, 0.5 + 2 * SLOW)
        took = time.monotonic() - t0
        assert code == 0
        assert took >= 0.4, f"gave up on the in-flight request after {took:.2f}s"
        b.release()
        t.join(5 * SLOW)
        assert "status" not in result or result["status"] != 200


def test_sigterm_idle_keepalive_does_not_delay_exit(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim], glob={"shutdown_timeout": "10s"})
    c = http_conn(g.port)
    r, _ = get(c, "/sim/headers")
    assert r.status == 200
    t0 = time.monotonic()
    g.signal(signal.SIGTERM)
    assert exit_code_within(g, 2 * SLOW) == 0
    assert time.monotonic() - t0 < 2 * SLOW
    c.close()


def test_sigint_stops_like_sigterm(h):
    sim = h.nodesim("n1")
    g = h.simple_gate([sim])
    c = http_conn(g.port)
    assert get(c, "/sim/headers")[0].status == 200
    c.close()
    g.signal(signal.SIGINT)
    assert exit_code_within(g, 2 * SLOW) == 0
    assert not can_connect(g.port, 0.2)


def test_sigterm_during_start_up_is_a_graceful_stop(h):
    """A stop asked for while nodegate is starting (its first log line written, or the very
    moment its port opens) waits for the loop and exits 0 like any other: it is never the
    default action's death by signal."""
    sim = h.nodesim("n1")
    ini = h.gate_ini([sim])
    stopped = 0
    for moment in ("first log line", "port open", "first log line", "port open"):
        size = h.stderr_path.stat().st_size if h.stderr_path.exists() else 0
        g = h.gate(ini, wait=False)
        if moment == "port open":
            reached = lambda: can_connect(g.port, 0.05)  # noqa: E731
        else:
            reached = lambda: h.stderr_path.stat().st_size > size  # noqa: E731
        # a nodegate that died is past the moment too: its exit code says how
        wait_for(lambda: reached() or g.proc.poll() is not None, 5, moment, interval=0.001)
        g.signal(signal.SIGTERM)
        assert exit_code_within(g, 3 * SLOW) == 0, f"SIGTERM at {moment}"
        stopped += 1
        assert g.stderr().count("nodegate stopped") == stopped, f"SIGTERM at {moment}"


def test_sigterm_closes_websocket_sessions_with_1001(h):
    """A WebSocket session is not an in-flight request that will finish: on SIGTERM it is
    closed at once with 1001 (going away), so the client reconnects to another instance,
    and nodegate exits without waiting for shutdown_timeout."""
    from stubs import RippledWsServer
    from test_ws_policy import close_code, command, ws_connect

    with RippledWsServer("w1") as node:
        g = h.gate(h.gate_ini([("w1", node.addr)], glob={"shutdown_timeout": "30s"}))
        c = ws_connect(g.port)
        assert command(c, "ping", rid=1)["status"] == "success"
        t0 = time.monotonic()
        g.proc.send_signal(signal.SIGTERM)
        assert close_code(c) == 1001
        c.send(8, b"\x03\xe9")  # the close answered
        assert exit_code_within(g, 5) == 0
        assert time.monotonic() - t0 < 5
        c.sock.close()
