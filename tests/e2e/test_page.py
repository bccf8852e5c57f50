"""The public status page (issue 4): GET / on the status listener, read as a user would
during an outage the test creates (rippled nodes turned critical): first as plain HTML, as a
client without JavaScript gets it, then in a real browser, Debian's headless Chromium driven
by playwright-core (tests/e2e/browser/check_page.js), with JavaScript on (the page must
refresh itself in place), on a phone-sized screen, and with JavaScript off. Screenshots are
kept in the test's output folder (tests/e2e/out/BUILD/<test>/page*.png)."""
import json
import re
import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from harness import REPO, SLOW, free_port, http_conn, wait_for
from test_health import be, check_keys, log_lines, rippled_sim, set_health, wait_transition, wait_up
from test_status import api_status, fetch, pool_of, status_section

TITLE = 'XRPL <RPC> & "co"'  # markup in the configured title must come out as text
TOKEN = "page-test-admin-token"
BROWSER_DIR = REPO / "tests" / "e2e" / "browser"
CHROMIUM = "/usr/bin/chromium"
BAR_DAYS = 90

# ---------------------------------------------------------------------------------------
# helpers


def outage(h, certs, critical=("n2",), **status_kw):
    """Three rippled nodes in pool rpc (min_up 2) behind a gate with a [status] section, then
    the nodes in CRITICAL turned critical and out of rotation, and the incident open on the
    page. Returns (gate, status port, sims by name)."""
    sims = {n: rippled_sim(h, certs, n) for n in ("n1", "n2", "n3")}
    sp = free_port()
    token = h.dir / "admin.token"
    token.write_text(TOKEN + "\n")
    g = h.gate(h.gate_ini([be(s) for s in sims.values()], pool=check_keys("50ms", min_up=2),
                          extra=[status_section(sp, title=TITLE, admin_token_file=token,
                                                **status_kw)]))
    wait_up(g, list(sims))
    mark = log_lines(g)
    for name in critical:
        set_health(sims[name], "critical")
        wait_transition(g, name, "down", after=mark)
    wait_for(lambda: 'id="incidents"' in page(sp)[1], 3, "an open incident on the page")
    return g, sp, sims


def admin_post(sp, path, doc):
    """POST DOC to the admin API as ops would (curl with the bearer token): the answer."""
    c = http_conn(sp)
    try:
        c.request("POST", path, body=json.dumps(doc), headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        r = c.getresponse()
        answer = r.read()
        assert 200 <= r.status < 300, (path, r.status, answer)
        return json.loads(answer)
    finally:
        c.close()


def ops_update(sp, body, status="identified", message="", eta=None, next_update=None):
    """Ops post an update to the open incident shown in BODY; ETA and NEXT_UPDATE are seconds
    from now. Returns those times as the page shows them, "HH:MM UTC"."""
    m = re.search(r'<article class="card incident [^"]*" id="inc-(\d+)"', body)
    assert m, "no open incident on the page"
    doc = {"status": status, "message": message}
    for key, secs in (("eta", eta), ("next_update", next_update)):
        if secs is not None:
            doc[key] = utc_in(secs).strftime("%Y-%m-%dT%H:%M:%SZ")
    admin_post(sp, f"/api/incidents/{m.group(1)}/updates", doc)
    return {k: datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").strftime("%H:%M UTC")
            for k, v in doc.items() if k in ("eta", "next_update")}


def utc_in(seconds):
    """Now plus SECONDS, in UTC, to the second."""
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).replace(microsecond=0)


def page(sp, path="/"):
    """(response, body as text) of GET PATH."""
    status, r, body = fetch(sp, path)
    assert status == 200, (status, body[:300])
    return r, body.decode("utf-8")


class Text(HTMLParser):
    """The text a reader sees (script and style left out), and the elements that would
    fetch something from elsewhere."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.fetching, self._skip = [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        for key in ("src", "href", "action", "poster"):
            v = a.get(key)
            # a link to this site's own feeds (relative, never loaded with the page) is not
            # a fetch from elsewhere
            same_site = (tag == "a" or (tag == "link" and a.get("rel") == "alternate")) and \
                v is not None and ":" not in v and not v.startswith("/")
            if v is not None and not v.startswith(("#", "data:")) and not same_site:
                self.fetching.append((tag, key, v))
        if tag == "link" and a.get("rel") == "stylesheet":
            self.fetching.append((tag, "rel", "stylesheet"))

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)

    @property
    def text(self):
        return re.sub(r"\s+", " ", "".join(self.parts))


def read(body):
    t = Text()
    t.feed(body)
    t.close()
    return t


def pool_html(body, name="rpc"):
    """The markup of pool NAME's card."""
    m = re.search(r'<section class="card pool [^"]*" data-status="(\w+)" data-pool="%s">(.*?)'
                  r"</section>" % re.escape(name), body, re.S)
    assert m, f"no card for pool {name}"
    return m.group(1), m.group(2)


