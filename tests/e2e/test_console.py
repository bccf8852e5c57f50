"""The ops console (issue 13, last part), end to end: a real nodegate with simulated rippled
nodes, its console at /ops/ driven in headless Chromium with JavaScript off (log in with the
admin token, acknowledge an open incident, which stops its escalation, post a public update
and find it on the public page, add a private note that the public never sees, set roles,
drain and readmit a backend), and over plain HTTP: an acknowledgement stops the climb on
time; forged forms (no or a wrong CSRF token, another Origin, no session) are refused and
change nothing, a wrong token gets no session, failed logins are throttled; the cookie's
flags, the headers (no-store, Content-Security-Policy); sessions that expire, end at logout
and when the token changes; every form does what the admin API does (a drain survives a
restart); similar past incidents and resolved ones show; the switch [status] console."""
import json
import re
import subprocess
import time
from urllib.parse import urlencode

from harness import SLOW, HOST, free_port, http_conn, metric_value, nodegate_run, wait_for
from test_admin import TOKEN, call, restart
from test_alerts import receivers, webhook  # noqa: F401 (a fixture)
from test_escalation import (down, escalation, full, gate, kinds, public, the_open_one,
                             timed_receiver, up)
from test_incidents import rippled_gate
from test_page import BROWSER_DIR, check_page  # noqa: F401 (a fixture)
from test_status import fetch

UPDATE = "We are looking at node n2 <b>now</b>"  # as check_console.js posts them
NOTE = "n2 disk at 97% on the node host"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')

# ---------------------------------------------------------------------------------------
# helpers


def request(sp, method, path, fields=None, cookie=None, headers=None, raw=None):
    """(status, headers as a list of pairs, body text) of one request; FIELDS is sent as a
    form, RAW as is."""
    c = http_conn(sp)
    try:
        hd = dict(headers or {})
        body = raw
        if fields is not None:
            body = urlencode(fields)
            hd.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if cookie is not None:
            hd["Cookie"] = f"ng_ops={cookie}"
        c.request(method, path, body=body, headers=hd)
        r = c.getresponse()
        return r.status, r.getheaders(), r.read().decode()
    finally:
        c.close()


def header(headers, name):
    found = [v for k, v in headers if k.lower() == name.lower()]
    return found[0] if found else None


def login(sp, token=TOKEN, name="mallory"):
    """Logs in through the form: (status, Set-Cookie header, the cookie's value or None)."""
    status, hd, _ = request(sp, "POST", "/ops/login", {"name": name, "token": token})
    sc = header(hd, "Set-Cookie")
    m = re.match(r"ng_ops=([0-9a-f]{64});", sc or "")
    return status, sc, m.group(1) if m else None


def console(sp, cookie):
    """The console page: (status, headers, body)."""
    return request(sp, "GET", "/ops/", cookie=cookie)


def csrf_of(body):
    tokens = set(CSRF.findall(body))
    assert len(tokens) == 1, tokens
    return tokens.pop()


# ---------------------------------------------------------------------------------------
# in a browser


