"""A drain behind a proxy zdd does not control (--proxy discovery --drain-image): planned only
where asked, run in each old container's network namespace before it stops, its counts said,
its helper let go once the unit's new container is admitted."""

from __future__ import annotations

from dataclasses import replace

import pytest

from zdd.errors import UsageError
from zdd.plan import DeployOptions, build_plan
from zdd.preflight import preflight
from zdd.proxy import ProxyMode
from zdd.proxy.discovery import DiscoveryRotation
from zdd.proxy.netfilter import REFUSE, NetfilterDrain, helper_argv

from .fakes import FakeEngine
from .stacks import cli_for, prepare, seed_engine, seed_project

IMAGE = "zdd-standin/netfilter:bookworm"
DISCOVERY = DeployOptions(delay=0.0, proxy=ProxyMode.DISCOVERY, drain_image=IMAGE)


@pytest.mark.parametrize("image", [IMAGE, None])
def test_a_discovery_plan_drains_inside_only_where_a_drain_image_is_given(
    image: str | None,
) -> None:
    seed = seed_project()
    options = DeployOptions(proxy=ProxyMode.DISCOVERY, drain_image=image)
    plan = build_plan(seed, cli_for(seed), options)
    steps = [s for s in plan.steps if s.service == "service_a"]
    drains = [s.describe() for s in steps if s.kind == "drain"]
    if image is None:
        assert drains == [], "the proxy finds it until it stops: nothing drains it"
        return
    assert [s.kind for s in steps][:3] == ["tag", "drain", "stop"]
    assert drains == [
        f"# drain service_a: refuse new connections inside ({IMAGE}), wait for the open ones"
    ]


@pytest.mark.parametrize("mode", [ProxyMode.NGINX, ProxyMode.EXTERNAL, ProxyMode.NONE])
def test_a_drain_image_behind_another_mode_is_refused_before_any_change(mode: ProxyMode) -> None:
    seed = seed_project()
    options = DeployOptions(proxy=mode, drain_image=IMAGE)
    plan = build_plan(seed, cli_for(seed), options)
    refused = [f.message for f in preflight(seed, options, plan.groups) if f.level == "refuse"]
    assert refused == [
        f"--drain-image is for --proxy discovery, not {mode} (nginx drains in the proxy; "
        "external: your --pre-stop hook)"
    ]


def test_each_old_sibling_refuses_new_connections_before_it_stops_and_its_counts_are_said() -> None:
    seed = seed_project()
    engine = seed_engine(seed)
    order: list[str] = []
    engine.on_argv = lambda argv: order.append(" ".join(argv[-3:]))

    def answer(argv: tuple[str, ...], script: str) -> str:
        order.append(f"{script.split(maxsplit=1)[0]} in {argv[5]}")  # `--network container:ID`
        return "3 1" if "ss -Htn" in script else ""

    engine.script_answer = answer
    drainer = NetfilterDrain(engine, IMAGE, timeout=5, project="legacy")
    rotation = DiscoveryRotation(engine, "proxy", seed, drainer=drainer, sleep=lambda _s: None)
    run, plan, events = prepare(seed, engine, DISCOVERY, rotation)
    olds = [engine.container(c) for c in ("service_a-0", "service_b-1")]
    run.run(plan)

    stops = [i for i, line in enumerate(order) if line.startswith("stop -- service_")]
    refused = [i for i, line in enumerate(order) if line.startswith("iptables in")]
    assert [order[i] for i in refused] == [
        "iptables in container:service_a-0",
        "iptables in container:service_b-1",
    ]
    assert refused[0] < stops[0] < refused[1] < stops[1], order
    shells = {argv for argv, _script in engine.scripts}
    assert shells == {tuple(helper_argv(IMAGE, c, "legacy")) for c in olds}
    assert any("org.zdd.drains=service_a-0" in argv for argv in shells), "labelled"
    assert [script for _argv, script in engine.scripts][::2] == [REFUSE, REFUSE]
    assert "TICKS" not in engine.scripts[1][1] and "-lt 50 ]" in engine.scripts[1][1]
    drained = [e for e in events if e.kind == "step" and e.data.get("kind") == "drain"]
    assert [e.data["connections"] for e in drained] == [{"open": 3, "finished": 2, "cut": 1}] * 2
    assert drained[0].message.endswith("(3 connection(s) open: 2 finished, 1 cut)")
    assert drainer.held == {}, "each helper let go once its sibling's new container was admitted"


@pytest.mark.parametrize(
    ("failing", "words"),
    [
        ("zdd/missing:1", "no such image on the engine"),
        ("command -v iptables && command -v ss", "no iptables or no ss in it"),
    ],
)
def test_a_drain_image_that_cannot_drain_is_refused_before_any_change(
    failing: str, words: str
) -> None:
    engine = FakeEngine("legacy", fail={failing: 1})
    rotation = DiscoveryRotation(
        engine, "proxy", drainer=NetfilterDrain(engine, "zdd/missing:1", 5)
    )
    with pytest.raises(UsageError, match=rf"^--drain-image zdd/missing:1: {words}; build or pull"):
        rotation.sync([])
    checks = "docker run --rm --network none "  # a look inside the image: nothing changed
    assert all(line.startswith(checks) for line in engine.writes()), engine.writes()


@pytest.mark.parametrize("mode", ["host", "container:db", "service:db"])
def test_a_drain_image_is_refused_where_the_namespace_is_not_the_containers_own(
    mode: str,
) -> None:
    """Its rule would refuse new connections to the host (or to another container) too."""
    seed = seed_project()
    config = {**seed.services["service_a"].config, "network_mode": mode}
    services = {**seed.services, "service_a": replace(seed.services["service_a"], config=config)}
    project = replace(seed, services=services)
    plan = build_plan(project, cli_for(project), DISCOVERY)
    refused = [f.message for f in preflight(project, DISCOVERY, plan.groups) if f.level == "refuse"]
    assert refused == [
        f"service_a: network_mode {mode!r} shares a network namespace that is not its own: "
        "--drain-image would refuse new connections to all of it; leave it out"
    ]
