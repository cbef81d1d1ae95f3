"""Readiness gates, built on one polling helper with an injectable clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from zdd.errors import DeployError

if TYPE_CHECKING:
    from zdd.containers import Container

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], None]

FAILED_STATES = ("exited", "dead", "restarting", "removing")


def healthcheck_budget(interval: float, timeout: float, start_period: float, retries: int) -> float:
    """How long a healthcheck may take to report healthy: start_period + a probe (interval,
    or its timeout if shorter) per retry and one more, plus a 10 s margin."""
    return round(start_period + (interval + min(timeout, interval)) * (retries + 1) + 10, 1)


class GateError(DeployError):
    """A new container did not become ready; the message says why."""


def wait_until(
    check: Callable[[], T | None],
    timeout: float,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
    first: float = 0.05,
    cap: float = 0.5,
) -> T | None:
    """Call `check` until it returns a value or `timeout` passes; poll fast, back off to `cap`."""
    deadline = clock() + timeout
    interval = first
    while True:
        result = check()
        if result is not None:
            return result
        remaining = deadline - clock()
        if remaining <= 0:
            return None
        sleep(min(interval, remaining))
        interval = min(interval * 1.5, cap)


def check_alive(container: Container, restarts: int) -> None:
    """Fail fast when the container exited, died or restarted since the gate began."""
    if container.status in FAILED_STATES or container.restart_count > restarts:
        how = (
            f"restarted {container.restart_count - restarts} time(s)"
            if container.restart_count > restarts
            else f"is {container.status} (exit code {container.exit_code})"
        )
        raise GateError(f"{container.service}: new container {container.name} {how}")


def wait_ready(
    read: Callable[[], Container],
    is_ready: Callable[[Container], bool],
    budget: float,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> Container | None:
    """Poll until `is_ready(container)`; fail fast if it exits or restarts meanwhile.

    Returns None when the budget ran out (the caller says why in its own words)."""
    restarts = read().restart_count

    def ready() -> Container | None:
        container = read()
        check_alive(container, restarts)
        return container if is_ready(container) else None

    return wait_until(ready, budget, clock=clock, sleep=sleep)


def wait_healthy(
    read: Callable[[], Container],
    budget: float,
    *,
    passes: Callable[[Container], bool] | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> Container:
    """Wait for `healthy`, or for `passes(container)`: the healthcheck's own command run by zdd
    as soon as the container runs, so that the gate does not wait for the engine's first
    check one `interval` after the start. `unhealthy` while warming up is "not ready yet"."""

    def healthy_or_passes(container: Container) -> bool:
        if container.health == "healthy":
            return True
        return passes is not None and container.running and passes(container)

    container = wait_ready(read, healthy_or_passes, budget, clock=clock, sleep=sleep)
    if container is None:
        seen = read()
        detail = f"; last check: {seen.health_log.splitlines()[-1]}" if seen.health_log else ""
        raise GateError(
            f"{seen.service}: not healthy after {budget:g} s (health: {seen.health}){detail}; "
            "raise --health-timeout if it needs longer"
        )
    return container


def wait_running(
    read: Callable[[], Container], delay: float, *, sleep: Sleep = time.sleep
) -> Container:
    """The seed's gate, for containers without a healthcheck: sleep, then check it runs."""
    restarts = read().restart_count
    sleep(delay)
    container = read()
    check_alive(container, restarts)
    if not container.running:
        raise GateError(f"{container.service}: new container {container.name} is not running")
    return container


def wait_http(
    read: Callable[[], Container],
    answers: Callable[[str], bool],
    url: str,
    budget: float,
    wanted: str = "2xx",
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> Container:
    """Wait until `answers(container_id)` says the readiness URL answered as `wanted`."""
    container = wait_ready(read, lambda c: answers(c.id), budget, clock=clock, sleep=sleep)
    if container is None:
        raise GateError(
            f"{read().service}: {url} did not answer {wanted} within {budget:g} s; "
            "raise --health-timeout if it needs longer"
        )
    return container


def watch(
    read: Callable[[], Container],
    seconds: float,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> Container:
    """`--monitor`: for `seconds` after it turned ready, fail if the container exits,
    restarts or reports unhealthy."""

    def steady(container: Container) -> bool:
        if container.health == "unhealthy":
            detail = container.health_log.splitlines()[-1:] or ["no output"]
            raise GateError(
                f"{container.service}: turned unhealthy within the --monitor window ({detail[0]})"
            )
        return False  # never "done": watch for the whole window

    wait_ready(read, steady, seconds, clock=clock, sleep=sleep)
    return read()
