"""Mirrors end to end (issue 14): nodegate pushes a static copy of its status page
(index.html, status.json, the Atom and RSS feeds, each pool's feeds) to a folder, to Debian's
nginx with its DAV module (HTTP PUT, MKCOL where a folder is missing, basic auth) and to an
S3-compatible server from npm that checks SigV4 signatures (@20minutes/s3rver, in
tests/e2e/s3). The copy matches the live page; failed pushes are counted and retried until
they succeed; and once nodegate is stopped, Chromium shows the copy saying plainly that it is
stale and that the service may be down."""
import http.client
import json
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from harness import (HOST, REPO, SLOW, Sim, can_connect, free_port, http_conn, nodegate_run,
                     wait_for)
from test_admin import TOKEN
from test_health import (be, check_keys, log_lines, rippled_sim, set_health, wait_transition,
                         wait_up)
from test_incidents import the_open_one, update
from test_page import check_page  # noqa: F401 - a fixture check_copy uses
from test_status import api_status, scrape, status_section, value

feedparser = pytest.importorskip("feedparser", reason="Debian's python3-feedparser (make deps)")

BROWSER_DIR = REPO / "tests" / "e2e" / "browser"
S3_DIR = REPO / "tests" / "e2e" / "s3"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
FILES = ["status.json", "feed.atom", "feed.rss", "pools/rpc/feed.atom", "pools/rpc/feed.rss",
         "index.html"]
S3_KEY = "S3RVER"  # the fork's one account: access key and secret

# ---------------------------------------------------------------------------------------
# helpers


def mirror(name, **kv):
    return (f"mirror {name}", {k: str(v) for k, v in kv.items()})


def gate_with_mirrors(h, certs, sp, mirrors, names=("n1", "n2", "n3")):
    """Three rippled nodes probed every 50ms (as test_incidents.py's rippled_gate), the admin
    API on SP, and MIRRORS (sections)."""
    sims = {n: rippled_sim(h, certs, n) for n in names}
    keys = check_keys("50ms", rise=2, readmit_after="100ms", slow_start="0")
    (h.dir / "admin.token").write_text(f"{TOKEN}\n")
    ini = h.gate_ini([be(s) for s in sims.values()], pool=keys,
                     glob={"state_dir": h.dir / "state"},
                     extra=[status_section(sp, admin_token_file=h.dir / "admin.token"),
                            *mirrors])
    g = h.gate(ini)
    wait_up(g, list(sims))
    return g, sims


def pushes(sp, name, result):
    return value(scrape(sp), "nodegate_mirror_pushes", "nodegate_mirror_pushes_total",
                 mirror=name, result=result) or 0


def without_time(doc):
    """/api/status without its time (when the copy was made)."""
    return {k: v for k, v in doc.items() if k != "time"}


def incident_ids(html):
    return sorted(set(re.findall(r'id="inc-(\d+)"', html)))


def http_get(url, auth=None):
    req = urllib.request.Request(url)
    try:
        with urllib.request.urlopen(req, timeout=10 * SLOW) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except (OSError, http.client.HTTPException):
        return None, {}, b""


def steady(read, tries=50):
    """READ that waits out a file being written: the test S3 server stores an object in
    place (a GET meanwhile gets a 500, or a short body with a 200): two reads in a row that
    agree."""
    def again(name):
        last = None
        for _ in range(tries):
            got = read(name)
            if got[0] == 200 and last is not None and got[2] == last[2]:
                return got
            last = got if got[0] == 200 else None
            time.sleep(0.02)
        return got
    return again


def live_page(sp):
    c = http_conn(sp)
    try:
        c.request("GET", "/")
        r = c.getresponse()
        return r.read().decode()
    finally:
        c.close()