def test_console_in_a_browser_without_javascript(h, certs, receivers, check_page, tmp_path):
    chat, oncall = timed_receiver(receivers), timed_receiver(receivers)
    g, sp, sims = gate(h, certs, [webhook("chat", chat.url), webhook("oncall", oncall.url),
                                  escalation("ladder", tier1="chat", tier2="oncall after 20s",
                                             page_min_priority="P4")],
                       esc="ladder")
    down(g, sims["n2"], "n2")
    inc = wait_for(lambda: the_open_one(sp), 3, "an open incident")
    wait_for(lambda: len(chat.got) >= 1, 3, "tier 1 told")
    assert full(sp, inc["id"])["escalation"]["name"] == "ladder"

    driver = BROWSER_DIR / "check_console.js"
    r = subprocess.run(["node", str(driver), f"http://127.0.0.1:{sp}", TOKEN, str(tmp_path)],
                       capture_output=True, text=True, timeout=20 * SLOW)
    assert r.returncode == 0, f"check_console.js failed:\n{r.stderr[-4000:]}"
    out = json.loads(r.stdout)
    s = out["steps"]
    assert out["problems"] == [], out["problems"]
    # every POST answered 303 (POST-redirect-GET), nothing refused
    posts = [x for x in out["statuses"] if x[0] == "POST"]
    assert len(posts) == 8 and all(st == 303 for _, _, st in posts), posts

    # not logged in: the login form, nothing of the console
    assert s["start"]["url"] == "/ops/login", s["start"]
    assert s["start"]["open"] == [] and s["start"]["backends"] == []
    assert "n2" not in s["start"]["body"]

    # logged in: the open incident with what ops need to act on it
    me = s["loggedIn"]
    assert me["url"] == "/ops/" and me["who"] == "alice", me
    assert not me["hasScript"]
    [o] = me["open"]
    assert o["id"] == inc["id"] and o["acked"] == "no" and o["ackButton"], o
    assert o["priority"] == inc["priority"]  # (draining n3 below raises it)
    assert o["escalation"].startswith("ladder: tier 1 told, next tier at "), o["escalation"]
    assert o["ack"] == "not yet"
    assert o["similar"].startswith("0"), o["similar"]  # the first of its kind
    assert o["remedy"] and any("traffic" in x for x in o["remedy"]), o["remedy"]
    assert {b["name"]: b["admin"] for b in me["backends"]} == \
        {"n1": "none", "n2": "none", "n3": "none"}
    assert {b["name"]: b["address"] for b in me["backends"]} == \
        {n: sim.addr for n, sim in sims.items()}  # private: addresses are shown here

    # acknowledged: in the timeline, by the name given at login, and the climb stops
    a = s["acked"]
    assert a["flash"].startswith("Acknowledged"), a["flash"]
    [o] = a["open"]
    assert o["acked"] == "yes" and not o["ackButton"] and o["ack"].startswith("by alice at ")
    assert o["escalation"] == "stopped (acknowledged)", o["escalation"]
    assert [t for t in o["timeline"] if t["kind"] == "ack" and t["private"]], o["timeline"]
    doc = full(sp, inc["id"])
    assert doc["acknowledged"]["by"] == "alice" and doc["escalation"] is None, doc
    assert "ops console" in [e for e in doc["entries"] if e["kind"] == "ack"][0]["text"]

    # the public update: on the timeline here, on the public page and API, escaped
    [o] = s["updated"]["open"]
    assert s["updated"]["flash"].startswith("Update posted")
    assert [t for t in o["timeline"] if t["kind"] == "update" and UPDATE in t["text"]]
    assert UPDATE in out["publicPage"]
    assert UPDATE in [e["text"] for e in public(sp, inc["id"])["entries"]]

    # the private note: here only
    [o] = s["noted"]["open"]
    assert [t for t in o["timeline"] if t["kind"] == "note" and t["private"] and NOTE in t["text"]]
    assert NOTE not in out["publicPage"]
    assert NOTE in json.dumps(full(sp, inc["id"]))
    for path in ("/", "/api/status", "/api/incidents", f"/api/incidents/{inc['id']}"):
        _, _, body = fetch(sp, path)
        assert NOTE.encode() not in body, path
        shown = UPDATE.replace("<", "&lt;").replace(">", "&gt;") if path == "/" else UPDATE
        assert shown.encode() in body, path
        for sim in sims.values():  # and no backend address on the public side
            assert sim.addr.encode() not in body, (path, sim.addr)

    # roles
    assert s["roles"]["open"][0]["roles"] == {"commander": "alice", "investigator": "",
                                              "fixer": "", "recorder": "",
                                              "communicator": "bob"}
    assert full(sp, inc["id"])["roles"]["commander"] == "alice"

    # drain and readmit
    assert {b["name"]: b["admin"] for b in s["drained"]["backends"]}["n3"] == "drain"
    assert {b["name"]: b["admin"] for b in s["readmitted"]["backends"]}["n3"] == "none"
    _, _, st = call(sp, "GET", "/api/status", token=None)
    assert {b["name"]: b["admin"] for b in st["pools"][0]["backends"]}["n3"] == "none"
    assert [e for e in full(sp, inc["id"])["entries"] if e["kind"] == "admin"], \
        kinds(full(sp, inc["id"]))

    # logged out: back to the form, and the console is gone for this browser
    assert s["loggedOut"]["url"] == "/ops/login" and s["afterLogout"]["url"] == "/ops/login"

    # the cookie as the browser kept it
    [ck] = out["cookies"]
    assert (ck["name"], ck["path"], ck["httpOnly"], ck["sameSite"], ck["secure"]) == \
        ("ng_ops", "/ops/", True, "Strict", False), ck

    # the escalation stopped (on time: test_an_ack_in_the_console_stops_the_climb below)
    assert full(sp, inc["id"])["escalation"] is None
    assert metric_value(sp, "nodegate_console_actions_total") == 6  # ack .. readmit
    assert metric_value(sp, "nodegate_console_logins_total", result="ok") == 1


