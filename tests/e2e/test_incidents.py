"""Incidents end to end (issue 4): simulated rippled nodes turn critical and come back; an
incident opens when a node leaves rotation, collects every transition of its pool, takes ops
updates (with an expected recovery time and a next-update time), resolves when the pool is
operational again, and is still there, word for word, after a restart of nodegate and after a
kill -9 right after an acknowledged write (SQLite in state_dir, WAL)."""
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from harness import free_port, wait_for
from test_admin import TOKEN, admin, admin_gate, call, entry_texts, restart
from test_admin import incidents as public_incidents
from test_health import be, check_keys, log_lines, rippled_sim, set_health, wait_transition, wait_up

DELAY_MS = 200  # the writer's sleep before each batch in the kill -9 test (store_test_delay)
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# ---------------------------------------------------------------------------------------
# helpers


def rippled_gate(h, certs, sp, names=("n1", "n2", "n3"), env=None, glob=None, **pool):
    """Rippled nodes probed every 50ms, readmitted after two healthy probes, no slow start."""
    sims = {n: rippled_sim(h, certs, n) for n in names}
    keys = check_keys("50ms", rise=2, readmit_after="100ms", slow_start="0", **pool)
    g = admin_gate(h, [be(s) for s in sims.values()], sp, pool=keys, env=env, glob=glob)
    wait_up(g, list(sims))
    return g, sims


def incidents(sp, limit=None):
    """The incidents as ops see them (the admin token): the health engine's own words. The
    public (no token) reads plain words: test_words.py."""
    status, _, doc = call(sp, "GET", "/api/incidents" + (f"?limit={limit}" if limit else ""),
                          token=TOKEN)
    assert status == 200, (status, doc)
    return doc["incidents"]


def iso_in(seconds):
    t = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def the_open_one(sp):
    found = [i for i in incidents(sp) if i["open"]]
    return found[0] if len(found) == 1 else None


def update(sp, inc_id, status, message, **times):
    status_code, _, doc = call(sp, "POST", f"/api/incidents/{inc_id}/updates",
                               dict(status=status, message=message, **times))
    assert status_code == 201, (status_code, doc)
    return doc


# ---------------------------------------------------------------------------------------
# tests


def test_incident_opens_collects_its_timeline_takes_updates_resolves_and_survives_restart(
        h, certs):
    sp = free_port()
    g, sims = rippled_gate(h, certs, sp)
    assert incidents(sp) == []

    mark = log_lines(g)
    set_health(sims["n2"], "critical")
    wait_transition(g, "n2", "down", after=mark)
    inc = wait_for(lambda: the_open_one(sp), 3, "an open incident")
    assert inc["pool"] == "rpc" and not inc["manual"], inc
    assert inc["title"].startswith("rpc: degraded (n2 down: "), inc["title"]
    assert inc["severity"] == "degraded" and inc["resolved"] is None
    assert ISO.match(inc["started"]), inc["started"]
    assert inc["entries"][0]["kind"] == "open"
    assert inc["entries"][0]["text"].startswith("backend n2: up -> down ("), inc["entries"]
    assert "pool rpc: operational -> degraded" in entry_texts(inc)
    assert f"incident {inc['id']} opened: rpc: degraded (n2 down: " in g.stderr()

    # an ops update, with an expected recovery time and the next update's time
    eta, next_update = iso_in(3600), iso_in(1800)
    doc = update(sp, inc["id"], "identified", "n2 lost its peers after a network change",
                 eta=eta, next_update=next_update)
    assert (doc["incident"], doc["kind"], doc["status"]) == (inc["id"], "update", "identified")
    assert doc["eta"] == eta.replace("Z", ".000Z"), doc
    assert doc["next_update"] == next_update.replace("Z", ".000Z"), doc
    got = incidents(sp)[0]
    assert got["last_update"] == "identified"
    assert got["entries"][-1] == {k: v for k, v in doc.items() if k != "incident"}

    # n2 comes back: its transition is a line, and the pool operational resolves it
    mark = log_lines(g)
    set_health(sims["n2"], "healthy")
    wait_transition(g, "n2", "up", after=mark)
    wait_for(lambda: not incidents(sp)[0]["open"], 3, "the incident to resolve")
    done = incidents(sp)[0]
    assert done["id"] == inc["id"] and ISO.match(done["resolved"]), done
    kinds = [e["kind"] for e in done["entries"]]
    assert kinds[-1] == "resolve" and kinds.count("open") == 1, kinds
    assert done["entries"][-1]["text"] == "pool rpc: degraded -> operational"
    assert any(t.startswith("backend n2: down -> up (") for t in entry_texts(done)), done
    assert done["outage_ms"] == 0  # degraded is not an outage
    status, _, one = call(sp, "GET", f"/api/incidents/{inc['id']}")
    assert (status, one) == (200, done)
    # the public reads plain words, and ops' update as written
    [pub] = public_incidents(sp, public=True)
    assert pub["title"] == "Some requests may be slow: 2 of 3 nodes in service", pub
    assert entry_texts(pub) == [pub["title"], "n2 lost its peers after a network change",
                                "Service restored"], pub

    # a restart of nodegate: the same history, word for word, and nothing new opened
    g = restart(h, g)
    assert incidents(sp) == [done]
    assert "incidents: 0 open, 1 past" in g.stderr()


