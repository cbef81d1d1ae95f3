"""The `zdd` command line: parse, call, print. The only module that prints."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from zdd import __version__
from zdd.errors import ExitCode, ZddError
from zdd.options import (
    ComposeCmd,
    Context,
    Debug,
    Delay,
    DrainTimeout,
    DryRun,
    EngineOption,
    EnvFile,
    Files,
    HealthPath,
    HealthTimeout,
    Json,
    Monitor,
    OrderOption,
    PostStart,
    PreStop,
    ProjectDir,
    ProjectName,
    Proxy,
    ProxyService,
    Registry,
    Services,
    Settle,
    StopTimeout,
    Verify,
    finite,
)
from zdd.proxy import ProxyMode


class _OneLineErrors(TyperGroup):
    """Usage errors as one line on stderr (exit 2), like every other error of zdd, instead of
    click's four (`Usage: ...`, `Try ...`, a blank line, `Error: ...`)."""

    def main(  # type: ignore[override]  # the same parameters, by keyword
        self,
        args: Any = None,
        prog_name: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; a usage error is `zdd: error: WHAT (see COMMAND --help)`, exit 2."""
        try:
            code = super().main(args=args, prog_name=prog_name, standalone_mode=False, **extra)
        except typer.Abort:
            _echo("zdd: interrupted", err=True)
            code = int(ExitCode.INTERRUPTED)
        except Exception as err:
            # click's UsageError, whether typer vendors click or not
            if not hasattr(err, "format_message"):
                raise
            if type(err).__name__ == "NoArgsIsHelpError":  # `zdd` alone: the help, as click does
                err.show()  # type: ignore[attr-defined]
                sys.exit(getattr(err, "exit_code", ExitCode.USAGE))
            context = getattr(err, "ctx", None)
            where = f" (see {context.command_path} --help)" if context is not None else ""
            message = f"error: {err.format_message()}{where}"
            code = int(getattr(err, "exit_code", ExitCode.USAGE))
            if "--json" in (sys.argv[1:] if args is None else args):  # an `error` event too
                _echo(json.dumps({"event": "error", "message": message, "exit_code": code}))
            _echo(f"zdd: {message}", err=True)
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    help="Zero-downtime deploys for Docker Compose services: the seed's "
    "deploy-and-restart.sh (build, then stop and recreate each sibling in turn), made safe.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"zdd {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """zdd: deploy a new version of a Docker Compose service without a failed request."""


@contextmanager
def _boundary(debug: bool, as_json: bool = False) -> Iterator[None]:
    """Turn every error into one stderr line (and, with --json, an `error` event on stdout)
    and the exit code of the contract; a traceback only with --debug."""
    logging.basicConfig(level=logging.WARNING, format="zdd: %(message)s", stream=sys.stderr)
    logging.getLogger("zdd").setLevel(logging.DEBUG if debug else logging.WARNING)
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        _fail("interrupted", ExitCode.INTERRUPTED, as_json)
    except ZddError as err:
        if debug:
            raise
        _fail(f"error: {err}", err.exit_code, as_json)
    except OSError as err:  # e.g. an unwritable cache or lock directory
        if debug:
            raise
        message = f"{err.strerror or err}: {err.filename or ''}".rstrip(": ")
        _fail(f"error: {message}", ExitCode.USAGE, as_json)
    except Exception as err:
        if debug:
            raise
        what = f"{type(err).__name__}: {err}"[:300]
        message = f"error: unexpected {what} (a bug in zdd: rerun with --debug for the traceback)"
        _fail(message, ExitCode.INTERNAL, as_json)


def _fail(message: str, code: ExitCode, as_json: bool) -> NoReturn:
    """One line on stderr, an `error` event with --json, then exit `code`."""
    if as_json:
        _echo(json.dumps({"event": "error", "message": message, "exit_code": int(code)}))
    _echo(f"zdd: {message}", err=True)
    raise typer.Exit(int(code)) from None


def _load_options(
    files: list[str] | None, project: str | None, directory: str | None, env_file: str | None
) -> Any:
    from zdd.project import LoadOptions

    return LoadOptions(tuple(files or ()), project, directory, env_file)


def _printer(as_json: bool) -> Callable[[Any], None]:
    def report(event: Any) -> None:
        if as_json:
            _echo(json.dumps({"event": event.kind, "message": event.message, **event.data}))
        elif event.kind == "step" and "seconds" in event.data:
            _echo(f"zdd: {event.data['seconds']:6.2f}s  {event.message}", err=True)
        else:
            _echo(f"zdd: {event.message}", err=True)

    return report


@app.command()
def deploy(
    services: Services = None,
    file: Files = None,
    project_name: ProjectName = None,
    project_directory: ProjectDir = None,
    env_file: EnvFile = None,
    compose_cmd: ComposeCmd = None,
    context: Context = None,
    build: Annotated[
        bool, typer.Option("--build/--no-build", help="Build images before the rollout.")
    ] = True,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache/--cache", help="Build without the layer cache, as the seed does."),
    ] = True,
    pull: Annotated[
        bool,
        typer.Option(
            "--pull",
            help="Pull newer base images when building, and `compose pull` the siblings that "
            "run an image and build nothing.",
        ),
    ] = False,
    delay: Delay = 5.0,
    stop_timeout: StopTimeout = None,
    health_timeout: HealthTimeout = None,
    health_path: HealthPath = None,
    monitor: Monitor = 0.0,
    order: OrderOption = None,
    proxy: Proxy = None,
    proxy_service: ProxyService = None,
    drain_timeout: DrainTimeout = 30.0,
    settle: Settle = 2.0,
    pre_stop: PreStop = None,
    post_start: PostStart = None,
    verify: Verify = None,
    engine: EngineOption = None,
    registry: Registry = None,
    dry_run: DryRun = False,
    as_json: Json = False,
    debug: Debug = False,
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
    _rollout("deploy", locals())  # every parameter, by name


@app.command()
def rollback(
    services: Services = None,
    file: Files = None,
    project_name: ProjectName = None,
    project_directory: ProjectDir = None,
    env_file: EnvFile = None,
    compose_cmd: ComposeCmd = None,
    context: Context = None,
    delay: Delay = 5.0,
    stop_timeout: StopTimeout = None,
    health_timeout: HealthTimeout = None,
    health_path: HealthPath = None,
    monitor: Monitor = 0.0,
    order: OrderOption = None,
    proxy: Proxy = None,
    proxy_service: ProxyService = None,
    drain_timeout: DrainTimeout = 30.0,
    settle: Settle = 2.0,
    pre_stop: PreStop = None,
    post_start: PostStart = None,
    verify: Verify = None,
    engine: EngineOption = None,
    registry: Registry = None,
    dry_run: DryRun = False,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """Put each sibling's previous release back, one at a time, drained, gated and admitted.

    zdd tags every image a sibling served (zdd-release/PROJECT/SERVICE, the last 3 kept),
    so this works after a good deploy too. Run it twice to return to the newer release.
    """
    _rollout("rollback", {**locals(), "build": False})  # every parameter, by name


CONNECTION = ("file", "project_name", "project_directory", "env_file", "compose_cmd")


def _rollout(command: str, arguments: dict[str, Any]) -> None:
    """`zdd deploy` / `zdd rollback`: open the project (holding its lock unless --dry-run),
    plan, then print the plan or run it."""
    dry_run, as_json, debug = (arguments.pop(name) for name in ("dry_run", "as_json", "debug"))
    files, name, directory, env_file, compose_cmd = (arguments.pop(n) for n in CONNECTION)
    services = tuple(arguments.pop("services") or ())
    context = arguments.pop("context")
    engine, registry = arguments.pop("engine"), arguments.pop("registry")
    lock = None if dry_run else command
    with (
        _boundary(debug, as_json),
        _session(files, name, directory, env_file, compose_cmd, lock, context=context) as session,
    ):
        if (engine or session.project.settings.get("engine")) == "swarm":
            _swarm(command, session, services, registry, arguments, dry_run, as_json)
            return
        from zdd.observe import container_counts, image_checks  # inside: Ctrl-C here is 130
        from zdd.plan import build_plan, build_rollback_plan, image_names, start_first_units

        options = _deploy_options(session.project, services=services, **arguments)
        units = start_first_units(session.project, options)
        existing = container_counts(session.runner, session.project.name, units)
        if command == "deploy":
            images = image_names(session.project, session.cli, options)
            seen = image_checks(session.runner, images)
            plan = build_plan(session.project, session.cli, options, seen, existing)
        else:  # the previous releases' images are found while it runs
            plan = build_rollback_plan(session.project, session.cli, options, existing=existing)
        _enforce_preflight(session.project, options, plan, as_json)
        if dry_run:
            _print_plan(plan, as_json)
            return
        connection = _connection_argv(session, files, directory, env_file, compose_cmd)
        _run(session, plan, options, as_json, connection)


def _swarm(
    command: str,
    session: Any,
    services: tuple[str, ...],
    registry: str | None,
    arguments: dict[str, Any],
    dry_run: bool,
    as_json: bool,
) -> None:
    """`--engine swarm`: render, push and `docker stack deploy`, then watch Swarm's update
    (or ask Swarm to roll each service back); --dry-run prints the stack file and commands."""
    import yaml

    from zdd.errors import UsageError
    from zdd.rollout import Event
    from zdd.swarm.rollout import SwarmDeploy, check_manager
    from zdd.swarm.stack import MONITOR, check_registry

    if services:
        raise UsageError("--engine swarm deploys the whole project as one stack: name no service")
    registry = registry or session.project.settings.get("registry") or ""
    if not registry and command == "deploy":  # a rollback pushes nothing
        raise UsageError(
            "--engine swarm needs --registry HOST[:PORT], the registry every node pulls from"
        )
    report = _printer(as_json)
    swarm = SwarmDeploy(
        session.runner,
        session.cli,
        session.project,
        check_registry(registry) if registry else "",
        report,
        monitor=arguments["monitor"] or MONITOR,
        health_timeout=arguments.get("health_timeout"),
    )
    build = {k: arguments.get(k, False) for k in ("build", "no_cache", "pull")}
    if command == "deploy":
        stack = swarm.stack({unit: f"{registry}/<image-id>" for unit in swarm.images()})
        for warning in stack.warnings:
            report(Event("warning", warning))
    if dry_run:
        if command == "deploy":
            for argv in swarm.plan(**build):
                _echo(" ".join(argv))
            _echo(yaml.safe_dump(stack.document, sort_keys=False).rstrip())
        else:
            _echo(f"docker service rollback --detach -- {session.project.name}_SERVICE, each")
        return
    check_manager(session.runner)
    report(Event("mode", SWARM_PROMISE, {"engine": "swarm"}))
    if command == "deploy":
        swarm.deploy(swarm.stack(swarm.publish(**build)))
    else:
        swarm.rollback()


SWARM_PROMISE = (
    "engine swarm: Swarm replaces one task at a time, start-first (stop-first for a service "
    "that publishes a port), puts a new task in DNS once its healthcheck passed (at once "
    "without one), takes an old one out 2 s before stopping it, and rolls back on the first "
    "failure; zdd watches and reports. The proxy must resolve tasks.SERVICE itself: zdd "
    "does not drain it"
)


def _swarm_status(session: Any, as_json: bool) -> None:
    from dataclasses import asdict

    from zdd.swarm.rollout import SwarmDeploy, check_manager

    check_manager(session.runner)
    swarm = SwarmDeploy(session.runner, session.cli, session.project, "", lambda event: None)
    tasks = swarm.tasks()
    if as_json:
        _echo(json.dumps({"project": session.project.name, "engine": "swarm",
                          "tasks": [asdict(t) for t in tasks]}))  # fmt: skip
        return
    _echo(f"stack {session.project.name}: {len(tasks)} task(s) desired running")
    for task in tasks:
        _echo(f"  {task.line()}")


def _swarm_findings(session: Any, finding: Any) -> list[Any]:
    """The stack file rendered with placeholder images: its refusal, or its warnings."""
    from zdd.errors import UsageError
    from zdd.swarm.rollout import SwarmDeploy

    swarm = SwarmDeploy(session.runner, session.cli, session.project, "", lambda event: None)
    try:
        stack = swarm.stack({unit: "<image>" for unit in swarm.images()})
    except UsageError as err:
        return [finding("refuse", str(err))]
    return [finding("warn", warning) for warning in stack.warnings]


def _enforce_preflight(project: Any, options: Any, plan: Any, as_json: bool) -> None:
    """Say the preflight's warnings; stop at its first refusal (exit 2), before any change."""
    from zdd.errors import UsageError
    from zdd.preflight import preflight
    from zdd.proxy.choose import Choice
    from zdd.rollout import Event

    findings = preflight(project, options, plan.groups, plan.singles, plan.start_first)
    for finding in findings:
        if finding.level == "refuse":
            raise UsageError(finding.message)
    report = _printer(as_json)
    choice = Choice(options.proxy, options.proxy_reason)
    report(Event("mode", choice.line(), {"proxy": str(choice.mode), "reason": choice.reason}))
    for finding in findings:
        report(Event("warning", finding.message))


def _connection_argv(
    session: Any,
    files: list[str] | None,
    directory: str | None,
    env_file: str | None,
    compose_cmd: str | None,
) -> list[str]:
    """The options that open the same project again (for the guardian's `zdd heal`)."""
    import os

    argv = [arg for path in files or () for arg in ("-f", os.path.abspath(path))]
    argv += ["-p", session.project.name]
    for flag, value in (
        ("--project-directory", directory),
        ("--env-file", env_file and os.path.abspath(env_file)),
        ("--compose-cmd", compose_cmd),
    ):
        argv += [flag, value] if value else []
    return argv


@contextmanager
def _session(
    file: list[str] | None,
    project_name: str | None,
    project_directory: str | None,
    env_file: str | None,
    compose_cmd: str | None,
    lock: str | None = None,
    *,
    identify: bool = False,
    context: str | None = None,
    engine_needed: bool = True,
) -> Iterator[Any]:
    """The opened project; with `lock`, the project's lock on this engine is held first, so
    that a second deploy exits 4 before it spends time on compose. The engine's identity is
    asked for (`identify`, or to key the lock) while the compose files load. An ssh:// engine
    is reached through one SSH connection for the whole command (remote.engine_tunnel)."""
    import os
    from dataclasses import replace

    from zdd.lock import project_lock
    from zdd.remote import engine_tunnel
    from zdd.runner import Runner, engine_identity
    from zdd.session import open_session

    if context:  # as `docker --context`: the named context, not DOCKER_HOST
        os.environ.pop("DOCKER_HOST", None)
        os.environ["DOCKER_CONTEXT"] = context
    given = dict(os.environ)  # before the tunnel: what a later `zdd heal` must open again
    runner = Runner()
    tunnel = engine_tunnel(runner, os.environ) if engine_needed else nullcontext()
    with tunnel, runner as run:
        options = _load_options(file, project_name, project_directory, env_file)
        identity = engine_identity(run, os.environ) if lock or identify else None
        session = open_session(options, compose_cmd, run)
        engine = identity() if identity is not None else ""
        held = (
            project_lock(session.project.name, engine, lock, os.environ, on_wait=_say)
            if lock
            else nullcontext()
        )
        with held:
            yield replace(session, engine=engine, environ=given)


def _say(message: str) -> None:
    """One progress line on stderr; nothing when stderr is gone (a closed terminal)."""
    _echo(f"zdd: {message}", err=True)


def _echo(text: str, *, err: bool = False) -> None:
    """typer.echo without control characters, that survives a terminal or pipe that went away
    (SIGHUP, `| head`): zdd then carries on silently, as it must to leave every sibling
    serving."""
    # Container logs, health output and names end up in messages: no terminal escapes.
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)
    try:
        typer.echo(text, err=err)
    except OSError:
        import os

        devnull = open(os.devnull, "w")  # noqa: SIM115 - kept open for the rest of the run
        sys.stdout = sys.stderr = devnull


