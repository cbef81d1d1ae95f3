"""Plan a rollout: options and project in, the ordered steps out. Pure: runs nothing."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, ClassVar

from zdd.errors import UsageError
from zdd.health import healthcheck_budget
from zdd.order import Order
from zdd.project import Group, Project, Service, service_port, side_by_side_blockers
from zdd.proxy import ProxyMode
from zdd.runner import ComposeCli


class GateSource(StrEnum):
    """Where the plan learnt what gates a sibling."""

    COMPOSE = "compose"  # the compose file's healthcheck, or the options (delay, --health-path)
    IMAGE = "image"  # the HEALTHCHECK of the sibling's image, as the engine showed it
    UNSEEN = "unseen"  # the image was not there to look at (a first deploy, no engine)


class GatePolicy(StrEnum):
    """What tells zdd that a new container is ready."""

    HEALTHCHECK = "healthcheck"  # the container's Docker healthcheck reports healthy
    HTTP = "http"  # --health-path answers 2xx, requested inside the container
    DELAY = "delay"  # no healthcheck: the seed's fixed delay, then a running check


@dataclass(frozen=True)
class DeployOptions:
    """What `zdd deploy` was asked to do."""

    services: tuple[str, ...] = ()
    build: bool = True
    no_cache: bool = True
    pull: bool = False
    delay: float = 5.0
    stop_timeout: int | None = None
    health_timeout: float | None = None
    proxy: ProxyMode = ProxyMode.NONE
    proxy_reason: str = "--proxy"  # why this mode (proxy/choose.py), said before any change
    drain_timeout: float = 30.0
    settle: float = 2.0  # discovery: for the proxy to find a container zdd connected
    health_path: str | None = None
    proxy_service: str = "proxy"
    pre_stop: str | None = None
    post_start: str | None = None
    verify: str | None = None
    monitor: float = 0.0
    order: Order | None = None  # None: siblings stop-first, single services start-first


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


@dataclass(frozen=True)
class Gate:
    """Wait until the new container of `service` is ready, or fail."""

    service: str
    policy: GatePolicy
    budget: float
    delay: float
    url: str = ""  # GatePolicy.HTTP: the URL requested inside the container
    monitor: float = 0.0  # seconds to keep watching after ready (--monitor)
    health_timeout: float | None = None  # --health-timeout, which beats any other budget
    source: GateSource = GateSource.COMPOSE
    containers: int = 0  # start-first: the service's N new containers, each gated
    held: bool = False  # created, not started: started off the proxy's network (discovery)
    kind: ClassVar[str] = "gate"

    @property
    def subject(self) -> str:
        """What is gated: a sibling, or each new container of a single service."""
        if self.containers:
            return f"each new {self.service} container ({self.containers})"
        return self.service

    def describe(self) -> str:
        """What the gate waits for, in words."""
        who = self.subject
        if self.policy is GatePolicy.DELAY:
            text = f"# wait {self.delay:g} s, then check {who} runs"
        elif self.policy is GatePolicy.HTTP:
            text = f"# wait until {self.url} answers 2xx in {who} (at most {self.budget:g} s)"
        elif self.source is GateSource.IMAGE:
            text = f"# wait until {who} is healthy (its image's HEALTHCHECK, "
            text += f"at most {self.budget:g} s)"
        else:
            text = f"# wait until {who} is healthy (at most {self.budget:g} s)"
        if self.source is GateSource.UNSEEN:
            text += " (its image is not there yet: if it has a HEALTHCHECK, until healthy)"
        text += f", then watch it {self.monitor:g} s" if self.monitor else ""
        if self.held:
            text = f"# start {who} off the proxy's network(s), then{text[1:]}"
        return text


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
        if self.start_first and self.action is RotateAction.DRAIN:
            return (
                f"# drain the old {self.service} containers: out of rotation, wait for their "
                "in-flight requests"
            )
        if self.start_first:
            return f"# admit the new {self.service} containers: into rotation, confirm each"
        if self.action is RotateAction.DRAIN:
            return f"# drain {self.service}: out of rotation, wait for its in-flight requests"
        return f"# admit {self.service}: into rotation, confirm the proxy reaches it"


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
    kind: ClassVar[str] = "retire"

    def describe(self) -> str:
        """What the step does, in words."""
        flags = f"-t {self.stop_timeout} " if self.stop_timeout is not None else ""
        return f"# docker stop {flags}<the old {self.service} containers>, then docker rm them"


Step = Command | Gate | Rotate | Retag | Retire


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

    @property
    def start_first(self) -> tuple[str, ...]:
        """The siblings and single services rolled out start-first."""
        return tuple(self.existing)

    @property
    def siblings(self) -> tuple[str, ...]:
        """Every sibling the plan replaces, in order."""
        return tuple(s for g in self.groups for s in g.siblings)

    @property
    def units(self) -> tuple[str, ...]:
        """Every sibling and single service the plan replaces, in order."""
        return (*self.siblings, *self.singles)


def down_first(plan: Plan, down: Collection[str]) -> Plan:
    """The plan with the siblings in `down` (not serving now) replaced first: replacing them
    costs no capacity, and no serving sibling is stopped while another one is down."""
    head = [step for step in plan.steps if step.service is None]
    blocks: dict[str, list[Step]] = {}
    for step in plan.steps:
        if step.service is not None:
            blocks.setdefault(step.service, []).append(step)
    order = sorted(blocks, key=lambda sibling: sibling not in down)  # stable
    return replace(plan, steps=(*head, *(step for s in order for step in blocks[s])))


def build_plan(
    project: Project,
    cli: ComposeCli,
    options: DeployOptions,
    image_checks: Mapping[str, float] | None = None,
    existing: Mapping[str, int] | None = None,
) -> Plan:
    """The seed's sequence, one build per distinct build: build, then per sibling (tag it with
    its base's new image,) drain, stop, up, gate, admit; then each single service start-first.
    `image_checks` (observe.py): image name -> its HEALTHCHECK budget, 0 for none; an image
    left out was not seen. `existing` (observe.py): single service -> its containers now."""
    groups, singles = _units(project, options)
    counts = _existing(_start_first(project, groups, singles, options), existing)
    steps: list[Step] = []
    builds = plan_builds(project, groups, singles) if options.build else Builds((), {})
    if builds.targets:
        argv = cli.build(builds.targets, no_cache=options.no_cache, pull=options.pull)
        steps.append(Command(argv, Verb.BUILD))
    units = [*(s for g in groups for s in g.siblings), *singles]
    image_only = [s for s in units if not project.services[s].builds]
    if options.pull and image_only:
        steps.append(Command(cli.pull(image_only), Verb.PULL))
    for group in groups:
        for sibling in group.siblings:
            source = builds.shared.get(sibling)
            if source is not None:
                image, name = (
                    cli.image_name(n, project.services[n].config) for n in (source, sibling)
                )
                if image != name:  # a shared `image:` name is tagged by the build already
                    steps.append(Command(("docker", "tag", image, name), Verb.TAG, sibling))
            steps += _unit_steps(
                project, cli, options, sibling, counts=counts, image_checks=image_checks
            )
    for single in singles:
        steps += _unit_steps(
            project, cli, options, single, counts=counts, image_checks=image_checks
        )
    images = _image_names(project, cli, groups, singles)
    return Plan(groups, tuple(steps), builds.targets, images, singles, counts)


def _unit_steps(
    project: Project,
    cli: ComposeCli,
    options: DeployOptions,
    unit: str,
    *,
    counts: Mapping[str, int],
    image_checks: Mapping[str, float] | None,
    retag: bool = False,
) -> list[Step]:
    """One sibling's or single service's steps, in its order (`counts` holds the units
    rolled out start-first)."""
    if unit in counts:
        return start_first_steps(
            project,
            cli,
            options,
            unit,
            existing=counts[unit],
            image_checks=image_checks,
            retag=retag,
        )
    return replace_steps(project, cli, options, unit, image_checks, retag=retag)


def _units(project: Project, options: DeployOptions) -> tuple[tuple[Group, ...], tuple[str, ...]]:
    """The groups and the single services to roll out."""
    groups = project.select(options.services)
    singles = project.singles(options.services, options.proxy_service)
    if not groups and not singles:
        raise UsageError(
            f"nothing to roll out in project {project.name}: no service `extends` a base "
            "service and none builds an image; name the service(s) to deploy"
        )
    return groups, singles


def _start_first(
    project: Project, groups: Sequence[Group], singles: Sequence[str], options: DeployOptions
) -> tuple[str, ...]:
    """The units rolled out start-first: all of them under `--order start-first`, none under
    `--order stop-first`; by default the single services whose containers can run side by
    side (the others fall back to stop-first, which the preflight says)."""
    if options.order is Order.START_FIRST:
        return (*(s for g in groups for s in g.siblings), *singles)
    if options.order is Order.STOP_FIRST:
        return ()
    return tuple(s for s in singles if not side_by_side_blockers(project.services[s].config))


def _existing(units: Sequence[str], existing: Mapping[str, int] | None) -> dict[str, int]:
    """Each start-first unit's containers now (-1: unknown, no engine to ask)."""
    return {s: (existing or {}).get(s, -1) for s in units}


