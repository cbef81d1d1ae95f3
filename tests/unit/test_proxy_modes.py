"""The proxy modes' table (zdd/proxy/modes.py) is what the plan and the mode line follow: a
drain step only where the mode drains, an admit step only where it admits, new containers
held off the proxy's network only where admission is gated."""

from __future__ import annotations

import pytest

from zdd.order import Order
from zdd.plan import DeployOptions, Gate, Rotate, RotateAction, build_plan
from zdd.proxy import ProxyMode
from zdd.proxy.choose import PROBED_BUDGET, Choice
from zdd.proxy.modes import MODES

from .stacks import cli_for, seed_project


def test_every_mode_but_auto_has_a_row() -> None:
    """`auto` is a choice made before anything asks what a mode can do."""
    assert set(MODES) == set(ProxyMode) - {ProxyMode.AUTO}


@pytest.mark.parametrize("order", [Order.STOP_FIRST, Order.START_FIRST])
@pytest.mark.parametrize("mode", list(MODES))
def test_the_plan_drains_admits_and_holds_as_the_table_says(mode: ProxyMode, order: Order) -> None:
    project = seed_project()
    options = DeployOptions(delay=0.0, proxy=mode, order=order)
    plan = build_plan(project, cli_for(project), options, {}, {"service_a": 1, "service_b": 1})
    row = MODES[mode]
    for sibling in plan.siblings:
        steps = [s for s in plan.steps if s.service == sibling]
        rotations = [s.action for s in steps if isinstance(s, Rotate)]
        assert (RotateAction.DRAIN in rotations) is row.drains
        assert (RotateAction.ADMIT in rotations) is row.admits
        gate = next(s for s in steps if isinstance(s, Gate))
        assert gate.held is row.holds
        admits = [s for s in steps if isinstance(s, Rotate) and s.action is RotateAction.ADMIT]
        assert all(s.held is row.holds for s in admits)
        said = " ".join(s.describe() for s in admits)
        assert ("confirm" in said and "not confirmed" not in said) is row.confirms, said


@pytest.mark.parametrize("mode", list(MODES))
def test_the_mode_line_says_the_rows_promise(mode: ProxyMode) -> None:
    choice = Choice(mode, "--proxy")
    assert choice.line() == f"proxy: {mode} (--proxy): {MODES[mode].promise}"
    assert choice.controlled is MODES[mode].controlled
    # with a --verify probe, a mode whose proxy zdd does not read says the probe is the source
    probed = choice.line(verify=True)
    assert probed == choice.line() + ("" if MODES[mode].observes else f"; {PROBED_BUDGET}")
