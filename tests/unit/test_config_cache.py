"""compose's `config` runs at most once per command, and not at all for a second command on
unchanged input: its output is cached by everything it depends on."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Unpack

import pytest

from zdd.compose import ComposeBinary
from zdd.errors import ComposeCommandError, ComposeFileError
from zdd.project import LoadOptions, Project, load_project
from zdd.project.config import CACHE_ENTRIES
from zdd.runner import Runner, RunOptions

from .conftest import Write

V2 = ComposeBinary(("docker", "compose"), "2.40.3")
V1 = ComposeBinary(("docker-compose",), "1.29.2")
PROJECT = """\
services:
  app: {image: x, expose: ['3000']}
  a: {extends: app}
  b: {extends: app}
"""
SERVICE = {"image": "x", "expose": ["3000"]}
OUTPUT = json.dumps({"name": "p", "services": dict.fromkeys(("app", "a", "b"), SERVICE)})


class ConfigRunner(Runner):
    """Plays compose's `config` (a fixed answer, or an error) and records every argv."""

    def __init__(self, output: str = OUTPUT, error: bool = False) -> None:
        super().__init__()
        self.output, self.error = output, error
        self.argvs: list[tuple[str, ...]] = []

    def run(self, argv: Sequence[str], **options: Unpack[RunOptions]) -> str:
        self.argvs.append(tuple(argv))
        if self.error:
            raise ComposeCommandError(argv, 15, "service a: bad\n")
        return self.output

    def config_runs(self) -> int:
        """How many `config` ran since the last call."""
        runs = sum(1 for argv in self.argvs if "config" in argv)
        self.argvs.clear()
        return runs


@pytest.fixture
def runner() -> ConfigRunner:
    return ConfigRunner()


def _load(
    tmp_path: Path,
    runner: Runner,
    environ: Mapping[str, str] | None = None,
    binary: ComposeBinary = V2,
) -> Project:
    environment = {"XDG_CACHE_HOME": str(tmp_path / "cache"), **(environ or {})}
    options = LoadOptions(cwd=tmp_path / "p", environ=environment)
    return load_project(options, binary, runner)


def _folder(tmp_path: Path) -> Path:
    return tmp_path / "cache/zdd/config"


def test_config_runs_once_then_not_again_until_an_input_changes(
    tmp_path: Path, write: Write, runner: ConfigRunner
) -> None:
    compose = write("p/compose.yaml", PROJECT)
    first = _load(tmp_path, runner)
    assert runner.config_runs() == 1
    again = _load(tmp_path, runner)
    assert runner.config_runs() == 0, "the same files and environment: the cached output"
    assert again == first
    compose.write_text(PROJECT + "# edited\n", encoding="utf-8")
    _load(tmp_path, runner)
    assert runner.config_runs() == 1, "a compose file changed"
    write("p/.env", "TAG=1\n")
    _load(tmp_path, runner)
    assert runner.config_runs() == 1, "the .env file appeared"
    _load(tmp_path, runner, {"TAG": "2"})
    assert runner.config_runs() == 1, "the environment changed"
    _load(tmp_path, runner, binary=ComposeBinary(("docker", "compose"), "2.41.0"))
    assert runner.config_runs() == 1, "another compose version"
    _load(tmp_path, runner, {"TAG": "2"})
    assert runner.config_runs() == 0


@pytest.mark.parametrize(
    ("files", "edited"),
    [
        ({"p/app.env": "A=1\n"}, "p/app.env"),
        ({"p/labels": "a=1\n"}, "p/labels"),
        ({"p/base.yml": "services:\n  root: {image: y}\n"}, "p/base.yml"),
        ({"p/more.yml": "services:\n  other: {image: y}\n"}, "p/more.yml"),
    ],
    ids=["env_file", "label_file", "extends.file", "include"],
)
def test_a_file_that_config_reads_is_part_of_the_key(
    tmp_path: Path, write: Write, runner: ConfigRunner, files: dict[str, str], edited: str
) -> None:
    for path, text in files.items():
        write(path, text)
    write(
        "p/compose.yaml",
        "include: [more.yml]\n" * ("more.yml" in edited)
        + PROJECT
        + "  c: {image: x, env_file: [app.env], label_file: labels}\n" * ("base" not in edited)
        + "  d: {extends: {file: base.yml, service: root}}\n" * ("base" in edited),
    )
    _load(tmp_path, runner)
    _load(tmp_path, runner)
    assert runner.config_runs() == 1
    write(edited, files[edited] + "# edited\n")
    _load(tmp_path, runner)
    assert runner.config_runs() == 1


