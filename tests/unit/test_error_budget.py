"""The error budget: the managed nginx's `zdd` log read per container, the verdict on a new
container against the others, the admission window in the plan, and the executor rolling a
sibling (stop-first) or a service's new replicas (start-first) back when they are over it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zdd.deploy import probed
from zdd.errors import ComposeFileError, DeployError, ExitCode
from zdd.plan import DeployOptions, Watch, build_plan
from zdd.probe import Probe
from zdd.probe import Sample as Request
from zdd.project import check_settings
from zdd.proxy import NoRotation, ProxyMode
from zdd.proxy.nginx_files import LOGS_FOR_ZDD, Window
from zdd.traffic import Budget, Sample, breach, parse

from .fake_proxy import FakeRotation
from .fakes import NEW, OLD, FakeClock
from .stacks import (
    BUILD,
    NGINX,
    START,
    cli_for,
    prepare,
    put_back,
    released,
    seed_engine,
    seed_project,
    turn,
    web_stack,
)

LOG = (
    "1765100000.100 172.18.0.3:3000 200 0.003\n"
    "1765100000.200 172.18.0.4:3000 500 0.002\n"
    # refused by one, answered by the next: an error for the first only
    "1765100000.300 172.18.0.4:3000, 172.18.0.3:3000 502, 200 0.000, 0.004\n"
    # nothing rendered: the upstream's own name, then the fallback's address
    "1765100000.400 app : 172.18.0.3:3000 502 : 200 - : 0.005\n"
    "1765100000.500 172.18.0.4:3000 - -\n"  # no answer at all
)


def test_each_try_counts_for_the_container_it_went_to() -> None:
    samples = parse(LOG)
    assert set(samples) == {"172.18.0.3:3000", "172.18.0.4:3000"}
    three, four = samples["172.18.0.3:3000"], samples["172.18.0.4:3000"]
    assert (three.requests, three.errors, three.seconds) == (3, 0, [0.003, 0.004, 0.005])
    assert (four.requests, four.errors, four.seconds) == (3, 3, [0.002, 0.0])


def test_a_window_reads_only_complete_lines_of_its_group() -> None:
    window = Window("app", {"172.18.0.4:3000"}, {"172.18.0.3:3000"})
    half = LOG + "1765100000.600 172.18.0.4:30"  # nginx is writing it
    new, others = window.take(half)
    assert (new.requests, new.errors, others.requests) == (3, 3, 3)
    assert window.offset == len(LOG.encode())
    assert window.read_script().startswith(f"tail -c +{len(LOG) + 1} ")
    new, _ = window.take("1765100000.600 10.9.9.9:80 200 0.001\n")  # another group's server
    assert new.requests == 3


def _sample(requests: int, errors: int, seconds: float) -> Sample:
    return Sample(requests, errors, [seconds] * (requests - errors))


@pytest.mark.parametrize(
    ("new", "others", "budget", "why"),
    [
        ((100, 20, 0.003), (100, 0, 0.003), Budget(), "failed share 20.0% against 0.0%"),
        ((100, 20, 0.003), (100, 18, 0.003), Budget(), ""),  # the others fail as much
        ((19, 19, 0.003), (100, 0, 0.003), Budget(), ""),  # too few requests to judge
        ((100, 4, 0.003), (100, 0, 0.003), Budget(max_error_rate=0.01), ""),  # 4 stray 500s
        ((100, 0, 0.100), (100, 0, 0.020), Budget(max_latency_ratio=3), "median time 5.0x"),
        ((100, 0, 0.004), (100, 0, 0.001), Budget(max_latency_ratio=3), ""),  # under 10 ms
        ((100, 0, 0.100), (100, 0, 0.020), Budget(max_latency_ratio=0), ""),  # off
        ((100, 0, 0.100), (5, 0, 0.020), Budget(max_latency_ratio=3), ""),  # no baseline
    ],
)
def test_the_verdict(
    new: tuple[int, int, float], others: tuple[int, int, float], budget: Budget, why: str
) -> None:
    found = breach(_sample(*new), _sample(*others), budget)
    assert found.startswith(why) and bool(found) == bool(why), found


@given(
    st.integers(0, 500),
    st.integers(0, 500),
    st.integers(20, 500),
    st.floats(0, 1),
)
def test_a_new_container_that_fails_no_more_than_the_others_is_never_over_budget(
    errors: int, extra: int, requests: int, rate: float
) -> None:
    errors = min(errors, requests)
    others = _sample(requests + extra, min(errors + extra, requests + extra), 0.003)
    new = _sample(requests, errors, 0.003)
    if new.error_rate <= others.error_rate:
        assert breach(new, others, Budget(max_error_rate=rate)) == ""


NGINX_CONF = """
http {
    log_format zdd '$msec $upstream_addr $upstream_status $upstream_response_time';
    map $host $zdd_window { include /etc/nginx/zdd/window*.map; }
    access_log /tmp/zdd-traffic.log zdd if=$zdd_window;
}
"""


def test_zdd_knows_an_nginx_that_logs_for_it() -> None:
    assert LOGS_FOR_ZDD.search(NGINX_CONF)
    assert not LOGS_FOR_ZDD.search(NGINX_CONF.replace("/tmp/zdd-traffic.log", "/var/log/x"))
    assert not LOGS_FOR_ZDD.search("http { access_log /tmp/zdd-traffic.log combined; }")


@pytest.mark.parametrize(
    ("options", "windows"),
    [
        (NGINX, [(2.0, False), (2.0, False)]),  # the default window, where nginx logs
        (DeployOptions(proxy=ProxyMode.NGINX, monitor=7), [(7.0, True), (7.0, True)]),
        (DeployOptions(proxy=ProxyMode.NGINX, monitor=0), []),  # asked: no window
        (DeployOptions(proxy=ProxyMode.NONE, monitor=7), []),  # no traffic: the gate watches
    ],
)
def test_the_window_follows_each_admission_behind_the_managed_nginx(
    options: DeployOptions, windows: list[tuple[float, bool]]
) -> None:
    seed = seed_project()
    plan = build_plan(seed, cli_for(seed), options)
    kinds = [s.kind for s in plan.steps if s.service == "service_a"]
    found = [(s.seconds, s.asked) for s in plan.steps if isinstance(s, Watch)]
    assert found == windows
    if windows:
        assert kinds[-2:] == ["admit", "watch"]


BAD = (Sample(100, 20, [0.003] * 80), Sample(100, 0, [0.003] * 100))
GOOD = (Sample(100, 0, [0.003] * 100), Sample(100, 0, [0.003] * 100))
OVER = "over the error budget 0.1 s after admission, failed share 20.0% against 0.0% (new: 20 "
OVER += "of 100 failed (20.0%), median 3 ms; the others: 0 of 100 failed (0.0%), median 3 ms)"


def test_a_later_sibling_over_budget_is_drained_and_put_back() -> None:
    seed = seed_project()
    engine, rotation = seed_engine(seed), FakeRotation(logged={"service_a": GOOD})
    rotation.logged["service_b"] = BAD
    run, plan, events = prepare(seed, engine, NGINX, rotation)
    with pytest.raises(DeployError) as failed:
        run.run(plan)
    assert engine.writes() == [
        BUILD,
        *turn("service_a"),
        released("service_a"),
        *turn("service_b"),
        *put_back("service_b"),
    ]
    assert rotation.calls == [
        *START,
        "drain service_a",
        "admit service_a service_a-2",
        "open_window service_a service_a-2",
        "close_window",
        "drain service_b",
        "admit service_b service_b-3",
        "open_window service_b service_b-3",
        "close_window",
        "drain service_b",  # out of rotation before it is recreated on its old image
        "admit service_b service_b-4",
    ]
    assert rotation.members == {"service_a": ["service_a-2"], "service_b": ["service_b-4"]}
    assert engine.running() == {
        "service_a": {"service_a-2": NEW},
        "service_b": {"service_b-4": OLD},
    }
    assert failed.value.exit_code == ExitCode.DEPLOY_FAILED
    assert str(failed.value) == (
        f"service_b: {OVER}; service_b is back on its previous version; the siblings after it "
        "were not touched"
    )
    judged = [e.data for e in events if e.kind == "step" and e.data.get("kind") == "watch"]
    assert judged[0]["traffic"] == {
        "new": {"requests": 100, "failed": 0, "median": 0.003},
        "others": {"requests": 100, "failed": 0, "median": 0.003},
    }


def test_new_replicas_over_budget_leave_the_warm_old_ones_serving() -> None:
    shop, engine = web_stack(2)
    rotation = FakeRotation(logged={"web": BAD})
    run, plan, _ = prepare(shop, engine, NGINX, rotation, existing={"web": 2})
    with pytest.raises(DeployError) as failed:
        run.run(plan)
    assert rotation.calls == [
        "sync",
        "check_order web",
        "route web +web-2,web-3 -",
        "open_window web web-2,web-3",
        "close_window",
        "route web + -web-2,web-3",
    ]
    assert rotation.members == {"web": ["web-0", "web-1"]}
    assert engine.running() == {"web": {"web-0": OLD, "web-1": OLD}}
    assert str(failed.value) == (
        f"web: {OVER}; web kept its 2 old container(s); the new ones are removed; the siblings "
        "after it were not touched"
    )


def test_without_a_log_the_default_window_says_so_and_waits_for_nothing() -> None:
    seed = seed_project()
    engine, rotation = seed_engine(seed), FakeRotation()
    run, plan, events = prepare(seed, engine, NGINX, rotation)
    run.run(plan)
    said = [e.message for e in events if e.kind == "step" and e.data.get("kind") == "watch"]
    assert said == [
        f"# no admission window for {s}: the proxy does not log requests for zdd (README: "
        "The error budget)"
        for s in ("service_a", "service_b")
    ]
    assert run.gating.waited < 1


@pytest.mark.parametrize(
    ("settings", "options", "budget"),
    [
        ({}, NGINX, Budget(0.05, 5.0)),
        ({"max_error_rate": 0.01, "max_latency_ratio": 3}, NGINX, Budget(0.01, 3)),
        (
            {"max_error_rate": 0.01},
            DeployOptions(proxy=ProxyMode.NGINX, max_error_rate=0.2, max_latency_ratio=0),
            Budget(0.2, 0),
        ),
    ],
)
def test_the_budget_is_the_flags_else_x_zdd_else_the_defaults(
    settings: dict[str, float], options: DeployOptions, budget: Budget
) -> None:
    seed = replace(seed_project(), settings=check_settings(settings))
    plan = build_plan(seed, cli_for(seed), options)
    assert {s.budget for s in plan.steps if isinstance(s, Watch)} == {budget}


@pytest.mark.parametrize("value", [-0.1, 1.5, "5%", True, None])
def test_an_x_zdd_budget_that_is_no_share_is_refused(value: object) -> None:
    with pytest.raises(ComposeFileError, match=r"^x-zdd: max_error_rate must be a number from 0"):
        check_settings({"max_error_rate": value})


PLENTY = (Sample(250, 0, [0.003] * 250), Sample(250, 0, [0.003] * 250))
FEW = (Sample(60, 0, [0.003] * 60), Sample(60, 0, [0.003] * 60))
ALONE = (Sample(250, 0, [0.003] * 250), Sample())  # no others to compare times with


@pytest.mark.parametrize(
    ("traffic", "monitor", "watched"),
    [
        (PLENTY, None, "0.5 s"),  # 100 requests in budget end it (looks at 0.1, 0.3, 0.5 s)
        (FEW, None, "2.0 s"),  # 60 requests: not enough, the whole default window
        (ALONE, None, "2.0 s"),  # nothing to compare times with: the whole window
        ((Sample(), Sample()), None, "0.5 s"),  # nobody calls it: nothing would come to judge
        ((Sample(), Sample()), 2.0, "2.0 s"),  # asked for: watched whole, idle or not
        (PLENTY, 2.0, "2.0 s"),  # asked for: watched whole
    ],
)
def test_a_default_window_ends_once_the_requests_are_evidence_enough(
    traffic: tuple[Sample, Sample], monitor: float | None, watched: str
) -> None:
    seed = seed_project()
    engine = seed_engine(seed)
    rotation = FakeRotation(logged={"service_a": traffic, "service_b": traffic})
    run, plan, events = prepare(seed, engine, replace(NGINX, monitor=monitor), rotation)
    run.run(plan)
    said = [e.message for e in events if e.kind == "step" and e.data.get("kind") == "watch"]
    assert [line.split(" on real traffic")[0] for line in said] == [
        f"# watched {s} {watched}" for s in ("service_a", "service_b")
    ]


VERIFY = "http://127.0.0.1:9/"


def verify_probe(failing_every: int) -> Probe:
    """A --verify probe (never started) that saw 400 good requests in the 4 s before the
    deploy (clock 0), then one request each 10 ms, every `failing_every`th of them a 500."""
    probe = Probe(VERIFY)
    probe.report.samples += [Request(-4 + i / 100, 0.003, None, "1") for i in range(399)]
    probe.report.samples += [
        Request(i / 100, 0.003, "5xx" if i % failing_every == 0 else None, "2")
        for i in range(1, 3000)
    ]
    return probe


def test_the_window_follows_each_admission_behind_any_proxy_with_a_verify_probe() -> None:
    seed = seed_project()
    for mode in (ProxyMode.NONE, ProxyMode.DISCOVERY, ProxyMode.EXTERNAL):
        options = DeployOptions(proxy=mode, verify=VERIFY)
        plan = build_plan(seed, cli_for(seed), options)
        found = [(s.seconds, s.asked) for s in plan.steps if isinstance(s, Watch)]
        assert found == [(2.0, False), (2.0, False)], mode


@pytest.mark.parametrize("failing_every", [5, 1000])
def test_behind_a_proxy_that_logs_nothing_the_verify_probe_feeds_the_budget(
    failing_every: int,
) -> None:
    """A fifth of the requests since service_a's admission failed: it is put back, exit 1,
    with the probe's numbers against those before the deploy; without failures both pass."""
    seed, clock = seed_project(), FakeClock()
    engine = seed_engine(seed)
    rotation, on_step = probed(NoRotation(), verify_probe(failing_every), lambda *_: None, clock)
    options = DeployOptions(delay=0.0, proxy=ProxyMode.NONE, verify=VERIFY)
    run, plan, events = prepare(seed, engine, options, rotation, clock=clock, on_step=on_step)
    if failing_every == 1000:
        run.run(plan)
        said = [e.message for e in events if e.kind == "step" and e.data.get("kind") == "watch"]
        assert said[0].startswith(
            "# watched service_a 1.1 s on the --verify probe's requests since admission (old "
            "and new containers alike): 0 of 109 failed (0.0%), median 3 ms; before the "
            "deploy: 0 of 399 failed (0.0%), median 3 ms: within budget"
        ), said
        return
    with pytest.raises(DeployError) as failed:
        run.run(plan)
    assert engine.writes() == [BUILD, *turn("service_a"), *put_back("service_a")]
    assert str(failed.value).startswith(
        "service_a: over the error budget 0.3 s after admission, failed share 17.2% against 0.0% "
        "(new: 5 of 29 failed (17.2%), median 3 ms; before the deploy: 0 of 399 failed"
    ), failed.value
    assert failed.value.exit_code == ExitCode.DEPLOY_FAILED
