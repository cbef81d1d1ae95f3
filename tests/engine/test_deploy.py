"""Deploys of the demo stack against a real engine, under load, with compose v2 and v1."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from tests.engine.conftest import Stack, probe, served_versions

pytestmark = pytest.mark.docker

SIBLINGS = ("service_a", "service_b")


def fetch(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


def answers(url: str, count: int = 20) -> list[dict[str, Any]]:
    return [fetch(url) for _ in range(count)]


def test_first_deploy_then_new_version(stack: Stack) -> None:
    stack.deploy()
    first = stack.containers()
    assert set(first) == {"proxy", *SIBLINGS}, "the base `app` is a template: never started"
    hosts = {a["host"] for a in answers(stack.url)}
    assert hosts == {first[s]["Id"][:12] for s in SIBLINGS}, "the proxy serves both siblings"
    old_version = fetch(stack.url)["version"]

    (stack.directory / "service" / "VERSION").write_text("2\n")
    load = probe(stack.url).start()
    progress = stack.deploy()
    time.sleep(2)
    report = load.stop()

    second = stack.containers()
    assert set(second) == {"proxy", *SIBLINGS}
    for sibling in SIBLINGS:
        assert second[sibling]["Id"] != first[sibling]["Id"]
        assert second[sibling]["Image"] != first[sibling]["Image"]
    served = answers(stack.url)
    assert {a["host"] for a in served} == {second[s]["Id"][:12] for s in SIBLINGS}
    versions = {a["version"] for a in served}
    assert old_version not in versions
    assert all(v.startswith("2-") for v in versions), versions
    print(f"\n[{stack.compose_cmd}] new version: {report.summary()}")
    assert "replaced 2 sibling(s)" in progress
    assert report.failed == 0, report.summary()
    assert served_versions(report, 1.5) == versions


def test_seed_legacy_file(stack: Stack) -> None:
    """The seed's own v1-format file: compose v1 runs it, compose v2 through the translation."""
    stack.compose_file = "compose/legacy/docker-compose.yml"
    progress = stack.deploy("--delay", "2")
    containers = stack.containers()
    assert set(containers) == set(SIBLINGS), "zdd rolls out the siblings only"
    for sibling in SIBLINGS:
        container = containers[sibling]
        networks = set(container["NetworkSettings"]["Networks"])
        assert networks == {"bridge"}, "v1 semantics: the default bridge network"
        port = container["NetworkSettings"]["Ports"]["3000/tcp"][0]["HostPort"]
        assert fetch(f"http://127.0.0.1:{port}/")["host"] == container["Id"][:12]
    if stack.compose_cmd == "docker compose":
        assert "/legacy/" in progress and "--project-directory" in progress


SCENARIOS = {
    # name: (app env, probe method, clients)
    "fast-get": ({}, "GET", 8),
    "fast-post": ({}, "POST", 8),
    "warmup-8s": ({"WARMUP_SECONDS": "8"}, "GET", 8),
    "late-port-8s": ({"LISTEN_DELAY_SECONDS": "8"}, "GET", 8),
    "slow-1.5s-get": ({"REQUEST_DELAY_SECONDS": "1.5"}, "GET", 96),
    "slow-1.5s-post": ({"REQUEST_DELAY_SECONDS": "1.5"}, "POST", 96),
    "slow-abrupt-post": (
        {"REQUEST_DELAY_SECONDS": "1.5", "SIGTERM_MODE": "abrupt"},
        "POST",
        96,
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_zero_failed_requests(stack: Stack, scenario: str) -> None:
    env, method, clients = SCENARIOS[scenario]
    stack.env.update(env)
    stack.deploy()
    (stack.directory / "service" / "VERSION").write_text("2\n")
    load = probe(stack.url, method)
    load.concurrency = clients
    load.start()
    started = time.monotonic()
    stack.deploy()
    seconds = time.monotonic() - started
    time.sleep(3)
    report = load.stop()
    summary = report.summary()
    print(f"\nRESULT zdd {scenario} [{stack.compose_cmd}] deploy {seconds:.1f}s {summary}")
    assert report.failed == 0, summary
    assert report.requests >= 1000, summary
    new = served_versions(report, 1.5)
    assert new and all(v.startswith("2-") for v in new), summary
