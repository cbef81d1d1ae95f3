"""The SSH connection zdd holds for an ssh:// engine: its argv, and which engine is in use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zdd.errors import ExitCode, UsageError
from zdd.remote import engine_address, engine_tunnel, ssh_argv
from zdd.runner import Runner

SOCKET = Path("/run/user/0/zdd-ssh-x/docker.sock")


def test_one_held_connection_forwards_the_engine_socket() -> None:
    assert ssh_argv("ssh://deploy@server.example:2222", SOCKET) == [
        "ssh", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
        "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3", "-o", "ConnectTimeout=20",
        "-L", f"{SOCKET}:/var/run/docker.sock", "-p", "2222", "-l", "deploy",
        "--", "server.example", "cat",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "address",
    [
        "ssh://-oProxyCommand=touch%20x",  # a host that would be an option
        "ssh://-x@server",  # a user that would be an option
        "ssh://server/var/run/other.sock",  # docker's ssh:// takes no path either
        "ssh://",
        "ssh://ser ver",
    ],
)
def test_an_address_that_is_not_a_host_is_refused(address: str) -> None:
    with pytest.raises(UsageError) as refused:
        ssh_argv(address, SOCKET)
    assert refused.value.exit_code == ExitCode.USAGE


def test_the_engine_in_use(tmp_path: Path) -> None:
    runner = Runner()
    assert engine_address(runner, {"DOCKER_HOST": "ssh://a"}) == "ssh://a"
    assert engine_address(runner, {"DOCKER_CONFIG": str(tmp_path)}) == ""
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "default"}))
    assert engine_address(runner, {"DOCKER_CONFIG": str(tmp_path)}) == ""


def test_no_tunnel_for_a_local_engine() -> None:
    environ = {"DOCKER_HOST": "unix:///var/run/docker.sock"}
    with engine_tunnel(Runner(), environ) as tunnel:
        assert tunnel.held is None and not tunnel.lost()
        assert environ == {"DOCKER_HOST": "unix:///var/run/docker.sock"}


def test_an_unreachable_ssh_engine_is_exit_3_and_leaves_nothing(tmp_path: Path) -> None:
    environ = {"DOCKER_HOST": "ssh://root@127.0.0.1:1", "XDG_RUNTIME_DIR": str(tmp_path)}
    with pytest.raises(Exception) as failed, engine_tunnel(Runner(), environ):
        pass
    assert getattr(failed.value, "exit_code", None) == ExitCode.COMPOSE_UNUSABLE
    assert "cannot reach the engine at ssh://root@127.0.0.1:1 over SSH" in str(failed.value)
    assert environ["DOCKER_HOST"] == "ssh://root@127.0.0.1:1"
    assert list(tmp_path.iterdir()) == []