def _proxy_defaults(
    project: Any, proxy: ProxyMode | None, proxy_service: str | None, *, hooks: bool = False
) -> dict[str, Any]:
    """--proxy and --proxy-service, else the compose file's `x-zdd`, else what `auto` finds in
    the project (proxy/choose.py)."""
    from zdd.proxy.choose import choose_mode

    service = proxy_service or project.settings.get("proxy_service", "proxy")
    choice = choose_mode(project, project.settings, proxy, service, hooks)
    return {"proxy": choice.mode, "proxy_service": service, "proxy_reason": choice.reason}


def _deploy_options(
    project: Any, *, proxy: ProxyMode | None, proxy_service: str | None, **values: Any
) -> Any:
    """DeployOptions, with the proxy mode chosen as `--proxy auto` does."""
    from zdd.plan import DeployOptions

    hooks = bool(values.get("pre_stop") or values.get("post_start"))
    return DeployOptions(**_proxy_defaults(project, proxy, proxy_service, hooks=hooks), **values)


def _run(session: Any, plan: Any, options: Any, as_json: bool, connection: list[str]) -> None:
    """Run the plan. With the managed nginx, a guardian heals the proxy if zdd dies."""
    from zdd.deploy import execute

    guardian = _guardian(session, options, connection)
    try:
        execute(
            session,
            plan,
            options,
            _printer(as_json),
            on_probe=lambda seen: _print_report(seen, as_json),
            on_step=lambda step, old: guardian.tell(f"{step.kind} {step.service or '-'} {old}"),
        )
    except (ZddError, KeyboardInterrupt):  # zdd says what state it left: nothing to heal
        guardian.done()
        raise
    guardian.done()  # not after any other exception: a crash is healed like a SIGKILL


