"""Atom and RSS feeds end to end (issue 14): a simulated rippled node turns critical and
comes back while ops post a public update and a private note; /feed.atom and /feed.rss (and
the pool's /pools/rpc/feed.*) parse with Debian's python3-feedparser as Atom 1.0 and RSS 2.0
and carry the same entries: opened, the update, resolved; never the note nor an address.
Feed readers poll cheaply (ETag, Last-Modified, 304); a planned maintenance is announced,
starts and ends; a feed keeps its newest FEED_MAX_ENTRIES entries."""
import html
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest

from harness import free_port, http_conn, wait_for
from test_admin import call
from test_health import log_lines, set_health, wait_transition
from test_incidents import iso_in, rippled_gate, the_open_one, update

feedparser = pytest.importorskip("feedparser", reason="Debian's python3-feedparser (make deps)")

ATOM = "{http://www.w3.org/2005/Atom}"
FEED_MAX_ENTRIES = 50  # include/ops/feed.h


def get(sp, path, headers=None):
    c = http_conn(sp)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, r, r.read()
    finally:
        c.close()


def feed(sp, path):
    status, r, body = get(sp, path)
    assert status == 200, (path, status, body)
    doc = feedparser.parse(body)
    assert not doc.bozo, (path, doc.get("bozo_exception"), body[:500])
    return r, body, doc


def entries(doc):
    """(id, title, time, category, text) of each entry, newest first, for both formats."""
    out = []
    for e in doc.entries:
        text = e["content"][0]["value"] if "content" in e else e["summary"]
        text = html.unescape(re.sub(r"<br\s*/?>", "\n", text))  # HTML in both formats
        out.append((e["id"], e["title"], e["published_parsed"],  # <published>, <pubDate>
                    e["tags"][0]["term"], text, e["link"]))
    return out


def both(sp, prefix=""):
    """The Atom and the RSS feed under PREFIX, checked to be valid and to carry the same
    entries; the Atom one's entries."""
    r_atom, body_atom, atom = feed(sp, f"{prefix}/feed.atom")
    r_rss, body_rss, rss = feed(sp, f"{prefix}/feed.rss")
    assert atom.version == "atom10" and rss.version == "rss20", (atom.version, rss.version)
    assert r_atom.getheader("Content-Type") == "application/atom+xml; charset=utf-8"
    assert r_rss.getheader("Content-Type") == "application/rss+xml; charset=utf-8"
    check_atom_shape(body_atom)
    check_rss_shape(body_rss)
    assert entries(atom) == entries(rss)
    return entries(atom)


def check_atom_shape(body):
    """RFC 4287's required elements: feed id, title, updated, author; each entry's id (a
    tag: URI), title, updated (RFC 3339), link."""
    root = ET.fromstring(body)
    assert root.tag == f"{ATOM}feed"
    for k in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{k}") is not None, k
    assert root.find(f"{ATOM}id").text.startswith("tag:")
    for e in root.findall(f"{ATOM}entry"):
        assert re.match(r"^tag:[a-z0-9.-]+,\d{4}-\d\d-\d\d:incident-\d+/[a-z_0-9-]+$",
                        e.find(f"{ATOM}id").text), e.find(f"{ATOM}id").text
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", e.find(f"{ATOM}updated").text)
        assert e.find(f"{ATOM}title").text and e.find(f"{ATOM}link").get("href")


def check_rss_shape(body):
    """RSS 2.0: channel title, link, description; items with a guid and an RFC 822 date."""
    chan = ET.fromstring(body).find("channel")
    for k in ("title", "link", "description"):
        assert chan.find(k) is not None, k
    for it in chan.findall("item"):
        assert it.find("guid").get("isPermaLink") == "false"
        assert re.match(r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$",
                        it.find("pubDate").text), it.find("pubDate").text


