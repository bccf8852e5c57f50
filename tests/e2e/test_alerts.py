"""Alert channels end to end (issue 5): simulated rippled nodes leave rotation and come back;
real receivers on loopback (a webhook, a PagerDuty-shaped one, an SMTP server) get exactly one
message when an incident opens, one when it resolves (PagerDuty: trigger then resolve with
the same dedup key), nothing for a one-probe blip nor while a restarted node syncs, and one
grace_expired when it never recovers. Failed deliveries are retried with a backoff; a receiver
that never answers does not slow client traffic. `nodegate --test-alert NAME` sends one."""
import http.client
import json
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import HOST, SLOW, free_port, nodegate_run, wait_for
from test_admin import TOKEN, entry_texts, incidents
from test_health import (be, check_keys, log_lines, restart, rippled_sim, set_health,
                         wait_transition, wait_up)
from test_status import scrape, status_section, value

ROUTING_KEY = "R0UT1NGKEY0123456789abcdef012345"

# ---------------------------------------------------------------------------------------
# receivers


class Receiver:
    """An HTTP receiver on loopback that records every POST (path, headers, JSON body) and
    answers with the next status of STATUSES (the last one repeats)."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.got = []
        self.lock = threading.Lock()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with rec.lock:
                    code = rec.statuses[min(len(rec.got), len(rec.statuses) - 1)]
                    rec.got.append((self.path, dict(self.headers), body, code))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, path=None):
        """The JSON bodies answered 2xx (delivered), in order."""
        with self.lock:
            return [json.loads(b) for p, _, b, c in self.got
                    if 200 <= c < 300 and (path is None or p == path)]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Silent:
    """Accepts connections and never answers (a hung receiver)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self.conns = []
        self.done = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.done:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append((c, time.monotonic()))

    def stop(self):
        self.done = True
        self.sock.close()
        for c, _ in self.conns:
            c.close()


class Mailbox:
    """An SMTP server on loopback (aiosmtpd) that records every mail it takes and accepts
    the login USER / PASSWORD. MODE: "plain"; "starttls" (MAIL refused before STARTTLS,
    AUTH offered only over TLS) or "smtps" (TLS from the first byte), both with CERT. While
    REFUSE is above 0 a mail is refused (451, try again later) and counted in REFUSED."""

    def __init__(self, mode="plain", certs=None, user=b"ops", password=b"mail-pass"):
        import ssl

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.got = []  # (mail_from, rcpt_tos, text, authenticated, over TLS)
        self.refuse = self.refused = 0
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if box.refuse > 0:
                    box.refuse -= 1
                    box.refused += 1
                    return "451 4.3.0 Try again later"
                tls = server.transport.get_extra_info("ssl_object") is not None
                box.got.append((envelope.mail_from, list(envelope.rcpt_tos),
                                envelope.content.decode(), session.authenticated, tls))
                return "250 OK"

        def auth(server, session, envelope, mechanism, data):
            return AuthResult(success=(data.login, data.password) == (user, password))

        ctx = None
        if mode != "plain":
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(certs.cert, certs.key)
        tls = {"plain": {"auth_require_tls": False},
               "starttls": {"tls_context": ctx, "require_starttls": True},
               # aiosmtpd does not know the transport is TLS: it would not offer AUTH
               "smtps": {"ssl_context": ctx, "auth_require_tls": False}}[mode]
        self.port = free_port()
        self.ctl = Controller(Handler(), hostname=HOST, port=self.port, authenticator=auth,
                              **tls)
        self.ctl.start()
        scheme = "smtps" if mode == "smtps" else "smtp"
        self.url = f"{scheme}://{HOST}:{self.port}"

    def stop(self):
        self.ctl.stop()


@pytest.fixture
def receivers():
    made = []

    def make(cls=Receiver, *args):
        r = cls(*args)
        made.append(r)
        return r
    yield make
    for r in made:
        r.stop()


# ---------------------------------------------------------------------------------------
# helpers


def webhook(name, url, **more):
    kv = {"type": "webhook", "url": url, "retry_backoff": "100ms", "timeout": "2s"}
    kv.update({k: str(v) for k, v in more.items()})
    return (f"alert {name}", kv)


