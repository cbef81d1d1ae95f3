"""The preflight: what cannot work is refused, and what cannot be zero-downtime is said, before
any change. Pure: the project as compose files define it, the options, the groups to roll out.

`zdd check` prints every finding; `deploy`, `rollback` and `--dry-run` print the warnings and
stop (exit 2) at the first refusal, before the build.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zdd.errors import ZddError
from zdd.order import Order
from zdd.plan import DeployOptions
from zdd.project import (
    Group,
    HostPort,
    Project,
    Role,
    networks_of,
    published_ports,
    replicas,
    service_port,
    side_by_side_blockers,
    update_order,
)
from zdd.proxy.modes import MODES, ProxyMode


@dataclass(frozen=True)
class Finding:
    """One thing the preflight found: `refuse` stops the command, `warn` is said first;
    `info` (zdd check only) says a service's role and what the plan does with it."""

    level: str  # "refuse", "warn" or "info"
    message: str


def preflight(
    project: Project,
    options: DeployOptions,
    groups: Sequence[Group],
    singles: Sequence[str] = (),
    start_first: Sequence[str] = (),
) -> list[Finding]:
    """Every finding for rolling out `groups` and the single services `singles` with
    `options`; `start_first`: the units whose new containers start beside the old ones."""
    found = list(_proxy(project, options, groups))
    if options.drain_image and options.proxy is not ProxyMode.DISCOVERY:
        found.append(
            Finding(
                "refuse",
                f"--drain-image is for --proxy discovery, not {options.proxy}"
                " (nginx drains in the proxy; external: your --pre-stop hook)",
            )
        )
    if options.verify is not None:
        from zdd.probe import Probe

        try:
            Probe(options.verify)  # parses the URL only
        except ZddError as err:
            found.append(Finding("refuse", f"--verify: {err}"))
    for group in groups:
        siblings = [(s, project.services[s].config) for s in _all_siblings(project, group)]
        found += _shared(group, siblings)
        for sibling, config in siblings:
            if sibling in group.siblings:
                found += _sibling(sibling, config, options)
            if sibling in group.siblings and sibling in start_first:
                found += _side_by_side(sibling, config)
    for single in singles:
        config = project.services[single].config
        stateful = project.services[single].role is Role.STATEFUL  # --allow-stateful only
        found += _single(single, config, options, start_first=single in start_first,
                         stateful=stateful)  # fmt: skip
    units = [*(s for g in groups for s in g.siblings), *singles]
    if MODES[options.proxy].holds:
        found += _held_alone(project, options.proxy_service, units)
    if options.drain_image:
        found += _shared_namespace(project, units)
    return found


def _shared_namespace(project: Project, units: Sequence[str]) -> Iterator[Finding]:
    """--drain-image sets its rule in a container's network namespace: refused where that
    namespace is the host's or another container's (its rule would refuse their clients)."""
    for unit in units:
        mode = str(project.services[unit].config.get("network_mode") or "")
        if mode not in ("", "bridge", "none", "default"):
            yield Finding(
                "refuse",
                f"{unit}: network_mode {mode!r} shares a network namespace that is not its own: "
                "--drain-image would refuse new connections to all of it; leave it out",
            )


def _held_alone(project: Project, proxy: str, units: Sequence[str]) -> Iterator[Finding]:
    """Discovery: a new container warms up off the networks it shares with the proxy. Said
    where that leaves it without a service it may need then (one on those networks)."""
    if proxy not in project.services:
        return
    shared_with_proxy = networks_of(project.services[proxy].config)
    for unit in units:
        own = networks_of(project.services[unit].config)
        if not own or not own <= shared_with_proxy:
            continue  # it keeps a network of its own while it warms up
        others = [
            name
            for name, service in project.services.items()
            if name not in (proxy, *units)
            and networks_of(service.config) & own
            and not any(name == g.base for g in project.groups)
        ]
        if others:
            nets = ", ".join(sorted(own))
            yield Finding(
                "warn",
                f"{unit} is on no network but the proxy's ({nets}): while a new container "
                f"warms up zdd keeps it off {nets}, so it cannot reach {', '.join(others)} "
                f"then; to avoid it, add `networks: [frontend, default]` to {unit}, "
                f"`networks: [frontend]` to {proxy}, and `networks: {{frontend: {{}}}}` at the "
                "top level",
            )


