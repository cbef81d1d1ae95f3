"""`deploy.update_config` beyond order and monitor, on the compose engine: `parallelism`
(a start-first service's replicas replaced in batches), `delay` (between batches and units),
`failure_action` (pause, continue, rollback) and `max_failure_ratio`; `rollback_config` for
`zdd rollback`. Each test asserts the order of the replacements and who serves at the end."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from zdd.errors import DeployError, InterruptedDeployError, UsageError
from zdd.events import Event
from zdd.plan import (
    DeployOptions,
    Part,
    Retire,
    Wait,
    build_plan,
    build_rollback_plan,
    down_first,
)
from zdd.project import Project, Service, UpdatePolicy, update_policy
from zdd.proxy import ProxyMode

from .fake_proxy import FakeRotation
from .fakes import NEW, OLD, FakeEngine
from .stacks import NGINX, cli_for, make_project, prepare, seed_engine, seed_project

NONE = DeployOptions(delay=0.0, proxy=ProxyMode.NONE)


def web(replicas: int, update: dict[str, Any]) -> tuple[Project, FakeEngine]:
    """`shop`'s `web`, start-first, `replicas` running on OLD, with this update_config."""
    config = {"build": {"context": "/srv/stack/web"}, "expose": ["80"],
              "deploy": {"replicas": replicas, "update_config": update}}  # fmt: skip
    shop = make_project("shop", {"proxy": {"image": "nginx"}, "web": config})
    engine = FakeEngine("shop", {"shop-web": OLD})
    for number in range(1, replicas + 1):
        engine.create("web", number=number)
    return shop, engine


def seed_with(update: dict[str, Any], key: str = "update_config") -> Project:
    """The seed's siblings, each with this update_config (or rollback_config)."""
    seed = seed_project()
    services = {
        name: replace(s, config={**s.config, "deploy": {key: update}}) if s.parent else s
        for name, s in seed.services.items()
    }
    return replace(seed, services=services)


def failing_seed(
    update: dict[str, Any], crashing: str, rotation: FakeRotation | None = None
) -> tuple[FakeEngine, DeployError, list[Event]]:
    """The seed's siblings with this update_config deployed, `crashing`'s new container
    crashing: the engine after, the error, the events."""
    seed = seed_with(update)
    engine = seed_engine(seed)
    engine.crash.add(f"legacy-{crashing}-1@{NEW}")
    run, plan, events = prepare(seed, engine, NGINX, rotation or FakeRotation())
    with pytest.raises(DeployError) as failed:
        run.run(plan)
    return engine, failed.value, events


def test_parallelism_2_over_4_replicas_replaces_them_two_by_two_with_the_delay_between() -> None:
    shop, engine = web(4, {"parallelism": 2, "delay": "3s"})
    rotation = FakeRotation()
    run, plan, _ = prepare(shop, engine, NGINX, rotation, existing={"web": 4})
    kinds = [s.kind for s in plan.steps]
    batch = ["start", "gate", "admit", "watch", "drain", "retire"]
    assert kinds == ["build", *batch, "wait", *batch]
    assert [s.part for s in plan.steps if isinstance(s, Retire)] == [Part(0, 2, 4), Part(2, 4, 4)]
    assert [s.seconds for s in plan.steps if isinstance(s, Wait)] == [3.0]
    started = run.clock()
    run.run(plan)
    assert [c for c in rotation.calls if c.startswith("route")] == [
        "route web +web-4,web-5 -",
        "route web + -web-0,web-1",
        "route web +web-6,web-7 -",
        "route web + -web-2,web-3",
    ]
    scale = [" ".join(a) for a in engine.argv if "--scale" in a]
    assert all(a.endswith("--scale web=6 -- web") for a in scale) and len(scale) == 2
    assert engine.running() == {"web": dict.fromkeys(["web-4", "web-5", "web-6", "web-7"], NEW)}
    assert run.clock() - started >= 3.0, "the delay was waited"


def test_a_later_batch_that_fails_pauses_with_the_earlier_batch_serving() -> None:
    shop, engine = web(4, {"parallelism": 2})
    engine.crash.add(f"shop-web-7@{NEW}")
    rotation = FakeRotation()
    run, plan, _ = prepare(shop, engine, NONE, rotation, existing={"web": 4})
    with pytest.raises(DeployError) as failed:
        run.run(plan)
    assert engine.running() == {"web": {"web-2": OLD, "web-3": OLD, "web-4": NEW, "web-5": NEW}}
    assert (
        "web kept its 2 old container(s); the new ones are removed (2 new one(s) of the "
        "batches before serve)"
    ) in str(failed.value)
    assert engine.tags["shop-web"] == NEW, "the image name stays on what the first batch runs"


def test_failure_action_continue_puts_the_failed_sibling_back_and_goes_on() -> None:
    engine, error, events = failing_seed({"failure_action": "continue"}, "service_a")
    assert engine.running() == {
        "service_a": {"service_a-3": OLD},
        "service_b": {"service_b-4": NEW},
    }
    assert str(error).startswith("1 of 2 failed, each put back, and the rollout went on: ")
    warnings = [e.message for e in events if e.kind == "warning"]
    assert warnings[-1].endswith("going on (update_config.failure_action: continue)")


