"""Open a project for one zdd command: find compose, let it read the project, bake the argv."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from zdd.compose import ComposeBinary, ComposeCli, detect_compose
from zdd.paths import cache_dir
from zdd.ports import CommandRunner
from zdd.project import LoadOptions, Project, load_project


@dataclass(frozen=True)
class Session:
    """The project, the compose binary and the argv builder one command works with."""

    project: Project
    binary: ComposeBinary
    cli: ComposeCli
    runner: CommandRunner
    engine: str = ""  # the engine's identity (runner.engine_identity), where it was asked
    environ: Mapping[str, str] = field(default_factory=dict)  # as given, before any SSH tunnel


def open_session(options: LoadOptions, compose_cmd: str | None, runner: CommandRunner) -> Session:
    """Pick the compose binary, then load the project through its own `config`."""
    cache = cache_dir(options.environ) / "compose-versions.json"
    binary = detect_compose(runner, compose_cmd, cache)
    project = load_project(options, binary, runner)
    assert project.cli is not None  # load_project always sets it
    return Session(project, binary, project.cli, runner)
