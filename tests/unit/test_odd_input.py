"""Odd and hostile input, second round (issue 25): each finding, one regression test. Compose
takes it and zdd agrees, or zdd refuses it with one line from the exit-code table; never a
traceback (exit 70)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zdd.cli import app
from zdd.errors import UsageError
from zdd.project import HostPort, is_number, parse_duration, published_ports

from .conftest import Load, Write
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


AGREED = {
    # name: a compose file compose v2 takes, as users write it
    "yaml-1.1-words-as-names": "services:\n  app: {build: ., expose: ['80']}\n"
    "  on: {extends: app}\n  off: {extends: {service: app}}\n  yes: {extends: app}\n",
    "tab-before-a-comment": "services:\n  app:\t# the app\n    build: .\n  a: {extends: app}\n",
    "tab-after-a-key": "services:\n  app:\n    build:\t.\n  a:\n    extends:\tapp\n",
    "several-documents": "services:\n  app: {build: .}\n  a: {extends: app}\n---\nservices:\n"
    "  b: {image: y}\n",
    "x-named-service": "services:\n  x-web: {build: .}\n  a: {extends: x-web}\n",
}


@pytest.mark.compose
@pytest.mark.parametrize("case", list(AGREED))
def test_zdd_reads_what_compose_v2_reads(tmp_path: Path, case: str) -> None:
    """The same services and the same `extends` edges as compose v2's own `config`."""
    import json
    import subprocess

    path = tmp_path / "p" / "compose.yaml"
    path.parent.mkdir()
    path.write_text(AGREED[case], encoding="utf-8")
    theirs = subprocess.run(
        ["docker", "compose", "-f", str(path), "config", "--services"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    compose = str(fake_compose(tmp_path, "2.40.0"))
    result = runner.invoke(app, ["services", "--json", "-f", str(path), "--compose-cmd", compose])
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)
    groups = {g["base"]: sorted(g["siblings"]) for g in ours["groups"]}
    named = {*groups, *(s for sibs in groups.values() for s in sibs), *ours["singles"]}
    assert named | set(ours["others"]) == set(theirs)
    base = "x-web" if case == "x-named-service" else "app"
    siblings = ["off", "on", "yes"] if case == "yaml-1.1-words-as-names" else ["a"]
    assert groups == {base: siblings}


def test_an_alias_bomb_in_an_extends_file_is_refused_before_compose_reads_it(
    tmp_path: Path,
) -> None:
    """The size guard covers every file zdd reads, `extends: {file}` targets too: compose's
    own `config` would expand the bomb (a hang)."""
    folder = tmp_path / "p"
    folder.mkdir()
    levels = ['  a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    levels += [f"  a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = "x-bomb:\n" + "\n".join(levels) + "\nservices:\n  app: {image: x}\n"
    (folder / "base.yml").write_text(bomb, encoding="utf-8")
    code, stderr = run(
        tmp_path, "services:\n  a:\n    extends: {file: base.yml, service: app}\n", "services"
    )
    assert code == 2
    assert error_line(stderr).endswith("base.yml: its YAML aliases expand to more than 200,000 "
                                       "values (an alias bomb?)")  # fmt: skip


SHARED_PORTS = {
    # name: (the base's ports, a sibling's own, whether the two siblings clash)
    "any-address-and-0.0.0.0": (["8000:80"], ["0.0.0.0:8000:80"], True),
    "udp-and-tcp": (["53:53/udp"], ["53:53/tcp"], False),
    "ranges-overlap": (["8000-8002:80-82"], ["8002:80"], True),
    "ranges-apart": (["8000-8002:80-82"], ["8003:80"], False),
    "two-loopback-addresses": (["127.0.0.1:8000:80"], ["127.0.0.2:8000:80"], False),
    "long-and-short-syntax": (["8000:80"], [{"target": 80, "published": "8000"}], True),
}


@pytest.mark.compose
@pytest.mark.parametrize("case", list(SHARED_PORTS))
def test_siblings_host_ports_are_compared_by_meaning(tmp_path: Path, case: str) -> None:
    """`8000` and `0.0.0.0:8000` are one port, `53/udp` and `53/tcp` two, a range overlaps
    what it holds: the preflight refuses two siblings that cannot both bind, and no more."""
    import json

    base, own, clash = SHARED_PORTS[case]
    text = (
        "services:\n  proxy: {image: n}\n"
        f"  app: {{build: ., expose: ['80'], ports: {json.dumps(base)}}}\n"
        f"  a: {{extends: app, ports: !override {json.dumps(own)}}}\n"
        "  b: {extends: app}\n"
    )
    code, stderr = run(tmp_path, text, "check", "--proxy", "external")
    refusals = [ln for ln in stderr.splitlines() if "both publish host port" in ln]
    assert "compose rejects" not in stderr and "Traceback" not in stderr, stderr
    assert bool(refusals) == clash, stderr
    assert code == 2 or not clash, stderr


@pytest.mark.compose
def test_a_misspelt_service_x_zdd_key_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    code, stderr = run(
        tmp_path, "services:\n  web: {build: ., x-zdd: {prot: 80}}\n", "deploy", "--dry-run"
    )
    assert code == 2
    assert error_line(stderr).endswith("web: x-zdd: unknown key 'prot' (known: port, role)")


@pytest.mark.compose
def test_an_empty_path_separator_is_compose_s_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COMPOSE_PATH_SEPARATOR set but empty: compose splits COMPOSE_FILE on `:` (was exit 70)."""
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "two.yml").write_text("services:\n  b: {image: y}\n", encoding="utf-8")
    monkeypatch.setenv("COMPOSE_PATH_SEPARATOR", "")
    monkeypatch.setenv("COMPOSE_FILE", f"{folder / 'compose.yaml'}:{folder / 'two.yml'}")
    path = folder / "compose.yaml"
    path.write_text("services:\n  app: {build: .}\n  a: {extends: app}\n", encoding="utf-8")
    compose = str(fake_compose(tmp_path, "2.40.0"))
    result = runner.invoke(app, ["services", "--json", "--compose-cmd", compose])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"] == [
        str(folder / "compose.yaml"),
        str(folder / "two.yml"),
    ]


# Found by the property tests (test_compose_agrees.py), each where zdd's model differed from
# compose's own answer.


@pytest.mark.parametrize("compose", [2, 1])
def test_an_extends_file_in_a_linked_release_is_named_as_the_project_sees_it(
    tmp_path: Path, write: Write, load: Load, compose: int
) -> None:
    """`current -> releases/r1`, a service extending `base.yml`: the template is `base.yml`,
    not `../releases/r1/base.yml` (the link was resolved for one path and not the other)."""
    write("releases/r1/base.yml", "services:\n  common: {image: img}\n")
    write(
        "releases/r1/compose.yaml", "services:\n  a: {extends: {file: base.yml, service: common}}\n"
    )
    (tmp_path / "current").symlink_to("releases/r1")
    project = load("current/compose.yaml", compose=compose)
    assert project.services["a"].template == "base.yml#common"


@pytest.mark.parametrize("compose", [2, 1])
def test_a_service_named_x_something_is_a_service(write: Write, load: Load, compose: int) -> None:
    """Under `services:` compose keeps `x-app` (only a v1 file's top-level `x-` keys are
    extensions): zdd lost its `extends` edge, and with it the group."""
    write("p/compose.yaml", "services:\n  app: {image: img}\n  x-app: {extends: app}\n")
    project = load("p/compose.yaml", compose=compose)
    assert project.services["x-app"].parent == "app"
    assert [(g.base, g.siblings) for g in project.groups] == [("app", ("x-app",))]


def test_compose_v1_s_ipv6_port_without_brackets_is_read() -> None:
    """compose v1's `config` prints `[::1]:8000:3000` as `::1:8000:3000/tcp`."""
    assert published_ports({"ports": ["::1:8000:3000/tcp", "[::1]:8001:3000"]}) == [
        HostPort("::1", 8000, 8000),
        HostPort("::1", 8001, 8001),
    ]


def test_compose_v1_keeps_a_leading_underscore_in_a_directory_s_name(
    write: Write, load: Load
) -> None:
    write("_app/compose.yaml", "services:\n  a: {image: img}\n")
    assert load("_app/compose.yaml", compose=1).name == "_app"


def test_compose_v1_reads_env_where_it_runs_not_in_the_project_directory(
    write: Write, load: Load
) -> None:
    """Standing in `proj/sub` with no -f: v1 reads `sub/.env` (none), not `proj/.env`; v2 reads
    the project directory's."""
    write("proj/compose.yaml", "services:\n  a: {image: img}\n")
    write("proj/.env", "COMPOSE_PROJECT_NAME=demo\n")
    write("proj/sub/.keep", "")
    assert load(cwd="proj/sub", compose=1).name == "proj"
    assert load(cwd="proj/sub", compose=2).name == "demo"
