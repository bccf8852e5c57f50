"""WebSocket continuity (ws_failover = resubscribe, the default): when the node behind a
client's WebSocket dies (SIGKILL) or leaves rotation, nodegate keeps the client connection,
opens a session to another node, replays the client's subscriptions with ids of its own
(their answers never reach the client), resends the reads that were in flight, answers the
writes that were in flight in rippled's error shape ("internal": the outcome is unknown,
the client decides), and drops ledgerClosed messages the client already had. With no node
to go on with, the client gets 1001. The nodes are ledger_node.py processes that agree on
the ledger sequence (wall clock, 200 ms a ledger); the real client is xrpl.js."""
import json
import queue
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import HOST, IO_TIMEOUT, SLOW, Sim, free_port, wait_for
from stubs import WsClient
from test_admin import admin, admin_gate
from test_status import scrape, status_section, value

HERE = Path(__file__).resolve().parent
XRPL_DIR = HERE / "xrpl"
INTERVAL = 0.2  # seconds a ledger (ledger_node.py --interval-ms 200)
POOL = {"check": "tcp", "check_interval": "50ms", "ws_drain_grace": "200ms"}
RIPPLED = {"profile": "rippled"}


def ledger_node(h, name, *args):
    """A ledger_node.py process named NAME (a Sim: .port, .kill(), stopped at teardown)."""
    log = h.dir / f"ledger-{name}.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(["/usr/bin/python3", str(HERE / "ledger_node.py"), "--name", name,
                                 *args], stdin=subprocess.DEVNULL, stdout=f,
                                stderr=subprocess.STDOUT)
    sim = Sim(name, None, proc, log)
    h.sims.append(sim)

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited: {log.read_text(errors='replace')}")
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        return int(m.group(1)) if m else None
    sim.port = wait_for(ready, 10, f"ledger node {name}")
    return sim


def commands(sim):
    """The commands SIM received, in order (the JSON lines of its log)."""
    out = []
    for line in sim.log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def serving(nodes, command="subscribe"):
    """The node of NODES that got COMMAND first: the one serving the client."""
    def which():
        for n in nodes:
            if any(c["command"] == command for c in commands(n)):
                return n
        return None
    return wait_for(which, 5, f"a node to get {command}")


def gate(h, nodes, sp, pool=None):
    return admin_gate(h, [(n.name, n.addr) for n in nodes], sp, pool={**POOL, **(pool or {})},
                      listener=RIPPLED)


def ws_connect(port):
    s = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
    c = WsClient(s)
    assert c.status == 101, c.head
    return c


def send(c, doc):
    c.send(1, json.dumps(doc).encode())


def next_doc(c):
    """The next data message (skipping none); raises on a close frame."""
    fin, op, payload, masked = c.reader.frame()
    if op == 8:
        raise ConnectionAbortedError(struct.unpack("!H", payload[:2])[0])
    while not fin:
        fin, _, more, _ = c.reader.frame()
        payload += more
    return json.loads(payload)


class Follower:
    """A client subscribed to the ledger stream: every message it gets, in a queue."""

    def __init__(self, port):
        self.c = ws_connect(port)
        self.q = queue.Queue()
        send(self.c, {"command": "subscribe", "id": 1, "streams": ["ledger"]})
        threading.Thread(target=self._read, daemon=True).start()
        doc = self.get()
        assert doc["id"] == 1 and doc["status"] == "success", doc

    def _read(self):
        while True:
            try:
                self.q.put(next_doc(self.c))
            except (OSError, EOFError, ValueError) as e:
                self.q.put(e)
                return

    def get(self, timeout=IO_TIMEOUT):
        doc = self.q.get(timeout=timeout)
        if isinstance(doc, Exception):
            raise doc
        return doc

    def ledgers(self, n, others=None):
        """The ledger_index of the next N ledgerClosed messages; the other messages go to
        OTHERS (a list)."""
        got = []
        while len(got) < n:
            doc = self.get()
            if doc.get("type") == "ledgerClosed":
                got.append(doc["ledger_index"])
            elif others is not None:
                others.append(doc)
            else:
                raise AssertionError(f"unexpected message {doc}")
        return got


def mid_interval():
    """Sleeps to the middle of a ledger interval: far from the closes on either side, so
    that a failover started now is over before the next ledger closes."""
    t = time.time()
    time.sleep(INTERVAL - (t % INTERVAL) + INTERVAL * 0.4)


def consecutive(seq):
    return all(b == a + 1 for a, b in zip(seq, seq[1:]))


def metric(sp, name):
    return value(scrape(sp), f"nodegate_{name}", f"nodegate_{name}_total")


