"""Start-first against stop-first, and one service with replicas against a sibling group.

    python bench/start_first.py [--runs N] [--out bench/RESULTS.md]

For compose v2 and v1, the fast demo app and one that warms up 8 s, three ways of serving two
copies of the same app, each deploying a new version under the probe (8 clients):
- the demo's sibling group (service_a, service_b), stop-first (zdd's default, the seed's order);
- the same group with `--order start-first`;
- one service with `replicas: 2` (compose/single/), which zdd rolls out start-first.
The ways run in turn, N times (the fast app; once for the slow one), each on its own stack.
Wall time is the median; "below capacity" is the longest window in which a copy was out of
rotation with its replacement not yet in, from zdd's JSON step events (a drain before the
admit: from the drain's start to the admit's end; start-first admits first: 0).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sections import write_section  # noqa: E402

from tests.engine.conftest import COMPOSE, Stack, probe  # noqa: E402

WAYS = {
    # name: (compose file, zdd flags)
    "siblings, stop-first": ("docker-compose.yml", ()),
    "siblings, --order start-first": ("docker-compose.yml", ("--order", "start-first")),
    "one service, replicas 2": ("compose/single/docker-compose.yml", ()),
}
APPS = {"fast": {}, "warm-up 8 s": {"WARMUP_SECONDS": "8"}}


def window(events: list[dict[str, object]]) -> float:
    """From each unit's drain to its admit, when the drain comes first; the longest."""
    longest, elapsed = 0.0, 0.0
    since: dict[str, float] = {}
    for event in (e for e in events if e.get("event") == "step"):
        unit = str(event.get("service"))
        if event["kind"] == "drain":
            since.setdefault(unit, elapsed)
        elapsed += float(event["seconds"])  # type: ignore[arg-type]
        if event["kind"] == "admit" and unit in since:
            longest = max(longest, elapsed - since.pop(unit))
    return longest


def deploy(stack: Stack, flags: tuple[str, ...]) -> tuple[float, float, int, int]:
    """One deploy of a new version under the probe: wall s, below-capacity s, requests, failed."""
    load = probe(stack.url).start()
    started = time.monotonic()
    result = stack.zdd("deploy", "--json", *flags)
    took = time.monotonic() - started
    time.sleep(1)
    report = load.stop()
    if result.returncode:
        raise SystemExit(f"zdd deploy exited {result.returncode}: {result.stderr[-500:]}")
    events = [json.loads(line) for line in result.stdout.splitlines()]
    return took, window(events), report.requests, report.failed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = parser.parse_args()
    lines = [
        "## Start-first and single services (`python bench/start_first.py`)",
        "",
        "Two copies of the demo app, deployed three ways (module docstring); wall time is the "
        f"median of {args.runs} runs for the fast app (interleaved), one run for the slow one.",
        "",
        "| app | compose | way | deploy s | longest below full capacity, s | requests | failed |",
        "|---|---|---|---|---|---|---|",
    ]
    ratios = []
    folder = Path(tempfile.mkdtemp(prefix="zdd-bench-start-first-"))
    try:
        for version, command in COMPOSE.items():
            for app, env in APPS.items():
                stacks: dict[str, Stack] = {}
                for way, (compose_file, _) in WAYS.items():
                    directory = folder / f"{version}-{app[:4]}-{len(stacks)}"
                    directory.mkdir()
                    shutil.copy(REPO / "docker-compose.yml", directory)
                    shutil.copytree(REPO / "service", directory / "service")
                    shutil.copytree(REPO / "compose", directory / "compose", symlinks=True)
                    stack = Stack(directory, command, compose_file=compose_file, env=dict(env))
                    stack.deploy()
                    stacks[way] = stack
                results: dict[str, list[tuple[float, float, int, int]]] = {w: [] for w in WAYS}
                try:
                    for run in range(args.runs if app == "fast" else 1):
                        for way, stack in stacks.items():
                            (stack.directory / "service" / "VERSION").write_text(f"{run + 2}\n")
                            results[way].append(deploy(stack, WAYS[way][1]))
                finally:
                    for stack in stacks.values():
                        stack.teardown()
                medians = {}
                for way, runs in results.items():
                    medians[way] = statistics.median(r[0] for r in runs)
                    below = max(r[1] for r in runs)
                    requests = sum(r[2] for r in runs)
                    failed = sum(r[3] for r in runs)
                    times = ", ".join(f"{r[0]:.1f}" for r in runs)
                    lines.append(
                        f"| {app} | {version} | {way} | {medians[way]:.1f} ({times}) | "
                        f"{below:.1f} | {requests} | {failed} |"
                    )
                if app == "fast":
                    single = medians["one service, replicas 2"]
                    ratios.append((version, single / medians["siblings, stop-first"]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    lines += ["", "One service (replicas 2) / sibling group (stop-first), fast app, wall time:"]
    lines += [f"- compose {version}: {ratio:.2f}" for version, ratio in ratios]
    print("\n".join(lines))
    write_section(args.out, "start-first", "\n".join(lines))


if __name__ == "__main__":
    main()
