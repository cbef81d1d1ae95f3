"""The engine stops in the middle of a deploy. It restarts the shared engine, so it carries the
`alone` mark: `make test-engine` runs it alone, after every other engine test.

Only where the engine was started by scripts/engine-up.sh (as in CI): a user's own engine
is never stopped by the tests.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.engine.conftest import REPO, Stack, note
from tests.engine.test_deploy import SIBLINGS, answers
from tests.engine.test_faults import Background, release

pytestmark = [pytest.mark.docker, pytest.mark.alone]
PIDFILE = Path("/run/zdd-dockerd.pid")


def engine_script(name: str) -> None:
    subprocess.run(
        ["bash", str(REPO / "scripts" / name)], check=True, capture_output=True, timeout=180
    )


@pytest.fixture(scope="module")
def compose_cmd(engine: None) -> str:
    """One engine restart is enough: compose v2 only (overrides the v1/v2 parametrisation)."""
    return "docker compose"


def test_engine_stopped_mid_deploy(stack: Stack) -> None:
    if not PIDFILE.exists():
        pytest.skip("the engine was not started by scripts/engine-up.sh: not ours to stop")
    stack.deploy()
    release(stack, "2")
    deploy = Background(stack)
    deploy.wait_for("--force-recreate -- service_a")
    try:
        engine_script("engine-down.sh")
        code = deploy.finish()
    finally:
        engine_script("engine-up.sh")
    error = deploy.lines[-1]
    note(f"engine stopped mid-deploy: exit {code}: {error[:160]}")
    assert code == 3, deploy.lines
    assert error.startswith("zdd: error: the Docker engine stopped answering"), error

    stack.deploy()
    containers = stack.containers()
    served = answers(stack.url)
    assert {a["host"] for a in served} == {containers[s]["Id"][:12] for s in SIBLINGS}
    assert all(a["version"].startswith("2-") for a in served)
