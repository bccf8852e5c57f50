"""Remediation hooks end to end (issue 5): [hook NAME] sections run a program (here a
#!/bin/sh script the test writes, or /bin/sleep) without a shell on nodegate's side, with
the event in NODEGATE_* variables, when simulated rippled nodes leave rotation or do not
sync within their sync_grace. Observed through what the program records, the process
table, nodegate's log, the incident timeline (GET /api/incidents) and /metrics."""
import re
import signal
import time
from pathlib import Path

from harness import SLOW, free_port, wait_for
from test_admin import TOKEN, counter, entry_texts, incidents
from test_health import (be, check_keys, log_lines, restart, rippled_sim, set_health,
                         wait_transition, wait_up)
from test_status import scrape, status_section, value

MINIMAL_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

# ---------------------------------------------------------------------------------------
# helpers


def script(h, name, body):
    """An executable #!/bin/sh script NAME in the test's directory."""
    p = h.dir / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(0o755)
    return p


def hook(name, command, **kv):
    sec = {"command": str(command)}
    sec.update({k: str(v) for k, v in kv.items()})
    return (f"hook {name}", sec)


def hook_gate(h, certs, sp, hooks, names=("n1", "n2"), env=None, **pool):
    """Rippled nodes probed every 50ms, readmitted after two healthy probes, no slow start;
    incidents kept in h.dir/state and served on SP; HOOKS as extra sections."""
    sims = {n: rippled_sim(h, certs, n) for n in names}
    keys = check_keys("50ms", rise=2, readmit_after="100ms", slow_start="0", **pool)
    token = h.dir / "admin.token"  # ops read the timelines (test_admin.incidents)
    token.write_text(TOKEN + "\n")
    ini = h.gate_ini([be(s) for s in sims.values()], pool=keys,
                     glob={"state_dir": h.dir / "state"},
                     extra=[status_section(sp, admin_token_file=token), *hooks])
    g = h.gate(ini, env=env)
    wait_up(g, list(sims))
    return g, sims


LINE = re.compile(r"^(\S+) \w+ hook (\S+) \((backend|pool) (\S*), (\w+)\): (.*)$")


def outcomes(g, name, after=0):
    """(subject, event, text) of every outcome line of hook NAME (not its `started` lines)."""
    out = []
    for line in g.stderr().splitlines()[after:]:
        m = LINE.match(line)
        if m and m.group(2) == name and not m.group(6).startswith("started, pid"):
            out.append((m.group(4), m.group(5), m.group(6)))
    return out


def wait_outcome(g, name, pattern, after=0, timeout=5):
    """The first outcome of hook NAME whose text matches PATTERN."""
    rx = re.compile(pattern)

    def found():
        return next((o for o in outcomes(g, name, after) if rx.search(o[2])), None)
    return wait_for(found, timeout * SLOW, f"hook {name}: {pattern}")


def read_env(path):
    """The NAME=VALUE lines a run recorded with `env`, once it wrote them all."""
    def done():
        text = path.read_text() if path.exists() else ""
        return text if "END_OF_ENV" in text else None
    text = wait_for(done, 5 * SLOW, f"{path.name} to be written")
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def hooks_total(sp, name, result):
    return value(scrape(sp), "nodegate_hooks", "nodegate_hooks_total", hook=name, result=result)


def gone(pid):
    """The process is gone (or a zombie, waiting for whoever inherited it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return re.search(r"^State:\s+Z", status, re.M) is not None


def action_lines(sp):
    """The automation lines of every incident, oldest first."""
    return [e["text"] for inc in incidents(sp) for e in inc["entries"] if e["kind"] == "action"]


def record_env(path):
    """Shell lines writing the run's environment to PATH, then a marker."""
    return f'env > "{path}.tmp"; echo END_OF_ENV >> "{path}.tmp"; mv "{path}.tmp" "{path}"\n'


# ---------------------------------------------------------------------------------------
# tests


