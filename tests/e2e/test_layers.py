"""tests/layers.py, the layering rules of src/ and include/: an include that breaks a rule,
injected into a copy of the real tree, is named by FILE:LINE and makes it exit 1; on small
synthetic trees, every rule (direct, through a chain of headers, server.h, registry.h,
cycles) gives exactly the expected lines, and a tree that follows the rules passes."""
import shutil
import subprocess
import sys

import pytest

from harness import REPO

LAYERS = REPO / "tests" / "layers.py"


def layers(root):
    """(exit code, output lines) of tests/layers.py on root."""
    p = subprocess.run([sys.executable, str(LAYERS), str(root)], capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout.splitlines()


def append_include(path, header):
    """Appends #include "header" to path; returns its line number."""
    text = path.read_text()
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(f'{text}#include "{header}"\n')
    return text.count("\n") + 1


def write_tree(root, files):
    """files: {path under root: [included headers]}; every file is a few lines of C."""
    for rel, includes in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"/* {rel}: synthetic, for tests/layers.py. */"]
        lines += [f'#include "{h}"' for h in includes]
        p.write_text("\n".join(lines) + "\n")


@pytest.fixture
def real_copy(tmp_path):
    """A copy of the real src/ and include/, and what layers.py says of it before any
    change (the tree may have violations of its own while it is being restructured)."""
    for d in ("src", "include"):
        shutil.copytree(REPO / d, tmp_path / d)
    return tmp_path, layers(tmp_path)[1]


def assert_injected(root, before, wanted):
    code, out = layers(root)
    assert code == 1, out
    for w in wanted:
        assert w not in "\n".join(before), w
        assert any(w in line for line in out), (w, out)


def test_injected_proxy_includes_health(real_copy):
    root, before = real_copy
    n = append_include(root / "src/proxy/http.c", "health/monitor.h")
    assert_injected(root, before, [f'src/proxy/http.c:{n}: #include "health/monitor.h": '
                                   "the data plane (proxy/) must not include health/ headers"])


def test_injected_health_includes_ops(real_copy):
    root, before = real_copy
    n = append_include(root / "src/health/check.c", "ops/incident.h")
    assert_injected(root, before, [f'src/health/check.c:{n}: #include "ops/incident.h": '
                                   "the health engine (health/) must not include ops/ headers"])


def test_injected_cycle(real_copy):
    root, before = real_copy
    a = append_include(root / "include/clock.h", "log.h")
    b = append_include(root / "include/log.h", "clock.h")
    assert_injected(root, before, [f'include/clock.h:{a}: #include "log.h"',
                                   f'include/log.h:{b}: #include "clock.h"'])
    code, out = layers(root)
    assert any(l.startswith("include cycle between ") and "clock" in l and "log" in l
               for l in out), out


def test_real_tree_follows_the_rules():
    code, out = layers(REPO)
    assert code == 0, "\n".join(out)


# A tree that follows every rule: the data plane reads conf.h and its own headers, the
# health engine reaches bus.h (which reaches back into health/ only), ops/ reads the
# registry, and only main.c and server.c include server.h.
CLEAN = {
    "include/log.h": [],
    "include/conf.h": ["log.h"],
    "include/bus.h": ["health/health.h"],
    "include/registry.h": ["conf.h", "proxy/route.h"],
    "include/server.h": ["conf.h"],
    "include/proxy/route.h": ["conf.h"],
    "include/health/health.h": ["proxy/route.h"],
    "include/ops/incident.h": ["health/health.h", "registry.h"],
    "src/main.c": ["server.h", "registry.h", "log.h"],
    "src/server.c": ["server.h", "registry.h", "proxy/route.h"],
    "src/proxy/route.c": ["proxy/route.h", "log.h"],
    "src/health/monitor.c": ["health/health.h", "bus.h", "registry.h"],
    "src/ops/incident.c": ["ops/incident.h", "bus.h", "registry.h"],
}

REASON_SERVER = ("only main.c and server.c may include server.h: read the registry "
                 "(registry.h) or the routing snapshot (proxy/route.h)")
REASON_REGISTRY = "the data plane reads the routing snapshot proxy/route.h, not the registry"

CASES = {
    # name: (files added to CLEAN, the exact problem lines expected)
    "proxy_reaches_health": (
        {"src/proxy/session.c": ["proxy/route.h", "bus.h"]},
        ['src/proxy/session.c:3: #include "bus.h" reaches health/health.h '
         "(bus.h -> health/health.h)"]),
    # Reported once, at the proxy/ header that starts the chain, not in its includers.
    "proxy_header_reaches_health": (
        {"include/stats.h": ["bus.h"], "include/proxy/session.h": ["stats.h"],
         "src/proxy/session.c": ["proxy/session.h"]},
        ['include/proxy/session.h:2: #include "stats.h" reaches health/health.h '
         "(stats.h -> bus.h -> health/health.h)"]),
    "health_reaches_ops": (
        {"include/events.h": ["log.h", "ops/incident.h"],
         "src/health/check.c": ["health/health.h", "events.h"]},
        ['src/health/check.c:3: #include "events.h" reaches ops/incident.h '
         "(events.h -> ops/incident.h)"]),
    "proxy_includes_registry": (
        {"src/proxy/session.c": ["registry.h"]},
        [f'src/proxy/session.c:2: #include "registry.h": {REASON_REGISTRY}']),
    "proxy_reaches_registry": (
        {"include/pools.h": ["registry.h"], "src/proxy/session.c": ["pools.h"]},
        ['src/proxy/session.c:2: #include "pools.h" reaches registry.h '
         "(pools.h -> registry.h)"]),
    "server_h_outside_startup": (
        {"src/ops/page.c": ["registry.h", "server.h"]},
        [f'src/ops/page.c:3: #include "server.h": {REASON_SERVER}']),
    "cycle": (
        {"include/clock.h": ["log.h"], "include/log.h": ["clock.h"]},
        ["include cycle between clock, log:", '  include/clock.h:2: #include "log.h"',
         '  include/log.h:2: #include "clock.h"']),
}


def test_clean_synthetic_tree_passes(tmp_path):
    write_tree(tmp_path, CLEAN)
    code, out = layers(tmp_path)
    assert code == 0, out
    assert out[-1].startswith("layers: OK"), out


@pytest.mark.parametrize("case", sorted(CASES))
def test_synthetic_rule(tmp_path, case):
    added, wanted = CASES[case]
    write_tree(tmp_path, {**CLEAN, **added})
    code, out = layers(tmp_path)
    assert code == 1, out
    assert out[:-1] == wanted
    assert out[-1].startswith(f"layers: {len(wanted)} problem line(s)"), out
