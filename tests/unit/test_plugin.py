"""zdd as a docker CLI plugin: `docker zdd deploy ...`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zdd.plugin import split_docker_args


@pytest.mark.parametrize(
    ("args", "env", "own"),
    [
        (["zdd", "deploy", "-f", "x.yml"], {}, ["deploy", "-f", "x.yml"]),
        (["--context", "prod", "zdd", "status"], {"DOCKER_CONTEXT": "prod"}, ["status"]),
        (["-c", "prod", "--log-level", "warn", "zdd"], {"DOCKER_CONTEXT": "prod"}, []),
        (["--host=ssh://h", "zdd", "deploy", "zdd"], {"DOCKER_HOST": "ssh://h"}, ["deploy", "zdd"]),
        (["-H", "unix:///s", "--config", "/c", "zdd", "-h"],
         {"DOCKER_HOST": "unix:///s", "DOCKER_CONFIG": "/c"}, ["-h"]),
    ],
)  # fmt: skip
def test_docker_global_flags_choose_the_engine(
    args: list[str], env: dict[str, str], own: list[str]
) -> None:
    assert split_docker_args(args) == (env, own)


def test_the_docker_cli_lists_and_runs_it(tmp_path: Path) -> None:
    """The real docker CLI (no engine needed for this) finds the plugin and runs `docker zdd`."""
    docker = shutil.which("docker")
    if docker is None:
        if os.environ.get("ZDD_REQUIRE_ENGINE"):
            pytest.fail("the docker CLI is required (scripts/engine-up.sh)")
        pytest.skip("the docker CLI is not installed")
    plugins = tmp_path / "cli-plugins"
    plugins.mkdir()
    executable = plugins / "docker-zdd"
    executable.write_text(f"#!{sys.executable}\nfrom zdd.plugin import main\nmain()\n")
    executable.chmod(0o755)
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path)}
    metadata = subprocess.run(
        [str(executable), "docker-cli-plugin-metadata"], capture_output=True, check=True, env=env
    )
    assert json.loads(metadata.stdout)["SchemaVersion"] == "0.1.0"
    listed = subprocess.run(
        [docker, "--help"], check=False, capture_output=True, text=True, env=env
    )
    assert "zdd*" in listed.stdout
    helped = subprocess.run(
        [docker, "zdd", "deploy", "--help"], check=False, capture_output=True, text=True, env=env
    )
    assert helped.returncode == 0, helped.stderr
    assert "Usage: docker zdd deploy" in helped.stdout
