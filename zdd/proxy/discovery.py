"""`--proxy discovery`: a proxy that finds containers by itself (a DNS alias on a network it
shares with the app, nginx-proxy's docker-gen, Traefik's docker provider) routes to whatever
runs on its network. zdd makes admission gated: a new container is created without starting,
taken off every network it shares with the proxy, started and gated there, then connected
again with the aliases compose gave it. Its other networks are attached before it starts
(compose v1 creates a container on one network only and connects the others when it starts
one itself), so it reaches its database while it warms up. A container that fails its gate
is removed without ever being reachable by the proxy. The proxy stops finding an old container
only once it is gone: zdd cannot take it out of rotation, only (with --drain-image,
netfilter.py) make it refuse new connections from the inside until its open ones are done.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zdd.containers import Container, by_service, project_containers
from zdd.ports import CommandRunner
from zdd.project import Project
from zdd.proxy.netfilter import NetfilterDrain
from zdd.proxy.nginx_files import Connections
from zdd.traffic import Unobserved


@dataclass(frozen=True)
class Attachment:
    """One network a held container is to be connected to again, as compose attached it."""

    network: str
    aliases: tuple[str, ...]
    ipv4: str = ""  # a fixed `ipv4_address`, kept


def attachments_of(project: Project, service: str) -> list[Attachment]:
    """The networks compose attaches `service`'s containers to (engine names), with the aliases
    compose v1 gives (the service's name, then the file's)."""
    config = project.services[service].config
    if config.get("network_mode"):
        return []
    networks: Any = config.get("networks") or {"default": None}
    if not isinstance(networks, Mapping):
        networks = dict.fromkeys(networks)
    top = project.top.get("networks") or {}
    found = []
    for key, given in networks.items():
        settings = given or {}
        name = str((top.get(key) or {}).get("name") or f"{project.name}_{key}")
        aliases = dict.fromkeys([service, *(str(a) for a in settings.get("aliases") or ())])
        found.append(Attachment(name, tuple(aliases), str(settings.get("ipv4_address") or "")))
    return found


@dataclass
class DiscoveryRotation(Unobserved):
    """Holds new containers off the proxy's networks until their gate passes."""

    runner: CommandRunner
    proxy_service: str
    project: Project | None = None  # the networks compose attaches each service to
    settle: float = 0.0  # seconds for the proxy to find a connected container (its DNS TTL)
    sleep: Callable[[float], None] = time.sleep
    networks: set[str] = field(default_factory=set)  # the proxy's networks (after sync)
    held: dict[str, list[Attachment]] = field(default_factory=dict)  # container id -> networks
    drainer: NetfilterDrain | None = None  # --drain-image: old containers drained inside
    counted: dict[str, Connections] = field(default_factory=dict)  # unit -> its last drain

    def sync(self, containers: Sequence[Container]) -> bool:
        """Learn the proxy's networks (no change): those its containers are on, and those
        compose puts it on (a proxy not running now may start during the deploy); refuse a
        --drain-image the engine does not have."""
        if self.drainer is not None:
            self.drainer.check()
        for proxy in by_service(containers).get(self.proxy_service, []):
            self.networks |= set(proxy.networks)
        if self.project and self.proxy_service in self.project.services:
            self.networks |= {a.network for a in attachments_of(self.project, self.proxy_service)}
        return False

    def hold(self, service: str, containers: Sequence[Container]) -> None:
        """Take the created (not started) containers off every network they share with the
        proxy, remembering how compose attached them; attach now the other networks compose
        has not attached yet (v1 does so only when it starts the container itself)."""
        expected = attachments_of(self.project, service) if self.project else []
        for container in containers:
            argv = ["docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}"]
            found = json.loads(self.runner.run([*argv, container.id]) or "{}") or {}
            attachments = []
            for network, settings in found.items():
                if network not in self.networks:
                    continue
                ipam = (settings or {}).get("IPAMConfig") or {}
                aliases = tuple((settings or {}).get("Aliases") or ())
                attachments.append(Attachment(network, aliases, ipam.get("IPv4Address") or ""))
            for attachment in attachments:
                argv = ["docker", "network", "disconnect", "--", attachment.network, container.id]
                self.runner.run(argv)
            for missing in (a for a in expected if a.network not in found):
                if missing.network in self.networks:
                    attachments.append(missing)  # connected once admitted
                else:
                    self._connect(missing, container.id)
            self.held[container.id] = attachments

    def route(
        self, service: str, admit: Sequence[Container] = (), drain: Sequence[Container] = ()
    ) -> None:
        """Connect each admitted container that was held to its networks again, then give the
        proxy `settle` seconds to find it (a DNS cache, an event loop) before anything old is
        stopped. With a drainer, the `drain` ones refuse new connections until they stop."""
        if self.drainer is not None and drain:
            self.counted[service] = self.drainer.drain(service, drain)
        elif self.drainer is not None and admit:
            self.drainer.release(service)  # its drained containers are gone by now
        connected = False
        for container in admit:
            for attachment in self.held.pop(container.id, []):
                self._connect(attachment, container.id)
                connected = True
        if connected:
            self.sleep(self.settle)

    def _connect(self, attachment: Attachment, container_id: str) -> None:
        argv = ["docker", "network", "connect"]
        # `--alias=VALUE`: an alias a compose file starts with `-` stays a value
        argv += [f"--alias={alias}" for alias in attachment.aliases]
        argv += [f"--ip={attachment.ipv4}"] if attachment.ipv4 else []
        self.runner.run([*argv, "--", attachment.network, container_id])

    def drain(self, sibling: str) -> None:
        """With a drainer, the sibling's running container refuses new connections, and its
        open ones are waited for; else nothing zdd can do (the proxy finds it until it stops)."""
        if self.drainer is None or self.project is None:
            return
        running = [c for c in project_containers(self.runner, self.project.name, sibling)
                   if c.running]  # fmt: skip
        self.counted[sibling] = self.drainer.drain(sibling, running)

    def drained(self, service: str) -> Connections | None:
        """The connections the unit's last drain found (None: not drained)."""
        return self.counted.pop(service, None)

    def admit(self, sibling: str, container: Container) -> None:
        """Connect the sibling's new container (held while it was gated)."""
        self.route(sibling, admit=[container])

    def serving(self, sibling: str) -> bool | None:
        """Unknown: the proxy decides."""
        return None

    def check_order(self, siblings: Sequence[str]) -> None:
        """Any order: a drained one refuses only while it stops (the proxy finds the rest)."""
