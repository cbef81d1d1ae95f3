"""`--proxy auto` (the default): which proxy mode a project gets, why, and what it promises.

Pure: the project as compose resolves it and the flags. The choice is said in one line before
anything changes, and the deploy's summary says whether zdd controlled the routing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zdd.errors import UsageError
from zdd.project import Project, Role, Routing, Service, networks_of
from zdd.proxy.modes import MODES, ProxyMode

DEFAULT_PROXY_SERVICE = "proxy"
MAX_KEPT = 60.0  # seconds: a resolver keeping answers longer is refused, not waited for
# seconds: a discovering nginx that waits longer on a connect to a container that is gone
# (its address still cached) fails the clients' requests: 8 of 3620 here at nginx's 60 s
MAX_CONNECT = 2.0
DRAINED_INSIDE = (
    "with --drain-image {image}, each old container refuses new connections from inside "
    "before it stops (the proxy must retry those on another container: nginx does, Traefik "
    "only with its retry middleware) and stops once its open ones are done (--drain-timeout)"
)
PROBED_BUDGET = (
    "with --verify, an error budget judges each admission on the probe's requests instead "
    "(all of them since it, old and new containers alike, against those before the deploy)"
)


@dataclass(frozen=True)
class Choice:
    """The proxy mode of one command, and why."""

    mode: ProxyMode
    reason: str
    settle: float = 0.0  # discovery: seconds the proxy needs to find a new container, at least

    def line(self, verify: bool = False, drain_image: str | None = None) -> str:
        """The one line said before anything changes (`verify`: a --verify probe runs;
        `drain_image`: old containers are drained from inside, netfilter.py)."""
        said = f"proxy: {self.mode} ({self.reason}): {MODES[self.mode].promise}"
        if drain_image and not MODES[self.mode].drains:
            said += f"; {DRAINED_INSIDE.format(image=drain_image)}"
        if verify and not MODES[self.mode].observes:
            said += f"; {PROBED_BUDGET}"
        return said

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
    *,
    refuse: bool = True,
    stateful_only: bool = False,
) -> Choice:
    """--proxy, else `x-zdd: {proxy}`, else: hooks given -> external; a proxy service that
    shares a network with the siblings -> nginx where its config includes zdd's upstream,
    else discovery; else none. Discovery, however chosen, is refused (exit 2) for a proxy
    whose config resolves the app's names once or holds a stopped container's address too
    long; not with `refuse` False (commands that only read: status, heal). None where only
    stateful services are replaced (`stateful_only`, --allow-stateful): no proxy routes to
    them."""
    service = project.services.get(proxy_service)
    asked = None
    if stateful_only:
        asked = Choice(ProxyMode.NONE, "only stateful services named: no proxy routes to them")
    elif proxy is not None and proxy is not ProxyMode.AUTO:
        asked = Choice(proxy, "--proxy")
    elif settings.get("proxy"):
        asked = Choice(ProxyMode(settings["proxy"]), "`x-zdd: {proxy}` in the compose file")
    if asked is not None:
        if asked.mode is ProxyMode.DISCOVERY and service is not None:
            if refuse:
                _refuse_unfit(service)
            return Choice(asked.mode, asked.reason, _settle(service))
        return asked
    if hooks:
        return Choice(ProxyMode.EXTERNAL, "--pre-stop/--post-start given")
    siblings = [s for group in project.groups for s in group.siblings]
    siblings = siblings or list(project.singles((), proxy_service))
    if service is not None and proxy_service not in siblings:
        shared = networks_of(service.config) & set().union(
            *(networks_of(project.services[s].config) for s in siblings)
        )
        routing = service.routing
        if shared and routing is not None and routing.routing is Routing.MANAGED:
            return Choice(ProxyMode.NGINX, f"service {proxy_service!r}: {routing.reason}")
        if shared:
            reason = _discovers(service, sorted(shared)[0], refuse)
            return Choice(ProxyMode.DISCOVERY, reason, _settle(service))
    return Choice(ProxyMode.NONE, f"no service {proxy_service!r} shares a network with them")


def _discovers(service: Service, network: str, refuse: bool = True) -> str:
    """Why `auto` takes this proxy for one that discovers the siblings; refused (exit 2, before
    any change) where its config shows it resolves their names once: after the old container
    is gone it would answer 502 until restarted, while a deploy said it succeeded."""
    routing = service.routing
    said = f"service {service.name!r} shares network {network} with the siblings"
    if routing is None or routing.routing is Routing.UNKNOWN:
        why = routing.reason if routing else "not a known proxy image"
        return f"{said}; zdd assumes it re-resolves their names ({why})"
    if refuse:
        _refuse_unfit(service)
    settle = _settle(service)
    waits = f"; zdd gives it at least {settle:g} s to find each new container" if settle else ""
    return f"{said} and {routing.reason}{waits}"


def _settle(service: Service) -> float:
    """The seconds a discovering nginx needs to learn a new container's address: one more
    than its resolver keeps an old answer (0: not known, --settle's own)."""
    routing = service.routing
    return routing.keeps + 1 if routing is not None and routing.keeps else 0.0


def _refuse_unfit(service: Service) -> None:
    """UsageError naming the fix where the proxy's config resolves the app's names once, or
    keeps an answer longer than MAX_KEPT (an old container would still get requests, and the
    new one none, long after zdd stopped the old one)."""
    routing = service.routing
    if routing is not None and routing.keeps > MAX_KEPT:
        raise UsageError(
            f"proxy {service.name!r} would keep sending to the old containers: {routing.reason}"
            f"; give its resolver `valid=1s` (`resolver 127.0.0.11 valid=1s;`, with "
            "`proxy_connect_timeout 1s;`), or "
            f"{_managed(service)}"
        )
    if routing is not None and routing.keeps and routing.connect > MAX_CONNECT:
        raise UsageError(
            f"proxy {service.name!r} would hold requests on a stopped container's address: "
            f"{routing.reason}, and waits {routing.connect:g} s on a connect before it tries "
            "the next container (proxy_connect_timeout); add `proxy_connect_timeout 1s;` to "
            f"it, or {_managed(service)}"
        )
    if routing is not None and routing.routing is Routing.STATIC:
        raise UsageError(
            f"proxy {service.name!r} would keep sending to the old containers: {routing.reason}; "
            "make it re-resolve (`resolver 127.0.0.11 valid=1s;`, the upstream in a "
            "variable: `set $app http://NAME:PORT; proxy_pass $app;`, and `proxy_connect_timeout "
            f"1s;`), or {_managed(service)}"
        )


def _managed(service: Service) -> str:
    """How to put the proxy under zdd's management: zdd init replaces the config of an nginx
    image or of one built FROM nginx; another built one is the user's to edit."""
    if service.builds and service.evidence.family not in ("nginx", "nginx-base"):
        return "add zdd's upstream include to it (README: Put zdd in front of your own stack)"
    return (
        "put it under zdd's management (`zdd init --write`: its nginx.conf replaces this one, "
        "then the command it prints)"
    )


def proxy_service_of(project: Project, given: str | None) -> str:
    """The proxy's service: --proxy-service, else `x-zdd: {proxy_service}`, else `proxy`,
    else the one service whose role is proxy (an nginx named `web`)."""
    if given or project.settings.get("proxy_service"):
        return str(given or project.settings["proxy_service"])
    if DEFAULT_PROXY_SERVICE in project.services:
        return DEFAULT_PROXY_SERVICE
    proxies = [name for name, s in project.services.items() if s.role is Role.PROXY]
    return proxies[0] if len(proxies) == 1 else DEFAULT_PROXY_SERVICE
