"""Engine tier: a real Docker engine, real compose v2 and v1, the demo stack, a real probe.

One engine and one set of base images (scripts/engine-up.sh, scripts/images.sh) serve the
whole session; each test gets its own project name, loopback port and a copy of the demo
files, and a teardown that removes everything labelled with its project.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MEASURED
from zdd.history import history_repo
from zdd.probe import Probe, Report

REPO = Path(__file__).resolve().parents[2]
COMPOSE = {"v2": "docker compose", "v1": "docker-compose"}
BASE_IMAGES = {
    "ZDD_PYTHON_IMAGE": "zdd/python-base:bookworm",
    "ZDD_NGINX_IMAGE": "zdd/nginx-base:bookworm",
}
NETFILTER_IMAGE = "zdd/netfilter:bookworm"  # --drain-image's helper (iptables, ss)


def _unavailable(reason: str) -> None:
    """Skip where no engine can be had; fail in CI (ZDD_REQUIRE_ENGINE=1)."""
    if os.environ.get("ZDD_REQUIRE_ENGINE"):
        pytest.fail(f"engine tier required but unavailable: {reason}")
    pytest.skip(reason)


def _ok(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, check=False, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def engine() -> None:
    """A reachable engine with the demo's base images."""
    if not shutil.which("docker") or not _ok(["docker", "info"]):
        _unavailable("no Docker engine (run scripts/engine-up.sh)")
    for image in [*BASE_IMAGES.values(), NETFILTER_IMAGE]:
        if not _ok(["docker", "image", "inspect", image]):
            _unavailable(f"base image {image} missing (run scripts/images.sh)")


@pytest.fixture(scope="session", params=sorted(COMPOSE))
def compose_cmd(request: pytest.FixtureRequest, engine: None) -> str:
    """Each compose version in turn, unless the test chose (`pairwise`, `on`)."""
    command = COMPOSE[request.param]
    if not _ok([*command.split(), "version"]):
        _unavailable(f"{command} is not installed (run scripts/engine-up.sh)")
    return command


def version_of(command: str) -> str:
    """`v2` or `v1`: the key of a compose command in COMPOSE."""
    return next(version for version, known in COMPOSE.items() if known == command)


def on(version: str) -> pytest.MarkDecorator:
    """Run a test with one compose version only: for behaviour the compose version does not
    enter (nginx's drain, the engine's lock), where a sibling test runs the other version."""
    return pytest.mark.parametrize("compose_cmd", [version], indirect=True)


