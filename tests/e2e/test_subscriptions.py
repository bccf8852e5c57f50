"""Subscriptions end to end (issue 14): a user subscribes by email on the status page in
headless Chromium (JavaScript off), confirms through the link of the mail a real SMTP
receiver on loopback (aiosmtpd) took, then gets the open, update and resolve mails of a
scripted incident and nothing of ops' private notes; one POST to the List-Unsubscribe URL
ends it (RFC 8058) and no mail follows. A known and an unknown address get the same answer,
the per-address rate limit is counted, and addresses appear in no log line and no metric.
Webhooks: a receiver that echoes the challenge gets the events (incidents and maintenance), one
that does not is never activated."""
import email
import email.policy
import json
import re
import subprocess
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import HOST, SLOW, free_port, http_conn, wait_for
from test_admin import TOKEN, call, incidents, restart
from test_alerts import Mailbox
from test_health import be, check_keys, rippled_sim, set_health, wait_up
from test_page import BROWSER_DIR, check_page  # noqa: F401 (a fixture)
from test_status import status_section

USER = "Reader.One@Example.ORG"  # the domain's case is the user's, the address is the same
FROM = "status@example.net"
CONFIRM = re.compile(r"(http://\S+/subscribe/confirm\?token=[0-9a-f]{64})")

# ---------------------------------------------------------------------------------------
# helpers


def subs_gate(h, certs, sp, box=None, names=("n1", "n2", "n3"), **subs):
    """Rippled nodes probed every 50ms behind a gate with a status page on SP, the admin
    token, and [subscriptions] mailing through BOX."""
    sims = {n: rippled_sim(h, certs, n) for n in names}
    keys = check_keys("50ms", rise=2, readmit_after="100ms", slow_start="0")
    tok = h.dir / "admin.token"
    tok.write_text(f"{TOKEN}\n")
    sub = {"retry_backoff": "100ms", "timeout": "2s", "per_address": "2", "global_rate": "1000"}
    if box is not None:
        sub.update(smtp_url=box.url, **{"from": FROM})
    sub.update({k: str(v) for k, v in subs.items()})
    ini = h.gate_ini([be(s) for s in sims.values()], pool=keys,
                     glob={"state_dir": h.dir / "state"},
                     extra=[status_section(sp, admin_token_file=tok), ("subscriptions", sub)])
    g = h.gate(ini)
    wait_up(g, list(sims))
    return g, sims


def form_post(sp, path, fields, body=None, ctype="application/x-www-form-urlencoded"):
    """(status, headers, body text) of a form POST to the status listener."""
    c = http_conn(sp)
    try:
        data = body if body is not None else urllib.parse.urlencode(fields, doseq=True)
        c.request("POST", path, body=data, headers={"Content-Type": ctype})
        r = c.getresponse()
        return r.status, r, r.read().decode()
    finally:
        c.close()


def mails_to(box, rcpt):
    """The mails BOX took for RCPT, parsed, in order."""
    return [email.message_from_string(text, policy=email.policy.default)
            for _, to, text, _, _ in list(box.got) if rcpt in to]


def wait_mail(box, rcpt, subject_part, timeout=5):
    def found():
        hits = [m for m in mails_to(box, rcpt) if subject_part in m["Subject"]]
        return hits[-1] if hits else None
    return wait_for(found, timeout * SLOW, f"a mail to {rcpt} about {subject_part!r}")


def metric(sp, name, **labels):
    _, _, text = form_get(sp, "/metrics")
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{want} not in /metrics")


def form_get(sp, path):
    c = http_conn(sp)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r, r.read().decode()
    finally:
        c.close()


def subscribers(sp):
    status, _, doc = call(sp, "GET", "/api/subscribers")
    assert status == 200, (status, doc)
    return doc["subscribers"]


def browser(script, *args):
    r = subprocess.run(["node", str(script), *args], capture_output=True, text=True,
                       timeout=60 * SLOW)
    assert r.returncode == 0, f"{script.name} failed:\n{r.stderr[-4000:]}"
    return json.loads(r.stdout)


