"""Which project is loaded, as compose computes it: the compose files in use, the `.env`
values it reads before any file, the project directory and the project name."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zdd.errors import ComposeFileError, UsageError

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
_VALID_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True)
class LoadOptions:
    """The compose flags that decide which project is loaded."""

    files: tuple[str, ...] = ()
    project_name: str | None = None
    project_directory: str | None = None
    env_file: str | None = None
    cwd: Path = field(default_factory=Path.cwd)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def find_files(names: Sequence[str], cwd: Path, env: Mapping[str, str], start: Path) -> list[Path]:
    """The compose files in use, as compose picks them: `-f`, else COMPOSE_FILE, else the
    default names in `start` or its nearest parent that has one (plus its override file)."""
    if not names and env.get("COMPOSE_FILE"):
        separator = env.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
        names = [name for name in env["COMPOSE_FILE"].split(separator) if name]
    if not names:
        return _default_files(start)
    paths = []
    for name in names:
        if name == "-":
            raise ComposeFileError(
                "reading a compose file from stdin is not supported; use -f PATH"
            )
        path = (cwd / Path(name).expanduser()).resolve()
        if not path.is_file():
            raise ComposeFileError(f"compose file not found: {name}")
        paths.append(path)
    return paths


def _default_files(start: Path) -> list[Path]:
    for directory in (start, *start.parents):
        found = [directory / name for name in DEFAULT_FILES if (directory / name).is_file()]
        if found:
            overrides = [directory / n for n in OVERRIDE_FILES if (directory / n).is_file()]
            return [found[0], *overrides[:1]]
    raise ComposeFileError(
        f"no compose file in {start} or its parents (looked for {', '.join(DEFAULT_FILES)}); "
        "use -f PATH"
    )


def absolute(cwd: Path, path: str) -> Path:
    """`path` (`~` expanded) against `cwd`, resolved."""
    return (cwd / Path(path).expanduser()).resolve()


def dotenv(path: Path) -> dict[str, str]:
    """The `.env` values compose reads before it reads any file (COMPOSE_FILE, ...)."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:  # compose decides what a bad byte means; these few variables only need the rest
        with path.open(encoding="utf-8", errors="replace") as stream:
            values = dotenv_values(stream=stream, interpolate=False)
    except OSError as err:
        raise ComposeFileError(f"cannot read env file {path}: {err.strerror}") from None
    return {key: value for key, value in values.items() if value is not None}


def project_name(options: LoadOptions, env: Mapping[str, str], directory: Path) -> str:
    """compose v1's project name (its `config` does not print it): -p, COMPOSE_PROJECT_NAME,
    else the directory name normalised."""
    for source, value in (
        ("-p", options.project_name),
        ("COMPOSE_PROJECT_NAME", env.get("COMPOSE_PROJECT_NAME")),
    ):
        if value:
            if not _VALID_NAME.fullmatch(value):
                raise UsageError(
                    f"invalid project name {value!r} from {source}: use lowercase letters, "
                    "digits, dashes and underscores, starting with a letter or digit"
                )
            return value
    normalised = re.sub(r"[^a-z0-9_-]", "", directory.name.lower()).lstrip("_-")
    if not normalised:
        raise UsageError(f"cannot derive a project name from {directory}; use -p NAME")
    return normalised
