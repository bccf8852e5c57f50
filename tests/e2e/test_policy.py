"""The JSON-RPC method policy on http listeners: rippled's admin methods and requests that
carry secrets are answered by nodegate in rippled's error shape (HTTP 403, "forbidden") and
never reach a node (the node's own per-method record says so); allowed methods pass; an
admin listener on loopback passes admin methods; allow_methods and deny_methods apply; a
batch with one refused call is refused whole; refusals are counted per method in /metrics,
and nodegate_requests_total carries the method label, unknown methods as "other"."""
import json

from harness import HOST, free_port, http_conn, nodegate_run, wait_for
from test_cli import ERROR_RE, base_lines, with_change, write
from test_status import scrape, status_section, value

# rippled's admin-only methods (its handler table, Role::ADMIN), and feature with a vote.
ADMIN_CALLS = [(m, {}) for m in (
    "stop", "ledger_accept", "ledger_cleaner", "ledger_request", "log_level", "logrotate",
    "connect", "peers", "peer_reservations_add", "peer_reservations_del",
    "peer_reservations_list", "consensus_info", "fetch_info", "get_counts", "print",
    "validation_create", "validator_info", "validator_list_sites", "validators",
    "wallet_propose", "can_delete", "download_shard", "crawl_shards", "unl_list", "blacklist",
    "node_to_shard")] + [("feature", {"feature": "MultiSign", "vetoed": True})]

SECRET_CALLS = [
    ("sign", {"tx_json": {"TransactionType": "Payment"}, "secret": "snoPBrXtMeMyMHUVTgbuqAfg1SUTb"}),
    ("sign_for", {"account": "rA", "seed": "sx", "tx_json": {}}),
    ("submit", {"tx_json": {}, "seed_hex": "00ff"}),
    ("channel_authorize", {"channel_id": "ab", "amount": "1", "passphrase": "p"}),
    ("account_info", {"account": "rA", "nested": [{"deep": {"secret": "s"}}]}),
]


def post(c, body, path="/"):
    """One POST of BODY (text or a JSON document) on keep-alive connection C:
    (status, parsed body or raw bytes)."""
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    raw = r.read()
    try:
        return r.status, json.loads(raw)
    except ValueError:
        return r.status, raw


def call(method, params, rid=None):
    doc = {"method": method, "params": [params]}
    if rid is not None:
        doc["id"] = rid
    return doc


def assert_forbidden(status, doc, rid=None):
    """rippled's JSON-RPC error shape, with the id echoed."""
    assert status == 403, (status, doc)
    res = doc["result"]
    assert res["error"] == "forbidden" and res["error_code"] == 3, doc
    assert res["status"] == "error" and res["error_message"], doc
    if rid is None:
        assert "id" not in doc, doc
    else:
        assert doc["id"] == rid, doc


def methods_seen(sim):
    return sim.stats()["methods"]


def policy_gate(h, sim, sp, listener=None, extra=()):
    lst = {"profile": "rippled"}
    lst.update(listener or {})
    return h.gate(h.gate_ini([sim], listener=lst, extra=[status_section(sp), *extra]))


def test_admin_methods_refused_and_never_reach_the_node(h):
    sim = h.nodesim("n1")
    sp = free_port()
    g = policy_gate(h, sim, sp)
    c = http_conn(g.port)  # one keep-alive connection: refusals keep it open
    for i, (m, params) in enumerate(ADMIN_CALLS):
        status, doc = post(c, call(m, params, rid=i))
        assert_forbidden(status, doc, rid=i)
        assert m in doc["result"]["error_message"]
    # allowed methods pass on the same connection, feature without a vote included
    for m, params in [("server_info", {}), ("feature", {"feature": "MultiSign"}),
                      ("ping", {})]:
        status, doc = post(c, call(m, params, rid="x"))
        assert status == 200 and doc["id"] == "x", doc
    c.close()
    seen = methods_seen(sim)
    assert seen == {"server_info": 1, "feature": 1, "ping": 1}, seen
    wait_for(lambda: " web - POST / stop 403 " in h.access_log.read_text(), 5,
             "the refusal in the access log")

    fams = scrape(sp)
    for m, _ in ADMIN_CALLS:
        assert value(fams, "nodegate_rpc_refused", "nodegate_rpc_refused_total", listener="web",
                     method=m, reason="denied") == 1, m
    assert value(fams, "nodegate_requests", "nodegate_requests_total", listener="web",
                 backend="-", method="stop", code="403") == 1
    assert value(fams, "nodegate_requests", "nodegate_requests_total", listener="web",
                 backend="n1", method="server_info", code="200") == 1