def build_rollback_plan(
    project: Project,
    cli: ComposeCli,
    options: DeployOptions,
    image_checks: Mapping[str, float] | None = None,
    existing: Mapping[str, int] | None = None,
) -> Plan:
    """`zdd rollback`: per sibling, its previous release retagged, then replaced as in a deploy."""
    groups, singles = _units(project, options)
    counts = _existing(_start_first(project, groups, singles, options), existing)
    steps: list[Step] = []
    for unit in (*(s for g in groups for s in g.siblings), *singles):
        steps += _unit_steps(
            project, cli, options, unit, counts=counts, image_checks=image_checks, retag=True
        )
    images = _image_names(project, cli, groups, singles)
    return Plan(groups, tuple(steps), images=images, singles=singles, existing=counts)


def _image_names(
    project: Project, cli: ComposeCli, groups: Sequence[Group], singles: Sequence[str]
) -> dict[str, str]:
    units = [*(s for g in groups for s in g.siblings), *singles]
    return {s: cli.image_name(s, project.services[s].config) for s in units}


def image_names(project: Project, cli: ComposeCli, options: DeployOptions) -> list[str]:
    """The images the siblings and single services run now: what observe.image_checks looks
    at before planning."""
    return list(_image_names(project, cli, *_units(project, options)).values())