def check_copy_like_live(sp, read):
    """The copy's status.json equals /api/status (but its time), its page shows the same
    incidents as the live one, its feeds the same entries, and nothing in it needs the live
    listener."""
    def same():
        status, _, body = read("status.json")
        try:
            if status != 200 or without_time(json.loads(body)) != without_time(api_status(sp)):
                return None
        except ValueError:
            return None
        html = read("index.html")[2].decode()  # written last: the push may still be going
        return html if incident_ids(html) == incident_ids(live_page(sp)) != [] else None
    html = wait_for(same, 5, "the copy to match the live page")
    assert 'id="copy"' in html and "data-generated=" in html
    for href in re.findall(r'(?:href|src|action)="([^"]*)"', html):
        assert not href.startswith("/"), href  # would need the live listener
    for name in ("feed.atom", "feed.rss", "pools/rpc/feed.atom"):
        status, _, body = read(name)
        assert status == 200, name
        copy_ids = [e.id for e in feedparser.parse(body).entries]
        live_ids = [e.id for e in feedparser.parse(
            call_raw(sp, "/" + name)).entries]
        assert copy_ids == live_ids and copy_ids, (name, copy_ids, live_ids)
    return html


def call_raw(sp, path):
    c = http_conn(sp)
    try:
        c.request("GET", path)
        return c.getresponse().read()
    finally:
        c.close()


def make_incident(g, sp, sims):
    """n2 turns critical: an incident opens; ops post a public update."""
    mark = log_lines(g)
    set_health(sims["n2"], "critical")
    wait_transition(g, "n2", "down", after=mark)
    inc = wait_for(lambda: the_open_one(sp), 3, "an open incident")
    update(sp, inc["id"], "identified", "n2 lost its peers; restarting it")
    return inc


# ---------------------------------------------------------------------------------------
# servers on loopback


def start_nginx(h, port, root, htpasswd):
    """Debian's nginx on PORT serving ROOT: /dav/ takes PUT, DELETE and MKCOL with
    create_full_put_path, writes need basic auth (HTPASSWD); /plain/ takes them without
    create_full_put_path (a PUT into a missing folder is refused: MKCOL first). One
    process (master_process off), killed at teardown."""
    d = h.dir / "nginx"
    (d / "tmp").mkdir(parents=True, exist_ok=True)
    conf = d / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    types {{ text/html html; application/json json; application/atom+xml atom;
             application/rss+xml rss; }}
    server {{
        listen {HOST}:{port};
        root {root};
        location /dav/ {{
            dav_methods PUT DELETE MKCOL;
            create_full_put_path on;
            limit_except GET HEAD {{
                auth_basic "mirror";
                auth_basic_user_file {htpasswd};
            }}
        }}
        location /plain/ {{
            dav_methods PUT DELETE MKCOL;
        }}
    }}
}}
""")
    log = h.dir / "nginx.stderr"
    with open(log, "wb") as f:
        proc = subprocess.Popen([NGINX, "-p", str(d), "-c", str(conf), "-e", str(d / "error.log")],
                                stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
    sim = Sim("nginx", port, proc, log)
    h.sims.append(sim)  # killed at teardown
    wait_for(lambda: proc.poll() is None and can_connect(port), 5, "nginx to listen")
    return sim


@pytest.fixture(scope="session")
def s3_server():
    """tests/e2e/s3/serve.js, ready to run: node and npm installed when missing (Debian),
    then the server (npm ci) when node_modules is missing. Skips only when they cannot be."""
    missing = [pkg for pkg, exe in (("nodejs", "node"), ("npm", "npm")) if shutil.which(exe) is None]
    if missing:
        subprocess.run(["sh", str(REPO / "tests" / "deps.sh"), *missing], capture_output=True,
                       timeout=900)
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node or npm is not installed and could not be (Debian: nodejs, npm)")
    if not (S3_DIR / "node_modules" / "@20minutes" / "s3rver" / "package.json").exists():
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=S3_DIR,
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            pytest.skip("the S3 server could not be installed (npm ci in tests/e2e/s3): "
                        + (r.stdout + r.stderr).strip()[-1500:])
    return S3_DIR / "serve.js"


def start_s3(h, serve_js, bucket):
    port = free_port()
    log = h.dir / "s3.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(["node", str(serve_js), str(h.dir / "s3data"), str(port), bucket],
                                stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
    sim = Sim("s3", port, proc, log)
    h.sims.append(sim)
    wait_for(lambda: proc.poll() is None and f"listening {port}" in log.read_text(errors="replace"),
             15, "the S3 server to listen")
    return sim


@pytest.fixture(scope="session")
def check_copy(check_page):
    """tests/e2e/browser/check_copy.js, beside check_page.js: the same node, Chromium and
    playwright-core (test_page.py's fixture installs them or skips)."""
    return BROWSER_DIR / "check_copy.js"


def browse_copy(check_copy, url, out):
    r = subprocess.run(["node", str(check_copy), url, str(out)], capture_output=True, text=True,
                       timeout=60 * SLOW)
    assert r.returncode == 0, f"check_copy.js failed:\n{r.stderr[-4000:]}"
    return json.loads(r.stdout)


# ---------------------------------------------------------------------------------------
# tests


def test_directory_mirror_matches_the_live_page(h, certs):
    sp = free_port()
    copy = h.dir / "copy"
    copy.mkdir()
    g, sims = gate_with_mirrors(h, certs, sp, [mirror("dir", url=f"file://{copy}",
                                                      interval="200ms")])
    make_incident(g, sp, sims)

    def read(name):
        p = copy / name
        return (200, {}, p.read_bytes()) if p.exists() else (404, {}, b"")
    html = check_copy_like_live(sp, read)
    assert sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file()) == \
        sorted(FILES)  # written through a temp file, renamed: none left behind
    assert "This is a copy of the status page, made at" in html
    assert oct((copy / "index.html").stat().st_mode & 0o777) == "0o644"
    fams = scrape(sp)
    assert value(fams, "nodegate_mirror_pushes", "nodegate_mirror_pushes_total", mirror="dir",
                 result="ok") >= 1
    assert value(fams, "nodegate_mirror_pushes", "nodegate_mirror_pushes_total", mirror="dir",
                 result="failed") == 0
    age = value(fams, "nodegate_mirror_age_seconds", "nodegate_mirror_age_seconds", mirror="dir")
    assert 0 <= age < 2 * SLOW, age
    assert value(fams, "nodegate_mirror_last_success_seconds",
                 "nodegate_mirror_last_success_seconds", mirror="dir") > time.time() - 5 * SLOW

    # every interval a new copy, even with nothing new to say
    made = json.loads(read("status.json")[2])["time"]
    wait_for(lambda: json.loads(read("status.json")[2])["time"] != made, 2, "a newer copy")


