"""The raw compose files, read with PyYAML only for what `compose config` flattens away: which
files are in use, the legacy v1 format, and the `extends` graph that makes zdd's groups."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zdd.errors import ComposeFileError

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
MAX_NODES = 200_000  # values a compose file may hold once its aliases are expanded
MAX_INCLUDES = 100  # files reached through `include:`, a bound against include loops


def read_text(path: Path, what: str) -> str:
    """A UTF-8 file's text; one line naming the file (and the byte offset) otherwise."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ComposeFileError(f"cannot read {what} {path}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ComposeFileError(f"{path}: not UTF-8 (byte {err.start})") from None


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus compose's own tags (`!reset`, `!override`): zdd reads the
    value under them, compose decides what they do."""


def _tagged(loader: _Loader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


for _tag in ("!reset", "!override"):
    _Loader.add_constructor(_tag, _tagged)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one compose file into a mapping; YAML errors name the file and line, and an alias
    bomb is refused before anything (compose v1 included) expands it."""
    text = read_text(path, "compose file")
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
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


def is_legacy(document: Mapping[str, Any]) -> bool:
    """True for the v1 format: services at the top level, no `version:` or `services:`.

    A file with only top-level spec keys (an override adding `networks:`) is not v1.
    """
    if "services" in document or "version" in document:
        return False
    return not all(key in SPEC_TOP_LEVEL or str(key).startswith("x-") for key in document)


def check_formats(documents: Sequence[tuple[Path, Mapping[str, Any]]]) -> bool:
    """Whether the files are in the legacy v1 format; mixing formats is an error."""
    kinds = {is_legacy(doc) for _, doc in documents}
    if len(kinds) > 1:
        raise ComposeFileError(
            "cannot mix the legacy v1 format (services at the top level) with other formats: "
            + ", ".join(str(path) for path, _ in documents)
        )
    return kinds.pop()


def services_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """A raw file's service mappings (the top level of a v1 file); compose has validated it."""
    services = document if is_legacy(document) else document.get("services")
    if not isinstance(services, dict):
        return {}
    return {
        str(name): config
        for name, config in services.items()
        if isinstance(config, dict) and not str(name).startswith("x-")
    }


def top_level_settings(documents: Iterable[Mapping[str, Any]]) -> Any:
    """The top-level `x-zdd` value, the last file's winning (compose v1's `config` drops it)."""
    found: Any = None
    for document in documents:
        if "x-zdd" in document:
            found = document["x-zdd"]
    return found


Definitions = Mapping[str, Sequence[tuple[Path, Mapping[str, Any]]]]


def _definitions(documents: Iterable[tuple[Path, Mapping[str, Any]]]) -> Definitions:
    """Each service name -> its raw definitions, (file, mapping), in file order."""
    found: dict[str, list[tuple[Path, Mapping[str, Any]]]] = {}
    for path, document in documents:
        for name, config in services_of(document).items():
            found.setdefault(name, []).append((path, config))
    return found


@dataclass
class ExtendsGraph:
    """Who `extends` whom, from the raw files: the project's own files (`-f` and what they
    `include`), and, read when named, the other files an `extends.file` points at."""

    paths: tuple[Path, ...]  # the project's own files
    own: Definitions
    others: dict[Path, Definitions] = field(default_factory=dict)
    extensions: dict[tuple[Path | None, str], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, documents: Sequence[tuple[Path, Mapping[str, Any]]]) -> ExtendsGraph:
        """The graph of these files and every file they `include`, transitively."""
        own = list(documents)
        seen = {path for path, _ in own}
        index = 0
        while index < len(own):
            path, document = own[index]
            index += 1
            for included in _includes(path, document):
                if included not in seen and included.is_file() and len(seen) < MAX_INCLUDES:
                    seen.add(included)
                    own.append((included, read_yaml(included)))
        return cls(tuple(path for path, _ in own), _definitions(own))

    def order(self) -> list[str]:
        """Service names in the order the files define them (compose's JSON sorts them)."""
        return list(self.own)

    def parent_of(self, name: str) -> tuple[str | None, str | None]:
        """(the project service `name` extends, or `file#service` of another file it extends)."""
        found = self._extends(name, self.own)
        if found is None:
            return None, None
        path, base = found
        if path in self.paths:
            return base, None
        # named relative to the project: two other files called base.yml are two templates
        return None, f"{os.path.relpath(path, self.paths[0].parent)}#{base}"

    def extension(self, name: str) -> dict[str, Any]:
        """The service's `x-zdd` mapping along its `extends` chain (compose drops a service's
        `x-` keys from `config`): the base's first, each extending service's keys over it.
        Walked in a loop and remembered per link: a chain thousands deep costs its length."""
        chain: list[tuple[tuple[Path | None, str], Definitions]] = []
        scope: Path | None = None  # None: the project's own files
        definitions = self.own
        while (scope, name) not in self.extensions and all(k != (scope, name) for k, _ in chain):
            chain.append(((scope, name), definitions))
            found = self._extends(name, definitions)
            if found is None:
                break
            path, name = found
            scope = None if path in self.paths else path
            definitions = self.own if scope is None else self._other(path)
        merged = dict(self.extensions.get((scope, name), {}))
        for key, definitions in reversed(chain):
            for _, config in definitions.get(key[1], ()):
                if isinstance(config.get("x-zdd"), dict):
                    merged = {**merged, **config["x-zdd"]}
            self.extensions[key] = merged
        return dict(merged)

    def _extends(self, name: str, definitions: Definitions) -> tuple[Path, str] | None:
        """(file, service) that `name` extends in these files: the last definition wins."""
        found: tuple[Path, str] | None = None
        for path, config in definitions.get(name, ()):
            extends = config.get("extends")
            if isinstance(extends, str):
                found = (path, extends)
            elif isinstance(extends, dict) and isinstance(extends.get("service"), str):
                found = (self._file(path, extends.get("file")), extends["service"])
        return found

    def _file(self, path: Path, name: Any) -> Path:
        """An `extends.file`: relative to the extending file (compose v1), else to the
        project directory (compose v2 reads it so from a second `-f` file)."""
        if not name:
            return path
        beside = (path.parent / str(name)).resolve()
        if beside.is_file() or not self.paths:
            return beside
        return (self.paths[0].parent / str(name)).resolve()

    def _other(self, path: Path) -> Definitions:
        if path not in self.others:
            document = read_yaml(path) if path.is_file() else {}
            self.others[path] = _definitions([(path, document)])
        return self.others[path]


def _includes(path: Path, document: Mapping[str, Any]) -> Iterator[Path]:
    """The files a spec file's `include:` names (short form or `path:`), relative to it."""
    entries = document.get("include")
    for entry in entries if isinstance(entries, list) else []:
        paths = entry.get("path") if isinstance(entry, dict) else entry
        for name in paths if isinstance(paths, list) else [paths]:
            if isinstance(name, str) and "$" not in name:
                yield (path.parent / name).resolve()
