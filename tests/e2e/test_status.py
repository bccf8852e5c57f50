"""The status listener end to end (issue 4, first part): [status] binds its own address;
GET /healthz tells a load balancer whether nodegate can serve, GET /api/status shows each
pool and backend as the rotation sees them, GET /metrics is Prometheus text that a real
parser (Debian's python3-prometheus-client) reads, with counters that follow the traffic."""
import json
import re
import signal
import socket
import threading
import time
from datetime import datetime

from prometheus_client.parser import text_string_to_metric_families

from harness import HOST, REPO, SLOW, Load, free_port, get, http_conn, wait_for
from test_health import (be, check_keys, log_lines, rippled_sim, set_health, wait_transition,
                         wait_up)

# Global counters written under another name, because a labelled family has theirs.

# ---------------------------------------------------------------------------------------
# helpers


def status_section(port, **more):
    kv = {"bind": f"{HOST}:{port}"}
    kv.update({k: str(v) for k, v in more.items()})
    return ("status", kv)


def fetch(port, path, method="GET"):
    """(status, headers, body) of one request on a fresh connection."""
    c = http_conn(port)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, r, r.read()
    finally:
        c.close()


def api_status(port):
    status, r, body = fetch(port, "/api/status")
    assert status == 200, (status, body)
    assert r.getheader("Content-Type") == "application/json"
    return json.loads(body)


def ops_backends(port, token):
    """GET /api/backends with the admin token: {name: backend} as ops see them."""
    c = http_conn(port)
    try:
        c.request("GET", "/api/backends", headers={"Authorization": f"Bearer {token}"})
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, body)
        return {b["backend"]: b for b in json.loads(body)["backends"]}
    finally:
        c.close()


def pool_of(doc, name="rpc"):
    return next(p for p in doc["pools"] if p["name"] == name)


def backend_of(doc, name, pool="rpc"):
    return next(b for b in pool_of(doc, pool)["backends"] if b["name"] == name)