def test_feeds_carry_the_same_public_entries_of_a_scripted_incident(h, certs):
    sp = free_port()
    g, sims = rippled_gate(h, certs, sp)
    assert both(sp) == []

    # a node stops answering well: an incident opens
    mark = log_lines(g)
    set_health(sims["n2"], "critical")
    wait_transition(g, "n2", "down", after=mark)
    inc = wait_for(lambda: the_open_one(sp), 3, "an open incident")
    # ops post a public update (with its promises) and a private note
    update(sp, inc["id"], "identified", "n2 lost its peers <after> a network change & more",
           eta=iso_in(3600), next_update=iso_in(1800))
    status, _, _ = call(sp, "POST", f"/api/incidents/{inc['id']}/notes",
                        {"text": "SECRET-NOTE restart from the bastion", "by": "ann"})
    assert status in (200, 201)
    # n2 comes back: it resolves
    set_health(sims["n2"], "healthy")
    wait_for(lambda: the_open_one(sp) is None, 5, "the incident to resolve")

    got = both(sp)
    kinds = [e[3] for e in got]
    assert kinds == ["resolved", "update", "opened"], got
    resolved, upd, opened = got
    # plain words for the public (issue 14): the page's title, never the engine's wording
    plain = "Some requests may be slow: 2 of 3 nodes in service"
    assert upd[1] == f"Identified: {plain}", upd
    assert "n2 lost its peers <after> a network change & more" in upd[4]  # escaped, read back
    assert "Expected recovery: " in upd[4] and "Next update by: " in upd[4]
    assert opened[1] == f"Incident: {plain}" and opened[4].startswith(plain), opened
    assert resolved[4].startswith("Service restored"), resolved
    assert not any("critical" in e[1] + e[4] or "peers 0" in e[1] + e[4] for e in got), got
    assert resolved[1].startswith("Resolved: "), resolved
    assert all(e[5].endswith(f"/#inc-{inc['id']}") for e in got), got
    # the ids are stable tag: URIs, one per event
    assert len({e[0] for e in got}) == 3
    assert got[2][0].endswith(f":incident-{inc['id']}/opened")
    # never the note, never an address (the nodes' addresses are 127.0.0.1:PORT)
    for path in ("/feed.atom", "/feed.rss"):
        body = get(sp, path)[2].decode()
        assert "SECRET-NOTE" not in body, body
        for sim in sims.values():
            assert sim.addr not in body and sim.peer_addr not in body, body

    # the pool's feed: the same entries; an unknown pool has none
    assert both(sp, "/pools/rpc") == got
    assert get(sp, "/pools/nope/feed.atom")[0] == 404
    assert get(sp, "/feed.json")[0] == 404

    # the page names the feeds for browsers and readers
    page = get(sp, "/")[2].decode()
    assert '<link rel="alternate" type="application/atom+xml" href="feed.atom"' in page
    assert '<link rel="alternate" type="application/rss+xml" href="feed.rss"' in page
    assert 'href="pools/rpc/feed.atom"' in page

    # the same entries in the page's language: [status] language = ja (a reload)
    g.reload(g.ini.read_text().replace("[status]\n", "[status]\nlanguage = ja\n", 1))
    wait_for(lambda: "障害: " in get(sp, "/feed.rss")[2].decode(), 5, "the feeds in Japanese")
    ja = both(sp)
    assert [e[0] for e in ja] == [e[0] for e in got], ja  # the same entries, the same ids
    assert ja[1][1].startswith("原因特定: ") and ja[0][1].startswith("解決: "), ja
    assert all("影響: rpc" in e[4] and "Affects" not in e[4] for e in ja), ja


def test_feeds_answer_304_to_readers_that_have_them(h, certs):
    sp = free_port()
    rippled_gate(h, certs, sp, names=("n1",))
    status, r, _ = call(sp, "POST", "/api/incidents", {"title": "Provider incident"})
    assert status == 201
    for path in ("/feed.atom", "/feed.rss", "/pools/rpc/feed.atom"):
        status, r, body = get(sp, path)
        etag, lm = r.getheader("ETag"), r.getheader("Last-Modified")
        assert status == 200 and re.match(r'^"[0-9a-f]{32}"$', etag), etag
        assert r.getheader("Cache-Control") == "no-cache"
        assert get(sp, path, {"If-None-Match": etag})[0] == 304
        assert get(sp, path, {"If-None-Match": f'"other", {etag}'})[0] == 304
        assert get(sp, path, {"If-Modified-Since": lm})[0] == 304
        assert get(sp, path, {"If-None-Match": '"other"'})[0] == 200
        assert get(sp, path, {"If-Modified-Since": "Thu, 01 Jan 2015 00:00:00 GMT"})[0] == 200
    old = get(sp, "/feed.atom")[1].getheader("ETag")
    [inc] = [i for i in call(sp, "GET", "/api/incidents", token=None)[2]["incidents"]]
    update(sp, inc["id"], "monitoring", "provider says it is fixed")
    status, r, _ = get(sp, "/feed.atom", {"If-None-Match": old})
    assert status == 200 and r.getheader("ETag") != old


def test_planned_maintenance_is_announced_starts_and_ends_in_the_feeds(h, certs):
    sp = free_port()
    rippled_gate(h, certs, sp, names=("n1",))
    start = datetime.now(timezone.utc).timestamp() + 1.0
    status, _, doc = call(sp, "POST", "/api/incidents", {
        "title": "rippled <2.3> upgrade & restart", "message": "n1 restarts",
        "pool": "rpc", "planned_start": iso_in(1), "planned_end": iso_in(3600)})
    assert status == 201, doc
    got = both(sp)
    assert [e[3] for e in got] == ["maintenance_scheduled"], got
    assert got[0][1] == "Maintenance scheduled: rippled <2.3> upgrade & restart"
    assert "Planned window: " in got[0][4]
    wait_for(lambda: datetime.now(timezone.utc).timestamp() > start + 0.2, 3, "the window")
    got = both(sp)
    assert [e[3] for e in got] == ["maintenance_started", "maintenance_scheduled"], got
    update(sp, doc["id"], "resolved", "upgrade done, all nodes back")
    got = both(sp)
    assert [e[3] for e in got] == ["maintenance_completed", "maintenance_started",
                                   "maintenance_scheduled"], got
    assert got[0][1] == "Maintenance completed: rippled <2.3> upgrade & restart"
    assert got[0][4].startswith("upgrade done, all nodes back")


def test_a_feed_keeps_its_newest_entries(h, certs):
    sp = free_port()
    rippled_gate(h, certs, sp, names=("n1",))
    status, _, doc = call(sp, "POST", "/api/incidents", {"title": "Long story"})
    assert status == 201
    for i in range(FEED_MAX_ENTRIES + 5):
        update(sp, doc["id"], "investigating", f"still looking, note {i}")
    got = both(sp)
    assert len(got) == FEED_MAX_ENTRIES
    assert got[0][4].startswith(f"still looking, note {FEED_MAX_ENTRIES + 4}"), got[0]
    assert "opened" not in [e[3] for e in got]  # the oldest went first
