"""A real PostgreSQL server for the tests: Debian's binaries, initdb in a temporary folder
as the unprivileged user nobody (PostgreSQL refuses root), listening on a unix socket in
that folder only (no TCP), torn down at the end. One server is shared by a test module (or
by the whole run with NODEGATE_TEST_STORE=postgres); each test gets a database of its own.

    pg = PgServer(); pg.start()
    url = pg.create_db("t1")      # postgresql:///t1?host=DIR&port=PORT&user=nodegate
    pg.stop(); pg.start()         # the same data again
    pg.destroy()
"""
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

BIN = Path(os.environ.get("NODEGATE_PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "nobody"  # exists on every Debian; PostgreSQL will not run as root
SUPERUSER = "nodegate"


def available():
    return (BIN / "initdb").exists() and (BIN / "pg_ctl").exists()


class PgServer:
    _next_port = 15432

    def __init__(self, port=None):
        PgServer._next_port += 1
        # the port only names the socket file in our own folder: no clash with anything
        self.port = port or (PgServer._next_port + os.getpid() % 1000)
        self.dir = Path(tempfile.mkdtemp(prefix="nodegate-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        pw = pwd.getpwnam(USER)
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._as_user([str(BIN / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                       "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"], timeout=60)
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"\nlisten_addresses = ''\nunix_socket_directories = '{self.dir}'\n"
                    f"port = {self.port}\nmax_connections = 200\nfsync = on\n"
                    "shared_buffers = 16MB\n")

    def _as_user(self, argv, timeout=30, check=True):
        if os.geteuid() == 0:
            argv = ["runuser", "-u", USER, "--"] + argv
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                           cwd=self.dir)
        if check and p.returncode != 0:
            raise RuntimeError(f"{argv}: exit {p.returncode}: "
                               f"{(p.stdout + p.stderr).decode(errors='replace')}")
        return p

    def start(self):
        self._as_user([str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                       "-t", "30", "start"], timeout=40)

    def stop(self, mode="fast"):
        self._as_user([str(BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30",
                       "stop"], timeout=40, check=False)

    def running(self):
        return (self.data / "postmaster.pid").exists()

    def psql(self, sql, db="postgres"):
        """Runs SQL as the superuser; the rows as lists of strings."""
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-h", str(self.dir),
                            "-p", str(self.port), "-U", SUPERUSER, "-d", db, "-v",
                            "ON_ERROR_STOP=1", "-c", sql], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {p.stderr.decode(errors='replace')}")
        return [line.split("\t") for line in p.stdout.decode().splitlines() if line]

    def url(self, db):
        return f"postgresql:///{db}?host={self.dir}&port={self.port}&user={SUPERUSER}"

    def create_db(self, name):
        """A fresh, empty database NAME (dropped first when it exists); its URL."""
        name = re.sub(r"[^a-z0-9_]", "_", name.lower())[:63]
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def destroy(self):
        if self.running():
            self.stop("immediate")
        for _ in range(50):
            if not self.running():
                break
            time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)


_shared = None


def shared():
    """The run's server for NODEGATE_TEST_STORE=postgres: started on first use, destroyed
    when the test process exits."""
    global _shared
    if _shared is None:
        import atexit
        _shared = PgServer()
        _shared.start()
        atexit.register(_shared.destroy)
    return _shared
