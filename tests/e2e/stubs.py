"""Stand-in backends and clients that nodesim does not provide, in stdlib Python threads on
127.0.0.1: a WebSocket echo server and client, a raw TCP echo server, an HTTPS backend and
a backend that closes every connection without answering."""
import base64
import hashlib
import http.server
import json
import os
import socket
import ssl
import struct
import threading

from harness import HOST, IO_TIMEOUT

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


class StubServer:
    """Accept loop in a thread; handle(conn) runs in a thread per connection."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.errors = []
        self.lock = threading.Lock()
        self.accepted = 0
        self._stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @property
    def addr(self):
        return f"{HOST}:{self.port}"

    def _loop(self):
        while not self._stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            c.settimeout(IO_TIMEOUT)
            with self.lock:
                self.conns.append(c)
                self.accepted += 1
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self.handle(c)
        except (OSError, EOFError, ValueError) as e:
            with self.lock:
                self.errors.append(repr(e))
        finally:
            c.close()

    def handle(self, c):
        raise NotImplementedError

    def stop(self):
        self._stop = True
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def recv_exact(sock, n, buf=b""):
    while len(buf) < n:
        d = sock.recv(max(65536, n - len(buf)))
        if not d:
            raise EOFError("closed")
        buf += d
    return buf[:n], buf[n:]


def recv_until(sock, sep, buf=b""):
    while sep not in buf:
        d = sock.recv(65536)
        if not d:
            raise EOFError("closed")
        buf += d
    i = buf.index(sep) + len(sep)
    return buf[:i], buf[i:]


def ws_frame(opcode, payload, mask):
    """One final frame; clients must mask (RFC 6455 5.3), servers must not."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + ws_mask(payload, key)


def ws_mask(payload, key):
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


class WsReader:
    def __init__(self, sock, buf=b""):
        self.sock, self.buf = sock, buf

    def frame(self):
        """(fin, opcode, payload, was_masked)"""
        h, self.buf = recv_exact(self.sock, 2, self.buf)
        fin, opcode = h[0] & 0x80, h[0] & 0x0F
        masked, n = h[1] & 0x80, h[1] & 0x7F
        if n == 126:
            e, self.buf = recv_exact(self.sock, 2, self.buf)
            n = struct.unpack("!H", e)[0]
        elif n == 127:
            e, self.buf = recv_exact(self.sock, 8, self.buf)
            n = struct.unpack("!Q", e)[0]
        key = b""
        if masked:
            key, self.buf = recv_exact(self.sock, 4, self.buf)
        payload, self.buf = recv_exact(self.sock, n, self.buf)
        if masked:
            payload = ws_mask(payload, key)
        return bool(fin), opcode, payload, bool(masked)

    def message(self):
        """(opcode, payload) of the next data message, reassembling fragments."""
        fin, opcode, payload, _ = self.frame()
        while not fin:
            fin, _, more, _ = self.frame()
            payload += more
        return opcode, payload


def switching(key):
    """The 101 answer to a WebSocket upgrade with Sec-WebSocket-Key KEY."""
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Accept: " + ws_accept(key) +
            "\r\n\r\n").encode()


class WsEchoServer(StubServer):
    """Answers plain GETs 200 "ok" (keep-alive). Answers an upgrade, sends a text
    "welcome" right behind the 101 (same write), then echoes every data message with its
    opcode; answers close with close."""

    def __init__(self):
        self.requests = []  # request heads received
        self.unmasked_from_client = 0
        super().__init__()

    def handle(self, c):
        rest = b""
        while True:  # plain keep-alive HTTP requests until one asks for an upgrade
            head, rest = recv_until(c, b"\r\n\r\n", rest)
            text = head.decode("latin-1")
            with self.lock:
                self.requests.append(text)
            key = None
            for line in text.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "sec-websocket-key":
                    key = v.strip()
            if key is not None:
                break
            c.sendall(b"HTTP/1.1 200 OK\r\nX-Node: ws\r\nContent-Length: 2\r\n\r\nok")
        c.sendall(switching(key) + ws_frame(1, b"welcome", mask=False))
        for fin, opcode, payload in self.frames(c, WsReader(c, rest)):
            c.sendall(ws_frame(opcode, payload, mask=False))

    def frames(self, c, r):
        """The client's data frames, as (fin, opcode, payload); pings get pongs, a close
        gets a close and ends them; frames that came unmasked are counted."""
        while True:
            fin, opcode, payload, masked = r.frame()
            if not masked:
                with self.lock:
                    self.unmasked_from_client += 1
            if opcode == 8:
                c.sendall(ws_frame(8, payload[:2], mask=False))
                return
            if opcode == 9:
                c.sendall(ws_frame(10, payload, mask=False))
                continue
            yield fin, opcode, payload


