"""One deploy per compose project at a time: an flock on a file named after the project.

The lock lives in one directory for every user of the machine (`$ZDD_LOCK_DIR`, else
`<tmp>/zdd-locks`) and is keyed by project and engine (DOCKER_HOST), so `sudo zdd` and a CI
user's zdd see each other. The kernel drops an flock when its process dies, so a lock left by
a killed zdd is free again at once; the file's text (pid, command, start) names the holder.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from zdd.errors import LockHeldError


def lock_path(project: str, environ: Mapping[str, str]) -> Path:
    """Where the lock of `project` on this engine lives."""
    directory = Path(environ.get("ZDD_LOCK_DIR") or Path(tempfile.gettempdir(), "zdd-locks"))
    engine = hashlib.sha256(environ.get("DOCKER_HOST", "").encode()).hexdigest()[:8]
    return directory / f"{project}-{engine}.lock"


def _try_lock(handle: IO[str], mode: int) -> str | None:
    """Take the flock without waiting; on failure, the holder's description."""
    try:
        fcntl.flock(handle, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        return handle.read().strip() or "another process"
    return None


def holder(project: str, environ: Mapping[str, str]) -> str | None:
    """Who holds the project's lock, or None when it is free (never blocks a deploy)."""
    path = lock_path(project, environ)
    if not path.exists():
        return None
    with path.open("r") as handle:
        who = _try_lock(handle, fcntl.LOCK_SH)
        if who is None:
            fcntl.flock(handle, fcntl.LOCK_UN)
        return who


@contextmanager
def project_lock(project: str, command: str, environ: Mapping[str, str]) -> Iterator[None]:
    """Hold the project's lock for the block; LockHeldError (exit 4) when another zdd has it."""
    path = lock_path(project, environ)
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o1777)  # shared by every user, like /tmp
    with path.open("a+") as handle:
        if path.stat().st_uid == os.getuid():
            os.fchmod(handle.fileno(), 0o666)  # the next deploy may run as another user
        who = _try_lock(handle, fcntl.LOCK_EX)
        if who is not None:
            raise LockHeldError(f"another zdd is deploying project {project} ({who}); lock: {path}")
        handle.seek(0)
        handle.truncate()
        since = time.strftime("%Y-%m-%d %H:%M:%S")
        handle.write(f"pid {os.getpid()}, zdd {command}, since {since}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