def start_first_units(project: Project, options: DeployOptions) -> tuple[str, ...]:
    """The siblings and single services a deploy with these options rolls out start-first
    (observe counts their containers)."""
    return _start_first(project, *_units(project, options), options)


def replicas(config: Mapping[str, Any]) -> int | str | None:
    """`deploy.replicas`, else `scale`, else None (a text that is no count is returned as is)."""
    deploy = config.get("deploy")
    value = deploy.get("replicas") if isinstance(deploy, dict) else None
    if value is None:
        value = config.get("scale")
    if value is None:
        return None
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def start_first_steps(
    project: Project,
    cli: ComposeCli,
    options: DeployOptions,
    service: str,
    *,
    existing: int,
    image_checks: Mapping[str, float] | None = None,
    retag: bool = False,
) -> list[Step]:
    """A single service start-first: its N new containers beside the `existing` ones, each
    gated, admitted; then the old ones drained, stopped and removed. N: its replicas (compose's
    `deploy.replicas` / `scale`), else as many as run now, else 1."""
    config = project.services[service].config
    configured = replicas(config)
    count = configured if isinstance(configured, int) and configured > 0 else max(existing, 1)
    before = max(existing, 0) if existing >= 0 else count
    held = options.proxy is ProxyMode.DISCOVERY
    steps: list[Step] = [Retag(service)] if retag else []
    argv = cli.scale_up(service, before + count, start=not held)
    steps.append(Command(argv, Verb.START, service))
    seen = (image_checks or {}).get(cli.image_name(service, config))
    steps.append(replace(gate_for(config, service, options, seen), containers=count, held=held))
    if options.proxy in ADMITS:
        settle = options.settle if held else 0.0
        steps.append(Rotate(service, RotateAction.ADMIT, True, held=held, settle=settle))
    if before:
        if options.proxy in DRAINS:
            steps.append(Rotate(service, RotateAction.DRAIN, start_first=True))
        steps.append(Retire(service, options.stop_timeout))
    return steps


def replace_steps(
    project: Project,
    cli: ComposeCli,
    options: DeployOptions,
    sibling: str,
    image_checks: Mapping[str, float] | None = None,
    *,
    retag: bool,
) -> list[Step]:
    """Drain, stop, up, gate, admit one sibling (drain and admit only where the proxy mode
    allows: a discovery proxy's new container is created, kept off the proxy's network while
    it starts and is gated, then connected; it cannot be drained)."""
    held = options.proxy is ProxyMode.DISCOVERY
    steps: list[Step] = [Retag(sibling)] if retag else []
    if options.proxy in DRAINS:
        steps.append(Rotate(sibling, RotateAction.DRAIN))
    steps.append(Command(cli.stop(sibling, options.stop_timeout), Verb.STOP, sibling))
    steps.append(Command(cli.up(sibling, start=not held), Verb.UP, sibling))
    config = project.services[sibling].config
    image = cli.image_name(sibling, config)
    seen = (image_checks or {}).get(image)
    steps.append(replace(gate_for(config, sibling, options, seen), held=held))
    if options.proxy in ADMITS:
        settle = options.settle if held else 0.0
        steps.append(Rotate(sibling, RotateAction.ADMIT, held=held, settle=settle))
    return steps