def test_secrets_refused_on_public_listeners_whatever_the_profile(h):
    sim = h.nodesim("n1")
    sp = free_port()
    g = policy_gate(h, sim, sp, listener={"profile": "none"})
    c = http_conn(g.port)
    for m, params in SECRET_CALLS:
        status, doc = post(c, call(m, params, rid=m))
        assert_forbidden(status, doc, rid=m)
        assert "secret" in doc["result"]["error_message"]
    # profile none: admin methods are the node's business
    status, doc = post(c, call("peers", {}))
    assert status == 200, doc
    c.close()
    assert methods_seen(sim) == {"peers": 1}
    fams = scrape(sp)
    for m, _ in SECRET_CALLS:
        assert value(fams, "nodegate_rpc_refused", "nodegate_rpc_refused_total", listener="web",
                     method=m, reason="secret") == 1, m


def test_admin_listener_on_loopback_passes_admin_methods_and_secrets(h):
    sim = h.nodesim("n1")
    sp = free_port()
    ap = free_port()
    adm = ("listener adm", {"bind": f"{HOST}:{ap}", "pool": "rpc", "profile": "rippled",
                            "admin": "yes", "deny_methods": "stop"})
    g = policy_gate(h, sim, sp, extra=[adm])
    pub, a = http_conn(g.port), http_conn(ap)
    assert post(pub, call("peers", {}))[0] == 403
    assert post(pub, call("sign", {"secret": "s", "tx_json": {}}))[0] == 403
    assert post(a, call("peers", {}))[0] == 200
    assert post(a, call("validators", {}))[0] == 200
    assert post(a, call("sign", {"secret": "s", "tx_json": {}}))[0] == 200
    status, doc = post(a, call("stop", {}, rid=1))  # the deny list applies on admin too
    assert_forbidden(status, doc, rid=1)
    pub.close()
    a.close()
    assert methods_seen(sim) == {"peers": 1, "validators": 1, "sign": 1}


def test_allow_and_deny_lists(h):
    sim = h.nodesim("n1")
    sp = free_port()
    dp = free_port()
    other = ("listener deny", {"bind": f"{HOST}:{dp}", "pool": "rpc",
                               "profile": "none", "deny_methods": "ledger, fee"})
    g = policy_gate(h, sim, sp, listener={"allow_methods": "server_info,ping,peers"},
                    extra=[other])
    c = http_conn(g.port)
    assert post(c, call("server_info", {}))[0] == 200
    assert post(c, call("ping", {}))[0] == 200
    assert post(c, call("ledger", {}))[0] == 403
    assert post(c, call("peers", {}))[0] == 403  # allowed by the list, still rippled admin
    c.close()
    d = http_conn(dp)
    assert post(d, call("ledger", {}))[0] == 403
    assert post(d, call("fee", {}))[0] == 403
    assert post(d, call("ledger_current", {}))[0] == 200
    d.close()
    assert methods_seen(sim) == {"server_info": 1, "ping": 1, "ledger_current": 1}


def test_batch_with_one_refused_call_is_refused_whole(h):
    sim = h.nodesim("n1")
    sp = free_port()
    g = policy_gate(h, sim, sp)
    c = http_conn(g.port)
    status, doc = post(c, [{"method": "server_info", "id": 5}, {"method": "peers"}])
    assert_forbidden(status, doc, rid=5)
    assert "peers" in doc["result"]["error_message"]
    status, doc = post(c, {"method": "batch", "params": [
        {"method": "ping"}, {"method": "submit", "secret": "s", "tx_json": {}}]})
    assert_forbidden(status, doc)
    status, doc = post(c, [{"method": "server_info"}, {"method": "ping"}])
    assert status == 200 and isinstance(doc, list) and len(doc) == 2, doc
    c.close()
    assert methods_seen(sim) == {"server_info": 1, "ping": 1}
    fams = scrape(sp)
    assert value(fams, "nodegate_rpc_refused", "nodegate_rpc_refused_total", listener="web",
                 method="peers", reason="denied") == 1
    assert value(fams, "nodegate_rpc_refused", "nodegate_rpc_refused_total", listener="web",
                 method="submit", reason="secret") == 1


def test_body_rippled_would_read_differently_is_refused(h):
    """rippled's reader takes comments and repeated keys; nodegate cannot tell what such a
    body calls, so under the rippled profile it never goes to a node."""
    sim = h.nodesim("n1")
    sp = free_port()
    g = policy_gate(h, sim, sp)
    c = http_conn(g.port)
    for body in ('{"method":"stop" /* hidden */, "params":[{}]}',
                 '{"method":"ping","method":"stop"}'):
        status, doc = post(c, body)
        assert_forbidden(status, doc)
    c.close()
    assert methods_seen(sim) == {}