def pagerduty(name, url, **more):
    kv = {"type": "pagerduty", "url": url, "routing_key": ROUTING_KEY,
          "retry_backoff": "100ms", "timeout": "2s"}
    kv.update({k: str(v) for k, v in more.items()})
    return (f"alert {name}", kv)


def alert_gate(h, certs, alerts, names=("n1", "n2", "n3"), sims=None, status=None, **pool):
    """Rippled nodes probed every 50ms (readmitted after two healthy probes, no slow start),
    a status listener (more keys in STATUS), state in h.dir/state, and the ALERTS sections.
    Returns (gate, status port, {name: sim})."""
    sims = sims or {n: rippled_sim(h, certs, n, port=free_port(), peer_port=free_port())
                    for n in names}
    sp = free_port()
    keys = check_keys("50ms", rise=2, readmit_after="100ms", slow_start="0", **pool)
    status = dict(status or {})
    if "admin_token_file" not in status:  # ops read the timelines (test_admin.incidents)
        token = h.dir / "admin.token"
        token.write_text(TOKEN + "\n")
        status["admin_token_file"] = token
    ini = h.gate_ini([be(s) for s in sims.values()], pool=keys,
                     glob={"state_dir": h.dir / "state"},
                     extra=[status_section(sp, **status), *alerts])
    g = h.gate(ini)
    wait_up(g, list(sims))
    return g, sp, sims


def events(rec):
    return [b["event"] for b in rec.bodies()]


def pd_actions(rec):
    return [(b["event_action"], b["dedup_key"]) for b in rec.bodies()]


def quiet(recs, seconds):
    """Nothing more reaches any of RECS for SECONDS (a bounded wait for an absence)."""
    before = [len(r.got) for r in recs]
    time.sleep(seconds)
    assert [len(r.got) for r in recs] == before, [r.got[n:] for r, n in zip(recs, before)]


def one_warning_probe(sim):
    """SIM answers warning for about one probe, then healthy again."""
    p0 = sim.stats()["peer_requests"]
    set_health(sim, "warning")
    try:
        wait_for(lambda: sim.stats()["peer_requests"] > p0, 3, "a warning probe", interval=0.003)
    finally:
        set_health(sim, "healthy")


def alerts_total(sp, channel, result):
    return value(scrape(sp), "nodegate_alerts", "nodegate_alerts_total", channel=channel,
                 result=result)


def the_incident(sp):
    found = incidents(sp)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------------------------------
# tests


def test_one_trigger_one_resolve_nothing_for_a_blip(h, certs, receivers):
    hook, pd = receivers(), receivers()
    g, sp, sims = alert_gate(h, certs, [webhook("ops", hook.url + "/ops"),
                                        pagerduty("pager", pd.url + "/v2/enqueue")])
    # a one-probe blip: no transition, no incident, nothing sent
    mark = log_lines(g)
    one_warning_probe(sims["n2"])
    quiet([hook, pd], 0.5)
    assert " -> " not in "\n".join(g.stderr().splitlines()[mark:]).replace("checking -> ", "")

    set_health(sims["n2"], "critical")
    wait_transition(g, "n2", "down", after=mark)
    wait_for(lambda: len(hook.got) >= 1 and len(pd.got) >= 1, 5, "the open alerts")
    inc = the_incident(sp)
    [opened] = hook.bodies()
    assert opened["event"] == "incident_open" and opened["incident"] == inc["id"], opened
    assert (opened["pool"], opened["severity"], opened["status"]) == ("rpc", "warning",
                                                                     "degraded"), opened
    assert opened["title"].startswith("rpc: degraded (n2 down: "), opened
    assert opened["status_url"] == f"http://{HOST}:{sp}/", opened
    assert opened["time"].endswith("Z")
    [trigger] = pd.bodies()
    key = f"nodegate-incident-{inc['id']}"
    assert (trigger["routing_key"], trigger["event_action"], trigger["dedup_key"]) == \
        (ROUTING_KEY, "trigger", key), trigger
    assert trigger["payload"]["severity"] == "warning", trigger
    assert trigger["payload"]["summary"].startswith(f"[warning] incident {inc['id']} opened"), \
        trigger
    assert pd.got[0][1]["Content-Type"] == "application/json"

    mark = log_lines(g)
    set_health(sims["n2"], "healthy")
    wait_transition(g, "n2", "up", after=mark)
    wait_for(lambda: len(hook.got) >= 2 and len(pd.got) >= 2, 5, "the resolve alerts")
    quiet([hook, pd], 0.3)
    assert events(hook) == ["incident_open", "incident_resolved"]
    assert pd_actions(pd) == [("trigger", key), ("resolve", key)]
    assert hook.bodies()[1]["incident"] == inc["id"]

    # counted, logged, and in the incident's timeline
    assert alerts_total(sp, "ops", "delivered") == 2
    assert alerts_total(sp, "pager", "delivered") == 2
    assert alerts_total(sp, "ops", "failed") == 0
    texts = wait_for(lambda: (t := entry_texts(the_incident(sp))).count(
        "alert pager: delivered (HTTP 202, 1 try)") + t.count(
        "alert pager: delivered (HTTP 200, 1 try)") == 2 and t, 3, "the timeline lines")
    assert texts.count("alert ops: delivered (HTTP 200, 1 try)") == 2, texts
    assert "alert ops: incident_open of incident" in g.stderr()
    assert ROUTING_KEY not in g.stderr()
    assert g.alive()


