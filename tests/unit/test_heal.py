"""Healing, pure parts: the reconciliation's decisions, the order of a rollout, the last
sibling never drained, the guardian's protocol (no Docker: the fake engine plays the proxy's
nginx)."""

from __future__ import annotations

import io
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import zdd.cli
from zdd import guard
from zdd.containers import Container
from zdd.errors import DeployError, ExitCode, UsageError
from zdd.plan import DeployOptions, build_plan, down_first
from zdd.proxy import ProxyMode
from zdd.proxy.nginx import NginxRotation
from zdd.proxy.nginx_files import rendered_siblings, servers_text, upstream_file

from .fake_proxy import FakeNginx
from .fakes import FakeEngine
from .stacks import cli_for, seed_project

NET = "legacy_default"
APP = upstream_file("app")  # the seed's one group's upstream file in the proxy


def container(service: str, ip: str, **state: Any) -> Container:
    base = Container(
        id=f"id-{service}",
        name=f"legacy-{service}-1",
        service=service,
        image=f"legacy-{service}",
        image_id="sha256:1",
        status="running",
        health="healthy",
        restart_count=0,
        exit_code=0,
        networks={NET: ip},
    )
    return replace(base, **state)


PROXY = container("proxy", "10.9.0.2", health=None, id="proxy-0")


def applied(members: dict[str, str], drained: bool = False) -> tuple[str, str, bool]:
    """What the proxy's nginx got: the group's upstream rendered with `members`."""
    return (APP, servers_text(members), drained)


@pytest.fixture
def nginx() -> FakeNginx:
    """The seed's proxy (PROXY) running on the fake engine, its nginx played by FakeNginx."""
    engine = FakeEngine("legacy")
    assert engine.create("proxy") == PROXY.id
    nginx = FakeNginx(engine)
    engine.script_answer = nginx
    return nginx


@pytest.fixture
def warnings() -> list[str]:
    """What the rotation said."""
    return []


@pytest.fixture
def rotation(nginx: FakeNginx, warnings: list[str]) -> NginxRotation:
    seed = seed_project()
    return NginxRotation(nginx.engine, cli_for(seed), seed, "proxy", 1.0, warnings.append)


def test_a_ready_sibling_out_of_rotation_is_admitted_first(
    rotation: NginxRotation, nginx: FakeNginx, warnings: list[str]
) -> None:
    nginx.files[APP] = servers_text({"service_a": "10.9.0.3:3000"})
    found = [PROXY, container("service_a", "10.9.0.3"), container("service_b", "10.9.0.4")]
    rotation.sync(found)
    assert nginx.applies == [applied({"service_a": "10.9.0.3:3000", "service_b": "10.9.0.4:3000"})]
    assert warnings == ["app: service_b was ready but out of rotation: admitted"]
    assert rotation.serving("service_b")


def test_a_sibling_that_is_not_ready_is_taken_out(
    rotation: NginxRotation, nginx: FakeNginx, warnings: list[str]
) -> None:
    both = {"service_a": "10.9.0.3:3000", "service_b": "10.9.0.4:3000"}
    nginx.files[APP] = servers_text(both)
    found = [PROXY, container("service_a", "10.9.0.3"), container("service_b", "", status="exited")]
    rotation.sync(found)
    assert nginx.applies == [applied({"service_a": "10.9.0.3:3000"}, drained=True)]
    assert warnings == ["app: service_b is not ready: taken out of rotation"]


def test_nothing_is_applied_when_the_proxy_agrees(
    rotation: NginxRotation, nginx: FakeNginx, warnings: list[str]
) -> None:
    both = {"service_a": "10.9.0.3:3000", "service_b": "10.9.0.4:3000"}
    nginx.files[APP] = servers_text(both)
    rotation.sync([PROXY, container("service_a", "10.9.0.3"), container("service_b", "10.9.0.4")])
    assert nginx.applies == [] and warnings == []


def test_a_new_proxy_is_rendered_and_said_so(
    rotation: NginxRotation, nginx: FakeNginx, warnings: list[str]
) -> None:
    rotation.sync([PROXY, container("service_a", "10.9.0.3"), container("service_b", "10.9.0.4")])
    assert [path for path, *_ in nginx.applies] == [APP]
    assert "the proxy had no upstream from zdd" in warnings[0]


@pytest.mark.parametrize("includes", [True, False])
def test_a_proxy_whose_config_never_reads_zdd_s_upstream_is_refused_before_any_change(
    rotation: NginxRotation, nginx: FakeNginx, includes: bool
) -> None:
    """A proxy started before `zdd init` added the include: every drain and admit would write
    a file it never reads, while zdd said it controlled the routing."""
    upstream = "upstream app {\n    server 127.0.0.1:9 down;\n"
    upstream += "    include /etc/nginx/zdd/app/*.conf;\n" if includes else ""
    nginx.config = f"# configuration file /etc/nginx/nginx.conf:\nhttp {{\n{upstream}}}\n}}\n"
    found = [PROXY, container("service_a", "10.9.0.3"), container("service_b", "10.9.0.4")]
    if includes:
        rotation.sync(found)
        assert nginx.applies, "rendered"
        return
    with pytest.raises(UsageError, match=r"runs an nginx config without zdd's upstream for app"):
        rotation.sync(found)
    assert nginx.applies == [], "nothing rendered, nothing reloaded"


