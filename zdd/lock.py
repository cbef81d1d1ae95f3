"""One deploy per compose project at a time: an flock on a file named after the project.

The kernel drops an flock when its process dies, so a lock left by a killed zdd is free
again at once; the file's text (pid, start time, command) only names the holder.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from zdd.errors import LockHeldError
from zdd.paths import cache_dir


def lock_path(project: str, environ: Mapping[str, str]) -> Path:
    """Where the project's lock lives (outside the user's repository)."""
    return cache_dir(environ) / "locks" / f"{project}.lock"


def holder(project: str, environ: Mapping[str, str]) -> str | None:
    """Who holds the project's lock ("pid 123 since ..."), or None when it is free."""
    path = lock_path(project, environ)
    if not path.exists():
        return None
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            return handle.read().strip() or "another process"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


@contextmanager
def project_lock(project: str, command: str, environ: Mapping[str, str]) -> Iterator[None]:
    """Hold the project's lock for the block; LockHeldError (exit 4) when another zdd has it."""
    path = lock_path(project, environ)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            who = handle.read().strip() or "another process"
            raise LockHeldError(
                f"another zdd is deploying project {project} ({who}); lock: {path}"
            ) from None
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, zdd {command}, since {started}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
