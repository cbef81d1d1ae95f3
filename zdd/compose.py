"""The compose binary: which one (`docker compose`, `docker-compose`, `--compose-cmd`), the
version it reports (kept on disk: docker-compose 1.x takes 0.4 s to print it), and
`ComposeCli`, the one builder of compose argv lists."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zdd.errors import ComposeCommandError, ComposeUnavailableError, UsageError

if TYPE_CHECKING:
    from zdd.ports import CommandRunner

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install the Docker Compose v2 plugin (`docker compose`) or docker-compose 1.29, "
    "or name one with --compose-cmd"
)


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
    runner: CommandRunner, override: str | None, cache: Path | None = None
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
        key = binary_identity(argv) if cache is not None else None
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


def binary_identity(argv: Sequence[str]) -> str | None:
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
