"""Similar past incidents and postmortems (issue 13): an incident of the same backend and
verdict as a past one shows it (how many in 90 days, the median time to resolve, what was
done) in the ops view; another backend's does not."""
from harness import free_port, wait_for
from test_admin import call
from test_escalation import down, full, up
from test_incidents import rippled_gate, the_open_one


def resolved_all(sp):
    status, _, doc = call(sp, "GET", "/api/incidents")
    assert status == 200, doc
    return all(not i["open"] for i in doc["incidents"])


def cycle(g, sp, sim, name, note=None):
    """NAME critical, then healthy again: one incident opened and resolved; its id."""
    down(g, sim, name)
    inc = wait_for(lambda: the_open_one(sp), 3, "an open incident")
    if note is not None:
        status, _, doc = call(sp, "POST", f"/api/incidents/{inc['id']}/notes",
                              {"by": "ana", "text": note})
        assert status == 201, doc
    up(g, sim, name)
    wait_for(lambda: resolved_all(sp), 3, "the incident to resolve")
    return inc["id"]


def test_similar_incidents_same_backend_and_verdict_only(h, certs):
    sp = free_port()
    g, sims = rippled_gate(h, certs, sp)
    first = cycle(g, sp, sims["n2"], "n2", note="restarted rippled on n2")
    one = full(sp, first)
    assert (one["backend"], one["verdict"]) == ("n2", "critical"), one
    assert one["similar"]["count"] == 0 and one["similar"]["median_resolve_ms"] is None

    down(g, sims["n2"], "n2")  # the same verdict on the same backend again
    again = wait_for(lambda: the_open_one(sp), 3, "a second incident")
    sim = full(sp, again["id"])["similar"]
    assert (sim["count"], sim["resolved"]) == (1, 1), sim
    [past] = sim["recent"]
    assert past["id"] == first and past["resolve_ms"] == sim["median_resolve_ms"] > 0, sim
    assert past["resolve_ms"] == one_took(one), (past, one)
    assert "ana: restarted rippled on n2" in " ".join(past["done"]), past
    up(g, sims["n2"], "n2")
    wait_for(lambda: resolved_all(sp), 3, "the second to resolve")

    other = cycle(g, sp, sims["n3"], "n3")  # another backend: nothing similar
    sim = full(sp, other)["similar"]
    assert sim["count"] == 0 and sim["recent"] == [], sim


def one_took(inc):
    from datetime import datetime

    def ms(s):
        return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000)
    return ms(inc["resolved"]) - ms(inc["started"])
