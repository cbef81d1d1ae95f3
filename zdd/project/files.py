"""Reading the user's own files (compose inputs, Dockerfiles, a proxy's config) as a tool that
runs as root must: regular files only, bounded in size, never blocking on a FIFO or a device."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def regular_bytes(path: Path, limit: int) -> bytes | None:
    """The bytes of a regular file of at most `limit` bytes; None for anything zdd must not
    read itself (a FIFO, a device such as /dev/zero, a larger file, one it cannot open).
    FileNotFoundError where there is no file."""
    try:  # the type first: opening some devices does something (a tty, a tape, a watchdog)
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError:
        return None
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        try:  # a "regular" file of /proc can still refuse a non-blocking read
            data = stream.read(limit + 1)
        except OSError:
            return None
    return data if data is not None and len(data) <= limit else None


def regular_text(path: Path, limit: int = 1 << 20) -> str | None:
    """A small regular file's text (bad bytes replaced), or None as `regular_bytes` says."""
    try:
        data = regular_bytes(path, limit)
    except FileNotFoundError:
        return None
    return None if data is None else data.decode("utf-8", errors="replace")