@pytest.fixture
def subscribe_js(check_page):  # noqa: F811 (the fixture of test_page)
    return BROWSER_DIR / "subscribe.js"


def open_incident(sp):
    found = [i for i in incidents(sp) if i["open"]]
    return found[0] if len(found) == 1 else None


def iso_in(seconds):
    t = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------
# email


def test_email_subscription_confirm_incident_mails_one_click_unsubscribe(
        h, certs, subscribe_js):
    box = Mailbox()
    try:
        sp = free_port()
        g, sims = subs_gate(h, certs, sp, box)
        page = f"http://{HOST}:{sp}/"

        # the form on the page, sent by Chromium with JavaScript off
        seen = browser(subscribe_js, "subscribe", page, USER)
        assert seen["pageStatus"] == 200 and seen["formVisible"], seen
        assert seen["pools"] == ["rpc"], seen
        assert (seen["status"], seen["heading"]) == (200, "Check your mail"), seen
        confirm_mail = wait_mail(box, "Reader.One@example.org", "Confirm your subscription")
        assert confirm_mail["From"] == FROM
        unsub = confirm_mail["List-Unsubscribe"]
        assert re.fullmatch(r"<http://\S+/unsubscribe\?token=\d+\.[0-9a-f]{32}>", unsub), unsub
        assert confirm_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = CONFIRM.search(confirm_mail.get_content()).group(1)
        assert [s["state"] for s in subscribers(sp)] == ["pending"]

        # a link with a wrong token confirms nothing
        bad = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
        status, _, _ = form_post(sp, "/subscribe/confirm", {"token": bad.split("token=")[1]})
        assert status == 404

        # the link of the mail, opened in Chromium: a page with a button, which confirms
        seen = browser(subscribe_js, "confirm", link)
        assert seen["linkStatus"] == 200 and seen["before"]["button"] == "Confirm subscription"
        assert (seen["status"], seen["heading"]) == (200, "Subscribed"), seen
        subs = subscribers(sp)
        assert [(s["kind"], s["state"], s["address"], s["pools"]) for s in subs] == \
            [("email", "active", "Reader.One@example.org", "all")], subs
        # used once: the same link does not confirm again
        status, _, _ = form_post(sp, "/subscribe/confirm", {"token": link.split("token=")[1]})
        assert status == 404
        assert metric(sp, "nodegate_subscribers", kind="email", state="active") == 1

        # the same answer for the known address and for an unknown one
        known = form_post(sp, "/subscribe", {"email": USER})
        unknown = form_post(sp, "/subscribe", {"email": "someone.else@example.org"})
        assert (known[0], known[2]) == (unknown[0], unknown[2]) and known[0] == 200
        assert known[1].getheader("Content-Type") == unknown[1].getheader("Content-Type")
        wait_mail(box, "someone.else@example.org", "Confirm")
        time.sleep(0.3)
        assert len(mails_to(box, "Reader.One@example.org")) == 1  # the known one got nothing

        # a scripted incident: a node goes critical, ops post a public update and a private
        # note, the node comes back
        set_health(sims["n2"], "critical")
        opened = wait_mail(box, "Reader.One@example.org", "Incident")
        inc = wait_for(lambda: open_incident(sp), 3 * SLOW, "the open incident")
        # plain words for the public (issue 14), never the health engine's
        assert opened["Subject"] == \
            "[rpc] Incident: Some requests may be slow: 2 of 3 nodes in service", opened["Subject"]
        assert "critical" not in opened.get_content() and "peers 0" not in opened.get_content()
        assert opened["List-Unsubscribe"] == unsub
        status, _, doc = call(sp, "POST", f"/api/incidents/{inc['id']}/notes",
                              {"text": "PRIVATE-NOTE suspect the switch", "by": "ops"})
        assert status in (200, 201), (status, doc)
        status, _, doc = call(sp, "POST", f"/api/incidents/{inc['id']}/updates",
                              {"status": "identified",
                               "message": "One node lost its peers; we are restarting it."})
        assert status == 201, (status, doc)
        update = wait_mail(box, "Reader.One@example.org", "Update (identified)")
        assert "One node lost its peers; we are restarting it." in update.get_content()
        set_health(sims["n2"], "healthy")
        resolved = wait_mail(box, "Reader.One@example.org", "Resolved")
        assert "is resolved" in resolved.get_content()
        assert "Service restored" in resolved.get_content()
        time.sleep(0.3)
        mine = mails_to(box, "Reader.One@example.org")
        assert [m["Subject"].split(":")[0] for m in mine] == [
            "Confirm your subscription to status updates", "[rpc] Incident",
            "[rpc] Update (identified)", "[rpc] Resolved"], [m["Subject"] for m in mine]
        assert not any("PRIVATE-NOTE" in m.get_content() for m in mine)

        # one click: a POST to the List-Unsubscribe URL, no confirmation
        url = urllib.parse.urlsplit(resolved["List-Unsubscribe"].strip("<>"))
        status, _, text = form_post(sp, f"{url.path}?{url.query}", None,
                                    body="List-Unsubscribe=One-Click")
        assert status == 200 and "Unsubscribed" in text
        assert [s["address"] for s in subscribers(sp)] == ["someone.else@example.org"]
        # a second click says it is done; a forged token for the other subscriber is refused
        assert form_post(sp, f"{url.path}?{url.query}", None,
                         body="List-Unsubscribe=One-Click")[0] == 200
        other = subscribers(sp)[0]["id"]
        assert form_post(sp, f"{url.path}?token={other}.{'0' * 32}", None, body="")[0] == 404
        assert len(subscribers(sp)) == 1

        # no more mail: another incident opens and resolves
        n_before = len(mails_to(box, "Reader.One@example.org"))
        set_health(sims["n3"], "critical")
        wait_for(lambda: open_incident(sp), 3 * SLOW, "a second incident")
        set_health(sims["n3"], "healthy")
        wait_for(lambda: open_incident(sp) is None and len(incidents(sp)) == 2, 5 * SLOW,
                 "the second incident resolved")
        time.sleep(0.5)
        assert len(mails_to(box, "Reader.One@example.org")) == n_before

        # the addresses are in no log line and no metric
        _, _, metrics_text = form_get(sp, "/metrics")
        for text in (g.stderr(), metrics_text, (h.access_log.read_text()
                                                if h.access_log.exists() else "")):
            assert "example.org" not in text.lower()
        assert metric(sp, "nodegate_subscriptions_total", event="unsubscribed") == 1
        assert metric(sp, "nodegate_subscription_messages_total", channel="mail",
                      result="delivered") == 5
    finally:
        box.stop()