@pytest.mark.parametrize(
    "service",
    [
        "  c: {image: x, env_file: ['${WHERE}.env']}",
        "  c: {extends: {file: '${WHERE}.yml', service: root}}",
    ],
)
def test_what_zdd_cannot_resolve_is_never_cached(
    tmp_path: Path, write: Write, runner: ConfigRunner, service: str
) -> None:
    write("p/compose.yaml", f"{PROJECT}{service}\n")
    write("p/x.yml", "services:\n  root: {image: y}\n")
    for _ in range(2):
        _load(tmp_path, runner, {"WHERE": "x"})
    assert runner.config_runs() == 2
    assert not _folder(tmp_path).exists()


def test_an_include_with_its_own_env_file_is_never_cached(
    tmp_path: Path, write: Write, runner: ConfigRunner
) -> None:
    write("p/more.yml", "services:\n  other: {image: y}\n")
    write("p/compose.yaml", "include: [{path: more.yml, env_file: more.env}]\n" + PROJECT)
    for _ in range(2):
        _load(tmp_path, runner)
    assert runner.config_runs() == 2


def test_a_refused_project_is_not_cached(tmp_path: Path, write: Write) -> None:
    write("p/compose.yaml", PROJECT)
    refusing = ConfigRunner(error=True)
    for _ in range(2):
        with pytest.raises(ComposeFileError, match="compose rejects the project: service a"):
            _load(tmp_path, refusing)
    assert refusing.config_runs() == 2


def test_entries_are_private_bounded_and_a_bad_one_is_a_miss(
    tmp_path: Path, write: Write, runner: ConfigRunner
) -> None:
    write("p/compose.yaml", PROJECT)
    _load(tmp_path, runner)
    folder = _folder(tmp_path)
    (entry,) = folder.iterdir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert runner.config_runs() == 1
    for text in ("{not json", json.dumps({"key": "another", "model": {}, "contexts": []})):
        entry.write_text(text, encoding="utf-8")
        _load(tmp_path, runner)
        assert runner.config_runs() == 1, f"{text!r} is a miss"
    for index in range(CACHE_ENTRIES + 5):
        _load(tmp_path, runner, {"N": str(index)})
    assert len(list(folder.iterdir())) == CACHE_ENTRIES
    assert runner.config_runs() == CACHE_ENTRIES + 5
    folder.chmod(0o755)  # no longer private: not trusted
    _load(tmp_path, runner)
    _load(tmp_path, runner)
    assert runner.config_runs() == 2


def test_compose_v1_output_is_cached_while_its_build_context_is_there(
    tmp_path: Path, write: Write
) -> None:
    write("p/docker-compose.yml", "app: {build: ./app, expose: ['3000']}\n")
    context = tmp_path / "p/app"
    context.mkdir()
    output = f"services:\n  app:\n    build:\n      context: {context}\n    expose: ['3000']\n"
    runner = ConfigRunner(output)
    _load(tmp_path, runner, binary=V1)
    _load(tmp_path, runner, binary=V1)
    assert runner.config_runs() == 1
    context.rmdir()  # compose v1's `config` refuses a missing context: ask it again
    _load(tmp_path, runner, binary=V1)
    assert runner.config_runs() == 1


def test_one_config_run_per_binary_for_real(
    tmp_path: Path, write: Write, compose_binaries: dict[int, ComposeBinary]
) -> None:
    write("p/compose.yaml", PROJECT)
    for binary in compose_binaries.values():
        recording = _Recording()
        first = _load(tmp_path, recording, binary=binary)
        assert _load(tmp_path, recording, binary=binary) == first
        assert sum("config" in argv for argv in recording.argvs) == 1, binary


class _Recording(Runner):
    """The real runner, recording every argv."""

    def __init__(self) -> None:
        super().__init__()
        self.argvs: list[tuple[str, ...]] = []

    def run(self, argv: Sequence[str], **options: Unpack[RunOptions]) -> str:
        self.argvs.append(tuple(argv))
        return super().run(argv, **options)


