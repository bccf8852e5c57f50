"""A fleet of nodegates on one PostgreSQL store ([store] url = postgresql://...): admin
changes made on one reach the others at once (LISTEN/NOTIFY), one instance sends the
alerts (the sender lock), and when it is killed another takes over and finishes the job.
One real PostgreSQL server for the module (pgserver.py: initdb as nobody, a unix socket
in a temporary folder), a database per test."""
import os
import re
import signal
import time
import urllib.parse

import pytest

import pgserver
from harness import Harness, free_port, http_conn, rpc, wait_for
from test_admin import TOKEN, call, entry_texts, incidents
from test_alerts import Receiver, events, quiet, receivers, webhook  # noqa: F401 (a fixture)
from test_health import be, check_keys, log_lines, rippled_sim, set_health, wait_transition
from test_status import api_status, fetch, status_section

pytestmark = pytest.mark.skipif(not pgserver.available(), reason="no PostgreSQL binaries")


@pytest.fixture(scope="module")
def pg():
    server = pgserver.PgServer()
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def fleet(h, pg):
    """fleet(name, sims, alerts=()): one more nodegate of the fleet, in h.dir/NAME with its
    own log and status port; all of them on this test's database. Returns (gate, port)."""
    url = pg.create_db("f_" + h.dir.name)
    made = []

    def start(name, sims, alerts=(), backends=None, joined=True):
        """BACKENDS: gate_ini's triples instead of one per sim (an address of this one);
        JOINED: wait until it is connected to the fleet."""
        d = h.dir / name
        d.mkdir(exist_ok=True)
        hx = Harness(d)
        made.append(hx)
        token = d / "admin.token"
        token.write_text(TOKEN + "\n")
        sp = free_port()
        keys = check_keys("50ms", rise=2, readmit_after="100ms", slow_start="0")
        ini = hx.gate_ini(backends or [be(s) for s in sims], pool=keys,
                          glob={"state_dir": d / "state", "instance": name},
                          extra=[status_section(sp, admin_token_file=token), *alerts,
                                 ("store", {"url": url})])
        g = hx.gate(ini)
        if joined:
            wait_for(lambda: f"fleet: {name}: connected to " in g.stderr(), 5,
                     f"{name} to join the fleet")
        return g, sp
    start.url = url
    yield start
    problems = []
    for hx in made:
        problems += hx.teardown()
    if problems:
        pytest.fail("; ".join(problems))


def backend(sp, name):
    status, _, doc = call(sp, "GET", "/api/backends")
    assert status == 200, doc
    [b] = [b for b in doc["backends"] if b["backend"] == name]
    return b


def joined(*sps):
    """Every instance counts the others live (their verdicts are in its view)."""
    wait_for(lambda: all(metric(sp, "nodegate_fleet_peers") == len(sps) - 1 for sp in sps), 3,
             "the instances to see each other")


def sender_of(gates):
    return [g for g in gates if "is the sender now" in g.stderr()]


def test_an_admin_change_on_one_instance_reaches_the_others(h, certs, fleet):
    sims = [rippled_sim(h, certs, n, port=free_port(), peer_port=free_port())
            for n in ("n1", "n2")]
    a, spa = fleet("fra-1", sims)
    b, spb = fleet("ams-1", sims)
    c, spc = fleet("nyc-1", sims)

    # a drain on fra-1 is honoured by ams-1 and nyc-1 within a second
    status, _, doc = call(spa, "POST", "/api/backends/n1/drain")
    assert status == 200, doc
    for sp in (spb, spc):
        wait_for(lambda sp=sp: backend(sp, "n1")["admin"] == "drain", 1, "the drain elsewhere")
    assert "set on instance fra-1" in b.stderr()

    # a weight set on ams-1 reaches the others; ready on nyc-1 gives n1 back everywhere
    status, _, doc = call(spb, "POST", "/api/backends/n2/weight", {"weight": 7})
    assert status == 200, doc
    for sp in (spa, spc):
        wait_for(lambda sp=sp: backend(sp, "n2")["weight_override"] == 7, 1, "the weight")
    status, _, doc = call(spc, "POST", "/api/backends/n1/ready")
    assert status == 200, doc
    for sp in (spa, spb):
        wait_for(lambda sp=sp: backend(sp, "n1")["admin"] == "none", 1, "ready elsewhere")

    # one sender in the fleet; /metrics says who and what was applied
    assert len(sender_of([a, b, c])) == 1
    text = fetch(spb, "/metrics")[2].decode()
    assert "nodegate_fleet_session_up 1" in text
    assert "nodegate_fleet_admin_applied_total 2" in text, text