# ---------------------------------------------------------------------------------------
# over plain HTTP


def test_an_ack_in_the_console_stops_the_climb(h, certs, receivers):
    chat, oncall = timed_receiver(receivers), timed_receiver(receivers)
    g, sp, sims = gate(h, certs, [webhook("chat", chat.url), webhook("oncall", oncall.url),
                                  escalation("ladder", tier1="chat", tier2="oncall after 1s",
                                             page_min_priority="P4")],
                       esc="ladder")
    down(g, sims["n2"], "n2")
    inc = wait_for(lambda: the_open_one(sp), 3, "an open incident")
    wait_for(lambda: len(chat.got) >= 1, 3, "tier 1 told")
    _, _, ck = login(sp, name="bob")
    token = csrf_of(console(sp, ck)[2])
    st, hd, _ = request(sp, "POST", f"/ops/incidents/{inc['id']}/ack", {"csrf": token},
                        cookie=ck)
    assert (st, header(hd, "Location")) == (303, f"/ops/?m=ack#inc-{inc['id']}")
    acked = time.monotonic()
    assert acked - chat.got.times[0] < 0.8, "too slow to tell whether the climb stopped"
    doc = full(sp, inc["id"])
    assert doc["acknowledged"]["by"] == "bob" and doc["escalation"] is None, doc
    # a second one is refused, as in the API, and changes nothing
    st, hd, _ = request(sp, "POST", f"/ops/incidents/{inc['id']}/ack", {"csrf": token},
                        cookie=ck)
    assert (st, header(hd, "Location")) == (303, f"/ops/?m=acked#inc-{inc['id']}")
    assert kinds(full(sp, inc["id"])).count("ack") == 1
    time.sleep(chat.got.times[0] + 1.4 - time.monotonic())  # past tier 2's time
    assert oncall.got == [], oncall.got
    assert chat.bodies()[-1]["event"] == "incident_acknowledged", chat.bodies()[-1]