def test_failure_action_rollback_puts_the_siblings_already_replaced_back_too() -> None:
    rotation = FakeRotation()
    engine, error, _ = failing_seed({"failure_action": "rollback"}, "service_b", rotation)
    running = engine.running()
    assert {s: set(c.values()) for s, c in running.items()} == {
        "service_a": {OLD},
        "service_b": {OLD},
    }
    assert "service_b is back on its previous version; service_a is back on its previous " in str(
        error
    )
    assert rotation.calls[-3:-1] == ["admit service_b service_b-4", "drain service_a"]


def test_max_failure_ratio_lets_one_of_two_fail_and_go_on() -> None:
    engine, _, events = failing_seed({"max_failure_ratio": 0.5}, "service_a")
    assert engine.running()["service_b"] == {"service_b-4": NEW}
    assert any("1 of 2 of app failed: within its max_failure_ratio" in e.message for e in events)


def test_a_delay_between_siblings_is_a_step_of_its_own() -> None:
    seed = seed_with({"delay": "10s"})
    plan = build_plan(seed, cli_for(seed), NGINX)
    waits = [(i, s.describe()) for i, s in enumerate(plan.steps) if isinstance(s, Wait)]
    assert [text for _, text in waits] == ["# wait 10 s (update_config.delay)"]
    assert plan.steps[waits[0][0] + 1].service == "service_b", "after service_a, not the last"


def test_zdd_rollback_follows_rollback_config() -> None:
    seed = seed_with({"order": "start-first", "delay": "1s"}, key="rollback_config")
    plan = build_rollback_plan(seed, cli_for(seed), NGINX, existing={"service_a": 1})
    assert "start" in [s.kind for s in plan.steps if s.service == "service_a"]
    assert plan.policies["service_a"] == UpdatePolicy(delay=1.0)


@pytest.mark.parametrize(
    ("update", "words"),
    [
        ({"failure_action": "retry"}, "failure_action must be pause, continue or rollback"),
        ({"parallelism": -1}, "parallelism must be a whole number"),
        ({"max_failure_ratio": 2}, "max_failure_ratio must be from 0 to 1"),
    ],
)
def test_an_update_config_zdd_cannot_follow_is_refused(update: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        update_policy(Service("web", {"deploy": {"update_config": update}}).config)


def test_continue_tries_each_batch_with_the_new_image_and_puts_the_name_back_at_the_end() -> None:
    shop, engine = web(4, {"parallelism": 2, "failure_action": "continue"})
    engine.crash.add(NEW)
    run, plan, _ = prepare(shop, engine, NONE, FakeRotation(), existing={"web": 4})
    with pytest.raises(DeployError) as failed:
        run.run(plan)
    scaled = [a for a in engine.argv if "--scale" in a]
    assert len(scaled) == 2, "the second batch was tried"
    assert str(failed.value).startswith("2 of 2 failed, each put back, and the rollout went on")
    assert engine.running() == {"web": dict.fromkeys(["web-0", "web-1", "web-2", "web-3"], OLD)}
    assert engine.tags["shop-web"] == OLD, "nothing new serves: the image name is back"


def test_a_failed_sibling_that_goes_on_is_not_kept_as_a_release() -> None:
    engine, _, _ = failing_seed({"failure_action": "continue"}, "service_a")
    releases = [" ".join(a) for a in engine.argv if "zdd-release/legacy/service_a:" in " ".join(a)]
    assert all(NEW not in a for a in releases), "zdd rollback must not bring the rejected one back"


def test_a_stop_signal_between_batches_stops_there_with_every_container_serving() -> None:
    shop, engine = web(4, {"parallelism": 2, "delay": "3s"})
    rotation = FakeRotation()
    run, plan, _ = prepare(shop, engine, NGINX, rotation, existing={"web": 4})

    def signal_after_first_batch(call: str) -> None:
        if call == "route web + -web-0,web-1":
            run.stop_requested = True

    rotation.on_call = signal_after_first_batch
    with pytest.raises(InterruptedDeployError, match="between two batches of web"):
        run.run(plan)
    assert engine.running() == {"web": {"web-2": OLD, "web-3": OLD, "web-4": NEW, "web-5": NEW}}


def test_the_delay_follows_the_units_in_the_order_they_run() -> None:
    seed = seed_with({"delay": "10s"})
    plan = build_plan(seed, cli_for(seed), NGINX)
    ordered = down_first(plan, ["service_b"])  # service_b is down: replaced first
    waits = [i for i, s in enumerate(ordered.steps) if isinstance(s, Wait)]
    assert len(waits) == 1 and ordered.steps[waits[0]].service == "service_b"
    assert ordered.steps[waits[0] + 1].service == "service_a"


def test_a_window_that_cannot_be_closed_does_not_hide_why_the_unit_failed() -> None:
    from .test_error_budget import BAD, OVER

    seed = seed_project()
    rotation = FakeRotation(logged={"service_a": BAD}, fail={"close_window": 1})
    run, plan, _ = prepare(seed, seed_engine(seed), NGINX, rotation)
    with pytest.raises(DeployError) as failed:
        run.run(plan)
    assert str(failed.value).startswith(f"service_a: {OVER}")
