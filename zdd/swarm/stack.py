"""Render the stack file Swarm accepts from the project compose resolved (pure).

compose's `config` has already done extends, interpolation, `.env`, `env_file` and profiles;
this module only reshapes each service for `docker stack deploy` (schema 3.8, as the docker
20.10 CLI reads it) and refuses, with one line naming the key and the fix, what Swarm cannot
take. A sibling group becomes ONE Swarm service named after its base, with as many replicas
as the group has siblings: Swarm updates a stack's services in parallel, so only one service
with `update_config.parallelism: 1` keeps the siblings' one-at-a-time guarantee, and the
proxy resolves one name (`tasks.<base>`) for the whole group.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from zdd.errors import UsageError
from zdd.project import (
    Group,
    Project,
    healthcheck_of,
    is_number,
    parse_duration,
    update_config,
)
from zdd.swarm.keys import (
    AS_IS,
    CONVERT,
    DROPPED,
    FIXES,
    convert_ports,
    file_configs,
    go_duration,
)

STACK_VERSION = "3.8"
MONITOR = 5.0  # seconds Swarm watches each new task once running (healthy, with a check)

_DEPLOY_KEYS = ("resources", "placement", "labels", "restart_policy", "endpoint_mode", "mode")
_RESTART = {"always": "any", "unless-stopped": "any", "no": "none", "on-failure": "on-failure"}
_REPO_PART = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_REGISTRY = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]{1,5})?")


@dataclass(frozen=True)
class Unit:
    """One Swarm service of the stack: a group (named after its base) or a single service."""

    name: str
    source: str  # the compose service whose configuration it runs
    replicas: int
    members: tuple[str, ...] = ()  # the siblings it stands for


@dataclass
class Stack:
    """The rendered stack file, and what rendering it had to say."""

    document: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def services(self) -> list[str]:
        """The Swarm services of the stack, by their names in the file."""
        return list(self.document["services"])


def check_registry(registry: str) -> str:
    """`--registry HOST[:PORT]`, or one line saying what is wrong."""
    if not _REGISTRY.fullmatch(registry):
        raise UsageError(
            f"--registry: expected HOST[:PORT] (e.g. 127.0.0.1:5000), got {registry!r}"
        )
    return registry


def repository(registry: str, project: str, service: str) -> str:
    """`REGISTRY/PROJECT/SERVICE` in the lower case a registry path needs."""
    parts = [re.sub(r"[^a-z0-9._-]+", "-", p.lower()).strip("._-") for p in (project, service)]
    for part, given in zip(parts, (project, service), strict=True):
        if not _REPO_PART.fullmatch(part):
            raise UsageError(f"{given!r} cannot name an image in a registry (use a-z, 0-9, -)")
    return f"{registry}/{parts[0]}/{parts[1]}"


def units(project: Project) -> list[Unit]:
    """The stack's services: one per group (its siblings' replicas summed), one per service
    outside every group."""
    grouped: set[str] = set()
    found: list[Unit] = []
    for group in project.groups:
        grouped.update((group.base, *group.siblings))
        _same_siblings(project, group)
        count = sum(_replicas(project.services[s].config) for s in group.siblings)
        found.append(Unit(group.base, group.siblings[0], count, group.siblings))
    for name, service in project.services.items():
        if name not in grouped:
            found.append(Unit(name, name, _replicas(service.config)))
    return found


def _same_siblings(project: Project, group: Group) -> None:
    """Swarm runs one configuration per service: siblings that differ cannot be one."""
    first, *rest = group.siblings
    shape = _shape(project.services[first].config)
    for sibling in rest:
        other = _shape(project.services[sibling].config)
        differ = sorted(k for k in set(shape) | set(other) if shape.get(k) != other.get(k))
        if differ:
            raise UsageError(
                f"siblings {first} and {sibling} differ in {differ[0]!r}: on Swarm a group runs "
                f"as one service ({group.base}); make them equal or keep it on compose"
            )


def _shape(config: Mapping[str, Any]) -> dict[str, Any]:
    ignored = ("container_name", "deploy", "scale", "x-zdd", "extends", "hostname")
    return {k: v for k, v in config.items() if k not in ignored}


def _replicas(config: Mapping[str, Any]) -> int:
    deploy = config.get("deploy") or {}
    for value in (deploy.get("replicas"), config.get("scale")):
        if value is not None and is_number(str(value)):
            return int(value)
    return 1


def render(project: Project, images: Mapping[str, str], monitor: float = MONITOR) -> Stack:
    """The stack file for `project`; `images` maps each unit to the image reference its
    tasks run (pushed to the registry); Swarm watches each new task `monitor` seconds."""
    top = project.top
    stack = Stack({"version": STACK_VERSION, "services": {}})
    configs: dict[str, dict[str, str]] = {}
    networks: set[str] = set()
    volumes: set[str] = set()
    for unit in units(project):
        config = project.services[unit.source].config
        service = dict(_service(unit, config, stack.warnings, configs, monitor))
        service["image"] = images.get(unit.name, service.get("image"))
        if not service.get("image"):
            raise UsageError(f"service {unit.name} has no image to run on Swarm")
        networks.update(service.get("networks") or {"default": None})
        named = (v.get("source") for v in service.get("volumes", ()) if v.get("type") == "volume")
        volumes.update(v for v in named if v)  # an anonymous volume has no top-level entry
        stack.document["services"][unit.name] = service
    stack.document["networks"] = {
        n: _network(n, (top.get("networks") or {}).get(n)) for n in sorted(networks)
    }
    if volumes:
        given = top.get("volumes") or {}
        stack.document["volumes"] = {
            v: _volume(v, given.get(v), project.name) for v in sorted(volumes)
        }
    if configs:
        stack.document["configs"] = configs
    return stack


def _service(
    unit: Unit,
    config: Mapping[str, Any],
    warnings: list[str],
    configs: dict[str, dict[str, str]],
    monitor: float,
) -> Iterator[tuple[str, Any]]:
    for key, value in config.items():
        if value is None or key.startswith("x-"):
            continue
        if key in AS_IS:
            yield key, value
        elif key in DROPPED:
            if DROPPED[key]:
                warnings.append(f"{unit.name}: " + DROPPED[key].format(value=value))
        elif key in CONVERT:
            converted = CONVERT[key](unit.name, value, configs)
            if converted:
                yield key, converted
        elif key != "deploy":
            fix = FIXES.get(key, "remove it, or keep this project on compose")
            raise UsageError(f"service {unit.source}: Swarm cannot take `{key}`: {fix}")
    files = file_configs(config)
    if files:
        yield "configs", files
    ports = convert_ports(unit.name, config.get("ports") or [])
    if ports:
        published = ", ".join(str(p["published"]) for p in ports)
        warnings.append(
            f"{unit.name} publishes {published} on its node (host mode): Swarm replaces it "
            "stop-first, a gap while it restarts, whenever its configuration changes"
        )
    if healthcheck_of(config) is None and "build" in config:
        warnings.append(
            f"{unit.name} has no healthcheck: Swarm adds a new task to DNS as soon as it "
            "starts, before it may be ready"
        )
    yield "deploy", _deploy(unit, config, bool(ports), monitor)


def _resources(given: Mapping[str, Any]) -> dict[str, Any]:
    """deploy.resources as the 3.8 schema takes them: cpus and memory as strings."""
    out: dict[str, Any] = {}
    for part in ("limits", "reservations"):
        values = {k: str(v) for k, v in (given.get(part) or {}).items() if k in ("cpus", "memory")}
        if values:
            out[part] = values
    return out


def _deploy(
    unit: Unit, config: Mapping[str, Any], publishes: bool, seconds: float
) -> dict[str, Any]:
    """deploy: the user's placement and resources, zdd's replicas, endpoint mode and update
    policy (start-first, one task at a time, rolled back by Swarm on the first failure)."""
    given = {k: v for k, v in (config.get("deploy") or {}).items() if k in _DEPLOY_KEYS and v}
    deploy: dict[str, Any] = {"endpoint_mode": "dnsrr", **given, "replicas": unit.replicas}
    if deploy.get("mode") == "global":
        del deploy["replicas"]
    if "resources" in deploy:
        deploy["resources"] = _resources(deploy["resources"])
        if not deploy["resources"]:
            del deploy["resources"]
    if "restart_policy" not in deploy:
        # no `restart:` at all: Swarm's own default (a task that dies is replaced), not none
        restart = str(config.get("restart") or "always")
        name, _, attempts = restart.partition(":")
        policy: dict[str, Any] = {"condition": _RESTART.get(name, "any")}
        if is_number(attempts):
            policy["max_attempts"] = int(attempts)
        deploy["restart_policy"] = policy
    monitor = go_duration(seconds)
    # A task that publishes a host port cannot run beside its replacement on one node.
    order = "stop-first" if publishes else "start-first"
    policy_of = {"parallelism": 1, "delay": "0s", "order": order, "monitor": monitor}
    for key, action in (("update_config", "rollback"), ("rollback_config", "pause")):
        # the file's own batches, delay and failure policy pass through to Swarm
        given = {k: v for k, v in update_config(config, key).items() if k in PASSED_THROUGH}
        deploy[key] = {**policy_of, "failure_action": action, "max_failure_ratio": 0, **given}
    return deploy


PASSED_THROUGH = ("parallelism", "delay", "failure_action", "max_failure_ratio")


def _network(name: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
    given = given or {}
    if given.get("external"):
        return {"external": True, "name": str(given.get("name") or name)}
    driver = given.get("driver") or "overlay"
    if driver not in ("overlay", "bridge"):
        raise UsageError(f"network {name}: Swarm services need an overlay network, not {driver}")
    network: dict[str, Any] = {"driver": "overlay"}
    for key in ("internal", "attachable"):  # an internal network stays internal
        if given.get(key):
            network[key] = True
    for key in ("driver_opts", "labels"):  # a bridge's options mean nothing to an overlay
        if given.get(key) and driver == "overlay":
            network[key] = dict(given[key])
    return network


def _volume(name: str, given: Mapping[str, Any] | None, project: str) -> dict[str, Any]:
    """A named volume keeps the name its data lives under (compose's own `PROJECT_NAME` is
    what the stack gives it anyway)."""
    given = given or {}
    real = str(given.get("name") or name)
    if given.get("external"):
        return {"external": True, "name": real}
    volume = {k: given[k] for k in ("driver", "driver_opts", "labels") if given.get(k)}
    own = given.get("name") and real != f"{project}_{name}"
    return {**volume, "name": real} if own else volume


def budget(stack: Stack, health_timeout: float | None = None) -> float:
    """Seconds the whole rollout may take: each task's health budget (`--health-timeout`,
    else its healthcheck's) and monitor, in turn."""
    total = 60.0
    for service in stack.document["services"].values():
        check = service.get("healthcheck") or {}
        each = health_timeout or healthcheck_of({"healthcheck": check}) or 30.0
        total += service["deploy"].get("replicas", 1) * (
            each + parse_duration(service["deploy"]["update_config"]["monitor"])
        )
    return total
