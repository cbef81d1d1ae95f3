"""The rule behind every reading of a project: for any project a user brings, zdd sees what
compose itself sees, or refuses in one line.

Hypothesis writes projects the ways users do (compose_projects.py) and, for compose v2 and v1,
compares zdd's model with compose's own answer, asked as the user would ask it (their flags,
their directory, their environment): which services, each one's configuration, the project's
name and directory; and with the meaning the generator wrote: the `extends` edges, the host
ports, the healthcheck switched off or the gate it implies, the replicas. Where compose
refuses the project, zdd refuses it too, in one line and with an exit code from the table.

Fixed seeds, 4 shards of 500 projects per compose version (2,000 each per run). Compose v1 is
asked in one long-lived process (compose_v1_server.py: the same `main()` docker-compose
runs, without 0.5 s of interpreter start per call); a test below shows it answers as the real
`docker-compose` does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, seed, settings

from zdd.compose import ComposeBinary, detect_compose
from zdd.errors import ComposeCommandError, ExitCode, ZddError
from zdd.ports import ScriptShell, Started
from zdd.project import (
    LoadOptions,
    Project,
    healthcheck_disabled,
    healthcheck_of,
    load_project,
    published_ports,
    replicas,
)
from zdd.project.rawyaml import parse_output
from zdd.runner import Runner

from .compose_projects import ANY, Case, Port, cases

pytestmark = pytest.mark.compose
SERVER = Path(__file__).with_name("compose_v1_server.py")
V1_PYTHON = "/usr/bin/python3"  # the interpreter Debian's docker-compose runs under
PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins",
               "/usr/lib/docker/cli-plugins")  # fmt: skip
SHARDS, PER_SHARD = 4, 500  # 2,000 projects per compose version per run
TABLE = {int(code) for code in ExitCode} - {int(ExitCode.INTERNAL)}


def _required(what: str) -> None:
    if os.environ.get("ZDD_REQUIRE_ENGINE"):
        pytest.fail(f"{what} is required (scripts/engine-up.sh)")
    pytest.skip(f"{what} is not installed (scripts/engine-up.sh)")


class V1Server:
    """Compose v1 in one process (compose_v1_server.py); also a zdd CommandRunner for it."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [V1_PYTHON, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.seconds, self.calls = 0.0, 0

    def ask(self, op: str, argv: Sequence[str], env: Mapping[str, str]) -> dict[str, Any]:
        """One request, answered (the server is local: a hang is a failure of the test)."""
        assert self.process.stdin and self.process.stdout
        request = {"op": op, "argv": list(argv), "cwd": os.getcwd(), "env": dict(env)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the compose v1 server ended"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        merge_stderr: bool = False,
    ) -> str:
        """zdd's compose calls (CommandRunner.run): only `config` is asked while loading."""
        assert stdin is None and not merge_stderr, argv
        self.calls += 1
        answer = self.ask("run", argv, os.environ if env is None else env)
        if answer["rc"]:
            raise ComposeCommandError(argv, answer["rc"], answer["stderr"])
        return str(answer["stdout"])

    def start(self, argv: Sequence[str], **options: Any) -> Started:
        """Nothing runs in the background while a project loads."""
        raise AssertionError(f"not while loading: {argv}")

    def shell(self, argv: Sequence[str]) -> ScriptShell:
        """Nor in a shell."""
        raise AssertionError(f"not while loading: {argv}")

    def close(self) -> None:
        """End the server."""
        for stream in (self.process.stdin, self.process.stdout):
            if stream:
                stream.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def v1() -> Iterator[V1Server]:
    """Compose v1's `main()` in one long-lived process."""
    found = subprocess.run([V1_PYTHON, "-c", "import compose.cli.main"], check=False,
                           capture_output=True)  # fmt: skip
    if found.returncode:
        _required("docker-compose 1.29 (Debian's package)")
    server = V1Server()
    yield server
    server.close()


@pytest.fixture(scope="module")
def v2() -> ComposeBinary:
    """The compose v2 plugin's binary, called directly (half the time of `docker compose`)."""
    for folder in PLUGIN_DIRS:
        path = Path(folder) / "docker-compose"
        if path.is_file():
            return detect_compose(Runner(), str(path))
    _required("the compose v2 plugin")
    raise AssertionError  # not reached


