"""Where zdd keeps its own files: never inside the user's project."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

Refusal = Callable[[Path, str], Exception]  # (path, why) -> the error to raise


def cache_dir(environ: Mapping[str, str]) -> Path:
    """`$XDG_CACHE_HOME/zdd`, else `~/.cache/zdd`."""
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zdd"


def _check_ancestors(directory: Path, refuse: Refusal) -> None:
    """Every directory above `directory` belongs to root or the user, and nobody else can
    replace what is in it (not writable by others, or sticky like /tmp)."""
    me = os.geteuid()
    for parent in directory.parents:
        info = parent.lstat()
        sticky = bool(info.st_mode & stat.S_ISVTX)
        foreign = info.st_uid not in (0, me)
        if foreign or (info.st_mode & 0o022 and not sticky):
            raise refuse(directory, f"{parent} can be changed by another user")


def private_dir(directory: Path, refuse: Refusal) -> Path:
    """`directory`, made 0700 if missing (its missing parents too); refused unless only the
    user (or root) can change it or any directory above it: zdd runs as root, and what it
    keeps there (locks, compose's output) must give no other user a handle."""
    directory = Path(os.path.abspath(directory))
    missing = [p for p in (directory, *directory.parents) if not os.path.lexists(p)]
    for parent in directory.parents:  # the ones that exist, before anything is made in them
        if parent not in missing:
            _check_ancestors(parent / "x", refuse)
            break
    for component in reversed(missing):  # each 0700: a umask of 002 makes no shared parent
        os.mkdir(component, 0o700)
    _check_ancestors(directory, refuse)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise refuse(directory, "not a directory (a symlink?)")
    if info.st_uid != os.geteuid():
        raise refuse(directory, f"owned by uid {info.st_uid}, not by you")
    if info.st_mode & 0o022:
        raise refuse(directory, "writable by other users")
    return directory
