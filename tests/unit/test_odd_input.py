"""Odd and hostile input, second round (issue 25): each finding, one regression test. Compose
takes it and zdd agrees, or zdd refuses it with one line from the exit-code table; never a
traceback (exit 70)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from zdd.cli import app
from zdd.errors import UsageError
from zdd.project import is_number, parse_duration

from .test_cli import error_line, fake_compose

runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("100us", 1e-4), ("100\u00b5s", 1e-4), ("100\u03bcs", 1e-4), ("5ns", 5e-9), ("1m30s", 90)],
)
def test_durations_in_every_unit_compose_takes(text: str, seconds: float) -> None:
    """Compose v2's `config` writes `100us` back as `100µs`: both are a duration."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["1\u0663s", "\u00b3s", "5 s", "s", "1d"])
def test_what_is_no_duration_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "number"), [("80", True), ("\u00b3", False), ("\u0663", False)])
def test_only_ascii_digits_are_a_number(text: str, number: bool) -> None:
    """`str.isdigit` holds for `³` and `٣`, and int() reads `٣`: compose takes neither."""
    assert is_number(text) is number


def run(tmp_path: Path, text: str, *args: str, version: str = "2.40.0") -> tuple[int, str]:
    path = tmp_path / "p" / "compose.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    compose = str(fake_compose(tmp_path, version))
    result = runner.invoke(app, [*args, "-f", str(path), "--compose-cmd", compose])
    return result.exit_code, result.stderr


@pytest.mark.compose
def test_a_port_in_other_digits_is_one_line(tmp_path: Path) -> None:
    """Compose v2 takes `expose: ["³"]` (the engine would not): zdd says where, exit 2."""
    code, stderr = run(tmp_path, "services:\n  web: {build: ., expose: ['\u00b3']}\n", "deploy",
                       "--dry-run", "web")  # fmt: skip
    assert code == 2
    assert error_line(stderr).endswith("expose: a port is a number from 1 to 65535, got '\u00b3'")


def test_yaml_nested_beyond_the_parser_is_one_line(tmp_path: Path) -> None:
    deep = "x-deep: " + "[" * 1000 + "]" * 1000 + "\nservices:\n  a: {image: x}\n"
    code, stderr = run(tmp_path, deep, "services")
    assert code == 2
    assert error_line(stderr).endswith("compose.yaml: its YAML is nested too deeply to read")


@pytest.mark.parametrize("command", ["deploy", "rollback", "status", "check"])
def test_a_context_that_reads_as_an_option_is_refused(tmp_path: Path, command: str) -> None:
    """`--context=--help` never reaches docker as an option."""
    code, stderr = run(tmp_path, "services:\n  a: {image: x}\n", command, "--context=--help")
    assert code == 2
    assert "'--help' is not a docker context name" in error_line(stderr)
