"""Run a plan's gates: wait until each new container is healthy, answers its readiness URL, or
runs (the policy the plan chose), and watch it afterwards; a gate that fails says why, with
the container's last log lines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from zdd.containers import Container, inspect, passes_check, project_containers
from zdd.errors import ComposeCommandError, UsageError, ZddError
from zdd.health import GateError, check_alive, wait_healthy, wait_http, wait_running, watch
from zdd.plan import Gate, GatePolicy, GateSource, Watch
from zdd.ports import CommandRunner
from zdd.proxy import Rotation
from zdd.traffic import PROXY_SOURCE, Sample, breach, idle, settled

TICK = 0.5  # seconds between two looks at an admission window's traffic and containers
SOON = 0.2  # ... in its first 2 s (after a first look at 0.1 s): a default window ends there
EARLIEST = 0.5  # seconds: a default admission window lasts at least this, evidence or not

# Both run inside the new container (`sh -s -- URL`): the URL is requested from the container
# itself, so it works where container IPs are not reachable from the host. Neither goes through
# a proxy the environment names (the docker CLI's `proxies` put one in every container).
NO_PROXY = "unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY\n"
# --health-path: ready once the URL answers 2xx.
HTTP_CHECK = (
    NO_PROXY
    + """
url=$1
if command -v curl >/dev/null 2>&1; then exec curl -fsS -o /dev/null -m 2 "$url"; fi
if command -v wget >/dev/null 2>&1; then exec wget -q -O /dev/null -T 2 "$url"; fi
for py in python3 python; do
    if command -v $py >/dev/null 2>&1; then
        exec $py -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=2)' "$url"
    fi
done
echo "no curl, wget or python in the container to request $url" >&2
exit 127
"""
)
# No healthcheck: ready once the URL gives any HTTP answer below 500 (a 404 on `/`, a redirect:
# an app that serves). Exit 0 ready, 2 an answer of 500 or more, 1 no HTTP answer at all.
ANSWER_CHECK = (
    NO_PROXY
    + """
url=$1
if command -v curl >/dev/null 2>&1; then
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url") || :
elif command -v wget >/dev/null 2>&1; then
    code=$(wget -S -O /dev/null -T 2 "$url" 2>&1 | grep -m 1 -o 'HTTP/[0-9.]* [0-9]*' \\
        | cut -d' ' -f2) || :
else
    for py in python3 python; do
        if command -v $py >/dev/null 2>&1; then
            exec $py -c '
