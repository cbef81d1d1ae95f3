"""Nothing on the host breaks a deploy, and a broken one heals itself: the lock, zdd's own
death, the proxy's death and recreation (issue 10)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.engine.conftest import Stack, docker, note, on, probe, record, settle, version_of
from tests.engine.test_deploy import SIBLINGS, fetch, wait_serving
from tests.engine.test_faults import Background, release
from zdd.lock import lock_path

pytestmark = pytest.mark.docker


def in_rotation(stack: Stack) -> set[str]:
    """The siblings whose current address the proxy's zdd-rendered upstream holds."""
    containers = stack.containers()
    text = docker(
        "exec", containers["proxy"]["Id"], "cat", "/etc/nginx/zdd/app/servers.conf", check=False
    )
    return {
        sibling
        for sibling in SIBLINGS
        if sibling in containers
        and any(
            f"{net['IPAddress']}:3000;" in text
            for net in containers[sibling]["NetworkSettings"]["Networks"].values()
            if net.get("IPAddress")
        )
    }


def routing_healed(stack: Stack) -> bool:
    """Every healthy sibling is in rotation, and nothing that is not running is."""
    containers = stack.containers()
    running = {s for s in SIBLINGS if s in containers and containers[s]["State"]["Running"]}
    healthy = {
        s
        for s in running
        if (containers[s]["State"].get("Health") or {}).get("Status") == "healthy"
    }
    return healthy <= in_rotation(stack) <= running


def all_back(stack: Stack) -> bool:
    """Every sibling runs (the one zdd was replacing too: its new container), is healthy and
    is in rotation."""
    containers = stack.containers()
    healthy = {
        s
        for s in SIBLINGS
        if s in containers
        and containers[s]["State"]["Running"]
        and (containers[s]["State"].get("Health") or {}).get("Status") == "healthy"
    }
    return healthy == set(SIBLINGS) == in_rotation(stack)