def pair_with_a_sender(h, certs, fleet, receivers):
    """Three rippled nodes, a webhook receiver, fra-1 and ams-1 alerting it, joined, one of
    them the sender: (hook, sims, (a, status a), (b, status b), the sender)."""
    hook = receivers()
    sims = {n: rippled_sim(h, certs, n, port=free_port(), peer_port=free_port())
            for n in ("n1", "n2", "n3")}
    alerts = [webhook("ops", hook.url + "/ops")]
    a, spa = fleet("fra-1", sims.values(), alerts)
    b, spb = fleet("ams-1", sims.values(), alerts)
    wait_for(lambda: len(sender_of([a, b])) == 1, 3, "a sender")
    joined(spa, spb)
    [first] = sender_of([a, b])
    return hook, sims, (a, spa), (b, spb), first


def test_one_outage_one_message_and_a_killed_sender_is_replaced(h, certs, fleet, receivers):
    hook, sims, (a, spa), (b, spb), first = pair_with_a_sender(h, certs, fleet, receivers)
    other = b if first is a else a

    # one outage seen by both: one message
    marks = {g: log_lines(g) for g in (a, b)}
    set_health(sims["n2"], "critical")
    for g in (a, b):
        wait_transition(g, "n2", "down", after=marks[g])
    wait_for(lambda: len(hook.got) >= 1, 5, "the open alert")
    quiet([hook], 0.5)
    assert events(hook) == ["incident_open"]

    # the sender dies (kill -9) mid-incident: the other takes the lock within seconds...
    first.signal(signal.SIGKILL)
    first.proc.wait(timeout=5)
    wait_for(lambda: "is the sender now" in other.stderr(), 5, "the takeover")
    # ...and tells of the resolution, once
    mark = log_lines(other)
    set_health(sims["n2"], "healthy")
    wait_transition(other, "n2", "up", after=mark)
    wait_for(lambda: len(hook.got) >= 2, 5, "the resolve alert")
    quiet([hook], 0.5)
    assert events(hook) == ["incident_open", "incident_resolved"]
    assert other.alive()
    assert os.path.exists(h.dir)


