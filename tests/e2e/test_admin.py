"""The admin API end to end (issue 4): ops drain, maintain, readmit and weigh backends over
HTTP on the status listener with a bearer token read from [status] admin_token_file; the
changes show in the traffic (which node answers, X-Node), in /api/status and in the incident
timeline, and they survive a restart and a reload of nodegate (SQLite in state_dir). Every
refusal is answered with a reason and counted in /metrics."""
import json
import signal
from collections import Counter

from harness import SLOW, free_port, http_conn, metric_value, rpc, wait_for
from test_health import log_lines, transitions
from test_status import api_status, backend_of, scrape, status_section, value

TOKEN = "admin-test-token-0123456789"

# ---------------------------------------------------------------------------------------
# helpers (test_incidents.py uses them too)


def admin_gate(h, backends, sp, token=TOKEN, pool=None, status=None, env=None, glob=None,
               **kw):
    """A gate with a [status] section on SP whose admin token is TOKEN (None: no token file),
    its state in h.dir/state, GLOB more [nodegate] options; ENV for the process."""
    st = dict(status or {})
    if token is not None:
        path = h.dir / "admin.token"
        path.write_text(f"{token}\n")
        st.setdefault("admin_token_file", path)
    ini = h.gate_ini(backends, pool=pool, glob={"state_dir": h.dir / "state", **(glob or {})},
                     extra=[status_section(sp, **st)], **kw)
    return h.gate(ini, env=env)


def call(sp, method, path, body=None, token=TOKEN, raw=None, auth=None):
    """One request to the status listener: (status, response, parsed JSON body or None).
    BODY is sent as JSON, RAW as is; AUTH replaces the Authorization header."""
    c = http_conn(sp)
    try:
        headers = {}
        if auth is not None:
            headers["Authorization"] = auth
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        text = r.read()
        return r.status, r, (json.loads(text) if text else None)
    finally:
        c.close()


def admin(sp, name, action, body=None, token=TOKEN):
    status, _, doc = call(sp, "POST", f"/api/backends/{name}/{action}", body, token)
    assert status == 200, (name, action, status, doc)
    return doc


def incidents(sp, limit=None, public=False):
    """The incidents as ops read them (the admin token: the health engine's own words), or
    as the public does (PUBLIC, or no admin API: plain words, test_words.py)."""
    path = "/api/incidents" + (f"?limit={limit}" if limit else "")
    status, r, doc = call(sp, "GET", path, token=None if public else TOKEN)
    if status == 403 and not public:  # no admin API: what anyone reads
        status, r, doc = call(sp, "GET", path, token=None)
    assert status == 200, (status, doc)
    assert r.getheader("Content-Type") == "application/json"
    return doc["incidents"]


def restart(h, g, kill=False, env=None):
    """Stops G (SIGTERM, or SIGKILL when KILL) and starts nodegate again on the same file and
    state_dir (with ENV); returns the new gate once every backend had its first verdict
    again."""
    mark = log_lines(g)
    g.signal(signal.SIGKILL if kill else signal.SIGTERM)
    code = g.proc.wait(timeout=10 * SLOW)
    assert code == (-signal.SIGKILL if kill else 0), f"nodegate exited {code}"
    g2 = h.gate(g.ini.read_text(), judged=False, env=env)
    names = {tr.name for tr in transitions(g, after=0)}
    for n in names:
        wait_for(lambda n=n: any(tr.frm == "checking" for tr in transitions(g2, n, mark)), 5,
                 f"the first verdict on {n} after the restart")
    return g2


def spread(port, n):
    """Which node answered each of N JSON-RPC requests on one keep-alive connection."""
    c = http_conn(port)
    seen = Counter()
    try:
        for _ in range(n):
            status, r, doc = rpc(c, "ping")
            assert status == 200, doc
            seen[r.getheader("X-Node")] += 1
    finally:
        c.close()
    return seen


def counter(fams, name):
    return value(fams, f"nodegate_{name}", f"nodegate_{name}_total")


def entry_texts(inc):
    return [e["text"] for e in inc["entries"]]


def wait_reload(g, mark):
    wait_for(lambda: "reload done" in "\n".join(g.stderr().splitlines()[mark:]), 3,
             "reload done")


# ---------------------------------------------------------------------------------------
# tests


