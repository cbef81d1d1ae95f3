"""The one place that runs compose and docker (through `sh`), with argv lists only: each
command in a process group of its own, its failure a typed error, its time accounted."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shlex
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from zdd.compose import INSTALL_HINT
from zdd.errors import ComposeCommandError, ComposeUnavailableError
from zdd.ports import CommandRunner, Started

log = logging.getLogger(__name__)

ENDED = -1  # ComposeCommandError.returncode: the command or shell ended without a status
TIMED_OUT = -2  # ... it was stopped at its timeout


class RunOptions(TypedDict, total=False):
    """Keyword options of Runner.run / Runner.start."""

    stdin: str | None  # text fed to the command's stdin
    timeout: float | None  # seconds before the command is killed
    env: Mapping[str, str] | None  # the whole environment (default: zdd's own)
    merge_stderr: bool  # stderr into the returned output


class Runner:
    """Runs argv lists, turns failures into typed errors and keeps the time spent waiting."""

    def __init__(self) -> None:
        self.seconds = 0.0  # time zdd spent blocked on commands (launch + wait)
        self.calls = 0
        self.shells: list[Shell] = []
        self.started: list[Pending] = []  # commands started, ended with the Runner if still running

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *_: object) -> None:
        for shell in self.shells:
            shell.close()
        for pending in self.started:  # not waited for (a listing, a check): its group ends
            if not pending.done:
                terminate_group(pending.process)

    def shell(self, argv: Sequence[str]) -> Shell:
        """A shell for many scripts, started at its first `run`, ended when the Runner is."""
        self.shells.append(Shell(self, argv))
        return self.shells[-1]

    def run(self, argv: Sequence[str], **options: Unpack[RunOptions]) -> str:
        """Run `argv`; return its stdout or raise ComposeCommandError / ComposeUnavailableError."""
        return self.start(argv, **options).result()

    def start(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        merge_stderr: bool = False,
    ) -> Pending:
        """Start `argv` in the background; `.result()` waits for it as `run` does."""
        import sh  # imported late: `zdd --version` and `--help` never pay for it

        log.debug("run: %s", shlex.join(argv))
        started = time.monotonic()
        try:
            command = sh.Command(argv[0])
        except sh.CommandNotFound as err:
            hint = INSTALL_HINT if argv[0] in ("docker", "docker-compose") else "check the name"
            raise ComposeUnavailableError(f"{argv[0]} not found: {hint}") from err
        # No `_timeout`: sh notices the exit of a command that has one only at its next 0.1 s
        # tick (every compose call took 100 ms or more); Pending keeps the timeout instead.
        process = command(
            *argv[1:],
            _in=stdin,
            _env=dict(env) if env is not None else None,
            _err_to_out=merge_stderr,
            _tty_out=False,
            _bg=True,
            _bg_exc=False,
            # Own process group: a Ctrl-C at the terminal reaches zdd only, which then
            # finishes the sibling in progress instead of killing compose mid-step.
            _new_group=True,
        )
        self.seconds += time.monotonic() - started
        self.calls += 1
        self.started = [p for p in self.started if not p.done]
        self.started.append(Pending(self, tuple(argv), process, timeout))
        self.started[-1].arm()
        return self.started[-1]


def terminate_group(process: Any) -> None:
    """SIGTERM to a command's process group (its own, see `_new_group`: the group id is the
    leader's pid, still valid after the leader exited), unless the group is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)


@dataclass
class Pending:
    """A started command."""

    runner: Runner
    argv: tuple[str, ...]
    process: Any  # sh.RunningCommand
    timeout: float | None
    done: bool = False  # waited for
    expired: bool = False  # stopped at its timeout
    timer: threading.Timer | None = None

    def arm(self) -> None:
        """At `timeout`, the command is killed and its process group told to end."""
        if self.timeout is not None:
            self.timer = threading.Timer(self.timeout, self._expire)
            self.timer.daemon = True
            self.timer.start()

    def _expire(self) -> None:
        self.expired = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        # what it started (`docker compose` runs the compose plugin as its child) is in its group
        terminate_group(self.process)

    def result(self) -> str:
        """Wait for the command; its stdout, or ComposeCommandError."""
        import sh

        started = time.monotonic()
        try:
            try:
                self.process.wait()
            except KeyboardInterrupt:  # zdd chose to stop now (the build): stop the command too
                terminate_group(self.process)
                with contextlib.suppress(Exception):  # its exit, so that nothing runs after zdd
                    self.process.wait(timeout=5)
                raise
        except sh.ErrorReturnCode as err:
            if self.expired:
                raise ComposeCommandError(
                    self.argv, TIMED_OUT, f"timed out after {self.timeout} s"
                ) from err
            stderr = err.stderr.decode(errors="replace")
            log.debug("exit %s: %s", err.exit_code, stderr.strip())
            raise ComposeCommandError(self.argv, err.exit_code, stderr) from err
        finally:
            if self.timer is not None:
                self.timer.cancel()
            self.done = True
            self.runner.seconds += time.monotonic() - started
        return str(self.process)


