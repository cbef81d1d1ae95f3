"""One service without siblings (compose/single/), rolled out start-first under load."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from typing import Any

import pytest
import yaml

from tests.engine.conftest import (
    Stack,
    docker,
    on,
    pairwise,
    probe,
    record,
    served_versions,
    settle,
)
from tests.engine.test_deploy import SCENARIOS, answers, split
from tests.engine.test_faults import Background, release
from zdd.probe import Report

pytestmark = pytest.mark.docker

SINGLE = "compose/single/docker-compose.yml"


def single(stack: Stack, replicas: int) -> Stack:
    """The stack switched to the single-service example with `replicas` copies of `app`."""
    path = stack.directory / SINGLE
    path.write_text(path.read_text().replace("replicas: 2", f"replicas: {replicas}"))
    stack.compose_file = SINGLE
    return stack


def app_containers(stack: Stack) -> dict[str, dict[str, Any]]:
    """id -> `docker inspect` of each container of `app`, running or not."""
    label = f"label=com.docker.compose.project={stack.project}"
    ids = docker("ps", "-aq", "--filter", label, "--filter", "label=com.docker.compose.service=app")
    if not ids.split():
        return {}
    return {c["Id"]: c for c in json.loads(docker("inspect", *ids.split()))}


def upstream(stack: Stack) -> list[str]:
    """The addresses zdd rendered for `app` in the proxy."""
    label = f"label=com.docker.compose.project={stack.project}"
    proxy = docker(
        "ps", "-q", "--filter", label, "--filter", "label=com.docker.compose.service=proxy"
    )
    text = docker("exec", proxy.strip(), "cat", "/etc/nginx/zdd/app/servers.conf")
    return sorted(
        line.split()[1].rstrip(";") for line in text.splitlines() if line.startswith("server")
    )


def addresses(containers: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    for c in containers.values():
        networks = c["NetworkSettings"]["Networks"]
        found += [f"{n['IPAddress']}:3000" for n in networks.values()]
    return sorted(found)


def deploy_under_probe(
    stack: Stack, what: str, method: str, clients: int, *flags: str
) -> tuple[subprocess.CompletedProcess[str], Report]:
    """`zdd deploy --json FLAGS` of a new version while the probe runs: it succeeds and no
    request fails; the measured line is recorded."""
    load = probe(stack.url, method, clients).start()
    started = time.monotonic()
    result = stack.zdd("deploy", "--json", *flags)
    seconds = time.monotonic() - started
    report = settle(load, 1000)
    record(what, stack, f"deploy {seconds:.1f}s", report)
    assert result.returncode == 0, result.stderr
    assert report.failed == 0, report.summary()
    return result, report


# each scenario and each count meets both compose versions
@pairwise("scenario, replicas", [("fast", 1), ("fast", 3), ("warmup-8s", 3), ("warmup-8s", 1)])
def test_start_first_zero_failed(stack: Stack, scenario: str, replicas: int) -> None:
    always, startup = split(SCENARIOS[scenario][0])
    _env, method, clients = SCENARIOS[scenario]
    single(stack, replicas).env.update(always)
    stack.deploy()
    stack.env.update(startup)
    old = app_containers(stack)
    assert len(old) == replicas

    (stack.directory / "service" / "VERSION").write_text("2\n")
    result, report = deploy_under_probe(stack, f"single x{replicas} {scenario}", method, clients)
    assert report.requests >= 500, report.summary()
    assert all(v.startswith("2-") for v in served_versions(report, 1.5))

    # capacity never drops: the new ones are admitted before any old one is drained
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["kind"] for e in events if e["event"] == "step"]
    assert kinds == ["build", "start", "gate", "admit", "watch", "drain", "retire"]
    assert events[-1]["services"] == ["app"] and events[-1]["routing_controlled"] is True

    new = app_containers(stack)
    assert len(new) == replicas and not set(new) & set(old), "exactly N, all of them new"
    assert all(c["State"]["Running"] for c in new.values())
    assert upstream(stack) == addresses(new), "the proxy routes to the N new ones only"
    assert {a["host"] for a in answers(stack.url, 10 * replicas)} == {i[:12] for i in new}


def test_crash_at_start_keeps_the_old_containers(stack: Stack) -> None:
    single(stack, 2).deploy()
    old = app_containers(stack)
    release(stack, "2", image_env={"CRASH_ON_START": "1"})
    load = probe(stack.url).start()
    result = stack.zdd("deploy")
    time.sleep(1)
    report = load.stop()
    record("single x2 crash at start", stack, f"exit {result.returncode}", report)
    assert result.returncode == 1, result.stderr
    assert "app kept its 2 old container(s); the new ones are removed" in result.stderr
    assert report.failed == 0, report.summary()
    after = app_containers(stack)
    assert set(after) == set(old), "the same old containers, no new one left over"
    assert all(c["State"]["Running"] for c in after.values())
    assert upstream(stack) == addresses(after)
    assert not any(v.startswith("2-") for v in served_versions(report, 1.0))


INTERRUPTS = {
    # point: (line to wait for, "" = the build command itself; the service replaced?, said)
    "during-build": ("", False, "nothing was changed"),
    "during-gate": ("--scale app=4", True, "interrupted: replaced app,"),
    "before-retire": ("admit the new app containers", True, "interrupted: replaced app,"),
}


@pairwise("point", list(INTERRUPTS))  # the siblings' test runs each point on both
def test_ctrl_c_leaves_n_serving_and_none_left_over(stack: Stack, point: str) -> None:
    marker, replaced, said = INTERRUPTS[point]
    single(stack, 2).deploy()
    old = app_containers(stack)
    release(stack, "2", slow_build=not marker)
    load = probe(stack.url).start()
    deploy = Background(stack)
    if marker:
        deploy.wait_for(marker)
    else:
        deploy.wait_for_command("build")
    deploy.process.send_signal(signal.SIGINT)
    code = deploy.finish()
    time.sleep(1)
    report = load.stop()
    record(f"single x2 SIGINT {point}", stack, f"exit {code}", report)
    assert code == 130, deploy.lines
    assert said in deploy.lines[-1], deploy.lines
    assert report.failed == 0, report.summary()
    after = app_containers(stack)
    assert len(after) == 2, "N serving, none left over"
    if replaced:
        assert not set(after) & set(old), "the N new ones"
    else:
        assert set(after) == set(old), "the N old ones, untouched"
    assert upstream(stack) == addresses(after)


@pairwise("scenario", ["fast", "warmup-8s"])
def test_sibling_group_start_first(stack: Stack, scenario: str) -> None:
    always, startup = split(SCENARIOS[scenario][0])
    _env, method, clients = SCENARIOS[scenario]
    stack.env.update(always)
    stack.deploy()
    stack.env.update(startup)
    before = {s: c["Id"] for s, c in stack.containers().items()}
    (stack.directory / "service" / "VERSION").write_text("2\n")
    what = f"siblings start-first {scenario}"
    result, report = deploy_under_probe(stack, what, method, clients, "--order", "start-first")
    assert all(v.startswith("2-") for v in served_versions(report, 1.5))
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["kind"] for e in events if e["event"] == "step"]
    one = ["tag", "start", "gate", "admit", "watch", "drain", "retire"]
    assert kinds == ["build", *one, *one], "never below full capacity: admit before drain"
    after = stack.containers()
    assert set(after) == {"proxy", "service_a", "service_b"}
    assert all(after[s]["Id"] != before[s] for s in ("service_a", "service_b"))
    assert len(app_containers(stack)) == 0, "the base `app` is never started"


def with_database(stack: Stack, network: str) -> str:
    """A stand-in database on a network the proxy is not on; the app joins both and answers
    503 until it can open a connection to the database (NEEDS_TCP)."""
    path = stack.directory / stack.compose_file
    project = yaml.safe_load(path.read_text())
    project["services"]["db"] = {
        "image": "${ZDD_PYTHON_IMAGE:-python:3.12-slim}",
        "command": ["python3", "-m", "http.server", "5432"],
        "networks": [network],
    }
    project["services"]["app"]["networks"][network] = {}
    project["networks"] = {network: {}}
    path.write_text(yaml.safe_dump(project, sort_keys=False))
    stack.env["NEEDS_TCP"] = "db:5432"
    return "db"


def aliases(container: dict[str, Any]) -> set[str]:
    networks = container["NetworkSettings"]["Networks"]
    return {a for n in networks.values() for a in n.get("Aliases") or ()}


DATABASE_FIRST = [("siblings, database on network backend", "fast"),
                  ("siblings, database on network zbackend", "fast")]  # fmt: skip


@pairwise(
    "shape, scenario",
    [
        # x1 fast is the x3 case with fewer containers: CI time goes to swarm
        ("single x1", "warmup-8s"),
        *(("single x3", s) for s in ("fast", "warmup-8s")),
        *(("siblings", s) for s in ("fast", "warmup-8s", "late-port-8s", "slow-1.5s")),
        # compose v1 creates a container on one network, the first by name: both orders, on
        # both versions
        *DATABASE_FIRST,
    ],
    both=DATABASE_FIRST,
)
def test_discovery_proxy_gets_gated_admission(stack: Stack, shape: str, scenario: str) -> None:
    """The seed's kind of proxy (an nginx resolving the app's network alias every second):
    each new container joins the proxy's network only once its gate passed."""
    always, startup = split(SCENARIOS[scenario][0])
    _env, method, clients = SCENARIOS[scenario]
    started = ["proxy"]
    if shape.startswith("siblings, database"):  # ready only once it reaches db while held
        started.append(with_database(stack, shape.rsplit(" ", 1)[1]))
    if shape.startswith("siblings"):
        stack.env.update(always, ZDD_NGINX_CONF="./compose/proxy/discover.conf")
        steps = ["build"] + ["tag", "stop", "up", "gate", "admit"] * 2
    else:
        replicas = int(shape.rsplit("x", 1)[1])
        single(stack, replicas).env.update(always, ZDD_NGINX_CONF="../proxy/discover.conf")
        steps = ["build", "start", "gate", "admit", "retire"]
    stack.compose("up", "-d", "--", *started)  # the user's proxy: zdd starts only its own
    stack.deploy("--proxy", "discovery")
    stack.env.update(startup)
    (stack.directory / "service" / "VERSION").write_text("2\n")
    what = f"discovery {shape} {scenario}"
    result, report = deploy_under_probe(stack, what, method, clients, "--proxy", "discovery")
    assert all(v.startswith("2-") for v in served_versions(report, 1.5))
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["kind"] for e in events if e["event"] == "step"] == steps
    assert events[-1]["routing_controlled"] is False, "zdd did not drain: it says so"
    for container in stack.containers().values():
        if container["Config"]["Labels"]["com.docker.compose.service"] not in started:
            assert "app-pool" in aliases(container), "connected with compose's aliases"


