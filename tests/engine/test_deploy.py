"""Deploys of the demo stack against a real engine, under load, with compose v2 and v1."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from tests.engine.conftest import Stack, docker, pairwise, probe, record, served_versions, settle

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
    result = stack.zdd("deploy", "--json")
    time.sleep(2)
    report = load.stop()
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    per_sibling = ["tag", "drain", "stop", "up", "gate", "admit", "watch"]
    assert [e["kind"] for e in events if e["event"] == "step"] == ["build", *per_sibling * 2]
    windows = [e["traffic"] for e in events if e.get("kind") == "watch"]
    assert all(w["new"]["requests"] > 0 and w["new"]["failed"] == 0 for w in windows), windows
    summary = events[-1]
    assert summary["event"] == "summary" and summary["siblings"] == list(SIBLINGS)
    assert summary["seconds"] > summary["command_seconds"] + summary["waited_seconds"] > 0

    second = stack.containers()
    assert set(second) == {"proxy", *SIBLINGS}
    for sibling in SIBLINGS:
        assert second[sibling]["Id"] != first[sibling]["Id"]
        assert second[sibling]["Image"] != first[sibling]["Image"]
    base = (
        f"{stack.project}-app" if stack.compose_cmd == "docker compose" else f"{stack.project}_app"
    )
    built = docker("image", "inspect", "--format", "{{.Id}}", base).strip()
    assert {second[s]["Image"] for s in SIBLINGS} == {built}, "one build, tagged for each sibling"
    served = answers(stack.url)
    assert {a["host"] for a in served} == {second[s]["Id"][:12] for s in SIBLINGS}
    versions = {a["version"] for a in served}
    assert old_version not in versions
    assert all(v.startswith("2-") for v in versions), versions
    record("zdd second deploy (new version)", stack, "exit 0", report)
    assert summary["message"] == (
        f"replaced 2 sibling(s) in {summary['seconds']:g} s; zdd controlled the routing (its nginx)"
    )
    assert summary["proxy"] == "nginx" and summary["routing_controlled"] is True
    assert report.failed == 0, report.summary()
    assert served_versions(report, 1.5) == versions


def test_seed_legacy_file(stack: Stack) -> None:
    """The seed's own v1-format file: compose v1 runs it, compose v2 through the translation.

    It has no healthcheck: the first deploy gates on an HTTP path requested inside each new
    container; the second runs --proxy external hooks around each replacement.
    """
    stack.compose_file = "compose/legacy/docker-compose.yml"
    progress = stack.deploy("--health-path", "/health")
    assert "/health answers 2xx in service_a" in progress
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

    hook = "sh -c 'echo {} $ZDD_SERVICE $ZDD_CONTAINER_ID >> hooks.log'"
    stack.deploy(
        "--delay", "1", "--proxy", "external",
        "--pre-stop", hook.format("pre-stop"), "--post-start", hook.format("post-start"),
    )  # fmt: skip
    after = stack.containers()
    lines = (stack.directory / "hooks.log").read_text().split("\n")
    assert lines[:4] == [
        f"pre-stop service_a {containers['service_a']['Id']}",
        f"post-start service_a {after['service_a']['Id']}",
        f"pre-stop service_b {containers['service_b']['Id']}",
        f"post-start service_b {after['service_b']['Id']}",
    ]


SCENARIOS = {
    # name: (app env, probe method, clients). GET+POST: the clients take turns, half of them
    # GET (which a proxy may retry on another upstream) and half POST (which it may not).
    # 160 clients of 1.5 s requests: ~100 requests/s.
    "fast": ({}, "GET+POST", 8),
    "warmup-8s": ({"WARMUP_SECONDS": "8"}, "GET", 8),
    "late-port-8s": ({"LISTEN_DELAY_SECONDS": "8"}, "GET", 8),
    "slow-1.5s": ({"REQUEST_DELAY_SECONDS": "1.5"}, "GET+POST", 160),
    "slow-abrupt-post": (
        {"REQUEST_DELAY_SECONDS": "1.5", "SIGTERM_MODE": "abrupt"},
        "POST",
        160,
    ),
}


STARTUP = ("WARMUP_SECONDS", "LISTEN_DELAY_SECONDS")  # how a container starts, nothing more


def split(env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """A scenario's app env: what the old version runs with too, and how the new release
    starts up (the first deploy, which only sets the stage, need not wait for that)."""
    startup = {k: v for k, v in env.items() if k in STARTUP}
    return {k: v for k, v in env.items() if k not in STARTUP}, startup


@pairwise("scenario", list(SCENARIOS), both=["fast"])
def test_zero_failed_requests(stack: Stack, scenario: str) -> None:
    env, method, clients = SCENARIOS[scenario]
    always, startup = split(env)
    stack.env.update(always)
    stack.deploy()
    stack.env.update(startup)
    (stack.directory / "service" / "VERSION").write_text("2\n")
    load = probe(stack.url, method, clients).start()
    started = time.monotonic()
    stack.deploy()
    seconds = time.monotonic() - started
    report = settle(load, 1000)
    summary = report.summary()
    record(f"zdd {scenario}", stack, f"deploy {seconds:.1f}s", report)
    assert report.failed == 0, summary
    assert report.requests >= 1000, summary
    new = served_versions(report, 1.5)
    assert new and all(v.startswith("2-") for v in new), summary


def wait_serving(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            fetch(url)
            return
        except (OSError, ValueError):
            time.sleep(0.5)
    raise AssertionError(f"{url} never answered")
