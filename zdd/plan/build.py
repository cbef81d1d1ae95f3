"""Plan a rollout: options and project in, the ordered steps out. Pure: runs nothing.

The seed's sequence per sibling (drain, stop, up, gate, admit), start-first for single
services, and `zdd rollback`'s plan; drain and admit steps only where the proxy mode's row in
proxy/modes.py says it can.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from zdd.compose import ComposeCli
from zdd.errors import UsageError
from zdd.order import Order
from zdd.plan.builds import Builds, plan_builds
from zdd.plan.gates import Gate, gate_for
from zdd.plan.options import DeployOptions
from zdd.plan.steps import (
    Command,
    Part,
    Plan,
    Retag,
    Retire,
    Rotate,
    RotateAction,
    Step,
    Verb,
    Wait,
    Watch,
    with_delays,
)
from zdd.project import (
    Group,
    Project,
    Role,
    Service,
    UpdatePolicy,
    replicas,
    side_by_side_blockers,
    update_order,
    update_policy,
)
from zdd.proxy.modes import MODES, Capabilities
from zdd.traffic import Budget

WINDOW = 2.0  # seconds: the admission window behind the managed nginx, unless asked otherwise


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
                    steps.append(Command(("docker", "tag", "--", image, name), Verb.TAG, sibling))
            steps += _unit_steps(
                project, cli, options, sibling, counts=counts, image_checks=image_checks
            )
    for single in singles:
        steps += _unit_steps(
            project, cli, options, single, counts=counts, image_checks=image_checks
        )
    images = _image_names(project, cli, groups, singles)
    policies = _policies(project, units)
    steps = with_delays(steps, policies)
    return Plan(groups, tuple(steps), builds.targets, images, singles, counts, policies)


def _policies(project: Project, units: Sequence[str]) -> dict[str, UpdatePolicy]:
    """Each unit's update_config: batches, delay, what a failure does."""
    return {unit: update_policy(project.services[unit].config) for unit in units}


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
    for name in (*(s for g in groups for s in g.siblings), *singles):
        refuse_role(project.services[name], options.allow_stateful and name in options.services)
    if not groups and not singles:
        raise UsageError(
            f"nothing to roll out in project {project.name}: no service `extends` a base "
            "service and none builds an image; name the service(s) to deploy"
        )
    return groups, singles


def refuse_role(service: Service, allowed: bool = False) -> None:
    """A stateful service or a job is never rolled out: refused before any change; a stateful
    one named with --allow-stateful (`allowed`) is replaced stop-first."""
    evidence = service.evidence
    if evidence.role is Role.STATEFUL and not allowed:
        raise UsageError(
            f"service {service.name!r} is stateful ({evidence.reason}): zdd never rolls it out, "
            "as a second copy would start beside it on the same data; recreate it yourself in "
            f"a maintenance window (`up -d {service.name}`, or `zdd deploy {service.name} "
            "--allow-stateful`: stop-first, a break), or set `x-zdd: {role: app}` on it if it "
            "holds no data"
        )
    if evidence.role is Role.JOB:
        raise UsageError(
            f"service {service.name!r} is a one-shot job ({evidence.reason}): nothing to roll "
            f"out; run it with `run --rm {service.name}`"
        )


def _start_first(
    project: Project, groups: Sequence[Group], singles: Sequence[str], options: DeployOptions
) -> tuple[str, ...]:
    """The units rolled out start-first: all of them under `--order start-first`, none under
    `--order stop-first`; else those whose `deploy.update_config.order` is start-first, and
    the single services without one whose containers can run side by side (the others are
    stop-first: the preflight refuses that break unless stop-first was asked for, and names
    the fix)."""
    units = (*(s for g in groups for s in g.siblings), *singles)
    stateful = [s for s in units if project.services[s].role is Role.STATEFUL]
    if stateful and options.order is Order.START_FIRST:
        raise UsageError(
            f"service {stateful[0]!r} is stateful: it is replaced stop-first only, never beside "
            "itself on its data; leave out --order start-first"
        )
    singles = [s for s in singles if s not in stateful]  # reached only with --allow-stateful
    if options.order is Order.START_FIRST:
        return tuple(s for s in units if s not in stateful)
    if options.order is Order.STOP_FIRST:
        return ()
    chosen = [s for g in groups for s in g.siblings if s not in stateful
              and update_order(project.services[s].config) is Order.START_FIRST]  # fmt: skip
    for single in singles:
        config = project.services[single].config
        order = update_order(config)
        if order is Order.START_FIRST or (order is None and not side_by_side_blockers(config)):
            chosen.append(single)
    return tuple(chosen)


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
    project = _rolling_back(project)
    groups, singles = _units(project, options)
    counts = _existing(_start_first(project, groups, singles, options), existing)
    steps: list[Step] = []
    units = (*(s for g in groups for s in g.siblings), *singles)
    for unit in units:
        steps += _unit_steps(
            project, cli, options, unit, counts=counts, image_checks=image_checks, retag=True
        )
    images = _image_names(project, cli, groups, singles)
    policies = _policies(project, units)
    return Plan(groups, tuple(with_delays(steps, policies)), images=images, singles=singles,
                existing=counts, policies=policies)  # fmt: skip


