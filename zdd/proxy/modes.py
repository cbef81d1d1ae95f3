"""The proxy modes in one table: what each can do, what zdd promises under it, and the rotation
that drives it.

Every decision that depends on the mode reads this table: the plan's drain and admit steps
(plan/build.py), the mode line before any change (proxy/choose.py), the preflight, the deploy's
summary, `zdd status` and the guardian. `auto` is a choice (proxy/choose.py), not a mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zdd.proxy import Rotation
    from zdd.session import Session


class ProxyMode(StrEnum):
    """How a container is put in and taken out of rotation (`--proxy`)."""

    AUTO = "auto"  # chosen from the project (proxy/choose.py)
    NGINX = "nginx"
    EXTERNAL = "external"
    DISCOVERY = "discovery"  # finds the siblings itself: gated; drained with --drain-image
    NONE = "none"


@dataclass(frozen=True)
class RotationSettings:
    """What the command line says about the proxy, for the rotation of its mode."""

    proxy_service: str
    drain_timeout: float
    warn: Callable[[str], None]
    pre_stop: str | None = None
    post_start: str | None = None
    singles: Sequence[str] = ()
    start_first: Sequence[str] = ()
    settle: float = 0.0
    drain_image: str | None = None  # discovery: drained from inside (proxy/netfilter.py)


RotationBuilder = Callable[["Session", RotationSettings], "Rotation"]


@dataclass(frozen=True)
class Capabilities:
    """What one proxy mode can do, and what zdd says about it."""

    # an old container leaves rotation before it stops, its requests done (zdd's nginx waits
    # for them; `external`: the user's --pre-stop hook does it)
    drains: bool
    admits: bool  # a new container is put in rotation by a step of the plan, once gated
    holds: bool  # admission is gated: a new container starts off the proxy's network(s)
    confirms: bool  # admission is confirmed through the proxy: it serves the new container
    controlled: bool  # zdd decides which containers get requests: zero failed requests
    renders_upstream: bool  # zdd writes each container's address and port into the proxy
    # zdd reads the requests the proxy gave each container (its `zdd` access log): the error
    # budget of the admission window
    observes: bool
    needs_proxy_service: bool  # the proxy is a service of the project (refused when missing)
    runs_hooks: bool  # the user's --pre-stop / --post-start run around each replacement
    healed: bool  # a guardian heals the proxy when the deploy dies (`zdd heal`)
    promise: str  # the mode line's promise, said before any change
    routing: str  # the deploy summary's word on who routed the requests
    rotation: RotationBuilder  # the Rotation that drives it


def _nginx(session: Session, settings: RotationSettings) -> Rotation:
    from zdd.proxy.nginx import NginxRotation

    return NginxRotation(
        session.runner,
        session.cli,
        session.project,
        settings.proxy_service,
        settings.drain_timeout,
        settings.warn,
        settings.singles,
        settings.start_first,
    )


def _external(session: Session, settings: RotationSettings) -> Rotation:
    from zdd.proxy.external import ExternalRotation, check_hook

    for flag, command in (("--pre-stop", settings.pre_stop), ("--post-start", settings.post_start)):
        check_hook(flag, command)
    return ExternalRotation(
        session.runner, session.project.name, settings.pre_stop, settings.post_start
    )


def _discovery(session: Session, settings: RotationSettings) -> Rotation:
    from zdd.proxy.discovery import DiscoveryRotation
    from zdd.proxy.netfilter import NetfilterDrain

    image, timeout = settings.drain_image, settings.drain_timeout
    project = session.project.name
    drainer = NetfilterDrain(session.runner, image, timeout, project) if image else None
    return DiscoveryRotation(
        session.runner, settings.proxy_service, session.project, settings.settle, drainer=drainer
    )


def _none(_session: Session, _settings: RotationSettings) -> Rotation:
    from zdd.proxy import NoRotation

    return NoRotation()


MODES: Mapping[ProxyMode, Capabilities] = {
    ProxyMode.NGINX: Capabilities(
        drains=True,
        admits=True,
        holds=False,
        confirms=True,
        controlled=True,
        renders_upstream=True,
        observes=True,
        needs_proxy_service=True,
        runs_hooks=False,
        healed=True,
        promise="zdd drains, gates and admits each sibling (or new container) in the proxy it "
        "manages: zero failed requests; each one admitted is judged on the requests the proxy "
        "logs for it (error budget), and rolled back if it does worse than the others",
        routing="zdd controlled the routing (its nginx)",
        rotation=_nginx,
    ),
    ProxyMode.EXTERNAL: Capabilities(
        drains=True,
        admits=True,
        holds=False,
        confirms=False,
        controlled=False,
        renders_upstream=False,
        observes=False,
        needs_proxy_service=False,
        runs_hooks=True,
        healed=False,
        promise="zdd gates each sibling (or new container) and runs your hooks around it; "
        "draining and admission are the hooks' to do; no error budget (zdd sees none of the "
        "proxy's requests)",
        routing="routing was your hooks' (zdd ran them)",
        rotation=_external,
    ),
    ProxyMode.DISCOVERY: Capabilities(
        drains=False,
        admits=True,
        holds=True,
        confirms=False,
        controlled=False,
        renders_upstream=False,
        observes=False,
        needs_proxy_service=False,  # its networks are read when there is one
        runs_hooks=False,
        healed=False,
        promise="the proxy finds containers by itself: zdd keeps each new container off the "
        "proxy's network until its gate passes, then connects it, and rolls a bad one back; "
        "but it cannot drain an old one before it stops, so requests in flight to it fail "
        "unless the app finishes them on SIGTERM (or --drain-image drains it), those the "
        "proxy sends it after it stopped (until the proxy notices: Traefik refreshes every "
        "2 s) fail unless the proxy retries them on another container, and no error budget "
        "judges it on real requests (for all three, let zdd manage the nginx: README, Put "
        "zdd in front of your own stack)",
        routing="zdd did not control the routing (proxy: discovery): new containers joined the "
        "proxy's network only once ready; old ones stayed in it until they stopped (with "
        "--drain-image: refusing new connections once drained)",
        rotation=_discovery,
    ),
    ProxyMode.NONE: Capabilities(
        drains=False,
        admits=False,
        holds=False,
        confirms=False,
        controlled=False,
        renders_upstream=False,
        observes=False,
        needs_proxy_service=False,
        runs_hooks=False,
        healed=False,
        promise="zdd gates each sibling (or new container) and rolls a bad one back; routing "
        "is not zdd's; no error budget (no proxy's requests to judge it on)",
        routing="zdd did not control the routing (proxy: none)",
        rotation=_none,
    ),
}


def capabilities(mode: str) -> Capabilities:
    """The table's row for a mode (`auto` is no mode: it is chosen before anything asks)."""
    return MODES[ProxyMode(mode)]
