"""Load a compose project as compose does: files, env, project name, merge, extends, groups."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zdd.errors import ComposeFileError, UsageError
from zdd.interpolate import interpolate, read_env_file, read_text
from zdd.merge import merge_service

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
# Top-level keys of the Compose spec: https://docs.docker.com/reference/compose-file/
SPEC_TOP_LEVEL = frozenset(
    ("version", "services", "name", "networks", "volumes", "secrets", "configs", "include")
)
# Keys a v1-format service may not take from the service it extends (compose 1.29 rules).
NOT_INHERITED = ("links", "volumes_from", "depends_on", "net", "network_mode")
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
    """One service with its effective configuration (files merged, `extends` applied)."""

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
    files: tuple[Path, ...]
    legacy: bool
    services: Mapping[str, Service]
    groups: tuple[Group, ...]
    env: Mapping[str, str]
    settings: Mapping[str, Any] = field(default_factory=dict)  # the top-level `x-zdd` mapping

    def select(self, names: Sequence[str]) -> tuple[Group, ...]:
        """Narrow the groups to the named siblings or bases (all groups when none named)."""
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
        grouped = {s for g in self.groups for s in (g.base, *g.siblings)}
        loose = [name for name in names if name not in grouped]
        if loose:
            raise UsageError(
                f"{loose[0]!r} is not part of a group: zdd rolls out services that `extends` "
                f"a base service; groups: {self.describe_groups()}"
            )
        return tuple(selected)

    def _base(self, name: str) -> bool:
        return any(group.base == name for group in self.groups)

    def describe_groups(self) -> str:
        """One-line summary of the groups, e.g. `app: service_a, service_b`."""
        return "; ".join(f"{g.base}: {', '.join(g.siblings)}" for g in self.groups) or "none"


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


def _port(value: Any, where: str) -> int:
    """A TCP port number, or one line saying where it is wrong."""
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ComposeFileError(f"{where}: a port is a number from 1 to 65535, got {value!r}")
    return int(text)


def load_project(options: LoadOptions) -> Project:
    """Load, interpolate and merge the compose files; resolve `extends`; find the groups."""
    start_dir = _absolute(options.cwd, options.project_directory or ".")
    early_env = _environment(options, start_dir)
    files = find_files(options, early_env, start_dir)
    directory = (
        _absolute(options.cwd, options.project_directory)
        if options.project_directory
        else files[0].parent
    )
    env = _environment(options, directory)
    documents = [(path, interpolate(read_yaml(path), env, path.name)) for path in files]
    legacy = _check_formats(documents)
    services, origins, top = _merge_documents(documents, legacy)
    name = project_name(options, env, top, directory)
    resolved = _resolve_all(services, origins, env)
    return Project(
        name=name,
        directory=directory,
        files=tuple(files),
        legacy=legacy,
        services=resolved,
        groups=find_groups(resolved),
        env=env,
        settings=_settings(top),
    )


def _settings(top: Mapping[str, Any]) -> Mapping[str, Any]:
    """The top-level `x-zdd` mapping, checked: `proxy` (nginx|external|none), `proxy_service`."""
    settings = top.get("x-zdd") or {}
    if not isinstance(settings, dict):
        raise ComposeFileError("top-level `x-zdd` must be a mapping")
    proxy = settings.get("proxy", "none")
    if proxy not in ("nginx", "external", "none"):
        raise ComposeFileError(f"x-zdd: proxy must be nginx, external or none, got {proxy!r}")
    if not isinstance(settings.get("proxy_service", "proxy"), str):
        raise ComposeFileError("x-zdd: proxy_service must be a service name")
    return settings


def _absolute(cwd: Path, path: str) -> Path:
    return (cwd / Path(path).expanduser()).resolve()


def _environment(options: LoadOptions, directory: Path) -> dict[str, str]:
    """The interpolation environment: the `.env` file, overridden by the shell's."""
    if options.env_file:
        values = read_env_file(_absolute(options.cwd, options.env_file))
    elif (directory / ".env").is_file():
        values = read_env_file(directory / ".env")
    else:
        values = {}
    return {**values, **options.environ}


