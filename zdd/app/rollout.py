"""`zdd deploy` and `zdd rollback`: open the project (holding its lock unless --dry-run),
choose the proxy, observe, plan, preflight, then return the plan or run it under a guardian."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from zdd.app.session import Connection, Progress, open_project
from zdd.app.swarm import SwarmPreview, refuse_on_swarm, swarm_rollout, uses_swarm
from zdd.history import Recorder

if TYPE_CHECKING:
    from zdd.events import Event, Reporter
    from zdd.guardian import Guardian
    from zdd.plan import DeployOptions, Plan
    from zdd.probe import Report as ProbeReport
    from zdd.project import Project
    from zdd.proxy import ProxyMode
    from zdd.proxy.choose import Choice
    from zdd.session import Session
    from zdd.swarm import Engine


@dataclass(frozen=True)
class RunOptions:
    """How a deploy or rollback runs (named as the command line's options)."""

    engine: Engine | None = None  # None: `x-zdd: {engine}`, else compose
    registry: str | None = None  # --engine swarm: the registry every node pulls from
    dry_run: bool = False  # only the plan, returned: no lock, no change
    lock_wait: float = 0.0  # seconds to wait for another deploy's lock; 0: exit 4 at once
    report: str | None = None  # a file the run's record is written to, too (history.py)


def roll_out(
    command: str, connection: Connection, asked: DeployOptions, run: RunOptions, progress: Progress
) -> Plan | SwarmPreview | None:
    """Deploy (`command` "deploy") or put the previous releases back ("rollback"): the plan
    (or Swarm's commands) with `run.dry_run`, else None once it ran. `asked.proxy` AUTO and
    an empty `asked.proxy_service` are chosen from the project."""
    dry_run = run.dry_run
    lock = None if dry_run else command
    with open_project(connection, lock, on_wait=progress.say, lock_wait=run.lock_wait) as session:
        if dry_run:
            return _roll_out(command, session, asked, run, progress, connection=connection)
        recorder = Recorder(command, sys.argv[1:])

        def tell(event: Event) -> None:
            recorder(event)
            progress.event(event)

        def probed(report: ProbeReport) -> None:
            recorder.probed(report)
            progress.probed(report)

        told = replace(progress, event=tell, probed=probed)
        try:
            _roll_out(command, session, asked, run, told, connection=connection)
        except BaseException as err:
            _keep(session, recorder.record(session.project.name, err), run.report, progress)
            raise
        _keep(session, recorder.record(session.project.name, None), run.report, progress)
    return None


def _keep(session: Session, record: dict[str, Any], path: str | None, progress: Progress) -> None:
    """Keep the run's record on the engine (and in `path`); a record that cannot be kept is
    said, never the run's failure."""
    from zdd.errors import ZddError
    from zdd.history import save

    try:
        progress.say(f"record {record['id']} kept on the engine ({save(session.runner, record)})")
    except (ZddError, OSError) as err:
        progress.say(f"warning: the record of this run was not kept on the engine: {err}")
    if path:
        try:
            with open(path, "w", encoding="utf-8") as out:
                json.dump(record, out, indent=1)
        except OSError as err:
            progress.say(f"warning: --report {path}: {err.strerror or err}")


def _roll_out(
    command: str,
    session: Session,
    asked: DeployOptions,
    run: RunOptions,
    progress: Progress,
    *,
    connection: Connection,
) -> Plan | SwarmPreview | None:
    """The use case inside the opened project (see roll_out)."""
    from zdd.plan import refuse_role

    dry_run = run.dry_run

    for name in asked.services:  # a named database is refused first, whatever the proxy
        if name in session.project.services:
            refuse_role(session.project.services[name], asked.allow_stateful)
    if uses_swarm(session.project, run.engine):
        refuse_on_swarm(asked)
        return swarm_rollout(
            command,
            session,
            asked,
            registry=run.registry,
            dry_run=dry_run,
            report=progress.event,
        )
    from zdd.observe import container_counts, image_checks  # inside: Ctrl-C here is 130
    from zdd.plan import build_plan, build_rollback_plan, image_names, start_first_units

    options = choose_options(session.project, asked)
    units = start_first_units(session.project, options)
    existing = container_counts(session.runner, session.project.name, units)
    if command == "deploy":
        images = image_names(session.project, session.cli, options)
        seen = image_checks(session.runner, images)
        plan = build_plan(session.project, session.cli, options, seen, existing)
    else:  # the previous releases' images are found while it runs
        plan = build_rollback_plan(session.project, session.cli, options, existing=existing)
    _enforce_preflight(session.project, options, plan, progress.event)
    if dry_run:
        if command == "rollback":  # what the run would refuse first: no release to go to
            _check_targets(session, plan)
        return plan
    _run(session, plan, options, progress, connection.argv(session.project.name))
    return None


def _check_targets(session: Session, plan: Plan) -> None:
    """A rollback's dry run refuses as the run would: a sibling not running, or without a
    previous release (exit 2), so that the plan it shows is one that can run."""
    from zdd.containers import project_containers
    from zdd.recovery import rollback_targets
    from zdd.releases import Ledger

    running = project_containers(session.runner, session.project.name)
    before = {c.service: c for c in running if c.running}
    rollback_targets(plan, before, Ledger(session.runner, session.project.name))


def choose_proxy(
    project: Project,
    proxy: ProxyMode,
    proxy_service: str,
    *,
    hooks: bool = False,
    stateful_only: bool = False,
    refuse: bool = True,
) -> tuple[Choice, str]:
    """The proxy mode and why, and the proxy's service: --proxy and --proxy-service, else the
    compose file's `x-zdd`, else what `auto` finds in the project (proxy/choose.py)."""
    from zdd.proxy.choose import choose_mode, proxy_service_of

    service = proxy_service_of(project, proxy_service)
    choice = choose_mode(
        project, project.settings, proxy, service, hooks, refuse=refuse, stateful_only=stateful_only
    )
    return choice, service


def choose_options(project: Project, asked: DeployOptions) -> DeployOptions:
    """The options asked for, with the proxy mode chosen as `--proxy auto` does."""
    from zdd.errors import UsageError
    from zdd.project import Role

    named = [project.services[n] for n in asked.services if n in project.services]
    stateful = [s.name for s in named if s.role is Role.STATEFUL]
    if asked.allow_stateful and stateful and len(stateful) < len(named):
        raise UsageError(
            f"--allow-stateful replaces stateful services on their own: deploy {stateful[0]} "
            "in a command of its own, without the apps"
        )
    choice, service = choose_proxy(
        project,
        asked.proxy,
        asked.proxy_service,
        hooks=bool(asked.pre_stop or asked.post_start),
        stateful_only=asked.allow_stateful and bool(stateful),
    )
    return replace(
        asked,
        proxy=choice.mode,
        proxy_service=service,
        proxy_reason=choice.reason,
        settle=max(asked.settle, choice.settle),  # what the proxy's resolver needs, at least
    )


def _enforce_preflight(
    project: Project, options: DeployOptions, plan: Plan, report: Reporter
) -> None:
    """Say the preflight's warnings; stop at its first refusal (exit 2), before any change."""
    from zdd.errors import UsageError
    from zdd.events import Event
    from zdd.preflight import preflight
    from zdd.proxy.choose import Choice
    from zdd.proxy.modes import MODES

    findings = preflight(project, options, plan.groups, plan.singles, plan.start_first)
    for finding in findings:
        if finding.level == "refuse":
            raise UsageError(finding.message)
    choice = Choice(options.proxy, options.proxy_reason)
    budget = "proxy" if MODES[choice.mode].observes else "--verify" if options.verify else None
    data = {"proxy": str(choice.mode), "reason": choice.reason, "budget": budget}
    said = choice.line(verify=options.verify is not None, drain_image=options.drain_image)
    report(Event("mode", said, data))
    for finding in findings:
        report(Event("warning", finding.message))


def _run(
    session: Session, plan: Plan, options: DeployOptions, progress: Progress, again: list[str]
) -> None:
    """Run the plan. With the managed nginx, a guardian heals the proxy if zdd dies; `again`:
    the options that open this project again."""
    from zdd.deploy import execute
    from zdd.errors import ZddError

    guardian = _guardian(session, options, again)
    try:
        execute(
            session,
            plan,
            options,
            progress.event,
            on_probe=progress.probed,
            on_step=lambda step, old: guardian.tell(f"{step.kind} {step.service or '-'} {old}"),
        )
    except (ZddError, KeyboardInterrupt):  # zdd says what state it left: nothing to heal
        guardian.done()
        raise
    guardian.done()  # not after any other exception: a crash is healed like a SIGKILL


def _guardian(session: Session, options: DeployOptions, again: list[str]) -> Guardian | _NoGuardian:
    """The deploy's guardian (runner.Guardian): it runs `zdd heal` if this process dies."""
    from zdd.guardian import Guardian
    from zdd.lock import lock_path
    from zdd.proxy.modes import capabilities

    if not capabilities(options.proxy).healed:
        return _NoGuardian()
    # -P: never the current directory first on sys.path (root would run a ./zdd/ it finds)
    argv = [sys.executable, "-P", "-m", "zdd.guard", str(os.getpid()), *again]
    argv += ["--proxy", "nginx", "--proxy-service", options.proxy_service]
    argv += ["--drain-timeout", str(options.drain_timeout)]
    argv += ["--stale-for", str((options.stop_timeout or 10) + 5)]  # compose's default stop: 10 s
    lock = lock_path(session.project.name, session.engine, os.environ)
    return Guardian(argv, lock.with_suffix(".heal.log"), env=session.environ)


class _NoGuardian:
    """Without a managed proxy there is nothing a guardian could heal."""

    def tell(self, line: str) -> None:
        """Nothing to tell."""

    def done(self) -> None:
        """Nothing to end."""
