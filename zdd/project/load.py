"""Load a project as compose does: the files it picks (`-f`, COMPOSE_FILE, its default names),
the `.env` values it reads first, its project directory and name; then compose's own `config`
of them (cached) and the `extends` graph of the raw files, joined into one frozen Project."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from zdd.compose import ComposeBinary, ComposeCli
from zdd.errors import ComposeFileError, UsageError
from zdd.ports import CommandRunner
from zdd.project.config import config_files, run_config, undecodable
from zdd.project.extends import ExtendsGraph
from zdd.project.legacy import check_formats, write_translation
from zdd.project.model import (
    Project,
    Service,
    check_name,
    check_service_settings,
    check_settings,
    find_groups,
    top_level_settings,
)
from zdd.project.nginxconf import ProxyRouting, Routing, classify, config_texts
from zdd.project.rawyaml import UnsafeYamlError, read_yaml
from zdd.project.roles import DISCOVERING_IMAGES, Evidence, role_of

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
        separator = env.get("COMPOSE_PATH_SEPARATOR") or os.pathsep  # empty: compose's default
        names = [name for name in env["COMPOSE_FILE"].split(separator) if name]
    if not names:
        return _default_files(start)
    paths = []
    for name in names:
        if name == "-":
            raise ComposeFileError(
                "reading a compose file from stdin is not supported; use -f PATH"
            )
        path = absolute(cwd, name)
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
    """`path` (`~` expanded) against `cwd`, made absolute as compose does: `..` taken away by
    the letter, symlinks kept (`current/compose.yaml` is project `current`, not the release
    directory the link points at)."""
    return Path(os.path.normpath(cwd / Path(path).expanduser()))


def working_directory(options: LoadOptions, major: int) -> Path:
    """Where compose starts: v2 (Go's os.Getwd) keeps the shell's $PWD where it names the
    same directory, a path through a symlink included; v1 (Python's os.getcwd) the real one."""
    shell = options.environ.get("PWD", "")
    if major >= 2 and os.path.isabs(shell):
        try:
            if os.path.samefile(shell, options.cwd):
                return Path(os.path.normpath(shell))
        except OSError:
            pass
    return options.cwd


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


def v1_env_directory(options: LoadOptions, cwd: Path) -> Path:
    """Where compose v1 reads `.env`: --project-directory, else the directory of the first
    file as given (-f, else COMPOSE_FILE), else where it runs; not the project's directory."""
    first = (
        options.files[:1]
        or (options.environ.get("COMPOSE_FILE") or "").split(
            options.environ.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        )[:1]
    )
    given = options.project_directory or (os.path.dirname(first[0]) if first else "")
    return absolute(cwd, given or ".")


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
    normalised = re.sub(r"[^a-z0-9_-]", "", directory.name.lower())  # `_app` stays `_app`
    if not normalised:
        raise UsageError(f"cannot derive a project name from {directory}; use -p NAME")
    return normalised


def load_project(options: LoadOptions, binary: ComposeBinary, runner: CommandRunner) -> Project:
    """Ask `binary` for the effective configuration; read the raw files for the groups."""
    cwd = working_directory(options, binary.major)
    start = absolute(cwd, options.project_directory or ".")
    env_file = absolute(cwd, options.env_file) if options.env_file else None
    early = {**dotenv(env_file or start / ".env"), **options.environ}
    files = find_files(options.files, cwd, early, start)
    directory = (
        absolute(cwd, options.project_directory) if options.project_directory else files[0].parent
    )
    documents = [(path, read_yaml(path)) for path in files]
    legacy = check_formats(documents)
    given: tuple[Path, ...] = tuple(files)
    pinned = bool(options.project_directory)
    if legacy and binary.major >= 2:  # compose v2 cannot read v1: give it a translation
        given, pinned = write_translation(documents, options.environ), True
    cli = ComposeCli(
        binary, given, options.project_name or "", directory if pinned else None, env_file
    )
    dotenvs = [env_file or directory / ".env", start / ".env", cwd / ".env"]
    graph: ExtendsGraph | None = None
    inputs = None
    try:  # what `config` reads, for its cache; a file compose rejects is for compose to say
        graph = ExtendsGraph.of(documents)
        inputs = config_files(graph, [*files, *given], directory, [*dotenvs, Path.cwd() / ".env"])
    except UnsafeYamlError:  # in an `extends` file: compose would hang expanding it
        raise
    except (ComposeFileError, OSError, ValueError, RuntimeError):  # a loop, a NUL in a path
        graph = None
    try:
        model = run_config(runner, cli, options.environ, inputs)
    except ComposeFileError as err:
        raise undecodable(err, env_file or directory / ".env") from None
    graph = graph or ExtendsGraph.of(documents)
    services = {}
    order = {name: index for index, name in enumerate(graph.order())}
    for name, config in sorted(model["services"].items(), key=lambda i: order.get(i[0], 1e9)):
        check_name(name)
        extension = graph.extension(name)
        effective = {**config, "x-zdd": extension} if extension else dict(config)
        check_service_settings(name, effective.get("x-zdd"))
        services[name] = Service(name, effective, *graph.parent_of(name))
    top_volumes = model.get("volumes") or {}
    names = _names(services)
    for name, service in services.items():
        evidence = role_of(service.config, top_volumes)
        routing = (
            proxy_routing(service.config, evidence, names, model.get("configs") or {})
            if evidence.role == "proxy"
            else None
        )
        services[name] = replace(service, evidence=evidence, routing=routing)
    if not services:
        raise ComposeFileError(
            f"no services in {', '.join(str(p) for p in files)}; "
            "zdd needs a base service and siblings that `extends` it"
        )
    name = str(model.get("name") or "") or project_name(  # v1's `config` prints no name
        options, {**dotenv(env_file or v1_env_directory(options, cwd) / ".env"),
                  **options.environ}, directory
    )  # fmt: skip
    settings = model.get("x-zdd", top_level_settings(doc for _, doc in documents))
    return Project(
        name=name,
        directory=directory,
        files=tuple(files),
        legacy=legacy,
        services=services,
        groups=find_groups(services),
        settings=check_settings(settings),
        top={key: model.get(key) or {} for key in ("networks", "volumes")},
        cli=ComposeCli(binary, given, name, cli.project_directory, env_file),
    )


def _names(services: Mapping[str, Service]) -> set[str]:
    """The names a proxy can reach the services by: theirs, their aliases and hostnames."""
    names = set(services)
    for service in services.values():
        config = service.config
        names |= {str(config[key]) for key in ("container_name", "hostname") if config.get(key)}
        links = config.get("links")  # `SERVICE:ALIAS`: the alias is a name on the bridge
        names |= (
            {str(link).rsplit(":", 1)[-1] for link in links if link}
            if isinstance(links, list)
            else set()
        )
        networks = config.get("networks")
        for network in networks.values() if isinstance(networks, dict) else ():
            if isinstance(network, dict):
                names |= {str(alias) for alias in network.get("aliases") or ()}
    return names


def proxy_routing(
    config: Mapping[str, Any],
    evidence: Evidence,
    names: set[str],
    configs: Mapping[str, Any] | None = None,
) -> ProxyRouting:
    """How a proxy finds the app: a docker-aware image discovers; an nginx is read (`configs`:
    compose's top-level ones, which a proxy may take its config from)."""
    if evidence.family in DISCOVERING_IMAGES:
        return ProxyRouting(Routing.DISCOVERS, f"{evidence.family} watches the docker engine")
    return classify(config_texts(config, configs), names)