def test_a_restart_hook_runs_once_and_not_again_within_the_sync_grace(h, certs):
    """n1 comes back but does not sync within its 2s grace: the hook runs once (for 1.5s),
    with the event in its environment and nothing else of nodegate's; meanwhile its restart
    did not help and the grace expires again 2s later, within sync_grace of the run's end:
    skipped, and said so in the log and in the incident's timeline."""
    sp = free_port()
    runs = h.dir / "runs"
    runs.mkdir()
    restart_sh = script(h, "restart.sh",
                        record_env(f"{runs}/run-$$.env") +
                        'echo "restarting $NODEGATE_BACKEND"\nsleep 1.5\necho done\n')
    g, sims = hook_gate(h, certs, sp, [hook("restart", restart_sh, on="grace_expired",
                                            timeout="10s")],
                        sync_grace="2s", env={"NODEGATE_TEST_SECRET": "must-not-leak"})
    n1 = sims["n1"]
    mark = log_lines(g)
    n1.kill(signal.SIGKILL)
    wait_transition(g, "n1", "down", after=mark)
    inc = wait_for(lambda: next((i for i in incidents(sp) if i["open"]), None), 3 * SLOW,
                   "the incident of n1 leaving")
    n1b = restart(h, certs, n1, state="critical", tag="critical-1")
    wait_transition(g, "n1", "syncing", after=mark)

    env_file = wait_for(lambda: next(iter(runs.glob("*.env")), None), 6 * SLOW,
                        "the hook's run after the grace expired")
    started = time.monotonic()
    env = read_env(env_file)
    # the restart did not help: n1 comes back, still not synced, inside the run's window
    n1b.kill(signal.SIGKILL)
    time.sleep(0.25)  # n1 is already down: no transition tells that probes found it gone
    restart(h, certs, n1b, state="critical", tag="critical-2")
    assert time.monotonic() - started < 1.2, "the second restart came too late for the window"

    assert {k: v for k, v in env.items() if k not in ("PWD", "END_OF_ENV")} == {
        "PATH": MINIMAL_PATH, "NODEGATE_HOOK": "restart", "NODEGATE_EVENT": "grace_expired",
        "NODEGATE_BACKEND": "n1", "NODEGATE_POOL": "rpc", "NODEGATE_ADDRESS": n1.addr,
        "NODEGATE_REASON": "sync grace expired", "NODEGATE_INCIDENT": str(inc["id"])}

    first = wait_outcome(g, "restart", r"^exit ", after=mark)
    assert first[:2] == ("n1", "grace_expired")
    assert re.fullmatch(r"exit 0 after 1\.\ds: restarting n1 \| done", first[2]), first
    skip = wait_outcome(g, "restart", r"^skipped", after=mark, timeout=6)
    assert skip[:2] == ("n1", "grace_expired")
    assert re.fullmatch(r"skipped: ran [\d.]+s ago, ended [\d.]+s ago, within sync_grace 2s",
                        skip[2]), skip
    assert len(list(runs.glob("*.env"))) == 1

    lines = action_lines(sp)
    assert f"hook restart (backend n1, grace_expired): {first[2]}" in lines, lines
    assert f"hook restart (backend n1, grace_expired): {skip[2]}" in lines, lines
    assert hooks_total(sp, "restart", "ok") == 1
    assert hooks_total(sp, "restart", "skipped") == 1
    assert hooks_total(sp, "restart", "failed") == 0
    assert hooks_total(sp, "restart", "timeout") == 0


def test_a_hook_that_hangs_is_killed_at_its_timeout_with_what_it_started(h, certs):
    """Two hooks hang on the same event with a 300ms timeout: /bin/sleep goes on SIGTERM;
    a script that ignores SIGTERM, and the sleep it started, go on SIGKILL 1s later. Both
    outcomes are in the log, the timeline and /metrics; the loop never waited on them."""
    sp = free_port()
    stubborn = script(h, "stubborn.sh", f"""trap "" TERM
echo "$$" > "{h.dir}/stubborn.pid"
sleep 30 &
echo "$!" > "{h.dir}/stubborn-child.pid"
echo waiting
wait
""")
    g, sims = hook_gate(h, certs, sp, [
        hook("sleeper", "/bin/sleep 30", on="backend_down", timeout="300ms"),
        hook("stubborn", stubborn, on="backend_down", timeout="300ms")])
    mark = log_lines(g)
    set_health(sims["n2"], "critical")
    wait_transition(g, "n2", "down", after=mark)
    t0 = time.monotonic()
    slept = wait_outcome(g, "sleeper", "killed", after=mark)
    t_sleeper = time.monotonic() - t0
    assert slept == ("n2", "backend_down", "killed after timeout 300ms"), slept
    # the loop is free meanwhile: the status listener answers
    assert hooks_total(sp, "stubborn", "timeout") == 0
    pid = int(wait_for(lambda: (h.dir / "stubborn-child.pid").exists() and
                       (h.dir / "stubborn-child.pid").read_text().strip(), 3 * SLOW,
                       "the stubborn hook's child"))
    leader = int((h.dir / "stubborn.pid").read_text())
    killed = wait_outcome(g, "stubborn", "killed", after=mark)
    t_stubborn = time.monotonic() - t0
    assert killed[2] == "killed after timeout 300ms (SIGTERM ignored: SIGKILL): waiting", killed
    assert t_sleeper < 1.0 * SLOW, f"sleeper took {t_sleeper:.2f}s"
    assert t_stubborn >= 1.2, f"SIGKILL came {t_stubborn:.2f}s after the event"
    wait_for(lambda: gone(pid) and gone(leader), 2 * SLOW, "the hook's process group to be gone")

    lines = action_lines(sp)
    assert "hook sleeper (backend n2, backend_down): killed after timeout 300ms" in lines, lines
    assert ("hook stubborn (backend n2, backend_down): killed after timeout 300ms (SIGTERM "
            "ignored: SIGKILL): waiting") in lines, lines
    for name in ("sleeper", "stubborn"):
        assert hooks_total(sp, name, "timeout") == 1
        assert hooks_total(sp, name, "ok") == 0


