"""The health engine end to end (issue 3): simulated rippled nodes serve GET /health over
TLS on a peer port with a self-signed certificate; nodegate probes them every few tens of
ms, feeds passive signals from live traffic into the same rules, and logs every rotation
transition as `backend NAME: FROM -> TO (reason)`. Observed through that log, through
which node answers each client request (X-Node), and through the simulators' counters."""
import json
import re
import signal
import time
from datetime import datetime, timezone

from harness import (HOST, SLOW, Load, free_port, http_conn, is_error_json,
                     rpc, wait_for)

# ---------------------------------------------------------------------------------------
# helpers


def rippled_sim(h, certs, name, port=0, peer_port=0, state=None, tag=None, extra=()):
    """A nodesim with a TLS peer port (GET /health, self-signed certificate), registered
    with the harness (killed at teardown). sim.peer_port and sim.peer_addr are set.
    TAG names the log file when the same node is started again (a restart)."""
    args = ["--peer", f"{HOST}:{peer_port}", "--cert", certs.cert, "--key", certs.key]
    if state:
        args += ["--state", state]
    sim = h.nodesim(name, port, args=[*args, *extra], tag=tag)
    sim.peer_addr = f"{HOST}:{sim.peer_port}"
    return sim


def restart(h, certs, sim, state=None, tag="restarted"):
    """A new nodesim on the same traffic and peer ports as SIM (which is dead)."""
    assert sim.proc.poll() is not None, "restart: the old node still runs"
    return rippled_sim(h, certs, sim.name, port=sim.port, peer_port=sim.peer_port,
                       state=state, tag=f"{sim.name}-{tag}")


