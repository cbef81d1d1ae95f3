"""The command line through typer's CliRunner: exit codes, stdout, one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zdd import __version__
from zdd.cli import app
from zdd.errors import ComposeFileError

from .conftest import UNSEEN, Write

runner = CliRunner()

FAKE_COMPOSE = """\
#!/bin/sh
# Stands in for docker-compose: answers `version --short`, hands `config` to the real compose
# of its major version (it reads the project, no engine needed), accepts anything else.
if [ "$1" = version ] && [ "$2" = --short ]; then
  echo "{version}"
fi
for arg in "$@"; do
  if [ "$arg" = config ]; then
    case "{version}" in 1.*) exec docker-compose "$@" ;; *) exec docker compose "$@" ;; esac
  fi
done
exit 0
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in tmp_path with none of the compose variables of the real environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PATH_SEPARATOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ZDD_COMPOSE_CMD", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def fake_compose(tmp_path: Path, version: str = "1.29.2") -> Path:
    path = tmp_path / "bin" / "fake-compose"
    path.parent.mkdir(exist_ok=True)
    path.write_text(FAKE_COMPOSE.format(version=version), encoding="utf-8")
    path.chmod(0o755)
    return path


def error_line(stderr: str) -> str:
    """The single error line; fails on tracebacks or extra lines."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("zdd: error: ")
    return lines[0]


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["deploy", "--help"], ["services", "--help"]])
def test_help_exits_zero(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout


def test_deploy_help_lists_the_contract_options() -> None:
    result = runner.invoke(app, ["deploy", "--help"])
    for option in ("--file", "--project-name", "--compose-cmd", "--dry-run", "--stop-timeout"):
        assert option in result.stdout


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"zdd {__version__}\n"


def test_services_of_the_seed(seed_file: Path) -> None:
    result = runner.invoke(app, ["services", "-f", str(seed_file)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "project legacy (legacy/docker-compose.yml, legacy v1 format)",
        "  app -> service_a, service_b",
        "  not rolled out: proxy (proxy: image jwilder/nginx-proxy:0.2.0)",
    ]


def test_services_json(seed_file: Path) -> None:
    result = runner.invoke(app, ["services", "-f", str(seed_file), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "project": "legacy",
        "files": [str(seed_file)],
        "legacy": True,
        "groups": [{"base": "app", "siblings": ["service_a", "service_b"]}],
        "singles": [],
        "others": ["proxy"],
        "roles": {
            "proxy": {"role": "proxy", "reason": "image jwilder/nginx-proxy:0.2.0"},
            **{
                name: {"role": "app", "reason": "builds its image"}
                for name in ("app", "service_a", "service_b")
            },
        },
    }


def test_services_reads_compose_file_and_project_name_from_the_environment(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("p/one.yaml", "services:\n  app: {image: a}\n")
    write("p/two.yaml", "services:\n  web-1: {extends: {file: one.yaml, service: app}}\n")
    monkeypatch.chdir("p")
    monkeypatch.setenv("COMPOSE_FILE", "one.yaml:two.yaml")
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "shop")
    result = runner.invoke(app, ["services"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "project shop (one.yaml, two.yaml, compose spec)",
        "  app -> web-1",
    ]


def test_services_without_groups(write: Write) -> None:
    path = write("p/compose.yaml", "services:\n  db: {image: postgres}\n")
    result = runner.invoke(app, ["services", "-f", str(path)])
    assert result.exit_code == 0
    assert "  no groups: no service `extends` another one" in result.stdout


def test_malformed_yaml_is_one_line_exit_2(write: Write) -> None:
    path = write("p/compose.yaml", "services:\n  app:\n    image: x\n   bad: 1\n")
    result = runner.invoke(app, ["services", "-f", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    line = error_line(result.stderr)
    assert line.startswith(f"zdd: error: {path}:4: invalid YAML: ")


def test_debug_shows_the_exception(write: Write) -> None:
    path = write("p/compose.yaml", "")
    result = runner.invoke(app, ["services", "-f", str(path), "--debug"])
    assert isinstance(result.exception, ComposeFileError)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["services", "-f", "missing.yml"], "zdd: error: compose file not found: missing.yml"),
        (["services"], "zdd: error: no compose file in "),
        (["services", "-f", "p/compose.yaml", "-p", "Bad Name"], "invalid project name"),
        (["services", "-f", "p/cycle.yaml"], "zdd: error: compose rejects the project: Circular"),
    ],
    ids=["missing-file", "no-default-file", "invalid-p", "cycle"],
)
def test_compose_file_errors_exit_2(write: Write, args: list[str], message: str) -> None:
    write("p/compose.yaml", "services:\n  app: {image: a}\n")
    write("p/cycle.yaml", "services:\n  a: {extends: b}\n  b: {extends: a}\n")
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in error_line(result.stderr)


SEED_GATE = (  # no healthcheck: `/` on the siblings' port 3000, asked inside the container
    "# wait until http://127.0.0.1:3000/ answers below 500 in {sibling} (no healthcheck; at "
    "most 60 s)" + UNSEEN
)
# the seed's nginx-proxy finds the siblings itself (discovery): each new container is created,
# started off the proxy's network, gated, then connected
HELD_GATE = (
    "# start {sibling} off the proxy's network(s), then wait until http://127.0.0.1:3000/ "
    "answers below 500 in {sibling} (no healthcheck; at most 60 s)" + UNSEEN
)
CONNECT = (
    "# admit {sibling}: connect to the proxy's network(s) with the aliases compose gave, "
    "then wait 2 s for the proxy to find it"
)
DRY_RUNS = {
    # The seed's commands, but the shared context is built once and tagged per sibling.
    "the seed's own": ([], "legacy", [
        "{base} build --no-cache -- app",
        "docker tag -- legacy_app legacy_service_a",
        "{base} stop -- service_a",
        "{base} up --no-start --no-deps --no-build --force-recreate -- service_a",
        HELD_GATE.format(delay=5, sibling="service_a"),
        CONNECT.format(sibling="service_a"),
        "docker tag -- legacy_app legacy_service_b",
        "{base} stop -- service_b",
        "{base} up --no-start --no-deps --no-build --force-recreate -- service_b",
        HELD_GATE.format(delay=5, sibling="service_b"),
        CONNECT.format(sibling="service_b"),
    ]),
    "one sibling, flags": (
        ["service_b", "-p", "demo", "--stop-timeout", "20", "--delay", "2", "--cache"], "demo", [
        "{base} build -- app",
        "docker tag -- demo_app demo_service_b",
        "{base} stop -t 20 -- service_b",
        "{base} up --no-start --no-deps --no-build --force-recreate -- service_b",
        HELD_GATE.format(delay=2, sibling="service_b"),
        CONNECT.format(sibling="service_b"),
    ]),
    "the seed's own, --proxy none": (["--proxy", "none"], "legacy", [
        "{base} build --no-cache -- app",
        "docker tag -- legacy_app legacy_service_a",
        "{base} stop -- service_a",
        "{base} up -d --no-deps --no-build --force-recreate -- service_a",
        SEED_GATE.format(delay=5, sibling="service_a"),
        "docker tag -- legacy_app legacy_service_b",
        "{base} stop -- service_b",
        "{base} up -d --no-deps --no-build --force-recreate -- service_b",
        SEED_GATE.format(delay=5, sibling="service_b"),
    ]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(DRY_RUNS))
def test_deploy_dry_run_prints_the_sequence(tmp_path: Path, seed_file: Path, case: str) -> None:
    args, project, expected = DRY_RUNS[case]
    compose = fake_compose(tmp_path)
    result = runner.invoke(
        app, ["deploy", "--dry-run", "-f", str(seed_file), "--compose-cmd", str(compose), *args]
    )
    assert result.exit_code == 0, result.output
    base = f"{compose} -f {seed_file} -p {project}"
    assert result.stdout.splitlines() == [line.format(base=base) for line in expected]


def test_deploy_dry_run_json(tmp_path: Path, seed_file: Path) -> None:
    compose = fake_compose(tmp_path)
    args = ["deploy", "--dry-run", "--json", "-f", str(seed_file), "--compose-cmd", str(compose)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["mode"] + ["warning"] * 2 + ["plan"] * 11
    # the seed's nginx-proxy finds the siblings itself: discovery, and what that cannot promise
    assert (events[0]["proxy"], events[0]["reason"]) == (
        "discovery",
        "service 'proxy' shares network bridge with the siblings and nginx-proxy watches the "
        "docker engine",
    )
    assert "cannot drain an old one before it stops" in events[0]["message"]
    assert "service_a has no healthcheck" in events[1]["message"], "the seed's file has none"
    assert events[3]["step"].endswith(" build --no-cache -- app")


def test_deploy_dry_run_with_compose_v2_uses_a_translated_file(
    tmp_path: Path, seed_file: Path
) -> None:
    compose = fake_compose(tmp_path, "v2.20.2")
    result = runner.invoke(
        app, ["deploy", "--dry-run", "-f", str(seed_file), "--compose-cmd", str(compose)]
    )
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    match = re.fullmatch(
        rf"{compose} -f (\S+) -p legacy --project-directory {seed_file.parent} "
        "build --no-cache -- app",
        first,
    )
    assert match, first
    assert result.stdout.splitlines()[1] == "docker tag -- legacy-app legacy-service_a"
    translated = Path(match.group(1))
    assert translated.parent == tmp_path / "cache/zdd/legacy"
    assert translated.is_file()


def test_deploy_unknown_service_exits_2(tmp_path: Path, seed_file: Path) -> None:
    compose = fake_compose(tmp_path)
    args = ["deploy", "service_c", "--dry-run", "-f", str(seed_file), "--compose-cmd", str(compose)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert error_line(result.stderr) == (
        "zdd: error: unknown service 'service_c'; services in legacy: "
        "proxy, app, service_a, service_b"
    )


def test_deploy_with_nothing_to_roll_out_exits_2(tmp_path: Path, write: Write) -> None:
    compose = fake_compose(tmp_path)
    path = write("p/compose.yaml", "services:\n  db: {image: postgres}\n")
    result = runner.invoke(
        app, ["deploy", "--dry-run", "-f", str(path), "--compose-cmd", str(compose)]
    )
    assert result.exit_code == 2
    assert "nothing to roll out in project p" in error_line(result.stderr)


def test_missing_compose_binary_exits_3(seed_file: Path) -> None:
    args = ["deploy", "--dry-run", "-f", str(seed_file), "--compose-cmd", "/nonexistent/compose"]
    result = runner.invoke(app, args)
    assert result.exit_code == 3
    line = error_line(result.stderr)
    assert "no usable compose binary" in line
    assert "/nonexistent/compose" in line
    assert "install the Docker Compose v2 plugin (`docker compose`) or docker-compose 1.29" in line


def test_compose_binary_with_unexpected_version_exits_3(tmp_path: Path, seed_file: Path) -> None:
    compose = fake_compose(tmp_path, "not a version")
    result = runner.invoke(
        app, ["deploy", "--dry-run", "-f", str(seed_file), "--compose-cmd", str(compose)]
    )
    assert result.exit_code == 3
    assert "unexpected version output 'not a version'" in error_line(result.stderr)


@pytest.mark.parametrize("option", [["--delay", "-1"], ["--stop-timeout", "-5"]])
def test_out_of_range_options_exit_2(seed_file: Path, option: list[str]) -> None:
    result = runner.invoke(app, ["deploy", "--dry-run", "-f", str(seed_file), *option])
    assert result.exit_code == 2
    assert "Invalid value" in result.stderr


def test_shell_metacharacters_in_a_service_name_are_never_interpreted(
    tmp_path: Path, seed_file: Path
) -> None:
    compose = fake_compose(tmp_path)
    marker = tmp_path / "pwned"
    name = f"service_a;touch {marker}$(touch {marker})"
    args = ["deploy", name, "--dry-run", "-f", str(seed_file), "--compose-cmd", str(compose)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert error_line(result.stderr).startswith(f"zdd: error: unknown service {name!r}")
    assert not marker.exists()


def test_compose_version_is_cached_by_its_binary(tmp_path: Path) -> None:
    """docker-compose 1.x needs 0.4 s to print its version: it is asked once per binary."""
    from zdd.compose import detect_compose
    from zdd.runner import Runner

    compose = fake_compose(tmp_path, "1.29.2")
    cache = tmp_path / "cache" / "versions.json"
    first = Runner()
    assert detect_compose(first, str(compose), cache).version == "1.29.2"
    again = Runner()
    assert detect_compose(again, str(compose), cache).version == "1.29.2"
    assert (first.calls, again.calls) == (1, 0)
    compose.write_text(FAKE_COMPOSE.format(version="v2.40.3 "), encoding="utf-8")  # upgraded
    upgraded = Runner()
    assert detect_compose(upgraded, str(compose), cache).major == 2
    assert upgraded.calls == 1


def test_compose_plugin_version_is_cached_by_the_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`docker compose version` is asked again only when the plugin file changes, or when the
    docker CLI is told of plugin places zdd does not look in."""
    from zdd.compose import detect_compose
    from zdd.runner import Runner

    docker = tmp_path / "bin" / "docker"
    docker.parent.mkdir()
    docker.write_text('#!/bin/sh\n[ "$1 $2" = "compose version" ] && echo v2.40.3\n')
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{docker.parent}:/usr/bin:/bin")
    config = tmp_path / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    plugin = config / "cli-plugins" / "docker-compose"
    plugin.parent.mkdir(parents=True)
    plugin.write_text("v2.40.3", encoding="utf-8")
    cache = tmp_path / "cache" / "versions.json"

    def calls() -> int:
        runner = Runner()
        assert detect_compose(runner, None, cache).argv == ("docker", "compose")
        return runner.calls

    assert [calls(), calls()] == [1, 0]
    plugin.write_text("v2.41.0 (upgraded)", encoding="utf-8")
    assert [calls(), calls()] == [1, 0]
    (config / "config.json").write_text('{"cliPluginsExtraDirs": ["/opt/x"]}', encoding="utf-8")
    assert [calls(), calls()] == [1, 1]


