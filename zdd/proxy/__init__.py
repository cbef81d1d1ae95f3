"""How containers are put in and out of rotation: managed nginx, external hooks, discovery,
or none (what each mode can do: proxy/modes.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from zdd.proxy.modes import ProxyMode, RotationSettings, capabilities
from zdd.traffic import Sample, Unobserved

if TYPE_CHECKING:
    from zdd.containers import Container
    from zdd.proxy.nginx_files import Connections
    from zdd.session import Session

__all__ = ["NoRotation", "ProxyMode", "Rotation", "make_rotation"]


class Rotation(Protocol):
    """What the rollout asks of a proxy."""

    def sync(self, containers: Sequence[Container]) -> bool:
        """Bring the proxy's view in line with the project's containers (start of a command);
        whether that changed the proxy."""

    def drain(self, sibling: str) -> None:
        """Take the sibling's container out of rotation; return when its requests are done."""

    def admit(self, sibling: str, container: Container) -> None:
        """Put the sibling's new container in rotation; return when the proxy serves it."""

    def serving(self, sibling: str) -> bool | None:
        """Whether the sibling is in rotation now (None: zdd does not know)."""

    def check_order(self, siblings: Sequence[str]) -> None:
        """Refuse (before any change) an order that would drain a group's last sibling."""

    def hold(self, service: str, containers: Sequence[Container]) -> None:
        """Keep created (not yet started) containers out of the proxy's reach until admitted."""

    def route(
        self, service: str, admit: Sequence[Container] = (), drain: Sequence[Container] = ()
    ) -> None:
        """Start-first: put a single service's `admit` containers in rotation and take its
        `drain` ones out; return when the proxy serves the first and is done with the second."""

    def observes(self) -> bool:
        """Whether the proxy logs requests for zdd (known after sync)."""

    def source(self) -> str:
        """What an admission window is judged on, in words ("": nothing)."""

    def open_window(self, service: str, containers: Sequence[Container]) -> bool:
        """Start logging the requests of the unit's group, `containers` being the new ones;
        whether the proxy can (else there is nothing to judge)."""

    def traffic(self) -> tuple[Sample, Sample]:
        """The tries the new containers and the others got since the window opened."""

    def close_window(self) -> None:
        """Stop logging (idempotent)."""

    def drained(self, service: str) -> Connections | None:
        """The proxy's connections to what the unit's last drain took out: open when it began,
        still open at its end (None: not counted)."""


class NoRotation(Unobserved):
    """`--proxy none`: gating and rollback only."""

    def sync(self, containers: Sequence[Container]) -> bool:
        """Nothing to sync."""
        return False

    def drain(self, sibling: str) -> None:
        """Nothing to drain."""

    def admit(self, sibling: str, container: Container) -> None:
        """Nothing to admit."""

    def serving(self, sibling: str) -> bool | None:
        """Unknown: zdd does not control routing."""
        return None

    def check_order(self, siblings: Sequence[str]) -> None:
        """Nothing is drained."""

    def hold(self, service: str, containers: Sequence[Container]) -> None:
        """Nothing to hold."""

    def route(
        self, service: str, admit: Sequence[Container] = (), drain: Sequence[Container] = ()
    ) -> None:
        """Nothing to route."""


def make_rotation(
    mode: str,
    session: Session,
    *,
    proxy_service: str,
    drain_timeout: float,
    warn: Callable[[str], None],
    pre_stop: str | None = None,
    post_start: str | None = None,
    singles: Sequence[str] = (),
    start_first: Sequence[str] = (),
    settle: float = 0.0,
    drain_image: str | None = None,
) -> Rotation:
    """The rotation for `--proxy MODE` (the table's builder for that mode)."""
    settings = RotationSettings(
        proxy_service, drain_timeout, warn, pre_stop, post_start, singles, start_first, settle,
        drain_image,
    )  # fmt: skip
    return capabilities(mode).rotation(session, settings)
