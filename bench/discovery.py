"""Behind the proxy the seed already has: its script and `zdd deploy` side by side, in one run.

    python bench/discovery.py [--compose v2,v1] [--out bench/RESULTS.md]

The seed's stack shape: two siblings `extends: app` behind an nginx that finds them itself
(compose/proxy/discover.conf resolves the siblings' `app-pool` alias through Docker's DNS at
most every second), no `x-zdd` block, so `zdd deploy` with no flag picks `--proxy discovery`.
For each scenario of issue 12's table, each way deploys a new version on its own fresh stack
under the probe (8 clients, GET or POST, 300 requests/s at most, bounded):
- the seed's script (bench/seed-deploy-and-restart.sh, as published);
- `zdd deploy` (gated admission; no drain: the proxy resolves the old container until it stops);
- for an app that exits at once on SIGTERM, a drain by hand: `--proxy external` with a
  pre-stop hook that disconnects the old container from the proxy's network 1.5 s before its
  stop (the approach issue 12 tried; no gated admission in that mode).

    python bench/discovery.py --drain [--compose v2,v1]

runs only the scenarios of an app that exits at once on SIGTERM, before and after issue 26's
drain from inside (`--drain-image`, proxy/netfilter.py), into a section of its own.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sections import write_section  # noqa: E402

from tests.engine.conftest import COMPOSE, Stack, probe  # noqa: E402
from tests.engine.test_deploy import fetch, wait_serving  # noqa: E402
from tests.engine.test_faults import release  # noqa: E402

ABRUPT = {"SIGTERM_MODE": "abrupt"}
SCENARIOS = {
    # issue 12's rows: (app env, probe method, env of the new release's image only)
    "app warms up 8 s answering 503": ({"WARMUP_SECONDS": "8"}, "GET", {}),
    "port opens only after 8 s": ({"LISTEN_DELAY_SECONDS": "8"}, "GET", {}),
    "1.5 s requests, app exits at once on SIGTERM": (
        {"REQUEST_DELAY_SECONDS": "1.5", **ABRUPT},
        "GET",
        {},
    ),
    "POST 300 ms, app exits at once on SIGTERM": (
        {"REQUEST_DELAY_SECONDS": "0.3", **ABRUPT},
        "POST",
        {},
    ),
    "graceful app, 1.5 s requests": ({"REQUEST_DELAY_SECONDS": "1.5"}, "GET", {}),
    "new release crashes at start": ({}, "GET", {"CRASH_ON_START": "1"}),
}
DISCONNECT_FIRST = (
    "--proxy",
    "external",
    "--pre-stop",
    'sh -c \'docker network disconnect -- "${ZDD_PROJECT}_default" "$ZDD_CONTAINER_ID" '
    "&& sleep 1.5'",
)
WAYS = ("script", "zdd", "zdd, disconnect 1.5 s before stop")
DRAIN_IMAGE = "zdd/netfilter:bookworm"  # scripts/images.sh
DRAIN_WAYS = ("script", "zdd", "zdd --drain-image")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--compose", default="v2,v1", help="compose versions, comma-separated")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    parser.add_argument("--drain", action="store_true", help="the abrupt apps, --drain-image")
    args = parser.parse_args()
    versions = args.compose.split(",")
    measured_at = commit()  # the code every cell runs (a commit during the run is not it)
    ways = DRAIN_WAYS if args.drain else WAYS
    cells: dict[tuple[str, str, str], str] = {}
    for version in versions:
        for scenario, (env, method, flaw) in SCENARIOS.items():
            abrupt = env.get("SIGTERM_MODE") == "abrupt"
            for way in ways:
                if (way.startswith("zdd, disconnect") or args.drain) and not abrupt:
                    continue
                cells[scenario, version, way] = measure(version, way, env, method, flaw)
                print(f"{version} | {scenario} | {way} | {cells[scenario, version, way]}")
    if args.drain:
        write_section(args.out, "discovery-drain", drain_report(cells, versions, measured_at))
    else:
        write_section(args.out, "discovery", report(cells, versions, measured_at))


def measure(version: str, way: str, env: dict[str, str], method: str, flaw: dict[str, str]) -> str:
    """One fresh stack: first start, then a new version under the probe; the table's cell."""
    with tempfile.TemporaryDirectory(prefix="zdd-bench-") as scratch:
        stack = make_stack(Path(scratch), COMPOSE[version])
        stack.env.update(env)
        try:
            start(stack, way)
            release(stack, "2", image_env=flaw)  # in the new image only, never the old one
            load = probe(stack.url, method, 8).start()
            started = time.monotonic()
            code = deploy(stack, way)
            seconds = time.monotonic() - started
            time.sleep(3)
            report = load.stop()
            serving = versions_now(stack.url)
        finally:
            stack.teardown()
    summary = report.summary()
    return (
        f"{summary['failed']} / {summary['requests']}, exit {code}, {seconds:.1f} s, then {serving}"
    )