def test_webdav_mirror_on_nginx_retries_then_matches_and_goes_stale(h, certs, check_copy):
    sp, port = free_port(), free_port()
    root = h.dir / "www"
    (root / "dav").mkdir(parents=True)
    (root / "plain").mkdir()
    htpasswd = h.dir / "htpasswd"
    hashed = subprocess.run(["openssl", "passwd", "-apr1", "s3cret-pw"], capture_output=True,
                            text=True, check=True).stdout.strip()
    htpasswd.write_text(f"mirror:{hashed}\n")
    (h.dir / "dav.pw").write_text("s3cret-pw\n")
    (h.dir / "wrong.pw").write_text("not-the-password\n")
    base = f"http://{HOST}:{port}"
    g, sims = gate_with_mirrors(h, certs, sp, [
        mirror("dav", url=f"{base}/dav/copy/", username="mirror", password_file=h.dir / "dav.pw",
               interval="1s", retry_backoff="50ms", timeout="2s"),
        mirror("plain", url=f"{base}/plain/", interval="1s", retry_backoff="50ms"),
        mirror("wrongpw", url=f"{base}/dav/other/", username="mirror",
               password_file=h.dir / "wrong.pw", interval="1s", retry_backoff="50ms"),
    ])
    # nginx is not there yet: pushes fail, are counted, and retried
    wait_for(lambda: pushes(sp, "dav", "failed") >= 2, 5, "failed pushes to count")
    assert pushes(sp, "dav", "ok") == 0
    assert re.search(r"mirror dav: push failed \(\d+ in a row\): PUT status\.json: ", g.stderr())
    assert "s3cret-pw" not in g.stderr()
    start_nginx(h, port, root, htpasswd)
    wait_for(lambda: pushes(sp, "dav", "ok") >= 1 and pushes(sp, "plain", "ok") >= 1, 5,
             "the retries to succeed")
    make_incident(g, sp, sims)

    for prefix in ("/dav/copy/", "/plain/"):
        def read(name, prefix=prefix):
            return http_get(f"{base}{prefix}{name}")
        check_copy_like_live(sp, read)
    access = (h.dir / "nginx" / "access.log").read_text()
    assert re.search(r'"MKCOL /plain/pools/ HTTP/1\.1" 201', access), access[-2000:]
    assert re.search(r'"MKCOL /plain/pools/rpc/ HTTP/1\.1" 201', access), access[-2000:]
    assert re.search(r'"PUT /dav/copy/pools/rpc/feed\.atom HTTP/1\.1" 201', access)
    # a wrong password: refused by nginx every time, counted, never a copy
    wait_for(lambda: pushes(sp, "wrongpw", "failed") >= 3, 5, "refused pushes")
    assert pushes(sp, "wrongpw", "ok") == 0
    assert "PUT status.json: HTTP 401" in g.stderr()
    assert not (root / "dav" / "other" / "index.html").exists()

    # fresh while nodegate runs
    url = f"{base}/dav/copy/index.html"
    fresh = browse_copy(check_copy, url, h.dir / "browser-fresh")
    assert fresh["js"]["problems"] == [], fresh["js"]["problems"]
    assert fresh["js"]["seen"]["copyState"] == "fresh", fresh["js"]["seen"]
    assert not fresh["js"]["seen"]["staleShown"]
    assert re.match(r"^This is a copy of the status page, made (\d+ s|\d+ min) ago \(",
                    fresh["js"]["seen"]["copy"]), fresh["js"]["seen"]["copy"]

    # nodegate stops: the copy stays, and after 3 intervals it says it is stale
    g.signal(signal.SIGTERM)
    assert g.proc.wait(timeout=10 * SLOW) == 0
    stopped = time.monotonic()
    time.sleep(max(0.0, 3.5 - (time.monotonic() - stopped)))
    stale = browse_copy(check_copy, url, h.dir / "browser-stale")
    seen = stale["js"]["seen"]
    assert stale["js"]["httpStatus"] == 200 and stale["js"]["problems"] == [], stale["js"]
    assert seen["copyState"] == "stale" and seen["staleShown"], seen
    assert "may be down" in seen["stale"] and "not been refreshed for more than 3 seconds" in \
        seen["stale"], seen["stale"]
    assert seen["incidents"], seen  # the news it had is still there
    nojs = stale["nojs"]["seen"]
    assert re.search(r"made at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\. It is refreshed every 1 "
                     r"second while nodegate runs: if that time is more than 3 seconds ago, "
                     r"nodegate or the service it watches may be down\.", nojs["copy"]), nojs
    assert all(not h_.startswith("/") for h_ in seen["links"]), seen["links"]