class Shell:
    """One long-lived shell (e.g. `docker exec -i CONTAINER sh -s`) that runs many scripts:
    the process start, 0.1-0.3 s for a `docker exec` on a loaded host, is paid once."""

    def __init__(self, runner: Runner, argv: Sequence[str]) -> None:
        self.runner = runner
        self.argv = tuple(argv)
        self._process: Any = None  # sh.RunningCommand
        self._stdin: queue.Queue[str | None] = queue.Queue()
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._exit_code: int | None = None
        self._marker = f"zdd-status-{os.getpid()}-{id(self)}"

    def run(self, script: str, timeout: float) -> str:
        """Run `script` in a subshell (stdin empty, stderr merged into the output); its output,
        or ComposeCommandError with its exit status (ENDED, TIMED_OUT: no status)."""
        log.debug("run in %s: %s", shlex.join(self.argv), (script.splitlines() or [""])[0])
        started = time.monotonic()
        try:
            self.open()
            # The newline before the marker ends a last line the script left open.
            end = f"printf '\\n%s %s\\n' '{self._marker}' \"$?\""
            self._stdin.put(f"(\n{script}\n) < /dev/null 2>&1\n{end}\n")
            return self._output(time.monotonic() + timeout, timeout)
        except BaseException as err:
            if not (isinstance(err, ComposeCommandError) and err.returncode >= 0):
                self.close(wait=0)  # stopped before its status line: out of step, end it
            raise
        finally:
            self.runner.seconds += time.monotonic() - started
            self.runner.calls += 1

    def _output(self, deadline: float, timeout: float) -> str:
        lines: list[str] = []
        while True:
            try:
                line = self._lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:  # the script is stuck: run() ends it with its shell
                raise ComposeCommandError(
                    self.argv, TIMED_OUT, f"timed out after {timeout} s"
                ) from None
            if line is None:
                ended = f"the shell ended (exit {self._exit_code})"
                raise ComposeCommandError(self.argv, ENDED, "".join(lines) + ended)
            if line.startswith(self._marker):
                status = int(line.split()[1])
                break
            lines.append(line)
        output = "".join(lines)[:-1]  # without the newline printed before the marker
        if status:
            raise ComposeCommandError(self.argv, status, output)
        return output

    def open(self) -> None:
        """Start the shell, unless it runs: at its first `run`, or earlier so that its start
        overlaps other work; again if it ended since (its container restarted)."""
        if self._running():
            return
        import sh

        self.close()
        self._stdin, self._lines = queue.Queue(), queue.Queue()
        lines = self._lines

        def out(line: str) -> None:  # one argument: sh passes more to wider callbacks
            lines.put(line)

        def done(_command: object, _success: bool, exit_code: int) -> None:
            self._exit_code = exit_code
            lines.put(None)

        self._process = sh.Command(self.argv[0])(
            *self.argv[1:],
            _in=self._stdin,
            _out=out,
            _decode_errors="replace",  # a Latin-1 byte in nginx -t's error: text all the same
            _err_to_out=True,
            _tty_out=False,
            _bg=True,
            _bg_exc=False,
            _done=done,
            _new_group=True,  # as for every command: a Ctrl-C reaches zdd only
        )

    def _running(self) -> bool:
        # is_alive() reaps an exited shell at once (sh's own threads notice it later)
        return self._process is not None and self._process.process.is_alive()[0]

    def close(self, wait: float = 2) -> None:
        """End the shell: stdin closed, then SIGTERM if it has not exited within `wait` s."""
        if self._process is None:
            return
        process = self._process
        self._stdin.put(None)
        deadline = time.monotonic() + wait
        while self._running() and time.monotonic() < deadline:
            time.sleep(0.005)
        self._process = None
        if process.process.is_alive()[0]:
            terminate_group(process)


def engine_identity(runner: CommandRunner, environ: Mapping[str, str]) -> Callable[[], str]:
    """Start asking the engine for its ID; calling the result gives it. Two spellings of one
    engine (DOCKER_HOST unset or set to the same socket, a context) give one ID. An engine that
    does not answer is named by the environment's address (every command on it fails anyway)."""
    try:
        pending: Started | None = runner.start(
            ["docker", "info", "--format", "{{.ID}}"], timeout=30
        )
    except ComposeUnavailableError:
        pending = None

    def identity() -> str:
        with contextlib.suppress(ComposeCommandError):
            found = pending.result().strip() if pending is not None else ""
            if found:
                return f"engine {found}"
        address = environ.get("DOCKER_HOST") or environ.get("DOCKER_CONTEXT") or "default"
        return f"address {address}"

    return identity


def check_engine(runner: CommandRunner) -> str:
    """The engine's version; a clear error when the engine cannot be reached."""
    try:
        return runner.run(["docker", "version", "--format", "{{.Server.Version}}"], timeout=30)
    except ComposeCommandError as err:
        reason = err.stderr.strip().splitlines()[-1:] or [f"exit {err.returncode}"]
        raise ComposeUnavailableError(
            f"cannot reach the Docker engine ({reason[0]}); start dockerd or set DOCKER_HOST"
        ) from err