def metric(sp, name):
    for line in fetch(sp, "/metrics")[2].decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_the_database_stopped_mid_incident_loses_nothing(h, certs, fleet, pg, receivers):
    hook = receivers()
    sims = {n: rippled_sim(h, certs, n, port=free_port(), peer_port=free_port())
            for n in ("n1", "n2", "n3")}
    a, sp = fleet("fra-1", sims.values(), [webhook("ops", hook.url + "/ops")])
    db = fleet.url.split("?")[0].rsplit("/", 1)[1]
    assert metric(sp, "nodegate_store_up") == 1
    mark = log_lines(a)
    set_health(sims["n2"], "critical")
    wait_transition(a, "n2", "down", after=mark)
    [inc] = incidents(sp)
    wait_for(lambda: pg.psql(f"SELECT count(*) FROM incidents WHERE id = {inc['id']}", db) ==
             [["1"]], 3, "the incident in the database")

    # the database goes away mid-incident: routing goes on, the log and /metrics say so
    pg.stop()
    try:
        mark = log_lines(a)
        set_health(sims["n2"], "healthy")
        wait_transition(a, "n2", "up", after=mark)
        wait_for(lambda: metric(sp, "nodegate_store_up") == 0, 5, "store_up 0")
        assert "is unreachable: writes are kept" in a.stderr()
        assert "the database is unreachable: routing goes on" in a.stderr()
        c = http_conn(a.port)
        for _ in range(10):
            status, _, doc = rpc(c, "server_info")
            assert status == 200 and doc["result"]["status"] == "success", doc
        c.close()
        assert metric(sp, "nodegate_store_queue") > 0
        # the sender that lost its session goes on sending: the resolution is told
        wait_for(lambda: events(hook) == ["incident_open", "incident_resolved"], 5,
                 "the resolve alert")
    finally:
        pg.start()

    # back: what was kept is written, nothing lost
    wait_for(lambda: metric(sp, "nodegate_store_up") == 1, 5, "store_up 1")
    wait_for(lambda: "is back: the writes kept meanwhile are written" in a.stderr(), 3, "the log")
    [inc] = incidents(sp)
    assert inc["resolved"]
    rows = pg.psql(f"SELECT resolved FROM incidents WHERE id = {inc['id']}", db)
    assert rows and int(rows[0][0]) > 0, rows
    n_entries = pg.psql(f"SELECT count(*) FROM entries WHERE incident_id = {inc['id']}", db)
    assert int(n_entries[0][0]) == len(entry_texts(inc)), (n_entries, entry_texts(inc))
    # (the heartbeat's verdicts pass through the queue too: it empties, it is not always 0)
    wait_for(lambda: metric(sp, "nodegate_store_queue") == 0, 2, "the queue written")
    quiet([hook], 0.3)
    assert events(hook) == ["incident_open", "incident_resolved"]


def test_a_message_a_killed_sender_left_pending_is_sent_once(h, certs, fleet, pg, receivers):
    """The sender records each message in the outbox before it sends it: killed while the
    message waits for its retry, it leaves it pending, and the next sender sends it."""
    hook = receivers(Receiver, (500, 200))  # the first try fails: a retry is due in 3s
    sims = {n: rippled_sim(h, certs, n, port=free_port(), peer_port=free_port())
            for n in ("n1", "n2", "n3")}
    alerts = [webhook("ops", hook.url + "/ops", retry_backoff="3s", retries=3)]
    a, spa = fleet("fra-1", sims.values(), alerts)
    b, spb = fleet("ams-1", sims.values(), alerts)
    wait_for(lambda: len(sender_of([a, b])) == 1, 3, "a sender")
    joined(spa, spb)
    [first] = sender_of([a, b])
    other, sp_other = (b, spb) if first is a else (a, spa)

    mark = log_lines(first)
    set_health(sims["n2"], "critical")
    wait_transition(first, "n2", "down", after=mark)
    wait_for(lambda: len(hook.got) == 1, 5, "the first try (answered 500)")
    first.signal(signal.SIGKILL)
    first.proc.wait(timeout=5)

    wait_for(lambda: len(hook.bodies()) == 1, 5, "the pending message, sent by the next sender")
    assert "a message the last sender left pending" in other.stderr()
    quiet([hook], 0.5)
    assert events(hook) == ["incident_open"]
    assert metric(sp_other, "nodegate_fleet_replayed_total") == 1
    db = fleet.url.split("?")[0].rsplit("/", 1)[1]
    wait_for(lambda: pg.psql("SELECT state FROM outbox", db) == [["sent"]], 3,
             "the outbox row confirmed")


def pool_status(sp):
    [p] = api_status(sp)["pools"]
    return p["status"], p["up"]


def public_incidents(sp):
    return [(i["id"], i["title"], i["resolved"] is not None,
             [e["text"] for e in i["entries"]]) for i in incidents(sp, public=True)]


