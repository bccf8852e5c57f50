"""Incident response as operators practise it (issue 13, first part), end to end with real
receivers on loopback: an unacknowledged incident climbs the tiers of its pool's
[escalation] on time (delays in ms), an acknowledgement through the admin API or through the
one-time signed link in a message stops the climb (a reused, forged or expired link is
refused), a PagerDuty receiver gets trigger, acknowledge and resolve with one dedup_key; the
priority follows the impact (one node of three down, then all) and a low-urgency pool never
pages; roles and notes show in the admin view, never on the public page or API; a store file
of the old schema opens and is migrated."""
import hashlib
import hmac
import secrets
import sqlite3
import time
from urllib.parse import parse_qs, urlencode, urlparse

import harness
import pytest
from harness import HOST, free_port, http_conn, wait_for
import signal

from test_admin import TOKEN, call, incidents, restart
from test_alerts import alert_gate, pagerduty, pd_actions, quiet, receivers, webhook  # noqa: F401 (a fixture)
from test_health import log_lines, set_health, wait_transition
from test_status import fetch

ACK_KEY = "ack-key-for-the-tests-0123456789"

# ---------------------------------------------------------------------------------------
# helpers


class Timed(list):
    """Receiver.got that also keeps when each message arrived (time.monotonic())."""

    def __init__(self):
        super().__init__()
        self.times = []

    def append(self, x):
        self.times.append(time.monotonic())
        super().append(x)


def timed_receiver(receivers):
    r = receivers()
    r.got = Timed()
    return r


def escalation(name, **tiers):
    return (f"escalation {name}", {k: str(v) for k, v in tiers.items()})


def gate(h, certs, alerts, esc=None, status=None, **pool):
    """alert_gate with the admin token, the ack key and the pool's escalation ESC."""
    tok = h.dir / "admin.token"
    tok.write_text(TOKEN + "\n")
    key = h.dir / "ack.key"
    key.write_text(ACK_KEY + "\n")
    st = {"admin_token_file": tok, "ack_key_file": key, **(status or {})}
    if esc is not None:
        pool["escalation"] = esc
    return alert_gate(h, certs, alerts, status=st, **pool)


def full(sp, inc_id):
    status, _, doc = call(sp, "GET", f"/api/incidents/{inc_id}")
    assert status == 200, (status, doc)
    return doc


def public(sp, inc_id):
    status, _, doc = call(sp, "GET", f"/api/incidents/{inc_id}", token=None)
    assert status == 200, (status, doc)
    return doc


def the_open_one(sp):
    found = [i for i in incidents(sp) if i["open"]]
    return found[0] if len(found) == 1 else None


def down(g, sim, name):
    mark = log_lines(g)
    set_health(sim, "critical")
    wait_transition(g, name, "down", after=mark)


def up(g, sim, name):
    mark = log_lines(g)
    set_health(sim, "healthy")
    wait_transition(g, name, "up", after=mark)


def kinds(inc):
    return [e["kind"] for e in inc["entries"]]


