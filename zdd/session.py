"""Open a project for one zdd command: load the files, find compose, bake the base argv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zdd.compose_file import LoadOptions, Project
from zdd.legacy import write_translation
from zdd.paths import cache_dir
from zdd.runner import ComposeBinary, ComposeCli, Runner, detect_compose


@dataclass(frozen=True)
class Session:
    """The project, the compose binary and the argv builder one command works with."""

    project: Project
    binary: ComposeBinary
    cli: ComposeCli
    runner: Runner
    engine: str = ""  # the engine's identity (runner.engine_identity), where it was asked


def open_session(
    project: Project,
    options: LoadOptions,
    compose_cmd: str | None,
    runner: Runner,
    engine: str = "",
) -> Session:
    """Pick the compose binary for the loaded project; translate a v1 file for compose v2."""
    cache = cache_dir(options.environ) / "compose-versions.json"
    binary = detect_compose(runner, compose_cmd, cache)
    env_file = Path(options.cwd, options.env_file).resolve() if options.env_file else None
    if project.legacy and binary.major >= 2:
        files: tuple[Path, ...] = (write_translation(project, options.environ),)
        directory: Path | None = project.directory
    else:
        files = project.files
        directory = project.directory if options.project_directory else None
    cli = ComposeCli(binary, files, project.name, directory, env_file)
    return Session(project, binary, cli, runner, engine)
