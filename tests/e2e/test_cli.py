"""The command line: -t checks a file and names every error as FILE:LINE: [section] key:
what is wrong (expected ...); -V and -h."""
import re
import subprocess

import pytest

from harness import NODEGATE, SLOW, free_port, nodegate_run

ERROR_RE = re.compile(r"^(?P<path>\S+):(?P<line>\d+): \[(?P<sect>[a-z]+(?: [^\]]+)?)\] "
                      r"(?P<key>[A-Za-z_][A-Za-z0-9_]*): (?P<what>.+)$")


def base_lines():
    return [
        "[nodegate]",                               # 1
        "log_level = info",                         # 2
        "access_log = off",                         # 3
        "",                                         # 4
        "[listener web]",                           # 5
        f"bind = 127.0.0.1:{free_port()}",          # 6
        "pool = rpc",                               # 7
        "",                                         # 8
        "[pool rpc]",                               # 9
        "balance = roundrobin",                     # 10
        "",                                         # 11
        "[backend n1]",                             # 12
        "pool = rpc",                               # 13
        f"address = 127.0.0.1:{free_port()}",       # 14
        "weight = 1",                               # 15
        "",
    ]


def write(tmpdir_test, name, lines):
    p = tmpdir_test / name
    p.write_text("\n".join(lines))
    return str(p)


def errors_of(out, path):
    """The FILE:LINE error lines of -t output, parsed."""
    found = [m for m in (ERROR_RE.match(l) for l in out.splitlines()) if m]
    for m in found:
        assert m.group("path") == path
    return found


def test_check_good_file(tmpdir_test):
    path = write(tmpdir_test, "good.ini", base_lines())
    code, out = nodegate_run("-t", "-c", path)
    assert code == 0, out
    assert "configuration OK" in out


def with_change(lines, lineno, text, insert=False):
    lines = list(lines)
    if insert:
        lines.insert(lineno - 1, text)
    else:
        lines[lineno - 1] = text
    return lines


def dup_bind(lines):
    bind = lines[5]
    return lines + ["[listener web2]", bind, "pool = rpc", ""]  # web2's bind is line 18


CASES = {
    # name: (make the file, line, section, key, words the message must have)
    "unknown_key": (lambda l: with_change(l, 11, "colour = blue", insert=True), 11,
                    "pool rpc", "colour", ["unknown"]),
    "missing_pool": (lambda l: with_change(l, 7, "pool = nope"), 7, "listener web", "pool",
                     ["nope"]),
    "backend_missing_pool": (lambda l: with_change(l, 13, "pool = nope"), 13, "backend n1",
                             "pool", ["nope"]),
    "duplicate_bind": (dup_bind, 18, "listener web2", "bind", []),
    "bad_address": (lambda l: with_change(l, 14, "address = 127.0.0.1:99999"), 14,
                    "backend n1", "address", ["(expected"]),
    "address_without_port": (lambda l: with_change(l, 14, "address = 127.0.0.1"), 14,
                             "backend n1", "address", ["(expected"]),
    "weight_out_of_range": (lambda l: with_change(l, 15, "weight = 1000"), 15, "backend n1",
                            "weight", ["1000", "(expected", "256"]),
    "retries_out_of_range": (lambda l: with_change(l, 11, "retries = 99", insert=True), 11,
                             "pool rpc", "retries", ["99", "(expected"]),
    "bad_duration": (lambda l: with_change(l, 11, "connect_timeout = 5 parsecs", insert=True),
                     11, "pool rpc", "connect_timeout", ["(expected"]),
    "bad_enum": (lambda l: with_change(l, 10, "balance = random"), 10, "pool rpc", "balance",
                 ["random", "(expected", "roundrobin", "leastconn"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_bad_file(tmpdir_test, case):
    make, line, sect, key, words = CASES[case]
    path = write(tmpdir_test, f"{case}.ini", make(base_lines()))
    code, out = nodegate_run("-t", "-c", path)
    assert code == 1, out
    assert "configuration OK" not in out
    errs = errors_of(out, path)
    match = [m for m in errs if m.group("line") == str(line) and m.group("sect") == sect
             and m.group("key") == key]
    assert match, f"no {path}:{line}: [{sect}] {key}: ... in:\n{out}"
    for w in words:
        assert w in match[0].group("what"), out


def test_check_reports_every_error(tmpdir_test):
    lines = base_lines()
    lines = with_change(lines, 15, "weight = 1000")
    lines = with_change(lines, 10, "balance = random")
    lines = with_change(lines, 3, "colour = blue", insert=True)  # shifts the others by one
    path = write(tmpdir_test, "many.ini", lines)
    code, out = nodegate_run("-t", "-c", path)
    assert code == 1, out
    got = {(m.group("line"), m.group("sect"), m.group("key")) for m in errors_of(out, path)}
    assert got >= {("3", "nodegate", "colour"), ("11", "pool rpc", "balance"),
                   ("16", "backend n1", "weight")}, out


def test_check_missing_file(tmpdir_test):
    path = str(tmpdir_test / "absent.ini")
    code, out = nodegate_run("-t", "-c", path)
    assert code == 1, out
    assert path in out


def test_start_with_bad_file_refuses_and_says_why(tmpdir_test):
    lines = with_change(base_lines(), 15, "weight = 1000")
    path = write(tmpdir_test, "bad.ini", lines)
    p = subprocess.run([str(NODEGATE), "-c", path], capture_output=True, timeout=10 * SLOW,
                       stdin=subprocess.DEVNULL)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode != 0, out
    assert f"{path}:15: [backend n1] weight:" in out


def test_version_and_help():
    code, out = nodegate_run("-V")
    assert code == 0
    assert re.match(r"nodegate \d+\.\d+", out.strip()), out
    code, out = nodegate_run("-h")
    assert code == 0
    assert "usage" in out.lower() and "-t" in out and "-c" in out