def form_post(sp, path, fields):
    c = http_conn(sp)
    try:
        c.request("POST", path, body=urlencode(fields),
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def token_of(url):
    return parse_qs(urlparse(url).query)["token"][0]


def sign(inc_id, expires_ms, channel, key=ACK_KEY):
    """A token as nodegate makes them: MAC.ID.EXPIRES.NONCE.CHANNEL, HMAC-SHA256."""
    payload = f"{inc_id}.{expires_ms}.{secrets.token_hex(8)}.{channel}"
    mac = hmac.new(key.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return f"{mac}.{payload}"


# ---------------------------------------------------------------------------------------
# tests


def test_unacknowledged_incident_climbs_on_time_and_an_admin_ack_stops_it(h, certs, receivers):
    t1, t2, t3 = (timed_receiver(receivers) for _ in range(3))
    plain = receivers()  # a channel outside the escalation: as before
    g, sp, sims = gate(h, certs, [webhook("chat", t1.url), webhook("oncall", t2.url),
                                  webhook("cto", t3.url), webhook("ops", plain.url),
                                  escalation("ladder", tier1="chat", tier2="oncall after 400ms",
                                             tier3="cto after 2s", page_min_priority="P4")],
                       esc="ladder")
    down(g, sims["n2"], "n2")
    inc = wait_for(lambda: the_open_one(sp), 3, "an open incident")
    wait_for(lambda: len(t1.got) >= 1, 3, "tier 1")
    wait_for(lambda: len(t2.got) >= 1, 3, "tier 2")
    waited = t2.got.times[0] - t1.got.times[0]
    assert 0.35 <= waited < 1.5, waited  # 400ms after the open, not at once, not late
    [first] = t1.bodies()
    assert (first["event"], first["incident"], first["priority"]) == \
        ("incident_open", inc["id"], "P3"), first
    assert first["ack_url"].startswith(f"http://{HOST}:{sp}/ack?token="), first
    assert first["chat_channel"].startswith("#incident_"), first
    assert "restart rippled" in first["remedy"] and "15 minutes" in first["remedy"], first
    assert t2.bodies()[0]["event"] == "incident_open"
    assert [b["event"] for b in plain.bodies()] == ["incident_open"]

    status, _, doc = call(sp, "POST", f"/api/incidents/{inc['id']}/ack", {"by": "alice"})
    assert status == 200, doc
    assert doc["acknowledged"]["by"] == "alice", doc
    assert doc["escalation"] is None, doc  # the climb ended
    wait_for(lambda: len(t1.got) >= 2 and len(t2.got) >= 2, 3, "the acknowledgements")
    assert [b["event"] for b in t1.bodies()] == ["incident_open", "incident_acknowledged"]
    assert [b["event"] for b in t2.bodies()] == ["incident_open", "incident_acknowledged"]
    quiet([t3], 2.5)  # tier 3 was due at 2s: never told
    assert t3.got == []
    # a second ack is refused, and says by whom
    status, _, doc = call(sp, "POST", f"/api/incidents/{inc['id']}/ack", {"by": "bob"})
    assert status == 409 and "alice" in doc["error"], (status, doc)

    inc = full(sp, inc["id"])
    texts = [e["text"] for e in inc["entries"]]
    assert "escalation ladder: tier 1 (chat)" in texts, texts
    assert any(t.startswith("escalation ladder: tier 2 (oncall), not acknowledged after")
               for t in texts), texts
    assert "acknowledged by alice (admin API)" in texts, texts
    assert not any("tier 3" in t for t in texts), texts
    pub = public(sp, inc["id"])
    assert not {"ack", "escalation", "priority"} & set(kinds(pub)), kinds(pub)
    assert "alice" not in str(pub)

    up(g, sims["n2"], "n2")
    wait_for(lambda: len(t1.got) >= 3 and len(t2.got) >= 3, 3, "the resolves")
    assert t1.bodies()[-1]["event"] == "incident_resolved"
    quiet([t1, t2, t3], 0.3)
    assert g.alive()


def test_a_resolve_before_the_next_tier_ends_the_climb(h, certs, receivers):
    t1, t2 = receivers(), receivers()
    g, sp, sims = gate(h, certs, [webhook("chat", t1.url), webhook("oncall", t2.url),
                                  escalation("ladder", tier1="chat", tier2="oncall after 1500ms",
                                             page_min_priority="P4")],
                       esc="ladder")
    down(g, sims["n2"], "n2")
    wait_for(lambda: len(t1.got) >= 1, 3, "tier 1")
    up(g, sims["n2"], "n2")
    wait_for(lambda: len(t1.got) >= 2, 3, "the resolve to tier 1")
    quiet([t2], 2.0)  # tier 2 was due 1.5s after the open: never told
    assert [b["event"] for b in t1.bodies()] == ["incident_open", "incident_resolved"]
    assert t2.got == []


def test_pagerduty_trigger_link_ack_resolve_and_refused_links(h, certs, receivers):
    pd = receivers()
    g, sp, sims = gate(h, certs, [pagerduty("pager", pd.url + "/v2/enqueue"),
                                  escalation("oncall", tier1="pager", page_min_priority="P4")],
                       esc="oncall")
    down(g, sims["n2"], "n2")
    inc = wait_for(lambda: the_open_one(sp), 3, "an open incident")
    wait_for(lambda: len(pd.got) >= 1, 3, "the trigger")
    [trigger] = pd.bodies()
    key = f"nodegate-incident-{inc['id']}"
    assert (trigger["event_action"], trigger["dedup_key"]) == ("trigger", key), trigger
    assert trigger["payload"]["custom_details"]["priority"] == "P3", trigger
    links = {link["text"]: link["href"] for link in trigger["links"]}
    tok = token_of(links["acknowledge"])

    # the page behind the link asks first (a link previewer must not acknowledge)
    status, _, body = fetch(sp, "/ack?token=" + tok)
    assert status == 200 and b'method="post"' in body, body
    assert full(sp, inc["id"])["acknowledged"] is None

    # forged: another incident's id under this MAC; a wrong key; expired (right key)
    mac, rest = tok.split(".", 1)
    forged = mac + "." + str(inc["id"] + 1) + "." + rest.split(".", 1)[1]
    now_ms = int(time.time() * 1000)
    for bad, code in ((forged, 403), (sign(inc["id"], now_ms + 60000, "pager", key="x" * 32), 403),
                      (sign(inc["id"], now_ms - 1000, "pager"), 403), ("nonsense", 400)):
        status, text = form_post(sp, "/ack", {"token": bad, "by": "mallory"})
        assert status == code, (bad, status, text)
    assert full(sp, inc["id"])["acknowledged"] is None
    # a token signed with the configured key works (the format is the documented one)...
    # ...but the one from the message is used here
    status, text = form_post(sp, "/ack", {"token": tok, "by": "carol"})
    assert status == 200 and "acknowledged" in text, (status, text)
    got = full(sp, inc["id"])
    assert got["acknowledged"]["by"] == "carol", got
    assert "acknowledged by carol (one-time link sent to pager)" in \
        [e["text"] for e in got["entries"]]
    wait_for(lambda: len(pd.got) >= 2, 3, "the acknowledge")
    # reused: refused
    status, text = form_post(sp, "/ack", {"token": tok, "by": "carol"})
    assert status == 403 and "used already" in text, (status, text)

    up(g, sims["n2"], "n2")
    wait_for(lambda: len(pd.got) >= 3, 3, "the resolve")
    quiet([pd], 0.3)
    assert pd_actions(pd) == [("trigger", key), ("acknowledge", key), ("resolve", key)]
    status, _, m = fetch(sp, "/metrics")
    assert b'nodegate_ack_link_uses_total{verdict="used"} 1' in m
    assert b'nodegate_ack_link_uses_total{verdict="forged"} 2' in m
    assert b'nodegate_ack_link_uses_total{verdict="expired"} 1' in m
    assert b"nodegate_escalation_steps_total 1" in m

    # a restart keeps the used link used
    g = restart(h, g)
    status, text = form_post(sp, "/ack", {"token": tok, "by": "carol"})
    assert status in (403, 409), (status, text)


def test_priority_follows_impact_and_is_shown_everywhere(h, certs, receivers):
    hook = receivers()
    g, sp, sims = gate(h, certs, [webhook("ops", hook.url)], panic="no")
    down(g, sims["n2"], "n2")
    inc = wait_for(lambda: the_open_one(sp), 3, "an open incident")
    assert inc["priority"] == "P3", inc  # one node of three: low impact, urgent pool
    wait_for(lambda: len(hook.got) >= 1, 3, "the open alert")
    assert (hook.bodies()[0]["priority"], hook.bodies()[0]["severity"]) == ("P3", "warning")

    for n in ("n1", "n3"):
        down(g, sims[n], n)
    wait_for(lambda: the_open_one(sp)["priority"] == "P1", 3, "P1 when all are down")
    status, _, body = fetch(sp, "/")
    assert b"Priority <strong class=\"prio\">P1</strong>" in body
    status, _, body = fetch(sp, "/api/status")
    assert b'"priority":"P1"' in body
    # the message follows (a fleet's sender records it in the outbox first: a commit later)
    ups = wait_for(lambda: [b for b in hook.bodies()
                            if b["event"] == "incident_update" and b["priority"] == "P1"], 3,
                   "the P1 update")
    assert ups[-1]["severity"] == "critical", hook.bodies()
    assert "priority P3 -> P1" in ups[-1]["reason"] or "priority P2 -> P1" in ups[-1]["reason"]

    # better again: never lowered while open
    up(g, sims["n1"], "n1")
    time.sleep(0.3)
    assert the_open_one(sp)["priority"] == "P1"
    # ops override it, with a reason
    status, _, doc = call(sp, "POST", f"/api/incidents/{inc['id']}/priority",
                          {"priority": "P2", "reason": "n1 serves again", "by": "dave"})
    assert status == 200 and doc["priority"] == "P2" and doc["priority_set"], doc
    assert "priority P1 -> P2 set by dave: n1 serves again" in \
        [e["text"] for e in doc["entries"]]
    status, _, doc = call(sp, "POST", f"/api/incidents/{inc['id']}/priority",
                          {"priority": "P7", "reason": "x"})
    assert status == 400, doc


def test_low_urgency_pool_never_pages(h, certs, receivers):
    chat, pd = receivers(), receivers()
    g, sp, sims = gate(h, certs, [webhook("chat", chat.url), pagerduty("pager", pd.url),
                                  escalation("oncall", tier1="chat",
                                             tier2="pager after 200ms")],
                       esc="oncall", urgency="low", panic="no")
    for n in ("n1", "n2", "n3"):
        down(g, sims[n], n)
    inc = wait_for(lambda: the_open_one(sp), 3, "an open incident")
    wait_for(lambda: the_open_one(sp)["severity"] == "major_outage", 3, "the major outage")
    assert the_open_one(sp)["priority"] == "P3", the_open_one(sp)  # all down, but a testnet
    wait_for(lambda: len(chat.got) >= 1, 3, "tier 1")
    quiet([pd], 1.0)  # tier 2 (200ms) is below page_min_priority P2: never
    assert pd.got == []
    assert chat.bodies()[0]["event"] == "incident_open"
    assert full(sp, inc["id"])["escalation"]["steps"] == 1


def test_roles_and_notes_stay_with_ops(h, certs, receivers):
    g, sp, sims = gate(h, certs, [])
    down(g, sims["n2"], "n2")
    inc = wait_for(lambda: the_open_one(sp), 3, "an open incident")
    status, _, doc = call(sp, "POST", f"/api/incidents/{inc['id']}/roles",
                          {"commander": "erin", "investigator": "frank", "fixer": "frank"})
    assert status == 200, doc
    assert doc["roles"] == {"commander": "erin", "investigator": "frank", "fixer": "frank",
                            "recorder": None, "communicator": None}, doc
    status, _, doc = call(sp, "POST", f"/api/incidents/{inc['id']}/notes",
                          {"by": "frank", "text": "peer list lost after the firewall change"})
    assert status == 201, doc
    status, _, doc = call(sp, "POST", f"/api/incidents/{inc['id']}/roles", {"captain": "x"})
    assert status == 400 and "unknown role" in doc["error"], doc
    status, _, doc = call(sp, "POST", f"/api/incidents/{inc['id']}/notes", {"text": "x"},
                          token="wrong")
    assert status == 401, doc
    got = full(sp, inc["id"])
    texts = [e["text"] for e in got["entries"]]
    assert "commander: erin" in texts and "fixer: frank" in texts, texts
    assert "frank: peer list lost after the firewall change" in texts, texts
    assert {"note", "role"} <= set(kinds(got))
    assert [r["action"] for r in got["remedy"]] == ["redirect", "restart", "network",
                                                 "hardware"], got  # peers, server_state
    assert got["chat_channel"].startswith("#incident_") and " " not in got["chat_channel"]
    # the public never sees them
    for path in ("/", "/api/status", "/api/incidents", f"/api/incidents/{inc['id']}"):
        status, _, body = fetch(sp, path)
        assert status == 200, path
        assert b"firewall change" not in body and b"frank" not in body and b"erin" not in \
            body, path
    # a wrong token on a GET is refused rather than served the public view
    status, _, doc = call(sp, "GET", f"/api/incidents/{inc['id']}", token="wrong")
    assert status == 401, doc


V1_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta VALUES('schema', 1);
INSERT INTO meta VALUES('last_id', 7);
CREATE TABLE incidents(id INTEGER PRIMARY KEY, pool TEXT NOT NULL, title TEXT NOT NULL,
 severity TEXT NOT NULL, manual INTEGER NOT NULL, started INTEGER NOT NULL,
 resolved INTEGER NOT NULL, planned_start INTEGER NOT NULL, planned_end INTEGER NOT NULL);
CREATE INDEX incidents_resolved ON incidents(resolved);
CREATE TABLE entries(incident_id INTEGER NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL,
 kind TEXT NOT NULL, status TEXT, eta INTEGER, next_update INTEGER, text TEXT NOT NULL,
 PRIMARY KEY(incident_id, seq)) WITHOUT ROWID;
CREATE TABLE spans(incident_id INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
 PRIMARY KEY(incident_id, start)) WITHOUT ROWID;
CREATE TABLE admin_state(backend TEXT PRIMARY KEY, admin TEXT NOT NULL, weight INTEGER,
 updated_at INTEGER NOT NULL);
"""


@pytest.mark.skipif(harness.STORE != "sqlite", reason="writes an old SQLite file itself")
def test_a_store_of_the_old_schema_is_migrated(h, certs, receivers):
    """A state_dir written by the schema before priorities (1) opens: its incidents keep
    their words and get a priority from their worst status; new ones go on from its ids."""
    state = h.dir / "state"
    state.mkdir()
    now = int(time.time() * 1000)
    db = sqlite3.connect(state / "nodegate.db")
    db.executescript(V1_SCHEMA)
    db.execute("INSERT INTO incidents VALUES(7, 'rpc', 'rpc: major_outage (n1 down: peers 0)',"
               " 'major_outage', 0, ?, ?, 0, 0)", (now - 60000, now - 30000))
    db.execute("INSERT INTO entries VALUES(7, 0, ?, 'open', NULL, NULL, NULL,"
               " 'backend n1: up -> down (peers 0)')", (now - 60000,))
    db.execute("INSERT INTO entries VALUES(7, 1, ?, 'action', NULL, NULL, NULL,"
               " 'alert ops: delivered (HTTP 200, 1 try)')", (now - 59000,))
    db.commit()
    db.close()

    g, sp, sims = gate(h, certs, [])
    [old] = incidents(sp)
    assert (old["id"], old["priority"], old["severity"]) == (7, "P1", "major_outage"), old
    assert [e["text"] for e in old["entries"]] == ["backend n1: up -> down (peers 0)",
                                                   "alert ops: delivered (HTTP 200, 1 try)"]
    assert "store: " in g.stderr() and "schema 1 -> 2" in g.stderr()
    down(g, sims["n2"], "n2")
    inc = wait_for(lambda: the_open_one(sp), 3, "a new incident")
    assert inc["id"] == 8, inc
    status, _, doc = call(sp, "POST", f"/api/incidents/{inc['id']}/notes",
                          {"by": "gina", "text": "after the migration"})
    assert status == 201, doc
    g.signal(signal.SIGTERM)
    assert g.proc.wait(timeout=10) == 0
    db = sqlite3.connect(state / "nodegate.db")
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (8,)  # the latest schema
    assert db.execute("SELECT priority FROM incidents WHERE id = 8").fetchone() == ("P3",)
    assert db.execute("SELECT COUNT(*) FROM entries WHERE kind = 'note'").fetchone() == (1,)
    db.close()
