"""Long-lived connections at a drain: the managed nginx counts its connections to each drained
server (from /proc/net/tcp in the proxy) when the drain begins and when it ends; the deploy
says per drained sibling how many were open, finished and cut, in its step line and in --json."""

from __future__ import annotations

import pytest

from zdd.proxy.nginx_files import Connections, proc_address

from .fake_proxy import FakeRotation
from .stacks import NGINX, prepare, seed_engine, seed_project


@pytest.mark.parametrize(
    ("address", "written"),
    [
        ("172.18.0.3:3000", "030012AC:0BB8"),
        ("10.0.0.255:80", "FF00000A:0050"),
        ("[fd00::3]:3000", ""),  # IPv6: not counted
        ("app:3000", ""),
    ],
)
def test_an_address_as_proc_net_tcp_writes_it(address: str, written: str) -> None:
    assert proc_address(address) == written


def test_each_drain_says_what_it_found_open_finished_and_cut() -> None:
    seed = seed_project()
    engine = seed_engine(seed)
    rotation = FakeRotation(
        connections={"service_a": Connections(4, 0), "service_b": Connections(3, 2)}
    )
    run, plan, events = prepare(seed, engine, NGINX, rotation)
    run.run(plan)
    drains = [e for e in events if e.kind == "step" and e.data.get("kind") == "drain"]
    assert [e.data["connections"] for e in drains] == [
        {"open": 4, "finished": 4, "cut": 0},
        {"open": 3, "finished": 1, "cut": 2},
    ]
    assert drains[1].message == (
        "# drain service_b: out of rotation, wait for its in-flight requests (3 connection(s) "
        "open: 1 finished, 2 cut)"
    )


def test_a_drain_with_nothing_open_says_the_plain_step() -> None:
    seed = seed_project()
    rotation = FakeRotation(connections={"service_a": Connections(0, 0)})
    run, plan, events = prepare(seed, seed_engine(seed), NGINX, rotation)
    run.run(plan)
    drains = [e for e in events if e.kind == "step" and e.data.get("kind") == "drain"]
    assert (
        drains[0].message == "# drain service_a: out of rotation, wait for its in-flight requests"
    )
    assert drains[0].data["connections"] == {"open": 0, "finished": 0, "cut": 0}
    assert "connections" not in drains[1].data  # not counted