def iso(stamp):
    """Seconds since the epoch of "2026-11-21T10:14:03.123Z"."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def scrape(port):
    """The families of /metrics by name, checked for what the format demands."""
    status, r, body = fetch(port, "/metrics")
    assert status == 200, (status, body)
    assert r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    fams = list(text_string_to_metric_families(body.decode()))
    names = [f.name for f in fams]
    assert len(names) == len(set(names)), f"a family written twice: {names}"
    return {f.name: f for f in fams}


def value(fams, family, sample, **labels):
    """The value of SAMPLE with exactly LABELS in FAMILY, or None."""
    for s in fams[family].samples:
        if s.name == sample and s.labels == labels:
            return s.value
    return None


def requests_total(fams, listener, backend, code):
    """Summed over the method label."""
    return sum(s.value for s in fams["nodegate_requests"].samples
               if s.name == "nodegate_requests_total" and
               {k: v for k, v in s.labels.items() if k != "method"} ==
               {"listener": listener, "backend": backend, "code": str(code)})


def stats_counters():
    """Every counter name of STATS_GLOBAL in include/stats.h."""
    text = (REPO / "include" / "stats.h").read_text()
    names = re.findall(r"^\s*X\((\w+),", text, re.M)
    assert len(names) > 20, names
    return names


def check_histograms(fams, family, label):
    """Cumulative buckets that never go down, +Inf equal to _count, per LABEL value; the
    counts by label value are returned."""
    series = {}
    for s in fams[family].samples:
        series.setdefault(s.labels[label], []).append(s)
    counts = {}
    for who, samples in series.items():
        buckets = sorted(((float(s.labels["le"]), s.value) for s in samples
                          if s.name == f"{family}_bucket"))
        count = next(s.value for s in samples if s.name == f"{family}_count")
        total = next(s.value for s in samples if s.name == f"{family}_sum")
        assert [le for le, _ in buckets][:2] == [0.0005, 0.001], buckets
        assert buckets[-2][0] == 10 and buckets[-1][0] == float("inf"), buckets
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
        assert buckets[-1][1] == count, (who, buckets, count)
        assert total >= 0 and (count == 0) == (total == 0), (who, total, count)
        counts[who] = count
    return counts


# ---------------------------------------------------------------------------------------
# /healthz


def test_healthz_ok_while_a_pool_serves_and_503_when_every_backend_is_dead(h):
    sims = h.nodesims("n1", "n2")
    sp = free_port()
    g = h.gate(h.gate_ini(sims, extra=[status_section(sp)]))
    status, r, body = fetch(sp, "/healthz")
    assert (status, body) == (200, b"ok\n")
    assert r.getheader("Content-Type").startswith("text/plain")
    assert fetch(sp, "/healthz", "HEAD")[:1] == (200,)
    mark = log_lines(g)
    for s in sims:
        s.kill()
    for n in ("n1", "n2"):
        wait_transition(g, n, "down", after=mark, timeout=3)
    status, _, body = fetch(sp, "/healthz")
    assert (status, body) == (503, b"no pool can serve\n")
    assert pool_of(api_status(sp))["status"] == "major_outage"
    assert g.alive()


def test_healthz_says_draining_while_nodegate_finishes_its_requests(h):
    """On SIGTERM the listeners close and /healthz turns 503 at once, so that the load
    balancer in front stops sending while in-flight requests finish."""
    sim = h.nodesim("n1")
    sp = free_port()
    g = h.gate(h.gate_ini([sim], extra=[status_section(sp)]))
    got = {}

    def slow():
        c = http_conn(g.port)
        r, body = get(c, "/sim/sleep?ms=1500")
        got["status"] = r.status
        c.close()
    base = sim.stats()["requests"]
    polls = [0]

    def arrived():  # /sim/stats counts itself: one more than the polls is the slow one
        polls[0] += 1
        return sim.stats()["requests"] >= base + polls[0] + 1
    t = threading.Thread(target=slow, daemon=True)
    t.start()
    wait_for(arrived, 1, "the slow request at the backend")
    g.signal(signal.SIGTERM)
    wait_for(lambda: "shutting down" in g.stderr(), 2, "the drain to start")
    status, _, body = fetch(sp, "/healthz")
    assert (status, body) == (503, b"draining\n")
    t.join(timeout=5 * SLOW)
    assert got.get("status") == 200
    assert g.proc.wait(timeout=5 * SLOW) == 0


# ---------------------------------------------------------------------------------------
# /api/status


def test_api_status_follows_the_rotation(h, certs):
    """min_up 2 of three rippled nodes: one turned critical is down and the pool is degraded
    (the health engine's verdict and reason are for ops: GET /api/backends with the token,
    never the public /api/status); a second makes it a partial outage served in panic; killing them
    all is a major outage. Times are UTC, close to the log's."""
    sims = [rippled_sim(h, certs, n) for n in ("n1", "n2", "n3")]
    sp = free_port()
    token = h.dir / "admin.token"
    token.write_text("status-test-token\n")
    g = h.gate(h.gate_ini([be(s) for s in sims], pool=check_keys("50ms", min_up=2),
                          extra=[status_section(sp, admin_token_file=token)]))
    wait_up(g, ["n1", "n2", "n3"])
    doc = api_status(sp)
    assert doc["title"] == "nodegate status" and doc["language"] == "en"
    assert abs(iso(doc["time"]) - time.time()) < 2
    pool = pool_of(doc)
    assert (pool["status"], pool["panic"], pool["up"], pool["min_up"]) == (
        "operational", False, 3, 2)
    assert [b["name"] for b in pool["backends"]] == ["n1", "n2", "n3"]
    for b in pool["backends"]:
        assert (b["state"], b["admin"], b["routable"]) == ("up", "none", True), b
        assert b["weight"] == 1 and "since" in b, b
        assert not set(b) & {"address", "reason", "verdict"}, b

    mark = log_lines(g)
    set_health(sims[1], "critical")
    down = wait_transition(g, "n2", "down", after=mark)
    doc = api_status(sp)
    n2 = backend_of(doc, "n2")
    assert (n2["state"], n2["routable"]) == ("down", False), n2
    assert "peers" not in json.dumps(doc), doc
    ops = ops_backends(sp, "status-test-token")
    assert (ops["n2"]["verdict"], ops["n2"]["reason"]) == ("critical", down.reason), ops
    assert "peers" in ops["n2"]["reason"], ops
    assert abs(iso(n2["since"]) - down.t) < 0.1, (n2["since"], down.t)
    assert (pool_of(doc)["status"], pool_of(doc)["up"]) == ("degraded", 2)
    assert backend_of(doc, "n1")["state"] == "up"

    set_health(sims[2], "critical")
    wait_transition(g, "n3", "down", after=mark)
    wait_for(lambda: pool_of(api_status(sp))["panic"], 2, "the pool in panic")
    pool = pool_of(api_status(sp))
    assert (pool["status"], pool["up"]) == ("partial_outage", 1), pool

    for s in sims:
        s.kill()
    wait_for(lambda: pool_of(api_status(sp))["status"] == "major_outage", 3,
             "a major outage once nothing answers")
    assert g.alive()


