"""The error budget: what real requests said about the new containers against the others,
read from the managed nginx's `zdd` access log, and whether the new ones stay within budget.

The nginx config (`zdd init`, the demo) logs, only while zdd watches an admission window:

    log_format zdd '$msec $upstream_addr $upstream_status $upstream_response_time';

One line per request; a request nginx tried on several servers names each try, separated by
`, ` (and ` : ` across an internal redirect). Each try counts for the server it went to: a
refused connect is that server's error even when the next server answered the client. Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zdd.containers import Container
    from zdd.proxy.nginx_files import Connections

LOG_FORMAT = "zdd"  # the log_format's name zdd looks for in `nginx -T`
PROXY_SOURCE = "real traffic"  # the proxy's log: each request's container
LATENCY_FLOOR = 0.01  # seconds: a median below it counts as it (nginx logs milliseconds)


@dataclass
class Sample:
    """The tries some containers got: how many, how many failed (5xx, or no answer), and
    how long each took."""

    requests: int = 0
    errors: int = 0
    seconds: list[float] = field(default_factory=list)

    def add(self, status: str, seconds: str) -> None:
        """One try: its upstream status (`502`, or `-` when none came) and its time."""
        self.requests += 1
        if not status.isdigit() or int(status) >= 500:
            self.errors += 1
        if seconds.replace(".", "", 1).isdigit():  # not `-`: nothing answered
            self.seconds.append(float(seconds))

    def merge(self, other: Sample) -> None:
        """Add another sample's tries to this one."""
        self.requests += other.requests
        self.errors += other.errors
        self.seconds += other.seconds

    @property
    def error_rate(self) -> float:
        """The share of tries that failed (0 when there were none)."""
        return self.errors / self.requests if self.requests else 0.0

    @property
    def median(self) -> float | None:
        """The median time of the tries that were answered (None: none was)."""
        if not self.seconds:
            return None
        ordered = sorted(self.seconds)
        return ordered[len(ordered) // 2]

    def describe(self) -> str:
        """`12 of 240 failed (5.0%), median 3 ms`."""
        text = f"{self.errors} of {self.requests} failed ({self.error_rate:.1%})"
        median = self.median
        return text + (f", median {median * 1000:.0f} ms" if median is not None else "")


def parse(text: str) -> dict[str, Sample]:
    """Each upstream address's tries in the log's complete lines (others are skipped)."""
    samples: dict[str, Sample] = {}
    for line in text.splitlines():
        parts = _split_lists(line.split(" ")[1:])  # after $msec
        if parts is None:
            continue
        for address, status, seconds in zip(*parts, strict=True):
            if ":" in address:  # not the upstream's own name (no server was live)
                samples.setdefault(address, Sample()).add(status, seconds)
    return samples


def _split_lists(tokens: list[str]) -> tuple[list[str], list[str], list[str]] | None:
    """`A1, A2 S1, S2 T1, T2` (as tokens) into its three lists of equal length, or None."""
    # `a,` `b` -> one item each; a lone `:` joins the lists of an internal redirect
    words = [token.rstrip(",") for token in tokens if token not in (":", "")]
    if not words or len(words) % 3:
        return None
    third = len(words) // 3
    return words[:third], words[third : 2 * third], words[2 * third :]


def split(samples: Mapping[str, Sample], new: Collection[str]) -> tuple[Sample, Sample]:
    """The tries of the `new` addresses, and of every other address, each added up."""
    fresh, others = Sample(), Sample()
    for address, sample in samples.items():
        (fresh if address in new else others).merge(sample)
    return fresh, others


@dataclass(frozen=True)
class Budget:
    """How much worse than the others the new containers may do before zdd rolls them back."""

    max_error_rate: float = 0.05  # the new ones' failed share above the others', at most
    max_latency_ratio: float = 5.0  # the new ones' median time / the others', at most (0: off)
    min_requests: int = 20  # fewer tries than this to the new ones: nothing to judge
    min_errors: int = 5  # fewer failed tries than this: no error breach (a stray 500)
    enough: int = 100  # tries to the new ones that end a default window early, within budget

    def describe(self) -> str:
        """The budget in words."""
        text = f"failed share at most {self.max_error_rate:.0%} over the others'"
        if self.max_latency_ratio:
            text += f", median time at most {self.max_latency_ratio:g}x theirs"
        return text


def breach(new: Sample, others: Sample, budget: Budget) -> str:
    """Why the new containers are over budget ("" when they are not, or too few tries came
    to them to say)."""
    if new.requests < budget.min_requests:
        return ""
    baseline = others.error_rate if others.requests >= budget.min_requests else 0.0
    if new.errors >= budget.min_errors and new.error_rate > baseline + budget.max_error_rate:
        return f"failed share {new.error_rate:.1%} against {baseline:.1%}"
    new_median, old_median = new.median, others.median
    if (
        budget.max_latency_ratio
        and new_median is not None
        and old_median is not None
        and others.requests >= budget.min_requests
    ):
        ratio = max(new_median, LATENCY_FLOOR) / max(old_median, LATENCY_FLOOR)
        if ratio > budget.max_latency_ratio:
            return f"median time {ratio:.1f}x the others'"
    return ""


def settled(new: Sample, others: Sample, budget: Budget) -> bool:
    """Whether the requests so far are evidence enough to end a default window early: the new
    containers had `budget.enough` tries and the others enough to compare times with (a group
    without others, e.g. one replica, runs its whole window)."""
    return new.requests >= budget.enough and others.requests >= budget.min_requests


def idle(new: Sample, others: Sample) -> bool:
    """Whether no request came to the group at all (a service nobody calls: its first
    deploy, a quiet hour). A default window then ends at its earliest: the requests it
    could still see would be too few to judge, and a release is judged on traffic only."""
    return new.requests == 0 and others.requests == 0


class Unobserved:
    """A proxy whose traffic zdd does not read: no admission window to judge, no connections
    counted at a drain."""

    def observes(self) -> bool:
        """No requests to judge."""
        return False

    def source(self) -> str:
        """Nothing to judge on."""
        return ""

    def open_window(self, service: str, containers: Sequence[Container]) -> bool:
        """Nothing to log: no window."""
        return False

    def traffic(self) -> tuple[Sample, Sample]:
        """No requests seen."""
        return Sample(), Sample()

    def close_window(self) -> None:
        """Nothing to close."""

    def drained(self, service: str) -> Connections | None:
        """No connections counted."""
        return None
