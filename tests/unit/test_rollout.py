"""The executor's recovery paths with a fake runner that plays the engine: a failed gate, a
rollback that fails itself, a stop requested mid-rollout, the engine going away (issue 11)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from zdd.errors import (
    ComposeCommandError,
    ComposeUnavailableError,
    DeployError,
    ExitCode,
    InterruptedDeployError,
    RollbackError,
)
from zdd.plan import DeployOptions, build_plan
from zdd.project import Project
from zdd.proxy import NoRotation
from zdd.rollout import Event, Rollout
from zdd.runner import ComposeBinary, ComposeCli

from .conftest import Load

V2 = ComposeBinary(("docker", "compose"), "2.40.3")
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


@dataclass
class Done:
    """A finished command, as Runner.start returns it."""

    output: str = ""
    error: Exception | None = None

    def result(self) -> str:
        if self.error is not None:
            raise self.error
        return self.output


@dataclass
class FakeEngine:
    """Plays docker and compose for one project: containers by service, image tags. `crash`:
    the image ids whose containers restart at once; `fail`: argv words whose command fails."""

    project: str
    tags: dict[str, str]
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    crash: set[str] = field(default_factory=set)
    fail: dict[str, int] = field(default_factory=dict)  # word -> from which call on it fails
    argv: list[tuple[str, ...]] = field(default_factory=list)
    seconds: float = 0.0
    calls: int = 0
    engine_down: bool = False
    image_check: bool = False  # the images carry a HEALTHCHECK (the compose file has none)
    _count: dict[str, int] = field(default_factory=dict)

    def up(self, service: str) -> None:
        image = self.tags[f"{self.project}-{service}"]
        number = len(self.argv)
        status = "restarting" if image in self.crash else "running"
        check = {"Test": ["CMD", "true"], "Interval": 10**9} if self.image_check else None
        self.containers[service] = {
            "Id": f"{service}-{number}",
            "Name": f"/{self.project}-{service}-1",
            "Config": {
                "Labels": {PROJECT_LABEL: self.project, SERVICE_LABEL: service},
                "Image": f"{self.project}-{service}",
                "Healthcheck": check,
            },
            "Image": image,
            "State": {
                "Status": status,
                "ExitCode": 1 if image in self.crash else 0,
                **({"Health": {"Status": "healthy"}} if check else {}),
            },
            "RestartCount": 1 if image in self.crash else 0,
            "NetworkSettings": {"Networks": {"p_default": {"IPAddress": "10.9.0.3"}}},
        }

    def run(self, argv: Sequence[str], **_: Any) -> str:
        return self.start(argv).result()

    def start(self, argv: Sequence[str], **_: Any) -> Done:
        self.argv.append(tuple(argv))
        for word, first in self.fail.items():
            if word in argv:
                self._count[word] = self._count.get(word, 0) + 1
                if self._count[word] >= first:
                    return Done(error=ComposeCommandError(argv, 1, f"{word} failed"))
        if self.engine_down and tuple(argv[:2]) in (("docker", "ps"), ("docker", "version")):
            return Done(error=ComposeCommandError(argv, 1, "Cannot connect to the daemon"))
        return Done(self._answer(list(argv)))

    def _answer(self, argv: list[str]) -> str:
        if argv[:2] == ["docker", "ps"]:
            wanted = [f.split("=", 2)[2] for f in argv if f.startswith(f"label={SERVICE_LABEL}=")]
            return "\n".join(
                c["Id"] for s, c in self.containers.items() if not wanted or s in wanted
            )
        if argv[:2] == ["docker", "inspect"]:
            found = [c for c in self.containers.values() if c["Id"] in argv[2:]]
            return json.dumps(found)
        if argv[:2] == ["docker", "tag"]:
            self.tags[argv[3]] = self.tags.get(argv[2], argv[2])
        elif "stop" in argv:
            self.containers[argv[-1]]["State"]["Status"] = "exited"
        elif "up" in argv:
            self.up(argv[-1])
        elif "build" in argv:
            self.tags[f"{self.project}-app"] = "sha256:new"
        return ""


@pytest.fixture
def seed(seed_file: Path, load: Load) -> Project:
    return load(str(seed_file))


def engine_for(seed: Project) -> FakeEngine:
    old = {f"{seed.name}-{s}": "sha256:old" for s in ("app", "service_a", "service_b")}
    engine = FakeEngine(seed.name, old)
    for sibling in ("service_a", "service_b"):
        engine.up(sibling)
    return engine


def rollout(
    seed: Project, engine: FakeEngine, events: list[Event], seen: dict[str, float] | None = None
) -> tuple[Rollout, Any]:
    cli = ComposeCli(V2, seed.files, seed.name)
    plan = build_plan(seed, cli, DeployOptions(delay=0.0), seen)
    runner: Any = engine
    return Rollout(runner, cli, seed.name, events.append, sleep=lambda s: None), plan


def commands(engine: FakeEngine) -> list[str]:
    """The compose verbs and docker tags run, in order (reads and release tags left out)."""
    seen = []
    for argv in engine.argv:
        if argv[:2] == ("docker", "tag") and not argv[3].startswith("zdd-release/"):
            seen.append(f"tag {argv[2]} {argv[3]}")
        elif argv[:2] == ("docker", "compose"):
            verb = next(w for w in argv if w in ("build", "stop", "up"))
            seen.append(f"{verb} {argv[-1]}")
    return seen


def test_a_good_rollout_replaces_each_sibling_in_turn(seed: Project) -> None:
    engine, events = engine_for(seed), []
    run, plan = rollout(seed, engine, events)
    run.run(plan)
    assert commands(engine) == [
        "build app",
        "tag legacy-app legacy-service_a", "stop service_a", "up service_a",
        "tag legacy-app legacy-service_b", "stop service_b", "up service_b",
    ]  # fmt: skip
    assert {c["Image"] for c in engine.containers.values()} == {"sha256:new"}
    assert events[-1].kind == "summary"


def test_a_failed_gate_puts_the_old_image_back_and_stops(seed: Project) -> None:
    engine, events = engine_for(seed), []
    engine.crash.add("sha256:new")
    run, plan = rollout(seed, engine, events)
    with pytest.raises(DeployError) as failed:
        run.run(plan)
    assert failed.value.exit_code == ExitCode.DEPLOY_FAILED
    assert "service_a is back on its previous version" in str(failed.value)
    assert commands(engine)[-3:] == [
        "up service_a",
        "tag sha256:old legacy-service_a",
        "up service_a",
    ]
    assert engine.containers["service_a"]["Image"] == "sha256:old"
    assert engine.containers["service_b"]["Id"] == "service_b-0", "service_b never touched"
    assert any(e.message.startswith("rolling service_a back") for e in events)


def test_a_rollback_that_fails_itself_is_exit_6_and_says_the_state(seed: Project) -> None:
    engine, events = engine_for(seed), []
    engine.crash.add("sha256:new")
    engine.fail["up"] = 2  # the rollback's `up`
    run, plan = rollout(seed, engine, events)
    with pytest.raises(RollbackError) as failed:
        run.run(plan)
    assert failed.value.exit_code == ExitCode.ROLLBACK_FAILED
    assert "rollback of service_a failed" in str(failed.value) and "now: " in str(failed.value)


def test_a_stop_requested_mid_rollout_finishes_the_sibling_then_stops(seed: Project) -> None:
    engine, events = engine_for(seed), []
    run, plan = rollout(seed, engine, events)

    def stop_once_service_a_is_up(step: Any, old: str) -> None:
        if step.kind == "gate":
            run.stop_requested = True  # what SIGTERM, SIGHUP or Ctrl-C set

    run.on_step = stop_once_service_a_is_up
    with pytest.raises(InterruptedDeployError) as stopped:
        run.run(plan)
    assert stopped.value.exit_code == ExitCode.INTERRUPTED
    assert "replaced service_a, the others untouched" in str(stopped.value)
    assert engine.containers["service_b"]["Id"] == "service_b-0"
    assert engine.containers["service_a"]["State"]["Status"] == "running"


def test_an_engine_that_goes_away_is_exit_3_naming_the_sibling(seed: Project) -> None:
    engine, events = engine_for(seed), []
    engine.fail["stop"] = 1
    run, plan = rollout(seed, engine, events)
    real_start = engine.start

    def engine_gone(argv: Sequence[str], **options: Any) -> Done:
        if "stop" in argv:
            engine.engine_down = True
        return real_start(argv, **options)

    engine.start = engine_gone  # type: ignore[method-assign]
    with pytest.raises(ComposeUnavailableError) as lost:
        run.run(plan)
    assert lost.value.exit_code == ExitCode.COMPOSE_UNUSABLE
    assert "stopped answering while replacing service_a" in str(lost.value)


SIBLINGS = ("service_a", "service_b")


def _gates(events: list[Event]) -> list[str]:
    return [e.message for e in events if e.kind == "step" and e.data["kind"] == "gate"]


@pytest.mark.parametrize(
    ("seen", "new_check", "said"),
    [
        # observed before planning: the plan's own line, and the step does what it said
        (18.0, True, "# wait until {s} is healthy (its image's HEALTHCHECK, at most 18 s)"),
        # not seen (a first deploy): the new image's HEALTHCHECK is waited on, and said
        (None, True, "# wait until {s} is healthy (its new image's HEALTHCHECK, at most 18 s)"),
        # seen on the old image, gone from the new one: the delay, and why
        (
            18.0,
            False,
            "# wait 0 s, then check {s} runs (its new image has no HEALTHCHECK, unlike the "
            "one the plan saw)",
        ),
        (0.0, False, "# wait 0 s, then check {s} runs"),  # no HEALTHCHECK, seen: no hedge
    ],
)
def test_a_gate_line_says_what_zdd_waited_for(
    seed: Project, seen: float | None, new_check: bool, said: str
) -> None:
    """The seed's file has no healthcheck; the images may have one."""
    engine, events = engine_for(seed), []
    engine.image_check = new_check
    images = {} if seen is None else {f"{seed.name}-{s}": seen for s in SIBLINGS}
    run, plan = rollout(seed, engine, events, images)
    run.run(plan)
    assert _gates(events) == [said.format(s=s) for s in SIBLINGS]