def test_nothing_while_a_restarted_node_syncs(h, certs, receivers):
    hook, pd = receivers(), receivers()
    g, sp, sims = alert_gate(h, certs, [webhook("ops", hook.url),
                                        pagerduty("pager", pd.url)], sync_grace="30s")
    mark = log_lines(g)
    sims["n2"].kill(signal.SIGKILL)
    wait_transition(g, "n2", "down", after=mark, timeout=3)
    wait_for(lambda: len(hook.got) >= 1 and len(pd.got) >= 1, 5, "the open alerts")
    n2 = restart(h, certs, sims["n2"], state="warning")
    wait_transition(g, "n2", "syncing", after=mark, timeout=3)
    p = n2.stats()["peer_requests"]
    wait_for(lambda: n2.stats()["peer_requests"] >= p + 10, 5, "10 probes while syncing")
    quiet([hook, pd], 0.3)
    assert events(hook) == ["incident_open"]
    assert [a for a, _ in pd_actions(pd)] == ["trigger"]

    set_health(n2, "healthy")
    wait_transition(g, "n2", "up", after=mark, timeout=3)
    wait_for(lambda: len(hook.got) >= 2 and len(pd.got) >= 2, 5, "the resolve alerts")
    quiet([hook, pd], 0.3)
    assert events(hook) == ["incident_open", "incident_resolved"]
    (a1, k1), (a2, k2) = pd_actions(pd)
    assert (a1, a2) == ("trigger", "resolve") and k1 == k2, pd_actions(pd)
    assert g.alive()


def test_grace_expired_is_sent_once(h, certs, receivers):
    hook, pd = receivers(), receivers()
    g, sp, sims = alert_gate(h, certs, [webhook("ops", hook.url, min_severity="critical"),
                                        pagerduty("pager", pd.url)], sync_grace="1s")
    mark = log_lines(g)
    sims["n2"].kill(signal.SIGKILL)
    wait_transition(g, "n2", "down", after=mark, timeout=3)
    n2 = restart(h, certs, sims["n2"], state="warning")
    wait_transition(g, "n2", "syncing", after=mark, timeout=3)
    # min_severity critical: the degraded open is not sent to ops, the grace expiry is
    wait_for(lambda: len(hook.got) >= 1, 5 * SLOW, "the grace_expired alert")
    wait_for(lambda: len(pd.got) >= 2, 5, "the pager's trigger and grace_expired")
    p = n2.stats()["peer_requests"]
    wait_for(lambda: n2.stats()["peer_requests"] >= p + 10, 5, "10 more probes")
    quiet([hook, pd], 0.3)
    [expired] = hook.bodies()
    assert (expired["event"], expired["backend"], expired["pool"]) == \
        ("grace_expired", "n2", "rpc"), expired
    assert expired["reason"] == "sync grace expired", expired
    inc = the_incident(sp)
    assert expired["incident"] == inc["id"], expired
    triggers = pd.bodies()
    assert [b["event_action"] for b in triggers] == ["trigger", "trigger"], triggers
    assert [b["payload"]["class"] for b in triggers] == ["incident_open", "grace_expired"]
    assert {b["dedup_key"] for b in triggers} == {f"nodegate-incident-{inc['id']}"}
    assert g.alive()