def test_addresses_hidden_unless_public_backend_details(h):
    """By default nothing in /api/status tells where the nodes are; with
    public_backend_details = yes (applied by a reload) each backend shows its address,
    and the title is the configured one."""
    sims = h.nodesims("n1", "n2")
    sp = free_port()
    g = h.gate(h.gate_ini(sims, extra=[status_section(sp)]))
    _, _, body = fetch(sp, "/api/status")
    for s in sims:
        assert str(s.port).encode() not in body, body
    assert all("address" not in b for b in pool_of(json.loads(body))["backends"])

    mark = log_lines(g)
    g.reload(h.gate_ini(sims, port=g.port, extra=[status_section(
        sp, public_backend_details="yes", title='XRPL "RPC" status')]))
    wait_for(lambda: "reload done" in "\n".join(g.stderr().splitlines()[mark:]), 3,
             "the reload")
    doc = api_status(sp)
    assert doc["title"] == 'XRPL "RPC" status'
    assert {b["name"]: b["address"] for b in pool_of(doc)["backends"]} == {
        s.name: s.addr for s in sims}


def test_reload_moves_closes_and_keeps_the_status_listener(h):
    """A new bind moves the listener; a bind that cannot be bound fails the reload and the
    old one keeps serving; a file without [status] closes it."""
    sim = h.nodesim("n1")
    sp, sp2 = free_port(), free_port()
    g = h.gate(h.gate_ini([sim], extra=[status_section(sp)]))

    def reload(extra, expect):
        mark = log_lines(g)
        g.reload(h.gate_ini([sim], port=g.port, extra=extra))
        wait_for(lambda: expect in "\n".join(g.stderr().splitlines()[mark:]), 3, expect)

    reload([status_section(sp2)], "reload done")
    assert fetch(sp2, "/healthz")[0] == 200
    wait_for(lambda: not can_reach(sp), 1, f"port {sp} closed")

    with socket.socket() as taken:
        taken.bind((HOST, sp))
        taken.listen()
        reload([status_section(sp)], "reload failed")
        assert re.search(rf"nodegate\.ini:\d+: \[status\] bind: cannot bind 127\.0\.0\.1:{sp}: "
                         r"Address already in use", g.stderr())
    assert fetch(sp2, "/healthz")[0] == 200

    reload([], "reload done")
    wait_for(lambda: not can_reach(sp2), 1, f"port {sp2} closed")
    assert fetch(g.port, "/sim/stats")[0] == 200  # the proxy itself carries on


def can_reach(port):
    try:
        fetch(port, "/healthz")
        return True
    except OSError:
        return False


def test_only_get_and_head(h):
    sim = h.nodesim("n1")
    sp = free_port()
    h.gate(h.gate_ini([sim], extra=[status_section(sp)]))
    for path in ("/metrics", "/healthz", "/api/status"):
        for method in ("POST", "PUT", "DELETE"):
            status, r, body = fetch(sp, path, method)
            assert status == 405, (path, method, status, body)
            assert r.getheader("Allow") == "GET, HEAD"
        status, r, body = fetch(sp, path, "HEAD")
        assert (status, body) == (200, b""), (path, status, body)
    assert fetch(sp, "/nope")[0] == 404
    assert fetch(sp, "/metrics?x=1")[0] == 200