def test_s3_mirror_with_sigv4_matches_and_a_forged_signature_is_refused(h, certs, s3_server):
    sp = free_port()
    s3 = start_s3(h, s3_server, "status")
    (h.dir / "s3.secret").write_text(f"{S3_KEY}\n")
    endpoint = f"http://{HOST}:{s3.port}"
    g, sims = gate_with_mirrors(h, certs, sp, [
        mirror("s3", url="s3://status/copy", endpoint=endpoint, access_key=S3_KEY,
               secret_key_file=h.dir / "s3.secret", interval="1s"),
        mirror("forged", url="s3://status/forged", endpoint=endpoint, access_key=S3_KEY,
               secret_key="not-the-secret", interval="200ms", retry_backoff="50ms"),
    ])
    make_incident(g, sp, sims)

    read = steady(lambda name: http_get(f"{endpoint}/status/copy/{name}"))
    check_copy_like_live(sp, read)
    for name, ctype in zip(FILES, ["application/json", "application/atom+xml",
                                   "application/rss+xml", "application/atom+xml",
                                   "application/rss+xml", "text/html"]):
        status, headers, _ = read(name)
        assert status == 200 and headers["Content-Type"].startswith(ctype), (name, headers)
    # the server checks the signature: a wrong secret is refused, counted, retried
    wait_for(lambda: pushes(sp, "forged", "failed") >= 3, 5, "refused pushes")
    assert pushes(sp, "forged", "ok") == 0
    assert "PUT status.json: HTTP 403 (SignatureDoesNotMatch)" in g.stderr()
    # its ticks meanwhile fold into the retry: one push at a time, nothing queues
    wait_for(lambda: value(scrape(sp), "nodegate_mirror_coalesced",
                           "nodegate_mirror_coalesced_total", mirror="forged") >= 1, 3,
             "requests folded into the retry")
    assert http_get(f"{endpoint}/status/forged/status.json")[0] == 404
    assert "not-the-secret" not in g.stderr() and S3_KEY not in g.stderr()