def test_kill_9_right_after_acknowledged_writes_keeps_them(h, certs):
    """An answer (201, 200) is sent only once SQLite has the write on disk. The writer is
    slowed down as on a slow disk ([nodegate] store_test_delay), so each answer visibly
    waits for its commit, and a kill -9 right after the last answer would lose it if it did
    not. A kill -9 in the middle of writing loses at most what was not answered yet, and
    leaves a database that opens."""
    sp = free_port()
    g, sims = rippled_gate(h, certs, sp, glob={"store_test_delay": f"{DELAY_MS}ms"})
    mark = log_lines(g)
    set_health(sims["n2"], "critical")
    wait_transition(g, "n2", "down", after=mark)
    inc = wait_for(lambda: the_open_one(sp), 3, "an open incident")

    def stored_updates():
        got = next(i for i in incidents(sp) if i["id"] == inc["id"])
        return [(e["status"], e["text"]) for e in got["entries"] if e["kind"] == "update"]

    sent = []
    for rnd in range(2):
        for i, status in enumerate(("investigating", "identified", "monitoring")):
            msg = f"round {rnd} update {i}: {status}"
            t0 = time.monotonic()
            update(sp, inc["id"], status, msg, next_update=iso_in(600 + i))
            assert time.monotonic() - t0 >= DELAY_MS / 1000 * 0.9, "answered before the commit"
            sent.append((status, msg))
        if rnd == 1:
            admin(sp, "n3", "drain")
        g = restart(h, g, kill=True)
        assert stored_updates() == sent, f"round {rnd}"
    assert "backend n3: admin none -> drain (restored from state_dir)" in g.stderr()

    # killed while the writer holds an update it has not answered
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(call, sp, "POST", f"/api/incidents/{inc['id']}/updates",
                              {"status": "monitoring", "message": "never answered"})
        time.sleep(DELAY_MS / 1000 / 4)
        g = restart(h, g, kill=True)
        try:
            answer = pending.result()[0]
        except OSError:
            answer = None
    assert answer is None, "an answer came before the commit"
    assert stored_updates()[:len(sent)] == sent  # the database opens, nothing answered lost
    assert the_open_one(sp)["id"] == inc["id"]


def test_outage_raises_the_severity_and_counts_as_downtime(h, certs):
    """Two of three nodes critical with min_up 2: partial (or major) outage; the severity
    stays the worst seen after they come back, and the outage time is kept."""
    sp = free_port()
    g, sims = rippled_gate(h, certs, sp, min_up=2)
    mark = log_lines(g)
    set_health(sims["n1"], "critical")
    wait_transition(g, "n1", "down", after=mark)
    wait_for(lambda: the_open_one(sp), 3, "an open incident")
    set_health(sims["n2"], "critical")
    wait_transition(g, "n2", "down", after=mark)
    wait_for(lambda: the_open_one(sp)["severity"] in ("partial_outage", "major_outage"), 3,
             "the severity to rise")
    for n in ("n1", "n2"):
        set_health(sims[n], "healthy")
    wait_for(lambda: not incidents(sp)[0]["open"], 5, "the incident to resolve")
    [inc] = incidents(sp)
    assert inc["severity"] in ("partial_outage", "major_outage"), inc
    assert inc["outage_ms"] > 0, inc
    texts = entry_texts(inc)
    assert any(t.startswith("pool rpc: degraded -> ") and "outage" in t for t in texts), texts
    assert sum(t.startswith("backend n") and " -> down (" in t for t in texts) == 2, texts