def find_files(options: LoadOptions, env: Mapping[str, str], start: Path) -> list[Path]:
    """The compose files in use: `-f`, else COMPOSE_FILE, else the default names."""
    if options.files:
        names: Iterable[str] = options.files
    elif env.get("COMPOSE_FILE"):
        separator = env.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
        names = [name for name in env["COMPOSE_FILE"].split(separator) if name]
    else:
        return _default_files(start)
    paths = []
    for name in names:
        if name == "-":
            raise ComposeFileError(
                "reading a compose file from stdin is not supported; use -f PATH"
            )
        path = _absolute(options.cwd, name)
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


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one compose file into a mapping; YAML errors name the file and line."""
    text = read_text(path, "compose file")
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ComposeFileError(f"{path}{line}: invalid YAML: {err.problem or err}") from err
    except yaml.YAMLError as err:
        raise ComposeFileError(f"{path}: invalid YAML: {err}") from err
    if data is None:
        raise ComposeFileError(f"{path}: the file is empty")
    if not isinstance(data, dict):
        raise ComposeFileError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    try:
        size = expanded_size(data)
    except RecursionError as err:
        raise ComposeFileError(f"{path}: {err}") from None
    if size > MAX_NODES:
        raise ComposeFileError(
            f"{path}: its YAML aliases expand to more than {MAX_NODES:,} values (an alias bomb?)"
        )
    return data


MAX_NODES = 200_000  # values a compose file may hold once its aliases are expanded


def expanded_size(data: Any) -> int:
    """How many values `data` holds with every alias expanded, counted without expanding: a
    580-byte alias bomb is hundreds of millions (aliases are shared objects, sized once)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # entered, children not sized yet: met again, a cycle
    pending: list[tuple[Any, bool]] = [(data, False)]
    while pending:  # post-order, without recursion
        node, children_done = pending.pop()
        if not isinstance(node, dict | list) or (id(node) in sizes and not children_done):
            continue
        items = list(node.values()) if isinstance(node, dict) else node
        if children_done:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(
                sizes.get(id(item), 1) if isinstance(item, dict | list) else 1 for item in items
            )
            continue
        if id(node) in open_nodes:
            raise RecursionError("a YAML alias that contains itself")
        open_nodes.add(id(node))
        pending.append((node, True))
        pending.extend((item, False) for item in items if isinstance(item, dict | list))
    return sizes.get(id(data), 1)


def is_legacy(document: Mapping[str, Any]) -> bool:
    """True for the v1 format: services at the top level, no `version:` or `services:`.

    A file with only top-level spec keys (an override adding `networks:`) is not v1.
    """
    if "services" in document or "version" in document:
        return False
    return not all(key in SPEC_TOP_LEVEL or str(key).startswith("x-") for key in document)


def _check_formats(documents: Sequence[tuple[Path, dict[str, Any]]]) -> bool:
    kinds = {is_legacy(doc) for _, doc in documents}
    if len(kinds) > 1:
        raise ComposeFileError(
            "cannot mix the legacy v1 format (services at the top level) with other formats: "
            + ", ".join(str(path) for path, _ in documents)
        )
    return kinds.pop()


SERVICE_NAME = re.compile(r"[a-zA-Z0-9_.][a-zA-Z0-9_.-]*")


