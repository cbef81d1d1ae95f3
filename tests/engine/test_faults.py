"""A bad, slow, interrupted or concurrent release never takes the service down."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.engine.conftest import (
    STARTED,
    Stack,
    note,
    on,
    pairwise,
    probe,
    record,
    served_versions,
    settle,
)
from tests.engine.test_deploy import SIBLINGS, fetch

pytestmark = pytest.mark.docker


SLOW_STEP = "RUN sleep 4"


def release(
    stack: Stack, version: str, *, slow_build: bool = False, image_env: dict[str, str] | None = None
) -> None:
    """Make the next build a new version whose image carries `image_env` (a release's flaw);
    `slow_build` adds a 4 s build step, a window in which to interrupt it."""
    (stack.directory / "service" / "VERSION").write_text(f"{version}\n")
    dockerfile = stack.directory / "service" / "Dockerfile"
    added = ("ENTRYPOINT", SLOW_STEP)
    lines = [ln for ln in dockerfile.read_text().splitlines() if not ln.startswith(added)]
    if slow_build:
        lines.append(SLOW_STEP)
    if image_env:
        # The compose file passes the knobs through from the shell, which would clear an
        # image ENV; `env K=V` as entrypoint sets them for this image only, then execs CMD.
        settings = ", ".join(f'"{k}={v}"' for k, v in image_env.items())
        lines.append(f'ENTRYPOINT ["env", {settings}]')
    dockerfile.write_text("\n".join(lines) + "\n")


def started_at(stack: Stack) -> dict[str, tuple[str, str, str]]:
    """sibling -> (container id, StartedAt, image id)."""
    return {
        s: (c["Id"], c["State"]["StartedAt"], c["Image"])
        for s, c in stack.containers().items()
        if s in SIBLINGS
    }


FLAWS = {
    # name: (image env, zdd flags, words the error must contain)
    "crash-on-start": ({"CRASH_ON_START": "1"}, (), "exiting 1"),
    "unhealthy-after-5s": (
        {"UNHEALTHY_AFTER_SECONDS": "5"},
        ("--monitor", "15"),
        "unhealthy within the --monitor window",
    ),
    "slower-than-gate": ({"WARMUP_SECONDS": "60"}, ("--health-timeout", "6"), "--health-timeout"),
}


@pairwise(
    "flaw, proxy",
    [*((flaw, "nginx") for flaw in FLAWS), ("crash-on-start", "discovery")],
    both=[("crash-on-start", "nginx")],  # the plain rollback, on both versions
)
def test_bad_release_rolls_back(stack: Stack, flaw: str, proxy: str) -> None:
    image_env, flags, words = FLAWS[flaw]
    mode: tuple[str, ...] = ()
    if proxy == "discovery":  # the seed's kind of proxy, already running: gated, not drained
        stack.env["ZDD_NGINX_CONF"] = "./compose/proxy/discover.conf"
        stack.compose("up", "-d", "--", "proxy")
        mode = ("--proxy", "discovery")
    stack.deploy(*mode)  # the release's own flags (a 15 s --monitor) only for the release
    before = started_at(stack)
    old_versions = {a["version"] for a in (fetch(stack.url) for _ in range(10))}

    release(stack, "2", image_env=image_env)
    load = probe(stack.url).start()
    result = stack.zdd("deploy", *flags, *mode)
    time.sleep(2)
    report = load.stop()
    after = started_at(stack)
    record(f"bad release: {flaw} ({proxy})", stack, f"exit {result.returncode}", report)

    assert result.returncode == 1, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("zdd: error: service_a") and words in error, error
    assert report.failed == 0, report.summary()
    if proxy != "nginx" or flaw != "unhealthy-after-5s":  # else it served in its window
        assert {v for v, *_ in report.versions()} <= old_versions, "only the old version served"
    assert served_versions(report, 1.5) <= old_versions
    assert after["service_b"] == before["service_b"], "service_b never stopped"
    assert after["service_a"][2] == before["service_a"][2], "service_a on its previous image"
    assert after["service_a"][0] != before["service_a"][0]


BUDGET_BREACHES = {
    # name: (image env, zdd flags, words the error must contain)
    "answers-500-to-20%": ({"ERROR_RATE": "0.2"}, (), "failed share"),
    "5x-slower": ({"REQUEST_DELAY_SECONDS": "0.1"}, ("--max-latency-ratio", "3"), "median time"),
}


@pairwise("breach", list(BUDGET_BREACHES))
def test_a_release_over_the_error_budget_is_rolled_back(stack: Stack, breach: str) -> None:
    """It passes its healthcheck, is admitted, and does worse than the others on real
    requests: rolled back within the admission window (default 2 s), exit 1, with the numbers;
    the clients' failures are the release's own 500s, bounded by the window."""
    image_env, flags, words = BUDGET_BREACHES[breach]
    stack.env["REQUEST_DELAY_SECONDS"] = "0.02"  # the old version: 20 ms a request
    stack.deploy()
    before = started_at(stack)
    old_versions = {a["version"] for a in (fetch(stack.url) for _ in range(10))}

    release(stack, "2", image_env=image_env)
    load = probe(stack.url).start()
    time.sleep(1)
    result = stack.zdd("deploy", *flags)
    report = settle(load, 300, seconds=2)
    after = started_at(stack)
    record(f"over budget: {breach}", stack, f"exit {result.returncode}", report)

    assert result.returncode == 1, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("zdd: error: service_a: over the error budget"), error
    assert words in error and "the others: 0 of" in error, error
    assert "service_a is back on its previous version" in error, error
    new = [s for s in report.samples if s.version and s.version not in old_versions]
    assert new, "the new version was admitted and served in its window"
    if "ERROR_RATE" in image_env:  # only the new version's own 500s, a fifth of its requests
        assert set(report.failures) == {"5xx"}, report.summary()
        assert 0 < report.failed <= 0.3 * (len(new) + report.failed) + 5, (report.failed, len(new))
    else:
        assert report.failed == 0, report.summary()
    assert served_versions(report, 1.5) <= old_versions, "the old version serves again"
    assert after["service_b"] == before["service_b"], "service_b never stopped"
    assert after["service_a"][2] == before["service_a"][2], "service_a on its previous image"


@on("v2")  # the window is compose's neither
def test_behind_a_discovery_proxy_the_verify_probe_feeds_the_error_budget(stack: Stack) -> None:
    """A proxy that logs nothing for zdd: with --verify, the probe's requests since each
    admission are judged against those before the deploy; a release answering 500 to a fifth
    of its requests is rolled back within its window, exit 1, the old version serving."""
    stack.env.update(REQUEST_DELAY_SECONDS="0.02", ZDD_NGINX_CONF="./compose/proxy/discover.conf")
    stack.compose("up", "-d", "--", "proxy")  # the user's proxy: zdd starts only its own
    stack.deploy("--proxy", "discovery")
    before = started_at(stack)
    old_versions = {a["version"] for a in (fetch(stack.url) for _ in range(10))}

    release(stack, "2", image_env={"ERROR_RATE": "0.2"})
    load = probe(stack.url).start()
    time.sleep(1)
    result = stack.zdd("deploy", "--proxy", "discovery", "--verify", stack.url)
    report = settle(load, 300, seconds=2)
    after = started_at(stack)
    record("over budget, discovery + --verify", stack, f"exit {result.returncode}", report)

    assert result.returncode == 1, result.stderr
    assert "with --verify, an error budget judges each admission" in result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("zdd: error: service_a: over the error budget"), error
    assert "failed share" in error and "before the deploy: 0 of" in error, error
    assert "service_a is back on its previous version" in error, error
    new = [s for s in report.samples if s.version and s.version not in old_versions]
    assert new, "the new version was admitted and served in its window"
    assert report.failed <= 0.3 * (len(new) + report.failed) + 5, report.summary()
    assert served_versions(report, 1.5) <= old_versions, "the old version serves again"
    assert after["service_b"] == before["service_b"], "service_b never stopped"
    assert after["service_a"][2] == before["service_a"][2], "service_a on its previous image"


def test_rollback_after_good_deploy(stack: Stack) -> None:
    nothing = stack.zdd("rollback", "--dry-run")  # the dry run refuses what the run would
    assert nothing.returncode == 2 and "is not running: nothing to roll back" in nothing.stderr
    stack.deploy()
    first = stack.zdd("rollback", "--dry-run")
    assert first.returncode == 2 and "no previous release to roll back to" in first.stderr
    old_versions = {fetch(stack.url)["version"] for _ in range(10)}
    release(stack, "2")
    stack.deploy()
    assert not {fetch(stack.url)["version"] for _ in range(10)} & old_versions
    assert stack.zdd("rollback", "--dry-run").returncode == 0

    load = probe(stack.url).start()
    progress = stack.zdd("rollback")
    time.sleep(2)
    report = load.stop()
    record("zdd rollback after a good deploy", stack, f"exit {progress.returncode}", report)
    assert progress.returncode == 0, progress.stderr
    assert report.failed == 0, report.summary()
    assert served_versions(report, 1.5) == old_versions


class Background:
    """A `zdd deploy` subprocess whose progress lines are collected as they come."""

    def __init__(self, stack: Stack, *args: str) -> None:
        argv = [sys.executable, "-m", "zdd", "deploy", "-f", stack.compose_file]
        argv += ["-p", stack.project, "--compose-cmd", stack.compose_cmd, *args]
        self.process = subprocess.Popen(
            argv, cwd=stack.directory, env=stack.environ(), stderr=subprocess.PIPE, text=True
        )
        STARTED.append(self.process)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip())

    def wait_for(self, words: str, seconds: float = 120) -> None:
        """Until zdd printed a line with `words` in it."""
        self.until(lambda: any(words in line for line in self.lines), seconds, f"saw {words!r}")

    def wait_for_command(self, word: str, seconds: float = 60) -> None:
        """Until zdd runs a command (one of its child processes) with `word` in its argv."""
        self.until(lambda: word.encode() in self._children_argv(), seconds, f"ran {word!r}")

    def _children_argv(self) -> set[bytes]:
        words: set[bytes] = set()
        for proc in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError):  # a process that ended meanwhile
                parent = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
                if int(parent) == self.process.pid:
                    words.update((proc / "cmdline").read_bytes().split(b"\0"))
        return words

    def until(self, found: Callable[[], bool], seconds: float, what: str) -> None:
        """Poll `found` every 50 ms while zdd runs, at most `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            if found():
                return
            time.sleep(0.05)
        if not found():
            raise AssertionError(f"zdd never {what}: {self.lines}")

    def finish(self, seconds: float = 300) -> int:
        code = self.process.wait(seconds)
        self.reader.join(5)
        assert self.process.stderr is not None
        self.process.stderr.close()
        return code


INTERRUPTS = {
    # point: (line to wait for, siblings replaced when zdd stops, what zdd says it did)
    "during-build": ("", (), "nothing was changed"),  # waits for the `build` command itself
    "during-first-gate": ("--force-recreate -- service_a", ("service_a",), "replaced service_a,"),
    "during-second-sibling": ("drain service_b", SIBLINGS, "replaced service_a, service_b"),
}


# compose v1 and v2 build in their own ways: an interrupted build on both
@pairwise("point", list(INTERRUPTS), both=["during-build"])
def test_ctrl_c_leaves_every_sibling_serving(stack: Stack, point: str) -> None:
    marker, replaced, said = INTERRUPTS[point]
    stack.deploy()
    before = started_at(stack)
    release(stack, "2", slow_build=not marker)
    load = probe(stack.url).start()
    deploy = Background(stack)
    if marker:
        deploy.wait_for(marker)
    else:
        deploy.wait_for_command("build")
    deploy.process.send_signal(signal.SIGINT)
    code = deploy.finish()
    time.sleep(1)
    report = load.stop()
    after = started_at(stack)
    record(f"SIGINT {point}", stack, f"exit {code}", report)
    assert code == 130, deploy.lines
    assert said in deploy.lines[-1], deploy.lines
    assert report.failed == 0, report.summary()
    for sibling in SIBLINGS:
        changed = after[sibling][0] != before[sibling][0]
        assert changed == (sibling in replaced), (sibling, deploy.lines)
    stack.deploy()


@pairwise("lock_wait", [None, "300"])
def test_second_deploy_waits_its_turn(stack: Stack, lock_wait: str | None) -> None:
    """Without --lock-wait the second deploy exits 4 at once; with it, it waits for the first,
    then deploys, and no request fails through either."""
    stack.deploy()
    release(stack, "2")
    load = probe(stack.url).start()
    first = Background(stack)
    first.wait_for("build")
    started = time.monotonic()
    kept = stack.directory / "second.json"
    second = stack.zdd("deploy", "--report", str(kept),
                       *(["--lock-wait", lock_wait] if lock_wait else []))  # fmt: skip
    took = time.monotonic() - started
    assert first.finish() == 0, first.lines
    report = settle(load, 1000)
    if lock_wait is None:
        assert second.returncode == 4, second.stderr
        assert "another zdd is deploying" in second.stderr and "pid" in second.stderr
        note(f"two deploys at once [{stack.compose_cmd}]: the second exited 4 after {took:.2f} s")
    else:
        assert second.returncode == 0, second.stderr
        waited = [ln for ln in second.stderr.splitlines() if "waiting for the lock" in ln]
        assert len(waited) == 1 and "zdd deploy" in waited[0], second.stderr
        record("two deploys, --lock-wait", stack, f"2nd after {took:.1f}s", report)
    assert report.failed == 0, report.summary()
    # `zdd history`: every deploy that held the lock, newest first, with its result
    listed = [json.loads(line) for line in stack.zdd("history", "--json").stdout.splitlines()]
    assert [(r["command"], r["result"], r["exit_code"]) for r in listed] == [
        ("deploy", "ok", 0)
    ] * (3 if lock_wait else 2), listed
    if lock_wait:  # the one that waited: its record, in --report's file and on the engine
        mine = json.loads(kept.read_text())
        assert mine["id"] == listed[0]["id"] and mine["exit_code"] == 0
        shown = stack.zdd("history", mine["id"]).stdout
        assert "service_b" in shown and "ok, exit 0" in shown, shown
        drawn = stack.directory / "second.html"  # opened in a browser: test_history_page.py
        assert stack.zdd("history", mine["id"], "--html", str(drawn)).returncode == 0
        for sibling in ("service_a", "service_b"):
            assert f"data-service='{sibling}' data-kind='admit'" in drawn.read_text()
    else:
        assert not kept.exists()  # refused before it held the lock: nothing ran to record


@on("v2")  # the lock is the engine's; the other lock test runs v1
def test_lock_left_by_a_killed_zdd_is_taken_over(stack: Stack, tmp_path: Path) -> None:
    stack.deploy()
    killed = Background(stack)
    killed.wait_for("build")
    killed.process.kill()
    killed.finish()
    stack.deploy("--no-build")


def test_a_stack_last_deployed_by_the_other_compose_major_rolls_back(stack: Stack) -> None:
    """Containers made by compose v1 (`p_service_a_1`, image `p_service_a`) and a deploy with
    v2 (`p-service_a-1`, `p-service_a`), or the other way round: a crashing release still goes
    back to the image that served, found by the containers' own image ids."""
    own = stack.compose_cmd
    stack.compose_cmd = "docker-compose" if own == "docker compose" else "docker compose"
    stack.deploy()
    stack.compose_cmd = own
    before = started_at(stack)
    old_versions = {fetch(stack.url)["version"] for _ in range(10)}
    release(stack, "2", image_env={"CRASH_ON_START": "1"})
    load = probe(stack.url).start()
    result = stack.zdd("deploy")
    time.sleep(2)
    report = load.stop()
    record("bad release after the other compose", stack, f"exit {result.returncode}", report)
    assert result.returncode == 1, result.stderr
    assert report.failed == 0, report.summary()
    after = started_at(stack)
    assert after["service_a"][2] == before["service_a"][2], "service_a on the image that served"
    assert after["service_b"][0] == before["service_b"][0], "service_b untouched"
    assert served_versions(report, 1.5) <= old_versions
