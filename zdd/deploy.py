"""Run a plan for `zdd deploy` / `zdd rollback`: engine check, proxy, rollout, verify."""

from __future__ import annotations

import time
from collections.abc import Callable

from zdd.errors import VerifyError
from zdd.events import Event, Reporter
from zdd.plan import Command, DeployOptions, Plan, Step, Verb
from zdd.probe import Probe, Report
from zdd.proxy import Rotation, make_rotation
from zdd.proxy.probed import ProbedRotation
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
    """Run the plan (the caller holds the project's lock); with --verify, probe throughout
    and judge each admission window on the probe's requests where the proxy logs none."""
    rotation: Rotation = make_rotation(
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
        drain_image=options.drain_image,
    )
    probe = Probe(options.verify).start() if options.verify is not None else None
    if probe is not None:
        rotation, on_step = probed(rotation, probe, on_step, time.monotonic)
    rollout = Rollout(
        session.runner,
        session.cli,
        session.project.name,
        report,
        rotation,
        on_step=on_step,
        proxy=str(options.proxy),
    )
    if probe is None:
        rollout.run(plan)
        return
    try:
        rollout.run(plan)
    finally:
        seen = probe.stop()
        on_probe(seen)
    if seen.failed:
        raise VerifyError(f"--verify: {seen.failed} of {seen.requests} requests failed")


def probed(
    rotation: Rotation,
    probe: Probe,
    on_step: Callable[[Step, str], None],
    clock: Callable[[], float],
) -> tuple[ProbedRotation, Callable[[Step, str], None]]:
    """The rotation whose windows read the --verify probe where its proxy logs nothing, and
    the step callback that ends the probe's baseline at the first step that changes something
    (any but the build)."""
    reading = ProbedRotation(rotation, probe, clock)

    def announce(step: Step, old: str) -> None:
        if not (isinstance(step, Command) and step.verb in (Verb.BUILD, Verb.PULL)):
            reading.changing()
        on_step(step, old)

    return reading, announce
