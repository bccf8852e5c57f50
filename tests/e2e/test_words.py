"""Status communication users trust (issue 14: plain words, maintenance, more to look at),
end to end: the public page and API speak plain words from templates ops may change, in
English or Japanese, never the health engine's; a scheduled maintenance takes its backends
out at its start, mutes their alerts (a webhook receiver on loopback hears nothing of them),
gives them back at its end and is not downtime; an overdue next update reminds ops; each
pool has a badge and a response-time chart; a notice file shows on the page."""
import json
import math
import sqlite3
import subprocess
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest

from harness import SLOW, STORE, free_port, http_conn, nodegate_run, rpc, wait_for
from test_admin import TOKEN, admin_gate, call, restart
from test_admin import incidents as public_incidents
from test_alerts import Receiver, alert_gate, events, quiet, webhook
from test_health import be, check_keys, log_lines, rippled_sim, set_health, wait_transition
from test_page import browse, check_page, nodes, page, pool_html, read  # noqa: F401 (fixture)
from test_status import api_status, backend_of, fetch, pool_of, status_section

MAINT_EVENTS = ("incident_open,incident_update,incident_resolved,backend_down,backend_up,"
                "maintenance_scheduled,maintenance_started,maintenance_ended")


def iso_at(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def token_status(h, **more):
    path = h.dir / "admin.token"
    path.write_text(TOKEN + "\n")
    return {"admin_token_file": path, **more}


def ops_incidents(sp):
    status, _, doc = call(sp, "GET", "/api/incidents")
    assert status == 200, doc
    return doc["incidents"]


# ---------------------------------------------------------------------------------------
# maintenance that does something


def test_maintenance_drains_mutes_readmits_and_is_not_downtime(h, certs):
    """A maintenance of n1 and n2 in a window of two seconds: announced at once; at its
    start both go to maint (out of rotation) and the pool's trouble opens no incident; n2
    turning critical inside the window alerts nobody; at its end both are ready again and
    back in rotation; the uptime bar shows no downtime; the public reads plain words."""
    rec = Receiver()
    g, sp, sims = alert_gate(h, certs, [webhook("ops", rec.url, on=MAINT_EVENTS)],
                             status=token_status(h))
    start = math.ceil(time.time()) + 1
    status, _, doc = call(sp, "POST", "/api/incidents", {
        "title": "rippled upgrade on n1 and n2", "pool": "rpc", "backends": ["n1", "n2"],
        "message": "n1 and n2 restart on rippled 2.3; the service stays up on n3",
        "planned_start": iso_at(start), "planned_end": iso_at(start + 2)})
    assert status == 201, doc
    mid = doc["id"]
    wait_for(lambda: "maintenance_scheduled" in events(rec), 3, "the announcement")

    # its start: both out of rotation, by the admin API's own path
    mark = log_lines(g)
    wait_for(lambda: f"incident {mid}: maintenance started: n1, n2 in maint" in g.stderr(),
             5, "the window to start")
    doc = api_status(sp)
    for n in ("n1", "n2"):
        assert (backend_of(doc, n)["admin"], backend_of(doc, n)["routable"]) == (
            "maint", False), doc
    assert backend_of(doc, "n3")["routable"]
    assert "backend n1: admin none -> maint (maintenance (incident" in g.stderr()

    # trouble of a maintained node is nobody's alarm
    set_health(sims["n2"], "critical")
    wait_transition(g, "n2", "down", after=mark)
    set_health(sims["n2"], "healthy")
    wait_transition(g, "n2", "up", after=mark)

    # its end: both ready, back in rotation
    wait_for(lambda: f"incident {mid}: maintenance ended: n1, n2 ready" in g.stderr(), 5,
             "the window to end")
    wait_for(lambda: all(backend_of(api_status(sp), n)["routable"] for n in ("n1", "n2")), 3,
             "n1 and n2 back in rotation")
    assert backend_of(api_status(sp), "n1")["admin"] == "none"
    wait_for(lambda: {"maintenance_ended", "incident_resolved"} <= set(events(rec)), 3,
             "the end told to ops")
    quiet([rec], 0.3)
    got = events(rec)
    assert got.count("maintenance_started") == 1 and got.count("maintenance_ended") == 1, got
    # what ops hear is about the maintenance itself (its opening, phases, end), never about
    # its backends, and no other incident
    assert not {"backend_down", "backend_up"} & set(got), got
    assert all(b["incident"] == mid for b in rec.bodies()), rec.bodies()

    # one incident only, the maintenance, ended; the public reads it in plain words
    [inc] = public_incidents(sp, public=True)
    assert (inc["id"], inc["open"], inc["maintenance"]) == (mid, False, "ended"), inc
    texts = [e["text"] for e in inc["entries"]]
    assert texts[0].startswith("n1 and n2 restart"), texts
    assert "Maintenance in progress: some nodes are out of service" in texts, texts
    assert texts[-1] == "Maintenance completed", texts
    assert not any("maint" in t and "->" in t for t in texts), texts
    [ops] = ops_incidents(sp)
    assert any(e["text"].startswith("maintenance started: n1, n2") for e in ops["entries"])

    # the window was planned work: not downtime
    assert pool_of(api_status(sp))["uptime_90d"] == 100, pool_of(api_status(sp))
    body = page(sp)[1]
    _, card = pool_html(body)
    assert '<span class="up" title="' in card and ">100 % uptime</span>" in card, card[-600:]
    assert f'id="inc-{mid}"' in body


def test_overdue_next_update_reminds_ops(h, certs):
    """Ops promised the next update in a second and did not post it: the log says so and
    the alert channels (update_overdue is on by default) get one reminder."""
    rec = Receiver()
    g, sp, _ = alert_gate(h, certs, [webhook("ops", rec.url)], status=token_status(h))
    status, _, doc = call(sp, "POST", "/api/incidents", {
        "title": "Slow answers", "pool": "rpc", "severity": "degraded"})
    assert status == 201, doc
    due = math.ceil(time.time()) + 1
    status, _, upd = call(sp, "POST", f"/api/incidents/{doc['id']}/updates", {
        "status": "investigating", "message": "looking at the load",
        "next_update": iso_at(due)})
    assert status == 201, upd
    wait_for(lambda: "update_overdue" in events(rec), 5, "the reminder")
    assert time.time() >= due
    [body] = [b for b in rec.bodies() if b["event"] == "update_overdue"]
    assert body["incident"] == doc["id"] and "overdue" in json.dumps(body), body
    assert f"incident {doc['id']}: the next update promised by {iso_at(due)[:-1]}" \
        in g.stderr()
    quiet([rec], 0.5)  # once per promise
    assert events(rec).count("update_overdue") == 1


# ---------------------------------------------------------------------------------------
# plain words, a badge, a chart, a notice


@pytest.mark.skipif(STORE != "sqlite", reason="reads the SQLite file itself")
def test_public_words_badge_chart_and_notice(h, certs):
    """Ops' own template for a degraded pool and a notice file with markup: the page and
    /api/status say the template's words and never the engine's; the notice renders as
    text with its small Markdown; /badge/rpc.svg is a well-formed SVG with the status and
    uptime and no address, an unknown pool 404; with traffic, the response-time chart is
    drawn from buckets kept in the store, and it is still there after a restart."""
    notice = h.dir / "notice.md"
    notice.write_text("# FAQ\nIs my data safe? **Yes.** <script>alert(1)</script>\n\n"
                      "- status: [our mirror](https://status.example.org/)\n")
    sims = {n: rippled_sim(h, certs, n) for n in ("n1", "n2", "n3")}
    sp = free_port()
    ini = h.gate_ini([be(s) for s in sims.values()], pool=check_keys("50ms"),
                     glob={"state_dir": h.dir / "state"},
                     extra=[status_section(sp, **token_status(
                         h, notice_file=notice, chart_bucket="200ms",
                         text_degraded="{pool}: a node is resting, {serving} of {total} "
                                       "serve"))])
    g = h.gate(ini)
    mark = log_lines(g)
    set_health(sims["n2"], "critical")
    down = wait_transition(g, "n2", "down", after=mark)
    wait_for(lambda: api_status(sp)["incidents"], 3, "the incident")
    doc = api_status(sp)
    assert doc["incidents"][0]["title"] == "rpc: a node is resting, 2 of 3 serve", doc
    body = page(sp)[1]
    text = read(body).text
    assert "rpc: a node is resting, 2 of 3 serve" in text
    assert down.reason not in text and down.reason not in json.dumps(doc)
    assert "peers" not in text and "->" not in text, text
    assert ('<section id="notice" class="card notice"><h2>Notice</h2><h3>FAQ</h3><p>Is my '
            'data safe? <strong>Yes.</strong> &lt;script&gt;alert(1)&lt;/script&gt;</p><ul>'
            '<li>status: <a rel="nofollow noopener" href="https://status.example.org/">our '
            'mirror</a></li></ul></section>') in body, body[:3000]

    # the badge
    status, r, svg = fetch(sp, "/badge/rpc.svg")
    assert status == 200 and r.getheader("Content-Type") == "image/svg+xml; charset=utf-8"
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
    label = "".join(root.itertext())
    assert "rpc" in label and "Degraded performance" in label and "uptime" in label, label
    assert b"127.0.0.1" not in svg
    assert fetch(sp, "/badge/nope.svg")[0] == 404
    assert fetch(sp, "/badge/rpc.png")[0] == 404

    # the chart: answers measured, bucketed, stored
    c = http_conn(g.port)
    for _ in range(30):
        assert rpc(c, "server_info")[0] == 200
    c.close()
    wait_for(lambda: '<figure class="chart" data-span="day"><figcaption>last 24 hours: '
             '<span class="p50">p50' in page(sp)[1], 3, "the day's chart")
    body = page(sp)[1]
    svg_day = body[body.index('data-span="day"'):].split("</figure>")[0]
    assert '<polyline class="p99"' in svg_day and '<polyline class="p50"' in svg_day
    assert '<figure class="chart" data-span="90d"><figcaption>last 90 days: <span' in body
    def stored():
        """The pool's buckets in the store (written by its writer thread, a moment later)."""
        db = sqlite3.connect(f"file:{h.dir / 'state' / 'nodegate.db'}?mode=ro", uri=True)
        try:
            return db.execute("SELECT span, n FROM latency WHERE pool = 'rpc'").fetchall()
        finally:
            db.close()
    rows = wait_for(lambda: (lambda r: r if sum(n for span, n in r if span == 86400000) >= 30
                             else None)(stored()), 3, "the buckets in the store")
    assert any(span == 200 for span, _ in rows), rows

    set_health(sims["n2"], "healthy")
    g = restart(h, g)
    body = page(sp)[1]
    assert '<figure class="chart" data-span="90d"><figcaption>last 90 days: <span' in body


def test_template_and_notice_errors_name_file_and_line(h):
    """nodegate -t: a template with an unknown placeholder and a notice with an unsafe link
    are refused, each error naming the file and line (the notice's own line too)."""
    notice = h.dir / "notice.md"
    notice.write_text("fine\nsee [this](javascript:alert(1))\n")
    sims = h.nodesims("n1")
    ini = h.gate_ini(sims, extra=[status_section(free_port(), notice_file=notice,
                                                 text_restored="back at {when}",
                                                 language="fr")])
    path = h.dir / "bad.ini"
    path.write_text(ini)
    lines = ini.splitlines()
    at = {k: 1 + next(i for i, l in enumerate(lines) if l.startswith(k))
          for k in ("notice_file", "text_restored", "language")}
    code, out = nodegate_run("-t", "-c", str(path))
    assert code != 0, out
    assert (f"{path}:{at['text_restored']}: [status] text_restored: unknown placeholder "
            '"{when}" (expected {pool}, {serving} or {total})') in out, out
    assert f'{path}:{at["language"]}: [status] language: bad value "fr" (expected en or ja)' \
        in out, out
    assert f"{path}:{at['notice_file']}: [status] notice_file: " in out, out
    assert ('notice.md:2: link target "javascript:alert(1" (expected http:// or https:// URL)'
            in out), out


# ---------------------------------------------------------------------------------------
# the Japanese page, in Chromium


def test_japanese_page_renders_the_same_content(h, certs, check_page):
    """language = ja: Chromium shows the same pools, nodes, bar, incident and timeline as
    the English page of the same state, every word in Japanese, with no error, nothing
    fetched from elsewhere, nothing wider than a phone."""
    sims = {n: rippled_sim(h, certs, n) for n in ("n1", "n2", "n3")}
    sp = free_port()
    st = token_status(h)
    ini = h.gate_ini([be(s) for s in sims.values()], pool=check_keys("50ms", min_up=2),
                     extra=[status_section(sp, **st)])
    g = h.gate(ini)
    mark = log_lines(g)
    set_health(sims["n2"], "critical")
    wait_transition(g, "n2", "down", after=mark)
    wait_for(lambda: 'id="incidents"' in page(sp)[1], 3, "the incident on the page")
    en = page(sp)[1]
    en_status, en_card = pool_html(en)

    mark = log_lines(g)
    g.reload(ini.replace("[status]\n", "[status]\nlanguage = ja\n", 1))
    wait_for(lambda: "reload done" in "\n".join(g.stderr().splitlines()[mark:]), 3,
             "the reload")
    ja = page(sp)[1]
    assert '<html lang="ja">' in ja
    ja_status, ja_card = pool_html(ja)
    assert ja_status == en_status == "degraded"
    assert {n: s for n, (s, _) in nodes(ja_card).items()} == \
        {n: s for n, (s, _) in nodes(en_card).items()}

    looks = browse(check_page, sp, h.dir)
    base = f"http://127.0.0.1:{sp}/"
    for name, look in looks.items():
        assert look["httpStatus"] == 200 and look["problems"] == [], (name, look["problems"])
        assert all(u == base for u in look["requests"]), (name, look["requests"])
        seen = look["seen"]
        assert seen["title"] == "nodegate status: パフォーマンス低下", seen["title"]
        assert (seen["status"], seen["banner"]) == ("degraded", "パフォーマンス低下")
        [pool] = seen["pools"]
        assert (pool["name"], pool["status"]) == ("rpc", "degraded"), pool
        assert pool["badge"].endswith("パフォーマンス低下"), pool
        assert [(n["name"], n["state"], n["word"]) for n in pool["nodes"]] == [
            ("n1", "up", "正常稼働"), ("n2", "down", "停止"), ("n3", "up", "正常稼働")]
        assert pool["days"] == 90 and pool["uptime"].startswith("稼働率"), pool
        [inc] = seen["incidents"]
        assert inc["title"] == "一部のリクエストが遅くなる可能性があります（3 台中 2 台が稼働中）"
        assert inc["entries"] >= 1 and "運用担当からの報告はまだありません" in inc["latest"]
        assert all(("前" in t or "たった今" in t or "後" in t) for t in seen["relTimes"]), \
            seen["relTimes"]
        assert "Operational" not in seen["body"] and "Degraded" not in seen["body"]
        if name == "phone":
            assert not seen["overflowX"]


def test_maintenance_closes_its_websockets_1001_and_gives_the_node_back(h):
    """A maintenance of w1: at its start w1's WebSocket session is closed with 1001 after
    the pool's ws_drain_grace (as a drain does) and new sessions land on w2; at its end w1
    takes sessions again."""
    from stubs import RippledWsServer
    from test_ws_policy import command, goes_away_then_elsewhere, one_session_each, ws_connect

    with RippledWsServer("w1") as n1, RippledWsServer("w2") as n2:
        sp = free_port()
        g = admin_gate(h, [("w1", n1.addr), ("w2", n2.addr)], sp,
                       pool={"ws_drain_grace": "200ms", "ws_failover": "close"},
                       listener={"profile": "rippled"})
        sessions = one_session_each(g.port, ["w1", "w2"])
        start = math.ceil(time.time()) + 1
        status, _, doc = call(sp, "POST", "/api/incidents", {
            "title": "w1 upgrade", "pool": "rpc", "backends": ["w1"],
            "planned_start": iso_at(start), "planned_end": iso_at(start + 1)})
        assert status == 201, doc
        wait_for(lambda: "maintenance started: w1 in maint" in g.stderr(), 5, "the start")
        # 1001 (the grace itself is timed in test_ws_policy.py), then sessions land on w2
        goes_away_then_elsewhere(g, sessions, "w1", "w2", time.monotonic() - 0.2)
        wait_for(lambda: "maintenance ended: w1 ready" in g.stderr(), 5, "the end")

        def lands_on_w1():
            c = ws_connect(g.port)
            try:
                return command(c, "ping", rid=9)["result"]["node"] == "w1"
            finally:
                c.sock.close()
        wait_for(lambda: any(lands_on_w1() for _ in range(4)), 3, "a session on w1 again")
