"""A deploy from a laptop to a server's engine, against the same deploy run locally: one
engine, reached through its socket, through DOCKER_HOST=ssh:// as zdd does it (one SSH
connection held for the command), and as docker alone does it (ZDD_SSH_TUNNEL=0: a
connection per docker or compose call; compose v1 cannot, it needs paramiko).

    python bench/remote.py [--runs N] [--out bench/RESULTS.md]

An sshd on 127.0.0.1 stands in for the server (tests/engine/sshd.py). For compose v2 and v1,
the fast demo app, two siblings: the three ways run in turn, N times, on one stack; medians
and the ratio to local are printed as a Markdown table and written to its section of --out.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sections import write_section  # noqa: E402

from tests.engine.conftest import COMPOSE, Stack  # noqa: E402
from tests.engine.sshd import start_sshd  # noqa: E402


def timed(stack: Stack, env: dict[str, str]) -> float:
    started = time.monotonic()
    result = stack.zdd("deploy", env=env)
    took = time.monotonic() - started
    if result.returncode:
        raise SystemExit(f"zdd deploy exited {result.returncode}: {result.stderr[-500:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = parser.parse_args()
    lines = [
        "## Remote engine (`python bench/remote.py`)",
        "",
        f"`zdd deploy` of the fast demo app, two siblings, median of {args.runs} runs each, "
        "the three ways in turn on one stack; the 'server' is this engine behind an sshd on "
        "127.0.0.1 (one machine: the ratio is the SSH cost, not a network's).",
        "",
    ]
    folder = Path(tempfile.mkdtemp(prefix="zdd-bench-remote-"))
    ssh = start_sshd(folder / "sshd")
    lines.append("| compose | local (s) | ssh://, zdd's one connection (s) | ratio | ssh://, "
                 "docker's own connections (s) | ratio |")  # fmt: skip
    lines.append("|---|---|---|---|---|---|")
    try:
        for version, command in COMPOSE.items():
            directory = folder / version
            directory.mkdir()
            shutil.copy(REPO / "docker-compose.yml", directory)
            shutil.copytree(REPO / "service", directory / "service")
            shutil.copytree(REPO / "compose", directory / "compose", symlinks=True)
            stack = Stack(directory, command)
            ways = {"local": {}, "tunnel": ssh.env()}
            if version == "v2":
                ways["docker"] = {**ssh.env(), "ZDD_SSH_TUNNEL": "0"}
            try:
                timed(stack, {})
                seconds: dict[str, list[float]] = {way: [] for way in ways}
                for run in range(args.runs):
                    (directory / "service" / "VERSION").write_text(f"{run + 2}\n")
                    for way, env in ways.items():
                        seconds[way].append(timed(stack, env))
            finally:
                stack.teardown()
            local = statistics.median(seconds["local"])
            tunnel = statistics.median(seconds["tunnel"])
            if "docker" in seconds:
                own = statistics.median(seconds["docker"])
                docker = f"{own:.2f} | {own / local:.2f}"
            else:
                docker = "not possible (compose v1 needs paramiko) | -"
            lines.append(
                f"| {version} | {local:.2f} | {tunnel:.2f} | {tunnel / local:.2f} | {docker} |"
            )
    finally:
        ssh.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print("\n".join(lines))
    write_section(args.out, "remote", "\n".join(lines))


if __name__ == "__main__":
    main()
