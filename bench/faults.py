"""What a fault costs, before and after issue 10: zdd killed or hung up on, the proxy recreated,
the stack restarted, the proxy killed mid-deploy. Each under the probe, one after the other.

    python bench/faults.py [--source DIR] [--compose v2|v1]

--source: a checkout of zdd to measure (its `zdd/` and its demo files), e.g. a `git worktree`
of an older commit; default: this one. Prints one line per fault: requests and failures from
the fault until every ready sibling served again (or 30 s), how long that took, and for the
deploy faults, what the next `zdd deploy --verify` saw.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.engine.conftest import COMPOSE, Stack, copy_demo, docker, probe  # noqa: E402
from tests.engine.test_deploy import wait_serving  # noqa: E402
from tests.engine.test_faults import Background, release  # noqa: E402
from tests.engine.test_heal import routing_healed  # noqa: E402

LIMIT = 30.0  # seconds a fault is watched for its healing


def until(condition: Callable[[], bool], limit: float = LIMIT) -> float | None:
    """Seconds until `condition` held, or None when it did not within `limit`."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            if condition():
                return time.monotonic() - started
        except AssertionError:  # a container went away meanwhile
            pass
        time.sleep(0.2)
    return None


def serving(stack: Stack) -> bool:
    """The proxy answers 200 for the app."""
    try:
        wait_serving(stack.url, seconds=0.1)
    except AssertionError:
        return False
    return True


def killed(stack: Stack, sig: signal.Signals, line: str) -> str:
    """A deploy sent `sig` once it printed `line`; then the next deploy with --verify."""
    release(stack, "2")
    deploy = Background(stack)
    deploy.wait_for(line)
    load = probe(stack.url).start()
    deploy.process.send_signal(sig)
    code = deploy.finish()
    healed = until(lambda: routing_healed(stack))
    report = load.stop()
    release(stack, "3")
    result = stack.zdd("deploy", "--verify", stack.url)
    said = [ln for ln in result.stderr.splitlines() if "requests" in ln or "error:" in ln]
    verify = (said or [""])[-1].removeprefix("zdd: ")
    return (
        f"exit {code}; {report.failed} of {report.requests} failed until healed; every ready "
        f"sibling in rotation after {seconds(healed)}; next deploy: exit {result.returncode}, "
        f"{verify}"
    )


def recreated(stack: Stack, commands: Sequence[Sequence[str]]) -> str:
    """Compose commands on the proxy or the stack; then requests for 5 s, no zdd run."""
    base = [*stack.compose_cmd.split(), "-f", stack.compose_file, "-p", stack.project]
    started = time.monotonic()
    for command in commands:
        subprocess.run([*base, *command], check=True, cwd=stack.directory, env=stack.environ(),
                       capture_output=True, timeout=300)  # fmt: skip
    up = time.monotonic() - started
    load = probe(stack.url).start()
    time.sleep(5)
    report = load.stop()
    answered = until(lambda: serving(stack), 1)
    return (
        f"compose took {up:.1f} s; then {report.failed} of {report.requests} requests failed in "
        f"5 s with no zdd run; serving at the end: {answered is not None}"
    )


def proxy_killed(stack: Stack) -> str:
    """`docker kill` of the proxy during a deploy's drain."""
    release(stack, "4")
    load = probe(stack.url).start()
    deploy = Background(stack)
    deploy.wait_for("# drain service_a")
    docker("kill", stack.containers()["proxy"]["Id"])
    code = deploy.finish()
    back = until(lambda: serving(stack))
    report = load.stop()
    last = (deploy.lines or [""])[-1].removeprefix("zdd: ")[:140]
    return (
        f"exit {code} ({last}); {report.failed} of {report.requests} failed; serving again "
        f"after the deploy ended: {seconds(back)}"
    )


def seconds(value: float | None) -> str:
    return "never (30 s)" if value is None else f"{value:.1f} s"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=REPO)
    parser.add_argument("--compose", choices=sorted(COMPOSE), default="v2")
    args = parser.parse_args(argv)
    source = args.source.resolve()
    with tempfile.TemporaryDirectory(prefix="zdd-faults-") as tmp:
        stack = Stack(copy_demo(Path(tmp) / "demo", source), COMPOSE[args.compose])
        stack.env["PYTHONPATH"] = str(source)
        try:
            stack.deploy()
            faults: list[tuple[str, Callable[[], str]]] = [
                ("SIGKILL after `stop -- service_b`", lambda: killed(
                    stack, signal.SIGKILL, "stop -- service_b")),
                ("SIGHUP during the drain of service_a", lambda: killed(
                    stack, signal.SIGHUP, "drain service_a")),
                ("proxy recreated", lambda: recreated(
                    stack, [("up", "-d", "--force-recreate", "proxy")])),
                ("down + up -d", lambda: recreated(stack, [("down",), ("up", "-d")])),
                ("proxy killed mid-deploy", lambda: proxy_killed(stack)),
            ]  # fmt: skip
            for name, fault in faults:
                if name == "proxy killed mid-deploy" or name.startswith("SIG"):
                    stack.zdd("deploy", "--no-build")  # whatever the last fault left
                print(f"{source.name} [{args.compose}] {name}: {fault()}", flush=True)
        finally:
            stack.teardown()


if __name__ == "__main__":
    main()
