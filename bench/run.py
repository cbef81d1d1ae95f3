"""Side by side, in one run: the seed's script and `zdd deploy` on the demo stack under load.

    python bench/run.py [--quick] [--out bench/RESULTS.md]

For compose v1 and v2, a fast app (ready in under 1 s) and a slow one (8 s warm-up), and 2, 4
and 8 siblings, each tool deploys a new version of its own copy of the demo while a probe sends
requests through the proxy on 127.0.0.1 (300 req/s, 8 clients, bounded). The seed's script runs
as published (bench/seed-deploy-and-restart.sh, behind the self-discovering proxy
compose/proxy/discover.conf); zdd runs with the demo's managed nginx. Needs the engine and
images of scripts/engine-up.sh and scripts/images.sh. --quick: 2 siblings, fast app only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sections import marked_sections  # noqa: E402

from tests.engine.conftest import COMPOSE, Stack, docker, probe  # noqa: E402

APPS = {"fast": {}, "slow": {"WARMUP_SECONDS": "8"}}
SIZES = (2, 4, 8)
NAMES = tuple(f"service_{letter}" for letter in "abcdefgh")
OUT_OF_ROTATION = ("drain", "stop", "up", "gate", "admit")  # zdd step kinds, per sibling


@dataclass
class Run:
    """One measured deploy."""

    tool: str
    compose: str
    app: str
    siblings: int
    wall: float = 0.0
    build_seconds: float = 0.0
    builds: int = 0
    requests: int = 0
    failed: int = 0
    fewer_in_rotation: float = 0.0  # the longest time with fewer than all siblings in rotation
    overhead: float | None = None  # zdd: wall time - time in commands - time waiting on gates
    commands: int | None = None
    walls: tuple[float, ...] = ()  # every repetition's wall time (the row is the median one)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 siblings, fast app only")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the fast 2-sibling case (the median counts)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    sizes = (2,) if args.quick else SIZES
    apps = ("fast",) if args.quick else tuple(APPS)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="zdd-bench-") as tmp:
        for version in sorted(COMPOSE, reverse=True):
            for app in apps:
                for size in sizes:
                    repeat = args.repeat if (app, size) == ("fast", 2) else 1
                    tries: dict[str, list[Run]] = {"seed": [], "zdd": []}
                    for attempt in range(repeat):  # interleaved: seed, zdd, seed, zdd, ...
                        for tool, done in tries.items():
                            where = Path(tmp) / f"{tool}-{version}-{app}-{size}-{attempt}"
                            done.append(measure(where, tool, version, app, size))
                            print(f"bench: {row(done[-1])}", file=sys.stderr, flush=True)
                    runs += [median_run(done) for done in tries.values()]
        startup = startup_times()
    args.out.write_text(report(runs, startup) + marked_sections(args.out))  # others' sections
    print(f"bench: wrote {args.out}", file=sys.stderr)


def median_run(runs: list[Run]) -> Run:
    """The run with the median wall time, carrying every run's wall time."""
    ordered = sorted(runs, key=lambda run: run.wall)
    middle = ordered[(len(ordered) - 1) // 2]
    middle.walls = tuple(run.wall for run in runs)
    return middle


def measure(directory: Path, tool: str, version: str, app: str, size: int) -> Run:
    """Set up a copy of the demo with `size` siblings, then time one deploy of a new version."""
    stack = make_stack(directory, COMPOSE[version], size)
    siblings = NAMES[:size]
    run = Run(tool, version, app, size)
    try:
        if tool == "seed":
            stack.env["ZDD_NGINX_CONF"] = "./compose/proxy/discover.conf"
            compose(stack, "up", "-d", "--build", "proxy", *siblings)
        else:
            check(stack.zdd("deploy"))
        wait_serving(stack.url)
        (stack.directory / "service" / "VERSION").write_text("2\n")
        stack.env.update(APPS[app])
        before = project_images(stack.project)
        load = probe(stack.url).start()
        started = time.monotonic()
        deploy = seed_deploy if tool == "seed" else zdd_deploy
        deploy(stack, siblings, run)
        run.wall = time.monotonic() - started
        time.sleep(3)
        seen = load.stop()
        run.requests, run.failed = seen.requests, seen.failed
        run.builds = len(project_images(stack.project) - before)
    finally:
        stack.teardown()
    return run


def zdd_deploy(stack: Stack, siblings: Sequence[str], run: Run) -> None:
    """`zdd deploy --json`; the events give build time, rotation windows and overhead."""
    started = time.monotonic()
    result = check(stack.zdd("deploy", "--json"))
    wall = time.monotonic() - started
    events = [json.loads(line) for line in result.stdout.splitlines()]
    steps = [e for e in events if e["event"] == "step"]
    run.build_seconds = sum(e["seconds"] for e in steps if e["kind"] == "build")
    run.fewer_in_rotation = max(
        sum(e["seconds"] for e in steps if e["service"] == s and e["kind"] in OUT_OF_ROTATION)
        for s in siblings
    )
    summary = events[-1]
    run.commands = summary["commands"]
    run.overhead = wall - summary["command_seconds"] - summary["waited_seconds"]


def seed_deploy(stack: Stack, siblings: Sequence[str], run: Run) -> None:
    """The seed's script, each compose command timed by bench/timed.sh."""
    log = stack.directory / "timed.log"
    env = {
        "COMPOSE": f"bash {REPO / 'bench' / 'timed.sh'} {stack.compose_cmd}",
        "COMPOSE_FILE": stack.compose_file,
        "COMPOSE_PROJECT_NAME": stack.project,
        "SEED_SIBLINGS": " ".join(siblings),
        "ZDD_BENCH_LOG": str(log),
    }
    script = ["bash", str(REPO / "bench" / "seed-deploy-and-restart.sh")]
    execute(stack, script, env)
    lines = [line.split() for line in log.read_text().splitlines()]
    timed = [(float(start), float(end), words) for start, end, *words in lines]
    run.build_seconds = sum(end - start for start, end, words in timed if "build" in words)
    windows = []
    for sibling in siblings:
        stop = next(start for start, _, words in timed if "stop" in words and sibling in words)
        up = next(end for _, end, words in timed if "up" in words and sibling in words)
        windows.append(up - stop)
    run.fewer_in_rotation = max(windows)


def make_stack(directory: Path, compose_cmd: str, size: int) -> Stack:
    """A copy of the demo whose compose file has `size` siblings extending `app`."""
    directory.mkdir(parents=True)
    shutil.copytree(REPO / "service", directory / "service")
    shutil.copytree(REPO / "compose", directory / "compose", symlinks=True)
    text = (REPO / "docker-compose.yml").read_text()
    assert text.rstrip().endswith("service_b:\n    extends: app"), "demo file layout changed"
    text += "".join(f"\n  {name}:\n    extends: app\n" for name in NAMES[2:size])
    (directory / "docker-compose.yml").write_text(text)
    return Stack(directory, compose_cmd)


def compose(stack: Stack, *args: str) -> None:
    argv = [*stack.compose_cmd.split(), "-f", stack.compose_file, "-p", stack.project, *args]
    execute(stack, argv, {})


def execute(stack: Stack, argv: list[str], env: dict[str, str]) -> None:
    """Run `argv` in the stack's directory with its environment; stop the bench if it fails."""
    result = subprocess.run(
        argv,
        cwd=stack.directory,
        env=stack.environ(env),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    check(result)


def check(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    if result.returncode != 0:
        raise SystemExit(
            f"bench: {' '.join(map(str, result.args))[:200]} exited "
            f"{result.returncode}:\n{result.stderr[-2000:]}"
        )
    return result


def wait_serving(url: str, seconds: float = 90) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"bench: {url} never answered")


def project_images(project: str) -> set[str]:
    """Ids of the images named for the project's services (v2 `p-svc`, v1 `p_svc`)."""
    lines = docker("images", "--no-trunc", "--format", "{{.Repository}} {{.ID}}").splitlines()
    return {line.split()[1] for line in lines if line.startswith((f"{project}-", f"{project}_"))}


def startup_times(repeat: int = 9) -> dict[str, float]:
    """Median wall time of `zdd --version` and of `zdd deploy --dry-run` on the demo."""
    script = Path(sys.executable).parent / "zdd"
    zdd = [str(script)] if script.exists() else [sys.executable, "-m", "zdd"]
    cases: dict[str, list[str]] = {"zdd --version": [*zdd, "--version"]}
    for version, command in sorted(COMPOSE.items(), reverse=True):
        cases[f"zdd deploy --dry-run (compose {version})"] = [
            *zdd, "deploy", "--dry-run", "--compose-cmd", command,
        ]  # fmt: skip
    return {name: median_seconds(argv, repeat) for name, argv in cases.items()}


def median_seconds(argv: list[str], repeat: int) -> float:
    def once() -> float:
        started = time.monotonic()
        subprocess.run(argv, cwd=REPO, check=True, capture_output=True, timeout=60)
        return time.monotonic() - started

    once()  # warm the page cache
    return statistics.median(once() for _ in range(repeat))


def row(run: Run) -> str:
    overhead = "-" if run.overhead is None else f"{run.overhead / run.siblings:.2f}"
    wall = f"{run.wall:.1f}"
    if len(run.walls) > 1:
        wall += f" (median of {', '.join(f'{w:.1f}' for w in run.walls)})"
    return (
        f"| {run.app} | {run.siblings} | {run.compose} | {run.tool} | {wall} | "
        f"{run.build_seconds:.1f} | {run.builds} | {run.requests} | {run.failed} | "
        f"{run.fewer_in_rotation:.1f} | {overhead} |"
    )


def report(runs: list[Run], startup: dict[str, float]) -> str:
    """RESULTS.md: machine, method, the table, ratios and targets."""
    lines = ["# zdd benchmark: the seed's script and zdd side by side", "", *machine(), ""]
    lines += [
        "Written by `python bench/run.py` (see its docstring for the method). Each row is one",
        "deploy of a new version while the probe ran; the seed's script ran as published behind",
        "a proxy that finds the siblings by itself, zdd behind the demo's managed nginx.",
        "",
        "| app | siblings | compose | tool | deploy s | build s | image builds | requests "
        "| failed | longest with fewer than all siblings in rotation, s | zdd overhead s/sibling |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *(row(run) for run in runs),
        "",
        "- deploy s: wall time of the seed's script or of `zdd deploy`; the fast 2-sibling case is",
        "  the median of several interleaved runs (all listed), the others one run each.",
        "- image builds: new image ids named for the project's services after the deploy.",
        "- fewer than all siblings in rotation: the longest such window per sibling. zdd: from",
        "  its drain to its admit (its JSON step events). Seed: from its `stop` to the end of its",
        "  `up` (bench/timed.sh); its proxy resolves a new container as soon as it runs, ready",
        "  or not, which is where its failed requests come from.",
        "- zdd overhead: zdd's wall time minus the time blocked in compose/docker/nginx",
        "  commands and sleeping between gate polls (Python start-up, loading the files,",
        "  planning and zdd's own work between commands), per sibling.",
        "- slow app: zdd takes longer than the script because it waits for each new copy's",
        "  8 s warm-up before it admits it and takes the next one out; the script does not",
        "  wait, and its proxy sends requests to copies that are still warming up (failed).",
        "",
        "## Ratios (measured in this run)",
        "",
        "| app | siblings | compose | zdd / seed deploy time | zdd / seed build time |",
        "|---|---|---|---|---|",
    ]
    pairs = list(paired(runs))
    for seed, ours in pairs:
        lines.append(
            f"| {ours.app} | {ours.siblings} | {ours.compose} | {ratio(ours.wall, seed.wall)} | "
            f"{ratio(ours.build_seconds, seed.build_seconds)} |"
        )
    lines += ["", "## Start-up", "", "| command | median s |", "|---|---|"]
    lines += [f"| `{name}` | {seconds:.3f} |" for name, seconds in startup.items()]
    lines += ["", "## Targets", "", *targets(runs, pairs, startup), ""]
    return "\n".join(lines)


def paired(runs: list[Run]) -> Iterator[tuple[Run, Run]]:
    for ours in runs:
        if ours.tool == "zdd":
            seed = next(
                r
                for r in runs
                if r.tool == "seed"
                and (r.compose, r.app, r.siblings) == (ours.compose, ours.app, ours.siblings)
            )
            yield seed, ours


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def targets(runs: list[Run], pairs: list[tuple[Run, Run]], startup: dict[str, float]) -> list[str]:
    ours = [r for r in runs if r.tool == "zdd"]
    fast2 = [(s, z) for s, z in pairs if z.app == "fast" and z.siblings == 2]
    worst_overhead = max((r.overhead or 0) / r.siblings for r in ours)
    checks: list[tuple[str, bool, str]] = [
        (
            "fast app, 2 siblings: zdd deploy time <= 0.6 x the seed's, 0 failed",
            all(z.wall <= 0.6 * s.wall and z.failed == 0 for s, z in fast2),
            ", ".join(
                f"{z.compose}: {ratio(z.wall, s.wall)} ({z.failed} failed vs {s.failed})"
                for s, z in fast2
            ),
        ),
        (
            "1 image build per zdd deploy",
            all(r.builds == 1 for r in ours),
            f"zdd {sorted({r.builds for r in ours})}, seed "
            f"{sorted({r.builds for r in runs if r.tool == 'seed'})}",
        ),
        ("zdd overhead < 0.3 s per sibling", worst_overhead < 0.3, f"worst {worst_overhead:.2f} s"),
        *startup_checks(startup),
        *scaling(ours),
    ]
    return [f"- {'holds' if ok else 'MISSED'}: {what} ({detail})" for what, ok, detail in checks]


def startup_checks(startup: dict[str, float]) -> list[tuple[str, bool, str]]:
    limit: Callable[[str], float] = lambda name: 0.25 if "--version" in name else 0.4  # noqa: E731
    return [
        (f"`{name}` < {limit(name)} s", seconds < limit(name), f"{seconds:.3f} s")
        for name, seconds in startup.items()
    ]


def scaling(ours: list[Run]) -> list[tuple[str, bool, str]]:
    checks = []
    for compose_version in sorted({r.compose for r in ours}, reverse=True):
        for app in APPS:
            by_size = {r.siblings: r for r in ours if r.compose == compose_version and r.app == app}
            if 2 in by_size and 8 in by_size:
                factor = by_size[8].wall / by_size[2].wall
                checks.append(
                    (
                        f"{app} app, compose {compose_version}: 8 siblings <= 4.5 x the time of 2",
                        factor <= 4.5,
                        f"{factor:.2f} x",
                    )
                )
    return checks


def machine() -> list[str]:
    def out(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return "?"

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        "?",
    )  # fmt: skip
    return [
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, zdd commit "
        f"{out('git', '-C', str(REPO), 'rev-parse', '--short', 'HEAD')}",
        f"- machine: {os.cpu_count()} CPUs ({cpu}), {platform.platform()}",
        f"- Docker Engine {out('docker', 'version', '--format', '{{.Server.Version}}')}, "
        f"compose v2 {out('docker', 'compose', 'version', '--short')}, "
        f"compose v1 {out('docker-compose', 'version', '--short')}, "
        f"Python {platform.python_version()}",
    ]


if __name__ == "__main__":
    main()