def test_max_concurrent_skips_a_program_gone_fails_and_incident_events_have_no_backend(
        h, certs):
    """n1 and n2 leave at once: a hook with max_concurrent 1 runs for one and skips the
    other; a program deleted after the configuration was checked fails with the reason; a
    hook on incident_open gets the pool and the incident, and no backend."""
    sp = free_port()
    gone_sh = script(h, "gone.sh", "exit 0\n")
    note_sh = script(h, "note.sh", record_env(f"{h.dir}/note.env"))
    g, sims = hook_gate(h, certs, sp, [
        hook("slow", "/bin/sleep 1", on="backend_down", max_concurrent=1, timeout="10s"),
        hook("gone", gone_sh, on="backend_down", backends="n1"),
        hook("note", note_sh, on="incident_open")], names=("n1", "n2", "n3"))
    gone_sh.unlink()
    mark = log_lines(g)
    set_health(sims["n1"], "critical")
    set_health(sims["n2"], "critical")
    wait_transition(g, "n1", "down", after=mark)
    wait_transition(g, "n2", "down", after=mark)

    skip = wait_outcome(g, "slow", "^skipped", after=mark)
    assert skip[1:] == ("backend_down", "skipped: 1 run going, max_concurrent 1"), skip
    ran = wait_outcome(g, "slow", "^exit", after=mark)
    assert {skip[0], ran[0]} == {"n1", "n2"}, (skip, ran)
    assert re.fullmatch(r"exit 0 after 1\.\ds", ran[2]), ran

    failed = wait_outcome(g, "gone", "^failed", after=mark)
    assert failed == ("n1", "backend_down",
                      f"failed: cannot run {gone_sh}: No such file or directory"), failed
    assert len(outcomes(g, "gone", after=mark)) == 1, "gone ran for another backend"

    env = read_env(h.dir / "note.env")
    inc = next(i for i in incidents(sp) if i["open"])
    assert (env["NODEGATE_EVENT"], env["NODEGATE_POOL"], env["NODEGATE_BACKEND"],
            env["NODEGATE_ADDRESS"], env["NODEGATE_INCIDENT"]) == (
                "incident_open", "rpc", "", "", str(inc["id"])), env
    assert env["NODEGATE_REASON"].startswith(f"backend {sims['n1'].name}: up -> down") or \
        env["NODEGATE_REASON"].startswith(f"backend {sims['n2'].name}: up -> down"), env
    note = wait_outcome(g, "note", "^exit", after=mark)
    assert note[:2] == ("rpc", "incident_open") and note[2].startswith("exit 0 after "), note

    texts = entry_texts(next(i for i in incidents(sp) if i["id"] == inc["id"]))
    assert f"hook slow (backend {skip[0]}, backend_down): {skip[2]}" in texts, texts
    assert f"hook gone (backend n1, backend_down): {failed[2]}" in texts, texts
    assert hooks_total(sp, "slow", "ok") == 1 and hooks_total(sp, "slow", "skipped") == 1
    assert hooks_total(sp, "gone", "failed") == 1
    assert hooks_total(sp, "note", "ok") == 1
    assert counter(scrape(sp), "transitions") >= 2


def test_a_reload_keeps_a_running_hook_and_its_last_run_and_shutdown_stops_it(h, certs):
    """A hook is running when nodegate reloads: it goes on, and the backend's next event is
    still held back by that run; SIGTERM to nodegate stops it (and what it started) and
    nodegate exits 0 with the outcome in its log."""
    sp = free_port()
    long_sh = script(h, "long.sh", f'echo "$$" > "{h.dir}/long.pid"\nexec /bin/sleep 30\n')
    hooks = [hook("long", long_sh, on="backend_down", timeout="60s")]
    g, sims = hook_gate(h, certs, sp, hooks)
    mark = log_lines(g)
    set_health(sims["n2"], "critical")
    wait_transition(g, "n2", "down", after=mark)
    pid = int(wait_for(lambda: (h.dir / "long.pid").exists() and
                       (h.dir / "long.pid").read_text().strip(), 3 * SLOW, "the hook to run"))

    text = g.ini.read_text().replace("timeout = 60s", "timeout = 50s")
    assert text != g.ini.read_text()
    g.reload(text)
    wait_for(lambda: "reload done" in "\n".join(g.stderr().splitlines()[mark:]), 3 * SLOW,
             "reload done")
    assert not gone(pid), "the reload stopped the running hook"

    set_health(sims["n2"], "healthy")
    wait_transition(g, "n2", "up", after=mark, timeout=5)
    back = log_lines(g)
    set_health(sims["n2"], "critical")
    wait_transition(g, "n2", "down", after=back, timeout=5)
    skip = wait_outcome(g, "long", "^skipped", after=mark)
    assert re.fullmatch(r"skipped: its run started [\d.]+s ago is still going \(then "
                        r"sync_grace 15m\)", skip[2]), skip

    g.signal(signal.SIGTERM)
    assert g.proc.wait(timeout=10 * SLOW) == 0
    assert gone(pid), "the hook outlived nodegate"
    stopped = outcomes(g, "long", after=mark)[-1]
    assert re.fullmatch(r"killed by signal 15 \(Terminated\) after [\d.]+s \(stopped by "
                        r"shutdown\)", stopped[2]), stopped
