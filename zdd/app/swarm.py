"""`--engine swarm`: deploy or roll back the project's stack while zdd watches, list its tasks,
and say what its stack file cannot carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zdd.events import Reporter
    from zdd.plan import DeployOptions
    from zdd.preflight import Finding
    from zdd.project import Project
    from zdd.session import Session
    from zdd.swarm import Engine
    from zdd.swarm.watch import Task

SWARM_PROMISE = (
    "engine swarm: Swarm replaces one task at a time, start-first (stop-first for a service "
    "that publishes a port), puts a new task in DNS once its healthcheck passed (at once "
    "without one), takes an old one out 2 s before stopping it, and rolls back on the first "
    "failure; zdd watches and reports. The proxy must resolve tasks.SERVICE itself: zdd "
    "does not drain it"
)


def uses_swarm(project: Project, engine: Engine | None) -> bool:
    """Whether the command runs on Swarm: --engine, else `x-zdd: {engine}`, else compose."""
    return (engine or project.settings.get("engine")) == "swarm"


def refuse_on_swarm(asked: DeployOptions) -> None:
    """What the compose engine alone takes, refused on Swarm (deploy and check alike)."""
    from zdd.errors import UsageError

    if asked.allow_stateful:
        raise UsageError(
            "--allow-stateful is for the compose engine: on a swarm, update a stateful "
            "service yourself (`docker service update`)"
        )
    if asked.drain_image:
        raise UsageError(
            "--drain-image is for the compose engine: on a swarm, the proxy resolving "
            "`tasks.SERVICE` and Swarm's stop_grace_period drain a task"
        )


@dataclass(frozen=True)
class SwarmPreview:
    """What `--engine swarm --dry-run` shows."""

    project: str
    commands: list[tuple[str, ...]]  # a deploy's commands (image ids are known once built)
    stack_file: str | None  # the stack file a deploy renders (YAML); None: a rollback


def swarm_rollout(
    command: str,
    session: Session,
    asked: DeployOptions,
    *,
    registry: str | None,
    dry_run: bool,
    report: Reporter,
) -> SwarmPreview | None:
    """Render, push and `docker stack deploy`, then watch Swarm's update (or ask Swarm to roll
    each service back); with `dry_run`, only what it would run."""
    from zdd.errors import UsageError
    from zdd.events import Event
    from zdd.project import dump_yaml
    from zdd.swarm.rollout import SwarmDeploy, check_manager
    from zdd.swarm.stack import MONITOR, check_registry

    if asked.services:
        raise UsageError("--engine swarm deploys the whole project as one stack: name no service")
    registry = registry or session.project.settings.get("registry") or ""
    if not registry and command == "deploy":  # a rollback pushes nothing
        raise UsageError(
            "--engine swarm needs --registry HOST[:PORT], the registry every node pulls from"
        )
    swarm = SwarmDeploy(
        session.runner,
        session.cli,
        session.project,
        check_registry(registry) if registry else "",
        report,
        monitor=asked.monitor or MONITOR,
        health_timeout=asked.health_timeout,
    )
    build = {"build": asked.build, "no_cache": asked.no_cache, "pull": asked.pull}
    preview = SwarmPreview(session.project.name, [], None)
    if command == "deploy":
        stack = swarm.stack({unit: f"{registry}/<image-id>" for unit in swarm.images()})
        for warning in stack.warnings:
            report(Event("warning", warning))
        if dry_run:
            preview = SwarmPreview(preview.project, swarm.plan(**build), dump_yaml(stack.document))
    if dry_run:
        return preview
    check_manager(session.runner)
    report(Event("mode", SWARM_PROMISE, {"engine": "swarm"}))
    if command == "deploy":
        swarm.deploy(swarm.stack(swarm.publish(**build)))
    else:
        swarm.rollback()
    return None


def swarm_tasks(session: Session) -> list[Task]:
    """The tasks Swarm wants running, of every service of the project's stack."""
    from zdd.swarm.rollout import SwarmDeploy, check_manager

    check_manager(session.runner)
    return SwarmDeploy(session.runner, session.cli, session.project, "", _quiet).tasks()


def swarm_findings(session: Session) -> list[Finding]:
    """The stack file rendered with placeholder images: its refusal, or its warnings."""
    from zdd.errors import UsageError
    from zdd.preflight import Finding
    from zdd.swarm.rollout import SwarmDeploy

    swarm = SwarmDeploy(session.runner, session.cli, session.project, "", _quiet)
    try:
        stack = swarm.stack({unit: "<image>" for unit in swarm.images()})
    except UsageError as err:
        return [Finding("refuse", str(err))]
    return [Finding("warn", warning) for warning in stack.warnings]


def _quiet(event: object) -> None:
    """Swarm's events, where the command reports none."""
