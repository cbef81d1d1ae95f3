"""What a bad release costs with and without the error budget (issue 26): a release that
passes its healthcheck but answers 500 to 20% of requests, and one five times slower, deployed
on the demo under 8 probe clients, by zdd without an admission window (`--monitor 0`: the
release is admitted and stays, as before the error budget) and by zdd as it is (the 2 s
default window).

    python bench/error_budget.py [--compose v2,v1] [--runs 3] [--out bench/RESULTS.md]

Each cell is a fresh stack: the first version (20 ms a request), then the flawed release under
the probe, which runs on for 5 s after zdd exits. Measured per run: failed / requests, zdd's
exit code, the version serving at the end, the time from the admission of service_a's new
container to zdd's decision (its `rolling service_a back` line) and from the decision to zdd's
exit (the rollback). Writes the table into RESULTS.md's `error_budget` section.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from discovery import commit  # noqa: E402
from sections import write_section  # noqa: E402

from tests.engine.conftest import COMPOSE, Stack, copy_demo, probe  # noqa: E402
from tests.engine.test_faults import release  # noqa: E402

FLAWS = {
    "answers 500 to 20%": ({"ERROR_RATE": "0.2"}, ()),
    "5x slower (--max-latency-ratio 3)": (
        {"REQUEST_DELAY_SECONDS": "0.1"},
        ("--max-latency-ratio", "3"),
    ),
}
WAYS = {"zdd --monitor 0 (no window)": ("--monitor", "0"), "zdd (error budget)": ()}
AFTER = 5.0  # seconds the probe runs on after zdd exits


def timed_deploy(stack: Stack, flags: tuple[str, ...]) -> tuple[int, dict[str, float]]:
    """`zdd deploy FLAGS`, each progress line's arrival timed; exit code and the moments (s
    since the start) of service_a's admission, the rollback's start, the exit."""
    argv = [sys.executable, "-m", "zdd", "deploy", "-f", stack.compose_file, "-p", stack.project]
    argv += ["--compose-cmd", stack.compose_cmd, *flags]
    started = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=stack.directory, env=stack.environ(), stderr=subprocess.PIPE, text=True
    )
    moments: dict[str, float] = {}
    timer = threading.Timer(600, process.kill)
    timer.start()
    assert process.stderr is not None
    for line in process.stderr:
        now = time.monotonic() - started
        if "# admit service_a" in line:
            moments["admitted"] = now
        elif "rolling service_a back" in line:
            moments["decided"] = now
    code = process.wait()
    timer.cancel()
    moments["exit"] = time.monotonic() - started
    return code, moments


def measure(version: str, way: str, flaw: str) -> dict[str, object]:
    """One fresh stack, one flawed release deployed under the probe."""
    image_env, flaw_flags = FLAWS[flaw]
    with tempfile.TemporaryDirectory(prefix="zdd-bench-") as scratch:
        stack = Stack(copy_demo(Path(scratch) / "demo", REPO), COMPOSE[version])
        stack.env["REQUEST_DELAY_SECONDS"] = "0.02"
        stack.env["PYTHONPATH"] = str(REPO)  # the zdd beside this script, whatever is installed
        try:
            stack.deploy()
            release(stack, "2", image_env=image_env)
            load = probe(stack.url).start()
            time.sleep(1)
            code, moments = timed_deploy(stack, (*WAYS[way], *flaw_flags))
            load.wait(AFTER)
            report = load.stop()
        finally:
            stack.teardown()
    end = max(s.started for s in report.samples)
    last = {s.version.split("-")[0] for s in report.samples if s.version and s.started > end - 1}
    decided = moments.get("decided")
    return {
        "failed": report.failed,
        "requests": report.requests,
        "exit": code,
        "serving": "+".join(f"v{v}" for v in sorted(last)),
        "detect": decided - moments["admitted"] if decided and "admitted" in moments else None,
        "rollback": moments["exit"] - decided if decided else None,
        "p99": report.percentile_ms(0.99),
    }


def cell(runs: list[dict[str, object]]) -> str:
    """The runs of one cell: medians, and every run's failures."""
    failed = [int(str(r["failed"])) for r in runs]
    requests = statistics.median(int(str(r["requests"])) for r in runs)
    detect = [float(str(r["detect"])) for r in runs if r["detect"] is not None]
    rollback = [float(str(r["rollback"])) for r in runs if r["rollback"] is not None]
    text = f"{statistics.median(failed):g} ({', '.join(map(str, failed))}) / {requests:g}"
    text += f" | exit {'/'.join(sorted({str(r['exit']) for r in runs}))}"
    text += f" | {'/'.join(sorted({str(r['serving']) for r in runs}))}"
    text += f" | {statistics.median(detect):.2f} s" if detect else " | -"
    text += f" | {statistics.median(rollback):.2f} s" if rollback else " | -"
    p99 = statistics.median(float(str(r["p99"])) for r in runs)
    return text + f" | {p99:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--compose", default="v2,v1", help="compose versions, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = parser.parse_args()
    measured_at = commit()
    lines = [
        "## A bad release and the error budget (`python bench/error_budget.py`)",
        "",
        f"{time.strftime('%Y-%m-%d')}, zdd commit {measured_at}. The demo (two siblings behind "
        "the managed nginx, the old version 20 ms a request), 8 probe clients from 1 s before "
        f"the deploy to {AFTER:g} s after it, a fresh stack per run, {args.runs} runs per row "
        "(interleaved); failed: the median (each run) / requests. Detect: from service_a's "
        "admission to zdd's decision; rollback: from the decision to zdd's exit.",
        "",
        "| release | compose | zdd | failed / requests | exit | serving at the end "
        "| detect | rollback | p99 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for version in args.compose.split(","):
        for flaw in FLAWS:
            results: dict[str, list[dict[str, object]]] = {way: [] for way in WAYS}
            for _ in range(args.runs):
                for way in WAYS:
                    results[way].append(measure(version, way, flaw))
                    print(version, flaw, way, results[way][-1], flush=True)
            for way in WAYS:
                lines.append(f"| {flaw} | {version} | {way} | {cell(results[way])} |")
    print("\n".join(lines))
    write_section(args.out, "error_budget", "\n".join(lines))


if __name__ == "__main__":
    main()
