"""A hung node costs clients nothing (issue 11): a node that stops answering (SIGSTOP: its
sockets stay open, nothing comes back) is held out of new picks as soon as it has been
silent past the pool's hung-node bound, the reads waiting on it go to another node, and a
write waiting on it is never sent twice: it waits for the node's own answer."""
import signal
import threading
import time

from harness import SLOW, Load, http_conn, rpc_body, wait_for
from test_status import free_port, scrape, status_section, value

FREEZE = 1.5  # seconds the node is stopped


def test_frozen_node_under_load_costs_no_read_and_little_time(h):
    sims = h.nodesims("n1", "n2", "n3")
    sp = free_port()
    g = h.gate(h.gate_ini(sims, extra=[status_section(sp)]))
    load = Load(g.port, threads=8, max_requests=100000, max_seconds=20)
    try:
        wait_for(lambda: load.node_count("n2") >= 300, 10, "load to reach every node")
        t0, c0 = time.monotonic(), load.count()
        time.sleep(1.0)
        healthy_rate = (load.count() - c0) / (time.monotonic() - t0)
        sims[1].proc.send_signal(signal.SIGSTOP)
        t1, c1 = time.monotonic(), load.count()
        time.sleep(FREEZE)
        frozen_rate = (load.count() - c1) / (time.monotonic() - t1)
        sims[1].proc.send_signal(signal.SIGCONT)
        # the load goes on past the wake-up (whether n2 is back at once depends on whether
        # its probes timed out meanwhile: the usual rules, not this defence)
        at_wake = load.count()
        wait_for(lambda: load.count() >= at_wake + 500, 10, "the load to go on after the wake")
    finally:
        sims[1].proc.send_signal(signal.SIGCONT)
        load.stop()
    assert load.errors == [], f"{len(load.errors)} failed reads, first: {load.errors[:5]}"
    # Without the defence every client connection in turn waits on the frozen node for
    # the whole freeze (a few requests a second); with it the two others carry the load.
    assert frozen_rate >= 0.4 * healthy_rate, (frozen_rate, healthy_rate)
    fams = scrape(sp)
    assert value(fams, "nodegate_req_slow", "nodegate_req_slow_total") >= 1
    assert value(fams, "nodegate_backend_held", "nodegate_backend_held_total") >= 1
    assert g.alive()


def test_write_waiting_on_a_frozen_node_is_not_sent_twice(h):
    """Two nodes, n2 stopped before any traffic; submits on fresh connections. Those that
    went to n2 wait for its own answer once it wakes; n1 never sees them."""
    sims = h.nodesims("n1", "n2")
    g = h.simple_gate(sims, pool={"slow_signal": "200ms"})
    sims[1].proc.send_signal(signal.SIGSTOP)
    answers = []
    lock = threading.Lock()

    def submit():
        c = http_conn(g.port, timeout=20 * SLOW)
        t = time.monotonic()
        c.request("POST", "/", body=rpc_body("submit", [{"tx_blob": "00"}]),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        with lock:
            answers.append((r.status, r.getheader("X-Node"), time.monotonic() - t, body))
        c.close()

    threads = [threading.Thread(target=submit, daemon=True) for _ in range(4)]
    try:
        for t in threads:
            t.start()
            time.sleep(0.05)
        time.sleep(FREEZE)
    finally:
        sims[1].proc.send_signal(signal.SIGCONT)
    for t in threads:
        t.join(timeout=20 * SLOW)
    assert len(answers) == 4, answers
    assert all(a[0] == 200 for a in answers), answers
    late = [a for a in answers if a[1] == "n2"]
    assert late, f"no submit went to the stopped node: {answers}"
    for a in late:
        assert a[2] >= FREEZE - 0.2, a  # its own answer, after it woke
    # each submit reached one node once: none was replayed
    submits = [sim.stats()["methods"].get("submit", 0) for sim in sims]
    assert submits == [len(answers) - len(late), len(late)], (submits, answers)
    assert g.alive()