def test_500_twice_then_200_is_delivered_on_the_third_try(h, certs, receivers):
    hook = receivers(Receiver, (500, 500, 200))
    g, sp, sims = alert_gate(h, certs, [webhook("ops", hook.url, retries=5,
                                                retry_backoff="200ms")])
    mark = log_lines(g)
    set_health(sims["n3"], "critical")
    wait_transition(g, "n3", "down", after=mark)
    wait_for(lambda: len(hook.got) >= 3, 5 * SLOW, "three tries")
    quiet([hook], 0.5)
    assert [c for _, _, _, c in hook.got] == [500, 500, 200]
    bodies = [json.loads(b) for _, _, b, _ in hook.got]
    assert bodies[0] == bodies[1] == bodies[2], "a retry sent another message"
    # the backoff doubles: 200ms, then 400ms (wide bounds: a loaded box)
    log = [line for line in g.stderr().splitlines() if line.split(" ", 2)[2].startswith(
        "alert ops: incident_open")]
    assert len(log) == 3, log
    assert "try 1 failed: HTTP 500; retry in 200ms" in log[0]
    assert "try 2 failed: HTTP 500; retry in 400ms" in log[1]
    assert "delivered (HTTP 200)" in log[2] and log[2].endswith("try 3")
    assert alerts_total(sp, "ops", "failed") == 2
    assert alerts_total(sp, "ops", "delivered") == 1
    assert alerts_total(sp, "ops", "dropped") == 0
    wait_for(lambda: "alert ops: delivered (HTTP 200, 3 tries)" in
             entry_texts(the_incident(sp)), 3, "the timeline line")
    assert g.alive()


def test_retries_run_out_then_dropped_with_a_log_line(h, certs, receivers):
    hook = receivers(Receiver, (500,))
    g, sp, sims = alert_gate(h, certs, [webhook("ops", hook.url, retries=2,
                                                retry_backoff="50ms")])
    mark = log_lines(g)
    set_health(sims["n3"], "critical")
    wait_transition(g, "n3", "down", after=mark)
    wait_for(lambda: "alert ops: incident_open of incident 1 dropped after 3 tries: HTTP 500"
             in g.stderr(), 5, "the drop")
    assert len(hook.got) == 3
    assert alerts_total(sp, "ops", "failed") == 3
    assert alerts_total(sp, "ops", "dropped") == 1
    wait_for(lambda: "alert ops: dropped after 3 tries: HTTP 500" in
             entry_texts(the_incident(sp)), 3, "the timeline line")
    assert g.alive()


def latencies(port, n):
    """N JSON-RPC requests one after the other on one connection: their durations."""
    c = http.client.HTTPConnection(HOST, port, timeout=10)
    out = []
    body = json.dumps({"method": "server_info", "params": [{}]})
    try:
        for _ in range(n):
            t = time.monotonic()
            c.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            assert r.status == 200
            out.append(time.monotonic() - t)
    finally:
        c.close()
    return sorted(out)


def test_a_receiver_that_never_answers_does_not_slow_traffic(h, certs, receivers):
    hung = receivers(Silent)
    g, sp, sims = alert_gate(h, certs, [webhook("ops", hung.url, timeout="5s", retries=0,
                                                on="incident_open,backend_down")])
    mark = log_lines(g)
    set_health(sims["n3"], "critical")
    wait_transition(g, "n3", "down", after=mark)
    wait_for(lambda: hung.conns, 3, "the alert's connection to the hung receiver")
    t0 = time.monotonic()
    lat = latencies(g.port, 300)
    took = time.monotonic() - t0
    hung_since = hung.conns[0][1]
    assert time.monotonic() - hung_since < 5, "the load did not run inside the hung attempt"
    assert "timeout after" not in g.stderr()
    p99 = lat[int(len(lat) * 0.99) - 1]
    print(f"300 requests in {took:.2f}s, median {lat[150] * 1000:.1f}ms, "
          f"p99 {p99 * 1000:.1f}ms, max {lat[-1] * 1000:.1f}ms")
    assert p99 < 0.2 * SLOW, f"p99 {p99 * 1000:.0f}ms while an alert hung"
    assert lat[-1] < 2.5 * SLOW, f"a request took {lat[-1]:.2f}s"
    # both messages time out after 5s, one after the other (one in flight per channel)
    wait_for(lambda: g.stderr().count("try 1 failed: timeout after 5000ms") >= 1, 8,
             "the first timeout")
    assert g.alive()