def compose_answer(
    version: int, case: Case, env: Mapping[str, str], v2: ComposeBinary, v1: V1Server
) -> dict[str, Any] | None:
    """Compose's own answer, asked as the user asks it: the services, the project's name and
    its directory (where compose puts `./data`); None where compose refuses the project."""
    if version == 2:
        argv = [*v2.argv, *case.flags, "config", "--format", "json"]
        done = subprocess.run(argv, capture_output=True, text=True, env=dict(env), check=False,
                              timeout=60)  # fmt: skip
        if done.returncode:
            return None
        model = json.loads(done.stdout)
        source = model["services"]["anchor"]["volumes"][0]["source"]
        return {"services": model["services"], "name": model["name"],
                "directory": str(Path(source).parent)}  # fmt: skip
    argv = ["docker-compose", *case.flags, "config"]
    answer = v1.ask("run", argv, env)
    if answer["rc"]:
        return None
    model = parse_output(answer["stdout"])
    project = v1.ask("project", argv, env)
    assert project["rc"] == 0, project
    source = model["services"]["anchor"]["volumes"][0].split(":", 1)[0]
    assert str(Path(source).parent) == project["working_dir"]
    return {"services": model["services"], "name": project["name"],
            "directory": project["working_dir"]}  # fmt: skip


def covered(ports: Sequence[Any]) -> set[Port]:
    """(address, protocol, port) for every host port zdd reads from the configuration."""
    return {
        ("" if port.address in ANY else port.address, port.protocol, number)
        for port in ports
        for number in range(port.first, port.last + 1)
    }


def agree(project: Project, theirs: dict[str, Any], case: Case) -> None:
    """zdd's model is compose's answer and the generator's meaning."""
    assert project.name == theirs["name"]
    assert str(project.directory) == theirs["directory"]
    assert set(project.services) == set(theirs["services"]) == set(case.meanings)
    for name, service in project.services.items():
        config = {key: value for key, value in service.config.items() if key != "x-zdd"}
        assert config == theirs["services"][name], name
        meaning = case.meanings[name]
        assert (service.parent, service.template) == (meaning.parent, meaning.template), name
        assert covered(published_ports(service.config)) == meaning.ports, name
        assert healthcheck_disabled(service.config) == meaning.disabled, name
        assert healthcheck_of(service.config) == meaning.budget, name
        assert replicas(service.config) == meaning.replicas, name


def check(version: int, case: Case, root: Path, v2: ComposeBinary, v1: V1Server) -> str:
    """One project on one compose version: what happened, for hypothesis' statistics."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    case.write(root)
    where = root / case.cwd
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "PWD": str(where),
           "XDG_CACHE_HOME": str(root / "cache"), **case.environ}  # fmt: skip
    with contextlib.chdir(where):
        theirs = compose_answer(version, case, env, v2, v1)
        flags = dict(zip(case.flags[::2], case.flags[1::2], strict=True))
        options = LoadOptions(
            files=tuple(case.flags[i + 1] for i, f in enumerate(case.flags) if f == "-f"),
            project_name=flags.get("-p"),
            cwd=Path(os.getcwd()),
            environ=env,
        )
        binary = v2 if version == 2 else ComposeBinary(("docker-compose",), "1.29.2")
        try:
            project = load_project(options, binary, Runner() if version == 2 else v1)
        except ZddError as err:
            assert int(err.exit_code) in TABLE, err
            assert len(str(err).strip().splitlines()) == 1, err
            assert theirs is None, f"zdd refuses what compose accepts: {err}"
            return "both refuse"
    assert theirs is not None, "zdd accepts what compose refuses"
    agree(project, theirs, case)
    return "both accept"


@pytest.mark.parametrize("shard", range(SHARDS))
@pytest.mark.parametrize("version", [2, 1])
def test_zdd_sees_the_project_compose_sees(
    version: int, shard: int, v2: ComposeBinary, v1: V1Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    root = tmp_path_factory.mktemp(f"agree{version}-{shard}") / "root"
    checked = []

    @seed(1000 * version + shard)
    @settings(max_examples=PER_SHARD, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(case=cases())
    def agrees(case: Case) -> None:
        outcome = check(version, case, root, v2, v1)
        for feature in case.features:
            event(f"{feature}: {outcome}")
        checked.append(outcome)

    agrees()
    assert len(checked) >= PER_SHARD  # the projects this run really compared


@seed(7)
@settings(
    max_examples=10,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=cases())
def test_compose_v1_in_one_process_answers_as_docker_compose_does(
    v1: V1Server, tmp_path_factory: pytest.TempPathFactory, case: Case
) -> None:
    """The server's answer is the real `docker-compose config`'s, byte for byte, refusals too."""
    root = tmp_path_factory.getbasetemp() / "v1-same"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    case.write(root)
    where = root / case.cwd
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "PWD": str(where), **case.environ}
    argv = ["docker-compose", *case.flags, "config"]
    with contextlib.chdir(where):
        real = subprocess.run(argv, capture_output=True, text=True, env=env, check=False,
                              timeout=60)  # fmt: skip
        answer = v1.ask("run", argv, env)
    assert (answer["rc"], answer["stdout"]) == (real.returncode, real.stdout)