def test_drain_maint_ready_weight_apply_at_once_and_survive_restart_and_reload(h):
    sims = h.nodesims("n1", "n2", "n3")
    sp = free_port()
    g = admin_gate(h, sims, sp)
    assert set(spread(g.port, 30)) == {"n1", "n2", "n3"}

    # drain: no new requests for n2
    doc = admin(sp, "n2", "drain")
    assert (doc["backend"], doc["pool"], doc["admin"], doc["routable"], doc["changed"]) == (
        "n2", "rpc", "drain", False, True)
    seen = spread(g.port, 20)
    assert seen["n2"] == 0 and seen["n1"] > 0 and seen["n3"] > 0, seen
    b = backend_of(api_status(sp), "n2")
    assert (b["admin"], b["routable"]) == ("drain", False)
    assert admin(sp, "n2", "drain")["changed"] is False  # already drained

    # maint: out of rotation; with n2 drained only n1 is left
    assert admin(sp, "n3", "maint", {"reason": "disk swap"})["admin"] == "maint"
    assert spread(g.port, 10) == {"n1": 10}
    assert "backend n3: admin none -> maint (disk swap)" in g.stderr()

    # ready: n2 is back
    assert admin(sp, "n2", "ready")["admin"] == "none"
    seen = spread(g.port, 20)
    assert seen["n2"] > 0 and seen["n3"] == 0, seen

    # weight: n1 gets three times n2's share
    doc = admin(sp, "n1", "weight", {"weight": 3})
    assert (doc["weight"], doc["weight_override"]) == (3, 3)
    seen = spread(g.port, 80)
    assert seen["n3"] == 0 and 55 <= seen["n1"] <= 65, seen
    assert backend_of(api_status(sp), "n1")["weight"] == 3

    # the timeline of the incident the drain opened (the pool got worse) has every change
    [inc] = incidents(sp)
    assert (inc["pool"], inc["open"], inc["severity"]) == ("rpc", True, "degraded"), inc
    assert inc["title"] == "rpc: degraded (n2 drain: admin API)", inc
    texts = entry_texts(inc)
    for want in ("pool rpc: operational -> degraded",
                 "backend n2: admin none -> drain (admin API)",
                 "backend n3: admin none -> maint (disk swap)",
                 "backend n2: admin drain -> none (admin API)",
                 "backend n1: weight 1 -> 3 (admin API)"):
        assert want in texts, (want, texts)

    # a restart keeps all of it
    g = restart(h, g)
    doc = api_status(sp)
    assert [(b["name"], b["admin"], b["weight"]) for b in doc["pools"][0]["backends"]] == [
        ("n1", "none", 3), ("n2", "none", 1), ("n3", "maint", 1)]
    seen = spread(g.port, 40)
    assert seen["n3"] == 0 and 27 <= seen["n1"] <= 33, seen
    assert "backend n3: admin none -> maint (restored from state_dir)" in g.stderr()

    # a reload gives back the configured weight 1: the override wins
    mark = log_lines(g)
    g.reload(g.ini.read_text())
    wait_reload(g, mark)
    b = backend_of(api_status(sp), "n1")
    assert b["weight"] == 3, b
    assert backend_of(api_status(sp), "n3")["admin"] == "maint"

    # null: back to the configured weight; ready n3: all operational, the incident resolves
    assert admin(sp, "n1", "weight", {"weight": None})["weight_override"] is None
    assert admin(sp, "n3", "ready")["routable"] is True
    assert backend_of(api_status(sp), "n1")["weight"] == 1
    wait_for(lambda: not incidents(sp)[0]["open"], 3, "the incident to resolve")
    assert incidents(sp)[0]["entries"][-1]["text"] == "pool rpc: degraded -> operational"
    assert set(spread(g.port, 30)) == {"n1", "n2", "n3"}


