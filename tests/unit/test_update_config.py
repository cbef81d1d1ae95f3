"""`deploy.update_config` on the compose engine (compose itself ignores it): a unit's `order`
and `monitor` are honoured where no flag says otherwise, the plan (and so --dry-run, `zdd
check`) shows them, and the preflight holds the file to what it holds a flag to."""

from __future__ import annotations

import pytest

from zdd.compose import ComposeCli
from zdd.order import Order
from zdd.plan import DeployOptions, Gate, Watch, build_plan
from zdd.preflight import preflight
from zdd.project import Project
from zdd.proxy import ProxyMode

from .conftest import Load, Write

NGINX = DeployOptions(proxy=ProxyMode.NGINX)


def _cli(project: Project) -> ComposeCli:
    """The argv builder that loaded the project (load_project always gives one)."""
    assert project.cli is not None
    return project.cli


def _plan(project: Project, options: DeployOptions = NGINX) -> tuple[list[str], list[Gate]]:
    cli = _cli(project)
    plan = build_plan(project, cli, options, existing={s: 1 for s in project.services})
    return [s.kind for s in plan.steps], [s for s in plan.steps if isinstance(s, Gate)]


SIBLINGS = """\
services:
  app:
    build: .
    expose: ["3000"]
    healthcheck: {{test: [CMD, "true"], interval: 1s}}
    deploy: {{update_config: {update}}}
  a: {{extends: app}}
  b: {{extends: app}}
"""


@pytest.mark.parametrize("compose", [2, 1])
def test_the_file_s_order_and_monitor_are_honoured_where_no_flag_says_otherwise(
    write: Write, load: Load, compose: int
) -> None:
    write("p/compose.yaml", SIBLINGS.format(update="{order: start-first, monitor: 15s}"))
    project = load(cwd="p", compose=compose)
    one = ["tag", "start", "gate", "admit", "watch", "drain", "retire"]
    cli = _cli(project)
    plan = build_plan(project, cli, NGINX, existing={s: 1 for s in project.services})
    assert [s.kind for s in plan.steps] == ["build", *one, *one], "start-first, as the file asks"
    windows = [s for s in plan.steps if isinstance(s, Watch)]
    assert [(w.seconds, w.asked) for w in windows] == [(15.0, True), (15.0, True)]
    assert "watch the new a containers 15 s on real traffic" in windows[0].describe()
    kinds, gates = _plan(project, DeployOptions(proxy=ProxyMode.NONE))  # no traffic to read
    assert [g.monitor for g in gates] == [15.0, 15.0]
    assert "then watch it 15 s" in gates[0].describe()
    flags = DeployOptions(proxy=ProxyMode.NGINX, order=Order.STOP_FIRST, monitor=0.0)
    kinds, gates = _plan(project, flags)  # flags override the file
    assert kinds == ["build", *["tag", "drain", "stop", "up", "gate", "admit"] * 2]
    assert [g.monitor for g in gates] == [0.0, 0.0]


def test_a_file_that_asks_start_first_where_two_copies_cannot_run_is_refused(
    write: Write, load: Load
) -> None:
    write("p/compose.yaml", "services:\n  web:\n    build: .\n    ports: ['8080:3000']\n"
          "    deploy: {update_config: {order: start-first}}\n")  # fmt: skip
    project = load(cwd="p")
    cli = _cli(project)
    plan = build_plan(project, cli, DeployOptions(proxy=ProxyMode.NONE), existing={"web": 1})
    found = preflight(project, DeployOptions(proxy=ProxyMode.NONE), (), plan.singles,
                      plan.start_first)  # fmt: skip
    refusals = [f.message for f in found if f.level == "refuse"]
    assert any("host port 8080" in m and "beside the old" in m for m in refusals), found


def test_a_file_that_asks_stop_first_takes_the_break_as_asked(write: Write, load: Load) -> None:
    """Stop-first asked for in the file is a warning (the user chose the break), as with
    --order stop-first; without a proxy zdd controls, it is the user's call."""
    write("p/compose.yaml", "services:\n  web:\n    build: .\n    expose: ['3000']\n"
          "    deploy: {update_config: {order: stop-first}}\n")  # fmt: skip
    project = load(cwd="p")
    cli = _cli(project)
    options = DeployOptions(proxy=ProxyMode.NONE)
    plan = build_plan(project, cli, options, existing={"web": 1})
    assert plan.start_first == ()
    found = preflight(project, options, (), plan.singles, plan.start_first)
    said = [(f.level, f.message) for f in found if "stop-first" in f.message]
    assert said == [("warn", "web is replaced stop-first because deploy.update_config.order is "
                     "stop-first: it serves no request from its stop until its new container "
                     "is ready")]  # fmt: skip
