"""`zdd heal`: the managed proxy put in line with the engine, without deploying anything.

Every command that touches the proxy starts with the same reconciliation (NginxRotation.sync);
`zdd heal` runs it alone, then keeps reconciling while the siblings it was asked to wait for
are on their way (a new container still starting, or still being created by a `compose up`
that outlived the zdd that ran it). A deploy's guardian runs it when the deploy dies.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from zdd.containers import Container, project_containers
from zdd.health import Clock, Sleep, wait_until
from zdd.proxy.nginx import NginxRotation

POLL = 0.5  # seconds between two reconciliations while waiting
GRACE = 20.0  # seconds a sibling without a running container may take to get one


def heal(
    rotation: NginxRotation,
    wait_for: Collection[str],
    wait: float,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> set[str]:
    """Reconcile now, then until every sibling in `wait_for` is in rotation, or has had no
    running container for GRACE s, or `wait` s have passed. The siblings still out."""
    project = rotation.project.name

    def observe() -> list[Container]:
        return project_containers(rotation.runner, project)

    rotation.sync(observe())
    started = clock()
    left = {s for s in wait_for if not rotation.serving(s)}

    def settled() -> bool | None:
        found = observe()
        rotation.reconcile(found)
        left.intersection_update(s for s in wait_for if not rotation.serving(s))
        running = {c.service for c in found if c.running}
        hopeless = clock() - started > GRACE and not left & running
        return True if not left or hopeless else None

    if left:
        wait_until(settled, wait, clock=clock, sleep=sleep, first=POLL, cap=POLL)
    return left
