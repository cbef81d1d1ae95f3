"""`zdd status`: each sibling's container (each container of a service without siblings),
image, health and rotation, and the lock."""

from __future__ import annotations

import os
from dataclasses import dataclass

from zdd.containers import by_service, project_containers
from zdd.errors import ComposeCommandError
from zdd.lock import holder
from zdd.project import service_port
from zdd.proxy.modes import MODES, ProxyMode
from zdd.proxy.nginx_files import upstream_file
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
    """The siblings' (and single services') status, and who holds the deploy lock (None when
    free)."""
    runner, project = session.runner, session.project
    containers = by_service(project_containers(runner, project.name))
    units = {g.base: g.siblings for g in project.groups}
    units |= {s: (s,) for s in project.singles((), proxy_service)}
    rendered: dict[str, str] = {}
    proxies = [c for c in containers.get(proxy_service, []) if c.running]
    renders = MODES[proxy].renders_upstream  # what is in rotation is read from what zdd wrote
    if renders and proxies:
        for base in units:
            path = upstream_file(base)
            try:
                rendered[base] = runner.run(["docker", "exec", proxies[0].id, "cat", path])
            except ComposeCommandError:
                rendered[base] = ""  # no file: the proxy routes only by its fallback
    rows = []
    ledger = Ledger(runner, project.name)
    for base, siblings in units.items():
        port = service_port(project.services[siblings[0]].config) if rendered else 0
        for sibling in siblings:
            found = containers.get(sibling, [])
            if not found:
                rows.append(SiblingStatus(sibling, None, "missing", None, None, None, None))
                continue
            tags = dict((image_id, tag) for tag, image_id in ledger.releases(sibling))
            for c in found if base == sibling else found[:1]:  # a single: every container
                in_rotation = None
                if renders:
                    text = rendered.get(base, "")
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
