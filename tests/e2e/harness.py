"""End-to-end harness: starts the real nodegate and nodesim binaries on loopback, writes
INI files, polls for readiness, and speaks HTTP/1.1 over raw sockets when a test must
control every byte. Only 127.0.0.1 is ever contacted."""
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("NODEGATE_BUILD", "build"))
if not BUILD.is_absolute():
    BUILD = REPO / BUILD
NODEGATE = BUILD / "nodegate"
NODESIM = BUILD / "nodesim"
# one folder per build, so that a sanitizer run beside a normal one shares nothing
OUT = Path(__file__).resolve().parent / "out" / BUILD.name
HOST = "127.0.0.1"


def _is_sanitized(path, marker=b"__asan_init"):
    try:
        return marker in path.read_bytes()
    except OSError:
        return False


ASAN = _is_sanitized(NODEGATE)
TSAN = _is_sanitized(NODEGATE, b"__tsan_init")
WORKERS = os.environ.get("NODEGATE_TEST_WORKERS", "")
# sqlite (the default) or postgres: the store every nodegate of the run uses (pgserver.py)
STORE = os.environ.get("NODEGATE_TEST_STORE", "sqlite")
SLOW = 5 if TSAN else 3 if ASAN else 1  # sanitizer builds run several times slower
IO_TIMEOUT = 10 * SLOW   # any single socket operation


def wait_for(cond, timeout, what, interval=0.01):
    """Polls cond() every interval until it returns a true value (returned) or timeout."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout * SLOW:.1f}s waiting for {what}")
        time.sleep(interval)


_ports = set()


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on now, never handed out twice per run."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in _ports:
            _ports.add(port)
            return port
    raise RuntimeError("no free port")


def can_connect(port, timeout=0.5):
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def ini_text(sections):
    """sections: [(header, {key: value})] in file order."""
    out = []
    for header, kv in sections:
        out.append(f"[{header}]")
        out += [f"{k} = {v}" for k, v in kv.items()]
        out.append("")
    return "\n".join(out)


def http_conn(port, timeout=None):
    """A connected http.client connection that never silently reconnects: if the server
    closes it, the next request fails, as a user relying on keep-alive would notice."""
    c = http.client.HTTPConnection(HOST, port, timeout=timeout or IO_TIMEOUT)
    c.connect()
    c.auto_open = 0
    return c


def rpc_body(method, params=None):
    return json.dumps({"method": method, "params": params if params is not None else [{}]})


def rpc(conn, method, params=None, path="/"):
    """One JSON-RPC POST on an http.client connection: (status, headers, parsed body)."""
    conn.request("POST", path, body=rpc_body(method, params),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    return r.status, r, json.loads(body)


def get(conn, path, headers=None):
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    return r, r.read()


def big_digest(n):
    """sha256 of nodesim's /sim/big?bytes=N body: byte i is 'a' + i % 26."""
    block = bytes(range(ord("a"), ord("a") + 26)) * 40000
    h = hashlib.sha256()
    full, rest = divmod(n, len(block))
    for _ in range(full):
        h.update(block)
    h.update(block[:rest])
    return h.hexdigest()


class Response:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def header(self, name):
        """Last value of NAME (case-insensitive), or None."""
        vals = self.header_all(name)
        return vals[-1] if vals else None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:200]!r}>"


