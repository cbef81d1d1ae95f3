"""`zdd deploy --engine swarm` on the three-node swarm, against the same deploy on one host.

    python bench/swarm.py [--out bench/RESULTS.md]

scripts/swarm-up.sh makes the swarm (its time is measured), the demo project runs with three
siblings (three tasks), and each scenario deploys a new release under the probe through the
proxy: what dnsrr and Swarm's own task lifecycle do to fast, warming, slow and abruptly cut
requests. The fast app's deploy is then timed on one host (compose v2, the managed nginx)
and on the swarm, in turn, for the ratio. The swarm is taken down at the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sections import write_section  # noqa: E402

from tests.engine.conftest import Stack, probe  # noqa: E402
from tests.engine.test_deploy import SCENARIOS  # noqa: E402
from zdd.probe import Report  # noqa: E402

SWARM = ("--engine", "swarm", "--cache")
SLOW = {"REQUEST_DELAY_SECONDS": "1.5"}
# the bench keeps GET and POST apart (its table has a row each); the tests mix them
CASES = {
    "fast-get": ({}, "GET", 8),
    "fast-post": ({}, "POST", 8),
    "warmup-8s": SCENARIOS["warmup-8s"],
    "slow-1.5s-get": (SLOW, "GET", 160),
    "slow-1.5s-post": (SLOW, "POST", 160),
    "slow-abrupt-post": SCENARIOS["slow-abrupt-post"],
}


def copy_demo(directory: Path) -> None:
    directory.mkdir(parents=True)
    shutil.copy(REPO / "docker-compose.yml", directory)
    shutil.copytree(REPO / "service", directory / "service")
    shutil.copytree(REPO / "compose", directory / "compose", symlinks=True)
    with (directory / "docker-compose.yml").open("a") as out:
        out.write("\n  service_c:\n    extends: app\n")


def deploy(
    stack: Stack, flags: tuple[str, ...], env: dict[str, str], method: str, clients: int
) -> tuple[float, Report]:
    load = probe(stack.url, method, clients).start()
    started = time.monotonic()
    result = stack.zdd("deploy", *flags, env=env)
    took = time.monotonic() - started
    time.sleep(2)
    report = load.stop()
    if result.returncode:
        raise SystemExit(f"zdd deploy exited {result.returncode}: {result.stderr[-500:]}")
    return took, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = parser.parse_args()
    started = time.monotonic()
    subprocess.run([str(REPO / "scripts" / "swarm-up.sh")], check=True)
    bootstrap = time.monotonic() - started
    folder = Path(tempfile.mkdtemp(prefix="zdd-bench-swarm-"))
    swarm = Stack(folder / "swarm", "docker compose")
    swarm.env.update(
        ZDD_DEMO_BIND="0.0.0.0", ZDD_NGINX_CONF="./compose/proxy/swarm.conf",
        ZDD_REGISTRY="127.0.0.1:5000",
    )  # fmt: skip
    host = Stack(folder / "host", "docker compose")
    lines = [
        "## Docker Swarm (`python bench/swarm.py`)",
        "",
        f"Three nodes (scripts/swarm-up.sh: {bootstrap:.1f} s on this run), three tasks of the "
        "demo app, the proxy resolving `tasks.app`; a new release under the probe per row.",
        "",
        "| scenario | clients | deploy s | requests | failed | failures |",
        "|---|---|---|---|---|---|",
    ]
    try:
        copy_demo(swarm.directory)
        copy_demo(host.directory)
        swarm.deploy(*SWARM)
        host.deploy()
        for number, (case, (env, method, clients)) in enumerate(CASES.items()):
            (swarm.directory / "service" / "VERSION").write_text(f"{number + 2}\n")
            took, report = deploy(swarm, SWARM, env, method, clients)
            summary = report.summary()
            lines.append(
                f"| {case} | {clients} | {took:.1f} | {report.requests} | {report.failed} | "
                f"{summary['failures'] or '-'} |"
            )
        times: dict[str, list[float]] = {"one host": [], "swarm": []}
        for run in range(args.runs):
            for way, stack, flags in (("one host", host, ()), ("swarm", swarm, SWARM)):
                (stack.directory / "service" / "VERSION").write_text(f"{run + 20}\n")
                times[way].append(deploy(stack, flags, {}, "GET", 8)[0])
    finally:
        subprocess.run(["docker", "stack", "rm", swarm.project], check=False)
        host.teardown()
        subprocess.run([str(REPO / "scripts" / "swarm-down.sh")], check=False)
        shutil.rmtree(folder, ignore_errors=True)
    medians = {way: statistics.median(values) for way, values in times.items()}
    lines += [
        "",
        f"Fast app, three copies, wall time of a deploy, median of {args.runs} (interleaved):",
        *(
            f"- {way}: {medians[way]:.1f} s ({', '.join(f'{t:.1f}' for t in times[way])})"
            for way in times
        ),
        f"- swarm / one host: {medians['swarm'] / medians['one host']:.2f}",
    ]
    print("\n".join(lines))
    write_section(args.out, "swarm", "\n".join(lines))


if __name__ == "__main__":
    main()
