"""The one place that runs compose and docker (through `sh`), with argv lists only."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shlex
import shutil
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, Unpack

from zdd.errors import ComposeCommandError, ComposeUnavailableError, UsageError

log = logging.getLogger(__name__)

ENDED = -1  # ComposeCommandError.returncode: the command or shell ended without a status
TIMED_OUT = -2  # ... it was stopped at its timeout

INSTALL_HINT = (
    "install the Docker Compose v2 plugin (`docker compose`) or docker-compose 1.29, "
    "or name one with --compose-cmd"
)


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

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *_: object) -> None:
        for shell in self.shells:
            shell.close()

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
        process = command(
            *argv[1:],
            _in=stdin,
            _timeout=timeout,
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
        return Pending(self, tuple(argv), process, timeout)


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
            stderr = err.stderr.decode(errors="replace")
            log.debug("exit %s: %s", err.exit_code, stderr.strip())
            raise ComposeCommandError(self.argv, err.exit_code, stderr) from err
        except sh.TimeoutException as err:
            raise ComposeCommandError(
                self.argv, TIMED_OUT, f"timed out after {self.timeout} s"
            ) from err
        finally:
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


@dataclass(frozen=True)
class ComposeBinary:
    """A compose binary and the version it reported."""

    argv: tuple[str, ...]
    version: str

    @property
    def major(self) -> int:
        """1 for compose 1.x (Python), 2 for compose v2 (Go)."""
        return int(self.version.split(".", 1)[0] or 0)


def detect_compose(
    runner: Runner, override: str | None, cache: Path | None = None
) -> ComposeBinary:
    """`--compose-cmd`, else the `docker compose` plugin, else `docker-compose`.

    With `cache` (a JSON file), the version a command reported is kept by the path, size and
    mtime of its binary (for `docker compose`: the docker CLI's and its compose plugin's):
    docker-compose 1.x takes 0.4 s just to print it, the plugin 0.1 s."""
    try:
        words = tuple(shlex.split(override)) if override else ()
    except ValueError as err:
        raise UsageError(f"--compose-cmd {override!r}: {err}") from None
    candidates = (
        [words]
        if override
        else [
            ("docker", "compose"),
            ("docker-compose",),
        ]
    )
    failures = []
    for argv in candidates:
        if not argv:
            break
        key = _cache_key(argv) if cache is not None else None
        known = _read_cache(cache).get(key) if cache is not None and key else None
        if known:
            return ComposeBinary(argv, known)
        try:
            output = runner.run([*argv, "version", "--short"], timeout=30)
        except (ComposeCommandError, ComposeUnavailableError) as err:
            failures.append(f"{' '.join(argv)}: {err}")
            continue
        version = output.strip().removeprefix("v")
        if version[:1].isdigit():
            if cache is not None and key:
                _write_cache(cache, {**_read_cache(cache), key: version})
            return ComposeBinary(argv, version)
        failures.append(f"{' '.join(argv)}: unexpected version output {output.strip()!r}")
    detail = "; ".join(failures) or "empty --compose-cmd"
    raise ComposeUnavailableError(f"no usable compose binary ({detail}): {INSTALL_HINT}")


# Where the docker CLI looks for its plugins, after $DOCKER_CONFIG/cli-plugins (docs:
# "Docker Engine managed plugin system", CLI plugins): the first match wins.
PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def _cache_key(argv: Sequence[str]) -> str | None:
    """`path:size:mtime` of the binary that answers: a one-word command's, or for
    `docker compose` the plugin the docker CLI runs. None when that is not known for sure."""
    if len(argv) == 1:
        found = shutil.which(argv[0])
        return _file_key(Path(found)) if found else None
    docker = shutil.which("docker")
    if tuple(argv) != ("docker", "compose") or docker is None:
        return None
    config = Path(os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"))
    with contextlib.suppress(OSError):
        if "cliPluginsExtraDirs" in (config / "config.json").read_text(encoding="utf-8"):
            return None  # more places to look: ask the CLI itself
    for directory in (config / "cli-plugins", *map(Path, PLUGIN_DIRS)):
        plugin = directory / "docker-compose"
        if plugin.is_file():
            return f"{_file_key(Path(docker))}+{_file_key(plugin)}"
    return None


def _file_key(path: Path) -> str:
    resolved = path.resolve()
    stat = resolved.stat()
    return f"{resolved}:{stat.st_size}:{stat.st_mtime_ns}"


def _read_cache(cache: Path) -> dict[str, str]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_cache(cache: Path, data: Mapping[str, str]) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(data), encoding="utf-8")
    except OSError:
        log.debug("cannot write %s", cache)  # a cache: zdd works without it


def engine_identity(runner: Runner, environ: Mapping[str, str]) -> Callable[[], str]:
    """Start asking the engine for its ID; calling the result gives it. Two spellings of one
    engine (DOCKER_HOST unset or set to the same socket, a context) give one ID. An engine that
    does not answer is named by the environment's address (every command on it fails anyway)."""
    try:
        pending: Pending | None = runner.start(
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


class Held:
    """A process zdd holds for the whole command (an SSH connection): in a session of its own
    (a Ctrl-C reaches zdd only), its stdin a pipe only zdd writes to. When zdd ends, even by
    SIGKILL, that pipe closes; a process that reads it to its end (`ssh HOST cat`) ends too."""

    def __init__(self, argv: Sequence[str], log_file: Path) -> None:
        import subprocess

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
        import subprocess

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
        import subprocess

        if self._process is None:
            return
        self.tell("done")
        with contextlib.suppress(OSError):
            self._process.stdin.close()  # type: ignore[union-attr]
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=1)
        self._process = None


