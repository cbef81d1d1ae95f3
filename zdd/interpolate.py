"""`.env` files and `${VAR}` interpolation, as compose applies them to compose files."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zdd.errors import ComposeFileError

# https://docs.docker.com/reference/compose-file/interpolation/
_PATTERN = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|(?P<named>[_a-zA-Z][_a-zA-Z0-9]*)"
    r"|\{(?P<braced>[_a-zA-Z][_a-zA-Z0-9]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<invalid>))"
)


def read_text(path: Path, what: str) -> str:
    """A UTF-8 file's text; one line naming the file (and the byte offset) otherwise."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ComposeFileError(f"cannot read {what} {path}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ComposeFileError(f"{path}: not UTF-8 (byte {err.start})") from None


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a compose `.env` file: KEY=VALUE lines, `#` comments, optional quotes."""
    text = read_text(path, "env file")
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[_a-zA-Z][_a-zA-Z0-9.]*", key):
            raise ComposeFileError(f"{path}:{number}: expected KEY=VALUE, got {raw.strip()!r}")
        values[key] = _unquote(value.strip())
    return values


def _unquote(value: str) -> str:
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        if end > 0:  # what follows the closing quote is a comment: KEY="v1" # note
            return value[1:end]
    return value.split(" #", 1)[0].rstrip()


def interpolate(value: Any, env: Mapping[str, str], where: str) -> Any:
    """Return `value` with `${VAR}` forms substituted in every string, recursively."""
    if isinstance(value, str):
        return _substitute(value, env, where)
    if isinstance(value, dict):
        return {key: interpolate(item, env, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def _substitute(text: str, env: Mapping[str, str], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("named"):
            return env.get(match.group("named"), "")
        name = match.group("braced")
        if name is None:
            raise ComposeFileError(f"{where}: invalid interpolation in {text!r}")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        if op is None:
            return value or ""
        unset = value is None or (op.startswith(":") and value == "")
        if op.endswith("-"):
            return arg if unset else str(value)
        if op.endswith("+"):
            return "" if unset else arg
        if unset:  # op ends with "?": required variable
            reason = arg or "is required"
            raise ComposeFileError(f"{where}: variable {name} {reason}")
        return str(value)

    return _PATTERN.sub(replace, text)
