"""A proxy that dies or refuses mid-deploy, on the fake engine: with a fake rotation (the proxy
gone at a drain, an admit or a start-first route; an apply it refuses; gone from the start),
and with zdd's own nginx rotation over a fake nginx (its container removed, started again or
not). Each test checks the commands run, who is in rotation and who runs at the end, and the
error."""

from __future__ import annotations

import pytest

from zdd.errors import DeployError, ExitCode, RollbackError, ZddError
from zdd.proxy.nginx import NginxRotation
from zdd.proxy.nginx_files import servers_text, upstream_file

from .fake_proxy import FakeNginx, FakeRotation
from .fakes import NEW, OLD, FakeEngine
from .stacks import (
    BUILD,
    NGINX,
    START,
    Case,
    cli_for,
    prepare,
    put_back,
    released,
    seed_engine,
    seed_project,
    turn,
    web_stack,
)

BOTH_OLD = {"service_a": {"service_a-0": OLD}, "service_b": {"service_b-1": OLD}}
GONE = "proxy legacy-proxy-1 is gone: cannot"  # FakeRotation's error


def deploy(rotation: FakeRotation) -> tuple[FakeEngine, ZddError]:
    """Deploy the seed's siblings behind `rotation`; the error it ended with."""
    seed = seed_project()
    engine = seed_engine(seed)
    run, plan, _ = prepare(seed, engine, NGINX, rotation)
    with pytest.raises(ZddError) as failed:
        run.run(plan)
    return engine, failed.value


GONE_MID_DEPLOY = {
    # the old container still runs, but cannot be put back in rotation either
    "drain-first-sibling": Case(
        dies_at="drain service_a",
        writes=[
            BUILD,
            "docker tag -- legacy-app legacy-service_a",
            f"docker tag -- {OLD} legacy-service_a",
        ],
        calls=[*START, "drain service_a", "admit service_a service_a-0"],
        rotation={"service_a": ["service_a-0"], "service_b": ["service_b-1"]},
        running=BOTH_OLD,
        error=f"{GONE} drain service_a; then the "
        f"rollback of service_a failed ({GONE} admit service_a service_a-0); now: "
        "service_a running; service_b running",
    ),
    "admit-first-sibling": Case(
        dies_at="admit service_a",
        writes=[BUILD, *turn("service_a"), *put_back("service_a")],
        calls=[
            *START,
            "drain service_a",
            "admit service_a service_a-2",
            "admit service_a service_a-3",
        ],
        rotation={"service_b": ["service_b-1"]},
        running={"service_b": {"service_b-1": OLD}, "service_a": {"service_a-3": OLD}},
        error=f"{GONE} admit service_a service_a-2; then the "
        f"rollback of service_a failed ({GONE} admit service_a service_a-3); now: "
        "service_b running; service_a running",
    ),
    "admit-later-sibling": Case(
        dies_at="admit service_b",
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
            "admit service_b service_b-3",
            "admit service_b service_b-4",
        ],
        rotation={"service_a": ["service_a-2"]},
        running={"service_a": {"service_a-2": NEW}, "service_b": {"service_b-4": OLD}},
        error=f"{GONE} admit service_b service_b-3; then the "
        f"rollback of service_b failed ({GONE} admit service_b service_b-4); now: "
        "service_a running; service_b running",
    ),
}


@pytest.mark.parametrize("case", GONE_MID_DEPLOY.values(), ids=list(GONE_MID_DEPLOY))
def test_a_proxy_gone_mid_deploy_is_exit_6_naming_the_state(case: Case) -> None:
    """The sibling cannot be put back in rotation: a person must look (exit 6)."""
    rotation = FakeRotation(dies_at=case.dies_at)
    engine, failed = deploy(rotation)
    assert engine.writes() == case.writes
    assert rotation.calls == case.calls
    assert rotation.members == case.rotation, "what the proxy was last told"
    assert engine.running() == case.running
    assert isinstance(failed, RollbackError) and failed.exit_code == ExitCode.ROLLBACK_FAILED
    assert str(failed) == case.error


def test_a_drain_the_proxy_refuses_keeps_the_old_container_in_rotation() -> None:
    rotation = FakeRotation(fail={"drain": 1})  # e.g. nginx -s reload failed
    engine, failed = deploy(rotation)
    assert engine.writes() == [
        BUILD,
        "docker tag -- legacy-app legacy-service_a",
        f"docker tag -- {OLD} legacy-service_a",
    ]
    assert rotation.calls == [*START, "drain service_a", "admit service_a service_a-0"]
    assert rotation.members == {"service_a": ["service_a-0"], "service_b": ["service_b-1"]}
    assert engine.running() == BOTH_OLD
    assert type(failed) is DeployError and failed.exit_code == ExitCode.DEPLOY_FAILED
    assert str(failed) == (
        "proxy legacy-proxy-1 refused: cannot drain service_a; service_a kept its running "
        "container; the siblings after it were not touched"
    )


def test_a_proxy_gone_at_the_start_changes_nothing() -> None:
    rotation = FakeRotation(dies_at="sync")
    engine, failed = deploy(rotation)
    assert engine.writes() == []
    assert rotation.calls == ["sync"]
    assert engine.running() == BOTH_OLD
    assert type(failed) is DeployError and str(failed) == f"{GONE} sync"


