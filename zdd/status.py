"""`zdd status`: each sibling's container, image, health and rotation, and the lock."""

from __future__ import annotations

import os
from dataclasses import dataclass

from zdd.containers import by_service, project_containers
from zdd.errors import ComposeCommandError
from zdd.lock import holder
from zdd.project import service_port
from zdd.proxy import ProxyMode
from zdd.proxy.nginx import upstream_file
from zdd.releases import Ledger
from zdd.session import Session


@dataclass(frozen=True)
class SiblingStatus:
    """One sibling as the engine and the proxy see it."""

    service: str
    container: str | None
    status: str
    health: str | None
    image_id: str | None
    release: str | None  # the release tag of its image, when zdd deployed it
    in_rotation: bool | None  # None: zdd does not manage the proxy


def collect(
    session: Session, proxy: ProxyMode, proxy_service: str
) -> tuple[list[SiblingStatus], str | None]:
    """The siblings' status, and who holds the deploy lock (None when free)."""
    runner, project = session.runner, session.project
    containers = by_service(project_containers(runner, project.name))
    rendered: dict[str, str] = {}
    proxies = [c for c in containers.get(proxy_service, []) if c.running]
    if proxy is ProxyMode.NGINX and proxies:
        for group in project.groups:
            path = upstream_file(group.base)
            try:
                rendered[group.base] = runner.run(["docker", "exec", proxies[0].id, "cat", path])
            except ComposeCommandError:
                rendered[group.base] = ""  # no file: the proxy routes only by its fallback
    rows = []
    ledger = Ledger(runner, project.name)
    for group in project.groups:
        port = service_port(project.services[group.siblings[0]].config) if rendered else 0
        for sibling in group.siblings:
            found = containers.get(sibling, [])
            if not found:
                rows.append(SiblingStatus(sibling, None, "missing", None, None, None, None))
                continue
            c = found[0]
            tags = dict((image_id, tag) for tag, image_id in ledger.releases(sibling))
            in_rotation = None
            if proxy is ProxyMode.NGINX:
                text = rendered.get(group.base, "")
                in_rotation = any(f"{ip}:{port};" in text for ip in c.networks.values())
            rows.append(
                SiblingStatus(
                    sibling,
                    c.name,
                    c.status,
                    c.health,
                    c.image_id,
                    tags.get(c.image_id),
                    in_rotation,
                )
            )
    return rows, holder(project.name, session.engine, os.environ)