def test_mirror_sections_are_checked(h):
    ini = h.dir / "bad.ini"
    ini.write_text("""[pool rpc]
[backend n1]
pool = rpc
address = 127.0.0.1:5005
[mirror nodir]
url = file:///nonexistent-mirror
[mirror s3]
url = s3://Bad_Bucket/x
[mirror dav]
url = http://127.0.0.1:1/dav/
region = eu-west-1
username = someone
[mirror login]
url = https://me:secret@example.com/dav/
""")
    code, out = nodegate_run("-t", "-c", str(ini))
    assert code != 0
    assert '[mirror nodir] url: cannot use "/nonexistent-mirror": No such file or directory ' \
        "(expected an existing folder)" in out, out
    assert "[mirror s3] url: bad bucket in \"s3://Bad_Bucket/x\"" in out, out
    assert "[mirror s3] access_key: required for an s3:// url" in out, out
    assert "[mirror s3] secret_key: required for an s3:// url" in out, out
    assert "[mirror dav] region: not used by a webdav mirror" in out, out
    assert "[mirror dav] username: set alone (expected both username and password_file" in out
    assert "[mirror login] url: a login in the url (expected username and password_file" in out


def test_reload_adds_and_removes_mirrors_and_a_bad_one_changes_nothing(h, certs):
    sp = free_port()
    a, b = h.dir / "a", h.dir / "b"
    a.mkdir()
    b.mkdir()
    g, sims = gate_with_mirrors(h, certs, sp, [mirror("a", url=f"file://{a}", interval="200ms")],
                                names=("n1",))
    wait_for(lambda: (a / "index.html").exists(), 3, "mirror a's copy")
    text = g.ini.read_text()

    # a mirror whose folder is not there: refused, the running one goes on
    mark = log_lines(g)
    g.reload(text + "\n[mirror c]\nurl = file:///nonexistent-mirror\n")
    wait_for(lambda: "reload failed: keeping the running configuration" in
             "\n".join(g.stderr().splitlines()[mark:]), 3, "the reload to be refused")
    assert '[mirror c] url: cannot use "/nonexistent-mirror"' in g.stderr()
    ok = pushes(sp, "a", "ok")
    wait_for(lambda: pushes(sp, "a", "ok") > ok, 3, "mirror a to go on")

    # b instead of a: b pushes at once, a is gone from /metrics
    mark = log_lines(g)
    g.reload(text.replace(f"[mirror a]\nurl = file://{a}", f"[mirror b]\nurl = file://{b}"))
    wait_for(lambda: "reload done" in "\n".join(g.stderr().splitlines()[mark:]), 3, "reload")
    wait_for(lambda: (b / "index.html").exists(), 3, "mirror b's copy")
    fams = scrape(sp)
    assert value(fams, "nodegate_mirror_pushes", "nodegate_mirror_pushes_total", mirror="a",
                 result="ok") is None
    assert value(fams, "nodegate_mirror_pushes", "nodegate_mirror_pushes_total", mirror="b",
                 result="ok") >= 1
    made = (a / "status.json").stat().st_mtime
    time.sleep(0.5)
    assert (a / "status.json").stat().st_mtime == made  # a pushes no more