def _all_siblings(project: Project, group: Group) -> tuple[str, ...]:
    """Every sibling of the group in the project, also those a narrowed rollout leaves."""
    whole = next((g for g in project.groups if g.base == group.base), group)
    return whole.siblings


def _proxy(project: Project, options: DeployOptions, groups: Sequence[Group]) -> Iterator[Finding]:
    mode = MODES[options.proxy]
    if mode.needs_proxy_service and options.proxy_service not in project.services:
        yield Finding(
            "refuse",
            f"--proxy {options.proxy}: no service {options.proxy_service!r} in {project.name}; "
            "name it with --proxy-service",
        )
    if mode.runs_hooks:
        for flag, command in (
            ("--pre-stop", options.pre_stop),
            ("--post-start", options.post_start),
        ):
            found = _missing_command(command)
            if found is not None:
                yield Finding("refuse", f"{flag}: command not found: {found}")
    for group in groups:
        alone = len(_all_siblings(project, group)) == 1
        if alone:
            yield Finding(
                "refuse" if mode.controlled else "warn",
                f"{group.base} has one sibling, {group.siblings[0]}: replacing it stop-first "
                f"fails requests while it is down; add a second (`extends: {group.base}`)",
            )


def _missing_command(command: str | None) -> str | None:
    """The hook's program when it cannot be found (or the hook is empty), else None."""
    if command is None:
        return None
    try:
        argv = shlex.split(command)
    except ValueError as err:
        return f"{command!r} ({err})"
    if not argv:
        return "(empty)"
    return None if shutil.which(argv[0]) else argv[0]


def _shared(group: Group, siblings: Sequence[tuple[str, Mapping[str, Any]]]) -> Iterator[Finding]:
    """What two siblings of one group cannot both have: one container name, one host port."""
    names: dict[str, str] = {}
    ports: list[tuple[HostPort, str]] = []
    for sibling, config in siblings:
        name = config.get("container_name")
        if name is not None:
            if str(name) in names:
                yield Finding(
                    "refuse",
                    f"{names[str(name)]} and {sibling} both have container_name {name!r} "
                    f"(inherited from {group.base}?): two containers cannot share a name",
                )
            names.setdefault(str(name), sibling)
        for port in published_ports(config):
            clash = next((s for s in ports if s[1] != sibling and s[0].clashes(port)), None)
            if clash is not None:
                yield Finding(
                    "refuse",
                    f"{clash[1]} and {sibling} both publish host port {port}: the second "
                    "cannot start; publish the proxy's port only, or `expose` the app's",
                )
            ports.append((port, sibling))


def _sibling(sibling: str, config: Mapping[str, Any], options: DeployOptions) -> Iterator[Finding]:
    count = replicas(config)
    if count not in (None, 1):
        yield Finding(
            "refuse",
            f"{sibling}: {count} replicas (`deploy.replicas` / `scale`): zdd replaces one "
            "container per sibling; give each copy a sibling of its own, or deploy one "
            "service without siblings (start-first, replicas honoured)",
        )
    yield from _routable(sibling, config, options)


def _single(
    service: str,
    config: Mapping[str, Any],
    options: DeployOptions,
    *,
    start_first: bool,
    stateful: bool = False,
) -> Iterator[Finding]:
    """A service without siblings: start-first (its replicas honoured), else stop-first and
    said so; routable. A stateful one (named with --allow-stateful) is stop-first, warned."""
    if start_first:
        yield from _side_by_side(service, config)
    else:
        yield from _stop_first_single(service, config, options, stateful)
    count = replicas(config)
    if count is not None and not (isinstance(count, int) and count > 0):
        yield Finding(
            "refuse", f"{service}: replicas must be a whole number above 0, not {count!r}"
        )
    yield from _routable(service, config, options, stateful)


