"""Properties: whatever compose project a user brings, zdd answers in one line or works.

Hypothesis builds compose projects and runs `zdd services` and `zdd deploy --dry-run` on each.
Hostile ones (odd names, odd types where numbers and lists belong, `extends` cycles, bytes
spliced into the YAML): no traceback, an exit code from the contract's table, one line, an
answer, never a hang. (Valid projects, compared with compose v2's and v1's own answer:
test_compose_agrees.py.)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from zdd.cli import app
from zdd.errors import ExitCode

from .test_cli import fake_compose

runner = CliRunner()
TABLE = {int(code) for code in ExitCode} - {int(ExitCode.INTERNAL)}  # 70 means a bug

plain_names = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)
odd_names = st.sampled_from(["--remove-orphans", "-x", ".", "..", "a b", "ü", "a.b", "_u"])
odd = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 70_000)
    | st.floats(allow_nan=True)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
SPLICES = [b"\xff", b"\t", b": ", b"&a ", b"*a", b"\n  - ", b"{"]


@st.composite
def projects(draw: st.DrawFn, hostile: bool) -> bytes:
    """A compose file. Valid ones extend only earlier services (no cycle); hostile ones get
    odd names, odd types where numbers and lists belong, cycles and bytes spliced in."""
    names = plain_names | odd_names if hostile else plain_names
    service_names = draw(st.lists(names, min_size=1, max_size=5, unique=True))

    def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return value | odd if hostile else value

    services: dict[str, Any] = {}
    for index, name in enumerate(service_names):
        config: dict[str, Any] = {}
        if draw(st.booleans()):
            config["image"] = draw(maybe(st.just("img")))
        else:
            config["build"] = draw(maybe(st.sampled_from([".", {"context": "."}])))
        earlier = service_names if hostile else service_names[:index]
        if earlier and draw(st.booleans()):
            target = st.sampled_from(earlier)
            config["extends"] = draw(maybe(target | st.builds(lambda s: {"service": s}, target)))
        for key, value in (
            ("expose", maybe(st.sampled_from([["3000"], "3000", [3000], ["80/tcp"]]))),
            ("ports", maybe(st.sampled_from([["3000"], ["8080:3000"], "8080:3000"]))),
            ("healthcheck", maybe(st.fixed_dictionaries({"test": st.just(["CMD", "true"])},
                                                        optional={"retries": maybe(st.just(3))}))),
            ("deploy", maybe(st.fixed_dictionaries({"replicas": maybe(st.just(1))}))),
            ("x-zdd", maybe(st.fixed_dictionaries({"port": maybe(st.just(3000))}))),
            ("container_name", maybe(st.from_regex(r"[a-z]{1,5}", fullmatch=True))),
        ):  # fmt: skip
            if draw(st.integers(0, 3)) == 0:
                config[key] = draw(value)
        services[name] = config
    document = {"services": services, **draw(st.sampled_from([{}, {"x-zdd": {"proxy": "nginx"}}]))}
    text = yaml.safe_dump(document, allow_unicode=True).encode()
    if not hostile or draw(st.booleans()):
        return text
    where = draw(st.integers(0, len(text)))
    return text[:where] + draw(st.sampled_from(SPLICES)) + text[where:]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prop")


HANG = 60.0  # seconds: far above any answer, so only a hang fails

SETTINGS = settings(
    max_examples=60,
    deadline=None,  # no timing in tests: a hang guard below, the timings in bench/
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def answer(workdir: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, proxy: str) -> Any:
    """`zdd services --json` and `zdd deploy --dry-run` on the file: each answer without a hang,
    from the exit-code table, in one line when it is an error. The `services` result."""
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("XDG_CACHE_HOME", str(workdir / "cache"))
    for name in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "ZDD_COMPOSE_CMD"):
        monkeypatch.delenv(name, raising=False)
    path = workdir / "compose.yaml"
    path.write_bytes(data)
    common = ["-f", str(path), "-p", "prop"]
    compose = ["--compose-cmd", str(fake_compose(workdir))]
    answers = {}
    for args in (
        ["services", "--json", *common],
        ["deploy", "--dry-run", "--proxy", proxy, *common, *compose],
    ):
        started = time.monotonic()
        result = runner.invoke(app, args)
        took = time.monotonic() - started
        output = result.stdout + result.stderr
        assert "Traceback" not in output and result.exit_code in TABLE, (args, output, data)
        if result.exit_code:
            assert len(result.stderr.strip().splitlines()) == 1, (args, output)
        assert took < HANG, (args, took)  # a hang, not a timing: the machine is shared
        answers[args[0]] = result
        event(f"{args[0]} exit {result.exit_code}")
    return answers["services"]


@SETTINGS
@given(data=projects(hostile=True), proxy=st.sampled_from(["nginx", "none", "external"]))
def test_any_project_gets_an_answer_from_the_table(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, proxy: str
) -> None:
    answer(workdir, monkeypatch, data, proxy)