def node_states(sp):
    """The page's node rows: {name: data-state}."""
    page = fetch(sp, "/")[2].decode()
    return dict((n, s) for s, n in re.findall(
        r'<li class="node [^"]*" data-state="(\w+)">.*?<span class="n">([^<]+)</span>', page))


def test_one_outage_seen_by_two_instances_is_one_incident(h, certs, fleet, pg, receivers):
    hook, sims, (a, spa), (b, spb), first = pair_with_a_sender(h, certs, fleet, receivers)
    other, sp_other = (b, spb) if first is a else (a, spa)
    db = fleet.url.split("?")[0].rsplit("/", 1)[1]

    marks = {g: log_lines(g) for g in (a, b)}
    set_health(sims["n2"], "critical")
    for g in (a, b):
        wait_transition(g, "n2", "down", after=marks[g])
    # one incident, the same on both pages, with what each instance saw
    wait_for(lambda: len(incidents(spa)) == 1 and len(incidents(spb)) == 1, 3, "the incident")
    wait_for(lambda: public_incidents(spa) == public_incidents(spb), 2, "one story")
    [inc] = incidents(spa)
    assert pg.psql("SELECT count(*) FROM incidents", db) == [["1"]]
    wait_for(lambda: pool_status(spa) == pool_status(spb) == ("degraded", 2), 1, "one view")
    try:
        wait_for(lambda: all(any(t.startswith(f"[{n}] backend n2: up -> down") for t in
                                 entry_texts(incidents(sp)[0])) for sp in (spa, spb)
                             for n in ("fra-1", "ams-1")), 3, "both instances' lines on both")
    except AssertionError:
        raise AssertionError([entry_texts(incidents(sp)[0]) for sp in (spa, spb)])
    quiet([hook], 0.5)
    assert events(hook) == ["incident_open"]

    # an update posted on the instance that does not send shows on the other's page
    status, _, doc = call(sp_other, "POST", f"/api/incidents/{inc['id']}/updates",
                          {"status": "identified", "message": "a bad peer list on n2"})
    assert status == 201, doc
    wait_for(lambda: any("a bad peer list on n2" in t
                         for t in public_incidents(spa if sp_other == spb else spb)[0][3]),
             1, "the update on the other page")
    # an acknowledgement on one, a note on the other: both on both (the ops view)
    sp_first = spa if sp_other == spb else spb
    status, _, doc = call(sp_other, "POST", f"/api/incidents/{inc['id']}/ack", {"by": "kim"})
    assert status == 200, doc
    status, _, doc = call(sp_first, "POST", f"/api/incidents/{inc['id']}/notes",
                          {"text": "peers file rolled back", "by": "lee"})
    assert status in (200, 201), doc

    def ops_view(sp):
        [i] = [i for i in incidents(sp) if i["id"] == inc["id"]]
        return (i["acknowledged"] or {}).get("by"), "lee: peers file rolled back" in entry_texts(i)
    wait_for(lambda: ops_view(spa) == ops_view(spb) == ("kim", True), 1, "the ack and the note")
    status, _, doc = call(sp_first, "POST", f"/api/incidents/{inc['id']}/ack", {"by": "lee"})
    assert status == 409, doc  # acknowledged already, on the other instance

    # manual incidents opened on both at once: two ids, both on both pages
    ids = []
    for sp in (spa, spb):
        status, _, doc = call(sp, "POST", "/api/incidents",
                              {"title": f"manual on {sp}", "message": "m", "pool": "rpc",
                               "severity": "degraded"})
        assert status == 201, doc
        ids.append(doc["id"])
    assert len(set(ids + [inc["id"]])) == 3, ids
    wait_for(lambda: sorted(i["id"] for i in incidents(spa)) ==
             sorted(i["id"] for i in incidents(spb)) == sorted(ids + [inc["id"]]), 2,
             "three incidents on both")

    # over: resolved once, on both pages
    marks = {g: log_lines(g) for g in (a, b)}
    set_health(sims["n2"], "healthy")
    for g in (a, b):
        wait_transition(g, "n2", "up", after=marks[g])
    wait_for(lambda: all(i["resolved"] for sp in (spa, spb) for i in incidents(sp)
                         if i["id"] == inc["id"]), 3, "resolved on both")
    wait_for(lambda: public_incidents(spa) == public_incidents(spb), 2, "one story")
    wait_for(lambda: "incident_resolved" in events(hook), 3, "the resolve message")
    quiet([hook], 0.5)
    got = events(hook)
    assert got.count("incident_open") == 3 and got.count("incident_resolved") == 1, got
    wait_for(lambda: pool_status(spa) == pool_status(spb) == ("operational", 3), 1, "one view")


