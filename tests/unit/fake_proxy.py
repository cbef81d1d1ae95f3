"""The pure tier's fake proxies: a proxy rotation (a zdd.proxy.Rotation) that keeps who is in
rotation and every call, and the managed nginx that FakeEngine's shells answer for."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from zdd.containers import Container
from zdd.errors import ComposeCommandError, DeployError
from zdd.proxy.nginx_files import APPLY_SCRIPT, MARK, READ_SCRIPT, SHOW_CONFIG, Connections
from zdd.runner import ENDED
from zdd.traffic import PROXY_SOURCE, Sample, Unobserved

from .fakes import FakeEngine


@dataclass
class FakeRotation(Unobserved):
    """A proxy zdd controls (zdd.proxy.Rotation): which containers of each service are in
    rotation (filled from the running ones at `sync` unless a test set it), every call kept
    in `calls` (`drain service_a`, `admit service_a <id>`, `route web +<ids> -<ids>`).
    `fail`: action (sync, drain, admit, route, hold) -> from which of its calls on it fails
    (an apply the proxy refuses); `dies_at`: the call at which the proxy is gone, after which
    every call fails; `on_call` is called with each call before it acts (e.g. a signal)."""

    members: dict[str, list[str]] = field(default_factory=dict)  # service -> ids in rotation
    calls: list[str] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    dies_at: str = ""
    dead: bool = False
    on_call: Callable[[str], None] = lambda call: None
    healed: bool = False  # what sync answers: it changed the proxy
    # service -> the tries its new containers and the others get in its admission window (a
    # proxy that logs for zdd); a service left out: nothing logged
    logged: dict[str, tuple[Sample, Sample]] = field(default_factory=dict)
    window: str = ""
    connections: dict[str, Connections] = field(default_factory=dict)  # service -> at its drain
    _seen: dict[str, int] = field(default_factory=dict)

    def sync(self, containers: Sequence[Container]) -> bool:
        """Learn who serves, unless the test said it."""
        self._call("sync", "sync")
        if not self.members:
            for container in containers:
                if container.running:
                    self.members.setdefault(container.service, []).append(container.id)
        return self.healed

    def drain(self, sibling: str) -> None:
        """The sibling out of rotation."""
        self._call("drain", f"drain {sibling}")
        self.members.pop(sibling, None)

    def admit(self, sibling: str, container: Container) -> None:
        """The sibling's container in rotation, instead of any other."""
        self._call("admit", f"admit {sibling} {container.id}")
        self.members[sibling] = [container.id]

    def serving(self, sibling: str) -> bool | None:
        """Whether any container of the sibling is in rotation."""
        return bool(self.members.get(sibling))

    def check_order(self, siblings: Sequence[str]) -> None:
        """Any order is fine."""
        self._call("check_order", f"check_order {' '.join(siblings)}")

    def hold(self, service: str, containers: Sequence[Container]) -> None:
        """Nothing to hold: recorded."""
        self._call("hold", f"hold {service} {','.join(c.id for c in containers)}")

    def route(
        self, service: str, admit: Sequence[Container] = (), drain: Sequence[Container] = ()
    ) -> None:
        """`admit` in rotation, `drain` out."""
        added, removed = [c.id for c in admit], [c.id for c in drain]
        self._call("route", f"route {service} +{','.join(added)} -{','.join(removed)}")
        kept = [i for i in self.members.get(service, []) if i not in removed]
        self.members[service] = kept + [i for i in added if i not in kept]

    def observes(self) -> bool:
        """Whether the test gave traffic to read."""
        return bool(self.logged)

    def source(self) -> str:
        """The proxy's log, where the test gave traffic."""
        return PROXY_SOURCE if self.logged else ""

    def open_window(self, service: str, containers: Sequence[Container]) -> bool:
        """Logging starts, where the test gave the service's traffic (else: a proxy that does
        not log for zdd, no call)."""
        if service not in self.logged:
            return False
        self._call("open_window", f"open_window {service} {','.join(c.id for c in containers)}")
        self.window = service
        return True

    def traffic(self) -> tuple[Sample, Sample]:
        """The traffic the test gave."""
        return self.logged[self.window] if self.window else (Sample(), Sample())

    def close_window(self) -> None:
        """Logging stops (nothing to do without a window, as in the managed nginx)."""
        if not self.window:
            return
        self._call("close_window", "close_window")
        self.window = ""

    def drained(self, service: str) -> Connections | None:
        """The connections the test said the service's drain found."""
        return self.connections.pop(service, None)

    def _call(self, action: str, call: str) -> None:
        self.calls.append(call)
        self.on_call(call)
        if self.dies_at and call.startswith(self.dies_at):
            self.dead = True
        self._seen[action] = self._seen.get(action, 0) + 1
        first = self.fail.get(action)
        if self.dead or (first is not None and self._seen[action] >= first):
            why = "is gone" if self.dead else "refused"
            raise DeployError(f"proxy legacy-proxy-1 {why}: cannot {call}")


@dataclass
class FakeNginx:
    """The managed nginx in the proxy container, as FakeEngine.script_answer: zdd's read and
    apply scripts (zdd.proxy.nginx) on its upstream files. A shell in a container that is not
    running ends (ENDED); at its `dies_at`-th apply the proxy container is gone."""

    engine: FakeEngine
    files: dict[str, str] = field(default_factory=dict)  # upstream file -> servers text
    applies: list[tuple[str, str, bool]] = field(default_factory=list)  # file, text, drained
    dies_at: int = 0
    tried: int = 0  # apply scripts sent to a live container
    config: str = ""  # what `nginx -T` shows ("": nothing it can read, so nothing checked)

    def __call__(self, argv: tuple[str, ...], script: str) -> str:
        """The script's output."""
        container = self.engine.containers.get(argv[3])  # docker exec -i ID sh -s
        if script.endswith(APPLY_SCRIPT) and container is not None:
            self.tried += 1
            if self.tried == self.dies_at:
                del self.engine.containers[argv[3]]
                container = None
        if container is None or container["State"]["Status"] != "running":
            raise ComposeCommandError(argv, ENDED, "the shell ended (exit 137)")
        if script == SHOW_CONFIG:
            return self.config
        if script.endswith(READ_SCRIPT):
            paths = shlex.split(script[: -len(READ_SCRIPT)])[2:]
            return "".join(
                f"{MARK} {path}\n" + (f"{self.files[path]}\n" if path in self.files else "")
                for path in paths
            )
        path, text, ticks, _confirm, *_window = shlex.split(script[: -len(APPLY_SCRIPT)])[2:]
        self.applies.append((path, text, ticks != "0"))
        self.files[path] = text
        return ""