@on("v2")  # the batches' failure paths run on both
def test_parallelism_2_over_4_replicas_with_a_delay(stack: Stack) -> None:
    """update_config's batches on the compose engine: 2 new beside the 4 old, admitted, 2 old
    retired, a 1 s pause, then the other 2; no request fails."""
    single(stack, 4)
    path = stack.directory / SINGLE
    policy = "\n      update_config: {parallelism: 2, delay: 1s}"
    path.write_text(path.read_text().replace("replicas: 4", "replicas: 4" + policy))
    stack.deploy()
    old = set(app_containers(stack))
    (stack.directory / "service" / "VERSION").write_text("2\n")
    result, _ = deploy_under_probe(stack, "single x4 parallelism 2", "GET", 8)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    batch = ["start", "gate", "admit", "watch", "drain", "retire"]
    assert [e["kind"] for e in events if e["event"] == "step"] == ["build", *batch, "wait", *batch]
    retired = [e["message"] for e in events if e.get("kind") == "retire"]
    assert ["1-2 of 4" in retired[0], "3-4 of 4" in retired[1]] == [True, True], retired
    now = app_containers(stack)
    assert len(now) == 4 and not set(now) & old, "four new containers, every old one gone"


@pairwise("action", ["pause", "continue"])
def test_a_bad_release_in_batches_pauses_or_goes_on(stack: Stack, action: str) -> None:
    """A release that crashes: its first batch is put back; `pause` stops there, `continue`
    tries the second batch too (put back as well); either way exit 1 and the 4 old serve."""
    single(stack, 4)
    path = stack.directory / SINGLE
    policy = f"\n      update_config: {{parallelism: 2, failure_action: {action}}}"
    path.write_text(path.read_text().replace("replicas: 4", "replicas: 4" + policy))
    stack.deploy()
    old = set(app_containers(stack))
    release(stack, "2", image_env={"CRASH_ON_START": "1"})
    load = probe(stack.url).start()
    result = stack.zdd("deploy", "--json")
    report = settle(load, 300, seconds=1)
    record(f"single x4 batches, bad release, {action}", stack, f"exit {result.returncode}", report)
    assert result.returncode == 1, result.stderr
    assert report.failed == 0, report.summary()
    events = [json.loads(line) for line in result.stdout.splitlines()]
    starts = [e for e in events if e.get("kind") == "start"]
    error = result.stderr.strip().splitlines()[-1]
    if action == "pause":
        assert len(starts) == 1 and "the siblings after it were not touched" in error, error
    else:
        assert len(starts) == 2, "the second batch was tried too"
        assert "2 of 2 failed, each put back, and the rollout went on" in error, error
    assert set(app_containers(stack)) == old, "the four old containers serve, nothing else"