def pairwise(names: str, cases: Sequence[Any], both: Sequence[Any] = ()) -> pytest.MarkDecorator:
    """Each case on one compose version, v2 and v1 in turn; the cases in `both` on each.

    Every case still runs and every compose version still runs the test, but not every case on
    every version: the traffic a case shapes (a warm-up, slow requests, a flaw in the release)
    meets zdd's gates and proxy, which are the same whichever compose runs the containers;
    what differs between the versions (their argv, names, networks, signals) is in every
    test on both. Order the cases so that each value of each parameter meets both versions.
    """
    rows, turn = [], 0
    for case in cases:
        values = case if isinstance(case, tuple) else (case,)
        if case in both:
            versions: tuple[str, ...] = ("v2", "v1")
        else:
            versions, turn = (("v2", "v1")[turn % 2],), turn + 1
        rows += [(version, *values) for version in versions]
    argnames = ["compose_cmd", *(n.strip() for n in names.split(","))]
    return pytest.mark.parametrize(argnames, rows, indirect=["compose_cmd"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """One test's copy of the demo stack, deployed with one compose version."""

    directory: Path
    compose_cmd: str
    project: str = field(default_factory=lambda: f"zddt{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    compose_file: str = "docker-compose.yml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {**os.environ, **BASE_IMAGES, "ZDD_DEMO_PORT": str(self.port), **self.env}
        env.pop("COMPOSE_FILE", None)
        env.pop("COMPOSE_PROJECT_NAME", None)
        return {**env, **(extra or {})}

    def zdd(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run the real CLI (`python -m zdd`) in the stack's directory."""
        argv = [sys.executable, "-m", "zdd", *args[:1], "-f", self.compose_file]
        argv += ["-p", self.project, "--compose-cmd", self.compose_cmd, *args[1:]]
        return subprocess.run(
            argv,
            check=False,
            cwd=self.directory,
            env=self.environ(env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def deploy(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """`zdd deploy` that must succeed; returns its stderr (the progress)."""
        result = self.zdd("deploy", *args, env=env)
        assert result.returncode == 0, f"zdd deploy exited {result.returncode}:\n{result.stderr}"
        return result.stderr

    def compose(self, *args: str) -> None:
        """A compose command of the user's own (the proxy they run, before any zdd)."""
        argv = [*self.compose_cmd.split(), "-f", self.compose_file, "-p", self.project, *args]
        result = subprocess.run(
            argv,
            check=False,
            cwd=self.directory,
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"

    def containers(self) -> dict[str, dict[str, Any]]:
        """service -> `docker inspect` of its (one) container, running or not."""
        ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}")
        if not ids.split():
            return {}
        # one may be removed meanwhile (a recreate): inspect prints the others all the same
        found = json.loads(docker("inspect", *ids.split(), check=False) or "[]")
        found.sort(key=lambda c: c["State"]["Running"])  # a running one wins over a leftover
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in found}

    def teardown(self) -> None:
        """Remove the project's containers, networks and images, whatever made them."""
        label = f"label=com.docker.compose.project={self.project}"
        ids = docker("ps", "-aq", "--filter", label).split()
        if ids:
            docker("rm", "-f", "-v", *ids)
        networks = docker("network", "ls", "-q", "--filter", label).split()
        if networks:
            docker("network", "rm", *networks, check=False)
        images = [
            line.split()[1]
            for line in docker("images", "--format", "{{.Repository}} {{.ID}}").splitlines()
            if line.startswith(
                (
                    f"{self.project}-",
                    f"{self.project}_",
                    f"zdd-release/{self.project}/",
                    f"{history_repo(self.project)} ",
                )
            )
        ]
        if images:
            docker("rmi", "-f", *set(images), check=False)


STARTED: list[subprocess.Popen[str]] = []  # background zdd runs, ended after each test


@pytest.fixture(autouse=True)
def _end_background_runs() -> Iterator[None]:
    """A background `zdd deploy` that a failed test left running is ended and waited for, so
    it neither outlives its test nor turns into a ResourceWarning in a later one."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(30)


def docker(*args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["docker", *args], check=False, capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


@pytest.fixture
def stack(tmp_path: Path, compose_cmd: str) -> Iterator[Stack]:
    """A private copy of the demo (compose file, service/, compose/) and its teardown."""
    created = Stack(copy_demo(tmp_path / "demo"), compose_cmd)
    try:
        yield created
    finally:
        created.teardown()


def copy_demo(directory: Path, source: Path = REPO) -> Path:
    """A private copy of `source`'s demo (compose file, service/, compose/) in `directory`."""
    directory.mkdir()
    shutil.copy(source / "docker-compose.yml", directory)
    shutil.copytree(source / "service", directory / "service")
    shutil.copytree(source / "compose", directory / "compose", symlinks=True)
    return directory


def probe(url: str, method: str = "GET", clients: int = 8) -> Probe:
    """The load probe the engine tests run during a deploy: bounded in count, time and rate.

    300 requests/s is far above the 1000-per-deploy the acceptance asks for, and leaves the
    2-core machine's CPU to the engine, so deploys under load are not slowed by the probe.
    """
    return Probe(
        url, concurrency=clients, method=method, max_requests=200_000, max_seconds=300, rate=300
    )


def settle(load: Probe, floor: int, seconds: float = 2.0, at_most: float = 60.0) -> Report:
    """Stop the probe after `seconds` more and once it has sent `floor` requests in all (at most
    `at_most` s): a busy machine answers fewer requests a second, so the tests' floor is one of
    requests, not of seconds (261 of 300 in 3 s, measured in a CI run with three engine tests
    at once)."""
    started = time.monotonic()
    load.wait(seconds)
    while len(load.report.samples) < floor and time.monotonic() - started < at_most:
        load.wait(0.2)
    return load.stop()


def served_versions(report: Report, last_seconds: float) -> set[str]:
    """The versions answered in the last `last_seconds` of the probe."""
    end = max(s.started for s in report.samples)
    return {s.version for s in report.samples if s.version and s.started >= end - last_seconds}


def record(what: str, stack: Stack, outcome: str, report: Report) -> None:
    """Keep one measured line for the end-of-run summary (and print it with -s)."""
    summary = report.summary()
    version = version_of(stack.compose_cmd)
    line = (
        f"{what:<34} compose {version}  {outcome:<14} {summary['requests']:>6} requests "
        f"{summary['failed']:>5} failed {summary['failures'] or ''} "
        f"longest failure run {summary['longest_failure_ms']} ms, p99 {summary['p99_ms']} ms"
    )
    note(line)


def note(line: str) -> None:
    """A measured line without a probe report: printed, and kept for the run's summary."""
    print(f"\nRESULT {line}")
    path = os.environ.get(MEASURED)
    if path:
        with open(path, "a", encoding="utf-8") as out:  # one short write: whole lines
            out.write(line.replace("\n", " ") + "\n")
