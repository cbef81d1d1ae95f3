"""What a rollout goes back to when a unit's turn fails, and how: a sibling back on its old
container or image (stop-first), a single service's old containers back in rotation and the
new ones removed (start-first), and the image names the build moved put back."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from zdd.compose import ComposeCli
from zdd.containers import Container, project_containers
from zdd.errors import RollbackError, UsageError, ZddError
from zdd.events import Event, Reporter
from zdd.gating import Gating
from zdd.plan import Command, Gate, Plan, Retag, Retire, Rotate, RotateAction, Step, Verb
from zdd.ports import CommandRunner
from zdd.project import UpdatePolicy
from zdd.proxy import Rotation
from zdd.releases import Ledger

REPLACING = (Verb.STOP, Verb.UP)  # once one of these ran, the sibling's old container is gone


@dataclass(frozen=True)
class Baseline:
    """What the project ran when the rollout started: what a failed unit goes back to."""

    before: Mapping[str, Container] = field(default_factory=dict)  # sibling -> old container
    olds: Mapping[str, list[Container]] = field(default_factory=dict)  # start-first unit -> all
    images: Mapping[str, str] = field(default_factory=dict)  # unit -> image name (Plan.images)
    targets: Mapping[str, str] = field(default_factory=dict)  # rollback: sibling -> image id
    healed: bool = False  # the proxy was brought in line with the engine at the start

    def image_name(self, container: Container) -> str:
        """The name compose (the binary in use) runs the container's service from: its own
        image name when the other compose major created the container."""
        return self.images.get(container.service) or container.image


def rollback_targets(plan: Plan, before: Mapping[str, Container], ledger: Ledger) -> dict[str, str]:
    """`zdd rollback`: each sibling's previous release, found before anything changes."""
    targets: dict[str, str] = {}
    for step in plan.steps:
        if not isinstance(step, Retag):
            continue
        current = before.get(step.service)
        if current is None:
            raise UsageError(f"{step.service} is not running: nothing to roll back")
        target = ledger.previous(step.service, current.image_id)
        if target is None:
            raise UsageError(f"{step.service}: no previous release to roll back to")
        targets[step.service] = target
    return targets


def restore_untouched_tags(
    runner: CommandRunner, baseline: Baseline, built: Sequence[str], ready: Collection[str]
) -> None:
    """The build re-tagged the image of each sibling it built itself: point the untouched
    ones back, so that a later plain `compose up` does not start the new build unannounced.
    (Siblings that share their base's image are tagged only in their own turn.)"""
    for sibling in built:
        old = baseline.before.get(sibling)
        if old is not None and sibling not in ready:
            runner.run(["docker", "tag", "--", old.image_id, baseline.image_name(old)])


@dataclass
class Failures:
    """The units (or batches) of a rollout that failed and were put back, and whether it goes
    on after each: `update_config.failure_action: continue`, or while their share of their
    service's units and batches (a group's siblings, a service's batches: `total`) is at most
    its `max_failure_ratio`, as Swarm counts a service's tasks."""

    total: Mapping[str, int]  # a group's base, or a single service -> its gates in the plan
    group_of: Mapping[str, str] = field(default_factory=dict)  # sibling -> its group's base
    said: list[str] = field(default_factory=list)  # each failure: what failed, what was done
    failed: dict[str, int] = field(default_factory=dict)
    last: str = ""  # the service the last failure counted for

    def goes_on(self, unit: str, policy: UpdatePolicy) -> bool:
        """Count a failure of `unit`; whether the rollout goes on after it."""
        self.last = self.group_of.get(unit, unit)
        self.failed[self.last] = self.failed.get(self.last, 0) + 1
        ratio = self.failed[self.last] <= policy.max_failure_ratio * self.total.get(self.last, 1)
        return policy.failure_action == "continue" or ratio

    def why(self, policy: UpdatePolicy) -> str:
        """Why the rollout goes on, in the file's words."""
        if policy.failure_action == "continue":
            return "update_config.failure_action: continue"
        failed, total = self.failed[self.last], self.total.get(self.last, 1)
        return f"{failed} of {total} of {self.last} failed: within its max_failure_ratio"

    def stopped(self, said: str) -> str:
        """The error of a rollout that stops at this failure."""
        text = f"{said}; the siblings after it were not touched"
        earlier = self.said[:-1]
        return text + (
            f" (failed before it, and went on: {' | '.join(earlier)})" if earlier else ""
        )

    def summary(self) -> str:
        """The error of a rollout that went on past its failures to the end."""
        total = sum(self.total.values())
        return (
            f"{len(self.said)} of {total} failed, each put back, and the rollout went on: "
            + " | ".join(self.said)
        )


