"""The frozen steps of a plan, each able to describe itself, and the plan that orders them."""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import ClassVar, TypeVar

from zdd.plan.gates import Gate
from zdd.project import Group, UpdatePolicy
from zdd.traffic import Budget

T = TypeVar("T")


class Verb(StrEnum):
    """What a compose command of the plan does."""

    BUILD = "build"
    PULL = "pull"
    TAG = "tag"  # `docker tag`: a sibling gets the image built for its base
    STOP = "stop"
    UP = "up"
    START = "start"  # start-first: new containers beside the old (`up --scale`)


@dataclass(frozen=True)
class Command:
    """A compose (or `docker tag`) command the plan runs as it is."""

    argv: tuple[str, ...]
    verb: Verb
    service: str | None = None

    @property
    def kind(self) -> str:
        """The step's kind in --json events."""
        return str(self.verb)

    def describe(self) -> str:
        """The exact command line."""
        return shlex.join(self.argv)


class RotateAction(StrEnum):
    """A change to the proxy's rotation."""

    DRAIN = "drain"
    ADMIT = "admit"


@dataclass(frozen=True)
class Rotate:
    """Take a sibling out of the proxy's rotation (drain) or put its new container in (admit)."""

    service: str
    action: RotateAction
    start_first: bool = False  # the unit's new (admit) or old (drain) containers, start-first
    held: bool = False  # admit = connect to the proxy's network(s) with compose's aliases
    settle: float = 0.0  # held: seconds for the proxy to find what was connected
    confirmed: bool = True  # admit: zdd checks through the proxy that it serves the new one
    part: Part | None = None  # start-first drain in batches: which of the old containers
    inside: str = ""  # a drain from inside the containers, by a helper of this image (netfilter)

    @property
    def kind(self) -> str:
        """The step's kind in --json events."""
        return str(self.action)

    def describe(self) -> str:
        """What the proxy step does, in words."""
        if self.held:
            who = f"the new {self.service} containers" if self.start_first else self.service
            return (
                f"# admit {who}: connect to the proxy's network(s) with the aliases compose "
                f"gave, then wait {self.settle:g} s for the proxy to find it"
            )
        if self.action is RotateAction.DRAIN:
            return self._describe_drain()
        who = f"the new {self.service} containers" if self.start_first else self.service
        if not self.confirmed:  # --proxy external: the hook admits; zdd cannot see the proxy
            return f"# admit {who}: --post-start, where given (not confirmed through the proxy)"
        if self.start_first:
            return f"# admit {who}: into rotation, confirm each"
        return f"# admit {who}: into rotation, confirm the proxy reaches it"

    def _describe_drain(self) -> str:
        which = self.part.describe() if self.part else ""
        who = f"the old {self.service} containers{which}" if self.start_first else self.service
        if self.inside:  # the proxy cannot: the containers refuse new connections themselves
            inside = f"refuse new connections inside ({self.inside})"
            return f"# drain {who}: {inside}, wait for the open ones"
        their = "their" if self.start_first else "its"
        return f"# drain {who}: out of rotation, wait for {their} in-flight requests"


@dataclass(frozen=True)
class Watch:
    """The admission window: for `seconds` after the new containers were admitted, judge them
    on the requests the proxy gives them (its `zdd` access log) against the others, and watch
    them run; over `budget`, unhealthy or gone: the unit's turn fails (rolled back).
    `asked`: the window was asked for (--monitor, update_config.monitor); else it is the
    default, run only where the proxy logs for zdd."""

    service: str
    seconds: float
    budget: Budget
    start_first: bool = False
    asked: bool = False
    kind: ClassVar[str] = "watch"

    def describe(self) -> str:
        """What the window does, in words."""
        who = f"the new {self.service} containers" if self.start_first else self.service
        how_long = f"{self.seconds:g} s"
        if not self.asked:  # the default window ends once the requests are evidence enough
            how_long = f"up to {how_long} (or {self.budget.enough} requests)"
        return (
            f"# watch {who} {how_long} on real traffic ({self.budget.describe()}), else roll back"
        )


@dataclass(frozen=True)
class Retag:
    """Point the sibling's image name back at its previous release (`zdd rollback`)."""

    service: str
    kind: ClassVar[str] = "retag"

    def describe(self) -> str:
        """What the step does, in words."""
        return f"# docker tag <previous release of {self.service}> <{self.service}'s image>"


