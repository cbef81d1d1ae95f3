"""`zdd heal`: the managed proxy put in line with the engine, without deploying anything.

Every command that touches the proxy starts with the same reconciliation (NginxRotation.sync);
`zdd heal` runs it alone, then keeps reconciling while the siblings it was asked to wait for
are on their way. A deploy's guardian runs it when the deploy dies, waiting for the sibling
that deploy was replacing: its new container may still be created by a `compose up` that
outlived zdd; if none runs after GRACE s (the deploy died after its `stop`, or compose died
with it, as compose v1 does when its output pipe breaks), heal runs `up` for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path

from zdd.containers import project_containers
from zdd.errors import UsageError, ZddError
from zdd.health import Clock, Sleep, wait_until
from zdd.proxy.nginx import NginxRotation

POLL = 0.5  # seconds between two reconciliations while waiting
GRACE = 3.0  # seconds a sibling without a running container may take to get one by itself
STARTS = 3  # `compose up` tries for such a sibling


def heal(
    rotation: NginxRotation,
    wait_for: Collection[str],
    wait: float,
    *,
    warn: Callable[[str], None],
    stale_for: float = 15.0,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> set[str]:
    """Reconcile now, then until every sibling in `wait_for` is in rotation or `wait` s have
    passed, starting one that has had no running container for GRACE s. The old container a
    dead deploy was stopping (`rotation.stale`) is not admitted while it runs, for at most
    `stale_for` s, and only while a compose command of the project that outlived zdd still
    runs (compose v1 dies with zdd, when its output pipe breaks, often before it stopped
    anything). The siblings in `wait_for` still out of rotation."""
    runner, project = rotation.runner, rotation.project.name
    unknown = [s for s in wait_for if s not in rotation.base_of]
    if unknown:
        siblings = ", ".join(rotation.base_of) or "none"
        raise UsageError(f"--wait-for {unknown[0]!r}: not a sibling (siblings: {siblings})")
    if rotation.stale and not stopping(project):
        rotation.stale.clear()
    rotation.sync(project_containers(runner, project))
    started = clock()
    left = {s for s in wait_for if not rotation.serving(s)}
    down_since: dict[str, float] = {}  # sibling -> since when it has had no running container
    tries: dict[str, int] = {}

    def settled() -> bool | None:
        try:
            found = project_containers(runner, project)
        except ZddError as err:  # e.g. a container removed while listed, again: next poll
            warn(f"cannot read the containers now ({err}); trying again")
            return None
        now = clock()
        if rotation.stale and (now - started > stale_for or not stopping(project)):
            rotation.stale.clear()  # no compose stops it (v1 dies with zdd), or it is over
        running = {c.service for c in found if c.running}  # a stale one still stopping too
        for sibling in left - running:
            since = down_since.setdefault(sibling, now)
            if now - since > GRACE and tries.get(sibling, 0) < STARTS:
                _start_stopped(rotation, [sibling], warn)
                tries[sibling] = tries.get(sibling, 0) + 1
                down_since[sibling] = now
        for sibling in left & running:
            down_since.pop(sibling, None)
        rotation.reconcile(found)
        left.intersection_update(s for s in wait_for if not rotation.serving(s))
        return True if not left else None

    if left:
        wait_until(settled, wait, clock=clock, sleep=sleep, first=POLL, cap=POLL)
    return left


def _start_stopped(
    rotation: NginxRotation, siblings: Collection[str], warn: Callable[[str], None]
) -> None:
    """`compose up` for siblings a dead deploy left without a running container."""
    for sibling in sorted(siblings):
        warn(f"{sibling} was left stopped by the deploy that died: starting it (compose up)")
        try:
            rotation.runner.run(rotation.cli.up(sibling, recreate=False))
        except ZddError as err:
            warn(f"{sibling} could not be started: {err}")


def stopping(project: str, proc: Path = Path("/proc")) -> bool:
    """Whether a compose `stop` or `up` of the project still runs on this host (one a killed
    zdd started: the guardian runs where zdd ran). Read from /proc; runs nothing."""
    for cmdline in proc.glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:  # it ended meanwhile
            continue
        words = set(argv)
        if project.encode() in words and words & {b"stop", b"up"} and b"compose" in b" ".join(argv):
            return True
    return False