def seconds_until(condition: Callable[[], bool], limit: float = 60) -> float:
    """How long until `condition` holds (polled every 0.1 s, at most `limit` s)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit, "never reached"
        time.sleep(0.1)
    return time.monotonic() - started


KILLS = {
    # compose version: (signal, what zdd is doing: a line it printed, or `up` for the compose
    # command itself). Each signal on each version, each point on one at least, `up` on both.
    "v1": [
        (signal.SIGKILL, "stop -- service_a"),  # the heal starts service_a again
        (signal.SIGKILL, "up"),  # the heal runs `compose up` again (v1)
        (signal.SIGHUP, "# drain service_a"),
    ],
    "v2": [
        (signal.SIGKILL, "# drain service_a"),
        (signal.SIGKILL, "up"),  # `compose up` outlives zdd (v2)
        (signal.SIGKILL, "--force-recreate -- service_a"),  # the gate: 3 s of warm-up
        (signal.SIGHUP, "--force-recreate -- service_a"),
    ],
}


@pytest.mark.parametrize("compose_cmd", list(KILLS), indirect=True)
def test_a_killed_deploy_heals_itself(stack: Stack, compose_cmd: str) -> None:
    """SIGKILL and SIGHUP at the points of KILLS, one after the other on one stack, under the
    probe: no zdd command is run, yet every ready sibling is back in rotation within seconds,
    and the next deploy (which replaces a sibling left stopped first) serves throughout."""
    kills = KILLS[version_of(compose_cmd)]
    stack.env["WARMUP_SECONDS"] = "3"
    stack.deploy()
    load = probe(stack.url).start()
    took = []
    for number, (sig, point) in enumerate(kills, start=2):
        release(stack, str(number))
        deploy = Background(stack)
        if point == "up":
            deploy.wait_for_command("up")
        else:
            deploy.wait_for(point)
        deploy.process.send_signal(sig)
        code = deploy.finish()
        routed = seconds_until(lambda: routing_healed(stack))
        back = seconds_until(lambda: all_back(stack))  # includes a new container's warm-up
        took.append(routed)
        assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130), deploy.lines
        name = signal.Signals(sig).name
        note(
            f"{name} {point!r} [{stack.compose_cmd}]: every ready sibling in rotation "
            f"{routed:.1f} s after zdd ended; all back, healthy, in rotation {routed + back:.1f} s"
        )
    report = load.stop()
    record(f"SIGKILL/SIGHUP x{len(kills)}: while healing", stack, f"max {max(took):.1f}s", report)
    assert report.failed == 0, report.summary()

    release(stack, "9")
    result = stack.zdd("deploy", "--verify", stack.url)
    assert result.returncode == 0, result.stderr
    assert "failed" in result.stderr and ", 0 failed" in result.stderr, result.stderr
    assert in_rotation(stack) == set(SIBLINGS)


def test_the_proxy_recreated_or_the_stack_restarted_serves_without_zdd(stack: Stack) -> None:
    stack.deploy()
    compose = [*stack.compose_cmd.split(), "-f", stack.compose_file, "-p", stack.project]

    def compose_run(*args: str) -> None:
        subprocess.run(
            [*compose, *args], check=True, cwd=stack.directory, env=stack.environ(),
            capture_output=True, timeout=300,
        )  # fmt: skip

    for what, commands in (
        ("proxy recreated", [("up", "-d", "--force-recreate", "proxy")]),
        ("down + up -d", [("down",), ("up", "-d")]),
    ):
        for command in commands:
            compose_run(*command)
        wait_serving(stack.url)
        load = probe(stack.url).start()
        report = settle(load, 300)
        record(f"after {what}, no zdd run", stack, "", report)
        assert report.failed == 0, report.summary()
        assert report.requests >= 300
        status = stack.zdd("status")
        assert "routes to no sibling zdd rendered: run zdd heal" in status.stdout, status.stdout
    heal = stack.zdd("heal")
    assert heal.returncode == 0, heal.stderr
    assert "every ready sibling is in rotation" in heal.stderr
    assert in_rotation(stack) == set(SIBLINGS)


def test_a_proxy_killed_mid_deploy_is_started_again(stack: Stack) -> None:
    stack.env["WARMUP_SECONDS"] = "2"
    stack.deploy()
    release(stack, "2")
    deploy = Background(stack)
    deploy.wait_for("# drain service_a")
    docker("kill", stack.containers()["proxy"]["Id"])
    code = deploy.finish()
    assert code == 0, "\n".join(deploy.lines[-4:])
    assert any("had stopped: started it again" in line for line in deploy.lines), deploy.lines
    assert in_rotation(stack) == set(SIBLINGS)
    assert {fetch(stack.url)["version"][:2] for _ in range(10)} == {"2-"}


def make_foreign(path: Path) -> None:
    """A lock file that another user (nobody) made."""
    path.write_text("x")
    os.chown(path, 65534, 65534)


@on("v1")  # the lock is the engine's; the other lock test runs v2
def test_the_lock_is_private_and_one_per_engine(stack: Stack, tmp_path: Path) -> None:
    stack.deploy()
    release(stack, "2")
    first = Background(stack)
    first.wait_for("build")
    same_engine = stack.zdd("deploy", env={"DOCKER_HOST": "unix:///var/run/docker.sock"})
    assert same_engine.returncode == 4, same_engine.stderr
    assert first.finish() == 0, first.lines

    engine = "engine " + docker("info", "--format", "{{.ID}}").strip()
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    path = lock_path(stack.project, engine, {"ZDD_LOCK_DIR": str(locks)})
    precious = tmp_path / "precious"
    precious.write_text("root's\n")
    faults: list[tuple[Callable[[], None], str]] = [
        (lambda: path.symlink_to(precious), "a symlink"),
        (lambda: os.mkfifo(path), "not a regular file"),
        (lambda: make_foreign(path), "owned by uid 65534, not by you"),
    ]
    for bad, words in faults:
        bad()
        result = stack.zdd("deploy", env={"ZDD_LOCK_DIR": str(locks)}, timeout=60)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"zdd: error: unsafe lock {path}: {words}; remove it or set ZDD_LOCK_DIR"
        ]
        path.unlink()
    assert precious.read_text() == "root's\n"
