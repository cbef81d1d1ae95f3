"""Managed nginx: zdd renders each group's upstream servers and reloads nginx gracefully.

The user's nginx config holds, per group (base service `app` here):

    upstream app {
        server 127.0.0.1:9 down;               # nginx refuses an empty upstream
        include /etc/nginx/zdd/app/*.conf;     # zdd's servers; matches nothing at first
    }

zdd writes `/etc/nginx/zdd/<base>/servers.conf` inside the proxy container and applies it
with a script that tests, reloads and waits for the old workers to finish, run in one shell
(`docker exec -i PROXY sh -s`) kept open for the whole command.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files

from zdd.compose_file import Project, service_port
from zdd.containers import Container, by_service, project_containers, readiness
from zdd.errors import ComposeCommandError, DeployError, UsageError
from zdd.health import wait_until
from zdd.runner import ComposeCli, Runner, Shell

UPSTREAM_DIR = "/etc/nginx/zdd"
TICK = 0.05  # the apply script's poll interval, seconds
APPLY_SCRIPT = files("zdd.proxy").joinpath("nginx_apply.sh").read_text(encoding="utf-8")


def servers_text(addresses: Mapping[str, str]) -> str:
    """The rendered upstream file: one `server` line per in-rotation container."""
    lines = [f"server {address};  # {sibling}\n" for sibling, address in sorted(addresses.items())]
    return "# rendered by zdd; do not edit\n" + "".join(lines)


@dataclass
class NginxRotation:
    """Keeps each group's upstream list in the proxy container in line with the rollout."""

    runner: Runner
    cli: ComposeCli
    project: Project
    proxy_service: str
    drain_timeout: float
    warn: Callable[[str], None]
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # base -> sibling -> addr
    # base -> its siblings' running containers at the start, each with its readiness to come
    candidates: dict[str, list[tuple[Container, Callable[[], bool]]]] = field(default_factory=dict)
    rendered: set[str] = field(default_factory=set)  # bases whose file this command wrote
    proxy: Container | None = None
    shell: Shell | None = None  # in the proxy container, opened by sync()

    def __post_init__(self) -> None:
        if self.proxy_service not in self.project.services:
            raise UsageError(
                f"--proxy nginx: no service {self.proxy_service!r} in {self.project.name}; "
                "name it with --proxy-service"
            )
        self.base_of = {s: g.base for g in self.project.groups for s in g.siblings}
        self.ports = {
            g.base: service_port(self.project.services[g.siblings[0]].config)
            for g in self.project.groups
        }

    def sync(self, found: Sequence[Container]) -> None:
        """Start the proxy if needed; start finding out which of the siblings' containers are
        ready (a `starting` one runs its healthcheck command); open the shell in the proxy.
        All of that completes while the build runs: the first drain or admit of a group takes
        its ready containers as members and renders the whole group (so a stale file is
        fixed then)."""
        containers = by_service(found)
        proxy = [c for c in containers.get(self.proxy_service, []) if c.running]
        if not proxy:
            self.runner.run(self.cli.up(self.proxy_service, recreate=False))
            proxy = self._wait_proxy()
        self.proxy = proxy[0]
        self.shell = self.runner.shell(["docker", "exec", "-i", self.proxy.id, "sh", "-s"])
        self.shell.open()  # its `docker exec` starts while the build runs
        for group in self.project.groups:
            self.candidates[group.base] = [
                (c, readiness(self.runner, c))
                for sibling in group.siblings
                for c in containers.get(sibling, [])
            ]

    def _members(self, base: str) -> dict[str, str]:
        """The group's members: at the first call, its containers found ready by sync()."""
        if base not in self.members:
            self.members[base] = {
                c.service: self._address(base, c)
                for c, ready in self.candidates.pop(base, [])
                if ready()
            }
        return self.members[base]

    def drain(self, sibling: str) -> None:
        """Render without the sibling, reload, wait for the old workers' requests."""
        base = self.base_of[sibling]
        members = self._members(base)
        member = members.pop(sibling, None) is not None
        if not member and base in self.rendered:
            return
        if member and not members:
            self.warn(f"{sibling} is the only sibling in rotation: requests fail until it is back")
        self._apply(base)

    def admit(self, sibling: str, container: Container) -> None:
        """Render with the new container, reload, confirm the proxy reaches it."""
        base = self.base_of[sibling]
        address = self._address(base, container)
        self._members(base)[sibling] = address
        self._apply(base, confirm=address)

    def _wait_proxy(self) -> list[Container]:
        def running() -> list[Container] | None:
            found = project_containers(self.runner, self.project.name, self.proxy_service)
            return [c for c in found if c.running] or None

        proxy = wait_until(running, 30)
        if not proxy:
            raise DeployError(f"proxy service {self.proxy_service!r} is not running")
        return proxy

    def _address(self, base: str, container: Container) -> str:
        assert self.proxy is not None
        shared = [net for net in container.networks if net in self.proxy.networks]
        if not shared:
            raise DeployError(
                f"{container.service} shares no network with the proxy {self.proxy.name}"
            )
        return f"{container.networks[shared[0]]}:{self.ports[base]}"

    def _apply(self, base: str, confirm: str = "") -> None:
        """Render and reload. Admitting (`confirm`) does not wait for the old workers: they
        finish their requests to the siblings that stay in rotation."""
        assert self.proxy is not None and self.shell is not None  # sync() ran
        ticks = 0 if confirm else max(1, round(self.drain_timeout / TICK))
        arguments = [
            f"{UPSTREAM_DIR}/{base}/servers.conf",
            servers_text(self.members[base]),
            str(ticks),
            confirm,
        ]
        script = f"{shlex.join(['set', '--', *arguments])}\n{APPLY_SCRIPT}"
        try:
            output = self.shell.run(script, timeout=self.drain_timeout + 30)
        except ComposeCommandError as err:
            what = {
                3: "nginx -t refused the rendered upstream",
                5: "nginx -s reload failed",
            }.get(err.returncode, str(err))
            detail = (err.stderr.strip().splitlines() or [""])[-1]
            raise DeployError(f"proxy {self.proxy.name}: {what}: {detail}") from err
        self.rendered.add(base)
        for line in output.splitlines():
            word, _, value = line.partition(" ")
            if word == "drain-timeout":
                self.warn(f"{base}: {value} nginx worker(s) still busy after --drain-timeout")
            if word == "confirm" and value in ("000", ""):
                raise DeployError(f"proxy {self.proxy.name} gets no HTTP answer from {confirm}")
