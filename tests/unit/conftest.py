"""Fixtures of the unit tier: compose files written inline into tmp_path, read by the real
compose binaries' `config` (no engine needed)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from zdd.compose import ComposeBinary, detect_compose
from zdd.errors import ZddError
from zdd.project import LoadOptions, Project, load_project
from zdd.runner import Runner

# The seed's docker-compose.yml (compose/legacy/docker-compose.yml), legacy v1 format.
SEED = """\
proxy:
  image: jwilder/nginx-proxy:0.2.0
  restart: always
  ports:
    - "8000:80"
  volumes:
    - "/var/run/docker.sock:/tmp/docker.sock:ro"

app:
  build: service
  restart: always
  ports:
    - "3000"
  environment:
    - VIRTUAL_HOST=localhost
    - VIRTUAL_PORT=3000

service_a:
  extends:
    service: app

service_b:
  extends:
    service: app
"""

# What a gate line adds when the sibling's image was not there to look at before planning.
UNSEEN = " (its image is not there yet: if it has a HEALTHCHECK, until healthy)"
Write = Callable[[str, str], Path]
Load = Callable[..., Project]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Write dedented YAML (or any text) to a path relative to tmp_path; return the path."""

    def _write(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


COMPOSE_COMMANDS = {2: "docker compose", 1: "docker-compose"}
# Modules whose tests run the real docker CLI, or zdd on real files (compose `config` runs).
CLI_MODULES = frozenset(
    ("test_cli", "test_choose", "test_compose_refusals", "test_init", "test_plugin",
     "test_preflight", "test_properties", "test_real_stacks", "test_swarm")
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The compose tier: every test that reaches the real compose binaries (through the
    `compose_binaries` fixture, or the CLI on a real file); the rest is the pure tier."""
    for item in items:
        module = getattr(item, "module", None)
        name = module.__name__.rsplit(".", 1)[-1] if module else ""
        if "compose_binaries" in getattr(item, "fixturenames", ()) or name in CLI_MODULES:
            item.add_marker(pytest.mark.compose)


@pytest.fixture(autouse=True)
def _no_compose_in_the_pure_tier(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """A pure-tier test that runs docker or compose fails loudly: they are not on its PATH."""
    if request.node.get_closest_marker("compose"):
        yield
        return
    stand_ins = tmp_path_factory.getbasetemp() / "no-compose"
    if not stand_ins.exists():
        stand_ins.mkdir()
        for name in ("docker", "docker-compose"):
            script = stand_ins / name
            script.write_text("#!/bin/sh\necho 'a pure-tier test ran '$0 >&2\nexit 97\n")
            script.chmod(0o755)
    saved = os.environ["PATH"]
    os.environ["PATH"] = f"{stand_ins}:{saved}"
    try:
        yield
    finally:
        os.environ["PATH"] = saved


@pytest.fixture(scope="session")
def compose_binaries() -> dict[int, ComposeBinary]:
    """The real compose v2 and v1; missing, a failure in CI (ZDD_REQUIRE_ENGINE), else a skip."""
    found = {}
    for major, command in COMPOSE_COMMANDS.items():
        try:
            found[major] = detect_compose(Runner(), command)
        except ZddError as err:
            if os.environ.get("ZDD_REQUIRE_ENGINE"):
                pytest.fail(f"{command} is required (scripts/engine-up.sh): {err}")
            pytest.skip(f"{command} is not installed (scripts/engine-up.sh)")
    return found


@pytest.fixture
def load(tmp_path: Path, compose_binaries: dict[int, ComposeBinary]) -> Load:
    """load_project through the real compose (`compose=1` for v1, default v2), with cwd under
    tmp_path and an explicit environment (never os.environ's compose variables)."""

    def _load(
        *files: str,
        cwd: str = "",
        environ: Mapping[str, str] | None = None,
        compose: int = 2,
        project_name: str | None = None,
        project_directory: str | None = None,
        env_file: str | None = None,
    ) -> Project:
        environment = {"XDG_CACHE_HOME": str(tmp_path / "cache"), **(environ or {})}
        return load_project(
            LoadOptions(
                files=files,
                project_name=project_name,
                project_directory=project_directory,
                env_file=env_file,
                cwd=tmp_path / cwd,
                environ=environment,
            ),
            compose_binaries[compose],
            Runner(),
        )

    return _load


@pytest.fixture
def seed_file(write: Write) -> Path:
    """The seed's file in a directory named `legacy` (so the project is `legacy`)."""
    path = write("legacy/docker-compose.yml", SEED)
    (path.parent / "service").mkdir()  # compose v1's `config` checks that a context exists
    return path
