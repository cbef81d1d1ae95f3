"""Run a plan for `zdd deploy` / `zdd rollback`: engine check, proxy, rollout, verify."""

from __future__ import annotations

from collections.abc import Callable

from zdd.errors import VerifyError
from zdd.events import Event, Reporter
from zdd.plan import DeployOptions, Plan, Step
from zdd.probe import Probe, Report
from zdd.proxy import make_rotation
from zdd.rollout import Rollout
from zdd.session import Session


def execute(
    session: Session,
    plan: Plan,
    options: DeployOptions,
    report: Reporter,
    *,
    on_probe: Callable[[Report], None],
    on_step: Callable[[Step, str], None] = lambda step, old: None,
) -> None:
    """Run the plan (the caller holds the project's lock); with --verify, probe throughout."""
    rotation = make_rotation(
        options.proxy,
        session,
        proxy_service=options.proxy_service,
        drain_timeout=options.drain_timeout,
        warn=lambda message: report(Event("warning", message)),
        pre_stop=options.pre_stop,
        post_start=options.post_start,
        singles=plan.singles,
        start_first=plan.start_first,
        settle=options.settle,
    )
    rollout = Rollout(
        session.runner,
        session.cli,
        session.project.name,
        report,
        rotation,
        on_step=on_step,
        proxy=str(options.proxy),
    )
    if options.verify is None:
        rollout.run(plan)
        return
    probe = Probe(options.verify).start()
    try:
        rollout.run(plan)
    finally:
        seen = probe.stop()
        on_probe(seen)
    if seen.failed:
        raise VerifyError(f"--verify: {seen.failed} of {seen.requests} requests failed")
