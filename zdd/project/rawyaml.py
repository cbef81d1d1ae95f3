"""PyYAML, in one place: the raw compose files read safely (compose's own tags, an alias bomb
refused before anything expands it), compose v1's `config` output, and zdd's own YAML out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from zdd.errors import ComposeFileError

MAX_NODES = 200_000  # values a compose file may hold once its aliases are expanded


class UnsafeYamlError(ComposeFileError):
    """A file no reader should be handed: an alias bomb, nesting past any parser's depth.
    Refused before compose is asked (compose would expand it: a hang)."""


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
    value under them, compose decides what they do. Plain scalars are read as YAML 1.2's
    core schema reads them, as compose v2 does: `on`, `off`, `yes`, `no` are names, not
    booleans, and `8080:80` is text, not a base-60 number."""


# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution), in place of 1.1's
_CORE = {
    "tag:yaml.org,2002:bool": (r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    "tag:yaml.org,2002:int": (r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    "tag:yaml.org,2002:float": (
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _CORE]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, (_pattern, _first) in _CORE.items():
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _construct_bool(loader: _Loader, node: yaml.Node) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"  # type: ignore[arg-type]


def _construct_int(loader: _Loader, node: yaml.Node) -> int:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    return int(text, 0) if text.startswith(("0o", "0x")) else int(text, 10)


_Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


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
        data = _load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ComposeFileError(f"{path}{line}: invalid YAML: {err.problem or err}") from err
    except yaml.YAMLError as err:
        raise ComposeFileError(f"{path}: invalid YAML: {err}") from err
    except RecursionError:  # PyYAML's parser recurses once per level of nesting
        raise UnsafeYamlError(f"{path}: its YAML is nested too deeply to read") from None
    if data is None:
        raise ComposeFileError(f"{path}: the file is empty")
    if not isinstance(data, dict):
        raise ComposeFileError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    try:
        size = expanded_size(data)
    except RecursionError as err:
        raise UnsafeYamlError(f"{path}: {err}") from None
    if size > MAX_NODES:
        raise UnsafeYamlError(
            f"{path}: its YAML aliases expand to more than {MAX_NODES:,} values (an alias bomb?)"
        )
    return data


def _load(text: str) -> Any:
    """The file's documents merged in order, as compose v2 reads several (v1 refuses them
    itself); a tab where compose v2 takes it as a space (before a comment, between a key and
    its value) is read as one where PyYAML would refuse it."""
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))  # a SafeLoader subclass
    except yaml.scanner.ScannerError as err:
        if "'\\t'" not in str(err.problem):
            raise
        documents = list(yaml.load_all(_untab(text), Loader=_Loader))
    merged: Any = None
    for document in documents:
        merged = _merge(merged, document) if merged is not None else document
    return merged


def _untab(text: str) -> str:
    """Tabs after a line's indentation, outside quotes, as spaces (its indentation keeps them:
    compose refuses a tab there too)."""
    lines = []
    for line in text.split("\n"):
        body = line.lstrip(" ")
        out, quote = [line[: len(line) - len(body)]], ""
        for char in body:
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            out.append(" " if char == "\t" and not quote and len(out) > 1 else char)
        lines.append("".join(out))
    return "\n".join(lines)


def _merge(base: Any, over: Any) -> Any:
    """`over` on `base`: mappings key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merge(base[k], v) if k in base else v for k, v in over.items()}}
    return over


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


def parse_output(text: str) -> Any:
    """YAML that compose printed (v1's `config`) as plain values; ValueError when invalid."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(str(err)) from None


class Reset(list[Any]):
    """A value compose's `!reset` tag empties in an override (compose 2.24+): `ports: !reset
    []` removes the ports the user's own file publishes."""


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, plus compose's `!reset`."""


_Dumper.add_representer(Reset, lambda dumper, value: dumper.represent_sequence("!reset", value))


def dump_yaml(document: Mapping[str, Any]) -> str:
    """A mapping as YAML in the key order given (a stack file, an override, a translation)."""
    return yaml.dump(dict(document), Dumper=_Dumper, sort_keys=False)