# ---------------------------------------------------------------------------------------
# /metrics


def test_metrics_parse_and_follow_the_traffic(h):
    sims = h.nodesims("n1", "n2")
    sp = free_port()
    g = h.gate(h.gate_ini(sims, extra=[status_section(sp)]))
    before = scrape(sp)

    # every counter of STATS_GLOBAL, and the per-backend and probe families
    for name in stats_counters():
        metric = f"nodegate_{name}_total"
        fam = metric[:-len("_total")]
        assert fams_has(before, fam, "counter"), f"{metric} missing"
    for fam, typ in [("nodegate_connections", "gauge"), ("nodegate_probes", "counter"),
                     ("nodegate_probes_in_flight", "gauge"),
                     ("nodegate_probes_deferred", "counter"),
                     ("nodegate_probe_errors", "counter"),
                     ("nodegate_metrics_labels_dropped", "counter"),
                     ("nodegate_backend_up", "gauge"), ("nodegate_backend_state", "gauge"),
                     ("nodegate_backend_admin_state", "gauge"),
                     ("nodegate_backend_weight", "gauge"),
                     ("nodegate_backend_active_connections", "gauge"),
                     ("nodegate_backend_idle_connections", "gauge"),
                     ("nodegate_backend_requests", "counter"),
                     ("nodegate_backend_failures", "counter"),
                     ("nodegate_backend_transitions", "counter"),
                     ("nodegate_backend_validated_ledger_seq", "gauge"),
                     ("nodegate_pool_panic", "gauge"), ("nodegate_pool_status", "gauge"),
                     ("nodegate_requests", "counter"),
                     ("nodegate_request_duration_seconds", "histogram"),
                     ("nodegate_probe_duration_seconds", "histogram")]:
        assert fams_has(before, fam, typ), f"{fam} ({typ}) missing"
    for n in ("n1", "n2"):
        assert value(before, "nodegate_backend_up", "nodegate_backend_up", pool="rpc",
                     backend=n) == 1
        states = {s.labels["state"]: s.value for s in before["nodegate_backend_state"].samples
                  if s.labels["backend"] == n}
        assert states == {"checking": 0, "up": 1, "slow_start": 0, "down": 0, "syncing": 0}
    assert value(before, "nodegate_pool_panic", "nodegate_pool_panic", pool="rpc") == 0

    load = Load(g.port, threads=4, max_requests=100, max_seconds=10)
    wait_for(lambda: load.count() >= 100, 10, "the load's 100 requests")  # both nodes served
    load.stop()
    assert load.errors == [], load.errors[:5]
    c = http_conn(g.port)
    for _ in range(3):
        r, _ = get(c, "/sim/status?code=404")
        assert r.status == 404
    c.close()

    def moved():
        f = scrape(sp)
        want = {n: requests_total(before, "web", n, 200) + load.node_count(n)
                for n in ("n1", "n2")}
        got = {n: requests_total(f, "web", n, 200) for n in ("n1", "n2")}
        return f if got == want else None
    after = wait_for(moved, 2, "nodegate_requests_total to count the load")
    assert load.node_count("n1") > 0 and load.node_count("n2") > 0
    assert sum(requests_total(after, "web", n, 404) for n in ("n1", "n2")) == 3
    assert value(after, "nodegate_requests_received", "nodegate_requests_received_total") >= \
        load.ok + 3
    for n in ("n1", "n2"):
        assert value(after, "nodegate_backend_requests", "nodegate_backend_requests_total",
                     pool="rpc", backend=n) >= load.node_count(n)

    durations = check_histograms(after, "nodegate_request_duration_seconds", "listener")
    assert durations["web"] >= load.ok + 3
    probes = check_histograms(after, "nodegate_probe_duration_seconds", "backend")
    assert probes["n1"] > 0 and probes["n2"] > 0
    assert value(after, "nodegate_probes", "nodegate_probes_total") >= probes["n1"] + probes["n2"]
    assert value(after, "nodegate_metrics_labels_dropped",
                 "nodegate_metrics_labels_dropped_total") == 0


def fams_has(fams, name, typ):
    return name in fams and fams[name].type == typ