def _rolling_back(project: Project) -> Project:
    """The project as `zdd rollback` rolls it out: each service's `deploy.rollback_config` in
    place of its `update_config` (as Swarm rolls back), where it has one."""
    services = {}
    for name, service in project.services.items():
        deploy = service.config.get("deploy")
        deploy = dict(deploy) if isinstance(deploy, Mapping) else {}
        deploy["update_config"] = deploy.get("rollback_config") or deploy.get("update_config")
        services[name] = replace(service, config={**service.config, "deploy": deploy})
    return replace(project, services=services)


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
    policy = update_policy(config)
    size = policy.parallelism if 0 < policy.parallelism < count and before == count else count
    steps: list[Step] = [Retag(service)] if retag else []
    for start in range(0, count, size):  # batches: in place of `size` old ones, `size` new
        part = Part(start, min(start + size, count), count) if size < count else None
        new = part.end - part.start if part else count
        steps += _batch(project, cli, options, service, new=new, before=before, part=part,
                        image_checks=image_checks)  # fmt: skip
        if part is not None and part.end < count and policy.delay:
            steps.append(Wait(service, policy.delay))
    return steps


def _batch(
    project: Project,
    cli: ComposeCli,
    options: DeployOptions,
    service: str,
    *,
    new: int,
    before: int,
    part: Part | None,
    image_checks: Mapping[str, float] | None,
) -> list[Step]:
    """One batch of a start-first unit: `new` containers beside the `before` old ones, gated,
    admitted, watched; then the old ones (their `part`, in batches) drained, stopped and
    removed."""
    config = project.services[service].config
    count = new
    mode = MODES[options.proxy]
    held = mode.holds
    steps: list[Step] = [Command(cli.scale_up(service, before + count, start=not held),
                                 Verb.START, service)]  # fmt: skip
    seen = (image_checks or {}).get(cli.image_name(service, config))
    gate = replace(gate_for(config, service, options, seen), containers=count, held=held)
    gate, watch = _window(gate, mode, options, _budget(project, options), start_first=True)
    steps.append(gate)
    if mode.admits:
        settle = options.settle if held else 0.0
        steps.append(
            Rotate(service, RotateAction.ADMIT, True, held, settle, confirmed=mode.confirms)
        )
    steps += watch if before else []  # a first deploy: nothing to judge against or go back to
    if before:
        if mode.drains or options.drain_image:
            steps.append(Rotate(service, RotateAction.DRAIN, start_first=True, part=part,
                                inside=_inside(mode, options)))  # fmt: skip
        steps.append(Retire(service, options.stop_timeout, part))
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
    mode = MODES[options.proxy]
    held = mode.holds
    steps: list[Step] = [Retag(sibling)] if retag else []
    if mode.drains or options.drain_image:
        steps.append(Rotate(sibling, RotateAction.DRAIN, inside=_inside(mode, options)))
    steps.append(Command(cli.stop(sibling, options.stop_timeout), Verb.STOP, sibling))
    steps.append(Command(cli.up(sibling, start=not held), Verb.UP, sibling))
    config = project.services[sibling].config
    image = cli.image_name(sibling, config)
    seen = (image_checks or {}).get(image)
    speaks_http = project.services[sibling].role is not Role.STATEFUL  # a database does not
    gate = replace(gate_for(config, sibling, options, seen, speaks_http), held=held)
    gate, watch = _window(gate, mode, options, _budget(project, options), start_first=False)
    steps.append(gate)
    if mode.admits:
        settle = options.settle if held else 0.0
        steps.append(
            Rotate(sibling, RotateAction.ADMIT, held=held, settle=settle, confirmed=mode.confirms)
        )
    return steps + watch


def _inside(mode: Capabilities, options: DeployOptions) -> str:
    """The helper image that drains from inside, where the proxy cannot drain (discovery)."""
    return "" if mode.drains else options.drain_image or ""


def _budget(project: Project, options: DeployOptions) -> Budget:
    """The error budget: the flags, else the top-level `x-zdd`, else the defaults."""
    settings, default = project.settings, Budget()
    rate, ratio = options.max_error_rate, options.max_latency_ratio
    return Budget(
        settings.get("max_error_rate", default.max_error_rate) if rate is None else rate,
        settings.get("max_latency_ratio", default.max_latency_ratio) if ratio is None else ratio,
    )


def _window(
    gate: Gate,
    mode: Capabilities,
    options: DeployOptions,
    budget: Budget,
    *,
    start_first: bool,
) -> tuple[Gate, list[Step]]:
    """Behind a proxy whose traffic zdd reads (the managed nginx), or with a --verify probe
    to read instead, the monitor window comes after admission, as the error budget's window
    (WINDOW when none was asked); elsewhere (and where that nginx does not log for zdd) it
    stays a watch of the container before admission."""
    if not mode.observes and options.verify is None:
        return gate, []
    asked = options.monitor is not None or gate.monitor > 0  # the flag, or the file's
    seconds = gate.monitor if asked else WINDOW
    if seconds <= 0:
        return gate, []
    # the gate keeps its monitor: run before admission where the proxy turns out not to log
    return gate, [Watch(gate.service, seconds, budget, start_first, asked)]
