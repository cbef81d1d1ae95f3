"""An engine reached over SSH (an sshd on 127.0.0.1 in front of this engine): through
DOCKER_HOST=ssh:// and through a docker context, compose v2 and v1, under the probe."""

from __future__ import annotations

import glob
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.conftest import (
    NETFILTER_IMAGE,
    STARTED,
    Stack,
    on,
    pairwise,
    probe,
    record,
    settle,
)
from tests.engine.sshd import CONTEXT, SshEngine, start_sshd
from tests.engine.test_deploy import SCENARIOS
from zdd.probe import Report

pytestmark = pytest.mark.docker

SIBLINGS = ("service_a", "service_b")
DISCOVER = "./compose/proxy/discover.conf"  # the seed's kind of proxy: finds the siblings


@pytest.fixture(scope="session")
def ssh_engine(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshEngine]:
    if not Path("/usr/sbin/sshd").exists():
        pytest.fail("openssh-server is required (scripts/engine-up.sh installs it)")
    started = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield started
    finally:
        started.stop()


def _tunnels_left() -> list[str]:
    return glob.glob("/tmp/zdd-ssh-*")


def _versions(url: str, count: int = 10) -> set[str]:
    found = set()
    for _ in range(count):
        with urllib.request.urlopen(url, timeout=10) as response:
            found.add(json.loads(response.read())["version"])
    return found


@pairwise("way", ["DOCKER_HOST", "--context"])
def test_a_remote_deploy_rollback_and_status(stack: Stack, ssh_engine: SshEngine, way: str) -> None:
    env = ssh_engine.env() if way == "DOCKER_HOST" else ssh_engine.context_env()
    args = () if way == "DOCKER_HOST" else ("--context", CONTEXT)
    before = _tunnels_left()
    stack.deploy(*args, env=env)
    (stack.directory / "service" / "VERSION").write_text("2\n")
    load = probe(stack.url).start()
    result = stack.zdd("deploy", *args, env=env)
    report = settle(load, 1000, 1.0)
    record(f"remote deploy ({way})", stack, f"exit {result.returncode}", report)
    assert result.returncode == 0, result.stderr
    assert report.failed == 0 and report.requests >= 1000, report.summary()
    assert all(v.startswith("2-") for v in _versions(stack.url))

    status = stack.zdd("status", *args, env=env)
    assert status.returncode == 0, status.stderr
    assert all(sibling in status.stdout for sibling in SIBLINGS), status.stdout

    load = probe(stack.url).start()
    back = stack.zdd("rollback", *args, env=env)
    time.sleep(1)
    report = load.stop()
    record(f"remote rollback ({way})", stack, f"exit {back.returncode}", report)
    assert back.returncode == 0, back.stderr
    assert report.failed == 0, report.summary()
    assert not any(v.startswith("2-") for v in _versions(stack.url))
    assert _tunnels_left() == before, "every SSH tunnel is torn down"


def test_a_dropped_ssh_connection_is_exit_3_then_a_clean_deploy(
    stack: Stack, ssh_engine: SshEngine
) -> None:
    env = ssh_engine.env()
    stack.deploy(env=env)
    (stack.directory / "service" / "VERSION").write_text("2\n")
    stack.env["WARMUP_SECONDS"] = "6"  # the first sibling's gate lasts a while
    argv = [sys.executable, "-m", "zdd", "deploy", "-f", stack.compose_file, "-p", stack.project]
    argv += ["--compose-cmd", stack.compose_cmd]
    deploying = subprocess.Popen(
        argv,
        cwd=stack.directory,
        env=stack.environ(env),
        stderr=subprocess.PIPE,
        text=True,
    )
    STARTED.append(deploying)
    assert deploying.stderr is not None
    lines = []
    for line in deploying.stderr:  # bounded: the deploy ends, or its gate line comes
        lines.append(line)
        if " up " in line and "service_a" in line:
            break
    time.sleep(1)
    killed = subprocess.run(["pkill", "-f", "ssh .*-L /tmp/zdd-ssh-"], check=False)
    assert killed.returncode == 0, "the tunnel's ssh was running"
    _, rest = deploying.communicate(timeout=300)
    said = "".join(lines) + rest
    assert deploying.returncode == 3, said
    last = said.strip().splitlines()[-1]
    assert "service_a" in last and "the SSH connection to ssh://" in last, last

    stack.env.pop("WARMUP_SECONDS")
    again = stack.zdd("deploy", env=env)
    assert again.returncode == 0, again.stderr
    assert all(v.startswith("2-") for v in _versions(stack.url, 20))
    containers = stack.containers()
    assert all(containers[s]["State"]["Running"] for s in SIBLINGS)


@on("v2")  # the helper is the engine's
def test_a_drain_from_inside_works_on_a_remote_engine(stack: Stack, ssh_engine: SshEngine) -> None:
    """--drain-image over SSH: the helper runs on the remote engine, in the old container's
    network namespace there; an app cut by SIGTERM behind a discovery proxy fails no request."""
    env = ssh_engine.env()
    stack.env.update(SCENARIOS["slow-abrupt-post"][0], ZDD_NGINX_CONF=DISCOVER)
    stack.compose("up", "-d", "--", "proxy")  # the user's proxy: zdd starts only its own
    stack.deploy("--proxy", "discovery", env=env)
    (stack.directory / "service" / "VERSION").write_text("2\n")
    load = probe(stack.url, "POST", 160).start()
    result = stack.zdd(
        "deploy", "--proxy", "discovery", "--drain-image", NETFILTER_IMAGE, "--json", env=env
    )
    report = settle(load, 1000)
    record("remote, discovery drained inside", stack, f"exit {result.returncode}", report)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    steps = [(e["kind"], e["seconds"], e["message"]) for e in events if e["event"] == "step"]
    assert report.failed == 0, (report.summary(), steps, failed_at(report))
    drains = [e["connections"] for e in events if e.get("kind") == "drain"]
    assert len(drains) == 2 and all(d["open"] > 0 and d["cut"] == 0 for d in drains), drains
    assert all(v.startswith("2-") for v in _versions(stack.url))


def failed_at(report: Report) -> list[tuple[float, float, str]]:
    """When each failed request started and ended, from the probe's first request (s)."""
    origin = min(s.started for s in report.samples)
    return [
        (round(s.started - origin, 2), round(s.started + s.seconds - origin, 2), str(s.failure))
        for s in report.samples
        if s.failure
    ][:40]
