"""zdd's own top-level `x-zdd` settings in a compose file, checked once when it is loaded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zdd.errors import ComposeFileError
from zdd.proxy import ProxyMode

KNOWN = ("proxy", "proxy_service", "engine", "registry")
ENGINES = ("compose", "swarm")


def top_level_settings(documents: Iterable[Mapping[str, Any]]) -> Any:
    """The top-level `x-zdd` value, the last file's winning (compose v1's `config` drops it)."""
    found: Any = None
    for document in documents:
        if "x-zdd" in document:
            found = document["x-zdd"]
    return found


def check_settings(settings: Any) -> Mapping[str, Any]:
    """The top-level `x-zdd` mapping, checked: `proxy` (a --proxy mode; `auto` is as if it
    were not set), `proxy_service`, `engine` (compose|swarm), `registry`; no other key."""
    settings = settings or {}
    if not isinstance(settings, dict):
        raise ComposeFileError("top-level `x-zdd` must be a mapping")
    unknown = [str(key) for key in settings if key not in KNOWN]
    if unknown:
        raise ComposeFileError(f"x-zdd: unknown key {unknown[0]!r} (known: {', '.join(KNOWN)})")
    modes = [str(mode) for mode in ProxyMode]
    proxy = settings.get("proxy", ProxyMode.AUTO.value)
    if proxy not in modes:
        raise ComposeFileError(
            f"x-zdd: proxy must be {', '.join(modes[:-1])} or {modes[-1]}, got {proxy!r}"
        )
    if not isinstance(settings.get("proxy_service", "proxy"), str):
        raise ComposeFileError("x-zdd: proxy_service must be a service name")
    if settings.get("engine", "compose") not in ENGINES:
        raise ComposeFileError(
            f"x-zdd: engine must be compose or swarm, got {settings['engine']!r}"
        )
    if not isinstance(settings.get("registry", ""), str):
        raise ComposeFileError("x-zdd: registry must be HOST[:PORT]")
    if proxy == ProxyMode.AUTO:  # chosen from the project, as with no setting at all
        return {key: value for key, value in settings.items() if key != "proxy"}
    return settings