def _guardian(session: Any, options: Any, connection: list[str]) -> Any:
    """The deploy's guardian (runner.Guardian): it runs `zdd heal` if this process dies."""
    import os

    from zdd.lock import lock_path
    from zdd.runner import Guardian

    if options.proxy is not ProxyMode.NGINX:
        return _NoGuardian()
    # -P: never the current directory first on sys.path (root would run a ./zdd/ it finds)
    argv = [sys.executable, "-P", "-m", "zdd.guard", str(os.getpid()), *connection]
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


def _print_plan(plan: Any, as_json: bool) -> None:
    for step in plan.steps:
        if as_json:
            _echo(json.dumps({"event": "plan", "step": step.describe()}))
        else:
            _echo(step.describe())


@app.command()
def services(
    file: Files = None,
    project_name: ProjectName = None,
    project_directory: ProjectDir = None,
    env_file: EnvFile = None,
    compose_cmd: ComposeCmd = None,
    context: Context = None,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """List the groups: each base service and the siblings that `extends` it."""
    with (
        _boundary(debug, as_json),
        _session(
            file,
            project_name,
            project_directory,
            env_file,
            compose_cmd,
            context=context,
            engine_needed=False,
        ) as session,
    ):
        project = session.project
        grouped = {name for g in project.groups for name in (g.base, *g.siblings)}
        others = [name for name in project.services if name not in grouped]
        if as_json:
            _echo(
                json.dumps(
                    {
                        "project": project.name,
                        "files": [str(p) for p in project.files],
                        "legacy": project.legacy,
                        "groups": [
                            {"base": g.base, "siblings": list(g.siblings)} for g in project.groups
                        ],
                        "others": others,
                    }
                )
            )
            return
        kind = "legacy v1 format" if project.legacy else "compose spec"
        names = ", ".join(_relative(p) for p in project.files)
        _echo(f"project {project.name} ({names}, {kind})")
        for group in project.groups:
            base = group.base if group.base_in_project else f"{group.base} (from another file)"
            _echo(f"  {base} -> {', '.join(group.siblings)}")
        if not project.groups:
            _echo("  no groups: no service `extends` another one")
        if others:
            _echo(f"  not rolled out: {', '.join(others)}")


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _print_report(report: Any, as_json: bool) -> None:
    summary = report.summary()
    if as_json:
        _echo(json.dumps({"event": "probe", **summary}))
        return
    kinds = ", ".join(f"{k} {v}" for k, v in summary["failures"].items()) or "none"
    _echo(
        f"zdd: probe: {summary['requests']} requests, {summary['failed']} failed ({kinds}), "
        f"longest failure run {summary['longest_failure_ms']} ms, "
        f"p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms",
        err=True,
    )
    for item in summary["versions"]:
        _echo(
            f"zdd: probe:   {item['version']}: {item['count']} answers, "
            f"{item['first_s']}-{item['last_s']} s",
            err=True,
        )


@app.command()
def probe(
    url: Annotated[str, typer.Argument(help="URL to request, e.g. http://127.0.0.1:8000/")],
    duration: Annotated[
        float,
        typer.Option(
            min=0.1, max=86400, callback=finite, metavar="SECONDS", help="Seconds to probe."
        ),
    ] = 10.0,
    concurrency: Annotated[
        int, typer.Option(min=1, max=256, metavar="N", help="Parallel clients.")
    ] = 8,
    method: Annotated[str, typer.Option(help="GET or POST.")] = "GET",
    max_requests: Annotated[
        int, typer.Option(min=1, max=100_000_000, help="Stop after this many.")
    ] = 100_000,
    rate: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            max=1_000_000,
            callback=finite,
            help="Requests per second over all clients (default: no limit).",
        ),
    ] = None,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """The seed's curl loop, measured: failures by kind, longest outage, versions served."""
    from zdd.errors import UsageError, VerifyError
    from zdd.probe import Probe

    with _boundary(debug, as_json):
        if method.upper() not in ("GET", "POST"):
            raise UsageError(f"--method must be GET or POST, got {method!r}")
        probe = Probe(
            url, concurrency=concurrency, method=method, max_requests=max_requests, rate=rate
        )
        interrupted = False
        try:
            with _sigterm_interrupts():
                probe.start().wait(duration)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what was measured is still reported
            interrupted = True
        report = probe.stop()
        _print_report(report, as_json)
        if interrupted:
            raise KeyboardInterrupt
        if report.failed:
            raise VerifyError(f"{report.failed} of {report.requests} requests failed")


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the block, as Ctrl-C does."""
    import signal

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command()
def status(
    file: Files = None,
    project_name: ProjectName = None,
    project_directory: ProjectDir = None,
    env_file: EnvFile = None,
    compose_cmd: ComposeCmd = None,
    context: Context = None,
    proxy: Proxy = None,
    proxy_service: ProxyService = None,
    engine: EngineOption = None,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """Each sibling: container, image (release tag), health, in rotation or not; the lock.
    With --engine swarm: each task of the project's stack, its node, image and state."""
    from dataclasses import asdict

    from zdd.status import collect

    with (
        _boundary(debug, as_json),
        _session(
            file, project_name, project_directory, env_file, compose_cmd, identify=True
        ) as session,
    ):
        if (engine or session.project.settings.get("engine")) == "swarm":
            _swarm_status(session, as_json)
            return
        chosen = _proxy_defaults(session.project, proxy, proxy_service)
        rows, lock = collect(session, chosen["proxy"], chosen["proxy_service"])
        if as_json:
            _echo(
                json.dumps(
                    {
                        "project": session.project.name,
                        "lock": lock,
                        "siblings": [asdict(r) for r in rows],
                    }
                )
            )
            return
        state = f"deploy in progress, {lock}" if lock else "no deploy running"
        _echo(f"project {session.project.name}: {state}")
        if rows and all(row.in_rotation is False for row in rows):
            _echo("  the proxy routes to no sibling zdd rendered: run zdd heal")
        for row in rows:
            rotation = {True: "in rotation", False: "OUT of rotation", None: ""}[row.in_rotation]
            if row.in_rotation is False and row.status == "running" and row.health != "unhealthy":
                rotation += " (running: zdd heal admits it once ready)"
            image = (row.image_id or "")[7:19]
            release = f" ({row.release})" if row.release else ""
            health = f" {row.health}" if row.health else ""
            _echo(
                f"  {row.service:<12} {row.container or '-':<28} {row.status}{health}  "
                f"image {image or '-'}{release}  {rotation}".rstrip()
            )


