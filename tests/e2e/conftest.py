"""pytest fixtures for the end-to-end suite: a directory per test under tests/e2e/out/BUILD/,
the processes it starts (killed at teardown), their logs shown when the test fails, and
a hard time limit per test so that nothing can hang the suite.

One test: NODEGATE_BUILD=$PWD/build /usr/bin/python3 -m pytest -q tests/e2e -k NAME
(NODEGATE_BUILD=$PWD/build-asan for the sanitizer build). Logs stay in out/<test>/."""
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import OUT, SLOW, Harness  # noqa: E402

TEST_TIME_LIMIT = 30  # seconds per test, times SLOW


def pytest_configure(config):
    for b in (harness.NODEGATE, harness.NODESIM):
        if not b.exists():
            raise pytest.UsageError(f"{b} is missing: build it first (make all), or set "
                                    "NODEGATE_BUILD to the build directory")


@pytest.fixture
def tmpdir_test(request):
    """tests/e2e/out/<test>: emptied before the test, kept after it for inspection."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    d = OUT / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


@pytest.fixture
def h(request, tmpdir_test):
    """The harness: h.nodesim(name), h.gate(ini), h.simple_gate(sims, ...)."""
    hx = Harness(tmpdir_test)
    request.node._harness = hx
    yield hx
    problems = hx.teardown()
    bad = hx.sanitizer_reports()
    if bad:
        problems.append(f"sanitizer report in {', '.join(bad)}")
    if problems:
        pytest.fail(f"{'; '.join(problems)} (see {tmpdir_test})")


@pytest.fixture(autouse=True)
def time_limit():
    """Interrupts the main thread of a test that runs far too long."""
    def expired(signum, frame):
        raise TimeoutError(f"test exceeded {TEST_TIME_LIMIT * SLOW}s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIME_LIMIT * SLOW)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _tail(path, limit=20000):
    try:
        data = path.read_text(errors="replace")
    except OSError as e:
        return str(e)
    return data if len(data) <= limit else "...\n" + data[-limit:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, appends the tail of nodegate's stderr and the other logs to the report."""
    outcome = yield
    rep = outcome.get_result()
    hx = getattr(item, "_harness", None)
    if hx is None or not rep.failed:
        return
    for p in hx.log_files():
        rep.sections.append((f"{rep.when}: {p.name}", _tail(p)))


class Certs:
    """Self-signed certificates for localhost / 127.0.0.1 (each is its own CA)."""

    def __init__(self, d):
        self.dir = d
        self.cert, self.key = self.make("good")
        self.other_cert, self.other_key = self.make("other")

    def make(self, name, cn="localhost", san="DNS:localhost,IP:127.0.0.1"):
        """A self-signed certificate and key NAME.crt/NAME.key for CN with SAN."""
        cert, key = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-subj", f"/CN={cn}",
                        "-addext", f"subjectAltName={san}", "-days", "2",
                        "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=30)
        return str(cert), str(key)


@pytest.fixture(scope="session")
def certs():
    d = OUT / "_certs"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return Certs(d)