def _services_of(path: Path, document: Mapping[str, Any], legacy: bool) -> dict[str, Any]:
    services = document if legacy else document.get("services")
    if services is None:
        return {}
    if not isinstance(services, dict):
        raise ComposeFileError(f"{path}: `services` must be a mapping")
    for name, config in services.items():
        if not isinstance(name, str) or not SERVICE_NAME.fullmatch(name) or name in (".", ".."):
            raise ComposeFileError(
                f"{path}: service name {name!r}: zdd takes letters, digits, `_`, `.` and `-`, "
                "not first `-`, and not `.` or `..` (names reach argv lists and proxy paths)"
            )
        if not isinstance(config, dict):
            raise ComposeFileError(f"{path}: service {name!r} must be a mapping")
    return dict(services)


def _merge_documents(
    documents: Sequence[tuple[Path, dict[str, Any]]], legacy: bool
) -> tuple[dict[str, dict[str, Any]], dict[str, Path], dict[str, Any]]:
    """Merge services file by file; remember which file gave each service its `extends`."""
    services: dict[str, dict[str, Any]] = {}
    origins: dict[str, Path] = {}
    top: dict[str, Any] = {}
    for path, document in documents:
        if not legacy:
            top.update({k: v for k, v in document.items() if k != "services"})
        for name, config in _services_of(path, document, legacy).items():
            services[name] = merge_service(services.get(name, {}), config)
            if name not in origins or "extends" in config:
                origins[name] = path
    if not services:
        raise ComposeFileError(
            f"no services in {', '.join(str(p) for p, _ in documents)}; "
            "zdd needs a base service and siblings that `extends` it"
        )
    return services, origins, top


def project_name(
    options: LoadOptions, env: Mapping[str, str], top: Mapping[str, Any], directory: Path
) -> str:
    """-p, COMPOSE_PROJECT_NAME, top-level `name:`, else the directory name normalised."""
    for source, value in (
        ("-p", options.project_name),
        ("COMPOSE_PROJECT_NAME", env.get("COMPOSE_PROJECT_NAME")),
        ("name:", top.get("name")),
    ):
        if value:
            if not _VALID_NAME.fullmatch(str(value)):
                raise UsageError(
                    f"invalid project name {value!r} from {source}: use lowercase letters, "
                    "digits, dashes and underscores, starting with a letter or digit"
                )
            return str(value)
    normalised = re.sub(r"[^a-z0-9_-]", "", directory.name.lower()).lstrip("_-")
    if not normalised:
        raise UsageError(f"cannot derive a project name from {directory}; use -p NAME")
    return normalised


def _extends_target(name: str, config: Mapping[str, Any], origin: Path) -> tuple[Path, str]:
    extends = config["extends"]
    if isinstance(extends, str):
        return origin, extends
    if not isinstance(extends, dict) or not isinstance(extends.get("service"), str):
        raise ComposeFileError(f"{origin}: service {name!r}: `extends` needs a `service` name")
    file = extends.get("file")
    return ((origin.parent / file).resolve() if file else origin), extends["service"]


@dataclass
class _Scope:
    """The services of one file set (the project, or a file named by `extends.file`)."""

    services: Mapping[str, dict[str, Any]]
    origins: Mapping[str, Path]
    label: str = ""

    def is_local(self, path: Path) -> bool:
        return path in self.origins.values()


