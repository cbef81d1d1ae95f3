"""The options the commands share, as typer annotations: one place for each flag's help,
bounds and environment variable."""

from __future__ import annotations

from typing import Annotated

import typer

from zdd.option_checks import context_name, finite, image_ref, number
from zdd.order import Order
from zdd.proxy import ProxyMode
from zdd.swarm import Engine

Files = Annotated[
    list[str] | None,
    typer.Option(
        "-f",
        "--file",
        metavar="FILE",
        help="Compose file (repeatable; later files override earlier ones).",
        show_default=False,
    ),
]
ProjectName = Annotated[
    str | None,
    typer.Option(
        "-p",
        "--project-name",
        metavar="NAME",
        help="Project name (default: as compose derives it).",
    ),
]
ProjectDir = Annotated[
    str | None,
    typer.Option(
        "--project-directory", metavar="DIR", help="Project directory (default: the first file's)."
    ),
]
EnvFile = Annotated[
    str | None,
    typer.Option(
        "--env-file", metavar="FILE", help="Env file for ${VAR} interpolation (default: .env)."
    ),
]
ComposeCmd = Annotated[
    str | None,
    typer.Option(
        "--compose-cmd",
        envvar="ZDD_COMPOSE_CMD",
        metavar="CMD",
        help="Compose command, e.g. 'docker-compose' (default: 'docker compose', "
        "else 'docker-compose').",
    ),
]
Context = Annotated[
    str | None,
    typer.Option(
        "--context",
        callback=context_name,
        metavar="NAME",
        help="Docker context of the engine to use (as `docker --context`; default: "
        "DOCKER_CONTEXT, DOCKER_HOST, the current context). An ssh:// engine is reached "
        "through one SSH connection held for the whole command.",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON event per line on stdout.")]
Debug = Annotated[bool, typer.Option("--debug", help="Log every command; show tracebacks.")]
Services = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="SERVICE",
        help="Siblings or bases to roll out (default: every group).",
        show_default=False,
    ),
]