def test_bodies_the_policy_cannot_read_are_refused_not_passed(h):
    """A padded `stop` over rpc_inspect_max, or a chunked one, would reach the node unread:
    under the rippled profile such bodies get 413 and 411 (and the connection closes, the
    body unread); a listener without a policy to apply (profile none) streams them on."""
    sim = h.nodesim("n1")
    sp = free_port()
    g = policy_gate(h, sim, sp, listener={"rpc_inspect_max": "4k"})
    padded = json.dumps({"method": "stop", "params": [{"pad": "x" * 5000}]})
    c = http_conn(g.port)
    status, doc = post(c, padded)
    assert status == 413 and "rpc_inspect_max" in doc["error"]["message"], (status, doc)
    c.close()
    c = http_conn(g.port)
    c.putrequest("POST", "/")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    body = json.dumps(call("stop", {})).encode()
    c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    r = c.getresponse()
    assert r.status == 411, r.status
    r.read()
    c.close()
    assert methods_seen(sim) == {}
    fams = scrape(sp)
    assert value(fams, "nodegate_req_uninspectable", "nodegate_req_uninspectable_total") == 2
    # profile none: nothing to police but secrets, and bodies over the limit stream on
    sim2 = h.nodesim("n2")
    g2 = h.gate(h.gate_ini([sim2], listener={"profile": "none", "rpc_inspect_max": "4k"}))
    c = http_conn(g2.port)
    status, doc = post(c, json.dumps(call("ping", {"pad": "x" * 5000})))
    assert status == 200, (status, doc)
    c.close()
    assert methods_seen(sim2) == {"ping": 1}


def test_method_label_on_requests_total(h):
    sim = h.nodesim("n1")
    sp = free_port()
    g = policy_gate(h, sim, sp)
    c = http_conn(g.port)
    assert post(c, call("server_info", {}))[0] == 200
    assert post(c, call("no_such_method_1", {}))[0] == 200  # the node answers unknownCmd
    assert post(c, call("no_such_method_2", {}))[0] == 200
    c.request("GET", "/sim/status?code=204")
    assert c.getresponse().status == 204
    c.close()

    def counted():
        f = scrape(sp)
        return f if value(f, "nodegate_requests", "nodegate_requests_total", listener="web",
                          backend="n1", method="-", code="204") == 1 else None
    fams = wait_for(counted, 2, "the GET to be counted")
    assert value(fams, "nodegate_requests", "nodegate_requests_total", listener="web",
                 backend="n1", method="server_info", code="200") == 1
    assert value(fams, "nodegate_requests", "nodegate_requests_total", listener="web",
                 backend="n1", method="other", code="200") == 2
    methods = {s.labels["method"] for s in fams["nodegate_requests"].samples}
    assert not any(m.startswith("no_such") for m in methods), methods


def test_reload_changes_the_policy(h):
    sim = h.nodesim("n1")
    sp = free_port()
    g = policy_gate(h, sim, sp)
    c = http_conn(g.port)
    assert post(c, call("fee", {}))[0] == 200
    c.close()
    ini = h.gate_ini([sim], port=g.port, listener={"profile": "rippled", "deny_methods": "fee"},
                     extra=[status_section(sp)])
    g.reload(ini)
    wait_for(lambda: "reload done" in g.stderr(), 5, "the reload")

    def refused():
        c2 = http_conn(g.port)
        try:
            return post(c2, call("fee", {}))[0] == 403
        finally:
            c2.close()
    wait_for(refused, 5, "fee to be denied after the reload")


def test_check_rejects_admin_on_a_public_bind(tmpdir_test):
    lines = with_change(base_lines(), 6, f"bind = 0.0.0.0:{free_port()}")
    lines = with_change(lines, 8, "admin = yes", insert=True)
    path = write(tmpdir_test, "admin.ini", lines)
    code, out = nodegate_run("-t", "-c", path)
    assert code == 1, out
    found = [m for m in (ERROR_RE.match(line) for line in out.splitlines()) if m]
    assert len(found) == 1, out
    m = found[0]
    assert (m.group("path"), m.group("line"), m.group("sect"), m.group("key")) == \
        (path, "8", "listener web", "admin"), out
    assert "loopback" in m.group("what") and "(expected" in m.group("what"), out
