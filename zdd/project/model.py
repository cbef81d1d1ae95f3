"""The project model: frozen values for the services compose resolves, zdd's groups (a base
service and the siblings that extend it), and zdd's own top-level `x-zdd` settings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zdd.compose import ComposeCli
from zdd.errors import ComposeFileError, UsageError
from zdd.project.nginxconf import ProxyRouting
from zdd.project.roles import AN_APP, Evidence, Role
from zdd.proxy import ProxyMode

SERVICE_NAME = re.compile(r"[a-zA-Z0-9_.][a-zA-Z0-9_.-]*")
SETTINGS_KEYS = (  # the top-level `x-zdd` keys zdd reads
    "proxy",
    "proxy_service",
    "engine",
    "registry",
    "max_error_rate",
    "max_latency_ratio",
)
ENGINES = ("compose", "swarm")
SERVICE_KEYS = ("port", "role")  # a service's own `x-zdd` keys


def check_service_settings(service: str, settings: Any) -> None:
    """A service's `x-zdd`: a mapping of known keys (a misspelt one would be ignored silently,
    and the port or role it meant guessed instead)."""
    if settings is None:
        return
    if not isinstance(settings, dict):
        raise ComposeFileError(f"{service}: `x-zdd` must be a mapping")
    unknown = [str(key) for key in settings if key not in SERVICE_KEYS]
    if unknown:
        raise ComposeFileError(
            f"{service}: x-zdd: unknown key {unknown[0]!r} (known: {', '.join(SERVICE_KEYS)})"
        )


@dataclass(frozen=True)
class Service:
    """One service with its effective configuration, as compose's `config` gives it."""

    name: str
    config: Mapping[str, Any]
    parent: str | None = None  # the project service it extends, if any
    template: str | None = None  # `file#service` when it extends a service of another file
    evidence: Evidence = AN_APP  # its role and why (roles.py)
    routing: ProxyRouting | None = None  # a proxy's: how it finds the app (nginxconf.py)

    @property
    def role(self) -> Role:
        """app, proxy, stateful or job (roles.py)."""
        return self.evidence.role

    @property
    def builds(self) -> bool:
        """Whether compose builds this service's image."""
        return "build" in self.config


@dataclass(frozen=True)
class Group:
    """A base service and the siblings that extend it."""

    base: str
    siblings: tuple[str, ...]
    base_in_project: bool = True


@dataclass(frozen=True)
class Project:
    """A compose project as zdd needs it."""

    name: str
    directory: Path
    files: tuple[Path, ...]  # the user's files
    legacy: bool
    services: Mapping[str, Service]
    groups: tuple[Group, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)  # the top-level `x-zdd` mapping
    top: Mapping[str, Any] = field(default_factory=dict)  # compose's top-level networks, volumes
    cli: ComposeCli | None = None  # the argv builder that reads this project

    def select(self, names: Sequence[str]) -> tuple[Group, ...]:
        """Narrow the groups to the named siblings or bases (all groups when none named); a
        named service outside every group is a single service (`singles`), not an error."""
        if not names:
            return self.groups
        unknown = [name for name in names if name not in self.services and not self._base(name)]
        if unknown:
            known = ", ".join(self.services) or "none"
            raise UsageError(f"unknown service {unknown[0]!r}; services in {self.name}: {known}")
        selected: list[Group] = []
        for group in self.groups:
            if group.base in names:
                selected.append(group)
                continue
            siblings = tuple(s for s in group.siblings if s in names)
            if siblings:
                selected.append(Group(group.base, siblings, group.base_in_project))
        return tuple(selected)

    def singles(self, names: Sequence[str], proxy_service: str) -> tuple[str, ...]:
        """The services rolled out on their own, start-first: the named ones outside every
        group; with no name and no group, every app compose builds (not the proxy, nor a
        service whose role is proxy, stateful or job)."""
        grouped = {s for g in self.groups for s in (g.base, *g.siblings)}
        if names:
            return tuple(n for n in dict.fromkeys(names) if n not in grouped)
        if self.groups:
            return ()
        return tuple(
            n
            for n, s in self.services.items()
            if s.builds and n != proxy_service and s.role is Role.APP
        )

    def _base(self, name: str) -> bool:
        return any(group.base == name for group in self.groups)

    def describe_groups(self) -> str:
        """One-line summary of the groups, e.g. `app: service_a, service_b`."""
        return "; ".join(f"{g.base}: {', '.join(g.siblings)}" for g in self.groups) or "none"


