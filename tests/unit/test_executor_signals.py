"""SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to zdd (os.kill of this process) from inside the
fake engine or the fake proxy while each kind of step runs. Before the first sibling's turn
(the first look at the engine, the build) zdd stops at once and nothing was changed; from
then on it finishes the sibling (or single service) in progress, then stops, the later ones
untouched and every one serving. Each test checks the commands run, who is in rotation and
who runs at the end, and the error (exit 130)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType

import pytest

from zdd.errors import ExitCode, InterruptedDeployError
from zdd.events import Event
from zdd.plan import Plan
from zdd.project import Project
from zdd.rollout import Rollout

from .fake_proxy import FakeRotation
from .fakes import NEW, OLD, FakeEngine
from .stacks import (
    BUILD,
    NGINX,
    OLDER,
    START,
    Case,
    add_releases,
    make_project,
    prepare,
    released,
    seed_engine,
    seed_project,
    turn,
)

SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP,
           "SIGQUIT": signal.SIGQUIT}  # fmt: skip
SERVING = "the others untouched; every sibling is serving"


def stray(signum: int, _frame: FrameType | None) -> None:
    """The handler outside the executor's: a signal there fails the test."""
    raise AssertionError(f"signal {signum} arrived outside the executor")


@pytest.fixture(autouse=True)
def strays_fail() -> Iterator[None]:
    """A signal that arrives outside the executor's own handlers fails the test instead of
    ending pytest; SIGHUP is handled even under `nohup` (the executor leaves an ignored
    SIGHUP ignored)."""
    previous = {sig: signal.signal(sig, stray) for sig in SIGNALS.values()}
    yield
    for sig, handler in previous.items():
        signal.signal(sig, handler)


@dataclass(frozen=True)
class Kind:
    """A kind of step, where its signal is sent (`engine`: a command holding `text`; `proxy`:
    a call starting with it), and the stack whose deploy runs it."""

    stack: str  # seed, seed-rollback, singles
    where: str  # engine, proxy
    text: str


KINDS = {
    "observe": Kind("seed", "engine", "docker ps -aq"),  # the first look: before any step
    "build": Kind("seed", "engine", "legacy build --no-cache"),
    "tag": Kind("seed", "engine", "docker tag -- legacy-app legacy-service_a"),
    "drain": Kind("seed", "proxy", "drain service_a"),
    "stop": Kind("seed", "engine", "stop -- service_a"),
    "up": Kind("seed", "engine", "up -d --no-deps --no-build --force-recreate -- service_a"),
    "gate": Kind("seed", "engine", "label=com.docker.compose.service=service_a"),
    "admit": Kind("seed", "proxy", "admit service_a"),
    "retag": Kind("seed-rollback", "engine", f"docker tag -- {OLDER} legacy-service_a"),
    "start-first-up": Kind("singles", "engine", "--scale web=2"),
    "start-first-gate": Kind("singles", "engine", "label=com.docker.compose.service=web"),
    "start-first-admit": Kind("singles", "proxy", "route web +web"),
    "start-first-drain": Kind("singles", "proxy", "route web + -"),
    "retire": Kind("singles", "engine", "docker stop -- web-0"),
}
STOPPED_AT_ONCE = ("observe", "build")
NOTHING = "interrupted before any sibling was touched: nothing was changed"
BOTH_OLD = {"service_a": {"service_a-0": OLD}, "service_b": {"service_b-1": OLD}}
OUTCOMES = {
    "observe": Case([], [], {}, BOTH_OLD, NOTHING),
    "build": Case(
        [BUILD], START, {"service_a": ["service_a-0"], "service_b": ["service_b-1"]}, BOTH_OLD,
        NOTHING,
    ),
    "seed": Case(
        [BUILD, *turn("service_a"), released("service_a")],
        [*START, "drain service_a", "admit service_a service_a-2"],
        {"service_a": ["service_a-2"], "service_b": ["service_b-1"]},
        {"service_a": {"service_a-2": NEW}, "service_b": {"service_b-1": OLD}},
        f"interrupted: replaced service_a, {SERVING}",
    ),
    "seed-rollback": Case(
        [*turn("service_a", OLDER), released("service_a", OLDER)],
        [*START, "drain service_a", "admit service_a service_a-2"],
        {"service_a": ["service_a-2"], "service_b": ["service_b-1"]},
        {"service_a": {"service_a-2": OLDER}, "service_b": {"service_b-1": OLD}},
        f"interrupted: replaced service_a, {SERVING}",
    ),
    "singles": Case(
        [
            "compose build --no-cache -- web api",
            "compose up -d --no-deps --no-build --no-recreate --scale web=2 -- web",
            f"docker tag -- {OLD} zdd-release/shop/web:rN",
            "docker stop -- web-0",
            "docker rm -- web-0",
            f"docker tag -- {NEW} zdd-release/shop/web:rN",
            f"docker tag -- {OLD} shop-api",  # the build's new image name, pointed back
        ],
        ["sync", "check_order web api", "route web +web-2 -", "route web + -web-0"],
        {"web": ["web-2"], "api": ["api-1"]},
        {"web": {"web-2": NEW}, "api": {"api-1": OLD}},
        f"interrupted: replaced web, {SERVING}",
    ),
}  # fmt: skip


