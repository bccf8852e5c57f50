"""The Debian package (issue 15): `make deb` builds it (reused while no file of the tree is
newer), lintian finds nothing but the explained override, and it installs, into a
throwaway root (dpkg -x), the binary, the unit, /etc/nodegate/nodegate.ini as a conffile,
the man pages and the logrotate file. The installed binary accepts the shipped file
(nodegate -t). Its postinst creates the nodegate user: run in a mount namespace on a copy
of /etc (the host's accounts are not touched), after which the installed nodegate, started
as root on the shipped file, runs as that user."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import BUILD, HOST, REPO, free_port

DEB_DIR = BUILD / "deb"
BUILD_TIME_LIMIT = 170  # seconds: a fresh package build compiles everything once


def tree_mtime():
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, check=True).stdout.split(b"\0")
    return max((os.lstat(REPO / f.decode()).st_mtime for f in files
                if f and os.path.lexists(REPO / f.decode())), default=0)


def the_deb():
    debs = sorted(DEB_DIR.glob("nodegate_*_*.deb"))
    return debs[0] if len(debs) == 1 else None


@pytest.fixture(scope="module")
def deb():
    for tool in ("dpkg-buildpackage", "dh", "lintian"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make deps installs it)")
    # module-scoped: built before the per-test time limit starts; bounded by this timeout
    d = the_deb()
    if d is None or d.stat().st_mtime < tree_mtime():
        env = {k: v for k, v in os.environ.items()  # not the outer make's jobserver
               if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        p = subprocess.run(["make", "--no-print-directory", f"BUILD={BUILD}", "deb"], cwd=REPO,
                           capture_output=True, text=True, timeout=BUILD_TIME_LIMIT, env=env)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        d = the_deb()
    assert d is not None, list(DEB_DIR.iterdir())
    return d


def test_lintian_clean_but_for_explained_overrides(deb):
    p = subprocess.run(["lintian", "--fail-on", "error,warning", "--show-overrides", str(deb)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    tags = [line for line in p.stdout.splitlines() if re.match(r"^[EWIPO]: ", line)]
    assert all(t.startswith("O: ") for t in tags), tags
    overrides = (REPO / "debian" / "nodegate.lintian-overrides").read_text()
    for t in tags:  # each override is explained by a comment above it
        tag = t.split()[2]
        block = overrides.split(tag)[0].rstrip().splitlines()
        assert block and block[-1].startswith("#"), (tag, overrides)


def test_installs_the_files_and_accepts_the_shipped_config(deb, tmp_path):
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, timeout=60)
    for f in ("usr/sbin/nodegate", "etc/nodegate/nodegate.ini", "etc/logrotate.d/nodegate",
              "lib/systemd/system/nodegate.service", "usr/share/man/man8/nodegate.8.gz",
              "usr/share/man/man5/nodegate.ini.5.gz", "usr/share/doc/nodegate/copyright"):
        assert (root / f).exists(), f
    assert os.access(root / "usr/sbin/nodegate", os.X_OK)
    assert (root / "etc/nodegate/nodegate.ini").read_text() == \
        (REPO / "etc/nodegate.ini").read_text()
    assert (root / "lib/systemd/system/nodegate.service").read_text() == \
        (REPO / "etc/systemd/nodegate.service").read_text()
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True, timeout=60)
    conffiles = (control / "conffiles").read_text().split()
    assert "/etc/nodegate/nodegate.ini" in conffiles and "/etc/logrotate.d/nodegate" in conffiles
    assert "adduser --system" in (control / "postinst").read_text()
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True,
                            text=True, check=True).stdout
    assert "adduser" in fields and "libevent" in fields, fields

    p = subprocess.run([str(root / "usr/sbin/nodegate"), "-t", "-c",
                        str(root / "etc/nodegate/nodegate.ini")], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0 and "configuration OK" in p.stdout, p.stdout + p.stderr
    known = subprocess.run(["getent", "passwd", "nodegate"], capture_output=True).returncode == 0
    assert known or 'user: no such user "nodegate"' in p.stderr, p.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="a mount namespace and a user switch need root")
def test_postinst_user_and_the_shipped_config_run_as_nodegate(deb, tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is missing")
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, timeout=60)
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True, timeout=60)
    # the package's own user creation: its postinst up to debhelper's part (which would
    # enable the unit in the host's systemd state)
    postinst = (control / "postinst").read_text().split("# Automatically added by dh_")[0]
    (tmp_path / "adduser.sh").write_text(postinst)
    # the shipped file on free loopback ports, its state in the test's directory
    ini = (root / "etc/nodegate/nodegate.ini").read_text()
    ports = {}
    for old in sorted(set(re.findall(r"^bind = 127\.0\.0\.1:(\d+)$", ini, re.M))):
        ports[old] = free_port()
        ini = re.sub(rf"^bind = 127\.0\.0\.1:{old}$", f"bind = {HOST}:{ports[old]}", ini,
                     flags=re.M)
    assert re.search(r"^user = nodegate$", ini, re.M), "the shipped file names the user"
    (tmp_path / "nodegate.ini").write_text(ini)
    (tmp_path / "work").mkdir()
    passwd_before = Path("/etc/passwd").read_text()
    etc = tmp_path / "etc"
    shutil.copytree("/etc", etc, symlinks=True, ignore_dangling_symlinks=True)
    script = tmp_path / "inside.sh"
    script.write_text(f"""set -e
mount --bind {etc} /etc
sh {tmp_path}/adduser.sh configure
getent passwd nodegate
{root}/usr/sbin/nodegate -t -c {tmp_path}/nodegate.ini 2>&1
cd {tmp_path}/work
{root}/usr/sbin/nodegate -c {tmp_path}/nodegate.ini 2> {tmp_path}/stderr &
pid=$!
for i in $(seq 100); do
    grep -q "root dropped" {tmp_path}/stderr && break
    kill -0 $pid || break
    sleep 0.05
done
grep -E "^(Uid|Gid):" /proc/$pid/status
kill -TERM $pid
wait $pid
echo "exit $?"
""")
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", str(script)],
                       capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr + (tmp_path / "stderr").read_text(errors="replace") \
        if (tmp_path / "stderr").exists() else p.stdout + p.stderr
    assert p.returncode == 0, out
    m = re.search(r"^nodegate:x:(\d+):(\d+):", p.stdout, re.M)
    assert m, out
    uid, gid = m.groups()
    assert "configuration OK" in p.stdout and "no such user" not in p.stdout, out
    assert re.search(rf"^Uid:\s+{uid}\s+{uid}\s+{uid}\s+{uid}$", p.stdout, re.M), out
    assert re.search(rf"^Gid:\s+{gid}\s+{gid}\s+{gid}\s+{gid}$", p.stdout, re.M), out
    assert "exit 0" in p.stdout, out
    # the host's accounts were not touched
    assert (Path("/etc/passwd").read_text() == passwd_before), "the host's /etc/passwd changed"