@pytest.mark.parametrize("compose", ["docker compose", "docker-compose"])
def test_a_command_runs_config_at_most_once_and_the_next_one_not_at_all(
    tmp_path: Path,
    write: Write,
    monkeypatch: pytest.MonkeyPatch,
    compose_binaries: dict[int, ComposeBinary],
    compose: str,
) -> None:
    from typer.testing import CliRunner

    from zdd.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "ZDD_COMPOSE_CMD"):
        monkeypatch.delenv(name, raising=False)
    argvs: list[tuple[str, ...]] = []
    start = Runner.start

    def recording(self: Runner, argv: Sequence[str], **options: Any) -> Any:
        argvs.append(tuple(argv))
        return start(self, argv, **options)

    monkeypatch.setattr(Runner, "start", recording)
    path = write("p/compose.yaml", PROJECT)
    for command, runs in (("deploy", 1), ("deploy", 0), ("services", 0)):
        flags = ["--dry-run"] if command == "deploy" else []
        argv = [command, *flags, "-f", str(path), "--compose-cmd", compose]
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 0, result.output
        assert sum("config" in a for a in argvs) == runs, (command, argvs)
        argvs.clear()


def test_the_env_file_beside_an_included_file_is_part_of_the_key(
    tmp_path: Path, write: Write, runner: ConfigRunner
) -> None:
    """compose loads an included file as a project of its own, with the .env beside it."""
    write("p/sub/compose.yaml", "services:\n  other: {image: 'y:${TAG}'}\n")
    dotenv = write("p/sub/.env", "TAG=1\n")
    write("p/compose.yaml", "include: [sub/compose.yaml]\n" + PROJECT)
    _load(tmp_path, runner)
    _load(tmp_path, runner)
    assert runner.config_runs() == 1
    dotenv.write_text("TAG=2\n", encoding="utf-8")
    _load(tmp_path, runner)
    assert runner.config_runs() == 1, "sub/.env changed: compose's answer may differ"


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_an_input_that_is_not_a_file_is_never_read_by_zdd(
    tmp_path: Path, write: Write, runner: ConfigRunner, kind: str
) -> None:
    """`env_file: /dev/zero` or a FIFO: zdd neither hangs nor fills its memory hashing it; it
    leaves the file to compose and caches nothing."""
    (tmp_path / "p").mkdir()
    if kind == "fifo":
        os.mkfifo(tmp_path / "p/app.env")
    name = "/dev/zero" if kind == "device" else "app.env"
    write("p/compose.yaml", f"{PROJECT}  c: {{image: x, env_file: ['{name}']}}\n")
    for _ in range(2):
        _load(tmp_path, runner)
    assert runner.config_runs() == 2
    assert not _folder(tmp_path).exists() or not list(_folder(tmp_path).iterdir())


def test_pruning_removes_cache_entries_only(
    tmp_path: Path, write: Write, runner: ConfigRunner
) -> None:
    write("p/compose.yaml", PROJECT)
    _load(tmp_path, runner)
    mine = _folder(tmp_path) / "notes.txt"
    mine.write_text("not zdd's\n", encoding="utf-8")
    for index in range(CACHE_ENTRIES + 2):
        _load(tmp_path, runner, {"N": str(index)})
    assert mine.read_text(encoding="utf-8") == "not zdd's\n"
    assert len(list(_folder(tmp_path).glob("*.json"))) == CACHE_ENTRIES


def test_a_cache_under_a_folder_others_can_change_is_not_used(
    tmp_path: Path, write: Write, runner: ConfigRunner
) -> None:
    """zdd runs as root: a cache folder another user could swap is neither read nor written."""
    write("p/compose.yaml", PROJECT)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # writable by all, not sticky
    for _ in range(2):
        _load(tmp_path, runner, {"XDG_CACHE_HOME": str(shared / "cache")})
    assert runner.config_runs() == 2
    assert not (shared / "cache").exists()


def test_an_include_zdd_cannot_follow_is_left_for_compose_to_refuse(
    tmp_path: Path, write: Write
) -> None:
    """A symlink loop or a NUL byte in an include's path: compose's own refusal, exit 2."""
    write("p/compose.yaml", "include: [loop.yml]\n" + PROJECT)
    (tmp_path / "p/loop.yml").symlink_to(tmp_path / "p/loop.yml")
    refusing = ConfigRunner(error=True)
    with pytest.raises(ComposeFileError, match="compose rejects the project"):
        _load(tmp_path, refusing)
