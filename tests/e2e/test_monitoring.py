"""Monitoring (issue 15): the Prometheus alerting rules (etc/prometheus/nodegate.rules.yml)
pass `promtool check rules` and their unit tests (`promtool test rules`), and every query of
the Grafana dashboard (etc/grafana/nodegate.json) returns data from a real Prometheus
(Debian's) scraping a test nodegate on loopback; the rules load and evaluate there too."""
import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

from harness import HOST, REPO, SLOW, free_port, get, http_conn, rpc, wait_for

RULES = REPO / "etc/prometheus/nodegate.rules.yml"
RULES_TEST = REPO / "etc/prometheus/nodegate.rules.test.yml"
DASHBOARD = REPO / "etc/grafana/nodegate.json"
# what Grafana puts in place of its variables: every instance (the variable's allValue),
# and $__rate_interval for a 250ms scrape (Grafana: at least 4 scrape intervals)
GRAFANA_VARS = {"$instance": ".*", "$__rate_interval": "2s"}

needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="Debian's prometheus package is not installed (make deps installs it)")


@needs_prometheus
def test_rules_pass_promtool_check_and_unit_tests():
    p = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0 and "SUCCESS: 14 rules found" in p.stdout, p.stdout + p.stderr
    p = subprocess.run(["promtool", "test", "rules", str(RULES_TEST)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr


def prom_get(port, path, **params):
    url = f"http://{HOST}:{port}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def dashboard_queries():
    """Every PromQL expression of the dashboard, as (panel title, expr), Grafana's variables
    replaced; and the variables' label_values(METRIC, LABEL) queries."""
    d = json.loads(DASHBOARD.read_text())
    exprs = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            e = t["expr"]
            for k, v in GRAFANA_VARS.items():
                e = e.replace(k, v)
            assert "$" not in e, f"unknown variable in {p['title']}: {t['expr']}"
            exprs.append((p["title"], e))
    labels = []
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            metric, label = q[len("label_values("):-1].split(", ")
            labels.append((metric, label))
    return exprs, labels


class Traffic:
    """A bounded stream of requests: good ones, ones answered 503 (a pool with no node) and
    ones the method policy refuses (403)."""

    def __init__(self, web, dead, max_seconds=20):
        self.stop_event = threading.Event()
        self.counts = {}
        self.deadline = time.monotonic() + max_seconds * SLOW
        self.t = threading.Thread(target=self._run, args=(web, dead), daemon=True)
        self.t.start()

    def _run(self, web, dead):
        n = 0
        while not self.stop_event.is_set() and time.monotonic() < self.deadline and n < 20000:
            n += 1
            for port, method in ((web, "server_info"), (web, "server_info"), (dead, "ledger"),
                                 (web, "stop")):
                c = http_conn(port)
                try:
                    status, _, _ = rpc(c, method)
                    self.counts[status] = self.counts.get(status, 0) + 1
                finally:
                    c.close()
            time.sleep(0.01)

    def stop(self):
        self.stop_event.set()
        self.t.join(15)


@needs_prometheus
def test_dashboard_queries_return_data_from_real_prometheus(h):
    sims = h.nodesims("n1", "n2")
    status_port, dead_port, prom_port = free_port(), free_port(), free_port()
    ini = h.gate_ini(sims, extra=[
        ("listener dead", {"bind": f"{HOST}:{dead_port}", "mode": "http", "pool": "dead"}),
        ("pool dead", {"check_interval": "100ms", "connect_timeout": "200ms"}),
        ("backend gone", {"pool": "dead", "address": f"{HOST}:{free_port()}"}),
        ("status", {"bind": f"{HOST}:{status_port}"}),
        # a channel whose receiver is gone: nodegate_alerts_total{channel="ops"} exists
        ("alert ops", {"type": "webhook", "url": f"http://{HOST}:{free_port()}/hook",
                       "retries": "0", "timeout": "200ms"}),
    ])
    g = h.gate(ini)
    prom_dir = h.dir / "prometheus"
    prom_dir.mkdir()
    (prom_dir / "prometheus.yml").write_text(json.dumps({
        "global": {"scrape_interval": "250ms", "scrape_timeout": "200ms",
                   "evaluation_interval": "250ms"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "nodegate",
                            "static_configs": [{"targets": [f"{HOST}:{status_port}"]}]}],
    }))
    log = open(h.dir / "prometheus.log", "wb")
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={prom_dir / 'prometheus.yml'}",
         f"--storage.tsdb.path={prom_dir / 'data'}", f"--web.listen-address={HOST}:{prom_port}",
         "--log.level=warn"], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    traffic = None
    try:
        def ready():
            assert prom.poll() is None, f"prometheus exited {prom.returncode}"
            try:
                with urllib.request.urlopen(f"http://{HOST}:{prom_port}/-/ready", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for(ready, 15 * SLOW, "prometheus to be ready", interval=0.1)
        traffic = Traffic(g.port, dead_port)
        # a few scrapes with traffic in them
        wait_for(lambda: prom_get(prom_port, "/api/v1/query",
                                  query='count_over_time(up{job="nodegate"}[10s])')
                 ["data"]["result"] and float(prom_get(
                     prom_port, "/api/v1/query", query='count_over_time(up{job="nodegate"}[10s])')
                     ["data"]["result"][0]["value"][1]) >= 8,
                 10 * SLOW, "8 scrapes of nodegate", interval=0.2)
        exprs, labels = dashboard_queries()
        assert len(exprs) >= 25
        empty = []
        for title, expr in exprs:
            def has_data(expr=expr):
                doc = prom_get(prom_port, "/api/v1/query", query=expr)
                assert doc["status"] == "success", (expr, doc)
                return bool(doc["data"]["result"])
            try:
                wait_for(has_data, 3 * SLOW, f"data for {title}", interval=0.2)
            except AssertionError:
                empty.append(f"{title}: {expr}")
        assert empty == [], "queries without data:\n" + "\n".join(empty)
        for metric, label in labels:
            doc = prom_get(prom_port, f"/api/v1/label/{label}/values", **{"match[]": metric})
            assert doc["data"] == [f"{HOST}:{status_port}"], doc
        # the rules load and evaluate in Prometheus itself; the pool with no node is caught
        rules = prom_get(prom_port, "/api/v1/rules")["data"]["groups"]
        [group] = [gr for gr in rules if gr["name"] == "nodegate"]
        assert len(group["rules"]) == 14
        assert all(r["health"] in ("ok", "unknown") for r in group["rules"]), group["rules"]

        def no_backend_alert():
            alerts = prom_get(prom_port, "/api/v1/alerts")["data"]["alerts"]
            return [a for a in alerts if a["labels"]["alertname"] == "NodegateNoBackendInRotation"
                    and a["labels"].get("pool") == "dead"]
        wait_for(no_backend_alert, 5 * SLOW, "NodegateNoBackendInRotation (pending) for pool dead")
        assert not [a for a in prom_get(prom_port, "/api/v1/alerts")["data"]["alerts"]
                    if a["labels"].get("pool") == "rpc"]
        c = http_conn(status_port)
        r, _ = get(c, "/healthz")  # one pool serves: the instance is healthy
        c.close()
        assert r.status == 200
    finally:
        if traffic is not None:
            traffic.stop()
        prom.terminate()
        try:
            prom.wait(timeout=10)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait(timeout=5)
        log.close()
    assert traffic.counts.get(200, 0) > 0 and traffic.counts.get(503, 0) > 0, traffic.counts
    assert traffic.counts.get(403, 0) > 0, traffic.counts