# Options of `deploy`, `rollback`, `check` and `heal`.
Delay = Annotated[
    float,
    number(
        3600,
        help="Seconds to wait for a sibling without a healthcheck (the seed's sleep).",
    ),
]
StopTimeout = Annotated[
    int | None,
    typer.Option(
        metavar="SECONDS",
        min=0,
        max=3600,
        help="Seconds for a graceful stop before SIGKILL (compose: 10).",
    ),
]
HealthTimeout = Annotated[
    float | None,
    number(
        86400,
        least=0.1,
        help="Seconds a new container may take to turn healthy "
        "(default: from its healthcheck: start_period + interval x retries, + margin); "
        "--engine swarm deploy: each task's share of zdd's wait, in place of its healthcheck's "
        "budget, before zdd asks Swarm to roll back.",
    ),
]
HealthPath = Annotated[
    str | None,
    typer.Option(
        metavar="PATH",
        help="For siblings without a Docker healthcheck: ready once http://127.0.0.1:PORT"
        "PATH, requested inside the new container, answers 2xx (needs curl, wget or python "
        "there).",
    ),
]
Proxy = Annotated[
    ProxyMode,
    typer.Option(
        show_default=False,  # auto: said in the help
        help="How siblings enter and leave rotation: nginx (zdd renders the upstreams), "
        "external (your --pre-stop/--post-start hooks), discovery (a proxy that finds the "
        "containers itself: gated; drained only with --drain-image), none (gate and roll "
        "back only). Default auto: "
        "`x-zdd: {proxy: ...}` in the compose file, else external where hooks are given, "
        "discovery where a proxy service shares a network with the siblings, else none; the "
        "choice, why and what it promises is said before anything changes.",
    ),
]
ProxyService = Annotated[
    str,  # "": the default, said in the help
    typer.Option(
        metavar="SERVICE",
        show_default=False,
        help="The nginx proxy's compose service (default: x-zdd, else proxy).",
    ),
]
DrainTimeout = Annotated[
    float,
    number(
        3600,
        help="Seconds to wait for a drained sibling's in-flight requests.",
    ),
]
DrainImage = Annotated[
    str | None,
    typer.Option(
        metavar="IMAGE",
        callback=image_ref,
        help="--proxy discovery: drain each old container with this image (on the engine, with "
        "iptables and ss): a helper in the container's network namespace refuses new "
        "connections (the proxy retries them on another container), and the container is "
        "stopped once its open ones are done, up to --drain-timeout. README: Drain behind a "
        "proxy zdd does not control.",
    ),
]
Settle = Annotated[
    float,
    number(
        600,
        help="--proxy discovery: seconds to give the proxy to find a container zdd just "
        "connected (its DNS cache or event loop) before the next old one is stopped; at "
        "least one more than its nginx resolver's valid= where zdd reads it.",
    ),
]
PreStop = Annotated[
    str | None,
    typer.Option(
        metavar="CMD",
        help="--proxy external: run before a sibling's old container stops "
        "(env: ZDD_CONTAINER_ID, ZDD_CONTAINER_NAME, ZDD_CONTAINER_IP, ZDD_SERVICE).",
    ),
]
PostStart = Annotated[
    str | None,
    typer.Option(
        metavar="CMD",
        help="--proxy external: run once a sibling's new container is ready (same env).",
    ),
]
Verify = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="Probe URL during the deploy (8 clients); exit 5 if any request failed. Behind a "
        "proxy that logs nothing for zdd, its requests feed the error budget's windows.",
    ),
]
Monitor = Annotated[
    float | None,
    number(
        86400,
        help="Seconds to keep watching a sibling after it turned ready; an exit or `unhealthy` "
        "in that window rolls it back (default: its deploy.update_config.monitor, else 0). "
        "Behind the managed nginx the window follows admission and judges the sibling on the "
        "requests the proxy logs for it (the error budget; where nginx logs for zdd the "
        "default is up to 2 s, ending once 100 requests were within budget; 0: no window).",
    ),
]
MaxErrorRate = Annotated[
    float | None,
    number(
        1,
        metavar="SHARE",
        help="Error budget: roll a new container back when the share of its requests that fail "
        "(5xx or no answer, as the managed nginx logs them) exceeds the others' by more "
        "than this in the admission window (at least 20 requests and 5 failures to judge; "
        "default: `x-zdd: {max_error_rate}`, else 0.05).",
    ),
]
MaxLatencyRatio = Annotated[
    float | None,
    number(
        1000,
        metavar="RATIO",
        help="Error budget: roll a new container back when its median response time in the "
        "admission window is more than RATIO times the others' (times under 10 ms count as "
        "10 ms; 0: off; default: `x-zdd: {max_latency_ratio}`, else 5).",
    ),
]
OrderOption = Annotated[
    Order | None,
    typer.Option(
        "--order",
        help="How each sibling is replaced: stop-first (the seed's sequence: drained, "
        "stopped, then its new container started and gated) or start-first (its new "
        "container started and gated beside the old one, admitted, then the old one drained "
        "and removed: capacity never drops). Default: its deploy.update_config.order, else "
        "stop-first for siblings, start-first for a service without siblings; where its "
        "container_name or a fixed host port keeps "
        "two copies from running at once, refused (exit 2) with the fix unless stop-first is "
        "asked for here.",
    ),
]
EngineOption = Annotated[
    Engine | None,
    typer.Option(
        "--engine",
        help="compose (default): roll out on this engine through compose. swarm: build, push "
        "each image to --registry under its id, render a stack file Swarm accepts (a sibling "
        "group becomes one service, its siblings its replicas) and let Swarm's start-first "
        "update roll it out while zdd watches; exit 1 if Swarm rolled it back. Default: "
        "`x-zdd: {engine: ...}`, else compose.",
        show_default=False,
    ),
]
Registry = Annotated[
    str | None,
    typer.Option(
        "--registry",
        envvar="ZDD_REGISTRY",
        metavar="HOST[:PORT]",
        help="--engine swarm: the registry every node pulls from (default: x-zdd: registry).",
    ),
]
LockWait = Annotated[
    float,
    typer.Option(
        "--lock-wait",
        min=0,
        max=86400,
        callback=finite,
        metavar="SECONDS",
        help="While another zdd deploys this project on this engine, wait up to SECONDS for "
        "it (saying who holds it), then go on; 0: exit 4 at once.",
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Print every command of the plan; change nothing.")
]
Report = Annotated[
    str | None,
    typer.Option(
        "--report",
        metavar="FILE",
        help="Also write the run's record (every event at its second, result, exit code) to "
        "FILE as JSON; `zdd history` keeps the last 20 on the engine either way.",
    ),
]

# Options of `deploy` alone.
Build = Annotated[bool, typer.Option("--build/--no-build", help="Build images before the rollout.")]
NoCache = Annotated[
    bool,
    typer.Option("--no-cache/--cache", help="Build without the layer cache, as the seed does."),
]
AllowStateful = Annotated[
    bool,
    typer.Option(
        "--allow-stateful",
        help="Replace the stateful service(s) named on the command line (a database) anyway: "
        "stop-first only, never a second copy beside it on its data; its clients lose it "
        "until the new container is ready (warned before any change).",
    ),
]
Pull = Annotated[
    bool,
    typer.Option(
        "--pull",
        help="Pull newer base images when building, and `compose pull` the siblings that "
        "run an image and build nothing.",
    ),
]

# Options of `heal` (the guardian passes --wait-for, --stale and --stale-for).
WaitFor = Annotated[
    list[str] | None,
    typer.Option(
        metavar="SERVICE",
        help="Keep reconciling until this sibling is in rotation (repeatable; one still "
        "without a running container after 3 s is started with compose up).",
    ),
]
Wait = Annotated[
    float,
    number(
        3600,
        help="At most this long for --wait-for.",
    ),
]
Stale = Annotated[
    list[str] | None,
    typer.Option(
        metavar="CONTAINER",
        help="A container not to admit while it runs: the old container of a sibling a "
        "dead deploy was stopping (repeatable; the guardian passes it).",
    ),
]
StaleFor = Annotated[
    float,
    number(
        3600,
        help="How long a --stale container may still be stopping (its stop timeout + 5).",
    ),
]

# Options of `probe`.
Url = Annotated[str, typer.Argument(help="URL to request, e.g. http://127.0.0.1:8000/")]
Html = Annotated[
    str | None,
    typer.Option("--html", metavar="FILE", help="With an ID: draw that run as one "
                 "self-contained page in FILE (each container's steps on a timeline, and "
                 "under it the probe's requests, failures and p99 per second)."),
]  # fmt: skip
RecordId = Annotated[
    str | None,
    typer.Argument(metavar="[ID]", help="One record's every event (default: list them all).",
                   show_default=False),
]  # fmt: skip
Duration = Annotated[
    float,
    typer.Option(min=0.1, max=86400, callback=finite, metavar="SECONDS", help="Seconds to probe."),
]
Concurrency = Annotated[int, typer.Option(min=1, max=256, metavar="N", help="Parallel clients.")]
Method = Annotated[str, typer.Option(help="GET or POST.")]
MaxRequests = Annotated[int, typer.Option(min=1, max=100_000_000, help="Stop after this many.")]
Rate = Annotated[
    float | None,
    number(
        1_000_000,
        least=0.1,
        metavar=None,
        help="Requests per second over all clients (default: no limit).",
    ),
]

# Options of `init`.
Write = Annotated[
    bool,
    typer.Option(
        "--write",
        help="Write docker-compose.zdd.yml and zdd-nginx.conf beside the compose file "
        "(never over a file that exists) instead of printing them.",
    ),
]


def _print_version(value: bool) -> None:
    if value:
        from zdd import __version__

        typer.echo(f"zdd {__version__}")
        raise typer.Exit()


Version = Annotated[
    bool,
    typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version."),
]