class HealingRotation(NoRotation):
    """A proxy that the start of the deploy had to bring in line with the engine."""

    def sync(self, containers: Any) -> bool:
        return True


@pytest.mark.parametrize(("healed", "words"), [
    (False, "build failed, nothing was changed"),
    (True, "build failed, no sibling was replaced (only the proxy was healed, as said above)"),
])  # fmt: skip
def test_a_failed_build_says_what_the_start_changed(
    seed: Project, healed: bool, words: str
) -> None:
    """Output is a promise: "nothing was changed" only where the heal at the start changed
    nothing either."""
    engine, events = engine_for(seed), []
    engine.fail["build"] = 1
    run, plan = rollout(seed, engine, events)
    if healed:
        run.rotation = HealingRotation()
    with pytest.raises(DeployError, match=re.escape(words)):
        run.run(plan)


@pytest.mark.parametrize(("proxy", "words", "controlled"), [
    ("nginx", "zdd controlled the routing (its nginx)", True),
    ("external", "routing was your hooks' (zdd ran them)", False),
    (
        "discovery",
        "zdd did not control the routing (proxy: discovery): new containers joined the "
        "proxy's network only once ready; old ones were not drained",
        False,
    ),
    ("none", "zdd did not control the routing (proxy: none)", False),
])  # fmt: skip
def test_the_summary_says_whether_zdd_controlled_the_routing(
    seed: Project, proxy: str, words: str, controlled: bool
) -> None:
    engine, events = engine_for(seed), []
    run, plan = rollout(seed, engine, events)
    run.proxy = proxy
    run.run(plan)
    summary = events[-1]
    assert summary.kind == "summary" and summary.message.endswith(f"; {words}")
    assert (summary.data["proxy"], summary.data["routing_controlled"]) == (proxy, controlled)
