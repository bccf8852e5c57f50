"""nodegate as a Debian service (issue 15): the test plays systemd on a unix datagram socket
(NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID) and checks READY, RELOADING, STOPPING, STATUS
and WATCHDOG arrive when they should; nodegate started as root with user = nobody drops
root for good once listening (the kernel's /proc/PID/status says so, a hook records its
`id -u`), refuses root without user, and explains what a reload as nobody cannot do;
journald's <N> prefixes, JSON log lines, and SIGUSR1 reopening the logs for logrotate."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness import (HOST, NODEGATE, REPO, SLOW, Gate, free_port, get, http_conn, ini_text,
                     wait_for)

NOBODY_UID = 65534


def fake_systemd(h, abstract=False):
    """A datagram socket as systemd's notify socket; returns (sock, NOTIFY_SOCKET value)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"nodegate-test-{os.getpid()}-{time.monotonic_ns()}"
        s.bind("\0" + name)
        addr = "@" + name
    else:
        addr = str(h.dir / "notify.sock")
        s.bind(addr)
    s.settimeout(0.05)
    return s, addr


class Messages:
    """What nodegate sent to the notify socket, each message as a dict, with its arrival."""

    def __init__(self, sock):
        self.sock, self.got = sock, []

    def pump(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except (socket.timeout, BlockingIOError):
                return
            kv = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            self.got.append((time.monotonic(), kv))

    def wait(self, key, value=None, after=0, timeout=5):
        """The index of the first message from AFTER on that sets KEY (to VALUE)."""
        def found():
            self.pump()
            for i in range(after, len(self.got)):
                if key in self.got[i][1] and (value is None or self.got[i][1][key] == value):
                    return i + 1
            return None
        return wait_for(found, timeout, f"{key}={value or '...'} on the notify socket") - 1

    def count(self, key, after=0):
        self.pump()
        return sum(1 for _, kv in self.got[after:] if key in kv)


def start_raw(h, ini, env, set_watchdog_pid=False, prefix=()):
    """nodegate -c INI with ENV, not waiting for anything; WATCHDOG_PID set to its own pid
    (as systemd does) when asked, through a shell that execs it."""
    path = h.dir / "nodegate.ini"
    path.write_text(ini)
    full = dict(os.environ)
    full.update(env)
    cmd = [*prefix, str(NODEGATE), "-c", str(path)]
    if set_watchdog_pid:
        cmd = ["/bin/sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$0" "$@"', *cmd]
    with open(h.stderr_path, "ab") as err, open(h.dir / "nodegate.stdout", "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=full, cwd=h.dir)
    g = Gate(h, proc, path, [])
    h.gates.append(g)
    return g


def can_connect(port):
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


# ---- systemd -------------------------------------------------------------------------------


@pytest.mark.parametrize("abstract", [False, True])
def test_notify_ready_reloading_stopping_and_watchdog(h, abstract):
    sims = h.nodesims("n1", "n2")
    sock, addr = fake_systemd(h, abstract)
    port = free_port()
    ini = h.gate_ini(sims, port=port)
    g = start_raw(h, ini, {"NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "200000"},
                  set_watchdog_pid=True)
    m = Messages(sock)

    # READY=1 once listening: the port accepts the moment systemd hears it
    ready = m.wait("READY", "1")
    assert can_connect(port), "READY=1 before the listener accepts"
    assert re.fullmatch(r"1 listeners, 1 pools, \d/2 backends in rotation",
                        m.got[ready][1]["STATUS"]), m.got[ready]
    # STATUS= follows the rotation: both backends in once judged
    m.wait("STATUS", "1 listeners, 1 pools, 2/2 backends in rotation", after=0)

    # the watchdog: a ping every half WATCHDOG_USEC (100ms), from the loop
    m.wait("WATCHDOG", "1", after=ready)
    m.pump()
    first = len(m.got)
    time.sleep(0.6)
    n = m.count("WATCHDOG", after=first)
    assert 3 <= n <= 9, f"{n} WATCHDOG=1 in 0.6s with WATCHDOG_USEC=200ms"
    assert "systemd watchdog: a ping every 100ms" in g.stderr()
    # a stopped process (a hung loop) sends none; they resume with it
    g.signal(signal.SIGSTOP)
    m.pump()
    mark = len(m.got)
    time.sleep(0.5)
    assert m.count("WATCHDOG", after=mark) == 0
    g.signal(signal.SIGCONT)
    m.wait("WATCHDOG", "1", after=mark)

    # SIGHUP: RELOADING=1 with the monotonic time of the reload, then READY=1 again
    mark = len(m.got)
    before = time.monotonic()
    g.signal(signal.SIGHUP)
    rel = m.wait("RELOADING", "1", after=mark)
    usec = int(m.got[rel][1]["MONOTONIC_USEC"])
    assert before * 1e6 - 1000 <= usec <= time.monotonic() * 1e6 + 1000, usec
    again = m.wait("READY", "1", after=rel)
    assert "backends in rotation" in m.got[again][1]["STATUS"]
    # a failed reload says so, and that the old configuration runs
    mark = len(m.got)
    g.reload(ini.replace("weight = 1", "weight = 1000", 1))
    rel = m.wait("RELOADING", "1", after=mark)
    again = m.wait("READY", "1", after=rel)
    assert m.got[again][1]["STATUS"].startswith(
        "reload failed, running the previous configuration: "), m.got[again]
    g.reload(ini)

    # SIGTERM: STOPPING=1 at once, then a clean exit
    mark = len(m.got)
    g.signal(signal.SIGTERM)
    m.wait("STOPPING", "1", after=mark)
    assert g.proc.wait(timeout=5 * SLOW) == 0
    sock.close()


def test_watchdog_of_another_pid_and_no_socket(h):
    sims = h.nodesims("n1", "n2")
    sock, addr = fake_systemd(h)
    env_sh = h.dir / "env.sh"
    env_sh.write_text(f"#!/bin/sh\nenv > {h.dir}/hook.env\n")
    env_sh.chmod(0o755)
    ini = h.gate_ini(sims, extra=[("hook env", {"command": str(env_sh), "on": "backend_down"})])
    g = start_raw(h, ini, {"NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "100000",
                           "WATCHDOG_PID": "1"})
    m = Messages(sock)
    m.wait("READY", "1")
    time.sleep(0.3)
    assert m.count("WATCHDOG") == 0, "WATCHDOG_PID names another process"
    # a hook does not inherit NOTIFY_SOCKET nor the watchdog's variables: unset once read
    wait_for(lambda: "checking -> up" in g.stderr(), 5, "n2 judged")
    sims[1].kill()
    env = wait_for(lambda: (h.dir / "hook.env").exists() and (h.dir / "hook.env").read_text(),
                   10, "the hook's environment")
    assert "NODEGATE_EVENT=backend_down" in env, env
    assert "NOTIFY_SOCKET" not in env and "WATCHDOG_" not in env, env
    sock.close()
    # without NOTIFY_SOCKET nothing is sent and nothing breaks (h.gate starts one so)
    g.signal(signal.SIGTERM)
    assert g.proc.wait(timeout=5 * SLOW) == 0
    h.simple_gate(sims[:1])


# ---- privileges ----------------------------------------------------------------------------


def status_ids(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("Uid", "Gid", "Groups", "CapEff", "CapPrm"):
            fields[k] = v.split()
    return fields


def world_dir(h, name):
    """A directory nobody may write in (the hook's output)."""
    d = h.dir / name
    d.mkdir()
    d.chmod(0o777)
    return d


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping root needs root")
def test_user_drops_root_for_good_and_hooks_run_as_it(h):
    sims = h.nodesims("n1", "n2")
    out = world_dir(h, "hookout")
    hook_sh = h.dir / "whoami.sh"
    hook_sh.write_text(f"#!/bin/sh\n{{ id -u; id -g; echo $HOME; }} > {out}/id.$$\n")
    hook_sh.chmod(0o755)
    ini = h.gate_ini(sims, glob={"user": "nobody", "group": "nogroup"},
                     extra=[("hook whoami", {"command": str(hook_sh), "on": "backend_down"})])
    g = h.gate(ini)
    ids = status_ids(g.pid)
    assert ids["Uid"] == [str(NOBODY_UID)] * 4, ids  # real, effective, saved, filesystem
    gid = str(__import__("grp").getgrnam("nogroup").gr_gid)
    assert ids["Gid"] == [gid] * 4, ids
    assert ids["Groups"] == [gid], ids
    assert int(ids["CapEff"][0], 16) == 0 and int(ids["CapPrm"][0], 16) == 0, ids
    assert re.search(r"running as user nobody \(uid 65534, gid \d+\): root dropped", g.stderr())
    # what it opened as root stays usable: the store (WAL files) belongs to nobody now
    state = h.dir / "state"
    assert state.stat().st_uid == NOBODY_UID
    assert all(p.stat().st_uid == NOBODY_UID for p in state.iterdir()), list(state.iterdir())
    c = http_conn(g.port)
    r, _ = get(c, "/sim/stats")
    assert r.status == 200
    # a hook runs as nobody too
    sims[1].kill()
    written = wait_for(lambda: list(out.iterdir()), 10, "the hook's output")
    text = wait_for(lambda: written[0].read_text().count("\n") == 3 and written[0].read_text(),
                    5, "the hook's three lines")
    assert text.split("\n")[:2] == [str(NOBODY_UID), gid], text
    # the store still takes writes as nobody: the incident of n2 is recorded
    wait_for(lambda: "incident 1 opened" in g.stderr(), 5, "the incident")
    assert "store:" not in "".join(line for line in g.stderr().splitlines()
                                   if " error " in line), g.stderr()


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping root needs root")
def test_reload_as_nobody_cannot_bind_a_low_port_and_says_why(h):
    sims = h.nodesims("n1")
    ini = h.gate_ini(sims, glob={"user": "nobody"})
    g = h.gate(ini)
    low = next(p for p in range(1000, 600, -1) if not can_connect(p) and _bindable(p))
    bigger = ini + f"\n[listener low]\nbind = {HOST}:{low}\npool = rpc\n"
    mark = len(g.stderr())
    g.reload(bigger)
    wait_for(lambda: "reload failed" in g.stderr()[mark:], 5, "the failed reload")
    tail = g.stderr()[mark:]
    assert f"listener low: cannot bind {HOST}:{low}: Permission denied" in tail, tail
    assert ("reloads run as user nobody (root was dropped at start): they cannot bind ports "
            "below 1024") in tail, tail
    assert not can_connect(low)
    c = http_conn(g.port)
    r, _ = get(c, "/sim/stats")
    assert r.status == 200, "the running configuration goes on"
    # user is read at start only: a reload that changes it says so
    mark = len(g.stderr())
    g.reload(ini.replace("user = nobody", "user = daemon"))
    wait_for(lambda: "reload done" in g.stderr()[mark:], 5, "the reload")
    assert ("[nodegate] user/group: daemon:(unset) now in the file, nobody:(unset) at start: "
            "a change of user or group takes effect at the next start") in g.stderr()[mark:]
    assert status_ids(g.pid)["Uid"] == [str(NOBODY_UID)] * 4


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="starts nodegate as nobody from root")
def test_user_ignored_with_a_warning_when_not_started_as_root(h):
    """As nginx: a developer running the shipped file as themselves gets a warning."""
    sims = h.nodesims("n1")
    state = world_dir(h, "state-nobody")
    ini = h.gate_ini(sims, glob={"user": "daemon", "state_dir": state, "access_log": "off"})
    g = start_raw(h, ini, {}, prefix=["setpriv", f"--reuid={NOBODY_UID}", "--regid=nogroup",
                                      "--clear-groups"])
    wait_for(lambda: "nodegate started" in g.stderr(), 5, "the start")
    assert re.search(r"nodegate\.ini:\d+: \[nodegate\] user: not started as root \(uid 65534, "
                     r"gid \d+\): user daemon is ignored, nodegate runs as it was started",
                     g.stderr()), g.stderr()
    assert status_ids(g.pid)["Uid"] == [str(NOBODY_UID)] * 4


def _bindable(port):
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
            return True
        except OSError:
            return False


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal is for root")
def test_root_without_user_refused_with_file_and_line(h):
    sims = h.nodesims("n1")
    lines = ["# a file without user =", "[nodegate]", "access_log = off", ""]
    text = "\n".join(lines) + "\n" + re.sub(r"(?s)^\[nodegate\].*?\n\n", "",
                                            h.gate_ini(sims, glob={"allow_root": "no"}))
    path = h.dir / "root.ini"
    path.write_text(text)
    p = subprocess.run([str(NODEGATE), "-c", str(path)], capture_output=True, timeout=10 * SLOW,
                       stdin=subprocess.DEVNULL)
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 1, out
    assert (f"{path}:2: [nodegate] user: nodegate runs as root and user is unset (expected "
            "user = NAME, like nodegate, to drop root once listening, or allow_root = yes)"
            ) in out, out
    # -t accepts the file (the refusal is about who runs it), but warns of it
    p = subprocess.run([str(NODEGATE), "-t", "-c", str(path)], capture_output=True,
                       timeout=10 * SLOW)
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 0 and "configuration OK" in out, out
    assert f"warning: {path}:2: [nodegate] user: nodegate runs as root and user is unset" in out
    # ... and of a missing user
    path.write_text(text.replace("access_log = off", "access_log = off\nuser = no-such-user"))
    p = subprocess.run([str(NODEGATE), "-t", "-c", str(path)], capture_output=True,
                       timeout=10 * SLOW)
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 0, out
    assert f'warning: {path}:4: [nodegate] user: no such user "no-such-user"' in out, out


# ---- logs ----------------------------------------------------------------------------------


def test_json_log_lines(h):
    sims = h.nodesims("n1", "n2")
    g = h.gate(h.gate_ini(sims, glob={"log_format": "json"}))
    sims[1].kill()
    wait_for(lambda: '"backend":"n2"' in g.stderr() and "-> down" in g.stderr(), 10,
             "n2 out of rotation")
    objs = [json.loads(line) for line in g.stderr().splitlines()]
    for o in objs:
        assert set(o) >= {"time", "level", "msg"}, o
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["time"]), o
        assert o["level"] in ("error", "warn", "info", "debug"), o
    down = [o for o in objs if o.get("backend") == "n2" and "-> down" in o["msg"]]
    assert down and down[0]["msg"].startswith("backend n2: "), objs
    assert any(o.get("listener") == "web" for o in objs), objs
    assert any(o.get("subsystem") == "store" for o in objs), objs


@pytest.mark.parametrize("how", ["journal_stream", "log_format"])
def test_journal_priority_prefixes(h, how):
    sims = h.nodesims("n1", "n2")
    h.stderr_path.touch()
    st = h.stderr_path.stat()
    if how == "journal_stream":  # systemd names our stderr: auto becomes journal
        g = h.gate(h.gate_ini(sims), env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"},
                   judged=False)
    else:
        g = h.gate(h.gate_ini(sims, glob={"log_format": "journal"}), judged=False)
    wait_for(lambda: "<6>nodegate started" in g.stderr(), 5, "the start line")
    sims[1].kill()
    wait_for(lambda: re.search(r"^<4>backend n2: .*-> down", g.stderr(), re.M), 10,
             "a warning with priority 4")
    for line in g.stderr().splitlines():
        assert re.match(r"<[3467]>\S", line), line
    # JOURNAL_STREAM naming another file is not journald: plain text
    if how == "journal_stream":
        g.signal(signal.SIGTERM)
        g.proc.wait(timeout=5 * SLOW)
        h.stderr_path.unlink()
        g = h.gate(h.gate_ini(sims[:1]), env={"JOURNAL_STREAM": "1:2"}, judged=False)
        wait_for(lambda: "nodegate started" in g.stderr(), 5, "the start line")
        assert re.match(r"\d{4}-\S+ info ", g.stderr()), g.stderr()


def test_sigusr1_reopens_access_log_and_error_log(h):
    sims = h.nodesims("n1")
    g = h.gate(h.gate_ini(sims))
    c = http_conn(g.port)
    assert get(c, "/sim/stats?before")[0].status == 200
    wait_for(lambda: h.access_log.exists() and "before" in h.access_log.read_text(), 5,
             "the first access line")
    # logrotate: move both away, then SIGUSR1
    old_access, old_err = h.dir / "access.log.1", h.dir / "nodegate.stderr.1"
    os.rename(h.access_log, old_access)
    os.rename(h.stderr_path, old_err)
    g.signal(signal.SIGUSR1)
    wait_for(lambda: h.access_log.exists() and h.stderr_path.exists(), 5, "the new files")
    wait_for(lambda: "SIGUSR1: log files reopened" in h.stderr_path.read_text(), 5,
             "the reopen line in the new error log")
    assert get(c, "/sim/stats?after")[0].status == 200
    wait_for(lambda: "after" in h.access_log.read_text(), 5, "the access line in the new file")
    assert "after" not in old_access.read_text()
    assert "before" in old_access.read_text()
    assert "SIGUSR1" not in old_err.read_text()


def test_logrotate_file_rotates_with_sigusr1(h):
    """etc/logrotate.d/nodegate run by the real logrotate on the test's files; its
    postrotate's signal sent to this nodegate instead of through systemctl."""
    if shutil.which("logrotate") is None and not Path("/usr/sbin/logrotate").exists():
        pytest.skip("logrotate is not installed (make deps installs it)")
    sims = h.nodesims("n1")
    g = h.gate(h.gate_ini(sims))
    c = http_conn(g.port)
    assert get(c, "/sim/stats?one")[0].status == 200
    wait_for(lambda: h.access_log.exists() and "one" in h.access_log.read_text(), 5,
             "the first access line")
    conf = (REPO / "etc" / "logrotate.d" / "nodegate").read_text()
    assert "/var/log/nodegate/*.log" in conf
    assert "systemctl kill --kill-whom=main --signal=USR1 nodegate.service" in conf
    conf = conf.replace("/var/log/nodegate/*.log", str(h.dir / "access.log"))
    conf = conf.replace("systemctl kill --kill-whom=main --signal=USR1 nodegate.service",
                        f"kill -USR1 {g.pid}")
    conf = re.sub(r"^\s*create .*$", "    create 0640 root root", conf, flags=re.M)
    conf = re.sub(r"^\s*su .*$", "", conf, flags=re.M)
    (h.dir / "logrotate.conf").write_text(conf)
    lr = shutil.which("logrotate") or "/usr/sbin/logrotate"
    p = subprocess.run([lr, "-f", "-s", str(h.dir / "logrotate.state"),
                        str(h.dir / "logrotate.conf")], capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr.decode()
    rotated = h.dir / "access.log.1"
    assert rotated.exists() and "one" in rotated.read_text()
    wait_for(lambda: "SIGUSR1: log files reopened" in g.stderr(), 5, "the reopen")
    assert get(c, "/sim/stats?two")[0].status == 200
    wait_for(lambda: "two" in h.access_log.read_text(), 5, "the access line in the new file")
    assert "two" not in rotated.read_text()
