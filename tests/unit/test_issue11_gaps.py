"""Issue 11's cases that no other unit test named: a stack last deployed by the other compose
major, SIGTERM during `zdd probe`, `retries: many` with --health-path, string `expose`/`ports`,
a non-UTF-8 `.env` on each compose major."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from zdd.cli import app
from zdd.errors import DeployError, ExitCode
from zdd.project import Project
from zdd.rollout import Event

from .conftest import Load
from .test_cli import error_line, fake_compose
from .test_rollout import commands, engine_for, rollout

runner = CliRunner()
VERSIONS = {1: "1.29.2", 2: "v2.20.2"}


@pytest.fixture
def seed(seed_file: Path, load: Load) -> Project:
    return load(str(seed_file))


def test_a_stack_made_by_the_other_compose_major_rolls_back_to_its_own_image(
    seed: Project,
) -> None:
    """Containers created by compose v1 (image `legacy_service_a`), deployed with v2: the old
    image id goes back under the name v2 runs (`legacy-service_a`), not the container's."""
    engine, events = engine_for(seed), list[Event]()
    for service, container in engine.containers.items():
        container["Config"]["Image"] = f"{seed.name}_{service}"
        container["Name"] = f"/{seed.name}_{service}_1"
    engine.crash.add("sha256:new")
    run, plan = rollout(seed, engine, events)
    with pytest.raises(DeployError) as failed:
        run.run(plan)
    assert failed.value.exit_code == ExitCode.DEPLOY_FAILED, "not a failed rollback (exit 6)"
    assert commands(engine)[-2:] == ["tag sha256:old legacy-service_a", "up service_a"]
    assert engine.containers["service_a"]["Image"] == "sha256:old"


def test_sigterm_ends_probe_with_its_report() -> None:
    before = signal.getsignal(signal.SIGTERM)

    def terminate_once_handled() -> None:
        deadline = time.monotonic() + 10
        while signal.getsignal(signal.SIGTERM) is before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        if signal.getsignal(signal.SIGTERM) is not before:  # never the default: it kills pytest
            os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_once_handled, daemon=True)
    killer.start()
    args = ["probe", "http://127.0.0.1:9/", "--duration", "30", "--rate", "20", "--json"]
    result = runner.invoke(app, args)
    killer.join()
    assert result.exit_code == 130, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["probe", "error"]
    assert events[0]["requests"] > 0


def dry_run(tmp_path: Path, major: int, compose: bytes, *args: str, env: bytes = b"") -> Result:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "compose.yaml").write_bytes(compose)
    if env:
        (tmp_path / "p" / ".env").write_bytes(env)
    command = ["--compose-cmd", str(fake_compose(tmp_path, VERSIONS[major]))]
    return runner.invoke(
        app, ["deploy", "--dry-run", "--project-directory", str(tmp_path / "p"), *command, *args]
    )


@pytest.mark.parametrize("major", [1, 2])
@pytest.mark.parametrize(
    ("compose", "args", "words"),
    [
        (
            b"services:\n  app: {image: a, healthcheck: {test: [CMD, 'true'], retries: many}}\n"
            b"  s: {extends: app}\n",
            ["--health-path", "/"],
            "retries",
        ),
        (b"services:\n  app: {image: a, expose: '3000'}\n  s: {extends: app}\n", [], "expose"),
        (b"services:\n  app: {image: a, ports: '8080:3000'}\n  s: {extends: app}\n", [], "ports"),
    ],
    ids=["retries-many-with-health-path", "expose-string", "ports-string"],
)
def test_compose_refuses_and_zdd_says_so_in_one_line(
    tmp_path: Path, major: int, compose: bytes, args: list[str], words: str
) -> None:
    result = dry_run(tmp_path, major, compose, *args)
    assert result.exit_code == 2, result.output
    line = error_line(result.stderr)
    assert "compose rejects the project" in line and words in line


@pytest.mark.parametrize("major", [1, 2])
def test_a_non_utf8_env_file_is_read_as_compose_reads_it(tmp_path: Path, major: int) -> None:
    """compose v2 accepts the byte (zdd plans); compose v1 cannot decode it: one line naming
    the file and the byte, exit 2."""
    compose = b"services:\n  app: {image: a}\n  s: {extends: app}\n"
    result = dry_run(tmp_path, major, compose, env=b"A=\xff\n")
    if major == 2:
        assert result.exit_code == 0, result.output
        assert "up -d --no-deps --no-build --force-recreate -- s" in result.stdout
    else:
        assert result.exit_code == 2, result.output
        line = error_line(result.stderr)
        assert line.endswith("/.env: not UTF-8 (byte 2); compose v1 cannot read"), line
