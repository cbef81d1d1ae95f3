"""The executor's recovery paths on the fake engine, behind a fake proxy zdd controls: a gate
failing on the first or a later sibling (stop-first), on the first or a later replica of a
single service (start-first), under `zdd rollback`; a rollback that fails itself (exit 6);
the old containers' removal failing; the engine going away (exit 3). Each test checks the
commands run, who is in rotation and who runs at the end, and the error."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from zdd.errors import (
    ComposeUnavailableError,
    DeployError,
    ExitCode,
    RollbackError,
    ZddError,
)

from .fake_proxy import FakeRotation
from .fakes import NEW, OLD, FakeEngine
from .stacks import (
    BUILD,
    LOG,
    NGINX,
    OLDER,
    START,
    Case,
    add_releases,
    prepare,
    put_back,
    released,
    seed_engine,
    seed_project,
    turn,
    web_stack,
)

SIBLING_GATES = {
    "first-sibling": Case(
        crash=f"legacy-service_a-1@{NEW}",
        writes=[BUILD, *turn("service_a"), *put_back("service_a")],
        calls=[*START, "drain service_a", "admit service_a service_a-3"],
        rotation={"service_a": ["service_a-3"], "service_b": ["service_b-1"]},
        running={"service_a": {"service_a-3": OLD}, "service_b": {"service_b-1": OLD}},
        error=f"service_a: new container legacy-service_a-1 is restarting (exit code 1); {LOG}; "
        "service_a is back on its previous version; the siblings after it were not touched",
    ),
    "later-sibling": Case(
        crash=f"legacy-service_b-1@{NEW}",
        writes=[
            BUILD,
            *turn("service_a"),
            released("service_a"),
            *turn("service_b"),
            *put_back("service_b"),
        ],
        calls=[
            *START,
            "drain service_a",
            "admit service_a service_a-2",
            "drain service_b",
            "admit service_b service_b-4",
        ],
        rotation={"service_a": ["service_a-2"], "service_b": ["service_b-4"]},
        running={"service_a": {"service_a-2": NEW}, "service_b": {"service_b-4": OLD}},
        error=f"service_b: new container legacy-service_b-1 is restarting (exit code 1); {LOG}; "
        "service_b is back on its previous version; the siblings after it were not touched",
    ),
    "zdd-rollback-first-sibling": Case(
        crash=f"legacy-service_a-1@{OLDER}",
        writes=[*turn("service_a", OLDER), *put_back("service_a")],
        calls=[*START, "drain service_a", "admit service_a service_a-3"],
        rotation={"service_a": ["service_a-3"], "service_b": ["service_b-1"]},
        running={"service_a": {"service_a-3": OLD}, "service_b": {"service_b-1": OLD}},
        error=f"service_a: new container legacy-service_a-1 is restarting (exit code 1); {LOG}; "
        "service_a is back on its previous version; the siblings after it were not touched",
        rollback=True,
    ),
}


def deploy_seed(case: Case) -> tuple[FakeEngine, FakeRotation, ZddError, list[str]]:
    """Deploy (or roll back) the seed's siblings with `case`'s failure; what it raised and
    warned."""
    seed = seed_project()
    engine, rotation = seed_engine(seed), FakeRotation()
    if case.rollback:
        add_releases(engine)
    engine.crash.add(case.crash)
    engine.fail.update(case.fail)
    run, plan, events = prepare(seed, engine, NGINX, rotation, rollback=case.rollback)
    with pytest.raises(ZddError) as failed:
        run.run(plan)
    warnings = [e.message for e in events if e.kind == "warning"]
    return engine, rotation, failed.value, warnings


@pytest.mark.parametrize("case", SIBLING_GATES.values(), ids=list(SIBLING_GATES))
def test_a_failed_gate_puts_that_sibling_back_and_touches_no_later_one(case: Case) -> None:
    engine, rotation, error, warnings = deploy_seed(case)
    assert engine.writes() == case.writes
    assert rotation.calls == case.calls
    assert rotation.members == case.rotation
    assert engine.running() == case.running
    assert type(error) is DeployError and error.exit_code == ExitCode.DEPLOY_FAILED
    assert str(error) == case.error
    sibling = case.error.split(":")[0]
    assert warnings == [f"rolling {sibling} back to image {OLD[7:]}"]
    if sibling == "service_a":
        assert engine.tags["legacy-service_b"] == OLD, "service_b's image name untouched"


FAILED_ROLLBACKS = {
    "first-sibling": Case(
        crash=f"legacy-service_a-1@{NEW}",
        fail={"up": 2},  # the rollback's `up`
        writes=[BUILD, *turn("service_a"), *put_back("service_a")],
        calls=[*START, "drain service_a"],
        rotation={"service_b": ["service_b-1"]},
        running={"service_b": {"service_b-1": OLD}},
        error="service_a: new container legacy-service_a-1 is restarting (exit code 1); log: "
        "Error: cannot connect to the database; then the "
        "rollback of service_a failed (`docker compose -f /srv/legacy/docker-compose.yml "
        "...` exited 1: up failed); now: service_b running; service_a restarting",
    ),
    "later-sibling": Case(
        crash=f"legacy-service_b-1@{NEW}",
        fail={"up": 3},
        writes=[
            BUILD,
            *turn("service_a"),
            released("service_a"),
            *turn("service_b"),
            *put_back("service_b"),
        ],
        calls=[*START, "drain service_a", "admit service_a service_a-2", "drain service_b"],
        rotation={"service_a": ["service_a-2"]},
        running={"service_a": {"service_a-2": NEW}},
        error="service_b: new container legacy-service_b-1 is restarting (exit code 1); log: "
        "Error: cannot connect to the database; then the "
        "rollback of service_b failed (`docker compose -f /srv/legacy/docker-compose.yml "
        "...` exited 1: up failed); now: service_a running; service_b restarting",
    ),
}


@pytest.mark.parametrize("case", FAILED_ROLLBACKS.values(), ids=list(FAILED_ROLLBACKS))
def test_a_rollback_that_fails_itself_is_exit_6_and_says_the_state(case: Case) -> None:
    engine, rotation, error, _ = deploy_seed(case)
    assert engine.writes() == case.writes
    assert rotation.calls == case.calls
    assert rotation.members == case.rotation
    assert engine.running() == case.running
    assert isinstance(error, RollbackError) and error.exit_code == ExitCode.ROLLBACK_FAILED
    assert str(error) == case.error


def deploy_web(
    *, crash: str = "", fail: Mapping[str, int] | None = None
) -> tuple[FakeEngine, FakeRotation, ZddError]:
    """Deploy `web` (2 replicas) start-first behind a fake proxy, `crash` crashing and `fail`
    failing; what it raised."""
    shop, engine = web_stack(2)
    engine.crash.add(crash)
    engine.fail.update(fail or {})
    rotation = FakeRotation()
    run, plan, _ = prepare(shop, engine, NGINX, rotation, existing={"web": 2})
    with pytest.raises(ZddError) as failed:
        run.run(plan)
    return engine, rotation, failed.value


WEB_START = [
    "compose build --no-cache -- web",
    "compose up -d --no-deps --no-build --no-recreate --scale web=4 -- web",
]
# the build re-tagged `shop-web`: pointed back as untouched, then by the recovery itself
WEB_PUT_BACK = [
    f"docker tag -- {OLD} shop-web",
    "docker rm -f -- web-2 web-3",
    f"docker tag -- {OLD} shop-web",
]


@pytest.mark.parametrize("replica", ["shop-web-3", "shop-web-4"], ids=["first", "later"])
def test_a_failed_replica_gate_removes_the_new_ones_and_keeps_the_old_serving(
    replica: str,
) -> None:
    engine, rotation, error = deploy_web(crash=f"{replica}@{NEW}")
    assert engine.writes() == [*WEB_START, *WEB_PUT_BACK]
    assert rotation.calls == ["sync", "check_order web"], "the new ones were never admitted"
    assert rotation.members == {"web": ["web-0", "web-1"]}
    assert engine.running() == {"web": {"web-0": OLD, "web-1": OLD}}
    assert type(error) is DeployError
    assert str(error) == (
        f"web: new container {replica} is restarting (exit code 1); {LOG}; web kept its 2 old "
        "container(s); the new ones are removed; the siblings after it were not touched"
    )


def test_a_failed_replica_whose_removal_fails_is_exit_6() -> None:
    engine, rotation, error = deploy_web(crash=f"shop-web-4@{NEW}", fail={"rm": 1})
    assert engine.writes() == [*WEB_START, *WEB_PUT_BACK[:2]]
    assert rotation.members == {"web": ["web-0", "web-1"]}
    assert engine.running() == {"web": {"web-0": OLD, "web-1": OLD, "web-2": NEW}}
    assert isinstance(error, RollbackError) and error.exit_code == ExitCode.ROLLBACK_FAILED
    assert str(error) == (
        "web: new container shop-web-4 is restarting (exit code 1); log: Error: cannot connect "
        "to the database; then the "
        "rollback of web failed (`docker rm -f -- ...` exited 1: rm failed); now: web running; "
        "web running; web running; web restarting"
    )


def test_old_replicas_that_cannot_be_stopped_leave_the_new_ones_serving() -> None:
    # `docker stop -- <the old ones>`, the retire step
    engine, rotation, error = deploy_web(fail={"stop": 1})
    assert engine.writes() == [
        *WEB_START,
        f"docker tag -- {OLD} zdd-release/shop/web:rN",
        "docker stop -- web-0 web-1",
    ]
    assert rotation.calls[2:] == ["route web +web-2,web-3 -", "route web + -web-0,web-1"]
    assert rotation.members == {"web": ["web-2", "web-3"]}
    assert engine.running() == {"web": {"web-0": OLD, "web-1": OLD, "web-2": NEW, "web-3": NEW}}
    assert type(error) is DeployError
    assert str(error) == (
        "`docker stop -- web-0 ...` exited 1: stop failed; its new containers serve; stopping "
        "the old ones failed: docker rm -f web-0 web-1; the siblings after it were not touched"
    )


@pytest.mark.parametrize(
    ("word", "writes", "calls", "where"),
    [
        ("build", [BUILD], START, "during the build"),
        ("stop", [BUILD, *turn("service_a")[:3]], [*START, "drain service_a"],
         "while replacing service_a"),
    ],
    ids=["build", "stop"],
)  # fmt: skip
def test_an_engine_that_goes_away_is_exit_3_and_nothing_more_is_changed(
    word: str, writes: list[str], calls: list[str], where: str
) -> None:
    seed = seed_project()
    engine, rotation = seed_engine(seed), FakeRotation()

    def engine_gone(argv: tuple[str, ...]) -> None:
        engine.engine_down = engine.engine_down or word in argv

    engine.on_argv = engine_gone
    run, plan, _ = prepare(seed, engine, NGINX, rotation)
    with pytest.raises(ComposeUnavailableError) as lost:
        run.run(plan)
    assert engine.writes() == writes
    assert rotation.calls == calls
    assert engine.running() == {
        "service_a": {"service_a-0": OLD},
        "service_b": {"service_b-1": OLD},
    }
    assert lost.value.exit_code == ExitCode.COMPOSE_UNUSABLE
    assert str(lost.value).startswith(f"the Docker engine stopped answering {where} (")
    assert str(lost.value).endswith(
        "nothing more was changed: run zdd deploy again once the engine is back"
    )


def test_a_stack_made_by_the_other_compose_major_rolls_back_to_its_own_image() -> None:
    """Containers created by compose v1 (image `legacy_service_a`), deployed with v2: the old
    image id goes back under the name v2 runs (`legacy-service_a`), not the container's."""
    seed = seed_project()
    engine, rotation = seed_engine(seed), FakeRotation()
    for container in engine.containers.values():
        service = container["Config"]["Labels"]["com.docker.compose.service"]
        container["Config"]["Image"] = f"legacy_{service}"
        container["Name"] = f"/legacy_{service}_1"
    engine.crash.add(NEW)
    run, plan, _ = prepare(seed, engine, NGINX, rotation)
    with pytest.raises(DeployError) as failed:
        run.run(plan)
    assert engine.writes() == [BUILD, *turn("service_a"), *put_back("service_a")]
    assert rotation.members == {"service_a": ["service_a-3"], "service_b": ["service_b-1"]}
    assert engine.running() == {
        "service_a": {"service_a-3": OLD},
        "service_b": {"service_b-1": OLD},
    }
    assert failed.value.exit_code == ExitCode.DEPLOY_FAILED, "not a failed rollback (exit 6)"
