"""compose's own `config`: the effective project, as the binary that runs the deploy resolves
it. Run at most once per command, and not at all when nothing it reads has changed since the
last time: its output is kept on disk, named by a digest of everything it depends on."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zdd.compose import ComposeCli, binary_identity
from zdd.errors import ComposeCommandError, ComposeFileError
from zdd.paths import cache_dir, private_dir
from zdd.ports import CommandRunner
from zdd.project.extends import ExtendsGraph
from zdd.project.files import regular_bytes
from zdd.project.rawyaml import parse_output

log = logging.getLogger(__name__)

CONFIG_TIMEOUT = 60.0  # seconds for `compose config`
CACHE_ENTRIES = 64  # the newest outputs kept
CACHE_FORMAT = 2  # part of every key: a new layout never reads an old entry
CACHE_AGE = 24 * 3600.0  # seconds an entry is used: a secret rotated out of an env_file goes
MAX_INPUT = 16 << 20  # bytes of one input file zdd hashes; a larger one (or not a file): no cache
ENTRY = re.compile(r"[0-9a-f]{64}\.json|tmp\w+\.tmp")  # the only names the cache prunes
# Service keys whose files compose reads into `config` output (`env_file` becomes
# `environment`, `label_file` becomes `labels`).
READ_FILES = ("env_file", "label_file")


def run_config(
    runner: CommandRunner, cli: ComposeCli, environ: Mapping[str, str], files: Iterable[Path] | None
) -> dict[str, Any]:
    """The effective project from `compose config` (JSON on v2, YAML on v1), from the cache
    when `files` (every file it reads; None: not all known) and the rest are unchanged."""
    env = {"PATH": os.environ.get("PATH", os.defpath), **environ}
    json_output = cli.binary.major >= 2
    argv = cli.config(json_output=json_output)
    cache = ConfigCache(cache_dir(environ) / "config")
    key = cache_key(cli, argv, env, files)
    cached = cache.get(key) if key else None
    if cached is not None:
        log.debug("compose config: cached %s", key)
        return cached
    try:
        output = runner.run(argv, timeout=CONFIG_TIMEOUT, env=env)
    except ComposeCommandError as err:
        raise ComposeFileError(f"compose rejects the project: {compose_says(err)}") from None
    try:
        model = json.loads(output) if json_output else parse_output(output)
    except ValueError as err:
        raise ComposeFileError(f"cannot read `compose config` output: {err}") from None
    if not isinstance(model, dict) or not isinstance(model.get("services") or {}, dict):
        raise ComposeFileError("`compose config` printed no services mapping")
    model["services"] = model.get("services") or {}
    if key:
        cache.put(key, model)
    return model


def config_files(
    graph: ExtendsGraph, given: Iterable[Path], directory: Path, env_files: Iterable[Path]
) -> tuple[Path, ...] | None:
    """Every file `config` output depends on: the compose files given, those they include or
    extend, the `.env` candidates, each service's env_file and label_file. None when one of
    them is not known for sure (a variable in its path, an include zdd does not follow)."""
    reached = graph.reached()  # an included file's project reads the .env beside it
    found = [*given, *reached, *env_files, *(path.parent / ".env" for path in reached)]
    if graph.opaque:
        return None
    definitions = [graph.own, *graph.others.values()]
    for path, config in (entry for d in definitions for entries in d.values() for entry in entries):
        for key in READ_FILES:
            names = _names(config.get(key))
            if names is None:
                return None
            for name in names:  # relative to its file, or to the project (compose v2)
                found += [(path.parent / name).resolve(), (directory / name).resolve()]
    return tuple(dict.fromkeys(found))


def _names(value: Any) -> list[str] | None:
    """The paths of an `env_file`/`label_file` value; None for one zdd cannot resolve."""
    entries = [] if value is None else value if isinstance(value, list) else [value]
    names = [e.get("path") if isinstance(e, dict) else e for e in entries]
    if all(isinstance(n, str) and "$" not in n and not n.startswith("~") for n in names):
        return [str(name) for name in names]
    return None


def cache_key(
    cli: ComposeCli, argv: Iterable[str], env: Mapping[str, str], files: Iterable[Path] | None
) -> str | None:
    """A digest of what `config` output depends on: the binary (its file and version), its
    argv, the working directory, the whole environment (compose interpolates any variable)
    and the content of `files`. None when that cannot be known."""
    if files is None or env.get("COMPOSE_ENV_FILES"):  # more env files, named elsewhere
        return None
    binary = cli.binary
    head = {
        "format": CACHE_FORMAT,
        "binary": [binary_identity(binary.argv) or "", *binary.argv, binary.version],
        "argv": list(argv),
        "cwd": os.getcwd(),
        "env": sorted(env.items()),
    }
    digest = hashlib.sha256(json.dumps(head).encode())
    for path in sorted(set(files)):
        digest.update(f"\0{path}\0".encode())
        content = _content(path)
        if content is None:
            return None
        digest.update(content)
    return digest.hexdigest()


def _content(path: Path) -> bytes | None:
    """A digest of a regular file's bytes, `absent` for no file; None (no cache) for what
    zdd must not read itself: a FIFO, a device (`env_file: /dev/zero`), a huge file."""
    try:
        data = regular_bytes(path, MAX_INPUT)
    except FileNotFoundError:
        return b"absent"
    return None if data is None else hashlib.sha256(data).digest()


class ConfigCache:
    """`config` outputs by key in a folder only the user can read (it may hold secrets from an
    env_file): one file each, written atomically; the newest CACHE_ENTRIES kept. An entry
    that cannot be read, or that is not what zdd wrote, is a miss."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, key: str) -> dict[str, Any] | None:
        """The model stored under `key`, if it is there and still valid."""
        try:
            folder = self._folder()
            fd = os.open(folder / f"{key}.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as stream:
                info = os.fstat(fd)
                if not (_private(info) and stat.S_ISREG(info.st_mode)):
                    return None
                entry = json.loads(stream.read())
                os.utime(fd)  # used: kept among the newest
        except (OSError, ValueError, ComposeFileError):
            return None
        return _valid(entry, key)

    def put(self, key: str, model: dict[str, Any]) -> None:
        """Keep `model` under `key` (not kept: what JSON would not give back as it is)."""
        try:
            entry = {"key": key, "model": model, "contexts": _contexts(model)}
            text = json.dumps({**entry, "written": time.time()})
            if json.loads(text)["model"] != model:
                return
        except (TypeError, ValueError):
            return
        partial = None
        try:
            folder = self._folder()
            fd, partial = tempfile.mkstemp(dir=folder, suffix=".tmp")  # mode 0600
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.replace(partial, folder / f"{key}.json")
            partial = None
            self._prune(folder)
        except (OSError, ComposeFileError) as err:
            log.debug("compose config not cached: %s", err)  # a cache: zdd works without it
        finally:
            if partial is not None:
                with contextlib.suppress(OSError):
                    os.unlink(partial)

    def _folder(self) -> Path:
        """The cache folder, made private (0700, every parent the user's or root's)."""
        folder = private_dir(self.folder, _refuse)
        if not _private(os.stat(folder, follow_symlinks=False)):
            raise _refuse(folder, "readable by other users")
        return folder

    def _prune(self, folder: Path) -> None:
        """Keep the newest CACHE_ENTRIES entries; remove nothing that is not an entry."""
        entries = []
        with os.scandir(folder) as found:
            for item in found:
                if ENTRY.fullmatch(item.name) and item.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        entries.append((item.stat(follow_symlinks=False).st_mtime_ns, item.path))
        for _, path in sorted(entries, reverse=True)[CACHE_ENTRIES:]:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _valid(entry: object, key: str) -> dict[str, Any] | None:
    """The model of an entry zdd wrote under `key`, young enough, whose build contexts
    still exist; None for anything else."""
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    model, contexts, written = entry.get("model"), entry.get("contexts"), entry.get("written")
    fresh = isinstance(written, float) and 0 <= time.time() - written < CACHE_AGE
    if not (fresh and isinstance(model, dict) and isinstance(model.get("services"), dict)):
        return None
    # compose v1 refuses a build context that is not there (v2 leaves it to `build`)
    if not isinstance(contexts, list) or not all(
        isinstance(c, str) and Path(c).is_dir() for c in contexts
    ):
        return None
    return model


def _refuse(path: Path, why: str) -> ComposeFileError:
    return ComposeFileError(f"compose output not cached in {path}: {why}")


def _private(status: os.stat_result) -> bool:
    """Owned by this user, and no one else may read or write it."""
    return status.st_uid == os.getuid() and not stat.S_IMODE(status.st_mode) & 0o077


def _contexts(model: Mapping[str, Any]) -> list[str]:
    """The local build contexts `config` checked (absolute in its output; not a URL)."""
    found = []
    for config in (model.get("services") or {}).values():
        build = config.get("build") if isinstance(config, dict) else None
        context = build.get("context") if isinstance(build, dict) else build
        if isinstance(context, str) and os.path.isabs(context):
            found.append(context)
    return found


def compose_says(err: ComposeCommandError) -> str:
    """compose's own error in one line: its first lines, `ERROR:` and blanks dropped."""
    lines = [line.strip().removeprefix("ERROR: ") for line in err.stderr.splitlines()]
    if any(line.startswith("Traceback") for line in lines):  # compose v1 crashed
        return f"compose crashed: {[line for line in lines if line][-1]}"[:400]
    lines = [line for line in lines if line and not line.startswith("You might be seeing")]
    if not lines:
        return f"exit {err.returncode}"
    said = " ".join(lines[:2]) if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    return said[:400]


def undecodable(err: ComposeFileError, dotenv: Path) -> ComposeFileError:
    """compose v1 crashes on a byte that is not UTF-8 in a file zdd did not read (the compose
    files zdd reads itself): name the `.env` file and the byte, else a service's env_file."""
    if "UnicodeDecodeError" not in str(err):
        return err
    try:
        dotenv.read_bytes().decode("utf-8")
    except UnicodeDecodeError as bad:
        return ComposeFileError(f"{dotenv}: not UTF-8 (byte {bad.start}); compose v1 cannot read")
    except OSError:
        pass
    return ComposeFileError(f"{err} (in a service's env_file: compose v1 reads only UTF-8)")