def test_a_node_one_instance_cannot_reach_and_a_killed_instance(h, certs, fleet):
    """A node is down for users when it is down for every live instance that routes to it:
    n2 reachable from fra-1 alone is in service on both pages, no incident; fra-1 killed,
    its heartbeat goes stale and ams-1's page says n2 is down (an incident opens)."""
    sims = {n: rippled_sim(h, certs, n, port=free_port(), peer_port=free_port())
            for n in ("n1", "n2", "n3")}
    a, spa = fleet("fra-1", sims.values())
    dead = ("n2", f"127.0.0.1:{free_port()}", {"check_address": f"127.0.0.1:{free_port()}"})
    b, spb = fleet("ams-1", sims.values(),
                   backends=[be(sims["n1"]), dead, be(sims["n3"])])
    wait_for(lambda: "backend n2: checking -> down" in b.stderr(), 3, "n2 down on ams-1")
    wait_for(lambda: pool_status(spa) == pool_status(spb) == ("operational", 3), 2,
             f"the fleet's view on both: {pool_status(spa)} {pool_status(spb)}")
    time.sleep(0.5)  # a verdict written and read again: still one story
    wait_for(lambda: pool_status(spa) == pool_status(spb) == ("operational", 3), 1, "one view")
    assert node_states(spa) == node_states(spb) == {"n1": "up", "n2": "up", "n3": "up"}
    assert incidents(spa) == incidents(spb) == []
    # ams-1 routes by its own judgement: never to n2
    assert backend(spb, "n2")["routable"] is False

    a.signal(signal.SIGKILL)
    a.proc.wait(timeout=5)
    t0 = time.monotonic()
    wait_for(lambda: pool_status(spb) == ("degraded", 2), 6, "n2 down once fra-1 is stale")
    assert time.monotonic() - t0 > 1.5  # not before its heartbeat went stale (3s)
    assert node_states(spb)["n2"] == "down"
    wait_for(lambda: len(incidents(spb)) == 1, 3, "the incident, opened by ams-1")
    assert "is the sender now" in b.stderr()