def set_health(sim, state="healthy", **kw):
    """POST /sim/health {"state": STATE, ...overrides}."""
    c = http_conn(sim.port)
    try:
        body = dict(state=state, **kw)
        c.request("POST", "/sim/health", body=json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        assert r.status == 204, (r.status, data)
    finally:
        c.close()


def probes(sim):
    """Requests served on the peer port (each /health probe is one)."""
    return sim.stats()["peer_requests"]


def rpc_requests(sim):
    """JSON-RPC and other requests on the traffic port, not counting our /sim/stats."""
    return sim.stats()["requests"]


def check_keys(interval="50ms", **more):
    """Pool keys for rippled probes over TLS to a self-signed peer port."""
    kv = {"check": "rippled", "check_tls": "yes", "check_tls_verify": "no",
          "check_interval": interval, "check_interval_down": interval, "check_timeout": "1s"}
    kv.update({k: str(v) for k, v in more.items()})
    return kv


def be(sim, name=None, **more):
    """A backend triple for gate_ini: traffic to sim, probes to its peer port."""
    kv = {"check_address": sim.peer_addr}
    kv.update({k: str(v) for k, v in more.items()})
    return (name or sim.name, sim.addr, kv)


TRANSITION = re.compile(r"^(\S+) \w+ backend (\S+): (\w+) -> (\w+) \((.*)\)( \[sync grace\])?$")


def log_time(stamp):
    """Seconds since the epoch of a log line's "2026-11-21T10:14:03.123Z"."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


class Tr:
    def __init__(self, m, index):
        self.t = log_time(m.group(1))
        self.name, self.frm, self.to, self.reason = m.group(2), m.group(3), m.group(4), m.group(5)
        self.grace = bool(m.group(6))
        self.index = index  # line number in the log

    def __repr__(self):
        return f"<{self.name}: {self.frm} -> {self.to} ({self.reason})>"


def transitions(g, name=None, after=0):
    """Every `backend NAME: FROM -> TO (reason)` line, in order (from line AFTER on)."""
    out = []
    for i, line in enumerate(g.stderr().splitlines()):
        if i < after:
            continue
        m = TRANSITION.match(line)
        if m and (name is None or m.group(2) == name):
            out.append(Tr(m, i))
    return out


def log_lines(g):
    return len(g.stderr().splitlines())


def wait_transition(g, name, to, frm=None, after=0, timeout=3):
    """The first transition of NAME to TO (from FRM) at or after log line AFTER."""
    def found():
        for tr in transitions(g, name, after):
            if tr.to == to and (frm is None or tr.frm == frm):
                return tr
        return None
    return wait_for(found, timeout,
                    f"`backend {name}: {frm or '*'} -> {to}` in the log", interval=0.005)


def wait_up(g, names, timeout=3):
    """Every backend in NAMES has reached `up` (whatever the way there)."""
    return {n: wait_transition(g, n, "up", timeout=timeout) for n in names}


def wait_requests(load, n, timeout=10):
    mark = load.count()
    load.wait_more(mark, n, timeout, f"{n} more requests")
    assert load.count() >= mark + n, "the load stopped early"


def no_errors(load):
    assert load.errors == [], f"{len(load.errors)} client errors, first: {load.errors[:5]}"


# ---------------------------------------------------------------------------------------
# tests


def test_warning_node_leaves_rotation_within_the_rule_without_client_errors(h, certs):
    """warning_fall 3 (default) at check_interval 50ms: the node is out after its third
    warning probe (not sooner, not much later); no client request fails meanwhile, and
    afterwards only the other nodes get traffic."""
    sims = [rippled_sim(h, certs, n) for n in ("n1", "n2", "n3")]
    g = h.gate(h.gate_ini([be(s) for s in sims], pool=check_keys("50ms")))
    wait_up(g, ["n1", "n2", "n3"])
    load = Load(g.port, threads=4, max_requests=20000, max_seconds=15)
    try:
        wait_for(lambda: load.node_count("n2") >= 20 and load.count() >= 100, 5,
                 "traffic to every node")
        mark = log_lines(g)
        t_wall = time.time()
        t0 = time.monotonic()
        set_health(sims[1], "warning")
        down = wait_transition(g, "n2", "down", after=mark, timeout=3)
        seen_after = time.monotonic() - t0
        # In-flight requests picked before the transition may still land on n2.
        wait_requests(load, 100)
        n2_before = load.node_count("n2")
        others = {n: load.node_count(n) for n in ("n1", "n3")}
        wait_requests(load, 600)
        n2_after = load.node_count("n2")
        others_after = {n: load.node_count(n) for n in ("n1", "n3")}
    finally:
        load.stop()
    no_errors(load)
    assert down.frm == "up", down
    # Three probes 50ms apart: the third comes at least ~100ms after the change.
    assert down.t - t_wall >= 0.08, f"ejected {down.t - t_wall:.3f}s after one warning: {down}"
    assert seen_after <= 1.0 * SLOW, f"ejected only after {seen_after:.3f}s"
    assert len([t for t in transitions(g, "n2", mark) if t.to == "down"]) == 1
    assert n2_after == n2_before, f"n2 still got {n2_after - n2_before} requests when down"
    for n in ("n1", "n3"):
        assert others_after[n] > others[n], f"{n} got nothing after n2 left"
    assert g.alive()


def _one_bad_probe(sim, state, timeout=3):
    """Turns SIM to STATE for exactly the next probe of its peer port, then healthy again.
    Returns how many probes saw the bad state (1, or 2 if one raced the switch back)."""
    p0 = probes(sim)
    set_health(sim, state)
    try:
        wait_for(lambda: probes(sim) > p0, timeout, "a probe of the bad state", interval=0.003)
    finally:
        set_health(sim, "healthy")
    return probes(sim) - p0


def test_one_probe_blip_changes_nothing(h, certs):
    """One warning probe, later one critical probe (check_interval 200ms, so that the
    state is switched back well before the next probe): no transition, no client error,
    and the node keeps getting traffic."""
    sims = [rippled_sim(h, certs, n) for n in ("n1", "n2", "n3")]
    g = h.gate(h.gate_ini([be(s) for s in sims], pool=check_keys("200ms")))
    wait_up(g, ["n1", "n2", "n3"])
    mark = log_lines(g)
    load = Load(g.port, threads=4, max_requests=20000, max_seconds=15)
    try:
        wait_for(lambda: load.node_count("n2") >= 20, 5, "traffic to n2")
        bad = _one_bad_probe(sims[1], "warning")
        assert bad <= 2, f"{bad} probes saw the warning"
        p = probes(sims[1])
        wait_for(lambda: probes(sims[1]) >= p + 3, 3, "3 healthy probes")
        bad = _one_bad_probe(sims[1], "critical")
        assert bad <= 2, f"{bad} probes saw the critical"
        p = probes(sims[1])
        wait_for(lambda: probes(sims[1]) >= p + 3, 3, "3 healthy probes")
        n2 = load.node_count("n2")
        wait_requests(load, 300)
    finally:
        load.stop()
    no_errors(load)
    assert transitions(g, None, mark) == [], "a blip moved a node"
    assert load.node_count("n2") > n2, "n2 got no traffic after the blips"
    assert g.alive()


def test_killed_node_leaves_rotation_on_first_failed_request_before_next_probe(h, certs):
    """n2 is probed only every 3s: once its first probe made it up, it is killed at once.
    The next client request to it fails to connect (retried: the client sees nothing)
    and that passive signal takes it out long before its next probe could."""
    sims = [rippled_sim(h, certs, n) for n in ("n1", "n2", "n3")]
    n2 = sims[1]
    backends = [be(sims[0]), be(n2, check_interval="3s", rise=1), be(sims[2])]
    g = h.gate(h.gate_ini(backends, pool=check_keys("50ms")))
    wait_up(g, ["n1", "n3"])
    up = wait_transition(g, "n2", "up", timeout=5)
    t_up = time.monotonic()
    assert probes(n2) == 1, "n2 was probed more than once in 3s"
    load = Load(g.port, threads=4, max_requests=20000, max_seconds=15)
    try:
        wait_for(lambda: load.node_count("n2") >= 5, 2, "traffic to n2")
        mark = log_lines(g)
        n2.kill(signal.SIGKILL)
        t_kill = time.monotonic()
        down = wait_transition(g, "n2", "down", after=mark, timeout=2)
        t_down = time.monotonic()
        wait_requests(load, 300)
    finally:
        load.stop()
    no_errors(load)
    assert down.frm == "up", down
    assert t_down - t_kill <= 0.5 * SLOW, f"passive ejection took {t_down - t_kill:.3f}s"
    # The next probe of n2 was due 3s after the one that made it up.
    assert t_down < t_up + 2.5, "out only around the next probe: not a passive signal"
    print(f"passive: {down} {t_down - t_kill:.3f}s after the kill; up at {up}")
    assert g.alive()


def test_restarted_node_syncs_then_slow_starts_then_up(h, certs):
    """Killed, then back on the same ports in warning (as a syncing rippled): the node is
    `syncing` (no traffic) until healthy, then readmitted after rise 2 probes and
    readmit_after 100ms via `slow_start` (300ms), then `up`."""
    n1 = rippled_sim(h, certs, "n1")
    n2 = rippled_sim(h, certs, "n2", port=free_port(), peer_port=free_port())
    pool = check_keys("50ms", sync_grace="5s", rise=2, readmit_after="100ms",
                      slow_start="300ms")
    g = h.gate(h.gate_ini([be(n1), be(n2)], pool=pool))
    wait_up(g, ["n1", "n2"])
    load = Load(g.port, threads=2, max_requests=20000, max_seconds=15)
    try:
        wait_for(lambda: load.node_count("n2") >= 10, 5, "traffic to n2")
        mark = log_lines(g)
        n2.kill(signal.SIGKILL)
        wait_transition(g, "n2", "down", after=mark, timeout=2)
        n2_out = load.node_count("n2")
        n2b = restart(h, certs, n2, state="warning")
        syncing = wait_transition(g, "n2", "syncing", after=mark, timeout=3)
        assert syncing.frm == "down", syncing
        # Warning inside the grace: it stays syncing, with no traffic.
        p = probes(n2b)
        wait_for(lambda: probes(n2b) >= p + 6, 3, "6 more probes while warning")
        assert [t.to for t in transitions(g, "n2", syncing.index + 1)] == [], \
            "n2 moved while still warning inside its grace"
        assert load.node_count("n2") == n2_out, "a syncing node got traffic"
        set_health(n2b, "healthy")
        slow = wait_transition(g, "n2", "slow_start", after=syncing.index + 1, timeout=3)
        up = wait_transition(g, "n2", "up", after=slow.index + 1, timeout=3)
        n2_at_up = load.node_count("n2")
        wait_requests(load, 300)
    finally:
        load.stop()
    no_errors(load)
    assert slow.frm == "syncing", slow
    assert up.frm == "slow_start", up
    seq = [t.to for t in transitions(g, "n2", mark)]
    assert seq == ["down", "syncing", "slow_start", "up"], seq
    assert 0.25 <= up.t - slow.t <= 1.5 * SLOW, f"slow start lasted {up.t - slow.t:.3f}s"
    assert load.node_count("n2") > n2_at_up, "n2 got no traffic once up"
    assert g.alive()


def test_private_peer_with_expect_peers_3_stays_in_rotation(h, certs):
    """One node with 3 peers (rippled: /health 503, peers 3) is a backend of two pools:
    the pool with `expect_peers = 3` keeps it (and ejects it at 2 peers), the pool with
    rippled's thresholds ejects it."""
    priv, a, b = (rippled_sim(h, certs, n) for n in ("priv", "a", "b"))
    port2 = free_port()
    extra = [("listener privweb", {"bind": f"{HOST}:{port2}", "mode": "http", "pool": "priv"}),
             ("pool priv", dict(balance="roundrobin", retries="2", connect_timeout="1s",
                                response_timeout="10s", expect_peers="3",
                                **check_keys("50ms")))]
    for sim, name in ((priv, "pp_priv"), (b, "pp_b")):
        extra.append((f"backend {name}", {"pool": "priv", "address": sim.addr,
                                          "check_address": sim.peer_addr}))
    ini = h.gate_ini([be(priv, "rp_priv"), be(a, "rp_a")], pool=check_keys("50ms"),
                     extra=extra)
    g = h.gate(ini)
    wait_up(g, ["rp_priv", "rp_a", "pp_priv", "pp_b"])
    mark = log_lines(g)
    set_health(priv, "healthy", peers=3)
    down = wait_transition(g, "rp_priv", "down", after=mark, timeout=3)
    assert down.frm == "up", down
    # Both pools probe priv: 10 more probes is 5 or so each, well past warning_fall 3.
    p = probes(priv)
    wait_for(lambda: probes(priv) >= p + 10, 3, "10 more probes of priv")
    assert transitions(g, "pp_priv", mark) == [], "expect_peers = 3 did not keep pp_priv"
    c1, c2 = http_conn(g.port), http_conn(port2)
    try:
        via_rpc = [rpc(c1, "server_info")[1].getheader("X-Node") for _ in range(10)]
        via_priv = [rpc(c2, "server_info")[1].getheader("X-Node") for _ in range(10)]
    finally:
        c1.close()
        c2.close()
    assert set(via_rpc) == {"a"}, via_rpc
    assert set(via_priv) == {"priv", "b"}, via_priv
    # Below the expected peers it warns.
    mark = log_lines(g)
    set_health(priv, "healthy", peers=2)
    down = wait_transition(g, "pp_priv", "down", after=mark, timeout=3)
    assert down.frm == "up", down
    assert g.alive()


def test_no_network_replies_eject_node_and_reads_are_retried(h, certs):
    """n2's /health stays healthy but every JSON-RPC call answers rippled's noNetwork
    error with HTTP 200: those passive warnings take it out, and each server_info that
    got such an answer is retried on another node (the client sees success)."""
    sims = [rippled_sim(h, certs, n) for n in ("n1", "n2", "n3")]
    n2 = sims[1]
    g = h.gate(h.gate_ini([be(s) for s in sims], pool=check_keys("200ms")))
    wait_up(g, ["n1", "n2", "n3"])
    load = Load(g.port, threads=4, max_requests=20000, max_seconds=15)
    try:
        wait_for(lambda: load.node_count("n2") >= 20, 5, "traffic to n2")
        mark = log_lines(g)
        set_health(n2, "healthy", rpc_error="noNetwork")
        down = wait_transition(g, "n2", "down", after=mark, timeout=3)
        # Requests picked before the transition may still be on their way.
        wait_requests(load, 100)
        n2_out = rpc_requests(n2)
        wait_requests(load, 300)
        n2_later = rpc_requests(n2) - 1  # minus that /sim/stats
    finally:
        load.stop()
    # Its /health stayed healthy: only the noNetwork replies (at least warning_fall of
    # them) can have taken n2 out, and every one was retried, as no client saw an error.
    no_errors(load)
    assert down.frm == "up", down
    assert "noNetwork" in down.reason, f"the reason does not name the token: {down}"
    assert n2_later == n2_out, f"n2 still got {n2_later - n2_out} requests once out"
    c = http_conn(g.port)
    try:
        for _ in range(10):
            status, r, doc = rpc(c, "server_info")
            assert status == 200 and doc["result"]["status"] == "success", doc
            assert r.getheader("X-Node") in ("n1", "n3")
    finally:
        c.close()
    assert g.alive()


def test_every_node_down_gives_json_rpc_503_with_retry_after(h, certs):
    sims = [rippled_sim(h, certs, n) for n in ("n1", "n2", "n3")]
    g = h.gate(h.gate_ini([be(s) for s in sims], pool=check_keys("50ms")))
    wait_up(g, ["n1", "n2", "n3"])
    mark = log_lines(g)
    for s in sims:
        s.kill(signal.SIGKILL)
    for n in ("n1", "n2", "n3"):
        wait_transition(g, n, "down", after=mark, timeout=3)
    wait_for(lambda: re.search(r"pool rpc: panic: ", g.stderr()), 2, "`pool rpc: panic:` logged")
    c = http_conn(g.port)
    try:
        for _ in range(3):
            t0 = time.monotonic()
            c.request("POST", "/", body=json.dumps({"method": "server_info", "params": [{}]}),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            body = r.read()
            took = time.monotonic() - t0
            assert r.status == 503, (r.status, body)
            ra = r.getheader("Retry-After")
            assert ra is not None and re.fullmatch(r"\d+", ra.strip()), f"Retry-After {ra!r}"
            assert (r.getheader("Content-Type") or "").startswith("application/json")
            doc = json.loads(body)
            assert is_error_json(body) or doc.get("result", {}).get("status") == "error", body
            assert took < 0.5 * SLOW, f"503 took {took:.3f}s"
    finally:
        c.close()
    assert g.alive()


def test_sync_grace_that_expires_is_logged(h, certs):
    """sync_grace 300ms; the node comes back but stays warning: `sync grace expired`
    is logged once, about 300ms after it entered syncing, and it gets no traffic."""
    n1 = rippled_sim(h, certs, "n1")
    n2 = rippled_sim(h, certs, "n2", port=free_port(), peer_port=free_port())
    g = h.gate(h.gate_ini([be(n1), be(n2)], pool=check_keys("50ms", sync_grace="300ms")))
    wait_up(g, ["n1", "n2"])
    mark = log_lines(g)
    n2.kill(signal.SIGKILL)
    wait_transition(g, "n2", "down", after=mark, timeout=2)
    n2b = restart(h, certs, n2, state="warning")
    syncing = wait_transition(g, "n2", "syncing", after=mark, timeout=3)
    pat = re.compile(r"^(\S+) \w+ backend n2: sync grace expired")

    def expired():
        return [(i, m) for i, line in enumerate(g.stderr().splitlines())
                if i > syncing.index and (m := pat.match(line))]
    hits = wait_for(expired, 3, "`backend n2: sync grace expired` in the log")
    lasted = log_time(hits[0][1].group(1)) - syncing.t
    assert 0.25 <= lasted <= 1.5 * SLOW, f"grace lasted {lasted:.3f}s"
    p = probes(n2b)
    wait_for(lambda: probes(n2b) >= p + 6, 3, "more probes")
    assert len(expired()) == 1, "grace expiry logged more than once"
    c = http_conn(g.port)
    try:
        nodes = {rpc(c, "server_info")[1].getheader("X-Node") for _ in range(10)}
    finally:
        c.close()
    assert nodes == {"n1"}, nodes
    assert g.alive()


def test_reload_adds_backend_in_checking_and_keeps_existing_states(h, certs):
    """n2 is down (warning); a SIGHUP reload adds n3 and changes an unrelated pool key:
    n3 starts in `checking` and becomes `up`; n1 and n2 keep their states (no transition
    logged for them, n2 still gets no traffic)."""
    n1, n2, n3 = (rippled_sim(h, certs, n) for n in ("n1", "n2", "n3"))
    port = free_port()
    g = h.gate(h.gate_ini([be(n1), be(n2)], port=port, pool=check_keys("50ms")))
    wait_up(g, ["n1", "n2"])
    mark = log_lines(g)
    set_health(n2, "warning")
    wait_transition(g, "n2", "down", after=mark, timeout=3)
    load = Load(g.port, threads=2, max_requests=20000, max_seconds=15)
    try:
        wait_requests(load, 100)
        n2_before = load.node_count("n2")
        mark = log_lines(g)
        g.reload(h.gate_ini([be(n1), be(n2), be(n3)], port=port,
                            pool=dict(check_keys("50ms"), response_timeout="11s")))
        wait_for(lambda: "reload done" in "\n".join(g.stderr().splitlines()[mark:]), 5,
                 "reload done")
        n3_up = wait_transition(g, "n3", "up", after=mark, timeout=3)
        wait_for(lambda: load.node_count("n3") > 0, 3, "traffic to n3")
        p = probes(n2)
        wait_for(lambda: probes(n2) >= p + 6, 3, "more probes of n2")
        wait_requests(load, 200)
    finally:
        load.stop()
    no_errors(load)
    first = transitions(g, "n3", mark)[0]
    assert first.frm == "checking", f"n3's first transition: {first}"
    assert n3_up.to == "up"
    for n in ("n1", "n2"):
        assert transitions(g, n, mark) == [], f"{n} moved across the reload"
    assert load.node_count("n2") == n2_before, "the down node got traffic after the reload"
    assert g.alive()


def test_stale_ledger_behind_a_healthy_health_answer_leaves_rotation(h, certs):
    """rippled#5267: /health keeps answering 200 while the validated ledger stops. The
    freshness probe (server_info) sees the sequence fall behind the pool's best."""
    fast = ["--ledger-interval", "100ms"]
    n1, n2, n3 = (rippled_sim(h, certs, n, extra=fast) for n in ("n1", "n2", "n3"))
    keys = check_keys(freshness_interval="50ms", max_ledger_lag=2, max_ledger_age="1h")
    g = h.gate(h.gate_ini([be(n1), be(n2), be(n3)], pool=keys))
    wait_up(g, ["n1", "n2", "n3"])
    mark = log_lines(g)
    set_health(n2, "healthy", frozen=True)
    tr = wait_transition(g, "n2", "down", after=mark, timeout=5)
    assert "behind" in tr.reason or "lag" in tr.reason, tr
    # its /health still says healthy: only freshness saw it
    c = http_conn(n2.port)
    c.request("GET", "/sim/health")
    r = c.getresponse()
    assert json.loads(r.read())["state"] == "healthy"
    c.close()
    assert not transitions(g, "n1", mark) and not transitions(g, "n3", mark)


def test_node_on_another_network_is_critical(h, certs):
    """A node whose network_id differs from the pool's majority is out (a testnet node
    slipped into a mainnet pool)."""
    n1 = rippled_sim(h, certs, "n1")
    n2 = rippled_sim(h, certs, "n2")
    n3 = rippled_sim(h, certs, "n3", extra=["--network-id", "1"])
    g = h.gate(h.gate_ini([be(n1), be(n2), be(n3)], pool=check_keys(freshness_interval="50ms")))
    tr = wait_transition(g, "n3", "down", timeout=5)
    assert "network_id 1 differs from the pool's 0" in tr.reason, tr
    assert not [t for t in transitions(g, "n1") if t.to == "down"]
    assert not [t for t in transitions(g, "n2") if t.to == "down"]
