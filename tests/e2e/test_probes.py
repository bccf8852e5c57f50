"""Probe connections (issue 12): a probe keeps its connection for the next probe when the
node leaves it open, resumes the node's TLS session when the node closes it (rippled's
`Connection: close`), and still finds a node that dies or hangs with a kept connection.
With check_tls_max_version = auto (the default), a node that closes after each answer is
probed over TLS 1.2 once it has answered (a resumed TLS 1.2 handshake makes no key
exchange), a node without TLS 1.2 over TLS 1.3, and the certificate is still verified on
every full handshake. Observed through nodesim's /sim/stats counters (TLS connections
accepted, requests, requests on a resumed session, requests over TLS 1.2), nodegate's
/metrics and its transition log."""
import signal
import time

import pytest

from harness import HOST, SLOW, free_port, metric_value, wait_for
from test_health import (be, check_keys, log_lines, probes, rippled_sim, transitions,
                         wait_transition, wait_up)


def peer_stats(sim):
    s = sim.stats()
    return s["peer_connections"], s["peer_requests"], s["peer_resumed"]


def tls12(sim):
    return sim.stats()["peer_tls12"]


def status(sp):
    return [("status", {"bind": f"{HOST}:{sp}"})]


def handshakes(sp, version, session):
    return metric_value(sp, "nodegate_probe_tls_handshakes_total", version=version,
                        session=session)


def connection_per_probe_resumed(h, certs, sim_args, full=1, **pool):
    """10 probes of a node started with SIM_ARGS: as many TLS connections as probes, and
    every probe after the first FULL ones on a resumed session. Returns the node."""
    n1 = rippled_sim(h, certs, "n1", extra=sim_args)
    g = h.gate(h.gate_ini([be(n1)], pool=check_keys("20ms", **pool)))
    wait_up(g, ["n1"])
    wait_for(lambda: probes(n1) >= 10, 5 * SLOW, "10 probes")
    conns, reqs, resumed = peer_stats(n1)
    assert conns >= reqs >= 10, (conns, reqs)
    assert resumed >= reqs - full, f"only {resumed} of {reqs} probes resumed their TLS session"
    assert g.alive()
    return n1


def test_probe_connection_is_reused_when_the_node_keeps_it_open(h, certs):
    """A node whose peer port allows keep-alive: 20 probes over TLS on one connection."""
    n1 = rippled_sim(h, certs, "n1", extra=["--peer-keepalive"])
    g = h.gate(h.gate_ini([be(n1)], pool=check_keys("20ms")))
    wait_up(g, ["n1"])
    wait_for(lambda: probes(n1) >= 20, 5 * SLOW, "20 probes")
    conns, reqs, _ = peer_stats(n1)
    assert reqs >= 20
    assert conns == 1, f"{conns} connections for {reqs} probes"
    assert tls12(n1) == 0, "a kept connection needs no cheaper handshake: it stays on TLS 1.3"
    assert g.alive()


def test_keepalive_no_opens_a_connection_per_probe(h, certs):
    """check_keepalive = no: one connection per probe, even where the node would keep it;
    the TLS session is still resumed (after a full TLS 1.3, then a full TLS 1.2 handshake)."""
    n1 = connection_per_probe_resumed(h, certs, ["--peer-keepalive"], full=2,
                                      check_keepalive="no")
    _, reqs, _ = peer_stats(n1)
    assert tls12(n1) >= reqs - 1


def test_rippled_closing_node_gets_resumed_tls12_sessions(h, certs):
    """rippled answers /health with `Connection: close`: a connection per probe. The first
    probe is a full TLS 1.3 handshake; the node closed, so the next is a full TLS 1.2 one
    and every later probe resumes that TLS 1.2 session; /metrics counts them."""
    sp = free_port()
    n1 = rippled_sim(h, certs, "n1")
    g = h.gate(h.gate_ini([be(n1)], pool=check_keys("20ms"), extra=status(sp)))
    wait_up(g, ["n1"])
    wait_for(lambda: probes(n1) >= 10, 5 * SLOW, "10 probes")
    conns, reqs, resumed = peer_stats(n1)
    assert conns >= reqs >= 10, (conns, reqs)
    assert resumed >= reqs - 2, f"only {resumed} of {reqs} probes resumed their TLS session"
    assert tls12(n1) >= reqs - 1, f"{tls12(n1)} of {reqs} probes over TLS 1.2"
    assert handshakes(sp, "1.3", "full") == 1
    assert handshakes(sp, "1.3", "resumed") == 0
    assert handshakes(sp, "1.2", "full") == 1
    assert handshakes(sp, "1.2", "resumed") >= reqs - 2
    assert metric_value(sp, "nodegate_probe_tls12_fallbacks_total") == 0
    assert g.alive()