def test_per_address_rate_limit_is_counted_and_answers_the_same(h, certs):
    box = Mailbox()
    try:
        sp = free_port()
        subs_gate(h, certs, sp, box, names=("n1",), per_address=2)
        answers = [form_post(sp, "/subscribe", {"email": "flood@example.org", "pool": "rpc"})
                   for _ in range(4)]
        assert len({(a[0], a[2]) for a in answers}) == 1 and answers[0][0] == 200
        wait_for(lambda: len(mails_to(box, "flood@example.org")) == 2, 5 * SLOW, "two mails")
        time.sleep(0.3)
        assert len(mails_to(box, "flood@example.org")) == 2
        assert metric(sp, "nodegate_subscription_limited_total", scope="address") == 2
        # the second mail's link is the one that works: the first token was replaced (one
        # recipient's mails go one at a time, in order)
        first, second = mails_to(box, "flood@example.org")
        t1 = CONFIRM.search(first.get_content()).group(1).split("token=")[1]
        t2 = CONFIRM.search(second.get_content()).group(1).split("token=")[1]
        assert form_post(sp, "/subscribe/confirm", {"token": t1})[0] == 404
        assert form_post(sp, "/subscribe/confirm", {"token": t2})[0] == 200
        assert [(s["state"], s["pools"]) for s in subscribers(sp)] == [("active", "rpc")]
        # ops list and delete subscribers with the token only
        sid = subscribers(sp)[0]["id"]
        assert call(sp, "GET", "/api/subscribers", token=None)[0] == 401
        assert call(sp, "DELETE", f"/api/subscribers/{sid}", token="wrong")[0] == 401
        status, _, doc = call(sp, "DELETE", f"/api/subscribers/{sid}")
        assert (status, doc) == (200, {"deleted": sid})
        assert subscribers(sp) == []
        assert call(sp, "DELETE", f"/api/subscribers/{sid}")[0] == 404
        assert metric(sp, "nodegate_subscriptions_total", event="deleted") == 1
        # bad input is told, and unknown pools too
        assert form_post(sp, "/subscribe", {"email": "not an address"})[0] == 400
        assert form_post(sp, "/subscribe", {"email": "a@example.org", "pool": "nope"})[0] == 400
        assert form_get(sp, "/subscribe")[0] == 405
    finally:
        box.stop()