class RippledWsServer(WsEchoServer):
    """A rippled-like WebSocket node named NAME: answers every {"command": C, "id": I, ...}
    with {"id": I, "status": "success", "type": "response", "result": {"command": C,
    "node": NAME}}, pings with pongs, close with close; records every command it got in
    .commands (in order) and counts frames that came unmasked. Plain requests (an http
    check's GET /health) are answered 200 "ok", or 503 while .healthy is False."""

    def __init__(self, name):
        self.name = name
        self.commands = []
        self.healthy = True
        super().__init__()

    def answer(self, payload):
        try:
            doc = json.loads(payload)
        except ValueError:
            doc = {}
        cmd = doc.get("command") if isinstance(doc, dict) else None
        with self.lock:
            self.commands.append(cmd)
        reply = {"status": "success", "type": "response",
                 "result": {"command": cmd, "node": self.name}}
        if isinstance(doc, dict) and "id" in doc:
            reply["id"] = doc["id"]
        return json.dumps(reply).encode()

    def handle(self, c):
        head, rest = recv_until(c, b"\r\n\r\n")
        text = head.decode("latin-1")
        with self.lock:
            self.requests.append(text)
        key = [ln.partition(":")[2].strip() for ln in text.split("\r\n")
               if ln.lower().startswith("sec-websocket-key:")]
        if not key:
            status = b"200 OK" if self.healthy else b"503 Service Unavailable"
            c.sendall(b"HTTP/1.1 " + status +
                      b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            return
        c.sendall(switching(key[0]))
        msg = b""
        for fin, opcode, payload in self.frames(c, WsReader(c, rest)):
            if opcode == 10:
                continue
            msg += payload
            if fin:
                c.sendall(ws_frame(1, self.answer(msg), mask=False))
                msg = b""


class TcpEchoServer(StubServer):
    """Echoes every byte; when the client half-closes, sends b"BYE" and closes."""

    def __init__(self):
        self.received = 0
        super().__init__()

    def handle(self, c):
        while True:
            d = c.recv(65536)
            if not d:
                c.sendall(b"BYE")
                c.shutdown(socket.SHUT_WR)
                return
            with self.lock:
                self.received += len(d)
            c.sendall(d)


class CloserServer(StubServer):
    """Reads a request head, records it, and closes without a byte of answer."""

    def __init__(self):
        self.requests = []
        super().__init__()

    def handle(self, c):
        head, _ = recv_until(c, b"\r\n\r\n")
        with self.lock:
            self.requests.append(head.decode("latin-1"))


class _TlsHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        body = json.dumps({"result": {"status": "success", "node": "tls",
                                      "path": self.path}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Node", "tlsnode")
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *args):
        pass


class TlsHttpServer(http.server.ThreadingHTTPServer):
    """An HTTPS backend: answers every request 200 with X-Node: tlsnode; records SNI names
    and handshake failures."""

    daemon_threads = True

    def __init__(self, certfile, keyfile):
        super().__init__((HOST, 0), _TlsHandler)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.sni = []
        self.handshake_errors = []
        self.handshakes = 0
        self.ctx.sni_callback = lambda s, name, c: self.sni.append(name) and None
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def addr(self):
        return f"{HOST}:{self.server_address[1]}"

    def finish_request(self, request, client_address):
        request.settimeout(IO_TIMEOUT)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.handshake_errors.append(repr(e))
            return
        self.handshakes += 1
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request, client_address):
        pass

    def stop(self):
        self.shutdown()
        self.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class WsClient:
    """A WebSocket client over an already connected socket (plain or TLS)."""

    def __init__(self, sock, host="localhost", path="/ws", extra_headers=""):
        self.sock = sock
        self.key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      f"Sec-WebSocket-Key: {self.key}\r\n{extra_headers}\r\n").encode())
        head, rest = recv_until(sock, b"\r\n\r\n")
        self.head = head.decode("latin-1")
        self.status = int(self.head.split(" ", 2)[1])
        self.headers = {}
        for line in self.head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k:
                self.headers[k.strip().lower()] = v.strip()
        self.reader = WsReader(sock, rest)

    def send(self, opcode, payload):
        self.sock.sendall(ws_frame(opcode, payload, mask=True))

    def recv(self):
        return self.reader.message()

    def close(self):
        self.send(8, struct.pack("!H", 1000))
        fin, opcode, payload, masked = self.reader.frame()
        return opcode, payload