def check_engine(runner: Runner) -> str:
    """The engine's version; a clear error when the engine cannot be reached."""
    try:
        return runner.run(["docker", "version", "--format", "{{.Server.Version}}"], timeout=30)
    except ComposeCommandError as err:
        reason = err.stderr.strip().splitlines()[-1:] or [f"exit {err.returncode}"]
        raise ComposeUnavailableError(
            f"cannot reach the Docker engine ({reason[0]}); start dockerd or set DOCKER_HOST"
        ) from err


@dataclass(frozen=True)
class ComposeCli:
    """Builds compose argv lists: the binary and `-f`/`-p` flags once, then one intent each.
    Service names come after `--`: a service named `--remove-orphans` (compose accepts it) is
    a name, never a flag (compose v1 and v2 both take `--` there)."""

    binary: ComposeBinary
    files: tuple[Path, ...]
    project_name: str
    project_directory: Path | None = None
    env_file: Path | None = None
    extra: tuple[str, ...] = field(default=())

    def base(self) -> list[str]:
        """The binary with the project flags every command shares."""
        argv = list(self.binary.argv)
        for path in self.files:
            argv += ["-f", str(path)]
        if self.project_name:  # unset only while the project is read: compose names it
            argv += ["-p", self.project_name]
        if self.project_directory is not None:
            argv += ["--project-directory", str(self.project_directory)]
        if self.env_file is not None:
            argv += ["--env-file", str(self.env_file)]
        return argv

    def config(self, *, json_output: bool) -> tuple[str, ...]:
        """`config [--format json]`: the effective project (v1 has YAML only); no engine."""
        return (*self.base(), "config", *(("--format", "json") if json_output else ()))

    def build(self, services: Sequence[str], *, no_cache: bool, pull: bool) -> tuple[str, ...]:
        """`build [--no-cache] [--pull] SERVICE...`."""
        flags = _flag("--no-cache", no_cache) + _flag("--pull", pull)
        return (*self.base(), "build", *flags, "--", *services)

    def pull(self, services: Sequence[str]) -> tuple[str, ...]:
        """`pull SERVICE...`: for siblings that run an image and build nothing."""
        return (*self.base(), "pull", "--", *services)

    def image_name(self, service: str, config: Mapping[str, Any]) -> str:
        """The image compose builds and runs for `service`: its `image:`, else compose's own
        name (v2: `<project>-<service>`, v1: `<project>_<service>`)."""
        if config.get("image"):
            return str(config["image"])
        if self.binary.major >= 2:
            return f"{self.project_name}-{service}"
        return f"{self.project_name.lstrip('_-')}_{service}"

    def stop(self, service: str, timeout: int | None) -> tuple[str, ...]:
        """`stop [-t N] SERVICE`: graceful stop, SIGKILL after the timeout."""
        flags = ("-t", str(timeout)) if timeout is not None else ()
        return (*self.base(), "stop", *flags, "--", service)

    def up(self, service: str, *, recreate: bool = True, start: bool = True) -> tuple[str, ...]:
        """`up -d --no-deps --no-build [--force-recreate] SERVICE`.

        --no-deps: compose v1 otherwise recreates the sibling's depends_on/links services too.
        --no-build: the plan's build step made every image; `up` never builds a second time.
        `start=False`: the container is created only (`--no-start`; v1 refuses it with -d).
        """
        return (
            *self.base(),
            "up",
            *(("-d",) if start else ("--no-start",)),
            "--no-deps",
            "--no-build",
            *_flag("--force-recreate", recreate),
            "--",
            service,
        )

    def scale_up(self, service: str, count: int, *, start: bool = True) -> tuple[str, ...]:
        """`up -d --no-deps --no-build --no-recreate --scale SERVICE=COUNT SERVICE`: new
        containers beside the ones that run (start-first); those are left as they are.
        `start=False`: created only (`--no-start`, which compose v1 refuses with -d)."""
        return (
            *self.base(),
            "up",
            *(("-d",) if start else ("--no-start",)),
            "--no-deps",
            "--no-build",
            "--no-recreate",
            "--scale",
            f"{service}={count}",
            "--",
            service,
        )


def _flag(flag: str, enabled: bool) -> tuple[str, ...]:
    return (flag,) if enabled else ()
