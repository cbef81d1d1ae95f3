"""The `extends` graph of the raw files (compose's `config` flattens it away): who extends
whom, which makes zdd's groups, and each service's `x-zdd` keys along its chain."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zdd.project.legacy import services_of
from zdd.project.rawyaml import read_yaml

MAX_INCLUDES = 100  # files reached through `include:`, a bound against include loops

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
    opaque: bool = False  # an include or extends.file zdd could not follow (compose may)

    @classmethod
    def of(cls, documents: Sequence[tuple[Path, Mapping[str, Any]]]) -> ExtendsGraph:
        """The graph of these files and every file they `include`, transitively."""
        own = list(documents)
        seen = {path for path, _ in own}
        opaque = False
        index = 0
        while index < len(own):
            path, document = own[index]
            index += 1
            for included in _includes(path, document):
                if included is None or not included.is_file():
                    opaque = True  # compose reads it, or refuses the project
                elif included not in seen and len(seen) >= MAX_INCLUDES:
                    opaque = True
                elif included not in seen:
                    seen.add(included)
                    own.append((included, read_yaml(included)))
        return cls(tuple(path for path, _ in own), _definitions(own), opaque=opaque)

    def order(self) -> list[str]:
        """Service names in the order the files define them (compose's JSON sorts them)."""
        return list(self.own)

    def reached(self) -> tuple[Path, ...]:
        """Every file the project's `include` and `extends` reach, its own first (`opaque`
        then says whether that is all of them)."""
        for name in self.own:
            self.extension(name)
        return (*self.paths, *self.others)

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
        if "$" in str(name):
            self.opaque = True
        beside = Path(os.path.normpath(path.parent / str(name)))  # by the letter, as compose
        if beside.is_file() or not self.paths:
            return beside
        return Path(os.path.normpath(self.paths[0].parent / str(name)))

    def _other(self, path: Path) -> Definitions:
        if path not in self.others:
            document = read_yaml(path) if path.is_file() else {}
            self.opaque = self.opaque or not document
            self.others[path] = _definitions([(path, document)])
        return self.others[path]


def _includes(path: Path, document: Mapping[str, Any]) -> Iterator[Path | None]:
    """The files a spec file's `include:` names (short form or `path:`), relative to it;
    None for what zdd does not follow (a variable, an include's own env_file or directory)."""
    entries = document.get("include")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and set(entry) - {"path"}:
            yield None
        paths = entry.get("path") if isinstance(entry, dict) else entry
        for name in paths if isinstance(paths, list) else [paths]:
            if isinstance(name, str) and "$" not in name:
                yield (path.parent / name).resolve()
            else:
                yield None