def email(name, box, pw, **more):
    kv = {"type": "email", "smtp_url": box.url, "from": "nodegate@example.net",
          "to": "ops@example.net, oncall@example.net", "username": "ops",
          "password_file": pw, "retry_backoff": "100ms", "timeout": "3s"}
    kv.update({k: str(v) for k, v in more.items()})
    return (f"alert {name}", kv)


def password_file(h):
    pw = h.dir / "smtp.password"
    pw.write_text("mail-pass\n")
    return pw


def mail_parts(text):
    """(header lines, body) of a mail."""
    head, body = text.split("\r\n\r\n", 1) if "\r\n\r\n" in text else text.split("\n\n", 1)
    return head.splitlines(), body


def test_email_arrives_with_subject_and_body(h, certs, receivers):
    box = receivers(Mailbox)
    g, sp, sims = alert_gate(h, certs, [email("mail", box, password_file(h))])
    mark = log_lines(g)
    set_health(sims["n2"], "critical")
    wait_transition(g, "n2", "down", after=mark)
    wait_for(lambda: box.got, 5, "the mail")
    frm, to, text, authed, _ = box.got[0]
    assert frm == "nodegate@example.net" and authed, box.got[0]
    assert to == ["ops@example.net", "oncall@example.net"], to
    head, body = mail_parts(text)
    assert "Subject: [nodegate] rpc: degraded" in head, head
    assert "To: ops@example.net, oncall@example.net" in head, head
    inc = the_incident(sp)
    assert f"incident {inc['id']} opened (P3): rpc: degraded (n2 down: " in body, body
    assert f"Status page: http://{HOST}:{sp}/" in body, body
    assert "mail-pass" not in g.stderr()
    assert alerts_total(sp, "mail", "delivered") == 1

    # the test command, on the same file
    code, out = nodegate_run("--test-alert", "mail", "-c", str(g.ini))
    assert code == 0, out
    assert "alert mail: delivered (SMTP 250, 1 try)" in out, out
    wait_for(lambda: len(box.got) == 2, 3, "the test mail")
    assert "Subject: [nodegate] all pools: test" in box.got[1][2], box.got[1][2]


def test_email_over_starttls_and_smtps_verified_by_tls_ca(h, certs, receivers):
    """STARTTLS required by the server (and AUTH only over TLS): the mail arrives through
    the verified upgrade; a channel whose tls_ca does not sign the server's certificate
    fails the verification, retries, and drops with the reason in the log and timeline;
    smtps:// speaks TLS from the first byte."""
    box, smtps = receivers(Mailbox, "starttls", certs), receivers(Mailbox, "smtps", certs)
    pw = password_file(h)
    only = {"on": "incident_open"}
    g, sp, sims = alert_gate(h, certs, [
        email("tls", box, pw, starttls="yes", tls_ca=certs.cert, **only),
        email("bad", box, pw, starttls="yes", tls_ca=certs.other_cert, retries=1,
              retry_backoff="50ms", **only),
        email("implicit", smtps, pw, tls_ca=certs.cert, **only)])
    mark = log_lines(g)
    set_health(sims["n2"], "critical")
    wait_transition(g, "n2", "down", after=mark)
    wait_for(lambda: box.got and smtps.got, 5, "the mails over TLS")
    wait_for(lambda: "alert bad: incident_open of incident 1 dropped after 2 tries: " in
             g.stderr(), 5, "the failed verification")
    quiet([box, smtps], 0.3)
    inc = the_incident(sp)
    for got in (box.got, smtps.got):
        [(frm, _, text, authed, tls)] = got
        assert (frm, authed, tls) == ("nodegate@example.net", True, True), got
        head, body = mail_parts(text)
        assert "Subject: [nodegate] rpc: degraded" in head, head
        assert f"incident {inc['id']} opened (P3): rpc: degraded (n2 down: " in body, body

    # the refused certificate: each try logged with curl's reason, then dropped
    log = [line.split(" ", 2)[2] for line in g.stderr().splitlines()
           if " alert bad: " in line]
    assert len(log) == 3, log
    assert log[0].startswith("alert bad: incident_open of incident 1: try 1 failed: "), log
    assert "retry in 50ms" in log[0], log
    assert "certificate" in log[0].lower(), log
    assert "try 2 failed" in log[1] and "dropped after 2 tries" in log[2], log
    assert alerts_total(sp, "bad", "failed") == 2
    assert alerts_total(sp, "bad", "dropped") == 1
    assert alerts_total(sp, "bad", "delivered") == 0
    assert alerts_total(sp, "tls", "delivered") == 1
    assert alerts_total(sp, "implicit", "delivered") == 1
    texts = wait_for(lambda: (t := entry_texts(the_incident(sp))) and any(
        x.startswith("alert bad: dropped after 2 tries: ") for x in t) and t, 3,
        "the drop in the timeline")
    [dropped] = [x for x in texts if x.startswith("alert bad: ")]
    assert "certificate" in dropped.lower(), dropped
    assert "alert tls: delivered (SMTP 250, 1 try)" in texts, texts
    assert "alert implicit: delivered (SMTP 250, 1 try)" in texts, texts
    assert "mail-pass" not in g.stderr()
    assert g.alive()


