"""Where zdd keeps its own files: never inside the user's project."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def cache_dir(environ: Mapping[str, str]) -> Path:
    """`$XDG_CACHE_HOME/zdd`, else `~/.cache/zdd`."""
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zdd"
