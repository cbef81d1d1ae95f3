"""Exceptions that carry the user's sentence and the exit code DESIGN.md assigns."""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum


class ExitCode(IntEnum):
    """The exit-code table of the CLI contract."""

    OK = 0
    DEPLOY_FAILED = 1
    USAGE = 2
    COMPOSE_UNUSABLE = 3
    LOCKED = 4
    VERIFY_FAILED = 5
    ROLLBACK_FAILED = 6
    INTERNAL = 70  # an unexpected error: a bug in zdd (sysexits' EX_SOFTWARE)
    INTERRUPTED = 130


class ZddError(Exception):
    """Base error: `str(err)` is the one line shown to the user."""

    exit_code: ExitCode = ExitCode.DEPLOY_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(ZddError):
    """Bad flags or arguments (unknown service, value out of range)."""

    exit_code = ExitCode.USAGE


class ComposeFileError(ZddError):
    """A compose file is missing, malformed or inconsistent."""

    exit_code = ExitCode.USAGE


class ComposeUnavailableError(ZddError):
    """No usable compose binary, or the engine cannot be reached."""

    exit_code = ExitCode.COMPOSE_UNUSABLE


class ComposeCommandError(ZddError):
    """A compose or docker command exited non-zero."""

    exit_code = ExitCode.COMPOSE_UNUSABLE

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr
        last = _last_line(stderr)
        detail = f": {last}" if last else ""
        super().__init__(f"`{' '.join(self.argv[:4])} ...` exited {returncode}{detail}")


class DeployError(ZddError):
    """The deploy failed; what was changed has been put back."""

    exit_code = ExitCode.DEPLOY_FAILED


class LockHeldError(ZddError):
    """Another zdd process holds the project's lock."""

    exit_code = ExitCode.LOCKED


class VerifyError(ZddError):
    """The `--verify` probe saw failed requests."""

    exit_code = ExitCode.VERIFY_FAILED


class RollbackError(ZddError):
    """Putting the previous version back failed: a person must look."""

    exit_code = ExitCode.ROLLBACK_FAILED


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


class InterruptedDeployError(ZddError):
    """SIGINT/SIGTERM: zdd stopped before the first sibling or between two, all serving."""

    exit_code = ExitCode.INTERRUPTED


def ending(error: BaseException | None) -> tuple[int, str]:
    """The exit code and the error line a command ends with (0 and "" without an error): a
    ZddError's own code, an OSError (an unwritable cache or lock directory) a usage error,
    anything else a bug."""
    if error is None:
        return 0, ""
    if isinstance(error, KeyboardInterrupt):
        return int(ExitCode.INTERRUPTED), "interrupted"
    if isinstance(error, ZddError):
        return int(error.exit_code), f"error: {error}"
    if isinstance(error, OSError):
        what = f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")
        return int(ExitCode.USAGE), f"error: {what}"
    what = f"{type(error).__name__}: {error}"[:300]
    bug = "a bug in zdd: rerun with --debug for the traceback"
    return int(ExitCode.INTERNAL), f"error: unexpected {what} ({bug})"