def test_subscriber_mail_a_killed_sender_left_pending_is_sent_once(h, certs, fleet, pg):
    """Subscriber mail and webhooks go through the same outbox: the sender killed while the
    open mail and the open event wait for their retry (the SMTP server said 451, the webhook
    503), the next sender sends them, once; the confirmation and the resolution go once
    too."""
    from test_alerts import Mailbox
    from test_subscriptions import CONFIRM, Hook, form_post, mails_to, subscribers, wait_mail

    box, hook = Mailbox(), Hook(echo=True)
    try:
        sims = {n: rippled_sim(h, certs, n, port=free_port(), peer_port=free_port())
                for n in ("n1", "n2", "n3")}
        subs = ("subscriptions", {"smtp_url": box.url, "from": "status@example.net",
                                  "retry_backoff": "3s", "retries": "3", "timeout": "2s",
                                  "global_rate": "1000", "webhooks": "yes"})
        site = h.dir / "site"  # a mirror both have: only the sender pushes it
        site.mkdir()
        mirror = ("mirror site", {"url": f"file://{site}", "interval": "1h"})
        gates = dict([fleet("fra-1", sims.values(), [subs, mirror]),
                      fleet("ams-1", sims.values(), [subs, mirror])])
        wait_for(lambda: len(sender_of(list(gates))) == 1, 3, "a sender")
        [a] = sender_of(list(gates))  # a: the sender, b: the other
        [b] = [g for g in gates if g is not a]
        spa, spb = gates[a], gates[b]

        # subscribed on the sender, confirmed on the other: each instance reads the
        # subscribers again when one changes them (nodegate_subs)
        who = "fleet.reader@example.org"
        assert form_post(spa, "/subscribe", {"email": who})[0] == 200
        token = CONFIRM.search(wait_mail(box, who, "Confirm").get_content()).group(1)
        wait_for(lambda: [s["state"] for s in subscribers(spb)] == ["pending"], 3,
                 "the pending subscriber on the other instance")
        assert form_post(spb, "/subscribe/confirm", {"token": token.split("token=")[1]})[0] == 200
        wait_for(lambda: [s["state"] for s in subscribers(spa)] == ["active"], 3,
                 "the confirmation on the sender")
        # and a webhook, verified by its challenge
        assert form_post(spb, "/subscribe", {"webhook": hook.url})[0] == 202
        wait_for(lambda: sorted(s["state"] for s in subscribers(spa)) == ["active", "active"],
                 3, "the webhook active on the sender")

        # the outage: the sender's open mail and event are refused once, retries 3s away
        box.refuse = hook.refuse = 1
        marks = {g: log_lines(g) for g in (a, b)}
        set_health(sims["n2"], "critical")
        for g in (a, b):
            wait_transition(g, "n2", "down", after=marks[g])
        wait_for(lambda: box.refused == 1 and hook.refused == 1, 5,
                 "the open mail and event refused once")
        wait_for(lambda: (site / "status.json").exists(), 3, "the sender's copy")
        pushed = (site / "status.json").stat().st_mtime_ns
        a.signal(signal.SIGKILL)
        a.proc.wait(timeout=5)

        # the other takes over and sends the mail the dead one left pending
        opened = wait_mail(box, who, "Incident")
        wait_for(lambda: "incident_opened" in hook.events(), 5, "the open event")
        # and pushes the page at once (an interval of 1h, no change since)
        wait_for(lambda: (site / "status.json").stat().st_mtime_ns > pushed, 3,
                 "the new sender's copy")
        assert "mirror site: this instance is the sender now: the page is pushed" in b.stderr()
        assert b.stderr().count("the last sender left pending") == 2
        assert metric(spb, "nodegate_fleet_replayed_total") == 2
        mark = log_lines(b)
        set_health(sims["n2"], "healthy")
        wait_transition(b, "n2", "up", after=mark)
        wait_mail(box, who, "Resolved")
        wait_for(lambda: "incident_resolved" in hook.events(), 5, "the resolve event")
        time.sleep(0.5)
        assert hook.events() == ["subscription_challenge", "incident_opened",
                                 "incident_resolved"], hook.events()
        subjects = [m["Subject"] for m in mails_to(box, who)]
        assert len(subjects) == 3 and all(sum(w in s for s in subjects) == 1
                                          for w in ("Confirm", "Incident", "Resolved")), subjects
        assert "Confirm" in subjects[0] and "Incident" in subjects[1], subjects
        assert who not in b.stderr()
        # the link of a mail the dead sender wrote works on the other (one key for the fleet)
        url = urllib.parse.urlsplit(opened["List-Unsubscribe"].strip("<>"))
        assert form_post(spb, f"{url.path}?{url.query}", None,
                         body="List-Unsubscribe=One-Click")[0] == 200
        assert [s["kind"] for s in subscribers(spb)] == ["webhook"]
        db = fleet.url.split("?")[0].rsplit("/", 1)[1]
        wait_for(lambda: pg.psql("SELECT channel, state, count(*) FROM outbox GROUP BY 1, 2"
                                 " ORDER BY 1", db) ==
                 [["subscriptions mail", "sent", "3"], ["subscriptions webhooks", "sent", "2"]],
                 3, "each delivery in the outbox, confirmed sent (the challenge is not)")
    finally:
        box.stop()
        hook.stop()