def test_forged_forms_and_wrong_tokens_get_nothing_and_change_nothing(h, certs):
    sp = free_port()
    g, sims = rippled_gate(h, certs, sp, names=("n1", "n2"))
    st, _, doc = call(sp, "POST", "/api/incidents", {"title": "Planned work", "pool": "rpc"})
    assert st == 201, doc
    iid = doc["id"]

    # no session: the console sends to the login form; a post is refused
    st, hd, _ = request(sp, "GET", "/ops/")
    assert (st, header(hd, "Location")) == (303, "/ops/login")
    st, hd, _ = request(sp, "GET", "/ops/", cookie="0" * 64)
    assert (st, header(hd, "Location")) == (303, "/ops/login")
    st, hd, body = request(sp, "GET", "/ops/login")
    assert st == 200 and 'type="password"' in body and "n1" not in body
    assert header(hd, "Cache-Control") == "no-store"
    st, _, _ = request(sp, "POST", "/ops/backends/drain", {"backend": "n2", "csrf": "0" * 64})
    assert st == 401

    # a wrong token: 401, no cookie
    for bad in ("wrong", TOKEN + "x", ""):
        st, sc, ck = login(sp, token=bad)
        assert (st, sc, ck) == (401, None, None)
    assert metric_value(sp, "nodegate_console_logins_total", result="wrong_token") == 3

    # the right one: a cookie with the right flags (plain HTTP listener: not Secure)
    st, sc, ck = login(sp)
    assert st == 303 and ck is not None, sc
    flags = [f.strip() for f in sc.split(";")[1:]]
    assert sorted(flags) == sorted(["Path=/ops/", f"Max-Age={8 * 3600}", "HttpOnly",
                                    "SameSite=Strict"]), sc
    st, hd, body = console(sp, ck)
    assert st == 200 and f'id="inc-{iid}"' in body
    assert header(hd, "Cache-Control") == "no-store"
    csp = header(hd, "Content-Security-Policy")
    for part in ("default-src 'none'", "form-action 'self'", "frame-ancestors 'none'",
                 "base-uri 'none'"):
        assert part in csp, csp
    assert "script" not in csp and "<script" not in body
    assert header(hd, "X-Frame-Options") == "DENY"
    token = csrf_of(body)
    before = full(sp, iid)["entries"]

    # forged notes: refused, nothing written
    path = f"/ops/incidents/{iid}/note"
    cases = [
        ({"text": "forged"}, {}, ck, 403),                      # no CSRF token
        ({"text": "forged", "csrf": "0" * 64}, {}, ck, 403),     # a wrong one
        ({"text": "forged", "csrf": token[:-1]}, {}, ck, 403),   # a malformed one
        ({"text": "forged", "csrf": token}, {"Origin": "http://evil.example"}, ck, 403),
        ({"text": "forged", "csrf": token}, {"Origin": "null"}, ck, 403),
        ({"text": "forged", "csrf": token}, {}, None, 401),      # no cookie
        ({"text": "forged", "csrf": token}, {}, "f" * 64, 401),  # a made-up cookie
    ]
    for fields, hdrs, cookie, want in cases:
        st, _, _ = request(sp, "POST", path, fields, cookie=cookie, headers=hdrs)
        assert st == want, (fields, hdrs, cookie, st)
    st, _, _ = request(sp, "POST", path, cookie=ck, raw=json.dumps({"text": "x", "csrf": token}),
                       headers={"Content-Type": "application/json"})
    assert st == 415
    st, _, _ = request(sp, "POST", "/ops/backends/drain", {"backend": "n2"}, cookie=ck)
    assert st == 403
    st, _, _ = request(sp, "POST", "/ops/logout", {}, cookie=ck)
    assert st == 403  # logout needs the token too
    assert full(sp, iid)["entries"] == before
    _, _, status = call(sp, "GET", "/api/status", token=None)
    assert {b["name"]: b["admin"] for b in status["pools"][0]["backends"]} == \
        {"n1": "none", "n2": "none"}
    assert metric_value(sp, "nodegate_console_refused_total", reason="csrf") == 5
    assert metric_value(sp, "nodegate_console_refused_total", reason="origin") == 2
    assert metric_value(sp, "nodegate_console_refused_total", reason="no_session") == 3
    assert metric_value(sp, "nodegate_console_refused_total", reason="not_a_form") == 1

    # the genuine form, from our own origin: done, then the console again (303)
    st, hd, _ = request(sp, "POST", path, {"text": "real <note>", "csrf": token}, cookie=ck,
                        headers={"Origin": f"http://{HOST}:{sp}"})
    assert (st, header(hd, "Location")) == (303, f"/ops/?m=note#inc-{iid}")
    assert full(sp, iid)["entries"][-1]["text"].endswith("real <note>")
    _, _, body = request(sp, "GET", "/ops/?m=note", cookie=ck)  # where it was sent
    assert "real &lt;note&gt;" in body and "real <note>" not in body  # escaped
    assert "Note added" in body

    # logout ends the session: the cookie opens nothing any more
    assert metric_value(sp, "nodegate_console_sessions") == 1
    st, hd, _ = request(sp, "POST", "/ops/logout", {"csrf": token}, cookie=ck)
    assert st == 303 and "Max-Age=0" in header(hd, "Set-Cookie")
    st, hd, _ = console(sp, ck)
    assert (st, header(hd, "Location")) == (303, "/ops/login")
    assert metric_value(sp, "nodegate_console_sessions") == 0
    assert metric_value(sp, "nodegate_console_sessions_ended_total", reason="logout") == 1


def test_sessions_expire_and_end_when_the_token_changes(h, certs):
    sp = free_port()
    g, sims = rippled_gate(h, certs, sp, names=("n1",))
    ini = g.ini.read_text()
    assert "console_session_ttl" not in ini
    ttl = ini.replace("[status]\n", "[status]\nconsole_session_ttl = 400ms\n", 1)
    mark = g.stderr().count("reload done")
    g.reload(ttl)
    wait_for(lambda: g.stderr().count("reload done") > mark, 5, "the reload")

    st, sc, ck = login(sp)
    assert st == 303 and "Max-Age=1;" in sc, sc
    assert console(sp, ck)[0] == 200
    time.sleep(0.5)
    st, hd, _ = console(sp, ck)
    assert (st, header(hd, "Location")) == (303, "/ops/login")
    assert metric_value(sp, "nodegate_console_sessions_ended_total", reason="expired") == 1

    # a new token (rotated, then reloaded) ends every session; the old token opens nothing
    g.reload(ini)
    wait_for(lambda: g.stderr().count("reload done") > mark + 1, 5, "the reload")
    _, _, ck = login(sp)
    assert console(sp, ck)[0] == 200
    (h.dir / "admin.token").write_text("a-new-token-9876543210\n")
    g.reload(ini + "\n")
    wait_for(lambda: g.stderr().count("reload done") > mark + 2, 5, "the reload")
    assert console(sp, ck)[0] == 303
    assert login(sp)[0] == 401
    assert login(sp, token="a-new-token-9876543210")[0] == 303


