"""The gate of each new container: what tells zdd it is ready, how long it may take, and the
step that waits for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import ClassVar

from zdd.errors import UsageError
from zdd.plan.options import DeployOptions
from zdd.project import healthcheck_disabled, healthcheck_of, service_port, update_monitor


class GateSource(StrEnum):
    """Where the plan learnt what gates a sibling."""

    COMPOSE = "compose"  # the compose file's healthcheck, or the options (delay, --health-path)
    IMAGE = "image"  # the HEALTHCHECK of the sibling's image, as the engine showed it
    UNSEEN = "unseen"  # the image was not there to look at (a first deploy, no engine)


class GatePolicy(StrEnum):
    """What tells zdd that a new container is ready."""

    HEALTHCHECK = "healthcheck"  # the container's Docker healthcheck reports healthy
    HTTP = "http"  # --health-path answers 2xx, requested inside the container
    # no healthcheck, no --health-path: `/` on the container's own port answers below 500,
    # requested inside it (no curl, wget or python there: DELAY, said when it happens)
    ANSWERS = "answers"
    DELAY = "delay"  # no port known either: the seed's fixed delay, then a running check


@dataclass(frozen=True)
class Gate:
    """Wait until the new container of `service` is ready, or fail."""

    service: str
    policy: GatePolicy
    budget: float
    delay: float
    url: str = ""  # GatePolicy.HTTP: the URL requested inside the container
    monitor: float = 0.0  # seconds to keep watching after ready (--monitor)
    health_timeout: float | None = None  # --health-timeout, which beats any other budget
    source: GateSource = GateSource.COMPOSE
    containers: int = 0  # start-first: the service's N new containers, each gated
    held: bool = False  # created, not started: started off the proxy's network (discovery)
    kind: ClassVar[str] = "gate"

    @property
    def subject(self) -> str:
        """What is gated: a sibling, or each new container of a single service."""
        if self.containers:
            return f"each new {self.service} container ({self.containers})"
        return self.service

    def describe(self) -> str:
        """What the gate waits for, in words."""
        who = self.subject
        if self.policy is GatePolicy.DELAY:
            text = f"# wait {self.delay:g} s, then check {who} runs"
        elif self.policy is GatePolicy.HTTP:
            text = f"# wait until {self.url} answers 2xx in {who} (at most {self.budget:g} s)"
        elif self.policy is GatePolicy.ANSWERS:
            text = f"# wait until {self.url} answers below 500 in {who} (no healthcheck; "
            text += f"at most {self.budget:g} s)"
        elif self.source is GateSource.IMAGE:
            text = f"# wait until {who} is healthy (its image's HEALTHCHECK, "
            text += f"at most {self.budget:g} s)"
        else:
            text = f"# wait until {who} is healthy (at most {self.budget:g} s)"
        if self.source is GateSource.UNSEEN:
            text += " (its image is not there yet: if it has a HEALTHCHECK, until healthy)"
        text += f", then watch it {self.monitor:g} s" if self.monitor else ""
        if self.held:
            text = f"# start {who} off the proxy's network(s), then{text[1:]}"
        return text


def gate_for(
    config: Mapping[str, object],
    service: str,
    options: DeployOptions,
    image_check: float | None,
    speaks_http: bool = True,
) -> Gate:
    """The compose file's healthcheck, else the image's own HEALTHCHECK (the engine runs it
    too), else --health-path, else its answer on its port, else the delay. `image_check`: the
    image's HEALTHCHECK budget, 0 for none, None when the image was not there to look at.
    `speaks_http` False (a database replaced with --allow-stateful): no answer to wait for on
    its port, the delay."""
    gate = _gate_policy(config, service, options, image_check, speaks_http)
    monitor = options.monitor if options.monitor is not None else update_monitor(config)
    return replace(gate, monitor=monitor or 0.0, health_timeout=options.health_timeout)


def _gate_policy(
    config: Mapping[str, object],
    service: str,
    options: DeployOptions,
    image_check: float | None,
    speaks_http: bool,
) -> Gate:
    check = healthcheck_of(config)
    if check is not None:
        return Gate(service, GatePolicy.HEALTHCHECK, options.health_timeout or check, options.delay)
    if healthcheck_disabled(config):  # compose turns the image's HEALTHCHECK off: no guess left
        image_check = 0.0
    if image_check:
        budget = options.health_timeout or image_check
        return Gate(service, GatePolicy.HEALTHCHECK, budget, options.delay, source=GateSource.IMAGE)
    source = GateSource.UNSEEN if image_check is None else GateSource.COMPOSE
    if options.health_path:
        path = "/" + options.health_path.lstrip("/")
        url = f"http://127.0.0.1:{service_port(config)}{path}"
        budget = options.health_timeout or 60.0
        return Gate(service, GatePolicy.HTTP, budget, options.delay, url, source=source)
    port = _known_port(config) if speaks_http else None
    if port is None:  # no port to ask (or nothing there speaks HTTP): the seed's delay
        budget = options.health_timeout or options.delay
        return Gate(service, GatePolicy.DELAY, budget, options.delay, source=source)
    url = f"http://127.0.0.1:{port}/"
    budget = options.health_timeout or 60.0
    return Gate(service, GatePolicy.ANSWERS, budget, options.delay, url, source=source)


def _known_port(config: Mapping[str, object]) -> int | None:
    """The service's one container port, None when compose does not tell which."""
    try:
        return service_port(config)
    except UsageError:
        return None