def check_name(name: str) -> None:
    """Refuse a service name zdd cannot put in argv lists and proxy paths."""
    if not SERVICE_NAME.fullmatch(name) or name in (".", ".."):
        raise ComposeFileError(
            f"service name {name!r}: zdd takes letters, digits, `_`, `.` and `-`, not first "
            "`-`, and not `.` or `..` (names reach argv lists and proxy paths)"
        )


def find_groups(services: Mapping[str, Service]) -> tuple[Group, ...]:
    """Groups: each root of an `extends` tree and the leaves under it, in file order.

    A service that another one extends is a template: built, never started. A base compose
    leaves out (an inactive profile) is a template from outside the project.
    """
    templates = {s.parent for s in services.values() if s.parent}
    order: dict[str, list[str]] = {}
    for service in services.values():
        if service.name in templates or not (service.parent or service.template):
            continue
        root, seen = service, {service.name}
        while root.parent is not None and root.parent in services and root.parent not in seen:
            seen.add(root.parent)
            root = services[root.parent]
        key = root.name if root is not service else service.parent or service.template
        order.setdefault(str(key), []).append(service.name)
    first_seen = list(services)
    keys = sorted(order, key=lambda k: first_seen.index(k) if k in services else len(first_seen))
    return tuple(Group(key, tuple(order[key]), key in services) for key in keys)


def top_level_settings(documents: Iterable[Mapping[str, Any]]) -> Any:
    """The top-level `x-zdd` value, the last file's winning (compose v1's `config` drops it)."""
    found: Any = None
    for document in documents:
        if "x-zdd" in document:
            found = document["x-zdd"]
    return found


def check_settings(settings: Any) -> Mapping[str, Any]:
    """The top-level `x-zdd` mapping, checked: `proxy` (a --proxy mode; `auto` is as if it
    were not set), `proxy_service`, `engine` (compose|swarm), `registry`; no other key."""
    settings = settings or {}
    if not isinstance(settings, dict):
        raise ComposeFileError("top-level `x-zdd` must be a mapping")
    unknown = [str(key) for key in settings if key not in SETTINGS_KEYS]
    if unknown:
        raise ComposeFileError(
            f"x-zdd: unknown key {unknown[0]!r} (known: {', '.join(SETTINGS_KEYS)})"
        )
    modes = [str(mode) for mode in ProxyMode]
    proxy = settings.get("proxy", ProxyMode.AUTO.value)
    if proxy not in modes:
        raise ComposeFileError(
            f"x-zdd: proxy must be {', '.join(modes[:-1])} or {modes[-1]}, got {proxy!r}"
        )
    if not isinstance(settings.get("proxy_service", "proxy"), str):
        raise ComposeFileError("x-zdd: proxy_service must be a service name")
    if settings.get("engine", "compose") not in ENGINES:
        raise ComposeFileError(
            f"x-zdd: engine must be compose or swarm, got {settings['engine']!r}"
        )
    if not isinstance(settings.get("registry", ""), str):
        raise ComposeFileError("x-zdd: registry must be HOST[:PORT]")
    for key, top in (("max_error_rate", 1), ("max_latency_ratio", 1000)):
        value = settings.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= top:
            raise ComposeFileError(f"x-zdd: {key} must be a number from 0 to {top}, got {value!r}")
    if proxy == ProxyMode.AUTO:  # chosen from the project, as with no setting at all
        return {key: value for key, value in settings.items() if key != "proxy"}
    return settings
