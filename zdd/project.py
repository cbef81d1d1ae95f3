"""The project as compose itself resolves it (`config` of the binary that runs the deploy),
joined with the `extends` graph of the raw files into zdd's groups."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zdd.compose_file import ExtendsGraph, check_formats, find_files, read_yaml, top_level_settings
from zdd.errors import ComposeCommandError, ComposeFileError, UsageError
from zdd.runner import ComposeBinary, ComposeCli, Runner

CONFIG_TIMEOUT = 60.0  # seconds for `compose config`
SERVICE_NAME = re.compile(r"[a-zA-Z0-9_.][a-zA-Z0-9_.-]*")
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


@dataclass(frozen=True)
class Service:
    """One service with its effective configuration, as compose's `config` gives it."""

    name: str
    config: Mapping[str, Any]
    parent: str | None = None  # the project service it extends, if any
    template: str | None = None  # `file#service` when it extends a service of another file

    @property
    def builds(self) -> bool:
        """Whether compose builds this service's image."""
        return "build" in self.config


@dataclass(frozen=True)
class Group:
    """A base service and the siblings that extend it."""

    base: str
    siblings: tuple[str, ...]
    base_in_project: bool = True


@dataclass(frozen=True)
class Project:
    """A compose project as zdd needs it."""

    name: str
    directory: Path
    files: tuple[Path, ...]  # the user's files
    legacy: bool
    services: Mapping[str, Service]
    groups: tuple[Group, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)  # the top-level `x-zdd` mapping
    top: Mapping[str, Any] = field(default_factory=dict)  # compose's top-level networks, volumes
    cli: ComposeCli | None = None  # the argv builder that reads this project

    def select(self, names: Sequence[str]) -> tuple[Group, ...]:
        """Narrow the groups to the named siblings or bases (all groups when none named); a
        named service outside every group is a single service (`singles`), not an error."""
        if not names:
            return self.groups
        unknown = [name for name in names if name not in self.services and not self._base(name)]
        if unknown:
            known = ", ".join(self.services) or "none"
            raise UsageError(f"unknown service {unknown[0]!r}; services in {self.name}: {known}")
        selected: list[Group] = []
        for group in self.groups:
            if group.base in names:
                selected.append(group)
                continue
            siblings = tuple(s for s in group.siblings if s in names)
            if siblings:
                selected.append(Group(group.base, siblings, group.base_in_project))
        return tuple(selected)

    def singles(self, names: Sequence[str], proxy_service: str) -> tuple[str, ...]:
        """The services rolled out on their own, start-first: the named ones outside every
        group; with no name and no group, every service compose builds but the proxy."""
        grouped = {s for g in self.groups for s in (g.base, *g.siblings)}
        if names:
            return tuple(n for n in dict.fromkeys(names) if n not in grouped)
        if self.groups:
            return ()
        return tuple(n for n, s in self.services.items() if s.builds and n != proxy_service)

    def _base(self, name: str) -> bool:
        return any(group.base == name for group in self.groups)

    def describe_groups(self) -> str:
        """One-line summary of the groups, e.g. `app: service_a, service_b`."""
        return "; ".join(f"{g.base}: {', '.join(g.siblings)}" for g in self.groups) or "none"


def dump_yaml(document: Mapping[str, Any]) -> str:
    """A mapping as YAML in the key order given (a stack file, an override, a translation)."""
    return yaml.safe_dump(dict(document), sort_keys=False)


def service_port(config: Mapping[str, Any]) -> int:
    """The port a sibling listens on: `x-zdd.port`, else `expose`, else the target of `ports`
    (a single string or number counts as a list of one: `expose: "3000"` is port 3000)."""
    settings = config.get("x-zdd") or {}
    if isinstance(settings, dict) and settings.get("port") is not None:
        return _port(settings["port"], "x-zdd: port")
    for key in ("expose", "ports"):
        entries = config.get(key) or []
        for entry in [entries] if isinstance(entries, str | int) else entries:
            if isinstance(entry, dict):
                if entry.get("target") is not None:
                    return _port(entry["target"], f"{key}: target")
                continue
            target = str(entry).split("/", 1)[0].rsplit(":", 1)[-1].split("-", 1)[0]
            if target.isdigit():
                return _port(target, key)
    raise UsageError(
        "cannot tell which port the siblings listen on: add `expose: [PORT]` to the base "
        "service (or `x-zdd: {port: PORT}`)"
    )


