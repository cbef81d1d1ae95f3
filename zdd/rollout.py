"""Execute a plan: run each step in order, report progress, stop at the first failure."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from zdd.containers import Container, inspect, project_containers
from zdd.errors import ComposeCommandError, DeployError, UsageError
from zdd.health import GateError, wait_healthy, wait_http, wait_running
from zdd.plan import Command, Gate, GatePolicy, Plan, RotateAction
from zdd.proxy import NoRotation, Rotation
from zdd.runner import Runner


@dataclass(frozen=True)
class Event:
    """One progress event: `kind` is step, warning or summary."""

    kind: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)


Reporter = Callable[[Event], None]

# Runs inside the new container (`sh -s -- URL`): the readiness URL is requested from the
# container itself, so it works where container IPs are not reachable from the host.
HTTP_CHECK = """
url=$1
if command -v curl >/dev/null 2>&1; then exec curl -fsS -o /dev/null -m 2 "$url"; fi
if command -v wget >/dev/null 2>&1; then exec wget -q -O /dev/null -T 2 "$url"; fi
for py in python3 python; do
    if command -v $py >/dev/null 2>&1; then
        exec $py -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=2)' "$url"
    fi
done
echo "no curl, wget or python in the container to request $url" >&2
exit 127
"""


@dataclass
class Rollout:
    """Runs a plan against the engine."""

    runner: Runner
    project: str
    report: Reporter
    rotation: Rotation = field(default_factory=NoRotation)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    ready: dict[str, Container] = field(default_factory=dict)  # sibling -> its gated container

    def run(self, plan: Plan) -> None:
        """Run every step; raise a ZddError at the first that fails."""
        started = self.clock()
        self.rotation.sync()
        for step in plan.steps:
            step_started = self.clock()
            if isinstance(step, Command):
                self._command(step)
            elif isinstance(step, Gate):
                self.ready[step.service] = self._gate(step)
            elif step.action is RotateAction.DRAIN:
                self.rotation.drain(step.service)
            else:
                self.rotation.admit(step.service, self.ready[step.service])
            self.report(
                Event(
                    "step",
                    step.describe(),
                    {"service": step.service, "seconds": round(self.clock() - step_started, 2)},
                )
            )
        total = round(self.clock() - started, 2)
        self.report(
            Event(
                "summary",
                f"replaced {len(plan.siblings)} sibling(s) in {total:g} s",
                {"siblings": list(plan.siblings), "seconds": total},
            )
        )

    def _command(self, step: Command) -> None:
        try:
            self.runner.run(step.argv)
        except ComposeCommandError as err:
            if step.service is None:  # the build: nothing was changed yet
                raise DeployError(f"build failed, nothing was changed: {err}") from err
            raise

    def _gate(self, gate: Gate) -> Container:
        read = self._reader(gate.service)
        if gate.policy is GatePolicy.HEALTHCHECK or read().health is not None:
            return wait_healthy(read, gate.budget, clock=self.clock, sleep=self.sleep)
        if gate.policy is GatePolicy.HTTP:
            answers = partial(self._answers, gate.url)
            return wait_http(
                read, answers, gate.url, gate.budget, clock=self.clock, sleep=self.sleep
            )
        return wait_running(read, gate.delay, sleep=self.sleep)

    def _answers(self, url: str, container_id: str) -> bool:
        """Whether `url`, requested inside the container, answers 2xx."""
        argv = ["docker", "exec", "-i", container_id, "sh", "-s", "--", url]
        try:
            self.runner.run(argv, stdin=HTTP_CHECK, timeout=10)
        except ComposeCommandError as err:
            if err.returncode == 127:
                raise GateError(f"cannot probe {url}: {err.stderr.strip()}") from err
            return False
        return True

    def _reader(self, service: str) -> Callable[[], Container]:
        """Find the service's new container once, then inspect only it."""
        containers = project_containers(self.runner, self.project, service)
        if not containers:
            raise GateError(f"{service}: no container after `up`")
        if len(containers) > 1:
            raise UsageError(
                f"{service}: zdd replaces one container per sibling, found {len(containers)}"
            )
        container_id = containers[0].id

        def read() -> Container:
            found = inspect(self.runner, [container_id])
            if not found:
                raise GateError(f"{service}: container {container_id[:12]} disappeared")
            return found[0]

        return read