def test_rollback_dry_run_retags_then_replaces_each_sibling(
    tmp_path: Path, seed_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zdd.app.rollout

    # as if service_b ran with a release to go back to (the refusal without one: engine tier)
    monkeypatch.setattr(zdd.app.rollout, "_check_targets", lambda session, plan: None)
    compose = fake_compose(tmp_path)
    args = ["rollback", "service_b", "--dry-run", "-f", str(seed_file), "--compose-cmd"]
    result = runner.invoke(app, [*args, str(compose), "--delay", "2"])
    assert result.exit_code == 0, result.output
    base = f"{compose} -f {seed_file} -p legacy"
    assert result.stdout.splitlines() == [
        "# docker tag <previous release of service_b> <service_b's image>",
        f"{base} stop -- service_b",
        f"{base} up --no-start --no-deps --no-build --force-recreate -- service_b",
        HELD_GATE.format(delay=2, sibling="service_b"),
        CONNECT.format(sibling="service_b"),
    ]


def test_ctrl_c_while_zdd_starts_is_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the CLI is even imported, a Ctrl-C has changed nothing: one line, exit 130."""
    import zdd.cli
    from zdd.__main__ import main

    def interrupted(**_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(zdd.cli, "app", interrupted)
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "zdd: interrupted\n"


def test_ctrl_c_as_the_command_ends_is_still_an_interrupt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Ctrl-C that stops a command which has just ended is not "No such process" (exit 2)."""
    from zdd.runner import Runner

    pending = Runner().start(["true"])
    pending.process.wait()
    pending.process.process.wait()  # reaped: its process group is gone

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pending.process, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pending.result()


@pytest.mark.parametrize("name", ["--remove-orphans", "-x", ".", ".."])
def test_a_service_name_that_could_be_a_flag_or_a_path_is_refused(write: Write, name: str) -> None:
    path = write(
        "p/compose.yaml", f"services:\n  app: {{image: a}}\n  '{name}': {{extends: app}}\n"
    )
    result = runner.invoke(app, ["services", "-f", str(path)])
    assert result.exit_code == 2
    line = error_line(result.stderr)
    assert line.startswith(f"zdd: error: service name {name!r}") or "compose rejects" in line


def test_compose_argv_puts_service_names_after_a_double_dash(tmp_path: Path, write: Write) -> None:
    path = write("p/compose.yaml", "services:\n  app: {build: .}\n  _a-1.x: {extends: app}\n")
    args = ["deploy", "--dry-run", "-f", str(path), "--compose-cmd", str(fake_compose(tmp_path))]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    commands = [line for line in result.stdout.splitlines() if "fake-compose" in line]
    assert [line.split(" -p p ")[1] for line in commands] == [
        "build --no-cache -- app",
        "stop -- _a-1.x",
        "up -d --no-deps --no-build --force-recreate -- _a-1.x",
    ]


def test_a_failure_under_json_is_an_error_event(tmp_path: Path, seed_file: Path) -> None:
    args = ["deploy", "nope", "--dry-run", "--json", "-f", str(seed_file)]
    result = runner.invoke(app, [*args, "--compose-cmd", str(fake_compose(tmp_path))])
    assert result.exit_code == 2
    event = json.loads(result.stdout.splitlines()[-1])
    assert event["event"] == "error" and event["exit_code"] == 2
    assert "unknown service 'nope'" in event["message"]


@pytest.mark.parametrize("bad", [["--drain-timeout", "inf"], ["--bogus"]])
def test_a_usage_error_under_json_is_an_error_event_too(bad: list[str]) -> None:
    result = runner.invoke(app, ["deploy", "--json", *bad])
    assert result.exit_code == 2
    event = json.loads(result.stdout)
    assert event["event"] == "error" and event["exit_code"] == 2
    assert len(result.stderr.splitlines()) == 1 and event["message"] in result.stderr


def test_an_unexpected_exception_is_one_line_and_exit_70(
    seed_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zdd.session

    def broken(*_args: object) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(zdd.session, "load_project", broken)
    result = runner.invoke(app, ["services", "-f", str(seed_file)])
    assert result.exit_code == 70
    assert result.stderr.strip().splitlines() == [
        "zdd: error: unexpected ValueError: a bug (a bug in zdd: rerun with --debug for the "
        "traceback)"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["deploy", "--drain-timeout", "inf"],
        ["deploy", "--drain-timeout", "nan"],
        ["deploy", "--health-timeout", "1e12"],
        ["rollback", "--monitor", "-1"],
        ["probe", "http://127.0.0.1:9/", "--duration", "1e12"],
        ["deploy", "--bogus"],
        ["nope"],
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    line = error_line(result.stderr)
    assert line.endswith("--help)") and "Usage:" not in result.stderr


BOMB = "x-bomb:\n  a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  {n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
BAD_INPUTS = {
    # name: (compose file text, extra args, .env bytes, words of the one error line)
    "non-utf8-compose": (b"services:\n  app: {image: \"a\xff\"}\n  s: {extends: app}\n", [],
                         None, "not UTF-8 (byte 27)"),
    "non-utf8-env": (b"services:\n  app: {image: a}\n  s: {extends: app}\n", [], b"A=\xff\n",
                     "/.env: not UTF-8 (byte 2); compose v1 cannot read"),
    "alias-bomb": (BOMB.encode() + b"services:\n  app: {image: a}\n  s: {extends: app}\n", [],
                   None, "aliases expand to more than 200,000 values"),
    "retries-many": (b"services:\n  app: {image: a, healthcheck: {test: [CMD, 'true'], "
                     b"retries: many}}\n  s: {extends: app}\n", [], None,
                     "healthcheck.retries to appropriate type"),
    "neither-build-nor-image": (b"services:\n  app: {expose: ['80']}\n  s: {extends: app}\n",
                                [], None, "neither an image nor a build context"),
    "x-zdd-port-http": (b"services:\n  proxy: {image: n}\n  app: {image: a, x-zdd: {port: http}}"
                        b"\n  s: {extends: app}\n  t: {extends: app}\n", ["--proxy", "nginx"], None,
                        "x-zdd: port: a port is a number from 1 to 65535, got 'http'"),
    "compose-cmd-unterminated": (b"services:\n  app: {image: a}\n  s: {extends: app}\n",
                                 ["--compose-cmd", "'unterminated"], None, "No closing quotation"),
    "verify-ftp": (b"services:\n  app: {image: a}\n  s: {extends: app}\n",
                   ["--verify", "ftp://x"], None, "probe URL must be http://"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_before_any_change(tmp_path: Path, case: str) -> None:
    text, args, env, words = BAD_INPUTS[case]
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "compose.yaml").write_bytes(text)
    if env is not None:
        (tmp_path / "p" / ".env").write_bytes(env)
    compose = [] if "--compose-cmd" in args else ["--compose-cmd", str(fake_compose(tmp_path))]
    result = runner.invoke(
        app, ["deploy", "--dry-run", "--project-directory", "p", *compose, *args]
    )
    assert result.exit_code == 2, result.output
    assert words in error_line(result.stderr)


def test_a_probe_url_with_an_impossible_port_is_refused() -> None:
    result = runner.invoke(app, ["probe", "http://127.0.0.1:99999/", "--duration", "1"])
    assert result.exit_code == 2
    assert "probe URL must be http://" in error_line(result.stderr)


def test_an_extends_chain_1200_deep_resolves(write: Write) -> None:
    chain = "".join(f"  s{i}: {{extends: s{i - 1}}}\n" for i in range(1, 1200))
    path = write("p/compose.yaml", "services:\n  s0: {image: a, expose: ['80']}\n" + chain)
    result = runner.invoke(app, ["services", "--json", "-f", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["groups"][0] == {"base": "s0", "siblings": ["s1199"]}


def test_an_interrupted_probe_reports_what_it_measured() -> None:
    """Ctrl-C (SIGINT here; SIGTERM takes the same path) ends `zdd probe` with its report."""
    import os
    import signal
    import threading

    # Python's own Ctrl-C handler, whatever a test before this one in the worker left
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        args = ["probe", "http://127.0.0.1:9/", "--duration", "60", "--rate", "20", "--json"]
        result = runner.invoke(app, args)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert result.exit_code == 130
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["probe", "error"]
    assert events[0]["requests"] > 0 and events[0]["failures"] == {
        "connection": events[0]["failed"]
    }


def test_messages_carry_no_terminal_escapes(
    seed_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container's log or health output quoted in an error cannot drive the terminal."""
    import zdd.session

    def hostile(*_args: object) -> None:
        raise ComposeFileError("log: \x1b]0;pwned\x07\x1b[2J done")

    monkeypatch.setattr(zdd.session, "load_project", hostile)
    result = runner.invoke(app, ["services", "-f", str(seed_file)])
    assert result.exit_code == 2
    assert error_line(result.stderr) == "zdd: error: log: ?]0;pwned??[2J done"
