"""Runner.shell: many scripts in one long-lived shell process (a local `sh` stands in for
`docker exec -i PROXY sh -s`)."""

from __future__ import annotations

import signal

import pytest

from zdd.errors import ComposeCommandError
from zdd.runner import Runner


def test_a_shell_runs_scripts_with_arguments_status_and_merged_stderr() -> None:
    with Runner() as runner:
        shell = runner.shell(["sh", "-s"])
        script = "set -- 'two words' x\nprintf '%s|%s\\n' \"$1\" \"$2\"; echo oops >&2"
        assert shell.run(script, timeout=5) == "two words|x\noops\n"
        with pytest.raises(ComposeCommandError) as failed:
            shell.run("echo why; exit 3", timeout=5)
        assert (failed.value.returncode, failed.value.stderr) == (3, "why\n")
        assert shell.run("read line || echo 'stdin is empty'", timeout=5) == "stdin is empty\n"
        assert shell.run("echo same shell", timeout=5) == "same shell\n"  # `exit` above: subshell
        assert shell.run("printf 'no newline'", timeout=5) == "no newline"
        assert runner.calls == 5


def test_a_shell_that_ended_is_started_again_and_a_slow_script_times_out() -> None:
    with Runner() as runner:
        shell = runner.shell(["sh", "-s"])
        pid = shell.run("echo $$", timeout=5)
        with pytest.raises(ComposeCommandError) as ended:
            shell.run("kill $$", timeout=5)  # the shell itself: as when its container restarts
        assert ended.value.returncode == -1
        assert shell.run("echo $$", timeout=5) != pid
        with pytest.raises(ComposeCommandError, match=r"timed out after 0\.3 s"):
            shell.run("sleep 5", timeout=0.3)
        assert shell.run("echo back", timeout=5) == "back\n"


def test_a_shell_stays_in_step_after_an_interrupt_and_reads_any_bytes() -> None:
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    with Runner() as runner:
        shell = runner.shell(["sh", "-s"])
        previous = signal.signal(signal.SIGALRM, interrupt)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            with pytest.raises(KeyboardInterrupt):
                shell.run("sleep 2; echo first; exit 3", timeout=10)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        assert shell.run("echo second", timeout=5) == "second\n"  # not the first's output
        assert shell.run(r"printf 'caf\351\n'", timeout=5) == "caf\ufffd\n"  # Latin-1 é


def _alive(marker: str) -> list[str]:
    """Processes whose command line holds `marker` (the tree a test started)."""
    from pathlib import Path

    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in argv and state != "Z":
            found.append(f"{proc.name}: {argv}")
    return found


def _gone(marker: str, seconds: float = 5) -> list[str]:
    import time

    deadline = time.monotonic() + seconds
    while _alive(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _alive(marker)


def test_a_command_that_times_out_ends_with_everything_it_started(tmp_path: object) -> None:
    """`docker compose` runs the compose plugin as its child: a timeout ends both."""
    import uuid

    marker = f"zdd-timeout-{uuid.uuid4().hex[:8]}"
    with Runner() as runner, pytest.raises(ComposeCommandError, match="timed out"):
        runner.run(["sh", "-c", f"sleep 30 {marker} & sleep 30; : {marker}"], timeout=0.5)
    assert _gone(marker) == []


def test_a_command_started_and_not_waited_for_ends_with_the_runner() -> None:
    import uuid

    marker = f"zdd-left-{uuid.uuid4().hex[:8]}"
    with Runner() as runner:
        runner.start(["sh", "-c", f"sleep 30; : {marker}"])
    assert _gone(marker) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_zdd_stopped_by_a_signal_leaves_no_process_it_started(
    tmp_path: object, sig: signal.Signals
) -> None:
    """A `compose config` that hangs (an alias bomb compose expands), and zdd is stopped by
    Ctrl-C, `timeout`, systemd or a closed terminal: exit 130, and compose is ended with it."""
    import subprocess
    import sys
    import time
    import uuid
    from pathlib import Path

    marker = f"zdd-hang-{uuid.uuid4().hex[:8]}"
    work = Path(str(tmp_path))
    compose = work / "compose-hangs"
    compose.write_text(
        f'#!/bin/sh\n[ "$1" = version ] && {{ echo 2.40.0; exit 0; }}\n'
        f"sh -c 'sleep 60; : {marker}'\n"
    )
    compose.chmod(0o755)
    (work / "compose.yaml").write_text("services:\n  a: {image: x}\n")

    def default_dispositions() -> None:  # a CI runner may ignore SIGHUP or SIGQUIT: zdd would too
        for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(stop, signal.SIG_DFL)

    zdd = subprocess.Popen(
        [sys.executable, "-m", "zdd", "services", "--compose-cmd", str(compose)],
        preexec_fn=default_dispositions,  # noqa: PLW1509 (no threads run in this test)
        cwd=work,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in __import__("os").environ.items() if k != "ZDD_COMPOSE_CMD"}
        | {"XDG_CACHE_HOME": str(work / "cache")},
    )
    deadline = time.monotonic() + 30
    while not _alive(marker) and time.monotonic() < deadline and zdd.poll() is None:
        time.sleep(0.05)
    assert _alive(marker), "compose never started"
    zdd.send_signal(sig)
    _, stderr = zdd.communicate(timeout=30)
    assert zdd.returncode == 130, stderr
    assert _gone(marker) == []