def _stop_first_single(
    service: str, config: Mapping[str, Any], options: DeployOptions, stateful: bool = False
) -> Iterator[Finding]:
    """A single service replaced stop-first: its one container is out while it is replaced."""
    blockers = side_by_side_blockers(config)
    asked = (
        "--allow-stateful: it holds data, and zdd never starts a copy beside it"
        if stateful
        else _stop_first_asked(options, config)
    )
    why = (
        f"it cannot run two copies side by side ({', '.join(blockers)})"
        if blockers and not asked
        else asked
    )
    count = replicas(config)
    if isinstance(count, int) and count > 1:
        yield Finding(
            "refuse",
            f"{service}: stop-first ({why}) replaces one container, and it has {count} replicas",
        )
    yield Finding(
        "refuse" if MODES[options.proxy].controlled or not asked else "warn",
        f"{service} is replaced stop-first because {why}: it serves no request from its stop "
        f"until its new container is ready{_fix(blockers) if not asked else ''}",
    )


def _stop_first_asked(options: DeployOptions, config: Mapping[str, Any]) -> str:
    """Who asked for stop-first (the break it makes is then theirs): --order, else the
    service's deploy.update_config.order; "" when nobody did."""
    if options.order is Order.STOP_FIRST:
        return "--order stop-first"
    if options.order is None and update_order(config) is Order.STOP_FIRST:
        return "deploy.update_config.order is stop-first"
    return ""


def _fix(blockers: list[str]) -> str:
    """The whole fix for what keeps two copies from running at once."""
    fixes = (
        ["remove container_name (compose names each container)"]
        if any(b.startswith("container_name") for b in blockers)
        else []
    )
    if "network_mode: host" in blockers:
        fixes.append("leave the host's network (compose's default network) and publish the port")
    if any(b.startswith("host port") for b in blockers):
        fixes.append(
            "let a proxy publish the port instead: `expose` the app's port and publish it on "
            "your proxy (in a project without a proxy, `zdd init --write` does that with zdd's "
            "nginx)"
        )
    return f"; for zero downtime {' and '.join(fixes)}; to accept the break, --order stop-first"


def _side_by_side(service: str, config: Mapping[str, Any]) -> Iterator[Finding]:
    """Start-first runs the new containers beside the old: what two copies cannot share."""
    why = "a start-first rollout runs its new containers beside the old ones"
    name = config.get("container_name")
    if name is not None:
        yield Finding(
            "refuse",
            f"{service} has container_name {name!r}: {why}, and two containers cannot share "
            "a name; remove container_name (compose names each container)",
        )
    if config.get("network_mode") == "host":
        yield Finding(
            "refuse",
            f"{service} has network_mode: host: {why}, and the new one could not bind the "
            "port the old one holds; leave the host's network and publish the port",
        )
    for port in dict.fromkeys(published_ports(config)):
        yield Finding(
            "refuse",
            f"{service} publishes host port {port}: {why}, and the new one could not bind it; "
            "publish the proxy's port only, and `expose` the app's",
        )


def _routable(
    sibling: str, config: Mapping[str, Any], options: DeployOptions, stateful: bool = False
) -> Iterator[Finding]:
    """What the proxy needs of a service it routes to, and whether its gate can be real."""
    mode = str(config.get("network_mode", ""))
    renders = MODES[options.proxy].renders_upstream
    if renders and mode and not mode.startswith("bridge"):
        yield Finding(
            "refuse",
            f"{sibling}: network_mode {mode!r} gives it no address of its own for the managed "
            "nginx to route to",
        )
    if renders:
        try:
            service_port(config)
        except ZddError as err:
            yield Finding("refuse", f"{sibling}: {err}")
    check = config.get("healthcheck")
    disabled = (
        not isinstance(check, dict)
        or check.get("disable")
        or check.get("test")
        in (
            None,
            "NONE",
            ["NONE"],
        )
    )
    if disabled and not options.health_path and stateful:
        yield Finding(
            "warn",
            f"{sibling} has no healthcheck (in the compose file): unless its image has a "
            f"HEALTHCHECK, zdd waits the seed's {options.delay:g} s and checks it still runs (a "
            "database is not asked over HTTP); give it a healthcheck (e.g. pg_isready)",
        )
    elif disabled and not options.health_path:
        yield Finding(
            "warn",
            f"{sibling} has no healthcheck (in the compose file) and no --health-path: unless "
            "its image has a HEALTHCHECK, zdd takes it as ready once `/` on its port answers "
            "below 500 inside it (no HTTP client there, or no port: the seed's "
            f"{options.delay:g} s wait), which an app may give before it is fully ready",
        )
