"""A rippled-like WebSocket node for the failover tests, run as a process of its own so
that a test can kill it (SIGKILL) as a node dies: no close frame, every socket gone.

It answers the WebSocket upgrade and rippled's commands as xrpl.js uses them (server_info,
subscribe, unsubscribe, ping; anything else with {"command": C, "node": NAME}), in
rippled's shape ({"id", "result", "status", "type": "response"}, keys sorted as rippled
writes them), and a plain GET (an http health check) with 200. Every subscriber of the
"ledger" stream gets a ledgerClosed every --interval-ms, numbered from the wall clock, so
that every node of a test agrees on the sequence as a real network's nodes do.

  --hold METHOD   never answer METHOD (a request stays in flight until the node dies)
  --repeat-last   on a ledger subscribe, send the last ledgerClosed again (as a node that
                  replays its latest ledger would): a duplicate for a client that had it

It prints "ledger_node NAME listening on 127.0.0.1:PORT", then one JSON line per command it
receives ({"command", "id", "streams", "accounts"}), flushed, for the test to read."""
import argparse
import json
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stubs import WsReader, recv_until, switching, ws_frame  # noqa: E402

EPOCH_MS = 1735689600000  # 2025-01-01: ledger numbers start near BASE
BASE = 90_000_000


class Node:
    def __init__(self, name, interval_ms, hold, repeat_last):
        self.name, self.interval, self.hold = name, interval_ms, set(hold)
        self.repeat_last = repeat_last
        self.lock = threading.Lock()
        self.subscribers = {}  # socket -> its send lock
        self.last = None  # the last ledger closed (sent to subscribers)

    def ledger_at(self, ms):
        return BASE + (ms - EPOCH_MS) // self.interval

    def log(self, doc):
        with self.lock:
            print(json.dumps(doc, sort_keys=True), flush=True)

    def ledger(self, idx):
        """The fields rippled's ledger stream and subscribe answer share."""
        return {"fee_base": 10, "ledger_hash": "%064X" % idx, "ledger_index": idx,
                "ledger_time": 800000000 + idx, "reserve_base": 1000000,
                "reserve_inc": 200000, "validated_ledgers": f"{BASE}-{idx}"}

    def closed(self, idx):
        return dict(self.ledger(idx), txn_count=0, type="ledgerClosed")

    def send(self, c, lock, doc):
        data = ws_frame(1, json.dumps(doc, sort_keys=True).encode(), mask=False)
        with lock:
            c.sendall(data)

    def ticker(self):
        """ledgerClosed to every subscriber at each interval boundary of the wall clock."""
        while True:
            ms = time.time() * 1000
            nxt = (int(ms) // self.interval + 1) * self.interval
            time.sleep(max(0.0, (nxt - ms) / 1000))
            idx = self.ledger_at(nxt)
            with self.lock:
                self.last = idx
                subs = list(self.subscribers.items())
            for c, lock in subs:
                try:
                    self.send(c, lock, self.closed(idx))
                except OSError:
                    with self.lock:
                        self.subscribers.pop(c, None)

    def result(self, c, lock, doc):
        """The result of one command, or None when it is not answered."""
        cmd = doc.get("command") or doc.get("method")
        streams = doc.get("streams") or []
        if cmd == "server_info":
            idx = self.ledger_at(int(time.time() * 1000))
            return {"info": {"build_version": "2.4.0", "complete_ledgers": f"{BASE}-{idx}",
                             "hostid": self.name, "load_factor": 1, "peers": 21,
                             "server_state": "full",
                             "validated_ledger": {"age": 1, "base_fee_xrp": 0.00001,
                                                  "hash": "%064X" % idx,
                                                  "reserve_base_xrp": 1,
                                                  "reserve_inc_xrp": 0.2, "seq": idx}}}
        if cmd == "subscribe":
            if "ledger" not in streams:
                return {}
            with self.lock:
                idx = self.last or self.ledger_at(int(time.time() * 1000))
            return self.ledger(idx)
        if cmd == "unsubscribe":
            if "ledger" in streams:
                with self.lock:
                    self.subscribers.pop(c, None)
            return {}
        if cmd == "ping":
            return {}
        return {"command": cmd, "node": self.name}

    def command(self, c, lock, payload):
        doc = json.loads(payload)
        self.log({"node": self.name, "command": doc.get("command") or doc.get("method"),
                  "id": doc.get("id"), "streams": doc.get("streams"),
                  "accounts": doc.get("accounts")})
        if doc.get("command") in self.hold:
            return
        res = self.result(c, lock, doc)
        reply = {"result": res, "status": "success", "type": "response"}
        if "id" in doc:
            reply["id"] = doc["id"]
        self.send(c, lock, reply)
        if doc.get("command") == "subscribe" and "ledger" in (doc.get("streams") or []):
            if self.repeat_last and self.last is not None:
                self.send(c, lock, self.closed(self.last))
            with self.lock:  # the stream starts after the answer, as rippled's does
                self.subscribers[c] = lock

    def serve(self, c):
        lock = threading.Lock()
        try:
            head, rest = recv_until(c, b"\r\n\r\n")
            text = head.decode("latin-1")
            key = [ln.partition(":")[2].strip() for ln in text.split("\r\n")
                   if ln.lower().startswith("sec-websocket-key:")]
            if not key:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                return
            c.sendall(switching(key[0]))
            r, msg = WsReader(c, rest), b""
            while True:
                fin, opcode, payload, _ = r.frame()
                if opcode == 8:
                    with lock:
                        c.sendall(ws_frame(8, payload[:2], mask=False))
                    return
                if opcode == 9:
                    with lock:
                        c.sendall(ws_frame(10, payload, mask=False))
                    continue
                if opcode == 10:
                    continue
                msg += payload
                if fin:
                    self.command(c, lock, msg)
                    msg = b""
        except (OSError, EOFError, ValueError):
            pass
        finally:
            with self.lock:
                self.subscribers.pop(c, None)
            c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--interval-ms", type=int, default=200)
    ap.add_argument("--hold", action="append", default=[])
    ap.add_argument("--repeat-last", action="store_true")
    a = ap.parse_args()
    node = Node(a.name, a.interval_ms, a.hold, a.repeat_last)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.port))
    ls.listen(64)
    print(f"ledger_node {a.name} listening on 127.0.0.1:{ls.getsockname()[1]}", flush=True)
    threading.Thread(target=node.ticker, daemon=True).start()
    while True:
        c, _ = ls.accept()
        c.settimeout(None)
        threading.Thread(target=node.serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