def host_ports(config: Mapping[str, Any]) -> list[str]:
    """The host ports a service publishes (`HOST:CONTAINER`, `IP:HOST:CONTAINER`, the long
    syntax's `published`); a container port alone publishes a random one, not listed."""
    entries = config.get("ports") or []
    found: list[str] = []
    for entry in [entries] if isinstance(entries, str | int) else entries:
        if isinstance(entry, dict):
            if entry.get("published") not in (None, ""):
                ip = entry.get("host_ip") or ""
                found.append(f"{ip}:{entry['published']}".lstrip(":"))
            continue
        parts = str(entry).split("/", 1)[0].rsplit(":", 2)
        if len(parts) == 3 and parts[1]:
            found.append(f"{parts[0]}:{parts[1]}")
        elif len(parts) == 2 and parts[0]:
            found.append(parts[0])
    return found


def side_by_side_blockers(config: Mapping[str, Any]) -> list[str]:
    """What keeps two containers of the service from running at once: a fixed
    `container_name`, a fixed host port."""
    name = config.get("container_name")
    found = [f"container_name {name!r}"] if name is not None else []
    return found + [f"host port {port}" for port in host_ports(config)]


def _port(value: Any, where: str) -> int:
    """A TCP port number, or one line saying where it is wrong."""
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ComposeFileError(f"{where}: a port is a number from 1 to 65535, got {value!r}")
    return int(text)


