"""Processes that outlive zdd's own commands: an SSH connection held for the whole command,
and the guardian that watches zdd and finishes its work if zdd dies."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess  # noqa: TID251  # sessions of their own: sh cannot start_new_session
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from zdd.errors import ComposeUnavailableError

log = logging.getLogger(__name__)


class Held:
    """A process zdd holds for the whole command (an SSH connection): in a session of its own
    (a Ctrl-C reaches zdd only), its stdin a pipe only zdd writes to. When zdd ends, even by
    SIGKILL, that pipe closes; a process that reads it to its end (`ssh HOST cat`) ends too."""

    def __init__(self, argv: Sequence[str], log_file: Path) -> None:
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        try:
            self.process = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=fd,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as err:
            raise ComposeUnavailableError(f"{argv[0]}: {err.strerror}") from err
        finally:
            os.close(fd)
        log.debug("held %s: %s", self.process.pid, shlex.join(argv))

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def close(self, wait: float = 2.0) -> None:
        """Close its stdin; SIGTERM to its group if it has not ended within `wait` s."""
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        deadline = time.monotonic() + wait
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(Exception):
                self.process.wait(timeout=wait)


class Guardian:
    """A watcher of this zdd process, started in a session of its own (a Ctrl-C, a closed
    terminal or a kill of zdd's process group does not reach it). zdd writes lines to its
    stdin; `done` means zdd ended in a state it reported. End-of-file without `done` means zdd
    died (SIGKILL, the OOM killer, a crash): the guardian then does what its argv says."""

    def __init__(
        self, argv: Sequence[str], log_file: Path, env: Mapping[str, str] | None = None
    ) -> None:
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        try:
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                list(argv),
                env=dict(env) if env else None,
                stdin=subprocess.PIPE,
                stdout=fd,
                stderr=fd,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            os.close(fd)
        log.debug("guardian %s: %s", self._process.pid, shlex.join(argv))

    def tell(self, line: str) -> None:
        """One line to the guardian (one it dies on is lost: it has nothing to guard then)."""
        if self._process is None or self._process.stdin is None:
            return
        with contextlib.suppress(OSError):
            self._process.stdin.write(f"{line}\n".encode())
            self._process.stdin.flush()

    def done(self) -> None:
        """zdd ends in a state it reported: the guardian exits without doing anything."""
        if self._process is None:
            return
        self.tell("done")
        with contextlib.suppress(OSError):
            self._process.stdin.close()  # type: ignore[union-attr]
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=1)
        self._process = None
