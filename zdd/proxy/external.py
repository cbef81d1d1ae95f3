"""`--proxy external`: the user's proxy discovers containers itself; zdd runs their hooks.

`--pre-stop CMD` runs before a sibling's old container is stopped (drain it there);
`--post-start CMD` after its new container is healthy (admit it there). Each gets
ZDD_CONTAINER_ID, ZDD_CONTAINER_NAME, ZDD_CONTAINER_IP, ZDD_SERVICE and ZDD_PROJECT in
its environment. CMD is split like a shell would split it, but no shell runs it.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field

from zdd.containers import Container
from zdd.errors import ComposeCommandError, DeployError, UsageError
from zdd.ports import CommandRunner
from zdd.traffic import Unobserved


def check_hook(flag: str, command: str | None) -> None:
    """A hook that cannot run is a usage error, found before anything changes."""
    if command is None:
        return
    argv = shlex.split(command)
    if not argv or shutil.which(argv[0]) is None:
        raise UsageError(f"{flag}: command not found: {argv[0] if argv else '(empty)'}")


@dataclass
class ExternalRotation(Unobserved):
    """Runs the user's host-side hooks around each replacement."""

    runner: CommandRunner
    project: str
    pre_stop: str | None
    post_start: str | None
    current: dict[str, Container] = field(default_factory=dict)

    def sync(self, containers: Sequence[Container]) -> bool:
        """Remember each sibling's current container, for --pre-stop (no change)."""
        for container in containers:
            if container.running:
                self.current[container.service] = container
        return False

    def hold(self, service: str, containers: Sequence[Container]) -> None:
        """Nothing to hold: the hooks admit."""

    def route(
        self, service: str, admit: Sequence[Container] = (), drain: Sequence[Container] = ()
    ) -> None:
        """Start-first: --post-start for each container admitted, then --pre-stop for each one
        drained."""
        for container in admit:
            if self.post_start:
                self._hook("--post-start", self.post_start, container)
        for container in drain:
            if self.pre_stop and container.running:
                self._hook("--pre-stop", self.pre_stop, container)

    def drain(self, sibling: str) -> None:
        """Run --pre-stop for the sibling's current container."""
        container = self.current.get(sibling)
        if self.pre_stop and container is not None:
            self._hook("--pre-stop", self.pre_stop, container)

    def admit(self, sibling: str, container: Container) -> None:
        """Run --post-start for the new container."""
        self.current[sibling] = container
        if self.post_start:
            self._hook("--post-start", self.post_start, container)

    def serving(self, sibling: str) -> bool | None:
        """Unknown: the user's proxy decides."""
        return None

    def check_order(self, siblings: Sequence[str]) -> None:
        """The hooks drain; zdd cannot tell what they leave in rotation."""

    def _hook(self, flag: str, command: str, container: Container) -> None:
        env = {
            **os.environ,
            "ZDD_CONTAINER_ID": container.id,
            "ZDD_CONTAINER_NAME": container.name,
            "ZDD_CONTAINER_IP": next(iter(container.networks.values()), ""),
            "ZDD_SERVICE": container.service,
            "ZDD_PROJECT": self.project,
        }
        try:
            self.runner.run(shlex.split(command), env=env, timeout=300)
        except ComposeCommandError as err:
            raise DeployError(f"{flag} hook failed for {container.service}: {err}") from err
