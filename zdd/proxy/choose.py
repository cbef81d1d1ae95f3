"""`--proxy auto` (the default): which proxy mode a project gets, why, and what it promises.

Pure: the project as compose resolves it and the flags. The choice is said in one line before
anything changes, and the deploy's summary says whether zdd controlled the routing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zdd.project import Project, networks_of
from zdd.proxy.modes import MODES, ProxyMode


@dataclass(frozen=True)
class Choice:
    """The proxy mode of one command, and why."""

    mode: ProxyMode
    reason: str

    def line(self) -> str:
        """The one line said before anything changes."""
        return f"proxy: {self.mode} ({self.reason}): {MODES[self.mode].promise}"

    @property
    def controlled(self) -> bool:
        """Whether zdd itself controls which containers get requests."""
        return MODES[self.mode].controlled


def choose_mode(
    project: Project,
    settings: Mapping[str, Any],
    proxy: ProxyMode | None,
    proxy_service: str,
    hooks: bool,
) -> Choice:
    """--proxy, else `x-zdd: {proxy}`, else: hooks given -> external; a proxy service that
    shares a network with the siblings -> discovery; else none."""
    if proxy is not None and proxy is not ProxyMode.AUTO:
        return Choice(proxy, "--proxy")
    if settings.get("proxy"):
        return Choice(ProxyMode(settings["proxy"]), "`x-zdd: {proxy}` in the compose file")
    if hooks:
        return Choice(ProxyMode.EXTERNAL, "--pre-stop/--post-start given")
    siblings = [s for group in project.groups for s in group.siblings]
    siblings = siblings or list(project.singles((), proxy_service))
    service = project.services.get(proxy_service)
    if service is not None and proxy_service not in siblings:
        shared = networks_of(service.config) & set().union(
            *(networks_of(project.services[s].config) for s in siblings)
        )
        if shared:
            return Choice(
                ProxyMode.DISCOVERY,
                f"service {proxy_service!r} shares network {sorted(shared)[0]} with the "
                "siblings and zdd does not manage it",
            )
    return Choice(ProxyMode.NONE, f"no service {proxy_service!r} shares a network with them")