def test_global_rate_limit_is_counted(h, certs):
    box = Mailbox()
    try:
        sp = free_port()
        subs_gate(h, certs, sp, box, names=("n1",), global_rate=1)
        answers = [form_post(sp, "/subscribe", {"email": f"user{i}@example.org"})
                   for i in range(3)]
        assert len({(a[0], a[2]) for a in answers}) == 1
        wait_for(lambda: len(box.got) == 1, 5 * SLOW, "one mail")
        time.sleep(0.3)
        assert len(box.got) == 1 and mails_to(box, "user0@example.org")
        assert metric(sp, "nodegate_subscription_limited_total", scope="global") == 2
        assert metric(sp, "nodegate_subscription_limited_total", scope="address") == 0
    finally:
        box.stop()


# ---------------------------------------------------------------------------------------
# webhooks


class Hook:
    """A webhook receiver on loopback (http.server) that records every POSTed JSON body and,
    when ECHO, answers a challenge with {"challenge": ...}. While REFUSE is above 0 an event
    (not a challenge) is answered 503 and counted in REFUSED, not recorded."""

    def __init__(self, echo):
        self.got = []
        self.refuse = self.refused = 0
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if rec.refuse > 0 and body.get("event") != "subscription_challenge":
                    rec.refuse -= 1
                    rec.refused += 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                rec.got.append(body)
                out = b"ok"
                if echo and body.get("event") == "subscription_challenge":
                    out = json.dumps({"challenge": body["challenge"]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self):
        return [b["event"] for b in list(self.got)]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_webhook_verified_by_challenge_gets_incident_and_maintenance_events(h, certs):
    good, bad = Hook(echo=True), Hook(echo=False)
    try:
        sp = free_port()
        g, _ = subs_gate(h, certs, sp, names=("n1",), webhooks="yes")
        dead = f"{HOST}:{free_port()}"  # nothing listens: tried 4 times, then dropped
        for url in (good.url, bad.url, f"http://{dead}/hook"):
            status, _, _ = form_post(sp, "/subscribe", {"webhook": url})
            assert status == 202
        wait_for(lambda: [s["address"] for s in subscribers(sp)] == [good.url] and
                 subscribers(sp)[0]["state"] == "active", 5 * SLOW, "the echoing hook active")
        assert bad.events() == ["subscription_challenge"]
        assert metric(sp, "nodegate_subscriptions_total", event="challenge_failed") == 2
        assert metric(sp, "nodegate_subscription_messages_total", channel="webhook",
                      result="dropped") == 1
        # the receivers' addresses are in no log line
        for addr in (good.url.split("/")[2], bad.url.split("/")[2], dead):
            assert addr not in g.stderr()

        # a public incident (opened by ops), an update, its resolve
        status, _, doc = call(sp, "POST", "/api/incidents",
                              {"title": "Slow answers", "message": "We are looking into it",
                               "pool": "rpc", "severity": "degraded"})
        assert status == 201, (status, doc)
        iid = doc["id"]
        status, _, _ = call(sp, "POST", f"/api/incidents/{iid}/updates",
                            {"status": "monitoring", "message": "A fix is out"})
        assert status == 201
        status, _, _ = call(sp, "POST", f"/api/incidents/{iid}/updates",
                            {"status": "resolved", "message": "All good again"})
        assert status == 201
        # a maintenance announced 1 s ahead: scheduled, started, ended
        status, _, doc = call(sp, "POST", "/api/incidents",
                              {"title": "Node upgrade", "message": "rippled 2.x",
                               "pool": "rpc", "severity": "degraded",
                               "planned_start": iso_in(1), "planned_end": iso_in(3600)})
        assert status == 201, (status, doc)
        mid = doc["id"]
        wait_for(lambda: "maintenance_started" in good.events(), 5 * SLOW, "the start")
        status, _, _ = call(sp, "POST", f"/api/incidents/{mid}/updates",
                            {"status": "resolved", "message": "Upgrade done"})
        assert status == 201
        want = ["subscription_challenge", "incident_opened", "incident_updated",
                "incident_resolved", "maintenance_scheduled", "maintenance_started",
                "maintenance_ended"]
        wait_for(lambda: good.events() == want, 5 * SLOW, f"{want}, got {good.events()}")
        ev = {b["event"]: b for b in good.got}
        assert ev["incident_opened"]["incident"] == iid and ev["incident_opened"]["pool"] == "rpc"
        assert ev["incident_updated"]["text"] == "A fix is out"
        assert ev["incident_updated"]["status"] == "monitoring"
        assert ev["incident_resolved"]["text"] == "All good again"
        assert ev["maintenance_scheduled"]["incident"] == mid
        assert "/unsubscribe?token=" in ev["incident_opened"]["unsubscribe_url"]
        assert bad.events() == ["subscription_challenge"]  # never activated, never told

        # the webhook's unsubscribe link works as the mail's
        url = urllib.parse.urlsplit(ev["maintenance_ended"]["unsubscribe_url"])
        assert form_post(sp, f"{url.path}?{url.query}", None, body="")[0] == 200
        assert subscribers(sp) == []
    finally:
        good.stop()
        bad.stop()


def test_subscribers_and_their_links_survive_a_restart(h, certs):
    box = Mailbox()
    try:
        sp = free_port()
        g, _ = subs_gate(h, certs, sp, box, names=("n1",))
        assert form_post(sp, "/subscribe", {"email": "kept@example.org"})[0] == 200
        first = wait_mail(box, "kept@example.org", "Confirm")
        token = CONFIRM.search(first.get_content()).group(1).split("token=")[1]
        assert form_post(sp, "/subscribe/confirm", {"token": token})[0] == 200
        g2 = restart(h, g)
        assert [s["state"] for s in subscribers(sp)] == ["active"]
        # still told, with the same unsubscribe link (its key is kept in the store)
        status, _, doc = call(sp, "POST", "/api/incidents",
                              {"title": "Planned restart", "pool": "rpc",
                               "severity": "degraded"})
        assert status == 201, (status, doc)
        told = wait_mail(box, "kept@example.org", "Incident: Planned restart")
        assert told["List-Unsubscribe"] == first["List-Unsubscribe"]
        url = urllib.parse.urlsplit(told["List-Unsubscribe"].strip("<>"))
        assert form_post(sp, f"{url.path}?{url.query}", None,
                         body="List-Unsubscribe=One-Click")[0] == 200
        assert subscribers(sp) == []
        assert "kept@example.org" not in g2.stderr()
    finally:
        box.stop()