def test_an_instance_started_without_the_database_serves_and_joins_when_it_is_back(
        h, certs, fleet, pg):
    """PostgreSQL down when a nodegate starts: it starts all the same, routes from its own
    judgement and keeps its incidents; the database back, it brings the schema forward,
    writes what it kept, applies the drain another instance made meanwhile, and joins."""
    sims = {n: rippled_sim(h, certs, n, port=free_port(), peer_port=free_port())
            for n in ("n1", "n2", "n3")}
    db = fleet.url.split("?")[0].rsplit("/", 1)[1]
    a, spa = fleet("fra-1", sims.values())
    status, _, doc = call(spa, "POST", "/api/backends/n1/drain")
    assert status == 200, doc
    a.signal(signal.SIGTERM)
    a.proc.wait(timeout=5)
    pg.stop()
    try:
        b, spb = fleet("ams-1", sims.values(), joined=False)
        wait_for(lambda: "is unreachable at start" in b.stderr(), 5, "the log")
        assert metric(spb, "nodegate_store_up") == 0
        assert metric(spb, "nodegate_fleet_session_up") == 0
        c = http_conn(b.port)
        for _ in range(5):
            status, _, doc = rpc(c, "server_info")
            assert status == 200 and doc["result"]["status"] == "success", doc
        c.close()
        assert backend(spb, "n1")["admin"] == "none"  # the drain is in the database
        mark = log_lines(b)
        set_health(sims["n2"], "critical")
        wait_transition(b, "n2", "down", after=mark)
        [inc] = incidents(spb)
    finally:
        pg.start()

    wait_for(lambda: metric(spb, "nodegate_store_up") == 1, 3, "store_up 1")
    wait_for(lambda: backend(spb, "n1")["admin"] == "drain", 3, "the drain made on fra-1")
    wait_for(lambda: metric(spb, "nodegate_fleet_session_up") == 1, 3, "the fleet joined")
    assert "is back: the writes kept meanwhile are written" in b.stderr()
    assert b.stderr().count("is unreachable at start") == 1
    rows = pg.psql(f"SELECT pool FROM incidents WHERE id = {inc['id']}", db)
    assert rows == [[inc["pool"]]], rows
    wait_for(lambda: len(sender_of([b])) == 1, 3, "ams-1 the sender (fra-1 is gone)")


def test_the_schema_of_an_empty_database_is_made_when_it_is_back(h, certs, fleet, pg):
    """Started without the database, whose schema was never made: the schema is made when
    the server answers, before the kept writes (an admin change made meanwhile) go in."""
    sims = {n: rippled_sim(h, certs, n, port=free_port(), peer_port=free_port())
            for n in ("n1", "n2")}
    db = fleet.url.split("?")[0].rsplit("/", 1)[1]
    pg.stop()
    try:
        a, sp = fleet("fra-1", sims.values(), joined=False)
        wait_for(lambda: "is unreachable at start" in a.stderr(), 5, "the log")
        status, _, doc = call(sp, "POST", "/api/backends/n2/drain")
        assert status == 500 and "not written" in str(doc), (status, doc)
        assert backend(sp, "n2")["admin"] == "drain"
    finally:
        pg.start()
    wait_for(lambda: metric(sp, "nodegate_store_up") == 1, 3, "store_up 1")
    assert pg.psql("SELECT value FROM meta WHERE key = 'schema'", db) == [["8"]]
    assert pg.psql("SELECT backend, admin FROM admin_state", db) == [["n2", "drain"]]
    wait_for(lambda: metric(sp, "nodegate_fleet_sender") == 1, 3, "the sender")
