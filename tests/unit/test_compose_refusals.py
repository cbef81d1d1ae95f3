"""What compose itself refuses reaches the user as one line from zdd, on each compose major:
`retries: many` with --health-path, string `expose`/`ports`, and a non-UTF-8 `.env` (compose v2
reads it, compose v1 cannot: zdd names the file and the byte)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from zdd.cli import app

from .test_cli import error_line, fake_compose

runner = CliRunner()
VERSIONS = {1: "1.29.2", 2: "v2.20.2"}


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