def test_console_switch_and_secure_cookie(h, certs):
    sp = free_port()
    g, sims = rippled_gate(h, certs, sp, names=("n1",))
    ini = g.ini.read_text()
    mark = g.stderr().count("reload done")

    def reload(text):
        nonlocal mark
        g.reload(text)
        wait_for(lambda: g.stderr().count("reload done") > mark, 5, "the reload")
        mark += 1

    # behind a TLS proxy (public_url https): the cookie is Secure
    reload(ini.replace("[status]\n", "[status]\npublic_url = https://status.example.net/\n", 1))
    st, sc, ck = login(sp)
    assert st == 303 and sc.endswith("; Secure"), sc
    # a form posted from that origin passes, another is refused
    _, _, body = console(sp, ck)
    tok = csrf_of(body)
    st, _, _ = request(sp, "POST", "/ops/logout", {"csrf": tok}, cookie=ck,
                       headers={"Origin": "https://status.example.net"})
    assert st == 303

    # console = no: nothing at /ops/, the admin API stays
    reload(ini.replace("[status]\n", "[status]\nconsole = no\n", 1))
    for method, path in (("GET", "/ops/"), ("GET", "/ops/login"), ("POST", "/ops/login")):
        st, _, _ = request(sp, method, path, {"token": TOKEN} if method == "POST" else None)
        assert st == 404, (method, path, st)
    assert call(sp, "GET", "/api/incidents")[0] == 200

    # no admin token: no console either (auto), and console = yes without one is an error
    no_token = "\n".join(l for l in ini.splitlines() if not l.startswith("admin_token_file"))
    reload(no_token + "\n")
    assert request(sp, "GET", "/ops/")[0] == 404
    bad = h.dir / "bad.ini"
    bad.write_text(no_token.replace("[status]\n", "[status]\nconsole = yes\n", 1) + "\n")
    code, text = nodegate_run("-t", "-c", str(bad))
    assert code != 0
    assert re.search(r"bad\.ini:\d+: \[status\] console: yes needs admin_token_file", text), text


