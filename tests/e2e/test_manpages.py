"""The man pages and the systemd unit (issue 15): nodegate.ini(5) is generated from the
option table (build/mangen) and has an entry for every option, under its section; both
pages render with man and groff without a warning; nodegate(8) documents every command
line option nodegate -h lists; `systemd-analyze verify` accepts etc/systemd/nodegate.service
(its man page references resolved against the built pages)."""
import os
import re
import shutil
import subprocess

import pytest

from harness import BUILD, NODEGATE, REPO

PAGES = [BUILD / "man" / "man8" / "nodegate.8", BUILD / "man" / "man5" / "nodegate.ini.5"]
MANGEN = BUILD / "mangen"


def plain(text):
    """man's output without its overstrikes (bold, underline)."""
    return re.sub(r".\x08", "", text)


def entries(page):
    """{(section, option)} of nodegate.ini(5)'s source: .SS [section ...] then .BI "name = "."""
    found, section = set(), None
    for line in page.read_text().splitlines():
        m = re.match(r"^\.SS \[(\w+)", line)
        if m:
            section = m.group(1)
        m = re.match(r'^\.BI "(\w+) = "', line)
        if m:
            found.add((section, m.group(1)))
    return found


def test_every_option_has_its_entry_in_nodegate_ini_5():
    listed = subprocess.run([str(MANGEN), "--list"], capture_output=True, text=True, check=True)
    table = {tuple(line.split()) for line in listed.stdout.splitlines()}
    assert len(table) > 100 and ("nodegate", "user") in table, table
    missing = table - entries(PAGES[1])
    assert not missing, f"options without an entry in nodegate.ini(5): {sorted(missing)}"
    # the built page is the one the table makes now (make rebuilt it after src/conf.c)
    fresh = subprocess.run([str(MANGEN)], stdin=open(REPO / "man" / "nodegate.ini.5.in"),
                           capture_output=True, text=True, check=True).stdout
    assert fresh == PAGES[1].read_text(), "build/man is stale: run make"
    # each entry tells the default and whether a reload applies it
    page = PAGES[1].read_text()
    assert re.search(r'\.BI "log_format = " "auto\|text\|journal\|json"\n.*\n\.br\n'
                     r"Default: \\fBauto\\fR\. A reload applies it\.", page), page[:2000]
    assert re.search(r'\.BI "user = " "USER"\n.*\n\.br\nUnset by default\. A change needs a '
                     r"restart\.", page)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_render_without_warnings(page):
    groff = subprocess.run(["groff", "-ww", "-man", "-z", str(page)], capture_output=True,
                           text=True, timeout=30)
    assert groff.returncode == 0 and groff.stderr == "", groff.stderr
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0")
    man = subprocess.run(["man", "-l", "--warnings", str(page)], capture_output=True, text=True,
                         env=env, timeout=30)
    assert man.returncode == 0 and man.stderr == "", man.stderr
    text = plain(man.stdout)
    assert "NAME" in text and "SEE ALSO" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_nodegate_8_documents_every_command_line_option():
    usage = subprocess.run([str(NODEGATE), "-h"], capture_output=True, text=True).stdout
    flags = set(re.findall(r"(?<![\w-])(-[a-zA-Z]|--[a-z-]+|postmortem)\b", usage))
    assert {"-c", "-t", "-V", "-h", "--test-alert", "postmortem"} <= flags, flags
    text = subprocess.run(["man", "-l", str(PAGES[0])], capture_output=True, text=True,
                          env=dict(os.environ, MANWIDTH="80")).stdout
    text = plain(text)
    for f in flags:
        assert re.search(rf"^\s+{re.escape(f)}\b", text, re.M), f"nodegate(8) lacks {f}"
    for sig in ("SIGHUP", "SIGTERM", "SIGUSR1", "NOTIFY_SOCKET", "WATCHDOG_USEC"):
        assert sig in text


def test_systemd_unit_verifies(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (make deps installs systemd)")
    unit = (REPO / "etc" / "systemd" / "nodegate.service").read_text()
    for want in ("Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID",
                 "User=nodegate", "StateDirectory=nodegate", "LogsDirectory=nodegate",
                 "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                 "NoNewPrivileges=yes", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE\n", "RestrictAddressFamilies=",
                 "SystemCallFilter=@system-service"):
        assert want in unit, want
    # the binary where this build has it; the rest as shipped
    (tmp_path / "nodegate.service").write_text(unit.replace("/usr/sbin/nodegate",
                                                            str(NODEGATE)))
    env = dict(os.environ, MANPATH=str(BUILD / "man"))
    p = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "nodegate.service")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr
    sec = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                          str(tmp_path / "nodegate.service")], capture_output=True, text=True,
                         env=env, timeout=60)
    m = re.search(r"Overall exposure level for nodegate.service: ([\d.]+) (\w+)", sec.stdout)
    assert m and float(m.group(1)) <= 2.0, sec.stdout[-500:]
