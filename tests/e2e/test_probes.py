"""Probe connections (issue 12): a probe keeps its connection for the next probe when the
node leaves it open, resumes the node's TLS session when the node closes it (rippled's
`Connection: close`), and still finds a node that dies or hangs with a kept connection.
Observed through nodesim's /sim/stats counters (TLS connections accepted, requests,
requests on a resumed session) and nodegate's transition log."""
import signal
import time

from harness import SLOW, wait_for
from test_health import (be, check_keys, log_lines, probes, rippled_sim, transitions,
                         wait_transition, wait_up)


def peer_stats(sim):
    s = sim.stats()
    return s["peer_connections"], s["peer_requests"], s["peer_resumed"]


def connection_per_probe_resumed(h, certs, sim_args, **pool):
    """10 probes of a node started with SIM_ARGS: as many TLS connections as probes, and
    every probe after the first on a resumed session."""
    n1 = rippled_sim(h, certs, "n1", extra=sim_args)
    g = h.gate(h.gate_ini([be(n1)], pool=check_keys("20ms", **pool)))
    wait_up(g, ["n1"])
    wait_for(lambda: probes(n1) >= 10, 5 * SLOW, "10 probes")
    conns, reqs, resumed = peer_stats(n1)
    assert conns >= reqs >= 10, (conns, reqs)
    assert resumed >= reqs - 1, f"only {resumed} of {reqs} probes resumed their TLS session"
    assert g.alive()


def test_probe_connection_is_reused_when_the_node_keeps_it_open(h, certs):
    """A node whose peer port allows keep-alive: 20 probes over TLS on one connection."""
    n1 = rippled_sim(h, certs, "n1", extra=["--peer-keepalive"])
    g = h.gate(h.gate_ini([be(n1)], pool=check_keys("20ms")))
    wait_up(g, ["n1"])
    wait_for(lambda: probes(n1) >= 20, 5 * SLOW, "20 probes")
    conns, reqs, _ = peer_stats(n1)
    assert reqs >= 20
    assert conns == 1, f"{conns} connections for {reqs} probes"
    assert g.alive()


def test_keepalive_no_opens_a_connection_per_probe(h, certs):
    """check_keepalive = no: one connection per probe, even where the node would keep it;
    the TLS session is still resumed."""
    connection_per_probe_resumed(h, certs, ["--peer-keepalive"], check_keepalive="no")


def test_rippled_closing_node_gets_resumed_tls_sessions(h, certs):
    """rippled answers /health with `Connection: close`: a connection per probe, and every
    probe after the first resumes the TLS session (no full handshake)."""
    connection_per_probe_resumed(h, certs, [])


def test_killed_node_with_a_kept_connection_is_judged_down(h, certs):
    """SIGKILL closes the kept connection; the next probe's fresh connect is refused and
    the node is out at once (no traffic: only probes can see it)."""
    n1 = rippled_sim(h, certs, "n1", extra=["--peer-keepalive"])
    n2 = rippled_sim(h, certs, "n2")
    g = h.gate(h.gate_ini([be(n1), be(n2)], pool=check_keys("50ms")))
    wait_up(g, ["n1", "n2"])
    wait_for(lambda: probes(n1) >= 5, 5 * SLOW, "5 probes")
    assert peer_stats(n1)[0] == 1, "the probe connection was not kept"
    mark = log_lines(g)
    n1.kill(signal.SIGKILL)
    t_kill = time.monotonic()
    down = wait_transition(g, "n1", "down", after=mark, timeout=2 * SLOW)
    elapsed = time.monotonic() - t_kill
    assert down.reason.startswith("refused"), down
    assert elapsed <= 0.5 * SLOW, f"down {elapsed:.3f}s after the kill"
    assert g.alive()


def test_frozen_node_with_a_kept_connection_is_judged_down(h, certs):
    """SIGSTOP: the kept connection stays open but the node answers nothing. Each probe
    times out (check_timeout 300ms) as a fresh one would, and two criticals within 5s
    (critical_burst) take it out: within 2 x (timeout + interval) and some slack."""
    n1 = rippled_sim(h, certs, "n1", extra=["--peer-keepalive"])
    n2 = rippled_sim(h, certs, "n2")
    g = h.gate(h.gate_ini([be(n1), be(n2)], pool=check_keys("50ms", check_timeout="300ms")))
    wait_up(g, ["n1", "n2"])
    wait_for(lambda: probes(n1) >= 5, 5 * SLOW, "5 probes")
    assert peer_stats(n1)[0] == 1, "the probe connection was not kept"
    mark = log_lines(g)
    n1.proc.send_signal(signal.SIGSTOP)
    t_stop = time.monotonic()
    try:
        down = wait_transition(g, "n1", "down", after=mark, timeout=3 * SLOW)
        elapsed = time.monotonic() - t_stop
    finally:
        n1.proc.send_signal(signal.SIGCONT)
    assert "timeout after 300ms" in down.reason, down
    assert elapsed <= 1.2 * SLOW, f"down {elapsed:.3f}s after the freeze"
    # Back: the timed-out connection was closed, a new one is made, the node returns.
    back = wait_transition(g, "n1", "syncing", after=down.index + 1, timeout=3 * SLOW)
    assert back.frm == "down", back
    assert peer_stats(n1)[0] >= 2, "no new connection after the timeout"
    assert g.alive()


def test_tls_verify_yes_refuses_a_self_signed_peer(h, certs):
    """check_tls_verify = yes (the default) against rippled's self-signed certificate: the
    probe's handshake fails on the certificate, the node never comes up."""
    n1 = rippled_sim(h, certs, "n1")
    n2 = rippled_sim(h, certs, "n2")
    g = h.gate(h.gate_ini([be(n1, check_tls_verify="yes"), be(n2)], pool=check_keys("50ms")))
    wait_up(g, ["n2"])
    wait_for(lambda: probes(n1) >= 0 and any(
        "certificate verify failed" in line for line in g.stderr().splitlines()
        if "n1" in line), 3 * SLOW, "n1's probe refused on the certificate")
    time.sleep(0.3)
    assert [t.to for t in transitions(g, "n1") if t.to == "up"] == [], "n1 came up"
    assert probes(n1) == 0, "a request went out over an unverified connection"
    assert g.alive()