def test_manual_incident_for_planned_maintenance(h):
    sims = h.nodesims("n1")
    sp = free_port()
    admin_gate(h, sims, sp)
    start, end = iso_in(86400), iso_in(86400 + 7200)
    status, r, doc = call(sp, "POST", "/api/incidents", {
        "title": "rippled 2.3 upgrade", "message": "n1 restarts; expect a short blip",
        "pool": "rpc", "planned_start": start, "planned_end": end})
    assert status == 201, doc
    assert r.getheader("Location") == f"/api/incidents/{doc['id']}"
    assert (doc["manual"], doc["open"], doc["severity"], doc["pool"]) == (
        True, True, "operational", "rpc")
    assert doc["planned_start"] == start.replace("Z", ".000Z")
    assert doc["planned_end"] == end.replace("Z", ".000Z")
    assert entry_texts(doc) == ["n1 restarts; expect a short blip"]

    # about everything, with its severity
    status, _, other = call(sp, "POST", "/api/incidents", {
        "title": "Upstream provider incident", "severity": "partial_outage"})
    assert status == 201 and other["pool"] == "" and other["severity"] == "partial_outage"
    assert [i["id"] for i in incidents(sp)] == [other["id"], doc["id"]]
    assert [i["id"] for i in incidents(sp, limit=1)] == [other["id"]]

    # refused: bad times, unknown pool, missing title, unknown status, unknown id
    for body in ({"title": "x", "planned_start": "tomorrow"},
                 {"title": "x", "planned_start": end, "planned_end": start},
                 {"title": "x", "planned_end": end},
                 {"title": "x", "pool": "nope"},
                 {"message": "no title"},
                 {"title": "x" * 200},
                 {"title": "x", "severity": "bad"}):
        status, _, err = call(sp, "POST", "/api/incidents", body)
        assert status == 400 and err["error"], (body, status, err)
    status, _, err = call(sp, "POST", f"/api/incidents/{doc['id']}/updates",
                          {"status": "fixed", "message": "x"})
    assert status == 400 and "investigating" in err["error"], err
    status, _, err = call(sp, "POST", f"/api/incidents/{doc['id']}/updates",
                          {"status": "monitoring", "message": "x", "eta": "2026-13-01T00:00:00Z"})
    assert status == 400 and '"eta"' in err["error"], err
    assert call(sp, "GET", "/api/incidents/999", token=None)[0] == 404
    assert call(sp, "GET", "/api/incidents?limit=x", token=None)[0] == 400

    # ops close it
    update(sp, doc["id"], "resolved", "upgrade done, all nodes on 2.3")
    # the maintenance timer closes the window it never opened: no "maintenance ended" line
    done = wait_for(lambda: next((i for i in incidents(sp) if i["id"] == doc["id"]
                                  and i["maintenance"] == "ended"), None),
                    5, "the window closed")
    assert not done["open"] and done["last_update"] == "resolved"
    assert [e["kind"] for e in done["entries"]] == ["open", "update", "resolve"]
    assert [i["id"] for i in incidents(sp)] == [other["id"], doc["id"]]  # open first


def _texts(doc):
    return json.dumps(doc)


@pytest.mark.parametrize("public", [False, True], ids=["hidden", "public"])
def test_public_incidents_hide_backend_addresses_unless_configured(h, certs, public):
    """A killed node's reasons name the address it could not reach; the public APIs (and so
    the page) say "(address hidden)" instead, unless public_backend_details = yes."""
    sp = free_port()
    sims = {n: rippled_sim(h, certs, n) for n in ("n1", "n2")}
    # tcp probes: a killed node is refused at once ("refused: connect to ADDR"), where a
    # TLS probe caught mid-handshake would say "reset" and name no address
    keys = check_keys("50ms", check="tcp", rise=2, readmit_after="100ms", slow_start="0")
    g = admin_gate(h, [be(s) for s in sims.values()], sp, pool=keys,
                   status={"public_backend_details": "yes" if public else "no"})
    wait_up(g, list(sims))
    sims["n2"].kill()
    wait_for(lambda: the_open_one(sp) is not None, 5, "an incident to open")
    wait_for(lambda: "refused" in _texts(incidents(sp)), 5, "the refusal in the timeline")
    status_code, _, doc = call(sp, "GET", "/api/status", token=None)
    assert status_code == 200 and doc["incidents"], doc
    addrs = (sims["n2"].addr, sims["n2"].peer_addr)  # traffic and probe addresses
    ops = _texts(incidents(sp))
    assert any(a in ops for a in addrs) == public, ops
    assert ("(address hidden)" in ops) != public, ops
    # the public never reads the health engine's reasons: no address in either case
    for text in (_texts(public_incidents(sp, public=True)), _texts(doc["incidents"])):
        assert not any(a in text for a in addrs) and "refused" not in text, text