class _Resolver:
    """Applies `extends` chains, loading each extended file once."""

    def __init__(self, project: _Scope, env: Mapping[str, str]) -> None:
        self.project = project
        self.env = env
        self.external: dict[Path, _Scope] = {}
        # (scope, service) -> its effective configuration; scopes by identity, not by label:
        # two other files may share a name (../x/compose.yaml#app, ../y/compose.yaml#app)
        self.done: dict[tuple[int, str], dict[str, Any]] = {}

    def parent_of(self, name: str) -> tuple[str | None, str | None]:
        """(project service extended, or `file#service` of another file) for `name`."""
        config = self.project.services[name]
        if "extends" not in config:
            return None, None
        path, base = _extends_target(name, config, self.project.origins[name])
        if self.project.is_local(path):
            return base, None
        return None, f"{path.name}#{base}"

    def effective(self, name: str, scope: _Scope) -> dict[str, Any]:
        """The service's configuration with its `extends` chain applied, base first. The
        chain is walked in a loop (a chain thousands deep is no RecursionError), and each
        link is resolved once."""
        chain: list[tuple[tuple[int, str], dict[str, Any], Path | None]] = []  # key, config, rebase
        labels: list[str] = []
        keys: set[tuple[int, str]] = set()
        resolved: dict[str, Any] | None = None
        while True:
            label, key = f"{scope.label}{name}", (id(scope), name)
            if key in self.done:
                resolved = self.done[key]
                break
            if key in keys:
                raise ComposeFileError(f"extends cycle: {' -> '.join((*labels, label))}")
            labels.append(label)
            keys.add(key)
            config = scope.services[name]
            if "extends" not in config:
                chain.append((key, config, None))
                break
            path, base = _extends_target(name, config, scope.origins[name])
            target = scope if scope.is_local(path) else self._external(path)
            if base not in target.services:
                known = ", ".join(target.services) or "none"
                raise ComposeFileError(
                    f"service {name!r} extends {base!r}, which is not defined in "
                    f"{path.name} (services: {known})"
                )
            chain.append((key, config, None if target is scope else path.parent))
            name, scope = base, target
        for key, config, rebase in reversed(chain):
            own = {k: v for k, v in config.items() if k != "extends"}
            if resolved is None:
                resolved = dict(own)
            else:
                inherited = rebase_build(resolved, rebase) if rebase is not None else resolved
                inherited = {k: v for k, v in inherited.items() if k not in NOT_INHERITED}
                resolved = merge_service(inherited, own)
            self.done[key] = resolved
        assert resolved is not None
        return dict(resolved)

    def _external(self, path: Path) -> _Scope:
        if path not in self.external:
            if not path.is_file():
                raise ComposeFileError(f"`extends` names a missing file: {path}")
            raw = interpolate(read_yaml(path), self.env, path.name)
            services = _services_of(path, raw, is_legacy(raw))
            self.external[path] = _Scope(services, dict.fromkeys(services, path), f"{path.name}#")
        return self.external[path]


def _resolve_all(
    services: dict[str, dict[str, Any]], origins: dict[str, Path], env: Mapping[str, str]
) -> dict[str, Service]:
    resolver = _Resolver(_Scope(services, origins), env)
    resolved: dict[str, Service] = {}
    for name in services:
        effective = resolver.effective(name, resolver.project)
        parent, template = resolver.parent_of(name)
        resolved[name] = Service(name, effective, parent, template)
    return resolved


def rebase_build(config: dict[str, Any], directory: Path) -> dict[str, Any]:
    """The config with its build context made absolute against `directory`, as compose does."""
    build = config.get("build")
    if build is None:
        return config
    if not isinstance(build, str | dict):
        raise ComposeFileError(f"`build` must be a path or a mapping, got {build!r}")
    build = {"context": build} if isinstance(build, str) else dict(build)
    build["context"] = str((directory / str(build.get("context", "."))).resolve())
    return {**config, "build": build}


def find_groups(services: Mapping[str, Service]) -> tuple[Group, ...]:
    """Groups: each root of an `extends` tree and the leaves under it, in file order.

    A service that another one extends is a template: built, never started.
    """
    templates = {s.parent for s in services.values() if s.parent}
    order: dict[str, list[str]] = {}
    in_project: dict[str, bool] = {}
    for service in services.values():
        if service.name in templates or not (service.parent or service.template):
            continue
        root = service
        while root.parent:
            root = services[root.parent]
        key = str(service.template) if root is service else root.name
        order.setdefault(key, []).append(service.name)
        in_project[key] = key in services
    first_seen = list(services)
    keys = sorted(order, key=lambda k: first_seen.index(k) if k in services else len(first_seen))
    return tuple(Group(key, tuple(order[key]), in_project[key]) for key in keys)
