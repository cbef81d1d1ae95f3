"""Stacks for the executor's tests, built without compose: the seed's (a group of two siblings)
and a single service's (start-first), deployed on the fake engine; their plan and executor;
the commands a sibling's turn runs, to spell the expected sequences with."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zdd.compose import ComposeBinary, ComposeCli
from zdd.events import Event
from zdd.plan import DeployOptions, Plan, Step, build_plan, build_rollback_plan
from zdd.project import Project, Service, find_groups
from zdd.proxy import NoRotation, ProxyMode, Rotation
from zdd.rollout import Rollout

from .fakes import NEW, OLD, FakeClock, FakeEngine

V2 = ComposeBinary(("docker", "compose"), "2.40.3")
OLDER = "sha256:older"  # the release before OLD, which `zdd rollback` goes back to
NGINX = DeployOptions(delay=0.0, proxy=ProxyMode.NGINX)  # a proxy zdd drains and admits with
BUILD = "compose build --no-cache -- app"
START = ["sync", "check_order service_a service_b"]  # the proxy's calls before any change
LOG = "log: Error: cannot connect to the database"  # a crashed container's log tail


def make_project(
    name: str,
    services: Mapping[str, Mapping[str, Any]],
    parents: Mapping[str, str] | None = None,
    directory: Path = Path("/srv/stack"),
    *,
    legacy: bool = False,
) -> Project:
    """A project as load_project builds it from compose's `config` (effective configs,
    `extends` parents), without running compose."""
    parents = parents or {}
    model = {n: Service(n, config, parents.get(n)) for n, config in services.items()}
    return Project(
        name=name,
        directory=directory,
        files=(directory / "docker-compose.yml",),
        legacy=legacy,
        services=model,
        groups=find_groups(model),
    )


def seed_project() -> Project:
    """The seed's stack (conftest.SEED, in /srv/legacy) as compose v2's `config` resolves it:
    the proxy, the template `app`, its siblings service_a and service_b (no healthcheck)."""
    directory = Path("/srv/legacy")
    app: dict[str, Any] = {
        "build": {"context": str(directory / "service"), "dockerfile": "Dockerfile"},
        "restart": "always",
        "ports": [{"mode": "ingress", "target": 3000, "protocol": "tcp"}],
        "environment": {"VIRTUAL_HOST": "localhost", "VIRTUAL_PORT": "3000"},
        "network_mode": "bridge",  # the legacy format's
    }
    socket = {"source": "/var/run/docker.sock", "target": "/tmp/docker.sock", "read_only": True}
    proxy: dict[str, Any] = {
        "image": "jwilder/nginx-proxy:0.2.0",
        "restart": "always",
        "ports": [{"mode": "ingress", "target": 80, "published": "8000", "protocol": "tcp"}],
        "volumes": [{"type": "bind", **socket, "bind": {"create_host_path": True}}],
        "network_mode": "bridge",
    }
    services = {"proxy": proxy, "app": app, "service_a": app, "service_b": app}
    parents = {"service_a": "app", "service_b": "app"}
    return make_project("legacy", services, parents, directory, legacy=True)


def seed_engine(project: Project) -> FakeEngine:
    """The seed's stack deployed: every image on OLD, each sibling's container running
    (service_a-0, service_b-1)."""
    engine = FakeEngine(project.name)
    for service in project.services:
        engine.tags[engine.image_name(service)] = OLD
    for group in project.groups:
        for sibling in group.siblings:
            engine.create(sibling)
    return engine


def add_releases(engine: FakeEngine) -> None:
    """Each sibling of the seed released OLDER, then OLD (the newest: what runs)."""
    for sibling in ("service_a", "service_b"):
        engine.tags[f"zdd-release/legacy/{sibling}:r1"] = OLDER
        engine.tags[f"zdd-release/legacy/{sibling}:r2"] = OLD


def web_stack(replicas: int) -> tuple[Project, FakeEngine]:
    """`shop`: a proxy and `web`, a single service rolled out start-first, its `replicas`
    containers running on OLD (web-0, web-1, ...)."""
    web = {"build": {"context": "/srv/stack/web"}, "deploy": {"replicas": replicas}}
    shop = make_project("shop", {"proxy": {"image": "nginx"}, "web": {**web, "expose": ["80"]}})
    engine = FakeEngine("shop", {"shop-web": OLD})
    for number in range(1, replicas + 1):
        engine.create("web", number=number)
    return shop, engine


def cli_for(project: Project) -> ComposeCli:
    """Compose v2's argv builder for the project."""
    return ComposeCli(V2, project.files, project.name)


def prepare(
    project: Project,
    engine: FakeEngine,
    options: DeployOptions,
    rotation: Rotation | None = None,
    *,
    rollback: bool = False,
    existing: Mapping[str, int] | None = None,
    seen: Mapping[str, float] | None = None,
    clock: FakeClock | None = None,
    on_step: Callable[[Step, str], None] = lambda step, old: None,
) -> tuple[Rollout, Plan, list[Event]]:
    """The deploy's (or `zdd rollback`'s) plan and its executor on the fake engine, with a
    fake clock (`clock`, else a new one); the list the executor reports into."""
    cli = cli_for(project)
    planner = build_rollback_plan if rollback else build_plan
    plan = planner(project, cli, options, seen, existing)
    events: list[Event] = []
    clock = clock or FakeClock()
    rollout = Rollout(
        engine,
        cli,
        project.name,
        events.append,
        rotation or NoRotation(),
        on_step=on_step,
        proxy=str(options.proxy),
        clock=clock,
        sleep=clock.sleep,
    )
    return rollout, plan, events


def turn(sibling: str, image: str = "legacy-app") -> list[str]:
    """A seed sibling's commands up to its gate: its name tagged with `image` (the new build,
    or under `zdd rollback` a release's id), the image it ran kept as a release (`zdd
    rollback`: it is one already), stop, up."""
    return [
        f"docker tag -- {image} legacy-{sibling}",
        *([f"docker tag -- {OLD} zdd-release/legacy/{sibling}:rN"] if image != OLDER else []),
        f"compose stop -- {sibling}",
        f"compose up -d --no-deps --no-build --force-recreate -- {sibling}",
    ]


def put_back(sibling: str) -> list[str]:
    """The recovery of a replaced seed sibling: its old image's name back, its container
    again."""
    return [
        f"docker tag -- {OLD} legacy-{sibling}",
        f"compose up -d --no-deps --no-build --force-recreate -- {sibling}",
    ]


def released(sibling: str, image: str = NEW) -> str:
    """A seed sibling's gated image kept as its newest release (between siblings)."""
    return f"docker tag -- {image} zdd-release/legacy/{sibling}:rN"


@dataclass(frozen=True)
class Case:
    """A failure (a crashing container, failing commands, a proxy that dies) and what the
    deploy leaves: the commands that changed something, the proxy's calls, the rotation and
    the running containers at the end, the error's words."""

    writes: list[str]
    calls: list[str]
    rotation: dict[str, list[str]]
    running: dict[str, dict[str, str]]
    error: str
    crash: str = ""
    fail: dict[str, int] = field(default_factory=dict)
    dies_at: str = ""  # the proxy's call at which it is gone
    rollback: bool = False  # `zdd rollback` (its plan retags a release first)