def nodes(card):
    """{name: (state attribute, word shown)} of a pool card."""
    return {n: (state, word) for state, n, word in re.findall(
        r'<li class="node [^"]*" data-state="(\w+)">.*?<span class="n">([^<]*)</span>.*?'
        r'<span class="st">([^<]*)</span>', card, re.S)}


def today_utc():
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


# ---------------------------------------------------------------------------------------
# without JavaScript: the HTML as served


def test_page_without_javascript_tells_the_outage_in_words(h, certs):
    """What a plain GET / gets during an outage: the overall state and each pool's in words,
    every node by name with its state, the open incident, a 90-day bar, times in UTC; the
    configured title escaped, no node address anywhere, nothing fetched from elsewhere."""
    g, sp, sims = outage(h, certs)
    r, body = page(sp)
    assert r.getheader("Content-Type") == "text/html; charset=utf-8"
    assert r.getheader("Cache-Control") == "no-store"
    csp = r.getheader("Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp, csp
    assert body.startswith("<!doctype html>") and '<meta name="viewport"' in body

    # the configured title, escaped: as text, never as markup
    escaped = "XRPL &lt;RPC&gt; &amp; &quot;co&quot;"
    assert f"<title>{escaped}: Degraded performance</title>" in body, body[:600]
    assert f"<h1>{escaped}</h1>" in body and "<RPC>" not in body
    seen = read(body)
    assert TITLE in seen.text
    assert seen.fetching == [], f"the page would fetch from elsewhere: {seen.fetching}"

    assert "Degraded performance" in seen.text
    status, card = pool_html(body)
    assert status == "degraded"
    assert nodes(card) == {"n1": ("up", "Operational"), "n2": ("down", "Down"),
                           "n3": ("up", "Operational")}, nodes(card)
    assert "2 of 3 nodes in rotation" in card
    assert card.count('class="d ') == BAR_DAYS, card.count('class="d ')
    assert f'title="{today_utc()} (today so far): ' in card
    assert re.search(r'<div class="foot">.*?<span class="up"[^>]*>(100 %|\d+\.\d\d %) uptime</span>',
                     card), card[-400:]

    # the incident about n2, with its opening entry and a time in UTC
    m = re.search(r'<section id="incidents">(.*?)</section>', body, re.S)
    assert m, "no ongoing incident"
    incident = read(m.group(1)).text
    assert "Some requests may be slow: 2 of 3 nodes in service" in incident, incident
    assert "UTC" in incident, incident
    # the health engine's words stay with ops: not a reason, not a transition, anywhere
    assert "peers" not in seen.text and "->" not in seen.text, seen.text
    assert "No update from the operators yet" in incident, incident
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">', m.group(1))

    # ops say what they know, when it should be over, and when they will say more; once
    # that time has passed without news, the page says so
    hm = ops_update(sp, body, "identified", "n2 lost its peers <b>after</b> an upgrade; "
                    "rolling back", eta=1800, next_update=2)
    body = page(sp)[1]
    latest = read(re.search(r'<div class="latest">(.*?)</div>', body, re.S).group(1)).text
    assert "Identified n2 lost its peers <b>after</b> an upgrade; rolling back" in latest
    assert "&lt;b&gt;after&lt;/b&gt;" in body
    assert re.search(r"Expected recovery: \d{4}-\d\d-\d\d %s \(in 30 min\)" % hm["eta"], latest)
    assert f"Next update by {hm['next_update']}" in latest, latest
    assert "was due" not in latest
    late = f"The next update was due at {hm['next_update']}"
    wait_for(lambda: late in read(page(sp)[1]).text, 5, "the page to say the update is late")
    assert re.search(re.escape(late) + r" \((just now|1 min ago)\) and has not been posted "
                     r"yet\.", read(page(sp)[1]).text)

    # where the nodes are is nobody's business by default
    for s in sims.values():
        for port in (s.port, s.peer_port):
            assert not re.search(rf"(?<!\d){port}(?!\d)", body), f"port {port} of {s.name} on the page"
    assert "127.0.0.1" not in body

    # a second node killed: fewer than min_up in rotation, so a partial outage in panic;
    # the probe's error names the address it could not reach, and the page hides it
    mark = log_lines(g)
    sims["n3"].kill()
    down = wait_transition(g, "n3", "down", after=mark)
    assert str(sims["n3"].peer_port) in down.reason, down.reason
    wait_for(lambda: pool_of(api_status(sp))["panic"], 2, "the pool in panic")
    body = page(sp)[1]
    text = read(body).text
    assert "Partial outage" in text
    assert "Panic: too few healthy nodes (1 in rotation, 2 wanted): serving from the least " \
        "bad." in text, text
    assert nodes(pool_html(body)[1])["n3"] == ("down", "Down")
    assert down.reason not in text and "(address hidden)" not in text, text  # ops' words
    for s in sims.values():
        for port in (s.port, s.peer_port):
            assert not re.search(rf"(?<!\d){port}(?!\d)", body), f"port {port} of {s.name} on the page"
    assert "127.0.0.1" not in body


def test_page_shows_addresses_only_when_public_and_answers_only_at_slash(h):
    """public_backend_details = yes (applied by a reload) shows each node's address; the
    page is GET or HEAD at / only, and the built-in routes still answer theirs."""
    sims = h.nodesims("n1", "n2")
    sp = free_port()
    g = h.gate(h.gate_ini(sims, extra=[status_section(sp)]))
    body = page(sp)[1]
    assert all(s.addr not in body for s in sims)
    assert "All systems operational" in read(body).text

    mark = log_lines(g)
    g.reload(h.gate_ini(sims, port=g.port, extra=[status_section(
        sp, public_backend_details="yes")]))
    wait_for(lambda: "reload done" in "\n".join(g.stderr().splitlines()[mark:]), 3,
             "the reload")
    body = page(sp)[1]
    for s in sims:
        assert f'<span class="addr">{s.addr}</span>' in body, s.addr

    for path in ("/nope", "/favicon.ico", "/index.html", "//"):
        assert fetch(sp, path)[0] == 404, path
    for method in ("POST", "PUT", "DELETE"):
        status, r, _ = fetch(sp, "/", method)
        assert (status, r.getheader("Allow")) == (405, "GET, HEAD"), method
    status, r, body = fetch(sp, "/", "HEAD")
    assert (status, body, r.getheader("Content-Type")) == (
        200, b"", "text/html; charset=utf-8")
    assert fetch(sp, "/?from=bookmark")[0] == 200
    assert fetch(sp, "/healthz")[2] == b"ok\n"
    assert pool_of(api_status(sp))["status"] == "operational"


# ---------------------------------------------------------------------------------------
# in a real browser


@pytest.fixture(scope="session")
def check_page():
    """tests/e2e/browser/check_page.js, ready to run: node, Debian's chromium and
    playwright-core (npm ci) installed when missing. Skips only when they cannot be."""
    why = ""
    missing = [pkg for pkg, exe in (("chromium", CHROMIUM), ("nodejs", "node"), ("npm", "npm"))
               if shutil.which(exe) is None]
    if missing:
        r = subprocess.run(["sh", str(REPO / "tests" / "deps.sh"), *missing],
                           capture_output=True, text=True, timeout=900)
        why = (r.stdout + r.stderr).strip()[-1500:]
    for exe in (CHROMIUM, "node", "npm"):
        if shutil.which(exe) is None:
            pytest.skip(f"{exe} is not installed and could not be installed: {why}")
    if not (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").exists():
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR,
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            pytest.skip("playwright-core could not be installed (npm ci in tests/e2e/browser): "
                        + (r.stdout + r.stderr).strip()[-1500:])
    return BROWSER_DIR / "check_page.js"


def browse(check_page, sp, out):
    """What Chromium showed of the page, looked at three ways (see check_page.js)."""
    r = subprocess.run(["node", str(check_page), f"http://127.0.0.1:{sp}/", str(out)],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0, f"check_page.js failed:\n{r.stderr[-4000:]}"
    return json.loads(r.stdout)


def user_view(seen):
    """The content a user reads, without what changes from second to second (relative
    times, the uptime of a pool that is down right now)."""
    return {
        "title": seen["title"], "h1": seen["h1"], "status": seen["status"],
        "banner": seen["banner"],
        "pools": [(p["name"], p["status"], p["badge"], p["panic"], p["days"],
                   [(n["name"], n["state"], n["word"]) for n in p["nodes"]])
                  for p in seen["pools"]],
        "incidents": [(i["id"], i["title"], i["badge"]) for i in seen["incidents"]],
        "past": [p["id"] for p in seen["past"]],
    }


def test_page_in_a_browser_during_an_outage_with_and_without_javascript(h, certs, check_page):
    """Chromium loads / while two of three nodes are critical: it shows the partial outage in
    words, the panic, each node's state, the incident, the 90-day bar with "no data" before
    the record began; it fetches nothing from elsewhere and logs no error (a refused inline
    script or style would be one). With JavaScript the page refreshes itself without
    reloading; on a phone nothing is wider than the screen; without JavaScript the same
    content is there."""
    g, sp, sims = outage(h, certs, critical=("n2", "n3"))
    wait_for(lambda: pool_of(api_status(sp))["panic"], 2, "the pool in panic")
    # ops are on it, but late with their next word; an earlier incident is over
    hm = ops_update(sp, page(sp)[1], "identified", "n2 and n3 lost their peers after an "
                    "upgrade; rolling back", eta=1800, next_update=1)
    past = admin_post(sp, "/api/incidents", {
        "title": "Slow answers from rpc", "pool": "rpc",
        "message": "Some requests take seconds; looking at the load."})
    admin_post(sp, f"/api/incidents/{past['id']}/updates",
               {"status": "resolved", "message": "A client was rate limited; all is well."})
    late = f"The next update was due at {hm['next_update']}"
    wait_for(lambda: late in read(page(sp)[1]).text, 5, "the page to say the update is late")
    started = time.monotonic()
    looks = browse(check_page, sp, h.dir)
    took = time.monotonic() - started
    base = f"http://127.0.0.1:{sp}/"

    for name, look in looks.items():
        assert look["httpStatus"] == 200, (name, look["httpStatus"])
        assert look["problems"] == [], (name, look["problems"])
        assert all(u == base for u in look["requests"]), (name, look["requests"])
        shot = look["screenshot"]
        with open(shot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", shot

        seen = look["seen"]
        assert seen["title"] == f"{TITLE}: Partial outage" and seen["h1"] == TITLE, seen["title"]
        assert (seen["status"], seen["banner"]) == ("partial_outage", "Partial outage")
        assert "1 of 1 service affected" in seen["bannerLine"], seen["bannerLine"]
        [pool] = seen["pools"]
        assert (pool["name"], pool["status"]) == ("rpc", "partial_outage")
        assert pool["badge"].endswith("Partial outage"), pool["badge"]
        assert pool["panic"].startswith("Panic: too few healthy nodes"), pool["panic"]
        assert [(n["name"], n["word"]) for n in pool["nodes"]] == [
            ("n1", "Operational"), ("n2", "Down"), ("n3", "Down")], pool["nodes"]
        assert all(n["visible"] for n in pool["nodes"])
        # the record began today (a fresh state_dir): 89 days without data, then today
        assert pool["days"] == BAR_DAYS and pool["barHeight"] >= 20, pool["days"]
        assert all(t.endswith(": no data") for t in pool["dayTitles"][:-1]), pool["dayTitles"]
        assert pool["dayTitles"][-1].startswith(f"{today_utc()} (today so far): ")
        assert re.fullmatch(r"(100|\d{1,2}\.\d\d) % uptime", pool["uptime"]), pool["uptime"]
        [incident] = seen["incidents"]
        assert "Some requests may fail or be slow" in incident["text"], incident
        assert incident["entries"] >= 2, incident
        assert incident["latest"].startswith("Identified n2 and n3 lost their peers"), incident
        assert f"{hm['eta']} (in 30 min)" in incident["latest"], incident["latest"]
        assert f"{late} (" in incident["latest"], incident["latest"]
        assert [(p["id"], p["open"]) for p in seen["past"]] == [(f"inc-{past['id']}", False)]
        assert seen["past"][0]["summary"].startswith("Slow answers from rpc"), seen["past"]
        assert "127.0.0.1" not in seen["body"]
        assert all(t for t in seen["relTimes"]), seen["relTimes"]

    js, phone, nojs = looks["js"], looks["phone"], looks["nojs"]
    assert js["seen"]["live"] and not nojs["seen"]["live"]
    assert "updates itself every 5 seconds" in js["seen"]["body"]
    assert "reloads itself every minute" in nojs["seen"]["body"]
    assert (js["refreshed"], js["sameDocument"], js["navigations"]) == (True, True, 1), js
    assert user_view(js["afterRefresh"]) == user_view(js["seen"])
    assert user_view(nojs["seen"]) == user_view(js["seen"])
    assert not phone["seen"]["overflowX"], "the page is wider than a phone's screen"
    assert took < 20 * SLOW, f"the browser took {took:.1f}s"