@app.command()
def heal(
    file: Files = None,
    project_name: ProjectName = None,
    project_directory: ProjectDir = None,
    env_file: EnvFile = None,
    compose_cmd: ComposeCmd = None,
    context: Context = None,
    proxy: Proxy = None,
    proxy_service: ProxyService = None,
    drain_timeout: DrainTimeout = 30.0,
    wait_for: Annotated[
        list[str] | None,
        typer.Option(
            metavar="SERVICE",
            help="Keep reconciling until this sibling is in rotation (repeatable; one still "
            "without a running container after 3 s is started with compose up).",
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            min=0,
            max=3600,
            callback=finite,
            metavar="SECONDS",
            help="At most this long for --wait-for.",
        ),
    ] = 60.0,
    stale: Annotated[
        list[str] | None,
        typer.Option(
            metavar="CONTAINER",
            help="A container not to admit while it runs: the old container of a sibling a "
            "dead deploy was stopping (repeatable; the guardian passes it).",
        ),
    ] = None,
    stale_for: Annotated[
        float,
        typer.Option(
            min=0,
            max=3600,
            callback=finite,
            metavar="SECONDS",
            help="How long a --stale container may still be stopping (its stop timeout + 5).",
        ),
    ] = 15.0,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """Put every ready sibling in rotation and take out the ones that are not ready.

    For the managed nginx (`--proxy nginx`). Every deploy and rollback starts with the same
    reconciliation; a deploy's guardian runs `zdd heal` by itself when that deploy dies
    (SIGKILL, the OOM killer, a crash), so that no ready sibling stays out of rotation.
    """
    from zdd.errors import UsageError
    from zdd.heal import heal as heal_rotation
    from zdd.proxy import make_rotation
    from zdd.proxy.nginx import NginxRotation
    from zdd.rollout import Event

    report = _printer(as_json)
    with (
        _boundary(debug, as_json),
        _session(
            file, project_name, project_directory, env_file, compose_cmd, "heal", context=context
        ) as session,
    ):
        warn = lambda message: report(Event("warning", message))  # noqa: E731
        chosen = _proxy_defaults(session.project, proxy, proxy_service)
        if chosen["proxy"] is not ProxyMode.NGINX:
            raise UsageError("zdd heal works on the managed nginx only (--proxy nginx)")
        rotation = make_rotation(
            "nginx",
            session,
            proxy_service=chosen["proxy_service"],
            drain_timeout=drain_timeout,
            warn=warn,
            singles=session.project.singles((), chosen["proxy_service"]),
        )
        assert isinstance(rotation, NginxRotation)
        rotation.stale.update(stale or ())
        left = heal_rotation(rotation, wait_for or (), wait, warn=warn, stale_for=stale_for)
        message = "every ready sibling is in rotation"
        if left:
            message += f"; still out (not ready): {', '.join(sorted(left))}"
        report(Event("summary", message, {"out": sorted(left)}))


@app.command()
def init(
    file: Files = None,
    project_name: ProjectName = None,
    project_directory: ProjectDir = None,
    env_file: EnvFile = None,
    compose_cmd: ComposeCmd = None,
    proxy_service: ProxyService = None,
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help=f"Write {'docker-compose.zdd.yml'} and zdd-nginx.conf beside the compose file "
            "(never over a file that exists) instead of printing them.",
        ),
    ] = False,
    debug: Debug = False,
) -> None:
    """What puts this project behind zdd's managed nginx: a compose override (x-zdd, the
    proxy's nginx.conf and tmpfs, each sibling's network alias for the fallback) and an
    nginx.conf with one upstream per group, named after its base, on its port. Your own files
    are never changed. A proxy that is not nginx (nginx-proxy, Traefik) gets nginx:1.27, or
    ZDD_NGINX_IMAGE. Needs no engine."""
    from zdd.init import NGINX, OVERRIDE, setup

    with (
        _boundary(debug),
        _session(
            file, project_name, project_directory, env_file, compose_cmd, engine_needed=False
        ) as session,
    ):
        service = proxy_service or session.project.settings.get("proxy_service", "proxy")
        import os

        made = setup(session.project, service, os.environ.get("ZDD_NGINX_IMAGE") or "nginx:1.27")
        if not write:
            _echo(f"# --- {OVERRIDE}\n{made.override}\n# --- {NGINX}\n{made.nginx}")
            _echo(f"zdd: then: {made.usage}", err=True)
            return
        folder = session.project.files[0].parent
        targets = {folder / OVERRIDE: made.override, folder / NGINX: made.nginx}
        for path in targets:
            if path.exists():
                from zdd.errors import UsageError

                raise UsageError(f"{path} exists: move it away, or run zdd init without --write")
        for path, text in targets.items():
            path.write_text(text, encoding="utf-8")
            _echo(f"zdd: wrote {path}", err=True)
        _echo(f"zdd: then: {made.usage}", err=True)


