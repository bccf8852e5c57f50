"""Secure by default: nodegate started on the shipped etc/nodegate.ini (only its ports, the
node addresses and state_dir changed) refuses rippled's admin methods and calls that carry
secrets on its public listener, whatever the pool's health check (tcp as shipped, or http);
they never reach a node (the node's own per-method record says so), while ordinary calls
pass."""
import re
from pathlib import Path

import pytest

from harness import HOST, free_port, http_conn
from test_policy import assert_forbidden, call, methods_seen, post

SHIPPED = Path(__file__).resolve().parents[2] / "etc" / "nodegate.ini"


def shipped_ini(h, sims, check):
    """etc/nodegate.ini as shipped, moved to free ports and to SIMS; CHECK as the pool's
    health check (an http check asks a path nodesim answers)."""
    text = SHIPPED.read_text()
    text = re.sub(r"^bind = 127\.0\.0\.1:8404$", f"bind = {HOST}:{free_port()}", text, flags=re.M)
    text = re.sub(r"^bind = 127\.0\.0\.1:8080$", f"bind = {HOST}:{free_port()}", text, flags=re.M)
    addrs = iter(s.addr for s in sims)
    text = re.sub(r"^address = 127\.0\.0\.1:50\d5$", lambda m: f"address = {next(addrs)}", text,
                  flags=re.M)
    text = re.sub(r"^state_dir = .*$", f"state_dir = {h.dir / 'state'}", text, flags=re.M)
    text = re.sub(r"^check = tcp$", f"check = {check}", text, flags=re.M)
    # the tests run as root and no nodegate user exists here: stay root (test_priv drops)
    text = re.sub(r"^user = nodegate$", "", text, flags=re.M)
    text = re.sub(r"^allow_root = no$", "allow_root = yes", text, flags=re.M)
    if check == "http":
        text = re.sub(r"^check_path = /health$", "check_path = /sim/headers", text, flags=re.M)
    assert next(addrs, None) is None, "the shipped file names two nodes"
    return text


def public_port(ini):
    section = ini.split("[listener public]", 1)[1]
    return int(re.search(r"^bind = 127\.0\.0\.1:(\d+)$", section, re.M).group(1))


@pytest.mark.parametrize("check", ["tcp", "http"])
def test_shipped_config_keeps_admin_methods_and_secrets_from_nodes(h, check):
    sims = h.nodesims("node1", "node2")
    ini = shipped_ini(h, sims, check)
    h.gate(ini)
    c = http_conn(public_port(ini))
    status, doc = post(c, call("server_info", {}, rid=7))
    assert status == 200 and doc["result"]["status"] == "success", doc
    for method, params in [("stop", {}), ("ledger_accept", {}), ("wallet_propose", {}),
                           ("sign", {"tx_json": {}, "secret": "snoPBrXtMeMyMHUVTgbuqAfg1SUTb"})]:
        status, doc = post(c, call(method, params, rid=1))
        assert_forbidden(status, doc, rid=1)
    c.close()
    for sim in sims:
        seen = methods_seen(sim)
        for method in ("stop", "ledger_accept", "wallet_propose", "sign"):
            assert method not in seen, (sim.name, seen)