def test_the_last_sibling_in_rotation_is_never_drained(rotation: NginxRotation) -> None:
    rotation.sync(
        [PROXY, container("service_a", "10.9.0.3"), container("service_b", "", status="exited")]
    )
    with pytest.raises(UsageError) as refused:
        rotation.check_order(["service_a", "service_b"])
    assert refused.value.exit_code == ExitCode.USAGE
    assert "service_a is the only sibling of app in rotation (service_b not ready)" in str(
        refused.value
    )
    rotation.check_order(["service_b", "service_a"])  # the stopped one first: fine
    with pytest.raises(DeployError, match="zdd does not drain it"):
        rotation.drain("service_a")


def test_siblings_that_are_down_go_first() -> None:
    seed = seed_project()
    plan = build_plan(seed, cli_for(seed), DeployOptions(proxy=ProxyMode.NGINX))
    ordered = down_first(plan, ["service_b"])
    turns = list(dict.fromkeys(s.service for s in ordered.steps))
    assert turns == [None, "service_b", "service_a"]
    assert sorted(map(str, ordered.steps)) == sorted(map(str, plan.steps)), "same steps"
    assert down_first(plan, []).steps == plan.steps


def test_rendered_siblings_reads_what_servers_text_writes() -> None:
    text = servers_text({"service_a": "10.0.0.3:3000", "svc.b-2": "10.0.0.4:3000"})
    assert rendered_siblings(text) == {"service_a", "svc.b-2"}
    assert rendered_siblings("server 127.0.0.1:9 down;\n") == set()


@pytest.mark.parametrize(
    ("lines", "heals"),
    [
        ("tag \nbuild \n", ["heal"]),  # died during the build: nothing to wait for
        ("drain service_a\n", ["heal"]),  # the old container still runs: heal admits it
        ("drain service_a\nstop service_a\n", ["heal", "--wait-for", "service_a"]),
        ("stop service_a\nup service_a\ngate service_a\n", ["heal", "--wait-for", "service_a"]),
        (
            "drain service_a c1\nstop service_a c1\n",
            ["heal", "--wait-for", "service_a", "--stale", "c1"],
        ),
        ("up service_a\ngate service_a\nadmit service_a\ntag service_b\n", ["heal"]),
        ("drain service_a\ndone\n", None),  # zdd ended in a state it reported
    ],
)
def test_the_guardian_heals_only_when_zdd_died(
    monkeypatch: pytest.MonkeyPatch, lines: str, heals: list[str] | None
) -> None:
    called: list[list[str]] = []
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    monkeypatch.setattr(sys, "argv", ["guard", "4242", "-p", "legacy"])
    monkeypatch.setattr(zdd.cli, "app", lambda argv, prog_name: called.append(argv))
    guard.main()
    if heals is None:
        assert called == []
    else:
        assert called == [[heals[0], "-p", "legacy", *heals[1:]]]


def test_addresses_changed_outside_zdd_are_re_rendered(
    rotation: NginxRotation, nginx: FakeNginx, warnings: list[str]
) -> None:
    stale = {"service_a": "10.9.0.3:3000", "service_b": "10.9.0.9:3000"}
    nginx.files[APP] = servers_text(stale)
    rotation.sync([PROXY, container("service_a", "10.9.0.3"), container("service_b", "10.9.0.4")])
    assert nginx.applies == [applied({"service_a": "10.9.0.3:3000", "service_b": "10.9.0.4:3000"})]
    assert warnings == ["app: addresses changed (containers recreated outside zdd): re-rendered"]


def test_the_old_container_a_dead_deploy_was_stopping_is_not_admitted(
    rotation: NginxRotation, nginx: FakeNginx
) -> None:
    """`compose stop` outlives zdd: its container still runs (even `healthy`) for up to its
    stop timeout. The guardian names it stale; it is not admitted while it runs."""
    nginx.files[APP] = servers_text({"service_b": "10.9.0.4:3000"})
    rotation.stale.add("id-service_a")
    stopping = container("service_a", "10.9.0.3")
    rotation.sync([PROXY, stopping, container("service_b", "10.9.0.4")])
    assert nginx.applies == [] and not rotation.serving("service_a")
    stopped = replace(stopping, status="exited")
    rotation.reconcile([PROXY, stopped, container("service_b", "10.9.0.4")])
    assert rotation.stale == set(), "stopped: stale no more (an `up` may start it again)"
    rotation.reconcile([PROXY, stopping, container("service_b", "10.9.0.4")])
    assert rotation.serving("service_a")


