"""`zdd init`: the seed's own stack (v1 format, nginx-proxy, no healthcheck) moved to zdd's
managed nginx in one step, then deployed under load with the app warming up 8 s, the case
where the seed's script failed a third of the requests."""

from __future__ import annotations

import pytest

from tests.engine.conftest import Stack
from tests.engine.test_single import deploy_under_probe

pytestmark = pytest.mark.docker

LEGACY = "compose/legacy/docker-compose.yml"


def test_the_seed_stack_behind_zdds_nginx_in_one_step(stack: Stack) -> None:
    path = stack.directory / LEGACY
    path.write_text(path.read_text().replace('"8000:80"', f'"127.0.0.1:{stack.port}:80"'))
    stack.compose_file = LEGACY
    made = stack.zdd("init", "--write")
    assert made.returncode == 0, made.stderr
    assert made.stderr.splitlines()[-1].endswith("--proxy nginx --proxy-service proxy")
    flags = ("-f", "compose/legacy/docker-compose.zdd.yml", "--proxy", "nginx")
    flags += ("--proxy-service", "proxy", "--health-path", "/health")
    stack.deploy(*flags)
    # the seed's file passes no environment: the new release warms up 8 s by itself
    (stack.directory / "service" / "server.py").write_text(
        (stack.directory / "service" / "server.py")
        .read_text()
        .replace('_env_float("WARMUP_SECONDS")', "8.0")
    )
    (stack.directory / "service" / "VERSION").write_text("2\n")
    _result, report = deploy_under_probe(
        stack, "zdd init, seed stack, warm-up 8 s", "GET", 8, *flags
    )
    assert report.requests >= 1000, report.summary()