def load_project(options: LoadOptions, binary: ComposeBinary, runner: Runner) -> Project:
    """Ask `binary` for the effective configuration; read the raw files for the groups."""
    from zdd.legacy import write_translation

    start = _absolute(options.cwd, options.project_directory or ".")
    env_file = _absolute(options.cwd, options.env_file) if options.env_file else None
    early = {**_dotenv(env_file or start / ".env"), **options.environ}
    files = find_files(options.files, options.cwd, early, start)
    directory = (
        _absolute(options.cwd, options.project_directory)
        if options.project_directory
        else files[0].parent
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
    try:
        model = _config(runner, cli, options.environ)
    except ComposeFileError as err:
        raise _undecodable(err, env_file or directory / ".env") from None
    graph = ExtendsGraph.of(documents)
    services = {}
    order = {name: index for index, name in enumerate(graph.order())}
    for name, config in sorted(model["services"].items(), key=lambda i: order.get(i[0], 1e9)):
        _check_name(name)
        extension = graph.extension(name)
        effective = {**config, "x-zdd": extension} if extension else dict(config)
        services[name] = Service(name, effective, *graph.parent_of(name))
    if not services:
        raise ComposeFileError(
            f"no services in {', '.join(str(p) for p in files)}; "
            "zdd needs a base service and siblings that `extends` it"
        )
    name = str(model.get("name") or "") or _v1_name(
        options, {**_dotenv(env_file or directory / ".env"), **options.environ}, directory
    )
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


def _absolute(cwd: Path, path: str) -> Path:
    return (cwd / Path(path).expanduser()).resolve()


def _dotenv(path: Path) -> dict[str, str]:
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


def _config(runner: Runner, cli: ComposeCli, environ: Mapping[str, str]) -> dict[str, Any]:
    """The effective project from `compose config`: JSON on v2, YAML on v1."""
    env = {"PATH": os.environ.get("PATH", os.defpath), **environ}
    json_output = cli.binary.major >= 2
    try:
        output = runner.run(cli.config(json_output=json_output), timeout=CONFIG_TIMEOUT, env=env)
    except ComposeCommandError as err:
        raise ComposeFileError(f"compose rejects the project: {_compose_says(err)}") from None
    try:
        model = json.loads(output) if json_output else yaml.safe_load(output)
    except (ValueError, yaml.YAMLError) as err:
        raise ComposeFileError(f"cannot read `compose config` output: {err}") from None
    if not isinstance(model, dict) or not isinstance(model.get("services") or {}, dict):
        raise ComposeFileError("`compose config` printed no services mapping")
    model["services"] = model.get("services") or {}
    return model


def _undecodable(err: ComposeFileError, dotenv: Path) -> ComposeFileError:
    """compose v1 crashes on a byte that is not UTF-8 in a file zdd did not read (the compose
    files zdd reads itself): name the `.env` file and the byte, else a service's env_file."""
    if "UnicodeDecodeError" not in str(err):
        return err
    try:
        dotenv.read_bytes().decode("utf-8")
    except UnicodeDecodeError as bad:
        return ComposeFileError(f"{dotenv}: not UTF-8 (byte {bad.start}); compose v1 cannot read")
    except OSError:
        pass
    return ComposeFileError(f"{err} (in a service's env_file: compose v1 reads only UTF-8)")


def _compose_says(err: ComposeCommandError) -> str:
    """compose's own error in one line: its first lines, `ERROR:` and blanks dropped."""
    lines = [line.strip().removeprefix("ERROR: ") for line in err.stderr.splitlines()]
    if any(line.startswith("Traceback") for line in lines):  # compose v1 crashed
        return f"compose crashed: {[line for line in lines if line][-1]}"[:400]
    lines = [line for line in lines if line and not line.startswith("You might be seeing")]
    if not lines:
        return f"exit {err.returncode}"
    said = " ".join(lines[:2]) if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    return said[:400]


def _check_name(name: str) -> None:
    if not SERVICE_NAME.fullmatch(name) or name in (".", ".."):
        raise ComposeFileError(
            f"service name {name!r}: zdd takes letters, digits, `_`, `.` and `-`, not first "
            "`-`, and not `.` or `..` (names reach argv lists and proxy paths)"
        )


def _v1_name(options: LoadOptions, env: Mapping[str, str], directory: Path) -> str:
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


def check_settings(settings: Any) -> Mapping[str, Any]:
    """The top-level `x-zdd` mapping, checked: `proxy` (nginx|external|none), `proxy_service`,
    `engine` (compose|swarm), `registry`."""
    settings = settings or {}
    if not isinstance(settings, dict):
        raise ComposeFileError("top-level `x-zdd` must be a mapping")
    proxy = settings.get("proxy", "none")
    if proxy not in ("nginx", "external", "none"):
        raise ComposeFileError(f"x-zdd: proxy must be nginx, external or none, got {proxy!r}")
    if not isinstance(settings.get("proxy_service", "proxy"), str):
        raise ComposeFileError("x-zdd: proxy_service must be a service name")
    if settings.get("engine", "compose") not in ("compose", "swarm"):
        raise ComposeFileError(
            f"x-zdd: engine must be compose or swarm, got {settings['engine']!r}"
        )
    if not isinstance(settings.get("registry", ""), str):
        raise ComposeFileError("x-zdd: registry must be HOST[:PORT]")
    return settings


def find_groups(services: Mapping[str, Service]) -> tuple[Group, ...]:
    """Groups: each root of an `extends` tree and the leaves under it, in file order.

    A service that another one extends is a template: built, never started. A base compose
    leaves out (an inactive profile) is a template from outside the project.
    """
    templates = {s.parent for s in services.values() if s.parent}
    order: dict[str, list[str]] = {}
    for service in services.values():
        if service.name in templates or not (service.parent or service.template):
            continue
        root, seen = service, {service.name}
        while root.parent is not None and root.parent in services and root.parent not in seen:
            seen.add(root.parent)
            root = services[root.parent]
        key = root.name if root is not service else service.parent or service.template
        order.setdefault(str(key), []).append(service.name)
    first_seen = list(services)
    keys = sorted(order, key=lambda k: first_seen.index(k) if k in services else len(first_seen))
    return tuple(Group(key, tuple(order[key]), key in services) for key in keys)