class HoldServer(StubServer):
    """A keep-alive HTTP backend for GET requests: /hold waits until release() (at most
    IO_TIMEOUT), any other path answers at once. Counts requests in flight, so a test knows
    exactly when nodegate has placed a request."""

    def __init__(self, name):
        self.name = name
        self.in_flight = 0
        self.served = 0
        self.release_event = threading.Event()
        super().__init__()

    def release(self):
        self.release_event.set()

    def handle(self, c):
        buf = b""
        while True:
            try:
                head, buf = recv_until(c, b"\r\n\r\n", buf)
            except EOFError:
                return
            path = head.split(b" ", 2)[1]
            if path.startswith(b"/hold"):
                with self.lock:
                    self.in_flight += 1
                self.release_event.wait(IO_TIMEOUT)
                with self.lock:
                    self.in_flight -= 1
            body = json.dumps({"node": self.name, "path": path.decode()}).encode()
            with self.lock:
                self.served += 1
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Node: " +
                      self.name.encode() + b"\r\nContent-Length: " + str(len(body)).encode() +
                      b"\r\n\r\n" + body)


class DigestServer(StubServer):
    """A keep-alive HTTP backend that reads request bodies framed by Content-Length or
    chunked (with chunk extensions and trailers, which evhttp-based nodesim refuses) and
    answers {"bytes": N, "sha256": HEX, "extensions": [...], "trailers": [...]}."""

    def __init__(self):
        self.heads = []
        super().__init__()

    def handle(self, c):
        buf = b""
        while True:
            try:
                head, buf = recv_until(c, b"\r\n\r\n", buf)
            except EOFError:
                return
            lines = head.decode("latin-1").split("\r\n")
            hdrs = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k:
                    hdrs[k.strip().lower()] = v.strip()
            with self.lock:
                self.heads.append(head.decode("latin-1"))
            sha, n, exts, trailers = hashlib.sha256(), 0, [], []
            if "chunked" in hdrs.get("transfer-encoding", "").lower():
                while True:
                    line, buf = recv_until(c, b"\r\n", buf)
                    size, _, ext = line[:-2].partition(b";")
                    if ext:
                        exts.append(ext.decode("latin-1"))
                    size = int(size, 16)
                    if size == 0:
                        break
                    data, buf = recv_exact(c, size + 2, buf)
                    sha.update(data[:-2])
                    n += size
                while True:
                    line, buf = recv_until(c, b"\r\n", buf)
                    if line == b"\r\n":
                        break
                    trailers.append(line[:-2].decode("latin-1"))
            else:
                left = int(hdrs.get("content-length", "0"))
                while left:
                    if not buf:
                        buf = c.recv(min(left, 262144))
                        if not buf:
                            raise EOFError("closed")
                    data, buf = buf[:left], buf[left:]
                    sha.update(data)
                    n += len(data)
                    left -= len(data)
            body = json.dumps({"bytes": n, "sha256": sha.hexdigest(), "extensions": exts,
                               "trailers": trailers}).encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Node: digest\r\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
