"""Execute a plan: run each step, put a failed sibling back, stop cleanly on a signal."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from zdd.containers import Container, inspect, passes_check, project_containers
from zdd.errors import (
    ComposeCommandError,
    ComposeUnavailableError,
    DeployError,
    InterruptedDeployError,
    RollbackError,
    UsageError,
    ZddError,
)
from zdd.health import GateError, wait_healthy, wait_http, wait_running, watch
from zdd.plan import (
    Command,
    Gate,
    GatePolicy,
    GateSource,
    Plan,
    Retag,
    Retire,
    Rotate,
    RotateAction,
    Step,
    Verb,
    down_first,
)
from zdd.proxy import NoRotation, Rotation
from zdd.releases import Ledger
from zdd.runner import ComposeCli, Runner, check_engine


@dataclass(frozen=True)
class Event:
    """One progress event: `kind` is step, warning or summary."""

    kind: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)


Reporter = Callable[[Event], None]
REPLACING = (Verb.STOP, Verb.UP)  # once one of these ran, the sibling's old container is gone

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
    """Runs a plan against the engine; a failed sibling goes back to its previous image."""

    runner: Runner
    cli: ComposeCli
    project: str
    report: Reporter
    rotation: Rotation = field(default_factory=NoRotation)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    before: dict[str, Container] = field(default_factory=dict)  # sibling -> its old container
    ready: dict[str, Container] = field(default_factory=dict)  # sibling -> its gated container
    # a step is about to run; with the id of its sibling's old container ("" when none)
    on_step: Callable[[Step, str], None] = lambda step, old: None
    stop_requested: bool = False
    changing: bool = False  # from the first sibling's turn on: signals wait for its end
    targets: dict[str, str] = field(default_factory=dict)  # rollback: sibling -> image id
    images: dict[str, str] = field(default_factory=dict)  # sibling -> image name (Plan.images)
    waited: float = 0.0  # seconds spent sleeping between polls of a gate
    gate_said: dict[str, str] = field(default_factory=dict)  # a gate the plan could not know
    healed: bool = False  # the proxy was brought in line with the engine at the start
    proxy: str = "none"  # the proxy mode, for the summary's word on routing
    olds: dict[str, list[Container]] = field(default_factory=dict)  # single -> its containers
    fresh: dict[str, list[Container]] = field(default_factory=dict)  # single -> its gated new
    ledger: Ledger = field(init=False)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.runner, self.project)

    def _wait(self, seconds: float) -> None:
        self.waited += seconds
        self.sleep(seconds)

    def run(self, plan: Plan) -> None:
        """Run every step; on a failure put that sibling back and raise; on a signal, finish
        the sibling in progress (or stop the build at once), then raise."""
        started = self.clock()
        spent, calls = self.runner.seconds, self.runner.calls
        try:
            with self._signals():
                self._steps(plan)
            for err in self.ledger.flush():
                self.report(Event("warning", f"release tag not written: {err}"))
        finally:
            self.ledger.flush()  # a failed deploy: its background tagging still completes
        total = round(self.clock() - started, 2)
        replaced = [f"{len(plan.siblings)} sibling(s)"] if plan.siblings else []
        replaced += [
            f"{s} start-first ({len(self.fresh.get(s, []))} new container(s))" for s in plan.singles
        ]
        self.report(
            Event(
                "summary",
                f"replaced {', '.join(replaced)} in {total:g} s; {self.routing}",
                {
                    "siblings": list(plan.siblings),
                    "services": list(plan.singles),
                    "seconds": total,
                    "proxy": self.proxy,
                    "routing_controlled": self.proxy == "nginx",
                    # where the rollout's time went (bench/): the rest is zdd's own work
                    "commands": self.runner.calls - calls,
                    "command_seconds": round(self.runner.seconds - spent, 3),
                    "waited_seconds": round(self.waited, 3),
                },
            )
        )
        if self.stop_requested:
            raise InterruptedDeployError("interrupted after the last sibling: all replaced")

    @property
    def routing(self) -> str:
        """The summary's promise: whether zdd controlled which containers got requests."""
        if self.proxy == "nginx":
            return "zdd controlled the routing (its nginx)"
        if self.proxy == "external":
            return "routing was your hooks' (zdd ran them)"
        if self.proxy == "discovery":
            return (
                "zdd did not control the routing (proxy: discovery): new containers joined "
                "the proxy's network only once ready; old ones were not drained"
            )
        return f"zdd did not control the routing (proxy: {self.proxy})"

    def _start(self, plan: Plan) -> Plan:
        """One snapshot of the project's containers: the proxy reconciled with it (healed), the
        old containers, the rollback targets; the release tags are listed in the background
        meanwhile. Siblings that are not serving go first; an order that would drain a
        group's last sibling in rotation is refused here, before any change."""
        try:
            containers = project_containers(self.runner, self.project)
        except ComposeCommandError:
            check_engine(self.runner)  # an engine that is down is exit 3, said clearly
            raise
        self.ledger.prefetch()  # listed while the build runs
        self.healed = self.rotation.sync(containers)
        self.before = {c.service: c for c in containers if c.running}
        for unit, expected in plan.existing.items():
            self.olds[unit] = [c for c in containers if c.service == unit]
            if expected >= 0 and expected != len(self.olds[unit]):
                raise UsageError(
                    f"{unit} has {len(self.olds[unit])} container(s), not the {expected} "
                    "zdd planned for: something changed it meanwhile; run zdd again"
                )
        self.images = dict(plan.images)
        self.targets = self._rollback_targets(plan)
        down = [s for s in plan.siblings if not self._serving(s)]
        ordered = down_first(plan, down)
        if ordered.steps != plan.steps:
            self.report(Event("warning", f"not serving now, so replaced first: {', '.join(down)}"))
        turns = dict.fromkeys(step.service for step in ordered.steps if step.service is not None)
        self.rotation.check_order(list(turns))
        return ordered

    def _image_name(self, container: Container) -> str:
        """The name compose (the binary in use) runs the container's service from: its own
        image name when the other compose major created the container."""
        return self.images.get(container.service) or container.image

    def _serving(self, sibling: str) -> bool:
        """In rotation, where zdd manages it; else running."""
        serving = self.rotation.serving(sibling)
        return sibling in self.before if serving is None else serving

    def _steps(self, plan: Plan) -> None:
        try:
            plan = self._start(plan)
            self._each_step(plan)
        except KeyboardInterrupt:  # raised only until the first sibling's turn begins
            self._restore_untouched_tags(plan)
            raise InterruptedDeployError(
                f"interrupted before any sibling was touched: {self._unchanged()}"
            ) from None

    def _unchanged(self) -> str:
        """What a deploy that ends before the first sibling's turn changed: nothing, or the
        proxy it brought in line with the engine at its start (said then, line by line)."""
        if self.healed:
            return "no sibling was replaced (only the proxy was healed, as said above)"
        return "nothing was changed"

    def _each_step(self, plan: Plan) -> None:
        sibling: str | None = None
        done: list[Step] = []
        warned = False
        for step in plan.steps:
            if step.service != sibling:
                self._between_siblings(sibling, plan)
                sibling, done = step.service, []
            step_started = self.clock()
            if step.service is not None:  # from the first sibling's turn on, for good
                self.changing = True
            old = self.before.get(step.service) if step.service is not None else None
            if isinstance(step, Retire):  # the guardian's heal must not admit these again
                self.on_step(step, ",".join(c.id for c in self.olds.get(step.service, [])))
            elif step.service in plan.existing:  # start-first: the old ones serve till retired
                self.on_step(step, "")
            else:
                self.on_step(step, old.id if old is not None else "")
            try:
                self._step(step)
            except ZddError as err:
                self._check_engine(sibling, err)
                self._restore_untouched_tags(plan)
                if sibling is None:
                    verb = step.verb if isinstance(step, Command) else "build"
                    raise DeployError(f"{verb} failed, {self._unchanged()}: {err}") from err
                if sibling in plan.existing:
                    outcome = self._recover_start_first(sibling, done, step)
                else:
                    outcome = self._recover(sibling, done, step, plan)
                message = f"{err}; {outcome}; the siblings after it were not touched"
                raise DeployError(message) from err
            done.append(step)
            seconds = round(self.clock() - step_started, 2)
            data = {"service": step.service, "kind": step.kind, "seconds": seconds}
            said = self.gate_said.pop(step.service, "") if isinstance(step, Gate) else ""
            self.report(Event("step", said or step.describe(), data))  # what zdd really did
            if self.stop_requested and step.service is not None and not warned:
                warned = True
                self.report(Event("warning", f"stopping once {step.service} is done"))
        self._between_siblings(sibling, plan)

    def _rollback_targets(self, plan: Plan) -> dict[str, str]:
        """`zdd rollback`: each sibling's previous release, found before anything changes."""
        targets: dict[str, str] = {}
        for step in plan.steps:
            if not isinstance(step, Retag):
                continue
            current = self.before.get(step.service)
            if current is None:
                raise UsageError(f"{step.service} is not running: nothing to roll back")
            target = self.ledger.previous(step.service, current.image_id)
            if target is None:
                raise UsageError(f"{step.service}: no previous release to roll back to")
            targets[step.service] = target
        return targets

    def _check_engine(self, sibling: str | None, err: ZddError) -> None:
        """A step failed: if the engine itself is gone, say so (exit 3) and change nothing more."""
        try:
            check_engine(self.runner)
        except ComposeUnavailableError as down:
            where = f"while replacing {sibling}" if sibling else "during the build"
            raise ComposeUnavailableError(
                f"the Docker engine stopped answering {where} ({err}); nothing more was "
                "changed: run zdd deploy again once the engine is back"
            ) from down

    def _restore_untouched_tags(self, plan: Plan) -> None:
        """The build re-tagged the image of each sibling it built itself: point the untouched
        ones back, so that a later plain `compose up` does not start the new build unannounced.
        (Siblings that share their base's image are tagged only in their own turn.)"""
        for sibling in plan.built:
            old = self.before.get(sibling)
            if old is not None and sibling not in self.ready:
                self.runner.run(["docker", "tag", old.image_id, self._image_name(old)])

    def _between_siblings(self, finished: str | None, plan: Plan) -> None:
        if finished is not None and finished in self.ready:
            self.ledger.record(finished, self.ready[finished].image_id, wait=False)
        if self.stop_requested:
            self._restore_untouched_tags(plan)
            replaced = [s for s in plan.units if s in self.ready]
            raise InterruptedDeployError(
                f"interrupted: replaced {', '.join(replaced) or 'none'}, the others untouched; "
                "every sibling is serving"
            )

    def _step(self, step: Step) -> None:
        if isinstance(step, Command):
            if step.verb is Verb.STOP and step.service in self.before:
                old = self.before[step.service]
                self.ledger.record(old.service, old.image_id)
            self.runner.run(step.argv)
        elif isinstance(step, Gate) and step.containers:
            self.fresh[step.service] = self._gate_new(step)
            self.ready[step.service] = self.fresh[step.service][0]
        elif isinstance(step, Gate):
            self.ready[step.service] = self._gate(step)
        elif isinstance(step, Retire):
            self._retire(step)
        elif isinstance(step, Retag):
            current = self.before[step.service]
            target = self.targets[step.service]
            self.runner.run(["docker", "tag", target, self._image_name(current)])
        elif step.start_first and step.action is RotateAction.ADMIT:
            self.rotation.route(step.service, admit=self.fresh[step.service])
        elif step.start_first:
            self.rotation.route(step.service, drain=self.olds[step.service])
        elif step.action is RotateAction.DRAIN:
            self.rotation.drain(step.service)
        else:
            self.rotation.admit(step.service, self.ready[step.service])

    def _recover(self, sibling: str, done: Sequence[Step], failed: Step, plan: Plan) -> str:
        """Put the sibling back on the container or image it had; say what was done."""
        old = self.before.get(sibling)
        if old is None:
            self.runner.run(self.cli.stop(sibling, None))
            return f"{sibling} had no previous version to go back to: its new container is stopped"
        replaced = any(isinstance(s, Command) and s.verb in REPLACING for s in (*done, failed))
        self.report(Event("warning", f"rolling {sibling} back to image {old.image_id[7:19]}"))
        try:
            self.runner.run(["docker", "tag", old.image_id, self._image_name(old)])
            if not replaced:  # only drained (or retagged): the old container still runs
                self.rotation.admit(sibling, old)
                return f"{sibling} kept its running container"
            self.runner.run(self.cli.up(sibling))
            gate = next(s for s in plan.steps if isinstance(s, Gate) and s.service == sibling)
            self.rotation.admit(sibling, self._gate(gate))
        except ZddError as err:
            raise RollbackError(
                f"rollback of {sibling} failed ({err}); now: {self._state()}"
            ) from err
        return f"{sibling} is back on its previous version"

    def _retire(self, step: Retire) -> None:
        """Stop the unit's old containers gracefully, then remove them."""
        olds = self.olds.get(step.service, [])
        if not olds:
            return
        self.ledger.record(step.service, olds[0].image_id)
        ids = [c.id for c in olds]
        flags = ["-t", str(step.stop_timeout)] if step.stop_timeout is not None else []
        self.runner.run(["docker", "stop", *flags, "--", *ids], timeout=None)
        self.runner.run(["docker", "rm", "--", *ids])

    def _recover_start_first(self, service: str, done: Sequence[Step], failed: Step) -> str:
        """Start-first failed before the old containers were retired: the old ones back in
        rotation (if drained), the new ones removed, the image name back on the old image."""
        olds = self.olds.get(service, [])
        if isinstance(failed, Retire):
            ids = " ".join(c.id[:12] for c in olds)
            return f"its new containers serve; stopping the old ones failed: docker rm -f {ids}"
        steps = [s for s in (*done, failed) if isinstance(s, Rotate)]
        drained = any(s.action is RotateAction.DRAIN for s in steps)
        try:
            kept = {c.id for c in olds}
            new = [c for c in project_containers(self.runner, self.project, service)]
            new = [c for c in new if c.id not in kept]
            if steps and olds:
                self.rotation.route(service, admit=olds if drained else (), drain=new)
            if new:
                self.runner.run(["docker", "rm", "-f", "--", *(c.id for c in new)])
            if olds:
                self.runner.run(["docker", "tag", olds[0].image_id, self._image_name(olds[0])])
        except ZddError as err:
            raise RollbackError(
                f"rollback of {service} failed ({err}); now: {self._state()}"
            ) from err
        if not olds:
            return f"{service} had no previous version: its new containers are removed"
        running = sum(c.running for c in olds)
        return f"{service} kept its {running} old container(s); the new ones are removed"

    def _gate_new(self, gate: Gate) -> list[Container]:
        """Start-first: gate each of the unit's new containers (started together, so the wait
        is about the slowest one's)."""
        kept = {c.id for c in self.olds.get(gate.service, [])}
        found = project_containers(self.runner, self.project, gate.service)
        new = [c for c in found if c.id not in kept]
        if len(new) != gate.containers:
            raise GateError(
                f"{gate.service}: {len(new)} new container(s) after `up --scale`, "
                f"not {gate.containers}"
            )
        if gate.held:
            new = self._start_held(gate.service, new)
        return [self._gate(gate, container) for container in new]

    def _start_held(self, service: str, created: list[Container]) -> list[Container]:
        """Containers compose created without starting: out of the proxy's reach, started."""
        self.rotation.hold(service, created)
        self.runner.run(["docker", "start", "--", *(c.id for c in created)])
        return inspect(self.runner, [c.id for c in created])

    def _state(self) -> str:
        try:
            containers = project_containers(self.runner, self.project)
        except ZddError as err:
            return f"unknown ({err})"
        return "; ".join(f"{c.service} {c.status} {c.health or ''}".strip() for c in containers)

    def _gate(self, gate: Gate, container: Container | None = None) -> Container:
        if gate.held and container is None:  # a sibling, stop-first: created, not started
            created = project_containers(self.runner, self.project, gate.service)
            if len(created) == 1 and created[0].status == "created":
                container = self._start_held(gate.service, created)[0]
        container_id, read = self._reader(gate.service, container)
        try:
            new = read()
            planned = gate.policy is GatePolicy.HEALTHCHECK
            if planned and new.health is None and gate.source is GateSource.IMAGE:
                # the plan saw the old image's HEALTHCHECK; the new image has none
                self.gate_said[gate.service] = (
                    f"# wait {gate.delay:g} s, then check {gate.service} runs (its new image "
                    "has no HEALTHCHECK, unlike the one the plan saw)"
                )
                ready = wait_running(read, gate.delay, sleep=self._wait)
            elif planned or new.health is not None:
                budget = gate.budget
                if not planned:  # a HEALTHCHECK the plan could not see: the engine runs it
                    budget = gate.health_timeout or new.check_budget or gate.budget
                    self.gate_said[gate.service] = (
                        f"# wait until {gate.service} is healthy (its new image's HEALTHCHECK, "
                        f"at most {budget:g} s)"
                        + (f", then watch it {gate.monitor:g} s" if gate.monitor else "")
                    )
                ready = wait_healthy(
                    read,
                    budget,
                    passes=partial(passes_check, self.runner),
                    clock=self.clock,
                    sleep=self._wait,
                )
            elif gate.policy is GatePolicy.HTTP:
                answers = partial(self._answers, gate.url)
                ready = wait_http(
                    read, answers, gate.url, gate.budget, clock=self.clock, sleep=self._wait
                )
            else:
                ready = wait_running(read, gate.delay, sleep=self._wait)
            if gate.monitor:
                ready = watch(read, gate.monitor, clock=self.clock, sleep=self._wait)
            return ready
        except GateError as err:
            raise GateError(f"{err}{self._log_tail(container_id)}") from err

    def _log_tail(self, container_id: str) -> str:
        try:
            argv = ["docker", "logs", "--tail", "3", container_id]
            output = self.runner.run(argv, merge_stderr=True)
        except ZddError:
            return ""
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        return f"; log: {' | '.join(lines)}" if lines else ""

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

    def _reader(
        self, service: str, given: Container | None = None
    ) -> tuple[str, Callable[[], Container]]:
        """Find the service's new container once (unless `given`), then inspect only it
        (from the third read: the first two are the gate's start and its restart-count
        baseline)."""
        containers = [given] if given else project_containers(self.runner, self.project, service)
        if not containers:
            raise GateError(f"{service}: no container after `up`")
        if len(containers) > 1:
            raise UsageError(
                f"{service}: zdd replaces one container per sibling, found {len(containers)}"
            )
        container_id = containers[0].id
        fresh = [containers[0]] * 2  # the lookup's own inspect serves the gate's first reads

        def read() -> Container:
            if fresh:
                return fresh.pop()
            found = inspect(self.runner, [container_id])
            if not found:
                raise GateError(f"{service}: container {container_id[:12]} disappeared")
            return found[0]

        return container_id, read

    @contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGINT, SIGTERM, SIGHUP (a closed terminal, a dropped SSH session) and SIGQUIT: at
        once while nothing has changed yet (the build); once a sibling is being replaced, only
        after it is done, so that no sibling is left half-replaced."""

        def request_stop(signum: int, _frame: object) -> None:
            if not self.changing:
                raise KeyboardInterrupt
            self.stop_requested = True

        previous = {
            sig: signal.signal(sig, request_stop)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
            # `nohup zdd deploy`: a hang-up is ignored, as the user asked
            if not (sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
