"""Execute a plan: run each step in order and react to its outcome; a failed unit goes back
to what it ran (recovery.py), a gate waits as gating.py does, a signal stops the rollout once
the unit in progress is done (signals.py)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from zdd.compose import ComposeCli
from zdd.containers import Container, image_id, project_containers
from zdd.errors import (
    ComposeCommandError,
    ComposeUnavailableError,
    DeployError,
    InterruptedDeployError,
    RollbackError,
    UsageError,
    ZddError,
)
from zdd.events import Event, Reporter
from zdd.gating import Gating
from zdd.plan import (
    Command,
    Gate,
    Plan,
    Retag,
    Retire,
    Rotate,
    RotateAction,
    Step,
    Verb,
    Wait,
    Watch,
    down_first,
)
from zdd.ports import CommandRunner
from zdd.project import UpdatePolicy
from zdd.proxy import NoRotation, Rotation
from zdd.proxy.modes import capabilities
from zdd.recovery import (
    Baseline,
    Failures,
    Recovery,
    restore_untouched_tags,
    rollback_targets,
)
from zdd.releases import Ledger
from zdd.runner import check_engine
from zdd.said import said
from zdd.signals import on_stop_signals


@dataclass
class Rollout:
    """Runs a plan against the engine; a failed sibling goes back to its previous image."""

    runner: CommandRunner
    cli: ComposeCli
    project: str
    report: Reporter
    rotation: Rotation = field(default_factory=NoRotation)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    # a step is about to run; with the id of its sibling's old container ("" when none)
    on_step: Callable[[Step, str], None] = lambda step, old: None
    stop_requested: bool = False
    changing: bool = False  # from the first sibling's turn on: signals wait for its end
    proxy: str = "none"  # the proxy mode, for the summary's word on routing
    baseline: Baseline = field(default_factory=Baseline)  # what ran at the start
    ready: dict[str, Container] = field(default_factory=dict)  # sibling -> its gated container
    fresh: dict[str, list[Container]] = field(default_factory=dict)  # unit -> its batch's new
    served: dict[str, list[Container]] = field(default_factory=dict)  # unit -> all its new ones
    turns: dict[str, list[Step]] = field(default_factory=dict)  # unit -> its steps done
    retired: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    ledger: Ledger = field(init=False)
    gating: Gating = field(init=False)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.runner, self.project)

    def run(self, plan: Plan) -> None:
        """Run every step; on a failure put that sibling back and raise; on a signal, finish
        the sibling in progress (or stop the build at once), then raise."""
        started = self.clock()
        spent, calls = self.runner.seconds, self.runner.calls
        self.gating = Gating(self.runner, self.project, self.rotation, self.clock, self.sleep)
        try:
            with on_stop_signals(self._on_signal):
                self._steps(plan)
            for err in self.ledger.flush():
                self.report(Event("warning", f"release tag not written: {err}"))
        finally:
            self.ledger.flush()  # a failed deploy: its background tagging still completes
        total = round(self.clock() - started, 2)
        replaced = [f"{len(plan.siblings)} sibling(s)"] if plan.siblings else []
        replaced += [
            f"{s} start-first ({len(self.served.get(s, []))} new container(s))"
            for s in plan.singles
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
                    "routing_controlled": capabilities(self.proxy).controlled,
                    # where the rollout's time went (bench/): the rest is zdd's own work
                    "commands": self.runner.calls - calls,
                    "command_seconds": round(self.runner.seconds - spent, 3),
                    "waited_seconds": round(self.gating.waited, 3),
                },
            )
        )
        if self.stop_requested:
            raise InterruptedDeployError(
                f"interrupted: replaced {', '.join(plan.units)}, all of them; every sibling is "
                "serving"
            )

    @property
    def routing(self) -> str:
        """The summary's promise: whether zdd controlled which containers got requests."""
        return capabilities(self.proxy).routing

    def _on_signal(self) -> None:
        """At once while nothing has changed yet (the build); once a sibling is being
        replaced, only after it is done, so that no sibling is left half-replaced."""
        if not self.changing:
            raise KeyboardInterrupt
        self.stop_requested = True

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
        healed = self.rotation.sync(containers)
        before = {c.service: c for c in containers if c.running}
        self.baseline = Baseline(before, healed=healed)
        olds: dict[str, list[Container]] = {}
        for unit, expected in plan.existing.items():
            olds[unit] = [c for c in containers if c.service == unit]
            if expected >= 0 and expected != len(olds[unit]):
                raise UsageError(
                    f"{unit} has {len(olds[unit])} container(s), not the {expected} "
                    "zdd planned for: something changed it meanwhile; run zdd again"
                )
        targets = rollback_targets(plan, before, self.ledger)
        self.baseline = Baseline(before, olds, dict(plan.images), targets, healed)
        down = [s for s in plan.siblings if not self._serving(s)]
        ordered = down_first(plan, down)
        if ordered.steps != plan.steps:
            self.report(Event("warning", f"not serving now, so replaced first: {', '.join(down)}"))
        turns = dict.fromkeys(step.service for step in ordered.steps if step.service is not None)
        self.rotation.check_order(list(turns))
        return ordered

    def _serving(self, sibling: str) -> bool:
        """In rotation, where zdd manages it; else running."""
        serving = self.rotation.serving(sibling)
        return sibling in self.baseline.before if serving is None else serving

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
        if self.baseline.healed:
            return "no sibling was replaced (only the proxy was healed, as said above)"
        return "nothing was changed"

    def _each_step(self, plan: Plan) -> None:
        sibling: str | None = None
        done: list[Step] = []  # the steps of the unit's (or its batch's) turn so far
        warned = skipping = False
        group_of = {s: g.base for g in plan.groups for s in g.siblings}
        units = (group_of.get(s.service, s.service) for s in plan.steps if isinstance(s, Gate))
        failures = Failures(Counter(units), group_of)
        for step in plan.steps:
            if step.service != sibling:
                self._between_siblings(sibling, plan)
                sibling, done, skipping = step.service, [], False
            if isinstance(step, Command) and step.verb is Verb.START:
                self._between_batches(sibling, plan)
                done, skipping = [], False  # a batch begins
            if skipping:  # the rest of a batch or unit that failed, under failure_action
                continue
            step_started = self.clock()
            if step.service is not None:  # from the first sibling's turn on, for good
                self.changing = True
            self._announce(step, plan)
            try:
                self._step(step)
            except ZddError as err:
                self._fail(plan, sibling, (done, step), err, failures)  # raises, or goes on
                skipping = True
                continue
            done.append(step)
            self.turns.setdefault(step.service or "", []).append(step)
            self.report(said(step, self.clock() - step_started, self.gating, self.rotation))
            if self.stop_requested and step.service is not None and not warned:
                warned = True
                self.report(Event("warning", f"stopping once {step.service} is done"))
        self._record(sibling)  # the last unit: run() says the summary, then the interrupt
        if failures.said:
            self._restore_untouched_tags(plan)
            raise DeployError(failures.summary())

    def _announce(self, step: Step, plan: Plan) -> None:
        """Tell the guardian the step and the container(s) it is about to take away."""
        old = self.baseline.before.get(step.service) if step.service is not None else None
        if isinstance(step, Retire):  # the guardian's heal must not admit these again
            self.on_step(step, ",".join(c.id for c in self._olds(step)))
        elif step.service in plan.existing:  # start-first: the old ones serve till retired
            self.on_step(step, "")
        else:
            self.on_step(step, old.id if old is not None else "")

    def _fail(
        self,
        plan: Plan,
        sibling: str | None,
        turn: tuple[list[Step], Step],
        err: ZddError,
        failures: Failures,
    ) -> None:
        """A step failed: its unit (or batch) is put back; then the rollout goes on where the
        unit's update_config says so, else stops (DeployError; RollbackError when putting it
        back failed too)."""
        done, step = turn
        self._check_engine(sibling, err)
        if sibling is None:
            self._restore_untouched_tags(plan)
            verb = step.verb if isinstance(step, Command) else "build"
            raise DeployError(f"{verb} failed, {self._unchanged()}: {err}") from err
        policy = plan.policies.get(sibling, UpdatePolicy())
        going_on = failures.goes_on(sibling, policy)
        if not going_on:  # the build's tags of the units not replaced go back first
            self._restore_untouched_tags(plan)
        earlier = self.served.get(sibling, [])  # a batched unit's batches before this one
        if any(isinstance(s, Gate) for s in done):  # this batch's own new ones are not kept
            earlier = earlier[: len(earlier) - len(self.fresh.get(sibling, []))]
        later = plan.later_batch(step)
        name = plan.images.get(sibling, "")
        shared = going_on and any(plan.images.get(u) == name for u in plan.units if u != sibling)
        new_id = (
            image_id(self.runner, name) if shared else ""
        )  # the next units' image, put back after
        recovery = Recovery(
            self.runner, self.cli, self.project, self.rotation, self.report, self.gating,
            self.baseline, frozenset(c.id for c in earlier), frozenset(self.retired[sibling]),
            retag=not (going_on and later),
        )  # fmt: skip
        try:
            if sibling in plan.existing:
                outcome = recovery.recover_start_first(sibling, done, step)
            else:
                outcome = recovery.recover(sibling, done, step, plan)
            if new_id:
                self.runner.run(["docker", "tag", "--", new_id, name])
        except RollbackError as failed:  # say what failed first, then the rollback
            if going_on:
                self._restore_untouched_tags(plan)
            raise RollbackError(f"{err}; then the {failed}") from failed
        self.served[sibling] = earlier  # this batch's new ones are gone
        if not earlier:  # nothing of the new version serves: not a release to keep
            self.ready.pop(sibling, None)
        if going_on:
            failures.said.append(f"{err}; {outcome}")
            self.report(Event("warning", f"{err}; {outcome}; going on ({failures.why(policy)})"))
            return
        if policy.failure_action == "rollback":
            outcome += "".join(
                f"; {recovery.undo(unit, steps, plan, self.ledger)}"
                for unit, steps in reversed(self.turns.items())
                if unit and unit != sibling
            )
        raise DeployError(failures.stopped(f"{err}; {outcome}")) from err

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
        restore_untouched_tags(self.runner, self.baseline, plan.built, self.ready)

    def _record(self, finished: str | None) -> None:
        """Keep the release tag of a unit that was replaced."""
        if finished is not None and finished in self.ready:
            self.ledger.record(finished, self.ready[finished].image_id, wait=False)

    def _between_batches(self, unit: str | None, plan: Plan) -> None:
        """A stop signal between two batches of a unit stops there: every container serves."""
        if self.stop_requested and unit in self.served:
            self._record(unit)
            self._restore_untouched_tags(plan)
            raise InterruptedDeployError(
                f"interrupted between two batches of {unit}: {len(self.served[unit])} new "
                "container(s) serve beside the old ones not replaced yet; the units after it "
                "untouched"
            )

    def _between_siblings(self, finished: str | None, plan: Plan) -> None:
        self._record(finished)
        if self.stop_requested:
            self._restore_untouched_tags(plan)
            replaced = [s for s in plan.units if s in self.ready]
            raise InterruptedDeployError(
                f"interrupted: replaced {', '.join(replaced) or 'none'}, the others untouched; "
                "every sibling is serving"
            )

    def _step(self, step: Step) -> None:
        if isinstance(step, Command):
            old = self.baseline.before.get(step.service or "")
            if step.verb is Verb.STOP and old is not None:
                self.ledger.record(old.service, old.image_id)
            self.runner.run(step.argv)
        elif isinstance(step, Gate) and step.containers:
            earlier = self.served.get(step.service, [])  # the batches before this one
            olds = [*self.baseline.olds.get(step.service, []), *earlier]
            self.fresh[step.service] = self.gating.gate_new(step, olds)
            self.served[step.service] = [*earlier, *self.fresh[step.service]]
            self.ready[step.service] = self.fresh[step.service][0]
        elif isinstance(step, Wait):
            self._wait(step.seconds)
        elif isinstance(step, Gate):
            self.ready[step.service] = self.gating.gate(step)
        elif isinstance(step, Watch):
            new = self.fresh[step.service] if step.start_first else [self.ready[step.service]]
            self.gating.window(step, new)
        elif isinstance(step, Retire):
            self._retire(step)
        elif isinstance(step, Retag):
            current = self.baseline.before[step.service]
            target = self.baseline.targets[step.service]
            self.runner.run(["docker", "tag", "--", target, self.baseline.image_name(current)])
        else:
            self._rotate(step)

    def _rotate(self, step: Rotate) -> None:
        if step.start_first and step.action is RotateAction.ADMIT:
            self.rotation.route(step.service, admit=self.fresh[step.service])
        elif step.start_first:
            self.rotation.route(step.service, drain=self._olds(step))
        elif step.action is RotateAction.DRAIN:
            self.rotation.drain(step.service)
        else:
            self.rotation.admit(step.service, self.ready[step.service])

    def _olds(self, step: Rotate | Retire) -> list[Container]:
        """The old containers a start-first drain or retire is about: its batch's part."""
        olds = self.baseline.olds.get(step.service, [])
        return step.part.pick(olds) if step.part else list(olds)

    def _wait(self, seconds: float) -> None:
        """update_config.delay: sleep, but not past a stop signal."""
        end = self.clock() + seconds
        while not self.stop_requested and (left := end - self.clock()) > 0:
            self.sleep(min(left, 0.2))

    def _retire(self, step: Retire) -> None:
        """Stop the unit's old containers gracefully, then remove them."""
        olds = self._olds(step)
        if not olds:
            return
        self.ledger.record(step.service, olds[0].image_id)
        ids = [c.id for c in olds]
        flags = ["-t", str(step.stop_timeout)] if step.stop_timeout is not None else []
        self.runner.run(["docker", "stop", *flags, "--", *ids], timeout=None)
        self.runner.run(["docker", "rm", "--", *ids])
        self.retired[step.service].update(ids)