def versions_now(url: str, count: int = 10) -> str:
    """What `count` requests right after the deploy get: the versions, or the errors."""
    seen = set()
    for _ in range(count):
        try:
            seen.add("v" + str(fetch(url)["version"]).split("-")[0])
        except (OSError, ValueError) as err:
            seen.add(str(getattr(err, "code", "no answer")))
    return "+".join(sorted(seen))


def make_stack(directory: Path, compose_cmd: str) -> Stack:
    """The demo as the seed has it: the self-discovering proxy, no `x-zdd` block."""
    demo = directory / "demo"
    demo.mkdir()
    project = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    project.pop("x-zdd")
    (demo / "docker-compose.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    shutil.copytree(REPO / "service", demo / "service")
    shutil.copytree(REPO / "compose", demo / "compose", symlinks=True)
    stack = Stack(demo, compose_cmd)
    stack.env["ZDD_NGINX_CONF"] = "./compose/proxy/discover.conf"
    return stack


def start(stack: Stack, way: str) -> None:
    """The proxy the user runs, then the first version by the way under test."""
    stack.compose("up", "-d", "--", "proxy")
    if way == "script":
        run_seed_script(stack)
    else:
        stack.deploy()
    wait_serving(stack.url)


def deploy(stack: Stack, way: str) -> int:
    if way == "script":
        run_seed_script(stack)  # exits 0 whatever the release does
        return 0
    flags: tuple[str, ...] = DISCONNECT_FIRST if way.startswith("zdd, disconnect") else ()
    if way == "zdd --drain-image":
        flags = ("--drain-image", DRAIN_IMAGE)
    return stack.zdd("deploy", *flags).returncode


def run_seed_script(stack: Stack) -> None:
    """The seed's deploy-and-restart.sh, its six commands as published."""
    env = stack.environ(
        {
            "COMPOSE": stack.compose_cmd,
            "COMPOSE_FILE": stack.compose_file,
            "COMPOSE_PROJECT_NAME": stack.project,
        }
    )
    result = subprocess.run(
        ["bash", str(REPO / "bench" / "seed-deploy-and-restart.sh")],
        check=False,
        cwd=stack.directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr


def report(cells: dict[tuple[str, str, str], str], versions: list[str], measured_at: str) -> str:
    lines = [
        "## Behind the seed's own proxy (`python bench/discovery.py`)",
        "",
        "Issue 12's table, rerun side by side in one run: the seed's stack shape (two siblings "
        "behind an nginx resolving their `app-pool` alias every second, no `x-zdd`), 8 probe "
        "clients, a fresh stack per cell. A cell: failed / requests, exit code, deploy time, "
        f"the version serving at the end. {time.strftime('%Y-%m-%d')}, zdd commit "
        f"{measured_at}.",
        "",
        "| scenario | compose | the script | zdd (no flag: discovery) "
        "| zdd, old container disconnected 1.5 s before its stop |",
        "|---|---|---|---|---|",
    ]
    for scenario in SCENARIOS:
        for version in versions:
            row = [cells.get((scenario, version, way), "-") for way in WAYS]
            lines.append(f"| {scenario} | {version} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def drain_report(
    cells: dict[tuple[str, str, str], str], versions: list[str], measured_at: str
) -> str:
    lines = [
        "## A drain behind the seed's own proxy (`python bench/discovery.py --drain`)",
        "",
        "Issue 26 item 3, before and after, side by side in one run: the seed's stack shape "
        "behind its self-discovering nginx, an app that exits at once on SIGTERM (whatever is "
        "in flight when its container stops is cut), 8 probe clients, a fresh stack per cell. "
        "`--drain-image`: each old container refuses new connections from inside and stops "
        "once its open ones are done (README: Drain behind a proxy zdd does not control). A "
        "cell: failed / requests, exit code, deploy time, the version serving at the end. "
        f"{time.strftime('%Y-%m-%d')}, zdd commit {measured_at}.",
        "",
        "| scenario | compose | the script | zdd (discovery) | zdd --drain-image |",
        "|---|---|---|---|---|",
    ]
    for scenario, (env, _method, _flaw) in SCENARIOS.items():
        if env.get("SIGTERM_MODE") != "abrupt":
            continue
        for version in versions:
            row = [cells.get((scenario, version, way), "-") for way in DRAIN_WAYS]
            lines.append(f"| {scenario} | {version} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout.strip()


if __name__ == "__main__":
    main()