def test_a_stale_container_is_stopping_only_while_a_compose_of_the_project_runs(
    tmp_path: Path,
) -> None:
    from zdd.heal import stopping

    def process(pid: int, *argv: str) -> None:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv))

    process(1, "/sbin/init")
    assert not stopping("legacy", tmp_path)
    process(2, "docker", "compose", "-p", "other", "stop", "--", "service_a")
    assert not stopping("legacy", tmp_path), "another project"
    process(3, "/usr/bin/python3", "/usr/bin/docker-compose", "-p", "legacy", "stop", "--", "a")
    assert stopping("legacy", tmp_path)


def _beside(
    rotation: NginxRotation, nginx: FakeNginx
) -> tuple[dict[str, str], Container, Container]:
    """Both siblings in rotation, and service_a's old and new (start-first) containers."""
    both = {"service_a": "10.9.0.3:3000", "service_b": "10.9.0.4:3000"}
    nginx.files[APP] = servers_text(both)
    old = container("service_a", "10.9.0.3")
    rotation.sync([PROXY, old, container("service_b", "10.9.0.4")])
    new = container("service_a", "10.9.0.5", id="id-new", name="legacy-service_a-2")
    return both, old, new


def test_a_sibling_start_first_serves_beside_then_under_its_name(
    rotation: NginxRotation, nginx: FakeNginx
) -> None:
    both, old, new = _beside(rotation, nginx)
    rotation.route("service_a", admit=[new])
    rotation.route("service_a", drain=[old])
    assert nginx.applies == [
        applied({**both, "legacy-service_a-2": "10.9.0.5:3000"}),  # beside the old one
        applied({"service_a": "10.9.0.5:3000", "service_b": "10.9.0.4:3000"}, drained=True),
    ]
    assert rotation.serving("service_a")


@pytest.mark.parametrize("drained", [False, True])
def test_a_failed_start_first_puts_the_old_container_back(
    rotation: NginxRotation, nginx: FakeNginx, drained: bool
) -> None:
    both, old, new = _beside(rotation, nginx)
    rotation.route("service_a", admit=[new])
    if drained:
        rotation.route("service_a", drain=[old])
    rotation.route("service_a", admit=[old] if drained else [], drain=[new])  # the recovery
    assert rotation.members["app"] == both
    assert rotation.beside == {}


@pytest.mark.parametrize("proxy_state", ["running", "exited"])
def test_a_new_container_given_the_proxy_s_address_is_not_admitted(
    rotation: NginxRotation, nginx: FakeNginx, proxy_state: str
) -> None:
    """An engine that hands out the address the running proxy holds (seen in CI under load):
    admitting it would route requests to the proxy itself. A proxy killed meanwhile holds
    nothing: its address is free for the new container (read again, not remembered)."""
    proxy = nginx.engine.container(PROXY.id)
    ip = proxy.networks[NET]
    both = {"service_a": "10.9.0.3:3000", "service_b": "10.9.0.4:3000"}
    nginx.files[APP] = servers_text(both)
    rotation.sync([proxy, container("service_a", "10.9.0.3"), container("service_b", "10.9.0.4")])
    rotation.drain("service_a")
    nginx.engine.containers[PROXY.id]["State"]["Status"] = proxy_state
    new = container("service_a", ip, id="id-new")
    if proxy_state == "exited":
        assert rotation._address("app", new) == f"{ip}:3000"
        return
    with pytest.raises(DeployError) as refused:
        rotation.admit("service_a", new)
    assert str(refused.value) == (
        f"the engine gave legacy-service_a-1 the address {ip} on {NET} that the proxy "
        f"{proxy.name} already has (a Docker IP allocation fault: `docker network inspect "
        f"{NET}`); zdd does not route to it"
    )
    assert nginx.files[APP] == servers_text({"service_b": "10.9.0.4:3000"})  # never routed


def test_a_container_on_another_network_of_the_same_name_is_not_admitted(
    rotation: NginxRotation, nginx: FakeNginx
) -> None:
    """The engine lets two networks share a name: the proxy cannot reach a container on the
    other one, though `docker inspect` names the same network for both."""
    proxy = replace(PROXY, network_ids={NET: "net-1"})
    both = {"service_a": "10.9.0.3:3000", "service_b": "10.9.0.4:3000"}
    nginx.files[APP] = servers_text(both)
    olds = [container("service_a", "10.9.0.3"), container("service_b", "10.9.0.4")]
    rotation.sync([proxy, *(replace(c, network_ids={NET: "net-1"}) for c in olds)])
    rotation.drain("service_a")
    twin = container("service_a", "10.10.0.2", id="id-new", network_ids={NET: "net-2"})
    with pytest.raises(DeployError) as refused:
        rotation.admit("service_a", twin)
    assert str(refused.value) == (
        f"service_a shares no network with the proxy legacy-proxy-1 (two networks are named "
        f"{NET}: `docker network ls`)"
    )