def test_tls_max_version_13_resumes_tls13(h, certs):
    """check_tls_max_version = 1.3: TLS 1.3 throughout, each probe after the first resumed."""
    n1 = connection_per_probe_resumed(h, certs, [], check_tls_max_version="1.3")
    assert tls12(n1) == 0


def test_tls_max_version_12_from_the_first_probe(h, certs):
    """check_tls_max_version = 1.2: TLS 1.2 from the first probe, then resumed."""
    n1 = connection_per_probe_resumed(h, certs, [], check_tls_max_version="1.2")
    _, reqs, _ = peer_stats(n1)
    assert tls12(n1) == reqs


def test_auto_stays_on_tls13_for_a_node_without_tls12(h, certs):
    """A node that refuses TLS 1.2: the TLS 1.2 attempt fails once, the same probe goes on
    over TLS 1.3 at once (no failure seen), and every later probe stays on TLS 1.3."""
    sp = free_port()
    n1 = rippled_sim(h, certs, "n1", extra=["--peer-tls13"])
    g = h.gate(h.gate_ini([be(n1)], pool=check_keys("20ms"), extra=status(sp)))
    wait_up(g, ["n1"])
    wait_for(lambda: probes(n1) >= 10, 5 * SLOW, "10 probes")
    conns, reqs, resumed = peer_stats(n1)
    assert tls12(n1) == 0
    assert resumed >= reqs - 1
    assert metric_value(sp, "nodegate_probe_tls12_fallbacks_total") == 1
    assert handshakes(sp, "1.2", "full") + handshakes(sp, "1.2", "resumed") == 0
    assert [t.to for t in transitions(g, "n1")] == ["up"], "a probe failed on the fallback"
    assert g.alive()


def test_tls12_probe_verifies_the_certificate(h, certs):
    """check_tls_verify = yes with the CA trusted (SSL_CERT_FILE): the node comes up and is
    probed over resumed TLS 1.2. Restarted with a certificate nodegate does not trust, its
    next probe is a full TLS 1.2 handshake (the new process knows no session), which fails
    on the certificate, without a TLS 1.3 retry: the node goes down."""
    sp = free_port()
    n1 = rippled_sim(h, certs, "n1")
    g = h.gate(h.gate_ini([be(n1, check_tls_verify="yes")], pool=check_keys("50ms"),
                          glob={"log_level": "debug"}, extra=status(sp)),
               env={"SSL_CERT_FILE": certs.cert})
    wait_up(g, ["n1"])
    wait_for(lambda: handshakes(sp, "1.2", "resumed") >= 3, 5 * SLOW, "resumed TLS 1.2")
    mark = log_lines(g)
    n1.kill(signal.SIGKILL)
    n1.proc.wait(5)
    n1b = h.nodesim("n1", n1.port, tag="n1-other-cert",
                    args=["--peer", f"{HOST}:{n1.peer_port}", "--cert", certs.other_cert,
                          "--key", certs.other_key])
    wait_for(lambda: any("certificate verify failed" in line
                         for line in g.stderr().splitlines()[mark:] if "n1" in line),
             3 * SLOW, "n1's probe refused on the certificate")
    wait_transition(g, "n1", "down", after=mark, timeout=2 * SLOW)
    time.sleep(0.3)
    assert [t.to for t in transitions(g, "n1")][-1] == "down", "n1 came back"
    assert n1b.stats()["peer_requests"] == 0, "a request went out over an unverified connection"
    assert metric_value(sp, "nodegate_probe_tls12_fallbacks_total") == 0
    assert g.alive()


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


@pytest.mark.parametrize("version", ["auto", "1.2"])
def test_tls_verify_yes_refuses_a_self_signed_peer(h, certs, version):
    """check_tls_verify = yes (the default) against rippled's self-signed certificate: the
    probe's handshake fails on the certificate, the node never comes up (TLS 1.3 first with
    auto, TLS 1.2 from the start with 1.2)."""
    n1 = rippled_sim(h, certs, "n1")
    n2 = rippled_sim(h, certs, "n2")
    g = h.gate(h.gate_ini([be(n1, check_tls_verify="yes", check_tls_max_version=version),
                           be(n2)], pool=check_keys("50ms")))
    wait_up(g, ["n2"])
    wait_for(lambda: probes(n1) >= 0 and any(
        "certificate verify failed" in line for line in g.stderr().splitlines()
        if "n1" in line), 3 * SLOW, "n1's probe refused on the certificate")
    time.sleep(0.3)
    assert [t.to for t in transitions(g, "n1") if t.to == "up"] == [], "n1 came up"
    assert probes(n1) == 0, "a request went out over an unverified connection"
    assert g.alive()
