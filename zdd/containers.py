"""Read container state from the engine, by compose labels, in one `docker inspect`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zdd.errors import ComposeCommandError, ZddError
from zdd.health import healthcheck_budget
from zdd.ports import CommandRunner

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"


@dataclass(frozen=True)
class Container:
    """What zdd needs to know about one container."""

    id: str
    name: str
    service: str
    image: str  # the image name compose runs the service from
    image_id: str
    status: str  # created, running, restarting, exited, dead, paused
    health: str | None  # starting, healthy, unhealthy; None without a healthcheck
    restart_count: int
    exit_code: int
    networks: Mapping[str, str]  # network name -> IP address
    health_log: str = ""
    network_ids: Mapping[str, str] = field(default_factory=dict)  # network name -> its ID
    oneoff: bool = False  # a `compose run` container, not a service container
    check_budget: float | None = None  # what its healthcheck (compose's or the image's) allows
    check_command: tuple[str, ...] = ()  # its healthcheck's test as an exec argv, if any

    @property
    def running(self) -> bool:
        """Running and not restarting."""
        return self.status == "running"


def parse_inspect(item: Mapping[str, Any]) -> Container:
    """One `docker inspect` entry as a Container."""
    state = item.get("State") or {}
    health = state.get("Health") or {}
    labels = (item.get("Config") or {}).get("Labels") or {}
    networks = ((item.get("NetworkSettings") or {}).get("Networks")) or {}
    addresses = {name: n["IPAddress"] for name, n in networks.items() if n and n.get("IPAddress")}
    ids = {name: str(n.get("NetworkID") or "") for name, n in networks.items() if name in addresses}
    last = (health.get("Log") or [{}])[-1]
    return Container(
        id=item["Id"],
        name=str(item.get("Name", "")).lstrip("/"),
        service=labels.get(SERVICE_LABEL, ""),
        image=str((item.get("Config") or {}).get("Image", "")),
        image_id=item.get("Image", ""),
        status=state.get("Status", "unknown"),
        health=health.get("Status"),
        restart_count=int(item.get("RestartCount", 0)),
        exit_code=int(state.get("ExitCode", 0)),
        networks=addresses,
        network_ids=ids,
        health_log=str(last.get("Output", "")).strip(),
        oneoff=labels.get(ONEOFF_LABEL) == "True",
        check_budget=check_budget((item.get("Config") or {}).get("Healthcheck")),
        check_command=_check_command((item.get("Config") or {}).get("Healthcheck")),
    )


def _check_command(check: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The healthcheck's test as an argv for `docker exec` (CMD as is, CMD-SHELL via sh -c)."""
    test = [str(part) for part in ((check or {}).get("Test") or [])]
    if len(test) >= 2 and test[0] == "CMD":
        return tuple(test[1:])
    if len(test) == 2 and test[0] == "CMD-SHELL":
        return ("/bin/sh", "-c", test[1])
    return ()


def check_budget(check: Mapping[str, Any] | None) -> float | None:
    """The gate budget of a container's or an image's healthcheck (`docker inspect` gives
    nanoseconds); None without one."""
    if not check or check.get("Test") in (None, [], ["NONE"]):
        return None
    seconds = {k: (check.get(k) or 0) / 1e9 for k in ("Interval", "Timeout", "StartPeriod")}
    return healthcheck_budget(
        seconds["Interval"] or 30.0,
        seconds["Timeout"] or 30.0,
        seconds["StartPeriod"],
        int(check.get("Retries") or 3),
    )


CHECK_TIMEOUT = 10.0  # seconds for one run of a healthcheck command by zdd


def readiness(runner: CommandRunner, container: Container) -> Callable[[], bool]:
    """Start finding out whether the container is ready; calling the result says it (waiting
    for the healthcheck command, if one runs). Ready: running and healthy; or still `starting`
    (the engine has not run its first check yet) with its healthcheck command exiting 0 when
    zdd runs it now; or running, without a healthcheck."""
    if not container.running or container.health == "unhealthy":
        return lambda: False
    if container.health != "starting":
        return lambda: True
    return check_started(runner, container)


def passes_check(runner: CommandRunner, container: Container) -> bool:
    """Whether the container's healthcheck command, run now by zdd, exits 0."""
    return check_started(runner, container)()


def check_started(runner: CommandRunner, container: Container) -> Callable[[], bool]:
    """The container's healthcheck command, started now; calling the result waits for it."""
    if not container.check_command:
        return lambda: False
    argv = ["docker", "exec", container.id, *container.check_command]
    pending = runner.start(argv, timeout=CHECK_TIMEOUT)

    def passed() -> bool:
        try:
            pending.result()
        except ComposeCommandError:
            return False
        return True

    return passed


def inspect(runner: CommandRunner, ids: Iterable[str]) -> list[Container]:
    """`docker inspect` of many containers in one call."""
    ids = list(ids)
    if not ids:
        return []
    output = runner.run(["docker", "inspect", *ids])
    return [parse_inspect(item) for item in json.loads(output)]


LISTINGS = 3  # tries: a container listed may be removed before it is inspected


def project_containers(
    runner: CommandRunner, project: str, service: str | None = None
) -> list[Container]:
    """The project's service containers (not one-off `run` containers), optionally one service.
    A container removed between the listing and the inspect (compose recreating it, maybe
    one that outlived a killed zdd) means listing again."""
    argv = ["docker", "ps", "-aq", "--no-trunc", "--filter", f"label={PROJECT_LABEL}={project}"]
    if service is not None:
        argv += ["--filter", f"label={SERVICE_LABEL}={service}"]
    for _ in range(LISTINGS - 1):
        try:
            found = inspect(runner, runner.run(argv).split())
        except ComposeCommandError:
            continue
        return [c for c in found if c.service and not c.oneoff]
    found = inspect(runner, runner.run(argv).split())
    return [c for c in found if c.service and not c.oneoff]


def by_service(containers: Iterable[Container]) -> dict[str, list[Container]]:
    """Containers keyed by compose service."""
    grouped: dict[str, list[Container]] = {}
    for container in containers:
        grouped.setdefault(container.service, []).append(container)
    return grouped


def image_id(runner: CommandRunner, name: str) -> str:
    """The image a name points at now ("" when none)."""
    try:
        return runner.run(["docker", "image", "inspect", "-f", "{{.Id}}", "--", name]).strip()
    except ZddError:
        return ""
