"""The executor's run without a failure, on the fake engine: each sibling in turn, each gate
line saying what it waited for, the summary's word on routing; a failed build saying what the
start changed. (Recovery paths: test_executor_recovery.py, signals: test_executor_signals.py.)"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from zdd.containers import Container
from zdd.errors import ComposeCommandError, DeployError
from zdd.events import Event
from zdd.plan import DeployOptions
from zdd.proxy import NoRotation

from .fakes import NEW, OLD
from .stacks import prepare, seed_engine, seed_project

OPTIONS = DeployOptions(delay=0.0)


def test_a_good_rollout_replaces_each_sibling_in_turn() -> None:
    seed = seed_project()
    engine = seed_engine(seed)
    run, plan, events = prepare(seed, engine, OPTIONS)
    run.run(plan)
    assert engine.writes() == [
        "compose build --no-cache -- app",
        "docker tag -- legacy-app legacy-service_a",
        f"docker tag -- {OLD} zdd-release/legacy/service_a:rN",
        "compose stop -- service_a",
        "compose up -d --no-deps --no-build --force-recreate -- service_a",
        f"docker tag -- {NEW} zdd-release/legacy/service_a:rN",
        "docker tag -- legacy-app legacy-service_b",
        f"docker tag -- {OLD} zdd-release/legacy/service_b:rN",
        "compose stop -- service_b",
        "compose up -d --no-deps --no-build --force-recreate -- service_b",
        f"docker tag -- {NEW} zdd-release/legacy/service_b:rN",
    ]
    assert engine.running() == {
        "service_a": {"service_a-2": NEW},
        "service_b": {"service_b-3": NEW},
    }
    assert events[-1].kind == "summary"


SIBLINGS = ("service_a", "service_b")


def _gates(events: Sequence[Event]) -> list[str]:
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
        # no HEALTHCHECK, seen: no hedge; `/` on its port asked inside it
        (
            0.0,
            False,
            "# wait until http://127.0.0.1:3000/ answers below 500 in {s} "
            "(no healthcheck; at most 60 s)",
        ),
    ],
)
def test_a_gate_line_says_what_zdd_waited_for(
    seen: float | None, new_check: bool, said: str
) -> None:
    """The seed's file has no healthcheck; the images may have one."""
    seed = seed_project()
    engine = seed_engine(seed)
    engine.image_check = new_check
    images = {} if seen is None else {f"{seed.name}-{s}": seen for s in SIBLINGS}
    run, plan, events = prepare(seed, engine, OPTIONS, seen=images)
    run.run(plan)
    assert _gates(events) == [said.format(s=s) for s in SIBLINGS]


ASKED = "http://127.0.0.1:3000/"
ANSWERED = f"# wait until {ASKED} answers below 500 in {{s}} (no healthcheck; at most 60 s)"
INSIDE = {  # what the request inside the new container ends with -> the gate's line
    0: ANSWERED,  # an answer below 500
    127: f"# wait 0 s, then check {{s}} runs ({ASKED}: nothing in it can request it: no curl, "
    "wget or python)",
    1: f"# wait 0 s, then check {{s}} runs ({ASKED}: it never answered HTTP there: not an HTTP "
    "port?)",
}


@pytest.mark.parametrize("code", list(INSIDE))
def test_without_a_healthcheck_the_app_s_own_answer_gates_it(code: int) -> None:
    """`/` on its port, asked inside the container until it answers below 500; where nothing
    in it can ask (exit 127), or nothing ever answered HTTP in the budget (1: not an HTTP
    port), the seed's delay and a running check, said so."""
    seed = seed_project()
    engine = seed_engine(seed)
    engine.image_check = False

    def inside(argv: tuple[str, ...]) -> str:
        raise ComposeCommandError(argv, code, "no curl, wget or python in the container")

    if code:
        engine.answers[("docker", "exec")] = inside
    images = {f"{seed.name}-{s}": 0.0 for s in SIBLINGS}
    run, plan, events = prepare(seed, engine, OPTIONS, seen=images)
    run.run(plan)
    asked = {a[-1] for a in engine.argv if a[:2] == ("docker", "exec")}
    assert asked == {ASKED}
    assert _gates(events) == [INSIDE[code].format(s=s) for s in SIBLINGS]


def test_an_app_that_answers_only_errors_fails_its_gate() -> None:
    """5xx for the whole budget (exit 2): a broken release, rolled back."""
    seed = seed_project()
    engine = seed_engine(seed)
    engine.image_check = False

    def errors(argv: tuple[str, ...]) -> str:  # the new release's containers only
        if engine.containers[argv[3]]["Image"] == NEW:
            raise ComposeCommandError(argv, 2, "")
        return ""

    engine.answers[("docker", "exec")] = errors
    images = {f"{seed.name}-{s}": 0.0 for s in SIBLINGS}
    run, plan, _events = prepare(seed, engine, OPTIONS, seen=images)
    with pytest.raises(DeployError, match=r"did not answer below 500 within 60 s") as failed:
        run.run(plan)
    assert "service_a is back on its previous version" in str(failed.value)


class HealingRotation(NoRotation):
    """A proxy that the start of the deploy had to bring in line with the engine."""

    def sync(self, containers: Sequence[Container]) -> bool:
        """Changed the proxy."""
        return True


@pytest.mark.parametrize(("healed", "words"), [
    (False, "build failed, nothing was changed"),
    (True, "build failed, no sibling was replaced (only the proxy was healed, as said above)"),
])  # fmt: skip
def test_a_failed_build_says_what_the_start_changed(healed: bool, words: str) -> None:
    """Output is a promise: "nothing was changed" only where the heal at the start changed
    nothing either."""
    seed = seed_project()
    engine = seed_engine(seed)
    engine.fail["build"] = 1
    rotation = HealingRotation() if healed else NoRotation()
    run, plan, _ = prepare(seed, engine, OPTIONS, rotation)
    with pytest.raises(DeployError, match=re.escape(words)):
        run.run(plan)
    assert engine.writes() == ["compose build --no-cache -- app"]


@pytest.mark.parametrize(("proxy", "words", "controlled"), [
    ("nginx", "zdd controlled the routing (its nginx)", True),
    ("external", "routing was your hooks' (zdd ran them)", False),
    (
        "discovery",
        "zdd did not control the routing (proxy: discovery): new containers joined the "
        "proxy's network only once ready; old ones stayed in it until they stopped (with "
        "--drain-image: refusing new connections once drained)",
        False,
    ),
    ("none", "zdd did not control the routing (proxy: none)", False),
])  # fmt: skip
def test_the_summary_says_whether_zdd_controlled_the_routing(
    proxy: str, words: str, controlled: bool
) -> None:
    seed = seed_project()
    run, plan, events = prepare(seed, seed_engine(seed), OPTIONS)
    run.proxy = proxy
    run.run(plan)
    summary = events[-1]
    assert summary.kind == "summary" and summary.message.endswith(f"; {words}")
    assert (summary.data["proxy"], summary.data["routing_controlled"]) == (proxy, controlled)