import sys, urllib.error as e, urllib.request as u
class Stay(u.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None
try:
    code = u.build_opener(Stay).open(sys.argv[1], timeout=2).status
except e.HTTPError as error:
    code = error.code
except Exception:
    code = 0
sys.exit(0 if 0 < code < 500 else 2 if code else 1)' "$url"
        fi
    done
    echo "no curl, wget or python in the container to request $url" >&2
    exit 127
fi
case "${code:-000}" in [1-4][0-9][0-9]) exit 0 ;; 000) exit 1 ;; *) exit 2 ;; esac
"""
)


class NoClientError(GateError):
    """Nothing in the container can make an HTTP request (exit 127: no curl, wget, python, or
    no shell at all)."""


@dataclass
class Gating:
    """Waits for the new containers of one rollout, as its plan's gates say."""

    runner: CommandRunner
    project: str
    rotation: Rotation  # holds a discovery proxy's new containers off its networks
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    waited: float = 0.0  # seconds spent sleeping between polls of a gate
    said: dict[str, str] = field(default_factory=dict)  # a gate the plan could not know, in words
    judged: dict[str, dict[str, object]] = field(default_factory=dict)  # unit -> window numbers

    def _wait(self, seconds: float) -> None:
        self.waited += seconds
        self.sleep(seconds)

    def gate_new(self, gate: Gate, olds: Sequence[Container]) -> list[Container]:
        """Start-first: gate each of the unit's new containers (started together, so the wait
        is about the slowest one's); `olds`: its containers before."""
        kept = {c.id for c in olds}
        found = project_containers(self.runner, self.project, gate.service)
        new = [c for c in found if c.id not in kept]
        if len(new) != gate.containers:
            raise GateError(
                f"{gate.service}: {len(new)} new container(s) after `up --scale`, "
                f"not {gate.containers}"
            )
        if gate.held:
            new = self._start_held(gate.service, new)
        return [self.gate(gate, container) for container in new]

    def _start_held(self, service: str, created: list[Container]) -> list[Container]:
        """Containers compose created without starting: out of the proxy's reach, started."""
        self.rotation.hold(service, created)
        self.runner.run(["docker", "start", "--", *(c.id for c in created)])
        return inspect(self.runner, [c.id for c in created])

    def gate(self, gate: Gate, container: Container | None = None) -> Container:
        """Wait until the sibling's new container (or `container`) passes `gate`; it, ready."""
        if gate.held and container is None:  # a sibling, stop-first: created, not started
            created = project_containers(self.runner, self.project, gate.service)
            if len(created) == 1 and created[0].status == "created":
                container = self._start_held(gate.service, created)[0]
        container_id, read = self._reader(gate.service, container)
        try:
            new = read()
            planned = gate.policy is GatePolicy.HEALTHCHECK
            if planned and new.health is None and gate.source is GateSource.IMAGE:
                # the plan saw the old image's HEALTHCHECK; the new image has none
                self.said[gate.service] = (
                    f"# wait {gate.delay:g} s, then check {gate.service} runs (its new image "
                    "has no HEALTHCHECK, unlike the one the plan saw)"
                )
                ready = wait_running(read, gate.delay, sleep=self._wait)
            elif planned or new.health is not None:
                budget = gate.budget
                if not planned:  # a HEALTHCHECK the plan could not see: the engine runs it
                    budget = gate.health_timeout or new.check_budget or gate.budget
                    self.said[gate.service] = (
                        f"# wait until {gate.service} is healthy (its new image's HEALTHCHECK, "
                        f"at most {budget:g} s)"
                        + (f", then watch it {gate.monitor:g} s" if gate.monitor else "")
                    )
                ready = wait_healthy(
                    read,
                    budget,
                    passes=partial(passes_check, self.runner),
                    clock=self.clock,
                    sleep=self._wait,
                )
            elif gate.policy is GatePolicy.HTTP:
                answers = partial(self._answers, gate.url, HTTP_CHECK, set())
                ready = wait_http(
                    read, answers, gate.url, gate.budget, clock=self.clock, sleep=self._wait
                )
            elif gate.policy is GatePolicy.ANSWERS:
                ready = self._answers_or_delay(gate, read)
            else:
                ready = wait_running(read, gate.delay, sleep=self._wait)
            if gate.monitor and not self.rotation.observes():  # else: after admission
                ready = watch(read, gate.monitor, clock=self.clock, sleep=self._wait)
            return ready
        except GateError as err:
            raise GateError(f"{err}{self._log_tail(container_id)}") from err

    def window(self, step: Watch, new: Sequence[Container]) -> None:
        """The admission window: for `step.seconds`, the new containers' requests (as the
        proxy logs them) against the others', and the new containers' state; over budget,
        gone or unhealthy: GateError, at once."""
        failure: BaseException | None = None
        try:
            if not self.rotation.open_window(step.service, new):
                before = " (its --monitor watch ran before admission)" if step.asked else ""
                self.said[step.service] = (
                    f"# no admission window for {step.service}: the proxy does not log "
                    f"requests for zdd (README: The error budget){before}"
                )
                return
            fresh, others, spent = self._judge(step, new)
        except BaseException as err:
            failure = err
            raise
        finally:
            try:
                self.rotation.close_window()
            except ZddError:
                if failure is None:  # else the failure that ended the window is the one said
                    raise
        self.judged[step.service] = {
            "new": {"requests": fresh.requests, "failed": fresh.errors, "median": fresh.median},
            "others": {"requests": others.requests, "failed": others.errors,
                       "median": others.median},
        }  # fmt: skip
        verdict = (
            "within budget"
            if fresh.requests >= step.budget.min_requests
            else "too few to judge, admitted"
        )
        self.said[step.service] = (
            f"# watched {step.service} {spent:.1f} s on {self.rotation.source()}: "
            f"{fresh.describe()}; {self._versus()}: {others.describe()}: {verdict}"
        )

    def _versus(self) -> str:
        """What the new containers' requests are judged against."""
        return "the others" if self.rotation.source() == PROXY_SOURCE else "before the deploy"

    def _judge(self, step: Watch, new: Sequence[Container]) -> tuple[Sample, Sample, float]:
        """Every TICK (SOON at first) until the window ends: the new containers still run
        and are not unhealthy, and their requests are within budget; else GateError. A
        default window (none asked) ends once EARLIEST s have passed and the requests are
        evidence enough (`settled`), or no request came at all (`idle`); returns the samples
        and the seconds watched."""
        restarts = {c.id: c.restart_count for c in new}
        started = self.clock()
        fresh, others = self.rotation.traffic()
        looks = 0
        while (spent := self.clock() - started) < step.seconds:
            looks += 1  # a broken release is seen within 0.1 s under load: look soon
            self._wait(
                min(0.1 if looks == 1 else SOON if spent < 2 else TICK, step.seconds - spent)
            )
            for container in inspect(self.runner, list(restarts)):
                check_alive(container, restarts[container.id])
                if container.health == "unhealthy":
                    raise GateError(f"{step.service}: turned unhealthy within the --monitor window")
            fresh, others = self.rotation.traffic()
            why = breach(fresh, others, step.budget)
            if why:
                raise GateError(
                    f"{step.service}: over the error budget {self.clock() - started:.1f} s "
                    f"after admission, {why} (new: {fresh.describe()}; {self._versus()}: "
                    f"{others.describe()})"
                )
            early = not step.asked and self.clock() - started >= EARLIEST
            if early and (settled(fresh, others, step.budget) or idle(fresh, others)):
                break
        return fresh, others, self.clock() - started

    def _log_tail(self, container_id: str) -> str:
        try:
            argv = ["docker", "logs", "--tail", "3", container_id]
            output = self.runner.run(argv, merge_stderr=True)
        except ZddError:
            return ""
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        return f"; log: {' | '.join(lines)}" if lines else ""

    def _answers_or_delay(self, gate: Gate, read: Callable[[], Container]) -> Container:
        """No healthcheck: `/` on its port answers below 500, asked inside the container; where
        nothing there can ask (no curl, wget or python), the seed's delay, said so."""
        codes: set[int] = set()
        answers = partial(self._answers, gate.url, ANSWER_CHECK, codes)
        try:
            return wait_http(
                read,
                answers,
                gate.url,
                gate.budget,
                "below 500",
                clock=self.clock,
                sleep=self._wait,
            )
        except NoClientError:
            why = "nothing in it can request it: no curl, wget or python"
        except GateError:
            if 2 in codes:  # it answered, with errors only: a broken release
                raise
            why = "it never answered HTTP there: not an HTTP port?"
        self.said[gate.service] = (
            f"# wait {gate.delay:g} s, then check {gate.service} runs ({gate.url}: {why})"
        )
        return wait_running(read, gate.delay, sleep=self._wait)

    def _answers(self, url: str, script: str, codes: set[int], container_id: str) -> bool:
        """Whether `url`, requested inside the container by `script`, answers as it wants;
        each failing exit code is added to `codes`."""
        argv = ["docker", "exec", "-i", container_id, "sh", "-s", "--", url]
        try:
            self.runner.run(argv, stdin=script, timeout=10)
        except ComposeCommandError as err:
            if err.returncode == 127:
                raise NoClientError(f"cannot probe {url}: {err.stderr.strip()}") from err
            codes.add(err.returncode)
            return False
        return True

    def _reader(
        self, service: str, given: Container | None = None
    ) -> tuple[str, Callable[[], Container]]:
        """Find the service's new container once (unless `given`), then inspect only it
        (from the third read: the first two are the gate's start and its restart-count
        baseline)."""
        containers = [given] if given else project_containers(self.runner, self.project, service)
        if not containers:
            raise GateError(f"{service}: no container after `up`")
        if len(containers) > 1:
            raise UsageError(
                f"{service}: zdd replaces one container per sibling, found {len(containers)}"
            )
        container_id = containers[0].id
        fresh = [containers[0]] * 2  # the lookup's own inspect serves the gate's first reads

        def read() -> Container:
            if fresh:
                return fresh.pop()
            found = inspect(self.runner, [container_id])
            if not found:
                raise GateError(f"{service}: container {container_id[:12]} disappeared")
            return found[0]

        return container_id, read