def singles() -> tuple[Project, FakeEngine]:
    """`web` then `api`: two single services, one container each, rolled out start-first."""
    service = {"build": {"context": "/srv/stack/app"}, "expose": ["80"]}
    shop = make_project("shop", {"proxy": {"image": "nginx"}, "web": service, "api": service})
    engine = FakeEngine("shop", {"shop-web": OLD, "shop-api": OLD})
    engine.create("web")
    engine.create("api")
    return shop, engine


def prepared(stack: str) -> tuple[FakeEngine, FakeRotation, Rollout, Plan, list[Event]]:
    """The stack's deploy (or `zdd rollback`) behind a fake proxy, ready to run."""
    rotation = FakeRotation()
    if stack == "singles":
        shop, engine = singles()
        existing = {"web": 1, "api": 1}
        return engine, rotation, *prepare(shop, engine, NGINX, rotation, existing=existing)
    seed = seed_project()
    engine = seed_engine(seed)
    rollback = stack == "seed-rollback"
    if rollback:
        add_releases(engine)
    return engine, rotation, *prepare(seed, engine, NGINX, rotation, rollback=rollback)


def send_once(sig: signal.Signals, when: Callable[[str], bool]) -> Callable[[str], None]:
    """A hook that sends `sig` to this process the first time `when` holds."""
    sent: list[str] = []

    def hook(seen: str) -> None:
        if not sent and when(seen):
            sent.append(seen)
            os.kill(os.getpid(), sig)

    return hook


def arm(kind: Kind, sig: signal.Signals, engine: FakeEngine, rotation: FakeRotation) -> None:
    """Send `sig` from inside the fake engine or proxy as the kind of step runs."""
    if kind.where == "proxy":
        rotation.on_call = send_once(sig, lambda call: call.startswith(kind.text))
        return
    hook = send_once(sig, lambda line: kind.text in line)
    engine.on_argv = lambda argv: hook(" ".join(argv))


@pytest.mark.parametrize("sig", SIGNALS.values(), ids=list(SIGNALS))
@pytest.mark.parametrize("name", list(KINDS))
def test_a_signal_at_each_kind_of_step_leaves_every_sibling_serving(
    name: str, sig: signal.Signals
) -> None:
    kind = KINDS[name]
    engine, rotation, run, plan, events = prepared(kind.stack)
    arm(kind, sig, engine, rotation)
    with pytest.raises(InterruptedDeployError) as stopped:
        run.run(plan)
    case = OUTCOMES[name if name in STOPPED_AT_ONCE else kind.stack]
    assert engine.writes() == case.writes
    assert rotation.calls == case.calls
    assert rotation.members == case.rotation
    assert engine.running() == case.running
    assert stopped.value.exit_code == ExitCode.INTERRUPTED
    assert str(stopped.value) == case.error
    warnings = [e.message for e in events if e.kind == "warning"]
    unit = "web" if kind.stack == "singles" else "service_a"
    assert warnings == ([] if name in STOPPED_AT_ONCE else [f"stopping once {unit} is done"])
    assert signal.getsignal(sig) is stray, "the handlers from before the deploy are back"


def test_a_signal_during_the_last_sibling_says_all_were_replaced() -> None:
    engine, rotation, run, plan, events = prepared("seed")
    arm(Kind("seed", "engine", "stop -- service_b"), signal.SIGTERM, engine, rotation)
    with pytest.raises(InterruptedDeployError) as stopped:
        run.run(plan)
    assert engine.running() == {
        "service_a": {"service_a-2": NEW},
        "service_b": {"service_b-3": NEW},
    }
    assert events[-1].kind == "summary"
    assert str(stopped.value) == (
        "interrupted: replaced service_a, service_b, all of them; every sibling is serving"
    )
