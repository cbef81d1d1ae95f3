"""Merge two service definitions (override files, `extends`) with compose's rules, as a table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# https://docs.docker.com/reference/compose-file/merge/
Rule = Callable[[Any, Any], Any]


def _replace(_base: Any, override: Any) -> Any:
    return override


def _deep(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep(base.get(key), value) if key in base else value
        return merged
    return override


def _as_mapping(value: Any) -> dict[str, Any]:
    """`KEY=VALUE` lists (environment, labels) as a mapping."""
    if isinstance(value, dict):
        return dict(value)
    mapping: dict[str, Any] = {}
    for item in value or []:
        key, sep, val = str(item).partition("=")
        mapping[key] = val if sep else None
    return mapping


def _key_values(base: Any, override: Any) -> Any:
    return {**_as_mapping(base), **_as_mapping(override)}


def _build(base: Any, override: Any) -> Any:
    as_dict = [{"context": v} if isinstance(v, str) else v for v in (base, override)]
    return _deep(*as_dict)


def _unique_list(base: Any, override: Any) -> Any:
    if not isinstance(base, list) or not isinstance(override, list):
        return override
    return [*base, *(item for item in override if item not in base)]


def _networks(base: Any, override: Any) -> Any:
    if isinstance(base, list) and isinstance(override, list):
        return _unique_list(base, override)
    as_dict = [dict.fromkeys(v) if isinstance(v, list) else v for v in (base, override)]
    return _deep(*as_dict)


MERGE_RULES: Mapping[str, Rule] = {
    "build": _build,
    "environment": _key_values,
    "labels": _key_values,
    "healthcheck": _deep,
    "deploy": _deep,
    "logging": _deep,
    "ulimits": _deep,
    "extra_hosts": _unique_list,
    "ports": _unique_list,
    "expose": _unique_list,
    "volumes": _unique_list,
    "dns": _unique_list,
    "env_file": _unique_list,
    "networks": _networks,
}


def merge_service(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` applied on top of `base`: mappings merge, listed keys follow MERGE_RULES."""
    merged = dict(base)
    for key, value in override.items():
        if key not in merged:
            merged[key] = value
            continue
        rule = MERGE_RULES.get(key, _deep if key.startswith("x-") else _replace)
        merged[key] = rule(merged[key], value)
    return merged
