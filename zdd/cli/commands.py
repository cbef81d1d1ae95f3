"""The `zdd` commands: each parses its options, calls one use case (zdd/app/) and prints what
it returns. A command's options are named after the fields of the request its use case takes
(Connection, DeployOptions, RunOptions, HealOptions, ProbeOptions): `_given` builds it."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from zdd import options as opt
from zdd import output
from zdd.app.inspect import (
    ProbeOptions,
    check_project,
    measure,
    project_history,
    project_status,
    read_project,
)
from zdd.app.nginx import HealOptions, heal_proxy, init_files
from zdd.app.rollout import RunOptions, roll_out
from zdd.app.session import Connection
from zdd.cli.boundary import OneLineErrors, boundary, printer, show
from zdd.errors import ExitCode
from zdd.proxy import ProxyMode

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Request = TypeVar("Request", bound="DataclassInstance")

app = typer.Typer(
    cls=OneLineErrors,
    help="Zero-downtime deploys for Docker Compose services: the seed's "
    "deploy-and-restart.sh (build, then stop and recreate each sibling in turn), made safe.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(version: opt.Version = False) -> None:
    """zdd: deploy a new version of a Docker Compose service without a failed request."""


def _given(request: type[Request], params: Mapping[str, Any]) -> Request:
    """`request` from a command's parameters of the same names: an option not given (None)
    leaves the field's default, a repeatable option's list becomes a tuple."""
    chosen = {f.name: params[f.name] for f in fields(request) if params.get(f.name) is not None}
    return request(**{k: tuple(v) if isinstance(v, list) else v for k, v in chosen.items()})


@app.command()
def deploy(
    services: opt.Services = None,
    file: opt.Files = None,
    project_name: opt.ProjectName = None,
    project_directory: opt.ProjectDir = None,
    env_file: opt.EnvFile = None,
    compose_cmd: opt.ComposeCmd = None,
    context: opt.Context = None,
    build: opt.Build = True,
    no_cache: opt.NoCache = True,
    pull: opt.Pull = False,
    delay: opt.Delay = 5.0,
    stop_timeout: opt.StopTimeout = None,
    health_timeout: opt.HealthTimeout = None,
    health_path: opt.HealthPath = None,
    monitor: opt.Monitor = None,
    max_error_rate: opt.MaxErrorRate = None,
    max_latency_ratio: opt.MaxLatencyRatio = None,
    order: opt.OrderOption = None,
    allow_stateful: opt.AllowStateful = False,
    proxy: opt.Proxy = ProxyMode.AUTO,
    proxy_service: opt.ProxyService = "",
    drain_timeout: opt.DrainTimeout = 30.0,
    drain_image: opt.DrainImage = None,
    settle: opt.Settle = 2.0,
    pre_stop: opt.PreStop = None,
    post_start: opt.PostStart = None,
    verify: opt.Verify = None,
    engine: opt.EngineOption = None,
    registry: opt.Registry = None,
    lock_wait: opt.LockWait = 0.0,
    report: opt.Report = None,
    dry_run: opt.DryRun = False,
    as_json: opt.Json = False,
    debug: opt.Debug = False,
) -> None:
    """Build, then replace each sibling in turn: drain, stop, up --force-recreate, gate, admit.

    Does what deploy-and-restart.sh does (build --no-cache, then stop and recreate
    service_a, sleep, service_b), with the siblings found from `extends`, each distinct
    build built once (siblings sharing their base's build get its image with `docker tag`)
    and a readiness gate in place of the blind sleep. A sibling that fails its gate goes back
    to its previous image and the rollout stops (exit 1); Ctrl-C finishes the sibling in
    progress and stops (exit 130).

    A service without siblings (named, or with no group every service that builds but the
    proxy) is rolled out start-first: N new containers beside the old (N: its replicas, else
    as many as run), each gated and admitted, then the old ones drained, stopped, removed.
    """
    _roll_out("deploy", locals())


def rollback(**params: Any) -> None:
    """Put each sibling's previous release back, one at a time, drained, gated and admitted.

    zdd tags every image a sibling served (zdd-release/PROJECT/SERVICE, the last 3 kept),
    so this works after a good deploy too. Run it twice to return to the newer release.
    """
    _roll_out("rollback", {**params, "build": False})


def _without(command: Any, *names: str) -> inspect.Signature:
    """A command's options but `names`, for typer to read as another command's."""
    shown = inspect.signature(command, eval_str=True)
    return shown.replace(parameters=[p for p in shown.parameters.values() if p.name not in names])


# deploy's options, but the build's own: rollback builds nothing
rollback.__signature__ = _without(deploy, "build", "no_cache", "pull")  # type: ignore[attr-defined]
app.command()(rollback)


def _roll_out(command: str, params: Mapping[str, Any]) -> None:
    """Deploy or roll back; print what --dry-run shows."""
    from zdd.plan import DeployOptions

    as_json = params["as_json"]
    with boundary(params["debug"], as_json):
        connection, run = _given(Connection, params), _given(RunOptions, params)
        shown = roll_out(command, connection, _given(DeployOptions, params), run, printer(as_json))
        show(output.dry_run_lines(shown, as_json))


@app.command()
def services(
    file: opt.Files = None,
    project_name: opt.ProjectName = None,
    project_directory: opt.ProjectDir = None,
    env_file: opt.EnvFile = None,
    compose_cmd: opt.ComposeCmd = None,
    context: opt.Context = None,
    as_json: opt.Json = False,
    debug: opt.Debug = False,
) -> None:
    """List the groups: each base service and the siblings that `extends` it."""
    with boundary(debug, as_json):
        show(output.services_lines(read_project(_given(Connection, locals())), as_json))


@app.command()
def probe(
    url: opt.Url,
    duration: opt.Duration = 10.0,
    concurrency: opt.Concurrency = 8,
    method: opt.Method = "GET",
    max_requests: opt.MaxRequests = 100_000,
    rate: opt.Rate = None,
    as_json: opt.Json = False,
    debug: opt.Debug = False,
) -> None:
    """The seed's curl loop, measured: failures by kind, longest outage, versions served."""
    with boundary(debug, as_json):
        measure(_given(ProbeOptions, locals()), printer(as_json).probed)


@app.command()
def status(
    file: opt.Files = None,
    project_name: opt.ProjectName = None,
    project_directory: opt.ProjectDir = None,
    env_file: opt.EnvFile = None,
    compose_cmd: opt.ComposeCmd = None,
    context: opt.Context = None,
    proxy: opt.Proxy = ProxyMode.AUTO,
    proxy_service: opt.ProxyService = "",
    engine: opt.EngineOption = None,
    as_json: opt.Json = False,
    debug: opt.Debug = False,
) -> None:
    """Each sibling: container, image (release tag), health, in rotation or not; the lock.
    With --engine swarm: each task of the project's stack, its node, image and state."""
    connection = _given(Connection, locals())
    with boundary(debug, as_json):
        show(output.status_lines(project_status(connection, proxy, proxy_service, engine), as_json))


@app.command()
def history(
    record: opt.RecordId = None,
    html: opt.Html = None,
    file: opt.Files = None,
    project_name: opt.ProjectName = None,
    project_directory: opt.ProjectDir = None,
    env_file: opt.EnvFile = None,
    compose_cmd: opt.ComposeCmd = None,
    context: opt.Context = None,
    as_json: opt.Json = False,
    debug: opt.Debug = False,
) -> None:
    """The project's last 20 deploys and rollbacks on this engine, newest first: when, how
    long, result and exit code. With an ID, that run's every event at its second."""
    with boundary(debug, as_json):
        found = project_history(_given(Connection, locals()), record, html)
        show(output.history_lines(found, whole=record is not None, as_json=as_json))
        show([output.said(f"drew {record} in {html}")] if html else [])


@app.command()
def heal(
    file: opt.Files = None,
    project_name: opt.ProjectName = None,
    project_directory: opt.ProjectDir = None,
    env_file: opt.EnvFile = None,
    compose_cmd: opt.ComposeCmd = None,
    context: opt.Context = None,
    proxy: opt.Proxy = ProxyMode.AUTO,
    proxy_service: opt.ProxyService = "",
    drain_timeout: opt.DrainTimeout = 30.0,
    wait_for: opt.WaitFor = None,
    wait: opt.Wait = 60.0,
    stale: opt.Stale = None,
    stale_for: opt.StaleFor = 15.0,
    as_json: opt.Json = False,
    debug: opt.Debug = False,
) -> None:
    """Put every ready sibling in rotation and take out the ones that are not ready.

    For the managed nginx (`--proxy nginx`). Every deploy and rollback starts with the same
    reconciliation; a deploy's guardian runs `zdd heal` by itself when that deploy dies
    (SIGKILL, the OOM killer, a crash), so that no ready sibling stays out of rotation.
    """
    with boundary(debug, as_json):
        heal_proxy(_given(Connection, locals()), _given(HealOptions, locals()), printer(as_json))


@app.command()
def init(
    file: opt.Files = None,
    project_name: opt.ProjectName = None,
    project_directory: opt.ProjectDir = None,
    env_file: opt.EnvFile = None,
    compose_cmd: opt.ComposeCmd = None,
    proxy_service: opt.ProxyService = "",
    write: opt.Write = False,
    debug: opt.Debug = False,
) -> None:
    """What puts this project behind zdd's managed nginx: a compose override (x-zdd, the
    proxy's nginx.conf and tmpfs, each sibling's network alias for the fallback) and an
    nginx.conf with one upstream per group, named after its base, on its port. Your own files
    are never changed. A proxy that is not nginx (nginx-proxy, Traefik) gets nginx:1.27, or
    ZDD_NGINX_IMAGE. Needs no engine."""
    with boundary(debug):
        made = init_files(_given(Connection, locals()), proxy_service, write, printer(False))
        show(output.setup_lines(made, written=write))


def check(**params: Any) -> None:
    """The preflight alone: what `zdd deploy` would refuse (exit 2) or warn about, with the
    same options. Changes nothing and needs no engine; deploy, rollback and --dry-run run it
    first. With --engine swarm: what the stack file cannot carry."""
    from zdd.plan import DeployOptions

    with boundary(params["debug"], params["as_json"]):
        asked = _given(DeployOptions, params)
        findings = check_project(_given(Connection, params), asked, params["engine"])
        show(output.finding_lines(findings, params["as_json"]))
        if any(finding.level == "refuse" for finding in findings):
            raise typer.Exit(int(ExitCode.USAGE))


# deploy's options, but those of a run: `deploy` in a command line can become `check`
check.__signature__ = _without(deploy, "dry_run", "lock_wait", "report")  # type: ignore[attr-defined]
app.command()(check)
