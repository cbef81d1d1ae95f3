"""The error budget behind a proxy whose requests zdd does not read: the --verify probe's.

A proxy that logs nothing for zdd (discovery, your hooks', none, or an nginx without zdd's
log format) cannot say which container answered which request. The --verify probe can say
when a request was sent: the requests it sent since a new container was admitted are
judged against those it sent before the deploy changed anything (its build aside). A mix of
old and new containers answers the first: a release failing a fifth of its requests beside
one old sibling shows as a tenth, still over the default budget of 5 points; its latency
shows diluted in the same way. Where the proxy does log for zdd, its log is read instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from zdd.probe import Probe
from zdd.probe import Sample as Request
from zdd.traffic import Sample

if TYPE_CHECKING:
    from zdd.containers import Container
    from zdd.proxy import Rotation
    from zdd.proxy.nginx_files import Connections

PROBE_SOURCE = "the --verify probe's requests since admission (old and new containers alike)"


def tally(requests: Sequence[Request]) -> Sample:
    """Probe requests as the budget counts tries: a 5xx, a refused or cut connection and a
    timeout failed; a 4xx was answered (as in the proxy's log)."""
    sample = Sample()
    for request in requests:
        sample.requests += 1
        if request.failure in ("5xx", "connection", "timeout"):
            sample.errors += 1
        if request.failure not in ("connection", "timeout"):
            sample.seconds.append(request.seconds)
    return sample


class ProbedRotation:
    """A rotation whose admission windows read the --verify probe when its proxy logs
    nothing for zdd; every other question goes to the proxy's own rotation."""

    def __init__(self, rotation: Rotation, probe: Probe, clock: Callable[[], float]) -> None:
        self._rotation, self._probe, self._clock = rotation, probe, clock
        self._changed: float | None = None  # when the deploy's first change began
        self._opened: float | None = None  # when the window the probe feeds opened
        self._proxy_logs = False  # the open window is the proxy's own (it logs for zdd)

    def changing(self) -> None:
        """The deploy is about to change something: the requests before are the baseline."""
        if self._changed is None:
            self._changed = self._clock()

    def source(self) -> str:
        """What the admission windows judge on."""
        return self._rotation.source() if self._rotation.observes() else PROBE_SOURCE

    def observes(self) -> bool:
        """A window is always judged: on the proxy's log, else on the probe's requests."""
        return True

    def open_window(self, service: str, containers: Sequence[Container]) -> bool:
        """The proxy's window where it logs for zdd, else one on the probe from now."""
        self._proxy_logs = self._rotation.observes() and self._rotation.open_window(
            service, containers
        )
        self._opened = None if self._proxy_logs else self._clock()
        return True

    def traffic(self) -> tuple[Sample, Sample]:
        """The requests sent since the window opened and answered by now, against those
        answered before the first change (or, where the proxy logs for zdd, its own split)."""
        if self._proxy_logs:
            return self._rotation.traffic()
        now = self._clock()
        opened = self._opened if self._opened is not None else now
        changed = self._changed if self._changed is not None else opened
        requests = list(self._probe.report.samples)  # appended to by the probe's threads
        since = [r for r in requests if opened <= r.started and r.started + r.seconds <= now]
        before = [r for r in requests if r.started + r.seconds <= changed]
        return tally(since), tally(before)

    def close_window(self) -> None:
        """End the window (the proxy's, where it was one)."""
        if self._proxy_logs:
            self._rotation.close_window()
        self._proxy_logs, self._opened = False, None

    # the rest is the proxy's own
    def sync(self, containers: Sequence[Container]) -> bool:
        """The proxy's."""
        return self._rotation.sync(containers)

    def drain(self, sibling: str) -> None:
        """The proxy's."""
        self._rotation.drain(sibling)

    def admit(self, sibling: str, container: Container) -> None:
        """The proxy's."""
        self._rotation.admit(sibling, container)

    def serving(self, sibling: str) -> bool | None:
        """The proxy's."""
        return self._rotation.serving(sibling)

    def check_order(self, siblings: Sequence[str]) -> None:
        """The proxy's."""
        self._rotation.check_order(siblings)

    def hold(self, service: str, containers: Sequence[Container]) -> None:
        """The proxy's."""
        self._rotation.hold(service, containers)

    def route(
        self, service: str, admit: Sequence[Container] = (), drain: Sequence[Container] = ()
    ) -> None:
        """The proxy's."""
        self._rotation.route(service, admit, drain)

    def drained(self, service: str) -> Connections | None:
        """The proxy's."""
        return self._rotation.drained(service)
