"""Pure parts with fake clocks and containers: gates, the polling helper, the probe."""

from __future__ import annotations

import http.server
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from zdd.containers import Container
from zdd.errors import ExitCode
from zdd.health import GateError, wait_healthy, wait_until, watch
from zdd.probe import Probe, Report, Sample

from .fakes import FakeClock

BASE = Container(
    id="c1",
    name="p-service_a-1",
    service="service_a",
    image="p-service_a",
    image_id="sha256:1",
    status="running",
    health="starting",
    restart_count=0,
    exit_code=0,
    networks={"p_default": "172.20.0.3"},
)


def reader(*states: Container) -> Callable[[], Container]:
    """Returns each state in turn, then the last one forever."""
    queue = list(states)

    def read() -> Container:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return read


def test_wait_until_returns_the_first_value_and_backs_off() -> None:
    clock = FakeClock()
    calls = iter([None, None, None, "ready"])
    assert wait_until(lambda: next(calls), 10, clock=clock, sleep=clock.sleep) == "ready"
    assert 0 < clock.now < 1


def test_wait_until_gives_up_at_the_timeout() -> None:
    clock = FakeClock()
    assert wait_until(lambda: None, 5, clock=clock, sleep=clock.sleep) is None
    assert clock.now == pytest.approx(5)


def test_unhealthy_while_warming_up_is_not_a_failure() -> None:
    clock = FakeClock()
    states = [replace(BASE, health=h) for h in ("starting", "unhealthy", "unhealthy", "healthy")]
    found = wait_healthy(reader(*states), 30, clock=clock, sleep=clock.sleep)
    assert found.health == "healthy"


@pytest.mark.parametrize(
    ("died", "words"),
    [
        (replace(BASE, status="exited", exit_code=3), "is exited (exit code 3)"),
        (replace(BASE, restart_count=1), "restarted 1 time(s)"),
        (replace(BASE, status="dead"), "is dead"),
    ],
)
def test_gate_fails_fast_when_the_container_dies(died: Container, words: str) -> None:
    clock = FakeClock()
    read = reader(BASE, died)
    with pytest.raises(GateError, match=words.replace("(", r"\(").replace(")", r"\)")):
        wait_healthy(read, 30, clock=clock, sleep=clock.sleep)
    assert clock.now < 1, "fails at once, not at the end of the budget"


def test_gate_budget_names_the_flag_to_raise_it() -> None:
    clock = FakeClock()
    stuck = replace(BASE, health="unhealthy", health_log="HTTP 503")
    with pytest.raises(GateError) as err:
        wait_healthy(reader(stuck), 12, clock=clock, sleep=clock.sleep)
    assert "not healthy after 12 s" in str(err.value)
    assert "HTTP 503" in str(err.value) and "--health-timeout" in str(err.value)
    assert err.value.exit_code == ExitCode.DEPLOY_FAILED


def test_monitor_window_catches_a_late_unhealthy() -> None:
    clock = FakeClock()
    states = [replace(BASE, health="healthy")] * 5 + [replace(BASE, health="unhealthy")]
    with pytest.raises(GateError, match="unhealthy within the --monitor window"):
        watch(reader(*states), 15, clock=clock, sleep=clock.sleep)


def test_monitor_window_passes_a_steady_container() -> None:
    clock = FakeClock()
    healthy = replace(BASE, health="healthy")
    assert watch(reader(healthy), 15, clock=clock, sleep=clock.sleep).health == "healthy"
    assert clock.now == pytest.approx(15)


def test_probe_report_counts_failures_and_the_longest_outage() -> None:
    samples = [
        Sample(0.0, 0.01, None, "1"),
        Sample(0.1, 0.01, "connection", None),
        Sample(0.2, 0.05, "5xx", None),
        Sample(0.3, 0.01, None, "2"),
        Sample(0.4, 0.01, "timeout", None),
    ]
    report = Report(samples)
    summary = report.summary()
    assert summary["requests"] == 5 and summary["failed"] == 3
    assert summary["failures"] == {"connection": 1, "5xx": 1, "timeout": 1}
    assert report.longest_failure_ms() == pytest.approx(150.0)
    assert [v for v, *_ in report.versions()] == ["1", "2"]


@pytest.fixture
def methods_seen() -> Iterator[tuple[str, Counter[str]]]:
    """A loopback HTTP server of the test's own that counts the methods it is asked with."""
    seen: Counter[str] = Counter()

    class Count(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            seen[self.command] += 1
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"v1")

        do_GET = do_POST = answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Count)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_mixed_probe_sends_both_methods_from_its_clients_in_turn(
    methods_seen: tuple[str, Counter[str]],
) -> None:
    url, seen = methods_seen
    report = Probe(url, concurrency=4, method="GET+POST", max_requests=40, max_seconds=10).run(10)
    assert report.requests >= 40 and report.failed == 0  # a client may be mid-request at 40
    assert set(seen) == {"GET", "POST"} and sum(seen.values()) == report.requests
    assert {s.version for s in report.samples} == {"v1"}