# the proxy modes in which zdd puts a new container in rotation, and takes an old one out
ADMITS = (ProxyMode.NGINX, ProxyMode.EXTERNAL, ProxyMode.DISCOVERY)
DRAINS = (ProxyMode.NGINX, ProxyMode.EXTERNAL)


@dataclass(frozen=True)
class Builds:
    """What the deploy builds: one service per distinct build, and who shares its image."""

    targets: tuple[str, ...]
    shared: Mapping[str, str]  # sibling -> the built service whose image it is tagged with


def plan_builds(project: Project, groups: Sequence[Group], singles: Sequence[str] = ()) -> Builds:
    """One build per distinct `build` (context, dockerfile, args, ...) among the siblings.

    Siblings that inherit their base's build share one image: the base is built (as the seed
    did) and each sibling is tagged with it, instead of building the same context again.
    A sibling with a build of its own is built itself; a base nobody shares is not built.
    """
    targets: list[str] = []
    built: dict[str, str] = {}  # build key -> the service that builds it
    shared: dict[str, str] = {}
    for group in groups:
        base = project.services.get(group.base)
        base_key = _build_key(base) if base is not None and base.builds else None
        for sibling in group.siblings:
            service = project.services[sibling]
            if not service.builds:
                continue
            key = _build_key(service)
            if key not in built:
                built[key] = group.base if key == base_key else sibling
                targets.append(built[key])
            if built[key] != sibling:
                shared[sibling] = built[key]
    targets += [s for s in singles if project.services[s].builds and s not in targets]
    return Builds(tuple(targets), shared)


def _build_key(service: Service) -> str:
    """Equal for services whose images compose would build the same way (compose's `config`
    gives every build its absolute context)."""
    config = service.config
    return json.dumps([config["build"], config.get("platform")], sort_keys=True, default=str)


def gate_for(
    config: Mapping[str, Any], service: str, options: DeployOptions, image_check: float | None
) -> Gate:
    """The compose file's healthcheck, else the image's own HEALTHCHECK (the engine runs it
    too), else --health-path, else the delay. `image_check`: the image's HEALTHCHECK budget,
    0 for none, None when the image was not there to look at."""
    gate = _gate_policy(config, service, options, image_check)
    return replace(gate, monitor=options.monitor, health_timeout=options.health_timeout)


def _gate_policy(
    config: Mapping[str, Any], service: str, options: DeployOptions, image_check: float | None
) -> Gate:
    check = healthcheck_of(config)
    if check is not None:
        return Gate(service, GatePolicy.HEALTHCHECK, options.health_timeout or check, options.delay)
    if _disabled(config):  # compose turns the image's HEALTHCHECK off: no guess left
        image_check = 0.0
    if image_check:
        budget = options.health_timeout or image_check
        return Gate(service, GatePolicy.HEALTHCHECK, budget, options.delay, source=GateSource.IMAGE)
    source = GateSource.UNSEEN if image_check is None else GateSource.COMPOSE
    if options.health_path:
        path = "/" + options.health_path.lstrip("/")
        url = f"http://127.0.0.1:{service_port(config)}{path}"
        budget = options.health_timeout or 60.0
        return Gate(service, GatePolicy.HTTP, budget, options.delay, url, source=source)
    budget = options.health_timeout or options.delay
    return Gate(service, GatePolicy.DELAY, budget, options.delay, source=source)


def _disabled(config: Mapping[str, Any]) -> bool:
    check = config.get("healthcheck")
    return isinstance(check, dict) and (
        bool(check.get("disable")) or check.get("test") in (["NONE"], "NONE")
    )


def healthcheck_of(config: Mapping[str, Any]) -> float | None:
    """The budget a compose healthcheck implies: start_period + interval x retries, + margin."""
    check = config.get("healthcheck")
    if not isinstance(check, dict) or check.get("disable"):
        return None
    test = check.get("test")
    if test in (["NONE"], "NONE") or test is None:
        return None
    interval = parse_duration(check.get("interval", "30s"))
    timeout = parse_duration(check.get("timeout", "30s"))
    start = parse_duration(check.get("start_period", "0s"))
    retries = str(check.get("retries", 3)).strip()
    if not retries.isdigit():
        raise UsageError(f"healthcheck: retries must be a whole number, got {retries!r}")
    return healthcheck_budget(interval, timeout, start, int(retries))


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """Compose durations (`1m30s`, `500ms`, `10`) in seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(f"invalid duration {value!r} (examples: 5s, 1m30s, 500ms)")
    return sum(float(n) * _UNITS[u] for n, u in parts)
