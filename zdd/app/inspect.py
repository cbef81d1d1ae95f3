"""The commands that change nothing: `zdd services`, `zdd status`, `zdd check`, `zdd probe`."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zdd.app.rollout import choose_options, choose_proxy
from zdd.app.session import Connection, open_project
from zdd.app.swarm import refuse_on_swarm, swarm_findings, swarm_tasks, uses_swarm

if TYPE_CHECKING:
    from zdd.plan import DeployOptions, Plan
    from zdd.preflight import Finding
    from zdd.probe import Report
    from zdd.project import Project
    from zdd.proxy import ProxyMode
    from zdd.status import SiblingStatus
    from zdd.swarm import Engine
    from zdd.swarm.watch import Task


def read_project(connection: Connection) -> Project:
    """The project as compose reads it (no engine needed)."""
    with open_project(connection, engine_needed=False) as session:
        return session.project


@dataclass(frozen=True)
class Status:
    """Each sibling as the engine and the proxy see it, and who holds the lock (None: free)."""

    project: str
    lock: str | None
    rows: list[SiblingStatus]


@dataclass(frozen=True)
class SwarmStatus:
    """The tasks Swarm wants running for the project's stack."""

    project: str
    tasks: list[Task]


def project_history(
    connection: Connection, record: str | None, html: str | None = None
) -> list[dict[str, Any]]:
    """The project's records on its engine, newest first (history.py); with `record`, that
    one record whole, alone in the list, drawn in the file `html` if given."""
    from zdd.errors import UsageError
    from zdd.history import listing, one
    from zdd.history_page import page

    if html and not record:
        raise UsageError("--html draws one run: give its ID (`zdd history` lists them)")
    with open_project(connection) as session:
        name = session.project.name
        if not record:
            return listing(session.runner, name)
        found = one(session.runner, name, record)
    if html:
        with open(html, "w", encoding="utf-8") as out:
            out.write(page(found))
    return [found]


def project_status(
    connection: Connection,
    proxy: ProxyMode,
    proxy_service: str,
    engine: Engine | None,
) -> Status | SwarmStatus:
    """`zdd status`: the siblings (or Swarm's tasks) and the lock."""
    from zdd.status import collect

    with open_project(connection, identify=True) as session:
        if uses_swarm(session.project, engine):
            return SwarmStatus(session.project.name, swarm_tasks(session))
        choice, service = choose_proxy(session.project, proxy, proxy_service, refuse=False)
        rows, lock = collect(session, choice.mode, service)
        return Status(session.project.name, lock, rows)


def check_project(
    connection: Connection, asked: DeployOptions, engine: Engine | None
) -> list[Finding]:
    """The preflight alone: what a deploy would refuse or warn about (Swarm: what the stack
    file cannot carry). Needs no engine."""
    from zdd.plan import build_plan
    from zdd.preflight import preflight

    with open_project(connection, engine_needed=False) as session:
        options = choose_options(session.project, asked)
        if uses_swarm(session.project, engine):
            refuse_on_swarm(asked)
            return swarm_findings(session)
        plan = build_plan(session.project, session.cli, options)
        findings = preflight(session.project, options, plan.groups, plan.singles, plan.start_first)
        return [*_roles(session.project, plan), *findings]


def _roles(project: Project, plan: Plan) -> list[Finding]:
    """Each service's role, its evidence, and what this plan does with it (`info` findings,
    from the very plan `zdd deploy` runs)."""
    from zdd.preflight import Finding

    bases = {group.base for group in project.groups}
    found = []
    for name, service in project.services.items():
        if name in plan.start_first:
            what = "rolled out start-first"
        elif name in plan.units:
            what = "replaced stop-first, in turn"
        elif name in bases:
            built = "built" if service.builds else "its image pulled"
            what = f"{built}, never run (the base of its siblings)"
        else:
            what = "not touched"
        evidence = service.evidence
        said = f"{evidence.role}, {evidence.reason}" if evidence.reason else str(evidence.role)
        found.append(Finding("info", f"{name} ({said}): {what}"))
    return found


@dataclass(frozen=True)
class ProbeOptions:
    """What `zdd probe` was asked (named as the command line's options)."""

    url: str
    duration: float = 10.0  # seconds
    concurrency: int = 8  # parallel clients
    method: str = "GET"
    max_requests: int = 100_000
    rate: float | None = None  # requests per second over all clients; None: no limit


def measure(options: ProbeOptions, show: Callable[[Report], None]) -> None:
    """Probe the URL and `show` what was measured, also when interrupted (Ctrl-C, SIGTERM: then
    KeyboardInterrupt); VerifyError (exit 5) when a request failed."""
    from zdd.errors import UsageError, VerifyError
    from zdd.probe import Probe

    method = options.method
    if method.upper() not in ("GET", "POST"):
        raise UsageError(f"--method must be GET or POST, got {method!r}")
    probe = Probe(
        options.url,
        concurrency=options.concurrency,
        method=method,
        max_requests=options.max_requests,
        rate=options.rate,
    )
    interrupted = False
    try:
        with _sigterm_interrupts():
            probe.start().wait(options.duration)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what was measured is still reported
        interrupted = True
    report = probe.stop()
    show(report)
    if interrupted:
        raise KeyboardInterrupt
    if report.failed:
        raise VerifyError(f"{report.failed} of {report.requests} requests failed")


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the block, as Ctrl-C does."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