@dataclass(frozen=True)
class Retire:
    """Start-first, last: stop (gracefully) and remove the service's old containers."""

    service: str
    stop_timeout: int | None = None
    part: Part | None = None  # in batches: which of the old containers
    kind: ClassVar[str] = "retire"

    def describe(self) -> str:
        """What the step does, in words."""
        flags = f"-t {self.stop_timeout} " if self.stop_timeout is not None else ""
        which = self.part.describe() if self.part else ""
        return (
            f"# docker stop {flags}<the old {self.service} containers{which}>, then docker rm them"
        )


@dataclass(frozen=True)
class Part:
    """A batch's share of a unit's old containers, in the order zdd found them: [start:end]
    of `of`."""

    start: int
    end: int
    of: int

    def describe(self) -> str:
        """` 1-2 of 4`, after the step's `old containers`."""
        return f" {self.start + 1}-{self.end} of {self.of}"

    def pick(self, olds: Sequence[T]) -> list[T]:
        """This batch's share of `olds`."""
        return list(olds[self.start : self.end])


@dataclass(frozen=True)
class Wait:
    """`update_config.delay`: a pause between two batches, or before the next unit."""

    service: str
    seconds: float
    kind: ClassVar[str] = "wait"

    def describe(self) -> str:
        """What the step does, in words."""
        return f"# wait {self.seconds:g} s (update_config.delay)"


Step = Command | Gate | Rotate | Watch | Retag | Retire | Wait


@dataclass(frozen=True)
class Plan:
    """The ordered steps of one deploy."""

    groups: tuple[Group, ...]
    steps: tuple[Step, ...]
    built: tuple[str, ...] = ()  # the services the build step builds (compose retags them)
    # sibling -> the image name the compose binary in use runs it from (v1 and v2 differ, so a
    # stack last deployed by the other major has containers made from another name)
    images: Mapping[str, str] = field(default_factory=dict)
    singles: tuple[str, ...] = ()  # services without siblings, rolled out start-first
    # each unit rolled out start-first -> its containers when planned (the scale-up counts on
    # it; -1: not known)
    existing: Mapping[str, int] = field(default_factory=dict)
    # each unit's update_config (rollback: rollback_config): batches, delay, what a failure does
    policies: Mapping[str, UpdatePolicy] = field(default_factory=dict)

    @property
    def start_first(self) -> tuple[str, ...]:
        """The siblings and single services rolled out start-first."""
        return tuple(self.existing)

    @property
    def siblings(self) -> tuple[str, ...]:
        """Every sibling the plan replaces, in order."""
        return tuple(s for g in self.groups for s in g.siblings)

    def later_batch(self, step: Step) -> bool:
        """Whether another batch of the step's unit follows it."""
        index = next(i for i, s in enumerate(self.steps) if s is step)
        return any(
            isinstance(s, Command) and s.verb is Verb.START and s.service == step.service
            for s in self.steps[index + 1 :]
        )

    @property
    def units(self) -> tuple[str, ...]:
        """Every sibling and single service the plan replaces, in order."""
        return (*self.siblings, *self.singles)


def with_delays(steps: Sequence[Step], policies: Mapping[str, UpdatePolicy]) -> list[Step]:
    """The steps with a Wait of the unit's update_config.delay after each unit but the last
    (and none after the last: the one a reordering left there is dropped)."""
    out: list[Step] = []
    steps = [s for i, s in enumerate(steps) if not _between_units(steps, i)]
    for index, step in enumerate(steps):
        out.append(step)
        following = steps[index + 1].service if index + 1 < len(steps) else None
        unit = step.service
        delay = policies[unit].delay if unit is not None and unit in policies else 0.0
        if unit is not None and delay and following is not None and following != unit:
            out.append(Wait(unit, delay))
    return out


def _between_units(steps: Sequence[Step], index: int) -> bool:
    """Whether the step is a Wait that ends its unit's block (not one between its batches)."""
    following = steps[index + 1].service if index + 1 < len(steps) else None
    return isinstance(steps[index], Wait) and following != steps[index].service


def down_first(plan: Plan, down: Collection[str]) -> Plan:
    """The plan with the siblings in `down` (not serving now) replaced first: replacing them
    costs no capacity, and no serving sibling is stopped while another one is down."""
    head = [step for step in plan.steps if step.service is None]
    blocks: dict[str, list[Step]] = {}
    for step in plan.steps:
        if step.service is not None:
            blocks.setdefault(step.service, []).append(step)
    order = sorted(blocks, key=lambda sibling: sibling not in down)  # stable
    steps = with_delays([*head, *(step for s in order for step in blocks[s])], plan.policies)
    return replace(plan, steps=tuple(steps))