@dataclass(frozen=True)
class Recovery:
    """Puts a unit whose turn failed back on what it ran before, and says what was done.
    A unit replaced in batches: `kept`, the new containers of its batches before (they serve),
    `retired`, the ids of its old ones those batches removed (`retag`: see below)."""

    runner: CommandRunner
    cli: ComposeCli
    project: str
    rotation: Rotation
    report: Reporter
    gating: Gating
    baseline: Baseline
    kept: frozenset[str] = frozenset()
    retired: frozenset[str] = frozenset()  # ids
    retag: bool = True  # False: the rollout goes on, its next batch needs the new image name

    def recover(self, sibling: str, done: Sequence[Step], failed: Step, plan: Plan) -> str:
        """Put the sibling back on the container or image it had; say what was done."""
        old = self.baseline.before.get(sibling)
        if old is None:
            if any(isinstance(s, Rotate) and s.action is RotateAction.ADMIT for s in done):
                self.rotation.drain(sibling)  # its window failed: out of rotation first
            self.runner.run(self.cli.stop(sibling, None))
            return f"{sibling} had no previous version to go back to: its new container is stopped"
        replaced = any(isinstance(s, Command) and s.verb in REPLACING for s in (*done, failed))
        self.report(Event("warning", f"rolling {sibling} back to image {old.image_id[7:19]}"))
        try:
            self.runner.run(["docker", "tag", "--", old.image_id, self.baseline.image_name(old)])
            if any(isinstance(s, Rotate) and s.action is RotateAction.ADMIT for s in done):
                self.rotation.drain(sibling)  # its window failed: out of rotation first
            if not replaced:  # only drained (or retagged): the old container still runs
                self.rotation.admit(sibling, old)
                return f"{sibling} kept its running container"
            self.runner.run(self.cli.up(sibling))
            gate = next(s for s in plan.steps if isinstance(s, Gate) and s.service == sibling)
            self.rotation.admit(sibling, self.gating.gate(gate))
        except ZddError as err:
            raise RollbackError(
                f"rollback of {sibling} failed ({err}); now: {self._state()}"
            ) from err
        return f"{sibling} is back on its previous version"

    def recover_start_first(self, service: str, done: Sequence[Step], failed: Step) -> str:
        """Start-first failed before the old containers were retired: the old ones back in
        rotation (if drained), the new ones removed, the image name back on the old image
        (unless batches before this one serve the new one)."""
        olds = [c for c in self.baseline.olds.get(service, []) if c.id not in self.retired]
        if isinstance(failed, Retire):
            ids = " ".join(c.id[:12] for c in olds)
            return f"its new containers serve; stopping the old ones failed: docker rm -f {ids}"
        steps = [s for s in (*done, failed) if isinstance(s, Rotate)]
        drained = any(s.action is RotateAction.DRAIN for s in steps)
        try:
            kept = {c.id for c in olds} | self.kept
            found = project_containers(self.runner, self.project, service)
            new = [c for c in found if c.id not in kept]
            if steps and olds:
                self.rotation.route(service, admit=olds if drained else (), drain=new)
            if new:
                self.runner.run(["docker", "rm", "-f", "--", *(c.id for c in new)])
            if olds and not self.kept and self.retag:
                image = self.baseline.image_name(olds[0])
                self.runner.run(["docker", "tag", "--", olds[0].image_id, image])
        except ZddError as err:
            raise RollbackError(
                f"rollback of {service} failed ({err}); now: {self._state()}"
            ) from err
        if not olds:
            return f"{service} had no previous version: its new containers are removed"
        alive = {c.id for c in found if c.running}
        running = sum(c.id in alive for c in olds)
        text = f"{service} kept its {running} old container(s); the new ones are removed"
        if self.kept:
            text += f" ({len(self.kept)} new one(s) of the batches before serve)"
        return text

    def undo(self, unit: str, steps: Sequence[Step], plan: Plan, ledger: Ledger) -> str:
        """`failure_action: rollback`: a unit this rollout replaced goes back too (a sibling:
        drained, on its old image, gated, admitted, its new release tag dropped; start-first:
        its old containers are gone)."""
        if unit in plan.existing or not steps:
            return f"{unit} keeps the new version (its old containers were removed)"
        ledger.flush()
        newest = ledger.releases(unit)[:1]  # the release this rollout recorded for it
        said = self.recover(unit, steps, steps[-1], plan)
        old = self.baseline.before.get(unit)
        if newest and old is not None and newest[0][1] != old.image_id:
            ledger.forget(unit, newest[0][1])
        return said

    def _state(self) -> str:
        try:
            containers = project_containers(self.runner, self.project)
        except ZddError as err:
            return f"unknown ({err})"
        return "; ".join(f"{c.service} {c.status} {c.health or ''}".strip() for c in containers)