def test_slack_message_coloured_by_severity_links_the_status_page(h, certs, receivers):
    """Two of three nodes leave rotation (min_up 2: degraded, then partial outage) and come
    back: four Slack messages, the colour following the severity, green when a node is
    back; each names the pool and the backend and links the public status page."""
    hook = receivers()
    page = "https://status.example.net/rpc"
    g, sp, sims = alert_gate(h, certs, [("alert chat", {
        "type": "slack", "url": hook.url + "/services/T0/B0/X0", "on": "backend_down,backend_up",
        "retry_backoff": "100ms", "timeout": "2s"})], status={"public_url": page}, min_up=2)
    steps = [("n2", "critical", "down"), ("n3", "critical", "down"),
             ("n3", "healthy", "up"), ("n2", "healthy", "up")]
    for i, (name, health, to) in enumerate(steps, 1):
        mark = log_lines(g)
        set_health(sims[name], health)
        wait_transition(g, name, to, after=mark)
        wait_for(lambda: len(hook.got) >= i, 5, f"slack message {i}")
    quiet([hook], 0.3)
    assert {p for p, _, _, _ in hook.got} == {"/services/T0/B0/X0"}
    assert {hd["Content-Type"] for _, hd, _, _ in hook.got} == {"application/json"}
    want = [("warning", "#daa038", "n2", "left rotation: up -> down", "degraded"),
            ("error", "#e8590c", "n3", "left rotation: up -> down", "partial_outage"),
            ("warning", "#2eb886", "n3", "back in rotation: down -> up", "degraded"),
            ("info", "#2eb886", "n2", "back in rotation: down -> up", "operational")]
    for msg, (sev, colour, name, change, status) in zip(hook.bodies(), want):
        assert msg["text"].startswith(f"[{sev}] rpc: {name} {change} ("), msg
        [att] = msg["attachments"]
        assert att["color"] == colour, (msg["text"], att)
        assert att["title_link"] == page, att
        fields = {f["title"]: f["value"] for f in att["fields"]}
        assert (fields["Pool"], fields["Backend"], fields["Severity"], fields["Status"],
                fields["Status page"]) == ("rpc", name, sev, status, page), fields
        assert att["footer"] == "nodegate" and abs(att["ts"] - time.time()) < 60, att
    assert alerts_total(sp, "chat", "delivered") == 4
    assert g.alive()