def followed_on_two(h, sp):
    """Two nodes, a gate, a Follower: (gate, follower, the node serving it, the other)."""
    n1, n2 = ledger_node(h, "n1"), ledger_node(h, "n2")
    g = gate(h, [n1, n2], sp)
    f = Follower(g.port)
    first = serving([n1, n2])
    return g, f, first, (n2 if first is n1 else n1)


def followed_then_second(h, sp, first_args=(), second_args=()):
    """One node n1 (FIRST_ARGS), a Follower on it, then n2 (SECOND_ARGS) added by a reload:
    the session is on n1 for sure. (gate, follower, n1, n2)"""
    n1 = ledger_node(h, "n1", *first_args)
    g = gate(h, [n1], sp)
    f = Follower(g.port)
    n2 = ledger_node(h, "n2", *second_args)
    g.reload(g.ini.read_text().replace("[status]", f"[backend n2]\npool = rpc\naddress = "
                                       f"{n2.addr}\nweight = 1\n\n[status]"))
    wait_for(lambda: "backend n2: checking -> " in g.stderr(), 10, "n2 judged")
    return g, f, n1, n2


# ---------------------------------------------------------------------------------------


def test_killed_node_mid_stream_the_client_keeps_every_ledger_once(h):
    sp = free_port()
    g, f, first, other = followed_on_two(h, sp)
    before = f.ledgers(3)
    mid_interval()
    first.kill()
    others = []
    after = f.ledgers(5, others)
    seq = before + after
    assert consecutive(seq), seq
    assert others == [], others  # the replayed subscribe's answer never reached the client
    # the new node got the subscription with nodegate's id
    subs = [c for c in commands(other) if c["command"] == "subscribe"]
    assert [(c["id"], c["streams"]) for c in subs] == [("nodegate-resubscribe", ["ledger"])]
    assert metric(sp, "ws_failovers") == 1
    assert metric(sp, "ws_replays") == 1
    assert metric(sp, "ws_failover_failed") == 0
    assert f"backend {first.name}: " in g.stderr() and "WebSocket failing over" in g.stderr()
    assert f"WebSocket resumed on backend {other.name}" in g.stderr()
    # the session goes on: a command is answered by the new node
    send(f.c, {"command": "ping", "id": "after"})
    docs = []
    while not docs or docs[-1].get("id") != "after":
        docs.append(f.get())
    assert docs[-1]["status"] == "success", docs


def test_node_leaving_rotation_fails_over_after_the_grace(h):
    """An admin drain: after ws_drain_grace the session moves, and no 1001 reaches the
    client (its stream goes on)."""
    sp = free_port()
    g, f, first, other = followed_on_two(h, sp)
    before = f.ledgers(2)
    mid_interval()
    t0 = time.monotonic()
    admin(sp, first.name, "drain")
    wait_for(lambda: metric(sp, "ws_failovers") == 1, 5, "the failover")
    assert time.monotonic() - t0 >= 0.15  # not before the 200 ms grace
    seq = before + f.ledgers(6)
    # the grace ended at some point of an interval: at most a repeat was dropped, none lost
    assert consecutive(seq), seq
    assert any(c["id"] == "nodegate-resubscribe" for c in commands(other))
    assert metric(sp, "ws_drain_closed") == 0
    assert "left rotation: WebSocket failing over" in g.stderr()


def test_in_flight_reads_resent_and_writes_answered_unknown(h):
    """A read the dead node never answered is answered by the new one (same id); a write
    gets rippled's error shape with its id: the client checks the outcome itself."""
    sp = free_port()
    g, f, n1, n2 = followed_then_second(h, sp, ("--hold", "account_info", "--hold", "submit"))
    send(f.c, {"command": "account_info", "id": "r1", "account": "rAccount"})
    send(f.c, {"command": "submit", "id": 7, "tx_blob": "1200"})
    wait_for(lambda: sum(c["command"] in ("account_info", "submit") for c in commands(n1)) == 2,
             5, "n1 to hold both")
    f.ledgers(1)
    mid_interval()
    n1.kill()
    others = []
    f.ledgers(3, others)
    answers = {d["id"]: d for d in others}
    assert set(answers) == {"r1", 7}, others
    assert answers["r1"]["status"] == "success" and answers["r1"]["result"]["node"] == "n2"
    w = answers[7]
    assert (w["status"], w["type"], w["error"], w["error_code"]) == (
        "error", "response", "internal", 73), w
    assert "may or may not have been applied" in w["error_message"], w
    got = [(c["command"], c["id"]) for c in commands(n2)]
    assert ("account_info", "r1") in got and not any(c == "submit" for c, _ in got), got
    assert metric(sp, "ws_resent") == 1
    assert metric(sp, "ws_unknown_outcome") == 1