def test_refusals_are_answered_with_a_reason_and_counted(h):
    sims = h.nodesims("n1", "n2")
    sp = free_port()
    admin_gate(h, sims, sp)
    before = scrape(sp)

    def refused(code, method, path, body=None, **kw):
        status, r, doc = call(sp, method, path, body, **kw)
        assert status == code, (method, path, status, doc)
        assert r.getheader("Content-Type") == "application/json"
        assert doc["error"], doc
        return r, doc["error"]

    # 401: no token, a wrong one, another scheme; always with WWW-Authenticate
    for kw in ({"token": None}, {"token": "wrong"}, {"token": TOKEN[:-1]},
               {"auth": f"Basic {TOKEN}"}, {"token": TOKEN + "x"}):
        r, _ = refused(401, "POST", "/api/backends/n1/drain", **kw)
        assert r.getheader("WWW-Authenticate").startswith("Bearer"), kw
    refused(401, "POST", "/api/incidents", {"title": "x"}, token=None)
    refused(401, "POST", "/api/incidents/1/updates", {"status": "resolved", "message": "x"},
            token="nope")
    # 404: unknown backend, action, incident
    assert refused(404, "POST", "/api/backends/n9/drain")[1] == 'unknown backend "n9"'
    refused(404, "POST", "/api/backends/n1/reboot")
    refused(404, "POST", "/api/incidents/42/updates", {"status": "resolved", "message": "x"})
    # 400: bad JSON, bad values, unknown fields
    _, why = refused(400, "POST", "/api/backends/n1/weight", raw='{"weight": ')
    assert why.startswith("bad JSON: "), why
    refused(400, "POST", "/api/backends/n1/weight", {"weight": 257})
    refused(400, "POST", "/api/backends/n1/weight", {"weight": "3"})
    refused(400, "POST", "/api/backends/n1/weight", raw="")
    _, why = refused(400, "POST", "/api/backends/n1/drain", {"why": "typo"})
    assert why == 'unknown field "why"', why
    # 405: the admin routes take POST only
    r, _ = refused(405, "GET", "/api/backends/n1/drain")
    assert r.getheader("Allow") == "POST"
    r, _ = refused(405, "DELETE", "/api/incidents")
    assert r.getheader("Allow") == "GET, HEAD, POST"
    # nothing of it changed anything
    assert [b["admin"] for b in api_status(sp)["pools"][0]["backends"]] == ["none", "none"]
    assert admin(sp, "n1", "weight", {"weight": 2})["weight"] == 2

    after = scrape(sp)
    moved = {n: counter(after, n) - counter(before, n) for n in (
        "admin_unauthorized", "admin_not_found", "admin_bad_request", "admin_bad_method",
        "admin_disabled", "admin_actions")}
    assert moved == {"admin_unauthorized": 7, "admin_not_found": 3, "admin_bad_request": 5,
                     "admin_bad_method": 2, "admin_disabled": 0, "admin_actions": 1}, moved


def test_no_token_file_means_the_admin_api_is_off(h):
    sims = h.nodesims("n1")
    sp = free_port()
    admin_gate(h, sims, sp, token=None)
    for path, body in (("/api/backends/n1/maint", None),
                       ("/api/incidents", {"title": "planned"})):
        status, _, doc = call(sp, "POST", path, body, token="anything")
        assert (status, doc) == (403, {"error": "admin API disabled (no admin_token_file)"})
    assert incidents(sp, public=True) == []  # reading stays public
    assert counter(scrape(sp), "admin_disabled") == 2
    assert backend_of(api_status(sp), "n1")["admin"] == "none"


def test_the_token_file_is_read_again_on_reload(h):
    sims = h.nodesims("n1")
    sp = free_port()
    g = admin_gate(h, sims, sp, token="  first-token \t")  # trimmed
    assert admin(sp, "n1", "drain", token="first-token")["admin"] == "drain"
    (h.dir / "admin.token").write_text("second-token\nignored second line\n")
    mark = log_lines(g)
    g.reload(g.ini.read_text())
    wait_reload(g, mark)
    assert call(sp, "POST", "/api/backends/n1/ready", token="first-token")[0] == 401
    assert admin(sp, "n1", "ready", token="second-token")["admin"] == "none"



def test_restart_restoring_many_weights_publishes_a_handful_of_snapshots(h):
    """A restart that restores 200 weight overrides among 400 backends changes the routing
    200 times before the loop first turns: the first 8 changes are published at once, the
    rest together at the end of that turn (not 200 tables of 400 nodes, all alive at once).
    The data plane routes by all 200: the even backends (on n2) get weight 0."""
    n1, n2 = h.nodesims("n1", "n2")
    sp = free_port()
    backends = [(f"b{i:03d}", (n2 if i % 2 == 0 else n1).addr) for i in range(400)]
    g = admin_gate(h, backends, sp, pool={"check": "none"})
    for i in range(0, 400, 2):
        admin(sp, f"b{i:03d}", "weight", {"weight": 0})
    g.signal(signal.SIGTERM)
    assert g.proc.wait(timeout=10 * SLOW) == 0
    g = h.gate(g.ini.read_text(), judged=False)
    wait_for(lambda: metric_value(sp, "nodegate_route_publish_deferred_total") > 0, 5,
             "the burst's deferred publication")
    published = metric_value(sp, "nodegate_route_published_total")
    assert published <= 10, f"{published:.0f} snapshots published at start"
    weights = {b["name"]: b["weight"] for b in api_status(sp)["pools"][0]["backends"]}
    assert weights == {f"b{i:03d}": i % 2 for i in range(400)}
    assert spread(g.port, 200) == Counter({"n1": 200})
