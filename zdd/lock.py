"""One deploy per compose project and engine at a time: an flock on a private file.

zdd runs as root, so its lock must give no other user a handle on it:
- the directory is private: root's `/run/zdd`, another user's `$XDG_RUNTIME_DIR/zdd` (else
  `~/.cache/zdd/locks`), or `$ZDD_LOCK_DIR`; it must be owned by the user and writable by
  nobody else, and so must every directory above it (or be root's, or sticky like /tmp);
- the lock file is opened without following a symlink, only when it is a regular file owned
  by the user, created 0600 and never chmod-ed;
- it is keyed by the engine's own ID (`docker info`), so `DOCKER_HOST` unset and set to the
  same socket are one lock; the holder's text is shown with control characters removed.
The kernel drops an flock when its process dies, so a lock left by a killed zdd is free again
at once; the file's text (pid, command, start) names the holder.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from zdd import paths
from zdd.errors import LockHeldError, UsageError

HOLDER_MAX = 200  # characters of the holder's text that are shown


def lock_dir(environ: Mapping[str, str]) -> Path:
    """The user's private lock directory (not yet checked or made)."""
    if environ.get("ZDD_LOCK_DIR"):
        return Path(environ["ZDD_LOCK_DIR"])
    if os.geteuid() == 0:
        return Path("/run/zdd")
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime, "zdd")
    return Path(os.path.expanduser("~"), ".cache", "zdd", "locks")


def lock_path(project: str, engine: str, environ: Mapping[str, str]) -> Path:
    """Where the lock of `project` on the engine whose identity is `engine` lives."""
    key = hashlib.sha256(f"{project}\0{engine}".encode()).hexdigest()[:12]
    readable = re.sub(r"[^a-z0-9_.-]", "_", project.lower())[:64]
    return lock_dir(environ) / f"{readable}-{key}.lock"


def clean(text: str) -> str:
    """The holder's text as it may be printed: no control characters, bounded."""
    return "".join(ch if ch.isprintable() else "?" for ch in text.strip())[:HOLDER_MAX]


def _refuse(path: Path, why: str) -> UsageError:
    return UsageError(f"unsafe lock {path}: {why}; remove it or set ZDD_LOCK_DIR")


def private_dir(directory: Path) -> Path:
    """The lock directory, made 0700 if missing; refused unless only the user can change it."""
    return paths.private_dir(directory, _refuse)


def _open(path: Path, flags: int) -> int | None:
    """The lock file's descriptor: a regular file of the user's, never through a symlink, a
    FIFO or a device (checked before and after the open). None: it does not exist."""
    try:
        before = path.lstat()
    except FileNotFoundError:
        if not flags & os.O_CREAT:
            return None
    else:
        _check_file(path, before)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise _refuse(path, "a symlink") from None
        raise
    try:
        _check_file(path, os.fstat(fd))
    except UsageError:
        os.close(fd)
        raise
    return fd


def _check_file(path: Path, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise _refuse(path, "a symlink")
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(path, "not a regular file")
    if info.st_uid != os.geteuid():
        raise _refuse(path, f"owned by uid {info.st_uid}, not by you")


def _holder_text(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return clean(os.read(fd, 4 * HOLDER_MAX).decode(errors="replace")) or NO_TEXT


def holder(project: str, engine: str, environ: Mapping[str, str]) -> str | None:
    """Who holds the project's lock, or None when it is free (never blocks a deploy)."""
    path = lock_path(project, engine, environ)
    fd = _open(path, os.O_RDONLY)
    if fd is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder_text(fd)
    finally:
        os.close(fd)
    return None


HEAL_PATIENCE = 90.0  # seconds a command waits for a `zdd heal` (bounded by its --wait)
BLANK_PATIENCE = 1.0  # seconds it waits for a holder that has written no text
NO_TEXT = "another process"


def _take(fd: int, path: Path, project: str, on_wait: Callable[[str], None], wait: float) -> None:
    """The flock, at once; or, while a `zdd heal` holds it, as soon as the heal ends; or,
    with `wait` (--lock-wait), as soon as the holder ends, within that many seconds. A holder
    without text is waited for a moment: a `zdd status` looking (a shared flock), or a
    holder that has not written its line yet. Each holder waited for is said once."""
    started = time.monotonic()
    told = ""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            who = _holder_text(fd)
        waited = time.monotonic() - started
        healing = ", zdd heal," in who and waited < max(HEAL_PATIENCE, wait)
        patient = waited < wait or healing or (who == NO_TEXT and waited < BLANK_PATIENCE)
        if not patient:
            after = f" after waiting {wait:g} s (--lock-wait)" if wait else ""
            raise LockHeldError(
                f"another zdd is deploying project {project} ({who}){after}; lock: {path}"
            )
        if who not in (told, NO_TEXT):
            what = "zdd heal to finish" if healing else f"the lock, at most {wait:g} s"
            on_wait(f"waiting for {what} ({who})")
            told = who
        time.sleep(0.05)


@contextmanager
def project_lock(
    project: str,
    engine: str,
    command: str,
    environ: Mapping[str, str],
    *,
    on_wait: Callable[[str], None] = lambda message: None,
    wait: float = 0.0,
) -> Iterator[Path]:
    """Hold the project's lock for the block; LockHeldError (exit 4) when another zdd has it
    (a `zdd heal`, which never takes long, is waited for; any holder, up to `wait` s)."""
    path = private_dir(lock_dir(environ)) / lock_path(project, engine, environ).name
    fd = _open(path, os.O_RDWR | os.O_CREAT)
    assert fd is not None
    try:
        _take(fd, path, project, on_wait, wait)
        since = time.strftime("%Y-%m-%d %H:%M:%S")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, zdd {command}, since {since}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing drops the flock
