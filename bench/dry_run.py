"""`zdd deploy --dry-run` wall time, side by side: this checkout against another one.

    python bench/dry_run.py --source DIR [--runs N] [--python-before PYTHON]

--source: another checkout of zdd (e.g. `git worktree add /tmp/old e2282f3`); --python-before:
the interpreter for it, when its dependencies differ (a venv with the typer it was used with).
Both run
alternately in one loop, on the demo's file and on the seed's legacy v1 file, with compose v2
and compose v1; the medians and their ratio are printed as a Markdown table. No engine
change is made: `--dry-run` only reads the project.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
FILES = ("docker-compose.yml", "compose/legacy/docker-compose.yml")
COMPOSE = {"v2": "docker compose", "v1": "docker-compose"}


def once(source: Path, file: str, compose: str, python: str = sys.executable) -> float:
    argv = [python, "-m", "zdd", "deploy", "--dry-run", "-f", str(HERE / file)]
    env = {**os.environ, "PYTHONPATH": str(source)}
    started = time.monotonic()
    # cwd=source: `python -m` puts the working directory first on sys.path, before PYTHONPATH
    subprocess.run(
        [*argv, "--compose-cmd", compose], env=env, cwd=source, check=True, capture_output=True
    )
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--python-before", default=sys.executable, help="Python for --source")
    parser.add_argument("--out", type=Path, help="also write the table to this RESULTS.md")
    args = parser.parse_args()
    lines = [
        "| file | compose | before: best, median (s) | after: best, median (s) | after / before |",
        "|---|---|---|---|---|",
    ]
    print("\n".join(lines))
    for file in FILES:
        for label, compose in COMPOSE.items():
            before: list[float] = []
            after: list[float] = []
            for _ in range(args.runs):
                before.append(once(args.source, file, compose, args.python_before))
                after.append(once(HERE, file, compose))
            old, new = statistics.median(before), statistics.median(after)
            best = f"{min(before):.2f}, {old:.2f} | {min(after):.2f}, {new:.2f}"
            lines.append(f"| {file} | {label} | {best} | {new / old:.2f} |")
            print(lines[-1])
    if args.out:
        sys.path.insert(0, str(HERE / "bench"))
        from sections import write_section

        head = (
            "## `zdd deploy --dry-run` against another checkout (`python bench/dry_run.py`)\n\n"
            f"Before: {describe(args.source)} ({version(args.python_before)}); after: "
            f"{describe(HERE)} ({version(sys.executable)}). Best and median of {args.runs} runs "
            f"each, alternating, {time.strftime('%Y-%m-%d')}; the ratio is of the medians. "
            "Since issue 23 compose's `config` output is cached by its inputs, so an unchanged "
            "project runs no compose at all.\n\n"
        )
        write_section(args.out, "dry_run", head + "\n".join(lines))


def version(python: str) -> str:
    """The typer that interpreter imports (0.29 and later pull in pydantic)."""
    argv = [python, "-c", "import importlib.metadata as m; print('typer', m.version('typer'))"]
    return subprocess.run(argv, check=False, capture_output=True, text=True).stdout.strip()


def describe(checkout: Path) -> str:
    """The checkout's commit, short."""
    argv = ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"]
    return subprocess.run(argv, check=False, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