class RawClient:
    """A client socket that sends exactly the bytes it is given and parses responses
    itself, so it can pipeline, half-close and send malformed requests."""

    def __init__(self, port, timeout=None, sock=None):
        self.sock = sock or socket.create_connection((HOST, port), timeout=timeout or IO_TIMEOUT)
        self.sock.settimeout(timeout or IO_TIMEOUT)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def read_until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self):
        while True:
            try:
                self._fill()
            except EOFError:
                out, self.buf = self.buf, b""
                return out

    def read_head(self):
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)", lines[0])
        assert m, f"bad status line {lines[0]!r}"
        headers = []
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers.append((k, v.strip()))
        return int(m.group(1)), m.group(2), headers

    def read_response(self, method="GET", skip_1xx=True):
        while True:
            status, reason, headers = self.read_head()
            if not (skip_1xx and 100 <= status < 200 and status != 101):
                break
        r = Response(status, reason, headers, b"")
        te = (r.header("Transfer-Encoding") or "").lower()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return r
        if "chunked" in te:
            body = []
            while True:
                size_line = self.read_until(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.read_until(b"\r\n") != b"\r\n":
                        pass
                    break
                body.append(self.read_exact(size))
                assert self.read_exact(2) == b"\r\n"
            r.body = b"".join(body)
        elif r.header("Content-Length") is not None:
            r.body = self.read_exact(int(r.header("Content-Length")))
        else:
            r.body = self.read_to_eof()
        return r

    def request(self, data, method="GET"):
        self.send(data)
        return self.read_response(method)

    def is_closed(self, timeout=2.0):
        """True when the peer closed (EOF or reset) within timeout, with no bytes pending."""
        self.sock.settimeout(timeout * SLOW)
        try:
            d = self.sock.recv(1)
        except socket.timeout:
            return False
        except ConnectionError:
            return True
        finally:
            self.sock.settimeout(IO_TIMEOUT)
        return d == b""


def is_error_json(body):
    """A JSON-RPC shaped error: a JSON object with an "error" key."""
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and "error" in doc


def metric_value(status_port, sample, **labels):
    """The value of SAMPLE (a full sample name, like nodegate_limited_total) with exactly
    LABELS in GET /metrics of the status listener on STATUS_PORT."""
    from prometheus_client.parser import text_string_to_metric_families
    c = RawClient(status_port)
    try:
        r = c.request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        c.close()
    assert r.status == 200, r
    for f in text_string_to_metric_families(r.body.decode()):
        for s in f.samples:
            if s.name == sample and s.labels == labels:
                return s.value
    raise AssertionError(f"no {sample} {labels or ''} in /metrics")


class Sim:
    """A running nodesim."""

    def __init__(self, name, port, proc, log):
        self.name, self.port, self.proc, self.log = name, port, proc, log

    @property
    def addr(self):
        return f"{HOST}:{self.port}"

    def stats(self):
        c = http_conn(self.port)
        try:
            r, body = get(c, "/sim/stats")
            assert r.status == 200, body
            return json.loads(body)
        finally:
            c.close()

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)


def with_allow_root(ini):
    """INI as nodegate may run it as root here: the tests run as root, and nodegate refuses
    that without user = unless [nodegate] says allow_root = yes (added after the header, or
    as a last section, unless the file says allow_root or user itself)."""
    if os.geteuid() != 0 or re.search(r"^\s*(allow_root|user)\s*=", ini, re.M):
        return ini
    if re.search(r"^\[nodegate\]", ini, re.M):
        return re.sub(r"^\[nodegate\][^\n]*\n?", lambda m: m.group(0).rstrip("\n") +
                      "\nallow_root = yes\n", ini, count=1, flags=re.M)
    return ini.rstrip("\n") + "\n\n[nodegate]\nallow_root = yes\n"