def test_duplicate_ledger_closed_dropped(h):
    """The new node sends its latest ledger again on subscribe: the client had it from the
    old one, nodegate drops it."""
    sp = free_port()
    g, f, n1, n2 = followed_then_second(h, sp, second_args=("--repeat-last",))
    before = f.ledgers(2)
    mid_interval()
    n1.kill()
    seq = before + f.ledgers(4)
    assert consecutive(seq), seq
    assert metric(sp, "ws_duplicates_dropped") == 1


def test_unsubscribe_replayed_as_its_net_effect(h):
    """Subscriptions are replayed as what they add up to: an unsubscribe that undoes a
    subscribe leaves nothing of either."""
    sp = free_port()
    g, f, first, other = followed_on_two(h, sp)
    acct = {"accounts": ["rPEPPER7kfTD9w2To4CQk6UCfuHM9c6GDY"]}
    others = []
    for i, cmd in enumerate(["subscribe", "unsubscribe", "subscribe"]):
        send(f.c, {"command": cmd, "id": 10 + i, "streams": ["server"], **acct})
    send(f.c, {"command": "unsubscribe", "id": 13, "streams": ["server"], **acct})
    send(f.c, {"command": "subscribe", "id": 14, "streams": ["validations"]})
    while len([d for d in others if d.get("type") == "response"]) < 5:
        f.ledgers(1, others)
    mid_interval()
    first.kill()
    f.ledgers(3, others)
    replayed = [(c["command"], c["streams"]) for c in commands(other)]
    assert replayed == [("subscribe", ["ledger"]), ("subscribe", ["validations"])], replayed
    assert metric(sp, "ws_replays") == 2


def test_no_node_left_closes_1001(h):
    """The only node dies: nothing to go on with, the client gets 1001 (going away) and
    reconnects by itself; counted as a failover given up."""
    n1 = ledger_node(h, "n1")
    sp = free_port()
    g = gate(h, [n1], sp)
    f = Follower(g.port)
    f.ledgers(1)
    n1.kill()
    with pytest.raises(ConnectionAbortedError) as e:
        while True:
            f.get()
    assert e.value.args[0] == 1001
    assert metric(sp, "ws_failover_failed") == 1
    assert metric(sp, "ws_failovers") == 0
    assert "WebSocket failover given up (no node in rotation): closed (1001)" in g.stderr()


# ---------------------------------------------------------------------------------------
# the real client


@pytest.fixture(scope="session")
def follow_ledgers():
    """tests/e2e/xrpl/follow_ledgers.js, ready to run: xrpl.js from the npm registry (npm ci
    when node_modules is missing). Skips only when node or npm is missing or npm ci fails."""
    for exe in ("node", "npm"):
        if shutil.which(exe) is None:
            pytest.skip(f"{exe} is not installed (Debian: nodejs, npm)")
    if not (XRPL_DIR / "node_modules" / "xrpl" / "package.json").exists():
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=XRPL_DIR,
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            pytest.skip("xrpl.js could not be installed (npm ci in tests/e2e/xrpl): "
                        + (r.stdout + r.stderr).strip()[-1500:])
    return XRPL_DIR / "follow_ledgers.js"


def test_xrpl_js_keeps_every_ledger_while_its_node_is_killed(h, follow_ledgers):
    """xrpl.js subscribed to the ledger stream sees consecutive ledgers, no gap and no
    repeat, across the SIGKILL of the node serving it, and never sees a disconnect."""
    n1, n2 = ledger_node(h, "n1"), ledger_node(h, "n2")
    sp = free_port()
    g = gate(h, [n1, n2], sp)
    p = subprocess.Popen(["node", str(follow_ledgers), f"ws://127.0.0.1:{g.port}", "4"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(json.loads(ln)) for ln in p.stdout],
                     daemon=True).start()
    events = []

    def until(pred):
        while True:
            ev = lines.get(timeout=IO_TIMEOUT)
            events.append(ev)
            assert ev["event"] not in ("failed", "disconnected", "error"), events
            if pred(ev):
                return
    try:
        until(lambda ev: ev["event"] == "subscribed")
        first = serving([n1, n2])
        for _ in range(3):
            until(lambda ev: ev["event"] == "ledgerClosed")
        mid_interval()
        first.kill()
        until(lambda ev: ev["event"] == "done")
        assert p.wait(timeout=10 * SLOW) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    seq = [ev["ledger_index"] for ev in events if ev["event"] == "ledgerClosed"]
    assert len(seq) >= 15, seq  # 4 s at 200 ms a ledger, the kill within them
    assert consecutive(seq), seq
    assert metric(sp, "ws_failovers") == 1
    assert metric(sp, "ws_replays") == 1
    assert metric(sp, "ws_duplicates_dropped") == 0