def test_rate_limit_sends_two_per_minute_and_counts_the_rest(h, certs, receivers):
    """A node flaps three times within seconds: six rotation changes. The channel with
    rate_limit 2 delivers the first two and counts four rate_limited, each with a log line;
    a channel without a limit, on the same events, gets all six."""
    limited, unlimited = receivers(), receivers()
    on = "backend_down,backend_up"
    g, sp, sims = alert_gate(h, certs, [webhook("limited", limited.url, on=on, rate_limit=2),
                                        webhook("all", unlimited.url, on=on, rate_limit=0)])
    for flap in range(3):
        for health, to in (("critical", "down"), ("healthy", "up")):
            mark = log_lines(g)
            set_health(sims["n2"], health)
            wait_transition(g, "n2", to, after=mark)
    wait_for(lambda: len(unlimited.got) >= 6, 5, "six messages on the unlimited channel")
    quiet([limited, unlimited], 0.3)
    assert events(unlimited) == ["backend_down", "backend_up"] * 3
    assert events(limited) == ["backend_down", "backend_up"]
    # the same messages, but for their acknowledgement links: one per channel
    def no_link(bodies):
        return [{k: v for k, v in b.items() if k != "ack_url"} for b in bodies]
    assert no_link(limited.bodies()) == no_link(unlimited.bodies()[:2])
    assert alerts_total(sp, "limited", "delivered") == 2
    assert alerts_total(sp, "limited", "rate_limited") == 4
    assert alerts_total(sp, "all", "delivered") == 6
    assert alerts_total(sp, "all", "rate_limited") == 0
    refused = [line for line in g.stderr().splitlines() if " alert limited: " in line
               and line.endswith(" not sent: rate limit (2 per minute)")]
    assert len(refused) == 4, refused
    assert g.alive()


def test_test_alert_command(h, receivers):
    hook = receivers()
    dead = free_port()
    ini = h.dir / "alerts.ini"
    ini.write_text("\n".join([
        "[listener web]", f"bind = {HOST}:{free_port()}", "pool = rpc", "[pool rpc]",
        "[backend a]", "pool = rpc", f"address = {HOST}:{free_port()}",
        "[alert ops]", "type = webhook", f"url = {hook.url}/ops",
        "[alert gone]", "type = slack", f"url = http://{HOST}:{dead}/x", "retries = 1",
        "retry_backoff = 50ms", ""]))
    code, out = nodegate_run("--test-alert", "ops", "-c", str(ini))
    assert code == 0, out
    assert "alert ops: delivered (HTTP 200, 1 try)" in out, out
    [doc] = hook.bodies()
    assert (doc["event"], doc["severity"], doc["status"]) == ("test", "info", "test"), doc
    code, out = nodegate_run("--test-alert", "gone", "-c", str(ini))
    assert code == 1, out
    assert "alert gone: failed after 2 tries: " in out and "onnect" in out, out
    code, out = nodegate_run("--test-alert", "nope", "-c", str(ini))
    assert code == 1 and "no [alert nope]" in out, out


def test_reload_applies_channels_and_drops_a_removed_ones_queue(h, certs, receivers):
    hung, hook = receivers(Silent), receivers()
    g, sp, sims = alert_gate(h, certs, [webhook("ops", hung.url, timeout="5s")])
    mark = log_lines(g)
    set_health(sims["n3"], "critical")
    wait_transition(g, "n3", "down", after=mark)
    wait_for(lambda: hung.conns, 3, "the attempt in flight")
    old = f"[alert ops]\ntype = webhook\nurl = {hung.url}\nretry_backoff = 100ms\ntimeout = 5s"
    text = g.ini.read_text().replace(old, f"[alert new]\ntype = webhook\nurl = {hook.url}\n"
                                     "on = backend_up")
    assert "[alert new]" in text and "on = backend_up" in text
    g.reload(text)
    wait_for(lambda: "reload done" in g.stderr(), 3, "the reload")
    assert "alert ops: 1 message dropped: the channel was removed by a reload" in g.stderr()
    mark = log_lines(g)
    set_health(sims["n3"], "healthy")
    wait_transition(g, "n3", "up", after=mark)
    wait_for(lambda: hook.got, 3, "backend_up on the new channel")
    quiet([hook], 0.3)
    [up] = hook.bodies()
    assert (up["event"], up["backend"], up["old_state"], up["new_state"]) == \
        ("backend_up", "n3", "down", "up"), up
    fams = scrape(sp)
    assert value(fams, "nodegate_alerts", "nodegate_alerts_total", channel="new",
                 result="delivered") == 1
    assert value(fams, "nodegate_alerts", "nodegate_alerts_total", channel="ops",
                 result="delivered") is None
    assert g.alive()