def test_every_form_acts_as_the_admin_api_and_survives_a_restart(h, certs):
    sp = free_port()
    g, sims = rippled_gate(h, certs, sp)
    down(g, sims["n2"], "n2")
    inc = wait_for(lambda: the_open_one(sp), 3, "an open incident")
    iid = inc["id"]
    _, _, ck = login(sp, name="carol")
    tok = csrf_of(console(sp, ck)[2])

    def post(action, **fields):
        st, hd, _ = request(sp, "POST", f"/ops/{action}", {"csrf": tok, **fields}, cookie=ck)
        assert st == 303, (action, st)
        return header(hd, "Location")

    # refusals of bad values, with nothing changed
    before = full(sp, iid)
    assert post(f"incidents/{iid}/update", status="bogus", message="x").startswith("/ops/?m=bad")
    assert post(f"incidents/{iid}/update", status="identified", message="").startswith(
        "/ops/?m=empty")
    assert post(f"incidents/{iid}/note", text="x" * 300).startswith("/ops/?m=long")
    assert post(f"incidents/{iid}/priority", priority="P0", reason="x").startswith("/ops/?m=bad")
    assert post(f"incidents/{iid}/expected", at="tomorrow").startswith("/ops/?m=time")
    assert post("backends/drain", backend="nope").startswith("/ops/?m=gone")
    assert post("incidents/999/ack").startswith("/ops/?m=gone")
    assert full(sp, iid)["entries"] == before["entries"]
    _, _, body = request(sp, "GET", "/ops/?m=time", cookie=ck)
    assert "Not a time like" in body

    # the priority override with its reason, the expected recovery, as the API shows them
    assert post(f"incidents/{iid}/priority", priority="P1", reason="the exchange is down") \
        == f"/ops/?m=priority#inc-{iid}"
    assert post(f"incidents/{iid}/expected", at="2030-01-02T03:04:05Z") \
        == f"/ops/?m=expected#inc-{iid}"
    doc = full(sp, iid)
    assert (doc["priority"], doc["priority_set"]) == ("P1", True), doc
    assert doc["expected_recovery"]["at"] == "2030-01-02T03:04:05.000Z"
    assert doc["expected_recovery"]["by"] == "carol"
    texts = [e["text"] for e in doc["entries"]]
    assert any("the exchange is down" in t and "carol" in t for t in texts), texts
    _, _, body = console(sp, ck)
    assert 'data-priority="P1"' in body and "P1 (set by ops)" in body
    assert "2030-01-02T03:04:05.000Z (set by carol)" in body

    # the postmortem draft, as the admin API gives it
    st, hd, md = request(sp, "GET", f"/ops/incidents/{iid}/postmortem", cookie=ck)
    assert st == 200 and header(hd, "Content-Type").startswith("text/plain"), st
    assert md.startswith("#") and "the exchange is down" in md
    assert request(sp, "GET", f"/ops/incidents/{iid}/postmortem")[0] == 303  # no session

    # a drain made here is kept as the API's: still there after a restart
    assert post("backends/drain", backend="n3") == "/ops/?m=drain"
    assert post("backends/drain", backend="n3") == "/ops/?m=unchanged"
    g = restart(h, g)
    _, _, st = call(sp, "GET", "/api/status", token=None)
    assert {b["name"]: b["admin"] for b in st["pools"][0]["backends"]}["n3"] == "drain"
    assert console(sp, ck)[0] == 303  # sessions live in memory: log in again
    _, _, ck = login(sp, name="carol")
    tok = csrf_of(console(sp, ck)[2])
    assert post("backends/ready", backend="n3") == "/ops/?m=ready"
    _, _, st = call(sp, "GET", "/api/status", token=None)
    assert {b["name"]: b["admin"] for b in st["pools"][0]["backends"]}["n3"] == "none"

    # resolve: public, then among the recently resolved; a second click adds nothing
    assert post(f"incidents/{iid}/resolve", message="Fixed <for> good.") \
        == f"/ops/?m=resolve#inc-{iid}"
    assert post(f"incidents/{iid}/resolve", message="again") == f"/ops/?m=resolved#inc-{iid}"
    pub = public(sp, iid)
    assert not pub["open"], pub
    assert [e for e in pub["entries"] if e["kind"] == "update" and e["status"] == "resolved"
            and e["text"] == "Fixed <for> good."], pub["entries"]
    _, _, body = console(sp, ck)
    assert f'<details class="incident" id="inc-{iid}">' in body
    assert "Open incidents (0)" in body and "Fixed &lt;for&gt; good." in body


def test_failed_logins_are_throttled(h, certs):
    sp = free_port()
    rippled_gate(h, certs, sp, names=("n1",))
    for _ in range(20):
        assert login(sp, token="guess")[0] == 401
    st, sc, ck = login(sp, token="guess")
    assert (st, sc, ck) == (429, None, None)
    assert login(sp)[0] == 429  # for the rest of the minute, the admin API stays
    assert call(sp, "GET", "/api/incidents")[0] == 200
    assert metric_value(sp, "nodegate_console_logins_total", result="throttled") == 2
    assert metric_value(sp, "nodegate_console_logins_total", result="wrong_token") == 20


def test_similar_past_incidents_and_the_resolved_ones_show(h, certs):
    sp = free_port()
    g, sims = rippled_gate(h, certs, sp)
    down(g, sims["n2"], "n2")
    first = wait_for(lambda: the_open_one(sp), 3, "the first incident")
    up(g, sims["n2"], "n2")
    wait_for(lambda: the_open_one(sp) is None, 3, "the first resolved")
    down(g, sims["n2"], "n2")
    second = wait_for(lambda: the_open_one(sp), 3, "the second incident")
    _, _, ck = login(sp)
    _, _, body = console(sp, ck)
    doc = full(sp, second["id"])
    assert doc["similar"]["count"] == 1, doc["similar"]
    article = body[body.index(f'id="inc-{second["id"]}"'):body.index('<section id="backends">')]
    m = re.search(r'<dd class="similar">1; median time to resolve ([^<]+)</dd>', article)
    assert m, article
    assert f"#{first['id']}, started " in article and ", resolved in " in article
    assert "(suggested by similar incidents, to confirm)" in article
    assert doc["expected_recovery"]["suggested"] in article
    resolved = body[body.index('<section id="resolved">'):]
    assert f'<details class="incident" id="inc-{first["id"]}">' in resolved
