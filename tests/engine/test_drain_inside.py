"""A drain behind a proxy zdd does not control: the seed's kind of nginx (resolving the app's
network alias) in front of an app that exits at once on SIGTERM, so any request in flight
when its container stops is cut. With --drain-image, each old container refuses new
connections from inside (nginx retries them on the other sibling) and stops only once its
open ones are done."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.engine.conftest import (
    NETFILTER_IMAGE,
    Stack,
    docker,
    on,
    probe,
    record,
    served_versions,
)
from tests.engine.test_deploy import SCENARIOS, fetch
from tests.engine.test_faults import Background
from tests.engine.test_single import deploy_under_probe

pytestmark = pytest.mark.docker


@on("v1")  # the helper is the engine's; test_remote runs it with v2
def test_an_app_cut_by_sigterm_behind_a_discovery_proxy_is_drained_from_inside(
    stack: Stack,
) -> None:
    env, method, clients = SCENARIOS["slow-abrupt-post"]
    stack.env.update(env, ZDD_NGINX_CONF="./compose/proxy/discover.conf")
    stack.compose("up", "-d", "--", "proxy")  # the user's proxy: zdd starts only its own
    stack.deploy("--proxy", "discovery")
    (stack.directory / "service" / "VERSION").write_text("2\n")
    flags = ("--proxy", "discovery", "--drain-image", NETFILTER_IMAGE)
    result, report = deploy_under_probe(stack, "discovery drained inside, abrupt", method,
                                        clients, *flags)  # fmt: skip
    assert all(v.startswith("2-") for v in served_versions(report, 1.5))
    events = [json.loads(line) for line in result.stdout.splitlines()]
    mode = next(e for e in events if e["event"] == "mode")
    assert f"with --drain-image {NETFILTER_IMAGE}, each old container refuses" in mode["message"]
    steps = [e for e in events if e["event"] == "step"]
    assert [e["kind"] for e in steps] == ["build"] + ["tag", "drain", "stop", "up", "gate",
                                                      "admit"] * 2  # fmt: skip
    drains = [e["connections"] for e in steps if e["kind"] == "drain"]
    assert all(d["open"] > 0 and d["cut"] == 0 for d in drains), drains
    assert helpers(stack) == [], "every helper ended with its drain"

    # zdd killed mid-drain: the rule goes with the helper, the old container serves again
    (stack.directory / "service" / "VERSION").write_text("3\n")
    deploy = Background(stack, *flags)
    deploy.until(lambda: bool(helpers(stack)), 120, "started a drain helper")
    deploy.process.send_signal(signal.SIGKILL)
    deploy.finish()
    deadline = time.monotonic() + 30
    while helpers(stack) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert helpers(stack) == [], "the helper ended with zdd"
    report = probe(stack.url, "GET", 8).run(3)
    record("discovery, zdd killed mid-drain, after", stack, "SIGKILL", report)
    assert report.failed == 0 and report.requests > 0, report.summary()
    running = {s: c for s, c in stack.containers().items() if c["State"]["Running"]}
    assert set(running) == {"proxy", "service_a", "service_b"}, "killed within the drain"
    for sibling in ("service_a", "service_b"):  # straight to each, not through the proxy
        address = next(iter(running[sibling]["NetworkSettings"]["Networks"].values()))
        assert fetch(f"http://{address['IPAddress']}:3000/")["version"], sibling


def helpers(stack: Stack) -> list[str]:
    """The stack's drain helpers running on the engine (--drain-image)."""
    label = f"label=org.zdd.project={stack.project}"
    return docker("ps", "-q", "--filter", "label=org.zdd.helper=drain", "--filter", label).split()
