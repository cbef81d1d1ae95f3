"""What zdd asks of a command runner: zdd.runner.Runner, or the unit tests' fake engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class Started(Protocol):
    """A command started in the background (zdd.runner.Pending)."""

    def result(self) -> str:
        """Wait for the command; its stdout, or ComposeCommandError."""


class ScriptShell(Protocol):
    """One long-lived shell that runs many scripts (zdd.runner.Shell)."""

    def run(self, script: str, timeout: float) -> str:
        """Run `script`; its output, or ComposeCommandError with its exit status."""

    def open(self) -> None:
        """Start the shell, unless it runs."""

    def close(self, wait: float = 2) -> None:
        """End the shell."""


class CommandRunner(Protocol):
    """Runs argv lists (never a shell string) and keeps the time spent waiting on them."""

    seconds: float  # time spent blocked on commands
    calls: int  # commands run

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        merge_stderr: bool = False,
    ) -> str:
        """Run `argv`; its stdout, or ComposeCommandError / ComposeUnavailableError."""

    def start(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        merge_stderr: bool = False,
    ) -> Started:
        """Start `argv` in the background; `.result()` waits for it as `run` does."""

    def shell(self, argv: Sequence[str]) -> ScriptShell:
        """A shell (`argv`, e.g. `docker exec -i CONTAINER sh -s`) for many scripts."""