class Gate:
    """A running nodegate and the files it writes."""

    def __init__(self, h, proc, ini, ports):
        self.h, self.proc, self.ini, self.ports = h, proc, ini, ports
        self.port = ports[0] if ports else None

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        return self.h.stderr_path.read_text(errors="replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def rss_kb(self):
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def alive(self):
        return self.proc.poll() is None

    def write_ini(self, text):
        """Replaces the configuration file atomically (as an editor or config tool would)."""
        tmp = self.ini.with_suffix(".tmp")
        tmp.write_text(self.h.with_store(with_allow_root(text)))
        os.replace(tmp, self.ini)

    def reload(self, text):
        self.write_ini(text)
        self.signal(signal.SIGHUP)


class Harness:
    """Per-test: a directory, the processes started in it, and their logs."""

    def __init__(self, directory):
        self.dir = directory
        self.sims = []
        self.gates = []
        self.stderr_path = directory / "nodegate.stderr"
        self.access_log = directory / "access.log"
        self.store_url = None  # NODEGATE_TEST_STORE=postgres: this test's database

    def with_store(self, ini):
        """INI with this test's PostgreSQL database as [store] url under
        NODEGATE_TEST_STORE=postgres (unless it names a store itself)."""
        if STORE != "postgres" or re.search(r"^\[store\]", ini, re.M):
            return ini
        if self.store_url is None:
            import pgserver
            self.store_url = pgserver.shared().create_db("t_" + self.dir.name)
        return ini.rstrip("\n") + f"\n\n[store]\nurl = {self.store_url}\n"

    def log_files(self):
        return sorted(p for p in self.dir.iterdir() if p.suffix in (".stderr", ".log", ".stdout"))

    def nodesim(self, name, port=0, args=(), tag=None):
        """A nodesim on PORT (0: any) with extra ARGS; with "--peer" in ARGS its TLS peer
        port is sim.peer_port. TAG names the log file when the same node starts again."""
        log = self.dir / f"nodesim-{tag or name}.log"
        with open(log, "wb") as f:
            proc = subprocess.Popen([str(NODESIM), "--listen", f"{HOST}:{port}", "--name", name,
                                     "--quiet", *map(str, args)], stdin=subprocess.DEVNULL,
                                    stdout=f, stderr=subprocess.STDOUT)
        sim = Sim(name, None, proc, log)
        self.sims.append(sim)
        peer = "--peer" in args

        def ready():
            if proc.poll() is not None:
                raise AssertionError(f"nodesim {name} exited {proc.returncode}: "
                                     f"{log.read_text(errors='replace')}")
            text = log.read_text(errors="replace")
            m = re.search(r"nodesim \S+ listening on 127\.0\.0\.1:(\d+)", text)
            p = re.search(r"nodesim \S+ peer on 127\.0\.0\.1:(\d+)", text)
            if not m or (peer and not p):
                return None
            return int(m.group(1)), (int(p.group(1)) if p else None)
        sim.port, sim.peer_port = wait_for(ready, 5, f"nodesim {name} to listen")
        return sim

    def nodesims(self, *names):
        return [self.nodesim(n) for n in names]

    def global_section(self, **kw):
        g = {"log_level": "info", "access_log": str(self.access_log), "shutdown_timeout": "5s"}
        if os.geteuid() == 0:  # nodegate refuses root without user = (or this)
            g["allow_root"] = "yes"
        if WORKERS:  # the suite runs with each width (make e2e); unset: nodegate's default
            g["workers"] = WORKERS
        g.update({k: str(v) for k, v in kw.items()})
        return g

    def gate_ini(self, backends, weights=None, listener=None, pool=None, glob=None, port=None,
                 extra=()):
        """A one-listener, one-pool configuration. backends: Sims or (name, addr) pairs or
        (name, addr, {extra keys}) triples."""
        lst = {"bind": f"{HOST}:{port or free_port()}", "mode": "http", "pool": "rpc"}
        lst.update(listener or {})
        # probes every 100 ms: backends are judged (checking -> up) right after start
        pl = {"balance": "roundrobin", "retries": "2", "connect_timeout": "1s",
              "response_timeout": "10s", "check_interval": "100ms"}
        pl.update(pool or {})
        sections = [("nodegate", self.global_section(**(glob or {}))), ("listener web", lst),
                    ("pool rpc", pl)]
        for i, b in enumerate(backends):
            if isinstance(b, Sim):
                name, addr, more = b.name, b.addr, {}
            else:
                name, addr, more = b[0], b[1], (b[2] if len(b) > 2 else {})
            sec = {"pool": "rpc", "address": addr, "weight": str(weights[i] if weights else 1)}
            sec.update(more)
            sections.append((f"backend {name}", sec))
        sections += list(extra)
        return ini_text(sections)

    def gate(self, ini, wait=True, env=None, judged=True, nofile=None):
        """Writes INI, starts nodegate -c on it and waits until every bind accepts. NOFILE:
        its descriptor limit (soft and hard), as `ulimit -n` would set it."""
        path = self.dir / "nodegate.ini"
        ini = self.with_store(with_allow_root(ini))
        path.write_text(ini)
        ports = [int(p) for p in re.findall(r"^bind\s*=\s*127\.0\.0\.1:(\d+)\s*$", ini, re.M)]
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(self.stderr_path, "ab") as err, open(self.dir / "nodegate.stdout", "ab") as out:
            def limit():
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            proc = subprocess.Popen([str(NODEGATE), "-c", str(path)], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, env=full_env, cwd=self.dir,
                                    preexec_fn=limit if nofile else None)
        g = Gate(self, proc, path, ports)
        self.gates.append(g)
        if wait:
            for p in ports:
                def ready(p=p):
                    if proc.poll() is not None:
                        raise AssertionError(f"nodegate exited {proc.returncode}:\n{g.stderr()}")
                    return can_connect(p, 0.2)
                wait_for(ready, 5, f"nodegate to listen on {p}", interval=0.02)
            # a backend not judged yet is out of rotation: wait for every first verdict
            for name in re.findall(r"^\[backend (\S+)\]", ini, re.M) if judged else []:
                wait_for(lambda name=name: f"backend {name}: checking -> " in g.stderr(), 10,
                         f"the first verdict on backend {name}", interval=0.02)
        return g

    def simple_gate(self, sims, **kw):
        return self.gate(self.gate_ini(sims, **kw))

    def teardown(self):
        """Stops everything; returns what went wrong with nodegate itself (a crash during
        the test, or no clean exit 0 on SIGTERM)."""
        problems = []
        for g in self.gates:
            code = g.proc.poll()
            if code is not None and code < 0 and code != -signal.SIGKILL:
                problems.append(f"nodegate died of signal {-code} during the test")
            if code is None:
                g.proc.send_signal(signal.SIGTERM)
                try:
                    code = g.proc.wait(timeout=5 * SLOW)
                except subprocess.TimeoutExpired:
                    g.proc.kill()
                    g.proc.wait(timeout=5)
                    code = None
                    problems.append("nodegate did not exit on SIGTERM within 5s")
                if code not in (0, None):
                    problems.append(f"nodegate exited {code} on SIGTERM")
        for s in self.sims:
            if s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait(timeout=5)
        return problems

    def sanitizer_reports(self):
        found = []
        for p in self.log_files():
            text = p.read_text(errors="replace")
            if re.search(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:", text):
                found.append(p.name)
        return found


def nodegate_run(*args, timeout=10):
    """Runs nodegate to completion (for -t, -V, -h): (exit code, stdout + stderr)."""
    p = subprocess.run([str(NODEGATE), *args], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout * SLOW)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


class Load:
    """Client threads, each on its own keep-alive connection, sending JSON-RPC server_info
    POSTs until stop() or until a bounded count or time. Every answer must be 200 with a
    JSON result; anything else (status, body, exception, closed connection) is an error."""

    def __init__(self, port, threads=4, max_requests=3000, max_seconds=15, method="server_info"):
        import threading
        self.port, self.method = port, method
        self.max_requests, self.max_seconds = max_requests, max_seconds * SLOW
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.ok = 0
        self.errors = []
        self.nodes = {}
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        conn = http_conn(self.port)
        deadline = time.monotonic() + self.max_seconds
        try:
            for _ in range(self.max_requests):
                if self.stop_event.is_set() or time.monotonic() > deadline:
                    return
                try:
                    status, r, doc = rpc(conn, self.method)
                    good = status == 200 and doc.get("result", {}).get("status") == "success"
                except Exception as e:  # noqa: BLE001 - every failure is what we count
                    with self.lock:
                        self.errors.append(f"{time.monotonic():.3f} {e!r}")
                    conn.close()
                    conn = http_conn(self.port)
                    continue
                with self.lock:
                    if good:
                        self.ok += 1
                        node = r.getheader("X-Node")
                        self.nodes[node] = self.nodes.get(node, 0) + 1
                    else:
                        self.errors.append(f"{time.monotonic():.3f} {status} {doc!r}"[:300])
        finally:
            conn.close()

    def count(self):
        with self.lock:
            return self.ok + len(self.errors)

    def node_count(self, name):
        with self.lock:
            return self.nodes.get(name, 0)

    def wait_more(self, mark, n, timeout, what, min_seconds=0.0):
        """Until N more requests than MARK are done and MIN_SECONDS have passed, or every
        thread has ended (at its bound); the caller asserts what it needs."""
        t0 = time.monotonic()
        wait_for(lambda: (self.count() >= mark + n and time.monotonic() - t0 >= min_seconds) or
                 not any(t.is_alive() for t in self.threads), timeout, what)

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=self.max_seconds + 5)
        assert not any(t.is_alive() for t in self.threads), "load threads did not stop"