def test_a_proxy_gone_at_a_start_first_admission_is_exit_6() -> None:
    shop, engine = web_stack(1)
    rotation = FakeRotation(dies_at="route web +")
    run, plan, _ = prepare(shop, engine, NGINX, rotation, existing={"web": 1})
    with pytest.raises(RollbackError) as failed:
        run.run(plan)
    assert engine.writes() == [
        "compose build --no-cache -- web",
        "compose up -d --no-deps --no-build --no-recreate --scale web=2 -- web",
    ]  # the recovery stops at the proxy: the new container is neither removed nor untagged
    assert rotation.calls == ["sync", "check_order web", "route web +web-1 -", "route web + -web-1"]
    assert rotation.members == {"web": ["web-0"]}
    assert engine.running() == {"web": {"web-0": OLD, "web-1": NEW}}
    assert failed.value.exit_code == ExitCode.ROLLBACK_FAILED
    assert str(failed.value) == (
        f"{GONE} route web +web-1 -; then the "
        "rollback of web failed (proxy legacy-proxy-1 is gone: cannot route web + -web-1); now: "
        "web running; web running"
    )


UPSTREAM = upstream_file("app")
PROXY_UP = "compose up -d --no-deps --no-build -- proxy"


def nginx_deploy(*, proxy_starts: bool) -> tuple[FakeEngine, FakeNginx, list[str], ZddError | None]:
    """The seed behind zdd's nginx rotation, both siblings in rotation; the proxy container is
    gone at the admit of service_a (its second apply: the first drained service_a). What the
    deploy raised, and the rotation's warnings."""
    seed = seed_project()
    engine = seed_engine(seed)
    engine.create("proxy")
    nginx = FakeNginx(engine, dies_at=2)
    engine.script_answer = nginx
    nginx.files[UPSTREAM] = servers_text(
        {"service_a": "10.9.0.10:3000", "service_b": "10.9.0.11:3000"}
    )
    if not proxy_starts:
        engine.fail["proxy"] = 1  # `compose up ... -- proxy`
    warnings: list[str] = []
    rotation = NginxRotation(engine, cli_for(seed), seed, "proxy", 1.0, warnings.append)
    run, plan, _ = prepare(seed, engine, NGINX, rotation)
    try:
        run.run(plan)
    except ZddError as err:
        return engine, nginx, warnings, err
    return engine, nginx, warnings, None


def test_a_proxy_container_gone_is_started_again_and_the_deploy_goes_on() -> None:
    engine, nginx, warnings, error = nginx_deploy(proxy_starts=True)
    assert error is None
    assert engine.writes() == [
        BUILD,
        *turn("service_a"),
        PROXY_UP,
        released("service_a"),
        *turn("service_b"),
        released("service_b"),
    ]
    assert warnings == ["the proxy legacy-proxy-1 had stopped: started it again"]
    new = {"service_a": {"service_a-3": NEW}, "service_b": {"service_b-5": NEW}}
    assert engine.running() == {**new, "proxy": {"proxy-4": OLD}}
    a_new, b_old, b_new = "10.9.0.13:3000", "10.9.0.11:3000", "10.9.0.15:3000"  # 10.9.0.10 + n
    assert [(text, drained) for _, text, drained in nginx.applies] == [
        (servers_text({"service_b": b_old}), True),  # service_a drained
        # the admit of service_a finds the proxy gone: the new proxy gets every group again,
        # then the admit runs again
        (servers_text({"service_a": a_new, "service_b": b_old}), False),
        (servers_text({"service_a": a_new, "service_b": b_old}), False),
        (servers_text({"service_a": a_new}), True),
        (servers_text({"service_a": a_new, "service_b": b_new}), False),
    ]
    assert nginx.files == {UPSTREAM: servers_text({"service_a": a_new, "service_b": b_new})}


def test_a_proxy_container_that_cannot_be_started_again_is_exit_6() -> None:
    engine, nginx, warnings, error = nginx_deploy(proxy_starts=False)
    assert engine.writes() == [
        BUILD,
        *turn("service_a"),
        PROXY_UP,
        *put_back("service_a"),
        PROXY_UP,
    ]
    assert warnings == []
    assert engine.running() == {
        "service_b": {"service_b-1": OLD},
        "service_a": {"service_a-4": OLD},
    }
    drained = servers_text({"service_b": "10.9.0.11:3000"})
    assert nginx.applies == [(UPSTREAM, drained, True)], "nothing applied after the drain"
    assert nginx.files == {UPSTREAM: drained}
    assert isinstance(error, RollbackError) and error.exit_code == ExitCode.ROLLBACK_FAILED
    assert str(error) == (
        "proxy legacy-proxy-1: `docker compose -f /srv/legacy/docker-compose.yml ...` exited 1: "
        "proxy failed: proxy failed; then the "
        "rollback of service_a failed (proxy legacy-proxy-1: `docker compose -f "
        "/srv/legacy/docker-compose.yml ...` exited 1: proxy failed: proxy failed); now: "
        "service_b running; service_a running"
    )