@app.command()
def check(
    services: Services = None,
    file: Files = None,
    project_name: ProjectName = None,
    project_directory: ProjectDir = None,
    env_file: EnvFile = None,
    compose_cmd: ComposeCmd = None,
    context: Context = None,
    delay: Delay = 5.0,
    health_path: HealthPath = None,
    order: OrderOption = None,
    proxy: Proxy = None,
    proxy_service: ProxyService = None,
    pre_stop: PreStop = None,
    post_start: PostStart = None,
    verify: Verify = None,
    engine: EngineOption = None,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """The preflight alone: what `zdd deploy` would refuse (exit 2) or warn about. Changes
    nothing and needs no engine; deploy, rollback and --dry-run run it first. With --engine
    swarm: what the stack file cannot carry."""
    from zdd.plan import build_plan
    from zdd.preflight import Finding, preflight

    with (
        _boundary(debug, as_json),
        _session(
            file,
            project_name,
            project_directory,
            env_file,
            compose_cmd,
            context=context,
            engine_needed=False,
        ) as session,
    ):
        options = _deploy_options(
            session.project,
            services=tuple(services or ()),
            delay=delay,
            health_path=health_path,
            order=order,
            proxy=proxy,
            proxy_service=proxy_service,
            pre_stop=pre_stop,
            post_start=post_start,
            verify=verify,
        )
        if (engine or session.project.settings.get("engine")) == "swarm":
            findings = _swarm_findings(session, Finding)
        else:
            plan = build_plan(session.project, session.cli, options)
            findings = preflight(
                session.project, options, plan.groups, plan.singles, plan.start_first
            )
        for finding in findings:
            word = "refuse" if finding.level == "refuse" else "warning"
            if as_json:
                _echo(json.dumps({"event": word, "message": finding.message}))
            else:
                _echo(f"zdd: {word}: {finding.message}", err=True)
        refused = sum(f.level == "refuse" for f in findings)
        summary = f"{refused} refusal(s), {len(findings) - refused} warning(s)"
        if as_json:
            _echo(json.dumps({"event": "summary", "message": summary, "refused": refused}))
        else:
            _echo(f"zdd: check: {summary}" if findings else "zdd: check: ok", err=True)
        if refused:
            raise typer.Exit(int(ExitCode.USAGE))
