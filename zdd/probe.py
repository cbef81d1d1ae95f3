"""A load probe: the seed's curl loop as a measurement (failures, longest outage, versions)."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from zdd.errors import UsageError

FAILURE_KINDS = ("connection", "timeout", "5xx", "other")


@dataclass(frozen=True)
class Sample:
    """One request: when it started, how long it took, what came back."""

    started: float
    seconds: float
    failure: str | None  # one of FAILURE_KINDS, None for a 2xx
    version: str | None


@dataclass
class Report:
    """What the probe saw."""

    samples: list[Sample] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """Requests sent."""
        return len(self.samples)

    @property
    def failures(self) -> Counter[str]:
        """Failed requests by kind."""
        return Counter(s.failure for s in self.samples if s.failure)

    @property
    def failed(self) -> int:
        """Failed requests in all."""
        return sum(self.failures.values())

    def longest_failure_ms(self) -> float:
        """Longest span from the first to the last failure with no success between (ms)."""
        longest = 0.0
        run_start: float | None = None
        for sample in sorted(self.samples, key=lambda s: s.started + s.seconds):
            end = sample.started + sample.seconds
            if sample.failure:
                run_start = sample.started if run_start is None else run_start
                longest = max(longest, end - run_start)
            else:
                run_start = None
        return round(longest * 1000, 1)

    def percentile_ms(self, q: float) -> float:
        """Latency percentile of all requests, in ms."""
        times = sorted(s.seconds for s in self.samples)
        if not times:
            return 0.0
        return round(times[min(len(times) - 1, int(q * len(times)))] * 1000, 1)

    def versions(self) -> list[tuple[str, float, float, int]]:
        """(version, first seen, last seen, count) in order of first appearance, seconds."""
        if not self.samples:
            return []
        origin = min(s.started for s in self.samples)
        seen: dict[str, list[float]] = {}
        counts: Counter[str] = Counter()
        for sample in sorted(self.samples, key=lambda s: s.started):
            if sample.version:
                span = seen.setdefault(sample.version, [sample.started, sample.started])
                span[1] = sample.started
                counts[sample.version] += 1
        return [
            (v, round(a - origin, 2), round(b - origin, 2), counts[v]) for v, (a, b) in seen.items()
        ]

    def summary(self) -> dict[str, object]:
        """The report as plain data (for --json and tests)."""
        return {
            "requests": self.requests,
            "failed": self.failed,
            "failures": dict(self.failures),
            "longest_failure_ms": self.longest_failure_ms(),
            "p50_ms": self.percentile_ms(0.5),
            "p99_ms": self.percentile_ms(0.99),
            "versions": [
                {"version": v, "first_s": a, "last_s": b, "count": n}
                for v, a, b, n in self.versions()
            ],
        }


def parse_version(body: bytes) -> str | None:
    """The version an app reports: a `version` field of a JSON body, else the first line."""
    import json

    text = body.decode(errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text.splitlines()[0][:80] if text else None
    if isinstance(data, dict) and "version" in data:
        return str(data["version"])
    return None


class Probe:
    """Sends requests from `concurrency` threads until stopped or a bound is reached.

    `method` is GET, POST, or several joined by `+` ("GET+POST"): the clients take them in
    turn, one method each, so one run measures both what a proxy may retry and what it may not.
    """

    def __init__(
        self,
        url: str,
        *,
        concurrency: int = 8,
        method: str = "GET",
        timeout: float = 10.0,
        max_requests: int = 1_000_000,
        max_seconds: float = 3600.0,
        rate: float | None = None,
        parse: Callable[[bytes], str | None] = parse_version,
    ) -> None:
        try:
            parts = urlsplit(url)  # ValueError: an unclosed `[` of an IPv6 address
            port = parts.port  # ValueError when out of range or not a number
        except ValueError:
            parts, port = urlsplit(""), -1
        if parts.scheme != "http" or not parts.hostname or port in (-1, 0):
            raise UsageError(f"probe URL must be http://HOST[:PORT]/PATH, got {url!r}")
        self.host, self.port = parts.hostname, port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.methods = tuple(method.upper().split("+"))
        self.timeout, self.parse = timeout, parse
        self.concurrency, self.max_requests, self.max_seconds = (
            concurrency,
            max_requests,
            max_seconds,
        )
        self.rate = rate  # requests per second over all clients; None: as fast as answered
        self.report = Report()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> Probe:
        """Start the request threads in the background."""
        self._deadline = time.monotonic() + self.max_seconds
        for client in range(self.concurrency):
            method = self.methods[client % len(self.methods)]
            thread = threading.Thread(target=self._loop, args=(method,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> Report:
        """Stop sending, wait for requests in flight, return the report."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        return self.report

    def run(self, seconds: float) -> Report:
        """Probe for `seconds` (bounded by max_requests), then report."""
        self.start().wait(seconds)
        return self.stop()

    def wait(self, seconds: float) -> None:
        """Until `seconds` passed or the probe stopped by itself (its bounds)."""
        deadline = time.monotonic() + seconds
        while not self._stop.wait(min(0.2, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline or not any(t.is_alive() for t in self._threads):
                return

    def _loop(self, method: str) -> None:
        body = b"probe" if method == "POST" else None
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            with self._lock:
                if len(self.report.samples) >= self.max_requests:
                    return
            sample = self._request(method, body)
            with self._lock:
                self.report.samples.append(sample)
            if self.rate:
                self._stop.wait(max(0.0, self.concurrency / self.rate - sample.seconds))

    def _request(self, method: str, body: bytes | None) -> Sample:
        started = time.monotonic()
        failure: str | None = None
        version = None
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            headers = {"Connection": "close"}
            connection.request(method, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            if 200 <= response.status < 300:
                version = self.parse(payload)
            else:
                failure = "5xx" if response.status >= 500 else "other"
        except TimeoutError:
            failure = "timeout"
        except (OSError, http.client.HTTPException):
            failure = "connection"
        finally:
            connection.close()
        return Sample(started, time.monotonic() - started, failure, version)
